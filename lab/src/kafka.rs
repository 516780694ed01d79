//! A Kafka-compatible broker on a free loopback port: nisshi (the
//! continuation of tansu, from crates.io), with SCRAM users, SQLite storage
//! in its own directory, and optionally TLS.
//!
//! No Apache Kafka can be installed here. nisshi is built once into a cache
//! directory (`scripts/lib.sh`'s `ensure_nisshi`) and found through
//! `SITEDECK_NISSHI`, the cache directory or PATH. Users are created while
//! the broker runs without authentication; then it is restarted with
//! `--authentication`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{ManagedProcess, find_program, wait_until};

/// The nisshi version the lab is built and tested with.
pub const NISSHI_VERSION: &str = "0.8.1";

/// A SCRAM mechanism nisshi offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scram {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl Scram {
    /// The librdkafka name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn nisshi_name(self) -> &'static str {
        match self {
            Self::Sha256 => "scram256",
            Self::Sha512 => "scram512",
        }
    }
}

/// A user the broker knows (its `Debug` leaves the password out).
#[derive(Clone)]
pub struct KafkaUser {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: String,
    /// The mechanism it is stored for.
    pub mechanism: Scram,
}

impl std::fmt::Debug for KafkaUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaUser")
            .field("name", &self.name)
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

/// How to start a broker.
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// SCRAM users; none: no authentication.
    pub users: Vec<KafkaUser>,
    /// The port advertised to clients instead of the broker's own (a
    /// proxy in front of it).
    pub advertised_port: Option<u16>,
    /// The host advertised to clients instead of 127.0.0.1 (an in-cluster
    /// name, for clients that reach it through a port-forward).
    pub advertised_host: Option<String>,
    /// TLS: the certificate chain and key files (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A lab network's host it runs in ([`KafkaBroker::move_to`]).
    pub host: Option<crate::netns::NetworkHost>,
}

/// The port a broker moved into a lab network listens on.
const MOVED_PORT: u16 = 9092;

/// A running broker; stops when dropped.
#[derive(Debug)]
pub struct KafkaBroker {
    /// The port on 127.0.0.1 it listens on.
    pub port: u16,
    /// Its directory (storage, log).
    pub dir: PathBuf,
    /// The users it knows.
    pub users: Vec<KafkaUser>,
    options: BrokerOptions,
    process: ManagedProcess,
}

impl KafkaBroker {
    /// Starts a broker in `dir` with `options`.
    pub fn start(dir: &Path, options: &BrokerOptions) -> Result<Self> {
        let nisshi = nisshi_program()?;
        std::fs::create_dir_all(dir)?;
        let dir = std::path::absolute(dir)?;
        let port = crate::free_port()?;
        let log = Self::log_file(&dir);
        if !options.users.is_empty() {
            // Users can only be created while no authentication is asked
            // (and `user create` speaks no TLS): the same storage, opened.
            let mut open = spawn(&nisshi, &dir, port, options, Phase::Setup, &log)?;
            wait_for_port(&mut open, port, &log)?;
            for user in &options.users {
                create_user(&nisshi, port, user, &log)?;
            }
            open.stop(Duration::from_secs(10));
        }
        let mut process = spawn(&nisshi, &dir, port, options, Phase::Serve, &log)?;
        wait_for_port(&mut process, port, &log)?;
        Ok(Self {
            port,
            dir,
            users: options.users.clone(),
            options: options.clone(),
            process,
        })
    }

    /// Restarts the broker on the same port and storage, advertising
    /// `host:port` from now on. Topics and messages a lab client made
    /// while it advertised 127.0.0.1 stay; a client that cannot resolve
    /// `host` cannot reach it any more.
    pub fn readvertise(&mut self, host: &str, port: u16) -> Result<()> {
        self.options.advertised_host = Some(host.to_owned());
        self.options.advertised_port = Some(port);
        self.respawn()?;
        let log = Self::log_file(&self.dir);
        wait_for_port(&mut self.process, self.port, &log)
    }

    /// Restarts the broker on the same storage inside a lab network's
    /// host ([`crate::netns`]), on port 9092 of its address, advertising
    /// that address: only what reaches that host reaches the broker.
    pub fn move_to(&mut self, host: &crate::netns::NetworkHost) -> Result<()> {
        self.options.host = Some(host.clone());
        self.port = MOVED_PORT;
        self.respawn()?;
        let address = self.address();
        let log = Self::log_file(&self.dir);
        wait_until(&mut self.process, Duration::from_secs(30), "nisshi", || {
            crate::netns::connects(&host.namespace, address)
        })
        .with_context(|| format!("see {}", log.display()))
    }

