//! Findings: the problems an SRE should see next to the objects they are
//! about — a crash-looping or unschedulable pod, an image on `latest`, a
//! container without limits, a probe that will kill a slow app, a service
//! whose replicas all sit on one node. Pure functions over the rows of
//! [`super::model`], so the views, the headless checks and the inspection
//! report all find the same things.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::fmt;

use serde::{Serialize, Serializer};

use super::model::{ContainerRow, PodRow, ProbeSpec, Workload, WorkloadKind};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// A risk or a misconfiguration: nothing is down because of it yet.
    Warning,
    /// Something is broken now: a pod does not run or keeps dying.
    Critical,
}

impl Severity {
    /// The word used in JSON and reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// A container keeps crashing and the kubelet backs off restarting it.
    CrashLoopBackOff,
    /// A container was last killed for exceeding its memory limit.
    OomKilled,
    /// The scheduler cannot place the pod.
    Unschedulable,
    /// The kubelet cannot pull the pod's image.
    ImagePullBackOff,
    /// The kubelet cannot create a container (a missing ConfigMap or Secret).
    ContainerConfigError,
    /// The kubelet evicted the pod (node pressure).
    Evicted,
    /// An image on the `latest` tag, or on no tag at all.
    LatestTag,
    /// A container without a CPU or memory limit.
    MissingLimits,
    /// A liveness probe identical to the readiness probe.
    LivenessEqualsReadiness,
    /// A probe whose timings are out of a sane range.
    ProbeTiming,
    /// Every ready replica of a replicated workload on one node.
    SingleNode,
}

impl FindingKind {
    /// Every kind.
    pub const ALL: [FindingKind; 11] = [
        Self::CrashLoopBackOff,
        Self::OomKilled,
        Self::Unschedulable,
        Self::ImagePullBackOff,
        Self::ContainerConfigError,
        Self::Evicted,
        Self::LatestTag,
        Self::MissingLimits,
        Self::LivenessEqualsReadiness,
        Self::ProbeTiming,
        Self::SingleNode,
    ];

    /// The stable snake_case code used in JSON, reports and check files.
    pub fn code(self) -> &'static str {
        match self {
            Self::CrashLoopBackOff => "crash_loop_back_off",
            Self::OomKilled => "oom_killed",
            Self::Unschedulable => "unschedulable",
            Self::ImagePullBackOff => "image_pull_back_off",
            Self::ContainerConfigError => "container_config_error",
            Self::Evicted => "evicted",
            Self::LatestTag => "latest_tag",
            Self::MissingLimits => "missing_limits",
            Self::LivenessEqualsReadiness => "liveness_equals_readiness",
            Self::ProbeTiming => "probe_timing",
            Self::SingleNode => "single_node",
        }
    }

    /// The kind for a code, if there is one.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

impl Serialize for FindingKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

/// The object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    /// Its Kubernetes kind: `Pod`, `Deployment`, `StatefulSet`, `DaemonSet`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// A pod's reference.
    pub fn pod(pod: &PodRow) -> Self {
        Self {
            kind: "Pod".to_owned(),
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
        }
    }

    /// A workload's reference.
    pub fn workload(workload: &Workload) -> Self {
        Self {
            kind: workload.kind.name().to_owned(),
            namespace: workload.namespace.clone(),
            name: workload.name.clone(),
        }
    }
}

impl fmt::Display for ObjectRef {
    /// `Deployment acme-prod/order-service`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One problem with one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// What kind of problem it is.
    pub kind: FindingKind,
    /// The object it is about.
    pub object: ObjectRef,
    /// What is wrong and what to do about it, in a sentence or two.
    pub message: String,
}

impl Finding {
    fn new(severity: Severity, kind: FindingKind, object: ObjectRef, message: String) -> Self {
        Self {
            severity,
            kind,
            object,
            message,
        }
    }
}

