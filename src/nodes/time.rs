//! The site's time, judged: each node's clock against this host's, the
//! largest skew between two nodes (the headline), each node's time
//! daemon, and this host against the site's NTP servers, with the
//! profile's warn and critical thresholds.

use std::time::Duration;

use serde::Serialize;

use crate::config::profile::TimeSettings;

use super::facts::{Finding, Severity};
use super::sntp::{self, SntpReading};
use super::survey::Survey;
use super::timesync::{DaemonKind, DaemonState};

/// One node's time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeTime {
    /// The profile's name for it.
    pub name: String,
    /// Its clock minus this host's, ms (positive: ahead).
    pub offset_ms: Option<f64>,
    /// Give or take, ms.
    pub uncertainty_ms: Option<f64>,
    /// What its time daemon says.
    pub daemon: Option<DaemonState>,
    /// How bad its time is, if it is.
    pub severity: Option<Severity>,
    /// Why its clock could not be read.
    pub error: Option<String>,
}

/// This host against one of the site's NTP servers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NtpCheck {
    /// The server as the profile names it.
    pub server: String,
    /// What it answered.
    pub reading: Option<SntpReading>,
    /// Why it did not.
    pub error: Option<String>,
}

/// The site's time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeReport {
    /// What the nodes' clocks were judged against: `the NTP server …`
    /// when one answered, else `this host's clock`.
    pub reference: String,
    /// The largest difference between two nodes' clocks, ms.
    pub max_skew_ms: Option<f64>,
    /// The worst of what was found; `None`: all well.
    pub severity: Option<Severity>,
    /// The thresholds used, ms.
    pub warn_ms: f64,
    /// …
    pub critical_ms: f64,
    /// Each node.
    pub nodes: Vec<NodeTime>,
    /// Each NTP server of the profile.
    pub ntp: Vec<NtpCheck>,
    /// What needs a look, worst first.
    pub findings: Vec<Finding>,
}

/// Asks each of `servers` for the time (in parallel, on the blocking
/// pool).
pub async fn ask_ntp(servers: &[String], timeout: Duration) -> Vec<NtpCheck> {
    let asks = servers.iter().cloned().map(|server| {
        tokio::task::spawn_blocking(move || {
            let answer = sntp::query(&server, timeout);
            NtpCheck {
                server,
                error: answer.as_ref().err().cloned(),
                reading: answer.ok(),
            }
        })
    });
    futures::future::join_all(asks)
        .await
        .into_iter()
        .zip(servers)
        .map(|(asked, server)| {
            asked.unwrap_or_else(|e| NtpCheck {
                server: server.clone(),
                reading: None,
                error: Some(format!("the query ended unexpectedly: {e}")),
            })
        })
        .collect()
}

/// How long an NTP server may take to answer.
const NTP_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads the profile's nodes (none without `ssh.nodes`; the cluster's
/// Nodes, listed first, with `from_cluster`) and NTP servers, in
/// parallel, and judges the time.
pub async fn read_site(
    profile: &crate::config::profile::SiteProfile,
    state_dir: &std::path::Path,
) -> (Survey, TimeReport) {
    read_site_reporting(profile, state_dir, std::sync::Arc::new(|_: &_| {})).await
}

/// The same, telling `on_node` of each node as soon as it is read. Nodes
/// that cannot be listed from the cluster are one row that says why.
pub async fn read_site_reporting(
    profile: &crate::config::profile::SiteProfile,
    state_dir: &std::path::Path,
    on_node: super::survey::OnNode,
) -> (Survey, TimeReport) {
    use super::cluster_nodes::{listing_failed, site_nodes, survey_site};
    use super::survey::SurveySettings;
    let surveyed = async {
        match site_nodes(profile, state_dir).await {
            Some(Ok(site)) => survey_site(site, SurveySettings::of_profile(profile), on_node).await,
            Some(Err(error)) => {
                let survey = listing_failed(&error);
                survey.nodes.iter().for_each(|node| on_node(node));
                survey
            }
            None => Survey {
                nodes: Vec::new(),
                max_skew_ms: None,
            },
        }
    };
    let ntp = ask_ntp(&profile.time.ntp_servers, NTP_TIMEOUT);
    let (surveyed, ntp) = futures::join!(surveyed, ntp);
    let time = assess(&surveyed, ntp, &profile.time);
    (surveyed, time)
}

