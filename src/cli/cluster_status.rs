//! The `cluster` section of `sitedeck status`: one connection, one list of
//! every feed (the same code the cockpit watches with), then the versions
//! and drift of Versions, the permissions, and the findings.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::app::cluster::{ClusterState, Connection, FeedStatus};
use crate::cluster::access::Permission;
use crate::cluster::connect::ClusterTarget;
use crate::cluster::findings::Finding;
use crate::cluster::release::ReleaseManifest;
use crate::cluster::report::{self, HelmVersion, Summary, WorkloadVersion};
use crate::cluster::watch::Feed;

/// The release the site is compared with.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRef {
    /// The release's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The manifest file.
    pub file: std::path::PathBuf,
}

/// What `status --format json` prints under `cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    /// The API server, once a client exists.
    pub server: Option<String>,
    /// The context.
    pub context: Option<String>,
    /// Whether the API server answered.
    pub reachable: bool,
    /// Its version (`v1.32.4`).
    pub version: Option<String>,
    /// Why it is not reachable, or why something could not be read.
    pub error: Option<String>,
    /// The release manifest, when the profile names a valid one.
    pub release: Option<ReleaseRef>,
    /// Why the release manifest cannot be used.
    pub release_error: Option<String>,
    /// Each resource: `live`, `forbidden: …`, `down: …`, `timeout`.
    pub feeds: BTreeMap<String, String>,
    /// The access reviews.
    pub permissions: Vec<Permission>,
    /// The counts.
    pub summary: Summary,
    /// Every workload's versions and drift.
    pub workloads: Vec<WorkloadVersion>,
    /// Every Helm release's chart and drift.
    pub helm: Vec<HelmVersion>,
    /// The findings.
    pub findings: Vec<Finding>,
}

impl ClusterStatus {
    /// Whether it makes `status` exit non-zero: unreachable, a resource
    /// that could not be listed, drift, missing or unavailable workloads.
    pub fn has_problems(&self) -> bool {
        !self.reachable
            || self.error.is_some()
            || self.release_error.is_some()
            || self.feeds.values().any(|f| f != "live")
            || self.summary.has_problems()
    }
}

/// Connects, lists every feed once (waiting at most `wait`), and reports.
/// A credential program runs only if the operator trusted it for this
/// site in the cockpit.
pub async fn collect(
    target: ClusterTarget,
    site_file: &Path,
    state_dir: &Path,
    release: Option<Result<ReleaseManifest, String>>,
    wait: Duration,
) -> ClusterStatus {
    let (store, _) = crate::store::trust::TrustStore::load(state_dir);
    let trusted = store.trusted(site_file);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink: crate::cluster::EventSink = Arc::new(move |event| {
        let _ = tx.send(event);
    });
    let session = crate::cluster::start(target, trusted, sink);
    let mut state = ClusterState::new(1, release);
    let done = |state: &ClusterState| match &state.connection {
        Connection::Connecting => false,
        Connection::Connected { .. } => {
            // A feed that failed once is retried with backoff: wait for
            // it until the deadline rather than report a passing hiccup.
            !state.permissions.is_empty()
                && state
                    .feeds
                    .values()
                    .all(|f| matches!(f, FeedStatus::Live | FeedStatus::Forbidden(_)))
        }
        _ => true,
    };
    let deadline = tokio::time::Instant::now() + wait;
    while !done(&state) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => state.apply(event),
            Ok(None) | Err(_) => break,
        }
    }
    drop(session);
    state.settle();
    build(&state)
}

