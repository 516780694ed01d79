//! An ad-hoc command run on some of the site's nodes at once, over SSH
//! (through the bastion when there is one): each node's exit status and
//! output (stdout and stderr merged, as a terminal shows them), sanitised
//! for the terminal and cut at [`MAX_OUTPUT`]. A node that does not
//! answer holds up no other.
//!
//! This changes nodes: callers check read-only mode and confirm (`sitedeck
//! exec`, the Hosts view); [`run_audited`] writes the audit log around the
//! run.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::access::SshAccess;
use super::cluster_nodes::SiteNodes;
use super::pool;
use super::ssh::SshTarget;
use super::survey::{AT_ONCE, AT_ONCE_DIRECT};

/// The most output kept from one node; the rest is not read.
pub const MAX_OUTPUT: usize = 256 * 1024;

/// How a command run goes.
#[derive(Debug, Clone, Copy)]
pub struct ExecSettings {
    /// How long a login may take.
    pub connect_timeout: Duration,
    /// How long the command may stay silent before sitedeck stops waiting.
    pub quiet_timeout: Duration,
}

impl Default for ExecSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            quiet_timeout: Duration::from_secs(60),
        }
    }
}

/// What one node said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeOutput {
    /// The node's name.
    pub name: String,
    /// `user@host`.
    pub target: String,
    /// The exit status, when the command ended.
    pub exit: Option<i32>,
    /// stdout and stderr as they came, sanitised.
    pub output: String,
    /// Whether the output was cut at [`MAX_OUTPUT`].
    pub cut: bool,
    /// Why the command did not run or its end is unknown.
    pub error: Option<String>,
    /// How long it took, ms.
    pub took_ms: u64,
}

impl NodeOutput {
    /// Whether the command ran and exited 0.
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.exit == Some(0)
    }

    /// How it ended, in a few words: `exit 0`, `failed: …`.
    pub fn ended(&self) -> String {
        match (&self.error, self.exit) {
            (Some(error), _) => format!("failed: {}", crate::text::one_line(error)),
            (None, Some(code)) => format!("exit {code}"),
            (None, None) => "no exit status".into(),
        }
    }

    /// One line for the audit log: `n1 exit 0`.
    pub fn summary(&self) -> String {
        format!("{} {}", self.name, self.ended())
    }
}

/// Writes the intent to the audit log in `state_dir`, runs `command` on
/// `names` of `nodes` ([`run_on`]; a node that cannot be reached gets its
/// reason) and writes the outcome. Nothing runs when the intent cannot be
/// written (the error says so).
pub async fn run_audited(
    site: &str,
    state_dir: &std::path::Path,
    nodes: SiteNodes,
    names: &[String],
    command: &str,
    settings: ExecSettings,
) -> Result<Vec<NodeOutput>, String> {
    let audited = crate::store::audit::intent(
        state_dir,
        site,
        &format!("nodes {}", names.join(", ")),
        "node command",
        command,
    )
    .map_err(|e| {
        format!(
            "the audit log in {} cannot be written ({e}): nothing was run",
            state_dir.display()
        )
    })?;
    let mut outputs = run_on(Arc::new(nodes.access), names, command, settings).await;
    for output in &mut outputs {
        if let Some(report) = nodes.unreachable.iter().find(|r| r.name == output.name) {
            output.target.clone_from(&report.target);
            output.error.clone_from(&report.error);
        }
    }
    let summary: Vec<String> = outputs.iter().map(NodeOutput::summary).collect();
    if let Err(e) = audited.outcome(&summary.join("; ")) {
        tracing::warn!("the outcome of a node command could not be audited: {e}");
    }
    Ok(outputs)
}

/// Runs `command` on the nodes of `access` named in `names`, in parallel,
/// in the order of `names`. A name that is not a node of `access` gets an
/// error of its own.
pub async fn run_on(
    access: Arc<SshAccess>,
    names: &[String],
    command: &str,
    settings: ExecSettings,
) -> Vec<NodeOutput> {
    let at_once = if access.bastion.is_some() {
        AT_ONCE
    } else {
        AT_ONCE_DIRECT
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(at_once));
    let runs: Vec<_> = names
        .iter()
        .map(|name| {
            let node = access.nodes.iter().find(|(n, _)| n == name).cloned();
            let (access, slots) = (access.clone(), slots.clone());
            let (name, command) = (name.clone(), command.to_owned());
            tokio::spawn(async move {
                let Some((_, target)) = node else {
                    return NodeOutput::failed(&name, "", "no such node in the profile".into());
                };
                let _slot = slots.acquire_owned().await;
                let shown = (name.clone(), target.to_string());
                let ran = tokio::task::spawn_blocking(move || {
                    run_one(&access, &name, &target, &command, settings)
                })
                .await;
                ran.unwrap_or_else(|e| {
                    NodeOutput::failed(
                        &shown.0,
                        &shown.1,
                        format!("the run ended unexpectedly: {e}"),
                    )
                })
            })
        })
        .collect();
    let mut outputs = Vec::with_capacity(names.len());
    for (run, name) in runs.into_iter().zip(names) {
        outputs.push(run.await.unwrap_or_else(|e| {
            NodeOutput::failed(name, "", format!("the run ended unexpectedly: {e}"))
        }));
    }
    outputs
}

