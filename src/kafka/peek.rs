//! A read-only look at a partition's messages: a consumer that is only
//! assigned the partition, never joins a group and never commits.

use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::client::{KafkaError, Settings};
use super::handle::RawMessage;

/// The most of one key, value or header value kept for the screen.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Where a peek starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeekFrom {
    /// The last messages of the partition.
    Last,
    /// The first messages at or after a time (milliseconds since the epoch).
    Time(i64),
}

/// The forms [`parse_from`] takes, for the operator.
pub const FROM_FORMS: &str =
    "10:30, 2026-12-03 10:30, 2026-12-03T10:30:00Z or 90m (ago; also 2h, 1d)";

/// When a peek starts, from what the operator typed, in milliseconds
/// since the epoch: an RFC 3339 time; `YYYY-MM-DD HH:MM[:SS]` or
/// `HH:MM[:SS]` in `now`'s time zone (a clock time still to come today
/// means yesterday's; one in a daylight-saving gap, the hour after); or
/// how long ago, `90m`, `2h`, `1d`. A time after `now` or before 1970 is
/// refused: a peek from then would find nothing.
pub fn parse_from<Tz: chrono::TimeZone>(
    text: &str,
    now: &chrono::DateTime<Tz>,
) -> Result<i64, String> {
    let text = text.trim();
    let millis = parse_time(text, now)?;
    if millis > now.timestamp_millis() {
        return Err(format!(
            "`{text}` is in the future: a peek from then finds nothing"
        ));
    }
    if millis < 0 {
        return Err(format!("`{text}` is before 1970"));
    }
    Ok(millis)
}

fn parse_time<Tz: chrono::TimeZone>(text: &str, now: &chrono::DateTime<Tz>) -> Result<i64, String> {
    use chrono::{NaiveDateTime, NaiveTime};
    let wrong = || format!("`{text}` is not a time: use {FROM_FORMS}");
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    let zone = now.timezone();
    let local = |naive: NaiveDateTime| {
        // In a daylight-saving gap the clock time does not exist: the
        // hour after it does.
        [naive, naive + chrono::Duration::hours(1)]
            .iter()
            .find_map(|n| zone.from_local_datetime(n).earliest())
            .map(|t| t.timestamp_millis())
            .ok_or_else(wrong)
    };
    for form in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, form) {
            return local(naive);
        }
    }
    for form in ["%H:%M:%S", "%H:%M"] {
        if let Ok(clock) = NaiveTime::parse_from_str(text, form) {
            let today = now.naive_local().date().and_time(clock);
            let day = if today > now.naive_local() {
                today - chrono::Duration::days(1)
            } else {
                today
            };
            return local(day);
        }
    }
    let ago = text.strip_prefix('-').unwrap_or(text);
    let unit = ago.chars().last().ok_or_else(wrong)?;
    let count: i64 = ago[..ago.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|count| *count >= 0)
        .ok_or_else(wrong)?;
    let minutes_per = match unit {
        'm' => 1,
        'h' => 60,
        'd' => 24 * 60,
        _ => return Err(wrong()),
    };
    count
        .checked_mul(minutes_per * 60_000)
        .and_then(|back| now.timestamp_millis().checked_sub(back))
        .ok_or_else(|| format!("`{text}` is too long ago"))
}

/// One message as read (text not yet sanitised: the view and the CLI do
/// that, so that a JSON value can still be pretty-printed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeekedMessage {
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The message time (milliseconds since the epoch), if it has one.
    pub timestamp: Option<i64>,
    /// The key, as text (invalid UTF-8 shown lossily).
    pub key: Option<String>,
    /// The value: pretty-printed when it is JSON, else as text.
    pub value: Option<String>,
    /// Whether the value was JSON.
    pub json: bool,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The value's size in bytes.
    pub size: usize,
}

/// Reads up to `limit` messages of one partition.
pub(super) fn peek(
    settings: &Settings,
    topic: &str,
    partition: i32,
    from: PeekFrom,
    limit: usize,
) -> Result<Vec<PeekedMessage>, KafkaError> {
    // librdkafka assigns partitions only with a group id. This one is
    // never joined and nothing is committed for it (auto commit is off),
    // so no group appears on the brokers.
    let group = format!(
        "sitedeck-peek-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let consumer = settings.peek_consumer(&group)?;
    let explain = |e: rdkafka::error::KafkaError| settings.explain(&e, &consumer);
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, settings.timeout)
        .map_err(explain)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let start = match from {
        PeekFrom::Last => high.saturating_sub(limit).max(low),
        PeekFrom::Time(millis) => {
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(topic, partition, Offset::Offset(millis))
                .map_err(explain)?;
            consumer
                .offsets_for_times(&mut list, settings.timeout)
                .map_err(explain)?;
            match list.elements().first().map(|e| e.offset()) {
                Some(Offset::Offset(n)) => n.max(low),
                _ => high,
            }
        }
    };
    let stop = start.saturating_add(limit).min(high);
    if start >= stop {
        return Ok(Vec::new());
    }
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(start))
        .map_err(explain)?;
    consumer.assign(&list).map_err(explain)?;
    let deadline = Instant::now() + settings.timeout;
    let mut messages = Vec::new();
    // A failure that did not end the peek: said if nothing was read.
    let mut last_error = None;
    while Instant::now() < deadline {
        let Some(message) = consumer.next_message(Duration::from_millis(100)) else {
            continue;
        };
        match message.error() {
            None => {
                let offset = message.offset();
                if offset >= start && offset < stop {
                    messages.push(read(&message));
                }
                if offset + 1 >= stop {
                    break;
                }
            }
            // The partition ends before `stop` (compaction, transaction
            // markers): what was read is all there is.
            Some(RDKafkaErrorCode::PartitionEOF) => break,
            Some(_) => last_error = Some(message.error_text()),
        }
    }
    match (messages.is_empty(), last_error) {
        (true, Some(said)) => Err(settings.explain_said(&said, &consumer)),
        (true, None) if Instant::now() >= deadline => Err(KafkaError::Timeout {
            seconds: settings.timeout.as_secs_f64(),
            detail: Some(format!(
                "no message of {topic}/{partition} arrived from offset {start}"
            )),
        }),
        _ => Ok(messages),
    }
}

