//! What sitedeck keeps of each watched object: rows trimmed to the fields
//! the views, the drift check and the findings use. The full objects are
//! dropped as soon as a row is made, so 10k pods cost kilobytes each, not
//! the tens of kilobytes a full Pod takes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Container, Event, Node, Pod, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::quantity;

/// Which kind of workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
}

impl WorkloadKind {
    /// Every kind, in the order Versions lists them.
    pub const ALL: [WorkloadKind; 3] = [Self::Deployment, Self::StatefulSet, Self::DaemonSet];

    /// The Kubernetes kind name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
        }
    }

    /// The kind for a Kubernetes kind name, if it is a workload kind.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A container image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRef {
    /// The repository with its registry: `registry.acme.example/platform/api`.
    pub repository: String,
    /// The tag; `None` when the reference has none (Kubernetes then pulls `latest`).
    pub tag: Option<String>,
    /// The digest (`sha256:…`), if pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Splits `registry:5000/repo/name:tag@sha256:…`; a port in the registry
    /// is not a tag.
    pub fn parse(image: &str) -> Self {
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_owned())),
            None => (image, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[last_slash..].rfind(':') {
            Some(colon) => Self {
                repository: rest[..last_slash + colon].to_owned(),
                tag: Some(rest[last_slash + colon + 1..].to_owned()),
                digest,
            },
            None => Self {
                repository: rest.to_owned(),
                tag: None,
                digest,
            },
        }
    }

    /// The tag as shown: the tag, else `@digest`, else `latest` (what the
    /// kubelet pulls when there is none).
    pub fn shown_tag(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => tag.clone(),
            (None, Some(digest)) => format!("@{digest}"),
            (None, None) => "latest".to_owned(),
        }
    }
}

/// A liveness or readiness probe, reduced to what the findings compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// What it checks: `GET :8080/healthz`, `tcp :3306`, `exec mysqladmin ping`.
    pub handler: String,
    /// `initialDelaySeconds`.
    pub initial_delay_seconds: i32,
    /// `periodSeconds` (Kubernetes default 10).
    pub period_seconds: i32,
    /// `timeoutSeconds` (Kubernetes default 1).
    pub timeout_seconds: i32,
    /// `failureThreshold` (Kubernetes default 3).
    pub failure_threshold: i32,
}

/// One container of a pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRow {
    /// The container's name.
    pub name: String,
    /// The image as written.
    pub image: String,
    /// The image split into repository, tag and digest.
    pub image_ref: ImageRef,
    /// Whether `resources.limits.cpu` is set.
    pub cpu_limit: bool,
    /// Whether `resources.limits.memory` is set.
    pub memory_limit: bool,
    /// CPU requested, in millicores.
    pub cpu_request_millis: u64,
    /// Memory requested, in bytes.
    pub memory_request_bytes: u64,
    /// The liveness probe.
    pub liveness: Option<ProbeSpec>,
    /// The readiness probe.
    pub readiness: Option<ProbeSpec>,
}

/// How a workload's rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutState {
    /// Every replica runs the current template and is available.
    Complete,
    /// New replicas are coming up.
    Progressing,
    /// `spec.paused` is set.
    Paused,
    /// The rollout stopped: the condition's reason (`ProgressDeadlineExceeded`).
    Failed(String),
    /// Scaled to zero.
    ScaledDown,
}

impl RolloutState {
    /// The word shown in the rollout column.
    pub fn label(&self) -> &str {
        match self {
            Self::Complete => "complete",
            Self::Progressing => "progressing",
            Self::Paused => "paused",
            Self::Failed(_) => "failed",
            Self::ScaledDown => "scaled down",
        }
    }
}

/// A Deployment, StatefulSet or DaemonSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The pod template's containers (init containers left out).
    pub containers: Vec<ContainerRow>,
    /// Replicas wanted (for a DaemonSet: nodes it should run on).
    pub desired: i32,
    /// Replicas ready.
    pub ready: i32,
    /// Replicas running the current template.
    pub updated: i32,
    /// The rollout.
    pub rollout: RolloutState,
    /// `spec.selector.matchLabels`, to find its pods.
    pub selector: BTreeMap<String, String>,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
}

