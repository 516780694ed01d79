//! Clients for the lab's broker: topics made, messages produced, offsets
//! committed for a group, and the lab's steady traffic (a producer and a
//! consumer group that keeps a lag that changes, plus a stalled group).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// How a lab client logs in.
#[derive(Clone)]
pub struct KafkaLogin {
    /// `host:port`.
    pub bootstrap: String,
    /// User, password and librdkafka mechanism name; `None`: PLAINTEXT.
    pub sasl: Option<(String, String, String)>,
}

impl std::fmt::Debug for KafkaLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLogin")
            .field("bootstrap", &self.bootstrap)
            .field("user", &self.sasl.as_ref().map(|(user, _, _)| user))
            .finish_non_exhaustive()
    }
}

impl KafkaLogin {
    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("socket.timeout.ms", "10000");
        if let Some((user, password, mechanism)) = &self.sasl {
            config
                .set("security.protocol", "SASL_PLAINTEXT")
                .set("sasl.mechanism", mechanism)
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
        config
    }
}

/// Creates `topic` with `partitions` partitions (replication factor 1).
pub fn create_topic(login: &KafkaLogin, topic: &str, partitions: i32) -> Result<()> {
    create_topics(login, &[topic.to_owned()], partitions)
}

/// Creates `topics`, each with `partitions` partitions (replication factor
/// 1), in one request; a topic that exists already is fine.
pub fn create_topics(login: &KafkaLogin, topics: &[String], partitions: i32) -> Result<()> {
    let admin: AdminClient<_> = login
        .config()
        .create()
        .context("cannot make a Kafka admin client")?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    // On a thread of its own: the caller may be inside a tokio runtime.
    let results = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<_> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok(runtime.block_on(admin.create_topics(&new, &options))?)
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the admin thread panicked"))?
    })?;
    for result in results {
        if let Err((name, code)) = result
            && code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists
        {
            bail!("cannot create topic {name}: {code}");
        }
    }
    Ok(())
}

/// One message to produce.
#[derive(Debug, Clone, Default)]
pub struct Produced {
    /// The partition.
    pub partition: i32,
    /// The key.
    pub key: Option<String>,
    /// The value.
    pub value: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
}

/// Produces `messages` to `topic` and waits until the broker has them.
pub fn produce(login: &KafkaLogin, topic: &str, messages: &[Produced]) -> Result<()> {
    send(&producer(login)?, topic, messages)
}

/// A producer to [`send`] with, for many topics over one login.
pub fn producer(login: &KafkaLogin) -> Result<ThreadedProducer<DefaultProducerContext>> {
    login
        .config()
        .set("linger.ms", "5")
        .create()
        .context("cannot make a Kafka producer")
}

/// Produces `messages` to `topic` with `producer` and waits until the
/// broker has them.
pub fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    messages: &[Produced],
) -> Result<()> {
    for message in messages {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &message.headers {
            headers = headers.insert(rdkafka::message::Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let mut record = BaseRecord::to(topic)
            .partition(message.partition)
            .payload(&message.value)
            .headers(headers);
        if let Some(key) = &message.key {
            record = record.key(key);
        }
        producer
            .send(record)
            .map_err(|(e, _)| anyhow::anyhow!("cannot produce to {topic}: {e}"))?;
    }
    producer
        .flush(Duration::from_secs(15))
        .context("the broker did not take every message")?;
    Ok(())
}

/// Commits `offset` for `group` on one partition, without joining the
/// group (as a tool that resets offsets would).
pub fn commit(
    login: &KafkaLogin,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<()> {
    commit_many(login, group, &[(topic.to_owned(), partition, offset)])
}

/// Commits `(topic, partition, offset)`s for `group` in one request,
/// without joining the group.
pub fn commit_many(login: &KafkaLogin, group: &str, offsets: &[(String, i32, i64)]) -> Result<()> {
    let consumer: BaseConsumer = login
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .context("cannot make a Kafka consumer")?;
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    consumer
        .commit(&list, CommitMode::Sync)
        .with_context(|| format!("cannot commit {} offset(s) for {group}", offsets.len()))?;
    Ok(())
}

/// The lab's steady traffic; stops when dropped.
#[derive(Debug)]
pub struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// The topic the lab's traffic uses.
pub const ORDERS: &str = "orders";
/// The group that consumes it, a little behind.
pub const BILLING: &str = "billing";
/// The group that stopped consuming it.
pub const AUDIT: &str = "audit";

impl Traffic {
    /// Creates `orders` (3 partitions) and `payments` (2), commits a stalled
    /// position for `audit`, then produces 5 orders a second while `billing`
    /// consumes them in bursts, so its lag rises and falls.
    pub fn start(login: &KafkaLogin) -> Result<Self> {
        create_topic(login, ORDERS, 3)?;
        create_topic(login, "payments", 2)?;
        let first: Vec<Produced> = (0..3)
            .map(|partition| order(partition, i64::from(partition)))
            .collect();
        produce(login, ORDERS, &first)?;
        for partition in 0..3 {
            commit(login, AUDIT, ORDERS, partition, 0)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let producer = {
            let (login, stop) = (login.clone(), Arc::clone(&stop));
            std::thread::spawn(move || produce_forever(&login, &stop))
        };
        let consumer = {
            let (login, stop) = (login.clone(), Arc::clone(&stop));
            std::thread::spawn(move || consume_forever(&login, &stop))
        };
        Ok(Self {
            stop,
            threads: vec![producer, consumer],
        })
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn order(partition: i32, n: i64) -> Produced {
    Produced {
        partition,
        key: Some(format!("order-{n}")),
        value: format!(
            r#"{{"order":{n},"amount":{},"trace_id":"{:032x}"}}"#,
            (n * 37) % 1000,
            n * 7919
        ),
        headers: vec![("source".into(), "lab".into())],
    }
}

fn produce_forever(login: &KafkaLogin, stop: &AtomicBool) {
    let producer = match producer(login) {
        Ok(producer) => producer,
        Err(e) => return eprintln!("lab traffic: {e:#}"),
    };
    let mut n = 3i64;
    while !stop.load(Ordering::Relaxed) {
        let batch: Vec<Produced> = (0..5)
            .map(|i| {
                n += 1;
                order(((n + i) % 3) as i32, n)
            })
            .collect();
        if let Err(e) = send(&producer, ORDERS, &batch) {
            eprintln!("lab traffic: {e:#}");
        }
        sleep_unless_stopped(stop, Duration::from_secs(1));
    }
}

fn consume_forever(login: &KafkaLogin, stop: &AtomicBool) {
    let consumer: BaseConsumer = match login
        .config()
        .set("group.id", BILLING)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
    {
        Ok(consumer) => consumer,
        Err(e) => return eprintln!("lab traffic: {e}"),
    };
    if let Err(e) = consumer.subscribe(&[ORDERS]) {
        return eprintln!("lab traffic: {e}");
    }
    // Consume for 4 s, then pause for 6 s: the lag rises and falls.
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tick += 1;
        if tick % 10 < 4 {
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while std::time::Instant::now() < deadline {
                if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
                    eprintln!("lab traffic: {e}");
                }
            }
            let _ = consumer.commit_consumer_state(CommitMode::Async);
        } else {
            // Not polling: librdkafka heartbeats in the background, and
            // max.poll.interval.ms (5 minutes) is far away.
            sleep_unless_stopped(stop, Duration::from_secs(1));
        }
    }
}

fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) {
    let step = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while waited < total && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(step);
        waited += step;
    }
}
