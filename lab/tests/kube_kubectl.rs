//! The real `kubectl` against the Kubernetes API simulator: discovery,
//! `get` with selectors and paging, JSON output, errors, and a watch that
//! sees a pod added through the simulator's Rust API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::Cluster;

/// The first column of each row below the header.
fn names(table: &str, column: usize) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(column).map(str::to_string))
        .collect()
}

#[test]
fn kubectl_version_reports_the_server() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&["version"]);
    assert!(output.contains("Server Version: v1.32.4"), "{output}");
}

#[test]
fn kubectl_api_resources_lists_every_served_resource() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&["api-resources"]);
    for (name, short_name, api_version, kind) in [
        ("pods", "po", "v1", "Pod"),
        ("namespaces", "ns", "v1", "Namespace"),
        ("nodes", "no", "v1", "Node"),
        ("services", "svc", "v1", "Service"),
        ("configmaps", "cm", "v1", "ConfigMap"),
        ("deployments", "deploy", "apps/v1", "Deployment"),
        ("replicasets", "rs", "apps/v1", "ReplicaSet"),
        ("statefulsets", "sts", "apps/v1", "StatefulSet"),
        ("daemonsets", "ds", "apps/v1", "DaemonSet"),
        ("events", "ev", "events.k8s.io/v1", "Event"),
    ] {
        let listed = output.lines().any(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            columns.first() == Some(&name)
                && columns.contains(&short_name)
                && columns.contains(&api_version)
                && columns.last() == Some(&kind)
        });
        assert!(
            listed,
            "{name} ({short_name}, {api_version}) missing from:\n{output}"
        );
    }
    assert!(output.contains("selfsubjectaccessreviews"), "{output}");
    assert!(
        !output.contains("pods/log"),
        "subresources are not listed:\n{output}"
    );
}

#[test]
fn kubectl_get_namespaces() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&["get", "ns"]);
    assert!(output.starts_with("NAME"), "{output}");
    let namespaces = names(&output, 0);
    for namespace in ["acme-prod", "middleware", "kube-system", "default"] {
        assert!(
            namespaces.iter().any(|n| n == namespace),
            "{namespace} in {output}"
        );
    }
    assert!(output.contains("Active"), "{output}");
}

#[test]
fn kubectl_get_pods_in_all_namespaces() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&["get", "pods", "-A"]);
    let header: Vec<&str> = output
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    let namespaces = names(&output, 0);
    assert_eq!(namespaces.len(), 24, "{output}");
    for namespace in ["acme-prod", "acme-tools", "middleware", "kube-system"] {
        assert!(
            namespaces.iter().any(|n| n == namespace),
            "{namespace} in {output}"
        );
    }
    assert!(output.contains("mysql-0") && output.contains("1/1") && output.contains("Running"));
    // The seed's deliberate problems show as kubectl shows them.
    let row = |prefix: &str| {
        output
            .lines()
            .find(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|name| name.starts_with(prefix))
            })
            .map(|line| line.split_whitespace().skip(2).take(3).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(
        row("debug-shell-"),
        ["0/1", "CrashLoopBackOff", "12"],
        "{output}"
    );
    assert_eq!(row("load-generator-"), ["0/1", "Pending", "0"], "{output}");
}

#[test]
fn kubectl_get_pods_by_label() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&["get", "pods", "-n", "acme-prod", "-l", "app=order-service"]);
    let pods = names(&output, 0);
    assert_eq!(pods.len(), 3, "{output}");
    assert!(
        pods.iter().all(|pod| pod.starts_with("order-service-")),
        "{output}"
    );

    let set_based =
        cluster.kubectl_ok(&["get", "pods", "-A", "-l", "app in (mysql,redis),!missing"]);
    assert_eq!(
        names(&set_based, 1),
        ["mysql-0", "mysql-1", "redis-0", "redis-1"]
    );
}

#[test]
fn kubectl_get_pods_by_field_selector() {
    let cluster = Cluster::start();
    let running = cluster.kubectl_ok(&[
        "get",
        "pods",
        "--field-selector",
        "status.phase=Running",
        "-A",
    ]);
    // Every seeded pod but the one no node can take (a crash-looping pod
    // is Running).
    assert_eq!(names(&running, 0).len(), 23, "{running}");
    let pending = cluster.kubectl_ok(&[
        "get",
        "pods",
        "--field-selector",
        "status.phase=Pending",
        "-A",
    ]);
    let pending = names(&pending, 1);
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(pending[0].starts_with("load-generator-"), "{pending:?}");
    let on_master = cluster.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        "spec.nodeName=acme-master-1",
    ]);
    // Only the DaemonSets run on the control plane.
    let pods = names(&on_master, 1);
    assert_eq!(pods.len(), 2, "{on_master}");
    assert!(
        pods.iter()
            .all(|pod| pod.starts_with("node-agent-") || pod.starts_with("kube-proxy-"))
    );
}