/// What is wrong with a pod right now.
///
/// These are the states in which a pod does not serve: an SRE sees them
/// first in an incident. A crash loop and an OOM kill are both reported
/// when both apply: the first says it is down, the second says why.
pub fn pod_findings(pod: &PodRow) -> Vec<Finding> {
    let mut findings = Vec::new();
    let critical =
        |kind, message| Finding::new(Severity::Critical, kind, ObjectRef::pod(pod), message);
    let previous_log = format!("kubectl logs --previous -n {} {}", pod.namespace, pod.name);
    match pod.status.as_str() {
        "CrashLoopBackOff" => {
            let last = pod
                .last_termination
                .as_deref()
                .map(|reason| format!(", last exit {reason}"))
                .unwrap_or_default();
            findings.push(critical(
                FindingKind::CrashLoopBackOff,
                format!(
                    "Crash-looping ({} restarts{last}): the kubelet keeps restarting it with a \
                     growing back-off; read why it died with `{previous_log}` and fix the cause.",
                    pod.restarts
                ),
            ));
        }
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" => findings.push(critical(
            FindingKind::ImagePullBackOff,
            format!(
                "Cannot pull its image ({}): check that the image and tag exist in the registry, \
                 that the node reaches it and that the pull secret is valid.",
                pod.status
            ),
        )),
        "CreateContainerConfigError" | "CreateContainerError" => findings.push(critical(
            FindingKind::ContainerConfigError,
            format!(
                "Its container cannot be created ({}): usually a ConfigMap, Secret or key it \
                 references is missing; `kubectl describe pod -n {} {}` names it.",
                pod.status, pod.namespace, pod.name
            ),
        )),
        "Evicted" => findings.push(Finding::new(
            Severity::Warning,
            FindingKind::Evicted,
            ObjectRef::pod(pod),
            "Evicted by its node, usually for disk or memory pressure: check the node's \
             resources, then delete the pod."
                .to_owned(),
        )),
        _ => {}
    }
    if pod.last_termination.as_deref() == Some("OOMKilled") {
        findings.push(critical(
            FindingKind::OomKilled,
            format!(
                "Its container was killed for exceeding its memory limit (OOMKilled, {} \
                 restarts): raise the memory limit, or find the leak with `{previous_log}`.",
                pod.restarts
            ),
        ));
    }
    if pod.phase == "Pending"
        && let Some(reason) = &pod.unschedulable
    {
        findings.push(critical(
            FindingKind::Unschedulable,
            format!(
                "Cannot be scheduled: \"{reason}\"; free or add capacity, or fix its node \
                 selector, affinity or tolerations."
            ),
        ));
    }
    findings
}

/// What is risky in a workload's definition and placement.
///
/// None of these break anything today; each is how a site breaks later: a
/// `latest` image changes on a node restart, a container without limits
/// starves its neighbours, a bad probe kills a slow app, one node takes a
/// whole replicated service down with it. `pods` are the workload's pods;
/// pods it does not select are ignored.
pub fn workload_findings(workload: &Workload, pods: &[&PodRow]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut warn = |kind, message| {
        findings.push(Finding::new(
            Severity::Warning,
            kind,
            ObjectRef::workload(workload),
            message,
        ));
    };
    for container in &workload.containers {
        container_findings(container, &mut warn);
    }
    if let Some(message) = single_node(workload, pods) {
        warn(FindingKind::SingleNode, message);
    }
    findings
}

fn container_findings(container: &ContainerRow, warn: &mut impl FnMut(FindingKind, String)) {
    let name = &container.name;
    let image = &container.image_ref;
    if image.digest.is_none() && image.tag.as_deref().is_none_or(|tag| tag == "latest") {
        warn(
            FindingKind::LatestTag,
            format!(
                "Container {name} runs {} on `latest` (or no tag): a restart may pull other \
                 code and its version cannot be compared with the release; pin a version tag \
                 or a digest.",
                container.image
            ),
        );
    }
    let missing: Vec<&str> = [
        ("cpu", container.cpu_limit),
        ("memory", container.memory_limit),
    ]
    .into_iter()
    .filter(|(_, set)| !set)
    .map(|(resource, _)| resource)
    .collect();
    if !missing.is_empty() {
        warn(
            FindingKind::MissingLimits,
            format!(
                "Container {name} has no {} limit: one runaway process can starve every pod on \
                 its node; set resources.limits.",
                missing.join(" or ")
            ),
        );
    }
    if let (Some(liveness), Some(readiness)) = (&container.liveness, &container.readiness)
        && liveness == readiness
    {
        warn(
            FindingKind::LivenessEqualsReadiness,
            format!(
                "Container {name} has the same liveness and readiness probe ({}): when the app \
                 is slow it gets killed instead of taken out of rotation; make liveness check \
                 only that the process lives, with a longer failure budget.",
                liveness.handler
            ),
        );
    }
    for (which, probe) in [
        ("liveness", &container.liveness),
        ("readiness", &container.readiness),
    ] {
        if let Some(probe) = probe {
            for message in probe_timing(which, probe) {
                warn(
                    FindingKind::ProbeTiming,
                    format!("Container {name}: {message}"),
                );
            }
        }
    }
}

