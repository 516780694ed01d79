//! Every node of the site read in parallel over SSH: facts, findings
//! and the clock's offset against this host, and the largest skew between
//! nodes. Each node gets its own session (and its own bastion session),
//! kept for the next survey ([`super::pool`]); at most [`AT_ONCE`] log in
//! at once, each bounded by the timeout, so a dead node holds up no other.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::accept::UnknownKey;
use super::access::SshAccess;
use super::clock::{self, ClockOffset};
use super::facts::{self, DiskThresholds, Finding, NodeFacts};
use super::pool;
use super::ssh::{SshError, SshTarget};
use super::timesync::{self, DAEMON_COMMAND, DaemonState};
use super::tunnel::Tunnel;

/// Nodes logged into at once through the bastion: its sshd drops
/// connections past its MaxStartups (10 by default), and each node's
/// login goes through it.
pub const AT_ONCE: usize = 8;

/// Nodes logged into at once without a bastion (each sshd counts only
/// its own).
pub const AT_ONCE_DIRECT: usize = 32;

/// How a survey goes.
#[derive(Debug, Clone, Copy)]
pub struct SurveySettings {
    /// How long one node may take to connect and answer each request.
    pub timeout: Duration,
    /// When a mount's use is a finding.
    pub disk: DiskThresholds,
}

impl SurveySettings {
    /// The profile's disk thresholds, with the default timeout.
    pub fn of_profile(profile: &crate::config::profile::SiteProfile) -> Self {
        let disk = profile.ssh.as_ref().map(|ssh| ssh.disk).unwrap_or_default();
        Self {
            disk: DiskThresholds {
                warn: disk.warn_percent,
                critical: disk.critical_percent,
            },
            ..Self::default()
        }
    }
}

impl Default for SurveySettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            disk: DiskThresholds::default(),
        }
    }
}

/// One node's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeReport {
    /// The profile's name for it.
    pub name: String,
    /// `user@host` (`[host]:port` off 22).
    pub target: String,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
    /// The host key that stopped it, when no known_hosts file has it
    /// (the node's own, or the bastion's), for the operator to compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_key: Option<UnknownKey>,
    /// What it is and how it does.
    pub facts: Option<NodeFacts>,
    /// What needs a look.
    pub findings: Vec<Finding>,
    /// Its clock against this host's.
    pub time: Option<ClockOffset>,
    /// What its time daemon says.
    pub daemon: Option<DaemonState>,
    /// How long after the survey began this node's report was complete,
    /// ms (a slow or dead node shows here, and only here).
    pub done_after_ms: f64,
}

/// Every node read, and the largest skew between their clocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Survey {
    /// Each node.
    pub nodes: Vec<NodeReport>,
    /// The largest difference between two nodes' clocks, ms.
    pub max_skew_ms: Option<f64>,
}

/// Reads every node of `access` in parallel.
pub async fn survey(access: Arc<SshAccess>, settings: SurveySettings) -> Survey {
    survey_reporting(access, settings, Arc::new(|_: &NodeReport| {})).await
}

/// Something told of each node as soon as it is read.
pub type OnNode = Arc<dyn Fn(&NodeReport) + Send + Sync>;

/// Reads every node of `access` in parallel, telling `on_node` of each as
/// soon as it is read (a dead node then holds up no other's row).
pub async fn survey_reporting(
    access: Arc<SshAccess>,
    settings: SurveySettings,
    on_node: OnNode,
) -> Survey {
    let at_once = if access.bastion.is_some() {
        AT_ONCE
    } else {
        AT_ONCE_DIRECT
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(at_once));
    let began = std::time::Instant::now();
    let readers: Vec<_> = access
        .nodes
        .iter()
        .cloned()
        .map(|(name, target)| {
            let (access, slots, on_node) = (access.clone(), slots.clone(), on_node.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await;
                tokio::task::spawn_blocking(move || {
                    let mut report = read_node(&access, settings, &name, &target);
                    report.done_after_ms = began.elapsed().as_secs_f64() * 1000.0;
                    on_node(&report);
                    report
                })
                .await
            })
        })
        .collect();
    let mut reports = Vec::new();
    for (reader, (name, target)) in readers.into_iter().zip(&access.nodes) {
        let report = match reader.await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) | Err(e) => NodeReport {
                error: Some(format!("the reader ended unexpectedly: {e}")),
                ..NodeReport::new(name, target)
            },
        };
        reports.push(report);
    }
    let offsets: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.time.map(|t| t.offset_ms))
        .collect();
    Survey {
        max_skew_ms: (offsets.len() > 1).then(|| clock::max_skew_ms(&offsets)),
        nodes: reports,
    }
}

