//! `update`: the one place the state changes. Synchronous, no I/O.

use crossterm::event::KeyCode;

use crate::app::action::Action;
use crate::app::cluster::update as cluster_update;
use crate::app::cluster::{ClusterView, Connection, FeedStatus};
use crate::app::effect::Effect;
use crate::app::palette::{Palette, PaletteEntry};
use crate::app::state::{Level, Popup, State, View};
use crate::config::keymap::{Focus, KeyChord, Lookup};
use crate::text::one_line;

use super::site_load::{on_probe_finished, on_site_loaded, start_round};

/// Frames of the job spinner.
pub const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

/// Applies one action to the state and returns the effects it asks for.
pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    let effects = apply(state, action);
    cluster_update::ask_trust_again(state);
    effects
}

fn apply(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(chord) => on_key(state, chord),
        Action::Paste(text) => {
            if let Some(Popup::Palette(palette)) = &mut state.popup {
                palette.paste(&text);
            } else if let Some(Popup::NodeCommand(command)) = &mut state.popup {
                super::node_command::paste(command, &text);
            } else if state.filtering && state.view == View::Logs {
                super::logs::type_filter(state, None, text.lines().next().unwrap_or_default());
            } else if state.filtering
                && let Some(table) = state.table_mut()
            {
                table
                    .filter_input
                    .insert_str(text.lines().next().unwrap_or_default());
                table.apply_filter();
            }
            Vec::new()
        }
        Action::Resize => Vec::new(),
        Action::Terminate => {
            state.should_quit = true;
            Vec::new()
        }
        Action::ClockTick(clock) => {
            state.clock = clock;
            Vec::new()
        }
        Action::SpinnerTick => {
            state.spinner = (state.spinner + 1) % SPINNER.len();
            Vec::new()
        }
        Action::SiteLoaded(load) => on_site_loaded(state, *load),
        Action::ThemeLoaded(loaded) => {
            let (theme, warnings) = *loaded;
            let name = theme.name.clone();
            state.theme = theme;
            match warnings.first() {
                Some(first) => state.say(Level::Warn, first.clone()),
                None => state.say(Level::Info, format!("theme {name}")),
            }
            Vec::new()
        }
        Action::ProbeFinished {
            round,
            index,
            report,
        } => {
            on_probe_finished(state, round, index, *report);
            Vec::new()
        }
        Action::RefreshTick => match &state.site {
            Some(site) if site.probes_running() == 0 => start_round(state),
            _ => Vec::new(),
        },
        Action::SetTheme(name) => vec![Effect::LoadTheme(name)],
        Action::Cluster { generation, event } => {
            cluster_update::on_cluster_event(state, generation, *event);
            Vec::new()
        }
        Action::Described { target, text } => {
            if let Some(Popup::Describe {
                title, text: shown, ..
            }) = &mut state.popup
                && *title == cluster_update::describe_title(&target)
            {
                let findings = state
                    .site
                    .as_ref()
                    .and_then(|s| s.cluster.as_ref())
                    .map(|c| cluster_update::finding_lines(c, &target))
                    .unwrap_or_default();
                // Line by line: the YAML's own line breaks stay, escapes go.
                *shown = Some(text.map(|t| {
                    format!("{findings}{t}")
                        .lines()
                        .map(crate::text::sanitize)
                        .collect::<Vec<_>>()
                        .join("\n")
                }));
            }
            Vec::new()
        }
        Action::OpenSite(path) => {
            state.say(
                Level::Info,
                format!(
                    "opening {}",
                    crate::text::one_line(&path.display().to_string())
                ),
            );
            load_site(state, path)
        }
        bindable => on_bindable(state, bindable),
    }
}

