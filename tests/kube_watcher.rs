//! kube-rs's watcher against the lab's API simulator: it re-lists after
//! 410 Gone, and backs off and recovers after 503s. sitedeck's Kubernetes
//! views stand on this behaviour.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde_json::json;
use sitedeck_lab::kube::KubeSim;
use sitedeck_lab::kube::faults::{Fault, Injection};

/// The pods of the namespace the tests watch.
const PODS_PATH: &str = "/api/v1/namespaces/acme-prod/pods";

async fn client(sim: &KubeSim) -> Client {
    let kubeconfig = Kubeconfig::read_from(sim.kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn a_pod(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "acme-prod", "labels": {"app": "watcher-test"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    })
}

/// The name of a pod event, for matching.
fn applied_name(event: &Event<Pod>) -> Option<String> {
    match event {
        Event::Apply(pod) | Event::InitApply(pod) => pod.metadata.name.clone(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_relists_after_410_gone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = KubeSim::start(dir.path()).expect("simulator");
    let pods: Api<Pod> = Api::namespaced(client(&sim).await, "acme-prod");
    // A short server-side timeout makes the watcher come back often with
    // its last resourceVersion; the next such watch is told 410 Gone.
    let config = watcher::Config::default().timeout(1);
    let mut events = watcher::watcher(pods, config).boxed();
    let mut inits = 0;
    let mut lists_done = 0;
    let mut expired = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while lists_done < 2 {
        assert!(Instant::now() < deadline, "no re-list after the 410");
        let next = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on");
        match next {
            Ok(Event::Init) => inits += 1,
            Ok(Event::InitDone) => {
                lists_done += 1;
                if lists_done == 1 {
                    sim.faults()
                        .inject(Injection::new(Fault::Gone, 1).on_paths(PODS_PATH));
                }
            }
            Ok(_) => {}
            // The watcher reports the 410, then re-lists on its own.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => expired += 1,
            Err(other) => panic!("unexpected watcher error: {other}"),
        }
    }
    assert_eq!(expired, 1, "the 410 reached the watcher");
    assert_eq!(inits, 2, "it started over");
    assert_eq!(sim.faults().remaining(), 0, "the 410 was served");
    let lists = sim
        .requests()
        .iter()
        .filter(|r| r.path == PODS_PATH && r.param("watch").is_none())
        .count();
    assert_eq!(lists, 2, "the first list and the one after the 410");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_backs_off_on_503_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = KubeSim::start(dir.path()).expect("simulator");
    let pods: Api<Pod> = Api::namespaced(client(&sim).await, "acme-prod");
    // kube's client retries a 503 itself, with a delay that doubles from
    // 5 ms: six of them cost it about 300 ms, and the watcher sees none.
    sim.faults()
        .inject(Injection::new(Fault::Unavailable, 6).on_paths(PODS_PATH));
    let started = Instant::now();
    let mut events = watcher::watcher(pods, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut created = false;
    let mut errors = 0;
    let deadline = started + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the watcher never saw the new pod"
        );
        let next = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("an event or an error in time")
            .expect("the stream goes on");
        match next {
            // The 503s come through as errors while the watcher backs off.
            Err(_) => errors += 1,
            Ok(Event::InitDone) if !created => {
                sim.create(a_pod("watcher-test-1")).expect("create");
                created = true;
            }
            Ok(event) if applied_name(&event).as_deref() == Some("watcher-test-1") => break,
            Ok(_) => {}
        }
    }
    assert_eq!(sim.faults().remaining(), 0, "every 503 was served");
    assert_eq!(errors, 0, "the client's retries absorbed the 503s");
    let lists = sim
        .requests()
        .iter()
        .filter(|r| r.path == PODS_PATH && r.param("watch").is_none())
        .count();
    assert!(lists >= 7, "six 503s and the list that worked: {lists}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the retries came too fast: {:?}",
        started.elapsed()
    );
}
