//! The blocking side of a journal read: journalctl run on one channel of a
//! non-blocking session, its stdout cut into lines as they come, its
//! stderr watched for the errors that say what to do, and the channel and
//! the connection closed as soon as nobody wants the lines.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::lines::NO_ENTRIES;
use super::{JournalError, JournalLine, JournalRequest, OnNotice, POLL, line_of};
use crate::logs::buffer::LogLine;

/// The longest line kept whole; a longer one is cut there (the rest is
/// read and dropped).
const LINE_LIMIT: usize = 1024 * 1024;

/// The most of stderr kept: enough for journalctl's words.
const STDERR_LIMIT: usize = 16 * 1024;

/// How long closing the channel may take once the lines are not wanted.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a read is.
struct Reading<'a> {
    request: &'a JournalRequest,
    user: &'a str,
    node: Arc<str>,
    unit: Arc<str>,
    lines: &'a mpsc::Sender<LogLine>,
    on_notice: &'a OnNotice,
    /// stdout not yet cut into lines.
    pending: Vec<u8>,
    /// The current line passed [`LINE_LIMIT`]: the rest of it is dropped.
    cutting: bool,
    stderr: Vec<u8>,
    sent: usize,
    no_entries: bool,
    last_at: Option<DateTime<Utc>>,
}

/// Why reading stopped before journalctl ended.
enum Stop {
    /// The receiver is gone.
    Unwanted,
    /// An error found in what journalctl said.
    Failed(JournalError),
}

/// Runs the request's journalctl on `session` and reads it until it ends
/// or the lines are not wanted. Blocking.
pub fn follow(
    session: ssh2::Session,
    request: &JournalRequest,
    user: &str,
    lines: &mpsc::Sender<LogLine>,
    on_notice: &OnNotice,
) -> Result<(), JournalError> {
    let node: Arc<str> = request.node.as_str().into();
    let broken = |why: String| JournalError::Broken {
        node: request.node.clone(),
        why,
    };
    let mut channel = session
        .channel_session()
        .map_err(|e| broken(format!("cannot open a channel: {e}")))?;
    channel
        .exec(&request.command())
        .map_err(|e| broken(format!("cannot run journalctl: {e}")))?;
    session.set_blocking(false);
    let mut read = Reading {
        request,
        user,
        node,
        unit: request.unit.as_str().into(),
        lines,
        on_notice,
        pending: Vec::new(),
        cutting: false,
        stderr: Vec::new(),
        sent: 0,
        no_entries: false,
        last_at: None,
    };
    let outcome = read.until_end(&session, &mut channel);
    session.set_blocking(true);
    match outcome {
        Ok(()) => {}
        Err(stop) => {
            // Closing the channel and the connection ends journalctl on
            // the node: its output has nowhere to go.
            let millis = u32::try_from(CLOSE_TIMEOUT.as_millis()).unwrap_or(u32::MAX);
            session.set_timeout(millis);
            let _ = channel.close();
            let _ = session.disconnect(None, "sitedeck stopped reading the journal", None);
            return match stop {
                Stop::Unwanted => Ok(()),
                Stop::Failed(error) => Err(error),
            };
        }
    }
    session.set_timeout(u32::try_from(CLOSE_TIMEOUT.as_millis()).unwrap_or(u32::MAX));
    let _ = channel.wait_close();
    let status = channel.exit_status().ok();
    let _ = session.disconnect(None, "journal read", None);
    read.verdict(status)
}

