//! The findings, each found and each not found, on rows built by hand.

use std::collections::BTreeMap;

use super::*;
use crate::cluster::model::{ImageRef, RolloutState};

fn container(name: &str, image: &str) -> ContainerRow {
    ContainerRow {
        name: name.to_owned(),
        image: image.to_owned(),
        image_ref: ImageRef::parse(image),
        cpu_limit: true,
        memory_limit: true,
        cpu_request_millis: 100,
        memory_request_bytes: 1 << 28,
        liveness: None,
        readiness: None,
    }
}

fn workload(kind: WorkloadKind, namespace: &str, name: &str, desired: i32) -> Workload {
    Workload {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        containers: vec![container(name, &format!("registry.example/{name}:1.0"))],
        desired,
        ready: desired,
        updated: desired,
        rollout: RolloutState::Complete,
        selector: BTreeMap::from([("app".to_owned(), name.to_owned())]),
        created: None,
    }
}

/// A running, ready pod of `app` on `node`.
fn pod(namespace: &str, name: &str, app: &str, node: &str) -> PodRow {
    PodRow {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        status: "Running".to_owned(),
        phase: "Running".to_owned(),
        ready: 1,
        containers: 1,
        restarts: 0,
        last_termination: None,
        node: Some(node.to_owned()),
        unschedulable: None,
        created: None,
        labels: BTreeMap::from([("app".to_owned(), app.to_owned())]),
        cpu_request_millis: 100,
        memory_request_bytes: 1 << 28,
    }
}

fn probe(handler: &str, delay: i32, period: i32, timeout: i32, threshold: i32) -> ProbeSpec {
    ProbeSpec {
        handler: handler.to_owned(),
        initial_delay_seconds: delay,
        period_seconds: period,
        timeout_seconds: timeout,
        failure_threshold: threshold,
    }
}

fn kinds(findings: &[Finding]) -> Vec<(Severity, FindingKind)> {
    findings.iter().map(|f| (f.severity, f.kind)).collect()
}

fn findings_of(container: ContainerRow) -> Vec<Finding> {
    let mut workload = workload(WorkloadKind::Deployment, "ns", "web", 1);
    workload.containers = vec![container];
    workload_findings(&workload, &[])
}

#[test]
fn a_crash_loop_is_critical_and_says_how_it_last_died() {
    let mut crashing = pod("tools", "shell-1", "shell", "w1");
    crashing.status = "CrashLoopBackOff".to_owned();
    crashing.ready = 0;
    crashing.restarts = 12;
    crashing.last_termination = Some("Error".to_owned());
    let findings = pod_findings(&crashing);
    assert_eq!(
        kinds(&findings),
        [(Severity::Critical, FindingKind::CrashLoopBackOff)]
    );
    let message = &findings[0].message;
    assert!(
        message.contains("12 restarts, last exit Error"),
        "{message}"
    );
    assert!(
        message.contains("kubectl logs --previous -n tools shell-1"),
        "{message}"
    );
    assert_eq!(findings[0].object.to_string(), "Pod tools/shell-1");
}

#[test]
fn an_oom_kill_is_critical_even_once_running_again() {
    let mut killed = pod("prod", "billing-1", "billing", "w1");
    killed.restarts = 7;
    killed.last_termination = Some("OOMKilled".to_owned());
    let findings = pod_findings(&killed);
    assert_eq!(
        kinds(&findings),
        [(Severity::Critical, FindingKind::OomKilled)]
    );
    assert!(
        findings[0].message.contains("raise the memory limit"),
        "{findings:?}"
    );
    assert!(findings[0].message.contains("7 restarts"), "{findings:?}");

    killed.status = "CrashLoopBackOff".to_owned();
    let both = kinds(&pod_findings(&killed));
    assert_eq!(
        both,
        [
            (Severity::Critical, FindingKind::CrashLoopBackOff),
            (Severity::Critical, FindingKind::OomKilled)
        ]
    );
}

