//! Kafka against a real broker (nisshi): SCRAM-SHA-256 and -512 logins,
//! a wrong password, topics and partitions, a group's lag, peek, and
//! PLAIN through the lab's front proxy.

use std::path::Path;
use std::time::Duration;

use sitedeck::config::profile::{self, LoadedProfile};
use sitedeck::kafka::{self, KafkaError, PeekFrom};
use sitedeck::probe::{self, ProbeState};
use sitedeck_lab::kafka::{BrokerOptions, KafkaBroker, KafkaUser, Scram};
use sitedeck_lab::kafka_traffic::{Produced, commit, create_topic, produce};

const TIMEOUT: Duration = Duration::from_secs(10);

fn users() -> Vec<KafkaUser> {
    vec![
        KafkaUser {
            name: "alice".into(),
            password: "alice-secret".into(),
            mechanism: Scram::Sha256,
        },
        KafkaUser {
            name: "bob".into(),
            password: "bob-secret".into(),
            mechanism: Scram::Sha512,
        },
    ]
}

/// A broker in `dir` that knows alice (SCRAM-SHA-256) and bob (-512).
fn scram_broker(dir: &Path) -> KafkaBroker {
    KafkaBroker::start(
        &dir.join("kafka"),
        &BrokerOptions {
            users: users(),
            ..Default::default()
        },
    )
    .expect("nisshi starts")
}

