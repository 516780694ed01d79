//! A site's profile loaded (or read again) and its probe rounds: what
//! `update` does when a profile comes in, when a round starts and when a
//! probe answers.

use std::sync::Arc;

use crate::app::action::SiteLoad;
use crate::app::cluster::update as cluster_update;
use crate::app::cluster::{ClusterState, ClusterView, Connection, FeedStatus};
use crate::app::effect::Effect;
use crate::app::state::{Level, SiteEntry, SiteState, State, View};
use crate::cluster::connect::ClusterTarget;
use crate::probe::{self, ProbeReport};
use crate::text::one_line;

use super::update::show_view;

pub(super) fn on_site_loaded(state: &mut State, load: SiteLoad) -> Vec<Effect> {
    if load.load != state.last_load {
        return Vec::new();
    }
    let reload = state
        .site
        .as_ref()
        .is_some_and(|s| s.loaded.profile.source_file == load.path);
    match load.result {
        Ok(loaded) => {
            upsert_site_entry(state, &load.path, Some(&loaded), None);
            match loaded.warnings.as_slice() {
                [] if reload => state.say(Level::Info, "profile read again; probing"),
                [] => state.say(
                    Level::Info,
                    format!("opened {}", one_line(&loaded.profile.name)),
                ),
                [only] => state.say(Level::Warn, only.clone()),
                [first, rest @ ..] => state.say(
                    Level::Warn,
                    format!("{first} (and {} more: W lists them)", rest.len()),
                ),
            }
            let sources = probe::plan(&loaded.profile, state.options.context.as_deref());
            let count = sources.len();
            // On a reload with the same sources, keep the last results on
            // screen until the new ones come.
            let reports = match &state.site {
                Some(old) if reload && old.sources == sources => old.reports.clone(),
                _ => vec![ProbeReport::pending(); count],
            };
            let target = ClusterTarget::of_site(
                &loaded.profile,
                state.options.kubeconfig.as_deref(),
                state.options.context.as_deref(),
            );
            // A reload keeps a healthy session to the same cluster: the
            // watches are live, reconnecting would only blank the views.
            let old_target = state.site.as_ref().and_then(|old| {
                ClusterTarget::of_site(
                    &old.loaded.profile,
                    state.options.kubeconfig.as_deref(),
                    state.options.context.as_deref(),
                )
            });
            let mut kept = state
                .site
                .as_mut()
                .filter(|_| reload && target.is_some() && old_target == target)
                .and_then(|old| old.cluster.take())
                // Only a healthy session: after fixing a kubeconfig whose
                // credentials were refused, ctrl-r must connect again.
                .filter(|c| {
                    matches!(c.connection, Connection::Connected { .. })
                        && c.feeds.values().all(|f| *f == FeedStatus::Live)
                });
            if let Some(cluster) = &mut kept {
                cluster.release = load.release.clone();
                cluster.changed = true;
            }
            let needs_session = target.is_some() && kept.is_none();
            // A reload keeps the Middleware table's filter, sort and selection.
            let middleware = state
                .site
                .as_mut()
                .filter(|_| reload)
                .map(|old| std::mem::replace(&mut old.middleware, super::middleware::table()))
                .unwrap_or_else(super::middleware::table);
            // And the Kafka views theirs, with the snapshots and lag trends.
            let kafka = state
                .site
                .as_mut()
                .filter(|_| reload)
                .map(|old| std::mem::take(&mut old.kafka))
                .unwrap_or_default();
            // And the node views theirs, with the last survey.
            let nodes = state
                .site
                .as_mut()
                .filter(|_| reload)
                .map(|old| std::mem::take(&mut old.nodes))
                .map(|mut nodes| {
                    // "Lists no nodes" may no longer be true.
                    if matches!(nodes.last, Some(Err(_))) {
                        nodes.last = None;
                    }
                    nodes
                })
                .unwrap_or_default();
            // The logs read belong to the site as it was: they stop.
            let logs_open = state.site.as_ref().is_some_and(|old| old.logs.is_some());
            if state.view == View::Logs {
                state.view = state
                    .previous_view
                    .take()
                    .unwrap_or(View::Cluster(ClusterView::Pods));
            }
            let mut site = SiteState {
                loaded,
                reports,
                in_flight: vec![false; count],
                sources,
                round: 0,
                cluster: kept,
                middleware,
                checking_now: None,
                kafka,
                logs: None,
                nodes,
            };
            super::middleware::rebuild(&mut site);
            let clusters: Vec<String> = site
                .sources
                .iter()
                .filter(|s| s.kind == crate::probe::SourceKind::Kafka)
                .map(|s| s.name.clone())
                .collect();
            site.kafka.retain_clusters(&clusters);
            state.site = Some(site);
            let mut effects = Vec::new();
            if logs_open {
                effects.push(Effect::StopLogs);
            }
            if needs_session {
                if let Some(site) = &mut state.site {
                    site.cluster = Some(ClusterState::new(0, load.release.clone()));
                }
                effects = cluster_update::start_cluster(state, None);
            } else if target.is_none() {
                effects.push(Effect::StopCluster);
            }
            state.site_error = None;
            if reload {
                state.overview_selected = state.overview_selected.min(count.saturating_sub(1));
            } else {
                state.overview_selected = 0;
                show_view(state, View::Overview);
            }
            effects.extend(start_round(state));
            effects
        }
        Err(text) if reload => {
            state.say(
                Level::Error,
                format!(
                    "the profile has {} problem(s) now; still showing the last valid one (see Sites)",
                    text.lines().count()
                ),
            );
            upsert_site_entry(state, &load.path, None, Some(text));
            Vec::new()
        }
        Err(text) => {
            let file = load
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned());
            state.say(
                Level::Error,
                format!(
                    "cannot open {}: {} problem(s), see Sites",
                    one_line(&file.unwrap_or_default()),
                    text.lines().count()
                ),
            );
            upsert_site_entry(state, &load.path, None, Some(text.clone()));
            state.site_error = Some(text);
            show_view(state, View::Sites);
            if let Some(row) = state.sites.iter().position(|e| e.path == load.path) {
                state.sites_selected = row;
            }
            Vec::new()
        }
    }
}

