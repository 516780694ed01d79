//! Probing a site's sources once: the cluster API, the bastion, each
//! middleware endpoint, each Kafka cluster.
//!
//! A probe is plain async code with its own timeout; it returns a
//! [`ProbeReport`] whose [`ProbeState`] tells "authentication failed" from
//! "refused" from "timeout", so the operator knows what to do next. The TUI's
//! Overview and `sitedeck status` both use [`plan`] and [`run`].

pub mod classify;
mod kube_api;
mod mysql;
mod net;
mod redis;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::profile::{MiddlewareKind, NodesSpec, SiteProfile};

pub use classify::ProbeFailure;

/// How a source answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeState {
    /// Not probed yet.
    Pending,
    /// Reachable, and logged in where credentials are configured.
    Up,
    /// Answers, but part of it is missing (a bootstrap server of several).
    Degraded,
    /// Reached, but the credentials were refused.
    AuthFailed,
    /// Nothing listens on the port.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// The TLS handshake or certificate check failed.
    TlsError,
    /// The host name does not resolve.
    DnsError,
    /// Could not be probed as configured (missing secret, bad kubeconfig…).
    ConfigError,
    /// Any other failure.
    Error,
}

impl ProbeState {
    /// A short word for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::AuthFailed => "auth failed",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::TlsError => "TLS error",
            Self::DnsError => "DNS error",
            Self::ConfigError => "config error",
            Self::Error => "error",
        }
    }

    /// Whether the source counts as down for `sitedeck status`.
    pub fn is_down(self) -> bool {
        !matches!(self, Self::Up | Self::Degraded | Self::Pending)
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// How the source answered.
    pub state: ProbeState,
    /// Time to connect, log in and ask, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The server's version or the error, sanitised, one line.
    pub detail: String,
    /// When the probe finished.
    pub checked_at: Option<chrono::DateTime<chrono::Local>>,
}

impl ProbeReport {
    /// A report not yet probed.
    pub fn pending() -> Self {
        Self {
            state: ProbeState::Pending,
            latency_ms: None,
            detail: String::new(),
            checked_at: None,
        }
    }

    /// The report of a probe that panicked (a bug in sitedeck).
    pub fn crashed() -> Self {
        Self {
            state: ProbeState::Error,
            latency_ms: None,
            detail: "the probe crashed (a sitedeck bug; see the log)".into(),
            checked_at: Some(chrono::Local::now()),
        }
    }

    fn reached(started: Instant, state: ProbeState, detail: impl AsRef<str>) -> Self {
        Self {
            state,
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            detail: crate::text::one_line(detail.as_ref()),
            checked_at: Some(chrono::Local::now()),
        }
    }

    fn failed(failure: ProbeFailure) -> Self {
        Self {
            state: failure.state,
            latency_ms: None,
            detail: crate::text::one_line(&failure.message),
            checked_at: Some(chrono::Local::now()),
        }
    }
}

/// What kind of source a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The Kubernetes API server.
    Cluster,
    /// The SSH bastion.
    Bastion,
    /// A node reached over SSH.
    Node,
    /// A middleware endpoint.
    Middleware(MiddlewareKind),
    /// A Kafka cluster.
    Kafka,
}

impl SourceKind {
    /// A short word for tables.
    pub fn label(self) -> String {
        match self {
            Self::Cluster => "kubernetes".into(),
            Self::Bastion => "bastion".into(),
            Self::Node => "ssh".into(),
            Self::Middleware(kind) => kind.to_string(),
            Self::Kafka => "kafka".into(),
        }
    }
}

impl Serialize for SourceKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.label())
    }
}

/// One source to probe: a row of Overview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    /// The name the operator gave it (or `cluster`, `bastion`).
    pub name: String,
    /// What it is.
    pub kind: SourceKind,
    /// Where it is: `host:port`, or the kube context.
    pub target: String,
    /// What the probe checks, for the operator.
    pub checks: &'static str,
    /// The row in Overview.
    #[serde(skip)]
    index: usize,
    /// The entry in the profile's `middleware` or `kafka` list.
    #[serde(skip)]
    spec: usize,
}

