//! The `middleware` entries of a site profile: what each endpoint is, where
//! it is (an address, or a Service or Pod reached through a port-forward),
//! how to log in and what topology to expect.

use std::fmt;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{PathRef, split_host_port};
use crate::config::secret::SecretSource;

/// The kinds of middleware sitedeck checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MiddlewareKind {
    /// MySQL or MariaDB.
    Mysql,
    /// Redis (standalone, replication, Sentinel-managed).
    Redis,
    /// PostgreSQL.
    Postgresql,
    /// Any S3 object store (MinIO, Ceph RGW, AWS).
    S3,
    /// Elasticsearch or OpenSearch.
    Elasticsearch,
    /// An HTTP(S) health endpoint.
    Http,
    /// Any TCP service: connect only.
    Tcp,
}

impl MiddlewareKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [Self; 7] = [
        Self::Mysql,
        Self::Redis,
        Self::Postgresql,
        Self::S3,
        Self::Elasticsearch,
        Self::Http,
        Self::Tcp,
    ];

    /// Whether the kind is spoken over HTTP and so is addressed by a `url`.
    pub fn uses_url(self) -> bool {
        matches!(self, Self::S3 | Self::Elasticsearch | Self::Http)
    }

    /// Whether the kind has a write probe.
    pub fn has_write_probe(self) -> bool {
        matches!(self, Self::Mysql | Self::Redis | Self::S3)
    }

    /// Whether the kind reports a primary/replica role.
    pub fn has_role(self) -> bool {
        matches!(self, Self::Mysql | Self::Redis | Self::Postgresql)
    }
}

impl fmt::Display for MiddlewareKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mysql => "mysql",
            Self::Redis => "redis",
            Self::Postgresql => "postgresql",
            Self::S3 => "s3",
            Self::Elasticsearch => "elasticsearch",
            Self::Http => "http",
            Self::Tcp => "tcp",
        })
    }
}

/// The role a replicated server is expected to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Takes writes (MySQL source, Redis master, PostgreSQL primary).
    Primary,
    /// Follows a primary.
    Replica,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Primary => "primary",
            Self::Replica => "replica",
        })
    }
}

/// Where an endpoint listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A host and port the bastion reaches directly.
    Address {
        /// Host name or address (an IPv6 address without brackets).
        host: String,
        /// The port.
        port: u16,
    },
    /// A Service's port, reached through a port-forward to one of its
    /// ready pods over the Kubernetes API.
    Service {
        /// The namespace.
        namespace: String,
        /// The Service's name.
        name: String,
        /// The Service's port (or the pod port when the Service has none by that number).
        port: u16,
    },
    /// A pod chosen by a label selector, reached through a port-forward.
    Pod {
        /// The namespace.
        namespace: String,
        /// A label selector, e.g. `app=mysql,role=primary`.
        selector: String,
        /// The container port.
        port: u16,
    },
    /// One pod by its name (a Kafka broker's advertised address), reached
    /// through a port-forward. Not written in a profile.
    NamedPod {
        /// The namespace.
        namespace: String,
        /// The pod's name.
        pod: String,
        /// The container port.
        port: u16,
    },
    /// An endpoint that does not parse: validation reports `error`, with
    /// the entry's name, next to the profile's other problems.
    Invalid {
        /// What was written.
        text: String,
        /// What is wrong with it.
        error: String,
    },
}

impl Endpoint {
    /// Whether the endpoint is reached through the Kubernetes API.
    pub fn in_cluster(&self) -> bool {
        matches!(
            self,
            Self::Service { .. } | Self::Pod { .. } | Self::NamedPod { .. }
        )
    }

