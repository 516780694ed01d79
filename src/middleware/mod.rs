//! Middleware health: one check per endpoint kind, each giving a state
//! (up, degraded, or why it is down), the server's role, its key figures and
//! findings with a hint that says what to do.
//!
//! A check is plain async code; [`crate::probe::run`] gives it its timeout
//! and turns a failure into a [`crate::probe::ProbeState`]. The checks never
//! write unless the profile asks for a write probe and sitedeck is not in
//! read-only mode.

mod elastic;
mod http;
mod mysql;
mod postgres;
mod redis;
mod s3;
mod web;

use std::time::Duration;

use serde::Serialize;

use crate::config::profile::{MiddlewareKind, MiddlewareSpec, SiteProfile};
use crate::probe::{ProbeFailure, ProbeState};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; the endpoint stays up.
    Info,
    /// Part of the service is missing or at risk: the endpoint is degraded.
    Warning,
    /// The service is failing in a way clients will notice: degraded.
    Critical,
}

impl Severity {
    /// A short word for tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

/// Something a check noticed, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong, one line.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl Finding {
    /// A finding of `severity`.
    pub fn new(severity: Severity, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            severity,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// One named figure, e.g. `seconds behind` = `3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figure {
    /// What it is, lower case.
    pub name: String,
    /// Its value, formatted for the operator.
    pub value: String,
    /// Whether it belongs in the one-line summary of the table.
    #[serde(skip)]
    pub key: bool,
}

/// What a check found out about a reachable endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The server's product and version, e.g. `MariaDB 10.11.19`.
    pub version: Option<String>,
    /// `primary`, `replica`, `sentinel`, `standalone`… where the kind has roles.
    pub role: Option<String>,
    /// Every figure, in the order the detail pane shows them.
    pub figures: Vec<Figure>,
    /// What is wrong or worth knowing, worst first once finished.
    pub findings: Vec<Finding>,
}

impl Health {
    /// Adds a figure shown only in the detail pane.
    pub fn figure(&mut self, name: &str, value: impl ToString) {
        self.figures.push(Figure {
            name: name.to_owned(),
            value: value.to_string(),
            key: false,
        });
    }

    /// Adds a figure that the table's summary shows too.
    pub fn key_figure(&mut self, name: &str, value: impl ToString) {
        self.figures.push(Figure {
            name: name.to_owned(),
            value: value.to_string(),
            key: true,
        });
    }

    /// Adds a finding.
    pub fn finding(
        &mut self,
        severity: Severity,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.findings.push(Finding::new(severity, message, hint));
    }

