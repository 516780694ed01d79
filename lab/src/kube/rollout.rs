//! The rollout simulation: a Deployment controller on the simulator's
//! runtime. A change of a Deployment's `spec.template` creates a new
//! ReplicaSet (`pod-template-hash` label, `deployment.kubernetes.io/revision`
//! annotation) that is scaled up while the old ones are scaled down, within
//! `maxSurge`/`maxUnavailable` (or all at once for `Recreate`); the
//! Deployment's status and its Available/Progressing conditions follow, as
//! `kubectl rollout status` reads them. Rolling back (`kubectl rollout
//! undo`) is a template change back to an old ReplicaSet's, which then
//! gets the next revision.
//!
//! Broken images: a pod whose image tag ends in `-broken`, or whose image
//! is listed in [`super::KubeSimOptions::broken_images`], never becomes
//! ready (CrashLoopBackOff, restart count growing), so its rollout ends in
//! `ProgressDeadlineExceeded` after `spec.progressDeadlineSeconds`.
//!
//! The controller acts on changes made after the simulator started (it
//! reads the store's change log, so objects added in one write, as the
//! seed and the scale generator do, are seen whole) and leaves consistent
//! objects alone. StatefulSets and DaemonSets roll with ControllerRevisions
//! ([`super::sets`]), on the same pods' lives.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::deployment::{sync_deployment, update_status};
use super::replicaset;
use super::resources::{ResourceType, find};
use super::sets::{SetControllers, WATCHED};
use super::store::{Change, ObjectStore, SharedStore};

/// A namespace and a name.
pub type Key = (String, String);

/// The annotation holding a ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The label that tells the pods of one template from another's.
pub const HASH_LABEL: &str = "pod-template-hash";

/// The resources the controller works on.
#[derive(Debug, Clone, Copy)]
pub struct Kinds {
    /// apps/v1 deployments.
    pub deployments: &'static ResourceType,
    /// apps/v1 replicasets.
    pub replica_sets: &'static ResourceType,
    /// v1 nodes.
    pub nodes: &'static ResourceType,
}

impl Kinds {
    fn find() -> Option<Self> {
        Some(Self {
            deployments: find("apps", "v1", "deployments")?,
            replica_sets: find("apps", "v1", "replicasets")?,
            nodes: find("", "v1", "nodes")?,
        })
    }
}

/// A pod the controller started and still moves on.
#[derive(Debug, Clone)]
pub struct PodLife {
    /// When it was created.
    pub created: Instant,
    /// Whether its image is broken (it will crash-loop).
    pub broken: bool,
    /// When it last (re)started.
    pub last_restart: Instant,
}

/// What the controller remembers between passes.
#[derive(Debug, Default)]
pub struct ControllerState {
    /// How long a step of the simulation takes.
    pub step: Duration,
    /// Images that never become ready, besides tags ending in `-broken`.
    pub broken_images: Vec<String>,
    /// The pods being started or crash-looping.
    pub pods: BTreeMap<Key, PodLife>,
    /// The node the next pod goes to, in turn.
    pub next_node: usize,
    deployments: BTreeSet<Key>,
    /// ReplicaSets to sync this pass.
    pub(super) replica_sets: BTreeSet<Key>,
    /// Deployments whose rollout is under way.
    active: BTreeSet<Key>,
    /// When each rollout under way last made progress.
    pub(super) progress: HashMap<Key, Instant>,
}

impl ControllerState {
    /// Whether pods of this image never become ready.
    pub fn is_broken(&self, image: &str) -> bool {
        let tag = image.rsplit_once(':').map_or("", |(_, tag)| tag);
        tag.ends_with("-broken") || self.broken_images.iter().any(|broken| broken == image)
    }
}

/// An object's controller: its owner reference with `controller: true`.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// The owner's kind.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's uid.
    pub uid: Value,
}

/// The controller of an object, if any.
pub fn controller_of(object: &Value) -> Option<Owner> {
    object["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|reference| reference["controller"] == true)
        .map(|reference| Owner {
            kind: reference["kind"].as_str().unwrap_or_default().to_string(),
            name: reference["name"].as_str().unwrap_or_default().to_string(),
            uid: reference["uid"].clone(),
        })
}

/// The Deployment and ReplicaSet controllers of one simulator.
#[derive(Debug)]
pub struct Controller {
    store: SharedStore,
    kinds: Option<Kinds>,
    cursor: u64,
    state: ControllerState,
    sets: SetControllers,
}

impl Controller {
    /// A controller over `store` that acts on changes from now on.
    pub fn new(store: SharedStore, step: Duration, broken_images: Vec<String>) -> Self {
        let cursor = store.read().resource_version();
        Self {
            store,
            kinds: Kinds::find(),
            cursor,
            state: ControllerState {
                step,
                broken_images,
                ..ControllerState::default()
            },
            sets: SetControllers::default(),
        }
    }

    /// Runs passes on every change and every step, until the runtime ends.
    pub async fn run(mut self) {
        let mut changes = self.store.subscribe();
        loop {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(self.state.step) => {}
            }
            self.pass(Instant::now());
        }
    }

    /// One pass: reads the changes since the last, then moves every
    /// affected workload one step on.
    pub fn pass(&mut self, now: Instant) {
        let Some(kinds) = self.kinds else { return };
        let shared = self.store.clone();
        shared.write_if_changed(|store| {
            self.observe(store);
            reconcile(store, &kinds, &mut self.state, now);
            self.sets.reconcile(store, &mut self.state, now);
            // What this pass wrote is seen (and found settled) next pass.
        });
    }

    fn observe(&mut self, store: &ObjectStore) {
        let storages = ["deployments", "replicasets"].into_iter().chain(WATCHED);
        for storage in storages {
            // A controller that fell behind the log skips what it missed.
            if let Ok(changes) = store.changes_after(storage, self.cursor) {
                for change in changes {
                    self.state.note(change);
                    self.sets.note(change);
                }
            }
        }
        self.cursor = store.resource_version();
    }
}

