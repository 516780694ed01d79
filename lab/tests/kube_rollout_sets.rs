//! The real `kubectl` rolling StatefulSets and DaemonSets on the
//! Kubernetes API simulator: `set image` + `rollout status`, pods of the
//! new ControllerRevision, `rollout history`, `rollout undo`, and a broken
//! image holding a StatefulSet's rollout at its first pod.

use std::time::{Duration, Instant};

use serde_json::Value;

mod support;

use support::Cluster;

impl Cluster {
    /// The pods of `app`: name, image, revision hash label, ready.
    fn pods_of(&self, app: &str) -> Vec<Pod> {
        let pods = self.json(&["get", "pods", "-l", &format!("app={app}")]);
        pods["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|pod| Pod {
                name: text(&pod["metadata"]["name"]),
                image: text(&pod["spec"]["containers"][0]["image"]),
                hash: text(&pod["metadata"]["labels"]["controller-revision-hash"]),
                ready: pod["status"]["containerStatuses"][0]["ready"] == true,
                waiting: text(&pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]),
            })
            .collect()
    }

    /// The ControllerRevisions of `app`: name, revision number, hash label.
    fn revisions_of(&self, app: &str) -> Vec<(String, i64, String)> {
        let revisions = self.json(&["get", "controllerrevisions", "-l", &format!("app={app}")]);
        let mut revisions: Vec<(String, i64, String)> = revisions["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|revision| {
                (
                    text(&revision["metadata"]["name"]),
                    revision["revision"].as_i64().unwrap_or(0),
                    text(&revision["metadata"]["labels"]["controller-revision-hash"]),
                )
            })
            .collect();
        revisions.sort_by_key(|revision| revision.1);
        revisions
    }

    /// Waits (up to 20 s) until `check` holds.
    fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[derive(Debug)]
