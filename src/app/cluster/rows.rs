//! The cluster views' rows: what each column of Versions, Helm, Pods,
//! Nodes and Events says, built from the watched rows, the release
//! manifest's drift and the findings. Rows come problems first; a sort
//! chosen by the operator reorders them.

use std::collections::{BTreeMap, HashMap};

use super::ClusterState;
use crate::app::table::{Cell, TableRow, Target, Tone};
use crate::cluster::drift::{self, Drift};
use crate::cluster::findings::{Finding, Severity};
use crate::cluster::model::{PodRow, RolloutState, Workload};
use crate::cluster::quantity::{format_bytes, format_cpu};
use crate::cluster::release::ReleaseManifest;
use crate::cluster::watch::Feed;

/// The cluster views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClusterView {
    /// Workloads, their images and drift.
    Versions,
    /// Helm releases.
    Helm,
    /// Pods.
    Pods,
    /// Nodes.
    Nodes,
    /// Events, warnings first.
    Events,
}

impl ClusterView {
    /// Every cluster view.
    pub const ALL: [ClusterView; 5] = [
        Self::Versions,
        Self::Helm,
        Self::Pods,
        Self::Nodes,
        Self::Events,
    ];

    /// The column titles.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Versions => &[
                "NAMESPACE",
                "KIND",
                "NAME",
                "CONTAINER",
                "REPOSITORY",
                "TAG",
                "READY",
                "ROLLOUT",
                "DRIFT",
                "FINDINGS",
            ],
            Self::Helm => &[
                "NAMESPACE",
                "NAME",
                "CHART",
                "VERSION",
                "APP VERSION",
                "STATUS",
                "REVISION",
                "UPDATED",
                "DRIFT",
            ],
            Self::Pods => &[
                "NAMESPACE",
                "NAME",
                "STATUS",
                "READY",
                "RESTARTS",
                "LAST TERMINATION",
                "NODE",
                "AGE",
                "FINDINGS",
            ],
            Self::Nodes => &[
                "NAME", "STATUS", "ROLES", "TAINTS", "KUBELET", "OS IMAGE", "RUNTIME", "CPU REQ",
                "MEM REQ", "AGE",
            ],
            Self::Events => &[
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "MESSAGE",
                "COUNT",
                "NAMESPACE",
            ],
        }
    }

    /// Columns to hide first, in order, when the terminal is too narrow
    /// for all of them.
    pub fn hide_order(self) -> &'static [usize] {
        match self {
            // NAMESPACE KIND NAME CONTAINER REPOSITORY TAG READY ROLLOUT DRIFT FINDINGS
            Self::Versions => &[3, 4, 1, 7, 0],
            // NAMESPACE NAME CHART VERSION APP VERSION STATUS REVISION UPDATED DRIFT
            Self::Helm => &[4, 7, 2, 0],
            // NAMESPACE NAME STATUS READY RESTARTS LAST TERMINATION NODE AGE FINDINGS
            Self::Pods => &[5, 6, 0, 7],
            // NAME STATUS ROLES TAINTS KUBELET OS IMAGE RUNTIME CPU MEM AGE
            Self::Nodes => &[5, 6, 3, 9, 2],
            // LAST SEEN TYPE REASON OBJECT MESSAGE COUNT NAMESPACE
            Self::Events => &[6, 5, 1],
        }
    }

    /// The sort a view starts with: `None` keeps the builder's order,
    /// problems first.
    pub fn default_sort(self) -> Option<usize> {
        None
    }

    /// The feeds whose rows a view shows.
    pub fn feeds(self) -> &'static [Feed] {
        match self {
            Self::Versions => &[Feed::Deployments, Feed::StatefulSets, Feed::DaemonSets],
            Self::Helm => &[Feed::Helm],
            Self::Pods => &[Feed::Pods],
            Self::Nodes => &[Feed::Nodes, Feed::Pods],
            Self::Events => &[Feed::Events],
        }
    }
}

/// Pods shows only the pods of one workload (after `enter` in Versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodScope {
    /// `Deployment acme-prod/api-gateway`.
    pub label: String,
    /// The workload's namespace.
    pub namespace: String,
    /// Its selector.
    pub selector: BTreeMap<String, String>,
}

impl PodScope {
    /// The scope of a workload's pods.
    pub fn of(workload: &Workload) -> Self {
        Self {
            label: format!(
                "{} {}/{}",
                workload.kind.name(),
                workload.namespace,
                workload.name
            ),
            namespace: workload.namespace.clone(),
            selector: workload.selector.clone(),
        }
    }

    /// Whether the pod is in scope.
    pub fn contains(&self, pod: &PodRow) -> bool {
        pod.namespace == self.namespace
            && !self.selector.is_empty()
            && self
                .selector
                .iter()
                .all(|(k, v)| pod.labels.get(k) == Some(v))
    }
}

