//! Which container a log request means, and the errors the API server
//! and the kubelet give when there is none to read.

use serde_json::Value;

use super::text;
use crate::kube::status::ApiError;

fn container_names(pod: &Value, list: &str) -> Vec<String> {
    pod["spec"][list]
        .as_array()
        .map(|containers| {
            containers
                .iter()
                .map(|container| text(&container["name"]).to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn first_container(pod: &Value) -> Option<String> {
    container_names(pod, "containers").into_iter().next()
}

pub(super) fn no_container(pod: &str) -> ApiError {
    ApiError::bad_request(format!("a container name must be specified for pod {pod}"))
}

/// The container a request means, with the API server's errors for a
/// container the pod does not have or a missing name when it has several.
pub(super) fn resolve_container(
    pod: &Value,
    name: &str,
    requested: Option<&str>,
) -> Result<String, ApiError> {
    let containers = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    let ephemeral = container_names(pod, "ephemeralContainers");
    match requested.filter(|requested| !requested.is_empty()) {
        Some(requested) => {
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|c| c == requested)
            {
                Ok(requested.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {requested} is not valid for pod {name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(no_container(name)),
            _ => {
                let mut message = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    containers.join(" ")
                );
                if !init.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init.join(" ")
                    ));
                }
                Err(ApiError::bad_request(message))
            }
        },
    }
}

/// The status of a container, from any of the pod's status lists.
pub(super) fn container_status<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .filter_map(|list| pod["status"][list].as_array())
    .flatten()
    .find(|status| status["name"] == container)
}

/// The kubelet's answer for a container that has not started yet.
pub(super) fn check_started(
    pod: &Value,
    name: &str,
    container: &str,
    status: Option<&Value>,
) -> Result<(), ApiError> {
    let waiting = |reason: &str| {
        let reason = match reason {
            "ErrImagePull" | "ImagePullBackOff" => "trying and failing to pull image",
            other => other,
        };
        Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )))
    };
    match status {
        Some(status) => {
            let reason = text(&status["state"]["waiting"]["reason"]);
            let started_before = status["restartCount"].as_u64().unwrap_or(0) > 0;
            match reason {
                "ContainerCreating"
                | "PodInitializing"
                | "ErrImagePull"
                | "ImagePullBackOff"
                | "CreateContainerConfigError" => waiting(reason),
                "" if status["state"].get("waiting").is_some() && !started_before => {
                    waiting("ContainerCreating")
                }
                _ => Ok(()),
            }
        }
        None if pod["status"]["phase"] == "Pending" || pod["status"]["phase"].is_null() => {
            waiting("ContainerCreating")
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_resolved_as_the_api_server_does() {
        let pod = json!({"spec": {
            "containers": [{"name": "app"}, {"name": "proxy"}],
            "initContainers": [{"name": "migrate"}],
        }});
        assert_eq!(
            resolve_container(&pod, "p", Some("proxy")),
            Ok("proxy".into())
        );
        assert_eq!(
            resolve_container(&pod, "p", Some("migrate")),
            Ok("migrate".into())
        );
        let missing = resolve_container(&pod, "p", Some("nope")).expect_err("unknown");
        assert_eq!(missing.message, "container nope is not valid for pod p");
        let ambiguous = resolve_container(&pod, "p", None).expect_err("ambiguous");
        assert_eq!(
            ambiguous.message,
            "a container name must be specified for pod p, choose one of: [app proxy] \
             or one of the init containers: [migrate]"
        );
        assert_eq!(ambiguous.code, 400);
        let single = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(resolve_container(&single, "p", None), Ok("only".into()));
    }
}
