//! SSH sessions to nodes (libssh2, blocking: run them off the UI thread)
//! with strict host keys: a key is checked against the user's
//! `~/.ssh/known_hosts` and sitedeck's own; an unknown key is refused
//! until the operator accepts its fingerprint (then recorded in
//! sitedeck's file), a changed key is always refused. libssh2 reads both
//! files, hashed names and `[host]:port` entries included.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ssh2::{CheckResult, HashType, HostKeyType, KnownHostFileKind, Session};

use crate::config::secret::Secret;

/// Where a node is reached, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The host name or address.
    pub host: String,
    /// The port (22 unless the profile says).
    pub port: u16,
    /// The login.
    pub user: String,
}

impl std::fmt::Display for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.user, self.known_hosts_name())
    }
}

impl SshTarget {
    /// The host as known_hosts names it: `host`, or `[host]:port` off 22.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// How to log in.
#[derive(Clone, PartialEq, Eq)]
pub enum SshAuth {
    /// A private key file, with its passphrase if it has one.
    KeyFile {
        /// The private key.
        path: PathBuf,
        /// Its passphrase (from a secret reference; never logged).
        passphrase: Option<Secret>,
    },
    /// The keys of the running ssh-agent (`SSH_AUTH_SOCK`).
    Agent,
    /// A password (from a secret reference, where the profile asks).
    Password(Secret),
    /// A login whose secret could not be read: every session with it is
    /// refused with `why`, before connecting (never another way in).
    Unresolved {
        /// Which secret, and why it could not be read (no secret value).
        why: String,
    },
}

impl std::fmt::Debug for SshAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::KeyFile {
                path,
                passphrase: None,
            } => write!(f, "KeyFile({})", path.display()),
            Self::KeyFile {
                path,
                passphrase: Some(_),
            } => write!(f, "KeyFile({}, passphrase ***)", path.display()),
            Self::Agent => f.write_str("Agent"),
            Self::Password(_) => f.write_str("Password(***)"),
            Self::Unresolved { why } => write!(f, "Unresolved({why})"),
        }
    }
}

impl SshAuth {
    /// Refuses a login whose secret could not be read, naming `target`.
    fn usable(&self, target: &SshTarget) -> Result<(), SshError> {
        match self {
            Self::Unresolved { why } => Err(SshError::AuthFailed {
                target: target.to_string(),
                why: why.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// The known_hosts files a host key is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    /// The user's own (`~/.ssh/known_hosts`), read only; `None` when
    /// there is no home.
    pub user: Option<PathBuf>,
    /// More files to trust, read only (the profile's `ssh.known_hosts`).
    pub extra: Vec<PathBuf>,
    /// sitedeck's (in its state directory), where accepted keys go.
    pub own: PathBuf,
}

impl KnownHosts {
    /// Every file that exists, read into libssh2's known-hosts list (of
    /// `session`, connected or not).
    fn load(&self, session: &Session) -> Result<ssh2::KnownHosts, String> {
        let mut hosts = session.known_hosts().map_err(|e| e.to_string())?;
        for file in self.files().filter(|file| file.exists()) {
            hosts
                .read_file(file, KnownHostFileKind::OpenSSH)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        }
        Ok(hosts)
    }

    /// Every file, the user's first, sitedeck's last.
    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.user
            .iter()
            .chain(&self.extra)
            .chain(std::iter::once(&self.own))
    }

    /// The user's file and sitedeck's in `state_dir`.
    pub fn in_state_dir(state_dir: &Path) -> Self {
        Self {
            user: std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".ssh/known_hosts")),
            extra: Vec::new(),
            own: state_dir.join("known_hosts"),
        }
    }
}

/// A host key as a server offered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Its type as known_hosts writes it, e.g. `ssh-ed25519`.
    pub key_type: String,
    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
    /// The key, base64 as in known_hosts.
    pub base64: String,
}

