//! chronyd (Debian's chrony) as the site's NTP server, and the config of
//! a node's own chronyd that follows it ([`crate::sshd::NodeOptions`]).
//! Every chronyd here runs with `-x`: it never sets this machine's clock.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{ManagedProcess, find_program, wait_until};

/// A running NTP server.
#[derive(Debug)]
pub struct NtpServer {
    /// Where it answers NTP (UDP).
    pub address: SocketAddr,
    /// Its directory (config, sockets, log).
    pub dir: PathBuf,
    process: ManagedProcess,
}

impl NtpServer {
    /// Starts a server on a free UDP port of 127.0.0.1, at stratum 8 from
    /// its own clock (`local stratum 8`), answering anyone.
    pub fn start(dir: &Path) -> Result<Self> {
        let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        Self::launch(dir, SocketAddr::from(([127, 0, 0, 1], port)), None)
    }

    /// Starts a server on port 123 of a lab network's host.
    pub fn start_on(dir: &Path, host: &crate::netns::NetworkHost) -> Result<Self> {
        Self::launch(
            dir,
            SocketAddr::from((host.address, 123)),
            Some(&host.namespace),
        )
    }

    fn launch(dir: &Path, address: SocketAddr, namespace: Option<&str>) -> Result<Self> {
        let chronyd = chronyd()?;
        let dir = private_dir(dir)?;
        let config = dir.join("chrony.conf");
        std::fs::write(
            &config,
            format!(
                "port {port}\nbindaddress {ip}\ncmdport 0\nbindcmdaddress {dir}/chronyd.sock\n\
                 pidfile {dir}/chronyd.pid\ndriftfile {dir}/drift\nlocal stratum 8\nallow all\n",
                port = address.port(),
                ip = address.ip(),
                dir = dir.display(),
            ),
        )?;
        let mut command = match namespace {
            Some(namespace) => crate::netns::command_in(namespace, &chronyd),
            None => Command::new(&chronyd),
        };
        command.args(["-u", "root", "-x", "-d", "-f"]).arg(&config);
        let log = dir.join("chronyd.log");
        let mut process = ManagedProcess::spawn("chronyd", command, &log)?;
        let answers = || match namespace {
            Some(namespace) => {
                crate::netns::entered(namespace, move || answers(address)).unwrap_or(false)
            }
            None => answers(address),
        };
        wait_until(&mut process, Duration::from_secs(20), "chronyd", answers)
            .with_context(|| format!("see {}", log.display()))?;
        Ok(Self {
            address,
            dir,
            process,
        })
    }
}

impl NtpServer {
    /// Stops the server now (clients then find no answer).
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(5));
    }
}

/// The config of a node's chronyd following `server`: it listens for
/// nothing, answers chronyc on the default socket
/// (`/run/chrony/chronyd.sock`, the node's own directory mounted there)
/// and keeps its files in `dir`.
pub fn node_config(dir: &Path, server: SocketAddr) -> String {
    format!(
        "port 0\ncmdport 0\npidfile {dir}/chronyd.pid\ndriftfile {dir}/drift\n\
         server {ip} port {port} iburst minpoll 0 maxpoll 0\n",
        dir = dir.display(),
        ip = server.ip(),
        port = server.port(),
    )
}

/// Debian's chronyd.
pub fn chronyd() -> Result<PathBuf> {
    find_program(&["/usr/sbin/chronyd", "chronyd"])
        .context("chrony is not installed (apt-get install chrony)")
}

/// `dir`, made and closed to others (chronyd refuses a socket directory
/// others can read).
pub fn private_dir(dir: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(std::path::absolute(dir)?)
}

/// Whether an NTP server answers at `address`: one client request.
fn answers(address: SocketAddr) -> bool {
    let Ok(socket) = UdpSocket::bind(if address.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }) else {
        return false;
    };
    let mut request = [0u8; 48];
    request[0] = 0b00_100_011;
    let _ = socket.set_read_timeout(Some(Duration::from_millis(300)));
    if socket.send_to(&request, address).is_err() {
        return false;
    }
    let mut answer = [0u8; 68];
    matches!(socket.recv_from(&mut answer), Ok((read, _)) if read >= 48 && answer[1] != 0)
}
