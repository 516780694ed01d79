//! `update` for the cluster views: the session's life, the trust question,
//! describe, and the jump from a workload to its pods. Called from
//! [`crate::app::update`]; synchronous, no I/O.

use crate::app::cluster::{ClusterState, ClusterView, Connection, PodScope};
use crate::app::effect::Effect;
use crate::app::state::{Level, Popup, State, View};
use crate::app::table::Target;
use crate::app::update::show_view;
use crate::cluster::ClusterEvent;
use crate::cluster::connect::ClusterTarget;
use crate::text::one_line;

/// Starts (or restarts) the open site's cluster session, trusting
/// `trust` first if given.
pub(crate) fn start_cluster(state: &mut State, trust: Option<String>) -> Vec<Effect> {
    let Some(site) = &state.site else {
        return Vec::new();
    };
    let Some(target) = ClusterTarget::of_site(
        &site.loaded.profile,
        state.options.kubeconfig.as_deref(),
        state.options.context.as_deref(),
    ) else {
        return Vec::new();
    };
    let site_file = site.loaded.profile.source_file.clone();
    state.last_cluster += 1;
    let generation = state.last_cluster;
    if let Some(site) = &mut state.site {
        let release = site.cluster.as_ref().and_then(|c| c.release.clone());
        site.cluster = Some(ClusterState::new(generation, release));
    }
    vec![Effect::StartCluster {
        generation,
        target,
        site_file,
        trust,
    }]
}

/// Applies a session's event; asks about an untrusted credential program.
pub(crate) fn on_cluster_event(state: &mut State, generation: u64, event: ClusterEvent) {
    let Some(cluster) = state.cluster_mut() else {
        return;
    };
    if cluster.generation != generation {
        return;
    }
    cluster.apply(event);
    let ask = match &cluster.connection {
        Connection::NeedsTrust { context, command } => Some(Popup::Trust {
            context: context.clone(),
            command: command.clone(),
        }),
        _ => None,
    };
    if ask.is_some() && state.popup.is_none() {
        state.popup = ask;
    }
}

/// `Deployment acme-prod/api-gateway`, `Node acme-worker-1`.
pub fn describe_title(target: &Target) -> String {
    if target.namespace.is_empty() {
        format!("{} {}", target.kind, target.name)
    } else {
        format!("{} {}/{}", target.kind, target.namespace, target.name)
    }
}

/// Opens the describe pane on the selected row.
pub(crate) fn describe(state: &mut State) -> Vec<Effect> {
    let Some(target) = state
        .table()
        .and_then(|t| t.selected_row())
        .map(|r| r.target.clone())
    else {
        state.say(Level::Info, "nothing selected");
        return Vec::new();
    };
    if target.kind.is_empty() || state.view == View::Middleware {
        state.say(
            Level::Info,
            "not a cluster object: the pane below shows all there is",
        );
        return Vec::new();
    }
    let title = describe_title(&target);
    if target.kind == "HelmRelease" {
        // Described from the decoded rows: the secret holds the values,
        // which may hold passwords, and is never fetched for display.
        let text = state.cluster().map(|c| helm_history(c, &target));
        state.popup = Some(Popup::Describe {
            title,
            text: text.map(Ok),
            scroll: 0,
        });
        return Vec::new();
    }
    state.popup = Some(Popup::Describe {
        title,
        text: None,
        scroll: 0,
    });
    vec![Effect::Describe(target)]
}

/// The findings about an object, as YAML comments for the describe pane.
pub(crate) fn finding_lines(cluster: &ClusterState, target: &Target) -> String {
    cluster
        .findings
        .iter()
        .filter(|f| {
            f.object.kind == target.kind
                && f.object.namespace == target.namespace
                && f.object.name == target.name
        })
        .map(|f| format!("# {}: {}\n", f.severity.label(), f.message))
        .collect()
}

fn helm_history(cluster: &ClusterState, target: &Target) -> String {
    let mut revisions: Vec<_> = cluster
        .helm
        .rows()
        .iter()
        .filter(|r| r.namespace == target.namespace && r.name == target.name)
        .collect();
    revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let mut text = format!(
        "name: {}\nnamespace: {}\nrevisions:\n",
        one_line(&target.name),
        one_line(&target.namespace)
    );
    for r in revisions {
        text.push_str(&format!(
            "- revision: {}\n  status: {}\n  chart: {}-{}\n  appVersion: {}\n  updated: {}\n",
            r.revision,
            one_line(&r.status),
            one_line(&r.chart),
            one_line(&r.chart_version),
            one_line(&r.app_version),
            r.updated.map(|u| u.to_rfc3339()).unwrap_or_default()
        ));
    }
    text
}

/// Versions → Pods of the selected workload.
pub(crate) fn open_workload_pods(state: &mut State) {
    let Some(target) = state
        .table()
        .and_then(|t| t.selected_row())
        .map(|r| r.target.clone())
    else {
        return;
    };
    let Some(cluster) = state.cluster_mut() else {
        return;
    };
    let Some(workload) = cluster
        .all_workloads()
        .find(|w| {
            w.kind.name() == target.kind && w.namespace == target.namespace && w.name == target.name
        })
        .cloned()
    else {
        state.say(Level::Info, "not running: no pods to show");
        return;
    };
    let scope = PodScope::of(&workload);
    let label = scope.label.clone();
    cluster.pod_scope = Some(scope);
    cluster.changed = true;
    if let Some(table) = cluster.table_mut(ClusterView::Pods) {
        table.clear_filter();
    }
    show_view(state, View::Cluster(ClusterView::Pods));
    state.say(
        Level::Info,
        format!("pods of {label} (esc: back to Versions)"),
    );
}

/// Asks the trust question again if it is still open and nothing else is
/// on screen (it may have been pushed aside by help or a quit question).
pub(crate) fn ask_trust_again(state: &mut State) {
    if state.popup.is_some() {
        return;
    }
    if let Some(Connection::NeedsTrust { context, command }) =
        state.cluster().map(|c| c.connection.clone())
    {
        state.popup = Some(Popup::Trust { context, command });
    }
}
