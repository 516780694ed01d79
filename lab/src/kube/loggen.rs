//! The lines the site's workloads log, generated deterministically.
//!
//! A request enters the site every `interval` (request `k` at `k × interval`
//! after the Unix epoch, so the log is a pure function of time). Its kind
//! and outcome follow from a hash of `k`, and every service it passes
//! through — api-gateway, order-service, billing-service, mysql, redis… —
//! logs a JSON line with the request's trace id, on the replica the hash
//! picks. Workloads outside the request path (CoreDNS, kube-proxy, the
//! node agent, anything a test creates) log background lines of their own.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;

/// The longest a request's lines trail its start.
const LONGEST_REQUEST: TimeDelta = TimeDelta::milliseconds(1_500);

/// Which pod and container the lines are for.
#[derive(Debug, Clone)]
pub struct Source {
    /// The workload (the pod's `app` label, or its owner's name).
    pub workload: String,
    /// The pod's place among the workload's pods in its namespace.
    pub replica: usize,
    /// How many pods the workload has there.
    pub replicas: usize,
    /// The container; the first one logs the service's lines, any other
    /// (a sidecar) background lines.
    pub container: String,
    /// Whether this is the pod's first container.
    pub primary: bool,
}

/// One generated line, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When the container wrote it.
    pub time: DateTime<Utc>,
    /// The JSON text.
    pub text: String,
}

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One service's part in a request.
struct Step {
    service: &'static str,
    offset_ms: i64,
    level: Level,
    msg: String,
    /// Extra `"key":value` pairs, already JSON.
    extra: String,
}

fn step(service: &'static str, offset_ms: i64, level: Level, msg: &str, extra: String) -> Step {
    Step {
        service,
        offset_ms,
        level,
        msg: msg.to_string(),
        extra,
    }
}