fn on_key(state: &mut State, chord: KeyChord) -> Vec<Effect> {
    let focus = state.focus();
    if !state.pending_keys.is_empty() && chord.code == KeyCode::Esc {
        state.pending_keys.clear();
        state.which_key.clear();
        return Vec::new();
    }
    let mut sequence = std::mem::take(&mut state.pending_keys);
    sequence.push(chord);
    state.which_key.clear();
    match state.keymap.lookup(focus, &sequence) {
        Lookup::Action(action) => update(state, action),
        Lookup::Pending(next) => {
            state.pending_keys = sequence;
            state.which_key = next;
            Vec::new()
        }
        Lookup::Unbound if sequence.len() > 1 => {
            let keys: Vec<String> = sequence.iter().map(KeyChord::to_string).collect();
            state.say(Level::Warn, format!("{} is not bound", keys.join(" ")));
            Vec::new()
        }
        Lookup::Unbound => {
            if let Some(Popup::Palette(palette)) = &mut state.popup {
                palette.type_key(chord);
            } else if let Some(Popup::NodeCommand(command)) = &mut state.popup {
                super::node_command::type_key(command, chord);
            } else if focus == Focus::Filter && state.view == View::Logs {
                let key = crossterm::event::KeyEvent::new(chord.code, chord.modifiers);
                super::logs::type_filter(state, Some(key), "");
            } else if focus == Focus::Filter
                && let Some(table) = state.table_mut()
            {
                table
                    .filter_input
                    .input(crossterm::event::KeyEvent::new(chord.code, chord.modifiers));
                table.apply_filter();
            }
            Vec::new()
        }
    }
}

