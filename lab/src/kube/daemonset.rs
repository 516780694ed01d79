//! The DaemonSet controller of the rollout simulation, as the real one
//! behaves: one pod on every node its template fits (node selector,
//! tolerations, plus the tolerations every daemon pod gets), none
//! elsewhere.
//!
//! A change of `spec.template` makes a new ControllerRevision (see
//! [`super::revisions`]) whose hash the new pods carry in
//! `controller-revision-hash`; a `RollingUpdate` (with the default
//! `maxSurge` 0) deletes old pods node by node, never leaving more than
//! `maxUnavailable` nodes without an available pod, and a pod of the new
//! template replaces each (Pending a step, then Running). A new pod that
//! never becomes ready (a broken image) holds the rollout; old pods that
//! are not available are replaced regardless, so rolling back recovers.
//! `maxSurge` above 0 is treated as 0.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::replicaset::random_suffix;
use super::revisions::{
    History, PodPlan, REVISION_HASH, Revision, SetKinds, clean_up, create_pod, delete_pod, fits,
    is_ready, key_of, owned_pods, status_differs, sync_history, text,
};
use super::rollout::{ControllerState, Key};
use super::store::ObjectStore;

/// The numbers of a DaemonSet's status.
const NUMBERS: [&str; 9] = [
    "observedGeneration",
    "desiredNumberScheduled",
    "currentNumberScheduled",
    "numberMisscheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
    "numberUnavailable",
    "collisionCount",
];

/// The tolerations the DaemonSet controller adds to every daemon pod.
fn daemon_tolerations() -> Vec<Value> {
    let mut tolerations: Vec<Value> = ["not-ready", "unreachable"]
        .iter()
        .map(|taint| json!({"key": format!("node.kubernetes.io/{taint}"), "operator": "Exists", "effect": "NoExecute"}))
        .collect();
    for taint in [
        "disk-pressure",
        "memory-pressure",
        "pid-pressure",
        "unschedulable",
    ] {
        tolerations.push(json!({"key": format!("node.kubernetes.io/{taint}"), "operator": "Exists", "effect": "NoSchedule"}));
    }
    tolerations
}

/// Moves a DaemonSet one step towards a pod of its template on every node
/// it should run on, then brings its status up to date.
pub fn sync(
    store: &mut ObjectStore,
    kinds: &SetKinds,
    state: &mut ControllerState,
    key: &Key,
    now: Instant,
) {
    let Some(set) = store.get(kinds.daemon_sets, &key.0, &key.1).cloned() else {
        return;
    };
    let Some(history) = sync_history(store, kinds, &set) else {
        return;
    };
    let nodes: Vec<Value> = store
        .list(kinds.nodes, None, None)
        .map(|(_, node)| node.clone())
        .collect();
    let extra = daemon_tolerations();
    let template_spec = &set["spec"]["template"]["spec"];
    let should_run = |node: &Value| fits(node, template_spec, &extra);
    let changed = manage(
        store,
        state,
        &set,
        &history.update,
        &nodes,
        &should_run,
        now,
    );
    let rolling = set["spec"]["updateStrategy"]["type"]
        .as_str()
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    if !changed && rolling {
        roll(store, state, &set, &history.update, &nodes, &should_run);
    }
    let status = status_of(store, &set, &history, &nodes, &should_run);
    if status_differs(&set["status"], &status, &NUMBERS, &[]) {
        let mut updated = set.clone();
        updated["status"] = status;
        if let Err(error) = store.replace(kinds.daemon_sets, updated) {
            eprintln!("kube-sim: cannot update the status of {}: {error}", key.1);
        }
    }
    clean_up(store, kinds, &set, &history, |revision| {
        revision.name == history.update.name
    });
}

/// The set's pods by node name, oldest first on each.
fn pods_by_node(store: &ObjectStore, set: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut by_node: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for pod in owned_pods(store, set) {
        by_node
            .entry(text(&pod["spec"]["nodeName"]).to_string())
            .or_default()
            .push(pod);
    }
    for pods in by_node.values_mut() {
        pods.sort_by_key(|pod| {
            (
                text(&pod["metadata"]["creationTimestamp"]).to_string(),
                text(&pod["metadata"]["name"]).to_string(),
            )
        });
    }
    by_node
}

