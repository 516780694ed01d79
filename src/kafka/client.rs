//! The librdkafka client: its configuration from a site profile's Kafka
//! entry, a context that keeps what librdkafka logs (a failed SASL login
//! reaches the application only there), and errors that say what failed.
//!
//! The password lives in a [`Secret`] until the moment the client is made;
//! rdkafka's own `ClientConfig` prints it in its `Debug`, so no
//! `ClientConfig` is ever logged or kept.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};

use crate::config::profile::{KafkaSpec, SaslMechanism};
use crate::config::secret::Secret;

use super::handle::KafkaHandle;
use super::routes::Routes;

/// Why a look at Kafka failed, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KafkaError {
    /// The brokers refused the SASL login.
    #[error("SASL authentication failed for user `{user}` with {mechanism}: {detail}")]
    Authentication {
        /// The user that tried.
        user: String,
        /// The SASL mechanism.
        mechanism: String,
        /// What librdkafka said.
        detail: String,
    },
    /// The TLS handshake or the CA file failed.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// No bootstrap server answered.
    #[error("no broker reachable: {0}")]
    Unreachable(String),
    /// The brokers did not answer in time.
    #[error("timed out after {seconds:.1} s{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Timeout {
        /// The timeout.
        seconds: f64,
        /// The last thing librdkafka said, if anything.
        detail: Option<String>,
    },
    /// The profile's entry cannot make a client (a secret, a property).
    #[error("{0}")]
    Config(String),
    /// Anything else librdkafka reported.
    #[error("{0}")]
    Other(String),
}

/// librdkafka properties that hold secrets: masked in `Debug` and
/// redacted from whatever librdkafka says.
const SECRET_PROPERTIES: [&str; 4] = [
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "sasl.oauthbearer.client.secret",
];

/// Properties sitedeck sets itself: a pasted `group.id` must not make the
/// snapshot's client act as the application's consumer.
const OWN_PROPERTIES: [&str; 5] = [
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "isolation.level",
];

/// Said after a failure to resolve an in-cluster name from the bastion.
pub const IN_CLUSTER_HINT: &str = "; the brokers advertise in-cluster names, which the bastion \
     cannot resolve: set `via: port-forward` on this Kafka entry";

