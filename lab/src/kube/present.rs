//! How stored objects are shown to clients: in the shape of the group they
//! were asked through, in lists, and as the media type the client accepts
//! (plain JSON, a Table, or PartialObjectMetadata).

use serde_json::{Map, Value, json};

use super::resources::ResourceType;
use super::status::ApiError;

/// The representation a client asked for in its `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// The objects themselves.
    Json,
    /// A meta.k8s.io/v1 Table, as kubectl's printer asks for.
    Table,
    /// Metadata only (PartialObjectMetadata / PartialObjectMetadataList).
    PartialMetadata,
}

impl Representation {
    /// The first representation of an `Accept` header the simulator can
    /// produce; 406 when it can produce none (protobuf only, say).
    pub fn negotiate(accept: Option<&str>) -> Result<Self, ApiError> {
        let Some(accept) = accept.filter(|text| !text.trim().is_empty()) else {
            return Ok(Self::Json);
        };
        for media_type in accept.split(',') {
            let mut parts = media_type.split(';').map(str::trim);
            let essence = parts.next().unwrap_or_default();
            if !matches!(essence, "application/json" | "application/*" | "*/*") {
                continue;
            }
            let params: Map<String, Value> = parts
                .filter_map(|param| param.split_once('='))
                .map(|(key, value)| (key.trim().to_string(), json!(value.trim())))
                .collect();
            let param = |key: &str| params.get(key).and_then(Value::as_str);
            match (param("as"), param("g"), param("v")) {
                (None, _, _) => return Ok(Self::Json),
                (Some("Table"), Some("meta.k8s.io"), Some("v1")) => return Ok(Self::Table),
                (
                    Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                    Some("meta.k8s.io"),
                    Some("v1"),
                ) => {
                    return Ok(Self::PartialMetadata);
                }
                _ => {}
            }
        }
        Err(ApiError {
            code: 406,
            reason: "NotAcceptable",
            message: format!(
                "only the following media types are accepted: application/json (asked for {accept})"
            ),
            details: None,
        })
    }
}

/// An object as the API of `resource` shows it: events asked for through
/// events.k8s.io are converted from the core shape they are stored in.
pub fn object_for(resource: &ResourceType, object: &Value) -> Value {
    if resource.group == "events.k8s.io" {
        events_v1(object)
    } else {
        object.clone()
    }
}

/// An object as a list item: the API server leaves out each item's kind
/// and apiVersion, which the list carries.
pub fn list_item(resource: &ResourceType, object: &Value) -> Value {
    let mut item = object_for(resource, object);
    if let Some(fields) = item.as_object_mut() {
        fields.remove("kind");
        fields.remove("apiVersion");
    }
    item
}

/// The list kind of a resource (`PodList`).
pub fn list_kind(resource: &ResourceType) -> String {
    format!("{}List", resource.kind)
}

/// A core/v1 Event in the events.k8s.io/v1 shape.
fn events_v1(core: &Value) -> Value {
    let mut event = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": core["metadata"],
    });
    let source = &core["source"];
    let renamed = [
        ("eventTime", &core["eventTime"]),
        ("series", &core["series"]),
        (
            "reportingController",
            if core["reportingComponent"].is_string() {
                &core["reportingComponent"]
            } else {
                &source["component"]
            },
        ),
        (
            "reportingInstance",
            if core["reportingInstance"].is_string() {
                &core["reportingInstance"]
            } else {
                &source["host"]
            },
        ),
        ("action", &core["action"]),
        ("reason", &core["reason"]),
        ("regarding", &core["involvedObject"]),
        ("related", &core["related"]),
        ("note", &core["message"]),
        ("type", &core["type"]),
        ("deprecatedSource", source),
        ("deprecatedFirstTimestamp", &core["firstTimestamp"]),
        ("deprecatedLastTimestamp", &core["lastTimestamp"]),
        ("deprecatedCount", &core["count"]),
    ];
    for (field, value) in renamed {
        if !value.is_null() {
            event[field] = value.clone();
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;

    #[test]
    fn negotiates_what_kubectl_and_kube_rs_ask_for() {
        let kubectl_get = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            Representation::negotiate(Some(kubectl_get)),
            Ok(Representation::Table)
        );
        assert_eq!(Representation::negotiate(None), Ok(Representation::Json));
        assert_eq!(
            Representation::negotiate(Some("*/*")),
            Ok(Representation::Json)
        );
        let metadata = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(
            Representation::negotiate(Some(metadata)),
            Ok(Representation::PartialMetadata)
        );
        let protobuf = Representation::negotiate(Some("application/vnd.kubernetes.protobuf"));
        assert_eq!(protobuf.map_err(|e| e.code), Err(406));
    }

    #[test]
    fn events_are_shown_in_the_shape_of_the_api_asked() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "web"}, "message": "Pulled",
            "source": {"component": "kubelet"},
        });
        let newer = find("events.k8s.io", "v1", "events").expect("events");
        let event = object_for(newer, &core);
        assert_eq!(event["regarding"]["name"], "web");
        assert_eq!(event["note"], "Pulled");
        assert_eq!(event["reportingController"], "kubelet");
        assert!(event.get("message").is_none());
        let item = list_item(find("", "v1", "events").expect("core"), &core);
        assert!(item.get("kind").is_none() && item["message"] == "Pulled");
    }
}
