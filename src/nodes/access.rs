//! How the site's hosts are reached over SSH, from the profile's `ssh`
//! section: the nodes, the login, the bastion and the known_hosts files;
//! and the site's [`Bastion`], whose one session (a [`Tunnel`]) carries
//! what goes through it, opened again when it ended.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::config::profile::{NodesSpec, PathRef, SiteProfile, SshSpec};
use crate::config::secret::SecretSource;

use super::ssh::{KnownHosts, SshAuth, SshError, SshTarget};
use super::tunnel::Tunnel;

/// Where and how the site's hosts are reached.
#[derive(Debug, Clone)]
pub struct SshAccess {
    /// The profile's nodes, by name (none for `from_cluster`: see
    /// [`super::cluster_nodes`]).
    pub nodes: Vec<(String, SshTarget)>,
    /// The login on the nodes.
    pub auth: SshAuth,
    /// The bastion and its login, when the profile has one.
    pub bastion: Option<(SshTarget, SshAuth)>,
    /// The host keys trusted.
    pub known: KnownHosts,
}

impl SshAccess {
    /// The profile's SSH access, with sitedeck's known_hosts in
    /// `state_dir`; `None` without an `ssh` section. A passphrase or
    /// password that cannot be read makes its login
    /// [`SshAuth::Unresolved`]: each session with it says why.
    pub fn of_profile(profile: &SiteProfile, state_dir: &Path) -> Option<Self> {
        let ssh @ SshSpec {
            bastion,
            known_hosts,
            user,
            identity,
            passphrase,
            password,
            port: _,
            nodes,
            disk: _,
        } = profile.ssh.as_ref()?;
        let base = &profile.base_dir;
        let mut known = KnownHosts::in_state_dir(state_dir);
        known.extra = known_hosts.iter().map(|file| file.resolve(base)).collect();
        let nodes = match nodes {
            NodesSpec::List(list) => list
                .iter()
                .map(|node| {
                    let target = SshTarget {
                        host: node.host.clone(),
                        port: ssh.port_of(node),
                        user: login(user),
                    };
                    (node.name.value.clone(), target)
                })
                .collect(),
            NodesSpec::FromCluster | NodesSpec::None => Vec::new(),
        };
        let auth = Login {
            identity: identity.as_ref(),
            passphrase: passphrase.as_ref(),
            password: password.as_ref(),
            section: "ssh",
        };
        Some(Self {
            nodes,
            auth: auth.resolve(base),
            bastion: bastion.as_ref().map(|b| {
                let target = SshTarget {
                    host: b.host.clone(),
                    port: b.port.get(),
                    user: login(&b.user),
                };
                let auth = Login {
                    identity: b.identity.as_ref(),
                    passphrase: b.passphrase.as_ref(),
                    password: b.password.as_ref(),
                    section: "ssh.bastion",
                };
                (target, auth.resolve(base))
            }),
            known,
        })
    }

    /// Where a node of the cluster's is reached: at `host` (its
    /// InternalIP), on `ssh.port`, as `ssh.user`.
    pub fn cluster_node(profile: &SiteProfile, host: &str) -> SshTarget {
        let ssh = profile.ssh.as_ref();
        SshTarget {
            host: host.to_owned(),
            port: ssh.map_or(22, |ssh| ssh.port.get()),
            user: login(&ssh.and_then(|ssh| ssh.user.clone())),
        }
    }
}

/// The login user: the profile's, else the one running sitedeck.
fn login(user: &Option<String>) -> String {
    user.clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into())
}

/// One login as the profile writes it (`ssh` or `ssh.bastion`).
struct Login<'a> {
    identity: Option<&'a PathRef>,
    passphrase: Option<&'a Spanned<SecretSource>>,
    password: Option<&'a Spanned<SecretSource>>,
    section: &'static str,
}

impl Login<'_> {
    /// The password when the profile sets one, else the key (with its
    /// passphrase), else the agent. A secret that cannot be read is an
    /// [`SshAuth::Unresolved`] login, never a fallback to another way in.
    fn resolve(&self, base: &Path) -> SshAuth {
        let read = |secret: &Spanned<SecretSource>, key: &str| {
            secret
                .value
                .resolve_local(base)
                .map_err(|e| SshAuth::Unresolved {
                    why: format!("`{}.{key}` could not be read: {e}", self.section),
                })
        };
        if let Some(password) = self.password {
            return read(password, "password").map_or_else(|e| e, SshAuth::Password);
        }
        match self.identity {
            Some(path) => {
                let passphrase = match self.passphrase.map(|p| read(p, "passphrase")) {
                    Some(Err(unresolved)) => return unresolved,
                    Some(Ok(passphrase)) => Some(passphrase),
                    None => None,
                };
                SshAuth::KeyFile {
                    path: path.resolve(base),
                    passphrase,
                }
            }
            None => SshAuth::Agent,
        }
    }
}

/// How the bastion is reached and trusted: its address, login and the
/// known_hosts files its key is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BastionRoute {
    /// The bastion.
    pub target: SshTarget,
    /// The login.
    pub auth: SshAuth,
    /// The host keys trusted.
    pub known: KnownHosts,
}

