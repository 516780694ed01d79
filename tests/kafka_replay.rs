//! What only Apache Kafka produces, on the wire: Kafka's answers replayed
//! by `sitedeck_lab::kafka_replay` (encoded per the Kafka protocol spec)
//! and read by the bundled librdkafka and sitedeck, as on a site.
//!
//! Covered here and nowhere else: an ISR smaller than the replicas, racks,
//! the controller and the cluster id (Metadata v2, which librdkafka's
//! DescribeCluster reads), and retention from DescribeConfigs v0,
//! including a topic whose configs the broker refuses to describe.

use std::time::Duration;

use sitedeck::config::profile;
use sitedeck::kafka::{self, KafkaTarget};
use sitedeck::middleware::Severity;
use sitedeck_lab::kafka_replay::{ReplayBroker, ReplayCluster, ReplayPartition, ReplayTopic};
use support::headless::sitedeck;

mod support;

const METADATA: i16 = 3;
const DESCRIBE_CONFIGS: i16 = 32;
const LIST_OFFSETS: i16 = 2;
/// Kafka's TOPIC_AUTHORIZATION_FAILED.
const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

fn partition(id: i32, leader: i32, isr: &[i32], low: i64, high: i64) -> ReplayPartition {
    ReplayPartition {
        id,
        leader,
        replicas: vec![1, 2, 3],
        isr: isr.to_vec(),
        low,
        high,
    }
}

fn config(pairs: &[(&str, &str)]) -> Result<Vec<(String, String)>, i16> {
    Ok(pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect())
}

/// Three brokers in two racks, broker 2 the controller. `orders` has a
/// partition whose ISR lost broker 3 and one without a leader; `audit`
/// keeps everything; `payments` refuses DescribeConfigs.
fn site_cluster() -> ReplayCluster {
    ReplayCluster {
        cluster_id: "q1Sh-9_ISia_zwGINzRvyQ".into(),
        controller: 2,
        brokers: vec![
            (1, Some("az-a".into())),
            (2, Some("az-b".into())),
            (3, None),
        ],
        topics: vec![
            ReplayTopic {
                name: "orders".into(),
                partitions: vec![
                    partition(0, 1, &[1, 2, 3], 0, 120),
                    partition(1, 2, &[2, 1], 40, 95),
                    partition(2, -1, &[], 0, 0),
                ],
                configs: config(&[
                    ("cleanup.policy", "delete"),
                    ("retention.ms", "604800000"),
                    ("retention.bytes", "1073741824"),
                ]),
            },
            ReplayTopic {
                name: "audit".into(),
                partitions: vec![partition(0, 3, &[3, 1, 2], 7, 7)],
                configs: config(&[("retention.ms", "-1"), ("retention.bytes", "-1")]),
            },
            ReplayTopic {
                name: "payments".into(),
                partitions: vec![partition(0, 2, &[2, 3, 1], 0, 3)],
                configs: Err(TOPIC_AUTHORIZATION_FAILED),
            },
        ],
    }
}

fn profile_text(bootstrap: &str) -> String {
    let servers: Vec<&str> = bootstrap.split(',').collect();
    format!(
        "name: replay\nenvironment: poc\nkafka:\n  - name: events\n    bootstrap: [{}]\n",
        servers.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shrunk_isr_racks_the_controller_and_retention_are_read_off_the_wire() {
    let replay = ReplayBroker::start(site_cluster()).expect("replay broker");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("site.yaml");
    std::fs::write(&path, profile_text(&replay.bootstrap())).expect("profile");
    let loaded = profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let target = KafkaTarget::new(&loaded.profile.kafka[0], dir.path(), Duration::from_secs(5));
    let snapshot = kafka::observe(&target).await.expect("observe");

    // Every part came from a request the replay answered, at the version
    // the test means to cover.
    let heard = replay.heard();
    for asked in [(METADATA, 2), (DESCRIBE_CONFIGS, 0), (LIST_OFFSETS, 1)] {
        assert!(heard.contains(&asked), "{asked:?} not in {heard:?}");
    }

    let brokers: Vec<(i32, Option<&str>, bool)> = snapshot
        .brokers
        .iter()
        .map(|b| (b.id, b.rack.as_deref(), b.controller))
        .collect();
    assert_eq!(
        brokers,
        [
            (1, Some("az-a"), false),
            (2, Some("az-b"), true),
            (3, None, false)
        ]
    );
    assert_eq!(
        snapshot.cluster_id.as_deref(),
        Some("q1Sh-9_ISia_zwGINzRvyQ")
    );

    let topic = |name: &str| {
        snapshot
            .topics
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} in {:?}", snapshot.topics))
    };
    let orders = topic("orders");
    assert_eq!(orders.replication_factor(), 3);
    assert_eq!(
        orders.under_replicated(),
        2,
        "the shrunk ISR and the offline one"
    );
    assert_eq!(orders.offline(), 1);
    assert_eq!(orders.partitions[1].isr, [2, 1]);
    assert!(
        orders.partitions[2].error.is_some(),
        "LEADER_NOT_AVAILABLE shown: {:?}",
        orders.partitions[2]
    );
    // The leaderless partition is asked of no one and shows no count.
    let watermarks: Vec<(Option<i64>, Option<i64>)> =
        orders.partitions.iter().map(|p| (p.low, p.high)).collect();
    assert_eq!(
        watermarks,
        [(Some(0), Some(120)), (Some(40), Some(95)), (None, None)]
    );
    assert_eq!(orders.messages(), 175);
    assert_eq!(orders.retention.as_deref(), Some("7d or 1.0 GiB"));
    assert_eq!(topic("audit").retention.as_deref(), Some("forever"));
    assert_eq!(topic("audit").under_replicated(), 0);
    // A refused describe leaves that topic's retention unknown, and only
    // that one's.
    assert_eq!(topic("payments").retention, None);

    assert!(snapshot.notes.is_empty(), "{:?}", snapshot.notes);
    assert!(snapshot.groups.is_empty(), "{:?}", snapshot.groups);

    let health = kafka::health(&snapshot);
    let said: Vec<(Severity, &str)> = health
        .findings
        .iter()
        .map(|f| (f.severity, f.message.as_str()))
        .collect();
    assert!(
        said.contains(&(Severity::Critical, "1 partition(s) have no leader")),
        "{said:?}"
    );
    assert!(
        said.contains(&(Severity::Warning, "2 partition(s) are under-replicated")),
        "{said:?}"
    );
}

#[test]
fn status_json_reports_the_replayed_cluster() {
    let replay = ReplayBroker::start(site_cluster()).expect("replay broker");
    let dir = tempfile::tempdir().expect("temp dir");
    let site = dir.path().join("site.yaml");
    std::fs::write(&site, profile_text(&replay.bootstrap())).expect("profile");

    let (code, out, err) = sitedeck(dir.path(), &site, &["status", "--format", "json"]);
    assert_eq!(code, 1, "a finding makes status exit 1: {out}{err}");
    let status: serde_json::Value = serde_json::from_str(&out).expect("json");
    let events = &status["kafka"][0];
    assert_eq!(events["state"], "degraded", "{events:#}");
    let controller: Vec<i64> = events["brokers"]
        .as_array()
        .expect("brokers")
        .iter()
        .filter(|b| b["controller"] == true)
        .filter_map(|b| b["id"].as_i64())
        .collect();
    assert_eq!(controller, [2]);
    let orders = events["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["name"] == "orders")
        .expect("orders");
    assert_eq!(orders["under_replicated"], 2);
    assert_eq!(orders["offline"], 1);
    assert_eq!(orders["retention"], "7d or 1.0 GiB");
}
