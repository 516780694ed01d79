//! A Kubernetes API simulator that the real `kubectl` accepts.
//!
//! No real API server can be installed on the machines sitedeck is built
//! on, so the lab serves the API itself: HTTPS with a throwaway CA and a
//! bearer token, discovery, get/list/watch with selectors, paging and
//! resourceVersion semantics, and Tables for kubectl's printer. It runs
//! in-process on a runtime of its own, so callers need none, and stops
//! when its [`KubeSim`] is dropped.

pub mod access;
pub mod daemonset;
pub mod delete;
pub mod deployment;
pub mod discovery;
pub mod faults;
pub mod front;
pub mod helm;
pub mod loggen;
pub mod logs;
pub mod openapi;
pub mod patch;
pub mod portforward;
pub mod present;
pub mod printers;
pub mod replicaset;
pub mod request;
pub mod resources;
pub mod revisions;
pub mod rollout;
pub mod scale;
pub mod seed;
pub mod selectors;
pub mod server;
pub mod sets;
pub mod statefulset;
pub mod status;
pub mod store;
pub mod table;
pub mod tls;
pub mod validate;
pub mod watch;
pub mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use base64::Engine;
use serde_json::Value;
use tokio::sync::oneshot;

pub use request::RecordedRequest;
pub use status::ApiError;

use server::ServerState;
use store::{ObjectStore, SharedStore};

/// How a simulator behaves; [`Default`] is a seeded site with generous
/// limits.
#[derive(Debug, Clone)]
pub struct KubeSimOptions {
    /// How many changes are kept for watches; a watch from before them
    /// gets 410 Gone.
    pub retained_changes: usize,
    /// How often a watch that allows bookmarks gets a BOOKMARK event.
    pub bookmark_interval: Duration,
    /// Whether to start with the lab's small site ([`seed::seed_site`])
    /// rather than only the namespaces every cluster has.
    pub seed_site: bool,
    /// How often a request passes through the site, each leaving JSON
    /// lines in the logs of the pods it touches ([`loggen`]); `None`: pods
    /// log only what tests add.
    pub log_interval: Option<Duration>,
    /// How far back the generated logs go (not before a container started).
    pub log_history: Duration,
    /// What SelfSubjectAccessReviews answer; by default everything is
    /// allowed except `secrets` in `kube-system`.
    pub access_policy: access::AccessPolicy,
    /// Serve plain `http://` instead of HTTPS; the kubeconfig then has no
    /// CA data, and requests without a token are let in (client-go sends
    /// no token over plain HTTP), as on the API server's old insecure port.
    pub plain_http: bool,
    /// How long a step of the rollout simulation takes ([`rollout`]): a new
    /// pod is Pending for one step, then Running.
    pub rollout_step: Duration,
    /// Images whose pods never become ready (CrashLoopBackOff), besides
    /// every image whose tag ends in `-broken`.
    pub broken_images: Vec<String>,
    /// A lab network's host ([`crate::netns`]) to serve on, at its address
    /// (its certificate valid for it); `None`: 127.0.0.1.
    pub host: Option<crate::netns::NetworkHost>,
}

impl Default for KubeSimOptions {
    fn default() -> Self {
        Self {
            retained_changes: 10_000,
            bookmark_interval: Duration::from_secs(60),
            seed_site: true,
            log_interval: Some(Duration::from_secs(1)),
            log_history: Duration::from_secs(3600),
            access_policy: access::AccessPolicy::default(),
            plain_http: false,
            rollout_step: Duration::from_millis(250),
            broken_images: Vec::new(),
            host: None,
        }
    }
}

/// A running Kubernetes API simulator on a free 127.0.0.1 port, with a
/// kubeconfig for it; stopped when dropped.
#[derive(Debug)]
pub struct KubeSim {
    kubeconfig: PathBuf,
    url: String,
    ca_pem: String,
    state: Arc<ServerState>,
    shutdown: Option<oneshot::Sender<()>>,
    server_thread: Option<JoinHandle<()>>,
}

