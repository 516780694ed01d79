//! The real `kubectl` writing to the Kubernetes API simulator: create,
//! delete, the three patch types, scale, and Deployment rollouts (set
//! image + rollout status, a broken image running into its progress
//! deadline, rollout undo).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use sitedeck_lab::kube::KubeSimOptions;

mod support;

use support::Cluster;

impl Cluster {
    fn write_file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write manifest");
        path_text(&path)
    }

    /// The images of the pods of `app` in acme-prod, with their phase and
    /// readiness.
    fn pods_of(&self, app: &str) -> Vec<(String, String, bool)> {
        let pods = self.json(&[
            "get",
            "pods",
            "-n",
            "acme-prod",
            "-l",
            &format!("app={app}"),
        ]);
        pods["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|pod| {
                let image = pod["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let phase = pod["status"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let ready = pod["status"]["containerStatuses"][0]["ready"] == true;
                (image, phase, ready)
            })
            .collect()
    }

    /// Waits (up to 20 s) until `check` holds.
    fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("utf-8 path").to_string()
}

const REGISTRY: &str = "registry.acme.example/platform";

#[test]
fn kubectl_create_and_delete_a_config_map() {
    let cluster = Cluster::start();
    let manifest = cluster.write_file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-flags\n  namespace: acme-prod\ndata:\n  dark-mode: \"on\"\n",
    );
    let created = cluster.kubectl_ok(&["create", "-f", &manifest]);
    assert!(
        created.contains("configmap/feature-flags created"),
        "{created}"
    );
    let config_map = cluster.json(&["get", "cm", "feature-flags", "-n", "acme-prod"]);
    assert_eq!(config_map["data"]["dark-mode"], "on");
    assert!(config_map["metadata"]["uid"].is_string());

    let again = cluster.kubectl(&["create", "-f", &manifest]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("AlreadyExists") && stderr.contains("\"feature-flags\" already exists"),
        "{stderr}"
    );

    let deleted = cluster.kubectl_ok(&["delete", "cm", "feature-flags", "-n", "acme-prod"]);
    assert!(
        deleted.contains("configmap \"feature-flags\" deleted"),
        "{deleted}"
    );
    let missing = cluster.kubectl(&["get", "cm", "feature-flags", "-n", "acme-prod"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("NotFound"),
        "{missing:?}"
    );
}

#[test]
fn kubectl_patch_of_each_type() {
    let cluster = Cluster::start();
    let deploy = ["-n", "acme-prod", "deploy/billing-service"];
    let before = cluster.json(&["get", deploy[0], deploy[1], deploy[2]]);
    let generation = before["metadata"]["generation"]
        .as_i64()
        .expect("generation");

    // Strategic: containers merge by name, so the port list of the
    // container survives a patch that names only its env.
    cluster.kubectl_ok(&[
        "patch", "-n", "acme-prod", "deploy/billing-service", "--type", "strategic", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"billing-service","env":[{"name":"LOG_LEVEL","value":"debug"}]}]}}}}"#,
    ]);
    let patched = cluster.json(&["get", deploy[0], deploy[1], deploy[2]]);
    let container = &patched["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["env"][0]["value"], "debug");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(patched["metadata"]["generation"], generation + 1);

    // Merge: labels merge, null removes.
    cluster.kubectl_ok(&[
        "patch", "-n", "acme-prod", "deploy/billing-service", "--type", "merge", "-p",
        r#"{"metadata":{"labels":{"tier":"backend"},"annotations":{"deployment.kubernetes.io/revision":null}}}"#,
    ]);
    let merged = cluster.json(&["get", deploy[0], deploy[1], deploy[2]]);
    assert_eq!(merged["metadata"]["labels"]["tier"], "backend");
    assert_eq!(merged["metadata"]["labels"]["app"], "billing-service");
    assert_eq!(
        merged["metadata"]["generation"],
        generation + 1,
        "metadata changes keep the generation"
    );

    // JSON patch: test then replace; a failing test changes nothing.
    cluster.kubectl_ok(&[
        "patch", "-n", "acme-prod", "deploy/billing-service", "--type", "json", "-p",
        r#"[{"op":"test","path":"/metadata/labels/tier","value":"backend"},{"op":"replace","path":"/metadata/labels/tier","value":"core"},{"op":"add","path":"/metadata/labels/team","value":"payments"}]"#,
    ]);
    let json_patched = cluster.json(&["get", deploy[0], deploy[1], deploy[2]]);
    assert_eq!(json_patched["metadata"]["labels"]["tier"], "core");
    assert_eq!(json_patched["metadata"]["labels"]["team"], "payments");
    let failed = cluster.kubectl(&[
        "patch", "-n", "acme-prod", "deploy/billing-service", "--type", "json", "-p",
        r#"[{"op":"test","path":"/metadata/labels/tier","value":"nope"},{"op":"remove","path":"/metadata/labels/team"}]"#,
    ]);
    assert!(!failed.status.success());
    let unchanged = cluster.json(&["get", deploy[0], deploy[1], deploy[2]]);
    assert_eq!(unchanged["metadata"]["labels"]["team"], "payments");

    // An invalid change is refused with 422.
    let invalid = cluster.kubectl(&[
        "patch",
        "-n",
        "acme-prod",
        "deploy/billing-service",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":-1}}"#,
    ]);
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(
        stderr.contains("is invalid") && stderr.contains("spec.replicas"),
        "{stderr}"
    );
}

