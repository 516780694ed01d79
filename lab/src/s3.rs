//! An S3 endpoint on a free loopback port: moto's server (from PyPI), with
//! a bucket for sitedeck's probe.
//!
//! moto takes any credentials and does not check signatures, so the lab's
//! access and secret keys are only there for sitedeck to sign with.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{ManagedProcess, find_program, wait_until};

/// The bucket the lab creates for sitedeck's probe.
pub const BUCKET: &str = "sitedeck-probe";

/// The lab's S3 access key.
pub const ACCESS_KEY: &str = "sitedeck-lab";

/// A running moto S3 server with the probe bucket.
#[derive(Debug)]
pub struct S3Server {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The access key to sign with.
    pub access_key: String,
    /// The secret key to sign with.
    pub secret_key: String,
    /// The bucket that exists from the start, `sitedeck-probe`.
    pub bucket: String,
    /// The server's directory (log).
    pub dir: PathBuf,
    process: ManagedProcess,
}

impl S3Server {
    /// Starts `moto_server` in `dir` and creates the probe bucket.
    pub fn start(dir: &Path) -> Result<Self> {
        let moto = find_program(&["moto_server"])
            .context("moto is not installed (pip install 'moto[server]')")?;
        std::fs::create_dir_all(dir)?;
        let port = crate::free_port()?;
        let log = Self::log_file(dir);
        let mut command = Command::new(moto);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir)
            // Python buffers a log file; the log should show what happened.
            .env("PYTHONUNBUFFERED", "1");
        let mut process = ManagedProcess::spawn("moto_server", command, &log)?;
        wait_until(&mut process, Duration::from_secs(60), "moto", || {
            http_request(port, "GET", "/").is_ok()
        })
        .with_context(|| format!("see {}", log.display()))?;
        let server = Self {
            port,
            access_key: ACCESS_KEY.to_owned(),
            secret_key: crate::lab_secret("s3"),
            bucket: BUCKET.to_owned(),
            dir: dir.to_path_buf(),
            process,
        };
        let (status, body) = server.request("PUT", &format!("/{BUCKET}"))?;
        if status != 200 {
            bail!("moto refused to create the bucket {BUCKET}: {status} {body}");
        }
        Ok(server)
    }

    /// The server's log file when it runs in `dir`.
    pub fn log_file(dir: &Path) -> PathBuf {
        dir.join("moto.log")
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends an unsigned request with an empty body (moto takes it), e.g.
    /// `("HEAD", "/sitedeck-probe")`; returns the status and the body.
    pub fn request(&self, method: &str, path: &str) -> Result<(u16, String)> {
        http_request(self.port, method, path)
    }

    /// Stops the server now.
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(10));
    }
}

/// One HTTP/1.1 request over a fresh connection, read to its end.
fn http_request(port: u16, method: &str, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {response:.80}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Ok((status, body))
}
