//! Drift: how what runs differs from what the release manifest says should
//! run. Each workload and Helm release gets a [`Drift`]; components with
//! nothing running are [`missing_components`]. Tags compare by semver where
//! both parse (`v2.4.0` is older than `2.4.1`), as plain text otherwise.

use std::cmp::Ordering;

use super::model::{ContainerRow, HelmRelease, Workload};
use super::release::{Component, ComponentKind, ExpectedImage, ReleaseManifest};

/// How a running tag stands against the expected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOrder {
    /// The same version (`v2.4.1` and `2.4.1`, `1.2` and `1.2.0` are).
    Same,
    /// The running version is older than the expected one.
    Older,
    /// The running version is newer than the expected one.
    Newer,
    /// Different, with no order: a tag that is not a version, or versions
    /// that differ only in build metadata.
    Different,
}

/// Compares the `running` tag with the `expected` one. Both are read as
/// semver after dropping a leading `v` and filling a missing patch (`1.2`
/// is `1.2.0`); pre-releases come before their release (`2.4.1-rc.1` is
/// older than `2.4.1`). Tags that are not versions are the same only if
/// they are equal.
pub fn compare_tags(expected: &str, running: &str) -> TagOrder {
    if expected == running {
        return TagOrder::Same;
    }
    let (Some(expected), Some(running)) = (version(expected), version(running)) else {
        return TagOrder::Different;
    };
    match running.cmp_precedence(&expected) {
        Ordering::Less => TagOrder::Older,
        Ordering::Greater => TagOrder::Newer,
        Ordering::Equal if running.build == expected.build => TagOrder::Same,
        Ordering::Equal => TagOrder::Different,
    }
}

/// A tag read as a version: `v2.4.1`, `2.4`, `2.4.1-rc.1+build.7`.
fn version(tag: &str) -> Option<semver::Version> {
    let tag = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let core_end = tag.find(['-', '+']).unwrap_or(tag.len());
    let (core, rest) = tag.split_at(core_end);
    let padded = match core.split('.').count() {
        2 => format!("{core}.0{rest}"),
        3 => tag.to_owned(),
        _ => return None,
    };
    semver::Version::parse(&padded).ok()
}

/// How one running object stands against the release manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// It runs what the manifest says.
    Ok,
    /// It runs something else: the first difference found.
    Different {
        /// What the manifest says: `repository:tag`, or `chart-version`.
        expected: String,
        /// What runs, written the same way (the image as the workload
        /// writes it), or which container is not there.
        running: String,
        /// How the running tag or chart version stands against the expected.
        order: TagOrder,
    },
    /// A component of the manifest with nothing running.
    Missing,
    /// In a namespace of the release, but no component names it.
    NotInManifest,
    /// Outside the release's namespaces (`kube-system`…): not compared.
    Untracked,
}

impl Drift {
    /// The word shown in the drift column.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Different { order, .. } => match order {
                TagOrder::Older => "older",
                TagOrder::Newer => "newer",
                TagOrder::Same | TagOrder::Different => "different",
            },
            Self::Missing => "missing",
            Self::NotInManifest => "not in manifest",
            Self::Untracked => "—",
        }
    }

    /// Whether the operator should look at it: anything but `Ok` and
    /// `Untracked`.
    pub fn is_problem(&self) -> bool {
        !matches!(self, Self::Ok | Self::Untracked)
    }
}

/// How a workload stands against the manifest. Its component is the one of
/// the same kind and name whose namespace is the workload's or not set.
/// Every container the component lists must run the expected repository
/// and tag; the first that does not is reported. Containers the component
/// does not list (sidecars) are not compared.
pub fn workload_drift(manifest: &ReleaseManifest, workload: &Workload) -> Drift {
    let kind = ComponentKind::from(workload.kind);
    let Some(component) = manifest.component_for(kind, &workload.namespace, &workload.name) else {
        return unnamed(manifest, &workload.namespace);
    };
    component
        .containers
        .iter()
        .map(|expected| container_drift(expected, &workload.containers))
        .find(|drift| *drift != Drift::Ok)
        .unwrap_or(Drift::Ok)
}

