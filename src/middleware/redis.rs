//! Redis: authenticate and read `INFO server`.

use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};

use super::{CheckContext, Health};
use crate::config::profile::MiddlewareSpec;
use crate::probe::ProbeFailure;

/// Connects (with AUTH when a password is set) and reads the version and role.
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let spec = ctx.spec;
    let (host, port) = (ctx.dial.host.clone(), ctx.dial.port);
    let target = ctx.dial.address();
    let target = target.as_str();
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
    let info = ConnectionAddr::Tcp(host, port)
        .into_connection_info()
        .map_err(|e| ProbeFailure::config(e.to_string()))?
        .set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(|e| classify(&e, spec, target))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| classify(&e, spec, target))?;
    let text: String = redis::cmd("INFO")
        .arg("server")
        .arg("replication")
        .query_async(&mut conn)
        .await
        .map_err(|e| classify(&e, spec, target))?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .unwrap_or("?")
            .to_owned()
    };
    let mut health = Health::default();
    health.version = Some(format!("Redis {}", field("redis_version")));
    health.role = Some(field("role"));
    Ok(health)
}

fn classify(error: &redis::RedisError, spec: &MiddlewareSpec, target: &str) -> ProbeFailure {
    let code = error.code().unwrap_or_default();
    if error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
    {
        let user = spec.user.as_deref().unwrap_or("default");
        let hint = if code == "NOAUTH" {
            " (the server needs a password and the profile gives none)"
        } else {
            ""
        };
        return ProbeFailure::auth(format!("authentication failed for user {user}{hint}"));
    }
    ProbeFailure::chain(error, target)
}
