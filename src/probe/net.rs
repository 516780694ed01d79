//! Plain network probes: TCP connect, SSH banner.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt};
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
    // RFC 4253 4.2: at most 255 bytes a line; other lines may come first.
    let mut reader = tokio::io::BufReader::new(stream).take(4096);
    let mut line = Vec::new();
    for _ in 0..5 {
        line.clear();
        let read = tokio::time::timeout(timeout, reader.read_until(b'\n', &mut line))
            .await
            .map_err(|_| {
                ProbeFailure::new(
                    ProbeState::Timeout,
                    format!("{endpoint} accepted the connection but sent no SSH banner"),
                )
            })?
            .map_err(|e| ProbeFailure::io(&e, endpoint))?;
        if read == 0 {
            break;
        }
        if line.starts_with(b"SSH-") {
            let text = String::from_utf8_lossy(&line[..line.len().min(255)]);
            return Ok(text.trim_end().to_owned());
        }
    }
    Err(ProbeFailure::new(
        ProbeState::Error,
        format!("{endpoint} answered, but not as an SSH server"),
    ))
}

/// Connects to every bootstrap server at once: up when all accept, degraded
/// when some do, the first failure when none does.
pub async fn bootstrap(servers: &[&str]) -> Result<(ProbeState, String), ProbeFailure> {
    let results = futures::future::join_all(servers.iter().map(|s| tcp(s))).await;
    tally(results, "accept connections")
}

/// Bootstrap servers' results: up when all succeeded, degraded when some
/// did ("2 of 3 bootstrap servers {did}; why the third failed"), the
/// first failure when none did.
pub fn tally<T>(
    results: Vec<Result<T, ProbeFailure>>,
    did: &str,
) -> Result<(ProbeState, String), ProbeFailure> {
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    let total = results.len();
    let mut failures = results.into_iter().filter_map(Result::err);
    match (succeeded, failures.next()) {
        (0, Some(first)) => Err(first),
        (0, None) => Err(ProbeFailure::config("no bootstrap server configured")),
        (_, None) => Ok((
            ProbeState::Up,
            format!("{total} of {total} bootstrap servers {did}"),
        )),
        (_, Some(first)) => Ok((
            ProbeState::Degraded,
            format!(
                "{succeeded} of {total} bootstrap servers {did}; {}",
                first.message
            ),
        )),
    }
}

/// Each bootstrap server through the site's bastion: its login first (an
/// unknown host key or a refused login is said as such), then a
/// connection the bastion opens to each server. Blocking work runs on
/// the blocking pool.
pub async fn bastion_bootstrap(
    servers: &[&str],
    bastion: Option<&std::sync::Arc<crate::nodes::access::Bastion>>,
) -> Result<(ProbeState, String), ProbeFailure> {
    use crate::nodes::ssh::SshError;
    let Some(bastion) = bastion.cloned() else {
        return Err(ProbeFailure::config(
            "the brokers are reached via bastion, and the profile has no ssh.bastion",
        ));
    };
    let servers: Vec<String> = servers.iter().map(|s| (*s).to_owned()).collect();
    let reached = tokio::task::spawn_blocking(move || {
        let tunnel = bastion.tunnel().map_err(|error| {
            let state = match &error {
                SshError::AuthFailed { .. } => ProbeState::AuthFailed,
                SshError::Unreachable { why, .. } if why.contains("refused") => ProbeState::Refused,
                SshError::Unreachable { why, .. } if why.contains("timed out") => {
                    ProbeState::Timeout
                }
                _ => ProbeState::Error,
            };
            ProbeFailure::new(state, crate::nodes::access::explain(&error))
        })?;
        Ok::<_, ProbeFailure>(
            servers
                .iter()
                .map(|server| {
                    let (host, port) = crate::config::profile::split_host_port(server)
                        .map_err(ProbeFailure::config)?;
                    tunnel.connect(&host, port).map(drop).map_err(|why| {
                        let state = if why.contains("refused") {
                            ProbeState::Refused
                        } else {
                            ProbeState::Error
                        };
                        ProbeFailure::new(state, why)
                    })
                })
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map_err(|e| ProbeFailure::new(ProbeState::Error, format!("the bastion check ended: {e}")))??;
    tally(reached, "reached through the bastion")
}