/// Why a session could not be had, in words that say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    /// No TCP connection.
    #[error("cannot reach {target}: {why}")]
    Unreachable {
        /// The node.
        target: String,
        /// The system's words.
        why: String,
    },
    /// A host key no known_hosts file has.
    #[error(
        "{target} offered a host key sitedeck does not know: {} {}. Compare it with \
         `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the node before accepting it.",
        key.key_type,
        key.fingerprint
    )]
    UnknownHostKey {
        /// The node.
        target: String,
        /// The key offered.
        key: Box<HostKey>,
    },
    /// A host key that differs from the one recorded.
    #[error(
        "the host key of {target} has CHANGED: it offered {} {}, which is not the key \
         recorded for it. Someone may be intercepting the connection, or the node was \
         reinstalled; refused. If the change is expected, remove the old key \
         (`ssh-keygen -R '{name}'` for ~/.ssh/known_hosts, or its line in {own}).",
        key.key_type,
        key.fingerprint
    )]
    ChangedHostKey {
        /// The node.
        target: String,
        /// The name known_hosts has it under.
        name: String,
        /// The key offered.
        key: Box<HostKey>,
        /// sitedeck's known_hosts.
        own: String,
    },
    /// The node would not let the user in.
    #[error("{target} refused the login: {why}")]
    AuthFailed {
        /// The node.
        target: String,
        /// What was tried and what the server said.
        why: String,
    },
    /// Anything else on the way: a handshake or a known_hosts file that
    /// cannot be read.
    #[error("SSH with {target}: {why}")]
    Failed {
        /// The node.
        target: String,
        /// What failed.
        why: String,
    },
}

/// The host key algorithms asked for, strongest first.
const HOST_KEY_PREFERENCE: &str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,\
     ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa";

/// Opens a session to `target` over `stream` (a TCP connection, or a
/// channel through a bastion), checks its host key, and logs in. Blocking.
pub fn open(
    stream: impl std::os::fd::AsRawFd + 'static,
    target: &SshTarget,
    auth: &SshAuth,
    known: &KnownHosts,
    timeout: Duration,
) -> Result<Session, SshError> {
    auth.usable(target)?;
    let name = target.to_string();
    let failed = |why: String| SshError::Failed {
        target: name.clone(),
        why,
    };
    let mut session = Session::new().map_err(|e| failed(e.to_string()))?;
    session.set_timeout(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX));
    // Read once: for the algorithms to ask for, then for the check.
    let hosts = known.load(&session).map_err(failed)?;
    session
        .method_pref(
            ssh2::MethodType::HostKey,
            &host_key_preference(&hosts, target),
        )
        .map_err(|e| failed(e.to_string()))?;
    session.set_tcp_stream(stream);
    session
        .handshake()
        .map_err(|e| failed(format!("the handshake failed: {e}")))?;
    check_host_key(&session, &hosts, target, known)?;
    login(&session, target, auth)?;
    // No keepalive interval on a blocking session: libssh2 then ends any
    // blocking wait that outlasts the next keepalive's due time with a
    // timeout ("Timed out waiting on socket"), however long the session's
    // own timeout is. Idle kept sessions get their keepalives from
    // `pool`; busy ones have traffic.
    Ok(session)
}

/// The host key algorithms to ask for: those of the keys recorded for
/// the host first (as OpenSSH does), so a host known by its ECDSA key is
/// not met with its Ed25519 one and taken for changed; then the rest.
/// Hashed names are not read here (they get the default order).
fn host_key_preference(hosts: &ssh2::KnownHosts, target: &SshTarget) -> String {
    let name = target.known_hosts_name();
    let mut recorded: Vec<&str> = Vec::new();
    for host in hosts.hosts().unwrap_or_default() {
        if host.name() != Some(name.as_str()) {
            continue;
        }
        let algorithms = match key_blob_type(host.key()).as_deref() {
            Some("ssh-ed25519") => "ssh-ed25519",
            Some("ecdsa-sha2-nistp256") => "ecdsa-sha2-nistp256",
            Some("ecdsa-sha2-nistp384") => "ecdsa-sha2-nistp384",
            Some("ecdsa-sha2-nistp521") => "ecdsa-sha2-nistp521",
            Some("ssh-rsa") => "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
            _ => continue,
        };
        recorded.extend(algorithms.split(','));
    }
    let mut order: Vec<&str> = Vec::new();
    for algorithm in recorded.into_iter().chain(HOST_KEY_PREFERENCE.split(',')) {
        if !order.contains(&algorithm) {
            order.push(algorithm);
        }
    }
    order.join(",")
}

