//! MySQL 5.7/8 and MariaDB: version, role, read-only flags, replication
//! threads and lag on a replica, connected replicas on a primary,
//! connections, and an optional write probe.

use std::collections::HashMap;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::{CheckContext, Health, Severity};
use crate::probe::{ProbeFailure, ProbeState};

/// MySQL's "access denied" error code.
const ER_ACCESS_DENIED: u16 = 1045;
/// Seconds behind the source that make a replica degraded.
const LAG_WARNING_SECONDS: u64 = 60;
/// The share of `max_connections` in use that makes the server degraded.
const CONNECTIONS_WARNING_PERCENT: u64 = 85;

/// Logs in and reads the server's health.
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let user = ctx
        .spec
        .user
        .clone()
        .ok_or_else(|| ProbeFailure::config("no `user` to log in as"))?;
    let password = ctx.password().await?;
    let target = ctx.dial.address();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(ctx.dial.host.clone())
        .tcp_port(ctx.dial.port)
        .prefer_socket(false)
        .user(Some(user.clone()))
        .pass(password.as_ref().map(|p| p.expose().to_owned()))
        .db_name(ctx.spec.database.clone());
    let fail = |e: mysql_async::Error| classify(&e, &user, &target);
    let mut conn = Conn::new(opts).await.map_err(fail)?;
    let result = inspect(ctx, &mut conn).await.map_err(fail);
    // A failed disconnect does not make the server less healthy.
    let _ = conn.disconnect().await;
    result
}

async fn inspect(ctx: &CheckContext<'_>, conn: &mut Conn) -> Result<Health, mysql_async::Error> {
    let mut health = Health::default();
    let version: String = conn
        .query_first("SELECT VERSION()")
        .await?
        .unwrap_or_default();
    let mariadb = version.to_lowercase().contains("mariadb");
    let flavour = if mariadb { "MariaDB" } else { "MySQL" };
    health.version = Some(format!(
        "{flavour} {}",
        version.split('-').next().unwrap_or(&version)
    ));
    let variables = variables(conn).await?;
    let replica = replica_status(conn, mariadb).await?;
    let role = if replica.is_empty() {
        "primary"
    } else {
        "replica"
    };
    health.role = Some(role.into());
    let read_only = variables.get("read_only").map(String::as_str) == Some("ON");
    let super_read_only = variables.get("super_read_only").map(String::as_str) == Some("ON");
    health.figure("read_only", on_off(read_only));
    if variables.contains_key("super_read_only") {
        health.figure("super_read_only", on_off(super_read_only));
    }
    if replica.is_empty() {
        primary(ctx, conn, &mut health, read_only).await?;
    } else {
        for channel in &replica {
            replica_figures(channel, &mut health, replica.len() > 1);
        }
        if !read_only {
            health.finding(
                Severity::Warning,
                "the replica is writable (read_only is OFF)",
                "a write on a replica breaks replication: SET GLOBAL read_only = ON (and make it permanent in the server's config)",
            );
        }
    }
    connections(conn, &variables, &mut health).await?;
    if ctx.write_probe_allowed(&mut health) {
        write_probe(ctx, conn, &mut health).await?;
    }
    Ok(health)
}

fn on_off(flag: bool) -> &'static str {
    if flag { "ON" } else { "OFF" }
}

/// The global variables the check needs.
async fn variables(conn: &mut Conn) -> Result<HashMap<String, String>, mysql_async::Error> {
    let rows: Vec<(String, String)> = conn
        .query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN \
             ('read_only', 'super_read_only', 'max_connections', 'gtid_mode', 'server_id')",
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect())
}

/// One row of `SHOW REPLICA STATUS` / `SHOW ALL SLAVES STATUS`, by column
/// name; empty on a server that replicates from nobody.
type Channel = HashMap<String, String>;

async fn replica_status(
    conn: &mut Conn,
    mariadb: bool,
) -> Result<Vec<Channel>, mysql_async::Error> {
    // MariaDB: every connection (multi-source). MySQL 8.0.22+ knows
    // REPLICA; older MySQL only SLAVE.
    let queries: &[&str] = if mariadb {
        &["SHOW ALL SLAVES STATUS"]
    } else {
        &["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]
    };
    let mut last = None;
    for query in queries {
        match conn.query::<Row, _>(*query).await {
            Ok(rows) => return Ok(rows.into_iter().map(channel).collect()),
            Err(mysql_async::Error::Server(e)) if e.code == 1064 => last = Some(e),
            Err(other) => return Err(other),
        }
    }
    Err(last.map_or_else(
        || mysql_async::Error::Other("no replica status query worked".into()),
        mysql_async::Error::Server,
    ))
}

fn channel(row: Row) -> Channel {
    let columns = row.columns();
    let values = row.unwrap();
    columns
        .iter()
        .zip(values)
        .map(|(column, value)| (column.name_str().to_string(), text(value)))
        .collect()
}

fn text(value: Value) -> String {
    match value {
        Value::NULL => String::new(),
        Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        other => other.as_sql(true),
    }
}

/// Reads a column by its MySQL 8 name or its older `Slave`/`Master` name.
fn column<'a>(channel: &'a Channel, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| channel.get(*n))
        .map(String::as_str)
}

