//! Reading pods' logs over the Kubernetes API: which pods (a workload, a
//! label selector, a namespace), each container's stream with Kubernetes
//! timestamps, at most so many streams at once, and — when following — a
//! stream that ends (log rotation, the kubelet's idle timeout, a restart)
//! resumed where it stopped, and pods that appear joined.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::AsyncBufReadExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};
use tokio::sync::{Semaphore, mpsc};

use super::buffer::{LogLine, Resume};
use super::parse::{FieldNames, ParsedLine, parse};

/// The default number of streams read at once.
pub const DEFAULT_CONCURRENCY: usize = 50;

/// Which pods' logs to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    /// The pods of a Deployment, StatefulSet or DaemonSet, by its name.
    Workload {
        /// The namespace.
        namespace: String,
        /// The workload's name.
        name: String,
    },
    /// The pods a label selector matches.
    Selector {
        /// The namespace.
        namespace: String,
        /// The label selector, e.g. `app=billing`.
        selector: String,
    },
    /// One pod.
    Pod {
        /// The namespace.
        namespace: String,
        /// The pod's name.
        name: String,
    },
    /// Every pod of a namespace.
    Namespace(String),
    /// Every pod of the cluster (a trace followed across the site).
    Everywhere,
    /// A node's systemd journal, read over SSH ([`super::journal`]), not
    /// from the cluster.
    NodeJournal {
        /// The node's name.
        node: String,
        /// The unit.
        unit: String,
    },
}

impl LogSource {
    /// `ns/name` (a workload) or `ns/selector` (a selector) as written on
    /// the command line.
    pub fn parse(text: &str, workload: bool) -> Result<Self, String> {
        let (namespace, rest) = text
            .split_once('/')
            .filter(|(ns, rest)| !ns.is_empty() && !rest.is_empty())
            .ok_or_else(|| {
                let what = if workload { "name" } else { "selector" };
                format!("`{text}` is not namespace/{what}")
            })?;
        let (namespace, rest) = (namespace.to_owned(), rest.to_owned());
        Ok(if workload {
            Self::Workload {
                namespace,
                name: rest,
            }
        } else {
            Self::Selector {
                namespace,
                selector: rest,
            }
        })
    }

    fn namespace(&self) -> Option<&str> {
        match self {
            Self::Workload { namespace, .. }
            | Self::Selector { namespace, .. }
            | Self::Pod { namespace, .. } => Some(namespace),
            Self::Namespace(namespace) => Some(namespace),
            Self::Everywhere | Self::NodeJournal { .. } => None,
        }
    }
}

/// How to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    /// One container by name; `None`: every container (init containers
    /// too, with `init`).
    pub container: Option<String>,
    /// Include init containers.
    pub init: bool,
    /// Lines from this long ago; `None`: what the kubelet still has.
    pub since: Option<Duration>,
    /// The last this many lines of each container.
    pub tail: Option<i64>,
    /// The previous (crashed) container's log.
    pub previous: bool,
    /// Keep reading: resume ended streams, join new pods.
    pub follow: bool,
    /// Streams read at once.
    pub concurrency: usize,
    /// Only lines whose trace id starts with this (at least 8 characters
    /// of it: the text output shows the first 16). Lines of other traces
    /// are dropped as they are read, before anything keeps them.
    pub trace: Option<String>,
    /// The site's log field names.
    pub names: Arc<FieldNames>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            container: None,
            init: false,
            since: None,
            tail: None,
            previous: false,
            follow: false,
            concurrency: DEFAULT_CONCURRENCY,
            trace: None,
            names: Arc::new(FieldNames::default()),
        }
    }
}

impl ReadOptions {
    /// Whether the line is of the trace asked for, if one was.
    pub fn wanted(&self, line: &ParsedLine) -> bool {
        self.trace.as_deref().is_none_or(|wanted| {
            line.trace_id
                .as_deref()
                .is_some_and(|trace| trace.starts_with(wanted))
        })
    }
}