/// Records what is known of a profile file in the site list.
fn upsert_site_entry(
    state: &mut State,
    path: &std::path::Path,
    loaded: Option<&crate::config::profile::LoadedProfile>,
    error: Option<String>,
) {
    let name = loaded.map_or_else(
        || crate::config::profile::file_stem_name(path),
        |l| l.profile.name.clone(),
    );
    let environment = loaded.map(|l| l.profile.environment.to_string());
    match state.sites.iter_mut().find(|e| e.path == path) {
        Some(entry) => {
            entry.error = error;
            if let Some(environment) = environment {
                entry.name = name;
                entry.environment = environment;
            }
        }
        None => state.sites.push(SiteEntry {
            name,
            environment: environment.unwrap_or_default(),
            path: path.to_path_buf(),
            error,
        }),
    }
}

pub(super) fn start_round(state: &mut State) -> Vec<Effect> {
    let readonly = state.readonly();
    let cluster = state.site.as_ref().and_then(|site| {
        ClusterTarget::of_site(
            &site.loaded.profile,
            state.options.kubeconfig.as_deref(),
            state.options.context.as_deref(),
        )
    });
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    state.last_round += 1;
    site.round = state.last_round;
    site.in_flight = vec![true; site.sources.len()];
    super::middleware::rebuild(site);
    vec![Effect::Probe {
        round: site.round,
        sources: site.sources.clone(),
        profile: Arc::new(site.loaded.profile.clone()),
        cluster,
        readonly,
    }]
}

pub(super) fn on_probe_finished(state: &mut State, round: u64, index: usize, report: ProbeReport) {
    let Some(site) = &mut state.site else { return };
    if site.round != round || index >= site.reports.len() {
        return;
    }
    let label = report.state.label();
    if site.sources[index].kind == crate::probe::SourceKind::Kafka {
        site.kafka.on_report(&site.sources[index].name, &report);
    }
    site.reports[index] = report;
    site.in_flight[index] = false;
    super::middleware::rebuild(site);
    // `r` said "checking NAME": say how it ended.
    if site.checking_now == Some(index) {
        site.checking_now = None;
        let name = site.sources[index].name.clone();
        state.say(Level::Info, format!("{name}: {label}"));
    }
}
