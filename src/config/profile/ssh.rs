//! The profile's `ssh` section: the bastion, the login on the nodes (a
//! key, with its passphrase, or a password, both secret references), and
//! the nodes themselves, listed or taken from the cluster.

use std::fmt;
use std::num::NonZeroU16;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{DiskSettings, PathRef, did_you_mean};
use crate::config::secret::SecretSource;

/// SSH access.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSpec {
    /// The jump host the nodes are reached through.
    #[serde(default)]
    pub bastion: Option<BastionSpec>,
    /// Extra known_hosts file (besides `~/.ssh/known_hosts`).
    #[serde(default)]
    pub known_hosts: Option<PathRef>,
    /// The user on the nodes.
    #[serde(default)]
    pub user: Option<String>,
    /// The private key for the nodes.
    #[serde(default)]
    pub identity: Option<PathRef>,
    /// The passphrase of `identity`, as a secret reference.
    #[serde(default)]
    pub passphrase: Option<Spanned<SecretSource>>,
    /// The password to log in to the nodes with (instead of a key), as a
    /// secret reference; used only when set.
    #[serde(default)]
    pub password: Option<Spanned<SecretSource>>,
    /// The nodes' SSH port, for nodes that give none (every node of
    /// `from_cluster`).
    #[serde(default = "default_ssh_port")]
    pub port: NonZeroU16,
    /// The nodes: a list, or `from_cluster` for the cluster's Nodes.
    #[serde(default)]
    pub nodes: NodesSpec,
    /// When a node's disk use is a finding.
    #[serde(default)]
    pub disk: DiskSettings,
}

impl SshSpec {
    /// The port `node` is reached on: its own, else `ssh.port`.
    pub fn port_of(&self, node: &NodeSpec) -> u16 {
        node.port.unwrap_or(self.port).get()
    }
}

/// The SSH bastion (jump host).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BastionSpec {
    /// Host name or address.
    pub host: String,
    /// SSH port.
    #[serde(default = "default_ssh_port")]
    pub port: NonZeroU16,
    /// The login user.
    #[serde(default)]
    pub user: Option<String>,
    /// The private key.
    #[serde(default)]
    pub identity: Option<PathRef>,
    /// The passphrase of `identity`, as a secret reference.
    #[serde(default)]
    pub passphrase: Option<Spanned<SecretSource>>,
    /// The password to log in with (instead of a key), as a secret
    /// reference; used only when set.
    #[serde(default)]
    pub password: Option<Spanned<SecretSource>>,
}

pub(super) fn default_ssh_port() -> NonZeroU16 {
    const SSH: NonZeroU16 = NonZeroU16::new(22).expect("22 is not zero");
    SSH
}

/// Which nodes sitedeck reaches over SSH.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum NodesSpec {
    /// None configured.
    #[default]
    None,
    /// The cluster's Nodes, by their InternalIP, on `ssh.port`.
    FromCluster,
    /// An explicit list.
    List(Vec<NodeSpec>),
}

impl NodesSpec {
    /// Whether there are nodes to read: a list that is not empty, or
    /// `from_cluster`.
    pub fn any(&self) -> bool {
        match self {
            Self::None => false,
            Self::FromCluster => true,
            Self::List(list) => !list.is_empty(),
        }
    }
}

impl<'de> Deserialize<'de> for NodesSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodesVisitor)
    }
}

/// Reads `nodes:` as a word or a list, so that a mistake inside the list is
/// reported as itself (an untagged enum would only say "no variant matched").
struct NodesVisitor;

impl<'de> serde::de::Visitor<'de> for NodesVisitor {
    type Value = NodesSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of nodes or `from_cluster`")
    }

    fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<NodesSpec, E> {
        if word == "from_cluster" {
            return Ok(NodesSpec::FromCluster);
        }
        Err(E::custom(format!(
            "`nodes` is a list of nodes or `from_cluster`, not `{word}`{}",
            did_you_mean(word, &["from_cluster"])
        )))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<NodesSpec, E> {
        Ok(NodesSpec::None)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<NodesSpec, A::Error> {
        let list = Vec::<NodeSpec>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        Ok(NodesSpec::List(list))
    }
}

/// One node reached over SSH.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// The node's name (as in Kubernetes, if it is a cluster node).
    pub name: Spanned<String>,
    /// Host name or address.
    pub host: String,
    /// SSH port; `ssh.port` when absent (see [`SshSpec::port_of`]).
    #[serde(default)]
    pub port: Option<NonZeroU16>,
}
