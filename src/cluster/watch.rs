//! The watches: one task per resource (kube runtime's watcher: paged list,
//! then watch, re-list on 410 Gone; after an error, exponential backoff and
//! a fresh list), each turning objects into trimmed rows at once and
//! reporting in batches.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event as KubeEvent, Node, Pod, Secret};
use kube::api::Api;
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::model::{self, EventRow, HelmRelease, NodeRow, PodRow, Row, Workload};

/// Objects per page of the initial list: bounded memory per request, and
/// a slow link still sees progress.
pub const PAGE_SIZE: u32 = 500;
/// Helm release secrets per page.
pub const HELM_PAGE_SIZE: u32 = 50;
/// The most updates sent in one batch.
const BATCH: usize = 2000;

/// A watched resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feed {
    /// Deployments, for Versions.
    Deployments,
    /// StatefulSets, for Versions.
    StatefulSets,
    /// DaemonSets, for Versions.
    DaemonSets,
    /// Pods.
    Pods,
    /// Nodes.
    Nodes,
    /// Events.
    Events,
    /// Helm's release secrets.
    Helm,
}

impl Feed {
    /// Every feed.
    pub const ALL: [Feed; 7] = [
        Self::Deployments,
        Self::StatefulSets,
        Self::DaemonSets,
        Self::Pods,
        Self::Nodes,
        Self::Events,
        Self::Helm,
    ];

    /// The resource's name as shown (`deployments`, `helm releases`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Deployments => "deployments",
            Self::StatefulSets => "statefulsets",
            Self::DaemonSets => "daemonsets",
            Self::Pods => "pods",
            Self::Nodes => "nodes",
            Self::Events => "events",
            Self::Helm => "helm releases",
        }
    }
}

/// Rows of one feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// Deployments, StatefulSets or DaemonSets.
    Workloads(Vec<Workload>),
    /// Pods.
    Pods(Vec<PodRow>),
    /// Nodes.
    Nodes(Vec<NodeRow>),
    /// Events.
    Events(Vec<EventRow>),
    /// Helm release revisions.
    Helm(Vec<HelmRelease>),
}

