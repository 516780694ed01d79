//! The carrier: the one thread that owns the bastion's session, waits in
//! poll(2) on it and on the local ends, opens channels, copies bytes both
//! ways and sends keepalives.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, Channel, Session};

use super::{CLOSE_GRACE, EAGAIN, KEEPALIVE_SECONDS, LocalEnd, Request, Shared, UNREAD_BACKOFF};

/// A connection being opened: the bastion opens one at a time (libssh2
/// keeps one channel-open state per session).
struct Opening {
    host: String,
    port: u16,
    local: Box<dyn LocalEnd>,
    opened: Option<Sender<Result<(), String>>>,
    /// When the bastion was first asked to open it.
    started: Option<Instant>,
}

/// One connection carried: a channel and its local end.
struct Pipe {
    channel: Channel,
    local: Box<dyn LocalEnd>,
    /// Read from the channel, not yet written locally.
    to_local: Vec<u8>,
    /// Read locally, not yet written to the channel.
    to_remote: Vec<u8>,
    local_eof: bool,
    eof_sent: bool,
    remote_eof: bool,
    /// When our side's EOF went out: the far side has [`CLOSE_GRACE`] to
    /// finish, then the pipe is closed (a hung host never closes).
    eof_sent_at: Option<Instant>,
}

/// What one step of a pipe did.
#[derive(PartialEq, Eq)]
enum Step {
    Idle,
    Moved,
    Closed,
}

impl Pipe {
    /// Moves what can be moved without blocking.
    fn step(&mut self, buffer: &mut [u8]) -> Step {
        match self.try_step(buffer) {
            Ok(true) => Step::Moved,
            Ok(false) if self.finished() => Step::Closed,
            Ok(false) => Step::Idle,
            Err(()) => Step::Closed,
        }
    }

    fn finished(&self) -> bool {
        // The far side closed and all it sent was delivered: the local end
        // is closed too (the far side no longer reads what comes after).
        (self.remote_eof && self.to_local.is_empty())
            || self
                .eof_sent_at
                .is_some_and(|at| at.elapsed() >= CLOSE_GRACE)
    }

    /// Whether libssh2 holds data (or the EOF) for this pipe that it read
    /// off the socket during another pipe's call: the socket will not say.
    fn buffered(&self) -> bool {
        self.to_local.is_empty()
            && !self.remote_eof
            && (self.channel.read_window().available > 0 || self.channel.eof())
    }