    /// Stops the broker and starts it again as its options now say.
    fn respawn(&mut self) -> Result<()> {
        self.process.stop(Duration::from_secs(10));
        let nisshi = nisshi_program()?;
        let log = Self::log_file(&self.dir);
        self.process = spawn(
            &nisshi,
            &self.dir,
            self.port,
            &self.options,
            Phase::Serve,
            &log,
        )?;
        Ok(())
    }

    /// The broker's log file when it runs in `dir`.
    pub fn log_file(dir: &Path) -> PathBuf {
        dir.join("nisshi.log")
    }

    /// `127.0.0.1:PORT`, or its lab network host's address.
    pub fn address(&self) -> SocketAddr {
        match &self.options.host {
            Some(host) => SocketAddr::from((host.address, self.port)),
            None => SocketAddr::from(([127, 0, 0, 1], self.port)),
        }
    }

    /// `127.0.0.1:PORT`, as a bootstrap server.
    pub fn bootstrap(&self) -> String {
        self.address().to_string()
    }

    /// Stops the broker now.
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(10));
    }

    /// How a lab client logs in to this broker as `user` (SASL_PLAINTEXT).
    pub fn login(&self, user: &KafkaUser) -> crate::kafka_traffic::KafkaLogin {
        crate::kafka_traffic::KafkaLogin {
            bootstrap: self.bootstrap(),
            sasl: Some((
                user.name.clone(),
                user.password.clone(),
                user.mechanism.name().into(),
            )),
        }
    }
}

/// nisshi: `SITEDECK_NISSHI`, the cache directory `ensure_nisshi` builds
/// into, or PATH.
pub fn nisshi_program() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SITEDECK_NISSHI") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "SITEDECK_NISSHI is {}, which does not exist",
            path.display()
        );
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    if let Some(cache) = cache {
        let built = cache
            .join("sitedeck")
            .join(format!("nisshi-{NISSHI_VERSION}"))
            .join("bin/nisshi");
        if built.is_file() {
            return Ok(built);
        }
    }
    find_program(&["nisshi"]).context(
        "nisshi (the lab's Kafka broker) is not built: run scripts/test or scripts/demo once, or `source scripts/lib.sh; ensure_nisshi`",
    )
}

/// Whether the broker runs to create users (plain, open) or to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Serve,
}

