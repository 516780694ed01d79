//! The Deployment controller's steps: moving a Deployment's ReplicaSets
//! towards its template and replica count (rolling update or recreate),
//! and its status and Available/Progressing conditions, worded as the
//! real controller words them so `kubectl rollout status` understands.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::rollout::{
    ControllerState, HASH_LABEL, Key, Kinds, REVISION, controller_of, normalized, template_hash,
};
use super::store::{ObjectStore, timestamp_now};

fn revision(object: &Value) -> i64 {
    object["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

/// The ReplicaSets a Deployment controls, oldest revision first.
fn replica_sets_of(store: &ObjectStore, kinds: &Kinds, deployment: &Value) -> Vec<Value> {
    let uid = &deployment["metadata"]["uid"];
    let namespace = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let mut owned: Vec<Value> = store
        .list(kinds.replica_sets, Some(namespace), None)
        .filter(|(_, rs)| controller_of(rs).is_some_and(|owner| owner.uid == *uid))
        .map(|(_, rs)| rs.clone())
        .collect();
    owned.sort_by_key(revision);
    owned
}

/// `maxSurge`/`maxUnavailable`: a count, or a percentage of `replicas`
/// rounded up (surge) or down (unavailable).
fn resolve(value: &Value, replicas: i64, round_up: bool, default: &str) -> i64 {
    let text = match value {
        Value::Number(number) => return number.as_i64().unwrap_or(0),
        Value::String(text) => text.as_str(),
        _ => default,
    };
    let percent: i64 = text.trim_end_matches('%').parse().unwrap_or(25);
    if round_up {
        (replicas * percent + 99) / 100
    } else {
        replicas * percent / 100
    }
}

fn set_replicas(
    store: &mut ObjectStore,
    kinds: &Kinds,
    state: &mut ControllerState,
    rs: &Value,
    replicas: i64,
) {
    if rs["spec"]["replicas"].as_i64() == Some(replicas) {
        return;
    }
    let mut scaled = rs.clone();
    scaled["spec"]["replicas"] = json!(replicas);
    scaled["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(replicas.to_string());
    if let Ok(stored) = store.replace(kinds.replica_sets, scaled) {
        let key = (
            stored["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            stored["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        state.replica_sets.insert(key);
    }
}

/// Moves a Deployment's ReplicaSets one step towards its template and
/// replica count. Returns whether it created a new ReplicaSet.
pub fn sync_deployment(
    store: &mut ObjectStore,
    kinds: &Kinds,
    state: &mut ControllerState,
    key: &Key,
) -> bool {
    let Some(deployment) = store.get(kinds.deployments, &key.0, &key.1).cloned() else {
        return false;
    };
    let spec = &deployment["spec"];
    let replicas = spec["replicas"].as_i64().unwrap_or(1);
    let mut all = replica_sets_of(store, kinds, &deployment);
    let template = normalized(&spec["template"]);
    let max_revision = all.iter().map(revision).max().unwrap_or(0);
    let mut created = false;
    let position = all
        .iter()
        .position(|rs| normalized(&rs["spec"]["template"]) == template);
    let new = match position {
        Some(index) => {
            let mut new = all.remove(index);
            if revision(&new) < max_revision {
                // A rollback: the old ReplicaSet becomes the newest revision.
                let old_revision = revision(&new).to_string();
                new["metadata"]["annotations"][REVISION] = json!((max_revision + 1).to_string());
                new["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] =
                    json!(old_revision);
                match store.replace(kinds.replica_sets, new) {
                    Ok(stored) => new = stored,
                    Err(_) => return false,
                }
            }
            new
        }
        None if spec["paused"] == true => return false,
        None => match create_replica_set(store, kinds, &deployment, max_revision + 1) {
            Some(new) => {
                created = true;
                new
            }
            None => return false,
        },
    };
    let new_revision = revision(&new).to_string();
    if deployment["metadata"]["annotations"][REVISION].as_str() != Some(new_revision.as_str()) {
        let mut annotated = deployment.clone();
        annotated["metadata"]["annotations"][REVISION] = json!(new_revision);
        // The object was read under this same lock: it is current.
        let _ = store.replace(kinds.deployments, annotated);
    }
    let old_replicas = |all: &[Value]| {
        all.iter()
            .map(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let old_pods: i64 = all
        .iter()
        .map(|rs| rs["status"]["replicas"].as_i64().unwrap_or(0))
        .sum();
    let new_replicas = new["spec"]["replicas"].as_i64().unwrap_or(0);
    if old_replicas(&all) == 0 && old_pods == 0 {
        set_replicas(store, kinds, state, &new, replicas);
    } else if spec["strategy"]["type"] == "Recreate" {
        for rs in &all {
            set_replicas(store, kinds, state, rs, 0);
        }
    } else {
        let rolling = &spec["strategy"]["rollingUpdate"];
        let surge = resolve(&rolling["maxSurge"], replicas, true, "25%");
        let mut unavailable = resolve(&rolling["maxUnavailable"], replicas, false, "25%");
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        let total = old_replicas(&all) + new_replicas;
        if total < replicas + surge && new_replicas < replicas {
            let scaled = (new_replicas + replicas + surge - total).min(replicas);
            set_replicas(store, kinds, state, &new, scaled);
        }
        let available = |rs: &Value| rs["status"]["availableReplicas"].as_i64().unwrap_or(0);
        let min_available = replicas - unavailable;
        let all_pods = old_pods + new["status"]["replicas"].as_i64().unwrap_or(0);
        let new_unavailable = (new_replicas - available(&new)).max(0);
        let mut budget = all_pods - min_available - new_unavailable;
        let mut scale_down =
            all.iter().map(available).sum::<i64>() + available(&new) - min_available;
        for rs in &all {
            let current = rs["spec"]["replicas"].as_i64().unwrap_or(0);
            // Unhealthy old pods go first, then healthy ones within budget.
            let unhealthy = (current - available(rs)).max(0).min(budget.max(0));
            budget -= unhealthy;
            let healthy = (current - unhealthy)
                .min(scale_down.max(0))
                .min(budget.max(0));
            budget -= healthy;
            scale_down -= healthy;
            set_replicas(store, kinds, state, rs, current - unhealthy - healthy);
        }
    }
    clean_up_history(store, kinds, &deployment, &all);
    created
}

fn create_replica_set(
    store: &mut ObjectStore,
    kinds: &Kinds,
    deployment: &Value,
    revision: i64,
) -> Option<Value> {
    let namespace = deployment["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &deployment["spec"];
    let replicas = spec["replicas"].as_i64().unwrap_or(1);
    let collisions = deployment["status"]["collisionCount"].as_i64().unwrap_or(0);
    let hash = template_hash(&spec["template"], collisions);
    let mut template = spec["template"].clone();
    template["metadata"]["labels"][HASH_LABEL] = json!(hash);
    let mut selector = spec["selector"].clone();
    selector["matchLabels"][HASH_LABEL] = json!(hash);
    let replica_set = json!({
        "metadata": {
            "name": format!("{name}-{hash}"), "namespace": namespace,
            "labels": template["metadata"]["labels"],
            "annotations": {
                REVISION: revision.to_string(),
                "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(),
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                "uid": deployment["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0},
    });
    match store.create(kinds.replica_sets, replica_set) {
        Ok(created) => Some(created),
        Err(error) => {
            eprintln!("kube-sim: cannot create a ReplicaSet for {namespace}/{name}: {error}");
            None
        }
    }
}

/// Deletes the oldest scaled-down ReplicaSets beyond `revisionHistoryLimit`.
fn clean_up_history(store: &mut ObjectStore, kinds: &Kinds, deployment: &Value, old: &[Value]) {
    let limit = usize::try_from(
        deployment["spec"]["revisionHistoryLimit"]
            .as_i64()
            .unwrap_or(10),
    )
    .unwrap_or(10);
    let idle: Vec<&Value> = old
        .iter()
        .filter(|rs| {
            rs["spec"]["replicas"].as_i64().unwrap_or(0) == 0
                && rs["status"]["replicas"].as_i64().unwrap_or(0) == 0
        })
        .collect();
    for rs in idle.iter().take(idle.len().saturating_sub(limit)) {
        let namespace = rs["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = rs["metadata"]["name"].as_str().unwrap_or_default();
        // Found under this same lock: it is there.
        let _ = store.delete(kinds.replica_sets, namespace, name);
    }
}

fn condition(kind: &str, status: &str, reason: &str, message: String) -> Value {
    let now = timestamp_now();
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastUpdateTime": now, "lastTransitionTime": now})
}

/// Brings a Deployment's status up to date with its ReplicaSets. Returns
/// whether it is settled (complete, or past its progress deadline).
pub fn update_status(
    store: &mut ObjectStore,
    kinds: &Kinds,
    state: &mut ControllerState,
    key: &Key,
    created: bool,
    now: Instant,
) -> bool {
    let Some(deployment) = store.get(kinds.deployments, &key.0, &key.1).cloned() else {
        return true;
    };
    let all = replica_sets_of(store, kinds, &deployment);
    let spec = &deployment["spec"];
    let template = normalized(&spec["template"]);
    let Some(new) = all
        .iter()
        .find(|rs| normalized(&rs["spec"]["template"]) == template)
    else {
        // Paused before its new ReplicaSet: only the generation is seen.
        return true;
    };
    let new_name = new["metadata"]["name"].as_str().unwrap_or_default();
    let sum = |field: &str| {
        all.iter()
            .map(|rs| rs["status"][field].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    let wanted = spec["replicas"].as_i64().unwrap_or(1);
    let (replicas, ready, available) = (
        sum("replicas"),
        sum("readyReplicas"),
        sum("availableReplicas"),
    );
    let updated = new["status"]["replicas"].as_i64().unwrap_or(0);
    let old = &deployment["status"];
    let number = |field: &str| old[field].as_i64().unwrap_or(0);
    let unavailable = resolve(
        &spec["strategy"]["rollingUpdate"]["maxUnavailable"],
        wanted,
        false,
        "25%",
    );
    let min_available = if spec["strategy"]["type"] == "Recreate" {
        0
    } else {
        wanted - unavailable
    };
    let complete = updated == wanted && replicas == wanted && available == wanted;
    let progressed = created
        || updated > number("updatedReplicas")
        || replicas - updated < number("replicas") - number("updatedReplicas")
        || ready > number("readyReplicas")
        || available > number("availableReplicas");
    if progressed || !state.progress.contains_key(key) {
        state.progress.insert(key.clone(), now);
    }
    let old_conditions: Vec<Value> = old["conditions"].as_array().cloned().unwrap_or_default();
    let old_condition = |kind: &str| old_conditions.iter().find(|c| c["type"] == kind).cloned();
    let deadline = Duration::from_secs(
        u64::try_from(spec["progressDeadlineSeconds"].as_i64().unwrap_or(600)).unwrap_or(600),
    );
    let timed_out =
        old_condition("Progressing").is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded");
    let progressing = if complete {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{new_name}\" has successfully progressed."),
        )
    } else if created {
        condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{new_name}\""),
        )
    } else if progressed {
        condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{new_name}\" is progressing."),
        )
    } else if timed_out
        || state
            .progress
            .get(key)
            .is_some_and(|since| now.duration_since(*since) > deadline)
            && spec["paused"] != true
    {
        condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet \"{new_name}\" has timed out progressing."),
        )
    } else {
        old_condition("Progressing").unwrap_or_else(|| {
            condition(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                format!("ReplicaSet \"{new_name}\" is progressing."),
            )
        })
    };
    let available_condition = if available >= min_available {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
        )
    };
    let mut conditions = Vec::new();
    for mut fresh in [available_condition, progressing] {
        if let Some(previous) = old_condition(fresh["type"].as_str().unwrap_or_default()) {
            if previous["status"] == fresh["status"] {
                fresh["lastTransitionTime"] = previous["lastTransitionTime"].clone();
            }
            if previous["status"] == fresh["status"] && previous["reason"] == fresh["reason"] {
                fresh["lastUpdateTime"] = previous["lastUpdateTime"].clone();
            }
        }
        conditions.push(fresh);
    }
    let mut status = json!({
        "observedGeneration": deployment["metadata"]["generation"], "replicas": replicas,
        "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
        "conditions": conditions,
    });
    if wanted - available > 0 {
        status["unavailableReplicas"] = json!(wanted - available);
    }
    let summary = |status: &Value| {
        let numbers: Vec<i64> = [
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ]
        .iter()
        .map(|field| status[*field].as_i64().unwrap_or(0))
        .collect();
        let conditions: Vec<(Value, Value, Value)> = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["type"].clone(), c["status"].clone(), c["reason"].clone()))
            .collect();
        (numbers, conditions)
    };
    if summary(old) != summary(&status) {
        let mut updated_deployment = deployment.clone();
        updated_deployment["status"] = status;
        let _ = store.replace(kinds.deployments, updated_deployment);
    }
    let timed_out_now = summary(old)
        .1
        .iter()
        .any(|(_, _, reason)| reason == "ProgressDeadlineExceeded")
        || timed_out;
    let all_pods_settled = all
        .iter()
        .all(|rs| rs["status"]["replicas"] == rs["spec"]["replicas"]);
    (complete && all_pods_settled) || (timed_out_now && !progressed)
}
