//! Port-forwards over the Kubernetes API to in-cluster middleware endpoints
//! (`service: ns/name:port`, `pod: ns/selector:port`).
//!
//! Each endpoint gets a listener on 127.0.0.1, opened by the first
//! [`Forwards::local`] and kept while the [`Forwards`] lives. Every
//! connection accepted there opens its own port-forward (a WebSocket to
//! `pods/NAME/portforward`), so a dead pod or a dropped API connection
//! costs only that connection. The pod is chosen once and kept until a
//! forward to it fails; then it is chosen again (a ready pod the selector
//! matches, sorted by name). What a failed forward said is kept, and the
//! next `local()` tries a forward of its own before it answers: the error
//! while it persists, the address once the pod takes connections again.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::FusedFuture;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::{ListParams, Portforwarder};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::config::profile::Endpoint;

/// How long a check forward is watched for the kubelet's error before
/// the pod is taken to accept connections on the port again: the kubelet
/// dials the port as soon as the forward opens and reports a refusal at
/// once.
const CHECK_WINDOW: Duration = Duration::from_millis(500);

/// How long a finished connection waits for its forward to close cleanly.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The port-forwards of one site, opened on first use and reopened as needed.
#[derive(Clone)]
pub struct Forwards {
    inner: Arc<Inner>,
}

/// What the clones of one [`Forwards`] share; dropping it stops every
/// listener and the connections they accepted.
struct Inner {
    /// The API client; empty until the cluster session has connected.
    client: Arc<std::sync::OnceLock<kube::Client>>,
    slots: Mutex<HashMap<Endpoint, Arc<tokio::sync::Mutex<Option<Listener>>>>>,
}

impl std::fmt::Debug for Forwards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let endpoints = self.lock_slots().len();
        f.debug_struct("Forwards")
            .field("endpoints", &endpoints)
            .finish_non_exhaustive()
    }
}

/// The local end of a port-forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// The loopback address that forwards to the endpoint.
    pub local: SocketAddr,
    /// How the endpoint is reached, for the operator, e.g.
    /// `port-forward to pod acme-data/mysql-0:3306`.
    pub path: String,
}

impl Forwards {
    /// Forwards through `client`'s API server.
    pub fn new(client: kube::Client) -> Self {
        Self::deferred(Arc::new(std::sync::OnceLock::from(client)))
    }

