//! Release manifests: the shipped example and the good fixtures load, every
//! kind of mistake is reported with its place and a message that says what
//! to fix, and drift of the lab's seed site against the example finds
//! exactly the one deliberate difference.

use std::path::{Path, PathBuf};

use sitedeck::cluster::drift::{
    Drift, TagOrder, current_revisions, helm_drift, missing_components, workload_drift,
};
use sitedeck::cluster::model::{
    self, ContainerRow, HelmRelease, ImageRef, RolloutState, Workload, WorkloadKind,
};
use sitedeck::cluster::release::{self, ComponentKind, ManifestError, ReleaseManifest};

/// Every bad fixture in `tests/fixtures/releases/bad/` and exactly what
/// `load` says about it.
const BAD: &[(&str, &str)] = &[
    (
        "bad-unknown-key.yaml",
        "bad-unknown-key.yaml:3:1: unknown key `verison` (did you mean `version`?); \
         expected one of: name, version, namespaces, components",
    ),
    (
        "bad-unknown-nested-key.yaml",
        "bad-unknown-nested-key.yaml:8:9: unknown key `imgae` (did you mean `image`?); \
         expected one of: name, image, tag",
    ),
    (
        "bad-kind.yaml",
        "bad-kind.yaml:5:11: unknown kind `Deploymnet` (did you mean `Deployment`?); \
         expected one of: Deployment, StatefulSet, DaemonSet, HelmChart",
    ),
    (
        "bad-workload-without-containers.yaml",
        "bad-workload-without-containers.yaml:4:5: StatefulSet `search-indexer` has no \
         `containers`: a workload lists at least one container with its `image` and `tag`",
    ),
    (
        "bad-workload-with-chart.yaml",
        "bad-workload-with-chart.yaml:6:12: Deployment `api-gateway` has a `chart`: only a \
         HelmChart has `chart` and `version`; a workload lists its images under `containers`\n\
         bad-workload-with-chart.yaml:7:14: Deployment `api-gateway` has a `version`: only a \
         HelmChart has `chart` and `version`; a workload lists its images under `containers`",
    ),
    (
        "bad-helm-chart.yaml",
        "bad-helm-chart.yaml:4:5: HelmChart `acme-middleware` has no `version`: the chart's \
         version, e.g. `version: 1.8.2`\n\
         bad-helm-chart.yaml:9:7: HelmChart `acme-middleware` has `containers`: a HelmChart \
         names only its `chart` and `version`",
    ),
    (
        "bad-duplicate-component.yaml",
        "bad-duplicate-component.yaml:10:11: duplicate component: Deployment `api-gateway` in \
         namespace `acme-prod` is already listed at line 4",
    ),
    (
        "bad-empty-tag.yaml",
        "bad-empty-tag.yaml:8:14: `tag` must not be empty",
    ),
    (
        "bad-missing-tag.yaml",
        "bad-missing-tag.yaml:7:9: container `api-gateway` has no `tag`: the tag the release \
         ships, e.g. `tag: 2.4.1`",
    ),
    (
        "bad-tag-in-image.yaml",
        "bad-tag-in-image.yaml:8:16: `image` has a tag: write \
         `image: registry.acme.example:5000/platform/api-gateway` and `tag: 2.4.1`",
    ),
    (
        "bad-old-format.yaml",
        "bad-old-format.yaml:7:5: unknown key `image` in a component: list the images under \
         `containers`, each with `name`, `image` and `tag`\n\
         bad-old-format.yaml:8:5: unknown key `tag` in a component: list the images under \
         `containers`, each with `name`, `image` and `tag`",
    ),
    (
        "bad-namespace-not-listed.yaml",
        "bad-namespace-not-listed.yaml:7:16: namespace `acme-prd` is not in `namespaces` \
         (did you mean `acme-prod`?): list it there, or correct it here",
    ),
    (
        "bad-missing-keys.yaml",
        "bad-missing-keys.yaml:1:1: missing required key `name`\n\
         bad-missing-keys.yaml:1:1: missing required key `version`\n\
         bad-missing-keys.yaml:2:5: component 1 has no `name`",
    ),
    (
        "bad-wrong-type.yaml",
        "bad-wrong-type.yaml:6:17: expected a list here",
    ),
    (
        "bad-yaml-syntax.yaml",
        "bad-yaml-syntax.yaml:5:21: mapping values are not allowed in this context \
         (check the indentation of this line, or quote a value that contains `: `)",
    ),
    (
        "bad-empty.yaml",
        "bad-empty.yaml:1:1: the release manifest is empty: it needs at least `name`, \
         `version` and `components` (see docs/release-manifest.md)",
    ),
    (
        "bad-not-a-mapping.yaml",
        "bad-not-a-mapping.yaml:1:1: this is not a release manifest: expected `key: value` \
         lines with `name`, `version` and `components` (see docs/release-manifest.md)",
    ),
    ("bad-several-problems.yaml", SEVERAL_PROBLEMS),
];