/// The real controller's `manage`: a pod where one is missing, failed or
/// extra pods deleted, pods where none should run deleted. Returns
/// whether it changed anything.
fn manage(
    store: &mut ObjectStore,
    state: &mut ControllerState,
    set: &Value,
    update: &Revision,
    nodes: &[Value],
    should_run: &dyn Fn(&Value) -> bool,
    now: Instant,
) -> bool {
    let mut by_node = pods_by_node(store, set);
    let mut changed = false;
    for node in nodes {
        let node_name = text(&node["metadata"]["name"]);
        let pods = by_node.remove(node_name).unwrap_or_default();
        if !should_run(node) {
            for pod in &pods {
                delete_pod(store, state, pod);
                changed = true;
            }
            continue;
        }
        let failed: Vec<&Value> = pods
            .iter()
            .filter(|pod| pod["status"]["phase"] == "Failed")
            .collect();
        if pods.is_empty() {
            create(store, state, set, update, node, now);
            changed = true;
        } else if !failed.is_empty() {
            for pod in failed {
                delete_pod(store, state, pod);
            }
            changed = true;
        } else if pods.len() > 1 {
            for pod in &pods[1..] {
                delete_pod(store, state, pod);
            }
            changed = true;
        }
    }
    // Pods on nodes that are gone (or never were).
    for pod in by_node.values().flatten() {
        delete_pod(store, state, pod);
        changed = true;
    }
    changed
}

/// A pod of the update revision on `node`.
fn create(
    store: &mut ObjectStore,
    state: &mut ControllerState,
    set: &Value,
    update: &Revision,
    node: &Value,
    now: Instant,
) {
    let (namespace, set_name) = key_of(set);
    let prefix = format!("{set_name}-");
    let mut name = format!("{prefix}{}", random_suffix(5));
    while store
        .get(&super::resources::PODS, &namespace, &name)
        .is_some()
    {
        name = format!("{prefix}{}", random_suffix(5));
    }
    let template = &set["spec"]["template"];
    let mut spec = template["spec"].clone();
    let mut tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    for toleration in daemon_tolerations() {
        if !tolerations.contains(&toleration) {
            tolerations.push(toleration);
        }
    }
    spec["tolerations"] = json!(tolerations);
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node["metadata"]["name"]]},
        ]}],
    });
    let mut labels = Map::new();
    labels.insert(REVISION_HASH.into(), json!(update.hash));
    let generation = set["metadata"]["generation"].as_i64().unwrap_or(1);
    labels.insert(
        "pod-template-generation".into(),
        json!(generation.to_string()),
    );
    let plan = PodPlan {
        name,
        generate_name: Some(prefix),
        owner: set,
        template,
        labels,
        spec,
        node: Some(node),
    };
    create_pod(store, state, plan, now);
}

/// The real controller's `rollingUpdate` without surge: deletes old pods
/// while fewer than `maxUnavailable` nodes lack an available pod (and old
/// pods that are not available in any case).
fn roll(
    store: &mut ObjectStore,
    state: &mut ControllerState,
    set: &Value,
    update: &Revision,
    nodes: &[Value],
    should_run: &dyn Fn(&Value) -> bool,
) {
    let by_node = pods_by_node(store, set);
    let desired = i64::try_from(nodes.iter().filter(|node| should_run(node)).count()).unwrap_or(0);
    let max_unavailable = max_unavailable(
        &set["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"],
        desired,
    );
    let mut unavailable = 0;
    let mut replace = Vec::new();
    let mut candidates = Vec::new();
    for pods in by_node.values() {
        let (new, old): (Vec<&Value>, Vec<&Value>) =
            pods.iter().partition(|pod| update.labels(pod));
        match (new.as_slice(), old.as_slice()) {
            ([new], []) => {
                if !is_ready(new) {
                    unavailable += 1;
                }
            }
            ([], [old]) => {
                if !is_ready(old) {
                    replace.push(*old);
                } else if unavailable < max_unavailable {
                    candidates.push(*old);
                }
            }
            // None, both, or several: manage sorts these out first.
            _ => unavailable += 1,
        }
    }
    let allowed = usize::try_from((max_unavailable - unavailable).max(0)).unwrap_or(0);
    candidates.truncate(allowed);
    for pod in replace.into_iter().chain(candidates) {
        delete_pod(store, state, pod);
    }
}

