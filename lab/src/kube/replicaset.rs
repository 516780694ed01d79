//! The ReplicaSet controller and the kubelet of the rollout simulation: a
//! ReplicaSet gets as many pods as it asks for (new ones Pending, then
//! Running and ready a step later; those of a broken image crash-looping
//! with a growing restart count), and its status counts them.

use std::time::Instant;

use serde_json::{Value, json};

use super::resources::{PODS, ResourceType};
use super::rollout::{ControllerState, Key, Kinds, PodLife, controller_of};
use super::store::{ObjectStore, new_uid, timestamp_now};

/// The alphabet of generated name suffixes (as Kubernetes' `rand.String`).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random suffix of `length` characters for generated names.
pub fn random_suffix(length: usize) -> String {
    new_uid()
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .zip(new_uid().bytes().filter(u8::is_ascii_hexdigit))
        .map(|(high, low)| {
            let value = usize::from(high) * 31 + usize::from(low);
            char::from(ALPHABET[value % ALPHABET.len()])
        })
        .take(length)
        .collect()
}

fn pod_is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
}

/// Whether a ReplicaSet's status differs from one computed anew, in the
/// numbers that matter (absent counts as 0, as the API's omitempty does).
fn counts_differ(old: &Value, new: &Value, fields: &[&str]) -> bool {
    fields
        .iter()
        .any(|field| old[field].as_i64().unwrap_or(0) != new[field].as_i64().unwrap_or(0))
}

