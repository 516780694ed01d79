//! What the API server checks and fills in on writes: defaults for the
//! apps workloads, and the validation errors (422 Invalid with `causes`)
//! a client is most likely to meet.

use serde_json::{Value, json};

use super::resources::ResourceType;
use super::status::ApiError;

/// The workloads that select pods and carry a pod template.
fn is_workload(resource: &ResourceType) -> bool {
    resource.group == "apps"
        && matches!(
            resource.plural,
            "deployments" | "statefulsets" | "daemonsets" | "replicasets"
        )
}

fn default(object: &mut Value, pointer: &str, value: Value) {
    let (parent, field) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    if object
        .pointer(pointer)
        .is_some_and(|current| !current.is_null())
    {
        return;
    }
    let mut target = &mut *object;
    for part in parent.split('/').filter(|part| !part.is_empty()) {
        if !target[part].is_object() {
            target[part] = json!({});
        }
        target = &mut target[part];
    }
    target[field] = value;
}

/// Fills in the defaults the API server would, for the fields the
/// simulator's controllers read. Only fields outside the pod template are
/// defaulted (and, in it, only those the lab's seeded templates already
/// carry), so a metadata-only update never looks like a template change.
pub fn apply_defaults(resource: &ResourceType, object: &mut Value) {
    if !is_workload(resource) && resource.plural != "pods" {
        return;
    }
    let template = if resource.plural == "pods" {
        ""
    } else {
        "/spec/template"
    };
    for (field, value) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
    ] {
        default(object, &format!("{template}/spec/{field}"), value);
    }
    match resource.plural {
        "deployments" => {
            default(object, "/spec/replicas", json!(1));
            default(object, "/spec/revisionHistoryLimit", json!(10));
            default(object, "/spec/progressDeadlineSeconds", json!(600));
            default(
                object,
                "/spec/strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
            );
        }
        "statefulsets" => {
            default(object, "/spec/replicas", json!(1));
            default(object, "/spec/revisionHistoryLimit", json!(10));
            default(object, "/spec/podManagementPolicy", json!("OrderedReady"));
            default(
                object,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
        }
        "daemonsets" => {
            default(object, "/spec/revisionHistoryLimit", json!(10));
            default(
                object,
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
            );
        }
        "replicasets" => default(object, "/spec/replicas", json!(1)),
        _ => {}
    }
}

/// A 422 Invalid naming the field, as the API server words it.
pub fn invalid(
    resource: &ResourceType,
    name: &str,
    field: &str,
    reason: &str,
    detail: &str,
) -> ApiError {
    let qualified_kind = if resource.group.is_empty() {
        resource.kind.to_string()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    };
    let mut details = json!({
        "name": name, "kind": resource.kind,
        "causes": [{"reason": reason, "message": detail, "field": field}],
    });
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    ApiError {
        details: Some(details),
        ..ApiError::invalid(format!(
            "{qualified_kind} \"{name}\" is invalid: {field}: {detail}"
        ))
    }
}

/// Whether a name is a lowercase RFC 1123 subdomain.
fn is_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Checks a created or updated object.
pub fn validate(resource: &ResourceType, object: &Value) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        return Err(invalid(
            resource,
            name,
            "metadata.name",
            "FieldValueRequired",
            "Required value: name or generateName is required",
        ));
    }
    if !is_subdomain(name) {
        return Err(invalid(
            resource,
            name,
            "metadata.name",
            "FieldValueInvalid",
            &format!(
                "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower \
                 case alphanumeric characters, '-' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ),
        ));
    }
    if resource.plural == "pods" {
        return validate_pod_spec(resource, name, &object["spec"], "spec");
    }
    if !is_workload(resource) {
        return Ok(());
    }
    let spec = &object["spec"];
    if let Some(replicas) = spec.get("replicas")
        && replicas.as_i64().is_none_or(|count| count < 0)
    {
        return Err(invalid(
            resource,
            name,
            "spec.replicas",
            "FieldValueInvalid",
            &format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let match_labels = spec["selector"]["matchLabels"].as_object();
    if match_labels.is_none_or(serde_json::Map::is_empty)
        && spec["selector"]["matchExpressions"]
            .as_array()
            .is_none_or(Vec::is_empty)
    {
        return Err(invalid(
            resource,
            name,
            "spec.selector",
            "FieldValueRequired",
            "Required value",
        ));
    }
    let template_labels = &spec["template"]["metadata"]["labels"];
    let selected = match_labels
        .into_iter()
        .flatten()
        .all(|(key, value)| &template_labels[key] == value);
    if !selected {
        return Err(invalid(
            resource,
            name,
            "spec.template.metadata.labels",
            "FieldValueInvalid",
            &format!(
                "Invalid value: {template_labels}: `selector` does not match template `labels`"
            ),
        ));
    }
    validate_pod_spec(
        resource,
        name,
        &spec["template"]["spec"],
        "spec.template.spec",
    )
}

fn validate_pod_spec(
    resource: &ResourceType,
    name: &str,
    spec: &Value,
    field: &str,
) -> Result<(), ApiError> {
    let containers = spec["containers"]
        .as_array()
        .filter(|list| !list.is_empty());
    let Some(containers) = containers else {
        return Err(invalid(
            resource,
            name,
            &format!("{field}.containers"),
            "FieldValueRequired",
            "Required value",
        ));
    };
    for (index, container) in containers.iter().enumerate() {
        for required in ["name", "image"] {
            if container[required].as_str().is_none_or(str::is_empty) {
                return Err(invalid(
                    resource,
                    name,
                    &format!("{field}.containers[{index}].{required}"),
                    "FieldValueRequired",
                    "Required value",
                ));
            }
        }
    }
    Ok(())
}

/// Checks what may not change on an update: a workload's selector.
pub fn validate_update(
    resource: &ResourceType,
    current: &Value,
    next: &Value,
) -> Result<(), ApiError> {
    if is_workload(resource)
        && resource.plural != "replicasets"
        && current["spec"]["selector"] != next["spec"]["selector"]
    {
        let name = next["metadata"]["name"].as_str().unwrap_or_default();
        return Err(invalid(
            resource,
            name,
            "spec.selector",
            "FieldValueInvalid",
            &format!(
                "Invalid value: {}: field is immutable",
                next["spec"]["selector"]
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;

    #[test]
    fn a_deployment_must_select_its_template() {
        let deployments = find("apps", "v1", "deployments").expect("deployments");
        let mut deployment = json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "other"}},
                                  "spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
        });
        apply_defaults(deployments, &mut deployment);
        assert_eq!(deployment["spec"]["replicas"], 1);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["restartPolicy"],
            "Always"
        );
        let error = validate(deployments, &deployment).expect_err("mismatch");
        assert_eq!((error.code, error.reason), (422, "Invalid"));
        assert!(
            error
                .message
                .starts_with("Deployment.apps \"web\" is invalid: spec.template.metadata.labels")
        );
        deployment["spec"]["template"]["metadata"]["labels"]["app"] = json!("web");
        assert_eq!(validate(deployments, &deployment), Ok(()));
        deployment["metadata"]["name"] = json!("Web_1");
        assert_eq!(
            validate(deployments, &deployment).map_err(|e| e.code),
            Err(422)
        );
    }
}