    /// The value of a figure, if the check reported it.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.as_str())
    }

    /// Up, or degraded when a finding is a warning or worse.
    pub fn state(&self) -> ProbeState {
        if self
            .findings
            .iter()
            .any(|f| f.severity >= Severity::Warning)
        {
            ProbeState::Degraded
        } else {
            ProbeState::Up
        }
    }

    /// One line for Overview: the version, the role and the worst finding.
    pub fn headline(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.version.clone());
        parts.extend(self.role.as_ref().map(|r| format!("role {r}")));
        parts.extend(
            self.findings
                .first()
                .filter(|f| f.severity >= Severity::Warning)
                .map(|f| f.message.clone()),
        );
        if parts.is_empty() {
            // A kind without version or role: its key figures, else its
            // first figure (tcp).
            let summary = self.summary();
            if !summary.is_empty() {
                return summary;
            }
            return self
                .figures
                .first()
                .map(|f| f.value.clone())
                .unwrap_or_default();
        }
        parts.join(", ")
    }

    /// One line for the table: the key figures.
    pub fn summary(&self) -> String {
        self.figures
            .iter()
            .filter(|f| f.key)
            .map(|f| format!("{} {}", f.name, f.value))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Sorts findings worst first (stable, so a check's order is kept
    /// within a severity) and makes every text one safe line: figures and
    /// findings quote what servers said (replication errors, bodies), and
    /// a server must not put escape sequences on the operator's terminal.
    pub(crate) fn finish(mut self) -> Self {
        // Every line kept (an error may span several), on one line.
        let one_line = |text: &str| {
            crate::text::sanitize(&text.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        for text in self.version.iter_mut().chain(self.role.iter_mut()) {
            *text = one_line(text);
        }
        for figure in &mut self.figures {
            figure.name = one_line(&figure.name);
            figure.value = one_line(&figure.value);
        }
        for finding in &mut self.findings {
            finding.message = one_line(&finding.message);
            finding.hint = one_line(&finding.hint);
        }
        self
    }

    /// Checks the role the profile expects against the one reported.
    fn expect_role(&mut self, spec: &MiddlewareSpec) {
        let (Some(expected), Some(actual)) = (spec.role, self.role.clone()) else {
            return;
        };
        let expected_name = expected.to_string();
        if actual != expected_name {
            self.finding(
                Severity::Critical,
                format!("is {actual}, the profile expects {expected_name}"),
                "a failover may have happened: check which server clients write to, then update the profile or fail back",
            );
        }
    }
}

/// Where a check connects: the endpoint's own address, or the local end of
/// a port-forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dial {
    /// Host (or address) to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// How the endpoint is reached, for the operator: `direct` or the
    /// port-forward's pod.
    pub path: String,
}

impl Dial {
    /// `host:port` for messages and clients.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Everything a check needs.
#[derive(Debug, Clone)]
pub struct CheckContext<'a> {
    /// The endpoint's entry in the profile.
    pub spec: &'a MiddlewareSpec,
    /// The profile (for relative paths and secrets).
    pub profile: &'a SiteProfile,
    /// Where to connect. For URL kinds without an `endpoint`, the URL's own host.
    pub dial: Dial,
    /// Read-only mode: no write probe, whatever the profile says.
    pub readonly: bool,
    /// The check's whole budget; checks use it for their own inner timeouts.
    pub timeout: Duration,
}

impl CheckContext<'_> {
    /// The endpoint's name, for messages.
    pub fn name(&self) -> &str {
        &self.spec.name.value
    }

    /// Whether to run the write probe, and if not, a figure that says why.
    pub fn write_probe_allowed(&self, health: &mut Health) -> bool {
        if !self.spec.write_probe {
            return false;
        }
        if self.readonly {
            health.figure("write probe", "skipped (read-only mode)");
            return false;
        }
        true
    }

    /// Reads the endpoint's password, if it has one, off the runtime's
    /// threads (a secret file may sit on a slow disk).
    pub async fn password(&self) -> Result<Option<crate::config::secret::Secret>, ProbeFailure> {
        let Some(source) = self.spec.password.as_ref().map(|s| s.value.clone()) else {
            return Ok(None);
        };
        let base = self.profile.base_dir.clone();
        tokio::task::spawn_blocking(move || source.resolve_local(&base))
            .await
            .map_err(|e| ProbeFailure::config(format!("cannot read the password: {e}")))?
            .map(Some)
            .map_err(|e| ProbeFailure::config(e.to_string()))
    }
}

/// Checks one endpoint. A failure to reach or log in is an `Err`; anything
/// the server answered, even bad news, is a [`Health`].
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let health = match ctx.spec.kind {
        MiddlewareKind::Mysql => mysql::check(ctx).await?,
        MiddlewareKind::Redis => redis::check(ctx).await?,
        MiddlewareKind::Postgresql => postgres::check(ctx).await?,
        MiddlewareKind::Http => http::check(ctx).await?,
        MiddlewareKind::S3 => s3::check(ctx).await?,
        MiddlewareKind::Elasticsearch => elastic::check(ctx).await?,
        MiddlewareKind::Tcp => {
            crate::probe::net::tcp(&ctx.dial.address()).await?;
            let mut health = Health::default();
            health.figure("connect", "accepts connections");
            health
        }
    };
    let mut health = health;
    health.expect_role(ctx.spec);
    Ok(health.finish())
}

/// Formats a byte count the way operators read them (`1.5 GiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Whether a replica count falls short of the profile's expectation: adds
/// the figure and, when short, a warning.
fn expect_replicas(health: &mut Health, spec: &MiddlewareSpec, connected: u32, hint: &str) {
    match spec.replicas {
        Some(expected) => {
            health.key_figure("replicas", format!("{connected}/{expected}"));
            if connected < expected {
                health.finding(
                    Severity::Warning,
                    format!("{connected} of {expected} replicas connected"),
                    hint,
                );
            }
        }
        None => health.key_figure("replicas", connected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_readable() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn what_servers_say_reaches_the_screen_as_one_safe_line() {
        let mut health = Health::default();
        health.figure("last sql error", "Error 'x'\x1b[2J\nDuplicate entry");
        health.finding(
            Severity::Critical,
            "thread stopped: \x1b]0;pwned\x07",
            "fix it",
        );
        let health = health.finish();
        for text in [&health.figures[0].value, &health.findings[0].message] {
            assert!(!text.contains('\x1b') && !text.contains('\n'), "{text:?}");
        }
    }

    #[test]
    fn warnings_degrade_and_sort_first() {
        let mut health = Health::default();
        health.finding(Severity::Info, "a", "");
        assert_eq!(health.state(), ProbeState::Up);
        health.finding(Severity::Critical, "b", "");
        health.finding(Severity::Warning, "c", "");
        let health = health.finish();
        assert_eq!(health.state(), ProbeState::Degraded);
        let order: Vec<&str> = health.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(order, ["b", "c", "a"]);
    }
}
