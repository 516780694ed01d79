//! SSH to nodes against a real OpenSSH server (Debian's openssh-server,
//! started by the lab on a loopback port): an unknown host key is refused
//! with its fingerprint, an accepted key is recorded and then used, a
//! changed key is refused, key auth logs in and a wrong key does not, and
//! a node is reached through a bastion (two sshd on loopback; the
//! bastion's log shows the forward).

use sitedeck::nodes::ssh::{
    KnownHosts, SshAuth, SshError, SshTarget, accept_host_key, connect, run,
};
use sitedeck_lab::sshd::SshNode;
use support::ssh::{TIMEOUT, key_auth, known, refused, target, trust, tunnel};

mod support;

#[test]
fn an_unknown_key_is_refused_then_accepted_recorded_and_used_and_a_changed_key_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("node")).expect("sshd");
    let known = known(dir.path());

    // Unknown: refused, with the fingerprint ssh-keygen shows on the node.
    let error = refused(connect(&target(&node), &key_auth(&node), &known, TIMEOUT));
    let SshError::UnknownHostKey { key, .. } = &error else {
        panic!("{error}");
    };
    let fingerprint = node.host_key_fingerprint().expect("fingerprint");
    assert!(
        fingerprint.contains(&key.fingerprint),
        "{fingerprint} / {error}"
    );
    assert_eq!(key.key_type, "ssh-ed25519");
    assert!(error.to_string().contains(&key.fingerprint), "{error}");
    assert!(
        !known.own.exists(),
        "nothing recorded before the operator accepts"
    );

    // Accepted: recorded as `[host]:port type key`, then used.
    accept_host_key(&known, &target(&node), key).expect("recorded");
    let recorded = std::fs::read_to_string(&known.own).expect("known_hosts");
    assert_eq!(
        recorded.trim(),
        format!("[127.0.0.1]:{} ssh-ed25519 {}", node.port, key.base64)
    );
    assert!(node.host_key_line().expect("key").contains(&key.base64));
    let session = connect(&target(&node), &key_auth(&node), &known, TIMEOUT).expect("session");
    let (status, out, _) = run(&session, "echo hello from $(id -un)").expect("run");
    assert_eq!(
        (status, out.trim()),
        (0, format!("hello from {}", node.user).as_str())
    );
    let (status, _, _) = run(&session, "exit 3").expect("run");
    assert_eq!(status, 3);
    drop(session);

    // The node gets a new host key on the same port: always refused.
    let node = node.change_host_key().expect("restarted");
    let error = refused(connect(&target(&node), &key_auth(&node), &known, TIMEOUT));
    assert!(matches!(error, SshError::ChangedHostKey { .. }), "{error}");
    let said = error.to_string();
    assert!(
        said.contains("CHANGED") && said.contains("refused"),
        "{said}"
    );
    assert!(
        said.contains(&format!("ssh-keygen -R '[127.0.0.1]:{}'", node.port)),
        "{said}"
    );
    // Accepting cannot override it.
    let SshError::ChangedHostKey { key, .. } = &error else {
        unreachable!()
    };
    let why = accept_host_key(&known, &target(&node), key).expect_err("a changed key");
    assert!(why.contains("not accepted"), "{why}");
    assert!(matches!(
        connect(&target(&node), &key_auth(&node), &known, TIMEOUT),
        Err(SshError::ChangedHostKey { .. })
    ));
    // Once the old line is gone, the new key can be accepted.
    std::fs::remove_file(&known.own).expect("removed");
    accept_host_key(&known, &target(&node), key).expect("recorded");
    assert!(connect(&target(&node), &key_auth(&node), &known, TIMEOUT).is_ok());
}

