//! Accepting a host key the operator has compared: the node (or the
//! bastion) is asked again, and its key is recorded in sitedeck's
//! known_hosts only when it is the very key whose fingerprint the operator
//! was shown. A changed key is never accepted here.

use std::time::Duration;

use serde::Serialize;

use super::access::SshAccess;
use super::ssh::{SshError, SshTarget, accept_host_key, connect};
use super::survey::session;

/// The name that stands for the bastion (`ssh.bastion`).
pub const BASTION: &str = "bastion";

/// A host key met that no known_hosts file has, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnknownKey {
    /// The node's name, or [`BASTION`].
    pub whose: String,
    /// `user@host` of the host that offered it.
    pub target: String,
    /// Its type, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

impl UnknownKey {
    /// The unknown key in `error`, if that is what it is, as met on the
    /// way to `node` (it is the bastion's when another host offered it).
    pub fn of_error(error: &SshError, node: &str, node_target: &SshTarget) -> Option<Self> {
        let SshError::UnknownHostKey { target, key } = error else {
            return None;
        };
        let whose = if *target == node_target.to_string() {
            node.to_owned()
        } else {
            BASTION.to_owned()
        };
        Some(Self {
            whose,
            target: target.clone(),
            key_type: key.key_type.clone(),
            fingerprint: key.fingerprint.clone(),
        })
    }
}

/// Records the host key of `whose` (a node of `access`, or [`BASTION`])
/// if it still offers the key with `fingerprint` (and, when `seen_at` is
/// given, is still reached at that `user@host`, the one the operator was
/// shown). Blocking. Says what was done, or why nothing was recorded.
pub fn accept(
    access: &SshAccess,
    whose: &str,
    fingerprint: &str,
    seen_at: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let bastion = access
        .bastion
        .as_ref()
        .filter(|_| whose == BASTION)
        .map(|(target, _)| target.clone());
    let node = access
        .nodes
        .iter()
        .find(|(n, _)| n == whose)
        .map(|(_, t)| t.clone());
    let Some(target) = bastion.clone().or(node) else {
        return Err(format!(
            "no node {whose} in ssh.nodes (or `{BASTION}` for ssh.bastion)"
        ));
    };
    if let Some(seen) = seen_at
        && seen != target.to_string()
    {
        return Err(format!(
            "{whose} is now reached at {target}, not {seen} where its key was shown: nothing recorded; read the nodes again"
        ));
    }
    let opened = match (&bastion, &access.bastion) {
        (Some(target), Some((_, auth))) => connect(target, auth, &access.known, timeout),
        _ => session(access, &target, timeout),
    };
    match opened {
        Ok(_) => Ok(format!("{target}: its host key is already known")),
        // The host's own key (not the bastion's, met on the way).
        Err(SshError::UnknownHostKey { key, target: met })
            if key.fingerprint == fingerprint && met == target.to_string() =>
        {
            accept_host_key(&access.known, &target, &key)
                .map(|()| format!("{target}: recorded {} {}", key.key_type, key.fingerprint))
        }
        Err(SshError::UnknownHostKey { key, target: met }) => Err(format!(
            "{met} offers {} {}, not {fingerprint}: nothing recorded",
            key.key_type, key.fingerprint
        )),
        Err(error) => Err(error.to_string()),
    }
}