impl Workload {
    /// Whether a pod with these labels in this namespace belongs to it.
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        namespace == self.namespace
            && !self.selector.is_empty()
            && self
                .selector
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
    }

    /// Whether fewer replicas are ready than wanted.
    pub fn unavailable(&self) -> bool {
        self.ready < self.desired
    }
}

/// A pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The status as `kubectl get pods` shows it: `Running`,
    /// `CrashLoopBackOff`, `Pending`, `Terminating`, `Completed`…
    pub status: String,
    /// `status.phase`.
    pub phase: String,
    /// Containers ready.
    pub ready: u32,
    /// Containers in all.
    pub containers: u32,
    /// Restarts of all containers.
    pub restarts: u32,
    /// Why a container last terminated (`OOMKilled`, `Error`), newest first.
    pub last_termination: Option<String>,
    /// The node it runs on.
    pub node: Option<String>,
    /// The scheduler's reason when it cannot be placed:
    /// `0/3 nodes are available: 3 Insufficient memory.`
    pub unschedulable: Option<String>,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// Its labels, to find its workload.
    pub labels: BTreeMap<String, String>,
    /// CPU requested by its containers, in millicores.
    pub cpu_request_millis: u64,
    /// Memory requested by its containers, in bytes.
    pub memory_request_bytes: u64,
}

impl PodRow {
    /// Whether the pod still holds resources on its node.
    pub fn holds_resources(&self) -> bool {
        !matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }
}

/// A node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Its name.
    pub name: String,
    /// The Ready condition: `Some(true)` ready, `Some(false)` not ready,
    /// `None` unknown (the kubelet stopped reporting).
    pub ready: Option<bool>,
    /// Roles from `node-role.kubernetes.io/*` labels.
    pub roles: Vec<String>,
    /// Taints as `key=value:Effect`.
    pub taints: Vec<String>,
    /// Whether it is cordoned.
    pub unschedulable: bool,
    /// The kubelet's version.
    pub kubelet_version: String,
    /// The OS image.
    pub os_image: String,
    /// The container runtime and its version.
    pub container_runtime: String,
    /// Its InternalIP.
    pub internal_ip: Option<String>,
    /// Allocatable CPU, in millicores.
    pub cpu_allocatable_millis: u64,
    /// Allocatable memory, in bytes.
    pub memory_allocatable_bytes: u64,
    /// When it joined.
    pub created: Option<DateTime<Utc>>,
}

/// An event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Its namespace.
    pub namespace: String,
    /// Its name (unique per namespace).
    pub name: String,
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// The reason: `BackOff`, `FailedScheduling`…
    pub reason: String,
    /// The object it is about: `Pod/api-gateway-7d9c-x2x`.
    pub object: String,
    /// The message.
    pub message: String,
    /// How many times it happened.
    pub count: i32,
    /// When it last happened.
    pub last_seen: Option<DateTime<Utc>>,
}

/// A Helm release revision, decoded from its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmRelease {
    /// The release name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The chart's name.
    pub chart: String,
    /// The chart's version.
    pub chart_version: String,
    /// The app version the chart declares.
    pub app_version: String,
    /// `deployed`, `superseded`, `failed`, `pending-upgrade`…
    pub status: String,
    /// The revision number.
    pub revision: i64,
    /// When it was last deployed.
    pub updated: Option<DateTime<Utc>>,
    /// The secret it was decoded from (one per revision).
    pub secret: String,
}

/// Any row, with the key it is stored under.
pub trait Row: Clone + Send + 'static {
    /// Namespace (empty for cluster-scoped objects) and name.
    fn key(&self) -> (String, String);
}

macro_rules! namespaced_row {
    ($($row:ty),*) => {$(
        impl Row for $row {
            fn key(&self) -> (String, String) {
                (self.namespace.clone(), self.name.clone())
            }
        }
    )*};
}
namespaced_row!(PodRow, EventRow);

