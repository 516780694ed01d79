//! sitedeck's own cluster session — `cluster::start`, what the TUI runs —
//! against the lab's API simulator, read through `ClusterState` as the
//! views read it: the seed site listed with its drift, findings and
//! permissions; live changes; the re-list after 410 Gone; outages (API
//! restart, dropped connections, 503s) shown as stale and recovered from
//! with backoff; a forbidden feed; the trust an exec credential plugin
//! needs; a dead API server.
//!
//! Each test has its own simulator in a temp dir. Nothing sleeps to wait:
//! the session's events are applied as they come until what the test
//! waits for holds, or it fails after [`DEADLINE`] showing the state.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sitedeck::app::cluster::{ClusterState, ClusterView, Connection, FeedStatus};
use sitedeck::app::state::View;
use sitedeck::app::table::TableRow;
use sitedeck::cluster::access::NEEDS;
use sitedeck::cluster::connect::{ClusterTarget, ConnectError};
use sitedeck::cluster::release::{self, ReleaseManifest};
use sitedeck::cluster::watch::{Feed, FeedError, FeedUpdate};
use sitedeck::cluster::{ClusterEvent, EventSink, Session};
use sitedeck_lab::kube::access::{AccessPolicy, AccessRule};
use sitedeck_lab::kube::faults::{Fault, Injection};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// How long a test waits for what it expects before failing.
const DEADLINE: Duration = Duration::from_secs(20);

/// Where the Deployments and Pods feeds list and watch (all namespaces).
const DEPLOYMENTS_PATH: &str = "/apis/apps/v1/deployments";
const PODS_PATH: &str = "/api/v1/pods";

/// A simulator of the seed site without generated pod logs.
fn simulator(dir: &Path, access_policy: Option<AccessPolicy>) -> KubeSim {
    let mut options = KubeSimOptions {
        log_interval: None,
        ..KubeSimOptions::default()
    };
    if let Some(policy) = access_policy {
        options.access_policy = policy;
    }
    KubeSim::start_with(dir, options).expect("simulator")
}

fn target(kubeconfig: &Path) -> ClusterTarget {
    ClusterTarget {
        kubeconfig: Some(kubeconfig.to_path_buf()),
        context: None,
        bastion: None,
    }
}

/// The release the seed site runs (but for its one deliberate drift).
fn release_manifest() -> Option<Result<ReleaseManifest, String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/releases/example-2.4.1.yaml");
    Some(Ok(release::load(&path).expect("the example release loads")))
}

/// A cluster session and the state its events build, as the TUI keeps it.
struct Watching {
    /// Held for its `Drop`, first: stops the session's tasks.
    _session: Session,
    events: UnboundedReceiver<ClusterEvent>,
    state: ClusterState,
    /// Every event so far, in order.
    seen: Vec<ClusterEvent>,
}

impl Watching {
    fn start(target: ClusterTarget, trusted: Vec<String>) -> Self {
        let (sender, events) = unbounded_channel();
        let sink: EventSink = Arc::new(move |event| {
            // The receiver is gone only when the test is over.
            let _ = sender.send(event);
        });
        Self {
            _session: sitedeck::cluster::start(target, trusted, sink),
            events,
            state: ClusterState::new(1, release_manifest()),
            seen: Vec::new(),
        }
    }