    /// The in-cluster endpoint a cluster DNS name stands for:
    /// `POD.SERVICE.NAMESPACE.svc[.DOMAIN]` is a pod of a headless
    /// Service (how StatefulSet brokers advertise themselves) and
    /// `SERVICE.NAMESPACE.svc[.DOMAIN]` a Service. `None` for any other
    /// name, since it cannot be told from an outside host name.
    pub fn of_cluster_name(host: &str, port: u16) -> Option<Self> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        // `svc` after three labels (a pod) or two (a Service): a Service
        // or namespace may itself be called `svc`.
        let svc = [3, 2]
            .into_iter()
            .find(|&at| labels.get(at) == Some(&"svc"))?;
        let valid = |label: &&str| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !labels[..svc].iter().all(valid) {
            return None;
        }
        match labels[..svc] {
            [pod, _service, namespace] => Some(Self::NamedPod {
                namespace: namespace.to_owned(),
                pod: pod.to_owned(),
                port,
            }),
            [name, namespace] => Some(Self::Service {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                port,
            }),
            _ => None,
        }
    }

    /// Parses the `ns/name:port` of a `service:` or `pod:` endpoint.
    fn parse_in_cluster(text: &str, what: &str) -> Result<(String, String, u16), String> {
        let (namespace, rest) = text
            .split_once('/')
            .ok_or_else(|| format!("`{what}: {text}` is not namespace/{what}:port"))?;
        let (name, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("`{what}: {text}` has no :port"))?;
        if namespace.is_empty() || name.is_empty() {
            return Err(format!("`{what}: {text}` is not namespace/{what}:port"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                format!("`{port}` in `{what}: {text}` is not a port number (1-65535)")
            })?;
        Ok((namespace.to_owned(), name.to_owned(), port))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Address { host, port } => write!(f, "{host}:{port}"),
            Self::Service {
                namespace,
                name,
                port,
            } => write!(f, "service {namespace}/{name}:{port}"),
            Self::Pod {
                namespace,
                selector,
                port,
            } => write!(f, "pod {namespace}/{selector}:{port}"),
            Self::NamedPod {
                namespace,
                pod,
                port,
            } => write!(f, "pod {namespace}/{pod}:{port}"),
            Self::Invalid { text, .. } => f.write_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EndpointVisitor)
    }
}

struct EndpointVisitor;

impl<'de> serde::de::Visitor<'de> for EndpointVisitor {
    type Value = Endpoint;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "`host:port`, `{service: namespace/name:port}` or `{pod: namespace/selector:port}`",
        )
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Endpoint, E> {
        Ok(match split_host_port(text) {
            Ok((host, port)) => Endpoint::Address { host, port },
            Err(error) => Endpoint::Invalid {
                text: text.to_owned(),
                error,
            },
        })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Endpoint, A::Error> {
        use serde::de::Error;
        let Some((key, value)) = map.next_entry::<String, String>()? else {
            return Err(A::Error::custom(
                "an empty endpoint: write `host:port`, `{service: ns/name:port}` or `{pod: ns/selector:port}`",
            ));
        };
        if map.next_key::<String>()?.is_some() {
            return Err(A::Error::custom(
                "an endpoint has exactly one of `service` or `pod`",
            ));
        }
        let invalid = |error: String| Endpoint::Invalid {
            text: format!("{key}: {value}"),
            error,
        };
        match key.as_str() {
            "service" => Ok(match Endpoint::parse_in_cluster(&value, "service") {
                Ok((namespace, name, port)) => Endpoint::Service {
                    namespace,
                    name,
                    port,
                },
                Err(error) => invalid(error),
            }),
            "pod" => Ok(match Endpoint::parse_in_cluster(&value, "pod") {
                Ok((namespace, selector, port)) => Endpoint::Pod {
                    namespace,
                    selector,
                    port,
                },
                Err(error) => invalid(error),
            }),
            other => Err(A::Error::custom(format!(
                "unknown endpoint form `{other}`{}: use `service` or `pod`",
                super::did_you_mean(other, &["service", "pod"])
            ))),
        }
    }
}

/// What an HTTP check expects of a JSON body: the value at a dotted path.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectJson {
    /// A dotted path into the body, e.g. `status` or `components.db.status`;
    /// a number picks an array element (`items.0.state`).
    pub path: String,
    /// The value expected there, compared as text (`UP`, `true`, `3`).
    pub value: String,
}

