//! The write verbs: POST (create), PUT (replace), PATCH (the three patch
//! types) and DELETE (with garbage collection of dependents), on objects
//! and on their `status` and `scale` subresources, with the Status errors
//! of the API conventions (404, 409 AlreadyExists / Conflict, 422 Invalid).
//!
//! `dryRun=All` is honoured: the answer is computed and nothing is stored.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::delete::{delete, delete_collection};
use super::patch::{self, PatchType};
use super::present::object_for;
use super::request::QueryParams;
use super::resources::{ResourceType, find};
use super::server::{ResponseBody, ServerState, Target, json_response};
use super::status::ApiError;
use super::store::{ObjectStore, new_uid};
use super::validate::{apply_defaults, validate, validate_update};

/// The largest request body accepted, as the API server's 3 MiB limit.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// What a write request names.
#[derive(Debug, Clone, Copy)]
pub struct WriteTarget<'a> {
    /// The resource (never a subresource).
    pub resource: &'static ResourceType,
    /// The namespace in the path, if any.
    pub namespace: Option<&'a str>,
    /// The object's name; `None` for a collection.
    pub name: Option<&'a str>,
    /// `status` or `scale`, if the path names one.
    pub subresource: Option<&'a str>,
}

/// A write request: what it names, its method, `Content-Type`, query and
/// body.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    /// What the path names.
    pub target: WriteTarget<'a>,
    /// POST, PUT, PATCH or DELETE.
    pub method: &'a Method,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The decoded query.
    pub params: &'a QueryParams,
    /// The body.
    pub body: &'a [u8],
}

/// Reads a request's body whole, up to [`MAX_BODY`] (413 beyond).
pub async fn read_body(request: Request<Incoming>) -> Result<Request<Bytes>, ApiError> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| ApiError {
            code: 413,
            reason: "RequestEntityTooLarge",
            message: "the request body is too large or could not be read".into(),
            details: None,
        })?
        .to_bytes();
    Ok(Request::from_parts(parts, body))
}

/// Serves a non-GET request on a resource path.
pub(super) fn route(
    state: &ServerState,
    request: &Request<Bytes>,
    target: &Target<'_>,
    params: &QueryParams,
) -> Result<Response<ResponseBody>, ApiError> {
    let target = match *target {
        Target::Collection {
            resource,
            namespace,
        } => WriteTarget {
            resource,
            namespace,
            name: None,
            subresource: None,
        },
        Target::Object {
            resource,
            namespace,
            name,
            subresource,
        } => WriteTarget {
            resource,
            namespace: Some(namespace),
            name: Some(name),
            subresource,
        },
    };
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    handle(
        state,
        WriteRequest {
            target,
            method: request.method(),
            content_type,
            params,
            body: request.body(),
        },
    )
}

/// Serves a write request.
pub fn handle(
    state: &ServerState,
    request: WriteRequest<'_>,
) -> Result<Response<ResponseBody>, ApiError> {
    let target = request.target;
    let resource = target.resource;
    let dry_run = request
        .params
        .get("dryRun")
        .is_some_and(|value| !value.is_empty());
    let namespace = target.namespace.unwrap_or_default();
    match (request.method, target.name, target.subresource) {
        (&Method::POST, None, None) => {
            let object = parse_body(request.body)?;
            let created = state
                .store
                .write(|store| create(store, resource, namespace, object, dry_run))?;
            let mut response = json_response(&object_for(resource, &created));
            *response.status_mut() = StatusCode::CREATED;
            Ok(response)
        }
        (&Method::DELETE, None, None) => {
            let deleted = state.store.write(|store| {
                delete_collection(store, resource, namespace, request.params, dry_run)
            })?;
            Ok(json_response(&deleted))
        }
        (&Method::PUT | &Method::PATCH, Some(name), subresource) => {
            check_subresource(resource, subresource)?;
            let patched = state
                .store
                .write(|store| update(store, &request, name, dry_run))?;
            let body = if subresource == Some("scale") {
                scale_of(resource, &patched)
            } else {
                object_for(resource, &patched)
            };
            Ok(json_response(&body))
        }
        (&Method::DELETE, Some(name), None) => {
            let options = if request.body.is_empty() {
                json!({})
            } else {
                parse_body(request.body)?
            };
            let deleted = state
                .store
                .write(|store| delete(store, resource, namespace, name, &options, dry_run))?;
            Ok(json_response(&deleted))
        }
        (method, _, _) => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

/// `GET …/scale`: the autoscaling/v1 Scale of a workload.
pub fn get_scale(
    state: &ServerState,
    resource: &'static ResourceType,
    namespace: &str,
    name: &str,
) -> Result<Response<ResponseBody>, ApiError> {
    check_subresource(resource, Some("scale"))?;
    let store = state.store.read();
    let object = store
        .get(resource, namespace, name)
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    Ok(json_response(&scale_of(resource, object)))
}

fn check_subresource(resource: &ResourceType, subresource: Option<&str>) -> Result<(), ApiError> {
    match subresource {
        None => Ok(()),
        Some(sub @ ("status" | "scale")) => find(
            resource.group,
            resource.version,
            &format!("{}/{sub}", resource.plural),
        )
        .map(|_| ())
        .ok_or_else(ApiError::path_not_found),
        Some(_) => Err(ApiError::path_not_found()),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!("the request body is not valid JSON: {error}"))
    })
}

