//! A replay broker: Kafka's answers to the requests sitedeck's look sends,
//! encoded byte for byte from a described cluster, for what neither nisshi
//! nor librdkafka's mock cluster can produce: an ISR smaller than the
//! replicas, racks, a controller, a cluster id and topic configs.
//!
//! The answers follow the Kafka protocol spec
//! (<https://kafka.apache.org/protocol>) at the versions Apache Kafka
//! answers librdkafka with when these are the highest it offers:
//! ApiVersions v0–v3, Metadata v0–v2, ListOffsets v0–v1, ListGroups v0 and
//! DescribeConfigs v0. Each broker of the cluster gets its own listener on
//! 127.0.0.1 and advertises it, so a client talks to every broker as it
//! would on a site. It is a fixture, not a broker: nothing can be produced
//! or consumed, and the cluster never changes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};

const LIST_OFFSETS: i16 = 2;
const METADATA: i16 = 3;
const LIST_GROUPS: i16 = 16;
const API_VERSIONS: i16 = 18;
const DESCRIBE_CONFIGS: i16 = 32;
/// What the replay answers: (api key, lowest version, highest version).
const OFFERED: [(i16, i16, i16); 5] = [
    (LIST_OFFSETS, 0, 1),
    (METADATA, 0, 2),
    (LIST_GROUPS, 0, 0),
    (API_VERSIONS, 0, 3),
    (DESCRIBE_CONFIGS, 0, 0),
];
/// Kafka's LEADER_NOT_AVAILABLE: the partition has no leader.
const LEADER_NOT_AVAILABLE: i16 = 5;
/// Kafka's NOT_LEADER_OR_FOLLOWER: asked of a broker that does not lead.
const NOT_LEADER: i16 = 6;
/// Kafka's UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC: i16 = 3;
/// Kafka's UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;
/// The largest request read.
const MAX_FRAME: usize = 1 << 20;

/// The cluster a replay answers for.
#[derive(Debug, Clone, Default)]
pub struct ReplayCluster {
    /// Metadata's cluster id.
    pub cluster_id: String,
    /// The controller's broker id.
    pub controller: i32,
    /// The brokers (id, rack); each gets a listener.
    pub brokers: Vec<(i32, Option<String>)>,
    /// The topics.
    pub topics: Vec<ReplayTopic>,
}

/// One topic of a [`ReplayCluster`].
#[derive(Debug, Clone)]
pub struct ReplayTopic {
    /// Its name.
    pub name: String,
    /// Its partitions, by id.
    pub partitions: Vec<ReplayPartition>,
    /// What DescribeConfigs says: its configs, or the error code it gives
    /// for this topic (TOPIC_AUTHORIZATION_FAILED is 29).
    pub configs: Result<Vec<(String, String)>, i16>,
}

/// One partition of a [`ReplayTopic`].
#[derive(Debug, Clone, Default)]
pub struct ReplayPartition {
    /// The partition id.
    pub id: i32,
    /// The leader's broker id; −1 for none (the partition is offline and
    /// Metadata says LEADER_NOT_AVAILABLE).
    pub leader: i32,
    /// The replicas' broker ids.
    pub replicas: Vec<i32>,
    /// The in-sync replicas' broker ids.
    pub isr: Vec<i32>,
    /// The earliest offset (ListOffsets with timestamp −2).
    pub low: i64,
    /// The end offset (ListOffsets with timestamp −1).
    pub high: i64,
}

