//! Injected faults: 410 Gone, 429 with Retry-After, 503, dropped
//! connections, slow answers and an API restart, on the raw HTTP API and
//! through the real kubectl; and kubectl against the plain-HTTP option.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use serde_json::Value;
mod support;

use sitedeck_lab::kube::KubeSim;
use sitedeck_lab::kube::faults::{Fault, Injection};

/// An HTTPS connection to the simulator that trusts only its CA.
async fn connect(sim: &KubeSim) -> std::io::Result<SendRequest<Empty<Bytes>>> {
    support::connect(sim).await
}

fn request(sim: &KubeSim, path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {}", sim.token()))
        .body(Empty::new())
        .expect("request")
}

/// A GET on a new connection: status, Retry-After and the body as JSON
/// (`Null` when it is not JSON).
async fn get(sim: &KubeSim, path: &str) -> (StatusCode, Option<String>, Value) {
    let mut sender = connect(sim).await.expect("connect");
    let response = sender
        .send_request(request(sim, path))
        .await
        .expect("response");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&body)
        .or_else(|_| {
            // A watch: the first event.
            let first = body.split(|byte| *byte == b'\n').next().unwrap_or_default();
            serde_json::from_slice(first)
        })
        .unwrap_or(Value::Null);
    (status, retry_after, json)
}

fn start() -> (KubeSim, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (KubeSim::start(dir.path()).expect("simulator"), dir)
}

#[tokio::test]
async fn gone_ends_a_watch_with_an_expired_event_and_fails_a_list_with_410() {
    let (sim, _dir) = start();
    sim.faults()
        .inject(Injection::new(Fault::Gone, 2).on_paths("/api/v1/pods"));
    let version = sim.resource_version();
    let (status, _, event) = get(
        &sim,
        &format!("/api/v1/pods?watch=true&resourceVersion={version}&timeoutSeconds=30"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    let (status, _, list) = get(&sim, "/api/v1/pods?limit=5").await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        (list["kind"].as_str(), list["code"].as_u64()),
        (Some("Status"), Some(410))
    );
    // Used up: other paths were never affected, and now neither is this one.
    let (status, _, list) = get(&sim, "/api/v1/pods?limit=5").await;
    assert_eq!(
        (status, list["kind"].as_str()),
        (StatusCode::OK, Some("PodList"))
    );
    assert_eq!(sim.faults().remaining(), 0);
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let (sim, _dir) = start();
    let fault = Fault::TooManyRequests {
        retry_after_seconds: 3,
    };
    sim.faults().inject(Injection::new(fault, 1));
    let (status, retry_after, body) = get(&sim, "/api/v1/namespaces").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("3"));
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 3);
    assert_eq!(get(&sim, "/api/v1/namespaces").await.0, StatusCode::OK);
}

