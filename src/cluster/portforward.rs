//! Port-forwards over the Kubernetes API to in-cluster middleware endpoints
//! (`service: ns/name:port`, `pod: ns/selector:port`).
//!
//! STUB: the interface the probes use; the forwarding itself is being built.

use std::net::SocketAddr;

use crate::config::profile::Endpoint;

/// The port-forwards of one site, opened on first use and reopened as needed.
#[derive(Clone)]
pub struct Forwards {
    client: kube::Client,
}

impl std::fmt::Debug for Forwards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forwards")
    }
}

/// The local end of a port-forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The loopback address that forwards to the endpoint.
    pub local: SocketAddr,
    /// How the endpoint is reached, for the operator, e.g.
    /// `port-forward to pod acme-data/mysql-0:3306`.
    pub path: String,
}

impl Forwards {
    /// Forwards through `client`'s API server.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// The local address forwarding to `endpoint`, opening the forward the first time.
    pub async fn local(&self, endpoint: &Endpoint) -> Result<Forwarded, String> {
        let _ = &self.client;
        Err(format!("{endpoint}: port-forwarding is not built yet"))
    }
}
