//! `ssh.nodes: from_cluster`: the nodes are the Kubernetes API
//! simulator's Nodes, each reached at its InternalIP, which the lab points
//! at its real sshd nodes in a lab network (only the real sshd bastion
//! reaches them); a Node without an InternalIP keeps a row saying so; a
//! cluster that cannot be reached is one clear error, not "no nodes".

use std::process::Command;

use sitedeck_lab::kube::{KubeSim, KubeSimOptions};
use sitedeck_lab::nodes::LabNodes;
use support::headless::sitedeck;

mod support;

/// The simulator with the lab's seeded site (its three Nodes), quiet.
fn simulator(dir: &std::path::Path) -> KubeSim {
    KubeSim::start_with(
        dir,
        KubeSimOptions {
            log_interval: None,
            ..KubeSimOptions::default()
        },
    )
    .expect("simulator")
}

#[test]
fn the_clusters_nodes_are_read_over_ssh_through_the_bastion() {
    let home = tempfile::tempdir().expect("temp dir");
    let nodes = LabNodes::start(&home.path().join("nodes")).expect("the lab's nodes");
    assert!(nodes.networked(), "a lab network (root, iproute2)");
    let kube = simulator(&home.path().join("kube"));
    assert_eq!(nodes.point_cluster_nodes(&kube).expect("pointed"), 3);
    // A Node whose status has no InternalIP (only its host name).
    kube.create(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "acme-edge-1"},
        "status": {"addresses": [{"type": "Hostname", "address": "acme-edge-1"}]},
    }))
    .expect("a Node without an address");
    nodes.write_known_hosts(home.path()).expect("known_hosts");
    let bastion = &nodes.bastion;
    let site = home.path().join("site.yaml");
    std::fs::write(
        &site,
        format!(
            "name: from-cluster\nenvironment: poc\ncluster:\n  kubeconfig: {kubeconfig}\n\
             ssh:\n  user: {user}\n  identity: {key}\n  known_hosts: known_hosts\n  port: 22\n\
             \x20 bastion:\n    host: {bhost}\n    port: {bport}\n    user: {user}\n    identity: {key}\n\
             \x20 nodes: from_cluster\n",
            kubeconfig = kube.kubeconfig().display(),
            user = bastion.user,
            key = bastion.client_key.display(),
            bhost = bastion.host,
            bport = bastion.port,
        ),
    )
    .expect("profile");

    // Real kubectl reads the Nodes the lab pointed, as sitedeck does.
    let kubectl = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kube.kubeconfig())
        .args(["get", "nodes", "-o", "wide"])
        .env("HOME", home.path())
        .output()
        .expect("kubectl");
    let table = String::from_utf8_lossy(&kubectl.stdout);
    assert!(kubectl.status.success(), "{kubectl:?}");
    for (name, node) in &nodes.nodes {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(name.as_str()) && l.contains(&node.host)),
            "{table}"
        );
    }

    let (code, stdout, stderr) = sitedeck(home.path(), &site, &["nodes", "--format", "json"]);
    assert_eq!(code, 1, "the Node without an address: {stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let read = report["nodes"].as_array().expect("nodes");
    let names: Vec<&str> = read.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "acme-edge-1",
            "acme-master-1",
            "acme-worker-1",
            "acme-worker-2"
        ]
    );
    for node in &read[1..] {
        assert!(node["error"].is_null(), "{node}");
        assert_eq!(node["facts"]["os_family"], "debian", "{node}");
    }
    for (name, node) in &nodes.nodes {
        let reported = read
            .iter()
            .find(|n| n["name"] == name.as_str())
            .expect(name);
        assert_eq!(
            reported["target"],
            format!("{}@{}", node.user, node.host),
            "reached at its InternalIP on ssh.port: {reported}"
        );
    }
    let edge = read[0]["error"].as_str().expect("an error");
    assert!(edge.contains("no InternalIP"), "{edge}");
    // acme-worker-1 is 350 ms ahead, as the lab skews it.
    let offset = read[2]["time"]["offset_ms"].as_f64().expect("offset");
    assert!((offset - 350.0).abs() <= 60.0, "{offset}");
    // Through the bastion, to the nodes' own addresses.
    let log = std::fs::read_to_string(bastion.dir.join("sshd.log")).expect("log");
    for (_, node) in &nodes.nodes {
        assert!(
            log.contains(&format!("target {} port 22", node.host)),
            "{} not reached through the bastion: {log}",
            node.host
        );
    }

    // status has the same nodes, in its table too.
    let (_, stdout, _) = sitedeck(home.path(), &site, &["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        status["nodes"].as_array().map(Vec::len),
        Some(4),
        "{stdout}"
    );
    let (_, table, _) = sitedeck(home.path(), &site, &["status"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("node acme-master-1: ") && !l.contains("ERROR")),
        "{table}"
    );
    assert!(table.contains("node acme-edge-1: ERROR"), "{table}");
}

#[test]
fn a_cluster_that_cannot_be_reached_is_one_clear_error_not_no_nodes() {
    let home = tempfile::tempdir().expect("temp dir");
    // Nothing listens there.
    let port = sitedeck_lab::free_port().expect("a free port");
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: gone\n\
             clusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\n\
             users:\n- name: ops\n  user:\n    token: not-a-secret\n\
             contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: ops\n"
        ),
    )
    .expect("kubeconfig");
    let site = home.path().join("site.yaml");
    std::fs::write(
        &site,
        "name: gone\nenvironment: poc\ncluster:\n  kubeconfig: kubeconfig\nssh:\n  user: ops\n  nodes: from_cluster\n",
    )
    .expect("profile");

    let (code, stdout, stderr) = sitedeck(home.path(), &site, &["nodes"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("the nodes could not be listed from the cluster"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("refused"),
        "says why: {stderr}"
    );

    let (code, stdout, _) = sitedeck(home.path(), &site, &["status", "--format", "json"]);
    assert_eq!(code, 1, "{stdout}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let nodes = status["nodes"].as_array().expect("a nodes section");
    assert_eq!(nodes.len(), 1, "{stdout}");
    assert_eq!(nodes[0]["name"], "from_cluster");
    assert!(
        nodes[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("the nodes could not be listed from the cluster")),
        "{stdout}"
    );
}
