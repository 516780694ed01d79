//! Broker addresses through port-forwards (`via: port-forward`): brokers
//! in a cluster advertise in-cluster names the bastion cannot resolve, so
//! each name librdkafka looks up — a bootstrap server or an advertised
//! broker — becomes the port-forward to its pod or Service, and resolves
//! to that forward's loopback address.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::cluster::portforward::Forwards;
use crate::config::profile::Endpoint;

/// The forwards of one client, and what each broker address went to.
pub(super) struct Routes {
    forwards: Forwards,
    /// The runtime the forwards run on (librdkafka's threads are not).
    runtime: tokio::runtime::Handle,
    /// How long opening one forward may take.
    wait: Duration,
    /// Broker address → its endpoint and how it is reached (the view's
    /// PATH).
    used: Mutex<BTreeMap<String, (Endpoint, String)>>,
}

impl Routes {
    /// Routes over `forwards`, whose tasks run on `runtime`.
    pub fn new(forwards: Forwards, runtime: tokio::runtime::Handle, wait: Duration) -> Self {
        Self {
            forwards,
            runtime,
            wait,
            used: Mutex::default(),
        }
    }

    /// The loopback address that forwards to broker `host:port`, opening
    /// the forward the first time. Blocks: call it from librdkafka's
    /// threads or the blocking pool, never from async code.
    pub fn local(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let endpoint = Endpoint::of_cluster_name(host, port).ok_or_else(|| {
            format!(
                "{host} is not an in-cluster name (POD.SERVICE.NAMESPACE.svc or \
                 SERVICE.NAMESPACE.svc), so no port-forward reaches it"
            )
        })?;
        let opened = self.runtime.block_on(async {
            // Made inside: the timer needs the runtime's context.
            tokio::time::timeout(self.wait, self.forwards.local(&endpoint)).await
        });
        let forwarded = opened.map_err(|_| {
            format!(
                "the port-forward to {endpoint} did not open within {:.1} s",
                self.wait.as_secs_f64()
            )
        })??;
        if let Ok(mut used) = self.used.lock() {
            used.insert(format!("{host}:{port}"), (endpoint, forwarded.path));
        }
        Ok(forwarded.local)
    }

    /// How the brokers were reached: `port-forward to pod ns/a:9092, pod
    /// ns/b:9092`, or that no forward was opened yet.
    pub fn path(&self) -> String {
        let used = self.used();
        let mut targets: Vec<&str> = used
            .iter()
            .map(|(_, path)| path.strip_prefix("port-forward to ").unwrap_or(path))
            .collect();
        targets.sort_unstable();
        targets.dedup();
        if targets.is_empty() {
            "port-forward (none opened)".into()
        } else {
            format!("port-forward to {}", targets.join(", "))
        }
    }

    /// Why a forward in use failed since one last worked, if one did: a
    /// connection librdkafka saw close was a pod gone or a port refused.
    /// Blocks, as [`Self::local`].
    pub fn failure(&self) -> Option<String> {
        let used = self.used();
        self.runtime.block_on(async {
            let look = async {
                for (endpoint, _) in &used {
                    if let Some(why) = self.forwards.failure(endpoint, Duration::ZERO).await {
                        return Some(why);
                    }
                }
                None
            };
            // A forward being opened holds its slot: not worth waiting for.
            tokio::time::timeout(Duration::from_millis(100), look)
                .await
                .ok()
                .flatten()
        })
    }

    fn used(&self) -> Vec<(Endpoint, String)> {
        self.used
            .lock()
            .map(|used| used.values().cloned().collect())
            .unwrap_or_default()
    }
}
