//! Kafka against a real broker (nisshi): SCRAM-SHA-256 and -512 logins,
//! a wrong password, topics and partitions, a group's lag, peek, and
//! PLAIN through the lab's front proxy.

use std::path::Path;
use std::time::Duration;

use sitedeck::config::profile::{self, LoadedProfile};
use sitedeck::kafka::{self, KafkaError, KafkaTarget, PeekFrom};
use sitedeck::probe::{self, ProbeState};
use sitedeck_lab::kafka::{BrokerOptions, KafkaBroker, KafkaUser, Scram};
use sitedeck_lab::kafka_traffic::{Produced, commit, create_topic, produce};

mod support;

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
        let snapshot = kafka::observe(&KafkaTarget::new(spec, &loaded.profile.base_dir, TIMEOUT))
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

    let last = kafka::peek(
        &KafkaTarget::new(spec, base, TIMEOUT),
        "orders",
        1,
        PeekFrom::Last,
        3,
    )
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
        &KafkaTarget::new(spec, base, TIMEOUT),
        "orders",
        1,
        PeekFrom::Time(before - 1000),
        2,
    )
    .await
    .expect("peek from a time");
    assert_eq!(from.iter().map(|m| m.offset).collect::<Vec<_>>(), [0, 1]);

    let empty = kafka::peek(
        &KafkaTarget::new(spec, base, TIMEOUT),
        "orders",
        0,
        PeekFrom::Last,
        5,
    )
    .await
    .expect("peek an empty partition");
    assert!(empty.is_empty());

    // Peeking made no consumer group.
    let snapshot = kafka::observe(&KafkaTarget::new(spec, base, TIMEOUT))
        .await
        .expect("observe");
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
    let error = kafka::observe(&KafkaTarget::new(spec, &loaded.profile.base_dir, TIMEOUT))
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
    let snapshot = kafka::observe(&KafkaTarget::new(spec, &loaded.profile.base_dir, TIMEOUT))
        .await
        .expect("PLAIN logs in");
    assert_eq!(snapshot.brokers[0].port, i32::from(proxy_port));

    let loaded = plain("nope");
    let error = kafka::observe(&KafkaTarget::new(
        &loaded.profile.kafka[0],
        &loaded.profile.base_dir,
        TIMEOUT,
    ))
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
    let snapshot = kafka::observe(&KafkaTarget::new(
        &loaded.profile.kafka[0],
        &loaded.profile.base_dir,
        TIMEOUT,
    ))
    .await
    .expect("SASL_SSL with the lab CA");
    assert_eq!(snapshot.brokers.len(), 1);

    // The system's CAs do not know the lab CA: a TLS error, said at once.
    let loaded = profile_for(dir.path(), &entry(""), Some("alice-secret"));
    let started = std::time::Instant::now();
    let error = kafka::observe(&KafkaTarget::new(
        &loaded.profile.kafka[0],
        &loaded.profile.base_dir,
        TIMEOUT,
    ))
    .await
    .expect_err("an unknown CA fails");
    assert!(matches!(error, KafkaError::Tls(_)), "{error:?}");
    assert!(started.elapsed() < TIMEOUT, "not after the whole timeout");
}

/// The name the broker advertises once it runs "in the cluster": a
/// StatefulSet pod behind its headless Service.
const IN_CLUSTER_BROKER: &str = "kafka-0.kafka-headless.middleware.svc.cluster.local";

