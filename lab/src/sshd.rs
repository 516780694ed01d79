//! A real OpenSSH server (Debian's openssh-server) as a site's node, on a
//! free loopback port: its own host key, and a client key pair that may
//! log in as the user running the lab.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{ManagedProcess, find_program, wait_until};

/// A running sshd node.
#[derive(Debug)]
pub struct SshNode {
    /// Its address: 127.0.0.1, or its own in a lab network.
    pub host: String,
    /// Its TCP port.
    pub port: u16,
    /// The node's directory (config, keys, log).
    pub dir: PathBuf,
    /// The private key that may log in (no passphrase).
    pub client_key: PathBuf,
    /// The user that may log in: the one running the lab.
    pub user: String,
    options: NodeOptions,
    process: ManagedProcess,
}

/// Where a node runs and how its clock goes.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// A host of a lab network ([`crate::netns`]): the node listens on
    /// port 22 of its address there; `None`: a free port on 127.0.0.1.
    pub host: Option<crate::netns::NetworkHost>,
    /// Its clock, as its sessions see it, is so far ahead (behind when
    /// negative): Debian's libfaketime, preloaded into every session by
    /// sshd's `SetEnv`.
    pub skew_ms: Option<i64>,
    /// The node runs its own chronyd following this NTP server, which
    /// its sessions' `chronyc` reaches on the default socket (the node's
    /// own directory is mounted on `/run/chrony` for sshd and chronyd).
    pub ntp_server: Option<std::net::SocketAddr>,
    /// A 1 MiB tmpfs, 95 % full, mounted at `DIR/data` for this node alone
    /// (in its own mount namespace): a nearly full filesystem.
    pub small_disk: bool,
    /// The lab's user may also log in with this password (root only: sshd
    /// reads it from a shadow file of the node's own, mounted over
    /// `/etc/shadow` in its mount namespace; the machine's is untouched).
    pub password: Option<String>,
    /// The `PATH` its sessions get (sshd's `SetEnv`), instead of sshd's
    /// default: a directory of stand-ins first (a `journalctl` on a node
    /// without systemd), or one without a program the node should lack.
    pub path: Option<String>,
}

