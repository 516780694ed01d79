//! Reading pods' logs over the Kubernetes API: which pods (a workload, a
//! label selector, a namespace), each container's stream with Kubernetes
//! timestamps, at most so many streams at once, and — when following — a
//! stream that ends (log rotation, the kubelet's idle timeout, a restart)
//! resumed where it stopped, and pods that appear joined.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::AsyncBufReadExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};
use tokio::sync::{Semaphore, mpsc};

use super::buffer::{LogLine, Resume};
use super::parse::{FieldNames, parse};

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
            Self::Everywhere => None,
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
            names: Arc::new(FieldNames::default()),
        }
    }
}

/// One container to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct StreamKey {
    namespace: String,
    pod: String,
    container: String,
}

/// The label selector of a workload, or of a selector source.
async fn selector_of(client: &kube::Client, source: &LogSource) -> Result<Option<String>, String> {
    let (namespace, name) = match source {
        LogSource::Selector { selector, .. } => return Ok(Some(selector.clone())),
        LogSource::Namespace(_) | LogSource::Everywhere | LogSource::Pod { .. } => {
            return Ok(None);
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
/// Fails only when the pods cannot be found at all.
pub async fn read(
    client: kube::Client,
    source: LogSource,
    options: ReadOptions,
    lines: mpsc::Sender<LogLine>,
) -> Result<(), String> {
    let selector = selector_of(&client, &source).await?;
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut started: HashSet<StreamKey> = HashSet::new();
    let mut running = tokio::task::JoinSet::new();
    loop {
        let keys = containers(&client, &source, selector.as_deref(), &options).await;
        match keys {
            Ok(keys) => {
                for key in keys {
                    if started.insert(key.clone()) {
                        running.spawn(follow_container(
                            client.clone(),
                            key,
                            options.clone(),
                            permits.clone(),
                            lines.clone(),
                        ));
                    }
                }
            }
            Err(why) if started.is_empty() => return Err(why),
            Err(why) => tracing::debug!("logs: {why}"),
        }
        if !options.follow {
            while running.join_next().await.is_some() {}
            return Ok(());
        }
        // New pods join at the next look; a closed receiver ends it all.
        tokio::select! {
            () = lines.closed() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
        while running.try_join_next().is_some() {}
    }
}

/// Reads one container's log; when following, resumes it where it ended
/// until the pod is gone or the receiver is dropped.
async fn follow_container(
    client: kube::Client,
    key: StreamKey,
    options: ReadOptions,
    permits: Arc<Semaphore>,
    lines: mpsc::Sender<LogLine>,
) {
    let Ok(_permit) = permits.acquire_owned().await else {
        return;
    };
    let pods: Api<Pod> = Api::namespaced(client, &key.namespace);
    let (namespace, pod, container): (Arc<str>, Arc<str>, Arc<str>) = (
        key.namespace.as_str().into(),
        key.pod.as_str().into(),
        key.container.as_str().into(),
    );
    let mut resume = Resume::default();
    let mut first = true;
    loop {
        let since_time = resume
            .resume_from()
            .and_then(|at| jiff::Timestamp::from_second(at.timestamp()).ok());
        let params = LogParams {
            container: Some(key.container.clone()),
            follow: options.follow,
            previous: options.previous,
            timestamps: true,
            since_seconds: options
                .since
                .filter(|_| since_time.is_none())
                .map(|d| i64::try_from(d.as_secs().max(1)).unwrap_or(i64::MAX)),
            tail_lines: options.tail.filter(|_| first),
            since_time,
            ..LogParams::default()
        };
        first = false;
        let stream = match pods.log_stream(&key.pod, &params).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!("logs of {pod}/{container}: {e}");
                if !options.follow || pod_gone(&pods, &key.pod).await {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        let mut stream = std::pin::pin!(stream);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match stream.read_until(b'\n', &mut bytes).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
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
            let line = LogLine {
                namespace: namespace.clone(),
                pod: pod.clone(),
                container: container.clone(),
                at,
                parsed: parse(text, &options.names),
                raw: text.to_owned(),
            };
            if lines.send(line).await.is_err() {
                return;
            }
        }
        if !options.follow || lines.is_closed() || pod_gone(&pods, &key.pod).await {
            return;
        }
        // The stream ended while the pod lives: rotation, the kubelet's
        // idle timeout, a restart. Resume where it stopped.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn pod_gone(pods: &Api<Pod>, name: &str) -> bool {
    matches!(pods.get(name).await, Err(kube::Error::Api(status)) if status.code == 404)
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
