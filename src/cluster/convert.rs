//! Kubernetes objects (k8s-openapi) turned into the rows of [`super::model`]:
//! the status column computed as kubectl does, quantities read, probes and
//! limits reduced to what the findings compare.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Container, Event, Node, Pod, PodSpec, PodTemplateSpec, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::model::{
    ContainerRow, EventRow, ImageRef, NodeRow, PodRow, ProbeSpec, RolloutState, Workload,
    WorkloadKind,
};
use super::quantity;

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

/// The replica counts and rollout of a workload, with its metadata and
/// template: what the three workload kinds have in common.
struct WorkloadParts<'a> {
    kind: WorkloadKind,
    metadata: &'a ObjectMeta,
    template: &'a PodTemplateSpec,
    selector: &'a LabelSelector,
    desired: i32,
    ready: i32,
    updated: i32,
    paused: bool,
    failed: Option<String>,
}

fn workload(parts: WorkloadParts<'_>) -> Workload {
    let WorkloadParts {
        kind,
        metadata,
        template,
        selector,
        desired,
        ready,
        updated,
        paused,
        failed,
    } = parts;
    Workload {
        kind,
        namespace: metadata.namespace.clone().unwrap_or_default(),
        name: metadata.name.clone().unwrap_or_default(),
        containers: containers(template.spec.as_ref()),
        desired,
        ready,
        updated,
        rollout: rollout(paused, desired, ready, updated, failed),
        selector: match_labels(selector),
        created: created(metadata),
    }
}

/// The Versions row of a Deployment.
pub fn deployment_row(deployment: &Deployment) -> Workload {
    let spec = &deployment.spec;
    let status = deployment.status.as_ref();
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
    workload(WorkloadParts {
        kind: WorkloadKind::Deployment,
        metadata: &deployment.metadata,
        template: &spec.template,
        selector: &spec.selector,
        desired: spec.replicas.unwrap_or(1),
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        paused: spec.paused.unwrap_or(false),
        failed,
    })
}

/// The Versions row of a StatefulSet.
pub fn stateful_set_row(set: &StatefulSet) -> Workload {
    let status = set.status.as_ref();
    workload(WorkloadParts {
        kind: WorkloadKind::StatefulSet,
        metadata: &set.metadata,
        template: &set.spec.template,
        selector: &set.spec.selector,
        desired: set.spec.replicas.unwrap_or(1),
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        updated: status.and_then(|s| s.updated_replicas).unwrap_or(0),
        paused: false,
        failed: None,
    })
}

/// The Versions row of a DaemonSet.
pub fn daemon_set_row(set: &DaemonSet) -> Workload {
    let status = set.status.as_ref();
    workload(WorkloadParts {
        kind: WorkloadKind::DaemonSet,
        metadata: &set.metadata,
        template: &set.spec.template,
        selector: &set.spec.selector,
        desired: status.map_or(0, |s| s.desired_number_scheduled),
        ready: status.map_or(0, |s| s.number_ready),
        updated: status.and_then(|s| s.updated_number_scheduled).unwrap_or(0),
        paused: false,
        failed: None,
    })
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
        restarts: statuses.iter().fold(0u32, |sum, c| {
            sum.saturating_add(c.restart_count.max(0) as u32)
        }),
        last_termination,
        node: spec.and_then(|s| s.node_name.clone()),
        unschedulable,
        created: created(&pod.metadata),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
        cpu_request_millis: pod_containers
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.cpu_request_millis)),
        memory_request_bytes: pod_containers
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.memory_request_bytes)),
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
