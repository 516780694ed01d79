//! The Kafka views from a snapshot with what only Apache Kafka can show
//! (three brokers, an under-replicated and an offline partition): topics
//! with partitions, groups with lag and trend, stale data after a failed
//! look, and the peek request. Dark and mono, 80x24 and 160x48.

mod common;

use std::sync::Arc;

use sitedeck::app::action::Action;
use sitedeck::app::effect::Effect;
use sitedeck::app::state::{Popup, State, View};
use sitedeck::app::table::Tone;
use sitedeck::app::update;
use sitedeck::config::keymap::KeyChord;
use sitedeck::kafka::{Broker, Group, GroupOffset, KafkaSnapshot, Partition, Topic};
use sitedeck::probe::{ProbeReport, ProbeState};

const THEMES: [&str; 2] = ["dark", "mono"];
const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];
/// The fixture profile's Kafka cluster, `events`, is source 5.
const KAFKA: usize = 5;

fn partition(id: i32, leader: i32, isr: &[i32], low: i64, high: i64) -> Partition {
    Partition {
        id,
        leader,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        low: Some(low),
        high: Some(high),
        error: None,
    }
}

fn offset(topic: &str, partition: i32, committed: i64, end: i64) -> GroupOffset {
    GroupOffset {
        topic: topic.into(),
        partition,
        committed,
        end,
        lag: end - committed,
    }
}

/// Three brokers; `orders` has an under-replicated partition, `audit-log`
/// an offline one; `billing` lags by `lag` on orders/0.
fn snapshot(lag: i64) -> KafkaSnapshot {
    let broker = |id: i32| Broker {
        id,
        host: format!("kafka-{}.kafka-headless.middleware.svc", id - 1),
        port: 9092,
        rack: Some(format!("zone-{}", ["a", "b", "c"][(id - 1) as usize % 3])),
        controller: id == 2,
    };
    KafkaSnapshot {
        brokers: vec![broker(1), broker(2), broker(3)],
        topics: vec![
            Topic {
                name: "__consumer_offsets".into(),
                partitions: vec![partition(0, 1, &[1, 2, 3], 0, 10)],
                error: None,
                retention: None,
            },
            Topic {
                name: "audit-log".into(),
                partitions: vec![
                    partition(0, 2, &[2, 3, 1], 0, 400),
                    partition(1, -1, &[], 0, 380),
                ],
                error: None,
                retention: Some("forever".into()),
            },
            Topic {
                name: "orders".into(),
                partitions: vec![
                    partition(0, 1, &[1, 2, 3], 100, 5000),
                    partition(1, 2, &[2, 3], 90, 4800),
                    partition(2, 3, &[3, 1, 2], 80, 4700),
                ],
                error: None,
                retention: Some("7d or 1.0 GiB".into()),
            },
        ],
        groups: vec![
            Group {
                name: "billing".into(),
                state: "Stable".into(),
                protocol_type: "consumer".into(),
                assignor: "range".into(),
                members: 2,
                offsets: vec![
                    offset("orders", 0, 5000 - lag, 5000),
                    offset("orders", 1, 4800, 4800),
                ],
                error: None,
            },
            Group {
                name: "search-indexer".into(),
                state: "Empty".into(),
                protocol_type: "consumer".into(),
                assignor: String::new(),
                members: 0,
                offsets: vec![offset("audit-log", 0, 400, 400)],
                error: None,
            },
        ],
        path: "direct".into(),
        cluster_id: Some("acme-events".into()),
        notes: Vec::new(),
    }
}

fn report_of(snapshot: KafkaSnapshot) -> ProbeReport {
    let health = sitedeck::kafka::health(&snapshot);
    ProbeReport {
        state: health.state(),
        latency_ms: Some(40.0),
        detail: health.headline(),
        checked_at: Some(common::fixed_time()),
        health: Some(health),
        path: Some("direct".into()),
        kafka: Some(Arc::new(snapshot)),
    }
}

