//! Several brokers, through librdkafka's mock cluster: the Kafka protocol
//! implementation in the bundled librdkafka, answering on 127.0.0.1.
//! nisshi runs one broker only and Apache Kafka cannot run here, so this
//! is where sitedeck's look meets several brokers on the wire: metadata
//! naming three brokers, partition leaders spread over them (watermarks
//! asked of each leader), and a partition without a leader.
//!
//! What the mock cannot show, and only Apache Kafka can: a shrunk ISR (the
//! mock reports ISR = replicas), the controller and racks, and retention
//! (DescribeConfigs). `kafka_replay` covers those with Kafka's answers
//! replayed on the wire; docs/kafka.md says so.

use std::time::Duration;

use rdkafka::mocking::MockCluster;
use sitedeck::config::profile;
use sitedeck::kafka::{self, KafkaTarget};
use sitedeck::middleware::Severity;
use sitedeck_lab::kafka_traffic::{KafkaLogin, Produced, commit, produce};

/// The mock names a controller it does not have (id 0), so DescribeCluster
/// and DescribeConfigs, which go to the controller, wait this long for it.
const TIMEOUT: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread")]
async fn three_brokers_with_leaders_spread_and_a_partition_without_one() {
    let mock = MockCluster::new(3).expect("mock cluster");
    mock.create_topic("orders", 6, 3).expect("topic");
    for partition in 0..5 {
        mock.partition_leader("orders", partition, Some(partition % 3 + 1))
            .expect("leader");
    }
    mock.partition_leader("orders", 5, None).expect("no leader");
    let login = KafkaLogin {
        bootstrap: mock.bootstrap_servers(),
        sasl: None,
    };
    // Partition p holds p + 1 messages.
    let messages: Vec<Produced> = (0..5)
        .flat_map(|partition| {
            (0..=partition).map(move |n| Produced {
                partition,
                key: Some(format!("k{n}")),
                value: format!("v{n}"),
                headers: Vec::new(),
            })
        })
        .collect();
    produce(&login, "orders", &messages).expect("produce");
    commit(&login, "billing", "orders", 4, 2).expect("commit");

    let dir = tempfile::tempdir().expect("temp dir");
    let text = format!(
        "name: mock\nenvironment: poc\nkafka:\n  - name: events\n    bootstrap: [{}]\n",
        mock.bootstrap_servers()
    );
    let path = dir.path().join("site.yaml");
    std::fs::write(&path, text).expect("profile");
    let loaded = profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let target = KafkaTarget::new(&loaded.profile.kafka[0], dir.path(), TIMEOUT);
    let snapshot = kafka::observe(&target).await.expect("observe");

    let ids: Vec<i32> = snapshot.brokers.iter().map(|b| b.id).collect();
    assert_eq!(ids, [1, 2, 3], "{:?}", snapshot.brokers);
    let topic = snapshot
        .topics
        .iter()
        .find(|t| t.name == "orders")
        .expect("orders listed");
    assert_eq!(topic.replication_factor(), 3);
    let leaders: Vec<i32> = topic.partitions.iter().map(|p| p.leader).collect();
    assert_eq!(leaders, [1, 2, 3, 1, 2, -1]);
    assert_eq!(topic.offline(), 1);
    // Each leader answered for its own partitions; the leaderless one has
    // no watermark, and that is not taken for an empty partition.
    let highs: Vec<Option<i64>> = topic.partitions.iter().map(|p| p.high).collect();
    assert_eq!(
        highs,
        [Some(1), Some(2), Some(3), Some(4), Some(5), None],
        "{topic:?}"
    );
    assert_eq!(topic.messages(), 15);

    let health = kafka::health(&snapshot);
    assert!(
        health
            .findings
            .iter()
            .any(|f| f.severity == Severity::Critical && f.message.contains("no leader")),
        "{health:?}"
    );
}
