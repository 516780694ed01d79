//! Real MariaDB servers from Debian's packages on free loopback ports: a
//! primary, and replicas that replicate from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{ManagedProcess, find_program, running_as_root, wait_until};

/// The user sitedeck logs in as.
pub const USER: &str = "sitedeck";

/// The user replicas log in to the primary as.
pub const REPLICATION_USER: &str = "replicator";

/// How long a replica may take to connect and catch up.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(60);

/// A running MariaDB server with a `sitedeck` user.
#[derive(Debug)]
pub struct MariaDb {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The `sitedeck` user's password (the same on a replica: it is replicated).
    pub password: String,
    /// The server's directory (data, socket, log).
    pub dir: PathBuf,
    /// The replication user's password (a primary's; a replica's is empty).
    replication_password: String,
    process: ManagedProcess,
}

impl MariaDb {
    /// Initialises a data directory in `dir` and starts a primary: binary
    /// log on, server id 1, a `sitedeck` user that may do anything but
    /// write on a read-only server (no READ_ONLY ADMIN, like a monitoring
    /// account), a `sitedeck` database, and a replication user for replicas.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::install(dir)?;
        let mut db = Self::launch(dir, 1, &["--log-bin=mysql-bin"])?;
        db.password = crate::lab_secret("mariadb");
        db.replication_password = crate::lab_secret("mariadb-replication");
        // Everything below is binary-logged, so a replica replays it and
        // gets the same `sitedeck` user and database.
        db.sql(&format!(
            "CREATE USER '{USER}'@'%' IDENTIFIED BY '{pw}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'; \
             REVOKE READ_ONLY ADMIN ON *.* FROM '{USER}'@'%'; \
             CREATE DATABASE IF NOT EXISTS sitedeck; \
             CREATE USER '{REPLICATION_USER}'@'127.0.0.1' IDENTIFIED BY '{repl}'; \
             GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'127.0.0.1'; \
             FLUSH PRIVILEGES;",
            pw = db.password,
            repl = db.replication_password,
        ))?;
        Ok(db)
    }

    /// Initialises a data directory in `dir` and starts a read-only replica
    /// of `primary` (server id 2, GTID replication from the primary's first
    /// transaction). Returns once both replication threads run and the
    /// replica has caught up, so the `sitedeck` user exists on it.
    pub fn start_replica(dir: &Path, primary: &MariaDb) -> Result<Self> {
        Self::install(dir)?;
        Self::start_installed_replica(dir, primary)
    }

    /// `start_replica` on a data directory that `install` made.
    pub(crate) fn start_installed_replica(dir: &Path, primary: &MariaDb) -> Result<Self> {
        if primary.replication_password.is_empty() {
            bail!("the MariaDB in {} is not a primary", primary.dir.display());
        }
        let mut replica = Self::launch(
            dir,
            2,
            &[
                "--read-only=ON",
                "--relay-log=relay-bin",
                "--skip-slave-start",
            ],
        )?;
        replica.password = primary.password.clone();
        let log = Self::log_file(dir);
        // The primary's position now: once the replica has applied it, it
        // has every user and database the primary had when we started.
        let position = primary
            .sql("SELECT @@GLOBAL.gtid_binlog_pos;")?
            .lines()
            .nth(1)
            .unwrap_or_default()
            .trim()
            .to_owned();
        // Through stdin: the replication password never shows in argv.
        replica.sql(&format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={port}, \
             MASTER_USER='{REPLICATION_USER}', MASTER_PASSWORD='{pw}', \
             MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE;",
            port = primary.port,
            pw = primary.replication_password,
        ))?;
        replica
            .wait_replicating()
            .with_context(|| format!("see {}", log.display()))?;
        let caught_up = replica.sql(&format!(
            "SELECT MASTER_GTID_WAIT('{position}', {});",
            REPLICA_TIMEOUT.as_secs()
        ))?;
        if caught_up.lines().nth(1).map(str::trim) != Some("0") {
            bail!(
                "the MariaDB replica did not catch up with the primary (see {})",
                log.display()
            );
        }
        Ok(replica)
    }

    /// The server's log file when it runs in `dir`.
    pub fn log_file(dir: &Path) -> PathBuf {
        dir.join("mariadb.log")
    }

    /// Creates `dir` with a fresh data directory (root may log in over
    /// the socket, nobody else yet). `start` and `start_replica` do this
    /// first; the lab does it for the replica while the primary starts.
    pub(crate) fn install(dir: &Path) -> Result<()> {
        let install = find_program(&["mariadb-install-db", "mysql_install_db"])
            .context("mariadb-install-db is missing (apt-get install mariadb-server)")?;
        // A private tmpdir: servers started in parallel must not share /tmp
        // temp-table names.
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let mut init = Command::new(&install);
        init.arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg("--auth-root-authentication-method=normal")
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg("--skip-test-db");
        if running_as_root() {
            init.arg("--user=root");
        }
        let output = init.output().context("cannot run mariadb-install-db")?;
        if !output.status.success() {
            bail!(
                "mariadb-install-db failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// Starts a server on the data directory `install` made in `dir`, with
    /// `server_id` and `extra` options.
    fn launch(dir: &Path, server_id: u32, extra: &[&str]) -> Result<Self> {
        // A free port can be taken by another test between the check and
        // the bind: a server that exits at once is started again, on
        // another port.
        let mut attempt = 1;
        loop {
            match Self::launch_once(dir, server_id, extra) {
                Err(e) if attempt < 3 && format!("{e:#}").contains("exited early") => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn launch_once(dir: &Path, server_id: u32, extra: &[&str]) -> Result<Self> {
        let server = find_program(&["mariadbd", "mysqld"])
            .context("MariaDB is not installed (apt-get install mariadb-server)")?;
        let data = dir.join("data");
        let socket = dir.join("mysqld.sock");
        let log = Self::log_file(dir);
        let tmp = dir.join("tmp");
        let port = crate::free_port()?;
        let mut command = Command::new(&server);
        command
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
            .arg("--skip-name-resolve")
            .arg("--innodb-buffer-pool-size=16M")
            .arg(format!("--server-id={server_id}"))
            .args(extra);
        if running_as_root() {
            command.arg("--user=root");
        }
        let mut process = ManagedProcess::spawn("mariadbd", command, &log)?;
        wait_until(&mut process, Duration::from_secs(60), "MariaDB", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        })
        .with_context(|| format!("see {}", log.display()))?;
        Ok(Self {
            port,
            password: String::new(),
            dir: dir.to_path_buf(),
            replication_password: String::new(),
            process,
        })
    }

    /// Waits until both replication threads run; fails at once on a
    /// replication error.
    fn wait_replicating(&mut self) -> Result<()> {
        let deadline = Instant::now() + REPLICA_TIMEOUT;
        loop {
            self.process.check_running()?;
            let status = self
                .replica_status()?
                .context("the replica has no replication configured")?;
            let field = |name: &str| status.get(name).map(String::as_str).unwrap_or_default();
            if field("Slave_IO_Running") == "Yes" && field("Slave_SQL_Running") == "Yes" {
                return Ok(());
            }
            let error = [field("Last_IO_Error"), field("Last_SQL_Error")]
                .into_iter()
                .filter(|e| !e.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            // An IO thread still connecting retries on its own; a stopped
            // SQL thread does not.
            if field("Slave_SQL_Running") == "No" && !error.is_empty() {
                bail!("MariaDB replication failed: {error}");
            }
            if Instant::now() > deadline {
                bail!(
                    "MariaDB replication did not start within {REPLICA_TIMEOUT:?} \
                     (IO thread {}, SQL thread {}{}{error})",
                    field("Slave_IO_Running"),
                    field("Slave_SQL_Running"),
                    if error.is_empty() { "" } else { ": " },
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `SHOW SLAVE STATUS` by column name (`Slave_IO_Running`,
    /// `Seconds_Behind_Master`, …); `None` on a server that replicates
    /// from nothing.
    pub fn replica_status(&self) -> Result<Option<BTreeMap<String, String>>> {
        let output = self.sql("SHOW SLAVE STATUS;")?;
        let mut lines = output.lines();
        let (Some(header), Some(row)) = (lines.next(), lines.next()) else {
            return Ok(None);
        };
        Ok(Some(
            header
                .split('\t')
                .zip(row.split('\t'))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        ))
    }

    /// Runs SQL as root over the server's socket. The SQL goes through
    /// stdin, so passwords in it never show in a process list. Returns the
    /// client's batch output: a tab-separated header line, then the rows.
    pub fn sql(&self, sql: &str) -> Result<String> {
        let client =
            find_program(&["mariadb", "mysql"]).context("the mariadb client is missing")?;
        let mut command = Command::new(client);
        command
            .arg("--no-defaults")
            .arg("-uroot")
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .arg("--batch");
        crate::process::run_sql(command, sql, "the mariadb client")
    }

    /// `host:port` for clients.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server now (as if it crashed or was shut down).
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(10));
    }
}