fn build(state: &ClusterState) -> ClusterStatus {
    let (server, context, version, error) = match &state.connection {
        Connection::Connected {
            server,
            context,
            version,
        } => (
            Some(server.clone()),
            Some(context.clone()),
            version.as_ref().ok().cloned(),
            version.as_ref().err().cloned(),
        ),
        Connection::Connecting => (None, None, None, Some("no answer in time".to_owned())),
        Connection::NeedsTrust { context, command } => (
            None,
            Some(context.clone()),
            None,
            Some(format!(
                "the context runs `{command}` for credentials; open the site in the cockpit once to trust it"
            )),
        ),
        Connection::Failed(error) => (None, None, None, Some(error.clone())),
    };
    let connected = matches!(state.connection, Connection::Connected { .. });
    let feeds = if connected {
        Feed::ALL
            .iter()
            .map(|feed| {
                let text = match state.feeds.get(feed) {
                    Some(FeedStatus::Live) => "live".to_owned(),
                    Some(FeedStatus::Forbidden(reason)) => format!("forbidden: {reason}"),
                    Some(FeedStatus::Down { error, .. }) => format!("down: {error}"),
                    Some(FeedStatus::Loading) | None => "timeout: not listed in time".to_owned(),
                };
                (feed.label().to_owned(), text)
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    let manifest = state.release.as_ref().and_then(|r| r.as_ref().ok());
    let workloads: Vec<_> = state.all_workloads().cloned().collect();
    ClusterStatus {
        server,
        context,
        reachable: version.is_some(),
        version,
        error,
        release: manifest.map(|m| ReleaseRef {
            name: m.name.clone(),
            version: m.version.clone(),
            file: m.source_file.clone(),
        }),
        release_error: state
            .release
            .as_ref()
            .and_then(|r| r.as_ref().err().cloned()),
        feeds,
        permissions: state.permissions.clone(),
        summary: state.summary,
        workloads: report::workload_versions(manifest, &workloads, state.helm.rows()),
        helm: report::helm_versions(manifest, state.helm.rows()),
        findings: state.findings.clone(),
    }
}

/// The cluster section of `status --format table`.
pub fn write_table(out: &mut impl Write, status: &ClusterStatus) -> std::io::Result<()> {
    let one = crate::text::one_line;
    match (&status.version, &status.error) {
        (Some(version), _) => writeln!(
            out,
            "cluster: Kubernetes {} at {} (context {})",
            one(version),
            one(status.server.as_deref().unwrap_or_default()),
            one(status.context.as_deref().unwrap_or_default())
        )?,
        (None, error) => writeln!(
            out,
            "cluster: UNREACHABLE {}",
            one(error.as_deref().unwrap_or("(no answer)"))
        )?,
    }
    match (&status.release, &status.release_error) {
        (Some(release), _) => writeln!(
            out,
            "release: {} {}",
            one(&release.name),
            one(&release.version)
        )?,
        (None, Some(error)) => writeln!(out, "release: UNUSABLE {}", one(error))?,
        (None, None) => writeln!(out, "release: none in the profile (drift not checked)")?,
    }
    for (feed, state) in status.feeds.iter().filter(|(_, s)| *s != "live") {
        writeln!(out, "  {feed}: {}", one(state))?;
    }
    for p in status
        .permissions
        .iter()
        .filter(|p| p.allowed != Some(true))
    {
        writeln!(out, "  denied: {} {} ({})", p.verb, p.resource, p.purpose)?;
    }
    let s = &status.summary;
    writeln!(
        out,
        "{} workloads, {} Helm releases: {} drifted, {} missing, {} unavailable; findings: {} critical, {} warnings",
        s.workloads, s.helm_releases, s.drifted, s.missing, s.unavailable, s.critical, s.warnings
    )?;
    let problems: Vec<&WorkloadVersion> = status
        .workloads
        .iter()
        .filter(|w| !matches!(w.drift.as_str(), "ok" | "untracked") || !w.available)
        .collect();
    let helm_problems: Vec<&HelmVersion> = status
        .helm
        .iter()
        .filter(|h| !matches!(h.drift.as_str(), "ok" | "untracked"))
        .collect();
    if !problems.is_empty() || !helm_problems.is_empty() {
        writeln!(
            out,
            "{:<14} {:<12} {:<28} {:<24} {:>7}  DRIFT",
            "NAMESPACE", "KIND", "NAME", "TAG", "READY"
        )?;
    }
    for h in helm_problems {
        let drift = match &h.expected {
            Some(expected) => format!("{} (release: {expected})", h.drift),
            None => h.drift.clone(),
        };
        writeln!(
            out,
            "{:<14} {:<12} {:<28} {:<24} {:>7}  {}",
            one(&h.namespace),
            "HelmRelease",
            one(&h.name),
            one(&format!("{}-{}", h.chart, h.version)),
            one(&h.status),
            one(&drift)
        )?;
    }
    for w in problems {
        let tags: Vec<&str> = w.containers.iter().map(|c| c.tag.as_str()).collect();
        let drift = match &w.expected {
            Some(expected) => format!("{} (release: {expected})", w.drift),
            None => w.drift.clone(),
        };
        writeln!(
            out,
            "{:<14} {:<12} {:<28} {:<24} {:>7}  {}",
            one(&w.namespace),
            w.kind,
            one(&w.name),
            one(&tags.join(",")),
            format!("{}/{}", w.ready, w.desired),
            one(&drift)
        )?;
    }
    Ok(())
}
