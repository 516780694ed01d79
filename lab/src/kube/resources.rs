//! The kinds of object the simulator serves, as discovery describes them.
//!
//! One table drives discovery, routing and the store, so a resource listed
//! here is served everywhere and one missing here nowhere.

/// The verbs of a resource with the whole set of operations.
const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces cannot be deleted as a collection.
const NAMESPACE_VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Subresources read and written whole.
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
/// Reviews are only ever created.
const CREATE_ONLY: &[&str] = &["create"];

/// One kind of object served by the simulator, or one of its subresources.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// The API group; empty for the core group.
    pub group: &'static str,
    /// The version within the group.
    pub version: &'static str,
    /// The plural lower-case name used in paths (`pods`, `pods/log`).
    pub plural: &'static str,
    /// The singular lower-case name.
    pub singular: &'static str,
    /// The object kind (`Pod`).
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl's abbreviations (`po`).
    pub short_names: &'static [&'static str],
    /// The verbs discovery advertises.
    pub verbs: &'static [&'static str],
    /// Categories such as `all`.
    pub categories: &'static [&'static str],
    /// Where objects are kept: resources of two groups that are one object
    /// in the real API server (core and events.k8s.io events) share it.
    /// Empty for subresources and reviews, which store nothing.
    pub storage: &'static str,
}

impl ResourceType {
    /// The `apiVersion` of this resource's objects (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether objects of this resource are listed, fetched and watched.
    pub fn is_stored(&self) -> bool {
        !self.storage.is_empty()
    }

    /// The resource with its group, as Status messages name it
    /// (`pods`, `deployments.apps`).
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

const fn stored(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        verbs: ALL_VERBS,
        categories,
        storage: plural,
    }
}

const fn subresource(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular: "",
        kind,
        namespaced,
        short_names: &[],
        verbs,
        categories: &[],
        storage: "",
    }
}

/// Namespaces, which the store needs by name to check that an object's
/// namespace exists.
pub const NAMESPACES: ResourceType = ResourceType {
    verbs: NAMESPACE_VERBS,
    ..stored(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &[],
    )
};

/// Pods, which the lab's seed looks up to fill Endpoints.
pub const PODS: ResourceType = stored("", "pods", "pod", "Pod", true, &["po"], &["all"]);

/// Every resource the simulator knows, grouped by API group and version in
/// the order discovery lists them.
pub static RESOURCES: &[ResourceType] = &[
    stored(
        "",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        &[],
    ),
    stored(
        "",
        "endpoints",
        "endpoints",
        "Endpoints",
        true,
        &["ep"],
        &[],
    ),
    stored("", "events", "event", "Event", true, &["ev"], &[]),
    NAMESPACES,
    subresource(
        "",
        "namespaces/status",
        "Namespace",
        false,
        GET_PATCH_UPDATE,
    ),
    stored("", "nodes", "node", "Node", false, &["no"], &[]),
    subresource("", "nodes/status", "Node", false, GET_PATCH_UPDATE),
    stored(
        "",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &[],
    ),
    subresource(
        "",
        "persistentvolumeclaims/status",
        "PersistentVolumeClaim",
        true,
        GET_PATCH_UPDATE,
    ),
    PODS,
    subresource("", "pods/log", "Pod", true, &["get"]),
    subresource("", "pods/status", "Pod", true, GET_PATCH_UPDATE),
    stored("", "secrets", "secret", "Secret", true, &[], &[]),
    stored(
        "",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        &["all"],
    ),
    subresource("", "services/status", "Service", true, GET_PATCH_UPDATE),
    stored(
        "apps",
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        true,
        &[],
        &[],
    ),
    stored(
        "apps",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
        &["all"],
    ),
    subresource(
        "apps",
        "daemonsets/status",
        "DaemonSet",
        true,
        GET_PATCH_UPDATE,
    ),
    stored(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["all"],
    ),
    subresource("apps", "deployments/scale", "Scale", true, GET_PATCH_UPDATE),
    subresource(
        "apps",
        "deployments/status",
        "Deployment",
        true,
        GET_PATCH_UPDATE,
    ),
    stored(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        &["all"],
    ),
    subresource("apps", "replicasets/scale", "Scale", true, GET_PATCH_UPDATE),
    subresource(
        "apps",
        "replicasets/status",
        "ReplicaSet",
        true,
        GET_PATCH_UPDATE,
    ),
    stored(
        "apps",
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        &["sts"],
        &["all"],
    ),
    subresource(
        "apps",
        "statefulsets/scale",
        "Scale",
        true,
        GET_PATCH_UPDATE,
    ),
    subresource(
        "apps",
        "statefulsets/status",
        "StatefulSet",
        true,
        GET_PATCH_UPDATE,
    ),
    ResourceType {
        singular: "selfsubjectaccessreview",
        ..subresource(
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
            CREATE_ONLY,
        )
    },
    ResourceType {
        singular: "selfsubjectrulesreview",
        ..subresource(
            "authorization.k8s.io",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
            CREATE_ONLY,
        )
    },
    // The same objects as core events, in the newer shape.
    ResourceType {
        storage: "events",
        ..stored(
            "events.k8s.io",
            "events",
            "event",
            "Event",
            true,
            &["ev"],
            &[],
        )
    },
];

/// The API groups besides the core group, in discovery order.
pub const GROUPS: &[&str] = &["apps", "authorization.k8s.io", "events.k8s.io"];

/// The resources (and subresources) of one group version.
pub fn resources_of(group: &str, version: &str) -> impl Iterator<Item = &'static ResourceType> {
    RESOURCES
        .iter()
        .filter(move |resource| resource.group == group && resource.version == version)
}

/// Whether the simulator serves this group version.
pub fn serves_group_version(group: &str, version: &str) -> bool {
    resources_of(group, version).next().is_some()
}

/// The resource a path names, e.g. (`apps`, `v1`, `deployments`).
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    resources_of(group, version).find(|resource| resource.plural == plural)
}

/// The stored resource for an object's `apiVersion` and `kind`.
pub fn find_by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    resources_of(group, version).find(|resource| resource.kind == kind && resource.is_stored())
}

/// The stored resource for a kubectl-style name: plural, singular, short
/// name or kind, optionally qualified by group (`deploy`, `deployments.apps`).
pub fn find_by_name(name: &str) -> Option<&'static ResourceType> {
    let (name, group) = match name.split_once('.') {
        Some((name, group)) => (name, Some(group)),
        None => (name, None),
    };
    RESOURCES.iter().find(|resource| {
        resource.is_stored()
            && group.is_none_or(|group| group == resource.group)
            && (resource.plural == name
                || resource.singular == name
                || resource.kind.eq_ignore_ascii_case(name)
                || resource.short_names.contains(&name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_resources_by_every_name() {
        for name in [
            "deploy",
            "deployments",
            "deployment",
            "Deployment",
            "deployments.apps",
        ] {
            assert_eq!(
                find_by_name(name).map(|r| r.plural),
                Some("deployments"),
                "{name}"
            );
        }
        assert_eq!(
            find_by_kind("apps/v1", "ReplicaSet").map(|r| r.plural),
            Some("replicasets")
        );
        assert_eq!(
            find_by_kind("v1", "Pod").map(|r| r.qualified_name()),
            Some("pods".into())
        );
        assert!(find("", "v1", "pods/log").is_some_and(|r| !r.is_stored()));
    }

    #[test]
    fn both_event_apis_share_one_store() {
        let core = find("", "v1", "events").map(|r| r.storage);
        let newer = find("events.k8s.io", "v1", "events").map(|r| r.storage);
        assert_eq!(core, newer);
    }
}
