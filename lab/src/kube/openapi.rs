//! Just enough OpenAPI v3 for kubectl's write commands: `kubectl create`
//! and `replace` ask whether the server validates fields itself (a
//! `fieldValidation` parameter on the PATCH operation of the kind) before
//! they fall back to downloading the whole schema. The simulator says yes
//! for every resource it stores, so kubectl sends `fieldValidation=Strict`
//! and needs no schema.

use serde_json::{Map, Value, json};

use super::resources::{GROUPS, resources_of};

/// The hash in each group version's URL (the documents never change).
const HASH: &str = "5C1A8D0C1E7E5A2B";

fn group_version_path(group: &str) -> String {
    if group.is_empty() {
        "api/v1".to_string()
    } else {
        format!("apis/{group}/v1")
    }
}

/// `/openapi/v3`: where each group version's document is.
pub fn root() -> Value {
    let paths: Map<String, Value> = std::iter::once("")
        .chain(GROUPS.iter().copied())
        .filter(|group| resources_of(group, "v1").any(|resource| resource.is_stored()))
        .map(|group| {
            let path = group_version_path(group);
            let url = format!("/openapi/v3/{path}?hash={HASH}");
            (path, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`: the PATCH
/// operation of every stored kind, with its query parameters.
pub fn group_version(segments: &[&str]) -> Option<Value> {
    let (group, version) = match segments {
        ["api", version] => ("", *version),
        ["apis", group, version] => (*group, *version),
        _ => return None,
    };
    let mut paths = Map::new();
    for resource in resources_of(group, version).filter(|resource| resource.is_stored()) {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let path = if resource.namespaced {
            format!(
                "{prefix}/namespaces/{{namespace}}/{}/{{name}}",
                resource.plural
            )
        } else {
            format!("{prefix}/{}/{{name}}", resource.plural)
        };
        let parameters: Vec<Value> = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .iter()
            .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string"}, "uniqueItems": true}))
            .collect();
        paths.insert(
            path,
            json!({"patch": {
                "operationId": format!("patch{}", resource.kind),
                "parameters": parameters,
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": resource.kind},
                "responses": {"200": {"description": "OK"}},
            }}),
        );
    }
    (!paths.is_empty()).then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.32.4"},
            "paths": paths,
            "components": {"schemas": {}},
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_version_in_the_root_has_a_document() {
        let root = root();
        let paths = root["paths"].as_object().expect("paths");
        assert!(paths.contains_key("api/v1") && paths.contains_key("apis/apps/v1"));
        for path in paths.keys() {
            let segments: Vec<&str> = path.split('/').collect();
            let document = group_version(&segments).expect("document");
            assert!(!document["paths"].as_object().expect("paths").is_empty());
        }
        let core = group_version(&["api", "v1"]).expect("core");
        let config_maps = &core["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"];
        assert_eq!(
            config_maps["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "ConfigMap"
        );
    }
}
