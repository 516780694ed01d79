//! What sitedeck may do on the cluster, asked once on connect with
//! SelfSubjectAccessReviews (as `kubectl auth can-i` does), so Overview can
//! show the permission table and a forbidden view says "forbidden" rather
//! than showing an empty table.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use serde::Serialize;

/// One verb on one resource sitedeck needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The API group (`""` for core, `apps`).
    pub group: &'static str,
    /// The resource (`pods`, `pods/log`).
    pub resource: &'static str,
    /// The verb.
    pub verb: &'static str,
    /// What sitedeck uses it for.
    pub purpose: &'static str,
}

/// Everything sitedeck asks the cluster for, in the table's order.
pub const NEEDS: &[Need] = &[
    need("apps", "deployments", "list", "Versions"),
    need("apps", "deployments", "watch", "Versions"),
    need("apps", "statefulsets", "list", "Versions"),
    need("apps", "statefulsets", "watch", "Versions"),
    need("apps", "daemonsets", "list", "Versions"),
    need("apps", "daemonsets", "watch", "Versions"),
    need("", "pods", "list", "Pods"),
    need("", "pods", "watch", "Pods"),
    need("", "pods/log", "get", "logs"),
    need("", "nodes", "list", "Nodes"),
    need("", "nodes", "watch", "Nodes"),
    need("", "events", "list", "Events"),
    need("", "events", "watch", "Events"),
    need("", "secrets", "list", "Helm releases"),
    need("", "secrets", "watch", "Helm releases"),
    need("apps", "deployments", "patch", "upgrades and rollbacks"),
];

const fn need(
    group: &'static str,
    resource: &'static str,
    verb: &'static str,
    purpose: &'static str,
) -> Need {
    Need {
        group,
        resource,
        verb,
        purpose,
    }
}

/// The answer for one need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Permission {
    /// `deployments.apps`, `pods/log`.
    pub resource: String,
    /// The verb.
    pub verb: String,
    /// `Some(true)` allowed, `Some(false)` denied, `None` the review failed.
    pub allowed: Option<bool>,
    /// The server's reason, or why the review failed.
    pub reason: String,
    /// What sitedeck uses it for.
    pub purpose: String,
}

/// Asks the cluster about every [`NEEDS`] entry, cluster-wide. Reviews run
/// concurrently; one failing review gives `allowed: None`, not an error.
pub async fn review(client: &kube::Client) -> Vec<Permission> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let asks = NEEDS.iter().map(|need| {
        let api = api.clone();
        async move {
            let (resource, subresource) = match need.resource.split_once('/') {
                Some((resource, sub)) => (resource, Some(sub.to_owned())),
                None => (need.resource, None),
            };
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        group: Some(need.group.to_owned()),
                        resource: Some(resource.to_owned()),
                        subresource,
                        verb: Some(need.verb.to_owned()),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let shown = if need.group.is_empty() {
                need.resource.to_owned()
            } else {
                format!("{}.{}", need.resource, need.group)
            };
            let (allowed, reason) = match api.create(&PostParams::default(), &review).await {
                Ok(answer) => {
                    let status = answer.status.unwrap_or_default();
                    (
                        Some(status.allowed),
                        status
                            .reason
                            .or(status.evaluation_error)
                            .unwrap_or_default(),
                    )
                }
                Err(e) => (None, crate::probe::classify::chain_text(&e)),
            };
            Permission {
                resource: shown,
                verb: need.verb.to_owned(),
                allowed,
                reason,
                purpose: need.purpose.to_owned(),
            }
        }
    });
    futures::future::join_all(asks).await
}
