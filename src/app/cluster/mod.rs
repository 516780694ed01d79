//! The cluster as the cockpit knows it: the connection, the permissions,
//! every watched feed's rows and health, and the tables the cluster views
//! show, rebuilt once per batch of changes (see [`ClusterState::settle`]).

mod rows;
pub mod update;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Local};

use crate::app::table::Table;
use crate::cluster::access::Permission;
use crate::cluster::findings::Finding;
use crate::cluster::model::{EventRow, HelmRelease, NodeRow, PodRow, Row, Workload};
use crate::cluster::release::ReleaseManifest;
use crate::cluster::report::{self, Summary};
use crate::cluster::watch::{Feed, FeedUpdate, Rows};
use crate::cluster::{ClusterEvent, connect::ConnectError};

pub use rows::{ClusterView, PodScope};

/// Rows of one kind, by key, in arrival order.
#[derive(Debug, Clone)]
pub struct RowStore<R> {
    rows: Vec<R>,
    index: HashMap<(String, String), usize>,
}

impl<R> Default for RowStore<R> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<R: Row> RowStore<R> {
    /// Every row.
    pub fn rows(&self) -> &[R] {
        &self.rows
    }

    /// Replaces every row (after a list).
    pub fn replace(&mut self, rows: Vec<R>) {
        self.rows = Vec::with_capacity(rows.len());
        self.index.clear();
        self.apply(rows);
    }

    /// Adds or updates rows.
    pub fn apply(&mut self, rows: Vec<R>) {
        for row in rows {
            match self.index.get(&row.key()) {
                Some(&i) => self.rows[i] = row,
                None => {
                    self.index.insert(row.key(), self.rows.len());
                    self.rows.push(row);
                }
            }
        }
    }

    /// Removes rows by key.
    pub fn delete(&mut self, keys: &[(String, String)]) {
        for key in keys {
            if let Some(i) = self.index.remove(key) {
                self.rows.swap_remove(i);
                if let Some(moved) = self.rows.get(i) {
                    self.index.insert(moved.key(), i);
                }
            }
        }
    }
}

/// How a feed stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStatus {
    /// Listing for the first time.
    Loading,
    /// Listed and watching.
    Live,
    /// The list or the watch failed; rows (if any) are from `since`.
    Down {
        /// When it last was live; `None`: never listed.
        last_live: Option<DateTime<Local>>,
        /// When it went down.
        since: DateTime<Local>,
        /// Why.
        error: String,
    },
    /// The API server said 403.
    Forbidden(String),
}

/// The connection, as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Connecting.
    Connecting,
    /// A client exists.
    Connected {
        /// The API server's URL.
        server: String,
        /// The context.
        context: String,
        /// The server's version, or why it is unknown.
        version: Result<String, String>,
    },
    /// The kubeconfig's credential program waits for the operator's trust.
    NeedsTrust {
        /// The context.
        context: String,
        /// The command it runs.
        command: String,
    },
    /// No client could be built.
    Failed(String),
}

/// The cluster of the open site.
#[derive(Debug, Clone)]
pub struct ClusterState {
    /// Which session this is; events of older sessions are dropped.
    pub generation: u64,
    /// The connection.
    pub connection: Connection,
    /// The access reviews' answers; empty until they come.
    pub permissions: Vec<Permission>,
    /// Each feed's health.
    pub feeds: BTreeMap<Feed, FeedStatus>,
    /// When each feed was last live.
    pub last_live: BTreeMap<Feed, DateTime<Local>>,
    /// Deployments, StatefulSets and DaemonSets, one store per feed.
    pub workloads: BTreeMap<Feed, RowStore<Workload>>,
    /// Pods.
    pub pods: RowStore<PodRow>,
    /// Nodes.
    pub nodes: RowStore<NodeRow>,
    /// Events.
    pub events: RowStore<EventRow>,
    /// Helm release revisions.
    pub helm: RowStore<HelmRelease>,
    /// The site's release manifest, or why it cannot be read; `None`: the
    /// profile names none.
    pub release: Option<Result<ReleaseManifest, String>>,
    /// The findings over workloads and pods, as of the last settle.
    pub findings: Vec<Finding>,
    /// The counts Overview leads with, as of the last settle.
    pub summary: Summary,
    /// The tables of the cluster views.
    pub tables: BTreeMap<ClusterView, Table>,
    /// Pods shows only the pods of this workload.
    pub pod_scope: Option<PodScope>,
    /// Rebuild every table at the next settle (scope or release changed).
    pub changed: bool,
    /// Feeds whose rows changed since the last settle.
    pub changed_feeds: std::collections::BTreeSet<Feed>,
    /// Tables whose rows are out of date (not on screen when they changed).
    pub stale_tables: std::collections::BTreeSet<ClusterView>,
}

