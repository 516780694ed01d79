//! The effects of the Hosts and Time views that reach nodes over SSH:
//! reading them, running a command on them, accepting a host key. Each
//! runs off the UI thread and answers with one action.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use super::effect::Effect;
use super::nodes::NodesSnapshot;
use crate::config::profile::SiteProfile;
use crate::nodes::accept::UnknownKey;
use crate::nodes::cluster_nodes::{SiteNodes, site_nodes};
use crate::nodes::exec::{ExecSettings, NodeOutput, run_audited};
use crate::nodes::survey::{NodeReport, OnNode};

/// How long accepting a key may take to reach the host.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one of the nodes' effects on a task of its own; its answer comes
/// back through `tx`. Other effects are not for here and are dropped.
pub fn spawn(effect: Effect, tx: &UnboundedSender<Action>, state_dir: &Path) {
    let (tx, state_dir) = (tx.clone(), state_dir.to_path_buf());
    match effect {
        Effect::SurveyNodes { profile } => {
            let on_node: OnNode = {
                let (tx, site) = (tx.clone(), profile.source_file.clone());
                Arc::new(move |node: &NodeReport| {
                    let _ = tx.send(Action::NodeRead {
                        site: site.clone(),
                        node: Box::new(node.clone()),
                    });
                })
            };
            tokio::spawn(async move {
                let snapshot = survey(&profile, &state_dir, on_node).await;
                let _ = tx.send(Action::NodesSurveyed(Arc::new(snapshot)));
            });
        }
        Effect::AcceptHostKey { profile, key } => {
            tokio::spawn(async move {
                let result = accept(&profile, &state_dir, key).await;
                let _ = tx.send(Action::HostKeyAccepted(result));
            });
        }
        Effect::RunOnNodes {
            run: number,
            profile,
            nodes,
            command,
        } => {
            tokio::spawn(async move {
                let outputs = run(&profile, &state_dir, &nodes, &command).await;
                let _ = tx.send(Action::NodeCommandRan {
                    run: number,
                    outputs,
                });
            });
        }
        _ => {}
    }
}

/// Reads the site's nodes and NTP servers, and judges the time.
pub async fn survey(profile: &SiteProfile, state_dir: &Path, on_node: OnNode) -> NodesSnapshot {
    let (survey, time) = crate::nodes::time::read_site_reporting(profile, state_dir, on_node).await;
    NodesSnapshot {
        survey,
        time,
        at: chrono::Local::now(),
        site: profile.source_file.clone(),
        partial: false,
    }
}

/// The profile's nodes (the cluster's, for `from_cluster`), or why not.
async fn nodes(profile: &SiteProfile, state_dir: &Path) -> Result<SiteNodes, String> {
    site_nodes(profile, state_dir)
        .await
        .ok_or_else(|| "the profile has no `ssh` section".to_owned())?
        .map_err(|e| e.to_string())
}

/// Runs `command` on `names`, audited.
pub async fn run(
    profile: &SiteProfile,
    state_dir: &Path,
    names: &[String],
    command: &str,
) -> Result<Vec<NodeOutput>, String> {
    let nodes = nodes(profile, state_dir).await?;
    run_audited(
        &profile.name,
        state_dir,
        nodes,
        names,
        command,
        ExecSettings::default(),
    )
    .await
}

/// Records `key` if its host still offers it, audited (it changes what
/// sitedeck trusts).
pub async fn accept(
    profile: &SiteProfile,
    state_dir: &Path,
    key: UnknownKey,
) -> Result<String, String> {
    let nodes = nodes(profile, state_dir).await?;
    let audited = crate::store::audit::intent(
        state_dir,
        &profile.name,
        &format!("host key of {} ({})", key.whose, key.target),
        "host key accepted",
        &format!("{} {}", key.key_type, key.fingerprint),
    )
    .map_err(|e| {
        format!(
            "the audit log in {} cannot be written ({e}): nothing was recorded",
            state_dir.display()
        )
    })?;
    let result = tokio::task::spawn_blocking(move || {
        crate::nodes::accept::accept(
            &nodes.access,
            &key.whose,
            &key.fingerprint,
            Some(&key.target),
            ACCEPT_TIMEOUT,
        )
    })
    .await
    .unwrap_or_else(|e| Err(format!("the check ended unexpectedly: {e}")));
    let outcome = match &result {
        Ok(said) => said.clone(),
        Err(why) => format!("not recorded: {why}"),
    };
    if let Err(e) = audited.outcome(&outcome) {
        tracing::warn!("the outcome of a host key acceptance could not be audited: {e}");
    }
    result
}
