//! One log line as the operator reads it: JSON, logfmt or plain text, with
//! its level, message, time and trace id found under the names services
//! commonly use (`level`/`lvl`/`severity`, `msg`/`message`,
//! `time`/`ts`/`@timestamp`, `traceid`/`trace_id`/`traceId`/`X-B3-TraceId`
//! …), or under a site's own names.
//!
//! Parsing never fails: a line that is neither JSON nor logfmt is plain
//! text, with a level and a trace id looked for in its words.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most of a line that is parsed; the rest is kept as text only, so a
/// 1 MB line costs no more than this to take apart.
pub const PARSE_LIMIT: usize = 64 * 1024;

/// How a line was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object.
    Json,
    /// `key=value` pairs.
    Logfmt,
    /// Anything else.
    Plain,
}

/// A line's level, from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info (also notice).
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
    /// Fatal, panic, critical, emergency, alert.
    Fatal,
}

impl Level {
    /// The level a word names (`WARN`, `warning`, `E`, `err`, `critical`,
    /// pino's numbers 10–60), if any.
    pub fn parse(word: &str) -> Option<Self> {
        let word = word.trim().trim_matches(|c| c == '[' || c == ']');
        if let Ok(number) = word.parse::<u32>() {
            // pino/bunyan: 10 trace … 60 fatal; syslog: 0 emerg … 7 debug.
            return Some(match number {
                10 => Self::Trace,
                20 => Self::Debug,
                30 => Self::Info,
                40 => Self::Warn,
                50 => Self::Error,
                60 => Self::Fatal,
                0..=2 => Self::Fatal,
                3 => Self::Error,
                4 => Self::Warn,
                5 | 6 => Self::Info,
                7 => Self::Debug,
                _ => return None,
            });
        }
        Some(match word.to_ascii_lowercase().as_str() {
            "trace" | "trc" | "t" => Self::Trace,
            "debug" | "dbg" | "d" => Self::Debug,
            "info" | "inf" | "i" | "notice" | "information" => Self::Info,
            "warn" | "warning" | "wrn" | "w" => Self::Warn,
            "error" | "err" | "e" | "eror" => Self::Error,
            "fatal" | "panic" | "dpanic" | "critical" | "crit" | "f" | "emerg" | "emergency"
            | "alert" => Self::Fatal,
            _ => return None,
        })
    }

    /// The level's short name, as the view shows it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Fatal => "fatal",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The field names a site's services use, each list tried in order
/// (case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldNames {
    /// The level's names.
    pub level: Vec<String>,
    /// The message's names.
    pub message: Vec<String>,
    /// The time's names.
    pub time: Vec<String>,
    /// The trace id's names.
    pub trace_id: Vec<String>,
}

impl Default for FieldNames {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            level: names(&[
                "level",
                "lvl",
                "severity",
                "loglevel",
                "log.level",
                "levelname",
            ]),
            message: names(&["msg", "message", "log", "text", "event"]),
            time: names(&["time", "ts", "@timestamp", "timestamp", "datetime", "t"]),
            trace_id: names(&[
                "traceid",
                "trace_id",
                "traceId",
                "X-B3-TraceId",
                "trace.id",
                "dd.trace_id",
                "otelTraceID",
            ]),
        }
    }
}

/// What a line says, taken apart. Texts are as written (not sanitised):
/// the view and the printers make them safe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParsedLine {
    /// How it was written.
    pub format: Format,
    /// Its level, if it names one.
    pub level: Option<Level>,
    /// The message: the message field, or the whole line.
    pub message: String,
    /// The time the line itself carries, if any.
    pub time: Option<DateTime<Utc>>,
    /// The trace id, if any.
    pub trace_id: Option<String>,
    /// The other fields (values as text): logfmt's in the line's order,
    /// JSON's by name.
    pub fields: Vec<(String, String)>,
}

/// Takes a line apart. Never fails: anything unparsed is plain text.
pub fn parse(line: &str, names: &FieldNames) -> ParsedLine {
    let line = line.trim_end_matches(['\r', '\n']);
    let head = cut(line, PARSE_LIMIT);
    let trimmed = head.trim_start();
    if trimmed.starts_with('{')
        && let Ok(serde_json::Value::Object(object)) = serde_json::from_str(trimmed)
    {
        let fields = object
            .into_iter()
            .map(|(key, value)| {
                let text = match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (key, text)
            })
            .collect();
        return from_fields(Format::Json, fields, line, names);
    }
    if let Some(fields) = logfmt(head) {
        return from_fields(Format::Logfmt, fields, line, names);
    }
    plain(line, head)
}

