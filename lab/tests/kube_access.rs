//! `kubectl auth can-i` against the simulator's SelfSubjectAccessReviews:
//! the default policy and one configured by the test.

use std::process::Output;

use sitedeck_lab::kube::access::{AccessPolicy, AccessRule};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

mod support;

fn can_i(sim: &KubeSim, dir: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(sim.kubeconfig())
        .arg("--cache-dir")
        .arg(dir.join("kubectl-cache"))
        .env_remove("KUBECONFIG")
        .args(["auth", "can-i"])
        .args(args)
        .output()
        .expect("kubectl runs")
}

fn answer(output: &Output) -> (Option<i32>, String) {
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).trim().to_string(),
    )
}

#[test]
fn kubectl_auth_can_i_follows_the_default_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = KubeSim::start(dir.path()).expect("simulator");
    let yes = can_i(&sim, dir.path(), &["list", "pods", "-n", "acme-prod"]);
    assert_eq!(answer(&yes), (Some(0), "yes".into()), "{yes:?}");
    let no = can_i(&sim, dir.path(), &["get", "secrets", "-n", "kube-system"]);
    assert_eq!(answer(&no), (Some(1), "no".into()), "{no:?}");
    let elsewhere = can_i(&sim, dir.path(), &["get", "secrets", "-n", "acme-prod"]);
    assert_eq!(answer(&elsewhere), (Some(0), "yes".into()));
    let review = sim
        .requests()
        .into_iter()
        .filter(|request| request.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .count();
    assert_eq!(review, 3);
}

#[test]
fn kubectl_auth_can_i_follows_a_configured_policy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = KubeSimOptions {
        access_policy: AccessPolicy {
            rules: vec![
                AccessRule::allow("get", "", "pods/log", Some("acme-prod")),
                AccessRule::allow("*", "apps", "deployments", None),
            ],
        },
        ..KubeSimOptions::default()
    };
    let sim = KubeSim::start_with(dir.path(), options).expect("simulator");
    let check = |args: &[&str]| answer(&can_i(&sim, dir.path(), args)).1;
    assert_eq!(
        check(&["get", "pods", "--subresource=log", "-n", "acme-prod"]),
        "yes"
    );
    assert_eq!(check(&["get", "pods", "-n", "acme-prod"]), "no");
    assert_eq!(
        check(&["patch", "deployments.apps", "-n", "middleware"]),
        "yes"
    );
    assert_eq!(check(&["delete", "nodes"]), "no");
}

#[test]
fn a_request_the_policy_refuses_is_forbidden() {
    let cluster = support::Cluster::start();
    let refused = cluster.kubectl(&["get", "secrets", "-n", "kube-system"]);
    assert!(!refused.status.success());
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim(),
        "Error from server (Forbidden): secrets is forbidden: User \"lab\" cannot list resource \"secrets\" in API group \"\" in the namespace \"kube-system\""
    );
    let allowed = cluster.kubectl_ok(&["get", "secrets", "-n", "middleware", "-o", "name"]);
    assert!(allowed.contains("secret/mysql-credentials"));
}
