//! The `kafka` section of `sitedeck status`, and `sitedeck kafka peek`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::kafka::{Broker, KafkaSnapshot, PeekFrom};
use crate::middleware::Finding;
use crate::probe::{ProbeState, SourceKind};

use super::SourceStatus;

/// One Kafka cluster in `status --format json`.
#[derive(Debug, Serialize)]
pub struct KafkaStatus {
    /// The name in the profile.
    pub name: String,
    /// `up`, `degraded`, or why it could not be read.
    pub state: ProbeState,
    /// The key figures, or the error.
    pub detail: String,
    /// How the brokers were reached.
    pub path: Option<String>,
    /// The brokers in the metadata.
    pub brokers: Vec<Broker>,
    /// Topics (Kafka's own `__` topics left out).
    pub topics: Vec<TopicStatus>,
    /// Consumer groups with their lag.
    pub groups: Vec<GroupStatus>,
    /// What is wrong or worth knowing, worst first.
    pub findings: Vec<Finding>,
}

/// A topic in `status`.
#[derive(Debug, Serialize)]
pub struct TopicStatus {
    /// The topic.
    pub name: String,
    /// How many partitions.
    pub partitions: usize,
    /// The replication factor.
    pub replication_factor: usize,
    /// Partitions with fewer in-sync replicas than replicas.
    pub under_replicated: usize,
    /// Partitions without a leader.
    pub offline: usize,
    /// Messages held (high − low watermark, summed).
    pub messages: i64,
    /// Retention, when the brokers describe topic configs.
    pub retention: Option<String>,
}

/// A consumer group in `status`.
#[derive(Debug, Serialize)]
pub struct GroupStatus {
    /// The group id.
    pub name: String,
    /// Its state.
    pub state: String,
    /// Its members now.
    pub members: usize,
    /// Its partition assignor.
    pub assignor: String,
    /// Lag over all its partitions.
    pub total_lag: i64,
    /// Lag per topic.
    pub lag_by_topic: BTreeMap<String, i64>,
    /// Why its offsets could not be read, if they could not.
    pub error: Option<String>,
}

