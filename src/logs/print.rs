//! Log lines for a terminal or a program: every text from the pods
//! sanitised, one line each.

use chrono::{DateTime, Local, SecondsFormat, Utc};
use serde::Serialize;

use super::buffer::LogLine;
use super::parse::{Format, Level};

/// The widest trace id shown in text (the rest is cut, the start kept).
const TRACE_WIDTH: usize = 16;

/// One line as text: local time with milliseconds, pod, level, trace id
/// and message (then the other fields as `key=value`), all sanitised;
/// `with_date` adds the date. No line break.
pub fn text(line: &LogLine, with_date: bool) -> String {
    let time = line.at.with_timezone(&Local);
    let time = if with_date {
        time.format("%Y-%m-%d %H:%M:%S%.3f")
    } else {
        time.format("%H:%M:%S%.3f")
    };
    let level = line.parsed.level.map_or("-", Level::name);
    let trace = line.parsed.trace_id.as_deref().map_or_else(
        || "-".to_owned(),
        |id| {
            crate::text::one_line(id)
                .chars()
                .take(TRACE_WIDTH)
                .collect()
        },
    );
    let mut out = format!(
        "{time} {pod} {level:<5} {trace:<width$} {message}",
        pod = crate::text::one_line(&line.pod),
        width = TRACE_WIDTH,
        message = flat(&line.parsed.message),
    );
    if line.parsed.format != Format::Plain {
        for (key, value) in &line.parsed.fields {
            out.push_str(&format!(" {}={}", flat(key), flat(value)));
        }
    }
    out
}

/// A text on one line: line breaks and tabs shown as escapes, so a
/// multi-line message stays one screen line and is still seen whole.
fn flat(text: &str) -> String {
    crate::text::sanitize(text).replace('\t', "\\t")
}

/// One line for programs (`--format json`): JSON escapes every control
/// character, so the output is safe for a terminal too.
#[derive(Debug, Serialize)]
pub struct JsonLine<'a> {
    /// The Kubernetes timestamp, RFC 3339 with nanoseconds.
    pub time: String,
    /// The namespace.
    pub namespace: &'a str,
    /// The pod.
    pub pod: &'a str,
    /// The container.
    pub container: &'a str,
    /// How the line was written.
    pub format: Format,
    /// Its level.
    pub level: Option<Level>,
    /// Its trace id.
    pub trace_id: Option<&'a str>,
    /// Its message.
    pub message: &'a str,
    /// The time the line itself carries.
    pub logged_at: Option<String>,
    /// The other fields.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// `line` as one line of JSON. Past what JSON itself escapes (C0), DEL,
/// C1 and bidi controls are written as `\uXXXX` too: raw, a terminal
/// would act on them. They can only stand inside strings, where the
/// escape means the same.
pub fn json_text(line: &LogLine) -> Result<String, serde_json::Error> {
    let text = serde_json::to_string(&json(line))?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = c as u32;
        if code == 0x7f || (0x80..0xa0).contains(&code) || crate::text::is_bidi_control(c) {
            out.push_str(&format!("\\u{code:04x}"));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// `line` as a [`JsonLine`].
pub fn json(line: &LogLine) -> JsonLine<'_> {
    let rfc3339 = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    JsonLine {
        time: rfc3339(&line.at),
        namespace: &line.namespace,
        pod: &line.pod,
        container: &line.container,
        format: line.parsed.format,
        level: line.parsed.level,
        trace_id: line.parsed.trace_id.as_deref(),
        message: &line.parsed.message,
        logged_at: line.parsed.time.as_ref().map(rfc3339),
        fields: line
            .parsed
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::parse::{FieldNames, parse};

    fn line(raw: &str) -> LogLine {
        LogLine {
            namespace: "acme".into(),
            pod: "billing-7d9f-x2".into(),
            container: "app".into(),
            at: DateTime::from_timestamp(1_764_756_000, 123_000_000).expect("time"),
            raw: raw.into(),
            parsed: parse(raw, &FieldNames::default()),
        }
    }

    #[test]
    fn text_is_one_safe_line() {
        let shown = text(
            &line(
                r#"{"level":"error","msg":"boom\u001b]52;c;ZXZpbA==\u0007\nsecond","trace_id":"4bf92f3577b34da6a3ce","k":"v"}"#,
            ),
            false,
        );
        assert!(!shown.chars().any(|c| c.is_control()), "{shown}");
        assert!(
            shown.contains(" billing-7d9f-x2 error 4bf92f3577b34da6 boom\\x1b]52"),
            "{shown}"
        );
        assert!(shown.ends_with("\\x0asecond k=v"), "{shown}");
    }

    #[test]
    fn json_keeps_everything_escaped() {
        let parsed = line("plain \u{1b}[31mred \u{9b}2J \u{7f} \u{202e}evil");
        let out = json_text(&parsed).expect("json");
        assert!(!out.chars().any(|c| c.is_control()), "{out}");
        assert!(!out.contains('\u{202e}'), "{out}");
        assert!(
            out.contains(r#""time":"2025-12-03T10:00:00.123000000Z""#),
            "{out}"
        );
        // Still JSON, with the same text in it.
        let back: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            back["message"],
            "plain \u{1b}[31mred \u{9b}2J \u{7f} \u{202e}evil"
        );
        assert!(out.contains(r#""format":"plain""#), "{out}");
    }
}