struct Pod {
    name: String,
    image: String,
    hash: String,
    ready: bool,
    waiting: String,
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// The revision numbers `kubectl rollout history` lists.
fn history_revisions(history: &str) -> Vec<i64> {
    history
        .lines()
        .skip_while(|line| !line.starts_with("REVISION"))
        .skip(1)
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

const REGISTRY: &str = "registry.acme.example/platform";

#[test]
fn kubectl_rolls_a_stateful_set_with_revisions_and_undo_rolls_it_back() {
    let cluster = Cluster::start().in_namespace("acme-prod");
    let old_image = format!("{REGISTRY}/search-indexer:2.3.7");
    let new_image = format!("{REGISTRY}/search-indexer:2.4.0");
    let seeded = cluster.revisions_of("search-indexer");
    assert_eq!(seeded.len(), 1, "{seeded:?}");
    cluster.kubectl_ok(&[
        "set",
        "image",
        "sts/search-indexer",
        &format!("search-indexer={new_image}"),
    ]);
    let status = cluster.kubectl_ok(&["rollout", "status", "sts/search-indexer", "--timeout=60s"]);
    let set = cluster.json(&["get", "sts/search-indexer"]);
    let update_revision = text(&set["status"]["updateRevision"]);
    assert!(
        status.contains(&format!(
            "statefulset rolling update complete 2 pods at revision {update_revision}..."
        )),
        "{status}"
    );
    assert_eq!(set["status"]["currentRevision"], update_revision.as_str());
    assert_ne!(update_revision, seeded[0].0);
    assert_eq!(
        set["status"]["observedGeneration"],
        set["metadata"]["generation"]
    );
    for field in [
        "replicas",
        "readyReplicas",
        "currentReplicas",
        "updatedReplicas",
    ] {
        assert_eq!(set["status"][field], 2, "{field}: {}", set["status"]);
    }
    let pods = cluster.pods_of("search-indexer");
    assert_eq!(pods.len(), 2, "{pods:?}");
    for pod in &pods {
        assert_eq!(pod.image, new_image, "{pods:?}");
        assert_eq!(pod.hash, update_revision, "{pods:?}");
        assert!(pod.ready, "{pods:?}");
    }
    let revisions = cluster.revisions_of("search-indexer");
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert_eq!(revisions[1].0, update_revision);
    assert_eq!(revisions[1].1, 2);
    assert_eq!(
        format!("search-indexer-{}", revisions[1].2),
        update_revision,
        "the revision's hash label"
    );
    let history = cluster.kubectl_ok(&["rollout", "history", "sts/search-indexer"]);
    assert_eq!(history_revisions(&history), vec![1, 2], "{history}");
    let second = cluster.kubectl_ok(&["rollout", "history", "sts/search-indexer", "--revision=2"]);
    assert!(second.contains(&new_image), "{second}");

    let undone = cluster.kubectl_ok(&["rollout", "undo", "sts/search-indexer"]);
    assert!(undone.contains("rolled back"), "{undone}");
    cluster.kubectl_ok(&["rollout", "status", "sts/search-indexer", "--timeout=60s"]);
    let set = cluster.json(&["get", "sts/search-indexer"]);
    assert_eq!(set["status"]["updateRevision"], seeded[0].0.as_str());
    assert_eq!(set["status"]["currentRevision"], seeded[0].0.as_str());
    cluster.eventually("the old image back on both pods", || {
        let pods = cluster.pods_of("search-indexer");
        pods.len() == 2
            && pods
                .iter()
                .all(|pod| pod.image == old_image && pod.hash == seeded[0].0 && pod.ready)
    });
    // The old revision came back as the newest, with the next number.
    let history = cluster.kubectl_ok(&["rollout", "history", "sts/search-indexer"]);
    assert_eq!(history_revisions(&history), vec![2, 3], "{history}");
    let revisions = cluster.revisions_of("search-indexer");
    assert_eq!(
        revisions.last().map(|r| (r.0.as_str(), r.1)),
        Some((seeded[0].0.as_str(), 3))
    );
}

#[test]
fn kubectl_rolls_a_daemon_set_node_by_node_and_undo_rolls_it_back() {
    let cluster = Cluster::start().in_namespace("acme-prod");
    let old_image = format!("{REGISTRY}/node-agent:1.9.2");
    let new_image = format!("{REGISTRY}/node-agent:1.10.0");
    let generation = cluster.json(&["get", "ds/node-agent"])["metadata"]["generation"]
        .as_i64()
        .expect("generation");
    cluster.kubectl_ok(&[
        "set",
        "image",
        "ds/node-agent",
        &format!("node-agent={new_image}"),
    ]);
    let status = cluster.kubectl_ok(&["rollout", "status", "ds/node-agent", "--timeout=60s"]);
    assert!(
        status.contains("daemon set \"node-agent\" successfully rolled out"),
        "{status}"
    );
    let set = cluster.json(&["get", "ds/node-agent"]);
    assert_eq!(set["metadata"]["generation"], generation + 1);
    assert_eq!(set["status"]["observedGeneration"], generation + 1);
    for field in [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "updatedNumberScheduled",
        "numberReady",
        "numberAvailable",
    ] {
        assert_eq!(set["status"][field], 3, "{field}: {}", set["status"]);
    }
    let revisions = cluster.revisions_of("node-agent");
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    let new_hash = revisions[1].2.clone();
    assert_eq!(revisions[1].0, format!("node-agent-{new_hash}"));
    let pods = cluster.pods_of("node-agent");
    assert_eq!(pods.len(), 3, "one per node: {pods:?}");
    for pod in &pods {
        assert_eq!(
            (pod.image.as_str(), pod.hash.as_str(), pod.ready),
            (new_image.as_str(), new_hash.as_str(), true),
            "{pods:?}"
        );
    }
    let nodes = cluster.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "app=node-agent",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let mut nodes: Vec<&str> = nodes.split_whitespace().collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["acme-master-1", "acme-worker-1", "acme-worker-2"]);
    let history = cluster.kubectl_ok(&["rollout", "history", "ds/node-agent"]);
    assert_eq!(history_revisions(&history), vec![1, 2], "{history}");

    let undone = cluster.kubectl_ok(&["rollout", "undo", "ds/node-agent"]);
    assert!(undone.contains("rolled back"), "{undone}");
    cluster.kubectl_ok(&["rollout", "status", "ds/node-agent", "--timeout=60s"]);
    cluster.eventually("the old image back on every node", || {
        let pods = cluster.pods_of("node-agent");
        pods.len() == 3 && pods.iter().all(|pod| pod.image == old_image && pod.ready)
    });
    let history = cluster.kubectl_ok(&["rollout", "history", "ds/node-agent"]);
    assert_eq!(history_revisions(&history), vec![2, 3], "{history}");
}

#[test]
fn a_broken_image_holds_a_stateful_set_at_its_first_pod() {
    let cluster = Cluster::start().in_namespace("acme-prod");
    let old_image = format!("{REGISTRY}/search-indexer:2.3.7");
    let broken = format!("{REGISTRY}/search-indexer:2.4.0-broken");
    cluster.kubectl_ok(&[
        "set",
        "image",
        "sts/search-indexer",
        &format!("search-indexer={broken}"),
    ]);
    let status = cluster.kubectl(&["rollout", "status", "sts/search-indexer", "--timeout=5s"]);
    assert!(!status.status.success(), "{status:?}");
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(stderr.contains("timed out"), "{stderr}");
    cluster.eventually("the highest pod crash-looping, restarted", || {
        let pods = cluster.json(&["get", "pod", "search-indexer-1"]);
        let container = &pods["status"]["containerStatuses"][0];
        container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
            && container["restartCount"].as_i64().unwrap_or(0) >= 2
    });
    let pods = cluster.pods_of("search-indexer");
    let set = cluster.json(&["get", "sts/search-indexer"]);
    let update_revision = text(&set["status"]["updateRevision"]);
    let by_name = |name: &str| pods.iter().find(|pod| pod.name == name).expect(name);
    let first_bad = by_name("search-indexer-1");
    assert_eq!(
        (
            first_bad.image.as_str(),
            first_bad.hash.as_str(),
            first_bad.ready
        ),
        (broken.as_str(), update_revision.as_str(), false)
    );
    assert_eq!(first_bad.waiting, "CrashLoopBackOff");
    // The rollout stopped there: pod 0 still serves the old template.
    let untouched = by_name("search-indexer-0");
    assert_eq!(
        (untouched.image.as_str(), untouched.ready),
        (old_image.as_str(), true)
    );
    assert_ne!(set["status"]["currentRevision"], update_revision.as_str());
    assert_eq!(set["status"]["updatedReplicas"], 1, "{}", set["status"]);
    assert_eq!(set["status"]["readyReplicas"], 1, "{}", set["status"]);
    assert_eq!(set["status"]["currentReplicas"], 1, "{}", set["status"]);
}
