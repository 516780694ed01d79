//! SSH logins whose secrets come from secret references, against real
//! sshd: a passphrase-protected key opened with `ssh.passphrase`, a
//! password login (`ssh.password`) for the lab's user on a node that
//! allows it; a wrong or unreadable secret is a clear error that never
//! shows a secret, and never falls back to another way in; and what
//! `profile check` says about these keys.

use std::path::Path;

use sitedeck::config::profile;
use sitedeck::nodes::access::SshAccess;
use sitedeck::nodes::ssh::{SshAuth, SshError, connect};
use sitedeck_lab::sshd::{NodeOptions, SshNode, keygen_with_passphrase};
use support::headless::sitedeck;
use support::ssh::{TIMEOUT, target};

mod support;

const PASSPHRASE: &str = "correct-horse-7731";
const WRONG: &str = "battery-staple-0042";
const PASSWORD: &str = "lab-login-pw-5518";

/// `known_hosts` in `dir` with the node's key, and a profile there whose
/// `ssh` section has `login` (its keys indented by two) and the node.
fn write_site(dir: &Path, node: &SshNode, login: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("known_hosts"),
        format!(
            "[{}]:{} {}\n",
            node.host,
            node.port,
            node.host_key_line().expect("host key")
        ),
    )
    .expect("known_hosts");
    let site = dir.join("site.yaml");
    std::fs::write(
        &site,
        format!(
            "name: secrets\nenvironment: poc\nssh:\n  user: {user}\n  known_hosts: known_hosts\n{login}  nodes:\n    - {{name: n1, host: {host}, port: {port}}}\n",
            user = node.user,
            host = node.host,
            port = node.port,
        ),
    )
    .expect("profile");
    site
}

/// `sitedeck nodes --format json`: its exit code, n1's error, and all it
/// printed.
fn read_nodes(dir: &Path, site: &Path) -> (i32, Option<String>, String) {
    let (code, stdout, stderr) = sitedeck(dir, site, &["nodes", "--format", "json"]);
    let error = serde_json::from_str::<serde_json::Value>(&stdout)
        .ok()
        .and_then(|report| report["nodes"][0]["error"].as_str().map(str::to_owned));
    (code, error, format!("{stdout}{stderr}"))
}

#[test]
fn a_passphrase_protected_key_opens_with_its_passphrase_from_a_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("n1")).expect("node");
    let key = dir.path().join("encrypted_ed25519");
    keygen_with_passphrase(&key, "ed25519", PASSPHRASE).expect("a key with a passphrase");
    node.authorize(&key.with_extension("pub"))
        .expect("authorized");
    std::fs::write(dir.path().join("passphrase"), format!("{PASSPHRASE}\n")).expect("secret");
    let login = format!(
        "  identity: {}\n  passphrase: {{file: passphrase}}\n",
        key.display()
    );
    let site = write_site(dir.path(), &node, &login);
    let (code, error, said) = read_nodes(dir.path(), &site);
    assert_eq!((code, error), (0, None), "{said}");
    assert!(said.contains("\"os_family\": \"debian\""), "{said}");

    // A wrong passphrase: refused, said as such, and shown nowhere.
    std::fs::write(dir.path().join("passphrase"), WRONG).expect("secret");
    let (code, error, said) = read_nodes(dir.path(), &site);
    assert_eq!(code, 1, "{said}");
    let error = error.expect("n1's error");
    assert!(
        error.contains("refused the login") && error.contains("wrong passphrase"),
        "{error}"
    );
    assert!(
        !said.contains(WRONG) && !said.contains(PASSPHRASE),
        "{said}"
    );

    // Without a passphrase the key cannot be opened: the error says what
    // is missing (no agent is tried instead).
    let site = write_site(
        dir.path(),
        &node,
        &format!("  identity: {}\n", key.display()),
    );
    let (code, error, said) = read_nodes(dir.path(), &site);
    assert_eq!(code, 1, "{said}");
    assert!(
        error.is_some_and(|e| e.contains("it needs a passphrase")),
        "{said}"
    );

    // An env var that is not set: the profile does not load.
    let site = write_site(
        dir.path(),
        &node,
        &format!(
            "  identity: {}\n  passphrase: {{env: SITEDECK_TEST_NEVER_SET_PASSPHRASE}}\n",
            key.display()
        ),
    );
    let (code, _, stderr) = sitedeck(dir.path(), &site, &["nodes"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(
            "`ssh.passphrase`: environment variable SITEDECK_TEST_NEVER_SET_PASSPHRASE is not set"
        ),
        "{stderr}"
    );
}

