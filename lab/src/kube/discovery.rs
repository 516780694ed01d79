//! Discovery: what `/version`, `/api`, `/apis` and each group version say,
//! in the legacy (non-aggregated) formats. kubectl asks for aggregated
//! discovery first and falls back to these when the answer is plain
//! `application/json`, as it is from API servers before 1.26.

use serde_json::{Value, json};

use super::resources::{GROUPS, ResourceType, resources_of, serves_group_version};

/// The Kubernetes version the simulator claims to be: the client's minor
/// version, so kubectl has no skew to warn about.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.4",
        "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
        "gitTreeState": "clean",
        "buildDate": "2025-04-22T16:03:05Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`: the core group's versions.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

fn group_body(group: &str) -> Value {
    let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [version.clone()], "preferredVersion": version})
}

/// `/apis`: every named group.
pub fn group_list() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|group| group_body(group)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`: one group, if served.
pub fn group(group: &str) -> Option<Value> {
    GROUPS.contains(&group).then(|| {
        let mut body = group_body(group);
        body["kind"] = json!("APIGroup");
        body["apiVersion"] = json!("v1");
        body
    })
}

/// `/api/v1` or `/apis/{group}/{version}`: the resources of a group
/// version, if served.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    if !serves_group_version(group, version) {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = resources_of(group, version).map(api_resource).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

fn api_resource(resource: &ResourceType) -> Value {
    let mut entry = json!({
        "name": resource.plural,
        "singularName": resource.singular,
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": resource.verbs,
    });
    if !resource.short_names.is_empty() {
        entry["shortNames"] = json!(resource.short_names);
    }
    if !resource.categories.is_empty() {
        entry["categories"] = json!(resource.categories);
    }
    if resource.kind == "Scale" {
        // Scale subresources are autoscaling/v1 objects whatever their parent.
        entry["group"] = json!("autoscaling");
        entry["version"] = json!("v1");
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_group_has_its_resources() {
        for group in group_list()["groups"].as_array().expect("groups") {
            let name = group["name"].as_str().expect("name");
            let list = resource_list(name, "v1").expect("served");
            assert!(!list["resources"].as_array().expect("resources").is_empty());
            assert!(super::group(name).is_some());
        }
        assert!(resource_list("batch", "v1").is_none());
    }

    #[test]
    fn pods_are_described_like_a_real_server_does() {
        let core = resource_list("", "v1").expect("core");
        let pods = core["resources"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["name"] == "pods"))
            .expect("pods");
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["namespaced"], true);
        assert_eq!(pods["singularName"], "pod");
    }
}
