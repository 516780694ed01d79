//! `sitedeck nodes`: every node of the profile's `ssh.nodes` (listed, or
//! the cluster's Nodes for `from_cluster`) over SSH (through
//! `ssh.bastion` when set), in parallel: its facts, findings and
//! clock offset against this host, and the largest skew between nodes.
//! `--accept NAME=SHA256:…` records a node's host key once the operator
//! has compared its fingerprint.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::profile::{NodesSpec, SiteProfile};
use crate::nodes::access::SshAccess;
use crate::nodes::cluster_nodes::{self, SiteNodes, survey_site};
use crate::nodes::survey::{Survey, SurveySettings};

/// How long one node may take to connect and answer each request.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how each node is reached: the profile's SSH access, with
/// its node list.
type Plan = SshAccess;

/// The profile's SSH access; an error when it lists no node.
pub(super) fn plan(profile: &SiteProfile, state_dir: &Path) -> Result<Plan, String> {
    let access = SshAccess::of_profile(profile, state_dir)
        .ok_or("the profile has no `ssh` section: list the nodes under ssh.nodes")?;
    match profile.ssh.as_ref().map(|ssh| &ssh.nodes) {
        Some(NodesSpec::FromCluster) => Err(
            "this command does not list the nodes from the cluster (`ssh.nodes: from_cluster`) \
             yet: list them under ssh.nodes"
                .into(),
        ),
        _ if access.nodes.is_empty() => Err("the profile lists no nodes under ssh.nodes".into()),
        _ => Ok(access),
    }
}

/// The profile's nodes: as [`plan`] (exit 2 when there are none), or for
/// `from_cluster` the cluster's Nodes (exit 1 when they could not be
/// listed).
async fn site_plan(profile: &SiteProfile, state_dir: &Path) -> Result<SiteNodes, (u8, String)> {
    if !from_cluster(profile) {
        let access = plan(profile, state_dir).map_err(|why| (2, why))?;
        return Ok(SiteNodes {
            access,
            unreachable: Vec::new(),
        });
    }
    match cluster_nodes::site_nodes(profile, state_dir).await {
        Some(Ok(site)) => Ok(site),
        Some(Err(error)) => Err((1, error.to_string())),
        None => Err((2, "the profile has no `ssh` section".into())),
    }
}

/// Whether the profile says `ssh.nodes: from_cluster`.
fn from_cluster(profile: &SiteProfile) -> bool {
    profile
        .ssh
        .as_ref()
        .is_some_and(|ssh| ssh.nodes == NodesSpec::FromCluster)
}