#[test]
fn kubectl_delete_pod_is_replaced_by_its_replica_set() {
    let cluster = Cluster::start();
    let pods = cluster.pods_of("order-service");
    assert_eq!(pods.len(), 3);
    let names = cluster.kubectl_ok(&[
        "get",
        "pods",
        "-n",
        "acme-prod",
        "-l",
        "app=order-service",
        "-o",
        "name",
    ]);
    let victim = names.lines().next().expect("a pod").to_string();
    let deleted = cluster.kubectl_ok(&["delete", "-n", "acme-prod", &victim]);
    assert!(deleted.contains("deleted"), "{deleted}");
    cluster.eventually("a replacement pod, running", || {
        let now = cluster.kubectl_ok(&[
            "get",
            "pods",
            "-n",
            "acme-prod",
            "-l",
            "app=order-service",
            "-o",
            "name",
        ]);
        !now.contains(&victim)
            && cluster
                .pods_of("order-service")
                .iter()
                .filter(|(_, _, ready)| *ready)
                .count()
                == 3
    });
}

#[test]
fn kubectl_scale_gives_ready_pods() {
    let cluster = Cluster::start();
    let scaled = cluster.kubectl_ok(&[
        "scale",
        "-n",
        "acme-prod",
        "deploy/api-gateway",
        "--replicas=4",
    ]);
    assert!(
        scaled.contains("deployment.apps/api-gateway scaled"),
        "{scaled}"
    );
    cluster.kubectl_ok(&[
        "rollout",
        "status",
        "-n",
        "acme-prod",
        "deploy/api-gateway",
        "--timeout=30s",
    ]);
    cluster.eventually("four ready pods", || {
        let pods = cluster.pods_of("api-gateway");
        pods.len() == 4
            && pods
                .iter()
                .all(|(_, phase, ready)| phase == "Running" && *ready)
    });
    let deployment = cluster.json(&["get", "-n", "acme-prod", "deploy/api-gateway"]);
    assert_eq!(deployment["status"]["readyReplicas"], 4);
    cluster.kubectl_ok(&[
        "scale",
        "-n",
        "acme-prod",
        "deploy/api-gateway",
        "--replicas=1",
    ]);
    cluster.eventually("one pod", || cluster.pods_of("api-gateway").len() == 1);
}