impl Row for Workload {
    fn key(&self) -> (String, String) {
        // Kinds share names (a Deployment and a StatefulSet `mysql`).
        (
            self.namespace.clone(),
            format!("{}/{}", self.kind.name(), self.name),
        )
    }
}

impl Row for NodeRow {
    fn key(&self) -> (String, String) {
        (String::new(), self.name.clone())
    }
}

impl Row for HelmRelease {
    fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.secret.clone())
    }
}

/// A Kubernetes timestamp as chrono's.
fn utc(timestamp: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        timestamp.as_second(),
        timestamp.subsec_nanosecond().max(0) as u32,
    )
}

fn created(meta: &ObjectMeta) -> Option<DateTime<Utc>> {
    meta.creation_timestamp.as_ref().and_then(|t| utc(&t.0))
}

fn match_labels(selector: &LabelSelector) -> BTreeMap<String, String> {
    selector.match_labels.clone().unwrap_or_default()
}

fn probe_spec(probe: &Probe) -> ProbeSpec {
    let handler = if let Some(http) = &probe.http_get {
        let port = match &http.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => p.to_string(),
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(p) => p.clone(),
        };
        format!("GET :{port}{}", http.path.as_deref().unwrap_or("/"))
    } else if let Some(tcp) = &probe.tcp_socket {
        match &tcp.port {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => {
                format!("tcp :{p}")
            }
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(p) => {
                format!("tcp :{p}")
            }
        }
    } else if let Some(exec) = &probe.exec {
        format!(
            "exec {}",
            exec.command.clone().unwrap_or_default().join(" ")
        )
    } else if let Some(grpc) = &probe.grpc {
        format!("grpc :{}", grpc.port)
    } else {
        "none".to_owned()
    };
    ProbeSpec {
        handler,
        initial_delay_seconds: probe.initial_delay_seconds.unwrap_or(0),
        period_seconds: probe.period_seconds.unwrap_or(10),
        timeout_seconds: probe.timeout_seconds.unwrap_or(1),
        failure_threshold: probe.failure_threshold.unwrap_or(3),
    }
}

fn container_row(container: &Container) -> ContainerRow {
    let image = container.image.clone().unwrap_or_default();
    let resources = container.resources.as_ref();
    let limits = resources.and_then(|r| r.limits.as_ref());
    let requests = resources.and_then(|r| r.requests.as_ref());
    let request = |name: &str| requests.and_then(|r| r.get(name)).map(|q| q.0.as_str());
    ContainerRow {
        name: container.name.clone(),
        image_ref: ImageRef::parse(&image),
        image,
        cpu_limit: limits.is_some_and(|l| l.contains_key("cpu")),
        memory_limit: limits.is_some_and(|l| l.contains_key("memory")),
        cpu_request_millis: request("cpu").map_or(0, quantity::cpu_millis),
        memory_request_bytes: request("memory").map_or(0, quantity::bytes),
        liveness: container.liveness_probe.as_ref().map(probe_spec),
        readiness: container.readiness_probe.as_ref().map(probe_spec),
    }
}

fn containers(spec: Option<&PodSpec>) -> Vec<ContainerRow> {
    spec.map(|s| s.containers.iter().map(container_row).collect())
        .unwrap_or_default()
}

fn rollout(
    paused: bool,
    desired: i32,
    ready: i32,
    updated: i32,
    failed: Option<String>,
) -> RolloutState {
    if let Some(reason) = failed {
        RolloutState::Failed(reason)
    } else if paused {
        RolloutState::Paused
    } else if desired == 0 {
        RolloutState::ScaledDown
    } else if updated >= desired && ready >= desired {
        RolloutState::Complete
    } else {
        RolloutState::Progressing
    }
}

