//! `update` driven by Actions: no terminal, no network, no runtime.

mod common;

use std::path::Path;

use common::{empty_state, open_site, request_load, state_with_reports};
use sitedeck::app::action::{Action, SiteLoad};
use sitedeck::app::cluster::ClusterView;
use sitedeck::app::state::{Level, Popup, View};
use sitedeck::app::{Effect, update};
use sitedeck::config::keymap::KeyChord;
use sitedeck::probe::{ProbeReport, ProbeState};

fn key(state: &mut sitedeck::app::State, text: &str) -> Vec<Effect> {
    update(
        state,
        Action::Key(KeyChord::parse(text).expect("a valid key")),
    )
}

fn type_text(state: &mut sitedeck::app::State, text: &str) {
    for c in text.chars() {
        update(state, Action::Key(KeyChord::char(c)));
    }
}

#[test]
fn opening_a_site_shows_overview_and_probes_every_source() {
    let mut state = empty_state("dark");
    assert_eq!(state.view, View::Sites);
    let effects = open_site(&mut state);
    assert_eq!(state.view, View::Overview);
    let [
        Effect::StartCluster { generation, .. },
        Effect::Probe { round, sources, .. },
    ] = effects.as_slice()
    else {
        panic!("expected a cluster session and one probe effect, got {effects:?}");
    };
    assert_eq!(*generation, state.last_cluster);
    assert_eq!(*round, state.last_round);
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cluster",
            "bastion",
            "mysql-main",
            "redis-cache",
            "gateway",
            "events"
        ]
    );
    assert_eq!(state.jobs_running(), 6);
    assert!(state.readonly(), "the profile says readonly: true");
}

#[test]
fn results_of_an_older_round_are_ignored() {
    let mut state = state_with_reports("dark");
    let old_round = state.last_round;
    reload_with(&mut state, Ok(()));
    assert_eq!(state.last_round, old_round + 1);
    update(
        &mut state,
        Action::ProbeFinished {
            round: old_round,
            index: 0,
            report: Box::new(ProbeReport {
                state: ProbeState::Up,
                latency_ms: Some(1.0),
                detail: "stale".into(),
                checked_at: None,
                health: None,
                path: None,
                kafka: None,
            }),
        },
    );
    let site = state.site.as_ref().expect("site open");
    assert_eq!(
        site.reports[0].detail,
        "Kubernetes v1.30.4 at https://10.20.0.1:6443/"
    );
    assert_eq!(state.jobs_running(), 6);
}

/// Presses ctrl-r on an open site and answers the reload it asks for.
fn reload_with(state: &mut sitedeck::app::State, outcome: Result<(), &str>) -> Vec<Effect> {
    let effects = key(state, "ctrl-r");
    let [Effect::LoadSite { path, load }] = effects.as_slice() else {
        panic!("ctrl-r reads the profile again first, got {effects:?}");
    };
    let result = match outcome {
        Ok(()) => Ok(state.site.as_ref().expect("open").loaded.clone()),
        Err(text) => Err(text.to_owned()),
    };
    update(
        state,
        Action::SiteLoaded(Box::new(SiteLoad {
            path: path.clone(),
            load: *load,
            result,
            release: None,
        })),
    )
}

#[test]
fn refresh_reads_the_profile_again_and_keeps_the_last_results_on_screen() {
    let mut state = state_with_reports("dark");
    key(&mut state, "down");
    let effects = reload_with(&mut state, Ok(()));
    assert!(
        // The session never connected (no cluster here): it starts again.
        matches!(
            effects.as_slice(),
            [Effect::StartCluster { .. }, Effect::Probe { .. }]
        ),
        "{effects:?}"
    );
    assert_eq!(state.view, View::Overview);
    assert_eq!(state.overview_selected, 1, "the selection stays");
    let site = state.site.as_ref().expect("open");
    assert_eq!(
        site.reports[2].state,
        ProbeState::AuthFailed,
        "old results stay until new ones come"
    );
}

