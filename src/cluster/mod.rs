//! Kubernetes: the connection, the watches, the rows the views show, Helm
//! releases, the release manifest and drift, and the findings. Nothing here
//! knows of the terminal.

pub mod access;
pub mod connect;
mod convert;
pub mod drift;
pub mod findings;
pub mod helm;
pub mod model;
pub mod portforward;
pub mod quantity;
pub mod release;
pub mod report;
pub mod watch;

use std::sync::Arc;

use tokio::task::JoinHandle;

use access::Permission;
use connect::{ClusterTarget, ConnectError};
use watch::FeedUpdate;

/// What a cluster session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterEvent {
    /// A client was built; `version` is the API server's `/version` or why
    /// it could not be read (the watches keep trying either way).
    Connected {
        /// The API server's URL.
        server: String,
        /// The context.
        context: String,
        /// `v1.32.4`, or the error.
        version: Result<String, String>,
    },
    /// No client could be built: nothing will be watched.
    ConnectFailed(ConnectError),
    /// The answers of the access reviews.
    Permissions(Vec<Permission>),
    /// A watch reported.
    Feed(FeedUpdate),
}

/// Where a session reports.
pub type EventSink = Arc<dyn Fn(ClusterEvent) + Send + Sync>;

/// A running cluster session: connection, access review and watches.
/// Dropping it stops every task it started.
pub struct Session {
    task: JoinHandle<()>,
    client: Arc<std::sync::OnceLock<kube::Client>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("connected", &self.client.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The session's client, once connected.
    pub fn client(&self) -> Option<kube::Client> {
        self.client.get().cloned()
    }

    /// Where the client appears once the session has connected.
    pub fn client_slot(&self) -> Arc<std::sync::OnceLock<kube::Client>> {
        Arc::clone(&self.client)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Aborts a task when dropped, so aborting the session's task stops the
/// watches it spawned.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects to `target` and starts the watches; everything is reported
/// to `sink`.
pub fn start(target: ClusterTarget, trusted: Vec<String>, sink: EventSink) -> Session {
    let client = Arc::new(std::sync::OnceLock::new());
    let shared = Arc::clone(&client);
    let task = tokio::spawn(async move {
        let connection = match connect::connect(&target, &trusted).await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!("cluster connection failed: {error}");
                sink(ClusterEvent::ConnectFailed(error));
                return;
            }
        };
        let _ = shared.set(connection.client.clone());
        let feed_sink = Arc::clone(&sink);
        let feed_sink: watch::Sink = Arc::new(move |update| feed_sink(ClusterEvent::Feed(update)));
        let _feeds: Vec<AbortOnDrop> = watch::spawn_feeds(&connection.client, &feed_sink)
            .into_iter()
            .map(AbortOnDrop)
            .collect();
        let version = match connection.client.apiserver_version().await {
            Ok(info) => Ok(info.git_version),
            Err(e) => Err(crate::text::one_line(&crate::probe::classify::chain_text(
                &e,
            ))),
        };
        tracing::info!(server = %connection.server, context = %connection.context, ?version, "cluster connected");
        sink(ClusterEvent::Connected {
            server: connection.server.clone(),
            context: connection.context.clone(),
            version,
        });
        sink(ClusterEvent::Permissions(
            access::review(&connection.client).await,
        ));
        // The watches run until the session is dropped.
        std::future::pending::<()>().await;
    });
    Session { task, client }
}

/// An object's YAML for the describe pane, `managedFields` stripped.
/// Secrets are never fetched.
pub async fn describe(
    client: &kube::Client,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<String, String> {
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
    use k8s_openapi::api::core::v1::{Event, Node, Pod};
    use kube::Api;
    async fn fetch<K>(api: Api<K>, name: &str) -> Result<serde_json::Value, String>
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let object = api.get(name).await.map_err(|e| match e {
            kube::Error::Api(status) if status.code == 404 => {
                format!("{name} is gone from the cluster")
            }
            kube::Error::Api(status) if status.code == 403 => {
                format!("forbidden: {}", status.message)
            }
            other => crate::probe::classify::chain_text(&other),
        })?;
        serde_json::to_value(&object).map_err(|e| e.to_string())
    }
    let c = client.clone();
    let mut value = match kind {
        "Deployment" => fetch(Api::<Deployment>::namespaced(c, namespace), name).await?,
        "StatefulSet" => fetch(Api::<StatefulSet>::namespaced(c, namespace), name).await?,
        "DaemonSet" => fetch(Api::<DaemonSet>::namespaced(c, namespace), name).await?,
        "Pod" => fetch(Api::<Pod>::namespaced(c, namespace), name).await?,
        "Event" => fetch(Api::<Event>::namespaced(c, namespace), name).await?,
        "Node" => fetch(Api::<Node>::all(c), name).await?,
        other => return Err(format!("sitedeck does not describe {other} objects")),
    };
    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        metadata.remove("managedFields");
    }
    serde_saphyr::to_string(&value).map_err(|e| e.to_string())
}