/// The Versions row of a Deployment.
pub fn deployment_row(deployment: &Deployment) -> Workload {
    let spec = Some(&deployment.spec);
    let status = deployment.status.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    let failed = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| {
            conditions.iter().find(|c| {
                c.type_.as_deref() == Some("Progressing")
                    && c.status.as_deref() == Some("False")
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            })
        })
        .map(|c| c.reason.clone().unwrap_or_default());
    let paused = spec.and_then(|s| s.paused).unwrap_or(false);
    Workload {
        kind: WorkloadKind::Deployment,
        namespace: deployment.metadata.namespace.clone().unwrap_or_default(),
        name: deployment.metadata.name.clone().unwrap_or_default(),
        containers: containers(spec.and_then(|s| s.template.spec.as_ref())),
        desired,
        ready,
        updated,
        rollout: rollout(paused, desired, ready, updated, failed),
        selector: spec.map(|s| match_labels(&s.selector)).unwrap_or_default(),
        created: created(&deployment.metadata),
    }
}

/// The Versions row of a StatefulSet.
pub fn stateful_set_row(set: &StatefulSet) -> Workload {
    let spec = Some(&set.spec);
    let status = set.status.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let updated = status.and_then(|s| s.updated_replicas).unwrap_or(0);
    Workload {
        kind: WorkloadKind::StatefulSet,
        namespace: set.metadata.namespace.clone().unwrap_or_default(),
        name: set.metadata.name.clone().unwrap_or_default(),
        containers: containers(spec.and_then(|s| s.template.spec.as_ref())),
        desired,
        ready,
        updated,
        rollout: rollout(false, desired, ready, updated, None),
        selector: spec.map(|s| match_labels(&s.selector)).unwrap_or_default(),
        created: created(&set.metadata),
    }
}

/// The Versions row of a DaemonSet.
pub fn daemon_set_row(set: &DaemonSet) -> Workload {
    let spec = Some(&set.spec);
    let status = set.status.as_ref();
    let desired = status.map_or(0, |s| s.desired_number_scheduled);
    let ready = status.map_or(0, |s| s.number_ready);
    let updated = status.and_then(|s| s.updated_number_scheduled).unwrap_or(0);
    Workload {
        kind: WorkloadKind::DaemonSet,
        namespace: set.metadata.namespace.clone().unwrap_or_default(),
        name: set.metadata.name.clone().unwrap_or_default(),
        containers: containers(spec.and_then(|s| s.template.spec.as_ref())),
        desired,
        ready,
        updated,
        rollout: rollout(false, desired, ready, updated, None),
        selector: spec.map(|s| match_labels(&s.selector)).unwrap_or_default(),
        created: created(&set.metadata),
    }
}

/// The Pods row of a pod, with the status column computed as kubectl does.
pub fn pod_row(pod: &Pod) -> PodRow {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_owned());
    let mut shown = status
        .and_then(|s| s.reason.clone())
        .unwrap_or_else(|| phase.clone());
    for container in statuses {
        let state = container.state.as_ref();
        if let Some(reason) = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone())
        {
            shown = reason;
        } else if let Some(terminated) = state.and_then(|s| s.terminated.as_ref()) {
            shown = terminated
                .reason
                .clone()
                .unwrap_or_else(|| format!("ExitCode:{}", terminated.exit_code));
        }
    }
    if pod.metadata.deletion_timestamp.is_some() {
        shown = "Terminating".to_owned();
    }
    let last_termination = statuses.iter().find_map(|c| {
        let last = c.last_state.as_ref()?.terminated.as_ref()?;
        Some(
            last.reason
                .clone()
                .unwrap_or_else(|| format!("ExitCode:{}", last.exit_code)),
        )
    });
    let unschedulable = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        })
        .map(|c| {
            c.message
                .clone()
                .or_else(|| c.reason.clone())
                .unwrap_or_default()
        });
    let pod_containers = containers(spec);
    PodRow {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        status: shown,
        phase,
        ready: statuses.iter().filter(|c| c.ready).count() as u32,
        containers: spec.map_or(0, |s| s.containers.len()) as u32,
        restarts: statuses.iter().map(|c| c.restart_count.max(0) as u32).sum(),
        last_termination,
        node: spec.and_then(|s| s.node_name.clone()),
        unschedulable,
        created: created(&pod.metadata),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        cpu_request_millis: pod_containers.iter().map(|c| c.cpu_request_millis).sum(),
        memory_request_bytes: pod_containers.iter().map(|c| c.memory_request_bytes).sum(),
    }
}

