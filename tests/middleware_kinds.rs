//! The postgresql, s3, http and elasticsearch checks end to end:
//! PostgreSQL from Debian's packages, an S3 server (moto, from PyPI), the
//! simulator's HTTPS API for http (and a small rustls server with rcgen
//! certificates near or past their expiry), and, for Elasticsearch (which cannot be
//! installed here), a local server that answers with canned responses in
//! the shape Elasticsearch's documentation shows: it checks sitedeck's HTTP
//! path and parsing, not Elasticsearch.

use std::path::Path;
use std::time::{Duration, Instant};

use sitedeck::config::profile;
use sitedeck::middleware::{Health, Severity};
use sitedeck::probe::{self, ProbeEnv, ProbeReport, ProbeState};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};
use sitedeck_lab::{Postgres, S3Server};

/// Writes a profile with `middleware` and probes the endpoint `name`.
fn check(dir: &Path, middleware: &str, name: &str, readonly: bool) -> ProbeReport {
    let text = format!(
        "name: test\nenvironment: poc\nprobes:\n  timeout_seconds: 3\nmiddleware:\n{middleware}"
    );
    let file = dir.join("site.yaml");
    std::fs::write(&file, &text).expect("write profile");
    let loaded = profile::load(&file).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let sources = probe::plan(&loaded.profile, None);
    let source = sources.iter().find(|s| s.name == name).expect("endpoint");
    let env = ProbeEnv {
        readonly,
        ..ProbeEnv::default()
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(probe::run(source, &loaded.profile, &env))
}

fn secret(dir: &Path, file: &str, value: &str) {
    sitedeck_lab::site::write_private(&dir.join(file), value).expect("write secret");
}

fn health(report: &ProbeReport) -> &Health {
    report
        .health
        .as_ref()
        .unwrap_or_else(|| panic!("no health: {:?} {}", report.state, report.detail))
}

fn finding(report: &ProbeReport, severity: Severity, text: &str) -> bool {
    health(report)
        .findings
        .iter()
        .any(|f| f.severity == severity && f.message.contains(text) && !f.hint.is_empty())
}

#[test]
fn postgresql_primary_and_a_wrong_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = Postgres::start(&dir.path().join("pg")).expect("start PostgreSQL");
    let entry = format!(
        "  - name: pg\n    kind: postgresql\n    endpoint: {}\n    user: {}\n    password: {{file: pg-password}}\n    database: sitedeck\n    role: primary\n",
        pg.endpoint(),
        pg.user
    );
    secret(dir.path(), "pg-password", &pg.password);
    let report = check(dir.path(), &entry, "pg", false);
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(health(&report).role.as_deref(), Some("primary"));
    assert!(
        health(&report)
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with("PostgreSQL ")),
        "{report:?}"
    );
    assert!(health(&report).value("connections").is_some(), "{report:?}");

    // A replica expected, a primary found: a failover, says the finding.
    let as_replica = entry.replace("role: primary", "role: replica");
    let report = check(dir.path(), &as_replica, "pg", false);
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(finding(
        &report,
        Severity::Critical,
        "is primary, the profile expects replica"
    ));

    secret(dir.path(), "pg-password", "wrong");
    let report = check(dir.path(), &entry, "pg", false);
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert_eq!(
        report.detail,
        format!("authentication failed for user {}", pg.user)
    );
}

fn s3_entry(s3: &S3Server, bucket: &str) -> String {
    format!(
        "  - name: store\n    kind: s3\n    url: {}\n    bucket: {bucket}\n    user: {}\n    password: {{file: s3-secret}}\n    write_probe: true\n",
        s3.url(),
        s3.access_key
    )
}

#[test]
fn s3_bucket_write_probe_and_a_missing_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = S3Server::start(&dir.path().join("s3")).expect("start the S3 server");
    secret(dir.path(), "s3-secret", &s3.secret_key);
    let entry = s3_entry(&s3, &s3.bucket);

    let report = check(dir.path(), &entry, "store", false);
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert!(
        health(&report)
            .value("write probe")
            .is_some_and(|v| v.starts_with("ok in")),
        "{report:?}"
    );
    // The probe object was deleted again.
    let (status, body) = s3
        .request("GET", &format!("/{}?list-type=2", s3.bucket))
        .expect("list");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("sitedeck-probe/store"), "{body}");

    let report = check(dir.path(), &entry, "store", true);
    assert_eq!(
        health(&report).value("write probe"),
        Some("skipped (read-only mode)")
    );

    let report = check(dir.path(), &s3_entry(&s3, "no-such-bucket"), "store", false);
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(finding(
        &report,
        Severity::Critical,
        "bucket no-such-bucket does not exist"
    ));
    // moto accepts any keys, so a wrong secret key cannot be shown here;
    // the classification of S3's refusals has unit tests (src/middleware/s3.rs).
}

