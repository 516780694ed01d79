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

/// The counts a cluster is summed up by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Workloads running.
    pub workloads: usize,
    /// Running something else than the release says (older, newer,
    /// different, not in manifest).
    pub drifted: usize,
    /// Components of the release that do not run.
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

/// Sums up a versions report and the findings.
pub fn summarize(versions: &[WorkloadVersion], findings: &[Finding]) -> Summary {
    let missing = versions.iter().filter(|v| v.drift == "missing").count();
    Summary {
        workloads: versions.len() - missing,
        drifted: versions
            .iter()
            .filter(|v| !matches!(v.drift.as_str(), "ok" | "untracked" | "missing"))
            .count(),
        missing,
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
