//! `sitedeck logs`: pods' logs merged by time, parsed and sanitised, for
//! scripts and for saving evidence; `--trace ID` gathers one request's
//! lines from every pod.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cluster::connect::ClusterTarget;
use crate::logs::buffer::{LogBuffer, LogLine};
use crate::logs::stream::{LogSource, Progress, ReadOptions, ReadProgress};

/// What `sitedeck logs` was asked.
#[derive(Debug, Clone)]
pub struct LogsRequest {
    /// Whose logs.
    pub source: LogSource,
    /// How to read.
    pub options: ReadOptions,
    /// The most lines kept (the oldest go first).
    pub cap: usize,
    /// JSON lines instead of text.
    pub json: bool,
}

/// How long a followed line waits for lines of other pods that are older:
/// streams deliver each pod in order, not the pods among themselves.
/// 400 ms: a line waits at most about half a second (with the 100 ms
/// tick), within the 1 s a line may take to show.
const REORDER_WINDOW: Duration = Duration::from_millis(400);

/// Prints the logs. Exits 2 without a cluster to read; 1 when the
/// cluster or the pods cannot be read, when no log could be read, or when
/// the output cannot be written.
pub async fn logs(
    profile: &crate::config::profile::SiteProfile,
    cluster: Option<&ClusterTarget>,
    state_dir: &std::path::Path,
    request: LogsRequest,
) -> ExitCode {
    let Some(cluster) = cluster else {
        eprintln!("logs need the profile's `cluster` section (or --kubeconfig)");
        return ExitCode::from(2);
    };
    let (store, _) = crate::store::trust::TrustStore::load(state_dir);
    let trusted = store.trusted(&profile.source_file);
    let client = match crate::cluster::connect::connect(cluster, &trusted).await {
        Ok(connection) => connection.client,
        Err(e) => {
            eprintln!("cannot connect to the cluster: {e}");
            return ExitCode::from(1);
        }
    };
    let (tx, mut rx) = mpsc::channel::<LogLine>(4096);
    let follow = request.options.follow;
    let progress = Arc::new(ReadProgress::default());
    let reading = tokio::spawn(crate::logs::stream::read(
        client,
        request.source.clone(),
        request.options.clone(),
        tx,
        progress.clone(),
    ));
    let mut out = std::io::stdout().lock();
    let mut buffer = LogBuffer::new(request.cap);
    if follow {
        // Lines wait a moment for older lines of other pods, then go out
        // in time order.
        let mut held: Vec<(LogLine, tokio::time::Instant)> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut told: Option<String> = None;
        loop {
            tokio::select! {
                line = rx.recv() => match line {
                    Some(line) => held.push((line, tokio::time::Instant::now())),
                    None => break,
                },
                _ = tick.tick() => {
                    // A refused stream is tried again; the reason is said once.
                    let refused = progress.get().last_failure;
                    if refused.is_some() && refused != told {
                        eprintln!(
                            "logs: {} (tried again)",
                            refused.as_deref().map(crate::text::sanitize).unwrap_or_default()
                        );
                        told = refused;
                    }
                    let now = tokio::time::Instant::now();
                    held.sort_by_key(|(line, _)| line.at);
                    let ready = held
                        .iter()
                        .rposition(|(_, came)| now.duration_since(*came) >= REORDER_WINDOW)
                        .map_or(0, |at| at + 1);
                    for (line, _) in held.drain(..ready) {
                        if let Err(code) = print(&mut out, &line, request.json) {
                            return code;
                        }
                    }
                }
            }
        }
        buffer.extend(held.into_iter().map(|(line, _)| line).collect());
    } else {
        // Every line first, then one sort: pods come one after another.
        let mut batch = Vec::new();
        while let Some(line) = rx.recv().await {
            batch.push(line);
            if batch.len() >= BATCH {
                buffer.extend(std::mem::take(&mut batch));
            }
        }
        buffer.extend(batch);
    }
    let failed = match reading.await {
        Ok(Ok(())) => None,
        Ok(Err(why)) => Some(why),
        Err(e) => Some(format!("the log reader ended unexpectedly: {e}")),
    };
    for line in buffer.iter() {
        if let Err(code) = print(&mut out, line, request.json) {
            return code;
        }
    }
    if buffer.dropped() > 0 {
        eprintln!(
            "{} older line(s) dropped to keep within {} lines (logs.max_lines in the profile)",
            buffer.dropped(),
            buffer.cap()
        );
    }
    if let Some(why) = failed {
        eprintln!("logs: {}", crate::text::sanitize(&why));
        return ExitCode::from(1);
    }
    outcome(&progress.get())
}

