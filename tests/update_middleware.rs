//! The Middleware view's update logic: `r` checks the selected endpoint
//! now (and only it), results rebuild the table, `d` does not leave the view.

mod common;

use sitedeck::app::action::Action;
use sitedeck::app::effect::Effect;
use sitedeck::app::state::{State, View};
use sitedeck::app::update;
use sitedeck::config::keymap::KeyChord;
use sitedeck::probe::{ProbeReport, ProbeState};

fn key(state: &mut State, key: &str) -> Vec<Effect> {
    let chord = KeyChord::parse(key).expect("a valid key");
    update(state, Action::Key(chord))
}

fn finish_round(state: &mut State) {
    let round = state.last_round;
    let count = state.site.as_ref().expect("site").sources.len();
    for index in 0..count {
        update(
            state,
            Action::ProbeFinished {
                round,
                index,
                report: Box::new(ProbeReport {
                    state: ProbeState::Up,
                    latency_ms: Some(1.0),
                    detail: "fine".into(),
                    checked_at: Some(common::fixed_time()),
                    health: None,
                    path: Some("direct".into()),
                    kafka: None,
                }),
            },
        );
    }
}

#[test]
fn r_checks_the_selected_endpoint_now() {
    let mut state = common::state_with_reports("dark");
    finish_round(&mut state);
    key(&mut state, "g");
    key(&mut state, "m");
    assert_eq!(state.view, View::Middleware);
    key(&mut state, "down");
    let effects = key(&mut state, "r");
    let [
        Effect::ProbeOne {
            source, readonly, ..
        },
    ] = effects.as_slice()
    else {
        panic!("expected one ProbeOne, got {effects:?}");
    };
    assert_eq!(source.name, "redis-cache");
    assert!(*readonly, "the fixture profile is read-only");
    let site = state.site.as_ref().expect("site");
    assert_eq!(site.probes_running(), 1);
    let row = site.middleware.selected_row().expect("a row");
    assert_eq!(row.cells[5].text(), "up…", "a check in flight shows");
    // A second r while it runs asks for nothing more.
    assert!(key(&mut state, "r").is_empty());
    // Its result comes back and the row is rebuilt.
    let index = source.index();
    let round = state.site.as_ref().expect("site").round;
    update(
        &mut state,
        Action::ProbeFinished {
            round,
            index,
            report: Box::new(ProbeReport {
                state: ProbeState::Refused,
                latency_ms: None,
                detail: "connection refused by 10.20.1.11:6379".into(),
                checked_at: Some(common::fixed_time()),
                health: None,
                path: Some("direct".into()),
                kafka: None,
            }),
        },
    );
    let site = state.site.as_ref().expect("site");
    let row = site.middleware.selected_row().expect("a row");
    assert_eq!(row.target.name, "redis-cache", "the selection stays");
    assert_eq!(row.cells[5].text(), "refused");
    assert_eq!(site.probes_running(), 0);
    let status = state.status.as_ref().expect("a message");
    assert_eq!(status.text, "redis-cache: refused");
}

#[test]
fn r_outside_middleware_only_says_where_it_works() {
    let mut state = common::state_with_reports("dark");
    finish_round(&mut state);
    assert!(key(&mut state, "r").is_empty());
    let status = state.status.as_ref().expect("a message");
    assert!(status.text.contains("g m"), "{}", status.text);
}

#[test]
fn filter_and_describe_in_middleware() {
    let mut state = common::state_with_reports("dark");
    finish_round(&mut state);
    update(&mut state, Action::OpenMiddleware);
    key(&mut state, "/");
    for c in ["g", "a", "t"] {
        key(&mut state, c);
    }
    key(&mut state, "enter");
    let table = &state.site.as_ref().expect("site").middleware;
    assert_eq!(table.visible.len(), 1);
    assert_eq!(table.selected_row().expect("row").target.name, "gateway");
    assert!(key(&mut state, "d").is_empty());
    assert!(state.popup.is_none());
    assert_eq!(state.view, View::Middleware);
}