impl SshNode {
    /// Starts a node in `dir`, with new host keys.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::start_with(dir, NodeOptions::default())
    }

    /// Starts a node whose clock is `skew_ms` ahead (behind when
    /// negative).
    pub fn start_skewed(dir: &Path, skew_ms: i64) -> Result<Self> {
        Self::start_with(
            dir,
            NodeOptions {
                skew_ms: Some(skew_ms),
                ..NodeOptions::default()
            },
        )
    }

    /// Starts a node in `dir` as `options` say.
    pub fn start_with(dir: &Path, options: NodeOptions) -> Result<Self> {
        let port = match options.host {
            Some(_) => 22,
            None => crate::free_port()?,
        };
        Self::launch(dir, port, options)
    }

    /// Starts a node in `dir` on `port`, with the host keys it has there
    /// (new ones when there are none).
    fn launch(dir: &Path, port: u16, options: NodeOptions) -> Result<Self> {
        let sshd = find_program(&["/usr/sbin/sshd", "sshd"])
            .context("OpenSSH's server is not installed (apt-get install openssh-server)")?;
        std::fs::create_dir_all(dir)?;
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("client_ed25519");
        // A second host key of another type, as most hosts have.
        let ecdsa_key = dir.join("host_ecdsa");
        for (key, kind) in [
            (&host_key, "ed25519"),
            (&ecdsa_key, "ecdsa"),
            (&client_key, "ed25519"),
        ] {
            if !key.exists() {
                keygen(key, kind)?;
            }
        }
        std::fs::copy(
            client_key.with_extension("pub"),
            dir.join("authorized_keys"),
        )?;
        // sshd's privilege separation needs its empty directory.
        if crate::process::running_as_root() {
            std::fs::create_dir_all("/run/sshd")?;
        }
        // sshd takes the first SetEnv line only: every variable on one.
        // The node's directory is its sessions' HOME, as a node has a home
        // of its own: this machine's ~/.bashrc (one that starts pyenv,
        // say) would otherwise run in every session of every node.
        let mut session_env = vec![session_variable("HOME", &dir.display().to_string())?];
        if let Some(skew_ms) = options.skew_ms {
            let library = find_program(&[FAKETIME_LIBRARY])
                .context("libfaketime is not installed (apt-get install libfaketime)")?;
            // libfaketime's relative offset, in seconds.
            let seconds = format!("{:+.3}", skew_ms as f64 / 1000.0);
            session_env.push(format!(
                "LD_PRELOAD={} FAKETIME={seconds} FAKETIME_DONT_FAKE_MONOTONIC=1",
                library.display()
            ));
        }
        if let Some(path) = &options.path {
            session_env.push(session_variable("PATH", path)?);
        }
        let set_env = format!("SetEnv {}\n", session_env.join(" "));
        let host = options.host.as_ref().map_or_else(
            || "127.0.0.1".to_owned(),
            |inside| inside.address.to_string(),
        );
        let login = if options.password.is_some() {
            "PasswordAuthentication yes\nPermitRootLogin yes\n"
        } else {
            "PasswordAuthentication no\nPermitRootLogin prohibit-password\n"
        };
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress {host}\nHostKey {host_key}\nHostKey {ecdsa}\nPidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 {login}KbdInteractiveAuthentication no\nLogLevel DEBUG1\n{set_env}",
                host_key = host_key.display(),
                ecdsa = ecdsa_key.display(),
                dir = dir.display(),
            ),
        )?;
        let own_mounts =
            options.ntp_server.is_some() || options.small_disk || options.password.is_some();
        let mut command = match &options.host {
            _ if own_mounts => with_own_mounts(dir, &options, &sshd, &config)?,
            Some(inside) => crate::netns::command_in(&inside.namespace, &sshd),
            None => Command::new(&sshd),
        };
        let log = dir.join("sshd.log");
        if !own_mounts {
            // -E, not -e: with its log on stderr, sshd's DEBUG1 lines from
            // a session's child would reach the session's own stderr.
            command.arg("-D").arg("-E").arg(&log).arg("-f").arg(&config);
        }
        // What an earlier start logged (a restarted node appends).
        let earlier = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        let mut process = ManagedProcess::spawn("sshd", command, &log)?;
        // Its log says when it listens (a node inside a lab network cannot
        // be reached from here to see).
        wait_until(&mut process, Duration::from_secs(20), "sshd", || {
            std::fs::read(&log).is_ok_and(|text| {
                String::from_utf8_lossy(text.get(earlier..).unwrap_or_default())
                    .contains("Server listening on")
            })
        })
        .with_context(|| format!("see {}", log.display()))?;
        Ok(Self {
            host,
            port,
            dir: dir.to_path_buf(),
            client_key,
            user: current_user()?,
            options,
            process,
        })
    }

    /// Lets the private key of `public_key` (a `.pub` file) log in too.
    pub fn authorize(&self, public_key: &Path) -> Result<()> {
        use std::io::Write;
        let line = std::fs::read_to_string(public_key)
            .with_context(|| format!("cannot read {}", public_key.display()))?;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("authorized_keys"))?;
        writeln!(file, "{}", line.trim())?;
        Ok(())
    }

    /// The node's public ed25519 host key line (`ssh-ed25519 AAAA… comment`).
    pub fn host_key_line(&self) -> Result<String> {
        self.host_key_line_of("ed25519")
    }

    /// The node's public host key line of `kind` (`ed25519` or `ecdsa`).
    pub fn host_key_line_of(&self, kind: &str) -> Result<String> {
        Ok(
            std::fs::read_to_string(self.dir.join(format!("host_{kind}.pub")))?
                .trim()
                .to_owned(),
        )
    }

    /// The SHA256 fingerprint of its ed25519 host key, as the operator
    /// reads it on the node (`ssh-keygen -lf`).
    pub fn host_key_fingerprint(&self) -> Result<String> {
        let output = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.dir.join("host_ed25519.pub"))
            .output()?;
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .nth(1)
            .map(str::to_owned)
            .context("ssh-keygen -lf printed no fingerprint")
    }

    /// Stops the node, its sessions with it, and starts it again as it was
    /// (a rebooted host).
    pub fn restart(mut self) -> Result<Self> {
        self.process.stop_with_children(Duration::from_secs(5));
        Self::launch(&self.dir, self.port, self.options.clone())
    }

    /// Gives the node a new host key (as a reinstalled host has) and
    /// starts it again on the same port.
    pub fn change_host_key(mut self) -> Result<Self> {
        self.process.stop_with_children(Duration::from_secs(5));
        for file in [
            "host_ed25519",
            "host_ed25519.pub",
            "host_ecdsa",
            "host_ecdsa.pub",
        ] {
            std::fs::remove_file(self.dir.join(file))?;
        }
        Self::launch(&self.dir, self.port, self.options.clone())
    }
}

impl Drop for SshNode {
    /// Ends its sessions with it: sshd's process per connection outlives
    /// the listener otherwise.
    fn drop(&mut self) {
        self.process.stop_with_children(Duration::from_secs(5));
    }
}