    /// Applies events as they come until `done` holds (checked after each
    /// one, so a passing state is not missed); fails after [`DEADLINE`].
    async fn until(&mut self, what: &str, done: impl Fn(&ClusterState) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.state.settle();
            if done(&self.state) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    self.state.apply(event);
                }
                Ok(None) => panic!("the session ended waiting for {what}\n{}", self.shown()),
                Err(_) => panic!("no {what} after {} s\n{}", DEADLINE.as_secs(), self.shown()),
            }
        }
    }

    /// Waits until every feed is live and the access review answered.
    async fn until_live(&mut self) {
        self.until("connection, permissions and every feed live", |s| {
            matches!(s.connection, Connection::Connected { .. })
                && !s.permissions.is_empty()
                && all_live(s)
        })
        .await;
    }

    /// The failures reported since event number `from`.
    fn failures_since(&self, from: usize) -> Vec<(Feed, FeedError)> {
        self.seen[from..]
            .iter()
            .filter_map(|event| match event {
                ClusterEvent::Feed(FeedUpdate::Failed { feed, error }) => {
                    Some((*feed, error.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// How many complete lists of `feed` were reported since event `from`.
    fn lists_since(&self, from: usize, feed: Feed) -> usize {
        self.seen[from..]
            .iter()
            .filter(|event| {
                matches!(event, ClusterEvent::Feed(FeedUpdate::Listed { feed: f, .. }) if *f == feed)
            })
            .count()
    }

    /// The state, for a failing test's message.
    fn shown(&self) -> String {
        let mut text = format!("connection: {:?}\nfeeds:\n", self.state.connection);
        for (feed, status) in &self.state.feeds {
            text.push_str(&format!("  {}: {status:?}\n", feed.label()));
        }
        text.push_str(&format!(
            "permissions: {} answers\nrows:",
            self.state.permissions.len()
        ));
        for view in ClusterView::ALL {
            let count = self.state.table(view).map_or(0, |t| t.rows.len());
            text.push_str(&format!(" {view:?} {count},"));
        }
        text.push_str("\nlast events:\n");
        let first = self.seen.len().saturating_sub(12);
        for event in &self.seen[first..] {
            text.push_str(&format!("  {}\n", brief(event)));
        }
        text
    }
}

/// An event in one line.
fn brief(event: &ClusterEvent) -> String {
    match event {
        ClusterEvent::Feed(FeedUpdate::Listed { feed, rows }) => {
            format!("listed {}: {} rows", feed.label(), rows.len())
        }
        ClusterEvent::Feed(FeedUpdate::Changed {
            feed,
            applied,
            deleted,
        }) => format!(
            "changed {}: {} applied, {} deleted",
            feed.label(),
            applied.len(),
            deleted.len()
        ),
        ClusterEvent::Feed(FeedUpdate::Failed { feed, error }) => {
            format!("failed {}: {error:?}", feed.label())
        }
        ClusterEvent::Permissions(permissions) => format!("{} permissions", permissions.len()),
        other => format!("{other:?}"),
    }
}

fn all_live(state: &ClusterState) -> bool {
    state.feeds.values().all(|s| *s == FeedStatus::Live)
}

fn status(state: &ClusterState, feed: Feed) -> &FeedStatus {
    state.feeds.get(&feed).expect("every feed has a status")
}

/// A view's rows.
fn rows(state: &ClusterState, view: ClusterView) -> &[TableRow] {
    &state.table(view).expect("every view has a table").rows
}

/// The text of a row's cell under the column titled `column`.
fn cell<'a>(view: ClusterView, row: &'a TableRow, column: &str) -> &'a str {
    let index = view
        .columns()
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("{view:?} has no column {column}"));
    row.cells[index].text()
}

/// The rows of a view whose `column` says `value`.
fn rows_with<'a>(
    state: &'a ClusterState,
    view: ClusterView,
    column: &str,
    value: &str,
) -> Vec<&'a TableRow> {
    rows(state, view)
        .iter()
        .filter(|row| cell(view, row, column) == value)
        .collect()
}

/// The one Versions row of a workload (the seed's have one container).
fn workload<'a>(state: &'a ClusterState, namespace: &str, name: &str) -> Option<&'a TableRow> {
    rows(state, ClusterView::Versions).iter().find(|row| {
        cell(ClusterView::Versions, row, "NAMESPACE") == namespace
            && cell(ClusterView::Versions, row, "NAME") == name
    })
}

/// How many list requests (not watches) the simulator served on `path`.
fn list_requests(sim: &KubeSim, path: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path == path && r.method == "GET" && r.param("watch").is_none())
        .count()
}

