//! Filter and sort of a 10k-row table, and the rebuild of every cluster
//! table after a change, at the size of a large site (issue #4: filter and
//! sort of 10k rows ≤ 20 ms).
//!
//! The rows are built the way the cockpit builds them: 10 000 pods, 2 000
//! Deployments (one container each) and 200 nodes, shaped like the lab's
//! scale generator (`lab/src/kube/seed/scale.rs`: 20 namespaces
//! `scale-NN`, Deployments `svc-NNNN` with 5 pods each, nodes
//! `scale-node-NNN`), go into a `ClusterState` as the watches deliver them
//! (`FeedUpdate::Listed`), with the example release manifest, and
//! `settle()` builds the tables. The Pods table (10k rows, 9 columns) is
//! then timed:
//!
//! * `filter/…`: `Table::apply_filter` after the filter line changed, as on
//!   every keystroke in the filter: substrings that match half and 5 % of
//!   the rows and one that matches nothing (every cell scanned), a regex
//!   that matches 5 % and one that matches nothing;
//! * `sort/…`: `sort_column` set and `refresh()` (what `sort_next` does) by
//!   NAME (text), RESTARTS (number) and AGE (time), and one `sort_next`
//!   step; then a filter and a sort together;
//! * `settle/…`: `ClusterState::settle()` after a change: findings, the
//!   versions report and all five tables rebuilt (what the event loop does
//!   once per batch of watch events before drawing), and the whole path of
//!   a 10k-pod list arriving (`apply` + `settle`).
//!
//! Run: `cargo bench --bench table_filter`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use sitedeck::app::cluster::{ClusterState, ClusterView};
use sitedeck::app::table::Table;
use sitedeck::cluster::ClusterEvent;
use sitedeck::cluster::model::{
    ContainerRow, ImageRef, NodeRow, PodRow, ProbeSpec, RolloutState, Workload, WorkloadKind,
};
use sitedeck::cluster::watch::{Feed, FeedUpdate, Rows};

const NAMESPACES: usize = 20;
const DEPLOYMENTS: usize = 2_000;
const PODS: usize = 10_000;
const NODES: usize = 200;
const REGISTRY: &str = "registry.acme.example/platform";

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .expect("a valid date")
}

fn namespace(deployment: usize) -> String {
    format!("scale-{:02}", deployment % NAMESPACES)
}

fn probe(handler: &str) -> ProbeSpec {
    ProbeSpec {
        handler: handler.to_owned(),
        initial_delay_seconds: 5,
        period_seconds: 10,
        timeout_seconds: 1,
        failure_threshold: 3,
    }
}

fn workloads() -> Vec<Workload> {
    (0..DEPLOYMENTS)
        .map(|d| {
            let name = format!("svc-{d:04}");
            let image = format!("{REGISTRY}/{name}:1.0.{}", d % 7);
            let replicas = (PODS / DEPLOYMENTS) as i32;
            Workload {
                kind: WorkloadKind::Deployment,
                namespace: namespace(d),
                name: name.clone(),
                containers: vec![ContainerRow {
                    name: name.clone(),
                    image_ref: ImageRef::parse(&image),
                    image,
                    cpu_limit: true,
                    memory_limit: true,
                    cpu_request_millis: 100,
                    memory_request_bytes: 128 << 20,
                    liveness: Some(probe("GET :8080/healthz")),
                    readiness: Some(probe("GET :8080/ready")),
                }],
                desired: replicas,
                // One in a hundred is short of a replica: rows with a tone.
                ready: replicas - i32::from(d % 100 == 0),
                updated: replicas,
                rollout: RolloutState::Complete,
                selector: BTreeMap::from([("app".to_owned(), name)]),
                created: Some(epoch() - Duration::days(40)),
            }
        })
        .collect()
}

