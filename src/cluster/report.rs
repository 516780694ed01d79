//! The versions report: every workload with its images and its drift
//! against the release manifest, and the counts Overview and
//! `sitedeck status` lead with. The same data as the Versions view, as
//! plain serialisable values.

use serde::Serialize;

use super::drift::{self, Drift};
use super::findings::{Finding, Severity};
use super::model::{HelmRelease, Workload};
use super::release::ReleaseManifest;

/// One container's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerVersion {
    /// The container's name.
    pub name: String,
    /// The image's repository.
    pub repository: String,
    /// The image's tag (`latest` when none is written).
    pub tag: String,
}

/// A workload (or a missing component) and how it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadVersion {
    /// Its namespace (empty for a missing component that names none).
    pub namespace: String,
    /// `Deployment`, `StatefulSet`, `DaemonSet`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its containers' images (the expected ones when missing).
    pub containers: Vec<ContainerVersion>,
    /// Ready replicas.
    pub ready: i32,
    /// Wanted replicas.
    pub desired: i32,
    /// The rollout (`complete`, `progressing`, `failed`…; `missing`).
    pub rollout: String,
    /// `ok`, `older`, `newer`, `different`, `missing`, `not_in_manifest`,
    /// `untracked`.
    pub drift: String,
    /// What the release wants, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Whether every wanted replica is ready.
    pub available: bool,
}

/// The drift's stable code for JSON.
pub fn drift_code(drift: &Drift) -> &'static str {
    match drift {
        Drift::NotInManifest => "not_in_manifest",
        Drift::Untracked => "untracked",
        other => other.label(),
    }
}

/// Every workload's versions and drift, then the components the release
/// ships that do not run.
pub fn workload_versions(
    manifest: Option<&ReleaseManifest>,
    workloads: &[Workload],
    helm: &[HelmRelease],
) -> Vec<WorkloadVersion> {
    let mut sorted: Vec<&Workload> = workloads.iter().collect();
    sorted.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    let mut versions: Vec<WorkloadVersion> = sorted
        .into_iter()
        .map(|workload| {
            let drift = manifest.map_or(Drift::Untracked, |m| drift::workload_drift(m, workload));
            WorkloadVersion {
                namespace: workload.namespace.clone(),
                kind: workload.kind.name().to_owned(),
                name: workload.name.clone(),
                containers: workload
                    .containers
                    .iter()
                    .map(|c| ContainerVersion {
                        name: c.name.clone(),
                        repository: c.image_ref.repository.clone(),
                        tag: c.image_ref.shown_tag(),
                    })
                    .collect(),
                ready: workload.ready,
                desired: workload.desired,
                rollout: workload.rollout.label().to_owned(),
                drift: drift_code(&drift).to_owned(),
                expected: match &drift {
                    Drift::Different { expected, .. } => Some(expected.clone()),
                    _ => None,
                },
                available: !workload.unavailable(),
            }
        })
        .collect();
    if let Some(manifest) = manifest {
        for component in drift::missing_components(manifest, workloads, helm) {
            if component.kind.workload_kind().is_none() {
                continue;
            }
            versions.push(WorkloadVersion {
                namespace: component.namespace.clone().unwrap_or_default(),
                kind: component.kind.name().to_owned(),
                name: component.name.clone(),
                containers: component
                    .containers
                    .iter()
                    .map(|image| ContainerVersion {
                        name: image.name.clone().unwrap_or_default(),
                        repository: image.repository.clone(),
                        tag: image.tag.clone(),
                    })
                    .collect(),
                ready: 0,
                desired: 0,
                rollout: "missing".to_owned(),
                drift: "missing".to_owned(),
                expected: None,
                available: false,
            });
        }
    }
    versions
}

/// A Helm release (its newest revision) or a chart the release ships that
/// is not installed, and how it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HelmVersion {
    /// Its namespace.
    pub namespace: String,
    /// The release's name.
    pub name: String,
    /// The chart.
    pub chart: String,
    /// The chart's version.
    pub version: String,
    /// Helm's status (`deployed`, `failed`…; `missing`).
    pub status: String,
    /// As for workloads: `ok`, `older`, `newer`, `different`, `missing`,
    /// `not_in_manifest`, `untracked`.
    pub drift: String,
    /// What the release wants, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

