//! Snapshots of the cluster views — Versions, Helm, Pods, Nodes, Events —
//! and of their states (a regex filter, a sort, a stale feed, a forbidden
//! one, loading, the describe pane) and of Overview's cluster pane, at
//! 80x24 and 160x48 in the dark and mono themes, text and style letters.
//!
//! The cluster is built by hand, as the session would report it: rows
//! with fixed timestamps arrive as `FeedUpdate::Listed`, and `State::now`
//! is fixed, so every age is stable.

mod common;

use chrono::{DateTime, Duration, Local, TimeZone, Utc};
use sitedeck::app::action::Action;
use sitedeck::app::cluster::{ClusterState, ClusterView, FeedStatus};
use sitedeck::app::state::{State, View};
use sitedeck::app::{Effect, update};
use sitedeck::cluster::ClusterEvent;
use sitedeck::cluster::access::{NEEDS, Permission};
use sitedeck::cluster::model::{
    ContainerRow, EventRow, HelmRelease, ImageRef, NodeRow, PodRow, RolloutState, Workload,
    WorkloadKind,
};
use sitedeck::cluster::watch::{Feed, FeedError, FeedUpdate, Rows};
use sitedeck::config::keymap::KeyChord;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];
const THEMES: [&str; 2] = ["dark", "mono"];

/// What "now" is on every screen here.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 15, 30)
        .single()
        .expect("a valid time")
}

fn minutes_ago(minutes: i64) -> Option<DateTime<Utc>> {
    Some(now() - Duration::minutes(minutes))
}

const DAY: i64 = 24 * 60;
const REGISTRY: &str = "registry.acme.example/platform";

fn container(name: &str, image: &str) -> ContainerRow {
    ContainerRow {
        name: name.to_owned(),
        image: image.to_owned(),
        image_ref: ImageRef::parse(image),
        cpu_limit: true,
        memory_limit: true,
        cpu_request_millis: 100,
        memory_request_bytes: 256 << 20,
        liveness: None,
        readiness: None,
    }
}

/// A workload of one container named after it, selecting `app=NAME`.
fn workload(kind: WorkloadKind, namespace: &str, name: &str, image: &str) -> Workload {
    Workload {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        containers: vec![container(name, image)],
        desired: 2,
        ready: 2,
        updated: 2,
        rollout: RolloutState::Complete,
        selector: [("app".to_owned(), name.to_owned())].into(),
        created: minutes_ago(41 * DAY),
    }
}

fn with_replicas(mut workload: Workload, desired: i32, ready: i32) -> Workload {
    workload.desired = desired;
    workload.ready = ready;
    workload.updated = desired;
    if ready < desired {
        workload.rollout = RolloutState::Progressing;
    }
    workload
}

fn deployments() -> Vec<Workload> {
    use WorkloadKind::Deployment;
    let platform = |name: &str, tag: &str| {
        workload(
            Deployment,
            "acme-prod",
            name,
            &format!("{REGISTRY}/{name}:{tag}"),
        )
    };
    let mut debug_shell = with_replicas(
        workload(Deployment, "acme-tools", "debug-shell", "busybox:latest"),
        1,
        0,
    );
    debug_shell.containers[0].cpu_limit = false;
    debug_shell.containers[0].memory_limit = false;
    debug_shell.rollout = RolloutState::Failed("ProgressDeadlineExceeded".to_owned());
    vec![
        platform("api-gateway", "2.4.1"),
        with_replicas(platform("order-service", "2.4.1"), 3, 3),
        platform("billing-service", "2.4.0"),
        // The drift: release 2.4.1 ships notification-worker 2.4.1.
        with_replicas(platform("notification-worker", "2.4.0"), 1, 1),
        debug_shell,
        with_replicas(
            workload(
                Deployment,
                "acme-tools",
                "load-generator",
                &format!("{REGISTRY}/load-generator:0.3.0"),
            ),
            1,
            0,
        ),
        workload(
            Deployment,
            "kube-system",
            "coredns",
            "registry.k8s.io/coredns/coredns:v1.11.3",
        ),
    ]
}

fn stateful_sets() -> Vec<Workload> {
    use WorkloadKind::StatefulSet;
    vec![
        workload(
            StatefulSet,
            "acme-prod",
            "search-indexer",
            &format!("{REGISTRY}/search-indexer:2.3.7"),
        ),
        workload(
            StatefulSet,
            "middleware",
            "mysql",
            "docker.io/library/mariadb:10.11.8",
        ),
        // A replica down.
        with_replicas(
            workload(
                StatefulSet,
                "middleware",
                "redis",
                "docker.io/library/redis:7.2.5",
            ),
            2,
            1,
        ),
    ]
}

