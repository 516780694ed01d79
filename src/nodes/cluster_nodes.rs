//! `ssh.nodes: from_cluster`: the site's nodes are the cluster's Nodes,
//! each reached at its `InternalIP` on `ssh.port`. They are listed when a
//! survey starts (one list request over the profile's cluster connection,
//! through the bastion with `cluster.via: bastion`). A Node without an
//! InternalIP keeps a row that says so; a cluster that cannot be asked is
//! one error saying the nodes could not be listed and why, never an empty
//! site.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use crate::cluster::connect::{self, ClusterTarget, ConnectError};
use crate::config::profile::{NodesSpec, SiteProfile};

use super::access::SshAccess;
use super::survey::{NodeReport, OnNode, Survey, SurveySettings, survey_reporting};

/// How long listing the Nodes may take, the connection included.
const LIST_TIMEOUT: Duration = Duration::from_secs(15);

/// The name of the row that says the nodes could not be listed.
pub const LISTING_ROW: &str = "from_cluster";

/// One Node as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedNode {
    /// `metadata.name`.
    pub name: String,
    /// Its `InternalIP` address, if its status has one.
    pub internal_ip: Option<String>,
}

/// The nodes a survey reads.
#[derive(Debug, Clone)]
pub struct SiteNodes {
    /// The SSH access, with every node that can be reached.
    pub access: SshAccess,
    /// The nodes that cannot be reached (a Node without an InternalIP),
    /// each a report with its error.
    pub unreachable: Vec<NodeReport>,
}

/// Why the cluster's Nodes could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the nodes could not be listed from the cluster (ssh.nodes: from_cluster): {why}")]
pub struct ListError {
    /// What went wrong: the connection, the credentials, the answer.
    pub why: String,
}

/// The profile's nodes: `None` without an `ssh` section; the listed ones,
/// or for `from_cluster` the cluster's Nodes, listed now.
pub async fn site_nodes(
    profile: &SiteProfile,
    state_dir: &Path,
) -> Option<Result<SiteNodes, ListError>> {
    let access = SshAccess::of_profile(profile, state_dir)?;
    let from_cluster = profile
        .ssh
        .as_ref()
        .is_some_and(|ssh| ssh.nodes == NodesSpec::FromCluster);
    if !from_cluster {
        return Some(Ok(SiteNodes {
            access,
            unreachable: Vec::new(),
        }));
    }
    let listed = list_nodes(profile, state_dir).await;
    Some(listed.map(|listed| with_listed(profile, access, listed)))
}

/// `access` with the listed Nodes as its nodes, by name; those without an
/// address as unreachable.
pub fn with_listed(
    profile: &SiteProfile,
    mut access: SshAccess,
    mut listed: Vec<ListedNode>,
) -> SiteNodes {
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    let mut unreachable = Vec::new();
    for node in listed {
        match node.internal_ip {
            Some(ip) => access
                .nodes
                .push((node.name, SshAccess::cluster_node(profile, &ip))),
            None => unreachable.push(NodeReport::failed(
                &node.name,
                "(no InternalIP)",
                "the Node has no InternalIP address in its status, so sitedeck cannot tell \
                 where to reach it over SSH (see `kubectl get node -o wide`)",
            )),
        }
    }
    SiteNodes {
        access,
        unreachable,
    }
}

/// Reads every node of `site` in parallel, telling `on_node` of each as
/// soon as it is read; the unreachable ones are told first (there is
/// nothing to wait for). The nodes are in name order when some came
/// from the cluster, else in the profile's.
pub async fn survey_site(site: SiteNodes, settings: SurveySettings, on_node: OnNode) -> Survey {
    for report in &site.unreachable {
        on_node(report);
    }
    let mut survey = survey_reporting(Arc::new(site.access), settings, on_node).await;
    if !site.unreachable.is_empty() {
        survey.nodes.extend(site.unreachable);
        survey.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }
    survey
}

/// A survey that read nothing because the nodes could not be listed: one
/// row, [`LISTING_ROW`], with the error.
pub fn listing_failed(error: &ListError) -> Survey {
    Survey {
        nodes: vec![NodeReport::failed(
            LISTING_ROW,
            "the cluster's Nodes",
            &error.to_string(),
        )],
        max_skew_ms: None,
    }
}