fn finish(state: &mut State, report: ProbeReport) {
    let round = state.last_round;
    update(
        state,
        Action::ProbeFinished {
            round,
            index: KAFKA,
            report: Box::new(report),
        },
    );
}

/// The fixture site after four looks at Kafka, billing's lag growing.
fn kafka_state(theme: &str, view: Action) -> State {
    let mut state = common::state_with_reports(theme);
    for lag in [10, 40, 90, 150] {
        finish(&mut state, report_of(snapshot(lag)));
    }
    update(&mut state, view);
    state.now = Some(common::fixed_time().with_timezone(&chrono::Utc));
    state
}

fn key(state: &mut State, key: &str) -> Vec<Effect> {
    let chord = KeyChord::parse(key).expect("a valid key");
    update(state, Action::Key(chord))
}

#[test]
fn topics_view() {
    for theme in THEMES {
        for (width, height) in SIZES {
            let state = kafka_state(theme, Action::OpenKafka);
            assert_eq!(state.view, View::Kafka);
            insta::assert_snapshot!(
                format!("kafka_topics_{theme}_{width}x{height}"),
                common::render_with_styles(&state, width, height)
            );
        }
    }
}

#[test]
fn groups_view() {
    for theme in THEMES {
        for (width, height) in SIZES {
            let state = kafka_state(theme, Action::OpenKafkaGroups);
            insta::assert_snapshot!(
                format!("kafka_groups_{theme}_{width}x{height}"),
                common::render_with_styles(&state, width, height)
            );
        }
    }
}

#[test]
fn topics_show_replication_problems_and_hide_internal_topics() {
    let state = kafka_state("mono", Action::OpenKafka);
    let table = &state.site.as_ref().expect("site").kafka.topics;
    let rows: Vec<(&str, Tone)> = table
        .visible
        .iter()
        .map(|&i| (table.rows[i].target.name.as_str(), table.rows[i].tone))
        .collect();
    assert_eq!(rows, [("audit-log", Tone::Crit), ("orders", Tone::Warn)]);
    let report = &state.site.as_ref().expect("site").reports[KAFKA];
    assert_eq!(report.state, ProbeState::Degraded);
    let findings: Vec<&str> = report
        .health
        .as_ref()
        .expect("health")
        .findings
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(
        findings,
        [
            "1 partition(s) have no leader",
            // The offline partition has no in-sync replica either.
            "2 partition(s) are under-replicated"
        ]
    );
}

#[test]
fn groups_sort_by_lag_and_a_growing_lag_is_marked() {
    let state = kafka_state("mono", Action::OpenKafkaGroups);
    let kafka = &state.site.as_ref().expect("site").kafka;
    let table = &kafka.groups;
    let first = &table.rows[table.visible[0]];
    assert_eq!(first.target.name, "billing");
    assert_eq!(first.tone, Tone::Warn, "lag grew at every look");
    let trend: Vec<i64> = kafka
        .trend_of("events", "billing")
        .expect("a trend")
        .iter()
        .copied()
        .collect();
    assert_eq!(trend, [10, 40, 90, 150]);
}

#[test]
fn a_failed_look_keeps_the_data_marked_stale() {
    let mut state = kafka_state("dark", Action::OpenKafka);
    let mut failed = ProbeReport::pending();
    failed.state = ProbeState::AuthFailed;
    failed.detail = "SASL authentication failed for user `sitedeck` with SCRAM-SHA-512".into();
    failed.checked_at = Some(common::fixed_time());
    finish(&mut state, failed);
    assert_eq!(
        state.site.as_ref().expect("site").kafka.topics.rows.len(),
        2
    );
    insta::assert_snapshot!(
        "kafka_topics_stale_dark_80x24",
        common::render_with_styles(&state, 80, 24)
    );
}