/// `bad-several-problems.yaml` has eleven problems, found in one go.
const SEVERAL_PROBLEMS: &str = "\
bad-several-problems.yaml:1:7: `name` must not be empty
bad-several-problems.yaml:3:25: duplicate namespace `acme-prod` in `namespaces`
bad-several-problems.yaml:6:11: unknown kind `deployment` (did you mean `Deployment`?); \
expected one of: Deployment, StatefulSet, DaemonSet, HelmChart
bad-several-problems.yaml:9:16: `image` has a digest: sitedeck compares tags; write \
`image: registry.acme.example/platform/api-gateway` and the tag in `tag`
bad-several-problems.yaml:17:14: `2.4.1 beta` is not an image tag: letters, digits, `_`, `.` \
and `-`, at most 128, not starting with `.` or `-`
bad-several-problems.yaml:18:9: duplicate container `order-service` in Deployment \
`order-service`: each container is listed once
bad-several-problems.yaml:21:5: HelmChart `acme-middleware` has no `version`: the chart's \
version, e.g. `version: 1.8.2`
bad-several-problems.yaml:23:16: namespace `midleware` is not in `namespaces`: list it there, \
or correct it here
bad-several-problems.yaml:25:5: unknown key `contaners` (did you mean `containers`?); \
expected one of: name, kind, namespace, containers, chart, version
bad-several-problems.yaml:26:5: component 4 has no `name`
bad-several-problems.yaml:27:17: DaemonSet component 4 lists no containers: a workload lists \
at least one";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures(kind: &str) -> PathBuf {
    repo().join("tests/fixtures/releases").join(kind)
}

fn example() -> ReleaseManifest {
    release::load(&repo().join("assets/releases/example-2.4.1.yaml"))
        .unwrap_or_else(|e| panic!("the example release manifest is valid: {e}"))
}

/// The YAML files of a directory, by name.
fn yaml_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

/// What `load` says about a bad fixture, with the directory left out.
fn load_error(name: &str) -> String {
    let dir = fixtures("bad");
    match release::load(&dir.join(name)) {
        Ok(_) => panic!("{name} loaded, but it is a bad manifest"),
        Err(e) => e.to_string().replace(&format!("{}/", dir.display()), ""),
    }
}

#[test]
fn every_bad_fixture_says_exactly_what_is_wrong() {
    for (name, expected) in BAD {
        assert_eq!(load_error(name), *expected, "{name}");
    }
}

