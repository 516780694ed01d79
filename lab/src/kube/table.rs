//! Server-side printing: the meta.k8s.io/v1 `Table` kubectl asks for when
//! it prints `get` output, with the columns the real API server uses for
//! each kind (priority-1 columns are the ones `-o wide` adds).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::printers::{
    access_modes, age, array, controller, endpoints, entries, external_ip, joined, key_values,
    node_address, node_roles, node_status, pod_status, ready_containers, restarts, selector,
    service_ports, text_or_none,
};
use super::resources::ResourceType;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object.
    None,
    /// The object's metadata as a PartialObjectMetadata (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter.
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// (name, type, priority) of each column.
type Column = (&'static str, &'static str, u8);

fn columns(resource: &ResourceType) -> &'static [Column] {
    match resource.storage {
        "pods" => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        "deployments" => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "replicasets" => &[
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "statefulsets" => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        "daemonsets" => &[
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ],
        "services" => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        "nodes" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        "namespaces" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Age", "string", 0),
        ],
        "configmaps" => &[
            ("Name", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        "secrets" => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        "endpoints" => &[
            ("Name", "string", 0),
            ("Endpoints", "string", 0),
            ("Age", "string", 0),
        ],
        "persistentvolumeclaims" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Age", "string", 0),
            ("VolumeMode", "string", 1),
        ],
        "events" => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        "controllerrevisions" => &[
            ("Name", "string", 0),
            ("Controller", "string", 0),
            ("Revision", "integer", 0),
            ("Age", "string", 0),
        ],
        _ => &[("Name", "string", 0), ("Age", "string", 0)],
    }
}

/// The `columnDefinitions` of a resource's table.
pub fn column_definitions(resource: &ResourceType) -> Value {
    columns(resource)
        .iter()
        .map(|(name, kind, priority)| {
            let mut column = json!({
                "name": name,
                "type": kind,
                "format": "",
                "description": format!("{name} of the {}", resource.singular),
                "priority": priority,
            });
            if *name == "Name" {
                column["format"] = json!("name");
            }
            column
        })
        .collect()
}

/// A table of objects. `metadata` is the list metadata (resourceVersion,
/// continue); `with_columns` is false for all but the first table of a
/// watch, as the API server leaves them out to save bandwidth.
pub fn table(
    resource: &ResourceType,
    objects: &[&Value],
    metadata: Value,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let now = Utc::now();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| row(resource, object, include, now))
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": if with_columns { column_definitions(resource) } else { json!([]) },
        "rows": rows,
    })
}

/// An object reduced to its metadata, as `PartialObjectMetadata`.
pub fn partial_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object["metadata"],
    })
}