impl ClusterState {
    /// A session starting to connect.
    pub fn new(generation: u64, release: Option<Result<ReleaseManifest, String>>) -> Self {
        Self {
            generation,
            connection: Connection::Connecting,
            permissions: Vec::new(),
            feeds: Feed::ALL
                .iter()
                .map(|f| (*f, FeedStatus::Loading))
                .collect(),
            last_live: BTreeMap::new(),
            workloads: BTreeMap::new(),
            pods: RowStore::default(),
            nodes: RowStore::default(),
            events: RowStore::default(),
            helm: RowStore::default(),
            release,
            findings: Vec::new(),
            summary: Summary::default(),
            tables: ClusterView::ALL
                .iter()
                .map(|v| (*v, Table::new(v.columns(), v.default_sort())))
                .collect(),
            pod_scope: None,
            changed: true,
            changed_feeds: std::collections::BTreeSet::new(),
            stale_tables: std::collections::BTreeSet::new(),
        }
    }

    /// Every workload, of all three kinds.
    pub fn all_workloads(&self) -> impl Iterator<Item = &Workload> {
        self.workloads.values().flat_map(|s| s.rows().iter())
    }

    /// Applies a session's event.
    pub fn apply(&mut self, event: ClusterEvent) {
        match event {
            ClusterEvent::Connected {
                server,
                context,
                version,
            } => {
                self.connection = Connection::Connected {
                    server,
                    context,
                    version,
                }
            }
            ClusterEvent::ConnectFailed(ConnectError::Untrusted { context, command }) => {
                self.connection = Connection::NeedsTrust { context, command }
            }
            ClusterEvent::ConnectFailed(error) => {
                self.connection = Connection::Failed(error.to_string())
            }
            ClusterEvent::Permissions(permissions) => self.permissions = permissions,
            ClusterEvent::Feed(update) => self.apply_feed(update),
        }
    }

    fn apply_feed(&mut self, update: FeedUpdate) {
        let now = Local::now();
        let feed = match &update {
            FeedUpdate::Listed { feed, .. }
            | FeedUpdate::Changed { feed, .. }
            | FeedUpdate::Failed { feed, .. } => *feed,
        };
        self.changed_feeds.insert(feed);
        match update {
            FeedUpdate::Listed { feed, rows } => {
                self.store(feed, rows, None);
                self.feeds.insert(feed, FeedStatus::Live);
                self.last_live.insert(feed, now);
            }
            FeedUpdate::Changed {
                feed,
                applied,
                deleted,
            } => {
                self.store(feed, applied, Some(&deleted));
                if matches!(self.feeds.get(&feed), Some(FeedStatus::Live)) {
                    self.last_live.insert(feed, now);
                }
            }
            FeedUpdate::Failed { feed, error } => {
                let status = if error.forbidden {
                    FeedStatus::Forbidden(error.message)
                } else {
                    let since = match self.feeds.get(&feed) {
                        Some(FeedStatus::Down { since, .. }) => *since,
                        _ => now,
                    };
                    FeedStatus::Down {
                        last_live: self.last_live.get(&feed).copied(),
                        since,
                        error: error.message,
                    }
                };
                self.feeds.insert(feed, status);
            }
        }
    }

    /// Lists (`deleted: None`) replace a feed's rows; changes apply on top.
    fn store(&mut self, feed: Feed, rows: Rows, deleted: Option<&[(String, String)]>) {
        fn put<R: Row>(
            store: &mut RowStore<R>,
            rows: Vec<R>,
            deleted: Option<&[(String, String)]>,
        ) {
            match deleted {
                None => store.replace(rows),
                Some(keys) => {
                    store.apply(rows);
                    store.delete(keys);
                }
            }
        }
        match rows {
            Rows::Workloads(rows) => put(self.workloads.entry(feed).or_default(), rows, deleted),
            Rows::Pods(rows) => put(&mut self.pods, rows, deleted),
            Rows::Nodes(rows) => put(&mut self.nodes, rows, deleted),
            Rows::Events(rows) => put(&mut self.events, rows, deleted),
            Rows::Helm(rows) => put(&mut self.helm, rows, deleted),
        }
    }

