//! `update` on the cluster views: trusting a credential program, the
//! filter line, sorting, describe, and the jump from a workload to its
//! pods. No terminal, no network: actions in, state and effects out.

mod common;

use std::collections::BTreeMap;

use common::{empty_state, open_site};
use sitedeck::app::cluster::{ClusterView, Connection};
use sitedeck::app::state::{Popup, View};
use sitedeck::app::{Action, Effect, State, update};
use sitedeck::cluster::ClusterEvent;
use sitedeck::cluster::connect::ConnectError;
use sitedeck::cluster::model::{PodRow, RolloutState, Workload, WorkloadKind};
use sitedeck::cluster::watch::{Feed, FeedUpdate, Rows};
use sitedeck::config::keymap::KeyChord;

fn key(state: &mut State, text: &str) -> Vec<Effect> {
    update(
        state,
        Action::Key(KeyChord::parse(text).expect("a valid key")),
    )
}

fn type_text(state: &mut State, text: &str) {
    for c in text.chars() {
        update(state, Action::Key(KeyChord::char(c)));
    }
}

fn cluster_event(state: &mut State, event: ClusterEvent) {
    let generation = state.last_cluster;
    update(
        state,
        Action::Cluster {
            generation,
            event: Box::new(event),
        },
    );
    state.settle();
}

fn deployment(name: &str, app: &str) -> Workload {
    Workload {
        kind: WorkloadKind::Deployment,
        namespace: "shop".into(),
        name: name.into(),
        containers: Vec::new(),
        desired: 2,
        ready: 2,
        updated: 2,
        rollout: RolloutState::Complete,
        selector: BTreeMap::from([("app".to_owned(), app.to_owned())]),
        created: None,
    }
}

fn pod(name: &str, app: &str, restarts: u32) -> PodRow {
    PodRow {
        namespace: "shop".into(),
        name: name.into(),
        status: "Running".into(),
        phase: "Running".into(),
        ready: 1,
        containers: 1,
        restarts,
        last_termination: None,
        node: Some("node-1".into()),
        unschedulable: None,
        created: None,
        labels: BTreeMap::from([("app".to_owned(), app.to_owned())]),
        cpu_request_millis: 0,
        memory_request_bytes: 0,
    }
}

/// A site whose cluster listed two deployments and three pods.
fn listed() -> State {
    let mut state = empty_state("dark");
    open_site(&mut state);
    cluster_event(
        &mut state,
        ClusterEvent::Feed(FeedUpdate::Listed {
            feed: Feed::Deployments,
            rows: Rows::Workloads(vec![deployment("web", "web"), deployment("api", "api")]),
        }),
    );
    cluster_event(
        &mut state,
        ClusterEvent::Feed(FeedUpdate::Listed {
            feed: Feed::Pods,
            rows: Rows::Pods(vec![
                pod("web-1", "web", 0),
                pod("web-2", "web", 5),
                pod("api-1", "api", 1),
            ]),
        }),
    );
    state
}

fn shown(state: &State) -> Vec<String> {
    let table = state.table().expect("a cluster view");
    table
        .visible
        .iter()
        .map(|&i| table.rows[i].target.name.clone())
        .collect()
}

#[test]
fn an_untrusted_credential_program_is_asked_about_and_remembered_on_yes() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    let asked = state.last_cluster;
    cluster_event(
        &mut state,
        ClusterEvent::ConnectFailed(ConnectError::Untrusted {
            context: "prod".into(),
            command: "aws eks get-token".into(),
        }),
    );
    assert!(matches!(
        &state.popup,
        Some(Popup::Trust { command, .. }) if command == "aws eks get-token"
    ));
    // `q` in the question quits, it never means yes.
    let effects = key(&mut state, "y");
    let [
        Effect::StartCluster {
            generation, trust, ..
        },
    ] = effects.as_slice()
    else {
        panic!("expected a new session, got {effects:?}");
    };
    assert_eq!(trust.as_deref(), Some("aws eks get-token"));
    assert!(*generation > asked, "a new session, not the old one");
    assert!(state.popup.is_none());
}

#[test]
fn no_to_a_credential_program_runs_nothing_and_says_how_to_ask_again() {
    let mut state = empty_state("dark");
    open_site(&mut state);
    cluster_event(
        &mut state,
        ClusterEvent::ConnectFailed(ConnectError::Untrusted {
            context: "prod".into(),
            command: "sh -c evil".into(),
        }),
    );
    assert!(key(&mut state, "enter").is_empty(), "enter is No");
    let connection = &state.cluster().expect("cluster").connection;
    assert!(
        matches!(connection, Connection::Failed(text) if text.contains("ctrl-r asks again")),
        "{connection:?}"
    );
}

