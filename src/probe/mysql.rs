//! MySQL / MariaDB: log in and ask for the version.

use mysql_async::prelude::Queryable;

use super::ProbeFailure;
use crate::config::profile::{MiddlewareSpec, SiteProfile, split_host_port};

/// MySQL's "access denied" error code.
const ER_ACCESS_DENIED: u16 = 1045;

/// Logs in as the profile's user and runs `SELECT VERSION()`.
pub async fn probe(spec: &MiddlewareSpec, profile: &SiteProfile) -> Result<String, ProbeFailure> {
    let (host, port) = split_host_port(&spec.endpoint.value).map_err(ProbeFailure::config)?;
    let user = spec
        .user
        .clone()
        .ok_or_else(|| ProbeFailure::config("no `user` to log in as"))?;
    let password = super::password(spec, profile).await?;
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .prefer_socket(false)
        .user(Some(user.clone()))
        .pass(password.as_ref().map(|p| p.expose().to_owned()))
        .db_name(spec.database.clone());
    let target = spec.endpoint.value.as_str();
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .map_err(|e| classify(&e, &user, target))?;
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(|e| classify(&e, &user, target))?;
    // A failed disconnect does not make the server less reachable.
    let _ = conn.disconnect().await;
    let version = version.unwrap_or_default();
    let flavour = if version.to_lowercase().contains("mariadb") {
        "MariaDB"
    } else {
        "MySQL"
    };
    Ok(format!(
        "{flavour} {}",
        version.split('-').next().unwrap_or(&version)
    ))
}

fn classify(error: &mysql_async::Error, user: &str, target: &str) -> ProbeFailure {
    match error {
        mysql_async::Error::Server(server) if server.code == ER_ACCESS_DENIED => {
            ProbeFailure::auth(format!("authentication failed for user {user}"))
        }
        mysql_async::Error::Server(server) => ProbeFailure::new(
            super::ProbeState::Error,
            format!("{target}: server error {}: {}", server.code, server.message),
        ),
        other => ProbeFailure::chain(other, target),
    }
}
