//! Port-forwards over the Kubernetes API (the lab's simulator, which serves
//! `pods/portforward` as kube-rs opens it) to real servers behind the
//! simulator's pods: a real Redis, spoken to in RESP through the forward,
//! and a TCP echo server. The simulator stands in for the kubelet; what is
//! real is the client side (`sitedeck::cluster::portforward`) and the
//! servers behind.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sitedeck::cluster::connect::{ClusterTarget, connect};
use sitedeck::cluster::portforward::Forwards;
use sitedeck::config::profile::Endpoint;
use sitedeck_lab::Redis;
use sitedeck_lab::kube::access::{AccessPolicy, AccessRule};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn simulator(dir: &Path, policy: Option<AccessPolicy>) -> KubeSim {
    let mut options = KubeSimOptions {
        log_interval: None,
        ..KubeSimOptions::default()
    };
    if let Some(policy) = policy {
        options.access_policy = policy;
    }
    KubeSim::start_with(dir, options).expect("simulator")
}

async fn forwards(sim: &KubeSim) -> Forwards {
    let target = ClusterTarget {
        kubeconfig: Some(sim.kubeconfig().to_path_buf()),
        context: None,
        bastion: None,
    };
    let connection = connect(&target, &[]).await.expect("connect");
    Forwards::new(connection.client)
}

fn service(name: &str, port: u16) -> Endpoint {
    Endpoint::Service {
        namespace: "middleware".into(),
        name: name.into(),
        port,
    }
}

fn pod(selector: &str, port: u16) -> Endpoint {
    Endpoint::Pod {
        namespace: "middleware".into(),
        selector: selector.into(),
        port,
    }
}

/// `AUTH password` then `PING` in RESP; the replies.
async fn redis_ping(address: SocketAddr, password: &str) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let auth = format!(
        "*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n",
        password.len()
    );
    stream.write_all(auth.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&reply).contains("PONG") {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        if read == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&reply).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_real_redis_answers_through_service_and_pod_forwards() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = simulator(dir.path(), None);
    let redis = Redis::start(&dir.path().join("redis")).expect("start Redis");
    let behind = SocketAddr::from(([127, 0, 0, 1], redis.port));
    sim.forward_port("middleware", "redis-0", 6379, behind);
    let rt = runtime();
    rt.block_on(async {
        let forwards = forwards(&sim).await;
        let by_pod = forwards
            .local(&pod("app=redis", 6379))
            .await
            .expect("forward");
        assert_eq!(by_pod.path, "port-forward to pod middleware/redis-0:6379");
        assert!(by_pod.local.ip().is_loopback());
        assert_eq!(
            redis_ping(by_pod.local, &redis.password).await,
            "+OK\r\n+PONG\r\n"
        );
        // Two connections at once, each with a forward of its own.
        let (a, b) = tokio::join!(
            redis_ping(by_pod.local, &redis.password),
            redis_ping(by_pod.local, &redis.password)
        );
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("+OK\r\n+PONG\r\n", "+OK\r\n+PONG\r\n")
        );
        // The same listener serves the endpoint the next time.
        let again = forwards
            .local(&pod("app=redis", 6379))
            .await
            .expect("forward");
        assert_eq!(again.local, by_pod.local);

        let by_service = forwards
            .local(&service("redis", 6379))
            .await
            .expect("forward");
        assert_eq!(
            by_service.path,
            "port-forward to pod middleware/redis-0:6379 (service middleware/redis:6379)"
        );
        assert_eq!(
            redis_ping(by_service.local, &redis.password).await,
            "+OK\r\n+PONG\r\n"
        );
    });
}

