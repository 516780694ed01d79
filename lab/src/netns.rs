//! Test hosts in network namespaces (Debian's iproute2: `ip netns` and
//! veth pairs; needs root), laid out as a customer's site: a bastion this
//! host reaches, and inside hosts that only the bastion reaches. Each
//! network takes a random 10.x.y.0/24:
//!
//! - this host 10.x.y.1 ↔ bastion 10.x.y.2 (a /30);
//! - bastion 10.x.y.(4i+1) ↔ inside host i at 10.x.y.(4i+2) (a /30 each).
//!
//! This host's route to the rest of the /24 is `unreachable`, so what
//! reaches an inside host went through the bastion. Dropping the network kills every process in its
//! namespaces and deletes them; a network left behind by a test that was
//! killed is deleted by the next one.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result, bail};

/// Networks made by this process, for unique names.
static MADE: AtomicU32 = AtomicU32::new(0);

/// The routing protocol number that marks the lab's routes as its own.
const ROUTE_PROTO: &str = "211";

/// Where every namespace's name starts; then the creating process's id.
const PREFIX: &str = "sdl";

/// A bastion and its inside hosts, each in a namespace of its own.
#[derive(Debug)]
pub struct SiteNetwork {
    /// `sdl<pid>n<k>`: every namespace's name starts with it.
    name: String,
    /// The second and third octets of 10.x.y.0/24.
    octets: (u8, u8),
    /// The namespaces made, the bastion's first.
    namespaces: Vec<String>,
    /// Whether the unreachable route to the inside was added.
    route: bool,
}

/// A host of a lab network: its namespace and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkHost {
    /// The network namespace.
    pub namespace: String,
    /// Its address (an inside host's is reached from the bastion only).
    pub address: Ipv4Addr,
}

impl SiteNetwork {
    /// Makes the bastion's namespace and its link to this host.
    pub fn create() -> Result<Self> {
        if !crate::process::running_as_root() {
            bail!("network namespaces need root (ip netns)");
        }
        remove_abandoned();
        let name = format!(
            "{PREFIX}{}n{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let octets = free_subnet()?;
        let mut network = Self {
            name,
            octets,
            namespaces: Vec::new(),
            route: false,
        };
        let bastion = format!("{}b", network.name);
        ip(&["netns", "add", &bastion])?;
        network.namespaces.push(bastion.clone());
        let uplink = format!("{}u", network.name);
        ip(&[
            "link", "add", &uplink, "type", "veth", "peer", "name", "eth0", "netns", &bastion,
        ])?;
        ip(&["addr", "add", &network.cidr(1), "dev", &uplink])?;
        ip(&["link", "set", &uplink, "up"])?;
        in_namespace(&bastion, &["addr", "add", &network.cidr(2), "dev", "eth0"])?;
        in_namespace(&bastion, &["link", "set", "eth0", "up"])?;
        in_namespace(&bastion, &["link", "set", "lo", "up"])?;
        // The rest of the /24 is the site's inside: unreachable from here
        // (a sandbox's default route might otherwise answer for it). The
        // route's metric is this process's id, so that an abandoned one can
        // be told and removed.
        ip(&[
            "route",
            "add",
            "unreachable",
            &network.subnet(),
            "metric",
            &std::process::id().to_string(),
            "proto",
            ROUTE_PROTO,
        ])?;
        network.route = true;
        Ok(network)
    }

    /// The bastion's namespace.
    pub fn bastion_namespace(&self) -> &str {
        self.namespaces.first().map_or("", String::as_str)
    }

    /// The bastion, which this host reaches.
    pub fn bastion(&self) -> NetworkHost {
        NetworkHost {
            namespace: self.bastion_namespace().to_owned(),
            address: self.address(2),
        }
    }

    /// Adds a host that only the bastion reaches.
    pub fn add_inside_host(&mut self) -> Result<NetworkHost> {
        let index = self.namespaces.len();
        if index > 62 {
            bail!("a lab network holds 62 inside hosts");
        }
        let index = u8::try_from(index).context("too many hosts")?;
        let namespace = format!("{}h{index}", self.name);
        let bastion = self.bastion_namespace().to_owned();
        ip(&["netns", "add", &namespace])?;
        self.namespaces.push(namespace.clone());
        let link = format!("eth{index}");
        in_namespace(
            &bastion,
            &[
                "link", "add", &link, "type", "veth", "peer", "name", "eth0", "netns", &namespace,
            ],
        )?;
        in_namespace(
            &bastion,
            &["addr", "add", &self.cidr(4 * index + 1), "dev", &link],
        )?;
        in_namespace(&bastion, &["link", "set", &link, "up"])?;
        in_namespace(
            &namespace,
            &["addr", "add", &self.cidr(4 * index + 2), "dev", "eth0"],
        )?;
        in_namespace(&namespace, &["link", "set", "eth0", "up"])?;
        in_namespace(&namespace, &["link", "set", "lo", "up"])?;
        // Everything else goes to the bastion (the site's NTP server is
        // there); the bastion forwards nothing.
        let gateway = self.address(4 * index + 1).to_string();
        in_namespace(&namespace, &["route", "add", "default", "via", &gateway])?;
        Ok(NetworkHost {
            namespace,
            address: self.address(4 * index + 2),
        })
    }

    fn address(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.octets.0, self.octets.1, last)
    }

