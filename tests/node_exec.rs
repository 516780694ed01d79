//! `sitedeck exec` against real sshd nodes: refused in read-only mode and
//! on a production site without `--confirm`; otherwise each node's output
//! under its name, sanitised, with its exit status, an unreachable node
//! holding up no other, and the audit log written before and after.

use sitedeck::store::audit::{self, Phase};
use sitedeck_lab::sshd::SshNode;
use support::headless::sitedeck;

mod support;

/// Two nodes whose keys are trusted, and a third name on a closed port.
struct Site {
    dir: tempfile::TempDir,
    profile: std::path::PathBuf,
    _nodes: [SshNode; 2],
}

fn site(environment: &str) -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let n1 = SshNode::start(&dir.path().join("n1")).expect("n1");
    let n2 = SshNode::start(&dir.path().join("n2")).expect("n2");
    std::fs::copy(
        n1.client_key.with_extension("pub"),
        n2.dir.join("authorized_keys"),
    )
    .expect("one key for both");
    let known = support::ssh::known(dir.path());
    support::ssh::trust(&known, &n1);
    support::ssh::trust(&known, &n2);
    let closed = sitedeck_lab::free_port().expect("a free port");
    let profile = dir.path().join("site.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: acme\nenvironment: {environment}\nssh:\n  user: {user}\n  identity: {key}\n  nodes:\n    - {{name: n1, host: 127.0.0.1, port: {p1}}}\n    - {{name: n2, host: 127.0.0.1, port: {p2}}}\n    - {{name: gone, host: 127.0.0.1, port: {closed}}}\n",
            user = n1.user,
            key = n1.client_key.display(),
            p1 = n1.port,
            p2 = n2.port,
        ),
    )
    .expect("profile");
    Site {
        dir,
        profile,
        _nodes: [n1, n2],
    }
}

impl Site {
    fn exec(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["exec"];
        all.extend(args);
        sitedeck(self.dir.path(), &self.profile, &all)
    }

    fn audit(&self) -> Vec<audit::AuditRecord> {
        audit::read(&self.dir.path().join("state")).expect("audit log")
    }
}

#[test]
fn a_command_runs_on_each_named_node_and_is_audited() {
    let site = site("poc");
    let marker = site.dir.path().join("ran");
    let command = format!(
        "echo out-$PPID; echo err >&2; printf '\\033]0;owned\\007\\n'; echo x >> {}; exit 3",
        marker.display()
    );
    let (code, stdout, stderr) = site.exec(&["--node", "n1", "--node", "n2", "--", &command]);
    assert_eq!(code, 1, "a node exited 3: {stdout}{stderr}");
    for name in ["n1", "n2"] {
        assert!(stdout.contains(&format!("== {name} (")), "{stdout}");
    }
    assert!(stdout.contains("exit 3"), "{stdout}");
    assert!(stdout.contains("err\n"), "stderr merged: {stdout}");
    assert!(!stdout.contains('\x1b'), "an escape reached the terminal");
    assert!(stdout.contains("\\x1b]0;owned\\x07"), "{stdout}");
    let ran = std::fs::read_to_string(&marker).expect("marker");
    assert_eq!(ran.lines().count(), 2, "once on each node");

    let records = site.audit();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].phase, Phase::Intent);
    assert_eq!(records[0].target, "nodes n1, n2");
    assert_eq!(records[0].via, "cli");
    assert_eq!(records[0].what, command);
    assert_eq!(records[1].phase, Phase::Outcome);
    assert_eq!(records[1].result.as_deref(), Some("n1 exit 3; n2 exit 3"));
}

#[test]
fn an_unreachable_node_fails_alone_and_json_says_so() {
    let site = site("poc");
    let (code, stdout, stderr) = site.exec(&["--all", "--format", "json", "--", "echo hi"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let outputs: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let outputs = outputs.as_array().expect("a list");
    let by_name = |name: &str| {
        outputs
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {stdout}"))
    };
    for name in ["n1", "n2"] {
        assert_eq!(by_name(name)["exit"], 0, "{stdout}");
        // The lab's sshd logs at DEBUG1 with -e, and its session child
        // writes a few debug lines to the session's stderr first.
        let output = by_name(name)["output"].as_str().expect("output");
        assert!(output.ends_with("\nhi\n") || output == "hi\n", "{stdout}");
    }
    let gone = by_name("gone");
    assert!(gone["exit"].is_null(), "{gone}");
    assert!(
        gone["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{gone}"
    );
}

#[test]
fn long_output_is_cut_and_a_silent_command_is_given_up() {
    let site = site("poc");
    let (code, stdout, _) = site.exec(&[
        "--node",
        "n1",
        "--",
        "head -c 400000 /dev/zero | tr '\\0' a; echo",
    ]);
    assert_eq!(code, 1, "no exit status once cut");
    assert!(
        stdout.contains("[output cut after 256 KiB]"),
        "{}",
        &stdout[..200]
    );
    assert!(stdout.len() < 300 * 1024);

    let (code, stdout, _) = site.exec(&["--node", "n2", "--quiet-timeout", "1", "--", "sleep 30"]);
    assert_eq!(code, 1);
    assert!(stdout.contains("no output for 1 s"), "{stdout}");
}

#[test]
fn read_only_and_unconfirmed_production_runs_are_refused_before_anything_runs() {
    let site = site("prod");
    let marker = site.dir.path().join("ran");
    let touch = format!("touch {}", marker.display());

    let (code, _, stderr) = site.exec(&["--readonly", "--all", "--confirm", "acme", "--", &touch]);
    assert_eq!(code, 2);
    assert!(stderr.contains("read-only mode"), "{stderr}");

    let (code, _, stderr) = site.exec(&["--all", "--", &touch]);
    assert_eq!(code, 2);
    assert!(stderr.contains("add --confirm acme"), "{stderr}");
    let (code, _, _) = site.exec(&["--all", "--confirm", "acme-typo", "--", &touch]);
    assert_eq!(code, 2);

    let (code, _, stderr) = site.exec(&["--node", "n9", "--confirm", "acme", "--", &touch]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no node named n9"), "{stderr}");
    assert!(stderr.contains("n1, n2, gone"), "{stderr}");

    assert!(!marker.exists(), "nothing ran");
    assert!(site.audit().is_empty(), "nothing to audit");

    let (code, stdout, stderr) = site.exec(&["--node", "n1", "--confirm", "acme", "--", &touch]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(marker.exists());
}

#[test]
fn a_command_killed_by_a_signal_is_not_a_success() {
    let site = site("poc");
    let (code, stdout, _) = site.exec(&["--node", "n1", "--", "echo before; kill -9 $$"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("ended by signal KILL"), "{stdout}");
    assert!(stdout.contains("before"), "{stdout}");
    let records = site.audit();
    assert_eq!(
        records[1].result.as_deref(),
        Some("n1 failed: ended by signal KILL")
    );
}

#[test]
fn a_command_silent_for_longer_than_a_keepalive_interval_runs_to_its_end() {
    // libssh2 cuts a blocking wait short at a keepalive's due time when a
    // keepalive interval is set (15 s); none must be set on node sessions.
    let site = site("poc");
    let (code, stdout, stderr) = site.exec(&[
        "--node",
        "n1",
        "--quiet-timeout",
        "40",
        "--",
        "sleep 17; echo awake",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("awake"), "{stdout}");
}
