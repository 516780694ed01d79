//! The seed site's events: what the scheduler and the kubelet said about
//! its pods and nodes.

use anyhow::Result;
use serde_json::{Value, json};

use super::{Seeder, minutes_ago, short_hash};
use crate::kube::resources::PODS;

/// One event about one object, as the API keeps it (`core/v1` Event).
pub(super) struct EventSeed<'e> {
    /// The object it is about, as stored.
    pub object: &'e Value,
    /// `Scheduled`, `BackOff`, `FailedScheduling`…
    pub reason: &'e str,
    /// What it says.
    pub message: String,
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// Who reported it: `kubelet`, `default-scheduler`.
    pub component: &'e str,
    /// The node the reporting kubelet runs on.
    pub host: Option<&'e str>,
    /// How many times it happened.
    pub count: i64,
    /// Minutes since it happened first and last.
    pub minutes_ago: (i64, i64),
}

impl Seeder<'_> {
    /// Records an event; its name is the object's and a hash of its
    /// reason, so one object has one event per reason.
    pub(super) fn event(&mut self, event: EventSeed<'_>) -> Result<()> {
        let object = event.object;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        // Events about cluster-scoped objects (nodes) live in `default`.
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        let mut involved = json!({"apiVersion": object["apiVersion"], "kind": object["kind"], "name": name,
                                  "uid": object["metadata"]["uid"],
                                  "resourceVersion": object["metadata"]["resourceVersion"]});
        if object["metadata"]["namespace"].is_string() {
            involved["namespace"] = json!(namespace);
        }
        let mut source = json!({"component": event.component});
        if let Some(host) = event.host {
            source["host"] = json!(host);
        }
        let (first, last) = event.minutes_ago;
        self.create("v1", "Event", json!({
            "metadata": {"name": format!("{name}.{}", short_hash(event.reason, 16)), "namespace": namespace,
                         "creationTimestamp": minutes_ago(first)},
            "involvedObject": involved,
            "reason": event.reason, "message": event.message,
            "type": if event.warning { "Warning" } else { "Normal" }, "count": event.count,
            "source": source,
            "firstTimestamp": minutes_ago(first), "lastTimestamp": minutes_ago(last),
            "reportingComponent": event.component, "reportingInstance": event.host.unwrap_or_default(),
        }))?;
        Ok(())
    }

    /// The start of the newest pods: `notification-worker`'s.
    pub(super) fn events(&mut self) -> Result<()> {
        let pods: Vec<Value> = self
            .store
            .list(&PODS, Some("acme-prod"), None)
            .filter(|(_, pod)| pod["metadata"]["labels"]["app"] == "notification-worker")
            .map(|(_, pod)| pod.clone())
            .collect();
        for object in &pods {
            let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
            let pod = text(&object["metadata"]["name"]);
            let image = text(&object["spec"]["containers"][0]["image"]);
            let node = text(&object["spec"]["nodeName"]);
            for (minutes, reason, message, component) in [
                (
                    62,
                    "Scheduled",
                    format!("Successfully assigned acme-prod/{pod} to {node}"),
                    "default-scheduler",
                ),
                (
                    61,
                    "Pulled",
                    format!("Container image \"{image}\" already present on machine"),
                    "kubelet",
                ),
                (
                    60,
                    "Started",
                    "Started container notification-worker".to_string(),
                    "kubelet",
                ),
            ] {
                self.event(EventSeed {
                    object,
                    reason,
                    message,
                    warning: false,
                    component,
                    host: None,
                    count: 1,
                    minutes_ago: (minutes, minutes),
                })?;
            }
        }
        Ok(())
    }
}
