//! Pods' logs over the lab's Kubernetes API simulator (which serves
//! `pods/log` as the kubelet does behind the API server): a followed
//! stream the API drops resumes without repeats or gaps, and `sitedeck
//! logs` follows one request's trace id across three services.

use std::path::Path;
use std::time::Duration;

use sitedeck::cluster::connect::{ClusterTarget, connect};
use sitedeck::logs::buffer::LogLine;
use sitedeck::logs::stream::{LogSource, ReadOptions, ReadProgress, read};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};
use tokio::sync::mpsc;

mod support;

fn simulator(dir: &Path, log_interval: Option<Duration>) -> KubeSim {
    KubeSim::start_with(
        dir,
        KubeSimOptions {
            log_interval,
            ..KubeSimOptions::default()
        },
    )
    .expect("simulator")
}

async fn client(sim: &KubeSim) -> kube::Client {
    let target = ClusterTarget {
        kubeconfig: Some(sim.kubeconfig().to_path_buf()),
        context: None,
        bastion: None,
    };
    connect(&target, &[]).await.expect("connect").client
}

/// The next `count` lines, or what came within 20 s.
async fn receive(lines: &mut mpsc::Receiver<LogLine>, count: usize) -> Vec<LogLine> {
    let mut got = Vec::new();
    while got.len() < count {
        match tokio::time::timeout(Duration::from_secs(20), lines.recv()).await {
            Ok(Some(line)) => got.push(line),
            _ => break,
        }
    }
    got
}

fn texts(lines: &[LogLine], pod: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| &*l.pod == pod)
        .map(|l| l.raw.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_followed_stream_the_api_drops_resumes_without_repeats_or_gaps() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Only the lines the test writes.
    let sim = simulator(dir.path(), None);
    let client = client(&sim).await;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), "acme-prod");
    let listed = pods
        .list(&kube::api::ListParams::default().labels("app=api-gateway"))
        .await
        .expect("pods");
    let names: Vec<String> = listed
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    let [a, b] = names.as_slice() else {
        panic!("two api-gateway pods: {names:?}");
    };

    let (tx, mut rx) = mpsc::channel(64);
    let options = ReadOptions {
        follow: true,
        ..ReadOptions::default()
    };
    let source = LogSource::Selector {
        namespace: "acme-prod".into(),
        selector: "app=api-gateway".into(),
    };
    let reading = tokio::spawn(read(client, source, options, tx, Default::default()));
    // Three lines written at once share one timestamp: a resumed stream
    // starts at their second and must skip exactly those.
    sim.append_log("acme-prod", a, "", b"a1\na2\na3\n")
        .expect("append");
    sim.append_log("acme-prod", b, "", b"b1\n").expect("append");
    let first = receive(&mut rx, 4).await;
    assert_eq!(texts(&first, a), ["a1", "a2", "a3"]);
    assert_eq!(texts(&first, b), ["b1"]);

    // The API restarts: every stream ends. Lines written meanwhile come
    // once the streams are resumed, and nothing read comes again.
    sim.faults().restart(Duration::from_millis(400));
    sim.append_log("acme-prod", a, "", b"a4\na5\n")
        .expect("append");
    let second = receive(&mut rx, 2).await;
    assert_eq!(texts(&second, a), ["a4", "a5"], "{second:?}");
    sim.append_log("acme-prod", b, "", b"b2\n").expect("append");
    let third = receive(&mut rx, 1).await;
    assert_eq!(texts(&third, b), ["b2"], "{third:?}");
    // Any bytes: invalid UTF-8 comes lossily and does not end the stream.
    sim.append_log(
        "acme-prod",
        a,
        "",
        b"bad \xff\xfe line\n\x1b]52;c;ZXZpbA==\x07\na6\n",
    )
    .expect("append");
    let fourth = receive(&mut rx, 3).await;
    assert_eq!(
        texts(&fourth, a),
        [
            "bad \u{fffd}\u{fffd} line",
            "\u{1b}]52;c;ZXZpbA==\u{7}",
            "a6"
        ]
    );
    let shown = sitedeck::logs::print::text(&fourth[1], false);
    assert!(!shown.chars().any(char::is_control), "{shown}");
    let more = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
    assert!(more.is_err(), "a repeated line: {more:?}");
    drop(rx);
    let ended = tokio::time::timeout(Duration::from_secs(10), reading).await;
    assert!(
        matches!(ended, Ok(Ok(Ok(())))),
        "reading ends with the receiver"
    );
}

/// `sitedeck logs` with `args`, against the simulator's cluster.
fn logs_command(home: &Path, site: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    support::headless::sitedeck(home, site, &all)
}

