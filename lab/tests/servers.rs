//! The lab's middleware servers for sitedeck's health checks: MariaDB and
//! Redis replication, PostgreSQL's password login, moto's bucket, and a
//! whole lab that stops what it started when one server fails.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sitedeck_lab::{Lab, MariaDb, Postgres, Redis, S3Server};

/// Polls `check` until it returns `Some`, for up to 20 s.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Processes that run from or name `dir`: the servers a test started
/// there (postgres' helpers only show it as their working directory).
fn processes_in(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).expect("canonical dir");
    let dir_text = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let path = entry.path();
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let cmdline = std::fs::read(path.join("cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .unwrap_or_default();
        let in_dir = std::fs::read_link(path.join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir));
        if in_dir || cmdline.contains(&dir_text) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// Asserts that nothing started in `dir` still runs.
fn assert_nothing_runs_in(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_in(dir).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        processes_in(dir),
        Vec::<String>::new(),
        "outlived their handles"
    );
}

/// The mariadb client as `user` over TCP, SQL through stdin, the password
/// in the environment (never in argv).
fn mariadb_as(port: u16, user: &str, password: &str, sql: &str) -> Output {
    run_with_stdin(
        Command::new("mariadb")
            .args(["--no-defaults", "--batch", "--host=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--user={user}"))
            .env("MYSQL_PWD", password),
        sql,
    )
}

fn run_with_stdin(command: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write SQL");
    child.wait_with_output().expect("the client ends")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_mariadb_replica_copies_the_primary_and_shows_a_stopped_sql_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let primary = MariaDb::start(&dir.path().join("primary")).expect("the primary starts");
    let replica =
        MariaDb::start_replica(&dir.path().join("replica"), &primary).expect("the replica starts");
    assert_eq!(replica.password, primary.password);
    let status = replica
        .replica_status()
        .expect("SHOW SLAVE STATUS")
        .expect("a replica");
    assert_eq!(status["Slave_IO_Running"], "Yes");
    assert_eq!(status["Slave_SQL_Running"], "Yes");
    assert_eq!(status["Master_Port"], primary.port.to_string());
    assert!(primary.replica_status().expect("status").is_none());

    // The sitedeck user writes on the primary; the row reaches the replica.
    let written = mariadb_as(
        primary.port,
        "sitedeck",
        &primary.password,
        "CREATE TABLE sitedeck.probe (id INT PRIMARY KEY, v VARCHAR(20)); \
         INSERT INTO sitedeck.probe VALUES (1, 'replicated');",
    );
    assert!(written.status.success(), "{}", text(&written));
    eventually("the row on the replica", || {
        replica
            .sql("SELECT v FROM sitedeck.probe WHERE id = 1;")
            .ok()
            .filter(|rows| rows.contains("replicated"))
    });

    // On the replica, the sitedeck user sees replication and every
    // connection, and is refused writes like any non-admin account.
    let seen = mariadb_as(
        replica.port,
        "sitedeck",
        &replica.password,
        "SELECT @@read_only; SHOW ALL SLAVES STATUS; \
         SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'system user';",
    );
    assert!(seen.status.success(), "{}", text(&seen));
    let seen = text(&seen);
    assert!(seen.contains("@@read_only\n1\n"), "{seen}");
    assert!(seen.contains("Slave_SQL_Running"), "{seen}");
    let refused = mariadb_as(
        replica.port,
        "sitedeck",
        &replica.password,
        "INSERT INTO sitedeck.probe VALUES (2, 'on the replica');",
    );
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--read-only"), "{}", text(&refused));
    // The primary counts its replica by its Binlog Dump thread.
    let dumps = mariadb_as(
        primary.port,
        "sitedeck",
        &primary.password,
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%';",
    );
    assert!(text(&dumps).contains("COUNT(*)\n1\n"), "{}", text(&dumps));

    replica
        .sql("STOP SLAVE SQL_THREAD;")
        .expect("stop the SQL thread");
    let status = replica
        .replica_status()
        .expect("SHOW SLAVE STATUS")
        .expect("a replica");
    assert_eq!(status["Slave_SQL_Running"], "No");
    assert_eq!(status["Slave_IO_Running"], "Yes");

    drop(replica);
    drop(primary);
    assert_nothing_runs_in(dir.path());
}

