//! A real MariaDB server from Debian's packages, on a free loopback port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{ManagedProcess, find_program, running_as_root, wait_until};

/// The user sitedeck logs in as.
pub const USER: &str = "sitedeck";

/// A running MariaDB server with a `sitedeck` user.
#[derive(Debug)]
pub struct MariaDb {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The `sitedeck` user's password.
    pub password: String,
    /// The server's directory (data, socket, log).
    pub dir: PathBuf,
    process: ManagedProcess,
}

impl MariaDb {
    /// Initialises a data directory in `dir` and starts the server.
    pub fn start(dir: &Path) -> Result<Self> {
        let server = find_program(&["mariadbd", "mysqld"])
            .context("MariaDB is not installed (apt-get install mariadb-server)")?;
        let install = find_program(&["mariadb-install-db", "mysql_install_db"])
            .context("mariadb-install-db is missing (apt-get install mariadb-server)")?;
        std::fs::create_dir_all(dir)?;
        let data = dir.join("data");
        let socket = dir.join("mysqld.sock");
        let log = dir.join("mariadb.log");
        // A private tmpdir: servers started in parallel must not share /tmp
        // temp-table names.
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let mut init = Command::new(&install);
        init.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
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
            .arg("--log-bin=mysql-bin")
            .arg("--server-id=1");
        if running_as_root() {
            command.arg("--user=root");
        }
        let mut process = ManagedProcess::spawn("mariadbd", command, &log)?;
        wait_until(&mut process, Duration::from_secs(60), "MariaDB", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        })
        .with_context(|| format!("see {}", log.display()))?;
        let password = crate::lab_secret("mariadb");
        let db = Self {
            port,
            password,
            dir: dir.to_path_buf(),
            process,
        };
        db.sql(&format!(
            "CREATE USER '{USER}'@'%' IDENTIFIED BY '{pw}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'; \
             CREATE DATABASE IF NOT EXISTS sitedeck; FLUSH PRIVILEGES;",
            pw = db.password
        ))?;
        Ok(db)
    }

    /// Runs SQL as root over the server's socket. The SQL goes through
    /// stdin, so passwords in it never show in a process list.
    pub fn sql(&self, sql: &str) -> Result<String> {
        use std::io::Write;
        use std::process::Stdio;
        let client =
            find_program(&["mariadb", "mysql"]).context("the mariadb client is missing")?;
        let mut child = Command::new(client)
            .arg("--no-defaults")
            .arg("-uroot")
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .arg("--batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run the mariadb client")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(sql.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("SQL failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
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
