//! Kafka: brokers, topics and partitions with their watermarks, consumer
//! groups with their lag, and a read-only peek at messages — over
//! librdkafka (bundled by the `rdkafka` crate), with SASL and TLS.
//!
//! librdkafka's calls block, so every call here runs on tokio's blocking
//! pool; a caller on the UI thread only ever awaits.

mod admin;
mod client;
mod cluster_info;
mod fetch;
mod handle;
mod health;
mod offsets;
mod peek;
mod routes;
mod topic_configs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::cluster::portforward::Forwards;
use crate::config::profile::{KafkaPath, KafkaSpec};

pub use client::{IN_CLUSTER_HINT, KafkaError};
pub use health::health;
pub use peek::{FROM_FORMS, PeekFrom, PeekedMessage, parse_from, render};

/// What one look at a Kafka cluster found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaSnapshot {
    /// The brokers the cluster's metadata lists.
    pub brokers: Vec<Broker>,
    /// Topics, by name.
    pub topics: Vec<Topic>,
    /// Consumer groups, by name.
    pub groups: Vec<Group>,
    /// How sitedeck reached the brokers: `direct`, or the port-forwards.
    pub path: String,
    /// The cluster id, when the brokers describe the cluster (Kafka 2.8+).
    pub cluster_id: Option<String>,
    /// What could not be read (a group's offsets, a topic's watermarks):
    /// the rest of the snapshot stands.
    pub notes: Vec<String>,
}

/// One broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broker {
    /// The broker id.
    pub id: i32,
    /// The host it advertises.
    pub host: String,
    /// The port it advertises.
    pub port: i32,
    /// Its rack, when it has one and the cluster says (Kafka 2.8+).
    pub rack: Option<String>,
    /// Whether it is the controller (`false` when the cluster does not say).
    pub controller: bool,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// Its partitions, by id.
    pub partitions: Vec<Partition>,
    /// What the broker said was wrong with the topic, if anything.
    pub error: Option<String>,
    /// Its retention (`7d`, `forever`, `1d or 1.0 GiB`), when the brokers
    /// describe topic configs.
    pub retention: Option<String>,
}

impl Topic {
    /// The replication factor (the largest replica set of a partition).
    pub fn replication_factor(&self) -> usize {
        self.partitions
            .iter()
            .map(|p| p.replicas.len())
            .max()
            .unwrap_or(0)
    }

    /// Partitions whose in-sync replicas are fewer than their replicas.
    pub fn under_replicated(&self) -> usize {
        self.partitions
            .iter()
            .filter(|p| p.is_under_replicated())
            .count()
    }

    /// Partitions without a leader.
    pub fn offline(&self) -> usize {
        self.partitions.iter().filter(|p| p.is_offline()).count()
    }

    /// Messages held, from the watermarks (high − low, summed).
    pub fn messages(&self) -> i64 {
        self.partitions.iter().map(Partition::messages).sum()
    }

    /// Whether the topic is Kafka's own (`__consumer_offsets` …).
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// The partition id.
    pub id: i32,
    /// The leader's broker id (−1: none).
    pub leader: i32,
    /// The replicas' broker ids.
    pub replicas: Vec<i32>,
    /// The in-sync replicas' broker ids.
    pub isr: Vec<i32>,
    /// The low watermark (the oldest offset held), if it could be read.
    pub low: Option<i64>,
    /// The high watermark (the next offset), if it could be read.
    pub high: Option<i64>,
    /// What the broker said was wrong with the partition, if anything.
    pub error: Option<String>,
}

impl Partition {
    /// Whether some replica is out of sync.
    pub fn is_under_replicated(&self) -> bool {
        self.isr.len() < self.replicas.len()
    }

    /// Whether the partition has no leader.
    pub fn is_offline(&self) -> bool {
        self.leader < 0
    }

    /// Messages held (high − low), 0 when unknown.
    pub fn messages(&self) -> i64 {
        match (self.low, self.high) {
            (Some(low), Some(high)) => (high - low).max(0),
            _ => 0,
        }
    }
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group id.
    pub name: String,
    /// Its state (Stable, Empty, PreparingRebalance, Dead …).
    pub state: String,
    /// The protocol type ("consumer" for consumer groups).
    pub protocol_type: String,
    /// The partition assignor (range, roundrobin, cooperative-sticky …).
    pub assignor: String,
    /// How many members it has now.
    pub members: usize,
    /// Committed offset and lag per partition the group has committed to.
    pub offsets: Vec<GroupOffset>,
    /// Why its offsets could not be read, if they could not.
    pub error: Option<String>,
}