fn read(message: &RawMessage<'_>) -> PeekedMessage {
    let payload = message.payload();
    let (value, json) = match payload {
        Some(bytes) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(parsed) => (
                Some(match serde_json::to_string_pretty(&parsed) {
                    Ok(pretty) => cut(pretty, bytes.len()),
                    Err(_) => text(bytes),
                }),
                true,
            ),
            Err(_) => (Some(text(bytes)), false),
        },
        None => (None, false),
    };
    let headers = message
        .headers()
        .into_iter()
        .map(|(name, value)| (name, value.map(text).unwrap_or_default()))
        .collect();
    PeekedMessage {
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp(),
        key: message.key().map(text),
        value,
        json,
        headers,
        size: payload.map_or(0, <[u8]>::len),
    }
}

/// Bytes as text, lossily, cut at [`MAX_FIELD_BYTES`].
fn text(bytes: &[u8]) -> String {
    cut(String::from_utf8_lossy(bytes).into_owned(), bytes.len())
}

/// `text` cut at [`MAX_FIELD_BYTES`] (on a character boundary), saying
/// how large the original (`size` bytes) was.
fn cut(mut text: String, size: usize) -> String {
    if text.len() > MAX_FIELD_BYTES {
        let mut end = MAX_FIELD_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(&format!(" … ({size} bytes in all)"));
    }
    text
}

/// One message for people, every text made safe for the terminal: a line
/// with partition, offset, time and key, the headers, then the value's
/// lines (a JSON value pretty-printed). Ends with a line break.
pub fn render(m: &PeekedMessage) -> String {
    use std::fmt::Write;
    let time = m
        .timestamp
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".into(), |t| t.to_rfc3339());
    let key = m.key.as_deref().map_or_else(|| "-".into(), field);
    let mut out = format!(
        "--- partition {} offset {} at {time} key {key}\n",
        m.partition, m.offset
    );
    for (name, value) in &m.headers {
        let _ = writeln!(out, "  {}: {}", field(name), field(value));
    }
    for line in m.value.as_deref().unwrap_or("(no value)").lines() {
        let _ = writeln!(out, "{}", crate::text::sanitize(line).replace('\t', "    "));
    }
    out
}

/// A key or header as one safe line: line breaks and every other control
/// character shown as escapes, so two keys that differ after a line break
/// still look different.
fn field(text: &str) -> String {
    crate::text::sanitize(text).replace('\t', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn peek_times_in_every_form() {
        // 2026-12-03 10:00 at UTC+8 (the bastion's zone).
        let zone = chrono::FixedOffset::east_opt(8 * 3600).expect("zone");
        let now = zone
            .with_ymd_and_hms(2026, 12, 3, 10, 0, 0)
            .single()
            .expect("now");
        let at = |y, mo, d, h, mi| {
            zone.with_ymd_and_hms(y, mo, d, h, mi, 0)
                .single()
                .expect("time")
                .timestamp_millis()
        };
        let parse = |text: &str| parse_from(text, &now);
        assert_eq!(parse("2026-12-03T01:30:00Z"), Ok(at(2026, 12, 3, 9, 30)));
        assert_eq!(parse("2026-12-02 23:15"), Ok(at(2026, 12, 2, 23, 15)));
        assert_eq!(
            parse("2026-12-02 23:15:30"),
            Ok(at(2026, 12, 2, 23, 15) + 30_000)
        );
        assert_eq!(parse("09:30"), Ok(at(2026, 12, 3, 9, 30)));
        // Still to come today: yesterday's.
        assert_eq!(parse(" 23:30 "), Ok(at(2026, 12, 2, 23, 30)));
        assert_eq!(parse("90m"), Ok(at(2026, 12, 3, 8, 30)));
        assert_eq!(parse("-2h"), Ok(at(2026, 12, 3, 8, 0)));
        assert_eq!(parse("1d"), Ok(at(2026, 12, 2, 10, 0)));
        for wrong in ["", "soon", "25:00", "10x", "m", "2026-13-01 10:00", "--2h"] {
            let error = parse(wrong).expect_err(wrong);
            assert!(error.contains(FROM_FORMS), "{error}");
        }
        for refused in [
            "2026-12-04 09:00",
            "2030-01-01T00:00:00Z",
            "1969-12-31T00:00:00Z",
        ] {
            let error = parse(refused).expect_err(refused);
            assert!(
                error.contains("in the future") || error.contains("before 1970"),
                "{error}"
            );
        }
        let error = parse("9999999999999999d").expect_err("overflow");
        assert!(error.contains("too long ago"), "{error}");
    }
}