/// Sets the image of a Deployment's first container.
fn set_image(sim: &KubeSim, namespace: &str, name: &str, image: &str) {
    sim.modify("deployments", namespace, name, |deployment| {
        deployment["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    })
    .expect("modify the deployment");
}

/// A one-replica Deployment in `acme-prod`.
fn a_deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "acme-prod", "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    })
}

/// The name of the seed's crash-looping pod.
fn crash_looping_pod(state: &ClusterState) -> String {
    let pods = rows_with(state, ClusterView::Pods, "STATUS", "CrashLoopBackOff");
    let [pod] = pods.as_slice() else {
        panic!("one crash-looping pod expected: {pods:#?}");
    };
    cell(ClusterView::Pods, pod, "NAME").to_owned()
}

/// The text of `view` drawn at 80x24 with `cluster` as the open site's.
fn screen(cluster: &ClusterState, view: ClusterView) -> String {
    let mut state = common::state_with_reports("mono");
    if let Some(site) = &mut state.site {
        site.cluster = Some(cluster.clone());
    }
    state.view = View::Cluster(view);
    state.settle();
    common::render_text(&state, 80, 24)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_site_is_listed_with_its_drift_findings_and_permissions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), None);
    let mut watching = Watching::start(target(sim.kubeconfig()), Vec::new());
    watching.until_live().await;
    let state = &watching.state;

    match &state.connection {
        Connection::Connected {
            server,
            context,
            version,
        } => {
            assert!(server.starts_with(sim.url()), "{server}");
            assert_eq!(context, "lab");
            let version = version.as_deref().expect("the server's version");
            assert!(version.starts_with("v1.32."), "{version}");
        }
        other => panic!("not connected: {other:?}"),
    }

    // Every workload of the seed, one row each (one container each).
    let mut workloads: Vec<String> = rows(state, ClusterView::Versions)
        .iter()
        .map(|row| {
            let cell = |column| cell(ClusterView::Versions, row, column);
            format!("{} {} {}", cell("NAMESPACE"), cell("KIND"), cell("NAME"))
        })
        .collect();
    workloads.sort();
    assert_eq!(
        workloads,
        [
            "acme-prod DaemonSet node-agent",
            "acme-prod Deployment api-gateway",
            "acme-prod Deployment billing-service",
            "acme-prod Deployment notification-worker",
            "acme-prod Deployment order-service",
            "acme-prod StatefulSet search-indexer",
            "acme-tools Deployment debug-shell",
            "acme-tools Deployment load-generator",
            "kube-system DaemonSet kube-proxy",
            "kube-system Deployment coredns",
            "middleware StatefulSet mysql",
            "middleware StatefulSet redis",
        ]
    );
    // The one deliberate drift; every other component as released;
    // namespaces outside the release are not compared.
    let drift = |namespace, name| {
        let row = workload(state, namespace, name).expect("a Versions row");
        (
            cell(ClusterView::Versions, row, "TAG"),
            cell(ClusterView::Versions, row, "DRIFT"),
        )
    };
    assert_eq!(
        drift("acme-prod", "notification-worker"),
        ("2.4.0", "older")
    );
    for name in [
        "api-gateway",
        "order-service",
        "billing-service",
        "search-indexer",
        "node-agent",
    ] {
        assert_eq!(drift("acme-prod", name).1, "ok", "{name}");
    }
    assert_eq!(drift("middleware", "mysql"), ("10.11.8", "ok"));
    assert_eq!(drift("middleware", "redis"), ("7.2.5", "ok"));
    assert_eq!(drift("acme-tools", "debug-shell"), ("latest", "—"));
    assert_eq!(drift("kube-system", "coredns").1, "—");
    assert_eq!(state.summary.drifted, 1, "{:?}", state.summary);
    assert_eq!(state.summary.missing, 0, "{:?}", state.summary);

    // Pods: the crash loop, with its finding, among the problems first.
    assert_eq!(rows(state, ClusterView::Pods).len(), 24);
    let crashing = crash_looping_pod(state);
    assert!(crashing.starts_with("debug-shell-"), "{crashing}");
    let pod = &rows_with(state, ClusterView::Pods, "NAME", &crashing)[0];
    assert_eq!(cell(ClusterView::Pods, pod, "NAMESPACE"), "acme-tools");
    assert!(cell(ClusterView::Pods, pod, "FINDINGS").contains("crash_loop_back_off"));

    // Helm: the middleware chart the release ships.
    let charts = rows_with(state, ClusterView::Helm, "NAME", "acme-middleware");
    let [chart] = charts.as_slice() else {
        panic!("one acme-middleware release expected: {charts:#?}");
    };
    let helm = |column| cell(ClusterView::Helm, chart, column);
    assert_eq!(helm("NAMESPACE"), "middleware");
    assert_eq!(helm("VERSION"), "1.8.2");
    assert_eq!(helm("STATUS"), "deployed");
    assert_eq!(helm("DRIFT"), "ok");

    assert_eq!(rows(state, ClusterView::Nodes).len(), 3);
    assert!(!rows_with(state, ClusterView::Events, "REASON", "BackOff").is_empty());

    // Every permission sitedeck needs was asked about, and is granted.
    assert_eq!(state.permissions.len(), NEEDS.len());
    let refused: Vec<_> = state
        .permissions
        .iter()
        .filter(|p| p.allowed != Some(true))
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
    assert!(
        watching.failures_since(0).is_empty(),
        "{:#?}",
        watching.failures_since(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_modified_and_deleted_objects_reach_the_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), None);
    let mut watching = Watching::start(target(sim.kubeconfig()), Vec::new());
    watching.until_live().await;

    sim.create(a_deployment(
        "live-check",
        "registry.acme.example/platform/live-check:1.0.0",
    ))
    .expect("create");
    watching
        .until("the new Deployment in Versions", |s| {
            workload(s, "acme-prod", "live-check").is_some_and(|row| {
                cell(ClusterView::Versions, row, "TAG") == "1.0.0"
                    && cell(ClusterView::Versions, row, "DRIFT") == "not in manifest"
            })
        })
        .await;

    set_image(
        &sim,
        "acme-prod",
        "notification-worker",
        "registry.acme.example/platform/notification-worker:2.4.1",
    );
    watching
        .until("notification-worker on 2.4.1, drift gone", |s| {
            workload(s, "acme-prod", "notification-worker").is_some_and(|row| {
                cell(ClusterView::Versions, row, "TAG") == "2.4.1"
                    && cell(ClusterView::Versions, row, "DRIFT") == "ok"
            })
        })
        .await;

    let pod = crash_looping_pod(&watching.state);
    sim.delete("pods", "acme-tools", &pod).expect("delete");
    watching
        .until("the deleted pod gone from Pods", |s| {
            rows_with(s, ClusterView::Pods, "NAME", &pod).is_empty()
        })
        .await;

    // By the watches: each feed was listed once, at the start.
    for feed in Feed::ALL {
        assert_eq!(watching.lists_since(0, feed), 1, "{}", feed.label());
    }
    assert!(
        watching.failures_since(0).is_empty(),
        "{:#?}",
        watching.failures_since(0)
    );
    assert!(all_live(&watching.state), "{}", watching.shown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_expired_by_compaction_lists_again_without_an_outage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), None);
    let mut watching = Watching::start(target(sim.kubeconfig()), Vec::new());
    watching.until_live().await;
    let from = watching.seen.len();
    let lists_before = list_requests(&sim, DEPLOYMENTS_PATH);

    // A change, then a compaction before the open watches read it: they
    // are behind the compacted log and get 410 Gone, as from an API
    // server whose etcd compacted. A watch can win the race and read the
    // change first; then the next round tries again.
    let mut relisted = false;
    for round in 0..5 {
        let tag = format!("2.4.{}", 2 + round);
        set_image(
            &sim,
            "acme-prod",
            "api-gateway",
            &format!("registry.acme.example/platform/api-gateway:{tag}"),
        );
        sim.compact();
        watching
            .until("the new api-gateway tag", |s| {
                all_live(s)
                    && workload(s, "acme-prod", "api-gateway")
                        .is_some_and(|row| cell(ClusterView::Versions, row, "TAG") == tag)
            })
            .await;
        if list_requests(&sim, DEPLOYMENTS_PATH) > lists_before {
            relisted = true;
            break;
        }
    }
    assert!(relisted, "no watch expired in five rounds");
    assert!(
        watching.lists_since(from, Feed::Deployments) >= 1,
        "the re-list reached the state\n{}",
        watching.shown()
    );
    let row = workload(&watching.state, "acme-prod", "api-gateway").expect("api-gateway");
    assert_eq!(cell(ClusterView::Versions, row, "DRIFT"), "newer");
    // A 410 is not an outage: nothing failed, nothing went stale.
    assert!(
        watching.failures_since(from).is_empty(),
        "{:#?}",
        watching.failures_since(from)
    );
    assert!(all_live(&watching.state), "{}", watching.shown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_restart_shows_stale_rows_then_recovers_with_the_changes_made_meanwhile() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), None);
    let mut watching = Watching::start(target(sim.kubeconfig()), Vec::new());
    watching.until_live().await;
    let pods_before = watching.state.pods.rows().len();
    let crashing = crash_looping_pod(&watching.state);
    let from = watching.seen.len();

    // The API goes away for five seconds, dropping every watch (long
    // enough that a busy machine still sees each watch fail to reconnect).
    let faults = sim.faults().clone();
    tokio::task::spawn_blocking(move || faults.restart(Duration::from_secs(5)))
        .await
        .expect("restart");
    assert!(sim.faults().is_down(), "the API is down");
    sim.delete("pods", "acme-tools", &crashing)
        .expect("delete while down");
    sim.create(a_deployment(
        "while-down",
        "registry.acme.example/platform/while-down:1.0.0",
    ))
    .expect("create while down");

    watching
        .until("pods down, its rows kept and marked stale", |s| {
            matches!(
                status(s, Feed::Pods),
                FeedStatus::Down {
                    last_live: Some(_),
                    ..
                }
            ) && s.pods.rows().len() == pods_before
                && rows(s, ClusterView::Pods).len() == pods_before
        })
        .await;
    let pods_view = screen(&watching.state, ClusterView::Pods);
    assert!(pods_view.contains("STALE"), "{pods_view}");
    assert!(
        pods_view.contains(&format!("Pods {pods_before} ")),
        "rows still shown\n{pods_view}"
    );

    watching
        .until("every feed live again, with the changes", |s| {
            all_live(s)
                && rows_with(s, ClusterView::Pods, "NAME", &crashing).is_empty()
                && workload(s, "acme-prod", "while-down").is_some()
        })
        .await;
    assert!(sim.faults().restarts() >= 1);
    // The watches retried with backoff while the port was closed: a few
    // attempts each, not a busy loop.
    let failures = watching.failures_since(from);
    assert!(!failures.is_empty());
    for feed in Feed::ALL {
        let count = failures.iter().filter(|(f, _)| *f == feed).count();
        assert!(
            count <= 8,
            "{} failed {count} times: {failures:#?}",
            feed.label()
        );
    }
    assert!(
        failures.iter().all(|(_, error)| !error.forbidden),
        "{failures:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_and_503s_are_retried_with_backoff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), None);
    // The first requests for pods: two 503s, then a dropped connection;
    // each reaches the watcher (kube's own retries are off: they would
    // hide an outage), which backs off before the next try.
    sim.faults()
        .inject(Injection::new(Fault::Unavailable, 2).on_paths(PODS_PATH));
    sim.faults()
        .inject(Injection::new(Fault::DropConnection, 1).on_paths(PODS_PATH));
    let mut watching = Watching::start(target(sim.kubeconfig()), Vec::new());
    watching
        .until("pods down (a dropped connection)", |s| {
            matches!(status(s, Feed::Pods), FeedStatus::Down { .. })
        })
        .await;
    match status(&watching.state, Feed::Pods) {
        FeedStatus::Down {
            last_live, error, ..
        } => {
            assert_eq!(*last_live, None, "never listed yet");
            assert!(!error.is_empty());
        }
        other => panic!("{other:?}"),
    }
    watching.until_live().await;
    assert_eq!(sim.faults().remaining(), 0, "every fault was served");
    assert_eq!(rows(&watching.state, ClusterView::Pods).len(), 24);

    let failures = watching.failures_since(0);
    let pod_failures: Vec<_> = failures.iter().filter(|(f, _)| *f == Feed::Pods).collect();
    assert_eq!(
        pod_failures.len(),
        3,
        "one failure per 503 and per dropped connection: {failures:#?}"
    );
    assert_eq!(
        pod_failures.len(),
        failures.len(),
        "other feeds unaffected: {failures:#?}"
    );
    // Two 503s, a drop and the list that worked: the retries were
    // counted out, not a busy loop.
    assert_eq!(list_requests(&sim, PODS_PATH), 4);
}

