//! Kafka scale harness (issue #6): a broker with 500 topics × 6 partitions
//! and 50 consumer groups; the time from connect until topics, watermarks
//! and every group's lag are read (what the Kafka and Groups views show).
//!
//! The broker is the lab's nisshi on loopback, with a SCRAM-SHA-512 user.
//! The harness creates the topics, puts one message in every partition,
//! and has each group commit offsets on the partitions of 10 topics. Then
//! `sitedeck::kafka::observe` runs `SITEDECK_ROUNDS` times (default 5),
//! each a fresh connection and login, as a probe round does. A snapshot
//! without all topics or groups, or with a wrong lag, is a harness error.
//! The goal (≤ 2 s) is not asserted: the figures go to
//! docs/PERFORMANCE.md.
//!
//! With `SITEDECK_KEEP_BROKER=1` the harness prints the broker's address
//! and the user's password file and waits for Enter before stopping, so
//! another client (kaskade) can be timed against the same broker.
//!
//! Run: `cargo bench --bench kafka_scale`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sitedeck::config::profile;
use sitedeck_lab::kafka::{BrokerOptions, KafkaBroker, KafkaUser, Scram};
use sitedeck_lab::kafka_traffic::{Produced, commit_many, create_topics, producer, send};

const TOPICS: usize = 500;
const PARTITIONS: i32 = 6;
const GROUPS: usize = 50;
/// Each group commits on the partitions of this many topics.
const TOPICS_PER_GROUP: usize = 10;

fn topic(n: usize) -> String {
    format!("topic-{n:03}")
}

fn main() -> Result<()> {
    let rounds: usize = std::env::var("SITEDECK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir()?;
    let user = KafkaUser {
        name: "bench".into(),
        password: sitedeck_lab::lab_secret("bench"),
        mechanism: Scram::Sha512,
    };
    let broker = KafkaBroker::start(
        &dir.path().join("kafka"),
        &BrokerOptions {
            users: vec![user.clone()],
            ..Default::default()
        },
    )?;
    let login = broker.login(&user);
    let started = Instant::now();
    let names: Vec<String> = (0..TOPICS).map(topic).collect();
    create_topics(&login, &names, PARTITIONS)?;
    let producer = producer(&login)?;
    for name in &names {
        let one_each: Vec<Produced> = (0..PARTITIONS)
            .map(|partition| Produced {
                partition,
                value: format!(r#"{{"topic":"{name}"}}"#),
                ..Default::default()
            })
            .collect();
        send(&producer, name, &one_each)?;
    }
    for g in 0..GROUPS {
        let partitions: Vec<(String, i32, i64)> = (0..TOPICS_PER_GROUP)
            .flat_map(|t| {
                let name = topic((g * 7 + t) % TOPICS);
                (0..PARTITIONS).map(move |p| (name.clone(), p, 0))
            })
            .collect();
        commit_many(&login, &format!("group-{g:02}"), &partitions)?;
    }
    eprintln!(
        "set up {TOPICS} topics x {PARTITIONS} partitions and {GROUPS} groups in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    std::fs::write(dir.path().join("pw"), &user.password)?;
    let site = dir.path().join("site.yaml");
    std::fs::write(
        &site,
        format!(
            "name: bench\nenvironment: poc\nkafka:\n  - name: bench\n    bootstrap: [{}]\n    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n    username: bench\n    password: {{file: pw}}\n",
            broker.bootstrap()
        ),
    )?;
    let loaded = profile::load(&site).map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = &loaded.profile.kafka[0];
    let runtime = tokio::runtime::Runtime::new()?;
    let mut times = Vec::new();
    for round in 0..=rounds {
        let started = Instant::now();
        let snapshot = runtime
            .block_on(sitedeck::kafka::observe(
                &sitedeck::kafka::KafkaTarget::new(
                    spec,
                    &loaded.profile.base_dir,
                    Duration::from_secs(10),
                ),
            ))
            .context("observe")?;
        let elapsed = started.elapsed();
        ensure!(snapshot.notes.is_empty(), "{:?}", snapshot.notes);
        let topics = snapshot.topics.iter().filter(|t| !t.is_internal()).count();
        ensure!(topics == TOPICS, "{topics} topics read");
        ensure!(
            snapshot.groups.len() == GROUPS,
            "{} groups read",
            snapshot.groups.len()
        );
        for group in &snapshot.groups {
            ensure!(group.error.is_none(), "{}: {:?}", group.name, group.error);
            let expected = (TOPICS_PER_GROUP as i64) * i64::from(PARTITIONS);
            ensure!(
                group.total_lag() == expected,
                "{} lag {}",
                group.name,
                group.total_lag()
            );
        }
        if round == 0 {
            eprintln!("warm-up: {:.0} ms", elapsed.as_secs_f64() * 1000.0);
        } else {
            eprintln!("round {round}: {:.0} ms", elapsed.as_secs_f64() * 1000.0);
            times.push(elapsed);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "kafka_scale: {TOPICS} topics x {PARTITIONS} partitions, {GROUPS} groups: median {:.0} ms, best {:.0} ms, worst {:.0} ms over {} rounds (goal <= 2000 ms)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
    if std::env::var_os("SITEDECK_KEEP_BROKER").is_some() {
        println!(
            "broker {} user bench password file {} — press Enter to stop",
            broker.bootstrap(),
            dir.path().join("pw").display()
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
    }
    Ok(())
}