/// The Nodes row of a node.
pub fn node_row(node: &Node) -> NodeRow {
    let status = node.status.as_ref();
    let info = status.and_then(|s| s.node_info.as_ref());
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| match c.status.as_str() {
            "True" => Some(true),
            "False" => Some(false),
            _ => None,
        });
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let mut roles: Vec<String> = labels
        .keys()
        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|role| !role.is_empty())
        .map(str::to_owned)
        .collect();
    roles.sort();
    let spec = node.spec.as_ref();
    let taints = spec
        .and_then(|s| s.taints.as_ref())
        .map(|taints| {
            taints
                .iter()
                .map(|t| match &t.value {
                    Some(value) => format!("{}={value}:{}", t.key, t.effect),
                    None => format!("{}:{}", t.key, t.effect),
                })
                .collect()
        })
        .unwrap_or_default();
    let allocatable = status.and_then(|s| s.allocatable.as_ref());
    let amount = |name: &str| allocatable.and_then(|a| a.get(name)).map(|q| q.0.as_str());
    NodeRow {
        name: node.metadata.name.clone().unwrap_or_default(),
        ready,
        roles,
        taints,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        kubelet_version: info.map(|i| i.kubelet_version.clone()).unwrap_or_default(),
        os_image: info.map(|i| i.os_image.clone()).unwrap_or_default(),
        container_runtime: info
            .map(|i| i.container_runtime_version.clone())
            .unwrap_or_default(),
        internal_ip: status
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone()),
        cpu_allocatable_millis: amount("cpu").map_or(0, quantity::cpu_millis),
        memory_allocatable_bytes: amount("memory").map_or(0, quantity::bytes),
        created: created(&node.metadata),
    }
}

/// The Events row of an event.
pub fn event_row(event: &Event) -> EventRow {
    let involved = &event.involved_object;
    let last_seen = event
        .last_timestamp
        .as_ref()
        .and_then(|t| utc(&t.0))
        .or_else(|| event.event_time.as_ref().and_then(|t| utc(&t.0)))
        .or_else(|| event.first_timestamp.as_ref().and_then(|t| utc(&t.0)))
        .or_else(|| created(&event.metadata));
    EventRow {
        namespace: event.metadata.namespace.clone().unwrap_or_default(),
        name: event.metadata.name.clone().unwrap_or_default(),
        warning: event.type_.as_deref() == Some("Warning"),
        reason: event.reason.clone().unwrap_or_default(),
        object: format!(
            "{}/{}",
            involved.kind.as_deref().unwrap_or("?"),
            involved.name.as_deref().unwrap_or("?")
        ),
        message: event.message.clone().unwrap_or_default(),
        count: event.count.unwrap_or(1),
        last_seen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_repository_tag_and_digest() {
        let cases = [
            ("nginx", "nginx", None, None),
            ("nginx:1.27", "nginx", Some("1.27"), None),
            (
                "registry:5000/team/api:2.4.1",
                "registry:5000/team/api",
                Some("2.4.1"),
                None,
            ),
            (
                "registry:5000/team/api",
                "registry:5000/team/api",
                None,
                None,
            ),
            ("repo/api@sha256:abc", "repo/api", None, Some("sha256:abc")),
            (
                "repo/api:1.0@sha256:abc",
                "repo/api",
                Some("1.0"),
                Some("sha256:abc"),
            ),
        ];
        for (image, repository, tag, digest) in cases {
            let parsed = ImageRef::parse(image);
            assert_eq!(parsed.repository, repository, "{image}");
            assert_eq!(parsed.tag.as_deref(), tag, "{image}");
            assert_eq!(parsed.digest.as_deref(), digest, "{image}");
        }
        assert_eq!(ImageRef::parse("nginx").shown_tag(), "latest");
    }
}
