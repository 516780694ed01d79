//! `sitedeck nodes`: every node of the profile's `ssh.nodes` over SSH
//! (through `ssh.bastion` when set), in parallel: its facts, findings and
//! clock offset against this host, and the largest skew between nodes.
//! `--accept NAME=SHA256:…` records a node's host key once the operator
//! has compared its fingerprint.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use crate::config::profile::{NodesSpec, SiteProfile};
use crate::nodes::access::SshAccess;
use crate::nodes::clock::{self, ClockOffset};
use crate::nodes::facts::{self, DiskThresholds, Finding, NodeFacts};
use crate::nodes::ssh::{SshError, SshTarget};
use crate::nodes::tunnel::Tunnel;

/// Nodes read at once.
const AT_ONCE: usize = 8;

/// How long one node may take to connect and answer each request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One node's report.
#[derive(Debug, Serialize)]
pub struct NodeReport {
    /// The profile's name for it.
    pub name: String,
    /// `user@host` (`[host]:port` off 22).
    pub target: String,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
    /// What it is and how it does.
    pub facts: Option<NodeFacts>,
    /// What needs a look.
    pub findings: Vec<Finding>,
    /// Its clock against this host's.
    pub time: Option<ClockOffset>,
}

/// Everything `sitedeck nodes --format json` prints.
#[derive(Debug, Serialize)]
pub struct NodesReport {
    /// Each node.
    pub nodes: Vec<NodeReport>,
    /// The largest difference between two nodes' clocks, ms.
    pub max_skew_ms: Option<f64>,
}

/// Where and how each node is reached: the profile's SSH access, with
/// its node list.
type Plan = SshAccess;

/// The profile's SSH access; an error when it lists no node.
fn plan(profile: &SiteProfile, state_dir: &Path) -> Result<Plan, String> {
    let access = SshAccess::of_profile(profile, state_dir)
        .ok_or("the profile has no `ssh` section: list the nodes under ssh.nodes")?;
    match profile.ssh.as_ref().map(|ssh| &ssh.nodes) {
        Some(NodesSpec::FromCluster) => {
            Err("`ssh.nodes: from_cluster` is not supported yet: list the nodes".into())
        }
        _ if access.nodes.is_empty() => Err("the profile lists no nodes under ssh.nodes".into()),
        _ => Ok(access),
    }
}

/// A session to one node, directly or through the bastion. Blocking.
fn session(plan: &Plan, target: &SshTarget) -> Result<ssh2::Session, SshError> {
    match &plan.bastion {
        Some((bastion, bastion_auth)) => {
            // A bastion session of the node's own: a node that does not
            // answer holds up no other node's connection.
            let tunnel = Tunnel::open(bastion, bastion_auth, &plan.known, TIMEOUT)?;
            crate::nodes::jump::connect_via(&tunnel, target, &plan.auth, &plan.known, TIMEOUT)
        }
        None => crate::nodes::ssh::connect(target, &plan.auth, &plan.known, TIMEOUT),
    }
}

/// One node read. Blocking.
fn read_node(plan: &Plan, name: &str, target: &SshTarget) -> NodeReport {
    let mut report = NodeReport {
        name: name.to_owned(),
        target: target.to_string(),
        error: None,
        facts: None,
        findings: Vec::new(),
        time: None,
    };
    let session = match session(plan, target) {
        Ok(session) => session,
        Err(error) => {
            report.error = Some(error.to_string());
            return report;
        }
    };
    let mut errors = Vec::new();
    match clock::measure(&session, clock::ROUNDS) {
        Ok(time) => report.time = Some(time),
        Err(why) => errors.push(format!("the clock could not be read: {why}")),
    }
    match facts::read(&session) {
        Ok(read) => {
            report.findings = facts::findings(&read, DiskThresholds::default());
            report.facts = Some(read);
        }
        Err(why) => errors.push(format!("the facts could not be read: {why}")),
    }
    report.error = (!errors.is_empty()).then(|| errors.join("; "));
    report
}

