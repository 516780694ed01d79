//! The seed site's deliberate problems, so sitedeck's findings and its
//! Pods and Events views have something real to show. None changes a
//! version: `notification-worker` stays the only drift from release 2.4.1.
//!
//! * `acme-prod/billing-service`: one of its two pods runs again after 7
//!   restarts, the last an OOM kill 25 minutes ago (a BackOff event on the
//!   pod, the kubelet's SystemOOM event on its node);
//! * `acme-prod/order-service`: all 3 replicas on `acme-worker-1`;
//! * `acme-tools` (not part of the release), a namespace someone used for
//!   ad-hoc work: `debug-shell` on `busybox:latest` without limits,
//!   crash-looping (12 restarts, the last exit an `Error`; BackOff
//!   events), and `load-generator`, Pending because no worker has the
//!   48 GiB it asks for (FailedScheduling events).
//!
//! The simulator's controllers leave all of this alone: they act on
//! changes made after the simulator started, and these objects are
//! consistent (the ReplicaSets count the unready pods; the Deployments
//! that never became available are past their progress deadline, so the
//! Deployment controller counts them settled). Only the pods the
//! controllers create themselves are moved on, so a rollout a test starts
//! replaces these pods as it would any other.

use anyhow::Result;
use serde_json::{Value, json};

use super::events::EventSeed;
use super::{DeploymentSeed, Seeder, minutes_ago, short_hash};
use crate::kube::resources::{PODS, find_by_kind};

/// The namespace of the ad-hoc tools.
const TOOLS: &str = "acme-tools";
/// The node every `order-service` replica runs on.
const CROWDED_NODE: &str = "acme-worker-1";
/// The scheduler's word on `load-generator`'s pod.
const UNSCHEDULABLE: &str = "0/3 nodes are available: 1 node(s) had untolerated taint \
     {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory.";

/// How a seeded pod is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PodHealth {
    /// Running and ready since it started.
    Ready,
    /// Running and ready again after `restarts` restarts, the last one
    /// `minutes_ago`, when the kernel killed it at its memory limit.
    OomKilled { restarts: i64, minutes_ago: i64 },
    /// Running, its container waiting in CrashLoopBackOff after
    /// `restarts` restarts, each ending in exit code 1.
    CrashLooping { restarts: i64 },
    /// Pending: the scheduler cannot place it, for this reason.
    Unschedulable(&'static str),
}

impl PodHealth {
    /// Whether the pod is ready (counts as available).
    pub(super) fn ready(self) -> bool {
        matches!(self, Self::Ready | Self::OomKilled { .. })
    }
}

/// The problems of the platform's own Deployments: an OOM-killed
/// `billing-service` pod, `order-service` crowded on one node.
pub(super) fn platform(deployment: &mut DeploymentSeed<'_>) {
    match deployment.name {
        "billing-service" => {
            deployment.health = vec![PodHealth::OomKilled {
                restarts: 7,
                minutes_ago: 25,
            }];
        }
        "order-service" => deployment.node = Some(CROWDED_NODE),
        _ => {}
    }
}

/// Namespace `acme-tools` with a crash-looping `debug-shell` and a
/// `load-generator` no node can take.
pub(super) fn seed_tools(seeder: &mut Seeder<'_>) -> Result<()> {
    seeder.namespace(TOOLS, 2)?;
    seeder.deployment(DeploymentSeed {
        namespace: TOOLS,
        name: "debug-shell",
        image: "busybox:latest",
        replicas: 1,
        port: None,
        resources: json!({}),
        command: Some(json!([
            "sh",
            "-c",
            "cat /etc/acme/debug.conf && sleep 86400"
        ])),
        node: None,
        health: vec![PodHealth::CrashLooping { restarts: 12 }],
        age_minutes: (45, 45),
        revision: 1,
    })?;
    let resources = json!({"cpu": "2", "memory": "48Gi"});
    seeder.deployment(DeploymentSeed {
        namespace: TOOLS,
        name: "load-generator",
        image: "registry.acme.example/tools/load-generator:1.4.0",
        replicas: 1,
        port: None,
        resources: json!({"requests": resources, "limits": resources}),
        command: None,
        node: None,
        health: vec![PodHealth::Unschedulable(UNSCHEDULABLE)],
        age_minutes: (180, 180),
        revision: 1,
    })
}

