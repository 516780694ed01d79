//! Plain network probes: TCP connect, SSH banner.

use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;

use super::{ProbeFailure, ProbeState};
use crate::config::profile::split_host_port;

/// Resolves and connects, telling DNS failures from refusals.
pub async fn tcp(endpoint: &str) -> Result<TcpStream, ProbeFailure> {
    let (host, port) = split_host_port(endpoint).map_err(ProbeFailure::config)?;
    let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| {
            ProbeFailure::new(ProbeState::DnsError, format!("cannot resolve {host}: {e}"))
        })?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(ProbeFailure::io(&e, endpoint)),
        }
    }
    Err(last.unwrap_or_else(|| {
        ProbeFailure::new(ProbeState::DnsError, format!("{host} has no address"))
    }))
}

/// Connects and reads the SSH server's identification line.
pub async fn ssh_banner(endpoint: &str, timeout: Duration) -> Result<String, ProbeFailure> {
    let stream = tcp(endpoint).await?;
    let mut reader = tokio::io::BufReader::new(stream);
    let mut line = String::new();
    // A server may send other lines before its identification (RFC 4253 4.2).
    for _ in 0..5 {
        line.clear();
        let read = tokio::time::timeout(timeout, reader.read_line(&mut line))
            .await
            .map_err(|_| ProbeFailure::timeout(timeout))?
            .map_err(|e| ProbeFailure::io(&e, endpoint))?;
        if read == 0 {
            break;
        }
        if line.starts_with("SSH-") {
            return Ok(line.trim_end().to_owned());
        }
    }
    Err(ProbeFailure::new(
        ProbeState::Error,
        format!("{endpoint} answered, but not as an SSH server"),
    ))
}

/// Connects to the first of several endpoints that answers.
pub async fn any_of<'a>(endpoints: impl Iterator<Item = &'a str>) -> Result<String, ProbeFailure> {
    let mut last = ProbeFailure::config("no endpoint configured");
    for endpoint in endpoints {
        match tcp(endpoint).await {
            Ok(_) => return Ok(format!("{endpoint} accepts connections")),
            Err(e) => last = e,
        }
    }
    Err(last)
}
