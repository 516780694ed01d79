//! ControllerRevisions, as the StatefulSet and DaemonSet controllers keep
//! them, and what those two controllers share: their pods' readiness,
//! where pods may run (taints, tolerations, node selectors), and new
//! Pending pods that the rollout simulation then starts.
//!
//! A revision holds its set's pod template as the real controllers write
//! it, a strategic merge patch `{"spec":{"template":{"$patch":"replace",…}}}`
//! that `kubectl rollout undo` sends back unchanged, and a `revision`
//! number. A template equal to an older revision's (a rollback) gives
//! that revision the next number instead of a new revision. Revisions
//! without `$patch` (the seeded ones) are read the same way.

use std::time::Instant;

use serde_json::{Map, Value, json};

use super::resources::{PODS, ResourceType, find};
use super::rollout::{ControllerState, PodLife, controller_of, normalized, template_hash};
use super::store::{ObjectStore, new_uid, timestamp_now};

/// The label naming a pod's (and a revision's) revision.
pub const REVISION_HASH: &str = "controller-revision-hash";

/// The resources the StatefulSet and DaemonSet controllers work on.
#[derive(Debug, Clone, Copy)]
pub struct SetKinds {
    /// apps/v1 statefulsets.
    pub stateful_sets: &'static ResourceType,
    /// apps/v1 daemonsets.
    pub daemon_sets: &'static ResourceType,
    /// apps/v1 controllerrevisions.
    pub revisions: &'static ResourceType,
    /// v1 nodes.
    pub nodes: &'static ResourceType,
    /// v1 persistentvolumeclaims.
    pub claims: &'static ResourceType,
}

impl SetKinds {
    /// The resources, if the simulator serves them all.
    pub fn find() -> Option<Self> {
        Some(Self {
            stateful_sets: find("apps", "v1", "statefulsets")?,
            daemon_sets: find("apps", "v1", "daemonsets")?,
            revisions: find("apps", "v1", "controllerrevisions")?,
            nodes: find("", "v1", "nodes")?,
            claims: find("", "v1", "persistentvolumeclaims")?,
        })
    }
}

/// A ControllerRevision as the controllers read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// Its name, `<set>-<hash>`.
    pub name: String,
    /// Its hash: its `controller-revision-hash` label, or the end of its name.
    pub hash: String,
    /// Its revision number.
    pub number: i64,
    /// The pod template it holds (without the `$patch` directive).
    pub template: Value,
}

impl Revision {
    fn read(object: &Value, set_name: &str) -> Self {
        let name = text(&object["metadata"]["name"]).to_string();
        let hash = object["metadata"]["labels"][REVISION_HASH]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                name.strip_prefix(&format!("{set_name}-"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| name.clone());
        let mut template = object["data"]["spec"]["template"].clone();
        if let Some(fields) = template.as_object_mut() {
            fields.remove("$patch");
        }
        Self {
            name,
            hash,
            number: object["revision"].as_i64().unwrap_or(0),
            template,
        }
    }

    /// Whether a pod's `controller-revision-hash` names this revision (the
    /// StatefulSet controller writes the name, the DaemonSet one the hash).
    pub fn labels(&self, pod: &Value) -> bool {
        let label = pod["metadata"]["labels"][REVISION_HASH].as_str();
        label == Some(self.name.as_str()) || label == Some(self.hash.as_str())
    }
}

/// A set's revisions after a sync: all of them (oldest number first), the
/// one of its current template, and its collision count.
#[derive(Debug, Clone)]
pub struct History {
    /// Every revision the set controls, by number.
    pub all: Vec<Revision>,
    /// The revision of the set's template.
    pub update: Revision,
    /// `status.collisionCount` after the sync.
    pub collision_count: i64,
}

/// A string field, or "".
pub fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// The namespace and name of an object.
pub fn key_of(object: &Value) -> (String, String) {
    (
        text(&object["metadata"]["namespace"]).to_string(),
        text(&object["metadata"]["name"]).to_string(),
    )
}

fn owned_by<'a>(
    store: &'a ObjectStore,
    resource: &ResourceType,
    set: &'a Value,
) -> impl Iterator<Item = &'a Value> + 'a {
    let uid = &set["metadata"]["uid"];
    store
        .list(resource, Some(text(&set["metadata"]["namespace"])), None)
        .map(|(_, object)| object)
        .filter(move |object| controller_of(object).is_some_and(|owner| owner.uid == *uid))
}

/// The pods a set controls.
pub fn owned_pods(store: &ObjectStore, set: &Value) -> Vec<Value> {
    owned_by(store, &PODS, set).cloned().collect()
}