#[test]
fn every_bad_fixture_is_checked() {
    let mut listed: Vec<String> = BAD.iter().map(|(name, _)| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(yaml_files(&fixtures("bad")), listed);
}

#[test]
fn every_problem_has_a_place() {
    for (name, _) in BAD {
        let Err(ManifestError::Invalid { problems, .. }) =
            release::load(&fixtures("bad").join(name))
        else {
            panic!("{name} is invalid");
        };
        assert!(!problems.is_empty(), "{name}");
        assert!(
            problems.iter().all(|p| p.line > 0 && p.column > 0),
            "{name}"
        );
    }
}

#[test]
fn every_good_fixture_loads() {
    let names = yaml_files(&fixtures("good"));
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let path = fixtures("good").join(&name);
        let manifest = release::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(manifest.name, "acme-platform", "{name}");
        assert_eq!(manifest.source_file, path);
    }
}

#[test]
fn the_good_fixtures_read_as_written() {
    let flow = release::load(&fixtures("good").join("flow-style.yaml")).expect("valid");
    assert_eq!(flow.version, "2.5.0-rc.1");
    assert_eq!(flow.namespaces, ["middleware"]);
    let chart = flow.components[0].chart.as_ref().expect("a chart");
    // An unquoted 1.10 is the text 1.10, not the number 1.1.
    assert_eq!(chart.reference(), "acme-middleware-1.10");
    let agent = &flow.components[1].containers[0];
    assert_eq!(
        (agent.name.as_deref(), agent.reference().as_str()),
        (
            Some("agent"),
            "registry.acme.example:5000/platform/node-agent:v1.9"
        )
    );

    let sidecars = release::load(&fixtures("good").join("sidecars.yaml")).expect("valid");
    assert_eq!(sidecars.namespaces, ["acme-prod", "acme-batch"]);
    let kinds: Vec<ComponentKind> = sidecars.components.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [ComponentKind::Deployment, ComponentKind::StatefulSet]
    );
    assert_eq!(sidecars.components[0].containers.len(), 2);
}

#[test]
fn a_missing_file_says_which_and_what_to_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("release.yaml");
    let message = release::load(&path).expect_err("no such file").to_string();
    assert_eq!(
        message,
        format!(
            "{}: cannot read the release manifest: No such file or directory (os error 2); \
             check the path (a site profile's `release` is taken from the profile's directory)",
            path.display()
        )
    );
}

#[test]
fn a_binary_file_is_not_a_manifest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("release.yaml");
    std::fs::write(&path, [0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe]).expect("write");
    let message = release::load(&path).expect_err("not text").to_string();
    assert_eq!(
        message,
        format!(
            "{}: cannot read the release manifest: the file is not UTF-8 text; a release \
             manifest is a YAML file (see docs/release-manifest.md)",
            path.display()
        )
    );
}

#[test]
fn the_example_names_the_seed_site() {
    let m = example();
    assert_eq!(
        (m.name.as_str(), m.version.as_str()),
        ("acme-platform", "2.4.1")
    );
    assert_eq!(m.namespaces, ["acme-prod", "middleware"]);
    let described: Vec<String> = m
        .components
        .iter()
        .map(|c| {
            let what = match &c.chart {
                Some(chart) => chart.reference(),
                None => c.containers.iter().map(|i| i.reference()).collect(),
            };
            format!("{} {what}", c.describe())
        })
        .collect();
    let platform = "registry.acme.example/platform";
    assert_eq!(
        described,
        [
            format!("Deployment acme-prod/api-gateway {platform}/api-gateway:2.4.1"),
            format!("Deployment acme-prod/order-service {platform}/order-service:2.4.1"),
            format!("Deployment acme-prod/billing-service {platform}/billing-service:2.4.0"),
            format!(
                "Deployment acme-prod/notification-worker {platform}/notification-worker:2.4.1"
            ),
            format!("StatefulSet acme-prod/search-indexer {platform}/search-indexer:2.3.7"),
            format!("DaemonSet acme-prod/node-agent {platform}/node-agent:1.9.2"),
            "StatefulSet middleware/mysql docker.io/library/mariadb:10.11.8".to_owned(),
            "StatefulSet middleware/redis docker.io/library/redis:7.2.5".to_owned(),
            "HelmChart middleware/acme-middleware acme-middleware-1.8.2".to_owned(),
        ]
    );
    // Each container is named as its workload, as the lab's pods are.
    for component in &m.components {
        for image in &component.containers {
            assert_eq!(image.name.as_deref(), Some(component.name.as_str()));
        }
    }
}