impl NodeReport {
    fn new(name: &str, target: &SshTarget) -> Self {
        Self::failed(name, &target.to_string(), "")
    }

    /// A node that could not be read, `target` as it is named, and why
    /// (no error when `error` is empty).
    pub fn failed(name: &str, target: &str, error: &str) -> Self {
        Self {
            name: name.to_owned(),
            target: target.to_owned(),
            error: (!error.is_empty()).then(|| error.to_owned()),
            unknown_key: None,
            facts: None,
            findings: Vec::new(),
            time: None,
            daemon: None,
            done_after_ms: 0.0,
        }
    }
}

/// A session to one node, directly or through the bastion. Blocking.
pub fn session(
    access: &SshAccess,
    target: &SshTarget,
    timeout: Duration,
) -> Result<ssh2::Session, SshError> {
    match &access.bastion {
        Some((bastion, bastion_auth)) => {
            // A bastion session of the node's own: a node that does not
            // answer holds up no other node's connection.
            let tunnel = Tunnel::open(bastion, bastion_auth, &access.known, timeout)?;
            super::jump::connect_via(&tunnel, target, &access.auth, &access.known, timeout)
        }
        None => super::ssh::connect(target, &access.auth, &access.known, timeout),
    }
}

/// One node read. Blocking.
fn read_node(
    access: &SshAccess,
    settings: SurveySettings,
    name: &str,
    target: &SshTarget,
) -> NodeReport {
    let mut report = NodeReport::new(name, target);
    let failed = |report: &mut NodeReport, error: SshError| {
        report.unknown_key = UnknownKey::of_error(&error, name, target);
        report.error = Some(match &report.unknown_key {
            // Whose key it is, and the two ways to accept it.
            Some(key) => format!(
                "{} ({}) offered a host key sitedeck does not know: {} {}. Compare it on that \
                 host (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`), then accept it: `a` in \
                 Hosts, or `sitedeck nodes --accept {}={}`",
                key.target,
                if key.whose == super::accept::BASTION {
                    "the bastion"
                } else {
                    "this node"
                },
                key.key_type,
                key.fingerprint,
                key.whose,
                key.fingerprint
            ),
            None => error.to_string(),
        });
    };
    // The session kept from the last survey, if it still answers.
    let mut lease = match pool::lease(access, target, settings.timeout) {
        Ok(lease) => lease,
        Err(error) => {
            failed(&mut report, error);
            return report;
        }
    };
    // One shell for the clock, then the facts and the time daemon: each
    // shell started costs a round trip and the node's rc files.
    let command = format!("{}; echo '== time'; {DAEMON_COMMAND}", facts::FACTS_COMMAND);
    let read =
        |lease: &pool::Lease| clock::measure_then(lease.session(), clock::ROUNDS, Some(&command));
    let mut reading = read(&lease);
    let clock_read = matches!(reading, Ok(clock::ShellReading { clock: Ok(_), .. }));
    if !clock_read && lease.reused() {
        lease.broken();
        lease = match pool::fresh(access, target, settings.timeout) {
            Ok(lease) => lease,
            Err(error) => {
                failed(&mut report, error);
                return report;
            }
        };
        reading = read(&lease);
    }
    let reading = match reading {
        Ok(reading) => reading,
        Err(why) => {
            lease.broken();
            report.error = Some(format!("no shell could be started on the node: {why}"));
            return report;
        }
    };
    let mut errors = Vec::new();
    match reading.clock {
        Ok(time) => report.time = Some(time),
        Err(why) => errors.push(format!("the clock could not be read: {why}")),
    }
    match reading.output {
        Ok((out, err)) if out.trim().is_empty() => errors.push(format!(
            "the facts command printed nothing: {}",
            crate::text::one_line(&err)
        )),
        Ok((out, _)) => {
            let read = facts::parse(&out);
            // Every Linux host has a CPU: no count means the output came
            // back cut short, and its zeros must not pass for facts.
            if read.cpus == 0 {
                errors.push(format!(
                    "the facts came back incomplete ({} bytes, no CPU count): read again",
                    out.len()
                ));
            }
            report.findings = facts::findings(&read, settings.disk);
            report.facts = Some(read);
            report.daemon = Some(timesync::parse(&out));
        }
        Err(why) => errors.push(format!("the facts could not be read: {why}")),
    }
    if !errors.is_empty() {
        // A session that failed is not kept for the next survey.
        lease.broken();
        report.error = Some(errors.join("; "));
    }
    report
}
