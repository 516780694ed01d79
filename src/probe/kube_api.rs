//! The Kubernetes API: connect as the cluster views do and ask the
//! server's version.

use super::ProbeFailure;
use crate::cluster::connect::{self, ClusterTarget, ConnectError};
use crate::config::profile::SiteProfile;

/// Connects with the kubeconfig's credentials and reads `/version`.
///
/// A credential program (exec plugin) runs only if the operator trusted
/// it for this site in the cockpit.
pub async fn probe(
    target: Option<ClusterTarget>,
    profile: &SiteProfile,
) -> Result<String, ProbeFailure> {
    let target = target.ok_or_else(|| ProbeFailure::config("no cluster in the profile"))?;
    let state_dir = crate::config::Paths::from_env().state_dir;
    let trusted = tokio::task::spawn_blocking({
        let site = profile.source_file.clone();
        move || {
            crate::store::trust::TrustStore::load(&state_dir)
                .0
                .trusted(&site)
        }
    })
    .await
    .unwrap_or_default();
    let connection = connect::connect(&target, &trusted)
        .await
        .map_err(|e| match e {
            ConnectError::Untrusted { context, command } => ProbeFailure::config(format!(
                "context {context} gets its credentials by running `{command}`; sitedeck asks before running it (ctrl-r asks again)"
            )),
            other => ProbeFailure::config(other.to_string()),
        })?;
    let server = connection.server.clone();
    match connection.client.apiserver_version().await {
        Ok(info) => Ok(format!("Kubernetes {} at {server}", info.git_version)),
        Err(kube::Error::Api(status)) if matches!(status.code, 401 | 403) => {
            Err(ProbeFailure::auth(format!(
                "the API server at {server} refused the credentials ({})",
                status.message
            )))
        }
        Err(e) => Err(ProbeFailure::chain(&e, &server)),
    }
}