/// A profile with one Kafka cluster; `password` goes into a file.
fn profile_for(dir: &Path, entry: &str, password: Option<&str>) -> LoadedProfile {
    if let Some(password) = password {
        std::fs::write(dir.join("kafka.pw"), password).expect("write secret");
    }
    let text = format!(
        "name: kafka-test\nenvironment: poc\nprobes:\n  timeout_seconds: 5\nkafka:\n  - name: events\n{entry}"
    );
    let path = dir.join("site.yaml");
    std::fs::write(&path, text).expect("write profile");
    profile::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn sasl_entry(bootstrap: &str, mechanism: &str, user: &str) -> String {
    format!(
        "    bootstrap: [{bootstrap}]\n    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: {mechanism}\n    username: {user}\n    password: {{file: kafka.pw}}\n"
    )
}

fn orders(partition: i32, count: i64) -> Vec<Produced> {
    (0..count)
        .map(|n| Produced {
            partition,
            key: Some(format!("k{partition}-{n}")),
            value: format!(r#"{{"n":{n},"partition":{partition}}}"#),
            headers: vec![("trace".into(), format!("t{n}"))],
        })
        .collect()
}

#[tokio::test]
async fn scram_logins_list_topics_and_a_groups_lag_is_produced_minus_committed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = scram_broker(dir.path());
    let alice = broker.login(&users()[0]);
    create_topic(&alice, "orders", 3).expect("topic");
    produce(&alice, "orders", &orders(0, 10)).expect("produce p0");
    produce(&alice, "orders", &orders(1, 5)).expect("produce p1");
    commit(&alice, "billing", "orders", 0, 4).expect("commit p0");
    commit(&alice, "billing", "orders", 1, 5).expect("commit p1");

    for user in users() {
        let loaded = profile_for(
            dir.path(),
            &sasl_entry(&broker.bootstrap(), user.mechanism.name(), &user.name),
            Some(&user.password),
        );
        let spec = &loaded.profile.kafka[0];
        let snapshot = kafka::observe(spec, &loaded.profile.base_dir, TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{} logs in: {e}", user.mechanism.name()));
        assert_eq!(snapshot.brokers.len(), 1, "{snapshot:?}");
        assert_eq!(snapshot.brokers[0].port, i32::from(broker.port));
        // DescribeCluster: the one broker is the controller.
        assert!(snapshot.brokers[0].controller, "{:?}", snapshot.brokers);
        assert!(snapshot.cluster_id.is_some());
        let topic = snapshot
            .topics
            .iter()
            .find(|t| t.name == "orders")
            .expect("orders listed");
        assert_eq!(topic.partitions.len(), 3);
        let highs: Vec<Option<i64>> = topic.partitions.iter().map(|p| p.high).collect();
        assert_eq!(highs, [Some(10), Some(5), Some(0)], "{topic:?}");
        assert_eq!(topic.messages(), 15);
        assert_eq!(topic.under_replicated(), 0);
        // nisshi describes no topic configs: retention stays unknown.
        assert_eq!(topic.retention, None);
        let group = snapshot
            .groups
            .iter()
            .find(|g| g.name == "billing")
            .unwrap_or_else(|| panic!("billing listed: {:?}", snapshot.groups));
        assert_eq!(group.error, None);
        // produced − committed: (10 − 4) on partition 0, (5 − 5) on 1.
        assert_eq!(group.total_lag(), 6, "{group:?}");
        assert_eq!(group.lag_by_topic(), [("orders".to_owned(), 6)]);
    }
}

#[tokio::test]
async fn peek_returns_what_was_produced_and_commits_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = scram_broker(dir.path());
    let bob = broker.login(&users()[1]);
    create_topic(&bob, "orders", 2).expect("topic");
    let before = chrono::Utc::now().timestamp_millis();
    produce(&bob, "orders", &orders(1, 6)).expect("produce");
    let loaded = profile_for(
        dir.path(),
        &sasl_entry(&broker.bootstrap(), "SCRAM-SHA-512", "bob"),
        Some("bob-secret"),
    );
    let spec = &loaded.profile.kafka[0];
    let base = &loaded.profile.base_dir;

    let last = kafka::peek(spec, base, TIMEOUT, "orders", 1, PeekFrom::Last, 3)
        .await
        .expect("peek");
    let offsets: Vec<i64> = last.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, [3, 4, 5]);
    assert_eq!(last[0].key.as_deref(), Some("k1-3"));
    assert!(last[0].json);
    assert_eq!(
        last[0].value.as_deref(),
        Some("{\n  \"n\": 3,\n  \"partition\": 1\n}")
    );
    assert_eq!(last[0].headers, [("trace".to_owned(), "t3".to_owned())]);
    assert!(last[0].timestamp.is_some_and(|t| t >= before - 1000));

    let from = kafka::peek(
        spec,
        base,
        TIMEOUT,
        "orders",
        1,
        PeekFrom::Time(before - 1000),
        2,
    )
    .await
    .expect("peek from a time");
    assert_eq!(from.iter().map(|m| m.offset).collect::<Vec<_>>(), [0, 1]);

    let empty = kafka::peek(spec, base, TIMEOUT, "orders", 0, PeekFrom::Last, 5)
        .await
        .expect("peek an empty partition");
    assert!(empty.is_empty());

    // Peeking made no consumer group.
    let snapshot = kafka::observe(spec, base, TIMEOUT).await.expect("observe");
    assert!(snapshot.groups.is_empty(), "{:?}", snapshot.groups);
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_failure_naming_user_and_mechanism() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = scram_broker(dir.path());
    let loaded = profile_for(
        dir.path(),
        &sasl_entry(&broker.bootstrap(), "SCRAM-SHA-256", "alice"),
        Some("wrong-password-sentinel"),
    );
    let spec = &loaded.profile.kafka[0];
    let error = kafka::observe(spec, &loaded.profile.base_dir, TIMEOUT)
        .await
        .expect_err("the login fails");
    let KafkaError::Authentication {
        user, mechanism, ..
    } = &error
    else {
        panic!("not an authentication error: {error:?}");
    };
    assert_eq!(
        (user.as_str(), mechanism.as_str()),
        ("alice", "SCRAM-SHA-256")
    );
    assert!(!format!("{error} {error:?}").contains("wrong-password-sentinel"));

    let sources = probe::plan(&loaded.profile, None);
    let report = probe::run(&sources[0], &loaded.profile, &probe::ProbeEnv::default()).await;
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert!(report.detail.contains("alice"), "{report:?}");
}

