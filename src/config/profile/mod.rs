//! Site profiles: one YAML file describing one customer site.
//!
//! Parsing is strict: unknown keys are rejected with a "did you mean", and
//! every error names the file, the line and the column. After parsing, the
//! profile is validated as a whole (referenced files exist, env vars are set,
//! names are unique), so that `sitedeck profile check` reports every problem
//! at once. The format is documented in `docs/site-profile.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

mod discover;
mod messages;
mod middleware;
mod ssh;
mod time;
mod validate;

use super::paths::expand_tilde;
use super::secret::SecretSource;
use messages::{Skeleton, parse_problems};
use validate::Validation;

pub use discover::{FoundSite, discover, file_stem_name, find};
pub use messages::did_you_mean;
pub(crate) use messages::{closest, problem_from_yaml};
pub use middleware::{Endpoint, ExpectJson, MiddlewareKind, MiddlewareSpec, Role, url_host_port};
pub use ssh::{BastionSpec, NodeSpec, NodesSpec, SshSpec};
pub use time::{DiskSettings, TimeSettings};

/// A parsed and validated site profile.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteProfile {
    /// The site's name, as shown in the header.
    pub name: String,
    /// What kind of site this is; `prod` asks for more care.
    pub environment: Environment,
    /// Opens the site in read-only mode unless `--readonly` is already set.
    #[serde(default)]
    pub readonly: bool,
    /// A free-text line for the operator (customer, contract, contact).
    #[serde(default)]
    pub description: Option<String>,
    /// The Kubernetes cluster.
    #[serde(default)]
    pub cluster: Option<ClusterSpec>,
    /// SSH access to the bastion and the nodes.
    #[serde(default)]
    pub ssh: Option<SshSpec>,
    /// The release manifest this site should run.
    #[serde(default)]
    pub release: Option<PathRef>,
    /// Middleware endpoints to probe.
    #[serde(default)]
    pub middleware: Vec<MiddlewareSpec>,
    /// Kafka clusters.
    #[serde(default)]
    pub kafka: Vec<KafkaSpec>,
    /// The delivery acceptance checklist.
    #[serde(default)]
    pub checklist: Option<PathRef>,
    /// The directory of SOP runbooks.
    #[serde(default)]
    pub runbooks: Option<PathRef>,
    /// How sources are probed.
    #[serde(default)]
    pub probes: ProbeSettings,
    /// How pods' logs are read and taken apart.
    #[serde(default)]
    pub logs: LogSettings,
    /// Clock thresholds and the site's NTP servers.
    #[serde(default)]
    pub time: TimeSettings,
    /// The directory the profile was read from; relative paths start here.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file the profile was read from.
    #[serde(skip)]
    pub source_file: PathBuf,
}

impl SiteProfile {
    /// Whether something is reached through port-forwards over the
    /// Kubernetes API: an in-cluster middleware endpoint, or a Kafka
    /// cluster `via: port-forward`.
    pub fn needs_forwards(&self) -> bool {
        self.middleware
            .iter()
            .any(|m| m.endpoint.as_ref().is_some_and(|e| e.value.in_cluster()))
            || self.kafka.iter().any(|k| k.via == KafkaPath::PortForward)
    }
}

/// The kind of site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A customer's production site: destructive actions need typed confirmation.
    Prod,
    /// A staging or pre-production site.
    Staging,
    /// A proof of concept or lab site.
    Poc,
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Prod => "prod",
            Self::Staging => "staging",
            Self::Poc => "poc",
        })
    }
}

/// How to reach the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// The kubeconfig file; `KUBECONFIG` or `~/.kube/config` when absent.
    #[serde(default)]
    pub kubeconfig: Option<PathRef>,
    /// The kubeconfig context; its current context when absent.
    #[serde(default)]
    pub context: Option<String>,
    /// `bastion` tunnels the API through the SSH bastion.
    #[serde(default)]
    pub via: Option<Spanned<ClusterVia>>,
}

/// The network path to the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterVia {
    /// Straight from this host.
    Direct,
    /// Through an SSH forward on the bastion.
    Bastion,
}

/// Kafka security protocols, by their librdkafka names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    /// SASL without TLS.
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    /// SASL over TLS.
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
    /// TLS without SASL.
    #[serde(rename = "SSL")]
    Ssl,
}

impl SecurityProtocol {
    /// The protocol's librdkafka name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
            Self::Ssl => "SSL",
        }
    }

    /// Whether the protocol authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// SASL mechanisms, by their librdkafka names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum SaslMechanism {
    /// SASL/PLAIN.
    #[serde(rename = "PLAIN")]
    Plain,
    /// SCRAM with SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The mechanism's librdkafka name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// One Kafka cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSpec {
    /// A unique name.
    pub name: Spanned<String>,
    /// Bootstrap servers, `host:port` each.
    pub bootstrap: Vec<Spanned<String>>,
    /// The security protocol.
    #[serde(default = "default_security_protocol")]
    pub security_protocol: SecurityProtocol,
    /// The SASL mechanism, with a SASL protocol.
    #[serde(default)]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// The SASL user.
    #[serde(default)]
    pub username: Option<String>,
    /// The SASL password.
    #[serde(default)]
    pub password: Option<Spanned<SecretSource>>,
    /// The CA bundle for TLS.
    #[serde(default)]
    pub ca_file: Option<PathRef>,
    /// Further librdkafka properties, by their librdkafka names.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// How the brokers are reached from the bastion.
    #[serde(default)]
    pub via: KafkaPath,
}

