//! `sitedeck nodes` against real sshd nodes behind a real sshd bastion:
//! unknown host keys refuse the run and name their fingerprints,
//! `--accept NAME=FINGERPRINT` records them (a wrong fingerprint records
//! nothing), then facts and clocks come, a skewed clock with its skew.

use sitedeck_lab::chrony::NtpServer;
use sitedeck_lab::sshd::{NodeOptions, SshNode};
use support::headless::sitedeck;

mod support;

/// The SHA256 fingerprint of a node's host key, as the operator reads it
/// on the node.
fn fingerprint(node: &SshNode) -> String {
    node.host_key_fingerprint().expect("a fingerprint")
}

#[test]
fn nodes_behind_the_bastion_report_facts_and_clock_skew_once_their_keys_are_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bastion = SshNode::start(&dir.path().join("bastion")).expect("bastion");
    // The site's NTP server, which n1's chronyd follows.
    let ntp = NtpServer::start(&dir.path().join("ntp")).expect("chronyd");
    let n1 = SshNode::start_with(
        &dir.path().join("n1"),
        NodeOptions {
            ntp_server: Some(ntp.address),
            ..NodeOptions::default()
        },
    )
    .expect("node");
    let n2 = SshNode::start_skewed(&dir.path().join("n2"), 800).expect("node");
    // One key for the bastion and the nodes, as a site has.
    for node in [&n1, &n2] {
        std::fs::copy(
            bastion.client_key.with_extension("pub"),
            node.dir.join("authorized_keys"),
        )
        .expect("authorized");
    }
    let site = dir.path().join("site.yaml");
    std::fs::write(
        &site,
        format!(
            "name: nodes-test\nenvironment: poc\ntime:\n  ntp_servers: ['{ntp}']\nssh:\n  user: {user}\n  identity: {key}\n  bastion:\n    host: 127.0.0.1\n    port: {bport}\n    user: {user}\n    identity: {key}\n  nodes:\n    - {{name: n1, host: 127.0.0.1, port: {p1}}}\n    - {{name: n2, host: 127.0.0.1, port: {p2}}}\n",
            user = bastion.user,
            key = bastion.client_key.display(),
            bport = bastion.port,
            p1 = n1.port,
            p2 = n2.port,
            ntp = ntp.address,
        ),
    )
    .expect("profile");

    // Unknown keys: nothing read, and the bastion's fingerprint named.
    let (code, stdout, _) = sitedeck(dir.path(), &site, &["nodes"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains(&fingerprint(&bastion)), "{stdout}");
    // A fingerprint that is not the key's records nothing.
    let (code, _, stderr) = sitedeck(
        dir.path(),
        &site,
        &[
            "nodes",
            "--accept",
            &format!("bastion={}", fingerprint(&n1)),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nothing recorded"), "{stderr}");
    // Several keys in one run, the bastion's first; a fingerprint without
    // its `SHA256:` is the same fingerprint.
    let bare = fingerprint(&n2);
    let bare = bare.strip_prefix("SHA256:").expect("a SHA256 fingerprint");
    let (code, stdout, stderr) = sitedeck(
        dir.path(),
        &site,
        &[
            "nodes",
            "--accept",
            &format!("bastion={}", fingerprint(&bastion)),
            "--accept",
            &format!("n1={}", fingerprint(&n1)),
            "--accept",
            &format!("n2={bare}"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout.matches("recorded ssh-ed25519").count(),
        3,
        "{stdout}"
    );

    let (code, stdout, stderr) = sitedeck(dir.path(), &site, &["nodes", "--format", "json"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let nodes = report["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2);
    for node in nodes {
        assert!(node["error"].is_null(), "{node}");
        assert_eq!(node["facts"]["os_family"], "debian", "{node}");
    }
    let offset = |i: usize| nodes[i]["time"]["offset_ms"].as_f64().expect("offset");
    assert!(offset(0).abs() <= 50.0, "{stdout}");
    assert!((offset(1) - 800.0).abs() <= 50.0, "{stdout}");
    let skew = report["max_skew_ms"].as_f64().expect("skew");
    assert!((skew - 800.0).abs() <= 100.0, "{skew}");
    // The jump was used: the bastion forwarded to both nodes.
    let log = std::fs::read_to_string(bastion.dir.join("sshd.log")).expect("log");
    assert!(log.contains(&format!("port {}", n2.port)), "{log}");

    let (code, stdout, _) = sitedeck(dir.path(), &site, &["nodes"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("largest clock skew between nodes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("time: chrony, synced to 127.0.0.1"),
        "{stdout}"
    );

    // status has the nodes and the site's time; 800 ms apart is critical.
    let (code, stdout, stderr) = sitedeck(dir.path(), &site, &["status", "--format", "json"]);
    assert_eq!(code, 1, "a critical skew: {stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        status["nodes"].as_array().map(Vec::len),
        Some(2),
        "{stdout}"
    );
    assert_eq!(status["nodes"][0]["facts"]["os_family"], "debian");
    let time = &status["time"];
    assert_eq!(time["severity"], "critical", "{time}");
    assert_eq!(
        (time["warn_ms"].as_f64(), time["critical_ms"].as_f64()),
        (Some(100.0), Some(500.0))
    );
    let skew = time["max_skew_ms"].as_f64().expect("skew");
    assert!((skew - 800.0).abs() <= 100.0, "{skew}");
    assert_eq!(time["nodes"][0]["daemon"]["daemon"], "chrony", "{time}");
    assert!(
        time["nodes"][1]["offset_ms"]
            .as_f64()
            .is_some_and(|o| (o - 800.0).abs() <= 50.0)
    );
    assert!(
        time["nodes"][1]["uncertainty_ms"].as_f64().is_some(),
        "{time}"
    );
    assert_eq!(time["nodes"][1]["daemon"]["daemon"], "none", "{time}");
    assert_eq!(time["ntp"][0]["reading"]["stratum"], 8, "{time}");
    let findings = time["findings"].to_string();
    assert!(findings.contains("n2 runs no time daemon"), "{findings}");
    assert!(findings.contains("ms apart"), "{findings}");
    let (_, table, _) = sitedeck(dir.path(), &site, &["status"]);
    assert!(
        table.contains("time: largest skew between nodes"),
        "{table}"
    );
    assert!(table.contains("NTP 127.0.0.1:"), "{table}");
}