/// `node-agent`, which the release ships, is missing.
fn daemon_sets() -> Vec<Workload> {
    vec![with_replicas(
        workload(
            WorkloadKind::DaemonSet,
            "kube-system",
            "kube-proxy",
            "registry.k8s.io/kube-proxy:v1.30.4",
        ),
        3,
        3,
    )]
}

/// A ready, running pod of `app`.
fn pod(namespace: &str, app: &str, suffix: &str, node: &str) -> PodRow {
    PodRow {
        namespace: namespace.to_owned(),
        name: format!("{app}-{suffix}"),
        status: "Running".to_owned(),
        phase: "Running".to_owned(),
        ready: 1,
        containers: 1,
        restarts: 0,
        last_termination: None,
        node: Some(node.to_owned()),
        unschedulable: None,
        created: minutes_ago(12 * DAY),
        labels: [("app".to_owned(), app.to_owned())].into(),
        cpu_request_millis: 100,
        memory_request_bytes: 256 << 20,
    }
}

fn pod_rows() -> Vec<PodRow> {
    const W1: &str = "acme-worker-1";
    const W2: &str = "acme-worker-2";
    let mut oom = pod("acme-prod", "billing-service", "6c7d8f9b5-h3j4k", W2);
    oom.restarts = 7;
    oom.last_termination = Some("OOMKilled".to_owned());
    let mut crash = pod("acme-tools", "debug-shell", "5b8f7c6d4-tq7zx", W1);
    crash.status = "CrashLoopBackOff".to_owned();
    crash.ready = 0;
    crash.restarts = 12;
    crash.last_termination = Some("Error".to_owned());
    crash.created = minutes_ago(3 * 60);
    let mut pending = pod("acme-tools", "load-generator", "7f9d8c5b6-mx2lp", W1);
    pending.status = "Pending".to_owned();
    pending.phase = "Pending".to_owned();
    pending.ready = 0;
    pending.node = None;
    pending.memory_request_bytes = 64 << 30;
    pending.unschedulable = Some(
        "0/3 nodes are available: 1 node(s) had untolerated taint \
         {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory."
            .to_owned(),
    );
    pending.created = minutes_ago(25);
    let mut unready = pod("middleware", "redis", "1", W2);
    unready.ready = 0;
    unready.restarts = 2;
    unready.created = minutes_ago(40);
    let mut done = pod("acme-prod", "db-migrate", "29123840-k2x7q", W2);
    done.status = "Completed".to_owned();
    done.phase = "Succeeded".to_owned();
    done.ready = 0;
    done.created = minutes_ago(95);
    vec![
        pod("acme-prod", "api-gateway", "7d9c5b6f4-x2x9k", W1),
        pod("acme-prod", "api-gateway", "7d9c5b6f4-q8w2n", W2),
        // Every replica on one node.
        pod("acme-prod", "order-service", "5f6d7c8b9-a1b2c", W1),
        pod("acme-prod", "order-service", "5f6d7c8b9-d3e4f", W1),
        pod("acme-prod", "order-service", "5f6d7c8b9-g5h6j", W1),
        oom,
        pod("acme-prod", "billing-service", "6c7d8f9b5-m5n6p", W1),
        pod("acme-prod", "notification-worker", "84c6d9f7b-r7s8t", W2),
        pod("acme-prod", "search-indexer", "0", W1),
        pod("acme-prod", "search-indexer", "1", W2),
        done,
        crash,
        pending,
        pod("middleware", "mysql", "0", W1),
        pod("middleware", "mysql", "1", W2),
        pod("middleware", "redis", "0", W1),
        unready,
        pod("kube-system", "coredns", "6f6b679f8f-4lzqh", W1),
        pod("kube-system", "coredns", "6f6b679f8f-9vbnm", W2),
    ]
}

fn node_rows() -> Vec<NodeRow> {
    let node = |name: &str, ip: &str, control_plane: bool| NodeRow {
        name: name.to_owned(),
        ready: Some(true),
        roles: if control_plane {
            vec!["control-plane".to_owned()]
        } else {
            Vec::new()
        },
        taints: if control_plane {
            vec!["node-role.kubernetes.io/control-plane:NoSchedule".to_owned()]
        } else {
            Vec::new()
        },
        unschedulable: false,
        kubelet_version: "v1.30.4".to_owned(),
        os_image: "Ubuntu 22.04.4 LTS".to_owned(),
        container_runtime: "containerd://1.7.22".to_owned(),
        internal_ip: Some(ip.to_owned()),
        cpu_allocatable_millis: 4000,
        memory_allocatable_bytes: 8 << 30,
        created: minutes_ago(60 * DAY),
    };
    let mut cordoned = node("acme-worker-3", "10.20.0.23", false);
    cordoned.unschedulable = true;
    cordoned.ready = Some(false);
    vec![
        node("acme-master-1", "10.20.0.11", true),
        node("acme-worker-1", "10.20.0.21", false),
        node("acme-worker-2", "10.20.0.22", false),
        cordoned,
    ]
}