impl Reading<'_> {
    /// Reads stdout and stderr until both end (Ok) or reading must stop.
    fn until_end(
        &mut self,
        session: &ssh2::Session,
        channel: &mut ssh2::Channel,
    ) -> Result<(), Stop> {
        let mut chunk = vec![0u8; 32 * 1024];
        let (mut out_done, mut err_done) = (false, false);
        loop {
            if self.lines.is_closed() {
                return Err(Stop::Unwanted);
            }
            let mut moved = false;
            if !out_done {
                match channel.read(&mut chunk) {
                    // libssh2 says 0 at the stream's end (and, rarely,
                    // when nothing came): only the channel's EOF is one.
                    Ok(0) => out_done = channel.eof(),
                    Ok(n) => {
                        moved = true;
                        self.stdout(&chunk[..n])?;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(Stop::Failed(self.broken(format!("{e}")))),
                }
            }
            if !err_done {
                match channel.stderr().read(&mut chunk) {
                    Ok(0) => err_done = channel.eof(),
                    Ok(n) => {
                        moved = true;
                        self.stderr(&chunk[..n])?;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(Stop::Failed(self.broken(format!("{e}")))),
                }
            }
            if out_done && err_done {
                self.flush_partial()?;
                return Ok(());
            }
            if !moved {
                wait_readable(session, POLL);
            }
        }
    }

    fn broken(&self, why: String) -> JournalError {
        JournalError::Broken {
            node: self.request.node.clone(),
            why,
        }
    }

    /// Cuts what came into lines and sends them.
    fn stdout(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        for &byte in bytes {
            if byte == b'\n' {
                if self.cutting {
                    self.cutting = false;
                    self.pending.clear();
                } else {
                    let text = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    self.line(&text)?;
                }
            } else if !self.cutting {
                self.pending.push(byte);
                if self.pending.len() >= LINE_LIMIT {
                    let text = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    self.cutting = true;
                    self.line(&text)?;
                }
            }
        }
        Ok(())
    }

    /// A last line without its line break.
    fn flush_partial(&mut self) -> Result<(), Stop> {
        if self.pending.is_empty() || self.cutting {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        self.line(&text)
    }

    fn line(&mut self, text: &str) -> Result<(), Stop> {
        if let Some(JournalLine::Note(note)) = JournalLine::split(text) {
            if note == NO_ENTRIES {
                self.no_entries = true;
                if self.request.follow {
                    (self.on_notice)(&format!(
                        "unit {} has no journal entries on {} yet: waiting (is it the right \
                         unit? `journal UNIT` in the palette, :)",
                        self.unit, self.node
                    ));
                }
            }
            return Ok(());
        }
        let Some(line) = line_of(
            text,
            &self.node,
            &self.unit,
            &self.request.names,
            self.last_at,
        ) else {
            return Ok(());
        };
        self.last_at = Some(line.at);
        self.sent += 1;
        self.lines.blocking_send(line).map_err(|_| Stop::Unwanted)
    }

    /// Watches stderr for words that end the read at once.
    fn stderr(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let room = STDERR_LIMIT.saturating_sub(self.stderr.len());
        self.stderr
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        let said = String::from_utf8_lossy(&self.stderr).into_owned();
        // Without the right group, a following journalctl shows only the
        // user's own journal and waits for ever: say why now.
        if permission_denied(&said) {
            return Err(Stop::Failed(JournalError::PermissionDenied {
                node: self.request.node.clone(),
                user: self.user.to_owned(),
            }));
        }
        if not_found(&said) {
            return Err(Stop::Failed(JournalError::NoJournalctl {
                node: self.request.node.clone(),
            }));
        }
        // Said once at the start; a following journalctl then waits for
        // ever on nothing.
        if no_journal_files(&said) {
            return Err(Stop::Failed(JournalError::NoJournalFiles {
                node: self.request.node.clone(),
            }));
        }
        Ok(())
    }

    /// How a journalctl that ended went.
    fn verdict(&self, status: Option<i32>) -> Result<(), JournalError> {
        let node = self.request.node.clone();
        let said = String::from_utf8_lossy(&self.stderr).into_owned();
        if status == Some(127) || not_found(&said) {
            return Err(JournalError::NoJournalctl { node });
        }
        if no_journal_files(&said) && !permission_denied(&said) {
            return Err(JournalError::NoJournalFiles { node });
        }
        if permission_denied(&said) {
            return Err(JournalError::PermissionDenied {
                node,
                user: self.user.to_owned(),
            });
        }
        match status {
            Some(0) if self.sent == 0 && self.no_entries => Err(JournalError::NoEntries {
                node,
                unit: self.request.unit.clone(),
            }),
            Some(0) => Ok(()),
            other => Err(JournalError::Failed {
                node,
                status: other.map_or_else(|| "no exit status".to_owned(), |s| format!("exit {s}")),
                why: last_words(&said),
            }),
        }
    }
}

/// Whether journalctl said it may not read the system's journal.
fn permission_denied(said: &str) -> bool {
    let said = said.to_ascii_lowercase();
    [
        "not seeing messages from other users",
        "insufficient permissions",
        "permission denied",
    ]
    .iter()
    .any(|words| said.contains(words))
}

/// Whether journalctl said the node keeps no journal files at all.
fn no_journal_files(said: &str) -> bool {
    said.contains("No journal files were found")
}

/// Whether the shell said there is no journalctl.
fn not_found(said: &str) -> bool {
    said.lines().any(|line| {
        line.contains("journalctl")
            && (line.contains("not found") || line.contains("No such file or directory"))
    })
}

/// The last lines of stderr worth showing (sshd's debug lines skipped),
/// sanitised, on one line.
fn last_words(said: &str) -> String {
    let words: Vec<String> = said
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("debug1:"))
        .map(crate::text::sanitize)
        .collect();
    let last = words.len().saturating_sub(3);
    match words.get(last..) {
        Some(lines) if !lines.is_empty() => lines.join(" / "),
        _ => "it said nothing".to_owned(),
    }
}

/// Waits until the session's socket has something to read, at most
/// `longest`.
fn wait_readable(session: &ssh2::Session, longest: Duration) {
    let mut fds = [libc::pollfd {
        fd: session.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    let millis = libc::c_int::try_from(longest.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, for the duration of the call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), 1, millis);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journalctl_errors_are_recognised() {
        assert!(permission_denied(
            "Hint: You are currently not seeing messages from other users and the system.\n"
        ));
        assert!(permission_denied(
            "No journal files were opened due to insufficient permissions."
        ));
        assert!(!permission_denied("debug1: permanently_set_uid: 0/0"));
        assert!(not_found("bash: line 1: journalctl: command not found"));
        assert!(no_journal_files(
            "No journal files were found.\n-- No entries --"
        ));
        assert!(!no_journal_files(
            "No journal files were opened due to insufficient permissions."
        ));
        assert!(not_found("sh: 1: journalctl: not found"));
        assert!(!not_found("unit not found"));
        assert_eq!(
            last_words("debug1: x\n\nFailed to add filter\x1b[2J\n"),
            "Failed to add filter\\x1b[2J"
        );
        assert_eq!(last_words("debug1: x\n"), "it said nothing");
    }
}