/// Everything a client needs, with the secrets still masked.
pub(super) struct Settings {
    /// librdkafka properties, the SASL password excluded.
    properties: BTreeMap<String, String>,
    password: Option<Secret>,
    /// Every secret value, to redact from what librdkafka says.
    secrets: Vec<Secret>,
    /// The SASL user and mechanism, for error messages.
    login: Option<(String, String)>,
    /// The timeout of each call to the brokers.
    pub timeout: Duration,
    /// The port-forwards every broker address goes through
    /// (`via: port-forward`); `None`: direct.
    pub routes: Option<Arc<Routes>>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let properties: BTreeMap<&str, &str> = self
            .properties
            .iter()
            .map(|(key, value)| {
                let shown = if SECRET_PROPERTIES.contains(&key.as_str()) {
                    "***"
                } else {
                    value.as_str()
                };
                (key.as_str(), shown)
            })
            .collect();
        f.debug_struct("Settings")
            .field("properties", &properties)
            .field("password", &self.password)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Settings {
    /// Resolves the entry's secret and gathers its properties: the pasted
    /// librdkafka properties first, the profile's own keys over them.
    pub fn from_spec(
        spec: &KafkaSpec,
        base_dir: &Path,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let mut properties = spec.properties.clone();
        properties.remove("sasl.password");
        for key in OWN_PROPERTIES {
            properties.remove(key);
        }
        let servers: Vec<&str> = spec.bootstrap.iter().map(|s| s.value.as_str()).collect();
        properties.insert("bootstrap.servers".into(), servers.join(","));
        properties.insert(
            "security.protocol".into(),
            spec.security_protocol.name().into(),
        );
        let mut login = None;
        if spec.security_protocol.uses_sasl() {
            let mechanism = spec.sasl_mechanism.map_or("PLAIN", SaslMechanism::name);
            properties.insert("sasl.mechanism".into(), mechanism.into());
            if let Some(user) = &spec.username {
                properties.insert("sasl.username".into(), user.clone());
                login = Some((user.clone(), mechanism.to_owned()));
            }
        }
        if let Some(ca) = &spec.ca_file {
            let path = ca.resolve(base_dir);
            properties.insert("ssl.ca.location".into(), path.display().to_string());
        }
        let millis = timeout.as_millis().clamp(1000, 300_000).to_string();
        for key in ["socket.timeout.ms", "socket.connection.setup.timeout.ms"] {
            properties
                .entry(key.into())
                .or_insert_with(|| millis.clone());
        }
        let password =
            match &spec.password {
                Some(source) => Some(source.value.resolve_local(base_dir).map_err(|e| {
                    KafkaError::Config(format!("kafka `{}`: {e}", spec.name.value))
                })?),
                None => spec
                    .properties
                    .get("sasl.password")
                    .cloned()
                    .map(Secret::new),
            };
        let secrets = password
            .iter()
            .cloned()
            .chain(
                properties
                    .iter()
                    .filter(|(key, _)| SECRET_PROPERTIES.contains(&key.as_str()))
                    .map(|(_, value)| Secret::new(value.clone())),
            )
            .collect();
        Ok(Self {
            properties,
            password,
            secrets,
            login,
            timeout,
            routes: None,
        })
    }

    /// Forgets a pasted property: `client.dns.lookup` would make
    /// librdkafka resolve (and rename) the bootstrap servers itself, past
    /// the routes.
    pub fn forget_property(&mut self, key: &str) {
        self.properties.remove(key);
    }

    /// How the brokers are reached, for the view's PATH.
    pub fn path(&self) -> String {
        self.routes
            .as_ref()
            .map_or_else(|| "direct".into(), |routes| routes.path())
    }

    /// A consumer that never subscribes: for metadata, watermarks and
    /// group lists, or (with `group`) to read one group's committed
    /// offsets. It never commits.
    pub fn consumer(&self, group: Option<&str>) -> Result<KafkaHandle, KafkaError> {
        self.consumer_with(group, false)
    }

    /// A consumer for peek: as [`Self::consumer`], and it reports the end
    /// of a partition, so a peek stops there.
    pub fn peek_consumer(&self, group: &str) -> Result<KafkaHandle, KafkaError> {
        self.consumer_with(Some(group), true)
    }

    fn consumer_with(&self, group: Option<&str>, eof: bool) -> Result<KafkaHandle, KafkaError> {
        let mut config = ClientConfig::new();
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        if let Some(password) = &self.password {
            config.set("sasl.password", password.expose());
        }
        config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", if eof { "true" } else { "false" })
            // Watermarks and lag as Kafka tools show them: the high
            // watermark, not the last stable offset.
            .set("isolation.level", "read_uncommitted")
            .set("client.id", "sitedeck")
            .set_log_level(RDKafkaLogLevel::Warning);
        if let Some(group) = group {
            config.set("group.id", group);
        }
        let keeper = LogKeeper {
            lines: Mutex::default(),
            secrets: self.secrets.clone(),
            routes: self.routes.clone(),
        };
        KafkaHandle::new(&config, keeper)
            .map_err(|e| KafkaError::Config(self.redact(&e.to_string())))
    }

    /// Reads the cluster's metadata. A failed login or TLS handshake does
    /// not fail librdkafka's call (it retries until the timeout), so the
    /// call is made in growing steps and what librdkafka logged meanwhile
    /// is read between them: a refused login is said at once.
    pub fn metadata(
        &self,
        consumer: &KafkaHandle,
    ) -> Result<rdkafka::metadata::Metadata, KafkaError> {
        let deadline = Instant::now() + self.timeout;
        let mut step = Duration::from_millis(250);
        // librdkafka says why a broker is unreachable once, then only that
        // all brokers are down: the reason seen in an early step is kept.
        let mut unreachable = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let asked = Instant::now();
            match consumer.fetch_metadata(step.min(left)) {
                Ok(metadata) => return Ok(metadata),
                Err(e) => {
                    let explained = self.explain(&e, consumer);
                    match explained {
                        KafkaError::Authentication { .. } | KafkaError::Tls(_) => {
                            return Err(explained);
                        }
                        KafkaError::Unreachable(_) => unreachable = Some(explained.clone()),
                        _ => {}
                    }
                    if Instant::now() >= deadline {
                        return Err(unreachable.unwrap_or(explained));
                    }
                    // librdkafka may fail at once (no broker up): a step
                    // still takes its time, so the loop does not spin.
                    let rest = step.min(left).saturating_sub(asked.elapsed());
                    std::thread::sleep(rest);
                }
            }
            step = (step * 2).min(Duration::from_secs(4));
        }
    }

    /// Turns a failed call into an error that says what failed, from the
    /// call's error and what librdkafka logged meanwhile (its log events
    /// wait in the client's queue until it is polled, so it is polled
    /// first).
    pub fn explain(
        &self,
        error: &rdkafka::error::KafkaError,
        consumer: &KafkaHandle,
    ) -> KafkaError {
        self.explain_said(&error.to_string(), consumer)
    }