fn event_rows() -> Vec<EventRow> {
    let event = |namespace: &str, name: &str, warning: bool, reason: &str, object: &str| EventRow {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        warning,
        reason: reason.to_owned(),
        object: object.to_owned(),
        message: String::new(),
        count: 1,
        last_seen: minutes_ago(5),
    };
    let mut back_off = event(
        "acme-tools",
        "debug-shell.1",
        true,
        "BackOff",
        "Pod/debug-shell-5b8f7c6d4-tq7zx",
    );
    back_off.message = "Back-off restarting failed container debug-shell in pod \
                        debug-shell-5b8f7c6d4-tq7zx_acme-tools"
        .to_owned();
    back_off.count = 48;
    back_off.last_seen = minutes_ago(1);
    let mut scheduling = event(
        "acme-tools",
        "load-generator.1",
        true,
        "FailedScheduling",
        "Pod/load-generator-7f9d8c5b6-mx2lp",
    );
    scheduling.message = "0/3 nodes are available: 3 Insufficient memory.".to_owned();
    scheduling.count = 9;
    scheduling.last_seen = minutes_ago(3);
    let mut oom = event(
        "acme-prod",
        "acme-worker-2.1",
        true,
        "SystemOOM",
        "Node/acme-worker-2",
    );
    oom.message = "System OOM encountered, victim process: java, pid: 48213".to_owned();
    oom.last_seen = minutes_ago(47);
    let mut pulled = event(
        "acme-prod",
        "notification-worker.1",
        false,
        "Pulled",
        "Pod/notification-worker-84c6d9f7b-r7s8t",
    );
    pulled.message =
        "Container image \"registry.acme.example/platform/notification-worker:2.4.0\" \
                      already present on machine"
            .to_owned();
    pulled.last_seen = minutes_ago(12);
    let mut scaled = event(
        "acme-prod",
        "order-service.1",
        false,
        "ScalingReplicaSet",
        "Deployment/order-service",
    );
    scaled.message = "Scaled up replica set order-service-5f6d7c8b9 to 3".to_owned();
    scaled.last_seen = minutes_ago(70);
    vec![pulled, scaled, back_off, scheduling, oom]
}

fn helm_releases() -> Vec<HelmRelease> {
    let revision = |revision: i64, status: &str, version: &str, days_ago: i64| HelmRelease {
        name: "acme-middleware".to_owned(),
        namespace: "middleware".to_owned(),
        chart: "acme-middleware".to_owned(),
        chart_version: version.to_owned(),
        app_version: "2.4".to_owned(),
        status: status.to_owned(),
        revision,
        updated: minutes_ago(days_ago * DAY),
        secret: format!("sh.helm.release.v1.acme-middleware.v{revision}"),
    };
    let monitoring = HelmRelease {
        name: "monitoring".to_owned(),
        namespace: "monitoring".to_owned(),
        chart: "kube-prometheus-stack".to_owned(),
        chart_version: "65.1.1".to_owned(),
        app_version: "v0.77.1".to_owned(),
        status: "failed".to_owned(),
        revision: 4,
        updated: minutes_ago(2 * 60),
        secret: "sh.helm.release.v1.monitoring.v4".to_owned(),
    };
    vec![
        revision(1, "superseded", "1.8.1", 41),
        revision(2, "deployed", "1.8.2", 12),
        monitoring,
    ]
}

/// The access reviews' answers: everything allowed but `denied`
/// (`(resource, verb)` as the table shows them).
fn permissions(denied: &[(&str, &str)]) -> Vec<Permission> {
    NEEDS
        .iter()
        .map(|need| {
            let resource = if need.group.is_empty() {
                need.resource.to_owned()
            } else {
                format!("{}.{}", need.resource, need.group)
            };
            let allowed = !denied.contains(&(resource.as_str(), need.verb));
            Permission {
                resource,
                verb: need.verb.to_owned(),
                allowed: Some(allowed),
                reason: String::new(),
                purpose: need.purpose.to_owned(),
            }
        })
        .collect()
}

