//! A whole lab site and the `site.yaml` that points sitedeck at it.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow, bail};

use crate::kube::KubeSim;
use crate::{MariaDb, Postgres, Redis, S3Server};

/// The servers of one lab site. Dropping it stops them all.
#[derive(Debug)]
pub struct Lab {
    /// The lab's directory: servers, secrets, `site.yaml`.
    pub dir: PathBuf,
    /// The MariaDB primary.
    pub mariadb: MariaDb,
    /// The MariaDB replica of `mariadb`.
    pub mariadb_replica: MariaDb,
    /// The Redis primary.
    pub redis: Redis,
    /// The Redis replica of `redis`.
    pub redis_replica: Redis,
    /// PostgreSQL.
    pub postgres: Postgres,
    /// The S3 endpoint (moto) with the probe bucket.
    pub s3: S3Server,
    /// The Kubernetes API simulator with the seed site.
    pub kube: KubeSim,
    /// The Kafka broker (nisshi) with SCRAM and traffic.
    pub kafka: crate::kafka::LabKafka,
    /// The nodes over SSH, their bastion and NTP server (taken when the
    /// lab stops).
    pub nodes: Option<crate::nodes::LabNodes>,
    /// The threads that started the servers; they must end after them.
    starters: Vec<Starter>,
}

/// The release manifest the lab's cluster should run (one component drifts).
const RELEASE: &str = include_str!("../../assets/releases/example-2.4.1.yaml");

/// How `sitedeck-lab up` builds the lab's cluster.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// Serve the Kubernetes API over plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Add a generated cluster of this size to the seed site.
    pub scale: Option<crate::kube::seed::ScaleSpec>,
    /// Start the site's nodes too: a bastion, three sshd nodes, chronyd
    /// ([`crate::nodes::LabNodes`]); `sitedeck-lab up` does.
    pub nodes: bool,
}

