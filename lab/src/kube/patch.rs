//! The three patch formats of the API server: JSON patch (RFC 6902),
//! JSON merge patch (RFC 7386) and strategic merge patch, whose lists are
//! merged by the merge keys of the Kubernetes types (containers by `name`,
//! container ports by `containerPort`…) instead of being replaced.

use serde_json::{Map, Value};

use super::status::ApiError;

/// The patch formats, by their media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
}

impl PatchType {
    /// The patch type of a `Content-Type`; 415 for anything else
    /// (server-side apply included).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Self, ApiError> {
        let essence = content_type
            .and_then(|value| value.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        match essence {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            other => Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!(
                    "the body of the request was in an unknown format - accepted media types \
                     include: application/json-patch+json, application/merge-patch+json, \
                     application/strategic-merge-patch+json (got {other:?})"
                ),
                details: None,
            }),
        }
    }
}

/// Applies a patch of the given type to a copy of `target`.
pub fn apply(target: &Value, patch_type: PatchType, patch: &Value) -> Result<Value, ApiError> {
    match patch_type {
        PatchType::Json => json_patch(target, patch),
        PatchType::Merge => {
            let mut patched = target.clone();
            merge_patch(&mut patched, patch);
            Ok(patched)
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            Ok(strategic_merge(target, patch, &[]))
        }
    }
}

/// RFC 7386: objects merge recursively, `null` removes, anything else
/// (lists included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(fields) = target else {
        return;
    };
    for (key, value) in patch_fields {
        if value.is_null() {
            fields.remove(key);
        } else {
            merge_patch(fields.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// RFC 6902: the operations in order; any failure leaves the object as it
/// was (422 with what failed).
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, ApiError> {
    let operations = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be a list of operations"))?;
    let mut document = target.clone();
    for operation in operations {
        let op = operation["op"].as_str().unwrap_or_default();
        let path = operation["path"]
            .as_str()
            .ok_or_else(|| invalid_patch(op, "missing path"))?;
        let value = || {
            operation
                .get("value")
                .cloned()
                .ok_or_else(|| invalid_patch(op, "missing value"))
        };
        let from = || {
            operation["from"]
                .as_str()
                .ok_or_else(|| invalid_patch(op, "missing from"))
        };
        match op {
            "add" => add(&mut document, path, value()?)?,
            "remove" => {
                remove(&mut document, path)?;
            }
            "replace" => {
                remove(&mut document, path)?;
                add(&mut document, path, value()?)?;
            }
            "move" => {
                let moved = remove(&mut document, from()?)?;
                add(&mut document, path, moved)?;
            }
            "copy" => {
                let copied = document
                    .pointer(&pointer(from()?)?)
                    .cloned()
                    .ok_or_else(|| missing(from().unwrap_or_default()))?;
                add(&mut document, path, copied)?;
            }
            "test" => {
                if document.pointer(&pointer(path)?) != Some(&value()?) {
                    return Err(ApiError::invalid(format!(
                        "the server rejected our request due to an error in our request: \
                         testing value {path} failed"
                    )));
                }
            }
            other => return Err(invalid_patch(other, "unknown operation")),
        }
    }
    Ok(document)
}

fn invalid_patch(op: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("invalid JSON patch operation {op:?}: {why}"))
}

fn missing(path: &str) -> ApiError {
    ApiError::invalid(format!(
        "the server rejected our request due to an error in our request: \
         doc is missing path: \"{path}\""
    ))
}

/// A JSON pointer, checked (`""` or starting with `/`).
fn pointer(path: &str) -> Result<String, ApiError> {
    if path.is_empty() || path.starts_with('/') {
        Ok(path.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid JSON pointer {path:?}"
        )))
    }
}

/// The parent of a pointer and its last token, unescaped.
fn split_pointer(path: &str) -> Result<(String, String), ApiError> {
    let path = pointer(path)?;
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| ApiError::bad_request("cannot patch the whole object"))?;
    Ok((
        parent.to_string(),
        last.replace("~1", "/").replace("~0", "~"),
    ))
}

fn add(document: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    let (parent, last) = split_pointer(path)?;
    match document.pointer_mut(&parent) {
        Some(Value::Object(fields)) => {
            fields.insert(last, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|index| *index <= items.len())
                    .ok_or_else(|| missing(path))?
            };
            items.insert(index, value);
            Ok(())
        }
        _ => Err(missing(path)),
    }
}

