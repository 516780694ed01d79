//! Pod logs: `GET /api/v1/namespaces/NS/pods/NAME/log` with `container`,
//! `follow`, `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`,
//! `previous` and `limitBytes`, answered as the kubelet does behind the API
//! server. A container's log is what [`super::loggen`] generates for its
//! workload (when the simulator generates lines) merged with the lines
//! tests added through [`LogBook::append`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::loggen::{self, Source};
use super::request::QueryParams;
use super::resources::PODS;
use super::server::{ResponseBody, ServerState};
use super::status::ApiError;
use super::store::ObjectStore;

mod containers;

use containers::{
    check_started, container_status, first_container, no_container, resolve_container,
};

/// The lines one container's log holds besides the generated ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LogKey {
    namespace: String,
    pod: String,
    /// A pod recreated under the same name starts with an empty log.
    uid: String,
    container: String,
}

/// One line of a log, with its newline.
#[derive(Debug, Clone)]
struct LogLine {
    time: DateTime<Utc>,
    text: Bytes,
}

/// Every container's log: how lines are generated, and the lines added.
#[derive(Debug)]
pub struct LogBook {
    interval: Option<Duration>,
    /// How far back generated lines go.
    history: TimeDelta,
    /// Generated lines start here (or when the container started, if later).
    earliest: DateTime<Utc>,
    added: Mutex<HashMap<LogKey, Vec<LogLine>>>,
    appended: watch::Sender<u64>,
}

impl LogBook {
    /// A log book generating a request through the site every `interval`
    /// (none: only added lines), with generated history going back
    /// `history` from now.
    pub fn new(interval: Option<Duration>, history: Duration) -> Self {
        let history = TimeDelta::from_std(history).unwrap_or(TimeDelta::hours(1));
        Self {
            interval: interval.filter(|interval| !interval.is_zero()),
            history,
            earliest: Utc::now() - history,
            added: Mutex::new(HashMap::new()),
            appended: watch::channel(0).0,
        }
    }

