//! Release manifests: one YAML file naming what a site on one release of
//! the product should run — each workload's images and tags, each Helm
//! chart's version — so that drift (see `drift`) can compare the cluster
//! with it.
//!
//! Loading is strict, like site profiles: unknown keys are rejected with a
//! "did you mean", and every problem is reported at once as
//! `file:line:column: message`. The format is documented in
//! `docs/release-manifest.md`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::model::WorkloadKind;
use crate::config::profile::{problem_from_yaml, render_problems};

/// One problem found in a manifest, with its line and column.
pub use crate::config::profile::Problem;

mod check;

/// A loaded release manifest: what a site on this release should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseManifest {
    /// The product's name, e.g. `acme-platform`.
    pub name: String,
    /// The release, e.g. `2.4.1`.
    pub version: String,
    /// The namespaces the release owns: a workload there that no component
    /// names is "not in manifest"; one elsewhere is untracked. As written,
    /// or else the components' namespaces in the order they first appear.
    pub namespaces: Vec<String>,
    /// What the release ships, in the order written.
    pub components: Vec<Component>,
    /// The file it was read from.
    pub source_file: PathBuf,
}

impl ReleaseManifest {
    /// Whether the release owns this namespace (see [`Self::namespaces`]).
    pub fn tracks_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|n| n == namespace)
    }

    /// The component that describes the object of this kind, namespace and
    /// name: one whose kind and name are the same and whose namespace is
    /// the same or not set. A component naming the namespace wins over one
    /// that matches any namespace.
    pub fn component_for(
        &self,
        kind: ComponentKind,
        namespace: &str,
        name: &str,
    ) -> Option<&Component> {
        let mut candidates = self
            .components
            .iter()
            .filter(|c| c.kind == kind && c.name == name);
        let mut any_namespace = None;
        for component in candidates.by_ref() {
            match component.namespace.as_deref() {
                Some(ns) if ns == namespace => return Some(component),
                None if any_namespace.is_none() => any_namespace = Some(component),
                _ => {}
            }
        }
        any_namespace
    }
}

/// One thing the release ships: a workload with its container images, or a
/// Helm chart with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The workload's or the Helm release's name.
    pub name: String,
    /// What kind of object it is.
    pub kind: ComponentKind,
    /// The namespace it runs in; `None` matches any namespace.
    pub namespace: Option<String>,
    /// The containers a workload must run (at least one); empty for a
    /// HelmChart.
    pub containers: Vec<ExpectedImage>,
    /// The chart a HelmChart release must run; `None` for a workload.
    pub chart: Option<ExpectedChart>,
}

impl Component {
    /// `Deployment acme-prod/api-gateway`, or without the namespace when it
    /// matches any.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// The kinds of component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ComponentKind {
    /// An `apps/v1` Deployment.
    Deployment,
    /// An `apps/v1` StatefulSet.
    StatefulSet,
    /// An `apps/v1` DaemonSet.
    DaemonSet,
    /// A Helm release of a chart.
    HelmChart,
}

impl ComponentKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [ComponentKind; 4] = [
        Self::Deployment,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::HelmChart,
    ];

    /// The name written in a manifest.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::HelmChart => "HelmChart",
        }
    }

    /// The kind written as `name` (exactly; `deployment` is not a kind).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The workload kind, unless this is a HelmChart.
    pub fn workload_kind(self) -> Option<WorkloadKind> {
        match self {
            Self::Deployment => Some(WorkloadKind::Deployment),
            Self::StatefulSet => Some(WorkloadKind::StatefulSet),
            Self::DaemonSet => Some(WorkloadKind::DaemonSet),
            Self::HelmChart => None,
        }
    }
}

impl From<WorkloadKind> for ComponentKind {
    fn from(kind: WorkloadKind) -> Self {
        match kind {
            WorkloadKind::Deployment => Self::Deployment,
            WorkloadKind::StatefulSet => Self::StatefulSet,
            WorkloadKind::DaemonSet => Self::DaemonSet,
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A container image a workload must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedImage {
    /// The container's name; `None` finds the container by repository.
    pub name: Option<String>,
    /// The repository with its registry, without a tag:
    /// `registry.acme.example/platform/api-gateway`.
    pub repository: String,
    /// The tag: `2.4.1`.
    pub tag: String,
}

impl ExpectedImage {
    /// `repository:tag`, as an image reference is written.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

/// The chart a Helm release must run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedChart {
    /// The chart's name.
    pub chart: String,
    /// The chart's version.
    pub version: String,
}

impl ExpectedChart {
    /// `chart-version`, as `helm list` shows it.
    pub fn reference(&self) -> String {
        format!("{}-{}", self.chart, self.version)
    }
}

/// Why a release manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{}: cannot read the release manifest: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong and what to do about it.
        reason: String,
    },
    /// The file is not a valid manifest.
    #[error("{}", render_problems(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found, in the order of the file.
        problems: Vec<Problem>,
    },
}