fn http_entry(url: &str, extra: &str) -> String {
    format!("  - name: web\n    kind: http\n    url: {url}\n{extra}")
}

#[test]
fn http_status_body_json_tls_refusal_and_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = KubeSim::start_with(
        &dir.path().join("kube"),
        KubeSimOptions {
            log_interval: None,
            ..KubeSimOptions::default()
        },
    )
    .expect("simulator");
    std::fs::write(dir.path().join("ca.pem"), sim.ca_pem()).expect("write CA");
    let base = sim.url().trim_end_matches('/').to_owned();
    let ca = "    ca_file: ca.pem\n";

    let report = check(
        dir.path(),
        &http_entry(&format!("{base}/readyz"), ca),
        "web",
        false,
    );
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(health(&report).value("status"), Some("200"));
    assert!(health(&report).value("cert").is_some(), "{report:?}");

    let entry = http_entry(
        &format!("{base}/readyz"),
        &format!("{ca}    expect_status: 204\n"),
    );
    let report = check(dir.path(), &entry, "web", false);
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(finding(&report, Severity::Critical, "expected status 204"));

    let entry = http_entry(
        &format!("{base}/readyz"),
        &format!("{ca}    expect_body: healthy\n"),
    );
    let report = check(dir.path(), &entry, "web", false);
    assert!(finding(
        &report,
        Severity::Critical,
        "the body lacks `healthy`"
    ));

    // Without a token the API answers 401 with a JSON Status: expected
    // here, its `reason` is checked.
    let unauthorized = http_entry(
        &format!("{base}/version"),
        &format!("{ca}    expect_status: 401\n"),
    );
    let json = |value: &str| {
        format!("{unauthorized}    expect_json: {{path: reason, value: \"{value}\"}}\n")
    };
    let report = check(dir.path(), &json("Unauthorized"), "web", false);
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    let report = check(dir.path(), &json("Forbidden"), "web", false);
    assert!(finding(
        &report,
        Severity::Critical,
        "reason is Unauthorized, expected Forbidden"
    ));
    // 401 where a 2xx is expected: the endpoint refused sitedeck.
    let report = check(
        dir.path(),
        &http_entry(&format!("{base}/version"), ca),
        "web",
        false,
    );
    assert!(finding(
        &report,
        Severity::Critical,
        "answered 401 Unauthorized"
    ));

    // Without the CA: the certificate is not trusted, and the error says so.
    let report = check(
        dir.path(),
        &http_entry(&format!("{base}/readyz"), ""),
        "web",
        false,
    );
    assert_eq!(report.state, ProbeState::TlsError, "{report:?}");
    assert!(
        report.detail.contains("not signed by a trusted CA"),
        "{report:?}"
    );

    // A closed port is refused at once.
    let closed = sitedeck_lab::free_port().expect("port");
    let started = Instant::now();
    let report = check(
        dir.path(),
        &http_entry(&format!("http://127.0.0.1:{closed}/"), ""),
        "web",
        false,
    );
    assert_eq!(report.state, ProbeState::Refused, "{report:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A server that accepts and never answers: a timeout, within the budget.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hung.local_addr().expect("address").port();
    let entry = http_entry(
        &format!("http://127.0.0.1:{port}/"),
        "    timeout_seconds: 1\n",
    );
    let started = Instant::now();
    let report = check(dir.path(), &entry, "web", false);
    assert_eq!(report.state, ProbeState::Timeout, "{report:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{report:?}");
    drop(hung);
}

