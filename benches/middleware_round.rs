//! Middleware round harness (issue #5): 50 endpoints on the lab checked
//! concurrently, as the TUI's background round checks them (one task per
//! endpoint, each with its own timeout), with dead endpoints among them.
//!
//! The lab (`sitedeck_lab::Lab`: MariaDB primary and replica, Redis primary
//! and replica, PostgreSQL, an S3 server (moto), the Kubernetes API
//! simulator over HTTPS) runs on loopback. The profile lists 50 endpoints:
//!
//! * 45 live: 6 MariaDB primaries (3 with the write probe), 6 MariaDB
//!   replicas, 6 Redis primaries (3 with the write probe), 6 Redis
//!   replicas, 5 PostgreSQL, 4 S3 (2 with the write probe), 4 HTTPS
//!   (`/readyz` of the simulator, with its CA), 8 TCP;
//! * 5 dead: 3 closed ports (refused) and 2 listeners that accept and
//!   never answer (a hung server: each check runs into its 2 s timeout).
//!
//! Every endpoint has `timeout_seconds: 2`. `ROUNDS` rounds run one after
//! the other; for each: the time until every live endpoint has its result
//! (the goal: ≤ 1 s), the slowest live check, the time until the dead ones
//! have theirs, and the whole round. A live endpoint that is not up, or a
//! dead one that is, is a harness error. Missing the goal is not: the
//! figures go to docs/PERFORMANCE.md.
//!
//! Run: `cargo bench --bench middleware_round` (`SITEDECK_ROUNDS` sets the
//! number of rounds, default 10).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use sitedeck::config::profile;
use sitedeck::probe::{self, ProbeEnv, ProbeState};

/// How many endpoints answer.
const LIVE: usize = 45;

fn entry(name: &str, kind: &str, body: &str) -> String {
    format!("  - name: {name}\n    kind: {kind}\n    timeout_seconds: 2\n{body}")
}

fn profile_text(lab: &sitedeck_lab::Lab, dead_ports: &[u16], hung_ports: &[u16]) -> String {
    let secrets = lab.dir.join("secrets");
    let secret = |file: &str| format!("{{file: {}}}", secrets.join(file).display());
    let mut entries = Vec::new();
    for n in 0..6 {
        let write = if n < 3 { "    write_probe: true\n" } else { "" };
        entries.push(entry(
            &format!("mariadb-{n}"),
            "mysql",
            &format!(
                "    endpoint: {}\n    user: sitedeck\n    password: {}\n    database: sitedeck\n    role: primary\n    replicas: 1\n{write}",
                lab.mariadb.endpoint(),
                secret("mariadb-password")
            ),
        ));
        entries.push(entry(
            &format!("mariadb-replica-{n}"),
            "mysql",
            &format!(
                "    endpoint: {}\n    user: sitedeck\n    password: {}\n    role: replica\n",
                lab.mariadb_replica.endpoint(),
                secret("mariadb-password")
            ),
        ));
        entries.push(entry(
            &format!("redis-{n}"),
            "redis",
            &format!(
                "    endpoint: {}\n    password: {}\n    role: primary\n    replicas: 1\n{write}",
                lab.redis.endpoint(),
                secret("redis-password")
            ),
        ));
        entries.push(entry(
            &format!("redis-replica-{n}"),
            "redis",
            &format!(
                "    endpoint: {}\n    password: {}\n    role: replica\n",
                lab.redis_replica.endpoint(),
                secret("redis-password")
            ),
        ));
    }
    for n in 0..5 {
        entries.push(entry(
            &format!("postgresql-{n}"),
            "postgresql",
            &format!(
                "    endpoint: {}\n    user: sitedeck\n    password: {}\n    database: sitedeck\n",
                lab.postgres.endpoint(),
                secret("postgres-password")
            ),
        ));
    }
    for n in 0..4 {
        let write = if n < 2 { "    write_probe: true\n" } else { "" };
        entries.push(entry(
            &format!("s3-{n}"),
            "s3",
            &format!(
                "    url: {}\n    bucket: {}\n    user: {}\n    password: {}\n{write}",
                lab.s3.url(),
                lab.s3.bucket,
                lab.s3.access_key,
                secret("s3-secret-key")
            ),
        ));
        entries.push(entry(
            &format!("http-{n}"),
            "http",
            &format!(
                "    url: {}/readyz\n    ca_file: {}\n    expect_status: 200\n",
                lab.kube.url().trim_end_matches('/'),
                lab.dir.join("kube-ca.pem").display()
            ),
        ));
    }
    for n in 0..8 {
        entries.push(entry(
            &format!("tcp-{n}"),
            "tcp",
            &format!("    endpoint: {}\n", lab.postgres.endpoint()),
        ));
    }
    for (n, port) in dead_ports.iter().enumerate() {
        entries.push(entry(
            &format!("dead-refused-{n}"),
            "mysql",
            &format!("    endpoint: 127.0.0.1:{port}\n    user: sitedeck\n"),
        ));
    }
    for (n, port) in hung_ports.iter().enumerate() {
        entries.push(entry(
            &format!("dead-hung-{n}"),
            "redis",
            &format!("    endpoint: 127.0.0.1:{port}\n"),
        ));
    }
    format!(
        "name: bench\nenvironment: poc\nmiddleware:\n{}",
        entries.concat()
    )
}