#[test]
fn a_pending_pod_quotes_the_schedulers_reason() {
    let reason = "0/3 nodes are available: 3 Insufficient memory.";
    let mut pending = pod("tools", "load-1", "load", "w1");
    pending.status = "Pending".to_owned();
    pending.phase = "Pending".to_owned();
    pending.node = None;
    pending.unschedulable = Some(reason.to_owned());
    let findings = pod_findings(&pending);
    assert_eq!(
        kinds(&findings),
        [(Severity::Critical, FindingKind::Unschedulable)]
    );
    assert!(
        findings[0].message.contains(&format!("\"{reason}\"")),
        "{findings:?}"
    );
    // Pending on its way to a node (ContainerCreating) is not a problem.
    pending.unschedulable = None;
    assert!(pod_findings(&pending).is_empty());
}

#[test]
fn image_pull_and_container_errors_are_critical_evictions_a_warning() {
    for (status, expected) in [
        (
            "ErrImagePull",
            (Severity::Critical, FindingKind::ImagePullBackOff),
        ),
        (
            "ImagePullBackOff",
            (Severity::Critical, FindingKind::ImagePullBackOff),
        ),
        (
            "CreateContainerConfigError",
            (Severity::Critical, FindingKind::ContainerConfigError),
        ),
        ("Evicted", (Severity::Warning, FindingKind::Evicted)),
    ] {
        let mut broken = pod("ns", "p", "app", "w1");
        broken.status = status.to_owned();
        let findings = pod_findings(&broken);
        assert_eq!(kinds(&findings), [expected], "{status}");
        assert!(findings[0].message.contains(status) || status == "Evicted");
    }
}

#[test]
fn healthy_completed_and_restarted_pods_have_no_findings() {
    let mut restarted = pod("ns", "p", "app", "w1");
    assert!(pod_findings(&restarted).is_empty());
    restarted.restarts = 3;
    restarted.last_termination = Some("Error".to_owned());
    assert!(pod_findings(&restarted).is_empty());
    let mut completed = pod("ns", "job", "job", "w1");
    completed.status = "Completed".to_owned();
    completed.phase = "Succeeded".to_owned();
    assert!(pod_findings(&completed).is_empty());
}

#[test]
fn latest_or_no_tag_is_flagged_versions_and_digests_are_not() {
    for image in ["busybox", "busybox:latest", "registry:5000/team/api"] {
        let findings = findings_of(container("c", image));
        assert_eq!(
            kinds(&findings),
            [(Severity::Warning, FindingKind::LatestTag)],
            "{image}"
        );
        assert!(findings[0].message.contains(image), "{findings:?}");
    }
    for image in [
        "busybox:1.36",
        "repo/api@sha256:abc",
        "repo/api:latest@sha256:abc",
    ] {
        assert!(findings_of(container("c", image)).is_empty(), "{image}");
    }
}

#[test]
fn missing_limits_name_the_container_and_the_limit() {
    let mut none = container("shell", "busybox:1.36");
    none.cpu_limit = false;
    none.memory_limit = false;
    let findings = findings_of(none.clone());
    assert_eq!(
        kinds(&findings),
        [(Severity::Warning, FindingKind::MissingLimits)]
    );
    assert!(
        findings[0]
            .message
            .contains("Container shell has no cpu or memory limit")
    );
    none.memory_limit = true;
    let findings = findings_of(none.clone());
    assert!(
        findings[0].message.contains("has no cpu limit"),
        "{findings:?}"
    );
    none.cpu_limit = true;
    assert!(findings_of(none).is_empty());
}

#[test]
fn a_liveness_probe_equal_to_readiness_is_flagged() {
    let mut same = container("api", "api:1.0");
    same.liveness = Some(probe("GET :8080/health", 10, 10, 1, 3));
    same.readiness = same.liveness.clone();
    let findings = findings_of(same.clone());
    assert_eq!(
        kinds(&findings),
        [(Severity::Warning, FindingKind::LivenessEqualsReadiness)]
    );
    assert!(
        findings[0]
            .message
            .contains("killed instead of taken out of rotation")
    );
    same.liveness = Some(probe("GET :8080/live", 10, 10, 1, 3));
    assert!(findings_of(same.clone()).is_empty());
    same.liveness = None;
    assert!(findings_of(same).is_empty());
}