/// Judges the survey's clocks and daemons and the NTP answers.
pub fn assess(survey: &Survey, ntp: Vec<NtpCheck>, settings: &TimeSettings) -> TimeReport {
    let judge = |ms: f64| {
        if ms > settings.critical_ms {
            Some(Severity::Critical)
        } else if ms > settings.warn_ms {
            Some(Severity::Warn)
        } else {
            None
        }
    };
    // Nodes are judged against the site's NTP server when one answered
    // (node − host + host − server), else against this host's clock: a
    // bastion whose own clock is off must not make every node critical.
    let ntp_reference = ntp
        .iter()
        .find_map(|check| check.reading.as_ref().filter(|r| r.stratum < 16));
    let reference = match ntp_reference {
        Some(reading) => format!("the NTP server {}", crate::text::one_line(&reading.server)),
        None => "this host's clock".to_owned(),
    };
    let mut findings = Vec::new();
    let mut nodes = Vec::new();
    for node in &survey.nodes {
        let name = crate::text::one_line(&node.name);
        let mut severity = None;
        if let Some(time) = node.time {
            let off = time.offset_ms + ntp_reference.map_or(0.0, |r| r.offset_ms);
            severity = judge(off.abs());
            if let Some(severity) = severity {
                findings.push(Finding {
                    severity,
                    what: format!("{name}'s clock is {off:+.0} ms off {reference}"),
                });
            }
        }
        if let Some(daemon) = &node.daemon {
            let unsynced = match daemon.daemon {
                DaemonKind::None => Some(format!("{name} runs no time daemon that answers")),
                _ if daemon.synced == Some(false) => Some(format!(
                    "{name}'s {} is not synchronised",
                    daemon.daemon.label()
                )),
                _ => None,
            };
            if let Some(what) = unsynced {
                severity = severity.max(Some(Severity::Warn));
                findings.push(Finding {
                    severity: Severity::Warn,
                    what,
                });
            }
        }
        nodes.push(NodeTime {
            name: node.name.clone(),
            offset_ms: node.time.map(|t| t.offset_ms),
            uncertainty_ms: node.time.map(|t| t.uncertainty_ms),
            daemon: node.daemon.clone(),
            severity,
            error: node.time.is_none().then(|| node.error.clone()).flatten(),
        });
    }
    if let Some(skew) = survey.max_skew_ms
        && let Some(severity) = judge(skew)
    {
        findings.push(Finding {
            severity,
            what: format!("two nodes' clocks are {skew:.0} ms apart"),
        });
    }
    for check in &ntp {
        let server = crate::text::one_line(&check.server);
        match (&check.reading, &check.error) {
            (Some(reading), _) => {
                if let Some(severity) = judge(reading.offset_ms.abs()) {
                    findings.push(Finding {
                        severity,
                        what: format!(
                            "this host's clock is {:+.0} ms off the NTP server {server}",
                            reading.offset_ms
                        ),
                    });
                }
                if reading.stratum >= 16 {
                    findings.push(Finding {
                        severity: Severity::Warn,
                        what: format!("the NTP server {server} is not synchronised itself"),
                    });
                }
            }
            (None, error) => findings.push(Finding {
                severity: Severity::Warn,
                what: format!(
                    "the NTP server {server} did not answer: {}",
                    crate::text::one_line(error.as_deref().unwrap_or("no answer"))
                ),
            }),
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    TimeReport {
        reference,
        max_skew_ms: survey.max_skew_ms,
        severity: findings.first().map(|f| f.severity),
        warn_ms: settings.warn_ms,
        critical_ms: settings.critical_ms,
        nodes,
        ntp,
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::clock::ClockOffset;
    use crate::nodes::survey::NodeReport;

    fn node(name: &str, offset_ms: f64, synced: Option<bool>) -> NodeReport {
        NodeReport {
            name: name.into(),
            target: format!("ops@{name}"),
            error: None,
            unknown_key: None,
            facts: None,
            findings: Vec::new(),
            time: Some(ClockOffset {
                offset_ms,
                uncertainty_ms: 0.4,
                samples: 5,
            }),
            daemon: synced.map(|synced| DaemonState {
                daemon: DaemonKind::Chrony,
                synced: Some(synced),
                source: None,
                stratum: None,
                offset_ms: None,
                reachable_sources: None,
                note: None,
            }),
            done_after_ms: 10.0,
        }
    }

    #[test]
    fn offsets_and_skew_are_judged_by_the_thresholds() {
        let survey = Survey {
            nodes: vec![
                node("a", 20.0, Some(true)),
                node("b", -130.0, Some(true)),
                node("c", 480.0, Some(false)),
            ],
            max_skew_ms: Some(610.0),
        };
        let report = assess(&survey, Vec::new(), &TimeSettings::default());
        let severities: Vec<Option<Severity>> = report.nodes.iter().map(|n| n.severity).collect();
        assert_eq!(
            severities,
            [None, Some(Severity::Warn), Some(Severity::Warn)]
        );
        assert_eq!(report.severity, Some(Severity::Critical));
        assert_eq!(
            report.findings[0].what,
            "two nodes' clocks are 610 ms apart"
        );
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.what == "c's chrony is not synchronised")
        );
        let relaxed = TimeSettings {
            warn_ms: 700.0,
            critical_ms: 900.0,
            ..TimeSettings::default()
        };
        let report = assess(&survey, Vec::new(), &relaxed);
        assert_eq!(report.severity, Some(Severity::Warn), "{report:?}");
    }

    #[test]
    fn nodes_are_judged_against_the_ntp_server_when_it_answers() {
        // This host is 300 ms ahead of NTP; the node 290 ms ahead of this
        // host, so 590 ms ahead of NTP: critical, not a warning.
        let survey = Survey {
            nodes: vec![node("a", 290.0, Some(true))],
            max_skew_ms: None,
        };
        let ntp = vec![NtpCheck {
            server: "10.20.0.1".into(),
            reading: Some(SntpReading {
                server: "10.20.0.1".into(),
                offset_ms: 300.0,
                delay_ms: 0.5,
                stratum: 2,
                reference: "GPS".into(),
            }),
            error: None,
        }];
        let report = assess(&survey, ntp, &TimeSettings::default());
        assert_eq!(report.reference, "the NTP server 10.20.0.1");
        assert_eq!(report.nodes[0].severity, Some(Severity::Critical));
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.what == "a's clock is +590 ms off the NTP server 10.20.0.1"),
            "{report:?}"
        );
        assert_eq!(
            assess(&survey, Vec::new(), &TimeSettings::default()).reference,
            "this host's clock"
        );
    }

    #[test]
    fn an_ntp_server_that_does_not_answer_warns() {
        let survey = Survey {
            nodes: Vec::new(),
            max_skew_ms: None,
        };
        let ntp = vec![NtpCheck {
            server: "10.20.0.1".into(),
            reading: None,
            error: Some("10.20.0.1 did not answer within 2.0 s".into()),
        }];
        let report = assess(&survey, ntp, &TimeSettings::default());
        assert_eq!(report.severity, Some(Severity::Warn));
        assert!(
            report.findings[0]
                .what
                .starts_with("the NTP server 10.20.0.1 did not answer")
        );
    }
}