fn row(
    resource: &ResourceType,
    object: &Value,
    include: IncludeObject,
    now: DateTime<Utc>,
) -> Value {
    let mut row = json!({"cells": cells(resource, object, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(object),
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

fn cells(resource: &ResourceType, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(object["metadata"]["name"]);
    let age = json!(age(&object["metadata"]["creationTimestamp"], now));
    let spec = &object["spec"];
    let status = &object["status"];
    let int = |value: &Value| json!(value.as_i64().unwrap_or(0));
    let pod_template = &spec["template"]["spec"];
    match resource.storage {
        "pods" => {
            let (ready, total) = (ready_containers(status), array(&spec["containers"]).len());
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(object)),
                json!(restarts(status, now)),
                age,
                json!(text_or_none(&status["podIP"])),
                json!(text_or_none(&spec["nodeName"])),
                json!(text_or_none(&status["nominatedNodeName"])),
                json!("<none>"),
            ]
        }
        "deployments" => vec![
            name,
            json!(format!(
                "{}/{}",
                int(&status["readyReplicas"]),
                int(&spec["replicas"])
            )),
            int(&status["updatedReplicas"]),
            int(&status["availableReplicas"]),
            age,
            json!(joined(&pod_template["containers"], "name")),
            json!(joined(&pod_template["containers"], "image")),
            json!(selector(&spec["selector"])),
        ],
        "replicasets" => vec![
            name,
            int(&spec["replicas"]),
            int(&status["replicas"]),
            int(&status["readyReplicas"]),
            age,
            json!(joined(&pod_template["containers"], "name")),
            json!(joined(&pod_template["containers"], "image")),
            json!(selector(&spec["selector"])),
        ],
        "statefulsets" => vec![
            name,
            json!(format!(
                "{}/{}",
                int(&status["readyReplicas"]),
                int(&spec["replicas"])
            )),
            age,
            json!(joined(&pod_template["containers"], "name")),
            json!(joined(&pod_template["containers"], "image")),
        ],
        "daemonsets" => vec![
            name,
            int(&status["desiredNumberScheduled"]),
            int(&status["currentNumberScheduled"]),
            int(&status["numberReady"]),
            int(&status["updatedNumberScheduled"]),
            int(&status["numberAvailable"]),
            json!(key_values(&pod_template["nodeSelector"])),
            age,
            json!(joined(&pod_template["containers"], "name")),
            json!(joined(&pod_template["containers"], "image")),
            json!(selector(&spec["selector"])),
        ],
        "services" => vec![
            name,
            json!(spec["type"].as_str().unwrap_or("ClusterIP")),
            json!(text_or_none(&spec["clusterIP"])),
            json!(external_ip(object)),
            json!(service_ports(&spec["ports"])),
            age,
            json!(key_values(&spec["selector"])),
        ],
        "nodes" => {
            let info = &status["nodeInfo"];
            vec![
                name,
                json!(node_status(object)),
                json!(node_roles(object)),
                age,
                json!(info["kubeletVersion"]),
                json!(node_address(status, "InternalIP")),
                json!(node_address(status, "ExternalIP")),
                json!(info["osImage"]),
                json!(info["kernelVersion"]),
                json!(info["containerRuntimeVersion"]),
            ]
        }
        "namespaces" => vec![name, json!(status["phase"]), age],
        "configmaps" => {
            let data = entries(&object["data"]) + entries(&object["binaryData"]);
            vec![name, json!(data), age]
        }
        "secrets" => vec![
            name,
            json!(object["type"].as_str().unwrap_or("Opaque")),
            json!(entries(&object["data"])),
            age,
        ],
        "endpoints" => vec![name, json!(endpoints(object)), age],
        "persistentvolumeclaims" => vec![
            name,
            json!(status["phase"]),
            json!(spec["volumeName"]),
            json!(status["capacity"]["storage"].as_str().unwrap_or_default()),
            json!(access_modes(&spec["accessModes"])),
            json!(spec["storageClassName"].as_str().unwrap_or_default()),
            json!("<unset>"),
            age,
            json!(spec["volumeMode"].as_str().unwrap_or("Filesystem")),
        ],
        "events" => event_cells(object, now),
        "controllerrevisions" => vec![
            name,
            json!(controller(object)),
            int(&object["revision"]),
            age,
        ],
        _ => vec![name, age],
    }
}

fn event_cells(event: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let involved = &event["involvedObject"];
    let last_seen = [
        &event["lastTimestamp"],
        &event["eventTime"],
        &event["firstTimestamp"],
    ]
    .into_iter()
    .find(|stamp| stamp.is_string())
    .map_or_else(|| "<unknown>".to_string(), |stamp| age(stamp, now));
    let object = format!(
        "{}/{}",
        involved["kind"].as_str().unwrap_or_default().to_lowercase(),
        involved["name"].as_str().unwrap_or_default()
    );
    let source = &event["source"];
    let source = [source["component"].as_str(), source["host"].as_str()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        json!(last_seen),
        json!(event["type"]),
        json!(event["reason"]),
        json!(object),
        json!(involved["fieldPath"].as_str().unwrap_or_default()),
        json!(source),
        json!(event["message"].as_str().unwrap_or_default().trim()),
        json!(age(&event["firstTimestamp"], now)),
        json!(event["count"].as_i64().unwrap_or(1).to_string()),
        json!(event["metadata"]["name"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;

    #[test]
    fn a_crashing_pod_shows_its_container_reason_and_restarts() {
        let pods = find("", "v1", "pods").expect("pods");
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "web"}, {"name": "proxy"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
                {"name": "web", "ready": false, "restartCount": 4,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
                {"name": "proxy", "ready": true, "restartCount": 0, "state": {"running": {}}},
            ]},
        });
        let cells = cells(pods, &pod, Utc::now());
        assert_eq!(
            cells[..4],
            [
                json!("web-1"),
                json!("1/2"),
                json!("CrashLoopBackOff"),
                json!("4")
            ]
        );
        assert_eq!(cells[5..7], [json!("10.0.0.5"), json!("n1")]);
        assert_eq!(
            column_definitions(pods).as_array().map(Vec::len),
            Some(cells.len())
        );
    }
}