/// What is wrong with a probe's timings, one sentence each.
fn probe_timing(which: &str, probe: &ProbeSpec) -> Vec<String> {
    let mut problems = Vec::new();
    let (period, timeout) = (probe.period_seconds, probe.timeout_seconds);
    if period < 1 || timeout < 1 {
        problems.push(format!(
            "the {which} probe runs every {period} s with a {timeout} s timeout; both must be \
             at least 1 s, set real values."
        ));
    } else if timeout >= period {
        problems.push(format!(
            "the {which} probe times out after {timeout} s but runs every {period} s, so a slow \
             answer overlaps the next check; keep timeoutSeconds below periodSeconds."
        ));
    }
    let budget = probe.failure_threshold.saturating_mul(period);
    if which == "liveness" && period >= 1 && budget < 10 {
        problems.push(format!(
            "the liveness probe restarts the container after only {budget} s of failures \
             ({} × {period} s), so a GC pause or a slow dependency kills a healthy container; \
             allow at least 10 s.",
            probe.failure_threshold
        ));
    }
    if probe.initial_delay_seconds > 300 {
        problems.push(format!(
            "the {which} probe waits {} s before its first check, so a container that hangs \
             at startup goes unnoticed that long; use a startupProbe for slow starts.",
            probe.initial_delay_seconds
        ));
    }
    problems
}

/// Whether a pod is running with every container ready.
fn is_ready(pod: &PodRow) -> bool {
    pod.phase == "Running"
        && pod.status != "Terminating"
        && pod.containers > 0
        && pod.ready == pod.containers
}

/// The warning when every ready replica of a replicated workload runs on
/// one node. DaemonSets run one pod per node by design.
fn single_node(workload: &Workload, pods: &[&PodRow]) -> Option<String> {
    if workload.kind == WorkloadKind::DaemonSet || workload.desired < 2 {
        return None;
    }
    let mut nodes = pods
        .iter()
        .filter(|pod| workload.selects(&pod.namespace, &pod.labels) && is_ready(pod))
        .map(|pod| pod.node.as_deref());
    let first = nodes.next()??;
    let mut ready = 1;
    for node in nodes {
        if node != Some(first) {
            return None;
        }
        ready += 1;
    }
    (ready >= 2).then(|| {
        format!(
            "All {ready} ready replicas run on node {first}: losing that node takes the whole \
             service down; spread them with pod anti-affinity or a topology spread constraint."
        )
    })
}

/// Every finding of every workload and pod: critical first, then by the
/// object's namespace and name.
///
/// Pods are indexed by namespace and label once, so each workload looks
/// only at the pods that carry one of its selector's labels: linear in
/// the number of pods, not workloads × pods.
pub fn all_findings(workloads: &[Workload], pods: &[PodRow]) -> Vec<Finding> {
    let mut findings: Vec<Finding> = pods.iter().flat_map(pod_findings).collect();
    let index = PodIndex::new(pods);
    for workload in workloads {
        findings.extend(workload_findings(workload, &index.selected_by(workload)));
    }
    findings.sort_by(|a, b| {
        (
            Reverse(a.severity),
            &a.object.namespace,
            &a.object.name,
            &a.object.kind,
            a.kind,
        )
            .cmp(&(
                Reverse(b.severity),
                &b.object.namespace,
                &b.object.name,
                &b.object.kind,
                b.kind,
            ))
            .then_with(|| a.message.cmp(&b.message))
    });
    findings
}

/// Pods by namespace, then by label.
struct PodIndex<'a> {
    by_label: HashMap<&'a str, HashMap<(&'a str, &'a str), Vec<&'a PodRow>>>,
}

impl<'a> PodIndex<'a> {
    fn new(pods: &'a [PodRow]) -> Self {
        let mut by_label: HashMap<&str, HashMap<(&str, &str), Vec<&PodRow>>> = HashMap::new();
        for pod in pods {
            let labels = by_label.entry(pod.namespace.as_str()).or_default();
            for (key, value) in &pod.labels {
                labels
                    .entry((key.as_str(), value.as_str()))
                    .or_default()
                    .push(pod);
            }
        }
        Self { by_label }
    }

    /// The pods a workload selects: of the pods with one of its selector's
    /// labels (the rarest), those that match the whole selector.
    fn selected_by(&self, workload: &Workload) -> Vec<&'a PodRow> {
        let Some(labels) = self.by_label.get(workload.namespace.as_str()) else {
            return Vec::new();
        };
        let candidates = workload
            .selector
            .iter()
            .map(|(key, value)| labels.get(&(key.as_str(), value.as_str())))
            .min_by_key(|pods| pods.map_or(0, Vec::len))
            .flatten();
        candidates
            .into_iter()
            .flatten()
            .filter(|pod| workload.selects(&pod.namespace, &pod.labels))
            .copied()
            .collect()
    }
}

// The tests live in `findings/tests.rs`: they are longer than the code.
#[cfg(test)]
mod tests;