    /// Rebuilds the findings and every table that changed since the last
    /// call (headless use and tests; the cockpit uses [`Self::settle_for`]).
    pub fn settle(&mut self) {
        self.settle_tables(None);
    }

    /// Rebuilds the findings and the summary if anything changed, and of
    /// the tables only the one on screen (`visible`); the others are marked
    /// stale and rebuilt when shown. The event loop calls it once per batch
    /// of actions, before drawing: at 10k pods a table costs tens of
    /// milliseconds, and a pod change should not rebuild five of them.
    pub fn settle_for(&mut self, visible: Option<ClusterView>) {
        self.settle_tables(Some(visible));
    }

    /// `only`: `None` rebuilds every table that changed; `Some(view)` only
    /// that one (or none).
    fn settle_tables(&mut self, only: Option<Option<ClusterView>>) {
        if let Some(Some(view)) = only
            && self.stale_tables.remove(&view)
        {
            self.rebuild_table(view);
        }
        if !self.changed && self.changed_feeds.is_empty() {
            return;
        }
        let all = std::mem::take(&mut self.changed);
        let feeds = std::mem::take(&mut self.changed_feeds);
        let touched = |list: &[Feed]| all || list.iter().any(|f| feeds.contains(f));
        let workloads_changed = touched(&[Feed::Deployments, Feed::StatefulSets, Feed::DaemonSets]);
        let pods_changed = touched(&[Feed::Pods]);
        let helm_changed = touched(&[Feed::Helm]);
        if workloads_changed || pods_changed || helm_changed {
            let workloads: Vec<Workload> = self.all_workloads().cloned().collect();
            if workloads_changed || pods_changed {
                self.findings =
                    crate::cluster::findings::all_findings(&workloads, self.pods.rows());
            }
            let manifest = self.release.as_ref().and_then(|r| r.as_ref().ok());
            let mut versions = report::workload_versions(manifest, &workloads, self.helm.rows());
            // No workload is missing until the workloads were listed.
            let listed = [Feed::Deployments, Feed::StatefulSets, Feed::DaemonSets]
                .iter()
                .all(|f| self.last_live.contains_key(f));
            if !listed {
                versions.retain(|v| v.drift != "missing");
            }
            let helm = if self.last_live.contains_key(&Feed::Helm) {
                report::helm_versions(manifest, self.helm.rows())
            } else {
                Vec::new() // no chart is missing before Helm was listed
            };
            self.summary = report::summarize(&versions, &helm, &self.findings);
        }
        for view in ClusterView::ALL {
            let rebuild = match view {
                ClusterView::Versions => workloads_changed || pods_changed || helm_changed,
                ClusterView::Helm => helm_changed,
                ClusterView::Pods => workloads_changed || pods_changed,
                ClusterView::Nodes => pods_changed || touched(&[Feed::Nodes]),
                ClusterView::Events => touched(&[Feed::Events]),
            };
            if !rebuild {
                continue;
            }
            match only {
                Some(visible) if visible != Some(view) => {
                    self.stale_tables.insert(view);
                }
                _ => {
                    self.stale_tables.remove(&view);
                    self.rebuild_table(view);
                }
            }
        }
    }

    fn rebuild_table(&mut self, view: ClusterView) {
        let rows = rows::build(self, view);
        if let Some(table) = self.tables.get_mut(&view) {
            table.set_rows(rows);
        }
    }

    /// The table of a view.
    pub fn table(&self, view: ClusterView) -> Option<&Table> {
        self.tables.get(&view)
    }

    /// The table of a view, to change.
    pub fn table_mut(&mut self, view: ClusterView) -> Option<&mut Table> {
        self.tables.get_mut(&view)
    }

    /// The feeds a view shows.
    pub fn view_status(&self, view: ClusterView) -> Vec<(Feed, &FeedStatus)> {
        view.feeds()
            .iter()
            .filter_map(|f| Some((*f, self.feeds.get(f)?)))
            .collect()
    }
}