#[test]
fn a_redis_replica_links_up_and_copies_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let primary = Redis::start(&dir.path().join("primary")).expect("the primary starts");
    let replica =
        Redis::start_replica(&dir.path().join("replica"), &primary).expect("the replica starts");
    assert_eq!(replica.password, primary.password);
    let info = replica.command(&["INFO", "replication"]).expect("INFO");
    assert!(info.contains("role:slave"), "{info}");
    assert!(info.contains("master_link_status:up"), "{info}");
    assert!(
        info.contains(&format!("master_port:{}", primary.port)),
        "{info}"
    );
    let info = primary.command(&["INFO", "replication"]).expect("INFO");
    assert!(info.contains("connected_slaves:1"), "{info}");

    primary
        .command(&["SET", "probe", "replicated"])
        .expect("SET");
    eventually("the key on the replica", || {
        (replica.command(&["GET", "probe"]).ok()? == "replicated").then_some(())
    });
    let refused = replica
        .command(&["SET", "probe", "local"])
        .expect_err("read-only");
    assert!(refused.to_string().contains("READONLY"), "{refused}");
    // The password is in the config file, not in any process's argv.
    let running = processes_in(dir.path());
    assert_eq!(running.len(), 2, "{running:?}");
    for process in running {
        assert!(!process.contains(&primary.password), "{process}");
    }

    drop(replica);
    drop(primary);
    assert_nothing_runs_in(dir.path());
}

/// psql as `user` over TCP with `password` (PGPASSWORD, never argv).
fn psql_login(server: &Postgres, user: &str, password: &str) -> Output {
    run_with_stdin(
        Command::new("psql")
            .args([
                "--no-psqlrc",
                "--no-password",
                "--tuples-only",
                "--no-align",
            ])
            .args(["--host", "127.0.0.1", "--port", &server.port.to_string()])
            .args(["--username", user, "--dbname", "sitedeck"])
            .env("PGPASSWORD", password),
        "SELECT current_user || ' ' || current_database();",
    )
}

#[test]
fn postgres_takes_the_sitedeck_password_over_tcp_and_refuses_a_wrong_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Postgres::start(&dir.path().join("pg")).expect("PostgreSQL starts");
    assert_eq!(server.user, "sitedeck");
    assert_eq!(server.endpoint(), format!("127.0.0.1:{}", server.port));

    let good = psql_login(&server, "sitedeck", &server.password);
    assert!(good.status.success(), "{}", text(&good));
    assert_eq!(
        String::from_utf8_lossy(&good.stdout).trim(),
        "sitedeck sitedeck"
    );

    let wrong = psql_login(&server, "sitedeck", "not-the-password");
    assert!(!wrong.status.success());
    assert!(
        text(&wrong).contains("password authentication failed"),
        "{}",
        text(&wrong)
    );
    // The superuser has no password, and TCP takes only passwords.
    let superuser = psql_login(&server, "postgres", "");
    assert!(!superuser.status.success(), "{}", text(&superuser));

    // The superuser works over the socket in the server's directory.
    let rows = server
        .sql("CREATE TABLE probe (v text); INSERT INTO probe VALUES ('kept'); SELECT v FROM probe;")
        .expect("SQL over the socket");
    assert_eq!(rows.trim(), "kept");
    let running = processes_in(dir.path());
    assert!(
        running.len() > 1,
        "the postmaster and its helpers: {running:?}"
    );
    for process in running {
        assert!(!process.contains(&server.password), "{process}");
    }

    drop(server);
    assert_nothing_runs_in(dir.path());
}

