//! Helm release secrets in the simulator, as `kubectl` and a Helm reader
//! see them.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
mod support;

use support::Cluster;

#[test]
fn kubectl_lists_the_helm_release_secrets_by_label() {
    let cluster = Cluster::start();
    let list = cluster.json(&["get", "secrets", "-A", "-l", "owner=helm"]);
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
    let deployed = cluster.kubectl_ok(&[
        "get",
        "secrets",
        "-n",
        "middleware",
        "-l",
        "owner=helm,status=deployed",
        "-o",
        "name",
    ]);
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
