//! A node's journal in the Logs view, without a terminal: J in Hosts asks
//! for the selected node's kubelet journal, its lines show (80x24
//! snapshot) sanitised, `journal UNIT` in the palette changes the unit,
//! t and P say they are not for journals, Esc stops reading.

mod common;

use std::sync::Arc;

use sitedeck::app::action::Action;
use sitedeck::app::effect::Effect;
use sitedeck::app::nodes::NodesSnapshot;
use sitedeck::app::state::{State, View};
use sitedeck::app::update;
use sitedeck::config::keymap::KeyChord;
use sitedeck::config::profile::TimeSettings;
use sitedeck::logs::journal::JournalRequest;
use sitedeck::logs::stream::LogSource;
use sitedeck::nodes::survey::{NodeReport, Survey};

fn key(state: &mut State, key: &str) -> Vec<Effect> {
    let chord = if key.chars().count() == 1 {
        KeyChord::char(key.chars().next().expect("a char"))
    } else {
        KeyChord::parse(key).expect("a key")
    };
    update(state, Action::Key(chord))
}

fn typed(state: &mut State, text: &str) {
    for c in text.chars() {
        update(state, Action::Key(KeyChord::char(c)));
    }
}

/// Hosts open on two nodes read.
fn hosts() -> State {
    let mut state = common::state_with_reports("dark");
    update(&mut state, Action::OpenHosts);
    let survey = Survey {
        nodes: vec![
            NodeReport::failed("acme-worker-1", "ops@10.20.0.21", ""),
            NodeReport::failed("acme-worker-2", "ops@10.20.0.22", ""),
        ],
        max_skew_ms: None,
    };
    let time = sitedeck::nodes::time::assess(&survey, Vec::new(), &TimeSettings::default());
    let snapshot = NodesSnapshot {
        survey,
        time,
        at: common::fixed_time(),
        site: "/sites/acme.yaml".into(),
        partial: false,
    };
    update(&mut state, Action::NodesSurveyed(Arc::new(snapshot)));
    state.now = Some(common::fixed_time().to_utc());
    state
}

/// The one journal request among `effects`.
fn journal_request(effects: &[Effect]) -> (u64, JournalRequest) {
    match effects {
        [
            Effect::StreamJournal {
                generation,
                request,
                ..
            },
        ] => (*generation, request.clone()),
        _ => panic!("{effects:?}"),
    }
}

/// journalctl's line `second`s after the fixed time (the view shows local
/// time: the same wherever the tests run).
fn journal_line(second: i64, rest: &str) -> sitedeck::logs::buffer::LogLine {
    let at = (common::fixed_time() + chrono::Duration::seconds(second)).to_utc();
    let text = format!(
        "{} acme-worker-1 {rest}",
        at.format("%Y-%m-%dT%H:%M:%S%.6f+0000")
    );
    sitedeck::logs::journal::line_of(
        &text,
        &"acme-worker-1".into(),
        &"kubelet".into(),
        &Default::default(),
        None,
    )
    .expect("a line")
}

#[test]
fn j_follows_the_selected_nodes_journal_in_the_logs_view() {
    let mut state = hosts();
    let (generation, request) = journal_request(&key(&mut state, "J"));
    assert_eq!(
        (request.node.as_str(), request.unit.as_str()),
        ("acme-worker-1", "kubelet")
    );
    assert!(request.follow);
    assert_eq!(state.view, View::Logs);
    let lines = vec![
        journal_line(
            1,
            "systemd[1]: Started kubelet.service - kubelet: The Kubernetes Node Agent.",
        ),
        journal_line(
            2,
            "kubelet[812]: I1203 09:15:32.000000     812 server.go:487] \"Kubelet version\" kubeletVersion=\"v1.29.4\"",
        ),
        journal_line(
            3,
            "kubelet[812]: E1203 09:15:33.000000     812 pod_workers.go:1298] \"Error syncing pod\" err=\"\u{1b}]0;owned\u{7}ImagePullBackOff\"",
        ),
        journal_line(
            4,
            "kubelet[812]: W1203 09:15:34.000000     812 eviction_manager.go:256] \"Eviction manager: attempting to reclaim\" resourceName=\"ephemeral-storage\"",
        ),
    ];
    update(&mut state, Action::LogLines { generation, lines });
    let screen = common::render_text(&state, 80, 24);
    assert!(
        screen.contains("Logs journal acme-worker-1 · kubelet"),
        "{screen}"
    );
    assert!(!screen.contains('\u{1b}'), "{screen}");
    insta::assert_snapshot!("journal_80x24", screen);

    // The level filter works on the journal's klog levels.
    key(&mut state, "v");
    key(&mut state, "v");
    let shown = state
        .site
        .as_ref()
        .and_then(|s| s.logs.as_ref())
        .map(|l| l.shown_len());
    assert_eq!(shown, Some(2), "warn and error");

    // t and P are for pods.
    assert!(key(&mut state, "t").is_empty());
    let screen = common::render_text(&state, 120, 30);
    assert!(screen.contains("t: not for journals"), "{screen}");
    assert!(key(&mut state, "P").is_empty());

    // Esc stops reading and goes back to Hosts.
    let effects = key(&mut state, "esc");
    assert_eq!(effects, [Effect::StopLogs]);
    assert_eq!(state.view, View::Hosts);
}

#[test]
fn the_palette_changes_the_unit_of_the_node() {
    let mut state = hosts();
    key(&mut state, "down");
    // From Hosts: the offered units of the selected node.
    key(&mut state, ":");
    typed(&mut state, "journal contai");
    let (_, request) = journal_request(&key(&mut state, "enter"));
    assert_eq!(
        (request.node.as_str(), request.unit.as_str()),
        ("acme-worker-2", "containerd")
    );
    let logs = state
        .site
        .as_ref()
        .and_then(|s| s.logs.as_ref())
        .expect("logs");
    assert_eq!(
        logs.source,
        Some(LogSource::NodeJournal {
            node: "acme-worker-2".into(),
            unit: "containerd".into()
        })
    );
    // From the journal open: any unit typed, of the same node.
    key(&mut state, ":");
    typed(&mut state, "journal etcd.service");
    let (_, request) = journal_request(&key(&mut state, "enter"));
    assert_eq!(
        (request.node.as_str(), request.unit.as_str()),
        ("acme-worker-2", "etcd.service")
    );
    assert_eq!(state.view, View::Logs);
    // A unit that is no name is refused; the palette stays open.
    key(&mut state, ":");
    typed(&mut state, "journal a;b");
    assert!(key(&mut state, "enter").is_empty());
    assert!(state.popup.is_some());
    let screen = common::render_text(&state, 120, 30);
    assert!(screen.contains("is not a unit name"), "{screen}");
}

#[test]
fn j_elsewhere_says_where_it_works() {
    let mut state = common::state_with_reports("dark");
    assert!(key(&mut state, "J").is_empty());
    let screen = common::render_text(&state, 120, 30);
    assert!(
        screen.contains("J follows a node's journal from Hosts"),
        "{screen}"
    );
}
