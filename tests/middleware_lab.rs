//! MySQL (MariaDB) and Redis health against real servers from Debian's
//! packages: healthy replication, a stopped SQL thread, a killed replica,
//! a lost master link, wrong passwords, closed ports, write probes and
//! read-only mode.

use std::path::Path;
use std::time::{Duration, Instant};

use sitedeck::config::profile;
use sitedeck::middleware::{Health, Severity};
use sitedeck::probe::{self, ProbeEnv, ProbeReport, ProbeState};
use sitedeck_lab::{MariaDb, Redis};

/// Writes `profile` (a `middleware:` list) with the secrets it names and
/// probes the endpoint called `name`.
async fn check(dir: &Path, middleware: &str, name: &str, readonly: bool) -> ProbeReport {
    let text = format!(
        "name: test\nenvironment: poc\nprobes:\n  timeout_seconds: 5\nmiddleware:\n{middleware}"
    );
    let file = dir.join("site.yaml");
    std::fs::write(&file, &text).expect("write profile");
    let loaded = profile::load(&file).expect("the test profile is valid");
    let sources = probe::plan(&loaded.profile, None);
    let source = sources
        .iter()
        .find(|s| s.name == name)
        .expect("the endpoint is in the profile");
    let env = ProbeEnv {
        readonly,
        ..ProbeEnv::default()
    };
    probe::run(source, &loaded.profile, &env).await
}

fn secret(dir: &Path, file: &str, value: &str) {
    sitedeck_lab::site::write_private(&dir.join(file), value).expect("write secret");
}

fn mysql_entry(name: &str, db: &MariaDb, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: mysql\n    endpoint: {}\n    user: sitedeck\n    password: {{file: mysql-password}}\n    database: sitedeck\n{extra}",
        db.endpoint()
    )
}

fn redis_entry(name: &str, redis: &Redis, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: redis\n    endpoint: {}\n    password: {{file: redis-password}}\n{extra}",
        redis.endpoint()
    )
}

fn health(report: &ProbeReport) -> &Health {
    report
        .health
        .as_ref()
        .unwrap_or_else(|| panic!("no health: {:?} {}", report.state, report.detail))
}