impl BastionRoute {
    /// The profile's bastion, if it has one.
    pub fn of_profile(profile: &SiteProfile, state_dir: &Path) -> Option<Self> {
        let access = SshAccess::of_profile(profile, state_dir)?;
        let (target, auth) = access.bastion?;
        Some(Self {
            target,
            auth,
            known: access.known,
        })
    }
}

/// The bastions of this process: one session per bastion, shared by
/// whatever goes through it (brokers, the API server, nodes).
static SHARED: Mutex<Vec<Arc<Bastion>>> = Mutex::new(Vec::new());

/// The site's bastion: one session carries every connection through it
/// (brokers, the API server), opened on first use and again after it
/// ended.
#[derive(Debug)]
pub struct Bastion {
    route: BastionRoute,
    timeout: Duration,
    tunnel: Mutex<Option<Arc<Tunnel>>>,
    /// `host:port` → its stable listener.
    listeners: Mutex<std::collections::HashMap<(String, u16), std::net::SocketAddr>>,
}

impl Bastion {
    /// The bastion `route` leads to, shared with every other user of the
    /// same route in this process; `timeout` is for its login and each
    /// connection it opens (the first user's counts).
    pub fn shared(route: &BastionRoute, timeout: Duration) -> Arc<Self> {
        let mut shared = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bastion) = shared.iter().find(|b| b.route == *route) {
            return Arc::clone(bastion);
        }
        let bastion = Arc::new(Self {
            route: route.clone(),
            timeout,
            tunnel: Mutex::default(),
            listeners: Mutex::default(),
        });
        shared.push(Arc::clone(&bastion));
        bastion
    }

    /// The profile's bastion (shared), if it has one.
    pub fn of_profile(
        profile: &SiteProfile,
        state_dir: &Path,
        timeout: Duration,
    ) -> Option<Arc<Self>> {
        BastionRoute::of_profile(profile, state_dir).map(|route| Self::shared(&route, timeout))
    }

    /// `user@host` (`[host]:port` off 22).
    pub fn name(&self) -> String {
        self.route.target.to_string()
    }

    /// The session's tunnel: the open one, or a new one when there is
    /// none or it ended. Blocking (a login when it opens one).
    pub fn tunnel(&self) -> Result<Arc<Tunnel>, SshError> {
        let mut slot = self.tunnel.lock().map_err(|_| SshError::Failed {
            target: self.name(),
            why: "its session is poisoned".into(),
        })?;
        if let Some(tunnel) = slot.as_ref()
            && tunnel.ended().is_none()
        {
            return Ok(Arc::clone(tunnel));
        }
        let route = &self.route;
        let tunnel = Arc::new(Tunnel::open(
            &route.target,
            &route.auth,
            &route.known,
            self.timeout,
        )?);
        *slot = Some(Arc::clone(&tunnel));
        Ok(tunnel)
    }

    /// A listener on 127.0.0.1 for `host:port` from the bastion that
    /// outlives the session: each connection goes through the tunnel open
    /// at the time (a new one after the bastion came back), so a client
    /// that keeps the address (the kube client) keeps working. Blocks
    /// while it opens the first session.
    pub fn stable_listener(
        self: &Arc<Self>,
        host: &str,
        port: u16,
    ) -> Result<std::net::SocketAddr, SshError> {
        self.tunnel()?;
        let failed = |why: String| SshError::Failed {
            target: self.name(),
            why,
        };
        let mut listeners = self
            .listeners
            .lock()
            .map_err(|_| failed("its listeners are poisoned".into()))?;
        if let Some(address) = listeners.get(&(host.to_owned(), port)) {
            return Ok(*address);
        }
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| failed(format!("cannot listen on 127.0.0.1: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| failed(format!("cannot listen on 127.0.0.1: {e}")))?;
        let (bastion, target) = (Arc::downgrade(self), host.to_owned());
        std::thread::Builder::new()
            .name(format!("bastion listener {target}:{port}"))
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let Some(bastion) = bastion.upgrade() else {
                        return;
                    };
                    match bastion.tunnel() {
                        Ok(tunnel) => {
                            let _ = tunnel.carry(&target, port, stream);
                        }
                        Err(error) => tracing::warn!("{}", explain(&error)),
                    }
                }
            })
            .map_err(|e| failed(format!("no thread for the listener: {e}")))?;
        listeners.insert((host.to_owned(), port), address);
        Ok(address)
    }

    /// Why the session ended, or why the last connection to one of
    /// `addresses` could not be opened, if so.
    pub fn failure(&self, addresses: &[(String, u16)]) -> Option<String> {
        let slot = self.tunnel.lock().ok()?;
        let tunnel = slot.as_ref()?;
        tunnel.ended().or_else(|| {
            addresses
                .iter()
                .find_map(|(host, port)| tunnel.failure_to(host, *port))
        })
    }
}

/// What went wrong with the bastion, and what to do about an unknown key.
pub fn explain(error: &SshError) -> String {
    match error {
        SshError::UnknownHostKey { key, .. } => format!(
            "the bastion: {error} Once compared: `sitedeck nodes --accept bastion={}`",
            key.fingerprint
        ),
        _ => format!("the bastion: {error}"),
    }
}
