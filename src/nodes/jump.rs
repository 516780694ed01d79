//! Sessions to nodes reached only from a bastion, as `ssh -J` does: the
//! bastion's session opens a `direct-tcpip` channel to the node
//! ([`Tunnel::connect`]), and the node's own session, with its own host
//! key check and login, runs over it.

use std::time::Duration;

use ssh2::Session;

use super::ssh::{KnownHosts, SshAuth, SshError, SshTarget, open};
use super::tunnel::Tunnel;

/// Opens a session to `target` through `tunnel` (a session to the
/// bastion). Blocking.
pub fn connect_via(
    tunnel: &Tunnel,
    target: &SshTarget,
    auth: &SshAuth,
    known: &KnownHosts,
    timeout: Duration,
) -> Result<Session, SshError> {
    let stream =
        tunnel
            .connect(&target.host, target.port)
            .map_err(|why| SshError::Unreachable {
                target: target.to_string(),
                why,
            })?;
    open(stream, target, auth, known, timeout)
}
