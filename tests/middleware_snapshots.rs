//! Snapshots of the Middleware view: a degraded replica with its findings
//! and hints, a healthy Redis, a refused endpoint; in the dark and mono
//! themes, at 80x24 and 160x48, with styles (degraded must stand out).

mod common;

use sitedeck::app::action::Action;
use sitedeck::app::state::{State, View};
use sitedeck::app::update;
use sitedeck::config::keymap::KeyChord;
use sitedeck::middleware::{Health, Severity};
use sitedeck::probe::{ProbeReport, ProbeState};

const THEMES: [&str; 2] = ["dark", "mono"];
const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn replica_health() -> Health {
    let mut health = Health {
        version: Some("MariaDB 10.11.19".into()),
        role: Some("replica".into()),
        ..Health::default()
    };
    health.figure("read_only", "ON");
    health.figure("source", "10.20.1.9:3306");
    health.key_figure("io", "Yes");
    health.key_figure("sql", "No");
    health.key_figure("behind", "-");
    health.figure("gtid", "0-1-4711");
    health.key_figure("connections", "12/151");
    health.finding(
        Severity::Critical,
        "replication SQL thread is No",
        "the SQL thread was stopped by hand: START REPLICA SQL_THREAD (MariaDB: START SLAVE SQL_THREAD)",
    );
    health
}

fn redis_health() -> Health {
    let mut health = Health {
        version: Some("Redis 7.0.15".into()),
        role: Some("primary".into()),
        ..Health::default()
    };
    health.key_figure("replicas", "1/1");
    health.key_figure("offset lag", "0 B");
    health.key_figure("memory", "1.2 MiB");
    health.key_figure("clients", "3");
    health
}

fn report(state: ProbeState, detail: &str, health: Option<Health>) -> ProbeReport {
    ProbeReport {
        state,
        latency_ms: health.as_ref().map(|_| 14.0),
        detail: detail.into(),
        checked_at: Some(common::fixed_time()),
        path: Some("direct".into()),
        kafka: None,
        health,
    }
}

/// The fixture site with its three middleware endpoints checked, in Middleware.
fn middleware_state(theme: &str) -> State {
    let mut state = common::state_with_reports(theme);
    let round = state.last_round;
    let reports = [
        (
            2,
            report(
                ProbeState::Degraded,
                "MariaDB 10.11.19, role replica, replication SQL thread is No",
                Some(replica_health()),
            ),
        ),
        (
            3,
            report(
                ProbeState::Up,
                "Redis 7.0.15, role primary",
                Some(redis_health()),
            ),
        ),
        (
            4,
            report(
                ProbeState::Refused,
                "connection refused by 10.20.1.12:443",
                None,
            ),
        ),
    ];
    for (index, report) in reports {
        update(
            &mut state,
            Action::ProbeFinished {
                round,
                index,
                report: Box::new(report),
            },
        );
    }
    update(&mut state, Action::OpenMiddleware);
    state.now = Some(common::fixed_time().with_timezone(&chrono::Utc));
    state
}

fn key(state: &mut State, key: &str) {
    let chord = KeyChord::parse(key).expect("a valid key");
    update(state, Action::Key(chord));
}

#[test]
fn middleware_view() {
    for theme in THEMES {
        for (width, height) in SIZES {
            let state = middleware_state(theme);
            assert_eq!(state.view, View::Middleware);
            insta::assert_snapshot!(
                format!("middleware_{theme}_{width}x{height}"),
                common::render_with_styles(&state, width, height)
            );
        }
    }
}

#[test]
fn middleware_view_selects_the_refused_endpoint() {
    let mut state = middleware_state("dark");
    // Down endpoints sort first.
    key(&mut state, "home");
    insta::assert_snapshot!(
        "middleware_refused_dark_80x24",
        common::render_with_styles(&state, 80, 24)
    );
}

#[test]
fn degraded_rows_sort_first_and_stand_out() {
    use sitedeck::app::table::Tone;
    let state = middleware_state("mono");
    let table = &state.site.as_ref().expect("site").middleware;
    let order: Vec<(&str, Tone)> = table
        .visible
        .iter()
        .map(|&i| (table.rows[i].target.name.as_str(), table.rows[i].tone))
        .collect();
    assert_eq!(
        order,
        [
            ("gateway", Tone::Crit),
            ("mysql-main", Tone::Warn),
            ("redis-cache", Tone::Normal)
        ]
    );
    // The selection stayed on the row it was on when the results came.
    let selected = table.selected_row().expect("a row");
    assert_eq!(selected.target.name, "mysql-main");
}