#[test]
fn p_peeks_at_the_chosen_partition_of_the_selected_topic() {
    let mut state = kafka_state("dark", Action::OpenKafka);
    key(&mut state, "end");
    key(&mut state, "]");
    key(&mut state, "]");
    let effects = key(&mut state, "p");
    let [
        Effect::KafkaPeek {
            title,
            topic,
            partition,
            ..
        },
    ] = effects.as_slice()
    else {
        panic!("one peek: {effects:?}");
    };
    assert_eq!((topic.as_str(), *partition), ("orders", 2));
    // Another topic starts at partition 0.
    let mut other = kafka_state("dark", Action::OpenKafka);
    key(&mut other, "end");
    key(&mut other, "]");
    key(&mut other, "home");
    let effects = key(&mut other, "p");
    assert!(
        matches!(effects.as_slice(), [Effect::KafkaPeek { topic, partition: 0, .. }] if topic == "audit-log"),
        "{effects:?}"
    );
    assert!(matches!(
        &state.popup,
        Some(Popup::Describe { text: None, .. })
    ));
    let message = sitedeck::kafka::PeekedMessage {
        partition: 2,
        offset: 4699,
        timestamp: Some(1_764_756_000_000),
        key: Some("order-\u{1b}[31m7".into()),
        value: Some("{\n  \"n\": 7\n}".into()),
        json: true,
        headers: vec![("trace".into(), "abc".into())],
        size: 8,
    };
    update(
        &mut state,
        Action::KafkaPeeked {
            title: title.clone(),
            result: Ok(vec![message]),
        },
    );
    let Some(Popup::Describe {
        text: Some(Ok(text)),
        ..
    }) = &state.popup
    else {
        panic!("the messages are shown: {:?}", state.popup);
    };
    assert!(text.contains("offset 4699"), "{text}");
    assert!(
        text.contains("order-\\x1b[31m7"),
        "escapes are shown: {text}"
    );
    assert!(!text.contains('\u{1b}'));
    insta::assert_snapshot!(
        "kafka_peek_dark_80x24",
        common::render_with_styles(&state, 80, 24)
    );
}

#[test]
fn r_looks_at_the_selected_cluster_now() {
    let mut state = kafka_state("dark", Action::OpenKafkaGroups);
    let effects = key(&mut state, "r");
    assert!(
        matches!(effects.as_slice(), [Effect::ProbeOne { source, .. }] if source.index() == KAFKA),
        "{effects:?}"
    );
    assert!(state.site.as_ref().expect("site").in_flight[KAFKA]);
}

#[test]
fn the_palette_peeks_from_an_hour_ago() {
    let mut state = kafka_state("dark", Action::OpenKafka);
    key(&mut state, ":");
    update(&mut state, Action::Paste("peek from 1h".into()));
    let effects = key(&mut state, "enter");
    let hour_ago = (common::fixed_time() - chrono::Duration::hours(1)).timestamp_millis();
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::KafkaPeek { from: sitedeck::kafka::PeekFrom::Time(t), title, .. }]
                if *t == hour_ago && title.contains("20 from")
        ),
        "{effects:?}"
    );
}

#[test]
fn the_palette_peeks_from_any_time_typed() {
    let mut state = kafka_state("dark", Action::OpenKafka);
    key(&mut state, ":");
    // Noon UTC: the 15th wherever the tests run; before the fixed now.
    update(
        &mut state,
        Action::Paste("peek from 2026-11-15T12:00:00Z".into()),
    );
    let effects = key(&mut state, "enter");
    let typed = chrono::DateTime::parse_from_rfc3339("2026-11-15T12:00:00Z")
        .expect("time")
        .timestamp_millis();
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::KafkaPeek { from: sitedeck::kafka::PeekFrom::Time(t), title, .. }]
                if *t == typed && title.contains("20 from 2026-11-15")
        ),
        "{effects:?}"
    );

    // A time that is not one: the palette stays open and says the forms.
    let mut state = kafka_state("dark", Action::OpenKafka);
    key(&mut state, ":");
    update(&mut state, Action::Paste("peek from yesterday-ish".into()));
    let effects = key(&mut state, "enter");
    assert!(effects.is_empty(), "{effects:?}");
    assert!(
        matches!(state.popup, Some(Popup::Palette(_))),
        "the palette stays open"
    );
    let said = common::render_text(&state, 200, 30);
    assert!(said.contains("is not a time"), "{said}");
}