/// The longest prefix of `text` of at most `limit` bytes.
fn cut(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Level, message, time and trace id taken out of the fields by their
/// names; the rest stays in the fields.
fn from_fields(
    format: Format,
    mut fields: Vec<(String, String)>,
    line: &str,
    names: &FieldNames,
) -> ParsedLine {
    let mut take = |wanted: &[String]| {
        wanted.iter().find_map(|name| {
            let at = fields
                .iter()
                .position(|(key, _)| key.eq_ignore_ascii_case(name))?;
            Some(fields.remove(at).1)
        })
    };
    let level_text = take(&names.level);
    let message = take(&names.message);
    let time_text = take(&names.time);
    let trace_id = take(&names.trace_id).filter(|t| !t.is_empty());
    let level = level_text.as_deref().and_then(Level::parse);
    let time = time_text.as_deref().and_then(parse_time);
    // A level or time that does not parse is still worth seeing.
    if level.is_none()
        && let Some(text) = level_text
    {
        fields.insert(0, ("level".into(), text));
    }
    if time.is_none()
        && let Some(text) = time_text
    {
        fields.insert(0, ("time".into(), text));
    }
    ParsedLine {
        format,
        level,
        message: message.unwrap_or_else(|| line.to_owned()),
        time,
        trace_id,
        fields,
    }
}

/// A time as services write it: RFC 3339, with a space instead of `T`, or
/// seconds / milliseconds / nanoseconds since the epoch.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1)) {
        return Some(time.with_timezone(&Utc));
    }
    let number: f64 = text.parse().ok()?;
    // Seconds until the year 5138, then milliseconds, then nanoseconds.
    let millis = if number < 1e11 {
        number * 1000.0
    } else if number < 1e14 {
        number
    } else {
        number / 1e6
    };
    DateTime::from_timestamp_millis(millis as i64)
}

/// `key=value key2="quoted value"` pairs, or `None` when the line is not
/// made of them (at least two pairs, and nothing but pairs).
fn logfmt(line: &str) -> Option<Vec<(String, String)>> {
    let mut fields = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let equals = rest.find('=')?;
        let key = &rest[..equals];
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '"') {
            return None;
        }
        rest = &rest[equals + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let (text, after) = quoted_value(quoted)?;
            value = text;
            rest = after;
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            value = rest[..end].to_owned();
            rest = &rest[end..];
        }
        if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
            return None;
        }
        fields.push((key.to_owned(), value));
        rest = rest.trim_start();
    }
    (fields.len() >= 2).then_some(fields)
}

/// A quoted logfmt value (after its opening quote), with `\"` and `\\`
/// unescaped, and what follows its closing quote.
fn quoted_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[at + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, escaped)) => value.push(escaped),
                None => return None,
            },
            c => value.push(c),
        }
    }
    None
}

/// A plain line: the level is a word among its first few written in
/// capitals (`ERROR`), in brackets (`[warn]`) or as `level=info`, or klog's
/// leading letter (`E1203 10:00:00.123456 …`); the trace id follows
/// `trace_id=`, `traceId:` or the like.
fn plain(line: &str, head: &str) -> ParsedLine {
    let level = klog_level(head).or_else(|| {
        head.split(|c: char| c.is_whitespace() || c == '|')
            .take(6)
            .find_map(|word| {
                let word = word.trim_end_matches(':');
                let named = if let Some((key, value)) = word.split_once('=') {
                    key.eq_ignore_ascii_case("level").then_some(value)
                } else if word.starts_with('[') && word.ends_with(']') {
                    Some(word)
                } else {
                    let capitals = word.len() >= 3 && word.chars().all(|c| c.is_ascii_uppercase());
                    capitals.then_some(word)
                };
                named.and_then(Level::parse)
            })
    });
    ParsedLine {
        format: Format::Plain,
        level,
        message: line.to_owned(),
        time: None,
        trace_id: plain_trace_id(head),
        fields: Vec::new(),
    }
}

/// klog's header: `Lmmdd hh:mm:ss.uuuuuu …` with L one of I, W, E, F.
fn klog_level(line: &str) -> Option<Level> {
    let bytes = line.as_bytes();
    let digits = bytes.get(1..5)?.iter().all(u8::is_ascii_digit);
    if !digits || bytes.get(5) != Some(&b' ') {
        return None;
    }
    match bytes[0] {
        b'I' => Some(Level::Info),
        b'W' => Some(Level::Warn),
        b'E' => Some(Level::Error),
        b'F' => Some(Level::Fatal),
        _ => None,
    }
}

/// The id after `traceid`, `trace_id`, `trace-id` or `traceId` and `=` or
/// `:` in a plain line.
fn plain_trace_id(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    for marker in ["traceid", "trace_id", "trace-id"] {
        let Some(at) = lower.find(marker) else {
            continue;
        };
        let rest = text[at + marker.len()..].trim_start_matches([' ', '"', '\'']);
        let rest = rest.strip_prefix(['=', ':'])?;
        let id: String = rest
            .trim_start_matches([' ', '"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if id.len() >= 8 {
            return Some(id);
        }
    }
    None
}

#[cfg(test)]
mod tests;
