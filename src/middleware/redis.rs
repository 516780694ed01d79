//! Redis (standalone, replication, Sentinel): role, replicas and their
//! lag, the link to the master, memory, clients, evictions, persistence,
//! keyspace, and an optional write probe with a TTL.

use std::collections::HashMap;
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use super::{CheckContext, Health, Severity};
use crate::probe::ProbeFailure;

/// Used memory, as a share of `maxmemory`, that makes Redis degraded.
const MEMORY_WARNING_PERCENT: u64 = 90;
/// Seconds since a replica last acknowledged that make it lagging.
const REPLICA_LAG_WARNING_SECONDS: u64 = 10;
/// How long the write probe's key lives.
const PROBE_TTL_SECONDS: u64 = 60;

/// Connects (with AUTH when a password is set) and reads `INFO`.
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let spec = ctx.spec;
    let target = ctx.dial.address();
    let fail = |e: redis::RedisError| classify(&e, ctx, &target);
    let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(user) = &spec.user {
        settings = settings.set_username(user);
    }
    if let Some(password) = ctx.password().await? {
        settings = settings.set_password(password.expose());
    }
    if let Some(db) = &spec.database {
        let db = db
            .parse::<i64>()
            .map_err(|_| ProbeFailure::config(format!("Redis database `{db}` is not a number")))?;
        settings = settings.set_db(db);
    }
    let info = ConnectionAddr::Tcp(ctx.dial.host.clone(), ctx.dial.port)
        .into_connection_info()
        .map_err(|e| ProbeFailure::config(e.to_string()))?
        .set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(fail)?;
    // The check's own budget, not the client's 0.5 s default: a slow
    // Redis is slow, not broken; the caller's timeout bounds the whole.
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(ctx.timeout))
        .set_response_timeout(Some(ctx.timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(fail)?;
    // Plain INFO: the default sections (with `sentinel` on a Sentinel),
    // without the per-command statistics of INFO ALL.
    let text: String = redis::cmd("INFO")
        .query_async(&mut conn)
        .await
        .map_err(fail)?;
    let info = Info::parse(&text);
    let mut health = Health {
        version: Some(format!(
            "Redis {}",
            info.get("redis_version").unwrap_or("?")
        )),
        ..Health::default()
    };
    if info.get("redis_mode") == Some("sentinel") {
        sentinel(ctx, &info, &mut health);
        return Ok(health);
    }
    let role = match info.get("role") {
        Some("master") => "primary",
        Some("slave") => "replica",
        Some(other) => other,
        None => "?",
    };
    health.role = Some(role.to_owned());
    if role == "replica" {
        replica(&info, &mut health);
    } else {
        primary(ctx, &info, &mut health);
    }
    memory(&info, &mut health);
    clients_and_persistence(&info, &mut health);
    if ctx.write_probe_allowed(&mut health) {
        if role == "replica" {
            health.figure("write probe", "skipped (replica)");
        } else {
            write_probe(ctx, &mut conn, &mut health)
                .await
                .map_err(fail)?;
        }
    }
    Ok(health)
}

/// `INFO`'s `key:value` lines.
struct Info<'a> {
    fields: HashMap<&'a str, &'a str>,
}

impl<'a> Info<'a> {
    fn parse(text: &'a str) -> Self {
        let fields = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.trim_end().split_once(':'))
            .collect();
        Self { fields }
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.fields.get(key).copied()
    }

    fn number(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }

    /// A `k=v,k=v` field (`slave0`, `db0`, `master0`).
    fn record(&self, key: &str) -> Option<HashMap<&'a str, &'a str>> {
        Some(
            self.get(key)?
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect(),
        )
    }
}

