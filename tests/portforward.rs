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
    // An echo server behind redis-0, started later.
    let echo = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let echo_address = echo.local_addr().expect("address");
    drop(echo);
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
        let why = forwards
            .failure(&endpoint, Duration::from_secs(3))
            .await
            .expect("the failure is kept");
        assert!(why.contains("connection refused"), "{why}");
        let error = forwards.local(&endpoint).await.expect_err("still refused");
        assert!(error.contains("connection refused"), "{error}");

        // The server comes (back): the next local() and connection work.
        let listener = tokio::net::TcpListener::bind(echo_address)
            .await
            .expect("rebind");
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
        let why = forwards
            .failure(&endpoint, Duration::from_secs(3))
            .await
            .expect("the failure is kept");
        assert!(why.contains("pods/portforward is forbidden"), "{why}");
    });
}
