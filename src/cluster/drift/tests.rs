//! Drift of hand-made rows against a small manifest.

use std::path::Path;

use super::*;
use crate::cluster::model::{ImageRef, RolloutState, WorkloadKind};
use crate::cluster::release;

const MANIFEST: &str = "\
name: acme-platform
version: 2.4.1
namespaces: [acme-prod, middleware]
components:
  - name: api-gateway
    kind: Deployment
    namespace: acme-prod
    containers:
      - name: api-gateway
        image: registry.acme.example/platform/api-gateway
        tag: 2.4.1
      - image: registry.acme.example/platform/envoy
        tag: 1.30.2
  - name: search-indexer
    kind: StatefulSet
    containers:
      - image: registry.acme.example/platform/search-indexer
        tag: v2.3
  - name: acme-middleware
    kind: HelmChart
    namespace: middleware
    chart: acme-middleware
    version: 1.8.2
";

fn manifest() -> ReleaseManifest {
    release::parse(MANIFEST, Path::new("m.yaml")).expect("the test manifest is valid")
}

fn container(name: &str, image: &str) -> ContainerRow {
    ContainerRow {
        name: name.into(),
        image: image.into(),
        image_ref: ImageRef::parse(image),
        cpu_limit: false,
        memory_limit: false,
        cpu_request_millis: 0,
        memory_request_bytes: 0,
        liveness: None,
        readiness: None,
    }
}

fn workload(kind: WorkloadKind, namespace: &str, name: &str, images: &[(&str, &str)]) -> Workload {
    Workload {
        kind,
        namespace: namespace.into(),
        name: name.into(),
        containers: images.iter().map(|(n, i)| container(n, i)).collect(),
        desired: 1,
        ready: 1,
        updated: 1,
        rollout: RolloutState::Complete,
        selector: Default::default(),
        created: None,
    }
}

const GATEWAY: &str = "registry.acme.example/platform/api-gateway";
const ENVOY: &str = "registry.acme.example/platform/envoy:1.30.2";

fn gateway(image: &str) -> Workload {
    workload(
        WorkloadKind::Deployment,
        "acme-prod",
        "api-gateway",
        &[("api-gateway", image), ("envoy", ENVOY)],
    )
}

fn helm(namespace: &str, name: &str, chart: &str, version: &str, revision: i64) -> HelmRelease {
    HelmRelease {
        name: name.into(),
        namespace: namespace.into(),
        chart: chart.into(),
        chart_version: version.into(),
        app_version: String::new(),
        status: "deployed".into(),
        revision,
        updated: None,
        secret: format!("sh.helm.release.v1.{name}.v{revision}"),
    }
}

fn different(expected: &str, running: &str, order: TagOrder) -> Drift {
    Drift::Different {
        expected: expected.into(),
        running: running.into(),
        order,
    }
}

#[test]
fn tags_compare_as_versions_where_they_are() {
    use TagOrder::*;
    let cases = [
        ("2.4.1", "2.4.1", Same),
        ("2.4.1", "v2.4.1", Same),
        ("v1.2", "1.2.0", Same),
        ("1.2", "V1.2.0", Same),
        ("2.4.1", "2.4.0", Older),
        ("2.4.1", "2.10.0", Newer),
        ("2.4.1", "2.4.1-rc.1", Older),
        ("2.4.1-rc.1", "2.4.1-rc.2", Newer),
        ("1.0.0-alpha", "1.0.0-alpha.1", Newer),
        ("1.0.0-rc.1", "1.0.0-beta.11", Older),
        ("1.2-rc.1", "1.2.0-rc.1", Same),
        ("1.0.0+build.1", "1.0.0+build.2", Different),
        ("latest", "latest", Same),
        ("latest", "2.4.1", Different),
        ("2.4.1", "sha-4f2a9c1", Different),
        ("7", "7.2.5", Different),
        ("1.2.3.4", "1.2.3", Different),
        ("2.4.01", "2.4.1", Different),
    ];
    for (expected, running, order) in cases {
        assert_eq!(
            compare_tags(expected, running),
            order,
            "{expected} vs {running}"
        );
    }
}

#[test]
fn labels_and_problems() {
    let cases = [
        (Drift::Ok, "ok", false),
        (different("a:1", "a:0", TagOrder::Older), "older", true),
        (different("a:1", "a:2", TagOrder::Newer), "newer", true),
        (
            different("a:1", "b:1", TagOrder::Different),
            "different",
            true,
        ),
        (Drift::Missing, "missing", true),
        (Drift::NotInManifest, "not in manifest", true),
        (Drift::Untracked, "—", false),
    ];
    for (drift, label, problem) in cases {
        assert_eq!(
            (drift.label(), drift.is_problem()),
            (label, problem),
            "{drift:?}"
        );
    }
}