/// A running replay; its listeners close when it is dropped.
#[derive(Debug)]
pub struct ReplayBroker {
    ports: Vec<u16>,
    heard: Arc<Mutex<Vec<(i16, i16)>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What the connections of one replay share.
struct Shared {
    cluster: ReplayCluster,
    /// (broker id, port), in the cluster's order.
    listeners: Vec<(i32, u16)>,
    heard: Arc<Mutex<Vec<(i16, i16)>>>,
    stop: Arc<AtomicBool>,
}

impl ReplayBroker {
    /// Starts one listener per broker of `cluster` on 127.0.0.1.
    pub fn start(cluster: ReplayCluster) -> Result<Self> {
        let mut sockets = Vec::new();
        for (id, _) in &cluster.brokers {
            let listener = TcpListener::bind("127.0.0.1:0")
                .with_context(|| format!("replay broker {id} cannot listen"))?;
            listener.set_nonblocking(true)?;
            sockets.push((*id, listener));
        }
        let mut listeners = Vec::new();
        for (id, listener) in &sockets {
            listeners.push((*id, listener.local_addr()?.port()));
        }
        let heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            cluster,
            listeners: listeners.clone(),
            heard: Arc::clone(&heard),
            stop: Arc::clone(&stop),
        });
        let mut threads = Vec::new();
        for (id, listener) in sockets {
            let shared = Arc::clone(&shared);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("replay-broker-{id}"))
                    .spawn(move || accept(listener, id, &shared))
                    .context("cannot start a replay broker's thread")?,
            );
        }
        Ok(Self {
            ports: listeners.iter().map(|(_, port)| *port).collect(),
            heard,
            stop,
            threads,
        })
    }

    /// The bootstrap servers: every broker's address.
    pub fn bootstrap(&self) -> String {
        self.ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every request answered so far, as (api key, version).
    pub fn heard(&self) -> Vec<(i16, i16)> {
        self.heard.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

impl Drop for ReplayBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Accepts connections for broker `id` until the replay stops; each is
/// served on a thread of its own, joined before this returns.
fn accept(listener: TcpListener, id: i32, shared: &Arc<Shared>) {
    let mut connections = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                connections.push(std::thread::spawn(move || {
                    if let Err(e) = serve(stream, id, &shared) {
                        eprintln!("replay broker {id}: {e:#}");
                    }
                }));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// Answers one connection's requests in order until it closes or the
/// replay stops.
fn serve(mut stream: TcpStream, id: i32, shared: &Shared) -> Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    while let Some(frame) = read_frame(&mut stream, &shared.stop)? {
        let mut request = Reader::new(&frame);
        let api_key = request.i16()?;
        let version = request.i16()?;
        let correlation_id = request.i32()?;
        request.nullable_string()?;
        let mut response = Writer::default();
        response.i32(correlation_id);
        match api_key {
            API_VERSIONS => api_versions(version, &mut response),
            METADATA if version <= 2 => metadata(version, &mut request, shared, &mut response)?,
            LIST_OFFSETS if version <= 1 => {
                list_offsets(version, &mut request, id, &shared.cluster, &mut response)?;
            }
            LIST_GROUPS if version == 0 => {
                response.i16(0);
                response.i32(0);
            }
            DESCRIBE_CONFIGS if version == 0 => {
                describe_configs(&mut request, &shared.cluster, &mut response)?;
            }
            other => bail!("request {other} v{version} is not offered"),
        }
        if let Ok(mut heard) = shared.heard.lock() {
            heard.push((api_key, version));
        }
        let body = response.0;
        let mut framed = u32::try_from(body.len())?.to_be_bytes().to_vec();
        framed.extend(body);
        stream.write_all(&framed)?;
    }
    Ok(())
}

/// ApiVersions: the offered versions. A client asking for a version above
/// 3 gets UNSUPPORTED_VERSION in the v0 form, as Kafka does, and asks again.
fn api_versions(version: i16, out: &mut Writer) {
    let flexible = version == 3;
    out.i16(if version > 3 { UNSUPPORTED_VERSION } else { 0 });
    let offered = OFFERED.len();
    if flexible {
        out.uvarint(offered + 1);
    } else {
        out.array_len(offered);
    }
    for (key, min, max) in OFFERED {
        out.i16(key);
        out.i16(min);
        out.i16(max);
        if flexible {
            out.uvarint(0);
        }
    }
    if (1..=3).contains(&version) {
        out.i32(0);
    }
    if flexible {
        out.uvarint(0);
    }
}

/// Metadata v0–v2: the brokers (racks and controller from v1, the cluster
/// id from v2) and the asked-for topics (v0: an empty list asks for all;
/// v1+: a null list asks for all, an empty one for none).
fn metadata(version: i16, request: &mut Reader, shared: &Shared, out: &mut Writer) -> Result<()> {
    let asked = request.nullable_string_array()?;
    let asked: Option<Vec<String>> = match asked {
        Some(names) if version == 0 && names.is_empty() => None,
        other => other,
    };
    out.array_len(shared.listeners.len());
    for ((id, port), (_, rack)) in shared.listeners.iter().zip(&shared.cluster.brokers) {
        out.i32(*id);
        out.string("127.0.0.1");
        out.i32(i32::from(*port));
        if version >= 1 {
            out.nullable_string(rack.as_deref());
        }
    }
    if version >= 2 {
        out.nullable_string(Some(&shared.cluster.cluster_id));
    }
    if version >= 1 {
        out.i32(shared.cluster.controller);
    }
    let topics: Vec<(&str, Option<&ReplayTopic>)> = match &asked {
        None => shared
            .cluster
            .topics
            .iter()
            .map(|t| (t.name.as_str(), Some(t)))
            .collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                (
                    n.as_str(),
                    shared.cluster.topics.iter().find(|t| t.name == *n),
                )
            })
            .collect(),
    };
    out.array_len(topics.len());
    for (name, topic) in topics {
        let Some(topic) = topic else {
            out.i16(UNKNOWN_TOPIC);
            out.string(name);
            if version >= 1 {
                out.bool(false);
            }
            out.array_len(0);
            continue;
        };
        out.i16(0);
        out.string(&topic.name);
        if version >= 1 {
            out.bool(topic.name.starts_with("__"));
        }
        out.array_len(topic.partitions.len());
        for partition in &topic.partitions {
            out.i16(if partition.leader < 0 {
                LEADER_NOT_AVAILABLE
            } else {
                0
            });
            out.i32(partition.id);
            out.i32(partition.leader);
            out.i32_array(&partition.replicas);
            out.i32_array(&partition.isr);
        }
    }
    Ok(())
}

