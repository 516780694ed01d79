//! What sitedeck keeps of each watched object: rows trimmed to the fields
//! the views, the drift check and the findings use. The full objects are
//! dropped as soon as a row is made, so 10k pods cost kilobytes each, not
//! the tens of kilobytes a full Pod takes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

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

pub use super::convert::{
    daemon_set_row, deployment_row, event_row, node_row, pod_row, stateful_set_row,
};

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