impl Lab {
    /// Starts every server of the lab in `dir` and writes `dir/site.yaml`.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::start_with(dir, &LabOptions::default())
    }

    /// Starts the lab with `options`. The servers start at the same time;
    /// if one fails, those already started are stopped and the error names
    /// the server and its log.
    pub fn start_with(dir: &Path, options: &LabOptions) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = std::path::absolute(dir)?;
        clear_server_dirs(&dir)?;
        let mut starters = Vec::new();
        let mariadb = {
            let (primary, replica) = (dir.join("mariadb"), dir.join("mariadb-replica"));
            start_in_background(&mut starters, "MariaDB", move || {
                // The replica's data directory is made while the primary
                // starts (a plain command: no server tied to this thread).
                let (db, installed) = std::thread::scope(|scope| {
                    let installing = scope.spawn(|| MariaDb::install(&replica));
                    (MariaDb::start(&primary), installing.join())
                });
                let db =
                    db.with_context(|| not_started("MariaDB", &MariaDb::log_file(&primary)))?;
                let replica_failed =
                    || not_started("the MariaDB replica", &MariaDb::log_file(&replica));
                match installed {
                    Ok(installed) => installed,
                    Err(_) => Err(anyhow!("the replica's mariadb-install-db thread panicked")),
                }
                .with_context(replica_failed)?;
                let replica =
                    MariaDb::start_installed_replica(&replica, &db).with_context(replica_failed)?;
                Ok((db, replica))
            })?
        };
        let redis = {
            let (primary, replica) = (dir.join("redis"), dir.join("redis-replica"));
            start_in_background(&mut starters, "Redis", move || {
                let redis = Redis::start(&primary)
                    .with_context(|| not_started("Redis", &Redis::log_file(&primary)))?;
                let replica = Redis::start_replica(&replica, &redis).with_context(|| {
                    not_started("the Redis replica", &Redis::log_file(&replica))
                })?;
                Ok((redis, replica))
            })?
        };
        let postgres = {
            let dir = dir.join("postgres");
            start_in_background(&mut starters, "PostgreSQL", move || {
                Postgres::start(&dir)
                    .with_context(|| not_started("PostgreSQL", &Postgres::log_file(&dir)))
            })?
        };
        let s3 = {
            let dir = dir.join("s3");
            start_in_background(&mut starters, "S3", move || {
                S3Server::start(&dir)
                    .with_context(|| not_started("S3 (moto)", &S3Server::log_file(&dir)))
            })?
        };
        let kafka = {
            let dir = dir.join("kafka");
            start_in_background(&mut starters, "Kafka", move || {
                crate::kafka::LabKafka::start(&dir).with_context(|| {
                    not_started("Kafka (nisshi)", &crate::KafkaBroker::log_file(&dir))
                })
            })?
        };
        let nodes = {
            let (dir, wanted) = (dir.join("nodes"), options.nodes);
            start_in_background(&mut starters, "Nodes", move || {
                wanted
                    .then(|| {
                        crate::nodes::LabNodes::start(&dir)
                            .context("the nodes (sshd, chronyd) did not start")
                    })
                    .transpose()
            })?
        };
        // The simulator runs in-process (no child to tie to a thread); the
        // kubeconfig lands next to site.yaml.
        let kube = start_kube(&dir, options).context("the Kubernetes API simulator did not start");
        let results = (
            receive(mariadb, "MariaDB"),
            receive(redis, "Redis"),
            receive(postgres, "PostgreSQL"),
            receive(s3, "S3"),
            receive(kafka, "Kafka"),
            kube,
            receive(nodes, "Nodes"),
        );
        let lab = match results {
            (
                Ok((mariadb, mariadb_replica)),
                Ok((redis, redis_replica)),
                Ok(postgres),
                Ok(s3),
                Ok(kafka),
                Ok(kube),
                Ok(nodes),
            ) => Self {
                dir,
                mariadb,
                mariadb_replica,
                redis,
                redis_replica,
                postgres,
                s3,
                kube,
                kafka,
                nodes,
                starters,
            },
            (mariadb, redis, postgres, s3, kafka, kube, nodes) => {
                // `err()` drops (and so stops) every server that did start,
                // before their starter threads end.
                let errors: Vec<String> = [
                    mariadb.err(),
                    redis.err(),
                    postgres.err(),
                    s3.err(),
                    kafka.err(),
                    kube.err(),
                    nodes.err(),
                ]
                .into_iter()
                .flatten()
                .map(|e| format!("{e:#}"))
                .collect();
                drop(starters);
                bail!("{}", errors.join("\n"));
            }
        };
        lab.forward_middleware_pods();
        lab.add_kafka_pod()?;
        if let Some(nodes) = &lab.nodes {
            nodes.point_cluster_nodes(&lab.kube)?;
        }
        lab.write_site()?;
        Ok(lab)
    }

    /// Port-forwards to the simulator's middleware pods reach the real
    /// servers: `mysql-0` the MariaDB primary, `mysql-1` its replica,
    /// `redis-0` and `redis-1` likewise.
    fn forward_middleware_pods(&self) {
        let address = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        for (pod, port, target) in [
            ("mysql-0", 3306, self.mariadb.port),
            ("mysql-1", 3306, self.mariadb_replica.port),
            ("redis-0", 6379, self.redis.port),
            ("redis-1", 6379, self.redis_replica.port),
        ] {
            self.kube
                .forward_port("middleware", pod, port, address(target));
        }
    }

    /// Pod `middleware/kafka-0` in the simulator, running and ready, whose
    /// port 9092 is the in-cluster broker: the broker advertises the pod's
    /// cluster name, so sitedeck reaches it only `via: port-forward`.
    fn add_kafka_pod(&self) -> Result<()> {
        self.kube.create(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "kafka-0", "namespace": "middleware",
                         "labels": {"app": "kafka", "statefulset.kubernetes.io/pod-name": "kafka-0"}},
            "spec": {"containers": [{"name": "kafka", "image": "docker.io/bitnami/kafka:3.7.0",
                                     "ports": [{"name": "client", "containerPort": crate::kafka::IN_CLUSTER_PORT}]}],
                     "nodeName": "acme-worker-1"},
            "status": {"phase": "Running", "podIP": "10.42.1.90",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "kafka", "ready": true, "restartCount": 0,
                                              "image": "docker.io/bitnami/kafka:3.7.0",
                                              "state": {"running": {}}}]},
        }))?;
        self.kube.forward_port(
            "middleware",
            "kafka-0",
            crate::kafka::IN_CLUSTER_PORT,
            self.kafka.in_cluster.address(),
        );
        Ok(())
    }

    /// The site profile's path.
    pub fn site_file(&self) -> PathBuf {
        self.dir.join("site.yaml")
    }

    fn write_site(&self) -> Result<()> {
        let secrets = self.dir.join("secrets");
        std::fs::create_dir_all(&secrets)?;
        write_private(&secrets.join("mariadb-password"), &self.mariadb.password)?;
        write_private(&secrets.join("redis-password"), &self.redis.password)?;
        write_private(&secrets.join("postgres-password"), &self.postgres.password)?;
        write_private(&secrets.join("s3-secret-key"), &self.s3.secret_key)?;
        write_private(&secrets.join("kafka-password"), &self.kafka.user.password)?;
        // The simulator only puts its CA in the kubeconfig; the readiness
        // check needs it as a file.
        let ca_line = if self.kube.url().starts_with("https://") {
            std::fs::write(self.dir.join("kube-ca.pem"), self.kube.ca_pem())?;
            "\x20   ca_file: kube-ca.pem\n"
        } else {
            ""
        };
        let site = format!(
            "# Written by sitedeck-lab: the local lab site on 127.0.0.1.\n\
             name: lab\n\
             environment: poc\n\
             description: sitedeck lab (Kubernetes API simulator; real MariaDB, Redis, PostgreSQL, S3 and Kafka on loopback)\n\
             cluster:\n\
             \x20 kubeconfig: kubeconfig\n\
             \x20 context: lab\n\
             release: release.yaml\n\
             middleware:\n\
             \x20 - name: mariadb\n\
             \x20   kind: mysql\n\
             \x20   endpoint: {mariadb}\n\
             \x20   user: {user}\n\
             \x20   password: {{file: secrets/mariadb-password}}\n\
             \x20   database: sitedeck\n\
             \x20   role: primary\n\
             \x20   replicas: 1\n\
             \x20   write_probe: true\n\
             \x20 - name: mariadb-replica\n\
             \x20   kind: mysql\n\
             \x20   endpoint: {mariadb_replica}\n\
             \x20   user: {user}\n\
             \x20   password: {{file: secrets/mariadb-password}}\n\
             \x20   database: sitedeck\n\
             \x20   role: replica\n\
             \x20 - name: redis\n\
             \x20   kind: redis\n\
             \x20   endpoint: {redis}\n\
             \x20   password: {{file: secrets/redis-password}}\n\
             \x20   role: primary\n\
             \x20   replicas: 1\n\
             \x20   write_probe: true\n\
             \x20 - name: redis-replica\n\
             \x20   kind: redis\n\
             \x20   endpoint: {redis_replica}\n\
             \x20   password: {{file: secrets/redis-password}}\n\
             \x20   role: replica\n\
             \x20 - name: postgresql\n\
             \x20   kind: postgresql\n\
             \x20   endpoint: {postgres}\n\
             \x20   user: {postgres_user}\n\
             \x20   password: {{file: secrets/postgres-password}}\n\
             \x20   database: sitedeck\n\
             \x20 - name: s3\n\
             \x20   kind: s3\n\
             \x20   url: {s3}\n\
             \x20   bucket: {bucket}\n\
             \x20   user: {access_key}\n\
             \x20   password: {{file: secrets/s3-secret-key}}\n\
             \x20   write_probe: true\n\
             \x20 - name: kube-api-ready\n\
             \x20   kind: http\n\
             \x20   url: {kube}/readyz\n\
             {ca_line}\
             \x20   expect_status: 200\n\
             \x20 - name: postgresql-port\n\
             \x20   kind: tcp\n\
             \x20   endpoint: {postgres}\n\
             \x20 - name: mariadb-in-cluster\n\
             \x20   kind: mysql\n\
             \x20   endpoint: {{service: middleware/mysql:3306}}\n\
             \x20   user: {user}\n\
             \x20   password: {{file: secrets/mariadb-password}}\n\
             \x20   role: primary\n\
             \x20 - name: redis-in-cluster\n\
             \x20   kind: redis\n\
             \x20   endpoint: {{pod: middleware/app=redis:6379}}\n\
             \x20   password: {{file: secrets/redis-password}}\n\
             \x20   role: primary\n\
             kafka:\n\
             \x20 - name: events\n\
             \x20   bootstrap: [{kafka}]\n\
             \x20   security_protocol: SASL_PLAINTEXT\n\
             \x20   sasl_mechanism: {kafka_mechanism}\n\
             \x20   username: {kafka_user}\n\
             \x20   password: {{file: secrets/kafka-password}}\n\
             \x20 - name: events-in-cluster\n\
             \x20   via: port-forward\n\
             \x20   bootstrap: [{kafka_in_cluster}:{kafka_in_cluster_port}]\n\
             \x20   security_protocol: SASL_PLAINTEXT\n\
             \x20   sasl_mechanism: {kafka_mechanism}\n\
             \x20   username: {kafka_user}\n\
             \x20   password: {{file: secrets/kafka-password}}\n\
             probes:\n\
             \x20 timeout_seconds: 3\n\
             \x20 refresh_seconds: 15\n\
             {nodes}",
            nodes = self
                .nodes
                .as_ref()
                .map(crate::nodes::LabNodes::profile_yaml)
                .unwrap_or_default(),
            mariadb = self.mariadb.endpoint(),
            mariadb_replica = self.mariadb_replica.endpoint(),
            user = crate::mariadb::USER,
            redis = self.redis.endpoint(),
            redis_replica = self.redis_replica.endpoint(),
            postgres = self.postgres.endpoint(),
            postgres_user = self.postgres.user,
            s3 = self.s3.url(),
            bucket = self.s3.bucket,
            access_key = self.s3.access_key,
            kube = self.kube.url(),
            kafka = self.kafka.broker.bootstrap(),
            kafka_mechanism = self.kafka.user.mechanism.name(),
            kafka_user = self.kafka.user.name,
            kafka_in_cluster = crate::kafka::IN_CLUSTER_NAME,
            kafka_in_cluster_port = crate::kafka::IN_CLUSTER_PORT,
        );
        if let Some(nodes) = &self.nodes {
            nodes.write_known_hosts(&self.dir)?;
        }
        std::fs::write(self.dir.join("release.yaml"), RELEASE)?;
        std::fs::write(self.site_file(), site)?;
        Ok(())
    }
}

