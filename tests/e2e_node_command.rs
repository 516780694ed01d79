//! End to end: a command on nodes from the Hosts view, in the real binary
//! in a pseudo-terminal, against real sshd nodes of a production site:
//! typed, confirmed by typing the site's name (a wrong name runs nothing),
//! each node's output shown, the audit log written; refused read-only.
//! And an unknown host key accepted from Hosts after its fingerprint is
//! shown (No, the default, records nothing).

mod support;

use std::time::Duration;

use sitedeck::store::audit::{self, Phase};
use sitedeck_lab::sshd::SshNode;
use support::pty::{Tui, keys};

/// Generous: the debug binary on a busy two-core machine.
const T: Duration = Duration::from_secs(40);

/// Two trusted nodes of a production site named `acme`.
fn site(dir: &std::path::Path) -> (std::path::PathBuf, [SshNode; 2]) {
    site_trusting(dir, true)
}

/// The same; n2's host key unknown unless `trust_both`.
fn site_trusting(dir: &std::path::Path, trust_both: bool) -> (std::path::PathBuf, [SshNode; 2]) {
    let n1 = SshNode::start(&dir.join("n1")).expect("n1");
    let n2 = SshNode::start(&dir.join("n2")).expect("n2");
    std::fs::copy(
        n1.client_key.with_extension("pub"),
        n2.dir.join("authorized_keys"),
    )
    .expect("one key for both");
    let known = support::ssh::known(dir);
    support::ssh::trust(&known, &n1);
    if trust_both {
        support::ssh::trust(&known, &n2);
    }
    let profile = dir.join("site.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: acme\nenvironment: prod\nssh:\n  user: {user}\n  identity: {key}\n  nodes:\n    - {{name: n1, host: 127.0.0.1, port: {p1}}}\n    - {{name: n2, host: 127.0.0.1, port: {p2}}}\n",
            user = n1.user,
            key = n1.client_key.display(),
            p1 = n1.port,
            p2 = n2.port,
        ),
    )
    .expect("profile");
    (profile, [n1, n2])
}

#[test]
fn a_command_typed_in_hosts_runs_after_the_site_name_is_typed_again() {
    let home = tempfile::tempdir().expect("temp dir");
    let (profile, _nodes) = site(home.path());
    let mut tui = Tui::start(
        home.path(),
        ["--site".as_ref(), profile.as_os_str()],
        100,
        30,
    );
    tui.wait_for("Site acme", T);
    tui.send("gN");
    tui.wait_for("nodes read", T);

    // On the selected node.
    tui.send("x");
    tui.wait_for("Run on n", T);
    tui.send("echo answer-$((40+2))");
    tui.send(keys::ENTER);
    tui.wait_for("acme is a production site", T);
    tui.send("acne");
    tui.send(keys::ENTER);
    tui.wait_for("type acme to run it", T);
    for _ in 0..4 {
        tui.send("\x7f");
    }
    tui.send("acme");
    tui.send(keys::ENTER);
    let screen = tui.wait_for("answer-42", T);
    assert!(screen.contains("exit 0"), "{screen}");
    tui.send(keys::ESC);
    tui.wait_gone("answer-42", T);

    // On every node.
    tui.send("X");
    tui.wait_for("Run on 2 nodes", T);
    tui.send("exit 7");
    tui.send(keys::ENTER);
    tui.wait_for("acme is a production site", T);
    tui.send("acme");
    tui.send(keys::ENTER);
    let screen = tui.wait_for("the command failed on 2 of 2 node(s)", T);
    assert!(screen.contains("n1 · exit 7"), "{screen}");
    assert!(screen.contains("n2 · exit 7"), "{screen}");
    tui.send(keys::ESC);
    tui.wait_gone("n2 · exit 7", T);
    tui.quit(T);

    let records = audit::read(&home.path().join("state")).expect("audit log");
    let phases: Vec<(Phase, &str)> = records.iter().map(|r| (r.phase, r.what.as_str())).collect();
    assert_eq!(
        phases,
        [
            (Phase::Intent, "echo answer-$((40+2))"),
            (Phase::Outcome, "echo answer-$((40+2))"),
            (Phase::Intent, "exit 7"),
            (Phase::Outcome, "exit 7"),
        ],
        "the wrong name ran nothing"
    );
    assert_eq!(records[3].target, "nodes n1, n2");
    assert_eq!(records[3].via, "cockpit");
}

#[test]
fn read_only_runs_no_command() {
    let home = tempfile::tempdir().expect("temp dir");
    let (profile, _nodes) = site(home.path());
    let mut tui = Tui::start(
        home.path(),
        [
            "--readonly".as_ref(),
            "--site".as_ref(),
            profile.as_os_str(),
        ],
        80,
        24,
    );
    tui.wait_for("Site acme", T);
    tui.send("gN");
    tui.wait_for("nodes read", T);
    tui.send("X");
    tui.wait_for("read-only mode: commands on nodes are not run", T);
    tui.quit(T);
    assert!(
        audit::read(&home.path().join("state"))
            .expect("log")
            .is_empty()
    );
}

#[test]
fn an_unknown_host_key_is_accepted_from_hosts_after_its_fingerprint_is_shown() {
    let home = tempfile::tempdir().expect("temp dir");
    let (profile, [_n1, n2]) = site_trusting(home.path(), false);
    let fingerprint = n2.host_key_fingerprint().expect("fingerprint");
    let mut tui = Tui::start(
        home.path(),
        ["--site".as_ref(), profile.as_os_str()],
        120,
        32,
    );
    tui.wait_for("Site acme", T);
    tui.send("gN");
    // The failed node sorts first and is selected.
    let screen = tui.wait_for("1 node(s) could not be read", T);
    assert!(screen.contains(&fingerprint), "{screen}");
    tui.send("a");
    tui.wait_for("Accept a host key?", T);
    // Enter is No: nothing recorded.
    tui.send(keys::ENTER);
    tui.wait_gone("Accept a host key?", T);
    tui.send("a");
    tui.wait_for("Accept a host key?", T);
    tui.send("y");
    tui.wait_for("recorded ssh-ed25519", T);
    let screen = tui.wait_for("nodes read", T);
    assert!(!screen.contains(&fingerprint), "{screen}");
    tui.quit(T);

    let records = audit::read(&home.path().join("state")).expect("audit log");
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].action, "host key accepted");
    assert!(records[0].what.ends_with(&fingerprint), "{records:?}");
    assert!(
        records[0].target.starts_with("host key of n2"),
        "{records:?}"
    );
    assert!(
        records[1]
            .result
            .as_deref()
            .is_some_and(|r| r.contains("recorded")),
        "{records:?}"
    );
}