/// The drift of an object no component names.
fn unnamed(manifest: &ReleaseManifest, namespace: &str) -> Drift {
    if manifest.tracks_namespace(namespace) {
        Drift::NotInManifest
    } else {
        Drift::Untracked
    }
}

/// One expected container against the running ones: found by name if the
/// manifest names it, else by repository, else the only container there is.
fn container_drift(expected: &ExpectedImage, running: &[ContainerRow]) -> Drift {
    let found = match &expected.name {
        Some(name) => running.iter().find(|c| &c.name == name),
        None => running
            .iter()
            .find(|c| c.image_ref.repository == expected.repository)
            .or(match running {
                [only] => Some(only),
                _ => None,
            }),
    };
    let Some(container) = found else {
        let what = match &expected.name {
            Some(name) => format!("no container `{name}`"),
            None => format!("no container of {}", expected.repository),
        };
        return different(expected.reference(), what, TagOrder::Different);
    };
    let order = if container.image_ref.repository == expected.repository {
        compare_tags(&expected.tag, &container.image_ref.shown_tag())
    } else {
        TagOrder::Different
    };
    match order {
        TagOrder::Same => Drift::Ok,
        order => different(expected.reference(), container.image.clone(), order),
    }
}

fn different(expected: String, running: String, order: TagOrder) -> Drift {
    Drift::Different {
        expected,
        running,
        order,
    }
}

/// How a Helm release revision stands against the manifest: the HelmChart
/// component of the release's name whose namespace is the release's or not
/// set; the chart's name must be the same and its version the same. Pass
/// the current revision of each release (see [`current_revisions`]): an
/// older, superseded revision would show as older.
pub fn helm_drift(manifest: &ReleaseManifest, release: &HelmRelease) -> Drift {
    let component =
        manifest.component_for(ComponentKind::HelmChart, &release.namespace, &release.name);
    let Some(expected) = component.and_then(|c| c.chart.as_ref()) else {
        return unnamed(manifest, &release.namespace);
    };
    let order = if release.chart == expected.chart {
        compare_tags(&expected.version, &release.chart_version)
    } else {
        TagOrder::Different
    };
    match order {
        TagOrder::Same => Drift::Ok,
        order => different(
            expected.reference(),
            format!("{}-{}", release.chart, release.chart_version),
            order,
        ),
    }
}

/// The newest revision of each Helm release (by namespace and name), in
/// the order the releases first appear.
pub fn current_revisions(releases: &[HelmRelease]) -> Vec<&HelmRelease> {
    let mut current: Vec<&HelmRelease> = Vec::new();
    for release in releases {
        let same = |r: &&HelmRelease| r.namespace == release.namespace && r.name == release.name;
        match current.iter_mut().find(|r| same(r)) {
            Some(kept) if kept.revision < release.revision => *kept = release,
            Some(_) => {}
            None => current.push(release),
        }
    }
    current
}

/// The components with nothing running: no workload of their kind, name
/// and namespace (any namespace when the component sets none), or for a
/// HelmChart no revision of the release. Any revision present counts, even
/// a failed or superseded one — the release exists and [`helm_drift`] of
/// its current revision tells how it stands — except one Helm keeps after
/// `helm uninstall --keep-history` (status `uninstalled`).
pub fn missing_components<'a>(
    manifest: &'a ReleaseManifest,
    workloads: &[Workload],
    helm: &[HelmRelease],
) -> Vec<&'a Component> {
    let in_namespace = |component: &Component, namespace: &str| {
        component
            .namespace
            .as_deref()
            .is_none_or(|ns| ns == namespace)
    };
    manifest
        .components
        .iter()
        .filter(|component| match component.kind.workload_kind() {
            Some(kind) => !workloads.iter().any(|w| {
                w.kind == kind && w.name == component.name && in_namespace(component, &w.namespace)
            }),
            None => !helm.iter().any(|r| {
                r.name == component.name
                    && r.status != "uninstalled"
                    && in_namespace(component, &r.namespace)
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests;