/// How a read goes, for whoever shows it: the streams found, open,
/// waiting for one of the `concurrency` slots, refused and retrying,
/// finished, and those that ended unread (with the last refusal).
#[derive(Debug, Default)]
pub struct ReadProgress {
    found: AtomicUsize,
    open: AtomicUsize,
    waiting: AtomicUsize,
    retrying: AtomicUsize,
    finished: AtomicUsize,
    failed: AtomicUsize,
    last_failure: std::sync::Mutex<Option<String>>,
}

/// A look at a [`ReadProgress`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Container streams found (pods × containers).
    pub found: usize,
    /// Streams being read now.
    pub open: usize,
    /// Streams waiting for a free slot (`logs.concurrency`).
    pub waiting: usize,
    /// Followed streams the API refused, waiting to be tried again.
    pub retrying: usize,
    /// Streams read to their end.
    pub finished: usize,
    /// Streams that ended without ever being read.
    pub failed: usize,
    /// Why the API last refused a stream.
    pub last_failure: Option<String>,
}

impl ReadProgress {
    /// How the read goes now.
    pub fn get(&self) -> Progress {
        Progress {
            found: self.found.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            retrying: self.retrying.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_failure: self
                .last_failure
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }

    fn tell(&self, why: &str) {
        *self
            .last_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(why.to_owned());
    }
}

/// A counter raised while this lives.
struct Raised<'a>(&'a AtomicUsize);

impl<'a> Raised<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Raised<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One container to read: a pod (by uid too, so a pod recreated under
/// the same name is read anew) and a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct StreamKey {
    namespace: String,
    pod: String,
    uid: String,
    container: String,
}

/// The label selector of a workload, or of a selector source.
async fn selector_of(client: &kube::Client, source: &LogSource) -> Result<Option<String>, String> {
    let (namespace, name) = match source {
        LogSource::Selector { selector, .. } => return Ok(Some(selector.clone())),
        LogSource::Namespace(_) | LogSource::Everywhere | LogSource::Pod { .. } => {
            return Ok(None);
        }
        LogSource::NodeJournal { node, .. } => {
            return Err(format!(
                "the journal of {node} is read over SSH (logs::journal), not from the cluster"
            ));
        }
        LogSource::Workload { namespace, name } => (namespace, name),
    };
    let labels = |selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector| {
        selector.match_labels.clone().unwrap_or_default()
    };
    let found: Option<BTreeMap<String, String>> = if let Ok(d) =
        Api::<Deployment>::namespaced(client.clone(), namespace)
            .get(name)
            .await
    {
        Some(labels(&d.spec.selector))
    } else if let Ok(s) = Api::<StatefulSet>::namespaced(client.clone(), namespace)
        .get(name)
        .await
    {
        Some(labels(&s.spec.selector))
    } else if let Ok(d) = Api::<DaemonSet>::namespaced(client.clone(), namespace)
        .get(name)
        .await
    {
        Some(labels(&d.spec.selector))
    } else {
        None
    };
    match found {
        None => Err(format!(
            "no Deployment, StatefulSet or DaemonSet {namespace}/{name}"
        )),
        Some(labels) if labels.is_empty() => Err(format!(
            "{namespace}/{name} selects its pods by expressions only; use --selector"
        )),
        Some(labels) => Ok(Some(
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
        )),
    }
}

