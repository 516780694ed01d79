//! Checking a release manifest as written: unknown keys, missing and empty
//! values, kinds, what each kind of component must and must not have,
//! duplicates, and image references split the way drift compares them.
//! Every problem is collected; none stops the check.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_saphyr::{Location, Spanned};

use super::{
    Component, ComponentKind, ExpectedChart, ExpectedImage, RawComponent, RawContainer,
    RawManifest, ReleaseManifest, Shape, problem,
};
use crate::cluster::model::ImageRef;
use crate::config::profile::{Problem, closest, did_you_mean};

/// The keys of each mapping of the format.
const TOP_KEYS: [&str; 4] = ["name", "version", "namespaces", "components"];
const COMPONENT_KEYS: [&str; 6] = [
    "name",
    "kind",
    "namespace",
    "containers",
    "chart",
    "version",
];
const CONTAINER_KEYS: [&str; 3] = ["name", "image", "tag"];
const KINDS: &str = "Deployment, StatefulSet, DaemonSet, HelmChart";

/// The unknown keys of a document, found from its shape.
#[derive(Debug, Default)]
pub(super) struct KeyCheck {
    /// One problem per unknown key.
    pub(super) problems: Vec<Problem>,
    /// A mapping (by its place) and the known key an unknown key there
    /// looks like: `contaners` is one problem, not also "no `containers`".
    misspelled: HashSet<(u64, u64, &'static str)>,
}

impl KeyCheck {
    /// Checks the keys of every mapping of the format in the document.
    pub(super) fn of(document: &Spanned<Shape>) -> Self {
        let mut check = Self::default();
        let Shape::Map(top) = &document.value else {
            return check;
        };
        check.mapping(document.referenced, top, &TOP_KEYS);
        for component in list_of(top, "components") {
            let Shape::Map(entries) = &component.value else {
                continue;
            };
            check.mapping(component.referenced, entries, &COMPONENT_KEYS);
            for container in list_of(entries, "containers") {
                if let Shape::Map(entries) = &container.value {
                    check.mapping(container.referenced, entries, &CONTAINER_KEYS);
                }
            }
        }
        check
    }

    fn mapping(
        &mut self,
        at: Location,
        entries: &[(Spanned<String>, Spanned<Shape>)],
        expected: &[&'static str],
    ) {
        for (key, _) in entries {
            let word = key.value.as_str();
            if expected.contains(&word) {
                continue;
            }
            if let Some(meant) = closest(word, expected) {
                self.misspelled.insert((at.line(), at.column(), meant));
            }
            let message = if expected == COMPONENT_KEYS && matches!(word, "image" | "tag") {
                // The first format had one image per component: this is
                // one problem, not also "no `containers`".
                self.misspelled
                    .insert((at.line(), at.column(), "containers"));
                format!(
                    "unknown key `{word}` in a component: list the images under `containers`, \
                     each with `name`, `image` and `tag`"
                )
            } else {
                format!(
                    "unknown key `{word}`{}; expected one of: {}",
                    did_you_mean(word, expected),
                    expected.join(", ")
                )
            };
            self.problems.push(problem(key.referenced, message));
        }
    }

    fn misspelled(&self, mapping: Location, key: &str) -> bool {
        self.misspelled
            .contains(&(mapping.line(), mapping.column(), key))
    }
}

/// The items of the list under `key`, if it is a list.
fn list_of<'a>(
    entries: &'a [(Spanned<String>, Spanned<Shape>)],
    key: &str,
) -> impl Iterator<Item = &'a Spanned<Shape>> {
    entries
        .iter()
        .filter(move |(k, _)| k.value == key)
        .flat_map(|(_, value)| match &value.value {
            Shape::List(items) => items.as_slice(),
            _ => &[],
        })
}

/// The checks after reading, collecting every problem.
pub(super) struct Check {
    keys: KeyCheck,
    problems: Vec<Problem>,
    /// The `namespaces` as written, if they were.
    listed_namespaces: Option<Vec<String>>,
}

impl Check {
    /// Starts with the problems the key check found.
    pub(super) fn new(mut keys: KeyCheck) -> Self {
        Self {
            problems: std::mem::take(&mut keys.problems),
            keys,
            listed_namespaces: None,
        }
    }

    fn problem(&mut self, at: Location, message: String) {
        self.problems.push(problem(at, message));
    }