#[test]
fn a_refused_port_is_reported_and_the_forward_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = simulator(dir.path(), None);
    let rt = runtime();
    // An echo server behind redis-0, started later. Its port is held but
    // not listened on: connections are refused, and no other test's
    // server can take the port meanwhile.
    let reserved = tokio::net::TcpSocket::new_v4().expect("socket");
    reserved
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let echo_address = reserved.local_addr().expect("address");
    sim.forward_port("middleware", "redis-0", 6379, echo_address);
    rt.block_on(async {
        let forwards = forwards(&sim).await;
        let endpoint = pod("app=redis", 6379);
        let forwarded = forwards.local(&endpoint).await.expect("the listener opens");
        // Nothing listens behind the pod: the connection closes and the
        // kubelet's words are kept.
        let mut stream = TcpStream::connect(forwarded.local).await.expect("connect");
        let _ = stream.write_all(b"hello").await;
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        // Recorded as soon as the kubelet's error arrives: up to 10 s on a
        // busy machine. When the forward broke off before its error was
        // read (the client's bytes raced the refusal), that is kept first.
        let why = forwards
            .failure(&endpoint, Duration::from_secs(10))
            .await
            .expect("the failure is kept");
        assert!(
            why.contains("connection refused") || why.contains("broke off without a word"),
            "{why}"
        );
        let error = forwards.local(&endpoint).await.expect_err("still refused");
        assert!(error.contains("connection refused"), "{error}");

        // The server comes (back): the next local() and connection work.
        let listener = reserved.listen(64).expect("listen");
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let forwarded = forwards.local(&endpoint).await.expect("recovered");
        let mut stream = TcpStream::connect(forwarded.local).await.expect("connect");
        stream.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buf))
            .await
            .expect("echo in time")
            .expect("read");
        assert_eq!(&buf, b"ping");
        server.abort();
    });
}

#[test]
fn unknown_targets_and_forbidden_forwards_say_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = AccessPolicy {
        rules: vec![
            AccessRule::deny("create", "", "pods/portforward", None),
            AccessRule::allow("*", "*", "*", None),
        ],
    };
    let sim = simulator(dir.path(), Some(policy));
    sim.forward_port(
        "middleware",
        "redis-0",
        6379,
        SocketAddr::from(([127, 0, 0, 1], 9)),
    );
    runtime().block_on(async {
        let forwards = forwards(&sim).await;
        let error = forwards
            .local(&service("nonexistent", 3306))
            .await
            .expect_err("no such service");
        assert!(
            error.contains("service middleware/nonexistent not found"),
            "{error}"
        );
        let error = forwards
            .local(&pod("app=nothing", 3306))
            .await
            .expect_err("no such pod");
        assert!(error.contains("no pod matches app=nothing"), "{error}");
        // The user may not port-forward: the listener opens, the first
        // connection fails and says so.
        let endpoint = pod("app=redis", 6379);
        let forwarded = forwards.local(&endpoint).await.expect("the listener opens");
        let mut stream = TcpStream::connect(forwarded.local).await.expect("connect");
        let mut buf = [0u8; 1];
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        // Recorded as soon as the kubelet's error arrives: up to 10 s on a
        // busy machine.
        let why = forwards
            .failure(&endpoint, Duration::from_secs(10))
            .await
            .expect("the failure is kept");
        assert!(why.contains("pods/portforward is forbidden"), "{why}");
    });
}