impl ControllerState {
    fn note(&mut self, change: &Change) {
        let key = (change.key.namespace.clone(), change.key.name.clone());
        let owner = controller_of(&change.object);
        match change.key.storage {
            "deployments" => {
                self.deployments.insert(key);
            }
            "replicasets" => {
                if let Some(owner) = owner.filter(|owner| owner.kind == "Deployment") {
                    self.deployments.insert((key.0.clone(), owner.name));
                }
                self.replica_sets.insert(key);
            }
            _ => {
                if let Some(owner) = owner.filter(|owner| owner.kind == "ReplicaSet") {
                    self.replica_sets.insert((key.0, owner.name));
                }
            }
        }
    }
}

fn reconcile(store: &mut ObjectStore, kinds: &Kinds, state: &mut ControllerState, now: Instant) {
    for replica_set in replicaset::advance_pods(store, state, now) {
        state.replica_sets.insert(replica_set);
    }
    let mut deployments = std::mem::take(&mut state.deployments);
    deployments.extend(state.active.iter().cloned());
    let mut created = BTreeSet::new();
    for key in &deployments {
        if sync_deployment(store, kinds, state, key) {
            created.insert(key.clone());
        }
    }
    for key in std::mem::take(&mut state.replica_sets) {
        if let Some(owner) = replicaset::sync(store, kinds, state, &key, now) {
            deployments.insert(owner);
        }
    }
    for key in &deployments {
        let settled = update_status(store, kinds, state, key, created.contains(key), now);
        if settled {
            state.active.remove(key);
            state.progress.remove(key);
        } else {
            state.active.insert(key.clone());
        }
    }
}

/// The template without the `pod-template-hash` label, nulls and empty
/// maps, for comparing templates as the API server's typed objects would.
pub fn normalized(template: &Value) -> Value {
    fn strip(value: &Value) -> Option<Value> {
        match value {
            Value::Null => None,
            Value::Object(fields) => {
                let kept: serde_json::Map<String, Value> = fields
                    .iter()
                    .filter_map(|(key, value)| strip(value).map(|value| (key.clone(), value)))
                    .collect();
                (!kept.is_empty()).then_some(Value::Object(kept))
            }
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .map(|item| strip(item).unwrap_or(json!({})))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }
    let mut template = template.clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    strip(&template).unwrap_or(Value::Null)
}

/// The `pod-template-hash` of a template: FNV-32a of its JSON and the
/// collision count, spelled as Kubernetes' `rand.SafeEncodeString` does.
pub fn template_hash(template: &Value, collision_count: i64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let text = format!("{}{collision_count}", normalized(template));
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash.to_string()
        .bytes()
        .map(|digit| char::from(ALPHABET[usize::from(digit) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::seed;

    fn seeded() -> SharedStore {
        let mut store = ObjectStore::new(100_000);
        seed::seed_namespaces(&mut store).expect("namespaces");
        seed::seed_site(&mut store).expect("site");
        SharedStore::new(store)
    }

    #[test]
    fn a_consistent_site_is_left_alone() {
        let store = seeded();
        let before = store.read().resource_version();
        let mut controller = Controller::new(store.clone(), Duration::from_millis(1), Vec::new());
        // Look at every seeded object as if it had just changed.
        controller.cursor = 0;
        let now = Instant::now();
        controller.pass(now);
        controller.pass(now + Duration::from_secs(700));
        assert_eq!(store.read().resource_version(), before);
    }

    #[test]
    fn a_template_change_rolls_a_deployment_step_by_step() {
        let store = seeded();
        let kinds = Kinds::find().expect("kinds");
        let mut controller = Controller::new(store.clone(), Duration::from_millis(1), Vec::new());
        store.write(|store| {
            let mut deployment = store
                .get(kinds.deployments, "acme-prod", "order-service")
                .cloned()
                .expect("deployment");
            deployment["spec"]["template"]["spec"]["containers"][0]["image"] = json!("order:9");
            store
                .replace(kinds.deployments, deployment)
                .expect("replace");
        });
        let start = Instant::now();
        let mut updated_over_time = Vec::new();
        for step in 0..40 {
            controller.pass(start + Duration::from_millis(step * 2));
            let deployment = store
                .read()
                .get(kinds.deployments, "acme-prod", "order-service")
                .cloned()
                .expect("deployment");
            updated_over_time.push(
                deployment["status"]["updatedReplicas"]
                    .as_i64()
                    .unwrap_or(0),
            );
        }
        assert_eq!(updated_over_time.first(), Some(&1), "{updated_over_time:?}");
        assert_eq!(updated_over_time.last(), Some(&3), "{updated_over_time:?}");
        let store = store.read();
        let deployment = store
            .get(kinds.deployments, "acme-prod", "order-service")
            .expect("deployment");
        assert_eq!(deployment["metadata"]["annotations"][REVISION], "4");
        assert_eq!(deployment["status"]["observedGeneration"], 2);
        assert_eq!(
            deployment["status"]["conditions"][1]["reason"],
            "NewReplicaSetAvailable"
        );
    }

    #[test]
    fn template_hashes_ignore_the_hash_label_and_use_the_safe_alphabet() {
        let template = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}});
        let mut labelled = template.clone();
        labelled["metadata"]["labels"][HASH_LABEL] = json!("abc");
        assert_eq!(template_hash(&template, 0), template_hash(&labelled, 0));
        assert_ne!(template_hash(&template, 0), template_hash(&template, 1));
        assert!(
            template_hash(&template, 0)
                .bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
    }
}