impl KubeSim {
    /// Starts a simulator with the seeded site and writes `dir/kubeconfig`.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::start_with(dir, KubeSimOptions::default())
    }

    /// Starts a simulator with the given options and writes
    /// `dir/kubeconfig` (context `lab`).
    pub fn start_with(dir: &Path, options: KubeSimOptions) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let names: Vec<String> = options
            .host
            .iter()
            .map(|host| host.address.to_string())
            .collect();
        let certificates = tls::LabCertificates::generate_for(&names)?;
        let tls_config = if options.plain_http {
            None
        } else {
            Some(certificates.server_config()?)
        };

        let mut store = ObjectStore::new(options.retained_changes);
        seed::seed_namespaces(&mut store)?;
        if options.seed_site {
            seed::seed_site(&mut store)?;
        }

        let listener = match &options.host {
            Some(host) => crate::netns::bind_in(&host.namespace, (host.address, 0).into())?,
            None => std::net::TcpListener::bind("127.0.0.1:0")
                .context("cannot listen on 127.0.0.1 for the Kubernetes API simulator")?,
        };
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?.to_string();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the simulator's runtime")?;
        let state = Arc::new(ServerState {
            store: SharedStore::new(store),
            token: crate::lab_secret("kube-token"),
            address: address.clone(),
            bookmark_interval: options.bookmark_interval,
            requests: request::RequestLog::default(),
            logs: logs::LogBook::new(options.log_interval, options.log_history),
            access: options.access_policy.clone(),
            faults: faults::Faults::default(),
            plain_http: options.plain_http,
            forwards: portforward::ForwardTargets::default(),
        });
        let (shutdown, shutdown_signal) = oneshot::channel();
        let server_state = state.clone();
        let controller = rollout::Controller::new(
            state.store.clone(),
            options.rollout_step,
            options.broken_images.clone(),
        );
        let server_thread = std::thread::Builder::new()
            .name("kube-sim".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(controller.run());
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            server::serve(listener, tls_config, server_state, shutdown_signal)
                                .await;
                        }
                        Err(error) => eprintln!("kube-sim: cannot use its listener: {error}"),
                    }
                });
                // Dropping the runtime here ends every connection and watch.
            })
            .context("cannot start the simulator's thread")?;

        let sim = Self {
            kubeconfig: std::path::absolute(dir.join("kubeconfig"))?,
            url: format!(
                "{}://{address}",
                if options.plain_http { "http" } else { "https" }
            ),
            ca_pem: certificates.ca_pem,
            state,
            shutdown: Some(shutdown),
            server_thread: Some(server_thread),
        };
        sim.write_kubeconfig()?;
        Ok(sim)
    }

    /// The kubeconfig file: server, CA, token, context `lab`.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bearer token clients must send.
    pub fn token(&self) -> &str {
        &self.state.token
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The newest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.store.read().resource_version()
    }

    /// Creates an object given with its `apiVersion` and `kind`; watches
    /// see it ADDED. Returns it as stored.
    pub fn create(&self, object: Value) -> Result<Value> {
        let resource = resource_of(&object)?;
        Ok(self
            .state
            .store
            .write(|store| store.create(resource, object))?)
    }

    /// Replaces an object (watches see it MODIFIED); a changed spec bumps
    /// its generation.
    pub fn replace(&self, object: Value) -> Result<Value> {
        let resource = resource_of(&object)?;
        Ok(self
            .state
            .store
            .write(|store| store.replace(resource, object))?)
    }

    /// Changes an object in place: fetches it, applies `change`, replaces it.
    pub fn modify(
        &self,
        resource_name: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<Value> {
        let resource = resource_named(resource_name)?;
        Ok(self.state.store.write(|store| {
            let mut object = store
                .get(resource, namespace, name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(resource, name))?;
            change(&mut object);
            store.replace(resource, object)
        })?)
    }

    /// Deletes an object (watches see it DELETED) and returns it.
    pub fn delete(&self, resource_name: &str, namespace: &str, name: &str) -> Result<Value> {
        let resource = resource_named(resource_name)?;
        Ok(self
            .state
            .store
            .write(|store| store.delete(resource, namespace, name))?)
    }

    /// An object by kubectl-style resource name (`pods`, `deploy`…),
    /// namespace (ignored for cluster-scoped ones) and name.
    pub fn get(&self, resource_name: &str, namespace: &str, name: &str) -> Result<Option<Value>> {
        let resource = resource_named(resource_name)?;
        Ok(self
            .state
            .store
            .read()
            .get(resource, namespace, name)
            .cloned())
    }

    /// Forgets the change log, as an etcd compaction does: every watch
    /// from an earlier resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        self.state.store.write(store::ObjectStore::compact);
    }

    /// The requests served so far (the last 10,000), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.snapshot()
    }

    /// Adds bytes to a pod's log, now: split into lines at `\n`, any bytes
    /// kept as they are (escape sequences, invalid UTF-8). An empty
    /// `container` names the pod's first container. Followers see them.
    pub fn append_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let store = self.state.store.read();
        Ok(self
            .state
            .logs
            .append(&store, namespace, pod, container, bytes)?)
    }

    /// Adds the contents of a file to a pod's log, as [`Self::append_log`].
    pub fn append_log_file(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        file: &Path,
    ) -> Result<()> {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        self.append_log(namespace, pod, container, &bytes)
    }

    /// Sends port-forwards to `port` of pod `namespace/pod` to `target`, a
    /// real TCP server standing in for the container; a forward to a port
    /// without a target is refused as a kubelet refuses a closed port.
    pub fn forward_port(
        &self,
        namespace: &str,
        pod: &str,
        port: u16,
        target: std::net::SocketAddr,
    ) {
        self.state.forwards.register(namespace, pod, port, target);
    }

    /// Forgets the target of `port` of `namespace/pod`: new forwards to it
    /// are refused (open ones go on).
    pub fn stop_forwarding(&self, namespace: &str, pod: &str, port: u16) {
        self.state.forwards.unregister(namespace, pod, port);
    }

    /// The fault switchboard: inject 410/429/503, dropped connections,
    /// slow answers, or restart the API.
    pub fn faults(&self) -> &faults::Faults {
        &self.state.faults
    }

    fn write_kubeconfig(&self) -> Result<()> {
        let ca_data = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        // Plain HTTP has no CA to trust.
        let ca_line = if self.url.starts_with("https://") {
            format!("\x20   certificate-authority-data: {ca_data}\n")
        } else {
            String::new()
        };
        let kubeconfig = format!(
            "# Written by sitedeck-lab: the Kubernetes API simulator.\n\
             apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: lab\n\
             \x20 cluster:\n\
             \x20   server: {url}\n\
             {ca_line}\
             users:\n\
             - name: lab\n\
             \x20 user:\n\
             \x20   token: {token}\n\
             contexts:\n\
             - name: lab\n\
             \x20 context:\n\
             \x20   cluster: lab\n\
             \x20   user: lab\n\
             current-context: lab\n",
            url = self.url,
            token = self.token(),
        );
        crate::site::write_private(&self.kubeconfig, &kubeconfig)
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may already be gone; then there is nothing to stop.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.server_thread.take()
            && thread.join().is_err()
        {
            eprintln!("kube-sim: the server thread panicked");
        }
    }
}

fn resource_of(object: &Value) -> Result<&'static resources::ResourceType> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    resources::find_by_kind(api_version, kind)
        .ok_or_else(|| anyhow!("the simulator does not serve {kind} in {api_version:?}"))
}

fn resource_named(name: &str) -> Result<&'static resources::ResourceType> {
    resources::find_by_name(name).ok_or_else(|| anyhow!("the simulator does not serve {name:?}"))
}