/// A connected cluster that answered the access reviews with `denied`;
/// nothing listed yet.
fn connected(denied: &[(&str, &str)]) -> ClusterState {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/releases/example-2.4.1.yaml");
    let release = sitedeck::cluster::release::load(&path).expect("the example release loads");
    let mut cluster = ClusterState::new(1, Some(Ok(release)));
    cluster.apply(ClusterEvent::Connected {
        server: "https://10.20.0.1:6443/".to_owned(),
        context: "acme-prod-admin".to_owned(),
        version: Ok("v1.30.4".to_owned()),
    });
    cluster.apply(ClusterEvent::Permissions(permissions(denied)));
    cluster
}

fn listed(cluster: &mut ClusterState, feed: Feed, rows: Rows) {
    cluster.apply(ClusterEvent::Feed(FeedUpdate::Listed { feed, rows }));
}

/// The whole site listed, every feed live.
fn site_cluster() -> ClusterState {
    let mut cluster = connected(&[]);
    listed(
        &mut cluster,
        Feed::Deployments,
        Rows::Workloads(deployments()),
    );
    listed(
        &mut cluster,
        Feed::StatefulSets,
        Rows::Workloads(stateful_sets()),
    );
    listed(
        &mut cluster,
        Feed::DaemonSets,
        Rows::Workloads(daemon_sets()),
    );
    listed(&mut cluster, Feed::Pods, Rows::Pods(pod_rows()));
    listed(&mut cluster, Feed::Nodes, Rows::Nodes(node_rows()));
    listed(&mut cluster, Feed::Events, Rows::Events(event_rows()));
    listed(&mut cluster, Feed::Helm, Rows::Helm(helm_releases()));
    cluster
}

/// The fixture's site, with `cluster` as its cluster, on `view`.
fn state(theme: &str, cluster: ClusterState, view: View) -> State {
    let mut state = common::state_with_reports(theme);
    state.now = Some(now());
    if let Some(site) = &mut state.site {
        site.cluster = Some(cluster);
    }
    state.view = view;
    state.settle();
    state
}

fn press(state: &mut State, keys: &[&str]) -> Vec<Effect> {
    let mut effects = Vec::new();
    for key in keys {
        let chord = KeyChord::parse(key).expect("a valid key");
        effects.extend(update(state, Action::Key(chord)));
        state.settle();
    }
    effects
}

/// Snapshots `view` of `cluster` after `prepare`, in every theme and size.
fn snapshot_all(
    name: &str,
    cluster: impl Fn() -> ClusterState,
    view: View,
    prepare: impl Fn(&mut State),
) {
    for theme in THEMES {
        for (width, height) in SIZES {
            let mut state = state(theme, cluster(), view);
            prepare(&mut state);
            state.settle();
            insta::assert_snapshot!(
                format!("{name}_{theme}_{width}x{height}"),
                common::render_with_styles(&state, width, height)
            );
        }
    }
}

fn cluster_view(view: ClusterView) -> View {
    View::Cluster(view)
}

#[test]
fn versions() {
    snapshot_all(
        "versions",
        site_cluster,
        cluster_view(ClusterView::Versions),
        |_| {},
    );
}

#[test]
fn helm() {
    snapshot_all(
        "helm",
        site_cluster,
        cluster_view(ClusterView::Helm),
        |_| {},
    );
}

#[test]
fn pods() {
    snapshot_all(
        "pods",
        site_cluster,
        cluster_view(ClusterView::Pods),
        |_| {},
    );
}

#[test]
fn nodes() {
    snapshot_all(
        "nodes",
        site_cluster,
        cluster_view(ClusterView::Nodes),
        |_| {},
    );
}

#[test]
fn events() {
    snapshot_all(
        "events",
        site_cluster,
        cluster_view(ClusterView::Events),
        |_| {},
    );
}

#[test]
fn versions_with_a_regex_filter() {
    snapshot_all(
        "versions_regex_filter",
        site_cluster,
        cluster_view(ClusterView::Versions),
        |state| {
            press(state, &["/"]);
            update(state, Action::Paste("^(api|notification)-".to_owned()));
            press(state, &["enter"]);
            let table = state.table().expect("the Versions table");
            assert_eq!(table.visible.len(), 2, "the filter keeps two workloads");
        },
    );
}

#[test]
fn pods_sorted_by_restarts_descending() {
    snapshot_all(
        "pods_sorted",
        site_cluster,
        cluster_view(ClusterView::Pods),
        |state| {
            // NAMESPACE, NAME, STATUS, READY, RESTARTS: the fifth column.
            press(state, &["s", "s", "s", "s", "s", "S"]);
            let table = state.table().expect("the Pods table");
            assert_eq!((table.sort_column, table.descending), (Some(4), true));
        },
    );
}

