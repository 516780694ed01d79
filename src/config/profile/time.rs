//! How nodes are judged: clock thresholds and the site's NTP servers
//! (`time:`), disk thresholds (`ssh.disk:`).

use serde::Deserialize;

/// How node clocks and the site's NTP servers are judged.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSettings {
    /// The site's NTP servers (`host` or `host:port`), asked by SNTP from
    /// this host.
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    /// A node this far from this host's clock, or two nodes this far
    /// apart, warn (ms).
    #[serde(default = "default_warn_ms")]
    pub warn_ms: f64,
    /// … and are critical from here (ms).
    #[serde(default = "default_critical_ms")]
    pub critical_ms: f64,
}

impl Default for TimeSettings {
    fn default() -> Self {
        Self {
            ntp_servers: Vec::new(),
            warn_ms: default_warn_ms(),
            critical_ms: default_critical_ms(),
        }
    }
}

fn default_warn_ms() -> f64 {
    100.0
}

fn default_critical_ms() -> f64 {
    500.0
}

/// When a mount's use (of space or inodes) is a finding, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSettings {
    /// Warn from here.
    #[serde(default = "default_disk_warn")]
    pub warn_percent: f64,
    /// Critical from here.
    #[serde(default = "default_disk_critical")]
    pub critical_percent: f64,
}

impl Default for DiskSettings {
    fn default() -> Self {
        Self {
            warn_percent: default_disk_warn(),
            critical_percent: default_disk_critical(),
        }
    }
}

fn default_disk_warn() -> f64 {
    80.0
}

fn default_disk_critical() -> f64 {
    90.0
}

impl super::validate::Validation {
    /// Thresholds in order, NTP servers that parse.
    pub(super) fn time(&mut self, p: &super::SiteProfile) {
        let at = self.spans.top_at("time");
        let time = &p.time;
        if !(time.warn_ms > 0.0 && time.warn_ms < time.critical_ms) {
            self.problem(
                at,
                "`time.warn_ms` must be more than 0 and less than `time.critical_ms`".into(),
            );
        }
        for server in &time.ntp_servers {
            if server.trim().is_empty() || server.contains(char::is_whitespace) {
                self.problem(
                    at,
                    format!("`time.ntp_servers`: `{server}` is not a host or host:port"),
                );
            }
        }
        if let Some(ssh) = &p.ssh {
            let disk = ssh.disk;
            if !(disk.warn_percent > 0.0
                && disk.warn_percent < disk.critical_percent
                && disk.critical_percent <= 100.0)
            {
                self.problem(
                    self.spans.top_at("ssh"),
                    "`ssh.disk`: warn_percent must be more than 0 and less than critical_percent, at most 100".into(),
                );
            }
        }
    }
}