#[test]
fn moto_serves_s3_with_the_probe_bucket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s3 = S3Server::start(&dir.path().join("s3")).expect("moto starts");
    assert_eq!(s3.url(), format!("http://127.0.0.1:{}", s3.port));
    assert_eq!(s3.bucket, "sitedeck-probe");
    assert!(!s3.access_key.is_empty() && !s3.secret_key.is_empty());
    let (status, _) = s3.request("HEAD", "/sitedeck-probe").expect("HEAD");
    assert_eq!(status, 200, "the bucket exists");
    let (status, _) = s3.request("HEAD", "/no-such-bucket").expect("HEAD");
    assert_eq!(status, 404);
    let (status, listing) = s3.request("GET", "/").expect("list buckets");
    assert_eq!(status, 200);
    assert!(listing.contains("<Name>sitedeck-probe</Name>"), "{listing}");

    drop(s3);
    assert_nothing_runs_in(dir.path());
}

/// GET `url` over HTTPS trusting only the CA in `ca_file`; the status.
fn https_status(url: &str, ca_file: &Path) -> u16 {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).expect("a PEM file") {
        roots.add(cert.expect("a certificate")).expect("a CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let rest = url.strip_prefix("https://").expect("an https URL");
    let (address, path) = rest.split_once('/').expect("a path");
    let connection = rustls::ClientConnection::new(
        config.into(),
        ServerName::try_from("127.0.0.1").expect("a name"),
    )
    .expect("a TLS client");
    let socket = std::net::TcpStream::connect(address).expect("connect");
    let mut tls = rustls::StreamOwned::new(connection, socket);
    write!(
        tls,
        "GET /{path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    let _ = tls.read_to_string(&mut response);
    response
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"))
}

#[test]
fn the_lab_writes_every_middleware_and_the_kube_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab = Lab::start(&dir.path().join("lab")).expect("the lab starts");
    let site = std::fs::read_to_string(lab.site_file()).expect("site.yaml");
    for name in [
        "mariadb",
        "mariadb-replica",
        "redis",
        "redis-replica",
        "postgresql",
        "s3",
        "kube-api-ready",
        "postgresql-port",
    ] {
        assert!(
            site.contains(&format!("  - name: {name}\n")),
            "{name}: {site}"
        );
    }
    assert!(site.contains(&format!("endpoint: {}\n", lab.mariadb_replica.endpoint())));
    assert!(site.contains(&format!("url: {}\n", lab.s3.url())));
    for secret in [
        "mariadb-password",
        "redis-password",
        "postgres-password",
        "s3-secret-key",
    ] {
        use std::os::unix::fs::PermissionsExt;
        let path = lab.dir.join("secrets").join(secret);
        let value = std::fs::read_to_string(&path).expect("a secret file");
        assert!(!value.is_empty() && !site.contains(&value), "{secret}");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
    assert!(site.contains("ca_file: kube-ca.pem\n"), "{site}");
    let ready = format!("{}/readyz", lab.kube.url());
    assert!(site.contains(&format!("url: {ready}\n")), "{site}");
    assert_eq!(https_status(&ready, &lab.dir.join("kube-ca.pem")), 200);

    drop(lab);
    assert_nothing_runs_in(dir.path());
}

#[test]
fn a_lab_whose_server_fails_stops_the_others_and_names_the_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lab_dir = dir.path().join("lab");
    std::fs::create_dir_all(&lab_dir).expect("lab dir");
    // A file where moto's directory should be: S3 cannot start.
    std::fs::write(lab_dir.join("s3"), "in the way").expect("write");
    let error = Lab::start(&lab_dir).expect_err("the lab must fail");
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!(
            "S3 (moto) did not start (its log: {})",
            lab_dir.join("s3/moto.log").display()
        )),
        "{message}"
    );
    assert_nothing_runs_in(dir.path());
}