#[test]
fn a_key_the_node_does_not_know_and_an_unreachable_node_say_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("node")).expect("sshd");
    let known = known(dir.path());
    trust(&known, &node);

    // Another key pair: refused, saying which key.
    let other = dir.path().join("other_ed25519");
    sitedeck_lab::sshd::keygen(&other, "ed25519").expect("ssh-keygen");
    let auth = SshAuth::KeyFile {
        path: other.clone(),
        passphrase: None,
    };
    let error = refused(connect(&target(&node), &auth, &known, TIMEOUT));
    assert!(matches!(error, SshError::AuthFailed { .. }), "{error}");
    assert!(error.to_string().contains("other_ed25519"), "{error}");

    // Nothing listens: unreachable, at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let nowhere = SshTarget {
        port,
        ..target(&node)
    };
    let error = refused(connect(&nowhere, &key_auth(&node), &known, TIMEOUT));
    assert!(matches!(error, SshError::Unreachable { .. }), "{error}");
    assert!(error.to_string().contains("refused"), "{error}");
}

#[test]
fn the_users_known_hosts_with_hashed_names_and_other_key_types_is_used() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("node")).expect("sshd");
    // The user's file: an ECDSA key of some other machine recorded for
    // the node's name first (another key type), then the node's own key;
    // then every name hashed, as `HashKnownHosts yes` writes them.
    let other = dir.path().join("other_ecdsa");
    sitedeck_lab::sshd::keygen(&other, "ecdsa").expect("ssh-keygen");
    let name = format!("[127.0.0.1]:{}", node.port);
    let other_key = std::fs::read_to_string(other.with_extension("pub")).expect("key");
    let user_file = dir.path().join("user_known_hosts");
    std::fs::write(
        &user_file,
        format!(
            "{name} {}\n{name} {}\n",
            other_key.trim(),
            node.host_key_line().expect("host key")
        ),
    )
    .expect("write");
    let status = std::process::Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(&user_file)
        .output()
        .expect("ssh-keygen -H");
    assert!(status.status.success());
    let hashed = std::fs::read_to_string(&user_file).expect("read");
    assert!(
        hashed.starts_with("|1|") && !hashed.contains("127.0.0.1"),
        "{hashed}"
    );
    let known = KnownHosts {
        user: Some(user_file),
        extra: Vec::new(),
        own: dir.path().join("state/known_hosts"),
    };
    let session = connect(&target(&node), &key_auth(&node), &known, TIMEOUT);
    assert!(session.is_ok(), "{:?}", session.err());
    assert!(!known.own.exists(), "nothing to record");
}

#[test]
fn a_node_is_reached_through_the_bastion_with_its_own_host_key_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bastion = SshNode::start(&dir.path().join("bastion")).expect("bastion");
    let node = SshNode::start(&dir.path().join("node")).expect("node");
    let known = known(dir.path());
    // Both keys known (accepted as an operator would).
    for each in [&bastion, &node] {
        trust(&known, each);
    }
    let session = sitedeck::nodes::jump::connect_via(
        &tunnel(&bastion, &known),
        &target(&node),
        &key_auth(&node),
        &known,
        TIMEOUT,
    )
    .expect("through the bastion");
    let (status, out, _) = run(&session, "echo jumped; echo $SSH_CONNECTION").expect("run");
    assert_eq!(status, 0);
    assert!(out.starts_with("jumped\n"), "{out}");
    // A large output comes through whole.
    let (status, out, _) = run(&session, "head -c 300000 /dev/zero | tr '\\0' x").expect("run");
    assert_eq!((status, out.len()), (0, 300_000));
    drop(session);
    // The bastion carried it: its sshd saw the forward.
    let log = std::fs::read_to_string(bastion.dir.join("sshd.log")).expect("log");
    assert!(
        log.contains("direct-tcpip") && log.contains(&format!("port {}", node.port)),
        "{log}"
    );

    // The node's host key is checked through the jump too.
    std::fs::write(&known.own, "").expect("forget");
    trust(&known, &bastion);
    let error = refused(sitedeck::nodes::jump::connect_via(
        &tunnel(&bastion, &known),
        &target(&node),
        &key_auth(&node),
        &known,
        TIMEOUT,
    ));
    assert!(matches!(error, SshError::UnknownHostKey { .. }), "{error}");
}

