//! The `middleware` section of `sitedeck status`: each endpoint's state,
//! role, figures and findings, and the port-forwards it needs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::cluster::connect::ClusterTarget;
use crate::cluster::portforward::Forwards;
use crate::config::profile::SiteProfile;
use crate::middleware::Finding;
use crate::probe::{ProbeState, SourceKind};

use super::SourceStatus;

/// One middleware endpoint in `status --format json`.
#[derive(Debug, Serialize)]
pub struct MiddlewareStatus {
    /// The name in the profile.
    pub name: String,
    /// `mysql`, `redis`, `postgresql`, `s3`, `elasticsearch`, `http`, `tcp`.
    pub kind: String,
    /// The endpoint or URL.
    pub endpoint: String,
    /// How it was reached: `direct`, or the port-forward's pod.
    pub path: Option<String>,
    /// `up`, `degraded`, or why it is down.
    pub state: ProbeState,
    /// The version and role, or the error.
    pub detail: String,
    /// The server's product and version.
    pub version: Option<String>,
    /// `primary`, `replica`, `sentinel`…
    pub role: Option<String>,
    /// Every figure, by name.
    pub figures: BTreeMap<String, String>,
    /// What is wrong or worth knowing, worst first.
    pub findings: Vec<Finding>,
    /// How long the check took.
    pub latency_ms: Option<f64>,
    /// When it finished.
    pub checked_at: Option<chrono::DateTime<chrono::Local>>,
}

/// The middleware endpoints among the probed sources.
pub fn collect(sources: &[SourceStatus]) -> Vec<MiddlewareStatus> {
    sources
        .iter()
        .filter(|s| matches!(s.source.kind, SourceKind::Middleware(_)))
        .map(|s| {
            let health = s.report.health.as_ref();
            MiddlewareStatus {
                name: s.source.name.clone(),
                kind: s.source.kind.label(),
                endpoint: s.source.target.clone(),
                path: s.report.path.clone(),
                state: s.report.state,
                detail: s.report.detail.clone(),
                version: health.and_then(|h| h.version.clone()),
                role: health.and_then(|h| h.role.clone()),
                figures: health
                    .map(|h| {
                        h.figures
                            .iter()
                            .map(|f| (f.name.clone(), f.value.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
                findings: health.map(|h| h.findings.clone()).unwrap_or_default(),
                latency_ms: s.report.latency_ms,
                checked_at: s.report.checked_at,
            }
        })
        .collect()
}

/// The findings of every degraded endpoint, for the table format.
pub fn write_table(out: &mut impl Write, middleware: &[MiddlewareStatus]) -> std::io::Result<()> {
    let noted: Vec<&MiddlewareStatus> = middleware
        .iter()
        .filter(|m| !m.findings.is_empty())
        .collect();
    if noted.is_empty() {
        return Ok(());
    }
    writeln!(out, "middleware findings:")?;
    for m in noted {
        for finding in &m.findings {
            writeln!(
                out,
                "  {:<16} {:<8} {}\n  {:<16} {:<8} → {}",
                crate::text::one_line(&m.name),
                finding.severity.label(),
                crate::text::one_line(&finding.message),
                "",
                "",
                crate::text::one_line(&finding.hint)
            )?;
        }
    }
    Ok(())
}

/// Port-forwards for the profile's in-cluster endpoints and Kafka brokers,
/// over a client of their own; `None` when nothing needs one or the
/// cluster cannot be reached (those entries then say why).
pub async fn forwards(
    profile: &SiteProfile,
    target: Option<&ClusterTarget>,
    state_dir: &Path,
) -> Option<Forwards> {
    let target = target.filter(|_| profile.needs_forwards())?;
    match connect_forwards(profile, target, state_dir).await {
        Ok(forwards) => Some(forwards),
        Err(e) => {
            tracing::warn!("no port-forwards: {e}");
            None
        }
    }
}

/// Port-forwards over a client of their own, or why the cluster cannot be
/// reached.
pub async fn connect_forwards(
    profile: &SiteProfile,
    target: &ClusterTarget,
    state_dir: &Path,
) -> Result<Forwards, String> {
    let (store, _) = crate::store::trust::TrustStore::load(state_dir);
    let trusted = store.trusted(&profile.source_file);
    crate::cluster::connect::connect(target, &trusted)
        .await
        .map(|connection| Forwards::new(connection.client))
        .map_err(|e| format!("cannot connect to the cluster: {e}"))
}