    fn try_step(&mut self, buffer: &mut [u8]) -> Result<bool, ()> {
        let mut moved = false;
        if self.to_local.is_empty() && !self.remote_eof {
            match self.channel.read(buffer) {
                Ok(0) => {
                    if self.channel.eof() {
                        self.remote_eof = true;
                        moved = true;
                    }
                }
                Ok(read) => {
                    self.to_local
                        .extend_from_slice(buffer.get(..read).unwrap_or_default());
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return Err(()),
            }
        }
        if !self.to_local.is_empty() {
            match self.local.write(&self.to_local) {
                Ok(written) => {
                    self.to_local.drain(..written);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return Err(()),
            }
        }
        if self.to_remote.is_empty() && !self.local_eof {
            match self.local.read(buffer) {
                Ok(0) => {
                    self.local_eof = true;
                    moved = true;
                }
                Ok(read) => {
                    self.to_remote
                        .extend_from_slice(buffer.get(..read).unwrap_or_default());
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return Err(()),
            }
        }
        if !self.to_remote.is_empty() {
            match self.channel.write(&self.to_remote) {
                Ok(written) => {
                    self.to_remote.drain(..written);
                    moved |= written > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return Err(()),
            }
        }
        if self.local_eof && self.to_remote.is_empty() && !self.eof_sent {
            match self.channel.send_eof() {
                Ok(()) => {
                    self.eof_sent = true;
                    self.eof_sent_at = Some(Instant::now());
                    moved = true;
                }
                Err(e) if e.code() == EAGAIN => {}
                Err(_) => return Err(()),
            }
        }
        Ok(moved)
    }

    /// What to wait for on the local end.
    fn local_events(&self) -> libc::c_short {
        let mut events = 0;
        if self.to_remote.is_empty() && !self.local_eof {
            events |= libc::POLLIN;
        }
        if !self.to_local.is_empty() {
            events |= libc::POLLOUT;
        }
        events
    }
}

/// The thread that owns the bastion's session.
pub(super) struct Carrier {
    session: Session,
    requests: Receiver<Request>,
    woken: UnixStream,
    shared: Arc<Mutex<Shared>>,
    opening: Vec<Opening>,
    pipes: Vec<Pipe>,
    listeners: Vec<(TcpListener, String, u16)>,
    timeout: Duration,
    bastion: String,
    /// An open timed out: this session opens nothing more.
    opens_stopped: bool,
    /// Channels being closed.
    closing: Vec<Channel>,
}

impl Carrier {
    /// A carrier for `session` (non-blocking), taking `requests`, woken
    /// through `woken`.
    pub(super) fn new(
        session: Session,
        requests: Receiver<Request>,
        woken: UnixStream,
        shared: Arc<Mutex<Shared>>,
        timeout: Duration,
        bastion: String,
    ) -> Self {
        Self {
            session,
            requests,
            woken,
            shared,
            opening: Vec::new(),
            pipes: Vec::new(),
            listeners: Vec::new(),
            timeout,
            bastion,
            opens_stopped: false,
            closing: Vec::new(),
        }
    }

    /// Carries until the session ends or every handle and channel is gone.
    pub(super) fn run(mut self) {
        let mut buffer = vec![0u8; 32 * 1024];
        let mut handle_gone = false;
        let mut next_keepalive = Duration::from_secs(u64::from(KEEPALIVE_SECONDS));
        // The session's socket was ready at the last wait.
        let mut session_ready = false;
        loop {
            if !handle_gone {
                handle_gone = self.take_requests();
            }
            if handle_gone {
                self.listeners.clear();
            }
            let mut moved = self.accept();
            moved |= self.open_next();
            let mut index = 0;
            while let Some(pipe) = self.pipes.get_mut(index) {
                match pipe.step(&mut buffer) {
                    Step::Moved => {
                        moved = true;
                        index += 1;
                    }
                    Step::Idle => index += 1,
                    Step::Closed => {
                        let pipe = self.pipes.swap_remove(index);
                        self.closing.push(pipe.channel);
                        moved = true;
                    }
                }
            }
            // libssh2 frees a channel only once both sides closed it.
            self.closing
                .retain_mut(|channel| matches!(channel.close(), Err(e) if e.code() == EAGAIN));
            match self.session.keepalive_send() {
                Ok(seconds) => next_keepalive = Duration::from_secs(u64::from(seconds.max(1))),
                Err(e) if e.code() == EAGAIN => {}
                Err(e) => {
                    self.end(format!(
                        "the session to the bastion {} ended: {e}",
                        self.bastion
                    ));
                    self.finish();
                    return;
                }
            }
            if handle_gone && self.pipes.is_empty() && self.opening.is_empty() {
                self.finish();
                return;
            }
            if moved || self.pipes.iter().any(Pipe::buffered) {
                continue;
            }
            // Ready, yet no channel took anything: the bastion closed, or
            // it sent what only a channel call would read (libssh2 reads
            // the socket on channel calls alone): look again a little
            // later rather than spin.
            let mut watch_session = true;
            if session_ready {
                match peek(&self.session) {
                    Peeked::Closed(why) => {
                        self.end(format!(
                            "the session to the bastion {} ended: {why}",
                            self.bastion
                        ));
                        self.finish();
                        return;
                    }
                    Peeked::Pending => watch_session = false,
                    Peeked::Nothing => {}
                }
            }
            let longest = if watch_session {
                next_keepalive
            } else {
                next_keepalive.min(UNREAD_BACKOFF)
            };
            session_ready = self.wait(longest, watch_session, !handle_gone);
        }
    }

    /// Closes what is left and the session, waiting a little for each
    /// (libssh2 frees neither a channel nor a session, nor closes its
    /// socket, while the other side has not answered in non-blocking
    /// mode).
    fn finish(&mut self) {
        self.session.set_timeout(2000);
        self.session.set_blocking(true);
        for mut channel in self.closing.drain(..) {
            let _ = channel.close();
        }
        for mut pipe in self.pipes.drain(..) {
            let _ = pipe.channel.close();
        }
        let _ = self.session.disconnect(None, "done", None);
    }

    /// Takes every queued request; true once the handle is gone.
    fn take_requests(&mut self) -> bool {
        let mut drained = [0u8; 64];
        while matches!(self.woken.read(&mut drained), Ok(n) if n > 0) {}
        loop {
            match self.requests.try_recv() {
                Ok(Request::Carry {
                    host,
                    port,
                    local,
                    opened,
                }) => self.opening.push(Opening {
                    host,
                    port,
                    local,
                    opened,
                    started: None,
                }),
                Ok(Request::Listen {
                    listener,
                    host,
                    port,
                }) => self.listeners.push((listener, host, port)),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
    }

    /// Accepts waiting connections on the listeners.
    fn accept(&mut self) -> bool {
        let mut accepted = false;
        for (listener, host, port) in &self.listeners {
            while let Ok((stream, _)) = listener.accept() {
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                self.opening.push(Opening {
                    host: host.clone(),
                    port: *port,
                    local: Box::new(stream) as Box<dyn LocalEnd>,
                    opened: None,
                    started: None,
                });
                accepted = true;
            }
        }
        accepted
    }

    /// Goes on opening the first queued connection.
    fn open_next(&mut self) -> bool {
        if self.opens_stopped {
            let why = self
                .shared
                .lock()
                .ok()
                .and_then(|s| s.ended.clone())
                .unwrap_or_default();
            for opening in self.opening.drain(..) {
                if let Some(opened) = opening.opened {
                    let _ = opened.send(Err(why.clone()));
                }
            }
            return false;
        }
        let Some(first) = self.opening.first_mut() else {
            return false;
        };
        let started = *first.started.get_or_insert_with(Instant::now);
        let result = self
            .session
            .channel_direct_tcpip(&first.host, first.port, None);
        let outcome = match result {
            Err(e) if e.code() == EAGAIN => {
                if started.elapsed() < self.timeout {
                    return false;
                }
                // libssh2 cannot give up an open half-way: this session
                // opens nothing more.
                let why = format!(
                    "the bastion {} did not open a connection to {}:{} within {:.0} s",
                    self.bastion,
                    first.host,
                    first.port,
                    self.timeout.as_secs_f64()
                );
                // Its half-done open would be finished by the next call,
                // whatever that asked for: open nothing more; what is
                // carried goes on.
                self.opens_stopped = true;
                self.listeners.clear();
                self.end(why);
                return true;
            }
            other => other,
        };
        let opening = self.opening.remove(0);
        match outcome {
            Ok(channel) => {
                if let Ok(mut shared) = self.shared.lock() {
                    shared
                        .failures
                        .remove(&(opening.host.clone(), opening.port));
                }
                if let Some(opened) = opening.opened {
                    let _ = opened.send(Ok(()));
                }
                self.pipes.push(Pipe {
                    channel,
                    local: opening.local,
                    to_local: Vec::new(),
                    to_remote: Vec::new(),
                    local_eof: false,
                    eof_sent: false,
                    remote_eof: false,
                    eof_sent_at: None,
                });
            }
            Err(e) => {
                let why = format!(
                    "the bastion {} could not connect to {}:{} ({})",
                    self.bastion,
                    opening.host,
                    opening.port,
                    e.message()
                );
                if let Ok(mut shared) = self.shared.lock() {
                    shared
                        .failures
                        .insert((opening.host.clone(), opening.port), why.clone());
                }
                if let Some(opened) = opening.opened {
                    let _ = opened.send(Err(why));
                }
            }
        }
        true
    }

    /// Records why the session ended and fails what waits on it.
    fn end(&mut self, why: String) {
        if let Ok(mut shared) = self.shared.lock() {
            shared.ended = Some(why.clone());
        }
        for opening in self.opening.drain(..) {
            if let Some(opened) = opening.opened {
                let _ = opened.send(Err(why.clone()));
            }
        }
    }

    /// Sleeps until a socket is ready, a request comes, or `longest`;
    /// true when the session's socket is ready.
    fn wait(&self, longest: Duration, watch_session: bool, watch_requests: bool) -> bool {
        let mut session_events = libc::POLLIN;
        if matches!(
            self.session.block_directions(),
            BlockDirections::Outbound | BlockDirections::Both
        ) {
            session_events |= libc::POLLOUT;
        }
        let mut fds = vec![
            // Once the handle is gone its end is closed: always ready.
            poll_fd(
                if watch_requests {
                    self.woken.as_raw_fd()
                } else {
                    -1
                },
                libc::POLLIN,
            ),
            poll_fd(
                if watch_session {
                    self.session.as_raw_fd()
                } else {
                    -1
                },
                session_events,
            ),
        ];
        fds.extend(
            self.listeners
                .iter()
                .map(|(listener, ..)| poll_fd(listener.as_raw_fd(), libc::POLLIN)),
        );
        fds.extend(self.pipes.iter().map(|pipe| match pipe.local_events() {
            // A closed local end is always ready: not watched.
            0 => poll_fd(-1, 0),
            events => poll_fd(pipe.local.as_raw_fd(), events),
        }));
        // An open in progress is re-tried at least every 50 ms, and a
        // closing pipe looked at twice a second, so their deadlines are
        // kept.
        let longest = if !self.opening.is_empty() {
            longest.min(Duration::from_millis(50))
        } else if self.pipes.iter().any(|p| p.eof_sent_at.is_some()) {
            longest.min(Duration::from_millis(500))
        } else {
            longest
        };
        let millis = i32::try_from(longest.as_millis()).unwrap_or(i32::MAX);
        let count = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `fds` is a live, initialised array of `count` pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), count, millis) };
        fds.get(1).is_some_and(|session| session.revents != 0)
    }
}

fn poll_fd(fd: std::os::fd::RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// What the bastion's socket holds.
enum Peeked {
    /// Nothing to read.
    Nothing,
    /// Bytes no channel call has read yet.
    Pending,
    /// The bastion closed the connection, or it broke.
    Closed(String),
}

/// Looks at the session's socket without reading.
fn peek(session: &Session) -> Peeked {
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
        0 => Peeked::Closed("the bastion closed the connection".into()),
        1.. => Peeked::Pending,
        _ => {
            let error = std::io::Error::last_os_error();
            if error.kind() == ErrorKind::WouldBlock {
                Peeked::Nothing
            } else {
                Peeked::Closed(error.to_string())
            }
        }
    }
}
