//! Site profiles: one YAML file describing one customer site.
//!
//! Parsing is strict: unknown keys are rejected with a "did you mean", and
//! every error names the file, the line and the column. After parsing, the
//! profile is validated as a whole (referenced files exist, env vars are set,
//! names are unique), so that `sitedeck profile check` reports every problem
//! at once. The format is documented in `docs/site-profile.md`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::paths::expand_tilde;
use super::secret::{SecretError, SecretSource};

/// A parsed and validated site profile.
#[derive(Debug, Clone, Deserialize)]
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
    /// The directory the profile was read from; relative paths start here.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file the profile was read from.
    #[serde(skip)]
    pub source_file: PathBuf,
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
#[derive(Debug, Clone, Deserialize)]
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

/// SSH access.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSpec {
    /// The jump host the nodes are reached through.
    #[serde(default)]
    pub bastion: Option<BastionSpec>,
    /// Extra known_hosts file (besides `~/.ssh/known_hosts`).
    #[serde(default)]
    pub known_hosts: Option<PathRef>,
    /// The user on the nodes.
    #[serde(default)]
    pub user: Option<String>,
    /// The private key for the nodes.
    #[serde(default)]
    pub identity: Option<PathRef>,
    /// The nodes: a list, or `from_cluster` for the cluster's Nodes.
    #[serde(default)]
    pub nodes: NodesSpec,
}

/// The SSH bastion (jump host).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BastionSpec {
    /// Host name or address.
    pub host: String,
    /// SSH port.
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// The login user.
    #[serde(default)]
    pub user: Option<String>,
    /// The private key.
    #[serde(default)]
    pub identity: Option<PathRef>,
}

fn default_ssh_port() -> u16 {
    22
}

/// Which nodes sitedeck reaches over SSH.
#[derive(Debug, Clone, Default)]
pub enum NodesSpec {
    /// None configured.
    #[default]
    None,
    /// The cluster's Nodes, by their InternalIP.
    FromCluster,
    /// An explicit list.
    List(Vec<NodeSpec>),
}

impl<'de> Deserialize<'de> for NodesSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodesVisitor)
    }
}

/// Reads `nodes:` as a word or a list, so that a mistake inside the list is
/// reported as itself (an untagged enum would only say "no variant matched").
struct NodesVisitor;

impl<'de> serde::de::Visitor<'de> for NodesVisitor {
    type Value = NodesSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of nodes or `from_cluster`")
    }

    fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<NodesSpec, E> {
        if word == "from_cluster" {
            return Ok(NodesSpec::FromCluster);
        }
        Err(E::custom(format!(
            "`nodes` is a list of nodes or `from_cluster`, not `{word}`{}",
            did_you_mean(word, &["from_cluster"])
        )))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<NodesSpec, E> {
        Ok(NodesSpec::None)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<NodesSpec, A::Error> {
        let list = Vec::<NodeSpec>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(NodesSpec::List(list))
    }
}

/// One node reached over SSH.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name (as in Kubernetes, if it is a cluster node).
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// SSH port.
    #[serde(default = "default_ssh_port")]
    pub port: u16,
}

/// The kinds of middleware sitedeck probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MiddlewareKind {
    /// MySQL or MariaDB.
    Mysql,
    /// Redis.
    Redis,
    /// Any TCP service: connect only.
    Tcp,
}

impl fmt::Display for MiddlewareKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mysql => "mysql",
            Self::Redis => "redis",
            Self::Tcp => "tcp",
        })
    }
}

/// One middleware endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareSpec {
    /// A unique name, e.g. `mysql-main`.
    pub name: Spanned<String>,
    /// What it is.
    pub kind: MiddlewareKind,
    /// `host:port`.
    pub endpoint: Spanned<String>,
    /// The login user, where the kind has one.
    #[serde(default)]
    pub user: Option<String>,
    /// The password.
    #[serde(default)]
    pub password: Option<Spanned<SecretSource>>,
    /// The database (MySQL schema or Redis db number).
    #[serde(default)]
    pub database: Option<String>,
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

/// One Kafka cluster.
#[derive(Debug, Clone, Deserialize)]
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
}

fn default_security_protocol() -> SecurityProtocol {
    SecurityProtocol::Plaintext
}

/// Probe timing.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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

