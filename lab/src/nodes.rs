//! The lab site's nodes: real sshd hosts behind a real sshd bastion, the
//! site's NTP server (chronyd), and what an SRE looks for: a node whose
//! clock is skewed (libfaketime), one whose time daemon is not running,
//! one with a nearly full filesystem (a 1 MiB tmpfs in its own mount
//! namespace). As root, each host has its own address in a lab network
//! ([`crate::netns`]) that only the bastion reaches; otherwise they are
//! sshd on loopback ports.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};

use crate::chrony::NtpServer;
use crate::netns::{NetworkHost, SiteNetwork};
use crate::sshd::{NodeOptions, SshNode};

/// The lab's nodes and what they need.
#[derive(Debug)]
pub struct LabNodes {
    /// The nodes, by name, with their options.
    pub nodes: Vec<(String, SshNode)>,
    /// The jump host.
    pub bastion: SshNode,
    /// The site's NTP server (as root only: chronyd and the nodes' own
    /// mount namespaces need it).
    pub ntp: Option<NtpServer>,
    /// The lab network, when the hosts have addresses of their own
    /// (dropped last: it kills what still runs in it).
    network: Option<SiteNetwork>,
}

/// A node of the lab: its name, clock skew, whether it runs chrony, and
/// whether it has the nearly full disk.
const NODES: [(&str, i64, bool, bool); 3] = [
    ("acme-master-1", 0, true, false),
    ("acme-worker-1", 350, true, true),
    ("acme-worker-2", -120, false, false),
];

impl LabNodes {
    /// Starts the NTP server, the bastion and the nodes under `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        let root = crate::process::running_as_root();
        let mut network = if root {
            Some(SiteNetwork::create().context("the lab network")?)
        } else {
            None
        };
        let bastion_host = network.as_ref().map(SiteNetwork::bastion);
        let ntp = match &bastion_host {
            Some(host) => Some(NtpServer::start_on(&dir.join("ntp"), host)?),
            None if root => Some(NtpServer::start(&dir.join("ntp"))?),
            None => None,
        };
        let bastion = SshNode::start_with(
            &dir.join("bastion"),
            NodeOptions {
                host: bastion_host,
                ..NodeOptions::default()
            },
        )
        .context("the bastion's sshd")?;
        let mut nodes = Vec::new();
        for (name, skew, chrony, small_disk) in NODES {
            let host: Option<NetworkHost> = match &mut network {
                Some(network) => Some(network.add_inside_host()?),
                None => None,
            };
            let node = SshNode::start_with(
                &dir.join(name),
                NodeOptions {
                    host,
                    skew_ms: (skew != 0).then_some(skew),
                    ntp_server: ntp.as_ref().filter(|_| chrony).map(|ntp| ntp.address),
                    small_disk: small_disk && root,
                    ..NodeOptions::default()
                },
            )
            .with_context(|| format!("the node {name}"))?;
            // One key for the bastion and every node, as a site has.
            std::fs::copy(
                bastion.client_key.with_extension("pub"),
                node.dir.join("authorized_keys"),
            )?;
            nodes.push((name.to_owned(), node));
        }
        Ok(Self {
            nodes,
            bastion,
            ntp,
            network,
        })
    }

    /// The profile text of a site with only these hosts, its files
    /// (`known_hosts`) written to `dir`.
    pub fn site(&self, dir: &Path) -> Result<String> {
        self.write_known_hosts(dir)?;
        Ok(format!(
            "name: nodes-lab\nenvironment: poc\n{}",
            self.profile_yaml()
        ))
    }

    /// Writes `known_hosts` in `dir` with every host's key, so the lab's
    /// site opens without accepting them one by one.
    pub fn write_known_hosts(&self, dir: &Path) -> Result<()> {
        let mut text = String::new();
        for node in std::iter::once(&self.bastion).chain(self.nodes.iter().map(|(_, n)| n)) {
            let name = if node.port == 22 {
                node.host.clone()
            } else {
                format!("[{}]:{}", node.host, node.port)
            };
            text.push_str(&format!("{name} {}\n", node.host_key_line()?));
        }
        std::fs::write(dir.join("known_hosts"), text)?;
        Ok(())
    }

    /// The profile's `ssh` and `time` sections for these hosts.
    pub fn profile_yaml(&self) -> String {
        let mut yaml = format!(
            "ssh:\n  user: {user}\n  identity: {key}\n  known_hosts: known_hosts\n  bastion:\n    host: {bhost}\n    port: {bport}\n    user: {user}\n    identity: {key}\n  nodes:\n",
            user = self.bastion.user,
            key = self.bastion.client_key.display(),
            bhost = self.bastion.host,
            bport = self.bastion.port,
        );
        for (name, node) in &self.nodes {
            yaml.push_str(&format!(
                "    - {{name: {name}, host: {}, port: {}}}\n",
                node.host, node.port
            ));
        }
        if let Some(ntp) = &self.ntp {
            yaml.push_str(&format!(
                "time:\n  ntp_servers: ['{}']\n",
                ntp_name(ntp.address)
            ));
        }
        yaml
    }

    /// Points the simulator's Nodes of the same names at these hosts: each
    /// Node's `InternalIP` becomes its host's address in the lab network,
    /// so `ssh.nodes: from_cluster` reaches them (through the bastion, on
    /// port 22). Without a lab network (not root) the hosts share
    /// 127.0.0.1 on ports of their own, which an InternalIP cannot say:
    /// the Nodes are left as they are. Returns how many were pointed.
    pub fn point_cluster_nodes(&self, kube: &crate::kube::KubeSim) -> Result<usize> {
        if !self.networked() {
            return Ok(0);
        }
        let mut pointed = 0;
        for (name, node) in &self.nodes {
            if kube.get("nodes", "", name)?.is_none() {
                continue;
            }
            kube.modify("nodes", "", name, |object| {
                set_internal_ip(object, &node.host);
            })
            .with_context(|| format!("the simulator's Node {name}"))?;
            pointed += 1;
        }
        Ok(pointed)
    }

    /// The bastion's network namespace, when the hosts are in a lab
    /// network.
    pub fn bastion_namespace(&self) -> Option<String> {
        self.network
            .as_ref()
            .map(|network| network.bastion_namespace().to_owned())
    }

    /// Whether the hosts are in a lab network (as root) rather than on
    /// loopback ports.
    pub fn networked(&self) -> bool {
        self.network.is_some()
    }
}

/// Sets a Node object's `InternalIP` (adding one when it has none),
/// keeping its other addresses.
fn set_internal_ip(node: &mut serde_json::Value, address: &str) {
    let entry = serde_json::json!({"type": "InternalIP", "address": address});
    let addresses = &mut node["status"]["addresses"];
    match addresses.as_array_mut() {
        Some(list) => {
            list.retain(|a| a["type"] != "InternalIP");
            list.insert(0, entry);
        }
        None => *addresses = serde_json::json!([entry]),
    }
}

fn ntp_name(address: SocketAddr) -> String {
    if address.port() == 123 {
        address.ip().to_string()
    } else {
        address.to_string()
    }
}
