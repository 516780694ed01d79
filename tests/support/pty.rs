//! A process in a pseudo-terminal, its screen emulated by vt100.
//!
//! `Tui::start` runs a program (normally the `sitedeck` binary) in a pty of
//! a given size with its configuration and state in a directory of the
//! caller's (never `$HOME`). A reader thread feeds everything the process
//! writes into a `vt100::Parser`, so tests can send keys, wait for text and
//! look at the screen (alternate screen, cursor visibility…) exactly as a
//! terminal would show it. Dropping a `Tui` kills the process.
//!
//! Shared by the end-to-end tests (`tests/support/mod.rs`) and the startup
//! bench (`#[path]`), so not every helper is used by every crate.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, ExitStatus, MasterPty, PtySize, native_pty_system};

/// Keys as the terminal sends them.
pub mod keys {
    /// Escape (send it alone, then wait for its effect: a byte right after
    /// it would make an alt-chord).
    pub const ESC: &str = "\x1b";
    /// Enter.
    pub const ENTER: &str = "\r";
    /// Tab.
    pub const TAB: &str = "\t";
}

/// The `sitedeck` binary cargo built for this test or bench crate.
pub fn sitedeck() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sitedeck"))
}

/// Answers the queries a real terminal answers (ratatui's `Terminal::clear`
/// asks for the cursor position, and crossterm fails after 2 s without an
/// answer), and counts them.
#[derive(Default)]
struct Answers {
    /// Bytes to send back to the process.
    pending: Vec<u8>,
    /// Cursor position reports asked for (`CSI 6 n`).
    cursor_queries: u64,
    /// Other queries answered (`CSI 5 n`, `CSI c`).
    other_queries: u64,
}

impl vt100::Callbacks for Answers {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied();
        match (i1, c, first) {
            (None, 'n', Some(6)) => {
                let (row, col) = screen.cursor_position();
                self.pending
                    .extend_from_slice(format!("\x1b[{};{}R", row + 1, col + 1).as_bytes());
                self.cursor_queries += 1;
            }
            (None, 'n', Some(5)) => {
                self.pending.extend_from_slice(b"\x1b[0n");
                self.other_queries += 1;
            }
            (None, 'c', None | Some(0)) => {
                self.pending.extend_from_slice(b"\x1b[?62;22c");
                self.other_queries += 1;
            }
            _ => {}
        }
    }
}

type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

/// What the reader thread shares with the test.
struct Output {
    parser: vt100::Parser<Answers>,
    /// Bytes received from the process so far.
    bytes: u64,
    /// When the last bytes arrived.
    last_output: Option<Instant>,
    /// The process closed the terminal (it exited).
    eof: bool,
}

type Shared = Arc<(Mutex<Output>, Condvar)>;

