//! `sitedeck logs --node NAME` against real sshd nodes whose journalctl
//! is a stand-in: the journal's lines parsed and sanitised, followed as
//! they come, journalctl ended on the node once sitedeck stops, and the
//! errors an operator meets (no journalctl, an unreadable journal, a unit
//! without entries) saying what to do.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::headless::sitedeck;
use support::journal::{Journal, node, pids, site, wait_ended};

mod support;

#[test]
fn journal_lines_arrive_parsed_and_sanitised() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n1 = node(dir.path(), "n1", Journal::Kubelet);
    let profile = site(dir.path(), &[("n1", &n1)]);

    let (code, stdout, stderr) = sitedeck(dir.path(), &profile, &["logs", "--node", "n1"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "the notes are not lines: {stdout}");
    assert!(lines[0].contains(" n1 info "), "{stdout}");
    assert!(lines[0].ends_with("\"Starting kubelet\""), "{stdout}");
    assert!(lines[1].contains(" n1 error "), "{stdout}");
    assert!(!stdout.contains('\x1b'), "an escape reached the terminal");
    assert!(stdout.contains("title=\\x1b]0;owned\\x07 end"), "{stdout}");
    let args = std::fs::read_to_string(dir.path().join("n1-bin/journalctl.args")).expect("args");
    assert_eq!(
        args.trim(),
        "-u kubelet -o short-iso-precise --no-pager -n 500"
    );

    // JSON lines: the node as the pod, the identifier as the container.
    let (code, stdout, stderr) = sitedeck(
        dir.path(),
        &profile,
        &[
            "logs", "--node", "n1", "--unit", "kubelet", "--since", "10m", "--format", "json",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).expect("JSON");
    assert_eq!(first["namespace"], "journal");
    assert_eq!(first["pod"], "n1");
    assert_eq!(first["container"], "kubelet[812]");
    assert_eq!(first["level"], "info");
    assert!(!stdout.contains('\x1b'), "{stdout}");
    let args = std::fs::read_to_string(dir.path().join("n1-bin/journalctl.args")).expect("args");
    assert_eq!(
        args.trim(),
        "-u kubelet -o short-iso-precise --no-pager --since=-600s"
    );
}

#[test]
fn following_gets_new_lines_and_stopping_ends_journalctl_on_the_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n1 = node(dir.path(), "n1", Journal::Kubelet);
    let profile = site(dir.path(), &[("n1", &n1)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sitedeck"))
        .arg("--site")
        .arg(&profile)
        .args(["logs", "--node", "n1", "--follow"])
        .env("SITEDECK_CONFIG_DIR", dir.path().join("config"))
        .env("SITEDECK_STATE_DIR", dir.path().join("state"))
        .env("HOME", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sitedeck");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("\"tick 3\"")) {
        let line = rx
            .recv_timeout(Duration::from_secs(30).saturating_sub(start.elapsed()))
            .unwrap_or_else(|_| panic!("no tick 3 after 30 s: {seen:?}"));
        seen.push(line);
    }
    assert!(seen[0].contains("Starting kubelet"), "{seen:?}");
    assert!(seen[3].contains(" n1 warn "), "{seen:?}");
    assert_eq!(pids(dir.path(), "n1").len(), 1);
    // sitedeck goes (as a closed terminal takes it): the connection
    // closes and journalctl on the node ends with it.
    child.kill().expect("kill");
    child.wait().expect("reaped");
    wait_ended(dir.path(), "n1", Duration::from_secs(5));
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n1 = node(dir.path(), "n1", Journal::Kubelet);
    let n2 = node(dir.path(), "n2", Journal::Missing);
    let n3 = node(dir.path(), "n3", Journal::Unreadable);
    let profile = site(dir.path(), &[("n1", &n1), ("n2", &n2), ("n3", &n3)]);
    let logs = |args: &[&str]| {
        let mut all = vec!["logs"];
        all.extend(args);
        sitedeck(dir.path(), &profile, &all)
    };

    let (code, _, stderr) = logs(&["--node", "n2"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("journalctl not found on node n2"),
        "{stderr}"
    );

    // Following an unreadable journal would wait for ever: it stops at
    // once with the reason.
    let start = Instant::now();
    let (code, _, stderr) = logs(&["--node", "n3", "--follow"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot read the journal on node n3: add it to systemd-journal or adm"),
        "{stderr}"
    );
    assert!(start.elapsed() < Duration::from_secs(4), "{stderr}");
    wait_ended(dir.path(), "n3", Duration::from_secs(10));

    let (code, _, stderr) = logs(&["--node", "n1", "--unit", "nothing"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("unit nothing has no journal entries on node n1"),
        "{stderr}"
    );

    let (code, _, stderr) = logs(&["--node", "n9"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("no node n9 in the profile (its nodes: n1, n2, n3)"),
        "{stderr}"
    );

    let (code, _, stderr) = logs(&["--node", "n1", "--unit", "x;reboot"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("is not a unit name"), "{stderr}");
    let (code, _, stderr) = logs(&["--node", "n1", "--previous"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_journal_is_read_through_the_bastion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bastion = sitedeck_lab::sshd::SshNode::start(&dir.path().join("bastion")).expect("bastion");
    let n1 = node(dir.path(), "n1", Journal::Kubelet);
    std::fs::copy(
        bastion.client_key.with_extension("pub"),
        n1.dir.join("authorized_keys"),
    )
    .expect("one key");
    let known = support::ssh::known(dir.path());
    support::ssh::trust(&known, &bastion);
    support::ssh::trust(&known, &n1);
    let profile = dir.path().join("site.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: acme\nenvironment: poc\nssh:\n  user: {user}\n  identity: {key}\n  bastion:\n    host: 127.0.0.1\n    port: {bport}\n    user: {user}\n    identity: {key}\n  nodes:\n    - {{name: n1, host: 127.0.0.1, port: {p1}}}\n",
            user = bastion.user,
            key = bastion.client_key.display(),
            bport = bastion.port,
            p1 = n1.port,
        ),
    )
    .expect("profile");
    let (code, stdout, stderr) = sitedeck(dir.path(), &profile, &["logs", "--node", "n1"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("\"Starting kubelet\""), "{stdout}");
    let bastion_log = std::fs::read_to_string(bastion.dir.join("sshd.log")).expect("log");
    assert!(
        bastion_log.contains("direct-tcpip"),
        "the node was reached through the bastion"
    );
}