/// One middleware endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareSpec {
    /// A unique name, e.g. `mysql-main`.
    pub name: Spanned<String>,
    /// What it is.
    pub kind: MiddlewareKind,
    /// Where it listens. For `s3`, `elasticsearch` and `http` it is optional
    /// and says where to connect instead of the `url`'s host.
    #[serde(default)]
    pub endpoint: Option<Spanned<Endpoint>>,
    /// The URL of an `s3`, `elasticsearch` or `http` endpoint.
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    /// The login user (for S3, the access key).
    #[serde(default)]
    pub user: Option<String>,
    /// The password (for S3, the secret key).
    #[serde(default)]
    pub password: Option<Spanned<SecretSource>>,
    /// The database: MySQL schema, Redis db number, PostgreSQL database.
    #[serde(default)]
    pub database: Option<String>,
    /// The role the server should have; another role is a finding.
    #[serde(default)]
    pub role: Option<Role>,
    /// How many replicas a primary should have connected; fewer is degraded.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Write, read back and delete a probe record (never in read-only mode).
    #[serde(default)]
    pub write_probe: bool,
    /// The S3 bucket to check.
    #[serde(default)]
    pub bucket: Option<String>,
    /// The S3 region (`us-east-1` when absent; MinIO ignores it).
    #[serde(default)]
    pub region: Option<String>,
    /// The HTTP status an `http` check expects (any 2xx when absent).
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// Text the body of an `http` check must contain.
    #[serde(default)]
    pub expect_body: Option<String>,
    /// A JSON value the body of an `http` check must hold.
    #[serde(default)]
    pub expect_json: Option<ExpectJson>,
    /// The CA bundle (PEM) for HTTPS endpoints signed by a private CA.
    #[serde(default)]
    pub ca_file: Option<PathRef>,
    /// This endpoint's own timeout, instead of `probes.timeout_seconds`.
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
}

impl MiddlewareSpec {
    /// Where the endpoint is, for tables: the endpoint, else the URL.
    pub fn target(&self) -> String {
        match (&self.endpoint, &self.url) {
            (Some(endpoint), _) => endpoint.value.to_string(),
            (None, Some(url)) => url.value.clone(),
            (None, None) => String::new(),
        }
    }
}

impl super::validate::Validation {
    /// Checks each middleware entry: unique names, the keys its kind needs,
    /// and no keys its kind would ignore.
    pub(super) fn middleware(&mut self, p: &super::SiteProfile) {
        let mut seen = std::collections::HashSet::new();
        for m in &p.middleware {
            self.unique_name(&mut seen, &m.name, "middleware");
            self.secret(&p.base_dir, m.password.as_ref(), &m.name.value);
            self.file(&p.base_dir, m.ca_file.as_ref(), "ca_file");
            for problem in kind_problems(m) {
                self.problem(m.name.referenced, format!("`{}`: {problem}", m.name.value));
            }
            if let Some(endpoint) = &m.endpoint
                && let Endpoint::Invalid { error, .. } = &endpoint.value
            {
                self.problem(
                    endpoint.referenced,
                    format!("endpoint of `{}`: {error}", m.name.value),
                );
            }
            if p.cluster.is_none()
                && let Some(endpoint) = &m.endpoint
                && endpoint.value.in_cluster()
            {
                self.problem(
                    endpoint.referenced,
                    format!(
                        "`{}` is reached through the Kubernetes API ({}), and the profile has no `cluster`",
                        m.name.value, endpoint.value
                    ),
                );
            }
            if let Some(url) = &m.url
                && let Err(e) = url_host_port(&url.value)
            {
                self.problem(url.referenced, format!("`{}`: {e}", m.name.value));
            }
        }
    }
}