/// Builds a view's rows.
pub fn build(state: &ClusterState, view: ClusterView) -> Vec<TableRow> {
    let mut rows = match view {
        ClusterView::Versions => versions(state),
        ClusterView::Helm => helm(state),
        ClusterView::Pods => pods(state),
        ClusterView::Nodes => nodes(state),
        ClusterView::Events => events(state),
    };
    // Problems first (stable: the builders' order within).
    rows.sort_by_key(|row| std::cmp::Reverse(row.tone));
    rows
}

fn text(value: impl Into<String>) -> Cell {
    Cell::Text(crate::text::one_line(&value.into()))
}

fn number(value: i64) -> Cell {
    Cell::Number(value, value.to_string())
}

type FindingIndex<'a> = HashMap<(&'a str, &'a str, &'a str), Vec<&'a Finding>>;

fn index_findings(findings: &[Finding]) -> FindingIndex<'_> {
    let mut index: FindingIndex<'_> = HashMap::new();
    for finding in findings {
        let object = &finding.object;
        index
            .entry((&object.kind, &object.namespace, &object.name))
            .or_default()
            .push(finding);
    }
    index
}

/// The findings cell: their codes, worst first.
fn findings_cell(found: Option<&Vec<&Finding>>) -> (Cell, Tone) {
    let Some(found) = found.filter(|f| !f.is_empty()) else {
        return (text(""), Tone::Normal);
    };
    let codes: Vec<&str> = found.iter().map(|f| f.kind.code()).collect();
    let tone = if found.iter().any(|f| f.severity == Severity::Critical) {
        Tone::Crit
    } else {
        Tone::Warn
    };
    (text(codes.join(", ")), tone)
}

/// Whether every feed of `view` has listed once: only then does a
/// component the release ships and no row shows run nowhere, rather than
/// not listed yet (loading, forbidden, or down from the start).
fn listed(state: &ClusterState, view: ClusterView) -> bool {
    view.feeds()
        .iter()
        .all(|feed| state.last_live.contains_key(feed))
}

fn drift_cell(drift: &Drift) -> Cell {
    let rank = match drift {
        Drift::Missing => 0,
        Drift::Different { .. } => 1,
        Drift::NotInManifest => 2,
        Drift::Ok => 3,
        Drift::Untracked => 4,
    };
    Cell::Number(rank, drift.label().to_owned())
}

/// What the drift means, in a sentence, for the detail line.
fn drift_detail(drift: &Drift, manifest: Option<&ReleaseManifest>) -> String {
    let release = manifest.map_or_else(String::new, |m| format!("{} {}", m.name, m.version));
    match drift {
        Drift::Different {
            expected, running, ..
        } => format!(
            "drift: {release} wants {expected}, runs {running} ({})",
            drift.label()
        ),
        Drift::Missing => format!("missing: {release} ships it, nothing runs"),
        Drift::NotInManifest => format!("not in manifest: {release} does not ship it"),
        Drift::Ok | Drift::Untracked => String::new(),
    }
}

/// The detail line: the parts that say something, joined.
fn detail(parts: impl IntoIterator<Item = String>) -> String {
    let parts: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
    crate::text::one_line(&parts.join(" · "))
}

