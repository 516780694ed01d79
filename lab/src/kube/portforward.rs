//! Port-forwards to pods (`pods/portforward`) over WebSocket, as kube-rs
//! opens them: `GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=N`
//! upgraded to a WebSocket with the `v4.channel.k8s.io` subprotocol.
//!
//! Port `i` of the request gets two channels, data `2i` and error `2i+1`;
//! every binary message starts with its channel byte, and the server's
//! first message on each channel is the port, 2 bytes little-endian. Where
//! a kubelet would dial the port inside the pod's network namespace, the
//! simulator dials the real TCP address a test registered for that pod
//! and port ([`super::KubeSim::forward_port`]); a port nobody registered
//! is refused with the words containerd's kubelet uses, on the error
//! channel, and the stream is closed.
//!
//! kubectl's port-forward speaks SPDY (tunnelled through a WebSocket
//! since 1.30, or as a plain upgrade): the simulator refuses both with a
//! 400 saying so.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderMap, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::request::QueryParams;
use super::resources::PODS;
use super::server::{LAB_USER, ResponseBody, ServerState};
use super::status::ApiError;

/// The subprotocols served, preferred first: the channel protocol kube-rs
/// and client-go's WebSocket executor offer, and the kubelet's own name
/// for the same framing.
const PROTOCOLS: [&str; 2] = ["v4.channel.k8s.io", "portforward.k8s.io"];

/// How long dialling a registered target may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// How much is read from a target at a time (one WebSocket message).
const CHUNK: usize = 32 * 1024;

/// Where forwards to each pod port go: `(namespace, pod, port)` to a real
/// TCP address.
#[derive(Debug, Default)]
pub struct ForwardTargets {
    targets: Mutex<HashMap<(String, String, u16), SocketAddr>>,
}

impl ForwardTargets {
    /// Sends forwards to `port` of `namespace/pod` to `target`.
    pub fn register(&self, namespace: &str, pod: &str, port: u16, target: SocketAddr) {
        self.lock()
            .insert((namespace.to_string(), pod.to_string(), port), target);
    }

    /// Forgets the target of `port` of `namespace/pod`: new forwards to it
    /// are refused. Returns the target it had.
    pub fn unregister(&self, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr> {
        self.lock()
            .remove(&(namespace.to_string(), pod.to_string(), port))
    }

    fn target(&self, namespace: &str, pod: &str, port: u16) -> Option<SocketAddr> {
        self.lock()
            .get(&(namespace.to_string(), pod.to_string(), port))
            .copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String, u16), SocketAddr>> {
        self.targets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Answers a port-forward request: 403 without `create` on
/// `pods/portforward`, 404 for an unknown pod, 400 for bad ports or
/// anything but a WebSocket upgrade; otherwise 101, and the forward runs
/// as a task until either side closes or the API restarts.
pub fn serve(
    state: &Arc<ServerState>,
    namespace: &str,
    pod: &str,
    query: &str,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, ApiError> {
    if !state
        .access
        .allows("create", "", "pods/portforward", Some(namespace))
    {
        return Err(forbidden(namespace, pod));
    }
    let sandbox = {
        let store = state.store.read();
        let object = store
            .get(&PODS, namespace, pod)
            .ok_or_else(|| ApiError::not_found(&PODS, pod))?;
        Sandbox::of(object)
    };
    // The protocol first: kubectl's SPDY carries its ports in stream
    // headers, and should hear that SPDY is what is missing.
    let (accept, protocol) = handshake(request.headers())?;
    let ports = requested_ports(query)?;
    let targets: Vec<(u16, Option<SocketAddr>)> = ports
        .iter()
        .map(|port| (*port, state.forwards.target(namespace, pod, *port)))
        .collect();
    let faults = state.faults.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        // An API restart cuts forwards as it cuts every other connection.
        let _ = faults
            .until_restart(forward(socket, targets, sandbox))
            .await;
    });
    let mut response = Response::new(Empty::<Bytes>::new().boxed());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    }
    Ok(response)
}

/// The 403 of an RBAC-enforcing API server.
fn forbidden(namespace: &str, pod: &str) -> ApiError {
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "pods \"{pod}\" is forbidden: User \"{LAB_USER}\" cannot create resource \
             \"pods/portforward\" in API group \"\" in the namespace \"{namespace}\""
        ),
        details: Some(json!({"name": pod, "kind": "pods"})),
    }
}