/// The type a public key blob (base64, as in known_hosts) names first.
fn key_blob_type(base64_key: &str) -> Option<String> {
    let blob = base64::engine::general_purpose::STANDARD
        .decode(base64_key)
        .ok()?;
    let length = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    String::from_utf8(blob.get(4..4 + length)?.to_vec()).ok()
}

/// Connects to `target` directly and opens a session (see [`open`]).
pub fn connect(
    target: &SshTarget,
    auth: &SshAuth,
    known: &KnownHosts,
    timeout: Duration,
) -> Result<Session, SshError> {
    // A login that cannot work is said before the node is even reached.
    auth.usable(target)?;
    let unreachable = |why: String| SshError::Unreachable {
        target: target.to_string(),
        why,
    };
    let addresses: Vec<_> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
        .collect();
    // Each address in turn, as ssh does (a name with an IPv6 address
    // first that this host cannot route still reaches the IPv4 one).
    let mut failures = Vec::new();
    let mut connected = None;
    for address in &addresses {
        match TcpStream::connect_timeout(address, timeout) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(e) if addresses.len() == 1 => failures.push(e.to_string()),
            Err(e) => failures.push(format!("{address}: {e}")),
        }
    }
    let stream = match connected {
        Some(stream) => stream,
        None if failures.is_empty() => return Err(unreachable("the name has no address".into())),
        None => return Err(unreachable(failures.join("; "))),
    };
    // Small requests and answers: Nagle's wait would add its delay to each.
    let _ = stream.set_nodelay(true);
    open(stream, target, auth, known, timeout)
}

/// The key the server offered.
fn offered_key(session: &Session) -> Option<(HostKey, Vec<u8>)> {
    let (raw, kind) = session.host_key()?;
    let hash = session.host_key_hash(HashType::Sha256)?;
    let engine = base64::engine::general_purpose::STANDARD;
    let fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    );
    let key = HostKey {
        key_type: key_type_name(kind).to_owned(),
        fingerprint,
        base64: engine.encode(raw),
    };
    Some((key, raw.to_vec()))
}

fn key_type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

/// Checks the offered key against both known_hosts files: a match in
/// either lets the session on; a mismatch in either is refused.
fn check_host_key(
    session: &Session,
    hosts: &ssh2::KnownHosts,
    target: &SshTarget,
    known: &KnownHosts,
) -> Result<(), SshError> {
    let failed = |why: String| SshError::Failed {
        target: target.to_string(),
        why,
    };
    let (key, raw) =
        offered_key(session).ok_or_else(|| failed("the server offered no host key".into()))?;
    match hosts.check_port(&target.host, target.port, &raw) {
        CheckResult::Match => Ok(()),
        CheckResult::NotFound => Err(SshError::UnknownHostKey {
            target: target.to_string(),
            key: Box::new(key),
        }),
        CheckResult::Mismatch => Err(SshError::ChangedHostKey {
            target: target.to_string(),
            name: target.known_hosts_name(),
            key: Box::new(key),
            own: known.own.display().to_string(),
        }),
        CheckResult::Failure => Err(failed("the host key could not be checked".into())),
    }
}