#[test]
fn a_workload_running_every_expected_image_is_ok() {
    let m = manifest();
    assert_eq!(
        workload_drift(&m, &gateway(&format!("{GATEWAY}:2.4.1"))),
        Drift::Ok
    );
    // A leading `v` is the same version; an extra sidecar is not compared.
    let mut w = gateway(&format!("{GATEWAY}:v2.4.1"));
    w.containers
        .push(container("istio-proxy", "docker.io/istio/proxyv2:1.22.0"));
    assert_eq!(workload_drift(&m, &w), Drift::Ok);
}

#[test]
fn the_first_container_that_differs_is_reported() {
    let m = manifest();
    let older = gateway(&format!("{GATEWAY}:2.4.0"));
    assert_eq!(
        workload_drift(&m, &older),
        different(
            &format!("{GATEWAY}:2.4.1"),
            &format!("{GATEWAY}:2.4.0"),
            TagOrder::Older
        )
    );
    let newer = gateway(&format!("{GATEWAY}:2.5.0-rc.1"));
    assert_eq!(workload_drift(&m, &newer).label(), "newer");
    let other_repo = gateway("mirror.local/api-gateway:2.4.1");
    assert_eq!(
        workload_drift(&m, &other_repo),
        different(
            &format!("{GATEWAY}:2.4.1"),
            "mirror.local/api-gateway:2.4.1",
            TagOrder::Different
        )
    );
    let pinned = gateway(&format!("{GATEWAY}@sha256:0123abcd"));
    assert_eq!(workload_drift(&m, &pinned).label(), "different");
    let untagged = gateway(GATEWAY);
    assert_eq!(workload_drift(&m, &untagged).label(), "different");
    // The second expected container, found by repository.
    let mut old_envoy = gateway(&format!("{GATEWAY}:2.4.1"));
    old_envoy.containers[1] = container("envoy", "registry.acme.example/platform/envoy:1.29.0");
    assert_eq!(
        workload_drift(&m, &old_envoy),
        different(
            "registry.acme.example/platform/envoy:1.30.2",
            "registry.acme.example/platform/envoy:1.29.0",
            TagOrder::Older
        )
    );
}

#[test]
fn a_missing_container_is_a_difference() {
    let m = manifest();
    let renamed = workload(
        WorkloadKind::Deployment,
        "acme-prod",
        "api-gateway",
        &[("gateway", &format!("{GATEWAY}:2.4.1")), ("envoy", ENVOY)],
    );
    assert_eq!(
        workload_drift(&m, &renamed),
        different(
            &format!("{GATEWAY}:2.4.1"),
            "no container `api-gateway`",
            TagOrder::Different
        )
    );
    let no_envoy = workload(
        WorkloadKind::Deployment,
        "acme-prod",
        "api-gateway",
        &[
            ("api-gateway", &format!("{GATEWAY}:2.4.1")),
            ("log", "busybox:1.36"),
        ],
    );
    assert_eq!(
        workload_drift(&m, &no_envoy),
        different(
            "registry.acme.example/platform/envoy:1.30.2",
            "no container of registry.acme.example/platform/envoy",
            TagOrder::Different
        )
    );
}

#[test]
fn an_unnamed_container_of_a_single_container_workload_is_compared() {
    let m = manifest();
    let indexer = |image: &str| {
        workload(
            WorkloadKind::StatefulSet,
            "search",
            "search-indexer",
            &[("indexer", image)],
        )
    };
    // No namespace in the component: any namespace matches; `v2.3` is 2.3.0.
    let ok = indexer("registry.acme.example/platform/search-indexer:2.3.0");
    assert_eq!(workload_drift(&m, &ok), Drift::Ok);
    let moved = indexer("docker.io/acme/search-indexer:2.3.0");
    assert_eq!(
        workload_drift(&m, &moved),
        different(
            "registry.acme.example/platform/search-indexer:v2.3",
            "docker.io/acme/search-indexer:2.3.0",
            TagOrder::Different
        )
    );
}

#[test]
fn workloads_no_component_names_are_not_in_manifest_or_untracked() {
    let m = manifest();
    let image = &format!("{GATEWAY}:2.4.1");
    let cases = [
        // The component says acme-prod.
        (
            WorkloadKind::Deployment,
            "middleware",
            "api-gateway",
            Drift::NotInManifest,
        ),
        // The kind is part of the match.
        (
            WorkloadKind::StatefulSet,
            "acme-prod",
            "api-gateway",
            Drift::NotInManifest,
        ),
        (
            WorkloadKind::Deployment,
            "acme-prod",
            "debug-shell",
            Drift::NotInManifest,
        ),
        (
            WorkloadKind::Deployment,
            "kube-system",
            "coredns",
            Drift::Untracked,
        ),
        (
            WorkloadKind::Deployment,
            "staging",
            "api-gateway",
            Drift::Untracked,
        ),
    ];
    for (kind, namespace, name, drift) in cases {
        let w = workload(kind, namespace, name, &[(name, image)]);
        assert_eq!(workload_drift(&m, &w), drift, "{namespace}/{name}");
    }
}