fn on_bindable(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            if matches!(state.popup, Some(Popup::ConfirmQuit)) {
                state.should_quit = true;
            } else if state.jobs_running() > 0 {
                state.popup = Some(Popup::ConfirmQuit);
            } else {
                state.should_quit = true;
            }
        }
        Action::Help => state.popup = Some(Popup::Help { scroll: 0 }),
        Action::Warnings => {
            if state.warnings().is_empty() {
                state.say(Level::Info, "no warnings");
            } else {
                state.popup = Some(Popup::Warnings { scroll: 0 });
            }
        }
        Action::CommandPalette => {
            state.popup = Some(Popup::Palette(Box::new(Palette::new(palette_entries(
                state,
            )))));
        }
        Action::Back => {
            if state.popup.take().is_some() {
                return Vec::new();
            }
            if state.filtering {
                state.filtering = false;
                if state.view == View::Logs {
                    super::logs::clear_filter(state);
                }
                if let Some(table) = state.table_mut() {
                    table.clear_filter();
                }
                return Vec::new();
            }
            if state.view == View::Logs {
                return super::logs::close(state);
            }
            if state.view == View::Cluster(ClusterView::Pods)
                && let Some(cluster) = state.cluster_mut()
                && cluster.pod_scope.take().is_some()
            {
                cluster.changed = true;
            }
            if let Some(previous) = state.previous_view.take() {
                state.view = previous;
            }
        }
        Action::OpenMiddleware => show_view(state, View::Middleware),
        Action::OpenKafka => show_view(state, View::Kafka),
        Action::OpenKafkaGroups => show_view(state, View::KafkaGroups),
        Action::OpenHosts | Action::OpenTime => {
            show_view(
                state,
                if action == Action::OpenHosts {
                    View::Hosts
                } else {
                    View::Time
                },
            );
            let read = state.site.as_ref().is_some_and(|s| s.nodes.last.is_some());
            if !read {
                return super::nodes::survey(state);
            }
        }
        Action::NodesSurveyed(snapshot) => super::nodes::surveyed(state, snapshot),
        Action::AcceptHostKey => super::nodes::ask_accept(state),
        Action::NodeJournal => return super::journal::open(state),
        Action::JournalUnit(unit) => return super::journal::with_unit(state, unit),
        Action::HostKeyAccepted(result) => return super::nodes::accepted(state, result),
        Action::RunCommand => super::node_command::open(state, false),
        Action::RunCommandAll => super::node_command::open(state, true),
        Action::NodeCommandRan { run, outputs } => super::node_command::ran(state, run, outputs),
        Action::NodeRead { site, node } => super::nodes::node_read(state, &site, *node),
        Action::PrevPartition => super::kafka::move_partition(state, -1),
        Action::NextPartition => super::kafka::move_partition(state, 1),
        Action::Peek => return super::kafka::peek(state, None),
        Action::PeekSince(minutes) => {
            let since = state.now.unwrap_or_else(chrono::Utc::now)
                - chrono::Duration::minutes(i64::from(minutes));
            return super::kafka::peek(state, Some(since.timestamp_millis()));
        }
        Action::PeekAt(millis) => return super::kafka::peek(state, Some(millis)),
        Action::OpenLogs => return super::logs::open(state),
        Action::TracePivot => return super::logs::pivot(state),
        Action::ToggleFollow => super::logs::toggle_follow(state),
        Action::CycleLevel => super::logs::cycle_level(state),
        Action::ToggleWrap => super::logs::toggle_wrap(state),
        Action::TogglePrevious => return super::logs::toggle_previous(state),
        Action::SaveLogs => return super::logs::save(state),
        Action::CopyLine => return super::logs::copy(state),
        Action::LogsSaved(result) => super::logs::on_saved(state, result),
        Action::LogLines { generation, lines } => super::logs::on_lines(state, generation, lines),
        Action::LogsEnded { generation, error } => super::logs::on_ended(state, generation, error),
        Action::LogsProgress {
            generation,
            progress,
        } => super::logs::on_progress(state, generation, progress),
        Action::KafkaPeeked { title, result } => super::kafka::on_peeked(state, &title, result),
        Action::CheckNow if matches!(state.view, View::Hosts | View::Time) => {
            return super::nodes::survey(state);
        }
        Action::CheckNow => return super::middleware::check_now(state),
        Action::OpenVersions => show_view(state, View::Cluster(ClusterView::Versions)),
        Action::OpenHelm => show_view(state, View::Cluster(ClusterView::Helm)),
        Action::OpenPods => show_view(state, View::Cluster(ClusterView::Pods)),
        Action::OpenNodes => show_view(state, View::Cluster(ClusterView::Nodes)),
        Action::OpenEvents => show_view(state, View::Cluster(ClusterView::Events)),
        Action::Filter => {
            if state.view == View::Logs {
                super::logs::start_filter(state);
            } else if state.table().is_some() {
                state.filtering = true;
            } else {
                state.say(Level::Info, "nothing to filter here");
            }
        }
        Action::SortNext | Action::SortReverse => {
            if let Some(table) = state.table_mut() {
                if action == Action::SortNext {
                    table.sort_next();
                } else {
                    table.sort_reverse();
                }
                let column = table.sort_column.and_then(|c| table.columns.get(c));
                let order = if table.descending {
                    "descending"
                } else {
                    "ascending"
                };
                let text = match column {
                    Some(column) => format!("sorted by {column}, {order}"),
                    None => format!("problems first, {order}"),
                };
                state.say(Level::Info, text);
            }
        }
        Action::Describe => return cluster_update::describe(state),
        Action::NextView | Action::PrevView => {
            let views = View::ALL;
            let here = views.iter().position(|v| *v == state.view).unwrap_or(0);
            let step = if action == Action::NextView {
                1
            } else {
                views.len() - 1
            };
            show_view(state, views[(here + step) % views.len()]);
        }
        Action::OpenOverview => show_view(state, View::Overview),
        Action::OpenSites => show_view(state, View::Sites),
        Action::Refresh => match &state.site {
            // Never stack rounds: a second login per source helps nobody.
            Some(site) if site.probes_running() > 0 => {
                // The probes need no second round, but a cluster session
                // that is not connected (a `no` to the trust question, bad
                // credentials) is started again now.
                let stuck = site.cluster.as_ref().is_some_and(|c| match c.connection {
                    Connection::Failed(_) | Connection::NeedsTrust { .. } => true,
                    Connection::Connected { .. } => c
                        .feeds
                        .values()
                        .any(|f| matches!(f, FeedStatus::Down { .. } | FeedStatus::Forbidden(_))),
                    Connection::Connecting => false,
                });
                if stuck {
                    state.say(Level::Info, "connecting to the cluster again");
                    return cluster_update::start_cluster(state, None);
                }
                state.say(Level::Info, "probing already: results in a moment");
            }
            // Read the profile again first, so an edited profile takes effect.
            Some(site) => {
                let path = site.loaded.profile.source_file.clone();
                return load_site(state, path);
            }
            None => state.say(Level::Warn, "no site open: nothing to probe"),
        },
        Action::Up => move_by(state, -1),
        Action::Down => move_by(state, 1),
        Action::PageUp => move_by(state, -10),
        Action::PageDown => move_by(state, 10),
        Action::Top => move_by(state, isize::MIN / 2),
        Action::Bottom => move_by(state, isize::MAX / 2),
        Action::Select => return select(state),
        Action::CycleTheme => {
            let here = state.themes.iter().position(|t| *t == state.theme.name);
            let next = here.map_or(0, |i| (i + 1) % state.themes.len().max(1));
            if let Some(name) = state.themes.get(next) {
                return vec![Effect::LoadTheme(name.clone())];
            }
        }
        Action::Complete => {
            if let Some(Popup::Palette(palette)) = &mut state.popup {
                palette.complete();
            }
        }
        Action::Confirm => match state.popup.take() {
            Some(Popup::ConfirmQuit) => state.should_quit = true,
            Some(Popup::AcceptKey(key)) => return super::nodes::accept_confirmed(state, key),
            Some(Popup::Trust { command, .. }) => {
                let mut effects = cluster_update::start_cluster(state, Some(command));
                // Probe again too, so Overview's cluster row stops saying
                // "not trusted" at once (the runner remembers the trust first).
                if state.site.as_ref().is_some_and(|s| s.probes_running() == 0) {
                    effects.extend(start_round(state));
                }
                return effects;
            }
            _ => {}
        },
        Action::Cancel => {
            if let Some(Popup::Trust { command, .. }) = state.popup.take()
                && let Some(cluster) = state.cluster_mut()
            {
                cluster.connection = Connection::Failed(format!(
                    "not connected: `{command}` was not trusted (ctrl-r asks again)"
                ));
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Shows `view`, remembering the one before for `back`.
pub(crate) fn show_view(state: &mut State, view: View) {
    if state.view != view {
        state.previous_view = Some(state.view);
        state.view = view;
        // A table rebuilt lazily (it was not on screen) is brought up to date.
        state.settle();
    }
    if view == View::Sites {
        // Start on the open site, so enter does not open another by surprise.
        let open = state.site.as_ref().map(|s| &s.loaded.profile.source_file);
        if let Some(row) = state.sites.iter().position(|e| Some(&e.path) == open) {
            state.sites_selected = row;
        }
    }
}

fn load_site(state: &mut State, path: std::path::PathBuf) -> Vec<Effect> {
    state.last_load += 1;
    vec![Effect::LoadSite {
        path,
        load: state.last_load,
    }]
}

fn move_by(state: &mut State, delta: isize) {
    let clamp = |current: usize, len: usize| -> usize {
        (current as isize)
            .saturating_add(delta)
            .clamp(0, len.saturating_sub(1) as isize) as usize
    };
    match &mut state.popup {
        Some(
            Popup::Help { scroll } | Popup::Warnings { scroll } | Popup::Describe { scroll, .. },
        ) => {
            *scroll = (i64::from(*scroll) + delta as i64).clamp(0, 5000) as u16;
        }
        Some(Popup::Palette(palette)) => palette.move_selection(delta.signum()),
        Some(Popup::NodeCommand(command)) => super::node_command::scroll(command, delta),
        Some(Popup::ConfirmQuit | Popup::Trust { .. } | Popup::AcceptKey(_)) => {}
        None => match state.view {
            View::Cluster(_)
            | View::Middleware
            | View::Kafka
            | View::KafkaGroups
            | View::Hosts
            | View::Time => {
                if let Some(table) = state.table_mut() {
                    table.move_by(delta);
                }
            }
            View::Sites => state.sites_selected = clamp(state.sites_selected, state.sites.len()),
            View::Logs => super::logs::move_by(state, delta),
            View::Overview => {
                let len = state.site.as_ref().map_or(0, |s| s.sources.len());
                state.overview_selected = clamp(state.overview_selected, len);
            }
        },
    }
}

fn select(state: &mut State) -> Vec<Effect> {
    match &state.popup {
        Some(Popup::Palette(palette)) => {
            let query = palette.query();
            if query.trim().is_empty() {
                return Vec::new();
            }
            // `peek from TIME` in Kafka topics: any time, not only the
            // offered ones.
            let typed_peek = super::kafka::typed_peek(state, &query);
            // `journal UNIT`: any unit, not only the offered ones.
            let typed_journal = super::journal::typed_unit(state, &query);
            let action = match (&typed_journal, &typed_peek) {
                (Some(Ok(action)), _) => Some(action.clone()),
                (_, Some(Ok(millis))) => Some(Action::PeekAt(*millis)),
                _ => palette.selected_entry().map(|e| e.action.clone()),
            };
            match action {
                Some(action) => {
                    state.popup = None;
                    update(state, action)
                }
                None => {
                    // The palette stays open with what was typed, to correct it.
                    let said = match (typed_journal, typed_peek) {
                        (Some(Err(why)), _) | (_, Some(Err(why))) => why,
                        _ => format!("no command matches `{query}`"),
                    };
                    state.say(Level::Warn, said);
                    Vec::new()
                }
            }
        }
        Some(Popup::NodeCommand(_)) => super::node_command::submit(state),
        Some(_) => Vec::new(),
        None if state.filtering => {
            state.filtering = false;
            Vec::new()
        }
        None if state.view == View::Cluster(ClusterView::Versions) => {
            cluster_update::open_workload_pods(state);
            Vec::new()
        }
        None if matches!(state.view, View::Cluster(_)) => cluster_update::describe(state),
        None if state.view == View::Sites => match state.sites.get(state.sites_selected) {
            Some(entry) => update(state, Action::OpenSite(entry.path.clone())),
            None => Vec::new(),
        },
        None => Vec::new(),
    }
}

/// The commands the palette offers now.
pub fn palette_entries(state: &State) -> Vec<PaletteEntry> {
    let mut entries: Vec<PaletteEntry> = [
        ("overview", "Go to Overview", Action::OpenOverview),
        ("sites", "Go to the site list", Action::OpenSites),
        (
            "middleware",
            "Go to Middleware: health, roles, replication",
            Action::OpenMiddleware,
        ),
        (
            "versions",
            "Go to Versions: images and drift",
            Action::OpenVersions,
        ),
        ("kafka", "Go to Kafka topics and peek", Action::OpenKafka),
        (
            "groups",
            "Go to Kafka consumer groups and lag",
            Action::OpenKafkaGroups,
        ),
        ("helm", "Go to Helm releases", Action::OpenHelm),
        ("pods", "Go to Pods", Action::OpenPods),
        ("nodes", "Go to Nodes", Action::OpenNodes),
        ("events", "Go to Events", Action::OpenEvents),
        (
            "hosts",
            "Go to Hosts: the nodes over SSH, facts and findings",
            Action::OpenHosts,
        ),
        (
            "time",
            "Go to Time: node clocks, skew, time daemons, NTP",
            Action::OpenTime,
        ),
        ("refresh", "Probe every source now", Action::Refresh),
        ("help", "Show key bindings", Action::Help),
        (
            "warnings",
            "Show configuration and profile warnings",
            Action::Warnings,
        ),
        ("quit", "Quit sitedeck", Action::Quit),
    ]
    .into_iter()
    .map(|(label, desc, action)| PaletteEntry {
        label: label.into(),
        desc: desc.into(),
        action,
    })
    .collect();
    if state.view == View::Kafka {
        entries.extend(
            super::kafka::PEEK_SINCE
                .iter()
                .map(|&(label, minutes)| PaletteEntry {
                    label: format!("peek from {label} ago"),
                    desc: "Peek at the first messages from then; or type any time: peek from 10:30"
                        .into(),
                    action: Action::PeekSince(minutes),
                }),
        );
    }
    entries.extend(super::journal::palette_entries(state));
    entries.extend(state.themes.iter().map(|name| PaletteEntry {
        label: format!("theme {name}"),
        desc: format!("Use the {name} theme"),
        action: Action::SetTheme(name.clone()),
    }));
    entries.extend(state.sites.iter().map(|site| PaletteEntry {
        label: format!("site {}", one_line(&site.name)),
        desc: match &site.error {
            Some(_) => "(invalid profile: see Sites)".to_owned(),
            None => format!("Open {}", one_line(&site.path.display().to_string())),
        },
        action: Action::OpenSite(site.path.clone()),
    }));
    entries
}
