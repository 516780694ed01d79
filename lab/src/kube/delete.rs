//! DELETE: of one object (with the preconditions of its DeleteOptions and
//! garbage collection of what it owns) and of a collection.

use serde_json::{Value, json};

use super::present::object_for;
use super::request::QueryParams;
use super::resources::{RESOURCES, ResourceType};
use super::status::ApiError;
use super::store::ObjectStore;

/// DELETE of one object: checks the preconditions of its DeleteOptions,
/// then deletes it and (unless `propagationPolicy` is `Orphan`) every
/// object it owns, as the garbage collector would. Pods are returned as
/// deleted, everything else as a Status `Success`, like the API server.
pub fn delete(
    store: &mut ObjectStore,
    resource: &'static ResourceType,
    namespace: &str,
    name: &str,
    options: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let current = store
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    let preconditions = &options["preconditions"];
    for field in ["uid", "resourceVersion"] {
        if let Some(expected) = preconditions[field].as_str()
            && Some(expected) != current["metadata"][field].as_str()
        {
            return Err(ApiError::conflict(resource, name));
        }
    }
    let deleted = if dry_run {
        current.clone()
    } else {
        let orphan = options["propagationPolicy"].as_str() == Some("Orphan")
            || options["orphanDependents"] == json!(true);
        let deleted = store.delete(resource, namespace, name)?;
        if resource.plural == "namespaces" {
            delete_namespace_contents(store, name);
        } else if !orphan {
            collect_garbage(store, namespace, &current["metadata"]["uid"]);
        }
        deleted
    };
    if matches!(resource.plural, "pods" | "namespaces") {
        return Ok(object_for(resource, &deleted));
    }
    let mut details =
        json!({"name": name, "kind": resource.plural, "uid": current["metadata"]["uid"]});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
    )
}

/// The stored, namespaced resources, one per storage.
fn namespaced_storages() -> impl Iterator<Item = &'static ResourceType> {
    RESOURCES.iter().filter(|resource| {
        resource.is_stored() && resource.namespaced && resource.group != "events.k8s.io"
    })
}

/// Deletes, transitively, the objects of a namespace owned by `owner_uid`.
fn collect_garbage(store: &mut ObjectStore, namespace: &str, owner_uid: &Value) {
    let mut owners = vec![owner_uid.clone()];
    while let Some(owner) = owners.pop() {
        let mut doomed = Vec::new();
        for resource in namespaced_storages() {
            for (key, object) in store.list(resource, Some(namespace), None) {
                let owned = object["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|references| {
                        references.iter().any(|reference| reference["uid"] == owner)
                    });
                if owned {
                    doomed.push((
                        resource,
                        key.name.clone(),
                        object["metadata"]["uid"].clone(),
                    ));
                }
            }
        }
        for (resource, name, uid) in doomed {
            if store.delete(resource, namespace, &name).is_ok() {
                owners.push(uid);
            }
        }
    }
}

fn delete_namespace_contents(store: &mut ObjectStore, namespace: &str) {
    for resource in namespaced_storages() {
        let names: Vec<String> = store
            .list(resource, Some(namespace), None)
            .map(|(key, _)| key.name.clone())
            .collect();
        for name in names {
            // Listed a moment ago under the same lock: it is there.
            let _ = store.delete(resource, namespace, &name);
        }
    }
}

/// DELETE of a collection (`kubectl delete pods -l app=web` sends one per
/// object, but clients may use this): deletes what the selectors match and
/// returns them as a list.
pub fn delete_collection(
    store: &mut ObjectStore,
    resource: &'static ResourceType,
    namespace: &str,
    params: &QueryParams,
    dry_run: bool,
) -> Result<Value, ApiError> {
    use super::selectors::{FieldSelector, LabelSelector};
    if !resource.verbs.contains(&"deletecollection") {
        return Err(ApiError::method_not_allowed("DELETE"));
    }
    let labels = LabelSelector::parse(params.get("labelSelector").unwrap_or_default())?;
    let fields = FieldSelector::parse(params.get("fieldSelector").unwrap_or_default(), resource)?;
    let scope = resource
        .namespaced
        .then_some(namespace)
        .filter(|namespace| !namespace.is_empty());
    let doomed: Vec<(String, String)> = store
        .list(resource, scope, None)
        .filter(|(_, object)| labels.matches(object) && fields.matches(object))
        .map(|(key, _)| (key.namespace.clone(), key.name.clone()))
        .collect();
    let mut items = Vec::new();
    for (namespace, name) in doomed {
        let item = if dry_run {
            store.get(resource, &namespace, &name).cloned()
        } else {
            let deleted = store.delete(resource, &namespace, &name).ok();
            if let Some(object) = &deleted {
                collect_garbage(store, &namespace, &object["metadata"]["uid"]);
            }
            deleted
        };
        items.extend(item);
    }
    Ok(json!({
        "kind": format!("{}List", resource.kind), "apiVersion": resource.api_version(),
        "metadata": {"resourceVersion": store.resource_version().to_string()}, "items": items,
    }))
}