/// ListOffsets v0–v1: the low (−2) or high (−1) watermark of each asked
/// partition this broker leads.
fn list_offsets(
    version: i16,
    request: &mut Reader,
    broker: i32,
    cluster: &ReplayCluster,
    out: &mut Writer,
) -> Result<()> {
    request.i32()?;
    let topics = request.array_len()?;
    out.array_len(topics);
    for _ in 0..topics {
        let name = request.string()?;
        let partitions = request.array_len()?;
        out.string(&name);
        out.array_len(partitions);
        for _ in 0..partitions {
            let id = request.i32()?;
            let timestamp = request.i64()?;
            if version == 0 {
                request.i32()?;
            }
            let found = cluster
                .topics
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.partitions.iter().find(|p| p.id == id));
            let (error, offset) = match (found, timestamp) {
                (None, _) => (UNKNOWN_TOPIC, -1),
                (Some(p), _) if p.leader != broker => (NOT_LEADER, -1),
                (Some(p), -2) => (0, p.low),
                (Some(p), -1) => (0, p.high),
                // The replay keeps no timestamps to look one up by.
                (Some(_), other) => bail!("ListOffsets by timestamp ({other}) is not replayed"),
            };
            out.i32(id);
            out.i16(error);
            if version == 0 {
                // Old-style offsets: a list, empty on an error.
                out.array_len(usize::from(error == 0));
                if error == 0 {
                    out.i64(offset);
                }
            } else {
                out.i64(-1);
                out.i64(offset);
            }
        }
    }
    Ok(())
}