fn has_finding(report: &ProbeReport, severity: Severity, text: &str) -> bool {
    health(report)
        .findings
        .iter()
        .any(|f| f.severity == severity && f.message.contains(text) && !f.hint.is_empty())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn mariadb_replication_health_follows_the_servers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let primary = MariaDb::start(&dir.path().join("primary")).expect("start MariaDB");
    let mut replica =
        MariaDb::start_replica(&dir.path().join("replica"), &primary).expect("start replica");
    secret(dir.path(), "mysql-password", &primary.password);
    let middleware = [
        mysql_entry(
            "primary",
            &primary,
            "    role: primary\n    replicas: 1\n    write_probe: true\n",
        ),
        mysql_entry("replica", &replica, "    role: replica\n"),
    ]
    .concat();
    let rt = runtime();

    // Healthy: both up, the primary sees its replica, the replica runs both threads.
    let report = rt.block_on(check(dir.path(), &middleware, "primary", false));
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(health(&report).role.as_deref(), Some("primary"));
    assert_eq!(health(&report).value("replicas"), Some("1/1"));
    assert!(
        health(&report)
            .value("write probe")
            .is_some_and(|v| v.starts_with("ok in")),
        "{report:?}"
    );
    assert_eq!(report.path.as_deref(), Some("direct"));
    let report = rt.block_on(check(dir.path(), &middleware, "replica", false));
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(health(&report).role.as_deref(), Some("replica"));
    assert_eq!(health(&report).value("io"), Some("Yes"));
    assert_eq!(health(&report).value("sql"), Some("Yes"));

    // The SQL thread stopped by hand: degraded, with the thread state and a hint.
    replica
        .sql("STOP SLAVE SQL_THREAD;")
        .expect("stop the SQL thread");
    let report = rt.block_on(check(dir.path(), &middleware, "replica", false));
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(
        has_finding(&report, Severity::Critical, "SQL thread is No"),
        "{report:?}"
    );
    assert!(
        health(&report).findings[0].hint.contains("START"),
        "{report:?}"
    );

    // The replica gone: the primary is degraded by its replica count. The
    // primary's dump thread notices a vanished replica when it next sends
    // (a binlog event, or the heartbeat within 30 s): writes make it send.
    replica.stop();
    primary
        .sql("CREATE TABLE IF NOT EXISTS sitedeck.ticks (n INT);")
        .expect("create");
    let deadline = Instant::now() + Duration::from_secs(20);
    let report = loop {
        primary
            .sql("INSERT INTO sitedeck.ticks VALUES (1);")
            .expect("write on the primary");
        let report = rt.block_on(check(dir.path(), &middleware, "primary", false));
        if report.state != ProbeState::Up || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert_eq!(health(&report).value("replicas"), Some("0/1"));
    assert!(
        has_finding(&report, Severity::Warning, "0 of 1 replicas connected"),
        "{report:?}"
    );

    // A closed port is refused, quickly.
    let started = Instant::now();
    let report = rt.block_on(check(dir.path(), &middleware, "replica", false));
    assert_eq!(report.state, ProbeState::Refused, "{report:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "{report:?}");
}

#[test]
fn mariadb_wrong_password_and_readonly_write_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = MariaDb::start(&dir.path().join("db")).expect("start MariaDB");
    let middleware = mysql_entry("db", &db, "    write_probe: true\n");
    let rt = runtime();

    secret(dir.path(), "mysql-password", "not-the-password");
    let report = rt.block_on(check(dir.path(), &middleware, "db", false));
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert_eq!(report.detail, "authentication failed for user sitedeck");

    secret(dir.path(), "mysql-password", &db.password);
    let report = rt.block_on(check(dir.path(), &middleware, "db", true));
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(
        health(&report).value("write probe"),
        Some("skipped (read-only mode)")
    );
    // Read-only mode wrote nothing: the probe table does not even exist.
    let tables = db
        .sql("SHOW TABLES FROM sitedeck LIKE 'sitedeck_probe';")
        .expect("query");
    assert!(!tables.contains("sitedeck_probe"), "{tables}");

    let report = rt.block_on(check(dir.path(), &middleware, "db", false));
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    let rows = db
        .sql("SELECT id FROM sitedeck.sitedeck_probe;")
        .expect("query");
    assert!(rows.contains("db"), "the write probe wrote its row: {rows}");
}

#[test]
fn redis_replication_health_follows_the_servers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut primary = Redis::start(&dir.path().join("primary")).expect("start Redis");
    let mut replica =
        Redis::start_replica(&dir.path().join("replica"), &primary).expect("start replica");
    secret(dir.path(), "redis-password", &primary.password);
    let middleware = [
        redis_entry(
            "primary",
            &primary,
            "    role: primary\n    replicas: 1\n    write_probe: true\n",
        ),
        redis_entry("replica", &replica, "    role: replica\n"),
    ]
    .concat();
    let rt = runtime();

    let report = rt.block_on(check(dir.path(), &middleware, "primary", false));
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(health(&report).value("replicas"), Some("1/1"));
    assert!(
        health(&report)
            .value("write probe")
            .is_some_and(|v| v.starts_with("ok in")),
        "{report:?}"
    );
    let report = rt.block_on(check(dir.path(), &middleware, "replica", false));
    assert_eq!(report.state, ProbeState::Up, "{report:?}");
    assert_eq!(health(&report).value("link"), Some("up"));

    // Read-only mode: no write probe.
    let report = rt.block_on(check(dir.path(), &middleware, "primary", true));
    assert_eq!(
        health(&report).value("write probe"),
        Some("skipped (read-only mode)")
    );

    // The replica killed: the primary is degraded.
    replica.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        // Redis notices a closed replica connection at once, but give it a moment.
        let report = rt.block_on(check(dir.path(), &middleware, "primary", false));
        if report.state != ProbeState::Up || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(
        has_finding(&report, Severity::Warning, "0 of 1 replicas connected"),
        "{report:?}"
    );
    primary.stop();
}

#[test]
fn redis_replica_reports_a_lost_master_and_wrong_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut primary = Redis::start(&dir.path().join("primary")).expect("start Redis");
    let replica =
        Redis::start_replica(&dir.path().join("replica"), &primary).expect("start replica");
    let middleware = redis_entry("replica", &replica, "    role: replica\n");
    let rt = runtime();

    secret(dir.path(), "redis-password", "wrong");
    let report = rt.block_on(check(dir.path(), &middleware, "replica", false));
    assert_eq!(report.state, ProbeState::AuthFailed, "{report:?}");
    assert!(
        report
            .detail
            .starts_with("authentication failed for user default"),
        "{report:?}"
    );

    secret(dir.path(), "redis-password", &replica.password);
    primary.stop();
    let report = rt.block_on(check(dir.path(), &middleware, "replica", false));
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(
        has_finding(&report, Severity::Critical, "the link to master"),
        "{report:?}"
    );
}

#[test]
fn an_unexpected_role_is_critical() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Redis::start(&dir.path().join("db")).expect("start Redis");
    secret(dir.path(), "redis-password", &db.password);
    // The profile expects a replica; the server is a primary (a failover, say).
    let middleware = redis_entry("cache", &db, "    role: replica\n");
    let report = runtime().block_on(check(dir.path(), &middleware, "cache", false));
    assert_eq!(report.state, ProbeState::Degraded, "{report:?}");
    assert!(
        has_finding(
            &report,
            Severity::Critical,
            "is primary, the profile expects replica"
        ),
        "{report:?}"
    );
}