#[test]
fn probe_timings_out_of_range_are_flagged_one_by_one() {
    let cases = [
        (
            probe("tcp :80", 0, 5, 5, 3),
            "liveness",
            "times out after 5 s but runs every 5 s",
        ),
        (
            probe("tcp :80", 0, 10, 12, 3),
            "readiness",
            "keep timeoutSeconds below",
        ),
        (
            probe("tcp :80", 0, 0, 1, 3),
            "readiness",
            "both must be at least 1 s",
        ),
        (
            probe("tcp :80", 0, 3, 1, 3),
            "liveness",
            "after only 9 s of failures (3 × 3 s)",
        ),
        (probe("tcp :80", 301, 10, 1, 3), "readiness", "waits 301 s"),
    ];
    for (spec, which, expected) in cases {
        let mut probed = container("api", "api:1.0");
        if which == "liveness" {
            probed.liveness = Some(spec);
        } else {
            probed.readiness = Some(spec);
        }
        let findings = findings_of(probed);
        assert_eq!(
            kinds(&findings),
            [(Severity::Warning, FindingKind::ProbeTiming)],
            "{expected}"
        );
        assert!(findings[0].message.contains(expected), "{findings:?}");
        assert!(
            findings[0]
                .message
                .starts_with(&format!("Container api: the {which}"))
        );
    }
}

#[test]
fn sane_probe_timings_are_not_flagged() {
    let mut probed = container("api", "api:1.0");
    probed.liveness = Some(probe("GET :8080/live", 300, 10, 1, 1));
    // A short failure budget only matters for liveness.
    probed.readiness = Some(probe("GET :8080/ready", 0, 2, 1, 1));
    assert!(findings_of(probed).is_empty());
}

#[test]
fn replicas_all_on_one_node_are_flagged_with_the_node() {
    let orders = workload(WorkloadKind::Deployment, "prod", "orders", 3);
    let on_w1: Vec<PodRow> = (0..3)
        .map(|i| pod("prod", &format!("o-{i}"), "orders", "w1"))
        .collect();
    let refs: Vec<&PodRow> = on_w1.iter().collect();
    let findings = workload_findings(&orders, &refs);
    assert_eq!(
        kinds(&findings),
        [(Severity::Warning, FindingKind::SingleNode)]
    );
    assert!(
        findings[0]
            .message
            .contains("All 3 ready replicas run on node w1")
    );
    assert_eq!(findings[0].object.to_string(), "Deployment prod/orders");
}

#[test]
fn spread_single_replica_daemon_and_unready_pods_are_not_flagged() {
    let orders = workload(WorkloadKind::Deployment, "prod", "orders", 3);
    let spread = [
        pod("prod", "a", "orders", "w1"),
        pod("prod", "b", "orders", "w2"),
    ];
    assert!(workload_findings(&orders, &spread.iter().collect::<Vec<_>>()).is_empty());
    // One ready replica on w1, the other crash-looping there: no
    // placement finding (the pod's own finding tells what is wrong).
    let mut crashing = pod("prod", "b", "orders", "w1");
    crashing.ready = 0;
    crashing.status = "CrashLoopBackOff".to_owned();
    let one_ready = [pod("prod", "a", "orders", "w1"), crashing];
    assert!(workload_findings(&orders, &one_ready.iter().collect::<Vec<_>>()).is_empty());
    // Another workload's pods elsewhere do not count, nor make it spread.
    let mixed = [
        pod("prod", "a", "orders", "w1"),
        pod("prod", "b", "orders", "w1"),
        pod("prod", "c", "web", "w2"),
    ];
    assert_eq!(
        workload_findings(&orders, &mixed.iter().collect::<Vec<_>>()).len(),
        1
    );
    let both = [
        pod("prod", "a", "orders", "w1"),
        pod("prod", "b", "orders", "w1"),
    ];
    let refs: Vec<&PodRow> = both.iter().collect();
    let single = workload(WorkloadKind::Deployment, "prod", "orders", 1);
    assert!(workload_findings(&single, &refs).is_empty());
    let daemon = workload(WorkloadKind::DaemonSet, "prod", "orders", 3);
    assert!(workload_findings(&daemon, &refs).is_empty());
}