    /// As [`Self::explain`], for a failure librdkafka said in words.
    pub fn explain_said(&self, said: &str, consumer: &KafkaHandle) -> KafkaError {
        consumer.serve_events();
        // Only what was said since the last look, newest first: an old
        // blip must not explain a later failure.
        let logged = consumer.context().take_new();
        let said = self.redact(said);
        let all = std::iter::once(&said).chain(logged.iter().rev());
        if let Some(line) = all
            .clone()
            .find(|l| contains_any(l, &["SASL authentication", "Authentication failed"]))
        {
            let (user, mechanism) = self.login.clone().unwrap_or_default();
            return KafkaError::Authentication {
                user,
                mechanism,
                detail: line.clone(),
            };
        }
        // A forward's own failure (pod gone, not ready, forbidden) first:
        // librdkafka's "Failed to resolve" that follows it says less.
        if let Some(line) = all.clone().find(|l| l.contains("cannot forward")) {
            return KafkaError::Unreachable(line.clone());
        }
        if let Some(line) = all.clone().find(|l| {
            contains_any(
                l,
                &["SSL handshake", "ssl.ca.location", "certificate verify"],
            )
        }) {
            return KafkaError::Tls(line.clone());
        }
        if let Some(line) = all.clone().find(|l| {
            contains_any(
                l,
                &["Connection refused", "Failed to resolve", "Connect to"],
            )
        }) {
            let hint = if self.routes.is_none()
                && line.contains("Failed to resolve")
                && line.contains(".svc")
            {
                IN_CLUSTER_HINT
            } else {
                ""
            };
            return KafkaError::Unreachable(format!("{line}{hint}"));
        }
        if let Some(why) = self.routes.as_ref().and_then(|routes| routes.failure()) {
            return KafkaError::Unreachable(why);
        }
        if said.contains("timed out") || said.contains("TimedOut") {
            return KafkaError::Timeout {
                seconds: self.timeout.as_secs_f64(),
                detail: logged.last().cloned(),
            };
        }
        KafkaError::Other(said)
    }

    /// The text with every secret, where it appears, replaced by `***`.
    fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }
}

fn redact(text: &str, secrets: &[Secret]) -> String {
    secrets
        .iter()
        .map(Secret::expose)
        .filter(|value| !value.is_empty())
        .fold(text.to_owned(), |text, value| text.replace(value, "***"))
}

fn contains_any(line: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| line.contains(n))
}

/// The client context: keeps librdkafka's warnings and errors (the only
/// place a failed SASL login shows), passwords redacted, and logs them at
/// debug level.
pub(super) struct LogKeeper {
    /// What librdkafka said since the last [`Self::take_new`], oldest first.
    lines: Mutex<VecDeque<String>>,
    secrets: Vec<Secret>,
    /// Where broker addresses resolve to (`via: port-forward`); read by
    /// librdkafka's address resolution callback.
    pub routes: Option<Arc<Routes>>,
}

impl LogKeeper {
    /// What librdkafka said since the last call, oldest first.
    pub fn take_new(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|mut l| l.drain(..).collect())
            .unwrap_or_default()
    }

    /// Keeps one thing librdkafka (or the address resolution) said.
    pub fn keep(&self, line: String) {
        let line = crate::text::one_line(&redact(&line, &self.secrets));
        tracing::debug!(target: "sitedeck::kafka", "librdkafka: {line}");
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() >= 64 {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }
}

impl ClientContext for LogKeeper {
    fn log(&self, level: RDKafkaLogLevel, _facility: &str, message: &str) {
        if (level as i32) <= (RDKafkaLogLevel::Warning as i32) {
            // `[thrd:…]: ` names librdkafka's thread: noise for an operator.
            let message = match message.strip_prefix("[thrd:") {
                Some(rest) => rest.split_once("]: ").map_or(message, |(_, m)| m),
                None => message,
            };
            self.keep(message.to_owned());
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.keep(format!("{error}: {reason}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let settings = Settings {
            properties: BTreeMap::from([
                ("sasl.username".into(), "alice".into()),
                ("ssl.key.password".into(), "key-sentinel".into()),
            ]),
            password: Some(Secret::new("hunter2-sentinel".into())),
            secrets: vec![Secret::new("hunter2-sentinel".into())],
            login: None,
            timeout: Duration::from_secs(1),
            routes: None,
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2-sentinel"), "{printed}");
        assert!(!printed.contains("key-sentinel"), "{printed}");
        assert!(printed.contains("alice"));
    }

    #[test]
    fn redacts_the_secret_wherever_it_appears() {
        let secrets = [Secret::new("s3cr3t".into()), Secret::new("k3y".into())];
        assert_eq!(redact("a s3cr3t b k3y s3cr3t", &secrets), "a *** b *** ***");
        assert_eq!(redact("nothing", &[]), "nothing");
    }
}
