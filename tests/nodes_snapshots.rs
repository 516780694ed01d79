//! The Hosts and Time views from a survey of three nodes: one well, one
//! with a nearly full disk, a clock 812 ms ahead and an unsynchronised
//! chrony, one unreachable; and an NTP server. 80x24 and 160x48.

mod common;

use std::sync::Arc;

use sitedeck::app::action::Action;
use sitedeck::app::effect::Effect;
use sitedeck::app::nodes::NodesSnapshot;
use sitedeck::app::state::{State, View};
use sitedeck::app::update;
use sitedeck::config::profile::TimeSettings;
use sitedeck::nodes::clock::ClockOffset;
use sitedeck::nodes::facts::{self, DiskThresholds, Mount, NodeFacts};
use sitedeck::nodes::sntp::SntpReading;
use sitedeck::nodes::survey::{NodeReport, Survey};
use sitedeck::nodes::time::{self, NtpCheck};
use sitedeck::nodes::timesync::{DaemonKind, DaemonState};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn facts(os: &str, family: &str, disk: f64) -> NodeFacts {
    NodeFacts {
        os: os.into(),
        os_family: family.into(),
        kernel: "5.14.0-427.13.1.el9_4.x86_64".into(),
        cpus: 16,
        load: [1.25, 0.98, 0.77],
        memory_kib: (65_536_000, 40_000_000),
        swap_kib: (0, 0),
        uptime_s: 41 * 86_400 + 5 * 3600,
        mounts: vec![
            Mount {
                path: "/".into(),
                size_kib: 104_857_600,
                used_percent: 41.0,
                inodes_percent: Some(7.0),
            },
            Mount {
                path: "/var/lib/containerd".into(),
                size_kib: 209_715_200,
                used_percent: disk,
                inodes_percent: Some(12.0),
            },
        ],
        runtime: Some("containerd containerd.io 1.7.13".into()),
        sysctls: vec![
            ("vm/swappiness".into(), "0".into()),
            ("net/ipv4/ip_forward".into(), "1".into()),
        ],
    }
}

fn chrony(synced: bool, offset_ms: f64) -> DaemonState {
    DaemonState {
        daemon: DaemonKind::Chrony,
        synced: Some(synced),
        source: synced.then(|| "10.20.0.1".to_owned()),
        stratum: synced.then_some(3),
        offset_ms: synced.then_some(offset_ms),
        reachable_sources: Some((u8::from(synced).into(), 1)),
        note: None,
    }
}

fn node(
    name: &str,
    host: &str,
    facts: NodeFacts,
    offset_ms: f64,
    daemon: DaemonState,
) -> NodeReport {
    NodeReport {
        name: name.into(),
        target: format!("ops@{host}"),
        error: None,
        unknown_key: None,
        findings: facts::findings(&facts, DiskThresholds::default()),
        facts: Some(facts),
        time: Some(ClockOffset {
            offset_ms,
            uncertainty_ms: 0.4,
            samples: 5,
        }),
        daemon: Some(daemon),
        done_after_ms: 420.0,
    }
}

fn snapshot() -> NodesSnapshot {
    let survey = Survey {
        nodes: vec![
            node(
                "acme-master-1",
                "10.20.0.11",
                facts("Rocky Linux 9.4", "rocky", 52.0),
                3.2,
                chrony(true, 0.21),
            ),
            node(
                "acme-worker-1",
                "10.20.0.21",
                facts("Kylin V10 (SP3)", "kylin", 93.0),
                812.4,
                chrony(false, 0.0),
            ),
            NodeReport {
                name: "acme-worker-2".into(),
                target: "ops@10.20.0.22".into(),
                error: Some("cannot reach ops@10.20.0.22: the bastion ops@10.20.0.5 could not connect to 10.20.0.22:22 (Channel open failure: connect failed)".into()),
                unknown_key: None,
                facts: None,
                findings: Vec::new(),
                time: None,
                daemon: None,
                done_after_ms: 10_000.0,
            },
        ],
        max_skew_ms: Some(809.2),
    };
    let ntp = vec![NtpCheck {
        server: "10.20.0.1".into(),
        reading: Some(SntpReading {
            server: "10.20.0.1".into(),
            offset_ms: -1.3,
            delay_ms: 0.8,
            stratum: 2,
            reference: "10.0.0.1".into(),
        }),
        error: None,
    }];
    let time = time::assess(&survey, ntp, &TimeSettings::default());
    NodesSnapshot {
        survey,
        time,
        at: common::fixed_time(),
        site: "/sites/acme.yaml".into(),
        partial: false,
    }
}

