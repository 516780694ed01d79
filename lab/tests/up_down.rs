//! `sitedeck-lab up` starts real servers and writes site.yaml; `down` stops
//! them; a killed `up` takes its servers with it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sitedeck-lab"))
}

/// Starts `up` and waits for its `ready` line.
fn up(dir: &Path) -> Child {
    let mut child = lab()
        .args(["up", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("sitedeck-lab starts");
    let stdout = child.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "ready");
    assert!(ready, "sitedeck-lab up never said ready");
    child
}

fn server_pid(dir: &Path) -> i32 {
    std::fs::read_to_string(dir.join("mariadb/mysqld.pid"))
        .expect("mariadb pid file")
        .trim()
        .parse()
        .expect("a pid")
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn wait_dead(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn up_writes_the_site_and_down_stops_every_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = up(dir.path());
    let site = std::fs::read_to_string(dir.path().join("site.yaml")).expect("site.yaml");
    assert!(site.contains("kind: mysql") && site.contains("kind: redis"));
    let password = std::fs::read_to_string(dir.path().join("secrets/mariadb-password"))
        .expect("the password file");
    assert!(
        !password.is_empty() && !site.contains(&password),
        "no secret value in site.yaml"
    );
    let pid = server_pid(dir.path());
    assert!(alive(pid));

    let second = lab()
        .args(["up", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        !second.status.success(),
        "a second lab in the same dir is refused"
    );

    let down = lab()
        .args(["down", "--dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(child.wait().expect("up exits").success());
    assert!(wait_dead(pid), "MariaDB still runs after down");
    assert!(!dir.path().join("lab.pid").exists());
}

#[test]
fn a_killed_lab_takes_its_servers_with_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = up(dir.path());
    let pid = server_pid(dir.path());
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(wait_dead(pid), "MariaDB outlived the lab that started it");
}