    /// A value that must be there and not be blank. A missing one is
    /// reported at `report_at` unless a misspelled key stands for it.
    fn required(
        &mut self,
        mapping: Location,
        report_at: Location,
        key: &str,
        value: &Option<Spanned<String>>,
        missing: impl FnOnce() -> String,
    ) -> Option<String> {
        match value {
            None => {
                if !self.keys.misspelled(mapping, key) {
                    self.problem(report_at, missing());
                }
                None
            }
            Some(value) => self.non_blank(key, value),
        }
    }

    /// The value, unless it is blank (reported).
    fn non_blank(&mut self, key: &str, value: &Spanned<String>) -> Option<String> {
        let text = value.value.trim();
        if text.is_empty() {
            self.problem(value.referenced, format!("`{key}` must not be empty"));
            None
        } else {
            Some(text.to_owned())
        }
    }

    /// Checks the whole manifest; the manifest comes back only if every
    /// part it needs could be read (the problems may still be non-empty).
    pub(super) fn manifest(
        mut self,
        raw: &Spanned<RawManifest>,
        path: &Path,
    ) -> (Option<ReleaseManifest>, Vec<Problem>) {
        let (top, m) = (raw.referenced, &raw.value);
        let missing = |key: &'static str| move || format!("missing required key `{key}`");
        let name = self.required(top, Location::UNKNOWN, "name", &m.name, missing("name"));
        let version = self.required(
            top,
            Location::UNKNOWN,
            "version",
            &m.version,
            missing("version"),
        );
        if let Some(listed) = &m.namespaces {
            self.listed_namespaces = Some(self.namespace_list(listed));
        }
        let components = match &m.components {
            None => {
                if !self.keys.misspelled(top, "components") {
                    self.problem(Location::UNKNOWN, missing("components")());
                }
                None
            }
            Some(list) if list.value.is_empty() => {
                self.problem(
                    list.referenced,
                    "`components` is empty: list what the release ships".into(),
                );
                None
            }
            Some(list) => self.components(&list.value),
        };
        let manifest = match (name, version, components) {
            (Some(name), Some(version), Some(components)) => {
                let namespaces = self
                    .listed_namespaces
                    .take()
                    .unwrap_or_else(|| namespaces_of(&components));
                Some(ReleaseManifest {
                    name,
                    version,
                    namespaces,
                    components,
                    source_file: path.to_path_buf(),
                })
            }
            _ => None,
        };
        (manifest, self.problems)
    }

