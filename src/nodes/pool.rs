//! One SSH session per node, kept between surveys and commands: a login
//! (and the bastion hop) costs several round trips and a key exchange,
//! which is most of a survey's time over a slow link. A session is lent
//! to one user at a time ([`Lease`]); a second user of the same node at
//! the same moment gets a session of its own, so a long command never
//! holds up a survey. Idle sessions get a keepalive every
//! [`KEEPALIVE`] and are closed after [`IDLE_LIMIT`]; one that fails is
//! dropped, and its user may ask again for a fresh one.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::access::SshAccess;
use super::ssh::{KnownHosts, SshAuth, SshError, SshTarget};

/// How often idle sessions are kept alive (sshd's ClientAliveInterval and
/// NAT tables forget quiet connections).
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// How long an unused session is kept.
pub const IDLE_LIMIT: Duration = Duration::from_secs(300);

/// What makes two sessions the same: the node, the login, the host keys
/// trusted and the bastion hop.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    target: SshTarget,
    auth: SshAuth,
    known: KnownHosts,
    bastion: Option<(SshTarget, SshAuth)>,
}

impl Key {
    fn of(access: &SshAccess, target: &SshTarget) -> Self {
        Self {
            target: target.clone(),
            auth: access.auth.clone(),
            known: access.known.clone(),
            bastion: access.bastion.clone(),
        }
    }
}

/// An idle session.
struct Idle {
    key: Key,
    session: ssh2::Session,
    since: Instant,
}

/// The process's idle sessions.
static IDLE: Mutex<Vec<Idle>> = Mutex::new(Vec::new());

fn idle() -> MutexGuard<'static, Vec<Idle>> {
    IDLE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session lent out; it goes back to the pool when dropped, unless it
/// was marked [`Lease::broken`].
pub struct Lease {
    key: Key,
    session: ssh2::Session,
    reused: bool,
    keep: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("target", &self.key.target)
            .field("reused", &self.reused)
            .finish()
    }
}

impl Lease {
    /// The session.
    pub fn session(&self) -> &ssh2::Session {
        &self.session
    }

    /// Whether it was kept from an earlier use (and may have died since).
    pub fn reused(&self) -> bool {
        self.reused
    }

    /// Drops the session instead of keeping it: it failed.
    pub fn broken(mut self) {
        self.keep = false;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.keep {
            return;
        }
        let mut idle = idle();
        // One idle session per node is enough.
        if !idle.iter().any(|i| i.key == self.key) {
            idle.push(Idle {
                key: self.key.clone(),
                session: self.session.clone(),
                since: Instant::now(),
            });
        }
    }
}

/// A session to `target` (through the bastion when `access` has one): an
/// idle one kept from before, or a new login. Blocking. `timeout` bounds
/// each blocking call on it from now on.
pub fn lease(access: &SshAccess, target: &SshTarget, timeout: Duration) -> Result<Lease, SshError> {
    start_keepalive();
    let key = Key::of(access, target);
    let kept = {
        let mut idle = idle();
        idle.iter()
            .position(|i| i.key == key)
            .map(|at| idle.swap_remove(at).session)
    };
    match kept {
        Some(session) => Ok(Lease::of(key, session, true, timeout)),
        None => fresh(access, target, timeout),
    }
}

/// A new login to `target`, kept for later like any lease. Blocking.
pub fn fresh(access: &SshAccess, target: &SshTarget, timeout: Duration) -> Result<Lease, SshError> {
    let session = super::survey::session(access, target, timeout)?;
    Ok(Lease::of(Key::of(access, target), session, false, timeout))
}

impl Lease {
    fn of(key: Key, session: ssh2::Session, reused: bool, timeout: Duration) -> Self {
        session.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
        Self {
            key,
            session,
            reused,
            keep: true,
        }
    }
}

/// How many sessions are idle now (for tests and the benchmark).
pub fn idle_count() -> usize {
    idle().len()
}

/// Closes every idle session.
pub fn close_all() {
    idle().clear();
}

/// Starts the thread that keeps idle sessions alive and closes old ones,
/// once per process.
fn start_keepalive() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let started = std::thread::Builder::new()
            .name("ssh-keepalive".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(KEEPALIVE);
                    keep_alive_now();
                }
            });
        if let Err(e) = started {
            tracing::warn!("no keepalive for kept SSH sessions: {e}");
        }
    });
}

/// One keepalive round, as the keepalive thread runs every [`KEEPALIVE`]:
/// idle sessions past [`IDLE_LIMIT`] are closed, the others sent a
/// keepalive (outside the lock: a slow link holds up no lease); those that
/// fail, or whose node closed the connection, are dropped.
pub fn keep_alive_now() {
    let mut round: Vec<Idle> = {
        let mut idle = idle();
        idle.retain(|i| i.since.elapsed() < IDLE_LIMIT);
        idle.drain(..).collect()
    };
    round.retain(|i| {
        i.session.set_timeout(5_000);
        // An interval only for this send: left set, it would cut short
        // the blocking waits of the session's next user (see ssh::open).
        i.session.set_keepalive(false, 1);
        let sent = i.session.keepalive_send().is_ok();
        i.session.set_keepalive(false, 0);
        sent && !peer_closed(&i.session)
    });
    let mut idle = idle();
    for kept in round {
        if !idle.iter().any(|i| i.key == kept.key) {
            idle.push(kept);
        }
    }
}

/// Whether the node closed the session's connection (sshd's
/// ClientAliveInterval, a restart): its socket reads as ended or broken.
/// Looks without reading, so libssh2 still sees what is pending.
fn peer_closed(session: &ssh2::Session) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: one byte of writable memory; MSG_PEEK leaves the data, and
    // MSG_DONTWAIT never blocks.
    let read = unsafe {
        libc::recv(
            session.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match read {
        0 => true,
        1.. => false,
        _ => std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock,
    }
}