/// A Pending pod's status when the scheduler cannot place it.
pub(super) fn unscheduled(status: &mut Value, reason: &str, created: &str) {
    status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": reason, "lastTransitionTime": created}]);
}

/// A running pod's status after restarts: OOM-killed and running again,
/// or crash-looping.
pub(super) fn restarted(status: &mut Value, pod: &str, health: PodHealth) {
    let previous = format!(
        "containerd://{}",
        short_hash(&format!("{pod}/previous"), 64)
    );
    match health {
        PodHealth::OomKilled {
            restarts,
            minutes_ago: last,
        } => {
            let since = minutes_ago(last);
            for container in containers(status) {
                container["restartCount"] = json!(restarts);
                container["state"] = json!({"running": {"startedAt": since}});
                container["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
                    "startedAt": minutes_ago(last + 190), "finishedAt": since,
                    "containerID": previous}});
            }
            set_conditions(status, "True", &since);
        }
        PodHealth::CrashLooping { restarts } => {
            let since = minutes_ago(3);
            for container in containers(status) {
                let name = container["name"].as_str().unwrap_or_default().to_string();
                container["ready"] = json!(false);
                container["started"] = json!(false);
                container["restartCount"] = json!(restarts);
                container["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off 5m0s restarting failed container={name} pod={pod}")}});
                container["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": since, "finishedAt": since, "containerID": previous}});
            }
            set_conditions(status, "False", &since);
        }
        PodHealth::Ready | PodHealth::Unschedulable(_) => {}
    }
}

fn containers(status: &mut Value) -> impl Iterator<Item = &mut Value> {
    status["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
}

/// Sets the Ready and ContainersReady conditions, changed at `since`.
fn set_conditions(status: &mut Value, ready: &str, since: &str) {
    let names: Vec<String> = containers(status)
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect();
    for condition in status["conditions"].as_array_mut().into_iter().flatten() {
        if condition["type"] == "Ready" || condition["type"] == "ContainersReady" {
            condition["status"] = json!(ready);
            condition["lastTransitionTime"] = json!(since);
            if ready == "False" {
                condition["reason"] = json!("ContainersNotReady");
                condition["message"] = json!(format!(
                    "containers with unready status: [{}]",
                    names.join(" ")
                ));
            }
        }
    }
}

/// The conditions of a Deployment that never became available: short of
/// its minimum (25 % may be unavailable) and past its progress deadline,
/// ten minutes after its pods were created `pods_age` minutes ago. Sets
/// `unavailableReplicas` too.
pub(super) fn stuck_conditions(
    status: &mut Value,
    replicas: i64,
    ready: i64,
    replica_set: &str,
    pods_age: i64,
) -> Value {
    status["unavailableReplicas"] = json!(replicas - ready);
    let created = minutes_ago(pods_age);
    let deadline = minutes_ago(pods_age - 10);
    let available = if ready >= replicas - replicas * 25 / 100 {
        json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
               "message": "Deployment has minimum availability."})
    } else {
        json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
               "message": "Deployment does not have minimum availability."})
    };
    let mut available = available;
    available["lastUpdateTime"] = json!(created);
    available["lastTransitionTime"] = json!(created);
    json!([
        available,
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": format!("ReplicaSet \"{replica_set}\" has timed out progressing."),
         "lastUpdateTime": deadline, "lastTransitionTime": deadline},
    ])
}

/// The first pod of `app` in `namespace` for which `pick` holds.
fn pod_of(
    seeder: &Seeder<'_>,
    namespace: &str,
    app: &str,
    pick: impl Fn(&Value) -> bool,
) -> Option<Value> {
    seeder
        .store
        .list(&PODS, Some(namespace), None)
        .map(|(_, pod)| pod)
        .find(|pod| pod["metadata"]["labels"]["app"] == app && pick(pod))
        .cloned()
}