fn row(kind: WorkloadKind, namespace: &str, name: &str, image: &str) -> Workload {
    Workload {
        kind,
        namespace: namespace.into(),
        name: name.into(),
        containers: vec![ContainerRow {
            name: name.into(),
            image: image.into(),
            image_ref: ImageRef::parse(image),
            cpu_limit: true,
            memory_limit: true,
            cpu_request_millis: 100,
            memory_request_bytes: 256 << 20,
            liveness: None,
            readiness: None,
        }],
        desired: 2,
        ready: 2,
        updated: 2,
        rollout: RolloutState::Complete,
        selector: Default::default(),
        created: None,
    }
}

fn helm_row(
    namespace: &str,
    name: &str,
    version: &str,
    revision: i64,
    status: &str,
) -> HelmRelease {
    HelmRelease {
        name: name.into(),
        namespace: namespace.into(),
        chart: name.into(),
        chart_version: version.into(),
        app_version: String::new(),
        status: status.into(),
        revision,
        updated: None,
        secret: format!("sh.helm.release.v1.{name}.v{revision}"),
    }
}

/// The drift of every workload and current Helm release, as
/// `(namespace/name, label)`, and the components missing.
fn site_drift(
    m: &ReleaseManifest,
    workloads: &[Workload],
    helm: &[HelmRelease],
) -> (Vec<(String, Drift)>, Vec<String>) {
    let mut drifts: Vec<(String, Drift)> = workloads
        .iter()
        .map(|w| (format!("{}/{}", w.namespace, w.name), workload_drift(m, w)))
        .chain(current_revisions(helm).into_iter().map(|r| {
            (
                format!("{}/{} (helm)", r.namespace, r.name),
                helm_drift(m, r),
            )
        }))
        .collect();
    drifts.sort_by(|a, b| a.0.cmp(&b.0));
    let missing = missing_components(m, workloads, helm)
        .iter()
        .map(|c| c.describe())
        .collect();
    (drifts, missing)
}

/// What the seed site must show: notification-worker runs 2.4.0 where
/// 2.4.1 is expected, everything of the release else is ok, and what is
/// outside the release's namespaces is not compared.
fn assert_only_notification_worker_drifts(drifts: &[(String, Drift)], missing: &[String]) {
    assert!(missing.is_empty(), "missing: {missing:?}");
    let problems: Vec<&(String, Drift)> = drifts.iter().filter(|(_, d)| d.is_problem()).collect();
    let worker = "registry.acme.example/platform/notification-worker";
    assert_eq!(
        problems,
        [&(
            "acme-prod/notification-worker".to_owned(),
            Drift::Different {
                expected: format!("{worker}:2.4.1"),
                running: format!("{worker}:2.4.0"),
                order: TagOrder::Older,
            }
        )],
        "{drifts:#?}"
    );
    assert_eq!(problems[0].1.label(), "older");
    for (object, drift) in drifts {
        let expected = if object.starts_with("acme-prod/") || object.starts_with("middleware/") {
            if object == "acme-prod/notification-worker" {
                continue;
            }
            Drift::Ok
        } else {
            Drift::Untracked
        };
        assert_eq!(*drift, expected, "{object}");
    }
}

