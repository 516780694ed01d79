//! Probing a site's sources once: the cluster API, the bastion, each
//! middleware endpoint, each Kafka cluster.
//!
//! A probe is plain async code with its own timeout; it returns a
//! [`ProbeReport`] whose [`ProbeState`] tells "authentication failed" from
//! "refused" from "timeout", so the operator knows what to do next. The TUI's
//! Overview and `sitedeck status` both use [`plan`] and [`run`].

pub mod classify;
mod kube_api;
pub(crate) mod net;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::profile::{Endpoint, KafkaPath, MiddlewareKind, NodesSpec, SiteProfile};

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
    /// A middleware endpoint's role, figures and findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::middleware::Health>,
    /// How a middleware endpoint was reached: `direct` or the port-forward.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A Kafka cluster's brokers, topics and groups (shown by the Kafka
    /// view and in status's own `kafka` section).
    #[serde(skip)]
    pub kafka: Option<std::sync::Arc<crate::kafka::KafkaSnapshot>>,
}

impl ProbeReport {
    /// A report not yet probed.
    pub fn pending() -> Self {
        Self {
            state: ProbeState::Pending,
            latency_ms: None,
            detail: String::new(),
            checked_at: None,
            health: None,
            path: None,
            kafka: None,
        }
    }

    /// The report of a probe that panicked (a bug in sitedeck).
    pub fn crashed() -> Self {
        Self {
            state: ProbeState::Error,
            latency_ms: None,
            detail: "the probe crashed (a sitedeck bug; see the log)".into(),
            checked_at: Some(chrono::Local::now()),
            health: None,
            path: None,
            kafka: None,
        }
    }

    fn reached(started: Instant, reached: Reached) -> Self {
        Self {
            state: reached.state,
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            detail: crate::text::one_line(&reached.detail),
            checked_at: Some(chrono::Local::now()),
            health: reached.health,
            path: None,
            kafka: reached.kafka,
        }
    }