fn remove(document: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (parent, last) = split_pointer(path)?;
    match document.pointer_mut(&parent) {
        Some(Value::Object(fields)) => fields.remove(&last).ok_or_else(|| missing(path)),
        Some(Value::Array(items)) => last
            .parse::<usize>()
            .ok()
            .filter(|index| *index < items.len())
            .map(|index| items.remove(index))
            .ok_or_else(|| missing(path)),
        _ => Err(missing(path)),
    }
}

/// How a list field is patched strategically.
enum ListStrategy {
    /// Replaced whole (lists without a patch strategy).
    Replace,
    /// Items merged by the value of this key.
    MergeBy(&'static str),
    /// A list of scalars whose values are unioned (`finalizers`).
    Union,
}

/// The patch strategy of the list `field` found under `path` (the field
/// names leading to it), as the Kubernetes types declare them.
fn list_strategy(path: &[String], field: &str) -> ListStrategy {
    let in_container = path
        .iter()
        .any(|part| matches!(part.as_str(), "containers" | "initContainers"));
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => ListStrategy::MergeBy("name"),
        "ports" if in_container => ListStrategy::MergeBy("containerPort"),
        "ports" => ListStrategy::MergeBy("port"),
        "volumeMounts" => ListStrategy::MergeBy("mountPath"),
        "volumeDevices" => ListStrategy::MergeBy("devicePath"),
        "hostAliases" => ListStrategy::MergeBy("ip"),
        "topologySpreadConstraints" => ListStrategy::MergeBy("topologyKey"),
        "conditions" => ListStrategy::MergeBy("type"),
        "ownerReferences" => ListStrategy::MergeBy("uid"),
        "finalizers" => ListStrategy::Union,
        _ => ListStrategy::Replace,
    }
}

/// A strategic merge patch of `original`: maps merge as in a merge patch,
/// lists of the Kubernetes types merge by their keys, and the directives
/// `$patch` (`replace`, `delete`), `$setElementOrder/…`,
/// `$deleteFromPrimitiveList/…` and `$retainKeys` are honoured.
pub fn strategic_merge(original: &Value, patch: &Value, path: &[String]) -> Value {
    let Value::Object(patch_fields) = patch else {
        return patch.clone();
    };
    match patch_fields.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch_fields.clone();
            replaced.remove("$patch");
            return Value::Object(replaced);
        }
        Some("delete") => return Value::Null,
        _ => {}
    }
    let mut fields = original.as_object().cloned().unwrap_or_default();
    for (key, value) in patch_fields {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            fields.remove(key);
            continue;
        }
        let mut inner_path = path.to_vec();
        inner_path.push(key.clone());
        let current = fields.get(key).cloned().unwrap_or(Value::Null);
        let merged = match value {
            Value::Array(items) => merge_list(&current, items, path, key),
            Value::Object(_) => strategic_merge(&current, value, &inner_path),
            scalar => scalar.clone(),
        };
        if merged.is_null() {
            fields.remove(key);
        } else {
            fields.insert(key.clone(), merged);
        }
    }
    for (key, value) in patch_fields {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/")
            && let (Some(Value::Array(items)), Some(doomed)) =
                (fields.get_mut(field), value.as_array())
        {
            items.retain(|item| !doomed.contains(item));
        }
        if let Some(field) = key.strip_prefix("$setElementOrder/")
            && let (Some(Value::Array(items)), Some(order)) =
                (fields.get_mut(field), value.as_array())
        {
            reorder(items, order, path, field);
        }
    }
    if let Some(Value::Array(retained)) = patch_fields.get("$retainKeys") {
        fields.retain(|key, _| retained.iter().any(|kept| kept == key));
    }
    Value::Object(fields)
}