fn render_problems(path: &Path, problems: &[Problem]) -> String {
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
#[derive(Debug, Clone)]
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

impl Problem {
    fn at(line: u64, column: u64, message: String) -> Self {
        Self {
            line,
            column,
            message,
        }
    }
}

/// Where the top-level keys and the `probes` keys are, from a lenient second
/// reading of the text: for problems found after parsing, and to put a
/// missing top-level key at the top of the file rather than at its last key.
#[derive(Debug, Default)]
struct Skeleton {
    top: BTreeMap<String, Location>,
    probes: BTreeMap<String, Location>,
}

/// The `probes` mapping, read leniently.
#[derive(Deserialize)]
struct ProbesSkeleton {
    #[serde(default)]
    probes: BTreeMap<String, Spanned<serde::de::IgnoredAny>>,
}

impl Skeleton {
    /// Reads the skeleton, or nothing if the text is not a mapping.
    fn read(text: &str) -> Option<Self> {
        let top: BTreeMap<String, Spanned<serde::de::IgnoredAny>> =
            serde_saphyr::from_str(text).ok()?;
        let probes = serde_saphyr::from_str::<ProbesSkeleton>(text)
            .map(|p| p.probes)
            .unwrap_or_default();
        let places = |map: BTreeMap<String, Spanned<serde::de::IgnoredAny>>| {
            map.into_iter().map(|(k, v)| (k, v.referenced)).collect()
        };
        Some(Self {
            top: places(top),
            probes: places(probes),
        })
    }

    /// Where the value of a top-level key is.
    fn top_at(&self, key: &str) -> Location {
        self.top.get(key).copied().unwrap_or(Location::UNKNOWN)
    }

    /// Where the value of a `probes` key is.
    fn probe_at(&self, key: &str) -> Location {
        self.probes.get(key).copied().unwrap_or(Location::UNKNOWN)
    }

    /// The required top-level keys the profile lacks.
    fn missing_required(&self) -> Vec<&'static str> {
        REQUIRED_KEYS
            .into_iter()
            .filter(|key| !self.top.contains_key(*key))
            .collect()
    }
}

/// The problems of a profile the YAML reader rejected: its error, and every
/// missing top-level key (the reader reports one problem only).
fn parse_problems(
    error: &serde_saphyr::Error,
    text: &str,
    skeleton: Option<&Skeleton>,
) -> Vec<Problem> {
    let missing = skeleton.map(Skeleton::missing_required).unwrap_or_default();
    let mut problems: Vec<Problem> = missing
        .iter()
        .map(|key| Problem::at(1, 1, format!("missing required key `{key}`")))
        .collect();
    let reported = matches!(
        error.without_snippet(),
        serde_saphyr::Error::SerdeMissingField { field, .. } if missing.contains(field)
    );
    if !reported {
        problems.push(problem_from_yaml(error, text));
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// Suggests the closest of `candidates` to `word`, as `; did you mean `x`?`,
/// or nothing when none is close.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn problem_from_yaml(error: &serde_saphyr::Error, text: &str) -> Problem {
    let location = error.location().unwrap_or(Location::UNKNOWN);
    let token = token_at(text, location);
    Problem::at(
        location.line(),
        location.column(),
        yaml_message(error.without_snippet(), token),
    )
}

/// Says what the YAML reader found wrong, in the operator's words.
fn yaml_message(error: &serde_saphyr::Error, token: Option<&str>) -> String {
    use serde_saphyr::Error as E;
    match error {
        E::SerdeUnknownField {
            field, expected, ..
        } => format!(
            "unknown key `{field}`{}; expected one of: {}",
            did_you_mean(field, expected),
            expected.join(", ")
        ),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => format!(
            "unknown value `{variant}`{}; expected one of: {}",
            did_you_mean(variant, expected),
            expected.join(", ")
        ),
        E::SerdeMissingField { field, .. } => format!("missing required key `{field}`"),
        E::InvalidScalar { ty, .. } => scalar_message(ty, token),
        E::Unexpected { expected, .. } => shape_message(expected),
        E::ExternallyTaggedEnumExpectedScalarOrMapping { .. } => {
            "expected a single word here, not a list or a mapping".into()
        }
        E::DuplicateMappingKey { key: Some(key), .. } => {
            format!("duplicate key `{key}`: a key may appear only once in a mapping")
        }
        E::Eof { .. } => "unexpected end of file".into(),
        other => rendered_message(other),
    }
}

/// A scalar that is not of the expected type, e.g. `port: 70000`.
fn scalar_message(ty: &str, token: Option<&str>) -> String {
    let expected = match ty {
        "u16" => "a port number (1-65535)",
        "boolean" => "true or false",
        "floating point" => "a number",
        t if t.starts_with('u') => "a whole number, 0 or more",
        t if t.starts_with('i') => "a whole number",
        other => return format!("invalid {other}"),
    };
    match token {
        Some(token) => format!("expected {expected}, not `{token}`"),
        None => format!("expected {expected}"),
    }
}

/// A node of the wrong shape, e.g. a scalar where a list belongs.
fn shape_message(expected: &str) -> String {
    match expected {
        "sequence start" => "expected a list here".into(),
        "mapping start" => "expected a mapping (`key: value` lines) here".into(),
        "string scalar" | "scalar" => {
            "expected a single value here, not a list or a mapping".into()
        }
        other => format!("expected {other}"),
    }
}

/// The library's own message, without its location suffix, made friendlier
/// where we recognise it.
fn rendered_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.render();
    // The library appends " at line X column Y"; we print the place ourselves.
    let message = match rendered.rfind(" at line ") {
        Some(cut) => rendered[..cut].to_owned(),
        None => rendered,
    };
    friendlier(&message).unwrap_or(message)
}