/// Reads and checks a release manifest file.
pub fn load(path: &Path) -> Result<ReleaseManifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|e| ManifestError::Read {
        path: path.to_path_buf(),
        reason: read_reason(&e),
    })?;
    parse(&text, path)
}

/// Says why the file could not be read, and what to do.
fn read_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => format!(
            "{error}; check the path (a site profile's `release` is taken from the profile's directory)"
        ),
        std::io::ErrorKind::InvalidData => {
            "the file is not UTF-8 text; a release manifest is a YAML file \
             (see docs/release-manifest.md)"
                .to_owned()
        }
        _ => error.to_string(),
    }
}

/// Parses and checks manifest text; `path` names it in messages and is kept
/// as the manifest's `source_file`.
pub fn parse(text: &str, path: &Path) -> Result<ReleaseManifest, ManifestError> {
    let invalid = |problems: Vec<Problem>| ManifestError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let at_top = |message: &str| vec![problem(Location::UNKNOWN, message.to_owned())];
    if is_blank(text) {
        return Err(invalid(at_top(EMPTY)));
    }
    // A lenient first reading finds every unknown key at once (a strict
    // reader stops at the first) and tells a YAML syntax error apart.
    let shape: Spanned<Shape> =
        serde_saphyr::from_str(text).map_err(|e| invalid(vec![problem_from_yaml(&e, text)]))?;
    if !matches!(shape.value, Shape::Map(_)) {
        return Err(invalid(at_top(NOT_A_MAPPING)));
    }
    let keys = check::KeyCheck::of(&shape);
    let raw: Spanned<RawManifest> = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let mut problems = keys.problems;
            problems.push(problem_from_yaml(&e, text));
            return Err(invalid(sorted(problems)));
        }
    };
    let (manifest, problems) = check::Check::new(keys).manifest(&raw, path);
    match manifest {
        Some(manifest) if problems.is_empty() => Ok(manifest),
        _ => Err(invalid(sorted(problems))),
    }
}

const EMPTY: &str = "the release manifest is empty: it needs at least `name`, `version` and \
                     `components` (see docs/release-manifest.md)";

const NOT_A_MAPPING: &str = "this is not a release manifest: expected `key: value` lines with \
                             `name`, `version` and `components` (see docs/release-manifest.md)";

/// A problem at a place; an unknown place is the top of the file.
fn problem(at: Location, message: String) -> Problem {
    let (line, column) = match at.line() {
        0 => (1, 1),
        line => (line, at.column()),
    };
    Problem {
        line,
        column,
        message,
    }
}

fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| (p.line, p.column));
    problems.dedup();
    problems
}

/// Whether the text holds nothing but blank lines, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...")
}

