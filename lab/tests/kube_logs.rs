//! Pod logs through the real `kubectl logs`: generated JSON lines with
//! trace ids shared across services, `--tail`, `-c`, `--timestamps`,
//! `--since`, `-f` seeing lines added by the test, `--previous`, hostile
//! bytes; and the raw API's errors and the lab's endpoint for adding lines.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

struct Cluster {
    sim: KubeSim,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A simulator; `generated` lines or only the ones the test adds.
    fn start(generated: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let options = KubeSimOptions {
            log_interval: generated.then_some(Duration::from_secs(1)),
            ..KubeSimOptions::default()
        };
        let sim = KubeSim::start_with(dir.path(), options).expect("simulator starts");
        Self { sim, dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(self.sim.kubeconfig())
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"))
            .env_remove("KUBECONFIG")
            .args(args);
        command
    }

    fn kubectl(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("kubectl runs")
    }

    fn kubectl_ok(&self, args: &[&str]) -> Vec<u8> {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn lines(&self, args: &[&str]) -> Vec<String> {
        String::from_utf8(self.kubectl_ok(args))
            .expect("UTF-8")
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The names of a workload's pods in acme-prod.
    fn pods_of(&self, app: &str) -> Vec<String> {
        let label = format!("app={app}");
        self.lines(&["get", "pods", "-n", "acme-prod", "-l", &label, "-o", "name"])
            .iter()
            .map(|name| name.trim_start_matches("pod/").to_string())
            .collect()
    }

    /// A running pod `web` in acme-prod with containers `app` and `proxy`.
    fn web_pod(&self, restarts: u64) {
        let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let status = |name: &str| {
            let mut status = json!({"name": name, "ready": true, "restartCount": restarts,
                                    "image": "example/web:1", "state": {"running": {"startedAt": started}}});
            if restarts > 0 {
                status["lastState"] = json!({"terminated": {"exitCode": 2, "reason": "Error",
                    "startedAt": "2025-01-01T10:00:00Z", "finishedAt": "2025-01-01T10:05:00Z"}});
            }
            status
        };
        self.sim
            .create(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": "acme-prod", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "example/web:1"},
                                        {"name": "proxy", "image": "example/proxy:1"}]},
                "status": {"phase": "Running", "startTime": started,
                           "containerStatuses": [status("app"), status("proxy")]},
            }))
            .expect("pod created");
    }
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}")))
        .collect()
}

#[test]
fn kubectl_logs_tail_shows_json_lines_whose_trace_ids_cross_services() {
    let cluster = Cluster::start(true);
    let gateway = cluster.pods_of("api-gateway");
    assert_eq!(gateway.len(), 2);
    let tail = cluster.lines(&["logs", "-n", "acme-prod", &gateway[0], "--tail=5"]);
    assert_eq!(tail.len(), 5, "{tail:#?}");
    for line in json_lines(&tail) {
        assert_eq!(line["service"], "api-gateway");
        assert!(["info", "warn", "error"].contains(&line["level"].as_str().unwrap_or_default()));
        assert_eq!(line["trace_id"].as_str().map(str::len), Some(32), "{line}");
        assert!(
            line["msg"].is_string() && line["time"].is_string(),
            "{line}"
        );
    }

    // A checkout seen by billing-service was seen by the gateway and the
    // order service too, under the same trace id.
    let all = |app: &str| -> Vec<Value> {
        cluster
            .pods_of(app)
            .iter()
            .flat_map(|pod| json_lines(&cluster.lines(&["logs", "-n", "acme-prod", pod])))
            .collect()
    };
    let (billing, orders, gateway) = (
        all("billing-service"),
        all("order-service"),
        all("api-gateway"),
    );
    let traced =
        |lines: &[Value], trace: &Value| lines.iter().any(|line| line["trace_id"] == *trace);
    let shared = billing
        .iter()
        .filter(|line| traced(&orders, &line["trace_id"]) && traced(&gateway, &line["trace_id"]))
        .count();
    assert!(
        shared > 10,
        "{shared} of {} billing lines traced across services",
        billing.len()
    );
}