/// The host and port of an http(s) URL (the scheme's port when none is
/// given; an IPv6 address without its brackets).
pub fn url_host_port(url: &str) -> Result<(String, u16), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| match e.to_string().as_str() {
        "empty host" => format!("the url `{url}` has no host"),
        other => format!("the url `{url}` is not valid: {other}"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the url `{url}` must start with http:// or https://"
        ));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("the url `{url}` has no host"))?;
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| format!("the url `{url}` has no port"))?;
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// What is wrong with an entry for its kind, one message per problem.
fn kind_problems(m: &MiddlewareSpec) -> Vec<String> {
    let kind = m.kind;
    let mut problems = Vec::new();
    if kind.uses_url() && m.url.is_none() {
        problems.push(format!("a {kind} endpoint needs a `url`"));
    }
    if !kind.uses_url() {
        if m.endpoint.is_none() {
            problems.push(format!("a {kind} endpoint needs an `endpoint`"));
        }
        if m.url.is_some() {
            problems.push(format!(
                "`url` is for s3, elasticsearch and http; a {kind} endpoint has an `endpoint`"
            ));
        }
    }
    let only = |present: bool, key: &str, allowed: bool, kinds: &str| {
        (present && !allowed).then(|| format!("`{key}` applies to {kinds} only, not {kind}"))
    };
    problems.extend(
        [
            only(
                m.role.is_some(),
                "role",
                kind.has_role(),
                "mysql, redis and postgresql",
            ),
            only(
                m.replicas.is_some(),
                "replicas",
                kind.has_role(),
                "mysql, redis and postgresql",
            ),
            only(
                m.write_probe,
                "write_probe",
                kind.has_write_probe(),
                "mysql, redis and s3",
            ),
            only(
                m.bucket.is_some(),
                "bucket",
                kind == MiddlewareKind::S3,
                "s3",
            ),
            only(
                m.region.is_some(),
                "region",
                kind == MiddlewareKind::S3,
                "s3",
            ),
            only(
                m.expect_status.is_some(),
                "expect_status",
                kind == MiddlewareKind::Http,
                "http",
            ),
            only(
                m.expect_body.is_some(),
                "expect_body",
                kind == MiddlewareKind::Http,
                "http",
            ),
            only(
                m.expect_json.is_some(),
                "expect_json",
                kind == MiddlewareKind::Http,
                "http",
            ),
            only(
                m.ca_file.is_some(),
                "ca_file",
                kind.uses_url(),
                "s3, elasticsearch and http",
            ),
        ]
        .into_iter()
        .flatten(),
    );
    match kind {
        MiddlewareKind::Mysql if m.user.is_none() => {
            // Guessing `root` would put a failed root login in the
            // customer's audit log every round.
            problems.push("mysql needs a `user` to log in as".into());
        }
        MiddlewareKind::Mysql if m.write_probe && m.database.is_none() => problems.push(
            "the mysql write probe needs a `database` (schema) for its `sitedeck_probe` table"
                .into(),
        ),
        MiddlewareKind::Redis => {
            if let Some(db) = &m.database
                && db.parse::<u32>().is_err()
            {
                problems.push(format!("a Redis database is a number, not `{db}`"));
            }
        }
        MiddlewareKind::S3 if m.bucket.is_none() => {
            problems.push("s3 needs the `bucket` to check".into());
        }
        MiddlewareKind::S3 if m.user.is_none() || m.password.is_none() => {
            problems
                .push("s3 needs `user` (the access key) and `password` (the secret key)".into());
        }
        MiddlewareKind::Http if m.expect_status.is_some_and(|s| !(100..=599).contains(&s)) => {
            problems.push("`expect_status` must be an HTTP status (100-599)".into());
        }
        _ => {}
    }
    if m.role == Some(Role::Replica) && m.replicas.is_some() {
        problems.push("`replicas` counts a primary's replicas; this one is a `replica`".into());
    }
    if let Some(t) = m.timeout_seconds
        && !(t > 0.0 && t <= 300.0)
    {
        problems.push("`timeout_seconds` must be more than 0 and at most 300".into());
    }
    problems
}