/// Pod `middleware/kafka-0`, running and ready, in the simulator.
fn broker_pod() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kafka-0", "namespace": "middleware",
                     "labels": {"app": "kafka", "statefulset.kubernetes.io/pod-name": "kafka-0"}},
        "spec": {"containers": [{"name": "kafka", "image": "docker.io/bitnami/kafka:3.7.0",
                                 "ports": [{"containerPort": 9092}]}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn brokers_advertising_in_cluster_names_are_reached_through_port_forwards() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = scram_broker(dir.path());
    let bob = broker.login(&users()[1]);
    create_topic(&bob, "orders", 2).expect("topic");
    produce(&bob, "orders", &orders(0, 7)).expect("produce");
    commit(&bob, "billing", "orders", 0, 3).expect("commit");
    // From now on the broker tells clients to come back at a name only
    // the cluster resolves, as brokers in a cluster do.
    broker
        .readvertise(IN_CLUSTER_BROKER, 9092)
        .expect("nisshi restarts");

    let sim = sitedeck_lab::kube::KubeSim::start_with(
        &dir.path().join("kube"),
        sitedeck_lab::kube::KubeSimOptions {
            log_interval: None,
            ..Default::default()
        },
    )
    .expect("simulator");
    sim.create(broker_pod()).expect("pod kafka-0");
    // The simulator stands in for the kubelet: port 9092 of the pod is
    // the real broker.
    sim.forward_port("middleware", "kafka-0", 9092, broker.address());
    let cluster = format!("cluster:\n  kubeconfig: {}\n", sim.kubeconfig().display());
    std::fs::write(dir.path().join("kafka.pw"), "bob-secret").expect("secret");
    let write = |via: &str| {
        let text = format!(
            "name: kafka-test\nenvironment: poc\n{cluster}kafka:\n  - name: events\n{}{via}",
            sasl_entry(&format!("{IN_CLUSTER_BROKER}:9092"), "SCRAM-SHA-512", "bob")
        );
        let path = dir.path().join("site.yaml");
        std::fs::write(&path, text).expect("write profile");
        profile::load(&path).unwrap_or_else(|e| panic!("{e}"))
    };

    // Direct, the bastion cannot resolve the name, and the error says what
    // to do.
    let direct = write("");
    let error = kafka::observe(&KafkaTarget::new(
        &direct.profile.kafka[0],
        &direct.profile.base_dir,
        Duration::from_secs(2),
    ))
    .await
    .expect_err("no DNS for cluster names here");
    assert!(
        matches!(&error, KafkaError::Unreachable(said) if said.contains("via: port-forward")),
        "{error:?}"
    );

    let loaded = write("    via: port-forward\n");
    let target = sitedeck::cluster::connect::ClusterTarget {
        kubeconfig: Some(sim.kubeconfig().to_path_buf()),
        context: None,
        bastion: None,
    };
    let connection = sitedeck::cluster::connect::connect(&target, &[])
        .await
        .expect("connect");
    let forwards = sitedeck::cluster::portforward::Forwards::new(connection.client);
    let through = KafkaTarget::new(&loaded.profile.kafka[0], &loaded.profile.base_dir, TIMEOUT)
        .through(Some(forwards.clone()));
    let snapshot = kafka::observe(&through)
        .await
        .expect("observe through the forward");
    assert_eq!(snapshot.brokers[0].host, IN_CLUSTER_BROKER);
    assert_eq!(
        snapshot.path, "port-forward to pod middleware/kafka-0:9092",
        "{snapshot:?}"
    );
    let topic = snapshot
        .topics
        .iter()
        .find(|t| t.name == "orders")
        .expect("orders listed");
    assert_eq!(topic.partitions[0].high, Some(7), "{topic:?}");
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.name == "billing")
        .expect("billing listed");
    assert_eq!(group.total_lag(), 4, "{group:?}");

    let peeked = kafka::peek(&through, "orders", 0, PeekFrom::Last, 2)
        .await
        .expect("peek through the forward");
    let offsets: Vec<i64> = peeked.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, [5, 6]);
    assert_eq!(peeked[1].headers, [("trace".to_owned(), "t6".to_owned())]);

    // The probe opens the forward first and shows the path.
    let sources = probe::plan(&loaded.profile, None);
    let source = sources
        .iter()
        .find(|s| matches!(s.kind, probe::SourceKind::Kafka))
        .expect("a Kafka source");
    let env = probe::ProbeEnv {
        forwards: Some(forwards),
        ..Default::default()
    };
    let report = probe::run(source, &loaded.profile, &env).await;
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(
        report.path.as_deref(),
        Some("port-forward to pod middleware/kafka-0:9092")
    );

    // Without a ready pod there is no forward, and the error says why.
    sim.delete("pods", "middleware", "kafka-0")
        .expect("delete pod");
    let report = probe::run(source, &loaded.profile, &env).await;
    assert!(report.state.is_down(), "{report:?}");
    assert!(
        report.detail.contains("pod middleware/kafka-0 not found"),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn brokers_only_the_bastion_reaches_are_reached_through_it() {
    use sitedeck_lab::netns::SiteNetwork;
    use sitedeck_lab::sshd::{NodeOptions, SshNode};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = scram_broker(dir.path());
    let bob = broker.login(&users()[1]);
    create_topic(&bob, "orders", 2).expect("topic");
    produce(&bob, "orders", &orders(0, 7)).expect("produce");
    commit(&bob, "billing", "orders", 0, 3).expect("commit");
    // The broker moves inside a site network that only its bastion
    // reaches, advertising its address there.
    let mut network = SiteNetwork::create().expect("a lab network (root, iproute2)");
    let inside = network.add_inside_host().expect("an inside host");
    broker.move_to(&inside).expect("nisshi inside");
    let bastion = SshNode::start_with(
        &dir.path().join("bastion"),
        NodeOptions {
            host: Some(network.bastion()),
            ..NodeOptions::default()
        },
    )
    .expect("bastion");
    std::fs::write(dir.path().join("kafka.pw"), "bob-secret").expect("secret");
    let text = format!(
        "name: kafka-test\nenvironment: poc\nprobes:\n  timeout_seconds: 5\n\
         ssh:\n  bastion:\n    host: {}\n    user: {}\n    identity: {}\n\
         kafka:\n  - name: events\n    via: bastion\n{}",
        bastion.host,
        bastion.user,
        bastion.client_key.display(),
        sasl_entry(&broker.address().to_string(), "SCRAM-SHA-512", "bob")
    );
    let path = dir.path().join("site.yaml");
    std::fs::write(&path, text).expect("write profile");
    let loaded = profile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let state_dir = dir.path().join("state");
    let site_bastion =
        sitedeck::nodes::access::Bastion::of_profile(&loaded.profile, &state_dir, TIMEOUT)
            .expect("the profile's bastion");
    let sources = probe::plan(&loaded.profile, None);
    let source = sources
        .iter()
        .find(|s| matches!(s.kind, probe::SourceKind::Kafka))
        .expect("a Kafka source");
    let env = probe::ProbeEnv {
        bastion: Some(site_bastion.clone()),
        ..Default::default()
    };

    // The bastion's key is not known yet: said, with what to run.
    let report = probe::run(source, &loaded.profile, &env).await;
    assert!(report.state.is_down(), "{report:?}");
    assert!(
        report.detail.contains("does not know")
            && report.detail.contains("--accept bastion=SHA256:"),
        "{report:?}"
    );
    let known = sitedeck::nodes::ssh::KnownHosts {
        user: None,
        extra: Vec::new(),
        own: state_dir.join("known_hosts"),
    };
    support::ssh::trust(&known, &bastion);

    let report = probe::run(source, &loaded.profile, &env).await;
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    let through = format!(
        "SSH via bastion {}@{} to {}",
        bastion.user,
        bastion.host,
        broker.address()
    );
    assert_eq!(report.path.as_deref(), Some(through.as_str()));
    let target = KafkaTarget::new(&loaded.profile.kafka[0], &loaded.profile.base_dir, TIMEOUT)
        .via_bastion(Some(site_bastion.clone()));
    let snapshot = kafka::observe(&target).await.expect("observe");
    let topic = snapshot
        .topics
        .iter()
        .find(|t| t.name == "orders")
        .expect("orders listed");
    assert_eq!(topic.partitions[0].high, Some(7), "{topic:?}");
    let group = snapshot
        .groups
        .iter()
        .find(|g| g.name == "billing")
        .expect("billing listed");
    assert_eq!(group.total_lag(), 4, "{group:?}");
    let peeked = kafka::peek(&target, "orders", 0, PeekFrom::Last, 2)
        .await
        .expect("peek through the bastion");
    let offsets: Vec<i64> = peeked.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, [5, 6]);
    // One login to the bastion served the probe, the look and the peek.
    let log = std::fs::read_to_string(bastion.dir.join("sshd.log")).expect("log");
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");

    // Without the bastion's session there is no way in, and it says so.
    drop(bastion);
    let report = probe::run(source, &loaded.profile, &env).await;
    assert!(report.state.is_down(), "{report:?}");
    assert!(report.detail.contains("bastion"), "{report:?}");
}
