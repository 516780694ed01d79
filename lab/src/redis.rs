//! Real Redis servers from Debian's packages on free loopback ports: a
//! primary, and replicas that replicate from it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{ManagedProcess, find_program, wait_until};

/// How long a replica may take to sync with its primary.
const REPLICA_TIMEOUT: Duration = Duration::from_secs(30);

/// A running Redis server that requires a password.
#[derive(Debug)]
pub struct Redis {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The `default` user's password (a replica has its primary's).
    pub password: String,
    /// The server's directory.
    pub dir: PathBuf,
    process: ManagedProcess,
}

impl Redis {
    /// Starts a primary in `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::launch(dir, crate::lab_secret("redis"), "")
    }

    /// Starts a read-only replica of `primary` in `dir`, with the same
    /// password, and waits until its link to the primary is up.
    pub fn start_replica(dir: &Path, primary: &Redis) -> Result<Self> {
        let replica = Self::launch(
            dir,
            primary.password.clone(),
            &format!(
                "replicaof 127.0.0.1 {port}\nmasterauth {password}\nreplica-read-only yes\n",
                port = primary.port,
                password = primary.password,
            ),
        )?;
        let deadline = Instant::now() + REPLICA_TIMEOUT;
        loop {
            let info = replica.command(&["INFO", "replication"])?;
            // Up on both ends: the replica's link, and the primary's view
            // of it (`wait_bgsave` until the first sync has been sent).
            if info
                .lines()
                .any(|line| line.trim() == "master_link_status:up")
                && primary
                    .command(&["INFO", "replication"])?
                    .lines()
                    .any(|line| line.starts_with("slave0:") && line.contains("state=online"))
            {
                return Ok(replica);
            }
            if Instant::now() > deadline {
                bail!(
                    "the Redis replica's link to its primary is not up after {REPLICA_TIMEOUT:?} (see {})",
                    Self::log_file(dir).display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log file when it runs in `dir`.
    pub fn log_file(dir: &Path) -> PathBuf {
        dir.join("redis.log")
    }

    /// Starts a server with `password` and `extra` config lines.
    fn launch(dir: &Path, password: String, extra: &str) -> Result<Self> {
        let server = find_program(&["redis-server"])
            .context("Redis is not installed (apt-get install redis-server)")?;
        std::fs::create_dir_all(dir)?;
        let port = crate::free_port()?;
        // Passwords go in a config file, never in argv (ps shows argv). A
        // primary sends a replica its first sync at once, not after the
        // default 5 s wait for more replicas.
        let config = dir.join("redis.conf");
        crate::site::write_private(
            &config,
            &format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nrequirepass {password}\nsave \"\"\nappendonly no\ndaemonize no\nprotected-mode yes\nrepl-diskless-sync-delay 0\n{extra}",
                dir.display()
            ),
        )?;
        let mut command = Command::new(server);
        command.arg(&config);
        let log = Self::log_file(dir);
        let mut process = ManagedProcess::spawn("redis-server", command, &log)?;
        wait_until(&mut process, Duration::from_secs(20), "Redis", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .with_context(|| format!("see {}", log.display()))?;
        Ok(Self {
            port,
            password,
            dir: dir.to_path_buf(),
            process,
        })
    }

    /// Logs in and runs one command, e.g. `["SET", "k", "v"]`. Returns the
    /// reply as text (an array's items one per line, nil as empty); an
    /// error reply is an error.
    pub fn command(&self, args: &[&str]) -> Result<String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .with_context(|| format!("cannot connect to Redis on port {}", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut request = encode(&["AUTH", &self.password]);
        request.extend(encode(args));
        (&stream).write_all(&request)?;
        let mut reader = BufReader::new(&stream);
        read_reply(&mut reader).context("Redis refused the password")?;
        read_reply(&mut reader)
    }

    /// `host:port` for clients.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(10));
    }
}

/// A command as a RESP array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n{arg}\r\n", arg.len()).into_bytes());
    }
    out
}

/// Reads one RESP reply as text.
fn read_reply(reader: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        bail!("Redis closed the connection");
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at_checked(1).context("an empty Redis reply")?;
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => bail!("Redis: {rest}"),
        "$" => {
            let Ok(len) = usize::try_from(rest.parse::<i64>()?) else {
                return Ok(String::new());
            };
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        "*" => {
            let count = rest.parse::<i64>()?.max(0);
            let items = (0..count)
                .map(|_| read_reply(reader))
                .collect::<Result<Vec<_>>>()?;
            Ok(items.join("\n"))
        }
        _ => bail!("an unexpected Redis reply: {line}"),
    }
}