    fn failed(failure: ProbeFailure) -> Self {
        Self {
            state: failure.state,
            latency_ms: None,
            detail: crate::text::one_line(&failure.message),
            checked_at: Some(chrono::Local::now()),
            health: None,
            path: None,
            kafka: None,
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
                    target: format!("{}:{}", node.host, ssh.port_of(node)),
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
            target: m.target(),
            checks: match m.kind {
                MiddlewareKind::Mysql => "login, role, replication, connections",
                MiddlewareKind::Redis => "AUTH, role, replication, memory, persistence",
                MiddlewareKind::Postgresql => "login, recovery, replication lag, connections",
                MiddlewareKind::S3 => "bucket reachable, write/read/delete probe",
                MiddlewareKind::Elasticsearch => "cluster health, shards, disk watermarks",
                MiddlewareKind::Http => "status, body, latency, certificate expiry",
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

/// What a probe needs besides the source and the profile.
#[derive(Debug, Clone, Default)]
pub struct ProbeEnv {
    /// Where the cluster is (the command line's overrides applied);
    /// `None`: the profile's own.
    pub cluster: Option<crate::cluster::connect::ClusterTarget>,
    /// Read-only mode: no write probes.
    pub readonly: bool,
    /// Port-forwards to in-cluster endpoints; `None` when the site has no
    /// cluster connection.
    pub forwards: Option<crate::cluster::portforward::Forwards>,
    /// The site's bastion, for what goes `via: bastion`; `None` when the
    /// profile has none.
    pub bastion: Option<std::sync::Arc<crate::nodes::access::Bastion>>,
}

/// Probes one source within its timeout (the endpoint's own, else the
/// profile's).
pub async fn run(source: &Source, profile: &SiteProfile, env: &ProbeEnv) -> ProbeReport {
    let seconds = match source.kind {
        SourceKind::Middleware(_) => profile
            .middleware
            .get(source.spec)
            .and_then(|m| m.timeout_seconds),
        _ => None,
    }
    .unwrap_or(profile.probes.timeout_seconds);
    let timeout = Duration::from_secs_f64(seconds);
    // A look at Kafka is several calls (metadata, offsets, groups), each
    // bounded by the timeout.
    let limit = match source.kind {
        SourceKind::Kafka => timeout * 4,
        _ => timeout,
    };
    let started = Instant::now();
    // How a middleware endpoint is reached, known before its check fails.
    let mut path = None;
    let work = probe_source(source, profile, env, timeout, &mut path);
    let outcome = tokio::time::timeout(limit, work).await;
    match outcome {
        Ok(Ok(reached)) => ProbeReport {
            path,
            ..ProbeReport::reached(started, reached)
        },
        Ok(Err(failure)) => ProbeReport {
            path,
            ..ProbeReport::failed(failure)
        },
        Err(_) => ProbeReport {
            path,
            ..ProbeReport::failed(ProbeFailure::timeout(timeout))
        },
    }
}

/// What a source answered.
#[derive(Debug)]
struct Reached {
    state: ProbeState,
    detail: String,
    health: Option<crate::middleware::Health>,
    kafka: Option<std::sync::Arc<crate::kafka::KafkaSnapshot>>,
}

fn up(detail: String) -> Reached {
    Reached {
        state: ProbeState::Up,
        detail,
        health: None,
        kafka: None,
    }
}

async fn probe_source(
    source: &Source,
    profile: &SiteProfile,
    env: &ProbeEnv,
    timeout: Duration,
    path: &mut Option<String>,
) -> Result<Reached, ProbeFailure> {
    let vanished = || ProbeFailure::config("the profile changed; refresh to probe it again");
    match source.kind {
        SourceKind::Cluster => {
            let target = match &env.cluster {
                Some(target) => Some(target.clone()),
                None => crate::cluster::connect::ClusterTarget::of_site(profile, None, None),
            };
            kube_api::probe(target, profile).await.map(up)
        }
        SourceKind::Bastion | SourceKind::Node => {
            net::ssh_banner(&source.target, timeout).await.map(up)
        }
        SourceKind::Middleware(_) => {
            let spec = profile.middleware.get(source.spec).ok_or_else(vanished)?;
            *path = Some(match &spec.endpoint {
                Some(e) if e.value.in_cluster() => "port-forward (opening)".into(),
                _ => "direct".into(),
            });
            let dial = dial(spec, env, path).await?;
            *path = Some(dial.path.clone());
            let ctx = crate::middleware::CheckContext {
                spec,
                profile,
                dial,
                readonly: env.readonly,
                timeout,
            };
            let health = match crate::middleware::check(&ctx).await {
                Ok(health) => health,
                Err(failure) => return Err(forward_failure(spec, env, failure).await),
            };
            Ok(Reached {
                state: health.state(),
                detail: health.headline(),
                health: Some(health),
                kafka: None,
            })
        }
        SourceKind::Kafka => {
            let spec = profile.kafka.get(source.spec).ok_or_else(vanished)?;
            // A plain connect (or the forwards) first: a refused or unknown
            // server is said at once and precisely, not after librdkafka's
            // retries.
            let servers: Vec<&str> = spec.bootstrap.iter().map(|s| s.value.as_str()).collect();
            let (reachable, bootstrap) = match spec.via {
                KafkaPath::Direct => net::bootstrap(&servers).await.map_err(|mut failure| {
                    if failure.state == ProbeState::DnsError
                        && servers.iter().any(|s| s.contains(".svc"))
                    {
                        failure.message.push_str(crate::kafka::IN_CLUSTER_HINT);
                    }
                    failure
                })?,
                KafkaPath::PortForward => {
                    *path = Some("port-forward (opening)".into());
                    forwarded_bootstrap(&servers, env, timeout).await?
                }
                KafkaPath::Bastion => {
                    *path = Some("SSH via bastion (opening)".into());
                    net::bastion_bootstrap(&servers, env.bastion.as_ref()).await?
                }
            };
            let target = crate::kafka::KafkaTarget::new(spec, &profile.base_dir, timeout)
                .through(env.forwards.clone())
                .via_bastion(env.bastion.clone());
            let snapshot = crate::kafka::observe(&target)
                .await
                .map_err(kafka_failure)?;
            *path = Some(snapshot.path.clone());
            let mut health = crate::kafka::health(&snapshot);
            if reachable == ProbeState::Degraded {
                health.finding(
                    crate::middleware::Severity::Warning,
                    bootstrap,
                    "clients that list only that server cannot start: check it",
                );
                health = health.finish();
            }
            Ok(Reached {
                state: health.state(),
                detail: health.headline(),
                health: Some(health),
                kafka: Some(std::sync::Arc::new(snapshot)),
            })
        }
    }
}

/// A failed look at Kafka as a probe failure.
fn kafka_failure(error: crate::kafka::KafkaError) -> ProbeFailure {
    use crate::kafka::KafkaError;
    let state = match &error {
        KafkaError::Authentication { .. } => ProbeState::AuthFailed,
        KafkaError::Tls(_) => ProbeState::TlsError,
        KafkaError::Unreachable(detail) if detail.contains("resolve") => ProbeState::DnsError,
        KafkaError::Unreachable(_) => ProbeState::Refused,
        KafkaError::Timeout { .. } => ProbeState::Timeout,
        KafkaError::Config(_) => ProbeState::ConfigError,
        KafkaError::Other(_) => ProbeState::Error,
    };
    ProbeFailure::new(state, error.to_string())
}

/// Where a middleware check connects: the endpoint itself, the host of its
/// URL, or the local end of a port-forward.
async fn dial(
    spec: &crate::config::profile::MiddlewareSpec,
    env: &ProbeEnv,
    path: &mut Option<String>,
) -> Result<crate::middleware::Dial, ProbeFailure> {
    use crate::config::profile::Endpoint;
    match spec.endpoint.as_ref().map(|e| &e.value) {
        Some(Endpoint::Address { host, port }) => Ok(crate::middleware::Dial {
            host: host.clone(),
            port: *port,
            path: "direct".into(),
        }),
        Some(Endpoint::Invalid { error, .. }) => Err(ProbeFailure::config(error.clone())),
        Some(in_cluster) => {
            let forwards = env.forwards.as_ref().ok_or_else(|| {
                ProbeFailure::config(format!(
                    "{in_cluster} is reached through the Kubernetes API, and the site has no cluster connection"
                ))
            })?;
            if !forwards.connected() {
                *path = Some("port-forward (waiting for the cluster connection)".into());
            }
            let forwarded = forwards.local(in_cluster).await.map_err(forward_error)?;
            Ok(crate::middleware::Dial {
                host: forwarded.local.ip().to_string(),
                port: forwarded.local.port(),
                path: forwarded.path,
            })
        }
        None => {
            let url = spec
                .url
                .as_ref()
                .ok_or_else(|| ProbeFailure::config("neither `endpoint` nor `url` is set"))?;
            let (host, port) =
                crate::config::profile::url_host_port(&url.value).map_err(ProbeFailure::config)?;
            Ok(crate::middleware::Dial {
                host,
                port,
                path: "direct".into(),
            })
        }
    }
}

/// A check through a port-forward that failed: what the forward said,
/// when it failed (the pod refused the port, the pod went away), rather
/// than the client's "broken pipe" on the local end.
async fn forward_failure(
    spec: &crate::config::profile::MiddlewareSpec,
    env: &ProbeEnv,
    failure: ProbeFailure,
) -> ProbeFailure {
    let (Some(endpoint), Some(forwards)) = (&spec.endpoint, &env.forwards) else {
        return failure;
    };
    if !endpoint.value.in_cluster() || failure.state == ProbeState::AuthFailed {
        return failure;
    }
    match forwards
        .failure(&endpoint.value, Duration::from_millis(2500))
        .await
    {
        Some(why) => forward_error(why),
        None => failure,
    }
}

/// Opens the port-forward of every bootstrap server (`via: port-forward`):
/// up when all open, degraded when some do, the first failure when none
/// does.
async fn forwarded_bootstrap(
    servers: &[&str],
    env: &ProbeEnv,
    timeout: Duration,
) -> Result<(ProbeState, String), ProbeFailure> {
    let Some(forwards) = &env.forwards else {
        return Err(ProbeFailure::config(
            "the brokers are reached via port-forward, and there is no cluster connection",
        ));
    };
    let open = |server: &str| {
        let server = server.to_owned();
        async move {
            let endpoint = crate::config::profile::split_host_port(&server)
                .ok()
                .and_then(|(host, port)| Endpoint::of_cluster_name(&host, port))
                .ok_or_else(|| {
                    ProbeFailure::config(format!("{server} is not an in-cluster name"))
                })?;
            match tokio::time::timeout(timeout, forwards.local(&endpoint)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(why)) => Err(forward_error(why)),
                Err(_) => Err(ProbeFailure::timeout(timeout)),
            }
        }
    };
    let results = futures::future::join_all(servers.iter().map(|s| open(s))).await;
    net::tally(results, "forwarded")
}

/// A port-forward's error as a probe failure.
fn forward_error(why: String) -> ProbeFailure {
    // The kubelet's words when nothing listens in the pod.
    let state = if why.contains("connection refused") {
        ProbeState::Refused
    } else {
        ProbeState::Error
    };
    ProbeFailure::new(state, why)
}

impl Source {
    /// The source's row in Overview.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The source's entry in the profile's `middleware` or `kafka` list.
    pub fn spec(&self) -> usize {
        self.spec
    }
}