/// An API server behind a load balancer answers 503 while its backends are
/// down: the feed shows down at once (kube's client would otherwise retry
/// a 503 up to 15 times and hide the outage for minutes), then recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_outage_shows_the_feed_down_then_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), None);
    sim.faults()
        .inject(Injection::new(Fault::Unavailable, 1000).on_paths(PODS_PATH));
    let mut watching = Watching::start(target(sim.kubeconfig()), Vec::new());
    watching
        .until("pods down (503)", |s| {
            matches!(status(s, Feed::Pods), FeedStatus::Down { .. })
        })
        .await;
    sim.faults().clear();
    watching.until_live().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_feed_says_forbidden_and_the_others_stay_live() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = AccessPolicy {
        rules: vec![
            AccessRule::deny("list", "", "pods", None),
            AccessRule::deny("watch", "", "pods", None),
            AccessRule::allow("*", "*", "*", None),
        ],
    };
    let sim = simulator(dir.path(), Some(policy));
    let mut watching = Watching::start(target(sim.kubeconfig()), Vec::new());
    watching
        .until("pods forbidden, the rest live, permissions in", |s| {
            !s.permissions.is_empty()
                && s.feeds.iter().all(|(feed, status)| match feed {
                    Feed::Pods => matches!(status, FeedStatus::Forbidden(_)),
                    _ => *status == FeedStatus::Live,
                })
        })
        .await;
    let state = &watching.state;
    let allowed = |resource: &str, verb: &str| {
        state
            .permissions
            .iter()
            .find(|p| p.resource == resource && p.verb == verb)
            .unwrap_or_else(|| panic!("no permission {verb} {resource}"))
            .allowed
    };
    assert_eq!(allowed("pods", "list"), Some(false));
    assert_eq!(allowed("pods", "watch"), Some(false));
    assert_eq!(allowed("pods/log", "get"), Some(true));
    assert_eq!(
        state
            .permissions
            .iter()
            .filter(|p| p.allowed == Some(true))
            .count(),
        NEEDS.len() - 2
    );
    assert!(rows(state, ClusterView::Pods).is_empty());
    assert_eq!(rows(state, ClusterView::Nodes).len(), 3);

    let pods_view = screen(state, ClusterView::Pods);
    assert!(
        pods_view.contains("Forbidden: sitedeck may not list pods"),
        "{pods_view}"
    );
    assert!(pods_view.contains("pods forbidden"), "{pods_view}");
    assert!(
        !pods_view.contains("NAMESPACE"),
        "no empty table\n{pods_view}"
    );
}