/// The Kafka clusters among the probed sources.
pub fn collect(sources: &[SourceStatus]) -> Vec<KafkaStatus> {
    sources
        .iter()
        .filter(|s| s.source.kind == SourceKind::Kafka)
        .map(|s| {
            let snapshot = s.report.kafka.as_deref();
            KafkaStatus {
                name: s.source.name.clone(),
                state: s.report.state,
                detail: s.report.detail.clone(),
                path: s.report.path.clone(),
                brokers: snapshot.map(|k| k.brokers.clone()).unwrap_or_default(),
                topics: snapshot.map(topics).unwrap_or_default(),
                groups: snapshot.map(groups).unwrap_or_default(),
                findings: s
                    .report
                    .health
                    .as_ref()
                    .map(|h| h.findings.clone())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

fn topics(snapshot: &KafkaSnapshot) -> Vec<TopicStatus> {
    snapshot
        .topics
        .iter()
        .filter(|t| !t.is_internal())
        .map(|t| TopicStatus {
            name: t.name.clone(),
            partitions: t.partitions.len(),
            replication_factor: t.replication_factor(),
            under_replicated: t.under_replicated(),
            offline: t.offline(),
            messages: t.messages(),
            retention: t.retention.clone(),
        })
        .collect()
}

fn groups(snapshot: &KafkaSnapshot) -> Vec<GroupStatus> {
    snapshot
        .groups
        .iter()
        .map(|g| GroupStatus {
            name: g.name.clone(),
            state: g.state.clone(),
            members: g.members,
            assignor: g.assignor.clone(),
            total_lag: g.total_lag(),
            lag_by_topic: g.lag_by_topic().into_iter().collect(),
            error: g.error.clone(),
        })
        .collect()
}

/// For the table format: each cluster's groups with their lag.
pub fn write_table(out: &mut impl Write, kafka: &[KafkaStatus]) -> std::io::Result<()> {
    for cluster in kafka.iter().filter(|k| !k.groups.is_empty()) {
        writeln!(
            out,
            "kafka {} groups:",
            crate::text::one_line(&cluster.name)
        )?;
        for group in &cluster.groups {
            writeln!(
                out,
                "  {:<24} {:<12} {:>3} member(s)  lag {}",
                crate::text::one_line(&group.name),
                crate::text::one_line(&group.state),
                group.members,
                group.total_lag
            )?;
        }
    }
    Ok(())
}

/// What `sitedeck kafka peek` reads.
#[derive(Debug)]
pub struct PeekRequest {
    /// The Kafka cluster's name in the profile (the only one if `None`).
    pub cluster: Option<String>,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// How many messages at most.
    pub limit: usize,
    /// From a time (see [`crate::kafka::parse_from`]) instead of the last
    /// messages.
    pub from: Option<String>,
    /// JSON lines instead of text.
    pub json: bool,
}

/// Prints the messages of one partition, sanitised (or as JSON lines).
pub async fn peek(
    profile: &crate::config::profile::SiteProfile,
    request: &PeekRequest,
    cluster: Option<&crate::cluster::connect::ClusterTarget>,
    state_dir: &std::path::Path,
) -> ExitCode {
    let spec = match &request.cluster {
        Some(name) => profile.kafka.iter().find(|k| &k.name.value == name),
        None if profile.kafka.len() == 1 => profile.kafka.first(),
        None => None,
    };
    let Some(spec) = spec else {
        let names: Vec<&str> = profile
            .kafka
            .iter()
            .map(|k| k.name.value.as_str())
            .collect();
        let names = if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        };
        match &request.cluster {
            Some(name) => eprintln!("no Kafka cluster named {name} (this site has: {names})"),
            None => eprintln!("name the Kafka cluster with --cluster (this site has: {names})"),
        }
        return ExitCode::from(2);
    };
    let from = match request
        .from
        .as_deref()
        .map(|text| crate::kafka::parse_from(text, &chrono::Local::now()))
    {
        None => PeekFrom::Last,
        Some(Ok(millis)) => PeekFrom::Time(millis),
        Some(Err(e)) => {
            eprintln!("--from: {e}");
            return ExitCode::from(2);
        }
    };
    let timeout = Duration::from_secs_f64(profile.probes.timeout_seconds.max(1.0));
    // The cluster only when this entry's brokers are reached through it.
    let forwards = match (spec.via, cluster) {
        (crate::config::profile::KafkaPath::Direct, _) => None,
        (_, None) => {
            eprintln!(
                "kafka {}: via: port-forward needs the profile's `cluster` section",
                spec.name.value
            );
            return ExitCode::from(2);
        }
        (_, Some(cluster)) => {
            match super::middleware_status::connect_forwards(profile, cluster, state_dir).await {
                Ok(forwards) => Some(forwards),
                Err(e) => {
                    eprintln!("kafka {} (via: port-forward): {e}", spec.name.value);
                    return ExitCode::from(1);
                }
            }
        }
    };
    let bastion = crate::nodes::access::Bastion::of_profile(profile, state_dir, timeout);
    let target = crate::kafka::KafkaTarget::new(spec, &profile.base_dir, timeout)
        .through(forwards)
        .via_bastion(bastion);
    let result = crate::kafka::peek(
        &target,
        &request.topic,
        request.partition,
        from,
        request.limit,
    )
    .await;
    let messages = match result {
        Ok(messages) => messages,
        Err(e) => {
            eprintln!(
                "kafka {}: {}",
                spec.name.value,
                crate::text::one_line(&e.to_string())
            );
            return ExitCode::from(1);
        }
    };
    if messages.is_empty() {
        eprintln!(
            "{}/{} holds no message{}",
            request.topic,
            request.partition,
            if request.from.is_some() {
                " from that time"
            } else {
                ""
            }
        );
    }
    let mut out = std::io::stdout().lock();
    let written = messages.iter().try_for_each(|m| {
        if request.json {
            serde_json::to_string(m)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
        } else {
            write!(out, "{}", crate::kafka::render(m))
        }
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the messages: {e}");
            ExitCode::from(2)
        }
    }
}