#[test]
fn a_profile_broken_on_disk_keeps_the_last_valid_one_open() {
    let mut state = state_with_reports("dark");
    let effects = reload_with(&mut state, Err("/sites/acme.yaml:3:1: unknown key `nmae`"));
    assert!(effects.is_empty());
    assert!(state.site.is_some(), "the site stays open");
    assert_eq!(state.view, View::Overview);
    let status = state.status.as_ref().expect("a message");
    assert_eq!(status.level, Level::Error);
    assert!(
        status.text.contains("still showing the last valid one"),
        "{}",
        status.text
    );
    assert!(state.sites.iter().any(|e| e.error.is_some()));
}

#[test]
fn refresh_while_probing_does_not_stack_rounds() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    assert!(key(&mut state, "ctrl-r").is_empty());
    assert_eq!(
        state.status.as_ref().map(|s| s.text.as_str()),
        Some("probing already: results in a moment")
    );
}

#[test]
fn an_answer_to_an_older_load_is_dropped() {
    let mut state = empty_state("dark");
    let first = request_load(&mut state, Path::new("/sites/slow.yaml"));
    open_site(&mut state);
    let effects = update(
        &mut state,
        Action::SiteLoaded(Box::new(SiteLoad {
            path: "/sites/slow.yaml".into(),
            load: first,
            result: Err("/sites/slow.yaml: cannot read".into()),
            release: None,
        })),
    );
    assert!(effects.is_empty());
    assert_eq!(state.view, View::Overview, "the newer site stays on screen");
    assert!(
        !state
            .sites
            .iter()
            .any(|e| e.path == Path::new("/sites/slow.yaml"))
    );
}

#[test]
fn the_site_list_starts_on_the_open_site() {
    let mut state = state_with_reports("dark");
    state.sites.insert(
        0,
        sitedeck::app::state::SiteEntry {
            name: "other-prod".into(),
            environment: "prod".into(),
            path: "/sites/other.yaml".into(),
            error: None,
        },
    );
    key(&mut state, "g");
    key(&mut state, "s");
    assert_eq!(
        state.sites[state.sites_selected].path,
        Path::new("/sites/acme.yaml")
    );
}

#[test]
fn quit_asks_while_jobs_run_and_cancel_is_the_default() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    key(&mut state, "q");
    assert!(matches!(state.popup, Some(Popup::ConfirmQuit)));
    key(&mut state, "enter");
    assert!(
        state.popup.is_none() && !state.should_quit,
        "enter means no"
    );
    key(&mut state, "q");
    key(&mut state, "y");
    assert!(state.should_quit);
}

#[test]
fn quit_without_jobs_leaves_at_once() {
    let mut state = state_with_reports("dark");
    assert_eq!(state.jobs_running(), 0);
    key(&mut state, "q");
    assert!(state.should_quit);
}

#[test]
fn multi_key_sequences_are_pending_until_complete() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    key(&mut state, "g");
    assert!(
        state
            .which_key
            .iter()
            .any(|(k, d)| k == "s" && d.contains("site list"))
    );
    key(&mut state, "s");
    assert_eq!(state.view, View::Sites);
    assert!(state.which_key.is_empty() && state.pending_keys.is_empty());
    key(&mut state, "g");
    key(&mut state, "x");
    let status = state.status.as_ref().expect("a message");
    assert_eq!(
        (status.level, status.text.as_str()),
        (Level::Warn, "g x is not bound")
    );
    key(&mut state, "g");
    key(&mut state, "esc");
    assert!(state.pending_keys.is_empty() && state.which_key.is_empty());
    assert_eq!(state.view, View::Sites, "esc only cancelled the sequence");
}

#[test]
fn palette_types_filters_and_runs_the_selected_command() {
    let mut state = state_with_reports("dark");
    key(&mut state, ":");
    assert!(matches!(state.popup, Some(Popup::Palette(_))));
    type_text(&mut state, "q");
    assert!(!state.should_quit, "typing q in the palette does not quit");
    key(&mut state, "backspace");
    type_text(&mut state, "thmono");
    let effects = key(&mut state, "enter");
    assert_eq!(effects, vec![Effect::LoadTheme("mono".into())]);
    assert!(state.popup.is_none());
}