impl Group {
    /// The group's lag over all its partitions.
    pub fn total_lag(&self) -> i64 {
        self.offsets.iter().map(|o| o.lag).sum()
    }

    /// The group's lag per topic, by topic name.
    pub fn lag_by_topic(&self) -> Vec<(String, i64)> {
        let mut by_topic: std::collections::BTreeMap<&str, i64> = Default::default();
        for offset in &self.offsets {
            *by_topic.entry(&offset.topic).or_default() += offset.lag;
        }
        by_topic
            .into_iter()
            .map(|(topic, lag)| (topic.to_owned(), lag))
            .collect()
    }
}

/// A group's position in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset the group committed.
    pub committed: i64,
    /// The partition's end (high watermark).
    pub end: i64,
    /// end − committed, never below 0.
    pub lag: i64,
}

/// One Kafka cluster to look at: its profile entry and how to reach it.
#[derive(Debug, Clone)]
pub struct KafkaTarget {
    /// The profile's entry.
    pub spec: KafkaSpec,
    /// The profile's directory (secret files, the CA file).
    pub base_dir: PathBuf,
    /// The timeout of each call to the brokers.
    pub timeout: Duration,
    /// The site's port-forwards, which `via: port-forward` needs.
    pub forwards: Option<Forwards>,
    /// The site's bastion, which `via: bastion` needs.
    pub bastion: Option<std::sync::Arc<crate::nodes::access::Bastion>>,
}

impl KafkaTarget {
    /// The entry of a profile in `base_dir`, reached without forwards.
    pub fn new(spec: &KafkaSpec, base_dir: &Path, timeout: Duration) -> Self {
        Self {
            spec: spec.clone(),
            base_dir: base_dir.to_path_buf(),
            timeout,
            forwards: None,
            bastion: None,
        }
    }

    /// The same, with the site's port-forwards.
    pub fn through(self, forwards: Option<Forwards>) -> Self {
        Self { forwards, ..self }
    }

    /// The same, with the site's bastion.
    pub fn via_bastion(
        self,
        bastion: Option<std::sync::Arc<crate::nodes::access::Bastion>>,
    ) -> Self {
        Self { bastion, ..self }
    }

    /// The client settings (reads the secret: call on the blocking pool),
    /// with routes through the forwards for `via: port-forward`.
    fn settings(&self, runtime: &tokio::runtime::Handle) -> Result<client::Settings, KafkaError> {
        let mut settings = client::Settings::from_spec(&self.spec, &self.base_dir, self.timeout)?;
        if self.spec.via == KafkaPath::PortForward {
            let forwards = self.forwards.clone().ok_or_else(|| {
                KafkaError::Config(format!(
                    "kafka `{}` goes via port-forward, and sitedeck has no connection to the \
                     cluster: check the profile's `cluster` and the cluster's row",
                    self.spec.name.value
                ))
            })?;
            settings.forget_property("client.dns.lookup");
            settings.routes = Some(std::sync::Arc::new(routes::Routes::PortForward(
                routes::ForwardRoutes::new(forwards, runtime.clone(), self.timeout),
            )));
        }
        if self.spec.via == KafkaPath::Bastion {
            let bastion = self.bastion.clone().ok_or_else(|| {
                KafkaError::Config(format!(
                    "kafka `{}` goes via bastion, and the profile has no `ssh.bastion`",
                    self.spec.name.value
                ))
            })?;
            settings.forget_property("client.dns.lookup");
            settings.routes = Some(std::sync::Arc::new(routes::Routes::Bastion(
                routes::BastionRoutes::new(bastion),
            )));
        }
        Ok(settings)
    }
}

/// Reads brokers, topics with watermarks and groups with lag, within the
/// target's timeout for each call to the brokers.
pub async fn observe(target: &KafkaTarget) -> Result<KafkaSnapshot, KafkaError> {
    let (target, runtime) = (target.clone(), tokio::runtime::Handle::current());
    blocking(move || fetch::snapshot(&target.settings(&runtime)?)).await
}

/// The last messages of a partition, or the first ones from a time, up to
/// `limit`. Never joins or commits for a consumer group.
pub async fn peek(
    target: &KafkaTarget,
    topic: &str,
    partition: i32,
    from: PeekFrom,
    limit: usize,
) -> Result<Vec<PeekedMessage>, KafkaError> {
    let (target, runtime) = (target.clone(), tokio::runtime::Handle::current());
    let topic = topic.to_owned();
    blocking(move || {
        let settings = target.settings(&runtime)?;
        peek::peek(&settings, &topic, partition, from, limit)
    })
    .await
}

/// Runs blocking librdkafka work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KafkaError::Other(format!("the Kafka task ended unexpectedly: {e}")))?
}
