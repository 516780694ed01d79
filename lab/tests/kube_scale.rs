//! The scale generator: 10k pods, 2k deployments and 200 nodes, listed in
//! full by the real kubectl, page by page.

use sitedeck_lab::kube::KubeSimOptions;
use sitedeck_lab::kube::seed::ScaleSpec;

mod support;

use support::Cluster;

#[test]
fn kubectl_lists_ten_thousand_pods_in_pages() {
    let cluster = Cluster::start_with(KubeSimOptions {
        seed_site: false,
        ..KubeSimOptions::default()
    });
    let sim = &cluster.sim;
    sim.generate(ScaleSpec {
        namespaces: 20,
        deployments: 2_000,
        pods: 10_000,
        nodes: 200,
    })
    .expect("generated");
    let kubectl = |args: &[&str]| cluster.kubectl_ok(args);
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