fn merge_list(current: &Value, items: &[Value], path: &[String], field: &str) -> Value {
    let existing = current.as_array().cloned().unwrap_or_default();
    let replace_all = items
        .iter()
        .any(|item| item.get("$patch").and_then(Value::as_str) == Some("replace"));
    if replace_all {
        let kept: Vec<Value> = items
            .iter()
            .filter(|item| item.get("$patch").is_none())
            .cloned()
            .collect();
        return Value::Array(kept);
    }
    match list_strategy(path, field) {
        ListStrategy::Replace => Value::Array(items.to_vec()),
        ListStrategy::Union => {
            let mut merged = existing;
            for item in items {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            Value::Array(merged)
        }
        ListStrategy::MergeBy(key) => {
            let mut merged = existing;
            let mut item_path = path.to_vec();
            item_path.push(field.to_string());
            for item in items {
                let position = merged
                    .iter()
                    .position(|old| old.get(key).is_some() && old.get(key) == item.get(key));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (position, delete) {
                    (Some(index), true) => {
                        merged.remove(index);
                    }
                    (None, true) => {}
                    (Some(index), false) => {
                        merged[index] = strategic_merge(&merged[index], item, &item_path);
                    }
                    (None, false) => merged.push(strategic_merge(&Value::Null, item, &item_path)),
                }
            }
            Value::Array(merged)
        }
    }
}

/// Orders `items` as `$setElementOrder` says; items it does not name keep
/// their relative order after the named ones.
fn reorder(items: &mut [Value], order: &[Value], path: &[String], field: &str) {
    let rank = |item: &Value| {
        let position = match list_strategy(path, field) {
            ListStrategy::MergeBy(key) => order
                .iter()
                .position(|entry| entry.get(key).is_some() && entry.get(key) == item.get(key)),
            _ => order.iter().position(|entry| entry == item),
        };
        position.unwrap_or(usize::MAX)
    };
    items.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({"metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a"]},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"name": "sidecar", "image": "proxy:1"},
        ]}}}})
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
            "containers": [{"name": "web", "image": "web:2",
                            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                            "ports": [{"containerPort": 9090}]}],
        }}}, "metadata": {"finalizers": ["b"], "labels": {"app": null}}});
        let patched = apply(&deployment(), PatchType::Strategic, &patch).expect("patched");
        let containers = &patched["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "web:2");
        assert_eq!(containers[1]["image"], "proxy:1", "the sidecar is kept");
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}])
        );
        assert_eq!(
            containers[0]["ports"],
            json!([{"containerPort": 80}, {"containerPort": 9090}])
        );
        assert_eq!(patched["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(patched["metadata"]["labels"], json!({}));
    }

    #[test]
    fn strategic_merge_directives() {
        let delete = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "sidecar", "$patch": "delete"}]}}}});
        let patched = apply(&deployment(), PatchType::Strategic, &delete).expect("patched");
        assert_eq!(
            patched["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let replace = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "only", "image": "x"}, {"$patch": "replace"}]}}}});
        let patched = apply(&deployment(), PatchType::Strategic, &replace).expect("patched");
        assert_eq!(
            patched["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );
        let retain = json!({"metadata": {"$retainKeys": ["name"], "name": "web"}});
        let patched = apply(&deployment(), PatchType::Strategic, &retain).expect("patched");
        assert_eq!(patched["metadata"], json!({"name": "web"}));
    }

    #[test]
    fn merge_patch_replaces_lists_and_removes_nulls() {
        let patch = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [
            {"name": "web", "image": "web:3"}]}}}, "metadata": {"labels": null}});
        let patched = apply(&deployment(), PatchType::Merge, &patch).expect("patched");
        assert_eq!(patched["spec"]["replicas"], 5);
        assert_eq!(
            patched["spec"]["template"]["spec"]["containers"],
            json!([{"name": "web", "image": "web:3"}])
        );
        assert!(patched["metadata"].get("labels").is_none());
    }

    #[test]
    fn json_patch_operations() {
        let patch = json!([
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "add", "path": "/metadata/finalizers/-", "value": "z"},
            {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copy"},
            {"op": "move", "from": "/metadata/labels/copy", "path": "/metadata/labels/moved"},
            {"op": "remove", "path": "/spec/template/spec/containers/1"},
        ]);
        let patched = apply(&deployment(), PatchType::Json, &patch).expect("patched");
        assert_eq!(patched["spec"]["replicas"], 4);
        assert_eq!(
            patched["metadata"]["labels"],
            json!({"app": "web", "tier": "front", "moved": "web"})
        );
        assert_eq!(patched["metadata"]["finalizers"], json!(["a", "z"]));
        let failed_test = json!([{"op": "test", "path": "/spec/replicas", "value": 3}]);
        assert_eq!(
            apply(&deployment(), PatchType::Json, &failed_test)
                .expect_err("test fails")
                .code,
            422
        );
        let missing = json!([{"op": "remove", "path": "/spec/nothing"}]);
        assert_eq!(
            apply(&deployment(), PatchType::Json, &missing)
                .expect_err("missing")
                .code,
            422
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type(Some("application/merge-patch+json")),
            Ok(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type(Some("application/apply-patch+yaml"))
                .expect_err("apply")
                .code,
            415
        );
    }
}