fn surveyed(view: Action) -> State {
    let mut state = common::state_with_reports("dark");
    let effects = update(&mut state, view);
    // The fixture profile lists no nodes: nothing to read, said so.
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::SurveyNodes { .. }))
    );
    update(&mut state, Action::NodesSurveyed(Arc::new(snapshot())));
    state.now = Some(common::fixed_time().with_timezone(&chrono::Utc));
    state
}

#[test]
fn hosts_view() {
    for (width, height) in SIZES {
        let state = surveyed(Action::OpenHosts);
        assert_eq!(state.view, View::Hosts);
        insta::assert_snapshot!(
            format!("hosts_{width}x{height}"),
            common::render_text(&state, width, height)
        );
    }
}

#[test]
fn time_view() {
    for (width, height) in SIZES {
        let state = surveyed(Action::OpenTime);
        assert_eq!(state.view, View::Time);
        let screen = common::render_text(&state, width, height);
        assert!(screen.contains("largest skew 809 ms"), "{screen}");
        insta::assert_snapshot!(format!("time_{width}x{height}"), screen);
    }
}

#[test]
fn a_profile_without_nodes_says_what_to_add() {
    let mut state = common::state_with_reports("dark");
    update(&mut state, Action::OpenTime);
    let screen = common::render_text(&state, 80, 24);
    assert!(screen.contains("lists no nodes"), "{screen}");
}

fn keys(state: &mut State, text: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for key in text.split(' ') {
        let chord = match key {
            "enter" | "esc" => sitedeck::config::keymap::KeyChord::parse(key).expect("a key"),
            _ => sitedeck::config::keymap::KeyChord::char(key.chars().next().expect("a char")),
        };
        effects.extend(update(state, Action::Key(chord)));
    }
    effects
}

fn typed(state: &mut State, text: &str) {
    for c in text.chars() {
        update(
            state,
            Action::Key(sitedeck::config::keymap::KeyChord::char(c)),
        );
    }
}

#[test]
fn a_command_on_every_node_is_typed_confirmed_and_shown() {
    let mut state = surveyed(Action::OpenHosts);
    // The fixture is read-only: nothing runs, and it says so.
    keys(&mut state, "X");
    assert!(state.popup.is_none());
    let said = common::render_text(&state, 80, 24);
    assert!(said.contains("read-only mode"), "{said}");

    if let Some(site) = state.site.as_mut() {
        site.loaded.profile.readonly = false;
    }
    keys(&mut state, "X");
    typed(&mut state, "df -h /var");
    insta::assert_snapshot!("command_typed_80x24", common::render_text(&state, 80, 24));
    keys(&mut state, "enter");
    typed(&mut state, "acme-pro");
    insta::assert_snapshot!(
        "command_confirming_80x24",
        common::render_text(&state, 80, 24)
    );
    // Not the name yet: nothing runs.
    assert!(keys(&mut state, "enter").is_empty());
    typed(&mut state, "d");
    let effects = keys(&mut state, "enter");
    let Some(Effect::RunOnNodes {
        run,
        nodes,
        command,
        ..
    }) = effects.first()
    else {
        panic!("{effects:?}");
    };
    assert_eq!(command, "df -h /var");
    assert_eq!(nodes.len(), 3);
    let output = |name: &str, exit: Option<i32>, output: &str, error: Option<&str>| {
        sitedeck::nodes::exec::NodeOutput {
            name: name.into(),
            target: format!("ops@{name}"),
            exit,
            output: output.into(),
            cut: false,
            error: error.map(Into::into),
            took_ms: 412,
        }
    };
    let outputs = nodes
        .iter()
        .map(|name| match name.as_str() {
            "acme-worker-2" => output(
                name,
                None,
                "",
                Some("cannot reach ops@10.20.0.22: Connection timed out"),
            ),
            _ => output(
                name,
                Some(0),
                "Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda3        98G   41G   53G  44% /var\n",
                None,
            ),
        })
        .collect();
    update(
        &mut state,
        Action::NodeCommandRan {
            run: *run,
            outputs: Ok(outputs),
        },
    );
    for (width, height) in SIZES {
        insta::assert_snapshot!(
            format!("command_done_{width}x{height}"),
            common::render_text(&state, width, height)
        );
    }
}