impl Drop for Lab {
    /// Stops the servers side by side (each may take a moment to shut
    /// down), then lets their starter threads end.
    fn drop(&mut self) {
        std::thread::scope(|scope| {
            scope.spawn(|| self.mariadb_replica.stop());
            scope.spawn(|| self.mariadb.stop());
            scope.spawn(|| self.redis_replica.stop());
            scope.spawn(|| self.redis.stop());
            scope.spawn(|| self.postgres.stop());
            scope.spawn(|| self.s3.stop());
            scope.spawn(|| self.kafka.stop());
            let nodes = self.nodes.take();
            scope.spawn(move || drop(nodes));
        });
        self.starters.clear();
    }
}

/// A thread that starts servers and then lives as long as they do: a
/// server's parent-death signal (PR_SET_PDEATHSIG) fires when the thread
/// that spawned it ends, not when the process does.
#[derive(Debug)]
struct Starter {
    /// Dropping it lets the thread end.
    release: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Starter {
    fn drop(&mut self) {
        self.release = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `start` on a new starter thread (kept in `starters`); its result
/// arrives on the returned channel.
fn start_in_background<T: Send + 'static>(
    starters: &mut Vec<Starter>,
    name: &str,
    start: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<mpsc::Receiver<Result<T>>> {
    let (result_tx, result_rx) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("lab-{}", name.to_lowercase()))
        .spawn(move || {
            let _ = result_tx.send(start());
            // Blocks until the lab lets go (drops the sender).
            let _ = released.recv();
        })
        .with_context(|| format!("cannot start a thread for {name}"))?;
    starters.push(Starter {
        release: Some(release),
        thread: Some(thread),
    });
    Ok(result_rx)
}

/// The result a starter thread sent.
fn receive<T>(result: mpsc::Receiver<Result<T>>, name: &str) -> Result<T> {
    result
        .recv()
        .map_err(|_| anyhow!("{name} did not start: its starter thread panicked"))?
}

/// The simulator with the lab's options, scaled if asked.
fn start_kube(dir: &Path, options: &LabOptions) -> Result<KubeSim> {
    let kube_options = crate::kube::KubeSimOptions {
        plain_http: options.plain_http,
        ..crate::kube::KubeSimOptions::default()
    };
    let kube = KubeSim::start_with(dir, kube_options)?;
    if let Some(scale) = options.scale {
        kube.generate(scale)?;
    }
    Ok(kube)
}

/// "X did not start (its log: …)".
fn not_started(what: &str, log: &Path) -> String {
    format!("{what} did not start (its log: {})", log.display())
}

/// Writes a file only its owner can read (0600, also when it existed).
pub fn write_private(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(secret.as_bytes())?;
    Ok(())
}

/// The servers' directories inside a lab directory.
const SERVER_DIRS: [&str; 8] = [
    "mariadb",
    "mariadb-replica",
    "redis",
    "redis-replica",
    "postgres",
    "s3",
    "kafka",
    "nodes",
];

/// Removes what a stopped lab's servers left in `dir` (data directories
/// initialised for other ports and passwords), so `up` can reuse a folder.
/// `sitedeck-lab up` refuses a folder whose lab still runs before this.
fn clear_server_dirs(dir: &Path) -> Result<()> {
    for name in SERVER_DIRS {
        let path = dir.join(name);
        // Only directories: anything else in the way is reported by the
        // server that cannot make its directory.
        if path.is_dir() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot clear {} from a previous lab", path.display()))?;
        }
    }
    Ok(())
}