/// `--format json` output, a value per line.
fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_follows_one_trace_across_three_services_in_time_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Requests pass through the site every 200 ms, each logging its trace
    // id in every service it touches.
    let sim = simulator(&dir.path().join("kube"), Some(Duration::from_millis(200)));
    let site = dir.path().join("site.yaml");
    std::fs::write(
        &site,
        format!(
            "name: logs-test\nenvironment: poc\ncluster:\n  kubeconfig: {}\n",
            sim.kubeconfig().display()
        ),
    )
    .expect("profile");

    let (code, stdout, stderr) = logs_command(
        dir.path(),
        &site,
        &[
            "--workload",
            "acme-prod/billing-service",
            "--since",
            "10m",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let lines = json_lines(&stdout);
    assert!(
        !lines.is_empty(),
        "billing-service logged nothing: {stderr}"
    );
    assert!(lines.iter().all(|l| {
        l["pod"]
            .as_str()
            .is_some_and(|p| p.starts_with("billing-service-"))
    }));
    // A payment's trace: those pass through order-service too (an
    // invoice lookup goes from the gateway to billing alone).
    let trace = lines
        .iter()
        .rev()
        .filter(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("payment "))
        })
        .find_map(|l| l["trace_id"].as_str())
        .expect("a payment line with a trace id")
        .to_owned();

    // The pivot: that trace from every pod of the namespace, by the
    // 16 characters the text output shows.
    let (code, stdout, stderr) = logs_command(
        dir.path(),
        &site,
        &[
            "--trace",
            &trace[..16],
            "--namespace",
            "acme-prod",
            "--format",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let lines = json_lines(&stdout);
    let services: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter_map(|l| l["fields"]["service"].as_str())
        .collect();
    assert!(
        ["api-gateway", "order-service", "billing-service"]
            .iter()
            .all(|s| services.contains(s)),
        "{services:?}\n{stdout}"
    );
    assert!(lines.iter().all(|l| l["trace_id"] == trace.as_str()));
    let times: Vec<&str> = lines.iter().filter_map(|l| l["time"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted, "merged by time");

    // The same as text: one line each, the trace id's start in every one.
    let (code, stdout, _) = logs_command(
        dir.path(),
        &site,
        &["--trace", &trace[..16], "--namespace", "acme-prod"],
    );
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), lines.len());
    assert!(stdout.lines().all(|l| l.contains(&trace[..16])), "{stdout}");

    // A workload that is not there is said, with exit 1.
    let (code, _, stderr) = logs_command(dir.path(), &site, &["--workload", "acme-prod/nope"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no Deployment, StatefulSet or DaemonSet acme-prod/nope"),
        "{stderr}"
    );
}

/// A running pod of `app=batch` in `acme-prod`.
fn batch_pod(name: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "acme-prod", "labels": {"app": "batch"}},
        "spec": {"containers": [{"name": "app", "image": "batch:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                                          "image": "batch:1", "state": {"running": {}}}]},
    })
}

/// Waits up to 20 s for the progress to satisfy `done`.
async fn progress_until(
    progress: &ReadProgress,
    what: &str,
    done: impl Fn(&sitedeck::logs::stream::Progress) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(&progress.get()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {:?}",
            progress.get()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_past_the_limit_wait_a_finished_pod_frees_its_slot_and_a_recreated_pod_is_read_again()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = simulator(dir.path(), None);
    for name in ["batch-0", "batch-1", "batch-2"] {
        sim.create(batch_pod(name)).expect("pod");
    }
    let client = client(&sim).await;
    let (tx, mut rx) = mpsc::channel(64);
    let options = ReadOptions {
        follow: true,
        concurrency: 2,
        ..ReadOptions::default()
    };
    let source = LogSource::Selector {
        namespace: "acme-prod".into(),
        selector: "app=batch".into(),
    };
    let progress = std::sync::Arc::new(ReadProgress::default());
    let reading = tokio::spawn(read(client, source, options, tx, progress.clone()));
    // Two slots: batch-2 (sorted last) waits, and is said to.
    progress_until(&progress, "two open, one waiting", |p| {
        p.found == 3 && p.open == 2 && p.waiting == 1
    })
    .await;
    sim.append_log("acme-prod", "batch-0", "", b"b0 done\n")
        .expect("append");
    let first = receive(&mut rx, 1).await;
    assert_eq!(texts(&first, "batch-0"), ["b0 done"]);

    // batch-0 completes: its stream ends for good, and batch-2 gets the slot.
    sim.modify("pods", "acme-prod", "batch-0", |pod| {
        pod["status"]["phase"] = "Succeeded".into();
        pod["status"]["containerStatuses"][0]["state"] =
            serde_json::json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
    })
    .expect("complete");
    progress_until(&progress, "batch-0 finished", |p| {
        p.finished == 1 && p.open == 2 && p.waiting == 0
    })
    .await;
    sim.append_log("acme-prod", "batch-2", "", b"b2 hello\n")
        .expect("append");
    let second = receive(&mut rx, 1).await;
    assert_eq!(texts(&second, "batch-2"), ["b2 hello"]);
    // And it is not asked for again (the next look at the pods is 5 s on).
    let asked = || {
        sim.requests()
            .iter()
            .filter(|r| r.path.ends_with("/pods/batch-0/log"))
            .count()
    };
    let before = asked();
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(asked(), before, "a completed pod's log is asked for again");

    // batch-1 is deleted and created again under its name: the new pod's
    // log is read from its start.
    sim.delete("pods", "acme-prod", "batch-1").expect("delete");
    sim.create(batch_pod("batch-1")).expect("recreate");
    sim.append_log("acme-prod", "batch-1", "", b"b1 again\n")
        .expect("append");
    let third = receive(&mut rx, 1).await;
    assert_eq!(texts(&third, "batch-1"), ["b1 again"]);
    drop(rx);
    let ended = tokio::time::timeout(Duration::from_secs(10), reading).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))));
}