/// Records `key` for `target` in sitedeck's known_hosts (written
/// atomically), after the operator compared its fingerprint. A host whose
/// recorded key differs is refused: a changed key is never accepted here
/// (the old line has to be removed by hand first).
pub fn accept_host_key(
    known: &KnownHosts,
    target: &SshTarget,
    key: &HostKey,
) -> Result<(), String> {
    // Read, add, write: two acceptances at once in this process must not
    // lose one another's line.
    static RECORDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _recording = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&key.base64)
        .map_err(|e| format!("the key is not base64: {e}"))?;
    let hosts = known.load(&Session::new().map_err(|e| e.to_string())?)?;
    match hosts.check_port(&target.host, target.port, &raw) {
        CheckResult::Match => return Ok(()),
        CheckResult::Mismatch => {
            return Err(format!(
                "{target} has another key recorded: a changed key is not accepted; remove \
                 the old one first (`ssh-keygen -R '{}'`, or its line in {})",
                target.known_hosts_name(),
                known.own.display()
            ));
        }
        CheckResult::Failure => {
            return Err(format!(
                "the known host keys of {target} could not be checked: nothing recorded"
            ));
        }
        CheckResult::NotFound => {}
    }
    let mut text = match std::fs::read_to_string(&known.own) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", known.own.display())),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "{} {} {}\n",
        target.known_hosts_name(),
        key.key_type,
        key.base64
    ));
    if let Some(dir) = known.own.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    crate::store::write_atomic(&known.own, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", known.own.display()))
}

/// Logs in as the profile says.
fn login(session: &Session, target: &SshTarget, auth: &SshAuth) -> Result<(), SshError> {
    let refused = |why: String| SshError::AuthFailed {
        target: target.to_string(),
        why,
    };
    let user = target.user.as_str();
    let tried = match auth {
        SshAuth::KeyFile { path, passphrase } => session
            .userauth_pubkey_file(user, None, path, passphrase.as_ref().map(Secret::expose))
            .map_err(|e| key_refused(path, passphrase.is_some(), &e)),
        SshAuth::Agent => session
            .userauth_agent(user)
            .map_err(|e| format!("no key of the ssh-agent was accepted ({e})")),
        SshAuth::Password(password) => session
            .userauth_password(user, password.expose())
            .map_err(|e| format!("the password was not accepted ({e})")),
        SshAuth::Unresolved { why } => Err(why.clone()),
    };
    tried.map_err(refused)?;
    if session.authenticated() {
        Ok(())
    } else {
        Err(refused(
            "the server asks for more than one way to log in".into(),
        ))
    }
}

/// Why a key was not accepted: libssh2 says "unable to extract public
/// key from private key file" for an encrypted key without its passphrase
/// or with a wrong one (its words carry no secret).
fn key_refused(path: &Path, with_passphrase: bool, error: &ssh2::Error) -> String {
    let unreadable = matches!(
        error.code(),
        ssh2::ErrorCode::Session(code) if code == LIBSSH2_ERROR_FILE
    );
    match (unreadable, with_passphrase) {
        (true, true) => format!(
            "the key {} could not be opened: wrong passphrase, or not a private key ({error})",
            path.display()
        ),
        (true, false) => format!(
            "the key {} could not be opened: it needs a passphrase (`passphrase` in the profile), or it is not a private key ({error})",
            path.display()
        ),
        (false, _) => format!("the key {} was not accepted ({error})", path.display()),
    }
}

/// libssh2's LIBSSH2_ERROR_FILE: a key file it cannot read or decrypt.
const LIBSSH2_ERROR_FILE: i32 = -16;

/// Runs `command` on the session's host and returns its exit status and
/// output (stdout, stderr). Blocking.
pub fn run(session: &Session, command: &str) -> Result<(i32, String, String), String> {
    use std::io::Read;
    let mut channel = session
        .channel_session()
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    channel
        .exec(command)
        .map_err(|e| format!("cannot run the command: {e}"))?;
    let mut out = String::new();
    channel
        .read_to_string(&mut out)
        .map_err(|e| format!("cannot read the output: {e}"))?;
    let mut err = String::new();
    channel
        .stderr()
        .read_to_string(&mut err)
        .map_err(|e| format!("cannot read the output: {e}"))?;
    channel
        .wait_close()
        .map_err(|e| format!("the command did not end cleanly: {e}"))?;
    let status = channel
        .exit_status()
        .map_err(|e| format!("no exit status: {e}"))?;
    Ok((status, out, err))
}