fn spawn(
    nisshi: &Path,
    dir: &Path,
    port: u16,
    options: &BrokerOptions,
    phase: Phase,
    log: &Path,
) -> Result<ManagedProcess> {
    let advertised = options.advertised_port.unwrap_or(port);
    let host = match phase {
        // `user create` reaches the broker at its own address.
        Phase::Setup => "127.0.0.1",
        Phase::Serve => options.advertised_host.as_deref().unwrap_or("127.0.0.1"),
    };
    let (mut command, listen, host) = match (&options.host, phase) {
        (Some(inside), Phase::Serve) => (
            crate::netns::command_in(&inside.namespace, nisshi),
            inside.address.to_string(),
            inside.address.to_string(),
        ),
        _ => (
            Command::new(nisshi),
            "127.0.0.1".to_owned(),
            host.to_owned(),
        ),
    };
    command
        .arg("broker")
        .args(["--listener-url", &format!("tcp://{listen}:{port}")])
        .args([
            "--advertised-listener-url",
            &format!("tcp://{host}:{advertised}"),
        ])
        .args(["--storage-engine", "sqlite://nisshi.db"])
        .args(["--group-initial-rebalance-delay", "0s"])
        .current_dir(dir);
    if phase == Phase::Serve {
        if !options.users.is_empty() {
            command.arg("--authentication");
        }
        if let Some((cert, key)) = &options.tls {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
    }
    ManagedProcess::spawn("nisshi", command, log)
}

fn wait_for_port(process: &mut ManagedProcess, port: u16, log: &Path) -> Result<()> {
    wait_until(process, Duration::from_secs(30), "nisshi", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .with_context(|| format!("see {}", log.display()))
}

fn create_user(nisshi: &Path, port: u16, user: &KafkaUser, log: &Path) -> Result<()> {
    let output = Command::new(nisshi)
        .args([
            "user",
            "create",
            "--broker",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .args([&user.name, &user.password])
        .args(["--mechanism", user.mechanism.nisshi_name()])
        .output()
        .context("cannot run `nisshi user create`")?;
    if !output.status.success() {
        bail!(
            "nisshi could not create the user {}: {} (broker log: {})",
            user.name,
            String::from_utf8_lossy(&output.stderr).trim(),
            log.display()
        );
    }
    Ok(())
}

/// The name the lab's in-cluster broker advertises: pod `kafka-0` of the
/// simulator's namespace `middleware`, behind its headless Service.
pub const IN_CLUSTER_NAME: &str = "kafka-0.kafka-headless.middleware.svc.cluster.local";

/// The port it advertises: the pod's container port.
pub const IN_CLUSTER_PORT: u16 = 9092;

/// The lab site's Kafka: a broker with the `sitedeck` user
/// (SCRAM-SHA-512) and steady traffic, so that lag exists and changes; and
/// a second one that advertises an in-cluster name ([`IN_CLUSTER_NAME`]),
/// reached only through a port-forward to the simulator's pod `kafka-0`.
#[derive(Debug)]
pub struct LabKafka {
    /// The broker.
    pub broker: KafkaBroker,
    /// The broker "inside the cluster", with a topic and a lagging group
    /// made before it advertised its in-cluster name.
    pub in_cluster: KafkaBroker,
    /// The user sitedeck logs in as (on both brokers).
    pub user: KafkaUser,
    /// The producer and consumers; dropped before the broker.
    traffic: Option<crate::kafka_traffic::Traffic>,
}

impl LabKafka {
    /// Starts the brokers in `dir` (the in-cluster one in
    /// `dir/in-cluster`) and the first one's traffic. One after the other,
    /// on this thread: the brokers end with the thread that started them.
    pub fn start(dir: &Path) -> Result<Self> {
        let user = KafkaUser {
            name: "sitedeck".into(),
            password: crate::lab_secret("kafka"),
            mechanism: Scram::Sha512,
        };
        let options = BrokerOptions {
            users: vec![user.clone()],
            ..Default::default()
        };
        let broker = KafkaBroker::start(dir, &options)?;
        let login = broker.login(&user);
        let traffic = crate::kafka_traffic::Traffic::start(&login).with_context(|| {
            format!(
                "the lab's Kafka traffic did not start (see {})",
                KafkaBroker::log_file(dir).display()
            )
        })?;
        let in_cluster_dir = dir.join("in-cluster");
        let in_cluster = start_in_cluster(&in_cluster_dir, &options, &user).with_context(|| {
            format!(
                "the lab's in-cluster Kafka did not start (see {})",
                KafkaBroker::log_file(&in_cluster_dir).display()
            )
        })?;
        Ok(Self {
            broker,
            in_cluster,
            user,
            traffic: Some(traffic),
        })
    }

    /// Stops the traffic, then the brokers.
    pub fn stop(&mut self) {
        self.traffic = None;
        self.broker.stop();
        self.in_cluster.stop();
    }
}

/// A broker with topic `ledger` (3 partitions, 40 messages) and group
/// `settlement` 15 behind, then advertising [`IN_CLUSTER_NAME`].
fn start_in_cluster(dir: &Path, options: &BrokerOptions, user: &KafkaUser) -> Result<KafkaBroker> {
    use crate::kafka_traffic::{Produced, commit_many, create_topic, produce};
    let mut broker = KafkaBroker::start(dir, options)?;
    let login = broker.login(user);
    create_topic(&login, "ledger", 3)?;
    let messages: Vec<Produced> = (0..40)
        .map(|n| Produced {
            partition: n % 3,
            key: Some(format!("payment-{n}")),
            value: format!(
                r#"{{"payment":{n},"amount_cents":{},"currency":"EUR"}}"#,
                1000 + n * 37
            ),
            headers: vec![(
                "trace_id".into(),
                format!("{:032x}", 0xabc0_u32 + n.unsigned_abs()),
            )],
        })
        .collect();
    produce(&login, "ledger", &messages)?;
    commit_many(
        &login,
        "settlement",
        &[
            ("ledger".into(), 0, 9),
            ("ledger".into(), 1, 8),
            ("ledger".into(), 2, 8),
        ],
    )?;
    broker.readvertise(IN_CLUSTER_NAME, IN_CLUSTER_PORT)?;
    Ok(broker)
}
