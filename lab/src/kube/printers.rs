//! How kubectl's printers spell single fields in table cells: ages, pod
//! status, restarts, ports, node roles… Each follows the printer of the
//! real API server (k8s.io/kubernetes/pkg/printers/internalversion).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// kubectl's `HumanDuration`: `45s`, `3m20s`, `5h`, `2d3h`, `400d`, `3y`.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let seconds = seconds.max(0);
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let days = hours / 24;
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 && seconds % 60 == 0 => format!("{minutes}m"),
        _ if minutes < 10 => format!("{minutes}m{}s", seconds % 60),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 && minutes % 60 == 0 => format!("{hours}h"),
        _ if hours < 8 => format!("{hours}h{}m", minutes % 60),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 192 && hours % 24 == 0 => format!("{days}d"),
        _ if hours < 192 => format!("{days}d{}h", hours % 24),
        _ if hours < 24 * 365 * 2 => format!("{days}d"),
        _ if hours < 24 * 365 * 8 && days % 365 == 0 => format!("{}y", days / 365),
        _ if hours < 24 * 365 * 8 => format!("{}y{}d", days / 365, days % 365),
        _ => format!("{}y", days / 365),
    }
}

/// The AGE of a timestamp, `<unknown>` without one.
pub fn age(timestamp: &Value, now: DateTime<Utc>) -> String {
    timestamp
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map_or_else(
            || "<unknown>".to_string(),
            |then| human_duration((now - then.with_timezone(&Utc)).num_seconds()),
        )
}

