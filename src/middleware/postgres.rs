//! PostgreSQL: version, role (in recovery or not), replication on both
//! ends (connected replicas and their lag on a primary; the WAL receiver
//! and replay lag on a replica) and connections. No TLS yet: the
//! connection is plain TCP, as on the sites' internal networks.

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::{CheckContext, Health, Severity};
use crate::probe::{ProbeFailure, ProbeState};

/// Seconds of replay lag that make a replica degraded.
const LAG_WARNING_SECONDS: f64 = 60.0;
/// The share of `max_connections` in use that makes the server degraded.
const CONNECTIONS_WARNING_PERCENT: i64 = 85;

/// Logs in and reads the server's health.
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let user = ctx
        .spec
        .user
        .clone()
        .ok_or_else(|| ProbeFailure::config("no `user` to log in as"))?;
    let database = ctx
        .spec
        .database
        .clone()
        .unwrap_or_else(|| "postgres".into());
    let target = ctx.dial.address();
    let mut config = tokio_postgres::Config::new();
    config
        .host(&ctx.dial.host)
        .port(ctx.dial.port)
        .user(&user)
        .dbname(&database)
        .application_name("sitedeck")
        .connect_timeout(ctx.timeout);
    if let Some(password) = ctx.password().await? {
        config.password(password.expose());
    }
    let fail = |e: tokio_postgres::Error| classify(&e, &user, &database, &target);
    let (client, connection) = config.connect(NoTls).await.map_err(fail)?;
    // The connection drives the socket; it ends when the client is dropped.
    let driver = tokio::spawn(connection);
    let result = inspect(ctx, &client).await.map_err(fail);
    drop(client);
    let _ = driver.await;
    result
}

async fn inspect(ctx: &CheckContext<'_>, client: &Client) -> Result<Health, tokio_postgres::Error> {
    let mut health = Health::default();
    let row = client
        .query_one(
            "SELECT current_setting('server_version'), pg_is_in_recovery(), \
             current_setting('max_connections')::int, \
             (SELECT count(*) FROM pg_stat_activity)::int",
            &[],
        )
        .await?;
    let version: String = row.get(0);
    let in_recovery: bool = row.get(1);
    let max_connections: i32 = row.get(2);
    let connections: i32 = row.get(3);
    health.version = Some(format!(
        "PostgreSQL {}",
        version.split_whitespace().next().unwrap_or(&version)
    ));
    if in_recovery {
        health.role = Some("replica".into());
        replica(client, &mut health).await?;
    } else {
        health.role = Some("primary".into());
        primary(ctx, client, &mut health).await?;
    }
    let (used, max) = (i64::from(connections), i64::from(max_connections));
    health.key_figure("connections", format!("{used}/{max}"));
    if max > 0 && used * 100 >= max * CONNECTIONS_WARNING_PERCENT {
        health.finding(
            Severity::Warning,
            format!("{used} of {max} connections in use"),
            "clients will soon be refused: look for idle sessions or a leak (pg_stat_activity) before raising max_connections",
        );
    }
    Ok(health)
}

async fn primary(
    ctx: &CheckContext<'_>,
    client: &Client,
    health: &mut Health,
) -> Result<(), tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT coalesce(application_name, ''), coalesce(client_addr::text, 'local'), \
             coalesce(state, ''), \
             coalesce(extract(epoch FROM replay_lag)::float8, 0), \
             coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8, 0) \
             FROM pg_stat_replication",
            &[],
        )
        .await?;
    for row in &rows {
        let name: String = row.get(0);
        let address: String = row.get(1);
        let state: String = row.get(2);
        let lag: f64 = row.get(3);
        let behind: f64 = row.get(4);
        let label = if name.is_empty() {
            address
        } else {
            format!("{name} ({address})")
        };
        health.figure(
            &format!("replica {label}"),
            format!(
                "{state}, replay lag {lag:.1} s, {} behind",
                super::bytes(behind.max(0.0) as u64)
            ),
        );
        if state != "streaming" {
            health.finding(
                Severity::Warning,
                format!("replica {label} is {state}"),
                "it is catching up or stuck: watch pg_stat_replication and the replica's log",
            );
        }
    }
    super::expect_replicas(
        health,
        ctx.spec,
        u32::try_from(rows.len()).unwrap_or(u32::MAX),
        "a replica is down or cannot stream: check its pod or host and its log (primary_conninfo, pg_hba.conf)",
    );
    Ok(())
}

async fn replica(client: &Client, health: &mut Health) -> Result<(), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT (SELECT status FROM pg_stat_wal_receiver LIMIT 1), \
             (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver LIMIT 1), \
             extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8, \
             coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8, 0)",
            &[],
        )
        .await?;
    let status: Option<String> = row.get(0);
    let sender: Option<String> = row.get(1);
    let replay_age: Option<f64> = row.get(2);
    let unreplayed: f64 = row.get(3);
    health.key_figure("receiver", status.as_deref().unwrap_or("none"));
    if let Some(sender) = &sender {
        health.figure("primary", sender);
    }
    health.key_figure(
        "replay lag",
        replay_age.map_or("-".into(), |s| format!("{s:.0} s")),
    );
    health.figure(
        "received, not replayed",
        super::bytes(unreplayed.max(0.0) as u64),
    );
    if status.is_none() {
        health.finding(
            Severity::Critical,
            "no WAL receiver: the replica does not stream from its primary",
            "check primary_conninfo and the replica's log; the primary may be down or refuse the replication user",
        );
    }
    if let Some(age) = replay_age
        && age >= LAG_WARNING_SECONDS
        && unreplayed > 0.0
    {
        health.finding(
            Severity::Warning,
            format!("{age:.0} s since the last replayed transaction, with WAL waiting"),
            "replay lags: a long query on the replica may block it (max_standby_streaming_delay), or its disk is slow",
        );
    }
    Ok(())
}

fn classify(
    error: &tokio_postgres::Error,
    user: &str,
    database: &str,
    target: &str,
) -> ProbeFailure {
    match error.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            ProbeFailure::auth(format!("authentication failed for user {user}"))
        }
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => {
            ProbeFailure::config(format!("database {database} does not exist on {target}"))
        }
        Some(code) if *code == SqlState::TOO_MANY_CONNECTIONS => ProbeFailure::new(
            ProbeState::Error,
            format!("{target} refuses connections: too many clients"),
        ),
        Some(_) => ProbeFailure::new(
            ProbeState::Error,
            format!(
                "{target}: {}",
                error
                    .as_db_error()
                    .map_or_else(|| error.to_string(), |db| db.message().to_owned())
            ),
        ),
        None => ProbeFailure::chain(error, target),
    }
}
