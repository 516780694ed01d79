//! A node's systemd journal over SSH, read as pods' logs are: `journalctl
//! -u UNIT -o short-iso-precise --no-pager` run on the node (through the
//! bastion when the profile has one), its last lines and then, when
//! following, each new one as it comes. Every line becomes a [`LogLine`]
//! (the node as its pod, the journal's identifier as its container),
//! taken apart by the same parser as pods' lines; the views and printers
//! sanitise it as they do any pod's.
//!
//! The reader runs on a blocking thread over a non-blocking session and
//! looks at least every [`POLL`] whether its lines are still wanted: once
//! the receiver is dropped, the channel is closed and the connection
//! ended, which stops `journalctl` on the node.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::buffer::LogLine;
use super::parse::{FieldNames, parse};
use crate::config::profile::SiteProfile;

mod lines;
mod reader;

pub use lines::JournalLine;

/// The unit read when none is named.
pub const DEFAULT_UNIT: &str = "kubelet";

/// The units offered to choose from: what a Kubernetes node usually runs.
pub const COMMON_UNITS: &[&str] = &["kubelet", "containerd", "docker", "chronyd", "sshd"];

/// The last entries read first when neither a count nor an age is given.
pub const DEFAULT_ENTRIES: u32 = 500;

/// How long the login on the node may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest the reader waits before it looks again whether its lines
/// are still wanted.
pub const POLL: Duration = Duration::from_millis(200);

/// The namespace journal lines carry, so that printers and views tell
/// them from pods' lines.
pub const NAMESPACE: &str = "journal";

/// What to read.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRequest {
    /// The node, by its name in the profile (or the cluster's, for
    /// `ssh.nodes: from_cluster`).
    pub node: String,
    /// The systemd unit (`kubelet`, `containerd.service`).
    pub unit: String,
    /// The last this many entries first (`-n`); `None`: every entry
    /// since `since`, or the whole journal.
    pub entries: Option<u32>,
    /// Entries from this long ago (`--since=-Ns`).
    pub since: Option<Duration>,
    /// Keep reading new entries (`-f`).
    pub follow: bool,
    /// The site's log field names.
    pub names: Arc<FieldNames>,
}

impl JournalRequest {
    /// The unit's last [`DEFAULT_ENTRIES`] entries on `node`, followed.
    pub fn new(node: &str, unit: &str) -> Self {
        Self {
            node: node.to_owned(),
            unit: unit.to_owned(),
            entries: Some(DEFAULT_ENTRIES),
            since: None,
            follow: true,
            names: Arc::new(FieldNames::default()),
        }
    }

    /// The command run on the node. The unit is checked ([`check_unit`])
    /// before: it goes into a shell command line.
    pub fn command(&self) -> String {
        let mut command = format!(
            "journalctl -u '{}' -o short-iso-precise --no-pager",
            self.unit
        );
        if let Some(since) = self.since {
            command.push_str(&format!(" --since=-{}s", since.as_secs().max(1)));
        }
        if let Some(entries) = self.entries {
            command.push_str(&format!(" -n {entries}"));
        }
        if self.follow {
            command.push_str(" -f");
        }
        command
    }
}

/// Whether `unit` is a unit name sitedeck passes to `journalctl`: letters,
/// digits and `:_.@-`, not starting with `-` (nothing a shell or
/// journalctl's options would take for something else).
pub fn check_unit(unit: &str) -> Result<(), JournalError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ":_.@-".contains(c);
    if unit.is_empty() || unit.len() > 256 || unit.starts_with('-') || !unit.chars().all(allowed) {
        return Err(JournalError::BadUnit {
            unit: crate::text::one_line(unit),
        });
    }
    Ok(())
}