#[test]
fn kubectl_get_deployments_in_chunks() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&["get", "deploy", "-A", "--chunk-size=2"]);
    let deployments = names(&output, 1);
    assert_eq!(
        deployments,
        [
            "api-gateway",
            "billing-service",
            "notification-worker",
            "order-service",
            "debug-shell",
            "load-generator",
            "coredns"
        ]
    );
    let continued = cluster
        .sim
        .requests()
        .iter()
        .filter(|request| request.path == "/apis/apps/v1/deployments")
        .filter(|request| {
            request
                .param("continue")
                .is_some_and(|token| !token.is_empty())
        })
        .count();
    assert_eq!(
        continued, 3,
        "seven deployments in pages of two take three continues"
    );
    // A printed header, once.
    assert_eq!(output.matches("UP-TO-DATE").count(), 1, "{output}");
}

#[test]
fn kubectl_get_pod_as_json() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&["get", "pod", "mysql-0", "-n", "middleware", "-o", "json"]);
    let pod: Value = serde_json::from_str(&output).expect("valid JSON");
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["name"], "mysql-0");
    assert_eq!(pod["metadata"]["namespace"], "middleware");
    assert_eq!(pod["status"]["phase"], "Running");
    let yaml = cluster.kubectl_ok(&[
        "get",
        "deploy",
        "notification-worker",
        "-n",
        "acme-prod",
        "-o",
        "yaml",
    ]);
    assert!(
        yaml.contains("image: registry.acme.example/platform/notification-worker:2.4.0"),
        "{yaml}"
    );
}

#[test]
fn kubectl_reports_a_missing_object_as_not_found() {
    let cluster = Cluster::start();
    let output = cluster.kubectl(&["get", "pod", "no-such-pod", "-n", "acme-prod"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"Error from server (NotFound): pods "no-such-pod" not found"#),
        "{stderr}"
    );
    let output = cluster.kubectl(&["get", "deploy", "gone", "-n", "acme-prod"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#"Error from server (NotFound): deployments.apps "gone" not found"#),
        "{stderr}"
    );
}

#[test]
fn kubectl_with_a_wrong_token_is_unauthorized() {
    let cluster = Cluster::start();
    let kubeconfig = std::fs::read_to_string(cluster.sim.kubeconfig()).expect("kubeconfig");
    assert!(kubeconfig.contains(cluster.sim.token()));
    let wrong: PathBuf = cluster.dir.path().join("wrong-kubeconfig");
    std::fs::write(
        &wrong,
        kubeconfig.replace(cluster.sim.token(), "not-the-token"),
    )
    .expect("write");
    let get_pods = |kubeconfig: &Path| {
        let output = cluster
            .command_with(kubeconfig)
            .args(["get", "pods", "-A"])
            .output()
            .expect("kubectl runs");
        assert!(!output.status.success() || kubeconfig != wrong);
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Discovery is refused first; client-go words a 401 there its own way.
    let stderr = get_pods(&wrong);
    assert!(
        stderr.contains("error: You must be logged in to the server"),
        "{stderr}"
    );
    // With discovery cached by a good token, the list itself is refused
    // and kubectl prints the Status's reason.
    get_pods(cluster.sim.kubeconfig());
    let stderr = get_pods(&wrong);
    assert!(
        stderr.contains("error: You must be logged in to the server (Unauthorized)"),
        "{stderr}"
    );
}

/// A child process killed and reaped when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kubectl_get_pods_watch_sees_a_new_pod() {
    let cluster = Cluster::start();
    let mut watch = KillOnDrop(
        cluster
            .command_with(cluster.sim.kubeconfig())
            .args([
                "get",
                "pods",
                "-n",
                "acme-prod",
                "-w",
                "--request-timeout=60s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl starts"),
    );
    let stdout = watch.0.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |wanted: &dyn Fn(&str) -> bool, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match received.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("kubectl never printed {what}; it printed {seen:#?}");
    };
    wait_for(&|line| line.contains("order-service-"), "the initial list");

    cluster
        .sim
        .create(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "late-arrival", "namespace": "acme-prod", "labels": {"app": "late"}},
            "spec": {"containers": [{"name": "late", "image": "registry.acme.example/platform/late:1.0.0"}]},
            "status": {"phase": "Pending"},
        }))
        .expect("pod created");
    let line = wait_for(&|line| line.starts_with("late-arrival"), "the new pod");
    assert!(line.contains("0/1") && line.contains("Pending"), "{line}");

    let _ = cluster
        .sim
        .modify("pods", "acme-prod", "late-arrival", |pod| {
            pod["status"] = json!({"phase": "Running", "containerStatuses": [
                {"name": "late", "ready": true, "restartCount": 0, "state": {"running": {}}}
            ]});
        });
    let line = wait_for(
        &|line| line.starts_with("late-arrival") && line.contains("Running"),
        "the pod running",
    );
    assert!(line.contains("1/1"), "{line}");
    drop(watch);
}

#[test]
fn kubectl_describe_pod_shows_its_events() {
    let cluster = Cluster::start();
    let output = cluster.kubectl_ok(&[
        "describe",
        "pod",
        "-n",
        "acme-prod",
        "-l",
        "app=notification-worker",
    ]);
    assert!(
        output.contains("registry.acme.example/platform/notification-worker:2.4.0"),
        "{output}"
    );
    let events = output.split("Events:").nth(1).unwrap_or_default();
    for reason in ["Scheduled", "Pulled", "Started"] {
        assert!(events.contains(reason), "{reason} in {events}");
    }
}
