//! Shared fixtures for tests of `update` and of the views: a state with a
//! site open and every kind of probe outcome, built without I/O.

#![allow(dead_code)]

use std::path::Path;

use chrono::TimeZone;
use sitedeck::app::action::{Action, SiteLoad};
use sitedeck::app::state::{Options, State};
use sitedeck::app::{Effect, update};
use sitedeck::config::keymap::Keymap;
use sitedeck::config::profile;
use sitedeck::config::theme::Theme;
use sitedeck::probe::{ProbeReport, ProbeState};

/// A profile with a cluster, a bastion, three middleware endpoints and Kafka.
pub const PROFILE: &str = r#"
name: acme-prod
environment: prod
readonly: true
description: ACME Corp, contract 2026-17
cluster:
  context: acme-prod-admin
ssh:
  bastion:
    host: 10.20.0.5
    user: ops
release: release.yaml
middleware:
  - name: mysql-main
    kind: mysql
    endpoint: 10.20.1.10:3306
    user: sitedeck
    password: {env: HOME}
  - name: redis-cache
    kind: redis
    endpoint: 10.20.1.11:6379
  - name: gateway
    kind: tcp
    endpoint: 10.20.1.12:443
kafka:
  - name: events
    bootstrap: [10.20.1.20:9092]
"#;

/// A state with no site, the default keymap and the named theme.
pub fn empty_state(theme: &str) -> State {
    let (keymap, warnings) = Keymap::load("default", None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let (theme, warnings) = Theme::load(theme, Path::new("/nonexistent"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let themes = ["dark", "light", "high-contrast", "mono"]
        .map(String::from)
        .to_vec();
    let mut state = State::new(
        keymap,
        theme,
        themes,
        Options {
            kubeconfig: None,
            readonly: false,
            context: None,
            sites_dir: "/home/ops/.config/sitedeck/sites".into(),
        },
    );
    state.clock = "12:34".into();
    state
}

/// Loads [`PROFILE`] into `state` as the runner would, returning the effects.
pub fn open_site(state: &mut State) -> Vec<Effect> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("release.yaml"), "name: x\n").expect("write");
    let path = std::path::PathBuf::from("/sites/acme.yaml");
    let loaded = profile::parse(PROFILE, &path, dir.path()).expect("fixture profile parses");
    let load = request_load(state, &path);
    update(
        state,
        Action::SiteLoaded(Box::new(SiteLoad {
            path,
            load,
            result: Ok(loaded),
            release: None,
        })),
    )
}

/// Asks `update` to open `path` and returns the load number it asked for.
pub fn request_load(state: &mut State, path: &std::path::Path) -> u64 {
    match update(state, Action::OpenSite(path.to_path_buf())).as_slice() {
        [Effect::LoadSite { load, .. }] => *load,
        other => panic!("expected one LoadSite, got {other:?}"),
    }
}

/// A fixed time for reports, so snapshots do not change.
pub fn fixed_time() -> chrono::DateTime<chrono::Local> {
    chrono::Local
        .with_ymd_and_hms(2026, 11, 22, 9, 15, 30)
        .single()
        .expect("a valid local time")
}

/// A state with the site open and one report of each kind.
pub fn state_with_reports(theme: &str) -> State {
    let mut state = empty_state(theme);
    open_site(&mut state);
    let outcomes = [
        (
            ProbeState::Up,
            Some(12.0),
            "Kubernetes v1.30.4 at https://10.20.0.1:6443/",
        ),
        (
            ProbeState::Up,
            Some(3.0),
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
        ),
        (
            ProbeState::AuthFailed,
            None,
            "authentication failed for user sitedeck",
        ),
        (ProbeState::Up, Some(2.0), "Redis 7.0.15, role master"),
        (
            ProbeState::Refused,
            None,
            "connection refused by 10.20.1.12:443",
        ),
        (ProbeState::Timeout, None, "timed out after 5.0 s"),
    ];
    let round = state.last_round;
    for (index, (probe_state, latency_ms, detail)) in outcomes.into_iter().enumerate() {
        update(
            &mut state,
            Action::ProbeFinished {
                round,
                index,
                report: Box::new(ProbeReport {
                    state: probe_state,
                    latency_ms,
                    detail: detail.into(),
                    checked_at: Some(fixed_time()),
                    health: None,
                    path: None,
                    kafka: None,
                }),
            },
        );
    }
    state.status = None;
    state
}

/// The screen `sitedeck::ui::draw` makes of `state` at `width`x`height`:
/// its text, a grid of style letters, and the letters' legend, so a
/// snapshot shows a change of colour or emphasis as well as of layout.
pub fn render_with_styles(state: &State, width: u16, height: u16) -> String {
    use std::collections::BTreeMap;

    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height))
        .expect("test terminal");
    terminal
        .draw(|frame| sitedeck::ui::draw(frame, state))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    let mut styles = String::new();
    let mut legend: BTreeMap<String, char> = BTreeMap::new();
    let letters: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
    for y in 0..height {
        let mut skip = 0;
        for x in 0..width {
            let cell = &buffer[(x, y)];
            // The cell after a double-width character belongs to it.
            if skip > 0 {
                skip -= 1;
            } else {
                text.push_str(cell.symbol());
                skip = unicode_width::UnicodeWidthStr::width(cell.symbol()).saturating_sub(1);
            }
            let key = format!("{:?}", cell.style());
            let next = letters[legend.len().min(letters.len() - 1)];
            styles.push(*legend.entry(key).or_insert(next));
        }
        text.push('\n');
        styles.push('\n');
    }
    let mut legend: Vec<(char, String)> = legend.into_iter().map(|(k, v)| (v, k)).collect();
    legend.sort();
    let legend: String = legend
        .into_iter()
        .map(|(letter, style)| format!("{letter}: {style}\n"))
        .collect();
    format!("{text}\n{styles}\n{legend}")
}

/// Just the text of the screen `sitedeck::ui::draw` makes of `state`.
pub fn render_text(state: &State, width: u16, height: u16) -> String {
    let screen = render_with_styles(state, width, height);
    screen
        .lines()
        .take(usize::from(height))
        .collect::<Vec<_>>()
        .join("\n")
}