/// A TCP echo server on `address` (port 0: a free one); it and its
/// connections stop when dropped.
struct Echo {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Echo {
    async fn start(address: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("echo listens");
        let address = listener.local_addr().expect("echo address");
        let task = tokio::spawn(async move {
            // Aborted with this task.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                connections.spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        Self { address, task }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends `text` on `stream` and reads as many bytes back.
async fn round_trip(stream: &mut TcpStream, text: &str) -> Result<String, String> {
    stream
        .write_all(text.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buffer = vec![0; text.len()];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut buffer))
        .await
        .map_err(|_| "no answer in time".to_string())?
        .map_err(|e| format!("read: {e}"))?;
    String::from_utf8(buffer).map_err(|e| e.to_string())
}

/// `text` echoed through a new connection to `address`.
async fn echo_through(address: SocketAddr, text: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    round_trip(&mut stream, text).await
}

#[test]
fn named_target_ports_pod_ports_and_pods_that_are_not_ready() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = simulator(dir.path(), None);
    sim.modify("services", "middleware", "mysql", |service| {
        service["spec"]["ports"] =
            serde_json::json!([{"name": "sql", "port": 3307, "targetPort": "mysql"}]);
    })
    .expect("a named target port");
    for name in ["mysql-0", "mysql-1"] {
        sim.modify("pods", "middleware", name, |pod| {
            pod["spec"]["containers"][0]["ports"] =
                serde_json::json!([{"name": "mysql", "containerPort": 3306, "protocol": "TCP"}]);
        })
        .expect("a named container port");
    }
    runtime().block_on(async {
        let echo = Echo::start(SocketAddr::from(([127, 0, 0, 1], 0))).await;
        sim.forward_port("middleware", "mysql-0", 3306, echo.address);
        sim.forward_port("middleware", "mysql-0", 9104, echo.address);
        let forwards = forwards(&sim).await;

        let named = forwards
            .local(&service("mysql", 3307))
            .await
            .expect("named");
        assert_eq!(
            named.path,
            "port-forward to pod middleware/mysql-0:3306 (service middleware/mysql:3307)"
        );
        assert_eq!(echo_through(named.local, "sql").await.as_deref(), Ok("sql"));
        // No Service port 9104: the number is the pod's own port.
        let direct = forwards
            .local(&service("mysql", 9104))
            .await
            .expect("direct");
        assert_eq!(
            direct.path,
            "port-forward to pod middleware/mysql-0:9104 (service middleware/mysql:9104)"
        );
        assert_eq!(echo_through(direct.local, "m").await.as_deref(), Ok("m"));

        for name in ["redis-0", "redis-1"] {
            sim.modify("pods", "middleware", name, |pod| {
                pod["status"]["conditions"] =
                    serde_json::json!([{"type": "Ready", "status": "False"}]);
            })
            .expect("not ready");
        }
        assert_eq!(
            forwards
                .local(&service("redis", 6379))
                .await
                .expect_err("none ready"),
            "service middleware/redis has no ready pod (2 pods, none ready)"
        );
        assert_eq!(
            forwards
                .local(&pod("app=redis", 6379))
                .await
                .expect_err("none ready"),
            "no ready pod matches app=redis in middleware (2 pods, none ready)"
        );
    });
}

#[test]
fn each_connection_has_its_own_forward_and_the_listener_stops_with_the_last_clone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = simulator(dir.path(), None);
    runtime().block_on(async {
        let echo = Echo::start(SocketAddr::from(([127, 0, 0, 1], 0))).await;
        sim.forward_port("middleware", "redis-0", 6379, echo.address);
        let forwards = forwards(&sim).await;
        let forwarded = forwards
            .local(&pod("app=redis", 6379))
            .await
            .expect("forward");
        let mut first = TcpStream::connect(forwarded.local).await.expect("first");
        let mut second = TcpStream::connect(forwarded.local).await.expect("second");
        assert_eq!(round_trip(&mut first, "one").await.as_deref(), Ok("one"));
        assert_eq!(round_trip(&mut second, "two").await.as_deref(), Ok("two"));
        // More than one WebSocket message and more than kube-rs's buffers.
        let big = "x".repeat(3 << 20);
        assert_eq!(
            round_trip(&mut first, &big).await.as_deref(),
            Ok(big.as_str())
        );
        let opened = sim
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/namespaces/middleware/pods/redis-0/portforward")
            .count();
        assert_eq!(opened, 2, "one port-forward per connection");

        let clone = forwards.clone();
        drop(forwards);
        assert_eq!(
            echo_through(forwarded.local, "kept").await.as_deref(),
            Ok("kept"),
            "a clone keeps the listener"
        );
        drop(clone);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(forwarded.local).await.is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the listener outlived its Forwards"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The connections it accepted end with it.
        let mut buffer = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(10), first.read(&mut buffer))
            .await
            .expect("the open connection ends");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    });
}

#[test]
fn an_api_restart_or_a_deleted_pod_costs_only_the_open_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = simulator(dir.path(), None);
    runtime().block_on(async {
        let echo = Echo::start(SocketAddr::from(([127, 0, 0, 1], 0))).await;
        for name in ["redis-0", "redis-1"] {
            sim.forward_port("middleware", name, 6379, echo.address);
        }
        let forwards = forwards(&sim).await;
        let forwarded = forwards
            .local(&pod("app=redis", 6379))
            .await
            .expect("forward");
        let mut open = TcpStream::connect(forwarded.local).await.expect("connect");
        assert_eq!(
            round_trip(&mut open, "before").await.as_deref(),
            Ok("before")
        );

        // block_on's thread is not one of the runtime's workers: blocking
        // here leaves the forwards running.
        sim.faults().restart(Duration::from_millis(200));
        let mut buffer = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_secs(10), open.read(&mut buffer))
            .await
            .expect("the cut connection ends");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match echo_through(forwarded.local, "after").await {
                Ok(text) => {
                    assert_eq!(text, "after");
                    break;
                }
                Err(why) => assert!(
                    std::time::Instant::now() < deadline,
                    "no forward after the restart: {why}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The chosen pod is deleted: the next connection chooses again.
        sim.delete("pods", "middleware", "redis-0").expect("delete");
        assert_eq!(
            echo_through(forwarded.local, "moved").await.as_deref(),
            Ok("moved")
        );
    });
}