/// Why a journal could not be read, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The profile says nothing of SSH.
    #[error("the profile has no `ssh` section: a node's journal is read over SSH")]
    NoSsh,
    /// The nodes could not be listed (`from_cluster`).
    #[error("{0}")]
    Listing(String),
    /// No node of that name.
    #[error("no node {node} in the profile (its nodes: {known})")]
    NoSuchNode {
        /// The name asked for.
        node: String,
        /// The names there are.
        known: String,
    },
    /// The node could not be reached or logged into.
    #[error("{node}: {why}")]
    Unreachable {
        /// The node.
        node: String,
        /// Why (the SSH error, which says what to do).
        why: String,
    },
    /// A unit name sitedeck does not pass on.
    #[error(
        "`{unit}` is not a unit name (letters, digits and :_.@- only), e.g. kubelet, containerd.service"
    )]
    BadUnit {
        /// The name given, sanitised.
        unit: String,
    },
    /// The node has no `journalctl` on the login's PATH.
    #[error(
        "journalctl not found on node {node}: it does not run systemd's journal (its logs are \
         likely files under /var/log)"
    )]
    NoJournalctl {
        /// The node.
        node: String,
    },
    /// journalctl found no journal at all on the node.
    #[error(
        "node {node} keeps no systemd journal (journalctl: \"No journal files were found\"): \
         journald does not run there or keeps no files; its logs are likely files under /var/log"
    )]
    NoJournalFiles {
        /// The node.
        node: String,
    },
    /// The journal holds nothing of the unit.
    #[error(
        "unit {unit} has no journal entries on node {node}: check the unit's name \
         (`systemctl list-units --type=service` on the node; containerd, docker and chronyd \
         are common)"
    )]
    NoEntries {
        /// The node.
        node: String,
        /// The unit.
        unit: String,
    },
    /// The login may not read the system journal.
    #[error(
        "the user {user} cannot read the journal on node {node}: add it to systemd-journal or \
         adm (`usermod -aG systemd-journal {user}` on the node)"
    )]
    PermissionDenied {
        /// The node.
        node: String,
        /// The login.
        user: String,
    },
    /// journalctl failed otherwise.
    #[error("journalctl failed on node {node} ({status}): {why}")]
    Failed {
        /// The node.
        node: String,
        /// `exit 1`, or `no exit status`.
        status: String,
        /// What it said last, sanitised.
        why: String,
    },
    /// The connection broke while reading.
    #[error("the journal of node {node} stopped: {why}")]
    Broken {
        /// The node.
        node: String,
        /// Why.
        why: String,
    },
}

/// Told of what the journal says besides its lines (`unit kubelet has no
/// entries yet`), while following.
pub type OnNotice = Arc<dyn Fn(&str) + Send + Sync>;

/// Reads `request` from its node, sending each line as it comes. Without
/// `follow`, ends when journalctl has; with it, runs until journalctl
/// ends, the connection breaks, or the receiver is dropped (then the
/// channel and the connection are closed within [`POLL`]).
pub async fn read(
    profile: &SiteProfile,
    state_dir: &Path,
    request: JournalRequest,
    lines: mpsc::Sender<LogLine>,
    on_notice: OnNotice,
) -> Result<(), JournalError> {
    check_unit(&request.unit)?;
    let nodes = crate::nodes::cluster_nodes::site_nodes(profile, state_dir)
        .await
        .ok_or(JournalError::NoSsh)?
        .map_err(|e| JournalError::Listing(e.to_string()))?;
    if let Some(report) = nodes.unreachable.iter().find(|r| r.name == request.node) {
        return Err(JournalError::Unreachable {
            node: request.node.clone(),
            why: report.error.clone().unwrap_or_default(),
        });
    }
    let Some((_, target)) = nodes
        .access
        .nodes
        .iter()
        .find(|(name, _)| *name == request.node)
        .cloned()
    else {
        let known: Vec<&str> = nodes.access.nodes.iter().map(|(n, _)| n.as_str()).collect();
        return Err(JournalError::NoSuchNode {
            node: crate::text::one_line(&request.node),
            known: if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            },
        });
    };
    let access = nodes.access;
    let node = request.node.clone();
    tokio::task::spawn_blocking(move || {
        if lines.is_closed() {
            return Ok(());
        }
        let session =
            crate::nodes::survey::session(&access, &target, CONNECT_TIMEOUT).map_err(|e| {
                JournalError::Unreachable {
                    node: request.node.clone(),
                    why: e.to_string(),
                }
            })?;
        reader::follow(session, &request, &target.user, &lines, &on_notice)
    })
    .await
    .unwrap_or_else(|e| {
        Err(JournalError::Broken {
            node,
            why: format!("the reader ended unexpectedly: {e}"),
        })
    })
}

/// The time journalctl's `short-iso-precise` writes:
/// `2026-12-03T10:00:00.123456+0000` (or `+00:00`).
fn parse_stamp(stamp: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(stamp)
        .or_else(|_| DateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// One line of journalctl's output as a log line of `node`: `None` for
/// its own notes (`-- No entries --`, `-- Boot … --`). A line without a
/// time (a multi-line message's continuation) takes `last_at`.
pub fn line_of(
    text: &str,
    node: &Arc<str>,
    unit: &Arc<str>,
    names: &FieldNames,
    last_at: Option<DateTime<Utc>>,
) -> Option<LogLine> {
    let line = JournalLine::split(text)?;
    let (at, container, message) = match line {
        JournalLine::Entry { at, ident, message } => {
            (at, ident.map_or_else(|| unit.clone(), Arc::from), message)
        }
        JournalLine::Continuation(message) => {
            (last_at.unwrap_or_else(Utc::now), unit.clone(), message)
        }
        JournalLine::Note(_) => return None,
    };
    Some(LogLine {
        namespace: Arc::from(NAMESPACE),
        pod: node.clone(),
        container,
        at,
        parsed: parse(message, names),
        raw: message.to_owned(),
    })
}

#[cfg(test)]
mod tests;