/// A canned-response HTTP server (not Elasticsearch): each path answers
/// with a fixture from tests/fixtures/elasticsearch, or every request with
/// 401 when `unauthorized`. It serves until [`CannedServer::stop`].
struct CannedServer {
    address: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CannedServer {
    fn start(health: &'static str, unauthorized: bool) -> Self {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/elasticsearch");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { return };
                let mut request_line = String::new();
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok() && line != "\r\n" && !line.is_empty() {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = if unauthorized {
                    (
                        "401 Unauthorized\r\nwww-authenticate: Basic realm=\"security\"",
                        br#"{"error":{"type":"security_exception","reason":"unable to authenticate user [elastic]"},"status":401}"#.to_vec(),
                    )
                } else {
                    let file = match path.split('?').next().unwrap_or("/") {
                        "/" => "root-8.json",
                        "/_cluster/health" => health,
                        "/_cat/indices" => "cat-indices-8.json",
                        "/_cat/allocation" => "cat-allocation-8.json",
                        _ => "settings-defaults-8.json",
                    };
                    (
                        "200 OK",
                        std::fs::read(fixtures.join(file)).expect("fixture"),
                    )
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Self {
            address,
            stop,
            thread: Some(thread),
        }
    }

    /// Ends the server: the flag, then a connection to wake its accept.
    fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the canned server");
        }
    }
}

#[test]
fn elasticsearch_answers_are_read_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = CannedServer::start("health-red-8.json", false);
    let entry = format!(
        "  - name: es\n    kind: elasticsearch\n    url: http://{}\n",
        server.address
    );
    let report = check(dir.path(), &entry, "es", false);
    server.stop();
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert_eq!(
        health(&report).version.as_deref(),
        Some("Elasticsearch 8.15.0")
    );
    assert_eq!(health(&report).value("indices"), Some("3"));
    assert!(finding(&report, Severity::Critical, "cluster red"));

    // 401 from the (canned) server: the credentials were refused.
    let server = CannedServer::start("health-green-8.json", true);
    secret(dir.path(), "es-password", "not-the-password");
    let entry = format!(
        "  - name: es\n    kind: elasticsearch\n    url: http://{}\n    user: elastic\n    password: {{file: es-password}}\n",
        server.address
    );
    let report = check(dir.path(), &entry, "es", false);
    server.stop();
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert_eq!(report.detail, "authentication failed for user elastic");
    assert!(!report.detail.contains("not-the-password"));
}

/// A local HTTPS server (rustls) presenting a certificate that rcgen makes
/// for 127.0.0.1, valid until `not_after`, signed by a fresh CA; it
/// answers every request `200 ok`. Its runtime goes with it.
struct TlsServer {
    address: std::net::SocketAddr,
    ca_pem: String,
    _runtime: tokio::runtime::Runtime,
}

impl TlsServer {
    fn start(not_after_from_now: chrono::TimeDelta) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
            KeyPair,
        };
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca =
            CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        // rcgen takes `time` dates: midnight UTC of a day plus seconds.
        let at = |when: chrono::DateTime<chrono::Utc>| {
            let day = when.date_naive();
            let midnight = rcgen::date_time_ymd(
                chrono::Datelike::year(&day),
                chrono::Datelike::month(&day) as u8,
                chrono::Datelike::day(&day) as u8,
            );
            let seconds =
                (when - day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()).num_seconds();
            midnight + Duration::from_secs(u64::try_from(seconds).expect("seconds"))
        };
        let now = chrono::Utc::now();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        params.not_before = at(now - chrono::TimeDelta::days(60));
        params.not_after = at(now + not_after_from_now);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca).expect("sign");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let address = listener.local_addr().expect("address");
        runtime.spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(connection).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            address,
            ca_pem: ca.pem(),
            _runtime: runtime,
        }
    }
}

#[test]
fn http_certificate_days_to_expiry_and_an_expired_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let entry = |server: &TlsServer| {
        std::fs::write(dir.path().join("ca.pem"), &server.ca_pem).expect("write CA");
        http_entry(
            &format!("https://{}/", server.address),
            "    ca_file: ca.pem\n",
        )
    };

    // Five and a half days left: five whole days, a warning.
    let soon = TlsServer::start(chrono::TimeDelta::hours(5 * 24 + 12));
    let report = check(dir.path(), &entry(&soon), "web", false);
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(
        health(&report)
            .value("cert")
            .is_some_and(|v| v.starts_with("5 days left")),
        "{report:?}"
    );
    assert!(finding(
        &report,
        Severity::Warning,
        "certificate expires in 5 days"
    ));

    // Expired three and a half days ago: rustls refuses it, and the TLS
    // error says why.
    let expired = TlsServer::start(-chrono::TimeDelta::hours(3 * 24 + 12));
    let report = check(dir.path(), &entry(&expired), "web", false);
    assert_eq!(report.state, ProbeState::TlsError, "{report:?}");
    assert!(
        report
            .detail
            .starts_with("TLS error: certificate expired 3 days ago"),
        "{report:?}"
    );
}