    /// Adds `bytes` to a container's log, now. They are split into lines at
    /// `\n` (a last line without one gets one); any bytes are kept as they
    /// are, escape sequences and invalid UTF-8 included. An empty
    /// `container` names the pod's first container.
    pub fn append(
        &self,
        store: &ObjectStore,
        namespace: &str,
        pod: &str,
        container: &str,
        bytes: &[u8],
    ) -> Result<(), ApiError> {
        let object = store
            .get(&PODS, namespace, pod)
            .ok_or_else(|| ApiError::not_found(&PODS, pod))?;
        let container = if container.is_empty() {
            first_container(object).ok_or_else(|| no_container(pod))?
        } else {
            resolve_container(object, pod, Some(container))?
        };
        let key = key(object, namespace, pod, &container);
        let time = Utc::now();
        let mut added = self.lock();
        let lines = added.entry(key).or_default();
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if !bytes.is_empty() {
            for piece in body.split(|byte| *byte == b'\n') {
                let mut text = piece.to_vec();
                text.push(b'\n');
                lines.push(LogLine {
                    time,
                    text: Bytes::from(text),
                });
            }
        }
        drop(added);
        self.appended.send_modify(|count| *count += 1);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LogKey, Vec<LogLine>>> {
        self.added
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The added lines of a container from the `skip`th on.
    fn added_lines(&self, key: &LogKey, skip: usize) -> Vec<LogLine> {
        self.lock()
            .get(key)
            .map(|lines| lines.iter().skip(skip).cloned().collect())
            .unwrap_or_default()
    }

    /// Generated lines after `from` up to `to`, not before `start`.
    fn generated(
        &self,
        source: &Source,
        start: DateTime<Utc>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<LogLine> {
        self.generated_between(source, from.max(start).max(self.earliest), to)
    }

    /// Generated lines after `from` up to `to`.
    fn generated_between(
        &self,
        source: &Source,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<LogLine> {
        let Some(interval) = self.interval else {
            return Vec::new();
        };
        loggen::lines(source, interval, from, to)
            .into_iter()
            .map(|line| {
                let mut text = line.text.into_bytes();
                text.push(b'\n');
                LogLine {
                    time: line.time,
                    text: Bytes::from(text),
                }
            })
            .collect()
    }
}

fn key(pod: &Value, namespace: &str, name: &str, container: &str) -> LogKey {
    LogKey {
        namespace: namespace.to_string(),
        pod: name.to_string(),
        uid: text(&pod["metadata"]["uid"]).to_string(),
        container: container.to_string(),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value.as_str()?)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// Where the lines of a pod's container come from.
fn source_of(store: &ObjectStore, pod: &Value, namespace: &str, container: &str) -> Source {
    let labels = &pod["metadata"]["labels"];
    let name = text(&pod["metadata"]["name"]);
    let workload = ["app", "app.kubernetes.io/name", "k8s-app"]
        .iter()
        .find_map(|label| labels[label].as_str())
        .or_else(|| pod["metadata"]["ownerReferences"][0]["name"].as_str())
        .unwrap_or(name)
        .to_string();
    let mut siblings: Vec<&str> = store
        .list(&PODS, Some(namespace), None)
        .filter(|(_, other)| {
            ["app", "app.kubernetes.io/name", "k8s-app"]
                .iter()
                .find_map(|label| other["metadata"]["labels"][label].as_str())
                .is_some_and(|other_workload| other_workload == workload)
        })
        .map(|(key, _)| key.name.as_str())
        .collect();
    siblings.sort_unstable();
    let replica = siblings.iter().position(|sibling| *sibling == name);
    Source {
        replicas: if replica.is_some() { siblings.len() } else { 1 },
        replica: replica.unwrap_or(0),
        primary: first_container(pod).as_deref() == Some(container),
        container: container.to_string(),
        workload,
    }
}

/// How a request wants its lines.
struct Shape {
    timestamps: bool,
    since: Option<DateTime<Utc>>,
    tail: Option<usize>,
    limit_bytes: Option<usize>,
}

impl Shape {
    fn parse(params: &QueryParams) -> Result<Self, ApiError> {
        let since_time = match params.get("sinceTime").filter(|value| !value.is_empty()) {
            Some(value) => Some(
                DateTime::parse_from_rfc3339(value)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(|_| ApiError::bad_request(format!("invalid sinceTime: {value:?}")))?,
            ),
            None => None,
        };
        let since_seconds = params.number("sinceSeconds")?;
        if since_seconds == Some(0) {
            return Err(ApiError::invalid(
                "PodLogOptions \"\" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0",
            ));
        }
        let since = since_seconds
            .map(|seconds| {
                Utc::now()
                    - TimeDelta::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1_000_000))
            })
            .or(since_time);
        let size = |name| -> Result<Option<usize>, ApiError> {
            Ok(params
                .number(name)?
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
        };
        Ok(Self {
            timestamps: params.flag("timestamps"),
            since,
            tail: size("tailLines")?,
            limit_bytes: size("limitBytes")?,
        })
    }

    fn render(&self, lines: &[LogLine], out: &mut Vec<u8>) {
        for line in lines {
            if self.since.is_some_and(|since| line.time < since) {
                continue;
            }
            if self.timestamps {
                out.extend_from_slice(rfc3339_nano(line.time).as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(&line.text);
        }
    }
}

/// A time as Go's `time.RFC3339Nano` writes it: trailing zeros of the
/// fraction dropped.
pub fn rfc3339_nano(time: DateTime<Utc>) -> String {
    let fraction = format!("{:09}", time.timestamp_subsec_nanos());
    let fraction = fraction.trim_end_matches('0');
    let dot = if fraction.is_empty() { "" } else { "." };
    format!("{}{dot}{fraction}Z", time.format("%Y-%m-%dT%H:%M:%S"))
}

/// What the log of a container holds so far, and where following it goes
/// on from.
struct Snapshot {
    lines: Vec<LogLine>,
    generated_until: DateTime<Utc>,
    added_seen: usize,
}

/// Serves a log request.
pub fn serve(
    state: &Arc<ServerState>,
    namespace: &str,
    name: &str,
    params: &QueryParams,
) -> Result<Response<ResponseBody>, ApiError> {
    let shape = Shape::parse(params)?;
    let previous = params.flag("previous");
    let follow = params.flag("follow") && !previous;
    let store = state.store.read();
    let pod = store
        .get(&PODS, namespace, name)
        .ok_or_else(|| ApiError::not_found(&PODS, name))?;
    let container = resolve_container(pod, name, params.get("container"))?;
    let status = container_status(pod, &container);
    let source = source_of(&store, pod, namespace, &container);
    let key = key(pod, namespace, name, &container);
    let now = Utc::now();
    let snapshot = if previous {
        previous_lines(&state.logs, pod, name, &container, &source, status)?
    } else {
        check_started(pod, name, &container, status)?;
        let start = status
            .and_then(|status| parse_time(&status["state"]["running"]["startedAt"]))
            .or_else(|| parse_time(&pod["status"]["startTime"]))
            .or_else(|| parse_time(&pod["metadata"]["creationTimestamp"]))
            .unwrap_or(state.logs.earliest);
        let mut lines = state.logs.generated(&source, start, start, now);
        let added = state.logs.added_lines(&key, 0);
        let added_seen = added.len();
        lines.extend(added);
        lines.sort_by_key(|line| line.time);
        Snapshot {
            lines,
            generated_until: now,
            added_seen,
        }
    };
    drop(store);

    let kept: Vec<LogLine> = snapshot
        .lines
        .iter()
        .filter(|line| shape.since.is_none_or(|since| line.time >= since))
        .cloned()
        .collect();
    let skip = shape.tail.map_or(0, |tail| kept.len().saturating_sub(tail));
    let mut first = Vec::new();
    shape.render(&kept[skip..], &mut first);
    let mut left = shape.limit_bytes;
    truncate(&mut first, &mut left);
    if !follow || left == Some(0) {
        return Ok(text_response(Full::new(Bytes::from(first)).boxed()));
    }

    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    let follower = Follower {
        state: state.clone(),
        key,
        source,
        shape,
        left,
        generated_until: snapshot.generated_until,
        added_seen: snapshot.added_seen,
        sender,
    };
    tokio::spawn(follower.run(Bytes::from(first)));
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), receiver))
    });
    Ok(text_response(StreamBody::new(body).boxed()))
}

/// Cuts `out` to the bytes left, counting them down.
fn truncate(out: &mut Vec<u8>, left: &mut Option<usize>) {
    if let Some(left) = left {
        out.truncate(*left);
        *left -= out.len();
    }
}

fn text_response(body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The log of the container's previous run: generated lines up to its
/// end and the line it died with; a 400 when it never restarted.
fn previous_lines(
    book: &LogBook,
    pod: &Value,
    name: &str,
    container: &str,
    source: &Source,
    status: Option<&Value>,
) -> Result<Snapshot, ApiError> {
    let restarts = status
        .and_then(|status| status["restartCount"].as_u64())
        .unwrap_or(0);
    let not_found = || {
        ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        ))
    };
    if restarts == 0 {
        return Err(not_found());
    }
    let status = status.ok_or_else(not_found)?;
    let terminated = &status["lastState"]["terminated"];
    let now = Utc::now();
    let finished = parse_time(&terminated["finishedAt"])
        .or_else(|| parse_time(&status["state"]["running"]["startedAt"]))
        .unwrap_or(now)
        .min(now);
    let started = parse_time(&terminated["startedAt"])
        .or_else(|| parse_time(&pod["status"]["startTime"]))
        .unwrap_or(finished - TimeDelta::minutes(10));
    // A previous run's lines end with it: its last `history` is kept.
    let from = started.max(finished - book.history);
    let mut lines = book.generated_between(source, from, finished);
    let exit_code = terminated["exitCode"].as_i64().unwrap_or(1);
    let reason = match text(&terminated["reason"]) {
        "" => "Error",
        reason => reason,
    };
    let last = format!(
        r#"{{"time":"{}","level":"error","msg":"fatal: exiting","exit_code":{exit_code},"reason":"{reason}","service":"{}"}}"#,
        finished.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source.workload,
    );
    lines.push(LogLine {
        time: finished,
        text: Bytes::from(format!("{last}\n")),
    });
    Ok(Snapshot {
        lines,
        generated_until: finished,
        added_seen: 0,
    })
}