#[test]
fn the_seed_site_drifts_only_in_notification_worker() {
    use WorkloadKind::{DaemonSet, Deployment, StatefulSet};
    let platform = |name: &str, tag: &str| format!("registry.acme.example/platform/{name}:{tag}");
    // As lab/src/kube/seed.rs seeds them.
    let workloads = [
        row(
            Deployment,
            "kube-system",
            "coredns",
            "registry.k8s.io/coredns/coredns:v1.11.3",
        ),
        row(
            DaemonSet,
            "kube-system",
            "kube-proxy",
            "registry.k8s.io/kube-proxy:v1.32.4",
        ),
        row(
            Deployment,
            "acme-prod",
            "api-gateway",
            &platform("api-gateway", "2.4.1"),
        ),
        row(
            Deployment,
            "acme-prod",
            "order-service",
            &platform("order-service", "2.4.1"),
        ),
        row(
            Deployment,
            "acme-prod",
            "billing-service",
            &platform("billing-service", "2.4.0"),
        ),
        row(
            Deployment,
            "acme-prod",
            "notification-worker",
            &platform("notification-worker", "2.4.0"),
        ),
        row(
            StatefulSet,
            "acme-prod",
            "search-indexer",
            &platform("search-indexer", "2.3.7"),
        ),
        row(
            DaemonSet,
            "acme-prod",
            "node-agent",
            &platform("node-agent", "1.9.2"),
        ),
        row(
            StatefulSet,
            "middleware",
            "mysql",
            "docker.io/library/mariadb:10.11.8",
        ),
        row(
            StatefulSet,
            "middleware",
            "redis",
            "docker.io/library/redis:7.2.5",
        ),
        row(Deployment, "acme-tools", "debug-shell", "busybox:latest"),
    ];
    // As lab/src/kube/helm.rs seeds them: revision 2 is superseded by 3.
    let helm = [
        helm_row("kube-system", "ingress-nginx", "4.11.3", 1, "deployed"),
        helm_row("middleware", "acme-middleware", "1.7.0", 2, "superseded"),
        helm_row("middleware", "acme-middleware", "1.8.2", 3, "deployed"),
    ];
    let (drifts, missing) = site_drift(&example(), &workloads, &helm);
    assert_eq!(drifts.len(), workloads.len() + 2);
    assert_only_notification_worker_drifts(&drifts, &missing);
    // The superseded revision alone would read as older.
    assert_eq!(helm_drift(&example(), &helm[1]).label(), "older");
}

/// The same, from the objects the lab's simulator actually seeds.
#[test]
fn the_lab_seed_drifts_only_in_notification_worker() {
    use sitedeck_lab::kube::{helm::SEED_RELEASES, resources, seed, store::ObjectStore};
    let mut store = ObjectStore::new(16);
    seed::seed_namespaces(&mut store).expect("seed namespaces");
    seed::seed_site(&mut store).expect("seed the site");
    let objects = |kind: &str| -> Vec<serde_json::Value> {
        let resource = resources::find_by_kind("apps/v1", kind).expect("a workload resource");
        store
            .list(resource, None, None)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut workloads: Vec<Workload> = Vec::new();
    for value in objects("Deployment") {
        let deployment = serde_json::from_value(value).expect("a Deployment");
        workloads.push(model::deployment_row(&deployment));
    }
    for value in objects("StatefulSet") {
        let set = serde_json::from_value(value).expect("a StatefulSet");
        workloads.push(model::stateful_set_row(&set));
    }
    for value in objects("DaemonSet") {
        let set = serde_json::from_value(value).expect("a DaemonSet");
        workloads.push(model::daemon_set_row(&set));
    }
    let helm: Vec<HelmRelease> = SEED_RELEASES
        .iter()
        .map(|r| HelmRelease {
            chart: r.chart.into(),
            ..helm_row(
                r.namespace,
                r.name,
                r.chart_version,
                i64::from(r.revision),
                r.status,
            )
        })
        .collect();
    let (drifts, missing) = site_drift(&example(), &workloads, &helm);
    let tracked = drifts
        .iter()
        .filter(|(_, d)| *d != Drift::Untracked)
        .count();
    assert_eq!(tracked, 9, "{drifts:#?}");
    assert_only_notification_worker_drifts(&drifts, &missing);
}
