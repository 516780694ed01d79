//! Helm release secrets in the simulator, as `kubectl` and a Helm reader
//! see them.

use std::io::Read;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sitedeck_lab::kube::KubeSim;

fn kubectl(sim: &KubeSim, dir: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(sim.kubeconfig())
        .arg("--cache-dir")
        .arg(dir.join("kubectl-cache"))
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
}

#[test]
fn kubectl_lists_the_helm_release_secrets_by_label() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = KubeSim::start(dir.path()).expect("simulator");
    let json = kubectl(
        &sim,
        dir.path(),
        &["get", "secrets", "-A", "-l", "owner=helm", "-o", "json"],
    );
    let list: Value = serde_json::from_str(&json).expect("a JSON list");
    let items = list["items"].as_array().expect("items");
    let mut names: Vec<&str> = items
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "sh.helm.release.v1.acme-middleware.v2",
            "sh.helm.release.v1.acme-middleware.v3",
            "sh.helm.release.v1.ingress-nginx.v1",
        ]
    );
    let deployed = kubectl(
        &sim,
        dir.path(),
        &[
            "get",
            "secrets",
            "-n",
            "middleware",
            "-l",
            "owner=helm,status=deployed",
            "-o",
            "name",
        ],
    );
    assert_eq!(
        deployed.trim(),
        "secret/sh.helm.release.v1.acme-middleware.v3"
    );

    // Decoded the way Helm does: base64 (Secret data), base64, gzip, JSON.
    let secret = items
        .iter()
        .find(|s| s["metadata"]["name"] == "sh.helm.release.v1.acme-middleware.v3")
        .expect("the deployed revision");
    assert_eq!(secret["type"], "helm.sh/release.v1");
    let outer = STANDARD
        .decode(secret["data"]["release"].as_str().expect("release key"))
        .expect("base64");
    let gzipped = STANDARD.decode(outer).expect("helm's base64");
    let mut text = String::new();
    flate2::read::GzDecoder::new(gzipped.as_slice())
        .read_to_string(&mut text)
        .expect("gzip");
    let release: Value = serde_json::from_str(&text).expect("release JSON");
    assert_eq!(release["chart"]["metadata"]["version"], "1.8.2");
    assert_eq!(release["info"]["status"], "deployed");
}
