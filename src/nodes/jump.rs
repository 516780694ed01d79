//! Sessions to nodes reached only from a bastion, as `ssh -J` does: a
//! session to the bastion opens a `direct-tcpip` channel to the node, and
//! the node's own session (with its own host key check and login) runs
//! over that channel.
//!
//! libssh2 needs a socket under a session, so a thread carries the bytes
//! between the channel and one end of a socket pair; the node's session
//! takes the other end. The bastion's session is this jump's alone (its
//! non-blocking mode would disturb other users of it), and ends with it.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ssh2::Session;

use super::ssh::{KnownHosts, SshAuth, SshError, SshTarget, connect, open};

/// How long the carrier sleeps when neither side has anything.
const IDLE: Duration = Duration::from_millis(2);

/// Opens a session to `target` through `bastion` (checked and logged into
/// first, as any node). Blocking.
pub fn connect_via(
    bastion: (&SshTarget, &SshAuth),
    target: &SshTarget,
    auth: &SshAuth,
    known: &KnownHosts,
    timeout: Duration,
) -> Result<Session, SshError> {
    let (bastion_target, bastion_auth) = bastion;
    let hop = connect(bastion_target, bastion_auth, known, timeout)?;
    let channel = hop
        .channel_direct_tcpip(&target.host, target.port, None)
        .map_err(|e| SshError::Unreachable {
            target: target.to_string(),
            why: format!("the bastion {bastion_target} could not connect to it ({e})"),
        })?;
    let failed = |why: String| SshError::Failed {
        target: target.to_string(),
        why,
    };
    let (near, far) =
        UnixStream::pair().map_err(|e| failed(format!("no socket pair for the jump: {e}")))?;
    far.set_nonblocking(true)
        .map_err(|e| failed(format!("the jump's socket: {e}")))?;
    hop.set_blocking(false);
    std::thread::Builder::new()
        .name(format!("ssh jump to {}", target.host))
        .spawn(move || carry(&hop, channel, far))
        .map_err(|e| failed(format!("no thread for the jump: {e}")))?;
    open(near, target, auth, known, timeout)
}

/// Carries bytes between the bastion's channel and the socket until
/// either side closes.
fn carry(hop: &Session, mut channel: ssh2::Channel, mut socket: UnixStream) {
    let mut buffer = vec![0u8; 32 * 1024];
    let mut to_node: Vec<u8> = Vec::new();
    let mut to_us: Vec<u8> = Vec::new();
    loop {
        let mut busy = false;
        if to_us.is_empty() {
            match channel.read(&mut buffer) {
                Ok(0) if channel.eof() => break,
                Ok(read) => {
                    to_us.extend_from_slice(buffer.get(..read).unwrap_or_default());
                    busy |= read > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !to_us.is_empty() {
            match socket.write(&to_us) {
                Ok(written) => {
                    to_us.drain(..written);
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if to_node.is_empty() {
            match socket.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => {
                    to_node.extend_from_slice(buffer.get(..read).unwrap_or_default());
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !to_node.is_empty() {
            match channel.write(&to_node) {
                Ok(written) => {
                    to_node.drain(..written);
                    busy |= written > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !busy {
            std::thread::sleep(IDLE);
        }
    }
    let _ = channel.close();
    let _ = hop.disconnect(None, "the jump ended", None);
}