fn finding_messages(found: Option<&Vec<&Finding>>) -> String {
    found
        .map(|f| {
            f.iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default()
}

fn worst(a: Tone, b: Tone) -> Tone {
    a.max(b)
}

fn versions(state: &ClusterState) -> Vec<TableRow> {
    let manifest = state.release.as_ref().and_then(|r| r.as_ref().ok());
    let findings = index_findings(&state.findings);
    let mut workloads: Vec<&Workload> = state.all_workloads().collect();
    workloads.sort_by(|a, b| (&a.namespace, a.kind, &a.name).cmp(&(&b.namespace, b.kind, &b.name)));
    let mut rows = Vec::new();
    for workload in workloads {
        let drift = manifest.map_or(Drift::Untracked, |m| drift::workload_drift(m, workload));
        let key = (
            workload.kind.name(),
            workload.namespace.as_str(),
            workload.name.as_str(),
        );
        let (findings_cell, findings_tone) = findings_cell(findings.get(&key));
        let row_detail = detail([
            drift_detail(&drift, manifest),
            match &workload.rollout {
                RolloutState::Failed(reason) => format!("rollout failed: {reason}"),
                _ => String::new(),
            },
            finding_messages(findings.get(&key)),
        ]);
        let mut tone = findings_tone;
        if drift.is_problem() || workload.unavailable() {
            tone = worst(tone, Tone::Warn);
        }
        if matches!(workload.rollout, RolloutState::Failed(_))
            || (workload.ready == 0 && workload.desired > 0)
        {
            tone = Tone::Crit;
        }
        if drift == Drift::Untracked && tone == Tone::Normal && manifest.is_some() {
            tone = Tone::Muted;
        }
        let target = Target {
            kind: workload.kind.name().to_owned(),
            namespace: workload.namespace.clone(),
            name: workload.name.clone(),
        };
        let ready = Cell::Number(
            i64::from(workload.ready) - i64::from(workload.desired),
            format!("{}/{}", workload.ready, workload.desired),
        );
        let containers: Vec<(String, String, String)> = if workload.containers.is_empty() {
            vec![(String::new(), String::new(), String::new())]
        } else {
            workload
                .containers
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        c.image_ref.repository.clone(),
                        c.image_ref.shown_tag(),
                    )
                })
                .collect()
        };
        for (container, repository, tag) in containers {
            rows.push(TableRow {
                cells: vec![
                    text(workload.namespace.clone()),
                    text(workload.kind.name()),
                    text(workload.name.clone()),
                    text(container),
                    text(repository),
                    text(tag),
                    ready.clone(),
                    text(workload.rollout.label()),
                    drift_cell(&drift),
                    findings_cell.clone(),
                ],
                tone,
                target: target.clone(),
                detail: row_detail.clone(),
            });
        }
    }
    if let Some(manifest) = manifest.filter(|_| listed(state, ClusterView::Versions)) {
        let workloads: Vec<Workload> = state.all_workloads().cloned().collect();
        for component in drift::missing_components(manifest, &workloads, state.helm.rows()) {
            if component.kind.workload_kind().is_none() {
                continue; // shown in Helm
            }
            for image in &component.containers {
                rows.push(TableRow {
                    cells: vec![
                        text(component.namespace.clone().unwrap_or_default()),
                        text(component.kind.name()),
                        text(component.name.clone()),
                        text(image.name.clone().unwrap_or_default()),
                        text(image.repository.clone()),
                        text(image.tag.clone()),
                        Cell::Number(-1, "-".to_owned()),
                        text(""),
                        drift_cell(&Drift::Missing),
                        text(""),
                    ],
                    tone: Tone::Crit,
                    target: Target::default(),
                    detail: drift_detail(&Drift::Missing, Some(manifest)),
                });
            }
        }
    }
    rows
}

fn helm(state: &ClusterState) -> Vec<TableRow> {
    let manifest = state.release.as_ref().and_then(|r| r.as_ref().ok());
    let mut releases = drift::current_revisions(state.helm.rows());
    releases.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut rows: Vec<TableRow> = releases
        .into_iter()
        .map(|release| {
            let drift = manifest.map_or(Drift::Untracked, |m| drift::helm_drift(m, release));
            let tone = if release.status.starts_with("failed")
                || release.status.starts_with("unreadable")
            {
                Tone::Crit
            } else if drift.is_problem() || release.status.starts_with("pending") {
                Tone::Warn
            } else {
                Tone::Normal
            };
            TableRow {
                cells: vec![
                    text(release.namespace.clone()),
                    text(release.name.clone()),
                    text(release.chart.clone()),
                    text(release.chart_version.clone()),
                    text(release.app_version.clone()),
                    text(release.status.clone()),
                    number(release.revision),
                    Cell::Age(release.updated),
                    drift_cell(&drift),
                ],
                tone,
                target: Target {
                    kind: "HelmRelease".to_owned(),
                    namespace: release.namespace.clone(),
                    name: release.name.clone(),
                },
                detail: drift_detail(&drift, manifest),
            }
        })
        .collect();
    if let Some(manifest) = manifest.filter(|_| listed(state, ClusterView::Helm)) {
        // Charts only: which workloads run does not matter here.
        for component in drift::missing_components(manifest, &[], state.helm.rows()) {
            let Some(chart) = &component.chart else {
                continue;
            };
            rows.push(TableRow {
                cells: vec![
                    text(component.namespace.clone().unwrap_or_default()),
                    text(component.name.clone()),
                    text(chart.chart.clone()),
                    text(chart.version.clone()),
                    text(""),
                    text(""),
                    number(0),
                    Cell::Age(None),
                    drift_cell(&Drift::Missing),
                ],
                tone: Tone::Crit,
                target: Target::default(),
                detail: drift_detail(&Drift::Missing, Some(manifest)),
            });
        }
    }
    rows
}