/// The ports asked for: `ports=80,443` (kube-rs) or `ports=80&ports=443`.
fn requested_ports(query: &str) -> Result<Vec<u16>, ApiError> {
    let mut ports = Vec::new();
    for pair in query.split('&') {
        let Some(values) = QueryParams::parse(pair).get("ports").map(str::to_string) else {
            continue;
        };
        for text in values.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match text.parse::<u16>() {
                Ok(port) if port > 0 => ports.push(port),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "unable to parse \"{text}\" as a port"
                    )));
                }
            }
        }
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least one port must be specified"));
    }
    // Two channels a port, numbered by one byte.
    if ports.len() > 128 {
        return Err(ApiError::bad_request("too many ports"));
    }
    Ok(ports)
}

/// The `Sec-WebSocket-Accept` answer and the subprotocol chosen, or 400
/// for what is not a WebSocket upgrade the simulator serves.
fn handshake(headers: &HeaderMap) -> Result<(String, Option<&'static str>), ApiError> {
    let unsupported = || {
        ApiError::bad_request(
            "the lab's API simulator forwards ports over WebSocket (v4.channel.k8s.io) only, \
             as kube-rs does; kubectl port-forward's SPDY is not supported",
        )
    };
    let is_websocket = headers
        .get(UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .filter(|_| is_websocket)
        .ok_or_else(unsupported)?;
    let offered: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|protocol| !protocol.is_empty())
        .collect();
    let protocol = if offered.is_empty() {
        // The kubelet's default: the binary framing without a name.
        None
    } else {
        let chosen = PROTOCOLS
            .into_iter()
            .find(|protocol| offered.contains(protocol));
        Some(chosen.ok_or_else(unsupported)?)
    };
    Ok((derive_accept_key(key.as_bytes()), protocol))
}

/// The names containerd would give the pod's sandbox and network
/// namespace, for its error messages; made up from the pod's uid.
struct Sandbox {
    id: String,
    netns: String,
}

impl Sandbox {
    fn of(pod: &Value) -> Self {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let hex: String = uid.chars().filter(char::is_ascii_hexdigit).collect();
        Self {
            id: format!("{hex}{hex}"),
            netns: format!("cni-{uid}"),
        }
    }

    /// What containerd's kubelet says when the port cannot be dialled.
    fn refused(&self, port: u16, why: &str) -> String {
        format!(
            "error forwarding port {port} to pod {id}, uid : failed to execute portforward in \
             network namespace \"/var/run/netns/{netns}\": failed to connect to localhost:{port} \
             inside namespace \"{id}\", IPv4: dial tcp4 127.0.0.1:{port}: {why} \
             IPv6 dial tcp6 [::1]:{port}: {why} ",
            id = self.id,
            netns = self.netns,
        )
    }
}

/// A binary message on `channel`.
fn frame(channel: u8, payload: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(payload.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(payload);
    Message::Binary(Bytes::from(bytes))
}

/// The data channel of the port at `index`; its error channel is next.
fn data_channel(index: usize) -> u8 {
    u8::try_from(index * 2).unwrap_or(u8::MAX - 1)
}

/// Dials a target, with the words Go's dialer would use when it fails.
async fn dial(target: Option<SocketAddr>) -> Result<TcpStream, String> {
    let refused = || "connect: connection refused".to_string();
    let target = target.ok_or_else(refused)?;
    match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(target)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => Err(refused()),
        Ok(Err(error)) => Err(format!("connect: {error}")),
        Err(_) => Err("i/o timeout".to_string()),
    }
}

