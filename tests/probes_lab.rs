//! The probes against the lab's real MariaDB and Redis: reachable, wrong
//! password, closed port, a server that never answers.

use std::path::Path;
use std::time::{Duration, Instant};

use sitedeck::config::profile::{self, LoadedProfile};
use sitedeck::probe::{self, ProbeState};
use sitedeck_lab::{MariaDb, Redis};

fn profile_for(dir: &Path, middleware: &str) -> LoadedProfile {
    let text = format!(
        "name: probe-test\nenvironment: poc\nprobes:\n  timeout_seconds: 2\nmiddleware:\n{middleware}"
    );
    let path = dir.join("site.yaml");
    std::fs::write(&path, text).expect("write profile");
    profile::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

async fn probe_only(loaded: &LoadedProfile) -> probe::ProbeReport {
    let sources = probe::plan(&loaded.profile, None);
    assert_eq!(sources.len(), 1);
    probe::run(&sources[0], &loaded.profile, &probe::ProbeEnv::default()).await
}

fn secret_file(dir: &Path, name: &str, value: &str) {
    std::fs::write(dir.join(name), value).expect("write secret");
}

#[tokio::test]
async fn mariadb_up_wrong_password_and_closed_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = MariaDb::start(&dir.path().join("db")).expect("MariaDB starts");
    secret_file(dir.path(), "good", &db.password);
    secret_file(dir.path(), "bad", "not-the-password");
    let endpoint = db.endpoint();
    let entry = |secret: &str| {
        format!(
            "  - name: db\n    kind: mysql\n    endpoint: {endpoint}\n    user: sitedeck\n    password: {{file: {secret}}}\n"
        )
    };

    let report = probe_only(&profile_for(dir.path(), &entry("good"))).await;
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert!(report.detail.starts_with("MariaDB "), "{report:?}");
    assert!(report.latency_ms.is_some());

    let report = probe_only(&profile_for(dir.path(), &entry("bad"))).await;
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert_eq!(report.detail, "authentication failed for user sitedeck");
    assert!(!report.detail.contains("not-the-password"));

    db.stop();
    let started = Instant::now();
    let report = probe_only(&profile_for(dir.path(), &entry("good"))).await;
    assert_eq!(report.state, ProbeState::Refused, "{report:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a refusal is immediate"
    );
}

#[tokio::test]
async fn redis_up_wrong_password_no_password_and_closed_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut redis = Redis::start(&dir.path().join("redis")).expect("Redis starts");
    secret_file(dir.path(), "good", &redis.password);
    secret_file(dir.path(), "bad", "not-the-password");
    let endpoint = redis.endpoint();
    let entry = |password: Option<&str>| {
        let password = password.map_or(String::new(), |p| format!("    password: {{file: {p}}}\n"));
        format!("  - name: cache\n    kind: redis\n    endpoint: {endpoint}\n{password}")
    };

    let report = probe_only(&profile_for(dir.path(), &entry(Some("good")))).await;
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert!(report.detail.starts_with("Redis ") && report.detail.contains("role primary"));

    let report = probe_only(&profile_for(dir.path(), &entry(Some("bad")))).await;
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert_eq!(report.detail, "authentication failed for user default");

    let report = probe_only(&profile_for(dir.path(), &entry(None))).await;
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert!(report.detail.contains("gives none"), "{report:?}");

    redis.stop();
    let report = probe_only(&profile_for(dir.path(), &entry(Some("good")))).await;
    assert_eq!(report.state, ProbeState::Refused, "{report:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_on_time() {
    // Accepts connections and then says nothing, like a hung server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = profile_for(
        dir.path(),
        &format!("  - name: hung\n    kind: mysql\n    endpoint: 127.0.0.1:{port}\n    user: x\n"),
    );
    let started = Instant::now();
    let report = probe_only(&loaded).await;
    assert_eq!(report.state, ProbeState::Timeout, "{report:?}");
    assert_eq!(report.detail, "timed out after 2.0 s");
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(listener);
}