#[test]
fn an_unknown_host_key_is_shown_and_asked_about() {
    let mut state = common::state_with_reports("dark");
    update(&mut state, Action::OpenHosts);
    let mut read = snapshot();
    let fingerprint = "SHA256:Wq4sGkqS0yF8k6zG1V9o1m3cXl0b5bq6a8c1F0dQ2rE";
    read.survey.nodes[2].error = Some(format!(
        "ops@10.20.0.22 offered a host key sitedeck does not know: ssh-ed25519 {fingerprint}. Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the node before accepting it."
    ));
    read.survey.nodes[2].unknown_key = Some(sitedeck::nodes::accept::UnknownKey {
        whose: "acme-worker-2".into(),
        target: "ops@10.20.0.22".into(),
        key_type: "ssh-ed25519".into(),
        fingerprint: fingerprint.into(),
    });
    update(&mut state, Action::NodesSurveyed(Arc::new(read)));
    state.now = Some(common::fixed_time().with_timezone(&chrono::Utc));
    update(&mut state, Action::Down);
    // Its detail says how to accept the key.
    let screen = common::render_text(&state, 160, 48);
    assert!(screen.contains("then press a to accept it"), "{screen}");
    update(&mut state, Action::AcceptHostKey);
    insta::assert_snapshot!("accept_key_80x24", common::render_text(&state, 80, 24));
    // Enter is No.
    assert!(keys(&mut state, "enter").is_empty());
    assert!(state.popup.is_none());
    update(&mut state, Action::AcceptHostKey);
    let effects = update(&mut state, Action::Confirm);
    assert!(
        matches!(effects.as_slice(), [Effect::AcceptHostKey { key, .. }] if key.fingerprint == fingerprint),
        "{effects:?}"
    );
}

#[test]
fn nodes_from_the_cluster_are_read_when_hosts_opens() {
    let mut state = common::state_with_reports("dark");
    if let Some(ssh) = state
        .site
        .as_mut()
        .and_then(|site| site.loaded.profile.ssh.as_mut())
    {
        ssh.nodes = sitedeck::config::profile::NodesSpec::FromCluster;
    }
    let effects = update(&mut state, Action::OpenHosts);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::SurveyNodes { .. })),
        "{effects:?}"
    );
}

#[test]
fn a_second_read_replaces_each_row_as_its_node_answers() {
    let mut state = surveyed(Action::OpenHosts);
    let site_file = state
        .site
        .as_ref()
        .map(|s| s.loaded.profile.source_file.clone())
        .expect("a site");
    if let Some(site) = state.site.as_mut() {
        site.nodes.surveying = true;
    }
    let mut worker = snapshot().survey.nodes[2].clone();
    worker.error = None;
    worker.facts = snapshot().survey.nodes[0].facts.clone();
    update(
        &mut state,
        Action::NodeRead {
            site: site_file,
            node: Box::new(worker),
        },
    );
    let screen = common::render_text(&state, 160, 48);
    assert!(screen.contains("Hosts 3 reading…"), "{screen}");
    // The node that answered has its new row; the others keep theirs.
    assert!(!screen.contains("cannot reach"), "{screen}");
    assert!(screen.contains("Kylin V10 (SP3)"), "{screen}");
    assert!(screen.contains("Rocky Linux 9.4"), "{screen}");
}

#[test]
fn esc_cancels_the_confirmation_and_a_poc_site_asks_none() {
    let mut state = surveyed(Action::OpenHosts);
    if let Some(site) = state.site.as_mut() {
        site.loaded.profile.readonly = false;
    }
    keys(&mut state, "X");
    typed(&mut state, "uptime");
    keys(&mut state, "enter");
    typed(&mut state, "acme-prod");
    assert!(keys(&mut state, "esc").is_empty());
    assert!(state.popup.is_none(), "Esc cancels");

    if let Some(site) = state.site.as_mut() {
        site.loaded.profile.environment = sitedeck::config::profile::Environment::Poc;
    }
    keys(&mut state, "x");
    typed(&mut state, "uptime");
    let effects = keys(&mut state, "enter");
    assert!(
        matches!(effects.as_slice(), [Effect::RunOnNodes { nodes, .. }] if nodes.len() == 1),
        "{effects:?}"
    );
    // Quitting now asks first: the command's outcome is still to come.
    assert_eq!(state.jobs_running(), 1);
}