/// A JSON array as a slice, empty when it is not one.
pub fn array(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// How many keys a map has (the DATA column).
pub fn entries(value: &Value) -> usize {
    value.as_object().map_or(0, serde_json::Map::len)
}

/// A string field, `<none>` when missing or empty.
pub fn text_or_none(value: &Value) -> String {
    match value.as_str() {
        Some(text) if !text.is_empty() => text.to_string(),
        _ => "<none>".to_string(),
    }
}

/// One field of each item, comma-separated (CONTAINERS, IMAGES).
pub fn joined(items: &Value, field: &str) -> String {
    let parts: Vec<&str> = array(items)
        .iter()
        .filter_map(|item| item[field].as_str())
        .collect();
    parts.join(",")
}

/// A string map as `k=v,k=v`, `<none>` when empty.
pub fn key_values(map: &Value) -> String {
    let pairs: Vec<String> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// A LabelSelector as kubectl prints it (`app=web,tier in (a,b)`).
pub fn selector(label_selector: &Value) -> String {
    let mut parts = vec![key_values(&label_selector["matchLabels"])];
    parts.retain(|part| part != "<none>");
    for expression in array(&label_selector["matchExpressions"]) {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = array(&expression["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// How many of a pod's containers are ready.
pub fn ready_containers(status: &Value) -> usize {
    array(&status["containerStatuses"])
        .iter()
        .filter(|container| container["ready"] == true)
        .count()
}

/// The STATUS column: the phase, unless a container says more
/// (CrashLoopBackOff, ImagePullBackOff, Error…) or the pod is going away.
pub fn pod_status(pod: &Value) -> String {
    let status = &pod["status"];
    let mut reason = status["reason"]
        .as_str()
        .or(status["phase"].as_str())
        .unwrap_or("Unknown")
        .to_string();
    let mut running = false;
    for container in array(&status["containerStatuses"]).iter().rev() {
        let state = &container["state"];
        if let Some(waiting) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = waiting.to_string();
        } else if let Some(terminated) = state["terminated"].as_object() {
            reason = match terminated.get("reason").and_then(Value::as_str) {
                Some(terminated_reason) => terminated_reason.to_string(),
                None => format!(
                    "ExitCode:{}",
                    terminated.get("exitCode").unwrap_or(&json!(0))
                ),
            };
        } else if state["running"].is_object() && container["ready"] == true {
            running = true;
        }
    }
    if reason == "Completed" && running {
        reason = "Running".into();
    }
    if pod["metadata"]["deletionTimestamp"].is_string() {
        reason = "Terminating".into();
    }
    reason
}

/// The RESTARTS column: the sum, and how long ago the last one ended.
pub fn restarts(status: &Value, now: DateTime<Utc>) -> String {
    let containers = array(&status["containerStatuses"]);
    let count: i64 = containers
        .iter()
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    let last = containers
        .iter()
        .filter_map(|c| c["lastState"]["terminated"]["finishedAt"].as_str())
        .filter_map(|stamp| DateTime::parse_from_rfc3339(stamp).ok())
        .max();
    match last {
        Some(finished) if count > 0 => {
            let ago = human_duration((now - finished.with_timezone(&Utc)).num_seconds());
            format!("{count} ({ago} ago)")
        }
        _ => count.to_string(),
    }
}

/// A Service's EXTERNAL-IP: load balancer ingress, external IPs, or
/// `<pending>`/`<none>`.
pub fn external_ip(service: &Value) -> String {
    let external: Vec<&str> = array(&service["spec"]["externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if service["spec"]["type"] != "LoadBalancer" {
        return if external.is_empty() {
            "<none>".into()
        } else {
            external.join(",")
        };
    }
    let ingress: Vec<&str> = array(&service["status"]["loadBalancer"]["ingress"])
        .iter()
        .filter_map(|entry| entry["ip"].as_str().or(entry["hostname"].as_str()))
        .chain(external)
        .collect();
    if ingress.is_empty() {
        "<pending>".into()
    } else {
        ingress.join(",")
    }
}

/// A Service's PORT(S): `80/TCP`, `80:30080/TCP` with a node port.
pub fn service_ports(ports: &Value) -> String {
    let parts: Vec<String> = array(ports)
        .iter()
        .map(|port| {
            let protocol = port["protocol"].as_str().unwrap_or("TCP");
            match port["nodePort"].as_i64() {
                Some(node_port) => format!("{}:{node_port}/{protocol}", port["port"]),
                None => format!("{}/{protocol}", port["port"]),
            }
        })
        .collect();
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// A node's STATUS: Ready/NotReady/Unknown, `,SchedulingDisabled` when
/// cordoned.
pub fn node_status(node: &Value) -> String {
    let ready = array(&node["status"]["conditions"])
        .iter()
        .find(|condition| condition["type"] == "Ready")
        .and_then(|condition| condition["status"].as_str());
    let mut status = match ready {
        Some("True") => "Ready",
        Some("False") => "NotReady",
        _ => "Unknown",
    }
    .to_string();
    if node["spec"]["unschedulable"] == true {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// A node's ROLES, from its `node-role.kubernetes.io/*` labels.
pub fn node_roles(node: &Value) -> String {
    let roles: Vec<&str> = node["metadata"]["labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, _)| key.strip_prefix("node-role.kubernetes.io/"))
        .collect();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

/// A node's address of one type (`InternalIP`), `<none>` without one.
pub fn node_address(status: &Value, kind: &str) -> String {
    array(&status["addresses"])
        .iter()
        .find(|address| address["type"] == kind)
        .and_then(|address| address["address"].as_str())
        .unwrap_or("<none>")
        .to_string()
}

/// The ENDPOINTS column: the first three `ip:port`s and how many more.
pub fn endpoints(object: &Value) -> String {
    let mut addresses = Vec::new();
    for subset in array(&object["subsets"]) {
        for address in array(&subset["addresses"]) {
            for port in array(&subset["ports"]) {
                addresses.push(format!(
                    "{}:{}",
                    address["ip"].as_str().unwrap_or_default(),
                    port["port"]
                ));
            }
        }
    }
    match addresses.len() {
        0 => "<none>".into(),
        1..=3 => addresses.join(","),
        more => format!("{} + {} more...", addresses[..3].join(","), more - 3),
    }
}

/// A PVC's ACCESS MODES in short form (`RWO`).
pub fn access_modes(modes: &Value) -> String {
    let short: Vec<&str> = array(modes)
        .iter()
        .filter_map(|mode| match mode.as_str()? {
            "ReadWriteOnce" => Some("RWO"),
            "ReadOnlyMany" => Some("ROX"),
            "ReadWriteMany" => Some("RWX"),
            "ReadWriteOncePod" => Some("RWOP"),
            _ => None,
        })
        .collect();
    short.join(",")
}

/// The CONTROLLER of a ControllerRevision (`statefulset.apps/mysql`).
pub fn controller(object: &Value) -> String {
    array(&object["metadata"]["ownerReferences"])
        .iter()
        .find(|owner| owner["controller"] == true)
        .map_or_else(
            || "<none>".to_string(),
            |owner| {
                let group = owner["apiVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .split('/')
                    .next()
                    .unwrap_or_default();
                let kind = owner["kind"].as_str().unwrap_or_default().to_lowercase();
                format!(
                    "{kind}.{group}/{}",
                    owner["name"].as_str().unwrap_or_default()
                )
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_kubectl() {
        for (seconds, text) in [
            (5, "5s"),
            (119, "119s"),
            (180, "3m"),
            (200, "3m20s"),
            (700, "11m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 120, "3h2m"),
            (30 * 3600, "30h"),
            (3 * 86400, "3d"),
            (3 * 86400 + 3600, "3d1h"),
            (100 * 86400, "100d"),
            (3 * 365 * 86400, "3y"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(seconds), text, "{seconds}");
        }
    }
}