/// sshd started in a mount namespace of its own: with the node's chronyd
/// (then a child of sshd, so it stops with it) on a `/run/chrony` of the
/// node's, and its small disk, as `options` ask.
fn with_own_mounts(
    dir: &Path,
    options: &NodeOptions,
    sshd: &Path,
    config: &Path,
) -> Result<Command> {
    let mut script = String::new();
    if let Some(password) = &options.password {
        let shadow = shadow_with(dir, &current_user()?, password)?;
        script.push_str(&format!(
            "mount --bind '{shadow}' /etc/shadow && ",
            shadow = shadow.display()
        ));
    }
    if options.small_disk {
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        script.push_str(&format!(
            "mount -t tmpfs -o size=1m tmpfs '{data}' && head -c 972800 /dev/zero > '{data}/fill' && ",
            data = data.display()
        ));
    }
    if let Some(server) = options.ntp_server {
        let chronyd = crate::chrony::chronyd()?;
        let run = crate::chrony::private_dir(&dir.join("chrony-run"))?;
        let state = crate::chrony::private_dir(&dir.join("chrony"))?;
        let chrony_config = state.join("chrony.conf");
        std::fs::write(&chrony_config, crate::chrony::node_config(&state, server))?;
        std::fs::create_dir_all("/run/chrony")?;
        script.push_str(&format!(
            // setpriv: chronyd dies with sshd (the sh that execs it), even
            // if sshd's children are not stopped one by one.
            "mount --bind '{run}' /run/chrony && {{ setpriv --pdeathsig KILL '{chronyd}' -u root -x -d -f '{chrony_config}' & }} && ",
            run = run.display(),
            chronyd = chronyd.display(),
            chrony_config = chrony_config.display(),
        ));
    }
    script.push_str(&format!(
        "exec '{sshd}' -D -E '{log}' -f '{config}'",
        sshd = sshd.display(),
        log = dir.join("sshd.log").display(),
        config = config.display(),
    ));
    let unshare = find_program(&["/usr/bin/unshare", "unshare"])
        .context("unshare is not installed (apt-get install util-linux)")?;
    let mut command = match &options.host {
        Some(inside) => crate::netns::command_in(&inside.namespace, &unshare),
        None => Command::new(unshare),
    };
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(script);
    Ok(command)
}

/// A copy of `/etc/shadow` in `dir` where `user`'s password is
/// `password` (SHA-512 crypt, by Debian's always-installed perl), for a
/// node's mount namespace alone.
fn shadow_with(dir: &Path, user: &str, password: &str) -> Result<PathBuf> {
    if !crate::process::running_as_root() {
        bail!("a node with a password needs root (its own /etc/shadow in a mount namespace)");
    }
    let output = Command::new("perl")
        .args(["-e", "print crypt($ENV{LAB_PASSWORD}, q($6$sitedecklab$))"])
        .env("LAB_PASSWORD", password)
        .output()
        .context("perl is not installed (Debian's perl-base)")?;
    let hash = String::from_utf8(output.stdout)?;
    if !output.status.success() || !hash.starts_with("$6$") {
        bail!("perl's crypt gave no SHA-512 hash");
    }
    let entry = format!("{user}:{hash}:19000:0:99999:7:::");
    let mut lines: Vec<String> = std::fs::read_to_string("/etc/shadow")
        .context("cannot read /etc/shadow")?
        .lines()
        .filter(|line| line.split(':').next() != Some(user))
        .map(str::to_owned)
        .collect();
    lines.push(entry);
    let shadow = dir.join("shadow");
    crate::site::write_private(&shadow, &(lines.join("\n") + "\n"))?;
    Ok(shadow)
}

/// `NAME=VALUE` for sshd's `SetEnv`, which takes neither spaces nor
/// quotes in a value.
fn session_variable(name: &str, value: &str) -> Result<String> {
    if value.contains(char::is_whitespace) || value.contains('"') {
        bail!("a node's {name} cannot hold spaces or quotes: {value}");
    }
    Ok(format!("{name}={value}"))
}

/// Debian's libfaketime.
const FAKETIME_LIBRARY: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A new key pair of `kind` (`ed25519`, `ecdsa`…) without a passphrase
/// at `path` (and `.pub`).
pub fn keygen(path: &Path, kind: &str) -> Result<()> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-C", "sitedeck-lab", "-f"])
        .arg(path)
        .status()
        .context("ssh-keygen is not installed (apt-get install openssh-client)")?;
    if !status.success() {
        bail!("ssh-keygen could not make {}", path.display());
    }
    Ok(())
}

/// A new key pair of `kind` whose private key is encrypted with
/// `passphrase` (OpenSSH's format), at `path` (and `.pub`).
pub fn keygen_with_passphrase(path: &Path, kind: &str, passphrase: &str) -> Result<()> {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            kind,
            "-N",
            passphrase,
            "-C",
            "sitedeck-lab",
            "-f",
        ])
        .arg(path)
        .status()
        .context("ssh-keygen is not installed (apt-get install openssh-client)")?;
    if !status.success() {
        bail!("ssh-keygen could not make {}", path.display());
    }
    Ok(())
}

/// The name of the user running the lab.
fn current_user() -> Result<String> {
    let output = Command::new("id").arg("-un").output()?;
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}