impl NodeOutput {
    fn failed(name: &str, target: &str, error: String) -> Self {
        Self {
            name: name.to_owned(),
            target: target.to_owned(),
            exit: None,
            output: String::new(),
            cut: false,
            error: Some(error),
            took_ms: 0,
        }
    }
}

/// One node's run. Blocking.
fn run_one(
    access: &SshAccess,
    name: &str,
    target: &SshTarget,
    command: &str,
    settings: ExecSettings,
) -> NodeOutput {
    let began = Instant::now();
    let mut output = NodeOutput::failed(name, &target.to_string(), String::new());
    let result = open_channel(access, target, settings).and_then(|(lease, channel)| {
        let ran = exec(lease.session(), channel, command, settings.quiet_timeout);
        if ran.is_err() {
            lease.broken();
        }
        ran
    });
    match result {
        Ok(ran) => {
            output.error = ran.signal.map(|signal| format!("ended by signal {signal}"));
            output.exit = ran.exit;
            output.output = crate::text::sanitize_lines(&String::from_utf8_lossy(&ran.bytes));
            output.cut = ran.cut;
        }
        Err(error) => output.error = Some(error),
    }
    output.took_ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
    output
}

/// A session to the node (the kept one, or a new login when the kept
/// one no longer opens channels) and a channel on it. Nothing has run
/// yet, so trying again cannot run the command twice. Blocking.
fn open_channel(
    access: &SshAccess,
    target: &SshTarget,
    settings: ExecSettings,
) -> Result<(pool::Lease, ssh2::Channel), String> {
    let mut lease =
        pool::lease(access, target, settings.connect_timeout).map_err(|e| e.to_string())?;
    let channel = match lease.session().channel_session() {
        Ok(channel) => channel,
        Err(_) if lease.reused() => {
            lease.broken();
            lease =
                pool::fresh(access, target, settings.connect_timeout).map_err(|e| e.to_string())?;
            lease
                .session()
                .channel_session()
                .map_err(|e| format!("cannot open a channel: {e}"))?
        }
        Err(e) => return Err(format!("cannot open a channel: {e}")),
    };
    // 0 would be no timeout at all in libssh2.
    let quiet_ms = u32::try_from(settings.quiet_timeout.as_millis())
        .unwrap_or(u32::MAX)
        .max(1_000);
    lease.session().set_timeout(quiet_ms);
    Ok((lease, channel))
}

/// How a command ended.
struct Ran {
    /// Its exit status, when sshd sent one.
    exit: Option<i32>,
    /// The signal that ended it (`KILL`), when one did.
    signal: Option<String>,
    /// Its output, up to [`MAX_OUTPUT`].
    bytes: Vec<u8>,
    /// Whether the output was cut.
    cut: bool,
}

/// How long a channel on a failed session may take to close: on a dead
/// link, libssh2 would wait the whole quiet timeout again for the node's
/// answer.
const CLOSE_TIMEOUT_MS: u32 = 2_000;

/// Runs `command` on `channel` (of `session`) and reads its merged output
/// up to [`MAX_OUTPUT`].
fn exec(
    session: &ssh2::Session,
    mut channel: ssh2::Channel,
    command: &str,
    quiet: Duration,
) -> Result<Ran, String> {
    let give_up = |channel: ssh2::Channel, why: String| {
        // Freeing the channel waits for the node's close, under the
        // session's timeout: keep it short on a link that failed.
        session.set_timeout(CLOSE_TIMEOUT_MS);
        drop(channel);
        Err(why)
    };
    if let Err(e) = channel.handle_extended_data(ssh2::ExtendedData::Merge) {
        return give_up(channel, format!("cannot merge stderr: {e}"));
    }
    if let Err(e) = channel.exec(command) {
        let why = if e.code() == ssh2::ErrorCode::Session(-9) {
            // LIBSSH2_ERROR_TIMEOUT: the request went out.
            "the node did not confirm the start in time: the command may have run; check before running it again".to_owned()
        } else {
            format!("cannot run the command: {e}")
        };
        return give_up(channel, why);
    }
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut cut = false;
    loop {
        match channel.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_OUTPUT - bytes.len();
                bytes.extend_from_slice(&chunk[..n.min(room)]);
                if n > room {
                    cut = true;
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return give_up(
                    channel,
                    format!(
                        "no output for {} s: stopped waiting (the command may still run on the node)",
                        quiet.as_secs()
                    ),
                );
            }
            Err(e) => return give_up(channel, format!("cannot read the output: {e}")),
        }
    }
    if cut {
        // The rest is not wanted: closing tells sshd to stop sending.
        let _ = channel.close();
        return Ok(Ran {
            exit: None,
            signal: None,
            bytes,
            cut: true,
        });
    }
    if let Err(e) = channel.wait_close() {
        return give_up(channel, format!("the command did not end cleanly: {e}"));
    }
    // libssh2 says 0 when sshd sent no exit status: a signal (or nothing)
    // ended the command then, and that is not a success.
    let signal = channel
        .exit_signal()
        .ok()
        .and_then(|s| s.exit_signal)
        .filter(|s| !s.is_empty());
    let exit = if signal.is_some() {
        None
    } else {
        channel.exit_status().ok()
    };
    Ok(Ran {
        exit,
        signal,
        bytes,
        cut: false,
    })
}