/// `maxUnavailable`: a count or a percentage of the desired nodes, rounded
/// up; 1 when absent, at least 1 (without surge).
fn max_unavailable(value: &Value, desired: i64) -> i64 {
    let resolved = match value {
        Value::Number(number) => number.as_i64().unwrap_or(1),
        Value::String(text) => {
            let percent: i64 = text.trim_end_matches('%').parse().unwrap_or(0);
            (desired * percent + 99) / 100
        }
        _ => 1,
    };
    resolved.max(1)
}

/// The status the real controller's `updateDaemonSetStatus` computes.
fn status_of(
    store: &ObjectStore,
    set: &Value,
    history: &History,
    nodes: &[Value],
    should_run: &dyn Fn(&Value) -> bool,
) -> Value {
    let by_node = pods_by_node(store, set);
    let (mut desired, mut scheduled, mut misscheduled) = (0_i64, 0_i64, 0_i64);
    let (mut ready, mut updated) = (0_i64, 0_i64);
    for node in nodes {
        let pods = by_node
            .get(text(&node["metadata"]["name"]))
            .map(Vec::as_slice)
            .unwrap_or_default();
        if !should_run(node) {
            misscheduled += i64::from(!pods.is_empty());
            continue;
        }
        desired += 1;
        let Some(pod) = pods.first() else {
            continue;
        };
        scheduled += 1;
        ready += i64::from(is_ready(pod));
        updated += i64::from(history.update.labels(pod));
    }
    let mut status = json!({
        "observedGeneration": set["metadata"]["generation"], "desiredNumberScheduled": desired,
        "currentNumberScheduled": scheduled, "numberMisscheduled": misscheduled, "numberReady": ready,
    });
    for (field, value) in [
        ("updatedNumberScheduled", updated),
        ("numberAvailable", ready),
        ("numberUnavailable", desired - ready),
        ("collisionCount", history.collision_count),
    ] {
        if value > 0 {
            status[field] = json!(value);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::kube::rollout::Controller;
    use crate::kube::seed;
    use crate::kube::store::SharedStore;

    #[test]
    fn a_rolling_update_leaves_at_most_one_node_without_an_available_pod() {
        let mut store = ObjectStore::new(100_000);
        seed::seed_namespaces(&mut store).expect("namespaces");
        seed::seed_site(&mut store).expect("site");
        let store = SharedStore::new(store);
        let kinds = SetKinds::find().expect("kinds");
        let mut controller = Controller::new(store.clone(), Duration::from_millis(1), Vec::new());
        store.write(|store| {
            let mut set = store
                .get(kinds.daemon_sets, "kube-system", "kube-proxy")
                .cloned()
                .expect("kube-proxy");
            set["spec"]["template"]["spec"]["containers"][0]["image"] = json!("kube-proxy:v1.33.0");
            store.replace(kinds.daemon_sets, set).expect("set image");
        });
        let start = Instant::now();
        let mut updated_over_time = Vec::new();
        for step in 1..=40 {
            controller.pass(start + Duration::from_millis(step * 2));
            let store = store.read();
            let set = store
                .get(kinds.daemon_sets, "kube-system", "kube-proxy")
                .expect("kube-proxy");
            let by_node = pods_by_node(&store, set);
            let available = by_node
                .values()
                .filter(|pods| pods.iter().any(is_ready))
                .count();
            assert!(available >= 2, "step {step}: {by_node:?}");
            updated_over_time.push(
                set["status"]["updatedNumberScheduled"]
                    .as_i64()
                    .unwrap_or(0),
            );
        }
        assert_eq!(updated_over_time.last(), Some(&3), "{updated_over_time:?}");
        assert!(updated_over_time.contains(&1), "{updated_over_time:?}");
        let store = store.read();
        let set = store
            .get(kinds.daemon_sets, "kube-system", "kube-proxy")
            .expect("kube-proxy");
        assert_eq!(set["status"]["numberAvailable"], 3, "{}", set["status"]);
        assert!(set["status"].get("numberUnavailable").is_none());
    }
}