fn has_status_subresource(resource: &ResourceType) -> bool {
    find(
        resource.group,
        resource.version,
        &format!("{}/status", resource.plural),
    )
    .is_some()
}

fn create(
    store: &mut ObjectStore,
    resource: &'static ResourceType,
    namespace: &str,
    mut object: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    check_kind(resource, &object)?;
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    let metadata = &mut object["metadata"];
    if resource.namespaced {
        match metadata["namespace"].as_str() {
            Some(given) if !given.is_empty() && given != namespace => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => metadata["namespace"] = json!(namespace),
        }
    }
    let name = metadata["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty()
        && let Some(prefix) = metadata["generateName"].as_str()
    {
        let suffix: String = new_uid()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(5)
            .collect();
        metadata["name"] = json!(format!("{prefix}{suffix}"));
    }
    for server_owned in [
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        if let Some(fields) = metadata.as_object_mut() {
            fields.remove(server_owned);
        }
    }
    apply_defaults(resource, &mut object);
    validate(resource, &object)?;
    if dry_run {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        if store.get(resource, namespace, name).is_some() {
            return Err(ApiError::already_exists(resource, name));
        }
        object["metadata"]["uid"] = json!(new_uid());
        return Ok(object);
    }
    store.create(resource, object)
}

fn check_kind(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let kind = object["kind"].as_str().unwrap_or(resource.kind);
    let api_version = object["apiVersion"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| resource.api_version());
    if api_version != resource.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            resource.api_version()
        )));
    }
    if kind != resource.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            resource.kind
        )));
    }
    Ok(())
}

/// PUT or PATCH of an object, its status or its scale.
fn update(
    store: &mut ObjectStore,
    request: &WriteRequest<'_>,
    name: &str,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let target = request.target;
    let resource = target.resource;
    let namespace = target.namespace.unwrap_or_default();
    let current = store
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    let body = parse_body(request.body)?;
    let scale = target.subresource == Some("scale");
    // What the client sees and changes: the object, or its Scale.
    let seen = if scale {
        scale_of(resource, &current)
    } else {
        current.clone()
    };
    let changed = if request.method == Method::PATCH {
        let patch_type = PatchType::from_content_type(request.content_type)?;
        patch::apply(&seen, patch_type, &body)?
    } else {
        check_kind_of_update(resource, scale, &body)?;
        body
    };
    let given_name = changed["metadata"]["name"].as_str().unwrap_or(name);
    if given_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given_name}) does not match the name on the URL ({name})"
        )));
    }
    let given_version = changed["metadata"]["resourceVersion"]
        .as_str()
        .filter(|version| !version.is_empty());
    if given_version
        .is_some_and(|given| Some(given) != current["metadata"]["resourceVersion"].as_str())
    {
        return Err(ApiError::conflict(resource, name));
    }
    let mut next = current.clone();
    match target.subresource {
        Some("scale") => {
            let replicas = changed["spec"]["replicas"].as_i64().filter(|replicas| *replicas >= 0).ok_or_else(|| {
                ApiError::invalid(format!(
                    "Scale.autoscaling \"{name}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                    changed["spec"]["replicas"]
                ))
            })?;
            next["spec"]["replicas"] = json!(replicas);
        }
        Some(_) => next["status"] = changed["status"].clone(),
        None => {
            next = changed;
            if has_status_subresource(resource) {
                next["status"] = current["status"].clone();
            }
            for owned in ["uid", "creationTimestamp", "generation", "namespace"] {
                next["metadata"][owned] = current["metadata"][owned].clone();
            }
            if resource.namespaced {
                next["metadata"]["namespace"] = json!(namespace);
            }
            next["metadata"]["name"] = json!(name);
            apply_defaults(resource, &mut next);
            validate(resource, &next)?;
            validate_update(resource, &current, &next)?;
        }
    }
    next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    if dry_run {
        return Ok(next);
    }
    if next == current {
        // Nothing changed: the API server writes nothing and keeps the version.
        return Ok(current);
    }
    store.replace(resource, next)
}

fn check_kind_of_update(
    resource: &ResourceType,
    scale: bool,
    body: &Value,
) -> Result<(), ApiError> {
    if scale {
        match body["kind"].as_str() {
            Some("Scale") | None => Ok(()),
            Some(other) => Err(ApiError::bad_request(format!(
                "expected a Scale, got a {other}"
            ))),
        }
    } else {
        check_kind(resource, body)
    }
}