/// Finds (or creates) the revision of a set's template, giving an older
/// equal revision the next number, as after `kubectl rollout undo`.
pub fn sync_history(store: &mut ObjectStore, kinds: &SetKinds, set: &Value) -> Option<History> {
    let (namespace, name) = key_of(set);
    let mut all: Vec<Revision> = owned_by(store, kinds.revisions, set)
        .map(|object| Revision::read(object, &name))
        .collect();
    all.sort_by_key(|revision| revision.number);
    let template = &set["spec"]["template"];
    let wanted = normalized(template);
    let max = all.last().map_or(0, |revision| revision.number);
    let mut collision_count = set["status"]["collisionCount"].as_i64().unwrap_or(0);
    if let Some(index) = all
        .iter()
        .rposition(|revision| normalized(&revision.template) == wanted)
    {
        if all[index].number < max {
            let mut object = store
                .get(kinds.revisions, &namespace, &all[index].name)?
                .clone();
            object["revision"] = json!(max + 1);
            store.replace(kinds.revisions, object).ok()?;
            let mut bumped = all.remove(index);
            bumped.number = max + 1;
            all.push(bumped);
        }
        let update = all.last()?.clone();
        return Some(History {
            all,
            update,
            collision_count,
        });
    }
    let (hash, revision_name) = loop {
        let hash = template_hash(template, collision_count);
        let revision_name = format!("{name}-{hash}");
        if store
            .get(kinds.revisions, &namespace, &revision_name)
            .is_none()
        {
            break (hash, revision_name);
        }
        // Taken by another template (or another owner): probe on.
        collision_count += 1;
    };
    let mut labels = template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert(REVISION_HASH.into(), json!(hash));
    let mut data_template = template.clone();
    data_template["$patch"] = json!("replace");
    let mut object = json!({
        "metadata": {
            "name": revision_name, "namespace": namespace, "labels": labels,
            "ownerReferences": owner_reference(set),
        },
        "data": {"spec": {"template": data_template}},
        "revision": max + 1,
    });
    // The set's annotations (`kubernetes.io/change-cause` among them).
    if let Some(annotations) = set["metadata"]["annotations"]
        .as_object()
        .filter(|annotations| !annotations.is_empty())
    {
        object["metadata"]["annotations"] = json!(annotations);
    }
    match store.create(kinds.revisions, object) {
        Ok(created) => {
            let update = Revision::read(&created, &name);
            all.push(update.clone());
            Some(History {
                all,
                update,
                collision_count,
            })
        }
        Err(error) => {
            eprintln!(
                "kube-sim: cannot create a ControllerRevision for {namespace}/{name}: {error}"
            );
            None
        }
    }
}

/// Deletes the oldest revisions beyond the set's `revisionHistoryLimit`
/// that no pod runs and that are not `live` (current or update revision).
pub fn clean_up(
    store: &mut ObjectStore,
    kinds: &SetKinds,
    set: &Value,
    history: &History,
    live: impl Fn(&Revision) -> bool,
) {
    let limit =
        usize::try_from(set["spec"]["revisionHistoryLimit"].as_i64().unwrap_or(10)).unwrap_or(10);
    let pods = owned_pods(store, set);
    let idle: Vec<&Revision> = history
        .all
        .iter()
        .filter(|revision| !live(revision) && !pods.iter().any(|pod| revision.labels(pod)))
        .collect();
    let namespace = text(&set["metadata"]["namespace"]).to_string();
    for revision in idle.iter().take(idle.len().saturating_sub(limit)) {
        // Found under this same lock: it is there.
        let _ = store.delete(kinds.revisions, &namespace, &revision.name);
    }
}