#[test]
fn a_component_naming_the_namespace_wins_over_one_for_any() {
    let text = "name: p\nversion: '1'\ncomponents:\n\
            - {name: web, kind: Deployment, containers: [{image: r/web, tag: '1.0'}]}\n\
            - {name: web, kind: Deployment, namespace: b, containers: [{image: r/web, tag: '2.0'}]}\n";
    let m = release::parse(text, Path::new("m.yaml")).expect("valid");
    let web = |ns: &str, tag: &str| {
        workload(
            WorkloadKind::Deployment,
            ns,
            "web",
            &[("web", &format!("r/web:{tag}"))],
        )
    };
    assert_eq!(workload_drift(&m, &web("a", "1.0")), Drift::Ok);
    assert_eq!(workload_drift(&m, &web("b", "2.0")), Drift::Ok);
    assert_eq!(workload_drift(&m, &web("b", "1.0")).label(), "older");
}

#[test]
fn helm_releases_compare_chart_and_version() {
    let m = manifest();
    let release =
        |chart: &str, version: &str| helm("middleware", "acme-middleware", chart, version, 3);
    assert_eq!(
        helm_drift(&m, &release("acme-middleware", "1.8.2")),
        Drift::Ok
    );
    assert_eq!(
        helm_drift(&m, &release("acme-middleware", "1.7.0")),
        different(
            "acme-middleware-1.8.2",
            "acme-middleware-1.7.0",
            TagOrder::Older
        )
    );
    assert_eq!(
        helm_drift(&m, &release("acme-mw", "1.8.2")),
        different(
            "acme-middleware-1.8.2",
            "acme-mw-1.8.2",
            TagOrder::Different
        )
    );
    let other = helm("middleware", "redis-ha", "redis-ha", "4.0.0", 1);
    assert_eq!(helm_drift(&m, &other), Drift::NotInManifest);
    let ingress = helm("kube-system", "ingress-nginx", "ingress-nginx", "4.11.3", 1);
    assert_eq!(helm_drift(&m, &ingress), Drift::Untracked);
    // A workload component of the same name is not a chart.
    let named_like_workload = helm("acme-prod", "api-gateway", "api-gateway", "2.4.1", 1);
    assert_eq!(helm_drift(&m, &named_like_workload), Drift::NotInManifest);
}

#[test]
fn the_current_revision_of_each_release_is_the_highest() {
    let releases = [
        helm(
            "middleware",
            "acme-middleware",
            "acme-middleware",
            "1.7.0",
            2,
        ),
        helm("kube-system", "ingress-nginx", "ingress-nginx", "4.11.3", 1),
        helm(
            "middleware",
            "acme-middleware",
            "acme-middleware",
            "1.8.2",
            3,
        ),
        helm(
            "middleware",
            "acme-middleware",
            "acme-middleware",
            "1.6.0",
            1,
        ),
        helm("other", "acme-middleware", "acme-middleware", "1.0.0", 1),
    ];
    let current: Vec<(&str, i64)> = current_revisions(&releases)
        .iter()
        .map(|r| (r.namespace.as_str(), r.revision))
        .collect();
    assert_eq!(
        current,
        [("middleware", 3), ("kube-system", 1), ("other", 1)]
    );
}

#[test]
fn components_with_nothing_running_are_missing() {
    let m = manifest();
    let names = |missing: Vec<&Component>| -> Vec<String> {
        missing.iter().map(|c| c.name.clone()).collect()
    };
    assert_eq!(
        names(missing_components(&m, &[], &[])),
        ["api-gateway", "search-indexer", "acme-middleware"]
    );
    let workloads = [
        gateway(&format!("{GATEWAY}:1.0.0")),
        // Any namespace will do for a component that sets none.
        workload(WorkloadKind::StatefulSet, "search", "search-indexer", &[]),
    ];
    let mut old = helm(
        "middleware",
        "acme-middleware",
        "acme-middleware",
        "1.0.0",
        1,
    );
    old.status = "failed".into();
    assert!(missing_components(&m, &workloads, &[old.clone()]).is_empty());
    old.status = "uninstalled".into();
    assert_eq!(
        names(missing_components(&m, &workloads, &[old])),
        ["acme-middleware"]
    );
    // The wrong kind or namespace does not count.
    let elsewhere = [
        workload(WorkloadKind::Deployment, "middleware", "api-gateway", &[]),
        workload(WorkloadKind::Deployment, "search", "search-indexer", &[]),
    ];
    let chart = helm(
        "acme-prod",
        "acme-middleware",
        "acme-middleware",
        "1.8.2",
        1,
    );
    assert_eq!(
        names(missing_components(&m, &elsewhere, &[chart])),
        ["api-gateway", "search-indexer", "acme-middleware"]
    );
}