fn replica_figures(channel: &Channel, health: &mut Health, several: bool) {
    let name = column(
        channel,
        &["Connection_name", "Channel_Name", "Channel_name"],
    )
    .unwrap_or("");
    let prefix = if several && !name.is_empty() {
        format!("[{name}] ")
    } else {
        String::new()
    };
    let io = column(channel, &["Replica_IO_Running", "Slave_IO_Running"]).unwrap_or("?");
    let sql = column(channel, &["Replica_SQL_Running", "Slave_SQL_Running"]).unwrap_or("?");
    let source = format!(
        "{}:{}",
        column(channel, &["Source_Host", "Master_Host"]).unwrap_or("?"),
        column(channel, &["Source_Port", "Master_Port"]).unwrap_or("?")
    );
    let behind = column(channel, &["Seconds_Behind_Source", "Seconds_Behind_Master"])
        .filter(|s| !s.is_empty());
    health.figure(&format!("{prefix}source"), &source);
    health.key_figure(&format!("{prefix}io"), io);
    health.key_figure(&format!("{prefix}sql"), sql);
    health.key_figure(
        &format!("{prefix}behind"),
        behind.map_or("-".into(), |b| format!("{b} s")),
    );
    let gtid = column(
        channel,
        &["Gtid_IO_Pos", "Executed_Gtid_Set", "Retrieved_Gtid_Set"],
    )
    .filter(|g| !g.is_empty());
    match gtid {
        Some(gtid) => health.figure(&format!("{prefix}gtid"), gtid.replace('\n', "")),
        None => health.figure(
            &format!("{prefix}position"),
            format!(
                "{}:{}",
                column(channel, &["Relay_Source_Log_File", "Relay_Master_Log_File"]).unwrap_or("?"),
                column(channel, &["Exec_Source_Log_Pos", "Exec_Master_Log_Pos"]).unwrap_or("?")
            ),
        ),
    }
    let io_error = column(channel, &["Last_IO_Error"]).filter(|e| !e.is_empty());
    let sql_error = column(channel, &["Last_SQL_Error"]).filter(|e| !e.is_empty());
    if let Some(e) = io_error {
        health.figure(&format!("{prefix}last io error"), e);
    }
    if let Some(e) = sql_error {
        health.figure(&format!("{prefix}last sql error"), e);
    }
    if io != "Yes" {
        let why = io_error.map_or(String::new(), |e| format!(": {e}"));
        health.finding(
            Severity::Critical,
            format!("{prefix}replication IO thread is {io}{why}"),
            if io == "Connecting" {
                format!("the replica cannot reach its source {source}: check that the source runs and the replication user's password; then START REPLICA IO_THREAD")
            } else {
                "read Last_IO_Error, fix its cause, then START REPLICA IO_THREAD (MariaDB: START SLAVE IO_THREAD)".into()
            },
        );
    }
    if sql != "Yes" {
        let why = sql_error.map_or(String::new(), |e| format!(": {e}"));
        health.finding(
            Severity::Critical,
            format!("{prefix}replication SQL thread is {sql}{why}"),
            if sql_error.is_some() {
                "the replica stopped on an error: read Last_SQL_Error, repair the row it names, then START REPLICA SQL_THREAD; do not skip events without the DBA"
            } else {
                "the SQL thread was stopped by hand: START REPLICA SQL_THREAD (MariaDB: START SLAVE SQL_THREAD)"
            },
        );
    }
    if let Some(seconds) = behind.and_then(|b| b.parse::<u64>().ok())
        && seconds >= LAG_WARNING_SECONDS
    {
        health.finding(
            Severity::Warning,
            format!("{prefix}{seconds} s behind the source"),
            "replication lags: look for a long transaction or a heavy batch on the source, and for disk or CPU pressure on the replica",
        );
    }
}