/// The scalar written at `at`, up to a comment or the end of the line.
fn token_at(text: &str, at: Location) -> Option<&str> {
    let line_index = usize::try_from(at.line()).ok()?.checked_sub(1)?;
    let column_index = usize::try_from(at.column()).ok()?.checked_sub(1)?;
    let line = text.lines().nth(line_index)?;
    let (start, _) = line.char_indices().nth(column_index)?;
    let rest = &line[start..];
    let token = rest[..rest.find(" #").unwrap_or(rest.len())].trim();
    (!token.is_empty()).then_some(token)
}

/// Rewrites serde's "unknown field `x`, expected one of a, b" (and the same
/// for variants) with a suggestion.
fn friendlier(message: &str) -> Option<String> {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else {
        ("value", message.strip_prefix("unknown variant `")?)
    };
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = match rest.split_once("expected one of ") {
        Some((_, list)) => list.split(", ").map(|e| e.trim_matches('`')).collect(),
        None => match rest.split_once("expected ") {
            Some((_, single)) => vec![single.trim_matches('`')],
            None => Vec::new(),
        },
    };
    Some(format!(
        "unknown {what} `{word}`{}; expected {}",
        did_you_mean(word, &expected),
        if expected.is_empty() {
            "none here".to_owned()
        } else {
            format!("one of: {}", expected.join(", "))
        }
    ))
}

/// Whole-profile checks after parsing, collecting every problem.
#[derive(Default)]
struct Validation {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
    spans: Skeleton,
}

impl Validation {
    fn problem(&mut self, at: Location, message: String) {
        self.problems.push(Problem {
            line: at.line(),
            column: at.column(),
            message,
        });
    }

    fn profile(&mut self, p: &SiteProfile) {
        if p.name.trim().is_empty() {
            self.problem(self.spans.top_at("name"), "`name` must not be empty".into());
        }
        let base = &p.base_dir;
        if let Some(cluster) = &p.cluster {
            self.file(base, cluster.kubeconfig.as_ref(), "kubeconfig");
            if let Some(via) = &cluster.via
                && via.value == ClusterVia::Bastion
                && p.ssh.as_ref().and_then(|s| s.bastion.as_ref()).is_none()
            {
                self.problem(
                    via.referenced,
                    "`via: bastion` needs an `ssh.bastion` to tunnel through".into(),
                );
            }
        }
        if let Some(ssh) = &p.ssh {
            self.file(base, ssh.known_hosts.as_ref(), "known_hosts file");
            self.file(base, ssh.identity.as_ref(), "SSH identity");
            if let Some(bastion) = &ssh.bastion {
                self.file(base, bastion.identity.as_ref(), "bastion identity");
            }
        }
        self.file(base, p.release.as_ref(), "release manifest");
        self.file(base, p.checklist.as_ref(), "checklist");
        if let Some(dir) = &p.runbooks
            && !dir.resolve(base).is_dir()
        {
            self.problem(
                dir.location(),
                format!(
                    "runbooks directory not found: {}",
                    dir.resolve(base).display()
                ),
            );
        }
        let timeout = p.probes.timeout_seconds;
        if timeout.is_nan() || timeout <= 0.0 || timeout > 300.0 {
            self.problem(
                self.spans.probe_at("timeout_seconds"),
                "`probes.timeout_seconds` must be more than 0 and at most 300".into(),
            );
        }
        if p.probes.refresh_seconds == 0 {
            self.problem(
                self.spans.probe_at("refresh_seconds"),
                "`probes.refresh_seconds` must be at least 1".into(),
            );
        }
        self.middleware(p);
        self.kafka(p);
    }

    fn file(&mut self, base: &Path, path: Option<&PathRef>, what: &str) {
        if let Some(path) = path {
            let full = path.resolve(base);
            if !full.is_file() {
                self.problem(
                    path.location(),
                    format!("{what} not found: {}", full.display()),
                );
            }
        }
    }