/// A program running in a pseudo-terminal.
pub struct Tui {
    shared: Shared,
    writer: Writer,
    child: Box<dyn Child + Send + Sync>,
    // Kept so the terminal stays open (and could be resized).
    _master: Box<dyn MasterPty + Send>,
    reader: Option<JoinHandle<()>>,
    pid: u32,
    spawned_at: Instant,
    status: Option<ExitStatus>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Output> {
    // A panicking test thread must not hide the screen from the others.
    shared.0.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tui {
    /// Starts the `sitedeck` binary with `args` in a `cols`x`rows` terminal,
    /// with its config in `home/config` and its state in `home/state`.
    pub fn start<I, S>(home: &Path, args: I, cols: u16, rows: u16) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Self::start_program(&sitedeck(), home, args, cols, rows)
    }

    /// Starts `program` the same way.
    pub fn start_program<I, S>(program: &Path, home: &Path, args: I, cols: u16, rows: u16) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let size = PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system()
            .openpty(size)
            .expect("cannot open a pseudo-terminal");
        let config = home.join("config");
        let state = home.join("state");
        std::fs::create_dir_all(&config).expect("cannot create the config dir");
        std::fs::create_dir_all(&state).expect("cannot create the state dir");
        let mut command = CommandBuilder::new(program);
        command.args(args);
        command.cwd(home);
        command.env("SITEDECK_CONFIG_DIR", &config);
        command.env("SITEDECK_STATE_DIR", &state);
        command.env("HOME", home);
        command.env("TERM", "xterm-256color");
        command.env_remove("NO_COLOR");
        command.env_remove("RUST_LOG");
        let shared: Shared = Arc::new((
            Mutex::new(Output {
                parser: vt100::Parser::new_with_callbacks(
                    NonZeroU16::new(rows).expect("rows > 0"),
                    NonZeroU16::new(cols).expect("cols > 0"),
                    0,
                    Answers::default(),
                ),
                bytes: 0,
                last_output: None,
                eof: false,
            }),
            Condvar::new(),
        ));
        let mut reader = pair
            .master
            .try_clone_reader()
            .expect("cannot read the pseudo-terminal");
        let writer: Writer = Arc::new(Mutex::new(
            pair.master
                .take_writer()
                .expect("cannot write the pseudo-terminal"),
        ));
        let spawned_at = Instant::now();
        let child = pair
            .slave
            .spawn_command(command)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        // Only the child holds the terminal's slave side now, so the reader
        // sees the end of output when the child exits.
        drop(pair.slave);
        let pid = child.process_id().expect("the child has a pid");
        let for_reader = Arc::clone(&shared);
        let answer_to = Arc::clone(&writer);
        let reader_thread = std::thread::Builder::new()
            .name(format!("pty-reader-{pid}"))
            .spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) => 0,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        // EIO: every slave descriptor is closed.
                        Err(_) => 0,
                    };
                    let mut out = lock(&for_reader);
                    if n == 0 {
                        out.eof = true;
                        for_reader.1.notify_all();
                        return;
                    }
                    out.parser.process(&buf[..n]);
                    let answers = std::mem::take(&mut out.parser.callbacks_mut().pending);
                    if !answers.is_empty() {
                        let mut w = answer_to.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = w.write_all(&answers).and_then(|()| w.flush());
                    }
                    out.bytes += n as u64;
                    out.last_output = Some(Instant::now());
                    for_reader.1.notify_all();
                }
            })
            .expect("cannot start the pty reader thread");
        Self {
            shared,
            writer,
            child,
            _master: pair.master,
            reader: Some(reader_thread),
            pid,
            spawned_at,
            status: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// When the process was spawned (just before `fork`).
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// Types `keys` (raw bytes, see [`keys`]).
    pub fn send(&self, keys: &str) {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        w.write_all(keys.as_bytes())
            .and_then(|()| w.flush())
            .expect("cannot write to the pseudo-terminal");
    }

    /// How many times the process asked the terminal for the cursor
    /// position (each one a round trip to the terminal, over SSH too).
    pub fn cursor_queries(&self) -> u64 {
        lock(&self.shared).parser.callbacks().cursor_queries
    }

    /// How many other terminal queries (status, device attributes) it made.
    pub fn other_queries(&self) -> u64 {
        lock(&self.shared).parser.callbacks().other_queries
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid).expect("pid fits pid_t");
        // SAFETY: kill has no memory-safety preconditions.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// A copy of the screen as it is now.
    pub fn screen(&self) -> vt100::Screen {
        lock(&self.shared).parser.screen().clone()
    }

    /// The screen's text now.
    pub fn contents(&self) -> String {
        lock(&self.shared).parser.screen().contents()
    }

    /// Bytes received from the process so far.
    pub fn bytes(&self) -> u64 {
        lock(&self.shared).bytes
    }

    /// When output last arrived.
    pub fn last_output(&self) -> Option<Instant> {
        lock(&self.shared).last_output
    }

    /// Waits until the screen shows `text`; returns the screen's text then.
    /// Panics with a dump of the screen on timeout.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait_until(&format!("{text:?} on screen"), timeout, |screen| {
            screen.contents().contains(text)
        })
        .contents()
    }

    /// Waits until the screen no longer shows `text`.
    pub fn wait_gone(&self, text: &str, timeout: Duration) -> String {
        self.wait_until(&format!("{text:?} gone"), timeout, |screen| {
            !screen.contents().contains(text)
        })
        .contents()
    }

    /// Waits until `ready` holds for the screen, checking after every chunk
    /// of output (so the moment it becomes true is seen within
    /// microseconds); returns the screen then. Panics with `what` and a
    /// dump of the screen on timeout, or if the process exits first.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut(&vt100::Screen) -> bool,
    ) -> vt100::Screen {
        match self.try_wait_until(timeout, &mut ready) {
            Ok(screen) => screen,
            Err(screen) => panic!(
                "timed out after {timeout:?} waiting for {what}; the screen:\n{}",
                dump(&screen)
            ),
        }
    }

    /// Like [`Tui::wait_until`], but returns `Err(screen)` on timeout
    /// (boxed) instead of panicking (or as soon as the process has exited and the
    /// condition still does not hold).
    pub fn try_wait_until(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&vt100::Screen) -> bool,
    ) -> Result<vt100::Screen, Box<vt100::Screen>> {
        let deadline = Instant::now() + timeout;
        let mut out = lock(&self.shared);
        loop {
            if ready(out.parser.screen()) {
                return Ok(out.parser.screen().clone());
            }
            let now = Instant::now();
            if now >= deadline || out.eof {
                return Err(Box::new(out.parser.screen().clone()));
            }
            let wait = (deadline - now).min(Duration::from_millis(100));
            out = self
                .shared
                .1
                .wait_timeout(out, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// Quits with `q`, answering `y` when sitedeck asks because background
    /// jobs (a probe round) still run, and waits for the exit.
    pub fn quit(&mut self, timeout: Duration) -> ExitStatus {
        self.send("q");
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.running() && Instant::now() < deadline {
            if self.contents().contains("Quit anyway?") {
                self.send("y");
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_exit(timeout)
    }

    /// Waits for the process to exit and for its last output to be read;
    /// panics with the screen on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.running() {
            if Instant::now() >= deadline {
                panic!(
                    "the process (pid {}) did not exit within {timeout:?}; the screen:\n{}",
                    self.pid,
                    dump(&self.screen())
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut out = lock(&self.shared);
        let until = Instant::now() + left.max(Duration::from_secs(2));
        while !out.eof {
            let now = Instant::now();
            assert!(
                now < until,
                "the process exited but its terminal output never ended"
            );
            out = self
                .shared
                .1
                .wait_timeout(out, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(out);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.status.clone().expect("the exit status was recorded")
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        if self.running() {
            // SIGHUP, then SIGKILL after a short grace period.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The reader ends at EOF; do not hang a failing test on it.
        if let Some(reader) = self.reader.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !reader.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}

/// The screen with row numbers and its modes, for failure messages.
pub fn dump(screen: &vt100::Screen) -> String {
    let (rows, cols) = (screen.size().0.get(), screen.size().1.get());
    let mut text = format!(
        "--- {cols}x{rows}, alternate screen {}, cursor {} ---\n",
        screen.alternate_screen(),
        if screen.hide_cursor() {
            "hidden"
        } else {
            "shown"
        }
    );
    for (i, row) in screen.rows(0, cols).enumerate() {
        text.push_str(&format!("{i:>3}|{}\n", row.trim_end()));
    }
    text.push_str("---");
    text
}

/// The text of row `row` (0-based) of the screen.
pub fn row(screen: &vt100::Screen, row: u16) -> String {
    screen
        .rows(0, screen.size().1.get())
        .nth(usize::from(row))
        .unwrap_or_default()
}

/// The last row: the status bar.
pub fn last_row(screen: &vt100::Screen) -> String {
    row(screen, screen.size().0.get().saturating_sub(1))
}