/// Every Helm release's chart and drift, then the charts the release
/// ships that are not installed.
pub fn helm_versions(manifest: Option<&ReleaseManifest>, helm: &[HelmRelease]) -> Vec<HelmVersion> {
    let mut current = drift::current_revisions(helm);
    current.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut versions: Vec<HelmVersion> = current
        .into_iter()
        .map(|release| {
            let drift = manifest.map_or(Drift::Untracked, |m| drift::helm_drift(m, release));
            HelmVersion {
                namespace: release.namespace.clone(),
                name: release.name.clone(),
                chart: release.chart.clone(),
                version: release.chart_version.clone(),
                status: release.status.clone(),
                drift: drift_code(&drift).to_owned(),
                expected: match &drift {
                    Drift::Different { expected, .. } => Some(expected.clone()),
                    _ => None,
                },
            }
        })
        .collect();
    if let Some(manifest) = manifest {
        for component in drift::missing_components(manifest, &[], helm) {
            let Some(chart) = &component.chart else {
                continue;
            };
            versions.push(HelmVersion {
                namespace: component.namespace.clone().unwrap_or_default(),
                name: component.name.clone(),
                chart: chart.chart.clone(),
                version: chart.version.clone(),
                status: "missing".to_owned(),
                drift: "missing".to_owned(),
                expected: None,
            });
        }
    }
    versions
}

/// The counts a cluster is summed up by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Workloads running.
    pub workloads: usize,
    /// Helm releases installed.
    pub helm_releases: usize,
    /// Workloads and Helm releases running something else than the release
    /// says (older, newer, different, not in manifest).
    pub drifted: usize,
    /// Components of the release (workloads and charts) that do not run.
    pub missing: usize,
    /// Workloads with fewer ready replicas than wanted.
    pub unavailable: usize,
    /// Critical findings.
    pub critical: usize,
    /// Warnings.
    pub warnings: usize,
}

impl Summary {
    /// Whether anything needs the operator.
    pub fn has_problems(&self) -> bool {
        self.drifted + self.missing + self.unavailable > 0
    }
}

/// Sums up the versions reports (workloads and Helm) and the findings.
pub fn summarize(
    versions: &[WorkloadVersion],
    helm: &[HelmVersion],
    findings: &[Finding],
) -> Summary {
    let drifted = |drift: &str| !matches!(drift, "ok" | "untracked" | "missing");
    let missing = versions.iter().filter(|v| v.drift == "missing").count();
    let helm_missing = helm.iter().filter(|h| h.drift == "missing").count();
    Summary {
        workloads: versions.len() - missing,
        helm_releases: helm.len() - helm_missing,
        drifted: versions.iter().filter(|v| drifted(&v.drift)).count()
            + helm.iter().filter(|h| drifted(&h.drift)).count(),
        missing: missing + helm_missing,
        unavailable: versions
            .iter()
            .filter(|v| !v.available && v.drift != "missing")
            .count(),
        critical: findings
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .count(),
        warnings: findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helm(name: &str, drift: &str) -> HelmVersion {
        HelmVersion {
            namespace: "mw".into(),
            name: name.into(),
            chart: name.into(),
            version: "1.0.0".into(),
            status: "deployed".into(),
            drift: drift.into(),
            expected: None,
        }
    }

    #[test]
    fn an_outdated_or_missing_chart_is_a_problem_like_a_workload() {
        let summary = summarize(&[], &[helm("a", "older"), helm("b", "missing")], &[]);
        assert_eq!(
            (summary.helm_releases, summary.drifted, summary.missing),
            (1, 1, 1)
        );
        assert!(summary.has_problems());
        let fine = summarize(&[], &[helm("a", "ok"), helm("c", "untracked")], &[]);
        assert!(!fine.has_problems());
    }
}