/// How sitedeck reaches a Kafka cluster's brokers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaPath {
    /// The bastion reaches the addresses the brokers advertise.
    #[default]
    Direct,
    /// Every broker address (bootstrap and advertised) is an in-cluster
    /// name, reached through a port-forward over the Kubernetes API.
    PortForward,
    /// Every broker address is reached through the SSH bastion
    /// (`ssh.bastion`), which resolves and connects to it.
    Bastion,
}

fn default_security_protocol() -> SecurityProtocol {
    SecurityProtocol::Plaintext
}

/// How pods' logs are read and taken apart.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// The field names this site's services log level, message, time and
    /// trace id under (each list replaces the common names).
    pub fields: crate::logs::parse::FieldNames,
    /// The most lines kept; the oldest go first.
    pub max_lines: usize,
    /// How many log streams are read at once.
    pub concurrency: usize,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            fields: crate::logs::parse::FieldNames::default(),
            max_lines: crate::logs::buffer::DEFAULT_CAP,
            concurrency: crate::logs::stream::DEFAULT_CONCURRENCY,
        }
    }
}

/// Probe timing.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// How long one probe may take.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// How often Overview probes again in the background.
    #[serde(default = "default_refresh")]
    pub refresh_seconds: u64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            timeout_seconds: default_timeout(),
            refresh_seconds: default_refresh(),
        }
    }
}

fn default_timeout() -> f64 {
    5.0
}

fn default_refresh() -> u64 {
    30
}

/// A path written in a profile, with where it was written. Relative paths
/// are taken from the profile's directory; `~/` is the home directory.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct PathRef(Spanned<String>);

impl PathRef {
    /// The path as written.
    pub fn as_written(&self) -> &str {
        &self.0.value
    }

    /// The path, resolved against the profile's directory.
    pub fn resolve(&self, base_dir: &Path) -> PathBuf {
        base_dir.join(expand_tilde(&self.0.value))
    }

    fn location(&self) -> Location {
        self.0.referenced
    }
}

/// One problem found in a profile, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("{path}: cannot read the site profile: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file is not a valid profile.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

pub(crate) fn render_problems(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            if p.line == 0 {
                format!("{}: {}", path.display(), p.message)
            } else {
                format!("{}:{}:{}: {}", path.display(), p.line, p.column, p.message)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A loaded profile and the warnings it raised (plaintext secrets…).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedProfile {
    /// The profile.
    pub profile: SiteProfile,
    /// Warnings to show the operator, each with its place in the file.
    pub warnings: Vec<String>,
}

/// Reads, parses and validates a profile file.
pub fn load(path: &Path) -> Result<LoadedProfile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base_dir = absolute
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse(&text, path, &base_dir)
}

/// Parses and validates profile text; `path` names it in messages.
pub fn parse(text: &str, path: &Path, base_dir: &Path) -> Result<LoadedProfile, ProfileError> {
    let invalid = |problems: Vec<Problem>| ProfileError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    if is_blank(text) {
        return Err(invalid(vec![Problem::at(1, 1, EMPTY_PROFILE.into())]));
    }
    let skeleton = Skeleton::read(text);
    let mut profile: SiteProfile = serde_saphyr::from_str(text)
        .map_err(|e| invalid(parse_problems(&e, text, skeleton.as_ref())))?;
    profile.base_dir = base_dir.to_path_buf();
    profile.source_file = path.to_path_buf();
    let mut check = Validation {
        spans: skeleton.unwrap_or_default(),
        ..Validation::default()
    };
    check.profile(&profile);
    check.problems.sort_by_key(|p| (p.line, p.column));
    if !check.problems.is_empty() {
        return Err(invalid(check.problems));
    }
    let warnings = check
        .warnings
        .iter()
        .map(|w| format!("{}:{}:{}: {}", path.display(), w.line, w.column, w.message))
        .collect();
    Ok(LoadedProfile { profile, warnings })
}

const EMPTY_PROFILE: &str =
    "the profile is empty: a site profile needs at least `name` and `environment`";

/// The keys every profile must have.
const REQUIRED_KEYS: [&str; 2] = ["name", "environment"];

/// Whether the text holds nothing but blank lines, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

/// Splits `host:port` (or `[v6]:port`) into its parts.
pub fn split_host_port(endpoint: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("`{endpoint}` is not [address]:port"))?;
        (host, port)
    } else {
        endpoint
            .rsplit_once(':')
            .ok_or_else(|| format!("`{endpoint}` is not host:port"))?
    };
    if host.is_empty() {
        return Err(format!("`{endpoint}` has no host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{port}` in `{endpoint}` is not a port number (1-65535)"))?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("db:3306").unwrap(), ("db".into(), 3306));
        assert_eq!(split_host_port("[::1]:6379").unwrap(), ("::1".into(), 6379));
        assert!(split_host_port("db").is_err());
        assert!(split_host_port("db:0").is_err());
        assert!(split_host_port(":80").is_err());
    }

    #[test]
    fn suggestion_only_when_close() {
        assert_eq!(
            did_you_mean("enviroment", &["name", "environment"]),
            " (did you mean `environment`?)"
        );
        assert_eq!(did_you_mean("zzz", &["name", "environment"]), "");
    }
}