#[test]
fn a_secret_gone_after_loading_refuses_the_login_before_connecting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("n1")).expect("node");
    let key = dir.path().join("encrypted_ed25519");
    keygen_with_passphrase(&key, "ed25519", PASSPHRASE).expect("a key with a passphrase");
    node.authorize(&key.with_extension("pub"))
        .expect("authorized");
    std::fs::write(dir.path().join("passphrase"), PASSPHRASE).expect("secret");
    let site = write_site(
        dir.path(),
        &node,
        &format!(
            "  identity: {}\n  passphrase: {{file: passphrase}}\n",
            key.display()
        ),
    );
    let loaded = profile::load(&site).expect("loads");
    let access = SshAccess::of_profile(&loaded.profile, dir.path()).expect("ssh");
    let debug = format!("{access:?}");
    assert!(debug.contains("passphrase ***"), "{debug}");
    assert!(!debug.contains(PASSPHRASE), "{debug}");

    std::fs::remove_file(dir.path().join("passphrase")).expect("gone");
    let access = SshAccess::of_profile(&loaded.profile, dir.path()).expect("ssh");
    assert!(
        matches!(access.auth, SshAuth::Unresolved { .. }),
        "{:?}",
        access.auth
    );
    let (_, node_target) = &access.nodes[0];
    let Err(error) = connect(node_target, &access.auth, &access.known, TIMEOUT) else {
        panic!("logged in without the passphrase");
    };
    assert!(matches!(error, SshError::AuthFailed { .. }), "{error:?}");
    let said = error.to_string();
    assert!(
        said.contains("`ssh.passphrase` could not be read: cannot read secret file"),
        "{said}"
    );
    // Refused before connecting: the node saw no one.
    let log = std::fs::read_to_string(node.dir.join("sshd.log")).expect("log");
    assert!(!log.contains("Connection from"), "{log}");
    assert_eq!(node_target.port, target(&node).port);
}

#[test]
fn a_password_login_uses_the_password_from_a_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start_with(
        &dir.path().join("n1"),
        NodeOptions {
            password: Some(PASSWORD.into()),
            ..NodeOptions::default()
        },
    )
    .expect("a node that takes a password (root)");
    std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).expect("secret");
    let site = write_site(dir.path(), &node, "  password: {file: password}\n");
    let (code, error, said) = read_nodes(dir.path(), &site);
    assert_eq!((code, error), (0, None), "{said}");
    let log = std::fs::read_to_string(node.dir.join("sshd.log")).expect("log");
    assert!(
        log.contains(&format!("Accepted password for {}", node.user)),
        "{log}"
    );

    std::fs::write(dir.path().join("password"), WRONG).expect("secret");
    let (code, error, said) = read_nodes(dir.path(), &site);
    assert_eq!(code, 1, "{said}");
    assert!(
        error.is_some_and(|e| e.contains("the password was not accepted")),
        "{said}"
    );
    assert!(!said.contains(WRONG) && !said.contains(PASSWORD), "{said}");
}

#[test]
fn ssh_passphrases_and_passwords_are_secret_references_that_must_fit() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("id"), "").expect("key");
    let load = |ssh: &str| {
        profile::parse(
            &format!("name: a\nenvironment: poc\nssh:\n{ssh}"),
            &dir.path().join("a.yaml"),
            dir.path(),
        )
    };
    let problems = |ssh: &str| match load(ssh) {
        Ok(loaded) => panic!("loaded: {:?}", loaded.warnings),
        Err(e) => e.to_string(),
    };
    let said = problems("  passphrase: {env: SITEDECK_TEST_NEVER_SET_PASSPHRASE}\n");
    assert!(
        said.contains("`ssh.passphrase` opens the key `ssh.identity`, and there is none"),
        "{said}"
    );
    assert!(
        said.contains(
            "`ssh.passphrase`: environment variable SITEDECK_TEST_NEVER_SET_PASSPHRASE is not set"
        ),
        "{said}"
    );
    let said = problems("  identity: id\n  password: {file: nowhere}\n");
    assert!(
        said.contains("`ssh` sets both `identity` and `password`"),
        "{said}"
    );
    assert!(
        said.contains("`ssh.password`: cannot read secret file"),
        "{said}"
    );
    let said = problems(
        "  bastion:\n    host: b\n    identity: id\n    passphrase: {k8s_secret: ops/keys/passphrase}\n",
    );
    assert!(
        said.contains(
            "`ssh.bastion.passphrase`: an SSH login cannot read its secret from the cluster"
        ),
        "{said}"
    );
    // A plaintext one loads, with a warning that does not show it.
    let loaded = load("  identity: id\n  passphrase: 'Open-Sesame-4711'\n").expect("loads");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("plaintext `ssh.passphrase`"));
    assert!(!loaded.warnings[0].contains("Open-Sesame-4711"));
    let ssh = loaded.profile.ssh.expect("ssh");
    assert!(!format!("{ssh:?}").contains("Open-Sesame-4711"));
    let loaded = load("  password: {file: id}\n  port: 2222\n  nodes:\n    - {name: n1, host: h1}\n    - {name: n2, host: h2, port: 22}\n")
        .expect("loads");
    let ssh = loaded.profile.ssh.expect("ssh");
    let profile::NodesSpec::List(nodes) = &ssh.nodes else {
        panic!("a list");
    };
    let ports: Vec<u16> = nodes.iter().map(|n| ssh.port_of(n)).collect();
    assert_eq!(ports, [2222, 22], "ssh.port is the default of listed nodes");
}