/// The document's shape: mappings with their keys and places, lists, and
/// scalars left unread.
#[derive(Debug)]
enum Shape {
    Map(Vec<(Spanned<String>, Spanned<Shape>)>),
    List(Vec<Spanned<Shape>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_none<E>(self) -> Result<Shape, E> {
        Ok(Shape::Scalar)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Shape::List(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Shape::Map(entries))
    }
}

/// The manifest as written: every key optional and unknown keys ignored,
/// so that one reading finds every missing or misplaced key. (Unknown keys
/// are reported from the [`Shape`].)
#[derive(Debug, Deserialize)]
struct RawManifest {
    name: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    namespaces: Option<Spanned<Vec<Spanned<String>>>>,
    components: Option<Spanned<Vec<Spanned<RawComponent>>>>,
}

/// One component as written.
#[derive(Debug, Deserialize)]
struct RawComponent {
    name: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    namespace: Option<Spanned<String>>,
    containers: Option<Spanned<Vec<Spanned<RawContainer>>>>,
    chart: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
}

/// One expected container as written.
#[derive(Debug, Deserialize)]
struct RawContainer {
    name: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
    tag: Option<Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(text, Path::new("m.yaml")) {
            Ok(m) => panic!("loaded: {m:?}"),
            Err(ManifestError::Invalid { problems, .. }) => problems
                .iter()
                .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
                .collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_minimal_manifest_takes_its_namespaces_from_its_components() {
        let text = "name: p\nversion: '3.0'\ncomponents:\n\
            - {name: a, kind: DaemonSet, namespace: ops, containers: [{image: r/a, tag: 1.10}]}\n\
            - {name: b, kind: HelmChart, chart: b, version: 0.3.0}\n\
            - {name: c, kind: Deployment, namespace: apps, containers: [{image: r/c, tag: '1'}]}\n\
            - {name: d, kind: Deployment, namespace: ops, containers: [{image: r/d, tag: '1'}]}\n";
        let m = parse(text, Path::new("m.yaml")).expect("valid");
        assert_eq!((m.name.as_str(), m.version.as_str()), ("p", "3.0"));
        assert_eq!(m.namespaces, ["ops", "apps"]);
        assert!(m.tracks_namespace("apps") && !m.tracks_namespace("kube-system"));
        // A tag that reads as a number keeps its digits.
        assert_eq!(m.components[0].containers[0].reference(), "r/a:1.10");
        let chart = m.components[1].chart.as_ref().expect("a chart");
        assert_eq!(chart.reference(), "b-0.3.0");
        assert_eq!(m.components[1].describe(), "HelmChart b");
        assert_eq!(m.components[0].describe(), "DaemonSet ops/a");
        assert_eq!(m.source_file, Path::new("m.yaml"));
    }

    #[test]
    fn components_match_by_kind_and_name_and_a_set_namespace() {
        let text = "name: p\nversion: '1'\ncomponents:\n\
            - {name: web, kind: Deployment, containers: [{image: r/web, tag: '1'}]}\n\
            - {name: web, kind: Deployment, namespace: b, containers: [{image: r/web, tag: '2'}]}\n\
            - {name: db, kind: StatefulSet, namespace: b, containers: [{image: r/db, tag: '1'}]}\n";
        let m = parse(text, Path::new("m.yaml")).expect("valid");
        let tag = |kind, ns, name| {
            m.component_for(kind, ns, name)
                .map(|c| c.containers[0].tag.clone())
        };
        assert_eq!(
            tag(ComponentKind::Deployment, "a", "web").as_deref(),
            Some("1")
        );
        assert_eq!(
            tag(ComponentKind::Deployment, "b", "web").as_deref(),
            Some("2")
        );
        assert_eq!(
            tag(ComponentKind::StatefulSet, "b", "db").as_deref(),
            Some("1")
        );
        assert_eq!(tag(ComponentKind::StatefulSet, "a", "db"), None);
        assert_eq!(tag(ComponentKind::DaemonSet, "b", "web"), None);
    }

    #[test]
    fn kinds_by_name() {
        for kind in ComponentKind::ALL {
            assert_eq!(ComponentKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(ComponentKind::from_name("deployment"), None);
        for kind in WorkloadKind::ALL {
            assert_eq!(ComponentKind::from(kind).workload_kind(), Some(kind));
        }
        assert_eq!(ComponentKind::HelmChart.workload_kind(), None);
    }

    #[test]
    fn every_unknown_key_is_reported_at_once() {
        let text = "name: p\nversoin: '1'\ncomponents:\n  - name: a\n    knd: Deployment\n    \
                    containers:\n      - image: r/a\n        tagg: '1'\n";
        assert_eq!(
            problems(text),
            [
                "2:1: unknown key `versoin` (did you mean `version`?); expected one of: name, \
                 version, namespaces, components",
                "5:5: unknown key `knd` (did you mean `kind`?); expected one of: name, kind, \
                 namespace, containers, chart, version",
                "8:9: unknown key `tagg` (did you mean `tag`?); expected one of: name, image, tag",
            ]
        );
    }

    #[test]
    fn a_wrong_type_is_reported_with_the_unknown_keys() {
        let text = "name: p\nversion: '1'\nnamspaces: x\ncomponents: api\n";
        assert_eq!(
            problems(text),
            [
                "3:1: unknown key `namspaces` (did you mean `namespaces`?); expected one of: \
                 name, version, namespaces, components",
                "4:13: expected a list here",
            ]
        );
    }

    #[test]
    fn a_misspelled_kind_is_one_problem() {
        let text = "name: p\nversion: '1'\ncomponents:\n  - name: mw\n    kind: Helmchart\n    \
                    chart: mw\n    version: 1.0.0\n";
        assert_eq!(
            problems(text),
            [
                "5:11: unknown kind `Helmchart` (did you mean `HelmChart`?); expected one of: \
              Deployment, StatefulSet, DaemonSet, HelmChart"
            ]
        );
    }
}