/// The containers of the source's pods now.
async fn containers(
    client: &kube::Client,
    source: &LogSource,
    selector: Option<&str>,
    options: &ReadOptions,
) -> Result<Vec<StreamKey>, String> {
    let (pods, place): (Api<Pod>, String) = match source.namespace() {
        Some(namespace) => (
            Api::namespaced(client.clone(), namespace),
            format!("in {namespace}"),
        ),
        None => (Api::all(client.clone()), "in any namespace".to_owned()),
    };
    let params = match (selector, source) {
        (Some(selector), _) => ListParams::default().labels(selector),
        (None, LogSource::Pod { name, .. }) => {
            ListParams::default().fields(&format!("metadata.name={name}"))
        }
        (None, _) => ListParams::default(),
    };
    let listed = pods
        .list(&params)
        .await
        .map_err(|e| format!("cannot list pods {place}: {e}"))?;
    let mut keys = Vec::new();
    for pod in listed.items {
        let (Some(name), Some(namespace)) =
            (pod.metadata.name.clone(), pod.metadata.namespace.clone())
        else {
            continue;
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let Some(spec) = pod.spec else {
            continue;
        };
        let init = spec
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .filter(|_| options.init);
        for container in init.chain(spec.containers) {
            if options
                .container
                .as_ref()
                .is_none_or(|wanted| *wanted == container.name)
            {
                keys.push(StreamKey {
                    namespace: namespace.clone(),
                    pod: name.clone(),
                    uid: uid.clone(),
                    container: container.name,
                });
            }
        }
    }
    keys.sort();
    Ok(keys)
}

/// A line with its Kubernetes timestamp (`timestamps=true`).
fn split_timestamp(line: &str) -> Option<(DateTime<Utc>, &str)> {
    let (stamp, text) = line.split_once(' ').unwrap_or((line, ""));
    let at = DateTime::parse_from_rfc3339(stamp).ok()?;
    Some((at.with_timezone(&Utc), text))
}

/// Reads the source's logs, sending each line as it comes (each stream in
/// its order). Without `follow`, ends when every stream has; with it, runs
/// until the receiver is dropped, resuming streams and joining new pods.
/// Fails only when the pods cannot be found at all; `progress` tells how
/// the streams go.
pub async fn read(
    client: kube::Client,
    source: LogSource,
    options: ReadOptions,
    lines: mpsc::Sender<LogLine>,
    progress: Arc<ReadProgress>,
) -> Result<(), String> {
    let selector = selector_of(&client, &source).await?;
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    // Streams being read, and streams read to their end whose pods are
    // still listed (not read again); a key leaves `running` only when its
    // reader has, so a pod that leaves the selector and comes back is
    // never read twice at once.
    let mut running: HashSet<StreamKey> = HashSet::new();
    let mut ended: HashSet<StreamKey> = HashSet::new();
    let mut readers = tokio::task::JoinSet::new();
    let mut listed_once = false;
    loop {
        while let Some(done) = readers.try_join_next() {
            if let Ok(key) = done {
                running.remove(&key);
                ended.insert(key);
            }
        }
        match containers(&client, &source, selector.as_deref(), &options).await {
            Ok(keys) => {
                listed_once = true;
                // Pods no longer listed are forgotten: memory stays bounded.
                let listed: HashSet<&StreamKey> = keys.iter().collect();
                ended.retain(|key| listed.contains(key));
                for key in keys {
                    if running.contains(&key) || ended.contains(&key) {
                        continue;
                    }
                    running.insert(key.clone());
                    progress.found.fetch_add(1, Ordering::Relaxed);
                    readers.spawn(read_container(Stream {
                        client: client.clone(),
                        key,
                        options: options.clone(),
                        permits: permits.clone(),
                        lines: lines.clone(),
                        progress: progress.clone(),
                    }));
                }
            }
            Err(why) if !listed_once => return Err(why),
            Err(why) => tracing::debug!("logs: {why}"),
        }
        if !options.follow {
            while readers.join_next().await.is_some() {}
            return Ok(());
        }
        // New pods join at the next look; a closed receiver ends it all.
        tokio::select! {
            () = lines.closed() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// What one container's reader needs.
struct Stream {
    client: kube::Client,
    key: StreamKey,
    options: ReadOptions,
    permits: Arc<Semaphore>,
    lines: mpsc::Sender<LogLine>,
    progress: Arc<ReadProgress>,
}

/// The first wait before a followed stream that ended is opened again;
/// it doubles while reopening brings nothing, up to [`MOST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The longest wait between two tries of a stream that brings nothing
/// (a pod that is Pending, or whose container waits to restart).
const MOST_BACKOFF: Duration = Duration::from_secs(30);

/// A stream open this long before it ended was not refused or empty: it
/// is opened again after the first wait.
const LONG_OPEN: Duration = Duration::from_secs(10);

/// How one opening of a stream went.
enum Opened {
    /// Read to its end; whether it brought a new line.
    Read { new_lines: bool },
    /// The API would not open it.
    Refused(String),
    /// Nobody wants the lines any more.
    Unwanted,
}

/// Reads one container's log; when following, opens it again where it
/// ended (backing off while that brings nothing) until the pod is gone or
/// done, then reads what is left once more; or until the receiver is
/// dropped. A slot of `concurrency` is held while a stream is open, not
/// while it waits. Returns the key it read.
async fn read_container(stream: Stream) -> StreamKey {
    let pods: Api<Pod> = Api::namespaced(stream.client.clone(), &stream.key.namespace);
    let mut resume = Resume::default();
    let mut backoff = FIRST_BACKOFF;
    let mut ever_read = false;
    let follow = stream.options.follow;
    loop {
        let (opened, lasted, pod_ended) = {
            let waiting = Raised::new(&stream.progress.waiting);
            let Ok(_slot) = stream.permits.clone().acquire_owned().await else {
                return stream.key;
            };
            drop(waiting);
            let _open = Raised::new(&stream.progress.open);
            let opened_at = tokio::time::Instant::now();
            let opened = read_once(&stream, &pods, &mut resume, follow).await;
            let lasted = opened_at.elapsed();
            // With the slot still held, so that the last look does not
            // wait behind other streams.
            let pod_ended = follow
                && !matches!(opened, Opened::Unwanted)
                && !stream.lines.is_closed()
                && pod_done(&pods, &stream.key).await;
            let opened = if pod_ended {
                // What came between the stream's end and the pod's (and a
                // last line without its newline), read once more.
                match read_once(&stream, &pods, &mut resume, false).await {
                    Opened::Refused(_) => opened,
                    last => last,
                }
            } else {
                opened
            };
            (opened, lasted, pod_ended)
        };
        let refused = match (opened, lasted) {
            (Opened::Unwanted, _) => return stream.key,
            (Opened::Read { new_lines }, lasted) => {
                ever_read = true;
                // A stream that brought lines, or stayed open a while (the
                // kubelet's idle timeout), is opened again after the
                // first wait.
                if new_lines || lasted >= LONG_OPEN {
                    backoff = FIRST_BACKOFF;
                }
                false
            }
            (Opened::Refused(why), _) => {
                tracing::debug!("logs: {why}");
                stream.progress.tell(&why);
                true
            }
        };
        if !follow || pod_ended || stream.lines.is_closed() {
            let counter = if ever_read {
                &stream.progress.finished
            } else {
                &stream.progress.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            return stream.key;
        }
        // The stream ended while the pod lives: rotation, the kubelet's
        // idle timeout, a restart, a container not started yet, a refusal.
        // Open it again where it stopped, less eagerly each time it
        // brings nothing.
        let _retrying = refused.then(|| Raised::new(&stream.progress.retrying));
        tokio::select! {
            () = stream.lines.closed() => return stream.key,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MOST_BACKOFF);
    }
}

/// Opens the container's log once (from where `resume` says), following
/// it or not, and reads it to its end.
async fn read_once(stream: &Stream, pods: &Api<Pod>, resume: &mut Resume, follow: bool) -> Opened {
    let key = &stream.key;
    let options = &stream.options;
    let since_time = resume
        .resume_from()
        .and_then(|at| jiff::Timestamp::from_second(at.timestamp()).ok());
    let params = LogParams {
        container: Some(key.container.clone()),
        follow,
        previous: options.previous,
        timestamps: true,
        since_seconds: options
            .since
            .filter(|_| since_time.is_none())
            .map(|d| i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)),
        // The tail applies until a line was read, also when the first
        // request failed.
        tail_lines: options.tail.filter(|_| !resume.started()),
        since_time,
        ..LogParams::default()
    };
    let (namespace, pod, container): (Arc<str>, Arc<str>, Arc<str>) = (
        key.namespace.as_str().into(),
        key.pod.as_str().into(),
        key.container.as_str().into(),
    );
    let body = match pods.log_stream(&key.pod, &params).await {
        Ok(body) => body,
        Err(e) => {
            let why = crate::text::one_line(&format!(
                "cannot read the log of {namespace}/{pod} ({container}): {e}"
            ));
            return Opened::Refused(why);
        }
    };
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    let mut new_lines = false;
    loop {
        bytes.clear();
        match body.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // A line cut off by the stream's end comes again, whole, when the
        // stream is resumed; only a stream not followed ends for good.
        if !bytes.ends_with(b"\n") && follow {
            break;
        }
        // Pod output is any bytes: invalid UTF-8 is shown lossily, not
        // taken for the end of the stream.
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end_matches(['\n', '\r']);
        let Some((at, text)) = split_timestamp(text) else {
            continue;
        };
        if !resume.accept(at) {
            continue;
        }
        new_lines = true;
        let parsed = parse(text, &options.names);
        if !options.wanted(&parsed) {
            continue;
        }
        let line = LogLine {
            namespace: namespace.clone(),
            pod: pod.clone(),
            container: container.clone(),
            at,
            parsed,
            raw: text.to_owned(),
        };
        if stream.lines.send(line).await.is_err() {
            return Opened::Unwanted;
        }
    }
    Opened::Read { new_lines }
}

/// Whether the pod will log no more: gone, replaced by one of the same
/// name, Succeeded or Failed, or being deleted with the container stopped.
async fn pod_done(pods: &Api<Pod>, key: &StreamKey) -> bool {
    let pod = match pods.get(&key.pod).await {
        Ok(pod) => pod,
        Err(kube::Error::Api(status)) => return status.code == 404,
        // The API is away: the stream is tried again.
        Err(_) => return false,
    };
    if pod.metadata.uid.as_deref().unwrap_or_default() != key.uid {
        return true;
    }
    let Some(status) = pod.status else {
        return false;
    };
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return true;
    }
    let restart = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.restart_policy.as_deref())
        .unwrap_or("Always");
    let found = status
        .container_statuses
        .iter()
        .flatten()
        .map(|c| (c, false))
        .chain(
            status
                .init_container_statuses
                .iter()
                .flatten()
                .map(|c| (c, true)),
        )
        .find(|(c, _)| c.name == key.container);
    let Some((container, init)) = found else {
        return false;
    };
    let running = container
        .state
        .as_ref()
        .is_some_and(|s| s.running.is_some());
    let exit_code = container
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    // Exited for good: an init container that succeeded, or a container
    // its pod's restart policy does not run again.
    let exited_for_good = match exit_code {
        Some(0) => init || restart != "Always",
        Some(_) => restart == "Never",
        None => false,
    };
    exited_for_good || (pod.metadata.deletion_timestamp.is_some() && !running)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_timestamps_are_split_off() {
        let (at, text) =
            split_timestamp("2026-12-03T10:00:00.123456789Z {\"msg\":\"a b\"}").expect("split");
        assert_eq!(at.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!(text, "{\"msg\":\"a b\"}");
        assert_eq!(
            split_timestamp("2026-12-03T10:00:00Z").map(|s| s.1),
            Some("")
        );
        assert_eq!(split_timestamp("no time here"), None);
    }

    #[test]
    fn sources_from_the_command_line() {
        assert_eq!(
            LogSource::parse("acme-prod/billing", true),
            Ok(LogSource::Workload {
                namespace: "acme-prod".into(),
                name: "billing".into()
            })
        );
        assert_eq!(
            LogSource::parse("acme-prod/app=billing,tier=api", false),
            Ok(LogSource::Selector {
                namespace: "acme-prod".into(),
                selector: "app=billing,tier=api".into()
            })
        );
        assert!(LogSource::parse("billing", true).is_err());
        assert!(LogSource::parse("/x", false).is_err());
    }
}