/// What the kubelet and the scheduler said about the problems.
pub(super) fn warning_events(seeder: &mut Seeder<'_>) -> Result<()> {
    let restarted = |pod: &Value| {
        pod["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .is_some_and(|restarts| restarts > 0)
    };
    let any = |_: &Value| true;
    let back_off = |pod: &Value| {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let container = pod["spec"]["containers"][0]["name"]
            .as_str()
            .unwrap_or_default();
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        format!("Back-off restarting failed container {container} in pod {name}_{namespace}({uid})")
    };
    if let Some(pod) = pod_of(seeder, "acme-prod", "billing-service", restarted) {
        let node_name = pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        seeder.event(EventSeed {
            object: &pod,
            reason: "BackOff",
            message: back_off(&pod),
            warning: true,
            component: "kubelet",
            host: Some(&node_name),
            count: 2,
            minutes_ago: (27, 26),
        })?;
        let node = find_by_kind("v1", "Node")
            .and_then(|nodes| seeder.store.get(nodes, "", &node_name))
            .cloned();
        if let Some(node) = node {
            seeder.event(EventSeed {
                object: &node,
                reason: "SystemOOM",
                message: "System OOM encountered, victim process: java, pid: 48213".to_string(),
                warning: true,
                component: "kubelet",
                host: Some(&node_name),
                count: 7,
                minutes_ago: (6 * 24 * 60, 25),
            })?;
        }
    }
    if let Some(pod) = pod_of(seeder, TOOLS, "debug-shell", any) {
        let node = pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        seeder.event(EventSeed {
            object: &pod,
            reason: "Pulled",
            message: "Container image \"busybox:latest\" already present on machine".to_string(),
            warning: false,
            component: "kubelet",
            host: Some(&node),
            count: 13,
            minutes_ago: (45, 3),
        })?;
        seeder.event(EventSeed {
            object: &pod,
            reason: "BackOff",
            message: back_off(&pod),
            warning: true,
            component: "kubelet",
            host: Some(&node),
            count: 187,
            minutes_ago: (44, 1),
        })?;
    }
    if let Some(pod) = pod_of(seeder, TOOLS, "load-generator", any) {
        seeder.event(EventSeed {
            object: &pod,
            reason: "FailedScheduling",
            message: UNSCHEDULABLE.to_string(),
            warning: true,
            component: "default-scheduler",
            host: None,
            count: 37,
            minutes_ago: (180, 4),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;
    use crate::kube::seed::{seed_namespaces, seed_site};
    use crate::kube::store::ObjectStore;

    fn site() -> ObjectStore {
        let mut store = ObjectStore::new(100_000);
        seed_namespaces(&mut store).expect("namespaces");
        seed_site(&mut store).expect("site");
        store
    }

    fn pods_of<'s>(store: &'s ObjectStore, namespace: &'s str, app: &str) -> Vec<&'s Value> {
        store
            .list(&PODS, Some(namespace), None)
            .map(|(_, pod)| pod)
            .filter(|pod| pod["metadata"]["labels"]["app"] == app)
            .collect()
    }

    #[test]
    fn one_billing_pod_was_oom_killed_and_runs_again() {
        let store = site();
        let pods = pods_of(&store, "acme-prod", "billing-service");
        let restarts: Vec<i64> = pods
            .iter()
            .map(|pod| {
                pod["status"]["containerStatuses"][0]["restartCount"]
                    .as_i64()
                    .unwrap_or(-1)
            })
            .collect();
        assert_eq!(
            restarts.iter().filter(|r| **r == 7).count(),
            1,
            "{restarts:?}"
        );
        assert_eq!(
            restarts.iter().filter(|r| **r == 0).count(),
            1,
            "{restarts:?}"
        );
        let killed = pods
            .iter()
            .find(|pod| pod["status"]["containerStatuses"][0]["restartCount"] == 7)
            .expect("the OOM-killed pod");
        let status = &killed["status"]["containerStatuses"][0];
        assert_eq!(status["lastState"]["terminated"]["reason"], "OOMKilled");
        assert_eq!(status["lastState"]["terminated"]["exitCode"], 137);
        assert!(status["state"]["running"]["startedAt"].is_string());
        assert_eq!(status["ready"], true);
        assert_eq!(killed["status"]["phase"], "Running");
    }

    #[test]
    fn debug_shell_crash_loops_and_load_generator_cannot_be_scheduled() {
        let store = site();
        let shell = pods_of(&store, TOOLS, "debug-shell");
        assert_eq!(shell.len(), 1);
        let status = &shell[0]["status"]["containerStatuses"][0];
        assert_eq!(status["state"]["waiting"]["reason"], "CrashLoopBackOff");
        assert_eq!(status["restartCount"], 12);
        assert_eq!(status["lastState"]["terminated"]["reason"], "Error");
        assert_eq!(shell[0]["status"]["qosClass"], "BestEffort");
        assert_eq!(shell[0]["spec"]["containers"][0]["image"], "busybox:latest");

        let load = pods_of(&store, TOOLS, "load-generator");
        assert_eq!(load.len(), 1);
        assert_eq!(load[0]["status"]["phase"], "Pending");
        assert!(load[0]["spec"]["nodeName"].is_null());
        let scheduled = &load[0]["status"]["conditions"][0];
        assert_eq!(scheduled["type"], "PodScheduled");
        assert_eq!(scheduled["status"], "False");
        assert_eq!(scheduled["reason"], "Unschedulable");
        assert_eq!(scheduled["message"], UNSCHEDULABLE);

        let deployments = find("apps", "v1", "deployments").expect("deployments");
        for name in ["debug-shell", "load-generator"] {
            let deployment = store.get(deployments, TOOLS, name).expect(name);
            assert_eq!(deployment["status"]["unavailableReplicas"], 1, "{name}");
            assert!(deployment["status"]["readyReplicas"].is_null(), "{name}");
            assert_eq!(
                deployment["status"]["conditions"][1]["reason"],
                "ProgressDeadlineExceeded"
            );
        }
    }

    #[test]
    fn every_order_service_replica_runs_on_one_node() {
        let store = site();
        let nodes: Vec<&Value> = pods_of(&store, "acme-prod", "order-service")
            .iter()
            .map(|pod| &pod["spec"]["nodeName"])
            .collect();
        assert_eq!(nodes, [CROWDED_NODE; 3]);
        // The others are spread.
        let gateway: Vec<&Value> = pods_of(&store, "acme-prod", "api-gateway")
            .iter()
            .map(|pod| &pod["spec"]["nodeName"])
            .collect();
        assert_ne!(gateway[0], gateway[1]);
    }

    #[test]
    fn each_problem_has_its_warning_events() {
        let store = site();
        let events = find("", "v1", "events").expect("events");
        let mut warnings: Vec<(String, String, String)> = store
            .list(events, None, None)
            .map(|(_, event)| event)
            .filter(|event| event["type"] == "Warning")
            .map(|event| {
                let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
                let object = &event["involvedObject"];
                (
                    text(&event["reason"]),
                    text(&object["kind"]),
                    text(&object["name"]),
                )
            })
            .collect();
        warnings.sort();
        let name = |pod: &Value| {
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let killed = pods_of(&store, "acme-prod", "billing-service")
            .into_iter()
            .find(|pod| pod["status"]["containerStatuses"][0]["restartCount"] == 7)
            .expect("the OOM-killed pod");
        let mut expected = vec![
            ("BackOff".to_string(), "Pod".to_string(), name(killed)),
            (
                "BackOff".into(),
                "Pod".into(),
                name(pods_of(&store, TOOLS, "debug-shell")[0]),
            ),
            (
                "FailedScheduling".into(),
                "Pod".into(),
                name(pods_of(&store, TOOLS, "load-generator")[0]),
            ),
            (
                "SystemOOM".into(),
                "Node".into(),
                killed["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
        ];
        expected.sort();
        assert_eq!(warnings, expected);
    }
}
