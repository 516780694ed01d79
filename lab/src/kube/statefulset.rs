//! The StatefulSet controller of the rollout simulation, as the real one
//! behaves with its default `OrderedReady` pod management: pods
//! `<set>-0…<set>-N-1` created in order (each waits for the one before it
//! to be Running and ready), removed from the highest ordinal down, with
//! a PersistentVolumeClaim per volume claim template and pod.
//!
//! A change of `spec.template` makes a new ControllerRevision (see
//! [`super::revisions`]), `status.updateRevision`; a `RollingUpdate`
//! then deletes the pods of other revisions one at a time from the
//! highest ordinal down (down to `partition`), each recreated from the
//! new template with its revision in `controller-revision-hash`, Pending
//! for a step, then Running. A pod that never becomes ready (a broken
//! image) stops the rollout there, as it stops the real one: rolling
//! back then needs that pod deleted by hand (Kubernetes' "forced
//! rollback"). When every pod runs the update revision and is ready,
//! `status.currentRevision` becomes it, which `kubectl rollout status`
//! waits for.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::revisions::{
    History, PodPlan, REVISION_HASH, Revision, SetKinds, clean_up, create_pod, delete_pod, fits,
    key_of, owned_pods, running_and_ready, status_differs, sync_history, text, volume_name,
};
use super::rollout::{ControllerState, Key};
use super::store::ObjectStore;

/// The numbers of a StatefulSet's status.
const NUMBERS: [&str; 7] = [
    "observedGeneration",
    "replicas",
    "readyReplicas",
    "currentReplicas",
    "updatedReplicas",
    "availableReplicas",
    "collisionCount",
];
/// The revision names of a StatefulSet's status.
const NAMES: [&str; 2] = ["currentRevision", "updateRevision"];

/// Moves a StatefulSet one step towards its replica count and template,
/// then brings its status up to date.
pub fn sync(
    store: &mut ObjectStore,
    kinds: &SetKinds,
    state: &mut ControllerState,
    key: &Key,
    now: Instant,
) {
    let Some(set) = store.get(kinds.stateful_sets, &key.0, &key.1).cloned() else {
        return;
    };
    let Some(history) = sync_history(store, kinds, &set) else {
        return;
    };
    let current = set["status"]["currentRevision"]
        .as_str()
        .and_then(|name| history.all.iter().find(|revision| revision.name == name))
        .unwrap_or(&history.update)
        .clone();
    step(store, kinds, state, &set, &current, &history.update, now);
    let status = status_of(store, &set, &current, &history);
    if status_differs(&set["status"], &status, &NUMBERS, &NAMES) {
        let mut updated = set.clone();
        updated["status"] = status.clone();
        if let Err(error) = store.replace(kinds.stateful_sets, updated) {
            eprintln!("kube-sim: cannot update the status of {}: {error}", key.1);
        }
    }
    let live = [
        text(&status["currentRevision"]),
        text(&status["updateRevision"]),
    ];
    clean_up(store, kinds, &set, &history, |revision| {
        live.contains(&revision.name.as_str())
    });
}

/// The set's pods by ordinal (pods whose names carry none are not its).
fn pods_by_ordinal(store: &ObjectStore, set: &Value) -> BTreeMap<i64, Value> {
    let prefix = format!("{}-", text(&set["metadata"]["name"]));
    owned_pods(store, set)
        .into_iter()
        .filter_map(|pod| {
            let ordinal = text(&pod["metadata"]["name"])
                .strip_prefix(&prefix)?
                .parse()
                .ok()?;
            Some((ordinal, pod))
        })
        .collect()
}

/// What the strategy asks: whether it rolls, and its partition, if given.
fn strategy(set: &Value) -> (bool, Option<i64>) {
    let strategy = &set["spec"]["updateStrategy"];
    let rolling = strategy["type"].as_str().unwrap_or("RollingUpdate") == "RollingUpdate";
    (rolling, strategy["rollingUpdate"]["partition"].as_i64())
}

