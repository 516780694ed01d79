//! A node's clock against this host's, measured over SSH as NTP does over
//! the network: several round trips, each asking the node's time; the
//! sample with the smallest round trip wins, the node's reading taken to
//! be from halfway through it: offset = remote − (send + RTT/2), give or
//! take RTT/2.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ssh2::Session;

/// How far a node's clock is from this host's.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ClockOffset {
    /// The node's clock minus this host's, in milliseconds: positive when
    /// the node is ahead.
    pub offset_ms: f64,
    /// How far off the offset may be (half the best round trip), in
    /// milliseconds.
    pub uncertainty_ms: f64,
    /// The round trips measured.
    pub samples: usize,
}

/// Nanoseconds since 1970 on this host.
fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// What one shell on a node gave: its clock against this host's, then
/// what a command run after the round trips printed.
#[derive(Debug)]
pub struct ShellReading {
    /// The clock, or why it could not be read.
    pub clock: Result<ClockOffset, String>,
    /// The command's stdout and stderr, or why it could not be run.
    pub output: Result<(String, String), String>,
}

/// Measures over `rounds` round trips through one shell on the node
/// (`date +%s%N`: GNU date, as every supported distribution has; without
/// nanoseconds it fails rather than guess).
/// Blocking.
pub fn measure(session: &Session, rounds: usize) -> Result<ClockOffset, String> {
    measure_then(session, rounds, None)?.clock
}

/// Measures as [`measure`] does, then runs `then` (with stdin from
/// /dev/null) in the same shell: one shell start on the node instead of
/// two, which on a node with heavy rc files is most of a survey's cost.
/// An error: no shell could be started. Blocking.
pub fn measure_then(
    session: &Session,
    rounds: usize,
    then: Option<&str>,
) -> Result<ShellReading, String> {
    let mut channel = session
        .channel_session()
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    // By its path: a session whose PATH finds nothing still gets a shell,
    // whose builtins say what is missing.
    channel
        .exec("/bin/sh")
        .map_err(|e| format!("cannot start a shell: {e}"))?;
    let mut stream = channel.stream(0);
    let mut reader = BufReader::new(stream.clone());
    let clock = round_trips(&mut stream, &mut reader, rounds);
    let output = match then {
        Some(command) => {
            let script = format!("{{\n{command}\n}} </dev/null\nexit\n");
            let sent = stream
                .write_all(script.as_bytes())
                .and_then(|()| stream.flush())
                .map_err(|e| format!("cannot send the command: {e}"));
            let _ = channel.send_eof();
            // After the last round trip's line, the rest is the command's.
            let mut out = String::new();
            let mut err = String::new();
            let read = sent.and_then(|()| {
                reader
                    .read_to_string(&mut out)
                    .map_err(|e| format!("cannot read the output: {e}"))
            });
            // What the shell said on stderr, also when it ended before the
            // command could be sent (a login shell that refuses, say).
            let _ = channel.stderr().read_to_string(&mut err);
            match read {
                Ok(_) => Ok((out, err)),
                Err(why) if err.trim().is_empty() => Err(why),
                Err(why) => Err(format!("{why}: {}", crate::text::one_line(&err))),
            }
        }
        None => {
            let _ = stream.write_all(b"exit\n");
            let _ = channel.send_eof();
            Ok((String::new(), String::new()))
        }
    };
    let _ = channel.wait_close();
    Ok(ShellReading { clock, output })
}

/// The round trips through a shell: each asks the node's time.
fn round_trips(
    stream: &mut ssh2::Stream,
    reader: &mut BufReader<ssh2::Stream>,
    rounds: usize,
) -> Result<ClockOffset, String> {
    let mut best: Option<(i128, i128)> = None; // (rtt, offset) in ns
    let mut samples = 0;
    let mut line = String::new();
    for _ in 0..rounds.max(1) {
        // Round trips timed by the monotonic clock: a step of the wall
        // clock meanwhile must not make one look short.
        let started = Instant::now();
        let sent = now_nanos();
        stream
            .write_all(b"echo T$(date +%s%N)\n")
            .and_then(|()| stream.flush())
            .map_err(|e| format!("cannot ask the node's time: {e}"))?;
        // What a login script printed comes first: skipped.
        let remote = loop {
            line.clear();
            let read = reader
                .read_line(&mut line)
                .map_err(|e| format!("no answer with the node's time: {e}"))?;
            if read == 0 {
                return Err("the node's shell ended before it told the time".into());
            }
            if let Some(nanos) = line.trim().strip_prefix('T') {
                break nanos.to_owned();
            }
        };
        let rtt = started.elapsed().as_nanos() as i128;
        // 19 digits: seconds and nanoseconds. A date without %N would
        // print fewer, or a literal N.
        let remote: i128 = match remote.parse() {
            Ok(nanos) if remote.len() >= 19 => nanos,
            _ => {
                return Err(format!(
                    "the node's date does not give nanoseconds ({remote:?}): GNU date is needed"
                ));
            }
        };
        let offset = remote - (sent + rtt / 2);
        samples += 1;
        if best.is_none_or(|(best_rtt, _)| rtt < best_rtt) {
            best = Some((rtt, offset));
        }
    }
    let (rtt, offset) = best.ok_or("no round trip")?;
    Ok(ClockOffset {
        offset_ms: offset as f64 / 1e6,
        uncertainty_ms: rtt as f64 / 2e6,
        samples,
    })
}

/// The default number of round trips.
pub const ROUNDS: usize = 5;

/// The largest difference between any two clocks of `offsets` (each
/// against this host), in milliseconds: the skew across the site.
pub fn max_skew_ms(offsets: &[f64]) -> f64 {
    let max = offsets.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    if offsets.is_empty() { 0.0 } else { max - min }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skew_is_the_spread_of_the_offsets() {
        assert_eq!(max_skew_ms(&[]), 0.0);
        assert_eq!(max_skew_ms(&[12.0]), 0.0);
        assert_eq!(max_skew_ms(&[-40.0, 5.0, 160.0]), 200.0);
    }
}