#[test]
fn events_of_an_older_session_are_ignored() {
    let mut state = listed();
    let old = state.last_cluster;
    update(&mut state, Action::Refresh); // not connected: a new session
    assert!(state.last_cluster > old || state.last_load > 0);
    update(
        &mut state,
        Action::Cluster {
            generation: 0,
            event: Box::new(ClusterEvent::Permissions(Vec::new())),
        },
    );
    assert!(state.cluster().expect("cluster").permissions.is_empty());
}

#[test]
fn the_filter_narrows_live_and_esc_clears_it() {
    let mut state = listed();
    key(&mut state, "g");
    key(&mut state, "p");
    assert_eq!(state.view, View::Cluster(ClusterView::Pods));
    key(&mut state, "/");
    type_text(&mut state, "web");
    assert_eq!(shown(&state), ["web-1", "web-2"]);
    // Regex: a metacharacter makes it one.
    key(&mut state, "backspace");
    key(&mut state, "backspace");
    key(&mut state, "backspace");
    type_text(&mut state, "^(api|web)-1$");
    assert_eq!(shown(&state), ["api-1", "web-1"]);
    key(&mut state, "enter");
    assert!(
        !state.filtering,
        "enter keeps the filter and leaves the line"
    );
    assert_eq!(shown(&state).len(), 2);
    // `j` now moves, it does not type.
    key(&mut state, "j");
    assert_eq!(state.table().expect("table").selected, 1);
    key(&mut state, "/");
    key(&mut state, "esc");
    assert_eq!(shown(&state).len(), 3, "esc clears the filter");
}

#[test]
fn sort_cycles_columns_and_reverses() {
    let mut state = listed();
    key(&mut state, "g");
    key(&mut state, "p");
    // NAMESPACE, then NAME.
    key(&mut state, "s");
    key(&mut state, "s");
    assert_eq!(shown(&state), ["api-1", "web-1", "web-2"]);
    key(&mut state, "S");
    assert_eq!(shown(&state), ["web-2", "web-1", "api-1"]);
    let status = state.status.clone().expect("a message");
    assert!(status.text.contains("NAME"), "{status:?}");
    // RESTARTS sorts as a number.
    for _ in 0..3 {
        key(&mut state, "s");
    }
    assert_eq!(shown(&state), ["web-1", "api-1", "web-2"]);
}

#[test]
fn enter_on_a_workload_shows_its_pods_and_esc_shows_all_again() {
    let mut state = listed();
    key(&mut state, "g");
    key(&mut state, "v");
    let names = shown(&state);
    let web = names.iter().position(|n| n == "web").expect("web row");
    // The selection follows its object when rows reorder: start at the top.
    key(&mut state, "home");
    for _ in 0..web {
        key(&mut state, "j");
    }
    key(&mut state, "enter");
    state.settle();
    assert_eq!(state.view, View::Cluster(ClusterView::Pods));
    assert_eq!(shown(&state), ["web-1", "web-2"]);
    key(&mut state, "esc");
    state.settle();
    assert_eq!(state.view, View::Cluster(ClusterView::Versions));
    key(&mut state, "g");
    key(&mut state, "p");
    assert_eq!(shown(&state).len(), 3, "the scope is gone");
}

#[test]
fn describe_asks_for_the_object_and_shows_it_sanitised() {
    let mut state = listed();
    key(&mut state, "g");
    key(&mut state, "p");
    let effects = key(&mut state, "d");
    let [Effect::Describe(target)] = effects.as_slice() else {
        panic!("expected a describe, got {effects:?}");
    };
    assert_eq!(target.kind, "Pod");
    update(
        &mut state,
        Action::Described {
            target: target.clone(),
            text: Ok("kind: Pod\nmetadata:\n  name: \u{1b}]0;pwned\u{7}web-1\n".into()),
        },
    );
    let Some(Popup::Describe {
        text: Some(Ok(text)),
        ..
    }) = &state.popup
    else {
        panic!("no describe pane: {:?}", state.popup);
    };
    assert!(text.starts_with("kind: Pod\nmetadata:"), "{text}");
    assert!(!text.contains('\u{1b}'), "escapes are gone: {text:?}");
}

