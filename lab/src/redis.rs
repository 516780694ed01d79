//! A real Redis server from Debian's packages, on a free loopback port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{ManagedProcess, find_program, wait_until};

/// A running Redis server that requires a password.
#[derive(Debug)]
pub struct Redis {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The `default` user's password.
    pub password: String,
    /// The server's directory.
    pub dir: PathBuf,
    process: ManagedProcess,
}

impl Redis {
    /// Starts a server in `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        let server = find_program(&["redis-server"])
            .context("Redis is not installed (apt-get install redis-server)")?;
        std::fs::create_dir_all(dir)?;
        let port = crate::free_port()?;
        let password = crate::lab_secret("redis");
        // The password goes in a config file, never in argv (ps shows argv).
        let config = dir.join("redis.conf");
        crate::site::write_private(
            &config,
            &format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nrequirepass {password}\nsave \"\"\nappendonly no\ndaemonize no\nprotected-mode yes\n",
                dir.display()
            ),
        )?;
        let mut command = Command::new(server);
        command.arg(&config);
        let mut process = ManagedProcess::spawn("redis-server", command, &dir.join("redis.log"))?;
        wait_until(&mut process, Duration::from_secs(20), "Redis", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        Ok(Self {
            port,
            password,
            dir: dir.to_path_buf(),
            process,
        })
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
