//! Broker addresses through port-forwards (`via: port-forward`) or the
//! SSH bastion (`via: bastion`): brokers advertise addresses this host
//! cannot resolve or reach, so each address librdkafka looks up — a
//! bootstrap server or an advertised broker — becomes a local listener
//! that goes on to the broker (a port-forward to its pod or Service, or a
//! connection the bastion opens), and resolves to that listener's loopback
//! address. The name itself stays librdkafka's, so TLS still checks it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::cluster::portforward::Forwards;
use crate::config::profile::Endpoint;
use crate::nodes::access::Bastion;

/// The routes of one client: through port-forwards or the bastion.
pub(super) enum Routes {
    /// Port-forwards over the Kubernetes API.
    PortForward(ForwardRoutes),
    /// Connections the bastion opens.
    Bastion(BastionRoutes),
}

impl Routes {
    /// The loopback address that goes on to broker `host:port`. Blocks:
    /// call it from librdkafka's threads or the blocking pool, never
    /// from async code.
    pub fn local(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        match self {
            Self::PortForward(routes) => routes.local(host, port),
            Self::Bastion(routes) => routes.local(host, port),
        }
    }

    /// How the brokers were reached, for the view's PATH.
    pub fn path(&self) -> String {
        match self {
            Self::PortForward(routes) => routes.path(),
            Self::Bastion(routes) => routes.path(),
        }
    }

    /// Why a route in use failed, if one did. Blocks, as [`Self::local`].
    pub fn failure(&self) -> Option<String> {
        match self {
            Self::PortForward(routes) => routes.failure(),
            Self::Bastion(routes) => routes.failure(),
        }
    }
}

/// Broker addresses through the site's bastion.
pub(super) struct BastionRoutes {
    bastion: std::sync::Arc<Bastion>,
    /// The broker addresses looked up.
    used: Mutex<std::collections::BTreeSet<(String, u16)>>,
}

impl BastionRoutes {
    /// Routes through `bastion`'s session.
    pub fn new(bastion: std::sync::Arc<Bastion>) -> Self {
        Self {
            bastion,
            used: Mutex::default(),
        }
    }

    fn local(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let tunnel = self
            .bastion
            .tunnel()
            .map_err(|error| crate::nodes::access::explain(&error))?;
        let local = tunnel.listen(host, port)?;
        if let Ok(mut used) = self.used.lock() {
            used.insert((host.to_owned(), port));
        }
        Ok(local)
    }

    /// `SSH via bastion USER@HOST to a:9092, b:9092`.
    fn path(&self) -> String {
        let used = self
            .used()
            .iter()
            .map(|(host, port)| format!("{host}:{port}"))
            .collect::<Vec<_>>()
            .join(", ");
        if used.is_empty() {
            format!("SSH via bastion {} (none opened)", self.bastion.name())
        } else {
            format!("SSH via bastion {} to {used}", self.bastion.name())
        }
    }
}

impl BastionRoutes {
    /// Why the session ended, or a broker of this client could not be
    /// reached through it.
    fn failure(&self) -> Option<String> {
        self.bastion.failure(&self.used())
    }

    fn used(&self) -> Vec<(String, u16)> {
        self.used
            .lock()
            .map(|used| used.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The forwards of one client, and what each broker address went to.
pub(super) struct ForwardRoutes {
    forwards: Forwards,
    /// The runtime the forwards run on (librdkafka's threads are not).
    runtime: tokio::runtime::Handle,
    /// How long opening one forward may take.
    wait: Duration,
    /// Broker address → its endpoint and how it is reached (the view's
    /// PATH).
    used: Mutex<BTreeMap<String, (Endpoint, String)>>,
}

impl ForwardRoutes {
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
    /// the forward the first time. Blocks.
    fn local(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
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
    fn path(&self) -> String {
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
    /// Blocks.
    fn failure(&self) -> Option<String> {
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