/// Lists the sources of a profile, in Overview order. `context` overrides
/// the profile's kube context (`--context`).
pub fn plan(profile: &SiteProfile, context: Option<&str>) -> Vec<Source> {
    let mut sources = Vec::new();
    if let Some(cluster) = &profile.cluster {
        let context = context.or(cluster.context.as_deref());
        sources.push(Source {
            name: "cluster".into(),
            kind: SourceKind::Cluster,
            target: context.unwrap_or("(current context)").to_owned(),
            checks: "API server version, with the kubeconfig's credentials",
            index: 0,
            spec: 0,
        });
    }
    if let Some(ssh) = &profile.ssh {
        if let Some(bastion) = &ssh.bastion {
            sources.push(Source {
                name: "bastion".into(),
                kind: SourceKind::Bastion,
                target: format!("{}:{}", bastion.host, bastion.port),
                checks: "TCP connect and SSH banner",
                index: 0,
                spec: 0,
            });
        } else if let NodesSpec::List(nodes) = &ssh.nodes {
            for node in nodes {
                sources.push(Source {
                    name: node.name.value.clone(),
                    kind: SourceKind::Node,
                    target: format!("{}:{}", node.host, node.port),
                    checks: "TCP connect and SSH banner",
                    index: 0,
                    spec: 0,
                });
            }
        }
    }
    for (spec, m) in profile.middleware.iter().enumerate() {
        sources.push(Source {
            name: m.name.value.clone(),
            kind: SourceKind::Middleware(m.kind),
            target: m.endpoint.value.clone(),
            checks: match m.kind {
                MiddlewareKind::Mysql => "login and SELECT VERSION()",
                MiddlewareKind::Redis => "AUTH and INFO server",
                MiddlewareKind::Tcp => "TCP connect",
            },
            index: 0,
            spec,
        });
    }
    for (spec, k) in profile.kafka.iter().enumerate() {
        sources.push(Source {
            name: k.name.value.clone(),
            kind: SourceKind::Kafka,
            target: k
                .bootstrap
                .iter()
                .map(|s| s.value.as_str())
                .collect::<Vec<_>>()
                .join(","),
            checks: "TCP connect to every bootstrap server (no SASL login yet)",
            index: 0,
            spec,
        });
    }
    for (index, source) in sources.iter_mut().enumerate() {
        source.index = index;
    }
    sources
}

/// Reads an endpoint's password, if it has one, off the runtime's threads
/// (a secret file may sit on a slow disk).
async fn password(
    spec: &crate::config::profile::MiddlewareSpec,
    profile: &SiteProfile,
) -> Result<Option<crate::config::secret::Secret>, ProbeFailure> {
    let Some(source) = spec.password.as_ref().map(|s| s.value.clone()) else {
        return Ok(None);
    };
    let base = profile.base_dir.clone();
    tokio::task::spawn_blocking(move || source.resolve_local(&base))
        .await
        .map_err(|e| ProbeFailure::config(format!("cannot read the password: {e}")))?
        .map(Some)
        .map_err(|e| ProbeFailure::config(e.to_string()))
}

/// Probes one source within the profile's timeout.
/// `cluster`: where the cluster is (the command line's overrides applied);
/// `None`: the profile's own.
pub async fn run(
    source: &Source,
    profile: &SiteProfile,
    cluster: Option<&crate::cluster::connect::ClusterTarget>,
) -> ProbeReport {
    let timeout = Duration::from_secs_f64(profile.probes.timeout_seconds);
    let started = Instant::now();
    let work = probe_source(source, profile, cluster, timeout);
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((state, detail))) => ProbeReport::reached(started, state, detail),
        Ok(Err(failure)) => ProbeReport::failed(failure),
        Err(_) => ProbeReport::failed(ProbeFailure::timeout(timeout)),
    }
}

/// What a source answered: up or degraded, and what it said.
type Reached = (ProbeState, String);

fn up(detail: String) -> Reached {
    (ProbeState::Up, detail)
}

async fn probe_source(
    source: &Source,
    profile: &SiteProfile,
    cluster: Option<&crate::cluster::connect::ClusterTarget>,
    timeout: Duration,
) -> Result<Reached, ProbeFailure> {
    let vanished = || ProbeFailure::config("the profile changed; refresh to probe it again");
    match source.kind {
        SourceKind::Cluster => {
            let target = match cluster {
                Some(target) => Some(target.clone()),
                None => crate::cluster::connect::ClusterTarget::of_site(profile, None, None),
            };
            kube_api::probe(target, profile).await.map(up)
        }
        SourceKind::Bastion | SourceKind::Node => {
            net::ssh_banner(&source.target, timeout).await.map(up)
        }
        SourceKind::Middleware(kind) => {
            let spec = profile.middleware.get(source.spec).ok_or_else(vanished)?;
            match kind {
                MiddlewareKind::Mysql => mysql::probe(spec, profile).await.map(up),
                MiddlewareKind::Redis => redis::probe(spec, profile).await.map(up),
                MiddlewareKind::Tcp => net::tcp(&spec.endpoint.value)
                    .await
                    .map(|_| up("accepts connections".into())),
            }
        }
        SourceKind::Kafka => {
            let spec = profile.kafka.get(source.spec).ok_or_else(vanished)?;
            let servers: Vec<&str> = spec.bootstrap.iter().map(|s| s.value.as_str()).collect();
            net::bootstrap(&servers).await
        }
    }
}

impl Source {
    /// The source's row in Overview.
    pub fn index(&self) -> usize {
        self.index
    }
}