impl Rows {
    /// How many rows.
    pub fn len(&self) -> usize {
        match self {
            Self::Workloads(rows) => rows.len(),
            Self::Pods(rows) => rows.len(),
            Self::Nodes(rows) => rows.len(),
            Self::Events(rows) => rows.len(),
            Self::Helm(rows) => rows.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a feed is down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedError {
    /// The API server said 403: retrying will not help until RBAC changes.
    pub forbidden: bool,
    /// What happened.
    pub message: String,
}

/// What a feed reports.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedUpdate {
    /// A complete (re)list: these rows replace all the feed's rows.
    Listed {
        /// The feed.
        feed: Feed,
        /// Every object, as rows.
        rows: Rows,
    },
    /// Objects added, changed or deleted since.
    Changed {
        /// The feed.
        feed: Feed,
        /// Added or changed objects.
        applied: Rows,
        /// Keys ([`Row::key`]) of deleted objects.
        deleted: Vec<(String, String)>,
    },
    /// The list or the watch failed; the watcher retries with backoff.
    Failed {
        /// The feed.
        feed: Feed,
        /// Why.
        error: FeedError,
    },
}

/// Where feeds report.
pub type Sink = Arc<dyn Fn(FeedUpdate) + Send + Sync>;

/// Starts one watch task per feed; abort the handles to stop them.
pub fn spawn_feeds(client: &kube::Client, sink: &Sink) -> Vec<JoinHandle<()>> {
    let config = || watcher::Config::default().page_size(PAGE_SIZE);
    let c = || client.clone();
    vec![
        spawn(
            Api::<Deployment>::all(c()),
            config(),
            Feed::Deployments,
            model::deployment_row,
            Rows::Workloads,
            sink,
        ),
        spawn(
            Api::<StatefulSet>::all(c()),
            config(),
            Feed::StatefulSets,
            model::stateful_set_row,
            Rows::Workloads,
            sink,
        ),
        spawn(
            Api::<DaemonSet>::all(c()),
            config(),
            Feed::DaemonSets,
            model::daemon_set_row,
            Rows::Workloads,
            sink,
        ),
        spawn(
            Api::<Pod>::all(c()),
            config(),
            Feed::Pods,
            model::pod_row,
            Rows::Pods,
            sink,
        ),
        spawn(
            Api::<Node>::all(c()),
            config(),
            Feed::Nodes,
            model::node_row,
            Rows::Nodes,
            sink,
        ),
        spawn(
            Api::<KubeEvent>::all(c()),
            config(),
            Feed::Events,
            model::event_row,
            Rows::Events,
            sink,
        ),
        spawn(
            Api::<Secret>::all(c()),
            // A release secret holds a gzipped chart (up to 1 MiB): small
            // pages keep one response small over a slow link.
            config()
                .labels(super::helm::SELECTOR)
                .page_size(HELM_PAGE_SIZE),
            Feed::Helm,
            super::helm::release_row,
            Rows::Helm,
            sink,
        ),
    ]
}

fn spawn<K, R>(
    api: Api<K>,
    config: watcher::Config,
    feed: Feed,
    convert: fn(&K) -> R,
    wrap: fn(Vec<R>) -> Rows,
    sink: &Sink,
) -> JoinHandle<()>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
    R: Row,
{
    let sink = Arc::clone(sink);
    tokio::spawn(async move {
        // kube's watcher resumes a broken watch from its resourceVersion
        // and says nothing when that works, which would leave the feed
        // shown as down for good. So after a failure the feed starts over
        // with a fresh list, after a backoff: the list is what says the
        // feed is live again.
        let mut backoff = watcher::DefaultBackoff::default();
        loop {
            follow(&api, &config, feed, convert, wrap, &sink, &mut backoff).await;
            if let Some(delay) = backoff.next() {
                tokio::time::sleep(delay).await;
            }
        }
    })
}

/// Lists, then watches, reporting to `sink`, until the list or the watch
/// fails (reported too). After 410 Gone the watcher lists again by itself.
async fn follow<K, R>(
    api: &Api<K>,
    config: &watcher::Config,
    feed: Feed,
    convert: fn(&K) -> R,
    wrap: fn(Vec<R>) -> Rows,
    sink: &Sink,
    backoff: &mut watcher::DefaultBackoff,
) where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
    R: Row,
{
    let stream = watcher::watcher(api.clone(), config.clone());
    let mut stream = std::pin::pin!(stream);
    let mut listing: Vec<R> = Vec::new();
    let mut applied: Vec<R> = Vec::new();
    let mut deleted: Vec<(String, String)> = Vec::new();
    while let Some(first) = stream.next().await {
        let mut batch = vec![first];
        // Take what is ready now: one message for a burst of changes.
        while batch.len() < BATCH {
            match stream.next().now_or_never() {
                Some(Some(item)) => batch.push(item),
                _ => break,
            }
        }
        let mut expired = false;
        for item in batch {
            match item {
                Ok(Event::Init) => listing.clear(),
                Ok(Event::InitApply(object)) => listing.push(convert(&object)),
                Ok(Event::InitDone) => {
                    flush(sink, feed, wrap, &mut applied, &mut deleted);
                    let rows = wrap(std::mem::take(&mut listing));
                    tracing::debug!(feed = feed.label(), rows = rows.len(), "listed");
                    sink(FeedUpdate::Listed { feed, rows });
                    backoff.reset();
                }
                // A key ends a batch applied or deleted, as its last event
                // says: a pod deleted and made again under the same name
                // (a StatefulSet's `mysql-0`) must stay.
                Ok(Event::Apply(object)) => {
                    let row = convert(&object);
                    if !deleted.is_empty() {
                        let key = row.key();
                        deleted.retain(|k| *k != key);
                    }
                    applied.push(row);
                }
                Ok(Event::Delete(object)) => {
                    let key = convert(&object).key();
                    applied.retain(|r| r.key() != key);
                    deleted.push(key);
                }
                Err(error) if is_gone(&error) => {
                    // The watcher lists again by itself; not an outage.
                    tracing::info!(feed = feed.label(), "watch expired (410); listing again");
                    expired = true;
                }
                Err(error) => {
                    flush(sink, feed, wrap, &mut applied, &mut deleted);
                    let error = feed_error(&error);
                    tracing::warn!(
                        feed = feed.label(),
                        forbidden = error.forbidden,
                        "watch failed: {}",
                        error.message
                    );
                    sink(FeedUpdate::Failed { feed, error });
                    return;
                }
            }
        }
        flush(sink, feed, wrap, &mut applied, &mut deleted);
        if expired && let Some(delay) = backoff.next() {
            // Not at once: a server that keeps expiring watches is not
            // listed in a loop.
            tokio::time::sleep(delay).await;
        }
    }
}

fn flush<R>(
    sink: &Sink,
    feed: Feed,
    wrap: fn(Vec<R>) -> Rows,
    applied: &mut Vec<R>,
    deleted: &mut Vec<(String, String)>,
) {
    if applied.is_empty() && deleted.is_empty() {
        return;
    }
    sink(FeedUpdate::Changed {
        feed,
        applied: wrap(std::mem::take(applied)),
        deleted: std::mem::take(deleted),
    });
}

fn api_status(error: &watcher::Error) -> Option<u16> {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) => Some(status.code),
            _ => None,
        },
        watcher::Error::WatchError(status) => Some(status.code),
        watcher::Error::NoResourceVersion => None,
    }
}

fn is_gone(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::WatchError(_)) && api_status(error) == Some(410)
}

/// Turns a watcher error into what the operator reads.
pub fn feed_error(error: &watcher::Error) -> FeedError {
    let status = api_status(error);
    let message = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => match e {
            kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
            other => plain_reason(&crate::probe::classify::chain_text(other)),
        },
        watcher::Error::WatchError(status) => status.message.clone(),
        watcher::Error::NoResourceVersion => error.to_string(),
    };
    FeedError {
        forbidden: status == Some(403),
        message: crate::text::one_line(&message),
    }
}

/// The part of a transport error chain an operator needs: "connection
/// refused" rather than "ServiceError: client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
fn plain_reason(chain: &str) -> String {
    let lower = chain.to_lowercase();
    const KNOWN: [(&str, &str); 6] = [
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("connection reset", "connection reset"),
        ("dns error", "cannot resolve the API server"),
        ("certificate", "TLS certificate rejected"),
        ("broken pipe", "connection lost"),
    ];
    KNOWN
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map_or_else(|| chain.to_owned(), |(_, plain)| (*plain).to_owned())
}