    fn namespace_list(&mut self, listed: &Spanned<Vec<Spanned<String>>>) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut namespaces = Vec::new();
        for namespace in &listed.value {
            let Some(name) = self.non_blank("namespaces", namespace) else {
                continue;
            };
            if seen.insert(name.clone()) {
                namespaces.push(name);
            } else {
                self.problem(
                    namespace.referenced,
                    format!("duplicate namespace `{name}` in `namespaces`"),
                );
            }
        }
        namespaces
    }

    /// Every component, or `None` if one could not be read.
    fn components(&mut self, raw: &[Spanned<RawComponent>]) -> Option<Vec<Component>> {
        let mut components = Vec::new();
        let mut all_read = true;
        let mut seen: HashMap<(ComponentKind, Option<String>, String), u64> = HashMap::new();
        for (index, item) in raw.iter().enumerate() {
            let Some(component) = self.component(index + 1, item) else {
                all_read = false;
                continue;
            };
            let key = (
                component.kind,
                component.namespace.clone(),
                component.name.clone(),
            );
            let at = item
                .value
                .name
                .as_ref()
                .map_or(item.referenced, |n| n.referenced);
            if let Some(first_line) = seen.get(&key) {
                let place = match &component.namespace {
                    Some(ns) => format!("in namespace `{ns}`"),
                    None => "for any namespace".to_owned(),
                };
                self.problem(
                    at,
                    format!(
                        "duplicate component: {} `{}` {place} is already listed at line {first_line}",
                        component.kind, component.name
                    ),
                );
            } else {
                seen.insert(key, at.line());
            }
            components.push(component);
        }
        all_read.then_some(components)
    }

    /// One component, or `None` if a part it needs is missing or wrong.
    fn component(&mut self, number: usize, raw: &Spanned<RawComponent>) -> Option<Component> {
        let (at, c) = (raw.referenced, &raw.value);
        let name = self.required(at, at, "name", &c.name, || {
            format!("component {number} has no `name`")
        });
        let called = match &name {
            Some(name) => format!("`{name}`"),
            None => number.to_string(),
        };
        let kind = self.kind(at, c, &called);
        let who = match (kind, &name) {
            (Some(kind), Some(_)) => format!("{kind} {called}"),
            (Some(kind), None) => format!("{kind} component {called}"),
            (None, _) => format!("component {called}"),
        };
        let namespace = c.namespace.as_ref().and_then(|ns| self.namespace(ns));
        let (containers, chart) = match kind {
            Some(ComponentKind::HelmChart) => (Some(Vec::new()), self.chart(at, c, &who)),
            Some(_) => {
                for (key, value) in [("chart", &c.chart), ("version", &c.version)] {
                    if let Some(value) = value {
                        self.problem(
                            value.referenced,
                            format!(
                                "{who} has a `{key}`: only a HelmChart has `chart` and \
                                 `version`; a workload lists its images under `containers`"
                            ),
                        );
                    }
                }
                (self.containers(at, c, &who), None)
            }
            // Which keys it should have depends on the kind; still check
            // its containers, if it lists any.
            None => {
                if c.containers.is_some() {
                    self.containers(at, c, &who);
                }
                (None, None)
            }
        };
        let chart_ok = kind != Some(ComponentKind::HelmChart) || chart.is_some();
        match (name, kind, containers) {
            (Some(name), Some(kind), Some(containers)) if chart_ok => Some(Component {
                name,
                kind,
                namespace,
                containers,
                chart,
            }),
            _ => None,
        }
    }

    fn kind(&mut self, at: Location, c: &RawComponent, called: &str) -> Option<ComponentKind> {
        let Some(kind) = &c.kind else {
            if !self.keys.misspelled(at, "kind") {
                self.problem(
                    at,
                    format!("component {called} has no `kind`; expected one of: {KINDS}"),
                );
            }
            return None;
        };
        let word = kind.value.trim();
        let found = ComponentKind::from_name(word);
        if found.is_none() {
            let names = ComponentKind::ALL.map(ComponentKind::name);
            self.problem(
                kind.referenced,
                format!(
                    "unknown kind `{word}`{}; expected one of: {KINDS}",
                    did_you_mean(word, &names)
                ),
            );
        }
        found
    }

    /// A component's namespace, which `namespaces` must list if written.
    fn namespace(&mut self, raw: &Spanned<String>) -> Option<String> {
        let namespace = self.non_blank("namespace", raw)?;
        if let Some(listed) = &self.listed_namespaces
            && !listed.contains(&namespace)
        {
            let candidates: Vec<&str> = listed.iter().map(String::as_str).collect();
            let message = format!(
                "namespace `{namespace}` is not in `namespaces`{}: list it there, or correct it here",
                did_you_mean(&namespace, &candidates)
            );
            self.problem(raw.referenced, message);
        }
        Some(namespace)
    }

    /// A HelmChart's chart and version; it has no containers.
    fn chart(&mut self, at: Location, c: &RawComponent, who: &str) -> Option<ExpectedChart> {
        if let Some(containers) = &c.containers {
            self.problem(
                containers.referenced,
                format!("{who} has `containers`: a HelmChart names only its `chart` and `version`"),
            );
        }
        let chart = self.required(at, at, "chart", &c.chart, || {
            format!("{who} has no `chart`: the name of the chart it installs")
        });
        let version = self.required(at, at, "version", &c.version, || {
            format!("{who} has no `version`: the chart's version, e.g. `version: 1.8.2`")
        });
        Some(ExpectedChart {
            chart: chart?,
            version: version?,
        })
    }

    /// A workload's containers: at least one, each read, none twice.
    fn containers(
        &mut self,
        at: Location,
        c: &RawComponent,
        who: &str,
    ) -> Option<Vec<ExpectedImage>> {
        let Some(list) = &c.containers else {
            if !self.keys.misspelled(at, "containers") {
                self.problem(
                    at,
                    format!(
                        "{who} has no `containers`: a workload lists at least one container \
                         with its `image` and `tag`"
                    ),
                );
            }
            return None;
        };
        if list.value.is_empty() {
            self.problem(
                list.referenced,
                format!("{who} lists no containers: a workload lists at least one"),
            );
            return None;
        }
        let mut images = Vec::new();
        let mut all_read = true;
        let mut seen = HashSet::new();
        for (index, raw) in list.value.iter().enumerate() {
            let Some(image) = self.container(index + 1, raw) else {
                all_read = false;
                continue;
            };
            // Two entries that would find the same running container.
            let identity = match &image.name {
                Some(name) => format!("container `{name}`"),
                None => format!("container of `{}`", image.repository),
            };
            if !seen.insert(identity.clone()) {
                self.problem(
                    raw.referenced,
                    format!("duplicate {identity} in {who}: each container is listed once"),
                );
            }
            images.push(image);
        }
        all_read.then_some(images)
    }

    /// One expected container.
    fn container(&mut self, number: usize, raw: &Spanned<RawContainer>) -> Option<ExpectedImage> {
        let (at, c) = (raw.referenced, &raw.value);
        let name = c.name.as_ref().and_then(|n| self.non_blank("name", n));
        let who = match &name {
            Some(name) => format!("container `{name}`"),
            None => format!("container {number}"),
        };
        let image = self.required(at, at, "image", &c.image, || {
            format!("{who} has no `image`: its repository, e.g. `image: registry.example/team/app`")
        });
        let written = match (&image, &c.image) {
            (Some(image), Some(raw)) => self.image(image, raw.referenced),
            _ => Written::Invalid,
        };
        let tag = match (&c.tag, written) {
            (None, Written::Tagged) => None, // Already told to move it to `tag`.
            (tag, _) => self.required(at, at, "tag", tag, || {
                format!("{who} has no `tag`: the tag the release ships, e.g. `tag: 2.4.1`")
            }),
        };
        if let (Some(tag), Some(raw_tag)) = (&tag, &c.tag)
            && !is_image_tag(tag)
        {
            self.problem(
                raw_tag.referenced,
                format!(
                    "`{tag}` is not an image tag: letters, digits, `_`, `.` and `-`, \
                     at most 128, not starting with `.` or `-`"
                ),
            );
        }
        Some(ExpectedImage {
            name,
            repository: image.filter(|_| written == Written::Repository)?,
            tag: tag?,
        })
    }

    /// Checks that `image` is a bare repository, as drift compares it.
    fn image(&mut self, image: &str, at: Location) -> Written {
        if image.contains(char::is_whitespace) {
            self.problem(at, format!("`{image}` is not an image repository"));
            return Written::Invalid;
        }
        let parsed = ImageRef::parse(image);
        let repository = &parsed.repository;
        let message = match (&parsed.tag, &parsed.digest) {
            (_, Some(_)) => format!(
                "`image` has a digest: sitedeck compares tags; write `image: {repository}` \
                 and the tag in `tag`"
            ),
            (Some(tag), None) if tag.is_empty() => {
                format!("`image` ends with `:`: write `image: {repository}` and the tag in `tag`")
            }
            (Some(tag), None) => {
                format!("`image` has a tag: write `image: {repository}` and `tag: {tag}`")
            }
            (None, None) => return Written::Repository,
        };
        self.problem(at, message);
        Written::Tagged
    }
}

/// What an `image` value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// A repository, as it should.
    Repository,
    /// A repository with a tag or digest (reported).
    Tagged,
    /// Something else, or nothing (reported).
    Invalid,
}

/// An image tag as registries accept it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_image_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= 128
        && tag.starts_with(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

/// The components' namespaces, each once, in the order they first appear.
fn namespaces_of(components: &[Component]) -> Vec<String> {
    let mut namespaces: Vec<String> = Vec::new();
    for namespace in components.iter().filter_map(|c| c.namespace.as_ref()) {
        if !namespaces.contains(namespace) {
            namespaces.push(namespace.clone());
        }
    }
    namespaces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_follow_the_registry_grammar() {
        for good in ["2.4.1", "v1.0.0-rc.1", "latest", "_x", "1.2.3_build.7"] {
            assert!(is_image_tag(good), "{good}");
        }
        for bad in ["", ".1", "-rc", "2.4.1 beta", "a:b", "ü", &"x".repeat(129)] {
            assert!(!is_image_tag(bad), "{bad}");
        }
    }
}
