//! The simulator's objects: an in-memory store with one monotonic
//! resourceVersion for everything, and a bounded log of changes from which
//! watches are served (what is dropped from it is "too old" for a watch).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::watch;

use super::resources::{NAMESPACES, ResourceType};
use super::status::ApiError;

/// Where an object is kept: its storage, namespace (empty when cluster
/// scoped) and name. The order is the order lists are returned in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The resource's storage name (`pods`).
    pub storage: &'static str,
    /// The namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// It was created.
    Added,
    /// It was replaced.
    Modified,
    /// It was deleted.
    Deleted,
}

impl ChangeType {
    /// The watch event type (`ADDED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One entry of the change log.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change produced.
    pub resource_version: u64,
    /// What happened.
    pub change_type: ChangeType,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change; for a deletion, the object as deleted.
    pub object: Value,
    /// The object before a modification, so a filtered watch can tell an
    /// object leaving its selector from one changing within it.
    pub previous: Option<Value>,
}

/// The objects and their change log.
#[derive(Debug)]
pub struct ObjectStore {
    resource_version: u64,
    objects: BTreeMap<ObjectKey, Value>,
    changes: VecDeque<Change>,
    retained_changes: usize,
    /// Changes up to this resourceVersion are no longer in the log.
    compacted_through: u64,
}

impl ObjectStore {
    /// An empty store keeping the last `retained_changes` changes for
    /// watches.
    pub fn new(retained_changes: usize) -> Self {
        Self {
            resource_version: 0,
            objects: BTreeMap::new(),
            changes: VecDeque::new(),
            retained_changes: retained_changes.max(1),
            compacted_through: 0,
        }
    }

    /// The resourceVersion up to which changes were forgotten (compaction):
    /// a watch or continue token from before it gets 410 Gone.
    pub fn compacted_through(&self) -> u64 {
        self.compacted_through
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// The object, if it exists.
    pub fn get(&self, resource: &ResourceType, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&key_of(resource, namespace, name))
    }

    /// The objects of a resource, in one namespace or all, in key order,
    /// starting after `after` (where the previous page of a list ended).
    pub fn list<'a>(
        &'a self,
        resource: &ResourceType,
        namespace: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
        let storage = resource.storage;
        let start = match after {
            Some(key) => Bound::Excluded(key.clone()),
            None => Bound::Included(ObjectKey {
                storage,
                namespace: namespace.unwrap_or_default().to_string(),
                name: String::new(),
            }),
        };
        self.objects
            .range((start, Bound::Unbounded))
            .take_while(move |(key, _)| {
                key.storage == storage && namespace.is_none_or(|ns| key.namespace == ns)
            })
    }

    /// How many objects a resource has in one namespace or all.
    pub fn count(&self, resource: &ResourceType, namespace: Option<&str>) -> usize {
        self.list(resource, namespace, None).count()
    }

    /// Creates an object, filling in the metadata the server owns: uid,
    /// resourceVersion, generation, and creationTimestamp unless one is
    /// given (so seeded objects can look as old as on a real site).
    pub fn create(
        &mut self,
        resource: &ResourceType,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let (namespace, name) = identity(resource, &object)?;
        if resource.namespaced && self.get(namespaces(), "", &namespace).is_none() {
            return Err(ApiError::not_found(namespaces(), &namespace));
        }
        let key = key_of(resource, &namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(resource, &name));
        }
        self.resource_version += 1;
        object["apiVersion"] = json!(resource.api_version());
        object["kind"] = json!(resource.kind);
        let metadata = &mut object["metadata"];
        metadata["uid"] = json!(new_uid());
        metadata["resourceVersion"] = json!(self.resource_version.to_string());
        if metadata["creationTimestamp"].as_str().is_none() {
            metadata["creationTimestamp"] = json!(timestamp_now());
        }
        // Of the served kinds, only the apps workloads track generation
        // (pods do only from Kubernetes 1.34 on).
        if resource.group == "apps" && object.get("spec").is_some() {
            object["metadata"]["generation"] = json!(1);
        }
        if resource.plural == "namespaces" && object["status"]["phase"].is_null() {
            object["status"]["phase"] = json!("Active");
        }
        self.objects.insert(key.clone(), object.clone());
        self.record(ChangeType::Added, key, object.clone(), None);
        Ok(object)
    }

    /// Replaces an object. A given resourceVersion must be the current one
    /// (409 Conflict otherwise); a changed `spec` bumps `generation`.
    pub fn replace(
        &mut self,
        resource: &ResourceType,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        let (namespace, name) = identity(resource, &object)?;
        let key = key_of(resource, &namespace, &name);
        let Some(previous) = self.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(resource, &name));
        };
        let given_version = object["metadata"]["resourceVersion"].as_str();
        if given_version
            .is_some_and(|given| Some(given) != previous["metadata"]["resourceVersion"].as_str())
        {
            return Err(ApiError::conflict(resource, &name));
        }
        self.resource_version += 1;
        object["apiVersion"] = json!(resource.api_version());
        object["kind"] = json!(resource.kind);
        for owned in ["uid", "creationTimestamp"] {
            object["metadata"][owned] = previous["metadata"][owned].clone();
        }
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        if let Some(generation) = previous["metadata"]["generation"].as_u64() {
            let bump = u64::from(object.get("spec") != previous.get("spec"));
            object["metadata"]["generation"] = json!(generation + bump);
        }
        self.objects.insert(key.clone(), object.clone());
        self.record(ChangeType::Modified, key, object.clone(), Some(previous));
        Ok(object)
    }

    /// Deletes an object and returns it as deleted.
    pub fn delete(
        &mut self,
        resource: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = key_of(resource, namespace, name);
        let Some(mut object) = self.objects.remove(&key) else {
            return Err(ApiError::not_found(resource, name));
        };
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.record(ChangeType::Deleted, key, object.clone(), None);
        Ok(object)
    }

    /// The changes to a storage after `resource_version`, or 410 Expired when
    /// some of them have already been dropped from the log.
    pub fn changes_after(
        &self,
        storage: &'static str,
        resource_version: u64,
    ) -> Result<impl Iterator<Item = &Change>, ApiError> {
        if resource_version < self.compacted_through {
            return Err(ApiError::expired(format!(
                "too old resource version: {resource_version} ({})",
                self.compacted_through
            )));
        }
        let first = self
            .changes
            .partition_point(|change| change.resource_version <= resource_version);
        Ok(self
            .changes
            .range(first..)
            .filter(move |change| change.key.storage == storage))
    }

    /// Forgets every change so far, as an API server's compaction does:
    /// watches from any earlier resourceVersion get 410 Gone.
    pub fn compact(&mut self) {
        self.changes.clear();
        self.compacted_through = self.resource_version;
    }

    fn record(
        &mut self,
        change_type: ChangeType,
        key: ObjectKey,
        object: Value,
        previous: Option<Value>,
    ) {
        self.changes.push_back(Change {
            resource_version: self.resource_version,
            change_type,
            key,
            object,
            previous,
        });
        while self.changes.len() > self.retained_changes {
            if let Some(dropped) = self.changes.pop_front() {
                self.compacted_through = dropped.resource_version;
            }
        }
    }
}