/// Creates or deletes pods until the ReplicaSet has what it asks for,
/// then brings its status up to date. Returns its owning Deployment, if
/// any, whose status may have to follow.
pub fn sync(
    store: &mut ObjectStore,
    kinds: &Kinds,
    state: &mut ControllerState,
    key: &Key,
    now: Instant,
) -> Option<Key> {
    let (namespace, name) = key;
    let replica_set = store.get(kinds.replica_sets, namespace, name)?.clone();
    let uid = replica_set["metadata"]["uid"].clone();
    let mut pods: Vec<Value> = store
        .list(&PODS, Some(namespace), None)
        .filter(|(_, pod)| controller_of(pod).is_some_and(|owner| owner.uid == uid))
        .map(|(_, pod)| pod.clone())
        .collect();
    let wanted = usize::try_from(replica_set["spec"]["replicas"].as_i64().unwrap_or(0).max(0))
        .unwrap_or_default();
    if pods.len() > wanted {
        // Not-ready pods go first, then the newest.
        pods.sort_by_key(|pod| {
            (
                pod_is_ready(pod),
                std::cmp::Reverse(
                    pod["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        });
        for pod in pods.drain(..pods.len() - wanted) {
            let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
            if store.delete(&PODS, namespace, pod_name).is_ok() {
                state
                    .pods
                    .remove(&(namespace.clone(), pod_name.to_string()));
            }
        }
    }
    while pods.len() < wanted {
        let pod = new_pod(store, kinds.nodes, state, &replica_set, now);
        match store.create(&PODS, pod) {
            Ok(created) => pods.push(created),
            Err(error) => {
                eprintln!("kube-sim: cannot create a pod of {name}: {error}");
                break;
            }
        }
    }
    let count = i64::try_from(pods.len()).unwrap_or(i64::MAX);
    let ready = i64::try_from(pods.iter().filter(|pod| pod_is_ready(pod)).count()).unwrap_or(0);
    let status = json!({
        "replicas": count, "fullyLabeledReplicas": count, "readyReplicas": ready,
        "availableReplicas": ready, "observedGeneration": replica_set["metadata"]["generation"],
    });
    let fields = [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ];
    if counts_differ(&replica_set["status"], &status, &fields) {
        let mut updated = replica_set.clone();
        updated["status"] = status;
        if let Err(error) = store.replace(kinds.replica_sets, updated) {
            eprintln!("kube-sim: cannot update the status of {name}: {error}");
        }
    }
    controller_of(&replica_set)
        .filter(|owner| owner.kind == "Deployment")
        .map(|owner| (namespace.clone(), owner.name))
}

/// A new Pending pod of a ReplicaSet, scheduled on a worker node.
fn new_pod(
    store: &ObjectStore,
    nodes: &ResourceType,
    state: &mut ControllerState,
    replica_set: &Value,
    now: Instant,
) -> Value {
    let namespace = replica_set["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let prefix = format!(
        "{}-",
        replica_set["metadata"]["name"].as_str().unwrap_or_default()
    );
    let mut name = format!("{prefix}{}", random_suffix(5));
    while store.get(&PODS, namespace, &name).is_some() {
        name = format!("{prefix}{}", random_suffix(5));
    }
    let template = &replica_set["spec"]["template"];
    let workers: Vec<(String, String)> = store
        .list(nodes, None, None)
        .filter(|(_, node)| {
            node["metadata"]["labels"]
                .get("node-role.kubernetes.io/control-plane")
                .is_none()
        })
        .map(|(key, node)| {
            let ip = node["status"]["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|address| address["type"] == "InternalIP")
                .and_then(|address| address["address"].as_str())
                .unwrap_or_default();
            (key.name.clone(), ip.to_string())
        })
        .collect();
    let mut spec = template["spec"].clone();
    if spec["serviceAccountName"].is_null() {
        spec["serviceAccountName"] = json!("default");
    }
    let mut status = json!({"phase": "Pending", "qosClass": "Burstable"});
    if workers.is_empty() {
        status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/0 nodes are available.", "lastTransitionTime": timestamp_now()}]);
    } else {
        let (node, host_ip) = &workers[state.next_node % workers.len()];
        state.next_node += 1;
        spec["nodeName"] = json!(node);
        status["hostIP"] = json!(host_ip);
        status["startTime"] = json!(timestamp_now());
        status["conditions"] = json!([
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": timestamp_now()},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": timestamp_now()},
        ]);
        status["containerStatuses"] = json!(
            spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|container| json!({
                    "name": container["name"], "image": container["image"], "ready": false,
                    "started": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }))
                .collect::<Vec<_>>()
        );
        let images: Vec<&str> = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|container| container["image"].as_str())
            .collect();
        state.pods.insert(
            (namespace.to_string(), name.clone()),
            PodLife {
                created: now,
                broken: images.iter().any(|image| state.is_broken(image)),
                last_restart: now,
            },
        );
    }
    let mut labels = template["metadata"]["labels"].clone();
    if labels.is_null() {
        labels = json!({});
    }
    json!({
        "metadata": {
            "name": name, "generateName": prefix, "namespace": namespace, "labels": labels,
            "annotations": template["metadata"]["annotations"].as_object().cloned().unwrap_or_default(),
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": replica_set["metadata"]["name"], "uid": replica_set["metadata"]["uid"],
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
        "status": status,
    })
}

/// Moves the pods the controller started on: Pending → Running a step
/// after creation (ready, or crash-looping for a broken image), and counts
/// the restarts of crash-looping ones. Returns the ReplicaSets whose pods
/// changed.
pub fn advance_pods(
    store: &mut ObjectStore,
    state: &mut ControllerState,
    now: Instant,
) -> Vec<Key> {
    let step = state.step;
    let mut changed = Vec::new();
    let mut gone = Vec::new();
    for (key, life) in &mut state.pods {
        let Some(pod) = store.get(&PODS, &key.0, &key.1) else {
            gone.push(key.clone());
            continue;
        };
        let pending = pod["status"]["phase"] == "Pending";
        let mut pod = pod.clone();
        if pending && now.duration_since(life.created) >= step {
            start(&mut pod, life.broken);
            life.last_restart = now;
        } else if !pending && life.broken && now.duration_since(life.last_restart) >= step * 3 {
            life.last_restart = now;
            for status in pod["status"]["containerStatuses"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                let restarts = status["restartCount"].as_i64().unwrap_or(0);
                status["restartCount"] = json!(restarts + 1);
            }
        } else {
            continue;
        }
        if let Some(owner) = controller_of(&pod) {
            changed.push((key.0.clone(), owner.name));
        }
        if store.replace(&PODS, pod).is_err() {
            gone.push(key.clone());
        }
        if pending && !life.broken {
            // Running and ready: nothing more happens to it.
            gone.push(key.clone());
        }
    }
    for key in gone {
        state.pods.remove(&key);
    }
    changed
}

/// A Pending pod started: running and ready, or (broken) crash-looping.
fn start(pod: &mut Value, broken: bool) {
    let now = timestamp_now();
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ip = format!(
        "10.244.{}.{}",
        100 + name.len() % 100,
        2 + name.bytes().map(usize::from).sum::<usize>() % 250
    );
    pod["status"]["phase"] = json!("Running");
    pod["status"]["podIP"] = json!(ip);
    pod["status"]["podIPs"] = json!([{"ip": ip}]);
    let ready = if broken { "False" } else { "True" };
    let mut conditions = vec![
        json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now}),
        json!({"type": "Initialized", "status": "True", "lastTransitionTime": now}),
    ];
    for kind in ["ContainersReady", "Ready"] {
        let mut condition = json!({"type": kind, "status": ready, "lastTransitionTime": now});
        if broken {
            condition["reason"] = json!("ContainersNotReady");
        }
        conditions.push(condition);
    }
    pod["status"]["conditions"] = json!(conditions);
    for status in pod["status"]["containerStatuses"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let image = status["image"].as_str().unwrap_or_default().to_string();
        status["imageID"] = json!(format!("{image}@sha256:{}", new_uid().replace('-', "")));
        status["containerID"] = json!(format!("containerd://{}", new_uid().replace('-', "")));
        if broken {
            let container = status["name"].as_str().unwrap_or_default().to_string();
            status["ready"] = json!(false);
            status["started"] = json!(false);
            status["restartCount"] = json!(1);
            status["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off 10s restarting failed container={container} pod={name}")}});
            status["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
                "startedAt": now, "finishedAt": now}});
        } else {
            status["ready"] = json!(true);
            status["started"] = json!(true);
            status["state"] = json!({"running": {"startedAt": now}});
        }
    }
}