#[test]
fn palette_without_a_match_says_so() {
    let mut state = state_with_reports("dark");
    key(&mut state, ":");
    type_text(&mut state, "zzzz");
    assert!(key(&mut state, "enter").is_empty());
    assert_eq!(
        state.status.as_ref().map(|s| s.text.as_str()),
        Some("no command matches `zzzz`")
    );
    let Some(Popup::Palette(palette)) = &state.popup else {
        panic!("the palette stays open to correct the typing");
    };
    assert_eq!(palette.query(), "zzzz");
}

#[test]
fn enter_in_an_empty_palette_runs_nothing() {
    let mut state = state_with_reports("dark");
    key(&mut state, ":");
    assert!(key(&mut state, "enter").is_empty());
    assert!(matches!(state.popup, Some(Popup::Palette(_))));
}

#[test]
fn q_twice_quits_while_jobs_run() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    key(&mut state, "q");
    key(&mut state, "q");
    assert!(state.should_quit);
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut state = empty_state("dark");
    key(&mut state, "?");
    key(&mut state, "j");
    key(&mut state, "j");
    assert!(matches!(state.popup, Some(Popup::Help { scroll: 2 })));
    key(&mut state, "q");
    assert!(
        state.popup.is_none() && !state.should_quit,
        "q closes help first"
    );
}

#[test]
fn tab_cycles_views_and_esc_goes_back() {
    let mut state = state_with_reports("dark");
    assert_eq!(state.view, View::Overview);
    key(&mut state, "tab");
    assert_eq!(state.view, View::Middleware);
    key(&mut state, "tab");
    assert_eq!(state.view, View::Kafka);
    key(&mut state, "tab");
    assert_eq!(state.view, View::KafkaGroups);
    key(&mut state, "tab");
    assert_eq!(state.view, View::Cluster(ClusterView::Versions));
    for _ in 0..4 {
        key(&mut state, "shift-tab");
    }
    assert_eq!(state.view, View::Overview);
    key(&mut state, "shift-tab");
    assert_eq!(state.view, View::Sites);
    key(&mut state, "tab");
    assert_eq!(state.view, View::Overview);
    key(&mut state, "g");
    key(&mut state, "s");
    key(&mut state, "esc");
    assert_eq!(state.view, View::Overview);
}

#[test]
fn selection_is_clamped_to_the_rows() {
    let mut state = state_with_reports("dark");
    key(&mut state, "end");
    assert_eq!(state.overview_selected, 5);
    key(&mut state, "down");
    assert_eq!(state.overview_selected, 5);
    key(&mut state, "pgup");
    assert_eq!(state.overview_selected, 0);
}

#[test]
fn cycle_theme_asks_for_the_next_one() {
    let mut state = empty_state("dark");
    assert_eq!(
        key(&mut state, "T"),
        vec![Effect::LoadTheme("light".into())]
    );
}

#[test]
fn a_broken_profile_is_shown_in_the_site_list() {
    let mut state = empty_state("dark");
    let load = request_load(&mut state, Path::new("/sites/bad.yaml"));
    let effects = update(
        &mut state,
        Action::SiteLoaded(Box::new(SiteLoad {
            path: "/sites/bad.yaml".into(),
            load,
            result: Err("/sites/bad.yaml:2:1: unknown key `enviroment`".into()),
            release: None,
        })),
    );
    assert!(effects.is_empty());
    assert_eq!(state.view, View::Sites);
    assert!(state.site.is_none());
    assert_eq!(state.sites.len(), 1);
    assert!(
        state.sites[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("2:1"))
    );
    assert_eq!(state.status.as_ref().map(|s| s.level), Some(Level::Error));
}

#[test]
fn refresh_ticks_are_ignored_while_a_round_runs() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    assert!(update(&mut state, Action::RefreshTick).is_empty());
    let mut state = state_with_reports("dark");
    let round = state.last_round;
    let effects = update(&mut state, Action::RefreshTick);
    let [
        Effect::Probe {
            round: next,
            sources,
            ..
        },
    ] = effects.as_slice()
    else {
        panic!("a tick with no round running starts one: {effects:?}");
    };
    assert_eq!((*next, sources.len()), (round + 1, 6));
    assert_eq!(state.jobs_running(), 6);
}

#[test]
fn terminate_quits_even_with_jobs() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    update(&mut state, Action::Terminate);
    assert!(state.should_quit);
}
