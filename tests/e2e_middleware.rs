//! End to end: the Middleware view and `status`'s middleware section, with
//! the real binary against the lab's real servers (MariaDB and Redis with
//! replicas, PostgreSQL, S3, the simulator's HTTPS `/readyz`).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sitedeck_lab::Lab;
use support::pty::{Tui, keys, sitedeck};

/// Generous: the debug binary on a busy two-core machine.
const T: Duration = Duration::from_secs(30);

/// The lab's middleware endpoints, in profile order.
const ENDPOINTS: [&str; 10] = [
    "mariadb",
    "mariadb-replica",
    "redis",
    "redis-replica",
    "postgresql",
    "s3",
    "kube-api-ready",
    "postgresql-port",
    "mariadb-in-cluster",
    "redis-in-cluster",
];

/// The STATE cell of the Middleware row of `name`, if it is on screen.
fn row_state(screen: &str, name: &str) -> Option<String> {
    const STATES: [&str; 8] = [
        "degraded…",
        "degraded",
        "up…",
        "up",
        "checking…",
        "refused",
        "auth failed",
        "config error",
    ];
    screen.lines().find_map(|line| {
        let cells: Vec<&str> = line
            .trim_matches(|c: char| c == '│' || c == '▶' || c.is_whitespace())
            .split_whitespace()
            .collect();
        if cells.first() != Some(&name) {
            return None;
        }
        let rest = cells[1..].join(" ");
        STATES
            .iter()
            .find(|s| rest.split(' ').any(|w| w == **s) || rest.contains(&format!(" {s} ")))
            .map(|s| (*s).to_owned())
    })
}

#[test]
fn middleware_view_shows_the_lab_and_a_stopped_sql_thread() {
    let home = tempfile::tempdir().expect("tempdir");
    let lab = Lab::start(&home.path().join("lab")).expect("start the lab");
    let mut tui = Tui::start(
        home.path(),
        ["--site".into(), lab.site_file().into_os_string()],
        160,
        40,
    );
    tui.wait_for("Site lab", T);
    tui.send("gm");
    let screen = tui
        .wait_until("every lab endpoint up", T, |screen| {
            let text = screen.contents();
            ENDPOINTS
                .iter()
                .all(|name| row_state(&text, name).as_deref() == Some("up"))
        })
        .contents();
    assert!(screen.contains("Middleware 10"), "{screen}");
    assert!(screen.contains("replicas 1/1"), "{screen}");
    assert!(screen.contains("MariaDB 10"), "{screen}");

    lab.mariadb_replica
        .sql("STOP SLAVE SQL_THREAD;")
        .expect("stop the replica's SQL thread");
    // Select the replica (filter to it), then check it now.
    tui.send("/");
    tui.send("mariadb-replica");
    tui.send(keys::ENTER);
    tui.send("r");
    let screen = tui
        .wait_until("the replica degraded", T, |screen| {
            // The whole frame: the row and its detail pane (a frame may
            // arrive in more than one read).
            let text = screen.contents();
            row_state(&text, "mariadb-replica").as_deref() == Some("degraded")
                && text.contains("START SLAVE SQL_THREAD")
        })
        .contents();
    assert!(screen.contains("replication SQL thread is No"), "{screen}");
    assert!(screen.contains("START SLAVE SQL_THREAD"), "{screen}");
    assert!(screen.contains("sql                No"), "{screen}");
    tui.quit(T);
}

/// `status --format json`: the exit code and the parsed document.
fn status_json(home: &Path, lab: &Lab, readonly: bool) -> (i32, serde_json::Value) {
    let mut command = Command::new(sitedeck());
    command
        .arg("status")
        .arg("--site")
        .arg(lab.site_file())
        .args(["--format", "json"])
        .current_dir(home)
        .env("SITEDECK_CONFIG_DIR", home.join("config"))
        .env("SITEDECK_STATE_DIR", home.join("state"))
        .env("HOME", home);
    if readonly {
        command.arg("--readonly");
    }
    let output = command.output().expect("run sitedeck status");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    (output.status.code().expect("an exit code"), json)
}

fn endpoint<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["middleware"]
        .as_array()
        .and_then(|list| list.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no middleware entry {name}: {json:#}"))
}

#[test]
fn status_reports_middleware_roles_figures_and_findings() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut lab = Lab::start(&home.path().join("lab")).expect("start the lab");
    let (_, json) = status_json(home.path(), &lab, false);
    for name in ENDPOINTS {
        assert_eq!(endpoint(&json, name)["state"], "up", "{name}: {json:#}");
    }
    for name in &ENDPOINTS[..8] {
        assert_eq!(endpoint(&json, name)["path"], "direct", "{name}");
    }
    // Through the simulator's API to the real servers behind its pods.
    assert_eq!(
        endpoint(&json, "mariadb-in-cluster")["path"],
        "port-forward to pod middleware/mysql-0:3306 (service middleware/mysql:3306)"
    );
    assert_eq!(
        endpoint(&json, "redis-in-cluster")["path"],
        "port-forward to pod middleware/redis-0:6379"
    );
    assert_eq!(endpoint(&json, "mariadb-in-cluster")["role"], "primary");
    let primary = endpoint(&json, "mariadb");
    assert_eq!(primary["role"], "primary");
    assert_eq!(primary["figures"]["replicas"], "1/1");
    assert!(
        primary["figures"]["write probe"]
            .as_str()
            .is_some_and(|v| v.starts_with("ok in")),
        "{primary:#}"
    );
    assert_eq!(endpoint(&json, "redis-replica")["role"], "replica");

    // --readonly: the write probes are skipped.
    let (_, json) = status_json(home.path(), &lab, true);
    assert_eq!(
        endpoint(&json, "redis")["figures"]["write probe"],
        "skipped (read-only mode)"
    );

    // The Redis replica killed: the primary is degraded, status exits 1.
    lab.redis_replica.stop();
    let (code, json) = status_json(home.path(), &lab, false);
    assert_eq!(code, 1);
    let redis = endpoint(&json, "redis");
    assert_eq!(redis["state"], "degraded", "{redis:#}");
    let findings = redis["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["severity"] == "warning"
            && f["message"] == "0 of 1 replicas connected"
            && f["hint"].as_str().is_some_and(|h| !h.is_empty())),
        "{redis:#}"
    );
    assert_eq!(endpoint(&json, "redis-replica")["state"], "refused");
}