fn pods(state: &ClusterState) -> Vec<TableRow> {
    let findings = index_findings(&state.findings);
    let mut pods: Vec<&PodRow> = state
        .pods
        .rows()
        .iter()
        .filter(|p| state.pod_scope.as_ref().is_none_or(|s| s.contains(p)))
        .collect();
    pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    pods.into_iter()
        .map(|pod| {
            let found = findings.get(&("Pod", pod.namespace.as_str(), pod.name.as_str()));
            let (findings_cell, mut tone) = findings_cell(found);
            if pod.ready < pod.containers && pod.phase != "Succeeded" {
                tone = worst(tone, Tone::Warn);
            }
            if pod.phase == "Succeeded" && tone == Tone::Normal {
                tone = Tone::Muted;
            }
            TableRow {
                cells: vec![
                    text(pod.namespace.clone()),
                    text(pod.name.clone()),
                    text(pod.status.clone()),
                    Cell::Number(
                        i64::from(pod.ready) - i64::from(pod.containers),
                        format!("{}/{}", pod.ready, pod.containers),
                    ),
                    number(i64::from(pod.restarts)),
                    text(pod.last_termination.clone().unwrap_or_default()),
                    text(pod.node.clone().unwrap_or_default()),
                    Cell::Age(pod.created),
                    findings_cell,
                ],
                tone,
                target: Target {
                    kind: "Pod".to_owned(),
                    namespace: pod.namespace.clone(),
                    name: pod.name.clone(),
                },
                detail: detail([finding_messages(found)]),
            }
        })
        .collect()
}

fn nodes(state: &ClusterState) -> Vec<TableRow> {
    let mut requested: HashMap<&str, (u64, u64)> = HashMap::new();
    for pod in state.pods.rows().iter().filter(|p| p.holds_resources()) {
        if let Some(node) = &pod.node {
            let entry = requested.entry(node.as_str()).or_default();
            entry.0 = entry.0.saturating_add(pod.cpu_request_millis);
            entry.1 = entry.1.saturating_add(pod.memory_request_bytes);
        }
    }
    let mut nodes: Vec<_> = state.nodes.rows().iter().collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes
        .into_iter()
        .map(|node| {
            let (cpu, memory) = requested
                .get(node.name.as_str())
                .copied()
                .unwrap_or_default();
            let percent = |used: u64, of: u64| {
                used.saturating_mul(100)
                    .checked_div(of)
                    .unwrap_or(0)
                    .min(i64::MAX as u64) as i64
            };
            let cpu_percent = percent(cpu, node.cpu_allocatable_millis);
            let memory_percent = percent(memory, node.memory_allocatable_bytes);
            let mut status = match node.ready {
                Some(true) => "Ready".to_owned(),
                Some(false) => "NotReady".to_owned(),
                None => "Unknown".to_owned(),
            };
            if node.unschedulable {
                status.push_str(",SchedulingDisabled");
            }
            let tone = if node.ready != Some(true) {
                Tone::Crit
            } else if node.unschedulable || cpu_percent >= 90 || memory_percent >= 90 {
                Tone::Warn
            } else {
                Tone::Normal
            };
            TableRow {
                cells: vec![
                    text(node.name.clone()),
                    text(status),
                    text(node.roles.join(",")),
                    text(node.taints.join(",")),
                    text(node.kubelet_version.clone()),
                    text(node.os_image.clone()),
                    text(node.container_runtime.clone()),
                    Cell::Number(
                        cpu_percent,
                        format!(
                            "{}/{} {cpu_percent}%",
                            format_cpu(cpu),
                            format_cpu(node.cpu_allocatable_millis)
                        ),
                    ),
                    Cell::Number(
                        memory_percent,
                        format!(
                            "{}/{} {memory_percent}%",
                            format_bytes(memory),
                            format_bytes(node.memory_allocatable_bytes)
                        ),
                    ),
                    Cell::Age(node.created),
                ],
                tone,
                target: Target {
                    kind: "Node".to_owned(),
                    namespace: String::new(),
                    name: node.name.clone(),
                },
                detail: detail([
                    node.internal_ip
                        .clone()
                        .map(|ip| format!("InternalIP {ip}"))
                        .unwrap_or_default(),
                    if node.taints.is_empty() {
                        String::new()
                    } else {
                        format!("taints: {}", node.taints.join(", "))
                    },
                ]),
            }
        })
        .collect()
}

fn events(state: &ClusterState) -> Vec<TableRow> {
    let mut events: Vec<_> = state.events.rows().iter().collect();
    // Newest first; `build` then puts warnings before the rest.
    events.sort_by_key(|e| std::cmp::Reverse(e.last_seen));
    events
        .into_iter()
        .map(|event| TableRow {
            cells: vec![
                Cell::Age(event.last_seen),
                text(if event.warning { "Warning" } else { "Normal" }),
                text(event.reason.clone()),
                text(event.object.clone()),
                text(event.message.clone()),
                number(i64::from(event.count)),
                text(event.namespace.clone()),
            ],
            tone: if event.warning {
                Tone::Warn
            } else {
                Tone::Normal
            },
            target: Target {
                kind: "Event".to_owned(),
                namespace: event.namespace.clone(),
                name: event.name.clone(),
            },
            detail: detail([format!("{}: {}", event.object, event.message)]),
        })
        .collect()
}
