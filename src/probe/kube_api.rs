//! The Kubernetes API: load the kubeconfig and ask the server's version.

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::ProbeFailure;
use crate::config::profile::SiteProfile;

/// Connects with the kubeconfig's credentials and reads `/version`.
///
/// An exec credential plugin is never run from here: running a program the
/// kubeconfig names needs the operator's trust first.
pub async fn probe(profile: &SiteProfile, context: Option<&str>) -> Result<String, ProbeFailure> {
    let cluster = profile
        .cluster
        .as_ref()
        .ok_or_else(|| ProbeFailure::config("no cluster in the profile"))?;
    let path = cluster
        .kubeconfig
        .as_ref()
        .map(|p| p.resolve(&profile.base_dir));
    // Reading files blocks: not on the runtime's threads.
    let kubeconfig = tokio::task::spawn_blocking(move || match path {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    })
    .await
    .map_err(|e| ProbeFailure::config(format!("cannot read the kubeconfig: {e}")))?
    .map_err(|e| ProbeFailure::config(format!("cannot read the kubeconfig: {e}")))?;
    let context = context
        .map(str::to_owned)
        .or_else(|| cluster.context.clone())
        .or_else(|| kubeconfig.current_context.clone())
        .ok_or_else(|| {
            ProbeFailure::config("the kubeconfig has no current context; set cluster.context")
        })?;
    if let Some(command) = credential_command(&kubeconfig, &context) {
        return Err(ProbeFailure::config(format!(
            "context {context} gets its credentials from the {command}, which sitedeck does not run untrusted"
        )));
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| ProbeFailure::config(format!("context {context}: {e}")))?;
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config)
        .map_err(|e| ProbeFailure::config(format!("context {context}: {e}")))?;
    match client.apiserver_version().await {
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

/// The program a context's user runs to get credentials, if any: an exec
/// plugin, or an auth provider's `cmd-path` (kube-rs runs both).
fn credential_command(kubeconfig: &Kubeconfig, context: &str) -> Option<String> {
    let named = kubeconfig.contexts.iter().find(|c| c.name == context)?;
    let user = named.context.as_ref()?.user.as_deref()?;
    let auth = kubeconfig.auth_infos.iter().find(|a| a.name == user)?;
    let info = auth.auth_info.as_ref()?;
    if let Some(exec) = &info.exec {
        return Some(format!(
            "exec credential plugin `{}`",
            exec.command.clone().unwrap_or_default()
        ));
    }
    let provider = info.auth_provider.as_ref()?;
    let command = provider.config.get("cmd-path")?;
    Some(format!("auth provider {} (`{command}`)", provider.name))
}