#[test]
fn all_findings_are_sorted_critical_first_then_by_namespace_and_name() {
    let mut shell = workload(WorkloadKind::Deployment, "tools", "shell", 1);
    shell.containers = vec![container("shell", "busybox")];
    let orders = workload(WorkloadKind::Deployment, "prod", "orders", 2);
    // Same labels in another namespace: not the workload's pods.
    let orders_elsewhere = workload(WorkloadKind::Deployment, "staging", "orders", 2);
    let mut crashing = pod("tools", "shell-1", "shell", "w1");
    crashing.status = "CrashLoopBackOff".to_owned();
    let mut killed = pod("prod", "orders-2", "orders", "w1");
    killed.last_termination = Some("OOMKilled".to_owned());
    let pods = [
        crashing,
        pod("prod", "orders-1", "orders", "w1"),
        killed,
        pod("staging", "orders-3", "orders", "w2"),
    ];
    let findings = all_findings(&[shell, orders, orders_elsewhere], &pods);
    let listed: Vec<(Severity, FindingKind, String)> = findings
        .iter()
        .map(|f| (f.severity, f.kind, f.object.to_string()))
        .collect();
    assert_eq!(
        listed,
        [
            (
                Severity::Critical,
                FindingKind::OomKilled,
                "Pod prod/orders-2".to_owned()
            ),
            (
                Severity::Critical,
                FindingKind::CrashLoopBackOff,
                "Pod tools/shell-1".to_owned()
            ),
            (
                Severity::Warning,
                FindingKind::SingleNode,
                "Deployment prod/orders".to_owned()
            ),
            (
                Severity::Warning,
                FindingKind::LatestTag,
                "Deployment tools/shell".to_owned()
            ),
        ]
    );
}

#[test]
fn all_findings_scale_to_thousands_of_workloads_and_pods() {
    let workloads: Vec<Workload> = (0..2_000)
        .map(|w| {
            workload(
                WorkloadKind::Deployment,
                &format!("ns-{}", w % 20),
                &format!("svc-{w}"),
                5,
            )
        })
        .collect();
    // Five replicas each; every 10th workload's all on one node.
    let pods: Vec<PodRow> = (0..10_000)
        .map(|p| {
            let w = p / 5;
            let node = if w % 10 == 0 {
                "n0".to_owned()
            } else {
                format!("n{}", p % 7)
            };
            pod(
                &format!("ns-{}", w % 20),
                &format!("svc-{w}-{p}"),
                &format!("svc-{w}"),
                &node,
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let findings = all_findings(&workloads, &pods);
    let elapsed = started.elapsed();
    assert_eq!(findings.len(), 200);
    assert!(findings.iter().all(|f| f.kind == FindingKind::SingleNode));
    // Workloads × pods would be 20 million selector matches.
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn codes_are_unique_snake_case_and_round_trip() {
    let mut codes: Vec<&str> = FindingKind::ALL.iter().map(|k| k.code()).collect();
    for kind in FindingKind::ALL {
        assert_eq!(FindingKind::from_code(kind.code()), Some(kind));
        assert!(
            kind.code()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        );
    }
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), FindingKind::ALL.len());
    assert_eq!(FindingKind::from_code("nope"), None);
}

#[test]
fn findings_serialize_with_codes() {
    let mut killed = pod("prod", "billing-1", "billing", "w1");
    killed.last_termination = Some("OOMKilled".to_owned());
    let json = serde_json::to_value(&pod_findings(&killed)[0]).expect("json");
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["kind"], "oom_killed");
    assert_eq!(json["object"]["kind"], "Pod");
    assert_eq!(json["object"]["namespace"], "prod");
    assert_eq!(json["object"]["name"], "billing-1");
}
