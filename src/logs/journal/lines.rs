//! journalctl's `short-iso-precise` lines taken apart: time, host,
//! identifier and message; its own notes (`-- No entries --`) told apart.

use chrono::{DateTime, Utc};

/// What one line of journalctl's output is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalLine<'a> {
    /// An entry: `TIME HOST IDENT[PID]: MESSAGE`.
    Entry {
        /// Its time.
        at: DateTime<Utc>,
        /// `kubelet[812]`, if the line has one.
        ident: Option<&'a str>,
        /// The message as the unit wrote it.
        message: &'a str,
    },
    /// A line of a multi-line message after its first (no time).
    Continuation(&'a str),
    /// journalctl's own note: `-- No entries --`, `-- Boot 3f2a… --`.
    Note(&'a str),
}

/// journalctl's note for a unit without entries.
pub const NO_ENTRIES: &str = "No entries";

impl<'a> JournalLine<'a> {
    /// Takes `text` (without its line break) apart; `None` for an empty
    /// line.
    pub fn split(text: &'a str) -> Option<Self> {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.trim().is_empty() {
            return None;
        }
        if let Some(note) = text
            .strip_prefix("-- ")
            .and_then(|rest| rest.strip_suffix(" --"))
        {
            return Some(Self::Note(note));
        }
        let (stamp, rest) = text.split_once(' ').unwrap_or((text, ""));
        let Some(at) = super::parse_stamp(stamp) else {
            return Some(Self::Continuation(text));
        };
        // The host (the node's own name for itself: not shown), then the
        // identifier up to `: ` when it is one word.
        let rest = rest.split_once(' ').map_or("", |(_host, rest)| rest);
        let (ident, message) = match rest.split_once(": ") {
            Some((ident, message)) if !ident.is_empty() && !ident.contains(' ') => {
                (Some(ident), message)
            }
            _ => (None, rest),
        };
        Some(Self::Entry { at, ident, message })
    }
}