#[test]
fn kubectl_logs_picks_containers_and_prints_timestamps() {
    let cluster = Cluster::start(false);
    cluster.web_pod(0);
    cluster
        .sim
        .append_log("acme-prod", "web", "app", b"app line\n")
        .expect("append");
    cluster
        .sim
        .append_log("acme-prod", "web", "proxy", b"proxy one\nproxy two")
        .expect("append");
    let proxy = cluster.lines(&["logs", "-n", "acme-prod", "web", "-c", "proxy"]);
    assert_eq!(proxy, ["proxy one", "proxy two"]);
    // Without -c kubectl picks the first container itself.
    let output = cluster.kubectl(&["logs", "-n", "acme-prod", "web"]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "app line\n");

    // kubectl checks the container itself (the server's own error is
    // tested on the raw API).
    let wrong = cluster.kubectl(&["logs", "-n", "acme-prod", "web", "-c", "nope"]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("container nope is not valid for pod web"),
        "{stderr}"
    );

    let stamped = cluster.lines(&[
        "logs",
        "-n",
        "acme-prod",
        "web",
        "-c",
        "proxy",
        "--timestamps",
    ]);
    assert_eq!(stamped.len(), 2);
    for line in &stamped {
        let (stamp, text) = line
            .split_once(' ')
            .expect("a timestamp, a space, the line");
        assert!(text.starts_with("proxy "), "{line}");
        assert!(
            stamp.ends_with('Z') && stamp.len() <= 30 && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        chrono::DateTime::parse_from_rfc3339(stamp).expect("RFC 3339");
    }
}

#[test]
fn kubectl_logs_since_leaves_out_older_lines() {
    let cluster = Cluster::start(false);
    cluster.web_pod(0);
    cluster
        .sim
        .append_log("acme-prod", "web", "app", b"old\n")
        .expect("append");
    std::thread::sleep(Duration::from_millis(2_500));
    cluster
        .sim
        .append_log("acme-prod", "web", "app", b"new\n")
        .expect("append");
    assert_eq!(
        cluster.lines(&["logs", "-n", "acme-prod", "web", "--since=2s"]),
        ["new"]
    );
    assert_eq!(
        cluster.lines(&["logs", "-n", "acme-prod", "web", "--since=1h"]),
        ["old", "new"]
    );
    assert_eq!(
        cluster.lines(&["logs", "-n", "acme-prod", "web", "--tail=1"]),
        ["new"]
    );
}

/// A child process killed and reaped when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kubectl_logs_follow_sees_added_lines_and_ends_with_the_pod() {
    let cluster = Cluster::start(false);
    cluster.web_pod(0);
    cluster
        .sim
        .append_log("acme-prod", "web", "app", b"before\n")
        .expect("append");
    let mut follow = KillOnDrop(
        cluster
            .command(&["logs", "-n", "acme-prod", "web", "-f", "--tail=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl starts"),
    );
    let mut stdout = follow.0.stdout.take().expect("stdout");
    let (chunks, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read @ 1..) = stdout.read(&mut buffer) {
            if chunks.send(buffer[..read].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |wanted: &[u8]| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !seen.windows(wanted.len()).any(|window| window == wanted) {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(chunk) => seen.extend(chunk),
                Err(_) => panic!(
                    "never saw {:?} in {:?}",
                    String::from_utf8_lossy(wanted),
                    String::from_utf8_lossy(&seen)
                ),
            }
        }
    };
    wait_for(b"before\n");
    // Hostile bytes pass through untouched.
    let hostile = b"\x1b[31mred\x1b[0m \xff\xfe not utf-8\r\n";
    cluster
        .sim
        .append_log("acme-prod", "web", "app", hostile)
        .expect("append");
    wait_for(hostile);

    cluster
        .sim
        .delete("pods", "acme-prod", "web")
        .expect("delete");
    let deadline = Instant::now() + Duration::from_secs(10);
    while follow.0.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "kubectl logs -f outlived the pod"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("reader");
}

#[test]
fn kubectl_logs_previous_needs_a_restart() {
    let cluster = Cluster::start(true);
    let pod = &cluster.pods_of("order-service")[0];
    let output = cluster.kubectl(&["logs", "-n", "acme-prod", pod, "--previous"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "Error from server (BadRequest): previous terminated container \"order-service\" in pod \"{pod}\" not found"
    );
    assert!(stderr.contains(&expected), "{stderr}");

    cluster.web_pod(3);
    let previous =
        json_lines(&cluster.lines(&["logs", "-n", "acme-prod", "web", "-c", "app", "-p"]));
    let last = previous.last().expect("the previous run's lines");
    assert_eq!(last["level"], "error");
    assert_eq!(last["exit_code"], 2);
    assert!(
        previous.len() > 20,
        "five minutes of lines: {}",
        previous.len()
    );
    let finished = chrono::DateTime::parse_from_rfc3339("2025-01-01T10:05:00Z").expect("time");
    for line in &previous {
        let time = chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap_or_default())
            .expect("time");
        assert!(time <= finished, "{line}");
    }
}

#[test]
fn logs_are_added_from_a_file() {
    let cluster = Cluster::start(false);
    cluster.web_pod(0);
    let file = cluster.dir.path().join("lines.log");
    std::fs::write(&file, b"from a file\nsecond\n").expect("write");
    cluster
        .sim
        .append_log_file("acme-prod", "web", "proxy", Path::new(&file))
        .expect("append");
    assert_eq!(
        cluster.lines(&["logs", "-n", "acme-prod", "web", "-c", "proxy"]),
        ["from a file", "second"]
    );
    assert!(
        cluster
            .sim
            .append_log("acme-prod", "web", "nope", b"x")
            .is_err()
    );
    assert!(
        cluster
            .sim
            .append_log("acme-prod", "gone", "", b"x")
            .is_err()
    );
}

#[test]
fn the_raw_log_api_reports_containers_as_the_api_server_does() {
    let cluster = Cluster::start(false);
    cluster.web_pod(0);
    let raw = |path: &str| cluster.kubectl(&["get", "--raw", path]);
    let stderr = |output: Output| String::from_utf8_lossy(&output.stderr).into_owned();
    let ambiguous = stderr(raw("/api/v1/namespaces/acme-prod/pods/web/log"));
    assert!(
        ambiguous.contains(
            "Error from server (BadRequest): a container name must be specified for pod web, choose one of: [app proxy]"
        ),
        "{ambiguous}"
    );
    let unknown = stderr(raw(
        "/api/v1/namespaces/acme-prod/pods/web/log?container=nope",
    ));
    assert!(
        unknown.contains("Error from server (BadRequest): container nope is not valid for pod web"),
        "{unknown}"
    );
    let missing = stderr(raw("/api/v1/namespaces/acme-prod/pods/gone/log"));
    assert!(
        missing.contains("(NotFound): pods \"gone\" not found"),
        "{missing}"
    );

    // The lab's endpoint adds lines from another process.
    let file = cluster.dir.path().join("body");
    std::fs::write(&file, b"over http\n").expect("write");
    let file = file.to_string_lossy().into_owned();
    cluster.kubectl_ok(&[
        "create",
        "--raw",
        "/lab/v1/namespaces/acme-prod/pods/web/log?container=proxy",
        "-f",
        &file,
    ]);
    let body = cluster.kubectl_ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/acme-prod/pods/web/log?container=proxy&limitBytes=4",
    ]);
    assert_eq!(body, b"over");

    // A pod that has not started has no log yet.
    cluster
        .sim
        .create(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "starting", "namespace": "acme-prod"},
            "spec": {"containers": [{"name": "c", "image": "example/c:1"}]},
            "status": {"phase": "Pending"},
        }))
        .expect("pod");
    let waiting = stderr(cluster.kubectl(&["logs", "-n", "acme-prod", "starting"]));
    assert!(
        waiting
            .contains("container \"c\" in pod \"starting\" is waiting to start: ContainerCreating"),
        "{waiting}"
    );
}