#[tokio::test]
async fn unavailable_answers_503_until_used_up() {
    let (sim, _dir) = start();
    sim.faults().inject(Injection::new(Fault::Unavailable, 2));
    for _ in 0..2 {
        let (status, retry_after, body) = get(&sim, "/version").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry_after, None);
        assert_eq!(body["reason"], "ServiceUnavailable");
    }
    assert_eq!(get(&sim, "/version").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_dropped_connection_gets_no_answer() {
    let (sim, _dir) = start();
    sim.faults()
        .inject(Injection::new(Fault::DropConnection, 1));
    let mut sender = connect(&sim).await.expect("connect");
    let error = sender
        .send_request(request(&sim, "/api/v1/namespaces"))
        .await
        .expect_err("no response");
    // Closed under the request: no status, no body.
    assert!(!error.is_parse() && !error.is_timeout(), "{error:?}");
    assert_eq!(get(&sim, "/api/v1/namespaces").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_delay_slows_the_answer_down() {
    let (sim, _dir) = start();
    sim.faults()
        .inject(Injection::new(Fault::Delay(Duration::from_millis(700)), 1));
    let started = Instant::now();
    assert_eq!(get(&sim, "/api/v1/namespaces").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(700));
    let started = Instant::now();
    get(&sim, "/api/v1/namespaces").await;
    assert!(started.elapsed() < Duration::from_millis(700));
}

#[tokio::test]
async fn a_restart_ends_watches_refuses_connections_then_serves_the_same_data() {
    let (sim, _dir) = start();
    let version = sim.resource_version();
    let mut sender = connect(&sim).await.expect("connect");
    let watch = sender
        .send_request(request(
            &sim,
            &format!("/api/v1/pods?watch=true&resourceVersion={version}&timeoutSeconds=300"),
        ))
        .await
        .expect("watch");
    assert_eq!(watch.status(), StatusCode::OK);

    sim.faults().restart(Duration::from_millis(1_500));
    assert!(sim.faults().is_down());
    // The watch ends (cut off) long before its timeout.
    let ended = tokio::time::timeout(Duration::from_secs(5), watch.into_body().collect()).await;
    assert!(ended.is_ok(), "the watch outlived the restart");
    assert!(
        connect(&sim).await.is_err(),
        "connections are refused while down"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.faults().is_down() {
        assert!(Instant::now() < deadline, "the API never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.faults().restarts(), 1);
    let (status, _, list) = get(&sim, "/api/v1/namespaces/acme-prod/pods").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["metadata"]["resourceVersion"], version.to_string());
}

fn kubectl(sim: &KubeSim, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut command = Command::new("kubectl");
    command
        .arg("--kubeconfig")
        .arg(sim.kubeconfig())
        .arg("--cache-dir")
        .arg(dir.join("kubectl-cache"))
        .env_remove("KUBECONFIG")
        .args(args);
    command
}

fn run(sim: &KubeSim, dir: &std::path::Path, args: &[&str]) -> Output {
    kubectl(sim, dir, args).output().expect("kubectl runs")
}

#[test]
fn kubectl_fails_on_503_and_succeeds_once_it_clears() {
    let (sim, dir) = start();
    // Discovery cached first, so the fault meets the list itself.
    assert!(run(&sim, dir.path(), &["get", "ns"]).status.success());
    sim.faults()
        .inject(Injection::new(Fault::Unavailable, 100).on_paths("/api/v1/namespaces"));
    let failed = run(&sim, dir.path(), &["get", "ns"]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("Error from server (ServiceUnavailable): the server is currently unable to handle the request"),
        "{stderr}"
    );
    sim.faults().clear();
    let retried = run(&sim, dir.path(), &["get", "ns"]);
    assert!(retried.status.success(), "{retried:?}");
    assert!(String::from_utf8_lossy(&retried.stdout).contains("acme-prod"));
}

#[test]
fn kubectl_waits_out_a_429_by_itself() {
    let (sim, dir) = start();
    assert!(run(&sim, dir.path(), &["get", "ns"]).status.success());
    let fault = Fault::TooManyRequests {
        retry_after_seconds: 1,
    };
    sim.faults()
        .inject(Injection::new(fault, 2).on_paths("/api/v1/namespaces"));
    let started = Instant::now();
    let output = run(&sim, dir.path(), &["get", "ns"]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "client-go honours Retry-After"
    );
    assert_eq!(sim.faults().remaining(), 0);
}

#[test]
fn kubectl_watch_ends_on_a_restart_and_kubectl_works_after_it() {
    let (sim, dir) = start();
    let mut watch = KillOnDrop(
        kubectl(&sim, dir.path(), &["get", "pods", "-n", "acme-prod", "-w"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl starts"),
    );
    let stdout = watch.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("NAME"), "{first}");
    // kubectl lists, prints, then watches: restart only once it watches,
    // or it would simply open its watch after the restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !sim.requests().iter().any(|r| {
        r.path == "/api/v1/namespaces/acme-prod/pods" && r.param("watch").as_deref() == Some("true")
    }) {
        assert!(Instant::now() < deadline, "kubectl never started its watch");
        std::thread::sleep(Duration::from_millis(20));
    }

    sim.faults().restart(Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(15);
    let exited = loop {
        match watch.0.try_wait().expect("wait") {
            Some(status) => break Some(status),
            None if Instant::now() > deadline => break None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert!(exited.is_some(), "kubectl get -w outlived the restart");

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let output = run(&sim, dir.path(), &["get", "ns"]);
        if output.status.success() {
            assert!(String::from_utf8_lossy(&output.stdout).contains("acme-prod"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl never got through: {output:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(sim.faults().restarts(), 1);
}

#[test]
fn kubectl_talks_to_a_plain_http_simulator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = sitedeck_lab::kube::KubeSimOptions {
        plain_http: true,
        ..sitedeck_lab::kube::KubeSimOptions::default()
    };
    let sim = KubeSim::start_with(dir.path(), options).expect("simulator");
    assert!(sim.url().starts_with("http://127.0.0.1:"), "{}", sim.url());
    let kubeconfig = std::fs::read_to_string(sim.kubeconfig()).expect("kubeconfig");
    assert!(
        !kubeconfig.contains("certificate-authority"),
        "{kubeconfig}"
    );
    let output = run(&sim, dir.path(), &["get", "pods", "-n", "middleware"]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("mysql-0"));
    let logs = run(
        &sim,
        dir.path(),
        &["logs", "-n", "middleware", "redis-0", "--tail=2"],
    );
    assert_eq!(
        String::from_utf8_lossy(&logs.stdout).lines().count(),
        2,
        "{logs:?}"
    );
}

/// A child process killed and reaped when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