    fn secret(&mut self, base: &Path, secret: Option<&Spanned<SecretSource>>, owner: &str) {
        let Some(secret) = secret else { return };
        match &secret.value {
            SecretSource::Plain(_) => self.warnings.push(Problem {
                line: secret.referenced.line(),
                column: secret.referenced.column(),
                message: format!(
                    "plaintext password for `{owner}` in the profile; prefer {{env: NAME}} or {{file: PATH}}"
                ),
            }),
            SecretSource::K8sSecret { .. } => {}
            source => {
                if let Err(e) = source.resolve_local(base) {
                    let hint = match e {
                        SecretError::EnvMissing(_) => " (export it before starting sitedeck)",
                        _ => "",
                    };
                    self.problem(secret.referenced, format!("password for `{owner}`: {e}{hint}"));
                }
            }
        }
    }

    fn unique_name(&mut self, seen: &mut HashSet<String>, name: &Spanned<String>, what: &str) {
        if name.value.trim().is_empty() {
            self.problem(name.referenced, format!("{what} name must not be empty"));
        } else if !seen.insert(name.value.clone()) {
            self.problem(
                name.referenced,
                format!(
                    "duplicate {what} name `{}`: names must be unique",
                    name.value
                ),
            );
        }
    }

    fn endpoint(&mut self, endpoint: &Spanned<String>, owner: &str) {
        if let Err(e) = split_host_port(&endpoint.value) {
            self.problem(endpoint.referenced, format!("endpoint of `{owner}`: {e}"));
        }
    }

    fn middleware(&mut self, p: &SiteProfile) {
        let mut seen = HashSet::new();
        for m in &p.middleware {
            self.unique_name(&mut seen, &m.name, "middleware");
            self.endpoint(&m.endpoint, &m.name.value);
            self.secret(&p.base_dir, m.password.as_ref(), &m.name.value);
            if m.kind == MiddlewareKind::Redis
                && let Some(db) = &m.database
                && db.parse::<u32>().is_err()
            {
                self.problem(
                    m.name.referenced,
                    format!(
                        "`{}`: a Redis database is a number, not `{db}`",
                        m.name.value
                    ),
                );
            }
        }
    }

    fn kafka(&mut self, p: &SiteProfile) {
        let mut seen = HashSet::new();
        for k in &p.kafka {
            self.unique_name(&mut seen, &k.name, "kafka cluster");
            if k.bootstrap.is_empty() {
                self.problem(
                    k.name.referenced,
                    format!("kafka `{}` has no bootstrap servers", k.name.value),
                );
            }
            for server in &k.bootstrap {
                self.endpoint(server, &k.name.value);
            }
            if k.security_protocol.uses_sasl()
                && (k.sasl_mechanism.is_none() || k.username.is_none() || k.password.is_none())
            {
                self.problem(
                    k.name.referenced,
                    format!(
                        "kafka `{}` uses SASL: set sasl_mechanism, username and password",
                        k.name.value
                    ),
                );
            }
            self.secret(&p.base_dir, k.password.as_ref(), &k.name.value);
            self.file(&p.base_dir, k.ca_file.as_ref(), "CA file");
        }
    }
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

/// A profile found on disk, loaded or not.
#[derive(Debug)]
pub struct FoundSite {
    /// The profile file.
    pub path: PathBuf,
    /// The profile, or why it could not be loaded.
    pub profile: Result<LoadedProfile, ProfileError>,
}

impl FoundSite {
    /// The name to list the site under: the profile's name, else the file stem.
    pub fn display_name(&self) -> String {
        match &self.profile {
            Ok(loaded) => loaded.profile.name.clone(),
            Err(_) => self
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// Finds every `*.yaml`/`*.yml` profile in `dir`, sorted by file name.
pub fn discover(dir: &Path) -> Vec<FoundSite> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| FoundSite {
            profile: load(&path),
            path,
        })
        .collect()
}

/// Finds a site by file path, or by name or file stem among the sites in `dir`.
pub fn find(site: &str, dir: &Path) -> Result<PathBuf, String> {
    let as_path = PathBuf::from(site);
    if as_path.is_file() {
        return Ok(as_path);
    }
    for found in discover(dir) {
        let stem = found
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned());
        if found.display_name() == site || stem.as_deref() == Some(site) {
            return Ok(found.path);
        }
    }
    Err(format!(
        "no site `{site}`: not a file, and not a profile in {} (run `sitedeck sites` to list them)",
        dir.display()
    ))
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