/// The store shared by the server's connections and the [`super::KubeSim`]
/// handle, with a signal that wakes watches on every change.
#[derive(Debug, Clone)]
pub struct SharedStore {
    store: Arc<Mutex<ObjectStore>>,
    changed: Arc<watch::Sender<u64>>,
}

impl SharedStore {
    /// Shares a store.
    pub fn new(store: ObjectStore) -> Self {
        let (changed, _) = watch::channel(store.resource_version());
        Self {
            store: Arc::new(Mutex::new(store)),
            changed: Arc::new(changed),
        }
    }

    /// Reads the store. A panic while it was held cannot leave it half
    /// written (every change is one insert), so poisoning is ignored.
    pub fn read(&self) -> MutexGuard<'_, ObjectStore> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the store and wakes the watches.
    pub fn write<R>(&self, change: impl FnOnce(&mut ObjectStore) -> R) -> R {
        let mut store = self.read();
        let result = change(&mut store);
        self.changed.send_replace(store.resource_version());
        result
    }

    /// Changes the store and wakes the watches only if the change moved
    /// the resourceVersion (for controllers, whose passes often change
    /// nothing and must not wake themselves).
    pub fn write_if_changed<R>(&self, change: impl FnOnce(&mut ObjectStore) -> R) -> R {
        let mut store = self.read();
        let before = store.resource_version();
        let result = change(&mut store);
        if store.resource_version() != before {
            self.changed.send_replace(store.resource_version());
        }
        result
    }

    /// A receiver that is marked changed on every later write. Subscribe
    /// while holding [`Self::read`] to be sure to miss nothing after it.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

fn namespaces() -> &'static ResourceType {
    &NAMESPACES
}

/// The key of an object of a resource.
pub fn key_of(resource: &ResourceType, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        storage: resource.storage,
        namespace: if resource.namespaced {
            namespace.to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
    }
}

/// The namespace and name of an object, checked against its resource.
fn identity(resource: &ResourceType, object: &Value) -> Result<(String, String), ApiError> {
    let metadata = &object["metadata"];
    let name = metadata["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::invalid(format!(
            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
            resource.kind
        )));
    }
    let namespace = metadata["namespace"].as_str().unwrap_or_default();
    if resource.namespaced && namespace.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{} \"{name}\": the namespace of the object must be set",
            resource.kind
        )));
    }
    Ok((namespace.to_string(), name.to_string()))
}