async fn primary(
    ctx: &CheckContext<'_>,
    conn: &mut Conn,
    health: &mut Health,
    read_only: bool,
) -> Result<(), mysql_async::Error> {
    // Replicas connected now, seen by their Binlog Dump thread; unlike SHOW
    // REPLICAS this does not need report_host on the replicas.
    let dumps: Option<u64> = conn
        .query_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')",
        )
        .await?;
    let connected = u32::try_from(dumps.unwrap_or(0)).unwrap_or(u32::MAX);
    super::expect_replicas(
        health,
        ctx.spec,
        connected,
        "a replica is down or stopped replicating: check the replica's pod or host, then its replication threads (SHOW REPLICA STATUS)",
    );
    if read_only && ctx.spec.role == Some(crate::config::profile::Role::Primary) {
        health.finding(
            Severity::Critical,
            "the primary is read-only (read_only is ON)",
            "writes fail: if this server should take writes, SET GLOBAL read_only = OFF; if a failover moved the primary, update the profile",
        );
    }
    Ok(())
}

async fn connections(
    conn: &mut Conn,
    variables: &HashMap<String, String>,
    health: &mut Health,
) -> Result<(), mysql_async::Error> {
    let status: Vec<(String, String)> = conn
        .query("SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Max_used_connections')")
        .await?;
    let get = |name: &str| {
        status
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let max = variables
        .get("max_connections")
        .and_then(|v| v.parse::<u64>().ok());
    let Some(connected) = get("Threads_connected") else {
        return Ok(());
    };
    match max {
        Some(max) if max > 0 => {
            health.key_figure("connections", format!("{connected}/{max}"));
            if connected * 100 >= max * CONNECTIONS_WARNING_PERCENT {
                health.finding(
                    Severity::Warning,
                    format!("{connected} of {max} connections in use"),
                    "clients will soon be refused: look for a connection leak (SHOW PROCESSLIST) before raising max_connections",
                );
            }
        }
        _ => health.key_figure("connections", connected),
    }
    if let Some(peak) = get("Max_used_connections") {
        health.figure("peak connections", peak);
    }
    Ok(())
}

/// Upserts a row in `sitedeck_probe`, reads it back and reports the latency.
async fn write_probe(
    ctx: &CheckContext<'_>,
    conn: &mut Conn,
    health: &mut Health,
) -> Result<(), mysql_async::Error> {
    if health.role.as_deref() == Some("replica") {
        health.figure("write probe", "skipped (replica)");
        return Ok(());
    }
    let started = Instant::now();
    let marker = chrono::Utc::now().timestamp_micros().to_string();
    let outcome = async {
        conn.query_drop(
            "CREATE TABLE IF NOT EXISTS sitedeck_probe \
             (id VARCHAR(64) PRIMARY KEY, marker VARCHAR(32) NOT NULL, written_at TIMESTAMP(6) NOT NULL)",
        )
        .await?;
        conn.exec_drop(
            "INSERT INTO sitedeck_probe (id, marker, written_at) VALUES (?, ?, NOW(6)) \
             ON DUPLICATE KEY UPDATE marker = VALUES(marker), written_at = VALUES(written_at)",
            (ctx.name(), &marker),
        )
        .await?;
        conn.exec_first::<String, _, _>("SELECT marker FROM sitedeck_probe WHERE id = ?", (ctx.name(),))
            .await
    }
    .await;
    match outcome {
        Ok(Some(read)) if read == marker => health.figure(
            "write probe",
            format!("ok in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0),
        ),
        Ok(_) => health.finding(
            Severity::Critical,
            "the write probe read back something else than it wrote",
            "another writer uses the sitedeck_probe row, or the table is replicated into: check the schema named in the profile",
        ),
        Err(mysql_async::Error::Server(e)) => health.finding(
            Severity::Critical,
            format!("the write probe failed: {} ({})", e.message, e.code),
            "the server refuses writes: check read_only, the disk, and that the user may CREATE and INSERT in the schema",
        ),
        Err(other) => return Err(other),
    }
    Ok(())
}

fn classify(error: &mysql_async::Error, user: &str, target: &str) -> ProbeFailure {
    match error {
        mysql_async::Error::Server(server) if server.code == ER_ACCESS_DENIED => {
            ProbeFailure::auth(format!("authentication failed for user {user}"))
        }
        mysql_async::Error::Server(server) => ProbeFailure::new(
            ProbeState::Error,
            format!("{target}: server error {}: {}", server.code, server.message),
        ),
        other => ProbeFailure::chain(other, target),
    }
}