/// Pods went down three minutes ago; its rows are the last it listed.
fn stale_pods() -> ClusterState {
    let mut cluster = site_cluster();
    cluster.feeds.insert(
        Feed::Pods,
        FeedStatus::Down {
            last_live: minutes_ago(3).map(|t| t.with_timezone(&Local)),
            since: (now() - Duration::minutes(2)).with_timezone(&Local),
            error: "connection refused".to_owned(),
        },
    );
    cluster
}

#[test]
fn a_stale_feed_keeps_its_rows() {
    snapshot_all(
        "pods_stale",
        stale_pods,
        cluster_view(ClusterView::Pods),
        |_| {},
    );
}

/// RBAC refuses pods: the feed says so, and never listed.
fn pods_forbidden() -> ClusterState {
    let mut cluster = connected(&[("pods", "list"), ("pods", "watch")]);
    listed(
        &mut cluster,
        Feed::Deployments,
        Rows::Workloads(deployments()),
    );
    listed(
        &mut cluster,
        Feed::StatefulSets,
        Rows::Workloads(stateful_sets()),
    );
    listed(
        &mut cluster,
        Feed::DaemonSets,
        Rows::Workloads(daemon_sets()),
    );
    listed(&mut cluster, Feed::Nodes, Rows::Nodes(node_rows()));
    listed(&mut cluster, Feed::Events, Rows::Events(event_rows()));
    listed(&mut cluster, Feed::Helm, Rows::Helm(helm_releases()));
    cluster.apply(ClusterEvent::Feed(FeedUpdate::Failed {
        feed: Feed::Pods,
        error: FeedError {
            forbidden: true,
            message: "pods is forbidden: User \"system:serviceaccount:ops:sitedeck\" cannot \
                      list resource \"pods\" in API group \"\" at the cluster scope"
                .to_owned(),
        },
    }));
    cluster
}

#[test]
fn a_forbidden_feed_says_so() {
    snapshot_all(
        "pods_forbidden",
        pods_forbidden,
        cluster_view(ClusterView::Pods),
        |_| {},
    );
}

#[test]
fn loading() {
    snapshot_all(
        "versions_loading",
        || connected(&[]),
        cluster_view(ClusterView::Versions),
        |state| {
            // Nothing listed yet is not the release's components missing.
            let table = state.table().expect("the Versions table");
            assert!(table.rows.is_empty(), "{:#?}", table.rows);
        },
    );
}

#[test]
fn describe_popup() {
    snapshot_all(
        "describe",
        site_cluster,
        cluster_view(ClusterView::Versions),
        |state| {
            let effects = press(state, &["d"]);
            let [Effect::Describe(target)] = effects.as_slice() else {
                panic!("expected one Describe effect, got {effects:?}");
            };
            let yaml = format!(
                "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {name}\n  \
                 namespace: {namespace}\n  creationTimestamp: \"2026-10-12T09:15:30Z\"\n  \
                 labels:\n    app: {name}\nspec:\n  replicas: 1\n  selector:\n    \
                 matchLabels:\n      app: {name}\n  template:\n    spec:\n      \
                 containers:\n      - name: {name}\n        image: busybox:latest\n\
                 status:\n  replicas: 1\n  unavailableReplicas: 1\n",
                kind = target.kind,
                name = target.name,
                namespace = target.namespace,
            );
            update(
                state,
                Action::Described {
                    target: target.clone(),
                    text: Ok(yaml),
                },
            );
        },
    );
}

/// Helm's secrets are refused; everything else is live.
fn secrets_forbidden() -> ClusterState {
    let mut cluster = connected(&[("secrets", "list"), ("secrets", "watch")]);
    listed(
        &mut cluster,
        Feed::Deployments,
        Rows::Workloads(deployments()),
    );
    listed(
        &mut cluster,
        Feed::StatefulSets,
        Rows::Workloads(stateful_sets()),
    );
    listed(
        &mut cluster,
        Feed::DaemonSets,
        Rows::Workloads(daemon_sets()),
    );
    listed(&mut cluster, Feed::Pods, Rows::Pods(pod_rows()));
    listed(&mut cluster, Feed::Nodes, Rows::Nodes(node_rows()));
    listed(&mut cluster, Feed::Events, Rows::Events(event_rows()));
    cluster.apply(ClusterEvent::Feed(FeedUpdate::Failed {
        feed: Feed::Helm,
        error: FeedError {
            forbidden: true,
            message: "secrets is forbidden".to_owned(),
        },
    }));
    cluster
}

#[test]
fn overview_cluster_pane() {
    snapshot_all(
        "overview_cluster",
        secrets_forbidden,
        View::Overview,
        |_| {},
    );
}