/// Now, as Kubernetes writes timestamps (`2025-01-31T12:00:00Z`).
pub fn timestamp_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random (version 4 style) UID.
pub fn new_uid() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bits = [0u64; 2];
    for (half, part) in bits.iter_mut().enumerate() {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_usize(half);
        *part = hasher.finish();
    }
    let hex = format!("{:016x}{:016x}", bits[0], bits[1]);
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;

    fn pods() -> &'static ResourceType {
        find("", "v1", "pods").expect("pods")
    }

    fn store_with_namespace() -> ObjectStore {
        let mut store = ObjectStore::new(3);
        store
            .create(namespaces(), json!({"metadata": {"name": "shop"}}))
            .expect("namespace");
        store
    }

    fn pod(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "shop"}, "spec": {"nodeName": "n1"}})
    }

    #[test]
    fn every_change_gets_the_next_resource_version() {
        let mut store = store_with_namespace();
        let created = store.create(pods(), pod("a")).expect("create");
        assert_eq!(created["metadata"]["resourceVersion"], "2");
        assert!(
            created["metadata"]["generation"].is_null(),
            "pods have no generation in 1.32"
        );
        let deployments = find("apps", "v1", "deployments").expect("deployments");
        let deployment = store.create(deployments, pod("d")).expect("deployment");
        assert_eq!(deployment["metadata"]["generation"], 1);
        let mut scaled = deployment.clone();
        scaled["spec"]["replicas"] = json!(3);
        let scaled = store.replace(deployments, scaled).expect("scale");
        assert_eq!(scaled["metadata"]["generation"], 2);
        let mut labelled = scaled.clone();
        labelled["metadata"]["labels"] = json!({"tier": "web"});
        let labelled = store.replace(deployments, labelled).expect("label");
        assert_eq!(
            labelled["metadata"]["generation"], 2,
            "metadata changes keep the generation"
        );
        let mut changed = created.clone();
        changed["spec"]["nodeName"] = json!("n2");
        let replaced = store.replace(pods(), changed).expect("replace");
        assert_eq!(replaced["metadata"]["resourceVersion"], "6");
        assert_eq!(replaced["metadata"]["uid"], created["metadata"]["uid"]);
        let stale = store
            .replace(pods(), created)
            .expect_err("stale resourceVersion");
        assert_eq!(stale.reason, "Conflict");
        let deleted = store.delete(pods(), "shop", "a").expect("delete");
        assert_eq!(deleted["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn objects_need_an_existing_namespace_and_a_free_name() {
        let mut store = store_with_namespace();
        let mut elsewhere = pod("a");
        elsewhere["metadata"]["namespace"] = json!("nowhere");
        assert_eq!(
            store
                .create(pods(), elsewhere)
                .expect_err("no namespace")
                .code,
            404
        );
        store.create(pods(), pod("a")).expect("create");
        assert_eq!(store.create(pods(), pod("a")).expect_err("twice").code, 409);
    }

    #[test]
    fn watches_from_before_the_retained_changes_are_expired() {
        let mut store = store_with_namespace();
        for name in ["a", "b", "c", "d"] {
            store.create(pods(), pod(name)).expect("create");
        }
        // Five changes, three retained: 1 and 2 are gone.
        assert_eq!(
            store
                .changes_after("pods", 1)
                .map(|c| c.count())
                .expect_err("old")
                .code,
            410
        );
        let names: Vec<_> = store
            .changes_after("pods", 2)
            .expect("retained")
            .map(|change| change.key.name.clone())
            .collect();
        assert_eq!(names, ["b", "c", "d"]);
        store.compact();
        assert!(store.changes_after("pods", 4).is_err());
        assert_eq!(
            store.changes_after("pods", 5).map(|c| c.count()).ok(),
            Some(0)
        );
    }

    #[test]
    fn lists_are_in_namespace_then_name_order_and_resume_after_a_position() {
        let mut store = store_with_namespace();
        for name in ["c", "a", "b"] {
            store.create(pods(), pod(name)).expect("create");
        }
        let names = |after: Option<&str>| {
            let after = after.map(|name| key_of(pods(), "shop", name));
            store
                .list(pods(), Some("shop"), after.as_ref())
                .map(|(key, _)| key.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(None), ["a", "b", "c"]);
        assert_eq!(names(Some("a")), ["b", "c"]);
        assert_eq!(store.count(pods(), None), 3);
        assert_eq!(store.count(pods(), Some("other")), 0);
    }

    #[test]
    fn uids_look_like_uuids_and_differ() {
        let (first, second) = (new_uid(), new_uid());
        assert_ne!(first, second);
        assert_eq!(first.len(), 36);
        assert_eq!(first.matches('-').count(), 4);
    }
}
