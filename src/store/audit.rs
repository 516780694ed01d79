//! The audit log: every action that changes something is written down
//! before it runs (its intent) and after (its outcome), as one JSON line
//! each in `audit.jsonl` in the state directory: when, who (the OS user
//! and the SSH client they came from), where (the site and what was
//! touched), what, and how it ended. Never a secret's value.
//!
//! Each record is appended and synced before the action goes on, so a
//! crash mid-action still leaves the intent on disk. An intent that
//! cannot be written stops the action.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The audit log's file name in the state directory.
pub const FILE: &str = "audit.jsonl";

/// Who acted: the OS user and, over SSH, where they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The login of the process's user (from the password database),
    /// else `$USER` or `$LOGNAME`, else the uid.
    pub user: String,
    /// `$SSH_CLIENT` (address and ports), when sitedeck runs over SSH.
    pub ssh_client: Option<String>,
}

impl Actor {
    /// The user running this process.
    pub fn current() -> Self {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let user = login_of(uid)
            .or_else(|| std::env::var("USER").ok())
            .or_else(|| std::env::var("LOGNAME").ok())
            .unwrap_or_else(|| format!("uid {uid}"));
        Self {
            user,
            ssh_client: std::env::var("SSH_CLIENT").ok().filter(|s| !s.is_empty()),
        }
    }
}

/// The login name of `uid` in the password database.
fn login_of(uid: libc::uid_t) -> Option<String> {
    // SAFETY: `passwd` is plain C data, for which all zeroes is a value.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to memory owned here and alive for the
    // call; getpwuid_r writes within `buffer`'s length.
    let status = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: pw_name points into `buffer`, NUL-terminated by getpwuid_r.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Whether a record is written before or after the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before: what is about to run.
    Intent,
    /// After: how it ended.
    Outcome,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, RFC 3339 in UTC.
    pub at: String,
    /// Ties an outcome to its intent.
    pub id: String,
    /// Before or after.
    pub phase: Phase,
    /// Who.
    pub who: Actor,
    /// From where in sitedeck: `cockpit` or `cli`.
    #[serde(default)]
    pub via: String,
    /// The site's name.
    pub site: String,
    /// What was touched: `nodes acme-worker-1, acme-worker-2`.
    pub target: String,
    /// The kind of action: `node command`, `host key accepted`.
    pub action: String,
    /// The action itself: the command, the fingerprint.
    pub what: String,
    /// How it ended (outcome records only).
    pub result: Option<String>,
}

/// Which of sitedeck's faces the actions of this process come from.
static INTERFACE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Says that this process's actions come from the cockpit (the TUI);
/// without it they are the command line's.
pub fn from_cockpit() {
    let _ = INTERFACE.set("cockpit");
}

/// One action's place in the audit log: its intent is on disk once this
/// exists, and [`Audited::outcome`] writes how it ended.
#[derive(Debug)]
pub struct Audited {
    path: PathBuf,
    intent: AuditRecord,
}

/// Writes the intent of an action to the audit log in `state_dir`;
/// the action must not run when this fails.
pub fn intent(
    state_dir: &Path,
    site: &str,
    target: &str,
    action: &str,
    what: &str,
) -> std::io::Result<Audited> {
    let now = chrono::Utc::now();
    let record = AuditRecord {
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        id: format!(
            "{}-{}",
            now.timestamp_nanos_opt().unwrap_or_default(),
            std::process::id()
        ),
        phase: Phase::Intent,
        who: Actor::current(),
        via: INTERFACE.get().copied().unwrap_or("cli").to_owned(),
        site: site.to_owned(),
        target: target.to_owned(),
        action: action.to_owned(),
        what: what.to_owned(),
        result: None,
    };
    let path = state_dir.join(FILE);
    append(&path, &record)?;
    Ok(Audited {
        path,
        intent: record,
    })
}

impl Audited {
    /// Writes how the action ended.
    pub fn outcome(self, result: &str) -> std::io::Result<()> {
        let record = AuditRecord {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            phase: Phase::Outcome,
            result: Some(result.to_owned()),
            ..self.intent
        };
        append(&self.path, &record)
    }
}

/// Appends one record as a line and syncs it; the file is the owner's only.
fn append(path: &Path, record: &AuditRecord) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let created = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    // One write of the whole line: appends from several sitedecks do not
    // interleave inside a line.
    file.write_all(&line)?;
    file.sync_data()?;
    if created && let Some(dir) = path.parent() {
        // The new file's name is on disk too.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Every record of the audit log in `state_dir`, oldest first; lines that
/// cannot be read are skipped.
pub fn read(state_dir: &Path) -> std::io::Result<Vec<AuditRecord>> {
    let text = match std::fs::read_to_string(state_dir.join(FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_leaves_its_intent_then_its_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let audited = intent(dir.path(), "acme", "nodes n1", "node command", "uptime").unwrap();
        let before = read(dir.path()).unwrap();
        assert_eq!(before.len(), 1, "the intent is on disk before the action");
        assert_eq!(before[0].phase, Phase::Intent);
        audited.outcome("n1: exit 0").unwrap();
        let records = read(dir.path()).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].phase, Phase::Outcome);
        assert_eq!(records[1].id, records[0].id);
        assert_eq!(records[1].what, "uptime");
        assert_eq!(records[1].result.as_deref(), Some("n1: exit 0"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_unwritable_log_stops_the_action() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("state");
        std::fs::write(&blocked, "a file where the state dir should be").unwrap();
        assert!(intent(&blocked, "acme", "nodes n1", "node command", "uptime").is_err());
    }
}
