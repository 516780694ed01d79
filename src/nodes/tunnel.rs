//! TCP connections through the bastion, as `ssh -J` and `ssh -L` make
//! them: one SSH session to the bastion carries any number of
//! connections, each a `direct-tcpip` channel to a host and port the
//! bastion reaches (and resolves).
//!
//! libssh2 wants a socket under every session and is not safe to drive
//! from several threads at once, so one thread (the carrier) owns the
//! bastion's session in non-blocking mode. It waits in poll(2) on the
//! session's socket and on the local ends, copies bytes both ways, and
//! sends the session's keepalives. A connection is handed to callers as
//! one end of a socket pair ([`Tunnel::connect`]: a node's own session
//! runs over it) or as a listener on 127.0.0.1 ([`Tunnel::listen`]: for
//! clients such as librdkafka or the kube client that dial an address).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssh2::ErrorCode;

use super::ssh::{KnownHosts, SshAuth, SshError, SshTarget, connect};

mod carrier;

use carrier::Carrier;

/// Seconds between keepalives on an idle bastion session.
const KEEPALIVE_SECONDS: u32 = 15;

/// How long the far side has to close after our side's EOF.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long to leave unread bytes on the bastion's socket alone.
const UNREAD_BACKOFF: Duration = Duration::from_millis(200);

/// libssh2's "would block".
const EAGAIN: ErrorCode = ErrorCode::Session(-37);

/// What a local end is: a socket the carrier reads and writes.
trait LocalEnd: Read + Write + AsRawFd + Send {}
impl<T: Read + Write + AsRawFd + Send> LocalEnd for T {}

/// A request to the carrier.
enum Request {
    /// Opens a channel to `host:port` and carries `local` over it; says
    /// on `opened` whether the channel opened.
    Carry {
        host: String,
        port: u16,
        local: Box<dyn LocalEnd>,
        opened: Option<Sender<Result<(), String>>>,
    },
    /// Carries every connection accepted on `listener` to `host:port`.
    Listen {
        listener: TcpListener,
        host: String,
        port: u16,
    },
}

/// What the handle and the carrier share.
#[derive(Default)]
struct Shared {
    /// Why the session ended, once it has.
    ended: Option<String>,
    /// Why the bastion could not open a connection to each `host:port`
    /// (for listeners, whose callers only see a closed connection); gone
    /// once one opens.
    failures: HashMap<(String, u16), String>,
}

/// A session to the bastion that carries connections; it ends when this
/// handle is dropped and its last connection has closed.
pub struct Tunnel {
    bastion: String,
    requests: Sender<Request>,
    /// A byte written here wakes the carrier from poll(2).
    wake: UnixStream,
    shared: Arc<Mutex<Shared>>,
    /// `host:port` → the listener that reaches it.
    listening: Mutex<HashMap<(String, u16), SocketAddr>>,
    /// How long the bastion may take to open one connection.
    timeout: Duration,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tunnel({})", self.bastion)
    }
}

impl Tunnel {
    /// Logs into `bastion` (its host key checked as any node's) and
    /// starts the carrier. Blocking.
    pub fn open(
        bastion: &SshTarget,
        auth: &SshAuth,
        known: &KnownHosts,
        timeout: Duration,
    ) -> Result<Self, SshError> {
        let session = connect(bastion, auth, known, timeout)?;
        let failed = |why: String| SshError::Failed {
            target: bastion.to_string(),
            why,
        };
        let (wake, woken) = UnixStream::pair()
            .map_err(|e| failed(format!("no socket pair for the tunnel: {e}")))?;
        woken
            .set_nonblocking(true)
            .map_err(|e| failed(format!("the tunnel's socket: {e}")))?;
        let (requests, received) = mpsc::channel();
        let shared = Arc::new(Mutex::new(Shared::default()));
        // No reply asked: with no connection open, nothing would read it.
        session.set_keepalive(false, KEEPALIVE_SECONDS);
        session.set_blocking(false);
        let carrier = Carrier::new(
            session,
            received,
            woken,
            Arc::clone(&shared),
            timeout,
            bastion.to_string(),
        );
        std::thread::Builder::new()
            .name(format!("ssh tunnel {}", bastion.host))
            .spawn(move || carrier.run())
            .map_err(|e| failed(format!("no thread for the tunnel: {e}")))?;
        Ok(Self {
            bastion: bastion.to_string(),
            requests,
            wake,
            shared,
            listening: Mutex::default(),
            timeout,
        })
    }

    /// Why the bastion's session ended, if it has: a tunnel that ended
    /// carries nothing more, so make a new one.
    pub fn ended(&self) -> Option<String> {
        self.shared.lock().ok().and_then(|s| s.ended.clone())
    }

    /// Why the bastion could not open the last connection to
    /// `host:port`, unless one opened since.
    pub fn failure_to(&self, host: &str, port: u16) -> Option<String> {
        let shared = self.shared.lock().ok()?;
        shared.failures.get(&(host.to_owned(), port)).cloned()
    }

    /// A connection to `host:port` from the bastion, as one end of a
    /// socket pair. Blocking, up to the tunnel's timeout.
    pub fn connect(&self, host: &str, port: u16) -> Result<UnixStream, String> {
        let (near, far) =
            UnixStream::pair().map_err(|e| format!("no socket pair for the tunnel: {e}"))?;
        far.set_nonblocking(true)
            .map_err(|e| format!("the tunnel's socket: {e}"))?;
        let (opened, answer) = mpsc::channel();
        self.send(Request::Carry {
            host: host.to_owned(),
            port,
            local: Box::new(far),
            opened: Some(opened),
        })?;
        // The carrier answers within the timeout; a little more for it to
        // get there.
        match answer.recv_timeout(self.timeout + Duration::from_secs(1)) {
            Ok(Ok(())) => Ok(near),
            Ok(Err(why)) => Err(why),
            Err(_) => Err(self
                .ended()
                .unwrap_or_else(|| format!("the bastion {} did not answer in time", self.bastion))),
        }
    }

    /// Carries `stream` (accepted by the caller) to `host:port` from the
    /// bastion; a failure closes it, and [`Self::failure_to`] says why.
    pub fn carry(&self, host: &str, port: u16, stream: std::net::TcpStream) -> Result<(), String> {
        stream
            .set_nonblocking(true)
            .map_err(|e| format!("the connection's socket: {e}"))?;
        let _ = stream.set_nodelay(true);
        self.send(Request::Carry {
            host: host.to_owned(),
            port,
            local: Box::new(stream),
            opened: None,
        })
    }

    /// A listener on 127.0.0.1 whose every connection goes to `host:port`
    /// from the bastion; the same one for the same `host:port`.
    pub fn listen(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let mut listening = self
            .listening
            .lock()
            .map_err(|_| "the tunnel's listeners are poisoned".to_owned())?;
        let key = (host.to_owned(), port);
        if let Some(address) = listening.get(&key) {
            return Ok(*address);
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
        self.send(Request::Listen {
            listener,
            host: host.to_owned(),
            port,
        })?;
        listening.insert(key, address);
        Ok(address)
    }

    fn send(&self, request: Request) -> Result<(), String> {
        if let Some(why) = self.ended() {
            return Err(why);
        }
        self.requests
            .send(request)
            .map_err(|_| format!("the tunnel through {} has ended", self.bastion))?;
        // A full socket means a wake-up is already pending.
        let _ = (&self.wake).write(&[1]);
        Ok(())
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // The carrier sees the requests end once it wakes.
        let _ = (&self.wake).write(&[0]);
    }
}