/// Lines sorted into the buffer at a time when not following.
const BATCH: usize = 10_000;

/// The exit code and the words on stderr once every stream is read: 1
/// when no stream could be read at all, a warning when some could not.
fn outcome(progress: &Progress) -> ExitCode {
    let why = progress
        .last_failure
        .as_deref()
        .map(crate::text::sanitize)
        .unwrap_or_default();
    if progress.found == 0 {
        eprintln!("logs: no pod or container matched");
        ExitCode::SUCCESS
    } else if progress.failed == progress.found {
        eprintln!("logs: no log could be read: {why}");
        ExitCode::from(1)
    } else {
        if progress.failed > 0 {
            eprintln!(
                "logs: {} of {} container logs could not be read; the last: {why}",
                progress.failed, progress.found
            );
        }
        ExitCode::SUCCESS
    }
}

/// Writes one line. A closed pipe (`| head`) ends the output quietly;
/// any other write error is reported and exits 1.
pub(super) fn print(out: &mut impl Write, line: &LogLine, json: bool) -> Result<(), ExitCode> {
    let written = if json {
        crate::logs::print::json_text(line)
            .map_err(std::io::Error::other)
            .and_then(|text| writeln!(out, "{text}"))
    } else {
        writeln!(out, "{}", crate::logs::print::text(line, false))
    };
    written.map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            ExitCode::SUCCESS
        } else {
            eprintln!("logs: cannot write the output: {e}");
            ExitCode::from(1)
        }
    })
}

/// The request the command line's flags make, with the site's log
/// settings.
pub fn request(
    args: &super::LogsArgs,
    profile: &crate::config::profile::SiteProfile,
) -> Result<LogsRequest, String> {
    let settings = &profile.logs;
    let source = match (&args.workload, &args.selector) {
        (Some(workload), _) => LogSource::parse(workload, true)?,
        (None, Some(selector)) => LogSource::parse(selector, false)?,
        // --trace alone: every pod of the namespace, or of the site.
        (None, None) => args
            .namespace
            .clone()
            .map_or(LogSource::Everywhere, LogSource::Namespace),
    };
    let since = match &args.since {
        Some(age) => Some(parse_age(age)?),
        // A trace across the site: the recent window.
        None if args.trace.is_some() && args.workload.is_none() && args.selector.is_none() => {
            Some(Duration::from_secs(15 * 60))
        }
        None => None,
    };
    if let Some(trace) = &args.trace
        && trace.len() < 8
    {
        return Err(format!(
            "--trace {trace}: give at least 8 characters of the trace id"
        ));
    }
    if args.previous && args.follow {
        return Err(
            "--previous reads a crashed container's last log, which has ended: \
             it cannot be followed; drop --follow"
                .into(),
        );
    }
    Ok(LogsRequest {
        source,
        options: ReadOptions {
            container: args.container.clone(),
            init: args.init_containers,
            since,
            tail: None,
            previous: args.previous,
            follow: args.follow,
            concurrency: settings.concurrency,
            trace: args.trace.clone(),
            names: Arc::new(settings.fields.clone()),
        },
        cap: settings.max_lines,
        json: args.format == super::Format::Json,
    })
}

/// An age as the command line takes it: `30s`, `10m`, `2h`, `1d`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let wrong = || format!("`{text}` is not an age: use 30s, 10m, 2h or 1d");
    let text = text.trim();
    let unit = text.chars().last().ok_or_else(wrong)?;
    let count: u64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| wrong())?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(wrong()),
    };
    count
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_age("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_age("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_age(" 1d "), Ok(Duration::from_secs(86_400)));
        for wrong in ["", "m", "10", "10x", "-5m", "99999999999999999999d"] {
            assert!(parse_age(wrong).is_err(), "{wrong}");
        }
    }
}