/// SplitMix64: a well-mixed hash of a number.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a string.
fn hash_str(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The W3C trace id of request `k`.
pub fn trace_id(k: u64) -> String {
    format!("{:016x}{:016x}", mix(k ^ 0x7472_6163), mix(k ^ 0x6964))
}

/// The services request `k` passes through and what each logs.
fn request_steps(k: u64) -> Vec<Step> {
    let r = mix(k);
    let id = (r >> 20) % 100_000;
    let duration = 8 + (r >> 40) % 120;
    let received = |method: &str, path: String| {
        step(
            "api-gateway",
            0,
            Level::Info,
            "request received",
            format!(r#","method":"{method}","path":"{path}""#),
        )
    };
    let completed = |status: u16, duration: u64| {
        let level = match status {
            500.. => Level::Error,
            400.. => Level::Warn,
            _ => Level::Info,
        };
        step(
            "api-gateway",
            i64::try_from(duration).unwrap_or(0),
            level,
            "request completed",
            format!(r#","status":{status},"duration_ms":{duration}"#),
        )
    };
    match r % 10 {
        0..=4 => {
            let mut steps = vec![received("GET", format!("/api/v1/orders/{id}"))];
            let hit = !(r >> 8).is_multiple_of(3);
            let key = format!(r#","key":"order:{id}""#);
            steps.push(step(
                "redis",
                2,
                Level::Info,
                if hit { "cache hit" } else { "cache miss" },
                key,
            ));
            if !hit {
                let slow = (r >> 12).is_multiple_of(20);
                let (level, msg, took) = if slow {
                    (Level::Warn, "slow query", 1_000 + (r >> 30) % 900)
                } else {
                    (Level::Info, "query executed", 1 + (r >> 30) % 9)
                };
                steps.push(step(
                    "mysql",
                    4,
                    level,
                    msg,
                    format!(r#","table":"orders","duration_ms":{took}"#),
                ));
            }
            steps.push(step(
                "order-service",
                6,
                Level::Info,
                "order loaded",
                format!(r#","order_id":{id}"#),
            ));
            steps.push(completed(200, duration));
            steps
        }
        5 | 6 => {
            let amount = format!("{}.{:02}", 5 + (r >> 24) % 400, (r >> 36) % 100);
            let mut steps = vec![
                received("POST", "/api/v1/orders".to_string()),
                step(
                    "order-service",
                    3,
                    Level::Info,
                    "order created",
                    format!(r#","order_id":{id}"#),
                ),
                step(
                    "mysql",
                    5,
                    Level::Info,
                    "transaction committed",
                    r#","table":"orders""#.to_string(),
                ),
            ];
            let outcome = (r >> 16) % 20;
            if outcome == 0 {
                steps.push(step(
                    "billing-service",
                    40,
                    Level::Error,
                    "payment declined by provider",
                    format!(
                        r#","order_id":{id},"amount":"{amount}","provider_code":"card_declined""#
                    ),
                ));
                steps.push(step(
                    "order-service",
                    45,
                    Level::Error,
                    "checkout failed: payment declined",
                    format!(r#","order_id":{id}"#),
                ));
                steps.push(completed(402, duration + 50));
                return steps;
            }
            if outcome <= 2 {
                steps.push(step(
                    "billing-service",
                    20,
                    Level::Warn,
                    "payment provider slow, retrying",
                    r#","attempt":1,"timeout_ms":500"#.to_string(),
                ));
            }
            steps.push(step(
                "billing-service",
                30,
                Level::Info,
                "payment authorized",
                format!(r#","order_id":{id},"amount":"{amount}","currency":"EUR""#),
            ));
            steps.push(step(
                "notification-worker",
                60,
                Level::Info,
                "order confirmation queued",
                format!(r#","order_id":{id},"channel":"email""#),
            ));
            steps.push(completed(201, duration + 40));
            steps
        }
        7 | 8 => {
            let hits = (r >> 28) % 250;
            vec![
                received("GET", format!("/api/v1/search?q=item-{}", id % 500)),
                step(
                    "search-indexer",
                    5,
                    Level::Info,
                    "search executed",
                    format!(r#","hits":{hits},"took_ms":{}"#, 2 + (r >> 44) % 40),
                ),
                completed(200, duration),
            ]
        }
        _ => {
            // An upstream timeout now and then, the rest health checks.
            if (r >> 8).is_multiple_of(4) {
                vec![
                    received("GET", format!("/api/v1/orders/{id}/invoice")),
                    step(
                        "billing-service",
                        900,
                        Level::Error,
                        "invoice lookup failed: context deadline exceeded",
                        format!(r#","order_id":{id}"#),
                    ),
                    completed(504, 1_000),
                ]
            } else {
                vec![completed(200, 1)]
            }
        }
    }
}

/// What a workload outside the request path logs now and then.
fn background(workload: &str, r: u64) -> (Level, String, String) {
    match workload {
        "coredns" => (
            Level::Info,
            "served DNS query".to_string(),
            format!(
                r#","qname":"order-service.acme-prod.svc.cluster.local.","rcode":"NOERROR","duration_ms":{}"#,
                r % 3
            ),
        ),
        "kube-proxy" => (
            Level::Info,
            "synced iptables rules".to_string(),
            format!(r#","rules":{}"#, 140 + r % 20),
        ),
        "node-agent" if r.is_multiple_of(11) => (
            Level::Warn,
            "metrics push retried".to_string(),
            r#","endpoint":"metrics.acme.example:443""#.to_string(),
        ),
        "node-agent" => (
            Level::Info,
            "metrics shipped".to_string(),
            format!(r#","series":{}"#, 900 + r % 200),
        ),
        _ => (
            Level::Info,
            "heartbeat".to_string(),
            format!(r#","uptime_checks":{}"#, r % 1000),
        ),
    }
}

/// Whether `service` logs as part of the request path.
fn in_request_path(service: &str) -> bool {
    [
        "api-gateway",
        "order-service",
        "billing-service",
        "notification-worker",
        "search-indexer",
        "mysql",
        "redis",
    ]
    .contains(&service)
}

fn render(
    time: DateTime<Utc>,
    level: Level,
    msg: &str,
    trace: &str,
    service: &str,
    extra: &str,
) -> String {
    let msg = Value::String(msg.to_string());
    format!(
        r#"{{"time":"{}","level":"{}","msg":{msg},"trace_id":"{trace}","service":"{service}"{extra}}}"#,
        time.to_rfc3339_opts(SecondsFormat::Millis, true),
        level.as_str(),
    )
}

/// The lines `source` wrote after `from` up to and including `to`, oldest
/// first. None when `interval` is zero.
pub fn lines(
    source: &Source,
    interval: Duration,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Line> {
    let step_nanos = i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX);
    if step_nanos == 0 || to <= from {
        return Vec::new();
    }
    let nanos = |time: DateTime<Utc>| time.timestamp_nanos_opt().unwrap_or(0).max(0);
    let first = (nanos(from - LONGEST_REQUEST) / step_nanos).max(0);
    let last = nanos(to) / step_nanos;
    let replicas = u64::try_from(source.replicas.max(1)).unwrap_or(1);
    let replica = u64::try_from(source.replica).unwrap_or(0);
    let salt = hash_str(&source.workload);
    let mut found = Vec::new();
    for k in first..=last {
        let k = u64::try_from(k).unwrap_or(0);
        let start = DateTime::from_timestamp_nanos(
            i64::try_from(k).unwrap_or(0).saturating_mul(step_nanos),
        );
        // The replica a request (or a background tick) lands on.
        if mix(k ^ salt) % replicas != replica {
            continue;
        }
        let jitter = |index: u64| {
            TimeDelta::nanoseconds(i64::try_from(mix(k ^ index) % 1_000_000).unwrap_or(0))
        };
        if source.primary && in_request_path(&source.workload) {
            let trace = trace_id(k);
            for (index, step) in request_steps(k).iter().enumerate() {
                if step.service != source.workload {
                    continue;
                }
                let time = start + TimeDelta::milliseconds(step.offset_ms) + jitter(index as u64);
                found.push(Line {
                    time,
                    text: render(
                        time,
                        step.level,
                        &step.msg,
                        &trace,
                        step.service,
                        &step.extra,
                    ),
                });
            }
        } else {
            let r = mix(k ^ salt ^ hash_str(&source.container));
            if !r.is_multiple_of(6) {
                continue;
            }
            let time = start + jitter(99);
            let (level, msg, extra) = background(&source.workload, r >> 8);
            let service = if source.primary {
                source.workload.clone()
            } else {
                format!("{}/{}", source.workload, source.container)
            };
            found.push(Line {
                time,
                text: render(time, level, &msg, &trace_id(r), &service, &extra),
            });
        }
    }
    found.retain(|line| line.time > from && line.time <= to);
    found.sort_by_key(|line| line.time);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(workload: &str) -> Source {
        Source {
            workload: workload.into(),
            replica: 0,
            replicas: 1,
            container: workload.into(),
            primary: true,
        }
    }

    #[test]
    fn one_request_is_traced_through_several_services() {
        let to = Utc::now();
        let from = to - TimeDelta::minutes(10);
        let interval = Duration::from_secs(1);
        let trace_ids = |workload: &str| -> std::collections::HashSet<String> {
            lines(&source(workload), interval, from, to)
                .iter()
                .map(|line| {
                    let value: Value = serde_json::from_str(&line.text).expect("JSON line");
                    assert_eq!(value["service"], workload);
                    value["trace_id"].as_str().unwrap_or_default().to_string()
                })
                .collect()
        };
        let gateway = trace_ids("api-gateway");
        let orders = trace_ids("order-service");
        let billing = trace_ids("billing-service");
        assert!(gateway.len() > 400, "{}", gateway.len());
        let through_all = billing
            .iter()
            .filter(|id| orders.contains(*id) && gateway.contains(*id))
            .count();
        assert!(through_all > 20, "{through_all}");
    }

    #[test]
    fn lines_are_a_function_of_time_and_split_between_replicas() {
        let to = Utc::now();
        let from = to - TimeDelta::minutes(5);
        let interval = Duration::from_millis(500);
        let one = source("api-gateway");
        assert_eq!(
            lines(&one, interval, from, to),
            lines(&one, interval, from, to)
        );
        let replica = |replica| Source {
            replica,
            replicas: 2,
            ..source("api-gateway")
        };
        let (a, b) = (
            lines(&replica(0), interval, from, to),
            lines(&replica(1), interval, from, to),
        );
        assert_eq!(a.len() + b.len(), lines(&one, interval, from, to).len());
        assert!(a.len() > 100 && b.len() > 100);
        let levels: std::collections::HashSet<String> = a
            .iter()
            .chain(&b)
            .map(|line| {
                serde_json::from_str::<Value>(&line.text).expect("JSON")["level"].to_string()
            })
            .collect();
        assert_eq!(levels.len(), 3, "{levels:?}");
        // Split windows add up to the whole.
        let middle = from + TimeDelta::minutes(2);
        let mut split = lines(&one, interval, from, middle);
        split.extend(lines(&one, interval, middle, to));
        assert_eq!(split, lines(&one, interval, from, to));
        assert!(lines(&source("coredns"), interval, from, to).len() > 10);
    }
}