#[test]
fn a_skewed_nodes_clock_is_found_with_its_sign_and_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ahead = SshNode::start_skewed(&dir.path().join("ahead"), 1_500).expect("node");
    let behind = SshNode::start_skewed(&dir.path().join("behind"), -700).expect("node");
    let true_time = SshNode::start(&dir.path().join("true")).expect("node");
    let known = known(dir.path());
    let mut offsets = Vec::new();
    for (node, skew) in [(&ahead, 1_500.0), (&behind, -700.0), (&true_time, 0.0)] {
        trust(&known, node);
        let session = connect(&target(node), &key_auth(node), &known, TIMEOUT).expect("session");
        let measured = sitedeck::nodes::clock::measure(&session, 5).expect("measured");
        assert_eq!(measured.samples, 5);
        assert!(
            (measured.offset_ms - skew).abs() <= 50.0,
            "skew {skew} ms, measured {measured:?}"
        );
        assert!(measured.uncertainty_ms < 50.0, "{measured:?}");
        offsets.push(measured.offset_ms);
    }
    let skew = sitedeck::nodes::clock::max_skew_ms(&offsets);
    assert!((skew - 2_200.0).abs() <= 100.0, "{skew}");
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_nodes_facts_and_its_nearly_full_filesystem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("node")).expect("node");
    // A 1 MiB filesystem, 95 % full (mounting needs root, as the lab has).
    let mount = dir.path().join("small");
    std::fs::create_dir_all(&mount).expect("dir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mount)
        .status()
        .expect("mount");
    assert!(mounted.success(), "mount needs root");
    let _disk = SmallDisk(mount.clone());
    std::fs::write(mount.join("fill"), vec![0u8; 1000 * 1024]).expect("fill");

    let known = known(dir.path());
    trust(&known, &node);
    let session = connect(&target(&node), &key_auth(&node), &known, TIMEOUT).expect("session");
    let facts = sitedeck::nodes::facts::read(&session).expect("facts");
    assert_eq!(facts.os_family, "debian", "{facts:?}");
    assert!(facts.os.starts_with("Debian"), "{facts:?}");
    assert!(facts.cpus >= 1 && facts.memory_kib.0 > 0, "{facts:?}");
    assert!(!facts.kernel.is_empty() && facts.uptime_s > 0, "{facts:?}");
    let small = facts
        .mounts
        .iter()
        .find(|m| std::path::Path::new(&m.path) == mount)
        .expect("the small disk is listed");
    assert!(small.used_percent >= 90.0, "{small:?}");
    let findings = sitedeck::nodes::facts::findings(&facts, Default::default());
    let path = mount.display().to_string();
    assert!(
        findings.iter().any(|f| {
            f.severity == sitedeck::nodes::facts::Severity::Critical && f.what.starts_with(&path)
        }),
        "{findings:?}"
    );
}

#[test]
fn a_node_known_only_by_its_ecdsa_key_is_met_with_that_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("node")).expect("sshd");
    // The user's file has the node's ECDSA key only (an older client's
    // habit); the node also has an Ed25519 key, preferred by default.
    let user_file = dir.path().join("user_known_hosts");
    std::fs::write(
        &user_file,
        format!(
            "[127.0.0.1]:{} {}\n",
            node.port,
            node.host_key_line_of("ecdsa").expect("ecdsa key")
        ),
    )
    .expect("write");
    let known = KnownHosts {
        user: Some(user_file),
        extra: Vec::new(),
        own: dir.path().join("state/known_hosts"),
    };
    let session = connect(&target(&node), &key_auth(&node), &known, TIMEOUT);
    assert!(session.is_ok(), "{:?}", session.err());
}