#[tokio::test]
async fn plain_logins_through_the_lab_proxy() {
    // This checks sitedeck's PLAIN configuration against the lab's PLAIN
    // front proxy, not a broker's PLAIN implementation (nisshi has none).
    let dir = tempfile::tempdir().expect("temp dir");
    let proxy_port = sitedeck_lab::free_port().expect("port");
    let broker = KafkaBroker::start(
        &dir.path().join("kafka"),
        &BrokerOptions {
            advertised_port: Some(proxy_port),
            ..Default::default()
        },
    )
    .expect("nisshi starts");
    let _proxy =
        sitedeck_lab::plain_proxy::PlainProxy::start(proxy_port, broker.address(), "carol", "pw-c")
            .expect("proxy");
    let plain = |password: &str| {
        profile_for(
            dir.path(),
            &sasl_entry(&format!("127.0.0.1:{proxy_port}"), "PLAIN", "carol"),
            Some(password),
        )
    };
    let loaded = plain("pw-c");
    let spec = &loaded.profile.kafka[0];
    let snapshot = kafka::observe(spec, &loaded.profile.base_dir, TIMEOUT)
        .await
        .expect("PLAIN logs in");
    assert_eq!(snapshot.brokers[0].port, i32::from(proxy_port));

    let loaded = plain("nope");
    let error = kafka::observe(&loaded.profile.kafka[0], &loaded.profile.base_dir, TIMEOUT)
        .await
        .expect_err("a wrong PLAIN password fails");
    assert!(
        matches!(&error, KafkaError::Authentication { mechanism, .. } if mechanism == "PLAIN"),
        "{error:?}"
    );
}

#[tokio::test]
async fn one_bootstrap_server_of_two_is_degraded_and_none_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = KafkaBroker::start(&dir.path().join("kafka"), &BrokerOptions::default())
        .expect("nisshi starts");
    let closed = sitedeck_lab::free_port().expect("port");
    let loaded = profile_for(
        dir.path(),
        &format!(
            "    bootstrap: [127.0.0.1:{closed}, {}]\n",
            broker.bootstrap()
        ),
        None,
    );
    let sources = probe::plan(&loaded.profile, None);
    let report = probe::run(&sources[0], &loaded.profile, &probe::ProbeEnv::default()).await;
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(
        report.detail.contains("1 of 2 bootstrap servers"),
        "{report:?}"
    );
    broker.stop();
    let report = probe::run(&sources[0], &loaded.profile, &probe::ProbeEnv::default()).await;
    assert_eq!(report.state, ProbeState::Refused, "{report:?}");
}

#[tokio::test]
async fn sasl_ssl_verifies_the_broker_against_the_ca_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let certificates = sitedeck_lab::kube::tls::LabCertificates::generate().expect("certificates");
    let (cert, key) = (dir.path().join("broker.pem"), dir.path().join("broker.key"));
    std::fs::write(&cert, &certificates.server_pem).expect("cert");
    std::fs::write(&key, &certificates.server_key_pem).expect("key");
    std::fs::write(dir.path().join("ca.pem"), &certificates.ca_pem).expect("ca");
    let broker = KafkaBroker::start(
        &dir.path().join("kafka"),
        &BrokerOptions {
            users: users(),
            tls: Some((cert, key)),
            ..Default::default()
        },
    )
    .expect("nisshi starts with TLS");
    let entry = |ca: &str| {
        format!(
            "    bootstrap: [{}]\n    security_protocol: SASL_SSL\n    sasl_mechanism: SCRAM-SHA-256\n    username: alice\n    password: {{file: kafka.pw}}\n{ca}",
            broker.bootstrap()
        )
    };
    let loaded = profile_for(
        dir.path(),
        &entry("    ca_file: ca.pem\n"),
        Some("alice-secret"),
    );
    let snapshot = kafka::observe(&loaded.profile.kafka[0], &loaded.profile.base_dir, TIMEOUT)
        .await
        .expect("SASL_SSL with the lab CA");
    assert_eq!(snapshot.brokers.len(), 1);

    // The system's CAs do not know the lab CA: a TLS error, said at once.
    let loaded = profile_for(dir.path(), &entry(""), Some("alice-secret"));
    let started = std::time::Instant::now();
    let error = kafka::observe(&loaded.profile.kafka[0], &loaded.profile.base_dir, TIMEOUT)
        .await
        .expect_err("an unknown CA fails");
    assert!(matches!(error, KafkaError::Tls(_)), "{error:?}");
    assert!(started.elapsed() < TIMEOUT, "not after the whole timeout");
}