/// One round's figures, in seconds.
struct Round {
    live_done: f64,
    slowest_live: f64,
    dead_done: f64,
}

async fn round(profile: Arc<profile::SiteProfile>) -> Result<Round> {
    let sources = probe::plan(&profile, None);
    ensure!(sources.len() == 50, "{} endpoints, not 50", sources.len());
    let env = Arc::new(ProbeEnv::default());
    let started = Instant::now();
    let tasks: Vec<_> = sources
        .into_iter()
        .map(|source| {
            let profile = Arc::clone(&profile);
            let env = Arc::clone(&env);
            tokio::spawn(async move {
                let report = probe::run(&source, &profile, &env).await;
                (source.name, report, started.elapsed().as_secs_f64())
            })
        })
        .collect();
    let (mut live_done, mut slowest_live, mut dead_done) = (0f64, 0f64, 0f64);
    for task in tasks {
        let (name, report, done) = task.await.context("a check panicked")?;
        let dead = name.starts_with("dead-");
        if dead {
            ensure!(report.state.is_down(), "{name} is {:?}", report.state);
            dead_done = dead_done.max(done);
        } else {
            if report.state != ProbeState::Up {
                bail!("{name}: {} ({})", report.state.label(), report.detail);
            }
            live_done = live_done.max(done);
            slowest_live = slowest_live.max(report.latency_ms.unwrap_or(0.0) / 1000.0);
        }
    }
    Ok(Round {
        live_done,
        slowest_live,
        dead_done,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<()> {
    let rounds: usize = std::env::var("SITEDECK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let home = tempfile::tempdir()?;
    let lab = sitedeck_lab::Lab::start(&home.path().join("lab")).context("start the lab")?;
    // Closed ports: bound, then released. Hung servers: listening, never accepting.
    let dead_ports: Vec<u16> = (0..3)
        .map(|_| sitedeck_lab::free_port())
        .collect::<std::io::Result<_>>()?;
    let hung: Vec<std::net::TcpListener> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    let hung_ports: Vec<u16> = hung
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<_>>()?;
    let file = home.path().join("bench.yaml");
    std::fs::write(&file, profile_text(&lab, &dead_ports, &hung_ports))?;
    let loaded = profile::load(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let profile = Arc::new(loaded.profile);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    println!("{LIVE} live + 5 dead endpoints, {rounds} rounds (one warm-up first)");
    runtime.block_on(round(Arc::clone(&profile)))?;
    let mut results = Vec::new();
    for n in 0..rounds {
        let r = runtime.block_on(round(Arc::clone(&profile)))?;
        println!(
            "round {n:>2}: live done {:>6.0} ms  slowest live check {:>6.0} ms  dead done {:>6.0} ms",
            r.live_done * 1000.0,
            r.slowest_live * 1000.0,
            r.dead_done * 1000.0
        );
        results.push(r);
    }
    let pick = |f: fn(&Round) -> f64| median(results.iter().map(f).collect());
    println!(
        "median: every live endpoint checked in {:.0} ms (goal ≤ 1000 ms); slowest live check {:.0} ms; dead endpoints done in {:.0} ms (their timeout: 2000 ms)",
        pick(|r| r.live_done) * 1000.0,
        pick(|r| r.slowest_live) * 1000.0,
        pick(|r| r.dead_done) * 1000.0
    );
    let worst = results.iter().map(|r| r.live_done).fold(0.0, f64::max);
    println!("worst round: live done in {:.0} ms", worst * 1000.0);
    drop(hung);
    drop(lab);
    Ok(())
}
