//! The findings on the lab's seed site, read through kube-rs as sitedeck
//! reads a real cluster: the seed's deliberate problems are found, each
//! on its object, and nothing else is.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use sitedeck::cluster::findings::{Finding, FindingKind, Severity, all_findings};
use sitedeck::cluster::model::{
    PodRow, Workload, daemon_set_row, deployment_row, pod_row, stateful_set_row,
};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

async fn client(sim: &KubeSim) -> Client {
    let kubeconfig = Kubeconfig::read_from(sim.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

/// Every workload and pod of the cluster, as sitedeck's rows.
async fn rows(client: &Client) -> (Vec<Workload>, Vec<PodRow>) {
    let all = ListParams::default();
    let mut workloads: Vec<Workload> = Vec::new();
    let deployments: Api<Deployment> = Api::all(client.clone());
    workloads.extend(
        deployments
            .list(&all)
            .await
            .expect("deployments")
            .iter()
            .map(deployment_row),
    );
    let stateful_sets: Api<StatefulSet> = Api::all(client.clone());
    workloads.extend(
        stateful_sets
            .list(&all)
            .await
            .expect("statefulsets")
            .iter()
            .map(stateful_set_row),
    );
    let daemon_sets: Api<DaemonSet> = Api::all(client.clone());
    workloads.extend(
        daemon_sets
            .list(&all)
            .await
            .expect("daemonsets")
            .iter()
            .map(daemon_set_row),
    );
    let pods: Api<Pod> = Api::all(client.clone());
    let pods = pods
        .list(&all)
        .await
        .expect("pods")
        .iter()
        .map(pod_row)
        .collect();
    (workloads, pods)
}

/// A finding as `critical oom_killed Pod acme-prod/billing-service-…`:
/// a pod's generated name is shown as its `app` label and an ellipsis.
fn summary(finding: &Finding, pods: &[PodRow]) -> String {
    let object = &finding.object;
    let name = match object.kind.as_str() {
        "Pod" => pods
            .iter()
            .find(|pod| pod.namespace == object.namespace && pod.name == object.name)
            .and_then(|pod| pod.labels.get("app"))
            .map_or_else(|| object.name.clone(), |app| format!("{app}-…")),
        _ => object.name.clone(),
    };
    format!(
        "{} {} {} {}/{name}",
        finding.severity.label(),
        finding.kind.code(),
        object.kind,
        object.namespace
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_deliberate_problems_are_found_and_nothing_else() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = KubeSimOptions {
        log_interval: None,
        ..KubeSimOptions::default()
    };
    let sim = KubeSim::start_with(dir.path(), options).expect("simulator");
    let (workloads, pods) = rows(&client(&sim).await).await;
    assert_eq!(workloads.len(), 12, "{workloads:#?}");
    assert_eq!(pods.len(), 24);

    let findings = all_findings(&workloads, &pods);
    let summaries: Vec<String> = findings.iter().map(|f| summary(f, &pods)).collect();
    assert_eq!(
        summaries,
        [
            "critical oom_killed Pod acme-prod/billing-service-…",
            "critical crash_loop_back_off Pod acme-tools/debug-shell-…",
            "critical unschedulable Pod acme-tools/load-generator-…",
            "warning single_node Deployment acme-prod/order-service",
            "warning latest_tag Deployment acme-tools/debug-shell",
            "warning missing_limits Deployment acme-tools/debug-shell",
        ],
        "{findings:#?}"
    );

    let message = |kind: FindingKind| {
        findings
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| f.message.as_str())
            .unwrap_or_default()
    };
    assert!(message(FindingKind::OomKilled).contains("7 restarts"));
    assert!(message(FindingKind::OomKilled).contains("raise the memory limit"));
    assert!(message(FindingKind::CrashLoopBackOff).contains("12 restarts, last exit Error"));
    assert!(message(FindingKind::Unschedulable).contains(
        "\"0/3 nodes are available: 1 node(s) had untolerated taint \
         {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory.\""
    ));
    assert!(
        message(FindingKind::SingleNode).contains("All 3 ready replicas run on node acme-worker-1")
    );
    assert!(message(FindingKind::LatestTag).contains("busybox:latest"));
    assert!(
        message(FindingKind::MissingLimits)
            .contains("Container debug-shell has no cpu or memory limit")
    );
    assert_eq!(
        findings
            .iter()
            .filter(|f| f.severity == Severity::Critical)
            .count(),
        3,
        "only the three broken pods are critical"
    );
}