    /// Forwards through the client a cluster session puts in `slot` once it
    /// has connected; until then, [`Self::local`] waits for it.
    pub fn deferred(slot: Arc<std::sync::OnceLock<kube::Client>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: slot,
                slots: Mutex::default(),
            }),
        }
    }

    /// The client, waiting (checking every 100 ms) for the session to
    /// connect; the caller's timeout bounds the wait.
    async fn client(&self) -> kube::Client {
        loop {
            if let Some(client) = self.inner.client.get() {
                return client.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Why the last forward to `endpoint` failed, if it did since one last
    /// worked. A connection's forward fails in its own task, so this waits
    /// up to `wait` for the failure to be recorded.
    pub async fn failure(&self, endpoint: &Endpoint, wait: Duration) -> Option<String> {
        let slot = self.lock_slots().get(endpoint).cloned()?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let failure = slot
                .lock()
                .await
                .as_ref()
                .and_then(|open| open.route.failure());
            if failure.is_some() || tokio::time::Instant::now() >= deadline {
                return failure;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the cluster session has connected.
    pub fn connected(&self) -> bool {
        self.inner.client.get().is_some()
    }

    /// The local address forwarding to `endpoint`, opening the forward the
    /// first time. Fails with what stands in the way: no such Service, no
    /// ready pod, a refused port-forward, or what the kubelet said when the
    /// last forward failed (checked again by this call).
    pub async fn local(&self, endpoint: &Endpoint) -> Result<Forwarded, String> {
        if !endpoint.in_cluster() {
            return Err(format!(
                "{endpoint} is not reached through the Kubernetes API"
            ));
        }
        let slot = self
            .lock_slots()
            .entry(endpoint.clone())
            .or_default()
            .clone();
        let mut listener = slot.lock().await;
        if let Some(open) = listener.as_ref() {
            let route = open.route.clone();
            let target = if route.failure().is_some() {
                route.check().await?
            } else {
                route.target().await?
            };
            return Ok(Forwarded {
                local: open.local,
                path: target.path,
            });
        }
        let route = Arc::new(Route {
            client: self.client().await,
            endpoint: endpoint.clone(),
            state: Mutex::default(),
        });
        let target = route.target().await?;
        let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1 for {endpoint}: {e}"))?;
        let local = socket
            .local_addr()
            .map_err(|e| format!("cannot listen on 127.0.0.1 for {endpoint}: {e}"))?;
        let task = AbortOnDrop(tokio::spawn(accept(socket, route.clone())));
        *listener = Some(Listener {
            local,
            route,
            _task: task,
        });
        Ok(Forwarded {
            local,
            path: target.path,
        })
    }

    fn lock_slots(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Endpoint, Arc<tokio::sync::Mutex<Option<Listener>>>>>
    {
        self.inner
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One endpoint's listener.
struct Listener {
    local: SocketAddr,
    route: Arc<Route>,
    /// Accepts connections; its connections end with it.
    _task: AbortOnDrop,
}

/// How an endpoint is reached, shared by its listener's connections.
struct Route {
    client: kube::Client,
    endpoint: Endpoint,
    state: Mutex<RouteState>,
}

#[derive(Default)]
struct RouteState {
    /// The pod chosen, until a forward to it fails.
    target: Option<Target>,
    /// Why the last forward failed, until one works again.
    failure: Option<String>,
}

/// The pod and port a forward goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    namespace: String,
    pod: String,
    port: u16,
    /// What [`Forwarded::path`] says.
    path: String,
}

/// An open port-forward, its task aborted when dropped.
struct OpenForward(Portforwarder);

impl Drop for OpenForward {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Route {
    fn lock(&self) -> std::sync::MutexGuard<'_, RouteState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    /// Records why a forward failed and forgets the pod, so the next one
    /// chooses again.
    fn failed(&self, why: String) {
        let mut state = self.lock();
        state.failure = Some(why);
        state.target = None;
    }

    /// The chosen pod, choosing one when there is none.
    async fn target(&self) -> Result<Target, String> {
        if let Some(target) = self.lock().target.clone() {
            return Ok(target);
        }
        match resolve(&self.client, &self.endpoint).await {
            Ok(target) => {
                self.lock().target = Some(target.clone());
                Ok(target)
            }
            Err(why) => {
                self.failed(why.clone());
                Err(why)
            }
        }
    }

    /// Opens a port-forward to the chosen pod; when the pod is gone,
    /// chooses again once.
    async fn open(&self) -> Result<(OpenForward, Target), String> {
        let mut target = self.target().await?;
        for attempt in 0..2 {
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &target.namespace);
            match pods.portforward(&target.pod, &[target.port]).await {
                Ok(forward) => return Ok((OpenForward(forward), target)),
                Err(kube::Error::Api(status)) if status.code == 404 && attempt == 0 => {
                    self.lock().target = None;
                    target = self.target().await?;
                }
                Err(error) => {
                    let why = refused_forward(&target, &error);
                    self.failed(why.clone());
                    return Err(why);
                }
            }
        }
        let why = format!("pod {}/{} is gone", target.namespace, target.pod);
        self.failed(why.clone());
        Err(why)
    }

    /// After a failure: a forward of its own, watched for the kubelet's
    /// error for [`CHECK_WINDOW`]. Silence clears the failure.
    async fn check(&self) -> Result<Target, String> {
        let (mut forward, target) = self.open().await?;
        let error = forward.0.take_error(target.port);
        let said = match error {
            Some(error) => tokio::time::timeout(CHECK_WINDOW, error).await,
            None => Ok(None),
        };
        let why = match said {
            Err(_quiet) => {
                self.lock().failure = None;
                return Ok(target);
            }
            Ok(Some(message)) => forward_error(&target, &message),
            Ok(None) => format!("{} closed as soon as it opened", target.path),
        };
        self.failed(why.clone());
        Err(why)
    }
}

/// Accepts connections until aborted, each with a port-forward of its own.
async fn accept(socket: TcpListener, route: Arc<Route>) {
    // Aborted with this task: no connection outlives its listener.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = socket.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(relay(stream, route.clone()));
                }
                // Out of file descriptors or similar: let it pass.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// How a relayed connection ended.
enum Relayed {
    /// The kubelet's error for the forward.
    Said(String),
    /// The forward's task ended without a word and the copy did not
    /// finish after it: its API connection broke, possibly before the
    /// kubelet's error was read.
    Broke,
    /// The copy ended; whether the client spoke and the server never did
    /// (or the copy broke).
    Copied { unanswered: bool },
}

/// Whether a finished copy means the server never answered: the client
/// spoke and the server did not, or the copy broke. A connect-only
/// check sends nothing.
fn unanswered(copied: &std::io::Result<(u64, u64)>) -> bool {
    match copied {
        Ok((to_server, from_server)) => *to_server > 0 && *from_server == 0,
        Err(_) => true,
    }
}

/// Carries one local connection through a port-forward of its own. A
/// failure closes the connection and is kept for the next `local()`.
async fn relay(mut local: TcpStream, route: Arc<Route>) {
    let (mut forward, target) = match route.open().await {
        Ok(opened) => opened,
        Err(_recorded) => return,
    };
    let (Some(mut remote), Some(error)) = (
        forward.0.take_stream(target.port),
        forward.0.take_error(target.port),
    ) else {
        return;
    };
    let mut error = error.fuse();
    let ended = {
        let mut copy = std::pin::pin!(tokio::io::copy_bidirectional(&mut local, &mut remote));
        tokio::select! {
            biased;
            said = &mut error => match said {
                Some(message) => Relayed::Said(message),
                // The task also ends once both sides have closed: the
                // copy then finishes with what is still buffered.
                None => match tokio::time::timeout(CLOSE_GRACE, &mut copy).await {
                    Ok(copied) => Relayed::Copied { unanswered: unanswered(&copied) },
                    Err(_still_open) => Relayed::Broke,
                },
            },
            copied = &mut copy => Relayed::Copied { unanswered: unanswered(&copied) },
        }
    };
    drop(remote);
    drop(local);
    let error_told = error.is_terminated();
    match ended {
        Relayed::Said(message) => route.failed(forward_error(&target, &message)),
        // kube-rs ends the forward's task when the client's bytes cannot
        // be sent, which can happen before it reads the kubelet's error
        // (a refused port closes the WebSocket at once). The failure is
        // kept at once; a forward of its own, with nothing sent, then
        // hears what the kubelet says.
        Relayed::Broke => {
            route.failed(format!("{} broke off without a word", target.path));
            drop(forward);
            let _recorded = route.check().await;
        }
        Relayed::Copied { unanswered } => {
            // A forward that failed may have closed the stream just
            // before its error arrived; one that worked closes and ends
            // its task.
            let said = if error_told {
                None
            } else {
                tokio::time::timeout(CLOSE_GRACE, error)
                    .await
                    .ok()
                    .flatten()
            };
            match said {
                Some(message) => route.failed(forward_error(&target, &message)),
                // Closed without a word and without an answer from the
                // server: the next local() checks the pod again rather
                // than trust it.
                None if unanswered => {
                    route.failed(format!("{} closed before the server answered", target.path))
                }
                None => {}
            }
        }
    }
}

/// The operator's words for the kubelet's error on a forward.
fn forward_error(target: &Target, message: &str) -> String {
    format!(
        "{} failed: {}",
        target.path,
        crate::text::one_line(message.trim())
    )
}

/// The operator's words for a port-forward the API would not open.
fn refused_forward(target: &Target, error: &kube::Error) -> String {
    let pod = format!("{}/{}", target.namespace, target.pod);
    match error {
        kube::Error::Api(status) if status.code == 403 => format!(
            "the API refused the port-forward to pod {pod}: \
             pods/portforward is forbidden for this user"
        ),
        kube::Error::Api(status) if status.code == 404 => format!("pod {pod} is gone"),
        other => format!(
            "cannot open the port-forward to pod {pod}: {}",
            api_reason(other)
        ),
    }
}

/// What an API call's error says, in one line.
fn api_reason(error: &kube::Error) -> String {
    let text = match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => crate::probe::classify::chain_text(other),
    };
    crate::text::one_line(&text)
}

/// Chooses the pod and port an endpoint is forwarded to.
async fn resolve(client: &kube::Client, endpoint: &Endpoint) -> Result<Target, String> {
    match endpoint {
        Endpoint::Pod {
            namespace,
            selector,
            port,
        } => {
            let pods = list_pods(client, namespace, selector).await?;
            let pod = match ready_pod(&pods) {
                Choice::Ready(pod) => pod,
                Choice::NoneMatch => {
                    return Err(format!("no pod matches {selector} in {namespace}"));
                }
                Choice::NoneReady(count) => {
                    return Err(format!(
                        "no ready pod matches {selector} in {namespace} ({})",
                        none_ready(count)
                    ));
                }
            };
            let name = pod.metadata.name.clone().unwrap_or_default();
            Ok(Target {
                path: format!("port-forward to pod {namespace}/{name}:{port}"),
                namespace: namespace.clone(),
                pod: name,
                port: *port,
            })
        }
        Endpoint::Service {
            namespace,
            name,
            port,
        } => resolve_service(client, namespace, name, *port).await,
        Endpoint::NamedPod {
            namespace,
            pod,
            port,
        } => {
            let what = format!("pod {namespace}/{pod}");
            let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
            let found = pods.get(pod).await.map_err(|error| match &error {
                kube::Error::Api(status) if status.code == 404 => format!("{what} not found"),
                _ => format!("cannot read {what}: {}", api_reason(&error)),
            })?;
            if !is_ready(&found) {
                return Err(format!("{what} is not ready"));
            }
            Ok(Target {
                path: format!("port-forward to {what}:{port}"),
                namespace: namespace.clone(),
                pod: pod.clone(),
                port: *port,
            })
        }
        Endpoint::Address { .. } | Endpoint::Invalid { .. } => Err(format!(
            "{endpoint} is not reached through the Kubernetes API"
        )),
    }
}

async fn resolve_service(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    port: u16,
) -> Result<Target, String> {
    let what = format!("service {namespace}/{name}");
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let service = services.get(name).await.map_err(|error| match &error {
        kube::Error::Api(status) if status.code == 404 => format!("{what} not found"),
        kube::Error::Api(status) if status.code == 403 => {
            format!("the API refused to read {what}: {}", api_reason(&error))
        }
        _ => format!("cannot read {what}: {}", api_reason(&error)),
    })?;
    let spec = service.spec.unwrap_or_default();
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() {
        return Err(format!(
            "{what} has no selector, so it names no pod to forward to"
        ));
    }
    let selector = selector_text(&selector);
    let pods = list_pods(client, namespace, &selector).await?;
    let pod = match ready_pod(&pods) {
        Choice::Ready(pod) => pod,
        Choice::NoneMatch => {
            return Err(format!(
                "{what} has no ready pod (no pod matches {selector})"
            ));
        }
        Choice::NoneReady(count) => {
            return Err(format!("{what} has no ready pod ({})", none_ready(count)));
        }
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let target_port = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.port == i32::from(port))
        .map(|p| p.target_port);
    let pod_port = match target_port {
        // No Service port by that number: it is the pod's port.
        None | Some(None) => port,
        Some(Some(target)) => pod_port(pod, &target).ok_or_else(|| match &target {
            IntOrString::String(named) => format!(
                "{what} port {port} targets port \"{named}\", \
                 which pod {namespace}/{pod_name} does not declare"
            ),
            IntOrString::Int(number) => {
                format!("{what} port {port} targets port {number}, which is not a port number")
            }
        })?,
    };
    Ok(Target {
        path: format!("port-forward to pod {namespace}/{pod_name}:{pod_port} ({what}:{port})"),
        namespace: namespace.to_string(),
        pod: pod_name,
        port: pod_port,
    })
}

async fn list_pods(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
) -> Result<Vec<Pod>, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|error| match &error {
            kube::Error::Api(status) if status.code == 403 => format!(
                "the API refused to list pods in {namespace}: {}",
                api_reason(&error)
            ),
            _ => format!(
                "cannot list pods matching {selector} in {namespace}: {}",
                api_reason(&error)
            ),
        })?;
    Ok(listed.items)
}

/// `a=1,b=2` from a Service's selector.
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The pod a forward goes to, or why there is none.
#[derive(Debug)]
enum Choice<'a> {
    Ready(&'a Pod),
    NoneMatch,
    /// How many pods matched, none of them ready.
    NoneReady(usize),
}

/// The first ready pod by name, so the choice stays put while it is ready.
fn ready_pod(pods: &[Pod]) -> Choice<'_> {
    if pods.is_empty() {
        return Choice::NoneMatch;
    }
    pods.iter()
        .filter(|pod| is_ready(pod))
        .min_by(|a, b| a.metadata.name.cmp(&b.metadata.name))
        .map_or(Choice::NoneReady(pods.len()), Choice::Ready)
}

fn none_ready(count: usize) -> String {
    match count {
        1 => "1 pod, not ready".to_string(),
        n => format!("{n} pods, none ready"),
    }
}

/// Running, Ready and not being deleted.
fn is_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    pod.metadata.deletion_timestamp.is_none()
        && status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

/// The pod port a Service's `targetPort` names: a number, or the name of
/// one of the pod's container ports.
fn pod_port(pod: &Pod, target: &IntOrString) -> Option<u16> {
    match target {
        IntOrString::Int(number) => u16::try_from(*number).ok().filter(|port| *port > 0),
        IntOrString::String(name) => pod
            .spec
            .iter()
            .flat_map(|spec| &spec.containers)
            .flat_map(|container| container.ports.iter().flatten())
            .find(|port| port.name.as_deref() == Some(name.as_str()))
            .and_then(|port| u16::try_from(port.container_port).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, phase: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "db", "ports": [{"name": "mysql", "containerPort": 3306}]}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        }))
        .expect("a pod")
    }

    fn name(choice: &Choice<'_>) -> Option<String> {
        match choice {
            Choice::Ready(pod) => pod.metadata.name.clone(),
            _ => None,
        }
    }

    #[test]
    fn the_first_ready_pod_by_name_is_chosen() {
        let pods = [
            pod("mysql-2", "Running", true),
            pod("mysql-0", "Running", false),
            pod("mysql-1", "Running", true),
        ];
        assert_eq!(name(&ready_pod(&pods)).as_deref(), Some("mysql-1"));
        let unready = [pod("a", "Pending", true), pod("b", "Running", false)];
        assert!(matches!(ready_pod(&unready), Choice::NoneReady(2)));
        assert!(matches!(ready_pod(&[]), Choice::NoneMatch));
        assert_eq!(none_ready(2), "2 pods, none ready");
    }

    #[test]
    fn target_ports_are_numbers_or_container_port_names() {
        let pod = pod("mysql-0", "Running", true);
        assert_eq!(pod_port(&pod, &IntOrString::Int(3307)), Some(3307));
        assert_eq!(
            pod_port(&pod, &IntOrString::String("mysql".into())),
            Some(3306)
        );
        assert_eq!(pod_port(&pod, &IntOrString::String("http".into())), None);
        assert_eq!(pod_port(&pod, &IntOrString::Int(0)), None);
    }

    #[test]
    fn selectors_read_as_kubectl_writes_them() {
        let selector = BTreeMap::from([
            ("app".to_string(), "mysql".to_string()),
            ("role".to_string(), "primary".to_string()),
        ]);
        assert_eq!(selector_text(&selector), "app=mysql,role=primary");
    }
}
