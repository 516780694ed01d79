//! SSH helpers for tests against the lab's sshd nodes.
#![allow(dead_code)]

use std::time::Duration;

use sitedeck::nodes::ssh::{KnownHosts, SshAuth, SshError, SshTarget, accept_host_key, connect};
use sitedeck::nodes::tunnel::Tunnel;
use sitedeck_lab::sshd::SshNode;

/// How long a connection may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The error of a connection that had to fail.
pub fn refused(result: Result<ssh2::Session, SshError>) -> SshError {
    match result {
        Ok(_) => panic!("the session opened"),
        Err(error) => error,
    }
}

/// How the node is reached, as the lab's user.
pub fn target(node: &SshNode) -> SshTarget {
    SshTarget {
        host: node.host.clone(),
        port: node.port,
        user: node.user.clone(),
    }
}

/// The lab's client key for the node.
pub fn key_auth(node: &SshNode) -> SshAuth {
    SshAuth::KeyFile {
        path: node.client_key.clone(),
        passphrase: None,
    }
}

/// Accepts the node's host key, as an operator does once it is compared.
pub fn trust(known: &KnownHosts, node: &SshNode) {
    let SshError::UnknownHostKey { key, .. } =
        refused(connect(&target(node), &key_auth(node), known, TIMEOUT))
    else {
        panic!("an unknown key expected");
    };
    accept_host_key(known, &target(node), &key).expect("recorded");
}

/// sitedeck's known_hosts in `dir`, and no user file: the test must not
/// read the machine's.
pub fn known(dir: &std::path::Path) -> KnownHosts {
    KnownHosts {
        user: None,
        extra: Vec::new(),
        own: dir.join("state/known_hosts"),
    }
}

/// A tunnel through `bastion`, whose key `known` already has.
pub fn tunnel(bastion: &SshNode, known: &KnownHosts) -> Tunnel {
    Tunnel::open(&target(bastion), &key_auth(bastion), known, TIMEOUT).expect("a tunnel")
}