#[tokio::test]
async fn tcp_and_ssh_banner_probes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let banner = std::thread::spawn(move || {
        use std::io::Write;
        let (mut stream, _) = listener.accept().expect("accept");
        stream
            .write_all(b"SSH-2.0-OpenSSH_9.2\x1b]0;pwned\x07\r\n")
            .expect("write");
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("site.yaml");
    std::fs::write(
        &path,
        format!(
            "name: s\nenvironment: poc\nssh:\n  bastion:\n    host: 127.0.0.1\n    port: {port}\n"
        ),
    )
    .expect("write");
    let loaded = profile::load(&path).expect("valid");
    let report = probe_only(&loaded).await;
    banner.join().expect("banner thread");
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(
        report.detail, "SSH-2.0-OpenSSH_9.2\\x1b]0;pwned\\x07",
        "escapes are made visible"
    );
}

/// A site whose cluster is reached at `server` as the kubeconfig user
/// described by `user` (YAML lines under `user:`, indented by four).
fn kube_site(dir: &Path, server: &str, user: &str) -> LoadedProfile {
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: lab\n  context:\n    cluster: lab\n    user: lab\nusers:\n- name: lab\n  user:\n{user}"
    );
    std::fs::write(dir.join("kubeconfig"), kubeconfig).expect("write kubeconfig");
    let path = dir.join("site.yaml");
    std::fs::write(
        &path,
        "name: k\nenvironment: poc\ncluster:\n  kubeconfig: kubeconfig\n",
    )
    .expect("write");
    profile::load(&path).expect("valid")
}

const TOKEN_USER: &str = "    token: abc\n";

#[tokio::test]
async fn cluster_probe_reports_a_refused_api_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = sitedeck_lab::free_port().expect("port");
    let loaded = kube_site(dir.path(), &format!("http://127.0.0.1:{port}"), TOKEN_USER);
    let report = probe_only(&loaded).await;
    assert_eq!(report.state, ProbeState::Refused, "{report:?}");
}

#[tokio::test]
async fn exec_credential_plugins_are_not_run_untrusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("plugin-ran");
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: touch\n      args: [\"{}\"]\n",
        marker.display()
    );
    let loaded = kube_site(dir.path(), "https://127.0.0.1:1", &user);
    let report = probe_only(&loaded).await;
    assert_eq!(report.state, ProbeState::ConfigError, "{report:?}");
    assert!(
        report
            .detail
            .contains("gets its credentials by running `touch"),
        "{report:?}"
    );
    assert!(!marker.exists(), "the plugin must not have run");
}

#[tokio::test]
async fn auth_provider_commands_are_not_run_untrusted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("provider-ran");
    let user = format!(
        "    auth-provider:\n      name: gcp\n      config:\n        cmd-path: /usr/bin/touch\n        cmd-args: {}\n",
        marker.display()
    );
    let loaded = kube_site(dir.path(), "https://127.0.0.1:1", &user);
    let report = probe_only(&loaded).await;
    assert_eq!(report.state, ProbeState::ConfigError, "{report:?}");
    assert!(
        report
            .detail
            .contains("gets its credentials by running `/usr/bin/touch"),
        "{report:?}"
    );
    assert!(!marker.exists(), "the provider command must not have run");
}

#[tokio::test]
async fn cluster_probe_reports_tls_failures() {
    // Speaks plain HTTP where the kubeconfig says https.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = kube_site(dir.path(), &format!("https://127.0.0.1:{port}"), TOKEN_USER);
    let report = probe_only(&loaded).await;
    server.join().expect("server thread");
    assert_eq!(report.state, ProbeState::TlsError, "{report:?}");
}

#[tokio::test]
async fn a_tcp_source_is_up_when_the_port_accepts() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = profile_for(
        dir.path(),
        &format!("  - name: gw\n    kind: tcp\n    endpoint: 127.0.0.1:{port}\n"),
    );
    let report = probe_only(&loaded).await;
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(report.detail, "accepts connections");
}

#[tokio::test]
async fn cluster_probe_against_the_lab_simulator() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = sitedeck_lab::kube::KubeSim::start(&dir.path().join("kube")).expect("simulator");
    let path = dir.path().join("site.yaml");
    std::fs::write(
        &path,
        "name: k\nenvironment: poc\ncluster:\n  kubeconfig: kube/kubeconfig\n  context: lab\n",
    )
    .expect("write");
    let loaded = profile::load(&path).expect("valid");
    let report = probe_only(&loaded).await;
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert!(report.detail.starts_with("Kubernetes v1."), "{report:?}");

    let kubeconfig = std::fs::read_to_string(sim.kubeconfig()).expect("kubeconfig");
    std::fs::write(
        sim.kubeconfig(),
        kubeconfig.replace(sim.token(), "not-the-token"),
    )
    .expect("rewrite");
    let report = probe_only(&loaded).await;
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert!(!report.detail.contains("not-the-token"), "{report:?}");
}