/// The cluster's Nodes, with the profile's `cluster` (its kubeconfig and
/// context, through the bastion when it says so) and the credential
/// programs the operator trusted for this site.
pub async fn list_nodes(
    profile: &SiteProfile,
    state_dir: &Path,
) -> Result<Vec<ListedNode>, ListError> {
    let failed = |why: String| ListError { why };
    let target = ClusterTarget::of_site(profile, None, None)
        .ok_or_else(|| failed("the profile has no `cluster` section".into()))?;
    let trusted = tokio::task::spawn_blocking({
        let (state_dir, site) = (state_dir.to_path_buf(), profile.source_file.clone());
        move || {
            crate::store::trust::TrustStore::load(&state_dir)
                .0
                .trusted(&site)
        }
    })
    .await
    .unwrap_or_default();
    match tokio::time::timeout(LIST_TIMEOUT, list_with(&target, &trusted)).await {
        Ok(listed) => listed.map_err(failed),
        Err(_) => Err(failed(format!(
            "the API server did not answer within {} s",
            LIST_TIMEOUT.as_secs()
        ))),
    }
}

/// Connects to `target` and lists its Nodes.
async fn list_with(target: &ClusterTarget, trusted: &[String]) -> Result<Vec<ListedNode>, String> {
    let connection = connect::connect(target, trusted)
        .await
        .map_err(|error| match error {
            ConnectError::Untrusted { context, command } => format!(
                "context {context} gets its credentials by running `{command}`; open the site \
                 in the cockpit once to trust it"
            ),
            other => format!("cannot connect to the cluster: {other}"),
        })?;
    let server = connection.server.clone();
    let nodes: Api<Node> = Api::all(connection.client);
    let list = nodes
        .list(&ListParams::default())
        .await
        .map_err(|error| match &error {
            kube::Error::Api(status) if matches!(status.code, 401 | 403) => format!(
                "the API server at {server} refused to list Nodes ({}): sitedeck needs \
                 `list nodes`",
                status.message
            ),
            _ => crate::probe::ProbeFailure::chain(&error, &server).message,
        })?;
    if list.items.is_empty() {
        return Err(format!("the API server at {server} lists no Nodes"));
    }
    Ok(list.items.iter().map(listed).collect())
}

/// A Node's name and InternalIP.
pub fn listed(node: &Node) -> ListedNode {
    ListedNode {
        name: node.metadata.name.clone().unwrap_or_default(),
        internal_ip: node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone())
            .filter(|address| !address.trim().is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(text: &str) -> SiteProfile {
        let dir = std::env::temp_dir();
        crate::config::profile::parse(text, Path::new("site.yaml"), &dir)
            .expect("valid")
            .profile
    }

    #[test]
    fn listed_nodes_are_reached_at_their_internal_ip_on_ssh_port() {
        let profile = profile(
            "name: s\nenvironment: poc\ncluster:\n  context: c\nssh:\n  user: ops\n  port: 2222\n  nodes: from_cluster\n",
        );
        let access = SshAccess::of_profile(&profile, Path::new("/nonexistent")).expect("ssh");
        let listed = vec![
            ListedNode {
                name: "worker-2".into(),
                internal_ip: Some("10.0.0.22".into()),
            },
            ListedNode {
                name: "edge-1".into(),
                internal_ip: None,
            },
            ListedNode {
                name: "master-1".into(),
                internal_ip: Some("10.0.0.11".into()),
            },
        ];
        let site = with_listed(&profile, access, listed);
        let nodes: Vec<String> = site
            .access
            .nodes
            .iter()
            .map(|(name, target)| format!("{name} {target}"))
            .collect();
        assert_eq!(
            nodes,
            [
                "master-1 ops@[10.0.0.11]:2222",
                "worker-2 ops@[10.0.0.22]:2222"
            ]
        );
        assert_eq!(site.unreachable.len(), 1);
        assert_eq!(site.unreachable[0].name, "edge-1");
        assert!(
            site.unreachable[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("no InternalIP")),
            "{:?}",
            site.unreachable[0]
        );
    }

    #[test]
    fn a_node_without_addresses_has_no_internal_ip() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1"},
            "status": {"addresses": [{"type": "Hostname", "address": "n1"}]},
        }))
        .expect("a Node");
        assert_eq!(
            listed(&node),
            ListedNode {
                name: "n1".into(),
                internal_ip: None
            }
        );
    }

    #[test]
    fn a_failed_listing_is_one_row_that_says_so() {
        let survey = listing_failed(&ListError {
            why: "cannot connect to the cluster: connection refused".into(),
        });
        assert_eq!(survey.nodes.len(), 1);
        let error = survey.nodes[0].error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with("the nodes could not be listed from the cluster"),
            "{error}"
        );
    }
}