/// `sitedeck nodes`: reads every node in parallel; exits 1 when one could
/// not be read (or the cluster's could not be listed), 2 when the profile
/// lists none.
pub async fn nodes(
    profile: &SiteProfile,
    state_dir: &Path,
    json: bool,
    accept: Option<&str>,
) -> ExitCode {
    // Accepting the bastion's key needs no node list (listing the
    // cluster's may itself need the bastion).
    let for_bastion = accept.is_some_and(|a| a.starts_with("bastion="));
    if let Some(accept) = accept
        && (for_bastion || !from_cluster(profile))
        && let Some(access) = SshAccess::of_profile(profile, state_dir)
    {
        return accept_key(
            &std::sync::Arc::new(access),
            accept,
            &profile.name,
            state_dir,
        )
        .await;
    }
    let site = match site_plan(profile, state_dir).await {
        Ok(site) => site,
        Err((code, why)) => {
            eprintln!("nodes: {why}");
            return ExitCode::from(code);
        }
    };
    if let Some(accept) = accept {
        return accept_key(
            &std::sync::Arc::new(site.access),
            accept,
            &profile.name,
            state_dir,
        )
        .await;
    }
    let on_node = std::sync::Arc::new(|_: &_| {});
    let report = survey_site(site, SurveySettings::of_profile(profile), on_node).await;
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

fn print_text(report: &Survey) {
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
        if let Some(daemon) = &node.daemon {
            println!("  time: {}", crate::nodes::timesync::describe(daemon));
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
/// exactly that key (audited, in the state directory's audit log).
async fn accept_key(
    plan: &std::sync::Arc<Plan>,
    accept: &str,
    site: &str,
    state_dir: &Path,
) -> ExitCode {
    let Some((name, fingerprint)) = accept.split_once('=') else {
        eprintln!("nodes: --accept takes NAME=SHA256:… (the fingerprint you compared)");
        return ExitCode::from(2);
    };
    // As `ssh-keygen -lf` prints it, with or without its `SHA256:`.
    let fingerprint = if fingerprint.starts_with("SHA256:") {
        fingerprint.to_owned()
    } else {
        format!("SHA256:{fingerprint}")
    };
    let fingerprint = fingerprint.as_str();
    let audited = match crate::store::audit::intent(
        state_dir,
        site,
        &format!("host key of {name}"),
        "host key accepted",
        fingerprint,
    ) {
        Ok(audited) => audited,
        Err(e) => {
            eprintln!(
                "nodes: the audit log in {} cannot be written ({e}): nothing recorded",
                state_dir.display()
            );
            return ExitCode::from(2);
        }
    };
    let (plan, name, fingerprint) = (plan.clone(), name.to_owned(), fingerprint.to_owned());
    let outcome = tokio::task::spawn_blocking(move || {
        crate::nodes::accept::accept(&plan, &name, &fingerprint, None, TIMEOUT)
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()));
    let said = match &outcome {
        Ok(said) => said.clone(),
        Err(why) => format!("not recorded: {why}"),
    };
    if let Err(e) = audited.outcome(&said) {
        eprintln!("nodes: the outcome could not be written to the audit log: {e}");
    }
    match outcome {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("nodes: {why}");
            ExitCode::from(1)
        }
    }
}

/// The nodes and the site's time for `status`: `(None, None)` when the
/// profile lists no nodes and no NTP server.
pub async fn site_nodes(
    profile: &SiteProfile,
    state_dir: &Path,
) -> (
    Option<Vec<crate::nodes::survey::NodeReport>>,
    Option<crate::nodes::time::TimeReport>,
) {
    let has_nodes = profile.ssh.as_ref().is_some_and(|ssh| ssh.nodes.any());
    if !has_nodes && profile.time.ntp_servers.is_empty() {
        return (None, None);
    }
    let (surveyed, time) = crate::nodes::time::read_site(profile, state_dir).await;
    let nodes = (!surveyed.nodes.is_empty()).then_some(surveyed.nodes);
    (nodes, Some(time))
}

/// The nodes and time sections of `status`'s table.
pub fn write_table(
    out: &mut impl std::io::Write,
    nodes: Option<&[crate::nodes::survey::NodeReport]>,
    time: Option<&crate::nodes::time::TimeReport>,
) -> std::io::Result<()> {
    for node in nodes.unwrap_or_default() {
        let name = crate::text::one_line(&node.name);
        match (&node.error, &node.facts) {
            (Some(error), _) => {
                writeln!(out, "node {name}: ERROR {}", crate::text::one_line(error))?
            }
            (None, Some(facts)) => writeln!(
                out,
                "node {name}: {}, {} CPUs, load {:.2}",
                facts.os, facts.cpus, facts.load[0]
            )?,
            (None, None) => writeln!(out, "node {name}")?,
        }
        for finding in &node.findings {
            writeln!(out, "  {:?}: {}", finding.severity, finding.what)?;
        }
    }
    let Some(time) = time else { return Ok(()) };
    match time.max_skew_ms {
        Some(skew) => writeln!(out, "time: largest skew between nodes {skew:.0} ms")?,
        None => writeln!(out, "time: no skew between nodes measured")?,
    }
    for node in &time.nodes {
        let offset = match (node.offset_ms, node.uncertainty_ms) {
            (Some(offset), Some(give)) => format!("{offset:+.1} ±{give:.1} ms"),
            _ => "?".into(),
        };
        let daemon = node
            .daemon
            .as_ref()
            .map_or_else(String::new, crate::nodes::timesync::describe);
        writeln!(
            out,
            "  {} {offset}  {daemon}",
            crate::text::one_line(&node.name)
        )?;
    }
    for check in &time.ntp {
        match &check.reading {
            Some(reading) => writeln!(
                out,
                "  NTP {}: stratum {}, this host {:+.1} ms",
                crate::text::one_line(&check.server),
                reading.stratum,
                reading.offset_ms
            )?,
            None => writeln!(
                out,
                "  NTP {}: {}",
                crate::text::one_line(&check.server),
                crate::text::one_line(check.error.as_deref().unwrap_or("no answer"))
            )?,
        }
    }
    for finding in &time.findings {
        writeln!(out, "  {:?}: {}", finding.severity, finding.what)?;
    }
    Ok(())
}