fn primary(ctx: &CheckContext<'_>, info: &Info<'_>, health: &mut Health) {
    let connected = info.number("connected_slaves").unwrap_or(0);
    let offset = info.number("master_repl_offset").unwrap_or(0);
    let mut worst_lag_bytes = 0;
    for n in 0..connected {
        let Some(slave) = info.record(&format!("slave{n}")) else {
            continue;
        };
        let address = format!(
            "{}:{}",
            slave.get("ip").unwrap_or(&"?"),
            slave.get("port").unwrap_or(&"?")
        );
        let state = slave.get("state").copied().unwrap_or("?");
        let behind = slave
            .get("offset")
            .and_then(|o| o.parse::<u64>().ok())
            .map_or(0, |o| offset.saturating_sub(o));
        let lag = slave.get("lag").and_then(|l| l.parse::<u64>().ok());
        worst_lag_bytes = worst_lag_bytes.max(behind);
        health.figure(
            &format!("replica {address}"),
            format!(
                "{state}, {} behind, last ack {}",
                super::bytes(behind),
                lag.map_or("?".into(), |l| format!("{l} s ago"))
            ),
        );
        if state != "online" {
            health.finding(
                Severity::Warning,
                format!("replica {address} is {state}"),
                "a full resync is running or the replica is stuck: watch the replica's log; a resync loop often means client-output-buffer-limit replica is too small",
            );
        } else if lag.is_some_and(|l| l >= REPLICA_LAG_WARNING_SECONDS) {
            health.finding(
                Severity::Warning,
                format!("replica {address} last acknowledged {} s ago", lag.unwrap_or(0)),
                "the replica is slow or its network is: check its host's CPU and the link between them",
            );
        }
    }
    super::expect_replicas(
        health,
        ctx.spec,
        u32::try_from(connected).unwrap_or(u32::MAX),
        "a replica is down or cannot reach the master: check the replica's pod or host and its log (masterauth, network)",
    );
    if connected > 0 {
        health.key_figure("offset lag", super::bytes(worst_lag_bytes));
    }
}

fn replica(info: &Info<'_>, health: &mut Health) {
    let master = format!(
        "{}:{}",
        info.get("master_host").unwrap_or("?"),
        info.get("master_port").unwrap_or("?")
    );
    let link = info.get("master_link_status").unwrap_or("?");
    health.figure("master", &master);
    health.key_figure("link", link);
    if let Some(seconds) = info.number("master_last_io_seconds_ago") {
        health.figure("last io", format!("{seconds} s ago"));
    }
    if let Some(offset) = info.number("slave_repl_offset") {
        health.figure("replication offset", offset);
    }
    if link != "up" {
        let down_for = info
            .number("master_link_down_since_seconds")
            .map_or(String::new(), |s| format!(" for {s} s"));
        health.finding(
            Severity::Critical,
            format!("the link to master {master} is {link}{down_for}"),
            "the replica serves stale data: check that the master runs, that masterauth matches its password, and the replica's log",
        );
    }
    if info.get("master_sync_in_progress") == Some("1") {
        health.finding(
            Severity::Warning,
            "a full resync from the master is in progress",
            "wait for it to finish; if it restarts over and over, raise client-output-buffer-limit replica on the master",
        );
    }
}

fn sentinel(ctx: &CheckContext<'_>, info: &Info<'_>, health: &mut Health) {
    health.role = Some("sentinel".into());
    let masters = info.number("sentinel_masters").unwrap_or(0);
    health.key_figure("masters", masters);
    for n in 0..masters {
        let Some(master) = info.record(&format!("master{n}")) else {
            continue;
        };
        let name = master.get("name").copied().unwrap_or("?");
        let status = master.get("status").copied().unwrap_or("?");
        let replicas = master
            .get("slaves")
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        let sentinels = master.get("sentinels").copied().unwrap_or("?");
        health.figure(
            &format!("master {name}"),
            format!(
                "{status} at {}, {replicas} replicas, {sentinels} sentinels",
                master.get("address").unwrap_or(&"?")
            ),
        );
        if status != "ok" {
            health.finding(
                Severity::Critical,
                format!("Sentinel sees master {name} as {status}"),
                "the master is down or unreachable from the Sentinels: check it, and whether a failover is under way (SENTINEL get-master-addr-by-name)",
            );
        }
        if let Some(expected) = ctx.spec.replicas
            && replicas < expected
        {
            health.finding(
                Severity::Warning,
                format!("master {name} has {replicas} of {expected} replicas"),
                "a replica is down: check its pod or host",
            );
        }
    }
}

fn memory(info: &Info<'_>, health: &mut Health) {
    let used = info.number("used_memory").unwrap_or(0);
    match info.number("maxmemory").filter(|m| *m > 0) {
        Some(max) => {
            health.key_figure(
                "memory",
                format!("{}/{}", super::bytes(used), super::bytes(max)),
            );
            if used * 100 >= max * MEMORY_WARNING_PERCENT {
                let policy = info.get("maxmemory_policy").unwrap_or("?");
                health.finding(
                    Severity::Warning,
                    format!("memory at {}% of maxmemory (policy {policy})", used * 100 / max),
                    if policy == "noeviction" {
                        "writes will fail with OOM soon: find what grows (redis-cli --bigkeys) or raise maxmemory"
                    } else {
                        "Redis will evict keys: check that the cache may lose them, or raise maxmemory"
                    },
                );
            }
        }
        None => health.key_figure("memory", super::bytes(used)),
    }
    if let Some(policy) = info.get("maxmemory_policy") {
        health.figure("maxmemory policy", policy);
    }
    let evicted = info.number("evicted_keys").unwrap_or(0);
    health.figure("evicted keys", evicted);
    if evicted > 0 {
        health.finding(
            Severity::Info,
            format!("{evicted} keys evicted since the server started"),
            "normal for a cache; for a store that must keep its data, raise maxmemory",
        );
    }
}