/// The Logs view's state.
fn logs_of(state: &State) -> &sitedeck::app::logs::LogsState {
    state
        .site
        .as_ref()
        .and_then(|s| s.logs.as_ref())
        .expect("logs")
}

/// A log line of pod `pod` at second `second`, as the stream reads it.
fn log_line(pod: &str, second: i64, raw: &str) -> sitedeck::logs::buffer::LogLine {
    sitedeck::logs::buffer::LogLine {
        namespace: "shop".into(),
        pod: pod.into(),
        container: "app".into(),
        // From the fixed local time: the view shows local time, the same
        // wherever the tests run.
        at: (common::fixed_time() + chrono::Duration::seconds(second)).to_utc(),
        raw: raw.into(),
        parsed: sitedeck::logs::parse::parse(raw, &Default::default()),
    }
}

#[test]
fn l_opens_a_pods_logs_t_pivots_on_its_trace_and_esc_stops_reading() {
    let mut state = listed();
    key(&mut state, "g");
    key(&mut state, "p");
    let pod = state
        .table()
        .and_then(|t| t.selected_row())
        .map(|r| r.target.name.clone())
        .expect("a pod selected");
    let effects = key(&mut state, "l");
    let [
        Effect::StreamLogs {
            generation, source, ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}");
    };
    assert_eq!(
        *source,
        sitedeck::logs::stream::LogSource::Pod {
            namespace: "shop".into(),
            name: pod.clone()
        }
    );
    assert_eq!(state.view, View::Logs);
    let generation = *generation;
    let lines = vec![
        log_line(
            &pod,
            1,
            r#"{"level":"info","msg":"started","trace_id":"aaaa1111bbbb2222"}"#,
        ),
        log_line(
            &pod,
            2,
            "ERROR payment \u{1b}]52;c;ZXZpbA==\u{7} declined traceId=cccc3333dddd4444",
        ),
        log_line(&pod, 3, "level=warn msg=\"slow\" trace_id=cccc3333dddd4444"),
    ];
    update(&mut state, Action::LogLines { generation, lines });
    // Lines of an older stream are ignored.
    update(
        &mut state,
        Action::LogLines {
            generation: generation - 1,
            lines: vec![log_line(&pod, 4, "stale")],
        },
    );
    for (width, height) in [(80, 24), (200, 50)] {
        insta::assert_snapshot!(
            format!("logs_view_{width}x{height}"),
            common::render_with_styles(&state, width, height)
        );
    }
    // Following: the newest line is selected. Up pauses; v shows warn+.
    key(&mut state, "up");
    let logs = logs_of(&state);
    assert!(!logs.follow);
    key(&mut state, "v");
    key(&mut state, "v");
    let logs = logs_of(&state);
    let shown: Vec<&str> = logs
        .shown()
        .iter()
        .map(|l| l.parsed.message.as_str())
        .collect();
    assert_eq!(
        shown,
        [
            "ERROR payment \u{1b}]52;c;ZXZpbA==\u{7} declined traceId=cccc3333dddd4444",
            "slow"
        ]
    );

    // / filters the lines by text or regex; esc clears the filter only.
    key(&mut state, "/");
    type_text(&mut state, "DECLINED");
    let logs = logs_of(&state);
    assert_eq!(logs.shown().len(), 1);
    let screen = common::render_text(&state, 120, 30);
    assert!(screen.contains("/DECLINED"), "{screen}");
    key(&mut state, "esc");
    assert_eq!(state.view, View::Logs);
    let logs = logs_of(&state);
    assert_eq!(logs.shown().len(), 2);
    // pod:NAME shows only that pod's lines, -pod:NAME hides them.
    key(&mut state, "/");
    type_text(&mut state, "-pod:api-1");
    let logs = logs_of(&state);
    assert!(logs.shown().is_empty());
    key(&mut state, "esc");
    key(&mut state, "/");
    type_text(&mut state, "pod:api sl(o|a)w");
    key(&mut state, "enter");
    let logs = logs_of(&state);
    let shown: Vec<&str> = logs
        .shown()
        .iter()
        .map(|l| l.parsed.message.as_str())
        .collect();
    assert_eq!(shown, ["slow"]);
    assert!(!state.filtering, "enter keeps the filter");

    // w saves the lines shown (as `sitedeck logs` prints them); y copies
    // the selected line, sanitised.
    let effects = key(&mut state, "w");
    let [Effect::SaveText { name, text, lines }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert!(
        name.starts_with("logs-acme-prod-shop_api-1-") && name.ends_with(".log"),
        "{name}"
    );
    assert_eq!((*lines, text.lines().count()), (1, 1));
    assert!(!text.contains('\u{1b}'), "{text}");
    let effects = key(&mut state, "y");
    assert_eq!(
        effects,
        [Effect::CopyToClipboard(
            "level=warn msg=\"slow\" trace_id=cccc3333dddd4444".into()
        )]
    );

    // t: the selected line's trace from every pod of its namespace.
    let effects = key(&mut state, "t");
    let [
        Effect::StreamLogs {
            source, options, ..
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}");
    };
    assert_eq!(
        *source,
        sitedeck::logs::stream::LogSource::Namespace("shop".into())
    );
    assert_eq!(options.since, Some(sitedeck::app::logs::PIVOT_WINDOW));
    // Read once, keeping only the trace's lines as they are read.
    assert!(!options.follow);
    assert_eq!(options.trace.as_deref(), Some("cccc3333dddd4444"));
    let logs = logs_of(&state);
    assert_eq!(logs.trace.as_deref(), Some("cccc3333dddd4444"));
    assert!(logs.buffer.is_empty(), "a new reading");
    let pivot = logs.generation;
    assert!(pivot > generation, "a new number");
    // A bar shows how many container logs are read.
    update(
        &mut state,
        Action::LogsProgress {
            generation: pivot,
            progress: sitedeck::logs::stream::Progress {
                found: 8,
                open: 2,
                finished: 2,
                ..Default::default()
            },
        },
    );
    let screen = common::render_text(&state, 80, 24);
    assert!(
        screen.contains("█████░░░░░░░░░░░░░░░ 2/8 container logs read"),
        "{screen}"
    );
    // t again, on a line of that trace: from every pod of the site.
    update(
        &mut state,
        Action::LogLines {
            generation: pivot,
            lines: vec![log_line(
                "api-1",
                3,
                "level=warn msg=\"slow\" trace_id=cccc3333dddd4444",
            )],
        },
    );
    let effects = key(&mut state, "t");
    let [Effect::StreamLogs { source, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(*source, sitedeck::logs::stream::LogSource::Everywhere);
    assert!(logs_of(&state).title.contains("across the site"));

    let effects = key(&mut state, "esc");
    assert_eq!(effects, [Effect::StopLogs]);
    assert_eq!(state.view, View::Cluster(ClusterView::Pods));
}

#[test]
fn a_paused_selection_stays_on_its_line_and_z_wraps_long_lines() {
    let mut state = listed();
    key(&mut state, "g");
    key(&mut state, "p");
    let effects = key(&mut state, "l");
    let [Effect::StreamLogs { generation, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    let generation = *generation;
    let long = format!("level=info msg=\"{}end\"", "word ".repeat(40));
    let lines = vec![
        log_line("api-1", 1, "level=info msg=first"),
        log_line("api-1", 3, &long),
        log_line("api-1", 5, "level=info msg=last"),
    ];
    update(&mut state, Action::LogLines { generation, lines });
    key(&mut state, "up");
    let selected = |state: &State| {
        logs_of(state)
            .selected_line()
            .map(|l| l.parsed.message.clone())
    };
    assert!(selected(&state).is_some_and(|m| m.ends_with("end")));
    // Lines before and after it come; the selection stays on it.
    update(
        &mut state,
        Action::LogLines {
            generation,
            lines: vec![
                log_line("api-2", 2, "level=info msg=between"),
                log_line("api-2", 6, "level=info msg=newer"),
            ],
        },
    );
    assert!(selected(&state).is_some_and(|m| m.ends_with("end")));
    assert_eq!(logs_of(&state).selected, 2);
    // Cut at the edge, then wrapped over several rows (the newest line
    // selected: the pane below shows the long one no more).
    key(&mut state, "end");
    let cut = common::render_text(&state, 80, 24);
    assert!(!cut.contains("word end"), "{cut}");
    key(&mut state, "z");
    assert!(logs_of(&state).wrap);
    let wrapped = common::render_text(&state, 80, 24);
    assert!(wrapped.contains("WRAP"), "{wrapped}");
    assert!(wrapped.contains("word end"), "{wrapped}");
}