/// A followed log: sends lines as they come until the client leaves, the
/// pod goes away, the byte limit is reached or the server stops.
struct Follower {
    state: Arc<ServerState>,
    key: LogKey,
    source: Source,
    shape: Shape,
    left: Option<usize>,
    generated_until: DateTime<Utc>,
    added_seen: usize,
    sender: mpsc::Sender<Bytes>,
}

impl Follower {
    async fn run(mut self, first: Bytes) {
        if !first.is_empty() && self.sender.send(first).await.is_err() {
            return;
        }
        // A container that has exited has nothing more to follow.
        if !self.pod_and_container().1 {
            return;
        }
        let mut appended = self.state.logs.appended.subscribe();
        let mut changes = self.state.store.subscribe();
        let tick = self
            .state
            .logs
            .interval
            .map_or(Duration::from_secs(3600), |interval| {
                interval.clamp(Duration::from_millis(20), Duration::from_secs(1))
            });
        loop {
            tokio::select! {
                () = self.sender.closed() => return,
                _ = appended.changed() => {},
                _ = changes.changed() => {},
                () = tokio::time::sleep(tick) => {},
            }
            let (there, running) = self.pod_and_container();
            if !there {
                return;
            }
            let now = Utc::now();
            let mut lines = self.state.logs.generated(
                &self.source,
                self.generated_until,
                self.generated_until,
                now,
            );
            self.generated_until = now;
            let added = self.state.logs.added_lines(&self.key, self.added_seen);
            self.added_seen += added.len();
            lines.extend(added);
            lines.sort_by_key(|line| line.time);
            let mut out = Vec::new();
            let timestamps_only = Shape {
                since: None,
                tail: None,
                limit_bytes: None,
                timestamps: self.shape.timestamps,
            };
            timestamps_only.render(&lines, &mut out);
            truncate(&mut out, &mut self.left);
            if !out.is_empty() && self.sender.send(Bytes::from(out)).await.is_err() {
                return;
            }
            // The kubelet ends a followed log when its container exits,
            // once the last lines are out.
            if self.left == Some(0) || !running {
                return;
            }
        }
    }

    /// Whether the pod is still there (the same pod: a recreated one has
    /// its own log), and whether the container has not terminated.
    fn pod_and_container(&self) -> (bool, bool) {
        let store = self.state.store.read();
        let Some(pod) = store
            .get(&PODS, &self.key.namespace, &self.key.pod)
            .filter(|pod| text(&pod["metadata"]["uid"]) == self.key.uid)
        else {
            return (false, false);
        };
        let terminated = ["containerStatuses", "initContainerStatuses"]
            .iter()
            .filter_map(|list| pod["status"][list].as_array())
            .flatten()
            .filter(|status| text(&status["name"]) == self.key.container)
            .any(|status| status["state"]["terminated"].is_object());
        (true, !terminated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_go_writes_rfc3339_nano() {
        let time = DateTime::from_timestamp(1_700_000_000, 120_000_000).expect("time");
        assert_eq!(rfc3339_nano(time), "2023-11-14T22:13:20.12Z");
        let whole = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        assert_eq!(rfc3339_nano(whole), "2023-11-14T22:13:20Z");
        let fine = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("time");
        assert_eq!(rfc3339_nano(fine), "2023-11-14T22:13:20.123456789Z");
    }
}