fn pods() -> Vec<PodRow> {
    (0..PODS)
        .map(|p| {
            let d = p % DEPLOYMENTS;
            let app = format!("svc-{d:04}");
            let hash = format!(
                "{:010x}",
                (d as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 24
            );
            let failing = p % 250 == 0;
            PodRow {
                namespace: namespace(d),
                name: format!("{app}-{}-{:05x}", &hash[..10], p * 7919 % 0xfffff),
                status: if failing {
                    "CrashLoopBackOff"
                } else {
                    "Running"
                }
                .to_owned(),
                phase: "Running".to_owned(),
                ready: u32::from(!failing),
                containers: 1,
                restarts: if failing {
                    40 + (p % 17) as u32
                } else {
                    (p % 3) as u32
                },
                last_termination: failing.then(|| "Error".to_owned()),
                node: Some(format!("scale-node-{:03}", p % NODES)),
                unschedulable: None,
                created: Some(epoch() - Duration::minutes((p * 37 % 50_000) as i64)),
                labels: BTreeMap::from([
                    ("app".to_owned(), app),
                    ("pod-template-hash".to_owned(), hash[..10].to_owned()),
                ]),
                cpu_request_millis: 100,
                memory_request_bytes: 128 << 20,
            }
        })
        .collect()
}

fn nodes() -> Vec<NodeRow> {
    (0..NODES)
        .map(|n| NodeRow {
            name: format!("scale-node-{n:03}"),
            ready: Some(true),
            roles: if n < 3 {
                vec!["control-plane".to_owned()]
            } else {
                Vec::new()
            },
            taints: Vec::new(),
            unschedulable: false,
            kubelet_version: "v1.32.4".to_owned(),
            os_image: "Ubuntu 24.04 LTS".to_owned(),
            container_runtime: "containerd://1.7.27".to_owned(),
            internal_ip: Some(format!("10.30.{}.{}", n / 250, n % 250 + 1)),
            cpu_allocatable_millis: 16_000,
            memory_allocatable_bytes: 64 << 30,
            created: Some(epoch() - Duration::days(90)),
        })
        .collect()
}

fn listed(feed: Feed, rows: Rows) -> ClusterEvent {
    ClusterEvent::Feed(FeedUpdate::Listed { feed, rows })
}

/// A session with every feed listed: what the cockpit holds once a large
/// site is loaded.
fn loaded_state() -> ClusterState {
    let manifest = sitedeck::cluster::release::parse(
        include_str!("../assets/releases/example-2.4.1.yaml"),
        Path::new("example-2.4.1.yaml"),
    )
    .expect("the example manifest parses");
    let mut state = ClusterState::new(1, Some(Ok(manifest)));
    state.apply(listed(Feed::Deployments, Rows::Workloads(workloads())));
    for feed in [Feed::StatefulSets, Feed::DaemonSets] {
        state.apply(listed(feed, Rows::Workloads(Vec::new())));
    }
    state.apply(listed(Feed::Pods, Rows::Pods(pods())));
    state.apply(listed(Feed::Nodes, Rows::Nodes(nodes())));
    state.apply(listed(Feed::Events, Rows::Events(Vec::new())));
    state.apply(listed(Feed::Helm, Rows::Helm(Vec::new())));
    state.settle();
    state
}

fn pods_table(state: &ClusterState) -> Table {
    let table = state
        .table(ClusterView::Pods)
        .expect("the Pods table")
        .clone();
    assert_eq!(table.rows.len(), PODS, "the Pods table has every pod");
    table
}

fn set_filter(table: &mut Table, typed: &str) {
    table.clear_filter();
    table.filter_input.insert_str(typed);
    table.apply_filter();
}

fn column(table: &Table, name: &str) -> usize {
    table
        .columns
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

fn bench_filter(c: &mut Criterion) {
    let state = loaded_state();
    let base = pods_table(&state);
    let mut group = c.benchmark_group("filter");
    // (name, what is typed); the rows that pass are printed.
    let cases = [
        ("substring_half", "svc-1"),
        ("substring_5pct", "svc-00"),
        ("substring_none", "no-such-pod"),
        ("regex_5pct", "^svc-00[0-9]{2}-"),
        ("regex_none", "^nothing-(here|there)$"),
    ];
    for (name, typed) in cases {
        let mut table = base.clone();
        set_filter(&mut table, typed);
        println!(
            "filter/{name}: {typed:?} shows {} of {} rows (filter error: {:?})",
            table.visible.len(),
            table.rows.len(),
            table.filter_error
        );
        group.bench_function(name, |b| b.iter(|| black_box(&mut table).apply_filter()));
    }
    group.finish();
}

fn bench_sort(c: &mut Criterion) {
    let state = loaded_state();
    let base = pods_table(&state);
    let mut group = c.benchmark_group("sort");
    for name in ["NAME", "RESTARTS", "AGE"] {
        let mut table = base.clone();
        table.sort_column = Some(column(&table, name));
        group.bench_function(name.to_lowercase(), |b| {
            b.iter(|| black_box(&mut table).refresh())
        });
    }
    // One `s` press: the next column (cycling through all of them).
    let mut table = base.clone();
    group.bench_function("sort_next", |b| {
        b.iter(|| black_box(&mut table).sort_next())
    });
    // A filter that keeps half, sorted by name: refresh does both.
    let mut table = base.clone();
    set_filter(&mut table, "svc-1");
    table.sort_column = Some(column(&table, "NAME"));
    table.refresh();
    println!(
        "sort/filtered_by_name: {} of {} rows",
        table.visible.len(),
        table.rows.len()
    );
    group.bench_function("filtered_by_name", |b| {
        b.iter(|| black_box(&mut table).refresh())
    });
    group.finish();
}

fn bench_settle(c: &mut Criterion) {
    let mut state = loaded_state();
    println!(
        "settle: {} workloads, {} pods, {} nodes; Versions {} rows, Pods {} rows, {} findings",
        state.all_workloads().count(),
        state.pods.rows().len(),
        state.nodes.rows().len(),
        state
            .table(ClusterView::Versions)
            .map_or(0, |t| t.rows.len()),
        state.table(ClusterView::Pods).map_or(0, |t| t.rows.len()),
        state.findings.len()
    );
    let mut group = c.benchmark_group("settle");
    group.sample_size(20);
    group.bench_function("rebuild_after_change", |b| {
        b.iter(|| {
            state.changed = true;
            black_box(&mut state).settle();
        })
    });
    let pods = pods();
    group.bench_function("list_10k_pods_apply_and_settle", |b| {
        b.iter_batched(
            || pods.clone(),
            |pods| {
                state.apply(listed(Feed::Pods, Rows::Pods(pods)));
                state.settle();
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_filter, bench_sort, bench_settle);
criterion_main!(benches);