/// `sitedeck nodes`: reads every node in parallel; exits 1 when one could
/// not be read, 2 when the profile lists none.
pub async fn nodes(
    profile: &SiteProfile,
    state_dir: &Path,
    json: bool,
    accept: Option<&str>,
) -> ExitCode {
    // Accepting the bastion's key needs no node list.
    if let Some(accept) = accept
        && let Some(access) = SshAccess::of_profile(profile, state_dir)
    {
        return accept_key(&std::sync::Arc::new(access), accept).await;
    }
    let plan = match plan(profile, state_dir) {
        Ok(plan) => std::sync::Arc::new(plan),
        Err(why) => {
            eprintln!("nodes: {why}");
            return ExitCode::from(2);
        }
    };
    // At most so many logins at once: sshd drops connections past its
    // MaxStartups (10 by default), the bastion's too.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let readers: Vec<_> = plan
        .nodes
        .iter()
        .cloned()
        .map(|(name, target)| {
            let (plan, slots) = (plan.clone(), slots.clone());
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await;
                tokio::task::spawn_blocking(move || read_node(&plan, &name, &target)).await
            })
        })
        .collect();
    let mut reports = Vec::new();
    for reader in readers {
        match reader.await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(e)) | Err(e) => eprintln!("nodes: a reader ended unexpectedly: {e}"),
        }
    }
    let offsets: Vec<f64> = reports
        .iter()
        .filter_map(|r| r.time.map(|t| t.offset_ms))
        .collect();
    let report = NodesReport {
        max_skew_ms: (offsets.len() > 1).then(|| clock::max_skew_ms(&offsets)),
        nodes: reports,
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("nodes: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print_text(&report);
    }
    if report.nodes.iter().any(|n| n.error.is_some()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_text(report: &NodesReport) {
    for node in &report.nodes {
        let name = crate::text::one_line(&node.name);
        if let Some(error) = &node.error {
            println!(
                "{name}  {}  ERROR {}",
                node.target,
                crate::text::one_line(error)
            );
        }
        if let Some(facts) = &node.facts {
            let time = node.time.map_or_else(String::new, |t| {
                format!("clock {:+.0} ±{:.0} ms", t.offset_ms, t.uncertainty_ms)
            });
            println!(
                "{name}  {}  {}  kernel {}  {} CPUs  load {:.2}  {time}",
                node.target,
                facts.os,
                crate::text::one_line(&facts.kernel),
                facts.cpus,
                facts.load[0]
            );
        }
        for finding in &node.findings {
            println!("  {:?}: {}", finding.severity, finding.what);
        }
    }
    if let Some(skew) = report.max_skew_ms {
        println!("largest clock skew between nodes: {skew:.0} ms");
    }
}

/// `--accept NAME=SHA256:…`: records the node's host key if it offers
/// the one with that fingerprint.
async fn accept_key(plan: &std::sync::Arc<Plan>, accept: &str) -> ExitCode {
    let Some((name, fingerprint)) = accept.split_once('=') else {
        eprintln!("nodes: --accept takes NAME=SHA256:… (the fingerprint you compared)");
        return ExitCode::from(2);
    };
    // `bastion` names the bastion, reached directly.
    let bastion = plan
        .bastion
        .as_ref()
        .filter(|_| name == "bastion")
        .map(|(target, _)| target.clone());
    let node = plan
        .nodes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.clone());
    let Some(target) = bastion.clone().or(node) else {
        eprintln!("nodes: no node {name} in ssh.nodes (or `bastion` for ssh.bastion)");
        return ExitCode::from(2);
    };
    let (plan, fingerprint) = (plan.clone(), fingerprint.to_owned());
    let outcome = tokio::task::spawn_blocking(move || {
        let opened = match (&bastion, &plan.bastion) {
            (Some(target), Some((_, auth))) => {
                crate::nodes::ssh::connect(target, auth, &plan.known, TIMEOUT)
            }
            _ => session(&plan, &target),
        };
        accepted(&plan, &target, &fingerprint, opened)
    })
    .await;
    match outcome {
        Ok(Ok(said)) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Ok(Err(why)) => {
            eprintln!("nodes: {why}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("nodes: {e}");
            ExitCode::from(1)
        }
    }
}

/// What `--accept` did with the key `opened` met.
fn accepted(
    plan: &Plan,
    target: &SshTarget,
    fingerprint: &str,
    opened: Result<ssh2::Session, SshError>,
) -> Result<String, String> {
    match opened {
        Ok(_) => Ok(format!("{target}: its host key is already known")),
        // The node's own key (not the bastion's, met on the way).
        Err(SshError::UnknownHostKey { key, target: whose })
            if key.fingerprint == fingerprint && whose == target.to_string() =>
        {
            crate::nodes::ssh::accept_host_key(&plan.known, target, &key)
                .map(|()| format!("{target}: recorded {} {}", key.key_type, key.fingerprint))
        }
        Err(SshError::UnknownHostKey { key, target: whose }) => Err(format!(
            "{whose} offers {} {}, not {fingerprint}: nothing recorded",
            key.key_type, key.fingerprint
        )),
        Err(error) => Err(error.to_string()),
    }
}
