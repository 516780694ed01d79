//! Parse and filter throughput of log lines on one core (issue #7: at
//! least 200k lines/s).
//!
//! 10 000 lines like those the product's services write, in the lab's mix:
//! 80 % JSON (as the simulator's workloads log them: time, level, msg,
//! trace_id, service and a few fields), 10 % logfmt and 10 % plain text
//! (klog and Java-style). Timed, per batch of 10 000:
//!
//! * `parse`: `logs::parse::parse` of every line (what each stream does
//!   for each line it reads);
//! * `parse_and_filter`: the same, then the lines added to the Logs view
//!   (`LogsState::add`: merged into its buffer and filtered by a level of
//!   at least warn), then filtered again by a trace id (`refilter`);
//! * `filter_only_100k`: `refilter()` of a buffer of 100 000 parsed lines
//!   (what a changed filter costs; lines that come are filtered once).
//!
//! Criterion reports time per batch; lines/s = 10 000 / that time.
//! Run: `cargo bench --bench log_parse`.

use std::hint::black_box;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sitedeck::app::logs::LogsState;
use sitedeck::logs::buffer::LogLine;
use sitedeck::logs::parse::{FieldNames, Level, parse};

fn lines(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| {
            let trace = format!("{:032x}", n * 7919);
            match n % 10 {
                8 => format!(
                    "time=2026-12-03T10:00:{:02}.123Z level={} msg=\"order {n} handled\" trace_id={trace} duration_ms={}",
                    n % 60,
                    if n % 7 == 0 { "warn" } else { "info" },
                    n % 300
                ),
                9 if n % 20 == 9 => format!(
                    "E1203 10:00:{:02}.123456       1 reflector.go:138] failed to list *v1.Pod: connection refused",
                    n % 60
                ),
                9 => format!(
                    "2026-12-03 10:00:{:02}.123 INFO [main] c.a.b.OrderController - handled order {n} traceId={trace}",
                    n % 60
                ),
                _ => format!(
                    r#"{{"time":"2026-12-03T10:00:{:02}.{:03}Z","level":"{}","msg":"payment authorized","trace_id":"{trace}","service":"billing-service","order_id":{n},"amount":"{}.{:02}","currency":"EUR"}}"#,
                    n % 60,
                    n % 1000,
                    if n % 13 == 0 { "error" } else { "info" },
                    n % 500,
                    n % 100
                ),
            }
        })
        .collect()
}

fn log_line(raw: &str, at: DateTime<Utc>, names: &FieldNames) -> LogLine {
    LogLine {
        namespace: Arc::from("acme-prod"),
        pod: Arc::from("billing-service-7d9f8c-x2x4k"),
        container: Arc::from("app"),
        at,
        raw: raw.to_owned(),
        parsed: parse(raw, names),
    }
}

fn logs_state(lines: Vec<LogLine>) -> LogsState {
    let mut state = LogsState::new("bench".into(), 1, 100_000);
    state.min_level = Some(Level::Warn);
    state.add(lines);
    state
}

fn bench(c: &mut Criterion) {
    let names = FieldNames::default();
    let batch = lines(10_000);
    let at = DateTime::from_timestamp(1_764_756_000, 0).expect("time");
    let mut group = c.benchmark_group("logs");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for line in &batch {
                black_box(parse(black_box(line), &names));
            }
        });
    });
    group.bench_function("parse_and_filter", |b| {
        b.iter(|| {
            let parsed: Vec<LogLine> = batch
                .iter()
                .enumerate()
                .map(|(n, line)| {
                    log_line(line, at + chrono::Duration::milliseconds(n as i64), &names)
                })
                .collect();
            let mut state = logs_state(parsed);
            let warnings = state.shown_len();
            state.trace = Some(format!("{:032x}", 13 * 7919));
            state.refilter();
            black_box((warnings, state.shown_len()));
        });
    });
    let full: Vec<LogLine> = (0..100_000)
        .map(|n| {
            log_line(
                &batch[n % batch.len()],
                at + chrono::Duration::milliseconds(n as i64),
                &names,
            )
        })
        .collect();
    let mut state = logs_state(full);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("filter_only_100k", |b| {
        b.iter(|| {
            state.refilter();
            black_box(state.shown_len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