#[test]
fn kubectl_set_image_rolls_out_and_undo_rolls_back() {
    let cluster = Cluster::start();
    let old_image = format!("{REGISTRY}/order-service:2.4.1");
    let new_image = format!("{REGISTRY}/order-service:2.5.0");
    cluster.kubectl_ok(&[
        "set",
        "image",
        "-n",
        "acme-prod",
        "deploy/order-service",
        &format!("order-service={new_image}"),
    ]);
    let status = cluster.kubectl_ok(&[
        "rollout",
        "status",
        "-n",
        "acme-prod",
        "deploy/order-service",
        "--timeout=60s",
    ]);
    assert!(
        status.contains("deployment \"order-service\" successfully rolled out"),
        "{status}"
    );
    let pods = cluster.pods_of("order-service");
    assert_eq!(pods.len(), 3, "{pods:?}");
    assert!(
        pods.iter()
            .all(|(image, phase, ready)| *image == new_image && phase == "Running" && *ready),
        "{pods:?}"
    );
    let replica_sets = cluster.json(&["get", "rs", "-n", "acme-prod", "-l", "app=order-service"]);
    let revisions: Vec<(String, i64)> = replica_sets["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|rs| {
            (
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                rs["spec"]["replicas"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert!(revisions.contains(&("4".to_string(), 3)), "{revisions:?}");
    assert!(revisions.contains(&("3".to_string(), 0)), "{revisions:?}");
    let history = cluster.kubectl_ok(&[
        "rollout",
        "history",
        "-n",
        "acme-prod",
        "deploy/order-service",
    ]);
    assert!(history.contains('3') && history.contains('4'), "{history}");

    let undone =
        cluster.kubectl_ok(&["rollout", "undo", "-n", "acme-prod", "deploy/order-service"]);
    assert!(undone.contains("rolled back"), "{undone}");
    cluster.kubectl_ok(&[
        "rollout",
        "status",
        "-n",
        "acme-prod",
        "deploy/order-service",
        "--timeout=60s",
    ]);
    cluster.eventually("the old image back on every pod", || {
        let pods = cluster.pods_of("order-service");
        pods.len() == 3
            && pods
                .iter()
                .all(|(image, _, ready)| *image == old_image && *ready)
    });
    let deployment = cluster.json(&["get", "-n", "acme-prod", "deploy/order-service"]);
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "5"
    );
}

#[test]
fn a_broken_image_exceeds_the_progress_deadline() {
    let cluster = Cluster::start();
    cluster.kubectl_ok(&[
        "patch",
        "-n",
        "acme-prod",
        "deploy/api-gateway",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":2}}"#,
    ]);
    cluster.kubectl_ok(&[
        "set",
        "image",
        "-n",
        "acme-prod",
        "deploy/api-gateway",
        &format!("api-gateway={REGISTRY}/api-gateway:2.5.0-broken"),
    ]);
    let started = Instant::now();
    let status = cluster.kubectl(&[
        "rollout",
        "status",
        "-n",
        "acme-prod",
        "deploy/api-gateway",
        "--timeout=30s",
    ]);
    assert!(!status.status.success());
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(
        stderr.contains("deployment \"api-gateway\" exceeded its progress deadline"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let deployment = cluster.json(&["get", "-n", "acme-prod", "deploy/api-gateway"]);
    let progressing = deployment["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|condition| condition["type"] == "Progressing")
        .cloned()
        .expect("Progressing");
    assert_eq!(progressing["status"], "False");
    assert_eq!(progressing["reason"], "ProgressDeadlineExceeded");
    // The old pods keep serving; the new one crash-loops.
    let pods = cluster.json(&["get", "pods", "-n", "acme-prod", "-l", "app=api-gateway"]);
    let broken: Vec<&Value> = pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|pod| {
            pod["spec"]["containers"][0]["image"]
                .as_str()
                .is_some_and(|image| image.ends_with("-broken"))
        })
        .collect();
    assert!(!broken.is_empty());
    for pod in broken {
        let container = &pod["status"]["containerStatuses"][0];
        assert_eq!(
            container["state"]["waiting"]["reason"], "CrashLoopBackOff",
            "{pod}"
        );
        assert_eq!(container["ready"], false);
    }
    cluster.eventually("restarts counted", || {
        let pods = cluster.json(&["get", "pods", "-n", "acme-prod", "-l", "app=api-gateway"]);
        pods["items"].as_array().expect("items").iter().any(|pod| {
            pod["status"]["containerStatuses"][0]["restartCount"]
                .as_i64()
                .unwrap_or(0)
                >= 2
        })
    });
    let ready = cluster
        .pods_of("api-gateway")
        .iter()
        .filter(|(_, _, ready)| *ready)
        .count();
    assert_eq!(ready, 2, "the old pods still serve");
}

#[test]
fn images_listed_as_broken_never_become_ready() {
    let cluster = Cluster::start_with(KubeSimOptions {
        broken_images: vec![format!("{REGISTRY}/billing-service:2.4.9")],
        ..KubeSimOptions::default()
    });
    cluster.kubectl_ok(&[
        "patch",
        "-n",
        "acme-prod",
        "deploy/billing-service",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"progressDeadlineSeconds":2}}"#,
    ]);
    cluster.kubectl_ok(&[
        "set",
        "image",
        "-n",
        "acme-prod",
        "deploy/billing-service",
        &format!("billing-service={REGISTRY}/billing-service:2.4.9"),
    ]);
    let status = cluster.kubectl(&[
        "rollout",
        "status",
        "-n",
        "acme-prod",
        "deploy/billing-service",
        "--timeout=30s",
    ]);
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("exceeded its progress deadline"),
        "{status:?}"
    );
}

#[test]
fn kubectl_get_watch_sees_a_rollout() {
    use std::io::{BufRead, BufReader};
    let cluster = Cluster::start();
    let mut watch = cluster
        .command()
        .args(["get", "-n", "acme-prod", "deploy/notification-worker", "-w", "-o"])
        .arg("custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image,GEN:.metadata.generation,OBSERVED:.status.observedGeneration,REPLICAS:.status.replicas,UPDATED:.status.updatedReplicas,READY:.status.readyReplicas")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl -w starts");
    let stdout = watch.stdout.take().expect("stdout");
    let (lines, receiver) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let first = receiver
        .recv_timeout(Duration::from_secs(20))
        .expect("header");
    assert!(first.starts_with("NAME"), "{first}");
    let _ = receiver
        .recv_timeout(Duration::from_secs(20))
        .expect("current state");
    cluster.kubectl_ok(&[
        "set",
        "image",
        "-n",
        "acme-prod",
        "deploy/notification-worker",
        &format!("notification-worker={REGISTRY}/notification-worker:2.4.1"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let rolled_out = loop {
        let Ok(line) = receiver.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break false;
        };
        let columns: Vec<&str> = line.split_whitespace().collect();
        let done = columns.len() == 7
            && columns[1].ends_with(":2.4.1")
            && columns[2] == columns[3]
            && columns[4..].iter().all(|count| *count == "1");
        seen.push(line);
        if done {
            break true;
        }
    };
    watch.kill().expect("stop kubectl -w");
    watch.wait().expect("kubectl -w ends");
    reader.join().expect("reader");
    assert!(rolled_out, "{seen:#?}");
    // Mid-rollout, the surge pod ran beside the old one.
    let surged = seen
        .iter()
        .any(|line| line.split_whitespace().nth(4) == Some("2"));
    assert!(surged, "intermediate states seen: {seen:#?}");
}
