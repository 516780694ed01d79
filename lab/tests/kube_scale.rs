//! The scale generator: 10k pods, 2k deployments and 200 nodes, listed in
//! full by the real kubectl, page by page.

use std::process::Command;

use sitedeck_lab::kube::seed::ScaleSpec;
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

#[test]
fn kubectl_lists_ten_thousand_pods_in_pages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = KubeSimOptions {
        seed_site: false,
        ..KubeSimOptions::default()
    };
    let sim = KubeSim::start_with(dir.path(), options).expect("simulator");
    sim.generate(ScaleSpec {
        namespaces: 20,
        deployments: 2_000,
        pods: 10_000,
        nodes: 200,
    })
    .expect("generated");
    let kubectl = |args: &[&str]| {
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(sim.kubeconfig())
            .arg("--cache-dir")
            .arg(dir.path().join("kubectl-cache"))
            .env_remove("KUBECONFIG")
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let pods = kubectl(&["get", "pods", "-A", "--no-headers"]);
    assert_eq!(pods.lines().count(), 10_000);
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/pods" && r.param("continue").is_some())
        .count();
    assert_eq!(
        pages, 19,
        "kubectl's default chunks of 500: 20 pages, 19 continued"
    );
    let nodes = kubectl(&["get", "nodes", "--no-headers"]);
    assert_eq!(nodes.lines().count(), 200);
    let deployments = kubectl(&["get", "deploy", "-A", "--no-headers"]);
    assert_eq!(deployments.lines().count(), 2_000);
}