/// The owner references of an object the set controls.
pub fn owner_reference(set: &Value) -> Value {
    json!([{
        "apiVersion": "apps/v1", "kind": set["kind"], "name": set["metadata"]["name"],
        "uid": set["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    }])
}

/// Whether a pod's Ready condition is True.
pub fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
}

/// Whether a pod is Running and ready.
pub fn running_and_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running" && is_ready(pod)
}

/// Whether one toleration tolerates one taint (as `v1.Toleration.ToleratesTaint`).
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect = text(&toleration["effect"]);
    if !effect.is_empty() && effect != text(&taint["effect"]) {
        return false;
    }
    let key = text(&toleration["key"]);
    if !key.is_empty() && key != text(&taint["key"]) {
        return false;
    }
    match text(&toleration["operator"]) {
        "Exists" => true,
        "" | "Equal" => text(&toleration["value"]) == text(&taint["value"]),
        _ => false,
    }
}

/// Whether a pod of `spec` (with `extra` tolerations) may run on `node`:
/// its node selector matches and every NoSchedule/NoExecute taint is
/// tolerated.
pub fn fits(node: &Value, spec: &Value, extra: &[Value]) -> bool {
    let labels = &node["metadata"]["labels"];
    let selected = spec["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| labels[key] == *value);
    let tolerations: Vec<&Value> = spec["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(extra)
        .collect();
    selected
        && node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|taint| matches!(text(&taint["effect"]), "NoSchedule" | "NoExecute"))
            .all(|taint| {
                tolerations
                    .iter()
                    .any(|toleration| tolerates(toleration, taint))
            })
}

/// A new pod to create.
#[derive(Debug)]
pub struct PodPlan<'a> {
    /// Its name.
    pub name: String,
    /// Its `generateName`, if it has one.
    pub generate_name: Option<String>,
    /// The set that controls it.
    pub owner: &'a Value,
    /// The template it is made from.
    pub template: &'a Value,
    /// Labels besides the template's.
    pub labels: Map<String, Value>,
    /// Its spec: the template's, with what the controller adds.
    pub spec: Value,
    /// The node it is scheduled on; `None`: it stays Pending, unschedulable.
    pub node: Option<&'a Value>,
}

/// Creates a pod Pending on its node (or unschedulable), which the rollout
/// simulation starts a step later (crash-looping if its image is broken).
pub fn create_pod(
    store: &mut ObjectStore,
    state: &mut ControllerState,
    plan: PodPlan<'_>,
    now: Instant,
) -> Option<Value> {
    let namespace = text(&plan.owner["metadata"]["namespace"]).to_string();
    let mut spec = plan.spec;
    if spec["serviceAccountName"].is_null() {
        spec["serviceAccountName"] = json!("default");
    }
    let mut status = json!({"phase": "Pending", "qosClass": "Burstable"});
    let stamp = timestamp_now();
    if let Some(node) = plan.node {
        spec["nodeName"] = node["metadata"]["name"].clone();
        let host_ip = node["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|address| address["type"] == "InternalIP")
            .map_or(Value::Null, |address| address["address"].clone());
        status["hostIP"] = host_ip;
        status["startTime"] = json!(stamp);
        status["conditions"] = json!([
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": stamp},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": stamp},
        ]);
        let containers: Vec<Value> = spec["containers"].as_array().cloned().unwrap_or_default();
        status["containerStatuses"] = json!(
            containers
                .iter()
                .map(|container| json!({
                    "name": container["name"], "image": container["image"], "ready": false,
                    "started": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                }))
                .collect::<Vec<_>>()
        );
        let broken = containers
            .iter()
            .filter_map(|container| container["image"].as_str())
            .any(|image| state.is_broken(image));
        state.pods.insert(
            (namespace.clone(), plan.name.clone()),
            PodLife {
                created: now,
                broken,
                last_restart: now,
            },
        );
    } else {
        status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/0 nodes are available.", "lastTransitionTime": stamp}]);
    }
    let mut labels = plan.template["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.extend(plan.labels);
    let mut metadata = json!({
        "name": plan.name, "namespace": namespace, "labels": labels,
        "annotations": plan.template["metadata"]["annotations"].as_object().cloned().unwrap_or_default(),
        "ownerReferences": owner_reference(plan.owner),
    });
    if let Some(prefix) = plan.generate_name {
        metadata["generateName"] = json!(prefix);
    }
    let pod = json!({"metadata": metadata, "spec": spec, "status": status});
    match store.create(&PODS, pod) {
        Ok(created) => Some(created),
        Err(error) => {
            eprintln!("kube-sim: cannot create a pod of {namespace}: {error}");
            None
        }
    }
}

/// Deletes a pod and forgets its simulation.
pub fn delete_pod(store: &mut ObjectStore, state: &mut ControllerState, pod: &Value) {
    let (namespace, name) = key_of(pod);
    if store.delete(&PODS, &namespace, &name).is_ok() {
        state.pods.remove(&(namespace, name));
    }
}

/// The name of a new claim's PersistentVolume (`pvc-<uid>`), as provisioners name them.
pub fn volume_name() -> String {
    format!("pvc-{}", new_uid())
}

/// Whether two statuses differ in the given number fields (absent counts
/// as 0, as the API's omitempty does) or string fields.
pub fn status_differs(old: &Value, new: &Value, numbers: &[&str], strings: &[&str]) -> bool {
    numbers
        .iter()
        .any(|field| old[field].as_i64().unwrap_or(0) != new[field].as_i64().unwrap_or(0))
        || strings.iter().any(|field| old[field] != new[field])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerations_follow_the_kubernetes_rules() {
        let taint = json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"});
        let master = json!({"metadata": {"labels": {"disk": "ssd"}}, "spec": {"taints": [taint]}});
        assert!(!fits(&master, &json!({}), &[]));
        assert!(fits(
            &master,
            &json!({"tolerations": [{"operator": "Exists"}]}),
            &[]
        ));
        let keyed = json!({"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"});
        assert!(fits(&master, &json!({}), &[keyed]));
        let other = json!({"key": "other", "operator": "Exists"});
        assert!(!fits(&master, &json!({}), &[other]));
        let selecting =
            json!({"nodeSelector": {"disk": "hdd"}, "tolerations": [{"operator": "Exists"}]});
        assert!(!fits(&master, &selecting, &[]));
    }

    #[test]
    fn revisions_are_read_with_or_without_the_patch_directive() {
        let seeded = json!({"metadata": {"name": "web-abc"}, "revision": 1,
            "data": {"spec": {"template": {"spec": {"containers": []}}}}});
        let revision = Revision::read(&seeded, "web");
        assert_eq!((revision.hash.as_str(), revision.number), ("abc", 1));
        let written = json!({"metadata": {"name": "web-xyz", "labels": {REVISION_HASH: "xyz"}},
            "revision": 2, "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": []}}}}});
        let revision = Revision::read(&written, "web");
        assert_eq!(revision.template, json!({"spec": {"containers": []}}));
        let pod = json!({"metadata": {"labels": {REVISION_HASH: "web-xyz"}}});
        assert!(revision.labels(&pod));
    }
}