/// DescribeConfigs v0: each asked topic's configs (every one; a key list
/// is not narrowed), or its error.
fn describe_configs(request: &mut Reader, cluster: &ReplayCluster, out: &mut Writer) -> Result<()> {
    let resources = request.array_len()?;
    out.i32(0);
    out.array_len(resources);
    for _ in 0..resources {
        let kind = request.i8()?;
        let name = request.string()?;
        request.nullable_string_array()?;
        let topic = cluster.topics.iter().find(|t| t.name == name);
        let configs = match topic.map(|t| &t.configs) {
            Some(Ok(configs)) if kind == 2 => Ok(configs.as_slice()),
            Some(Err(code)) if kind == 2 => Err(*code),
            _ => Err(UNKNOWN_TOPIC),
        };
        match configs {
            Ok(configs) => {
                out.i16(0);
                out.nullable_string(None);
                out.i8(kind);
                out.string(&name);
                out.array_len(configs.len());
                for (key, value) in configs {
                    out.string(key);
                    out.nullable_string(Some(value));
                    out.bool(false);
                    out.bool(false);
                    out.bool(false);
                }
            }
            Err(code) => {
                out.i16(code);
                out.nullable_string(Some("replayed error"));
                out.i8(kind);
                out.string(&name);
                out.array_len(0);
            }
        }
    }
    Ok(())
}

/// One length-prefixed frame; `None` when the peer closed or the replay
/// stopped.
fn read_frame(stream: &mut TcpStream, stop: &AtomicBool) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match stream.read(&mut len[got..]) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = usize::try_from(u32::from_be_bytes(len))?;
    if len > MAX_FRAME {
        bail!("a {len}-byte request: refused");
    }
    let mut frame = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match stream.read(&mut frame[got..]) {
            Ok(0) => return Ok(None),
            Ok(n) => got += n,
            Err(e) if is_timeout(&e) && !stop.load(Ordering::Relaxed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(frame))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Reads a request's non-flexible fields.
struct Reader<'a> {
    frame: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(frame: &'a [u8]) -> Self {
        Self { frame, at: 0 }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        let bytes = self
            .frame
            .get(self.at..self.at + N)
            .context("a request ended before its fields")?;
        self.at += N;
        Ok(bytes.try_into()?)
    }

    fn i8(&mut self) -> Result<i8> {
        Ok(i8::from_be_bytes(self.take()?))
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.take()?))
    }

    fn array_len(&mut self) -> Result<usize> {
        Ok(usize::try_from(self.i32()?.max(0))?)
    }

    fn nullable_string(&mut self) -> Result<Option<String>> {
        let len = self.i16()?;
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        let bytes = self
            .frame
            .get(self.at..self.at + len)
            .context("a request ended inside a string")?;
        self.at += len;
        Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
    }

    fn string(&mut self) -> Result<String> {
        self.nullable_string()?
            .context("a null where a request has a string")
    }

    /// An array of strings; `None` for a null array (length −1).
    fn nullable_string_array(&mut self) -> Result<Option<Vec<String>>> {
        let len = self.i32()?;
        let Ok(len) = usize::try_from(len) else {
            return Ok(None);
        };
        (0..len)
            .map(|_| self.string())
            .collect::<Result<_>>()
            .map(Some)
    }
}

/// Writes a response's fields.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn i8(&mut self, value: i8) {
        self.0.extend(value.to_be_bytes());
    }

    fn i16(&mut self, value: i16) {
        self.0.extend(value.to_be_bytes());
    }

    fn i32(&mut self, value: i32) {
        self.0.extend(value.to_be_bytes());
    }

    fn i64(&mut self, value: i64) {
        self.0.extend(value.to_be_bytes());
    }

    fn bool(&mut self, value: bool) {
        self.0.push(u8::from(value));
    }

    fn array_len(&mut self, len: usize) {
        self.i32(i32::try_from(len).unwrap_or(i32::MAX));
    }

    fn uvarint(&mut self, mut value: usize) {
        while value >= 0x80 {
            self.0.push((value as u8 & 0x7f) | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn string(&mut self, text: &str) {
        self.i16(i16::try_from(text.len()).unwrap_or(i16::MAX));
        self.0.extend(text.as_bytes());
    }

    fn nullable_string(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.string(text),
            None => self.i16(-1),
        }
    }

    fn i32_array(&mut self, values: &[i32]) {
        self.array_len(values.len());
        for value in values {
            self.i32(*value);
        }
    }
}