/// A kubeconfig for `sim` whose user gets its token by running
/// `sh -c SCRIPT`, the script touching `marker` first. Returns the file
/// and the command as sitedeck shows it.
fn exec_kubeconfig(dir: &Path, sim: &KubeSim, marker: &Path) -> (std::path::PathBuf, String) {
    use base64::Engine;
    let credential = json!({
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": sim.token()},
    });
    let script = format!("touch '{}' && echo '{credential}'", marker.display());
    // JSON is YAML: no quoting to get wrong.
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": {
            "server": sim.url(),
            "certificate-authority-data":
                base64::engine::general_purpose::STANDARD.encode(sim.ca_pem()),
        }}],
        "users": [{"name": "plugin", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "sh",
            "args": ["-c", script],
            "interactiveMode": "Never",
        }}}],
        "contexts": [{"name": "plugin", "context": {"cluster": "lab", "user": "plugin"}}],
        "current-context": "plugin",
    });
    let path = dir.join("exec-kubeconfig");
    std::fs::write(&path, kubeconfig.to_string()).expect("write the kubeconfig");
    (path, format!("sh -c {script}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_credential_plugin_runs_only_once_trusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(&dir.path().join("sim"), None);
    let marker = dir.path().join("MARKER");
    let (kubeconfig, command) = exec_kubeconfig(dir.path(), &sim, &marker);

    // Not trusted, or trusted only in part: refused before it runs.
    for trusted in [Vec::new(), vec!["sh".to_owned()]] {
        let mut watching = Watching::start(target(&kubeconfig), trusted);
        watching
            .until("the trust question", |s| {
                matches!(s.connection, Connection::NeedsTrust { .. })
            })
            .await;
        assert_eq!(
            watching.seen,
            [ClusterEvent::ConnectFailed(ConnectError::Untrusted {
                context: "plugin".into(),
                command: command.clone(),
            })]
        );
        assert!(!marker.exists(), "the plugin ran untrusted");
    }
    assert!(sim.requests().is_empty(), "nothing reached the API");

    // Trusted with exactly that command: it runs, and its token works.
    let mut watching = Watching::start(target(&kubeconfig), vec![command]);
    watching.until_live().await;
    assert!(marker.exists(), "the trusted plugin ran");
    match &watching.state.connection {
        Connection::Connected {
            context, version, ..
        } => {
            assert_eq!(context, "plugin");
            assert!(version.is_ok(), "{version:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_api_server_shows_every_feed_down_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "dead", "cluster": {
            "server": format!("https://127.0.0.1:{port}"),
            "insecure-skip-tls-verify": true,
        }}],
        "users": [{"name": "ops", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "ops"}}],
        "current-context": "dead",
    });
    std::fs::write(&kubeconfig, config.to_string()).expect("write the kubeconfig");

    let mut watching = Watching::start(target(&kubeconfig), Vec::new());
    watching
        .until("the version error and every feed down", |s| {
            matches!(
                s.connection,
                Connection::Connected {
                    version: Err(_),
                    ..
                }
            ) && s.feeds.values().all(|f| {
                matches!(
                    f,
                    FeedStatus::Down {
                        last_live: None,
                        ..
                    }
                )
            })
        })
        .await;
    let Connection::Connected {
        version: Err(why), ..
    } = &watching.state.connection
    else {
        unreachable!()
    };
    assert!(why.to_lowercase().contains("refused"), "{why}");
    for (feed, status) in &watching.state.feeds {
        let FeedStatus::Down { error, .. } = status else {
            unreachable!()
        };
        assert!(
            error.to_lowercase().contains("refused"),
            "{}: {error}",
            feed.label()
        );
    }
    let pods_view = screen(&watching.state, ClusterView::Pods);
    assert!(pods_view.contains("Cannot list pods"), "{pods_view}");
    assert!(pods_view.contains("Retrying with backoff"), "{pods_view}");
    // The access reviews fail too, each saying so rather than "denied".
    watching
        .until("the access reviews' answers", |s| !s.permissions.is_empty())
        .await;
    assert!(
        watching
            .state
            .permissions
            .iter()
            .all(|p| p.allowed.is_none()),
        "{:#?}",
        watching.state.permissions
    );
}