    fn subnet(&self) -> String {
        format!("{}/24", self.address(0))
    }

    fn cidr(&self, last: u8) -> String {
        format!("{}/30", self.address(last))
    }
}

impl Drop for SiteNetwork {
    fn drop(&mut self) {
        if self.route {
            let metric = std::process::id().to_string();
            let _ = Command::new("ip")
                .args([
                    "route",
                    "del",
                    "unreachable",
                    &self.subnet(),
                    "metric",
                    &metric,
                ])
                .status();
        }
        for namespace in self.namespaces.iter().rev() {
            remove_namespace(namespace);
        }
    }
}

/// `program` run inside `namespace` (`ip netns exec`).
pub fn command_in(namespace: &str, program: &std::path::Path) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", namespace]).arg(program);
    command
}

/// Kills what runs in `namespace` and deletes it.
fn remove_namespace(namespace: &str) {
    if let Ok(output) = Command::new("ip")
        .args(["netns", "pids", namespace])
        .output()
    {
        for pid in String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<libc::pid_t>().ok())
        {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", namespace])
        .status();
}

/// Deletes the lab namespaces and routes whose creating process is gone.
fn remove_abandoned() {
    if let Ok(output) = Command::new("ip")
        .args(["route", "show", "type", "unreachable", "proto", ROUTE_PROTO])
        .output()
    {
        // `unreachable 10.x.y.0/24 metric PID`
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["unreachable", subnet, "metric", pid] = words.as_slice()
                && subnet.starts_with("10.2")
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = Command::new("ip")
                    .args(["route", "del", "unreachable", subnet, "metric", pid])
                    .status();
            }
        }
    }
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            remove_namespace(&name);
        }
    }
}

/// A 10.x.y.0/24 no interface here has an address in.
fn free_subnet() -> Result<(u8, u8)> {
    let output = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .context("iproute2 is not installed (apt-get install iproute2)")?;
    let taken = String::from_utf8_lossy(&output.stdout).into_owned();
    for attempt in 0..64u32 {
        let seed = crate::lab_secret(&attempt.to_string());
        let hash = seed
            .rsplit('-')
            .next()
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .unwrap_or(u64::from(attempt));
        let octets = (200 + (hash % 50) as u8, (hash >> 8) as u8);
        if !taken.contains(&format!(" 10.{}.{}.", octets.0, octets.1)) {
            return Ok(octets);
        }
    }
    bail!("no free 10.x.y.0/24 for a lab network")
}

fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("iproute2 is not installed (apt-get install iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn in_namespace(namespace: &str, args: &[&str]) -> Result<()> {
    let mut all = vec!["-n", namespace];
    all.extend_from_slice(args);
    ip(&all)
}

/// Whether a TCP connection to `address` opens from inside `namespace`.
pub fn connects(namespace: &str, address: std::net::SocketAddr) -> bool {
    entered(namespace, move || {
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(1)).is_ok()
    })
    .unwrap_or(false)
}

/// A TCP listener on `address` inside `namespace` (the socket stays
/// there).
pub fn bind_in(namespace: &str, address: std::net::SocketAddr) -> Result<std::net::TcpListener> {
    entered(namespace, move || {
        std::net::TcpListener::bind(address).with_context(|| format!("cannot listen on {address}"))
    })?
}

/// What `work` returns, run on a thread of this process that entered
/// `namespace` (and ends with it).
pub fn entered<T: Send + 'static>(
    namespace: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/run/netns/{namespace}"))
        .with_context(|| format!("no network namespace {namespace}"))?;
    std::thread::spawn(move || {
        // SAFETY: a namespace file this thread holds open; setns changes
        // this thread's network namespace only, and the thread ends here.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!(
                "cannot enter the namespace: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(work())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the thread in {namespace} failed"))?
}
