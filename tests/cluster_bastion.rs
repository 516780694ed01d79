//! The Kubernetes API through the bastion (`cluster.via: bastion`): the
//! simulator serves inside a lab network that only the bastion (a real
//! sshd) reaches; sitedeck opens the SSH forward itself, and TLS is still
//! checked against the API server's own address.

use std::time::Duration;

use sitedeck::cluster::connect::{ClusterTarget, connect};
use sitedeck::nodes::access::BastionRoute;
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};
use sitedeck_lab::netns::SiteNetwork;
use sitedeck_lab::sshd::{NodeOptions, SshNode};
use support::headless::sitedeck;
use support::ssh::{key_auth, target, trust};

mod support;

/// A site: the API server inside, a bastion in front of it.
struct Site {
    sim: KubeSim,
    bastion: SshNode,
    _network: SiteNetwork,
}

fn site(dir: &std::path::Path) -> Site {
    let mut network = SiteNetwork::create().expect("a lab network (root, iproute2)");
    let inside = network.add_inside_host().expect("an inside host");
    let sim = KubeSim::start_with(
        &dir.join("kube"),
        KubeSimOptions {
            log_interval: None,
            // Only the namespaces every cluster has: nothing to warn about.
            seed_site: false,
            host: Some(inside),
            ..KubeSimOptions::default()
        },
    )
    .expect("simulator");
    let bastion = SshNode::start_with(
        &dir.join("bastion"),
        NodeOptions {
            host: Some(network.bastion()),
            ..NodeOptions::default()
        },
    )
    .expect("bastion");
    Site {
        sim,
        bastion,
        _network: network,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_server_only_the_bastion_reaches_is_reached_through_it_with_tls_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let site = site(dir.path());
    let known = support::ssh::known(dir.path());
    trust(&known, &site.bastion);
    let direct = ClusterTarget {
        kubeconfig: Some(site.sim.kubeconfig().to_path_buf()),
        context: None,
        bastion: None,
    };
    let connection = connect(&direct, &[]).await.expect("a client");
    let reached = tokio::time::timeout(
        Duration::from_secs(20),
        connection.client.apiserver_version(),
    )
    .await;
    assert!(
        !matches!(reached, Ok(Ok(_))),
        "the API server is reachable from here"
    );

    let through = ClusterTarget {
        bastion: Some(BastionRoute {
            target: target(&site.bastion),
            auth: key_auth(&site.bastion),
            known: known.clone(),
        }),
        ..direct.clone()
    };
    let connection = connect(&through, &[]).await.expect("through the bastion");
    assert!(
        connection
            .server
            .contains(&format!("via bastion {}", target(&site.bastion))),
        "{}",
        connection.server
    );
    let version = connection
        .client
        .apiserver_version()
        .await
        .expect("the API through the bastion");
    assert!(version.git_version.starts_with('v'), "{version:?}");
    let log = std::fs::read_to_string(site.bastion.dir.join("sshd.log")).expect("log");
    assert!(log.contains("direct-tcpip"), "{log}");

    // The bastion restarts: the same client goes on through a new session.
    let Site {
        sim,
        bastion,
        _network,
    } = site;
    let bastion = bastion.restart().expect("bastion back");
    let mut answered = None;
    for _ in 0..20 {
        match connection.client.apiserver_version().await {
            Ok(version) => {
                answered = Some(version);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    assert!(answered.is_some(), "no answer after the bastion restarted");
    let site = Site {
        sim,
        bastion,
        _network,
    };

    // The certificate is still checked, against the name the kubeconfig
    // gives: one the certificate is not for is refused.
    let kubeconfig = std::fs::read_to_string(site.sim.kubeconfig()).expect("kubeconfig");
    let wrong = dir.path().join("wrong-name.kubeconfig");
    std::fs::write(
        &wrong,
        kubeconfig.replace(
            "    server:",
            "    tls-server-name: api.elsewhere.example\n    server:",
        ),
    )
    .expect("write");
    let misnamed = ClusterTarget {
        kubeconfig: Some(wrong),
        ..through.clone()
    };
    let connection = connect(&misnamed, &[]).await.expect("a client");
    let error = connection
        .client
        .apiserver_version()
        .await
        .expect_err("a certificate for another name");
    let said = format!("{error:?}");
    assert!(
        said.contains("NotValidForName") || said.contains("certificate"),
        "{said}"
    );
}

#[test]
fn status_reads_the_cluster_through_the_bastion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let site = site(dir.path());
    // sitedeck's own known_hosts, as `nodes --accept bastion=…` writes it.
    let known = sitedeck::nodes::ssh::KnownHosts {
        user: None,
        extra: Vec::new(),
        own: dir.path().join("state/known_hosts"),
    };
    trust(&known, &site.bastion);
    let profile = dir.path().join("site.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: tunnel-test\nenvironment: poc\ncluster:\n  kubeconfig: {}\n  via: bastion\n\
             ssh:\n  bastion:\n    host: {}\n    user: {}\n    identity: {}\n",
            site.sim.kubeconfig().display(),
            site.bastion.host,
            site.bastion.user,
            site.bastion.client_key.display(),
        ),
    )
    .expect("profile");
    let (code, stdout, stderr) = sitedeck(dir.path(), &profile, &["status", "--format", "json"]);
    let status: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let api = status["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["kind"] == "kubernetes")
        .cloned()
        .unwrap_or_default();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(api["state"], "up", "{api}");
    assert!(
        api["detail"]
            .as_str()
            .is_some_and(|d| d.contains("(via bastion ")),
        "the API row says the way: {api}"
    );
}