/// An object's autoscaling/v1 Scale.
pub fn scale_of(resource: &ResourceType, object: &Value) -> Value {
    let metadata = &object["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata["name"], "namespace": metadata["namespace"], "uid": metadata["uid"],
            "resourceVersion": metadata["resourceVersion"], "creationTimestamp": metadata["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(if resource.plural == "deployments" { 1 } else { 0 })},
        "status": {
            "replicas": object["status"]["replicas"].as_i64().unwrap_or_default(),
            "selector": selector_string(&object["spec"]["selector"]),
        },
    })
}

/// A label selector object as the string form (`app=web,tier in (a,b)`),
/// empty for an empty selector.
pub fn selector_string(selector: &Value) -> String {
    match super::printers::selector(selector) {
        none if none == "<none>" => String::new(),
        text => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::seed;

    fn site() -> ObjectStore {
        let mut store = ObjectStore::new(10_000);
        seed::seed_namespaces(&mut store).expect("namespaces");
        seed::seed_site(&mut store).expect("site");
        store
    }

    fn deployments() -> &'static ResourceType {
        find("apps", "v1", "deployments").expect("deployments")
    }

    fn write(
        store: &mut ObjectStore,
        method: &Method,
        subresource: Option<&str>,
        content_type: Option<&str>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let body = body.to_string();
        let params = QueryParams::default();
        let request = WriteRequest {
            target: WriteTarget {
                resource: deployments(),
                namespace: Some("acme-prod"),
                name: Some("api-gateway"),
                subresource,
            },
            method,
            content_type,
            params: &params,
            body: body.as_bytes(),
        };
        update(store, &request, "api-gateway", false)
    }

    #[test]
    fn a_stale_put_conflicts_and_status_writes_keep_the_generation() {
        let mut store = site();
        let current = store
            .get(deployments(), "acme-prod", "api-gateway")
            .cloned()
            .expect("deployment");
        let mut changed = current.clone();
        changed["spec"]["replicas"] = json!(5);
        let replaced = write(&mut store, &Method::PUT, None, None, &changed).expect("put");
        assert_eq!(replaced["metadata"]["generation"], 2);
        let stale = write(&mut store, &Method::PUT, None, None, &changed).expect_err("stale");
        assert_eq!((stale.code, stale.reason), (409, "Conflict"));

        let status = json!({"status": {"observedGeneration": 2, "replicas": 5}});
        let merge = Some("application/merge-patch+json");
        let patched = write(&mut store, &Method::PATCH, Some("status"), merge, &status)
            .expect("status patch");
        assert_eq!(patched["metadata"]["generation"], 2);
        assert_eq!(patched["status"]["replicas"], 5);
        // Status sent to the main resource is ignored.
        let ignored = json!({"status": {"replicas": 99}});
        let patched = write(&mut store, &Method::PATCH, None, merge, &ignored).expect("patch");
        assert_eq!(patched["status"]["replicas"], 5);

        let scale = json!({"spec": {"replicas": 7}});
        let scaled =
            write(&mut store, &Method::PATCH, Some("scale"), merge, &scale).expect("scale");
        assert_eq!(scaled["spec"]["replicas"], 7);
        let view = scale_of(deployments(), &scaled);
        assert_eq!(view["kind"], "Scale");
        assert_eq!(view["status"]["selector"], "app=api-gateway");
    }

    #[test]
    fn creating_twice_is_already_exists_and_deleting_collects_garbage() {
        let mut store = site();
        let config_maps = find("", "v1", "configmaps").expect("configmaps");
        let config_map =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "flags"}});
        create(
            &mut store,
            config_maps,
            "acme-prod",
            config_map.clone(),
            false,
        )
        .expect("create");
        let again =
            create(&mut store, config_maps, "acme-prod", config_map, false).expect_err("again");
        assert_eq!((again.code, again.reason), (409, "AlreadyExists"));

        let replica_sets = find("apps", "v1", "replicasets").expect("replicasets");
        let pods = find("", "v1", "pods").expect("pods");
        let count = |store: &ObjectStore| {
            store.count(replica_sets, Some("acme-prod")) + store.count(pods, Some("acme-prod"))
        };
        let before = count(&store);
        let status = delete(
            &mut store,
            deployments(),
            "acme-prod",
            "api-gateway",
            &json!({}),
            false,
        )
        .expect("delete");
        assert_eq!(status["status"], "Success");
        assert_eq!(
            count(&store),
            before - 3,
            "its ReplicaSet and two pods went with it"
        );
        let missing = delete(
            &mut store,
            deployments(),
            "acme-prod",
            "api-gateway",
            &json!({}),
            false,
        )
        .expect_err("gone");
        assert_eq!(missing.code, 404);
    }
}
