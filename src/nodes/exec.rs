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
        let ran = exec(channel, command, settings.quiet_timeout);
        if ran.is_err() {
            lease.broken();
        }
        ran
    });
    match result {
        Ok((exit, bytes, cut)) => {
            output.error = None;
            output.exit = exit;
            output.output = crate::text::sanitize_lines(&String::from_utf8_lossy(&bytes));
            output.cut = cut;
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
    let quiet_ms = u32::try_from(settings.quiet_timeout.as_millis()).unwrap_or(u32::MAX);
    lease.session().set_timeout(quiet_ms);
    Ok((lease, channel))
}

/// Runs `command` on `channel` and reads its merged output up to
/// [`MAX_OUTPUT`]: (exit status, output, whether it was cut).
fn exec(
    mut channel: ssh2::Channel,
    command: &str,
    quiet: Duration,
) -> Result<(Option<i32>, Vec<u8>, bool), String> {
    channel
        .handle_extended_data(ssh2::ExtendedData::Merge)
        .map_err(|e| format!("cannot merge stderr: {e}"))?;
    channel
        .exec(command)
        .map_err(|e| format!("cannot run the command: {e}"))?;
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
                return Err(format!(
                    "no output for {} s: stopped waiting (the command may still run on the node)",
                    quiet.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot read the output: {e}")),
        }
    }
    if cut {
        // The rest is not wanted: closing tells sshd to stop sending.
        let _ = channel.close();
        return Ok((None, bytes, true));
    }
    channel
        .wait_close()
        .map_err(|e| format!("the command did not end cleanly: {e}"))?;
    let exit = channel.exit_status().ok();
    Ok((exit, bytes, false))
}