/// Runs one forward: the port frames, a dial per port, then bytes both
/// ways until the client closes or every port is done.
async fn forward<S>(
    socket: WebSocketStream<S>,
    targets: Vec<(u16, Option<SocketAddr>)>,
    sandbox: Sandbox,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut incoming) = socket.split();
    // Every channel first carries its port, as the kubelet sends it.
    for (index, (port, _)) in targets.iter().enumerate() {
        let channel = data_channel(index);
        for channel in [channel, channel + 1] {
            if sink
                .send(frame(channel, &port.to_le_bytes()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let (to_client, mut from_targets) = mpsc::channel::<(usize, Option<Message>)>(16);
    // Aborted on drop: nothing reads from a target after the forward ends.
    let mut readers = JoinSet::new();
    let mut writers: Vec<Option<OwnedWriteHalf>> = Vec::with_capacity(targets.len());
    for (index, (port, target)) in targets.into_iter().enumerate() {
        match dial(target).await {
            Ok(stream) => {
                let (read, write) = stream.into_split();
                writers.push(Some(write));
                readers.spawn(pump(read, index, to_client.clone()));
            }
            Err(why) => {
                writers.push(None);
                let message = sandbox.refused(port, &why);
                let error_channel = data_channel(index) + 1;
                if sink
                    .send(frame(error_channel, message.as_bytes()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    drop(to_client);
    while writers.iter().any(Option::is_some) {
        tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    let Some((&channel, data)) = bytes.split_first() else { continue };
                    let writer = (channel % 2 == 0)
                        .then(|| writers.get_mut(usize::from(channel / 2)))
                        .flatten();
                    if let Some(slot) = writer
                        && let Some(write) = slot
                        && write.write_all(data).await.is_err()
                    {
                        *slot = None;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            Some((index, message)) = from_targets.recv() => match message {
                Some(message) => {
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
                // The target closed: the kubelet ends that port's forward.
                None => {
                    if let Some(slot) = writers.get_mut(index) {
                        *slot = None;
                    }
                }
            },
        }
    }
    // The client may already be gone; then there is no one to tell.
    let _ = sink.send(Message::Close(None)).await;
}

/// Reads a target until it closes, passing each chunk on as a message of
/// its port's data channel; `None` at the end.
async fn pump(
    mut read: OwnedReadHalf,
    index: usize,
    to_client: mpsc::Sender<(usize, Option<Message>)>,
) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let chunk = match read.read(&mut buffer).await {
            Ok(0) | Err(_) => None,
            Ok(read) => buffer
                .get(..read)
                .map(|bytes| frame(data_channel(index), bytes)),
        };
        let done = chunk.is_none();
        if to_client.send((index, chunk)).await.is_err() || done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_come_comma_separated_or_repeated() {
        assert_eq!(
            requested_ports("&ports=80%2C1234").expect("ports"),
            [80, 1234]
        );
        assert_eq!(
            requested_ports("ports=80&ports=443").expect("ports"),
            [80, 443]
        );
        assert_eq!(requested_ports("").expect_err("none").code, 400);
        assert_eq!(requested_ports("ports=0").expect_err("zero").code, 400);
        assert_eq!(requested_ports("ports=http").expect_err("name").code, 400);
    }

    #[test]
    fn the_handshake_takes_the_channel_protocol_and_refuses_spdy() {
        let mut headers = HeaderMap::new();
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("v5.channel.k8s.io, v4.channel.k8s.io"),
        );
        let (accept, protocol) = handshake(&headers).expect("a WebSocket");
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(protocol, Some("v4.channel.k8s.io"));
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("SPDY/3.1+portforward.k8s.io"),
        );
        assert_eq!(handshake(&headers).expect_err("SPDY").code, 400);
        let mut spdy = HeaderMap::new();
        spdy.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        assert_eq!(handshake(&spdy).expect_err("SPDY").code, 400);
    }
}