/// One step of the real controller's `updateStatefulSet`: create a missing
/// pod, else remove a condemned one, else replace one of an old revision.
fn step(
    store: &mut ObjectStore,
    kinds: &SetKinds,
    state: &mut ControllerState,
    set: &Value,
    current: &Revision,
    update: &Revision,
    now: Instant,
) {
    let replicas = set["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
    let ordered = set["spec"]["podManagementPolicy"] != "Parallel";
    let (rolling, partition) = strategy(set);
    let pods = pods_by_ordinal(store, set);
    let current_replicas = set["status"]["currentReplicas"].as_i64().unwrap_or(0);
    for ordinal in 0..replicas {
        match pods.get(&ordinal) {
            None => {
                // The real controller's newVersionedStatefulSetPod.
                let from_current = rolling
                    && match partition {
                        Some(partition) => ordinal < partition,
                        None => ordinal < current_replicas,
                    };
                let revision = if from_current { current } else { update };
                create(store, kinds, state, set, revision, ordinal, now);
                if ordered {
                    return;
                }
            }
            Some(pod) if pod["status"]["phase"] == "Failed" => {
                delete_pod(store, state, pod);
                if ordered {
                    return;
                }
            }
            Some(pod) if ordered && !running_and_ready(pod) => return,
            Some(_) => {}
        }
    }
    let condemned: Vec<&Value> = pods.range(replicas..).map(|(_, pod)| pod).rev().collect();
    for pod in condemned {
        delete_pod(store, state, pod);
        if ordered {
            return;
        }
    }
    if !rolling {
        return;
    }
    for ordinal in (partition.unwrap_or(0).max(0)..replicas).rev() {
        let Some(pod) = pods.get(&ordinal) else {
            return;
        };
        if !update.labels(pod) {
            delete_pod(store, state, pod);
            return;
        }
        if !running_and_ready(pod) {
            return;
        }
    }
}

/// Creates pod `ordinal` of `revision`'s template, and its claims.
fn create(
    store: &mut ObjectStore,
    kinds: &SetKinds,
    state: &mut ControllerState,
    set: &Value,
    revision: &Revision,
    ordinal: i64,
    now: Instant,
) {
    let (namespace, set_name) = key_of(set);
    let name = format!("{set_name}-{ordinal}");
    let template = &revision.template;
    let mut spec = template["spec"].clone();
    spec["hostname"] = json!(name);
    if let Some(service) = set["spec"]["serviceName"]
        .as_str()
        .filter(|service| !service.is_empty())
    {
        spec["subdomain"] = json!(service);
    }
    for claim in set["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let claim_name = text(&claim["metadata"]["name"]);
        let claim_full = format!("{claim_name}-{name}");
        if store.get(kinds.claims, &namespace, &claim_full).is_none() {
            create_claim(store, kinds, set, claim, &claim_full);
        }
        let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        if !volumes.iter().any(|volume| volume["name"] == claim_name) {
            let mut volumes = volumes;
            volumes.push(
                json!({"name": claim_name, "persistentVolumeClaim": {"claimName": claim_full}}),
            );
            spec["volumes"] = json!(volumes);
        }
    }
    let nodes: Vec<Value> = store
        .list(kinds.nodes, None, None)
        .map(|(_, node)| node)
        .filter(|node| node["spec"]["unschedulable"] != true && fits(node, &spec, &[]))
        .cloned()
        .collect();
    let node = if nodes.is_empty() {
        None
    } else {
        let node = &nodes[state.next_node % nodes.len()];
        state.next_node += 1;
        Some(node)
    };
    let mut labels = Map::new();
    labels.insert(REVISION_HASH.into(), json!(revision.name));
    labels.insert("statefulset.kubernetes.io/pod-name".into(), json!(name));
    labels.insert(
        "apps.kubernetes.io/pod-index".into(),
        json!(ordinal.to_string()),
    );
    let plan = PodPlan {
        name,
        generate_name: None,
        owner: set,
        template,
        labels,
        spec,
        node,
    };
    create_pod(store, state, plan, now);
}

/// A claim of a volume claim template, bound at once (as `local-path`).
fn create_claim(store: &mut ObjectStore, kinds: &SetKinds, set: &Value, claim: &Value, name: &str) {
    let mut spec = claim["spec"].clone();
    if spec["storageClassName"].is_null() {
        spec["storageClassName"] = json!("local-path");
    }
    spec["volumeMode"] = json!("Filesystem");
    spec["volumeName"] = json!(volume_name());
    let object = json!({
        "metadata": {"name": name, "namespace": set["metadata"]["namespace"],
                     "labels": set["spec"]["selector"]["matchLabels"]},
        "spec": spec,
        "status": {"phase": "Bound", "accessModes": claim["spec"]["accessModes"],
                   "capacity": claim["spec"]["resources"]["requests"]},
    });
    if let Err(error) = store.create(kinds.claims, object) {
        eprintln!("kube-sim: cannot create the claim {name}: {error}");
    }
}

/// The status the real controller computes (`updateStatefulSet` and
/// `completeRollingUpdate`), from the pods as they are now.
fn status_of(store: &ObjectStore, set: &Value, current: &Revision, history: &History) -> Value {
    let pods = pods_by_ordinal(store, set);
    let count = |check: &dyn Fn(&Value) -> bool| {
        i64::try_from(pods.values().filter(|pod| check(pod)).count()).unwrap_or(0)
    };
    let replicas = count(&|_| true);
    let ready = count(&running_and_ready);
    let mut current_replicas = count(&|pod| current.labels(pod));
    let updated = count(&|pod| history.update.labels(pod));
    let mut current_revision = current.name.clone();
    if strategy(set).0 && updated == replicas && ready == replicas {
        current_replicas = updated;
        current_revision = history.update.name.clone();
    }
    let mut status = json!({
        "observedGeneration": set["metadata"]["generation"], "replicas": replicas,
        "availableReplicas": ready, "currentRevision": current_revision,
        "updateRevision": history.update.name, "collisionCount": history.collision_count,
    });
    for (field, value) in [
        ("readyReplicas", ready),
        ("currentReplicas", current_replicas),
        ("updatedReplicas", updated),
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

    fn seeded() -> (SharedStore, SetKinds) {
        let mut store = ObjectStore::new(100_000);
        seed::seed_namespaces(&mut store).expect("namespaces");
        seed::seed_site(&mut store).expect("site");
        (SharedStore::new(store), SetKinds::find().expect("kinds"))
    }

    #[test]
    fn a_rolling_update_replaces_one_pod_at_a_time_from_the_highest_ordinal() {
        let (store, kinds) = seeded();
        let mut controller = Controller::new(store.clone(), Duration::from_millis(1), Vec::new());
        store.write(|store| {
            let mut set = store
                .get(kinds.stateful_sets, "middleware", "redis")
                .cloned()
                .expect("redis");
            set["spec"]["replicas"] = json!(3);
            store.replace(kinds.stateful_sets, set).expect("scale");
        });
        let start = Instant::now();
        let mut at = 0;
        let mut pass = |controller: &mut Controller| {
            at += 2;
            controller.pass(start + Duration::from_millis(at));
        };
        for _ in 0..20 {
            pass(&mut controller);
        }
        let old = store
            .read()
            .get(kinds.stateful_sets, "middleware", "redis")
            .cloned()
            .expect("redis");
        assert_eq!(old["status"]["readyReplicas"], 3, "{}", old["status"]);
        assert!(
            store
                .read()
                .get(kinds.claims, "middleware", "data-redis-2")
                .is_some()
        );
        store.write(|store| {
            let mut set = old.clone();
            set["spec"]["template"]["spec"]["containers"][0]["image"] = json!("redis:7.4.0");
            store.replace(kinds.stateful_sets, set).expect("set image");
        });
        // Each pass: which ordinals run the new image, and which are ready.
        let mut seen: Vec<(Vec<i64>, Vec<i64>)> = Vec::new();
        for _ in 0..40 {
            pass(&mut controller);
            let store = store.read();
            let set = store
                .get(kinds.stateful_sets, "middleware", "redis")
                .expect("redis");
            let pods = pods_by_ordinal(&store, set);
            let new: Vec<i64> = pods
                .iter()
                .filter(|(_, pod)| pod["spec"]["containers"][0]["image"] == "redis:7.4.0")
                .map(|(ordinal, _)| *ordinal)
                .collect();
            let ready: Vec<i64> = pods
                .iter()
                .filter(|(_, pod)| running_and_ready(pod))
                .map(|(ordinal, _)| *ordinal)
                .collect();
            if seen.last() != Some(&(new.clone(), ready.clone())) {
                seen.push((new, ready));
            }
        }
        let updated_in_order: Vec<Vec<i64>> = seen.iter().map(|(new, _)| new.clone()).collect();
        assert!(
            updated_in_order.contains(&vec![2]) && updated_in_order.contains(&vec![1, 2]),
            "{seen:?}"
        );
        assert!(
            seen.iter().all(|(_, ready)| ready.len() >= 2),
            "one pod down at a time: {seen:?}"
        );
        let store = store.read();
        let set = store
            .get(kinds.stateful_sets, "middleware", "redis")
            .expect("redis");
        let status = &set["status"];
        assert_eq!(
            status["currentRevision"], status["updateRevision"],
            "{status}"
        );
        assert_eq!(status["updatedReplicas"], 3);
        assert_eq!(status["observedGeneration"], set["metadata"]["generation"]);
        let pod = store
            .get(&crate::kube::resources::PODS, "middleware", "redis-2")
            .expect("redis-2");
        assert_eq!(
            pod["metadata"]["labels"][REVISION_HASH],
            status["updateRevision"]
        );
        assert_eq!(pod["spec"]["hostname"], "redis-2");
        assert_eq!(
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "data-redis-2"
        );
    }
}