fn clients_and_persistence(info: &Info<'_>, health: &mut Health) {
    if let Some(clients) = info.number("connected_clients") {
        health.key_figure("clients", clients);
    }
    if let Some(blocked) = info.number("blocked_clients") {
        health.figure("blocked clients", blocked);
    }
    if let Some(rejected) = info.number("rejected_connections").filter(|r| *r > 0) {
        health.finding(
            Severity::Warning,
            format!("{rejected} connections rejected (maxclients reached)"),
            "clients were refused: look for a connection leak before raising maxclients",
        );
    }
    let rdb = info.get("rdb_last_bgsave_status").unwrap_or("?");
    let aof = info.get("aof_enabled") == Some("1");
    let persistence = if aof {
        let last = info.get("aof_last_write_status").unwrap_or("?");
        format!("AOF (last write {last})")
    } else {
        format!("RDB (last save {rdb})")
    };
    health.figure("persistence", persistence);
    if rdb == "err" {
        health.finding(
            Severity::Critical,
            "the last RDB save failed",
            "with stop-writes-on-bgsave-error (the default) Redis refuses writes: check the disk and the Redis log",
        );
    }
    if aof && info.get("aof_last_write_status") == Some("err") {
        health.finding(
            Severity::Critical,
            "the last AOF write failed",
            "check the disk (full? read-only?) and the Redis log",
        );
    }
    if info.get("loading") == Some("1") {
        health.finding(
            Severity::Warning,
            "Redis is loading its dataset",
            "it answers LOADING until done: wait, and check why it restarted",
        );
    }
    let databases = (0..16)
        .filter(|n| info.get(&format!("db{n}")).is_some())
        .count();
    let keys: u64 = (0..16)
        .filter_map(|n| info.record(&format!("db{n}")))
        .filter_map(|db| db.get("keys").and_then(|k| k.parse::<u64>().ok()))
        .sum();
    health.figure("keyspace", format!("{keys} keys in {databases} databases"));
}

/// Sets a key with a TTL, reads it back and reports the latency.
async fn write_probe(
    ctx: &CheckContext<'_>,
    conn: &mut MultiplexedConnection,
    health: &mut Health,
) -> Result<(), redis::RedisError> {
    let started = Instant::now();
    let key = format!("sitedeck:probe:{}", ctx.name());
    let marker = chrono::Utc::now().timestamp_micros().to_string();
    let written: redis::RedisResult<()> = redis::cmd("SET")
        .arg(&key)
        .arg(&marker)
        .arg("EX")
        .arg(PROBE_TTL_SECONDS)
        .query_async(conn)
        .await;
    if let Err(e) = written {
        if e.kind() == redis::ErrorKind::AuthenticationFailed || e.code() == Some("NOPERM") {
            health.finding(
                Severity::Warning,
                "the write probe is not permitted for this user",
                "give the user +set +get on sitedeck:probe:* or turn write_probe off",
            );
            return Ok(());
        }
        health.finding(
            Severity::Critical,
            format!("the write probe failed: {e}"),
            "Redis refuses writes: check memory (OOM), persistence errors and min-replicas-to-write",
        );
        return Ok(());
    }
    let read: Option<String> = redis::cmd("GET").arg(&key).query_async(conn).await?;
    if read.as_deref() == Some(marker.as_str()) {
        health.figure(
            "write probe",
            format!("ok in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0),
        );
    } else {
        health.finding(
            Severity::Critical,
            "the write probe read back something else than it wrote",
            "another client writes sitedeck:probe keys, or the connection is routed to another server",
        );
    }
    Ok(())
}

fn classify(error: &redis::RedisError, ctx: &CheckContext<'_>, target: &str) -> ProbeFailure {
    let code = error.code().unwrap_or_default();
    if error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
    {
        let user = ctx.spec.user.as_deref().unwrap_or("default");
        let hint = if code == "NOAUTH" {
            " (the server needs a password and the profile gives none)"
        } else {
            ""
        };
        return ProbeFailure::auth(format!("authentication failed for user {user}{hint}"));
    }
    if error.is_timeout() {
        return ProbeFailure::new(
            crate::probe::ProbeState::Timeout,
            format!(
                "timed out after {:.1} s waiting for {target} to answer",
                ctx.timeout.as_secs_f64()
            ),
        );
    }
    ProbeFailure::chain(error, target)
}
