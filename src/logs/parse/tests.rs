use super::*;

fn parsed(line: &str) -> ParsedLine {
    parse(line, &FieldNames::default())
}

#[test]
fn json_lines_give_level_message_time_and_trace_id_by_common_names() {
    let line = parsed(
        r#"{"ts":"2026-12-03T10:00:01.250Z","level":"WARN","msg":"slow query","traceId":"4bf92f3577b34da6a3ce929d0e0e4736","ms":812,"db":{"name":"orders"}}"#,
    );
    assert_eq!(line.format, Format::Json);
    assert_eq!(line.level, Some(Level::Warn));
    assert_eq!(line.message, "slow query");
    assert_eq!(
        line.time.map(|t| t.to_rfc3339()),
        Some("2026-12-03T10:00:01.250+00:00".into())
    );
    assert_eq!(
        line.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(
        line.fields,
        [
            ("db".to_owned(), r#"{"name":"orders"}"#.to_owned()),
            ("ms".to_owned(), "812".to_owned()),
        ]
    );

    for (text, level, trace) in [
        (
            r#"{"severity":"ERROR","message":"x","trace_id":"abc12345"}"#,
            Level::Error,
            "abc12345",
        ),
        (
            r#"{"lvl":"info","log":"x","X-B3-TraceId":"80f198ee56343ba8"}"#,
            Level::Info,
            "80f198ee56343ba8",
        ),
        (
            r#"{"level":50,"msg":"x","traceid":"t-0001-aa"}"#,
            Level::Error,
            "t-0001-aa",
        ),
        (
            r#"{"@timestamp":"2026-12-03 10:00:00+08:00","log.level":"debug","message":"x","trace.id":"0af7651916cd43dd"}"#,
            Level::Debug,
            "0af7651916cd43dd",
        ),
    ] {
        let line = parsed(text);
        assert_eq!(
            (line.level, line.trace_id.as_deref()),
            (Some(level), Some(trace)),
            "{text}"
        );
        assert_eq!(line.message, "x");
    }
}

#[test]
fn json_times_in_seconds_millis_and_nanos_since_the_epoch() {
    let at = |text: &str| parsed(text).time.map(|t| t.timestamp_millis());
    assert_eq!(
        at(r#"{"ts":1764756000.5,"msg":"x"}"#),
        Some(1_764_756_000_500)
    );
    assert_eq!(
        at(r#"{"ts":1764756000500,"msg":"x"}"#),
        Some(1_764_756_000_500)
    );
    assert_eq!(
        at(r#"{"ts":1764756000500000000,"msg":"x"}"#),
        Some(1_764_756_000_500)
    );
    // A time that does not parse stays visible as a field.
    let line = parsed(r#"{"time":"yesterday","msg":"x"}"#);
    assert_eq!(line.time, None);
    assert_eq!(line.fields, [("time".to_owned(), "yesterday".to_owned())]);
}

#[test]
fn logfmt_lines_with_quoted_values() {
    let line = parsed(
        r#"time=2026-12-03T10:00:00Z level=error msg="payment \"declined\" by bank" trace_id=5b8aa5a2d2c872e8 amount=12.50"#,
    );
    assert_eq!(line.format, Format::Logfmt);
    assert_eq!(line.level, Some(Level::Error));
    assert_eq!(line.message, r#"payment "declined" by bank"#);
    assert_eq!(line.trace_id.as_deref(), Some("5b8aa5a2d2c872e8"));
    assert_eq!(line.fields, [("amount".to_owned(), "12.50".to_owned())]);
    // An unclosed quote, or words that are not pairs: plain text.
    assert_eq!(parsed(r#"a=1 msg="open"#).format, Format::Plain);
    assert_eq!(parsed("a=1 and then some").format, Format::Plain);
    assert_eq!(parsed("x=1").format, Format::Plain);
}

#[test]
fn plain_lines_find_their_level_and_trace_id_in_their_words() {
    let cases = [
        (
            "2026-12-03 10:00:00.123 ERROR [main] boom traceId=4bf92f3577b34da6",
            Some(Level::Error),
            Some("4bf92f3577b34da6"),
        ),
        ("[warn] upstream timed out", Some(Level::Warn), None),
        (
            "E1203 10:00:00.123456       1 reflector.go:138] failed to list",
            Some(Level::Error),
            None,
        ),
        (
            "I1203 10:00:00.123456       1 leaderelection.go:250] renewed",
            Some(Level::Info),
            None,
        ),
        (
            "everything is fine, an error of judgement aside",
            None,
            None,
        ),
        (
            "trace_id: 0af7651916cd43dd8448eb211c80319c handled",
            None,
            Some("0af7651916cd43dd8448eb211c80319c"),
        ),
        ("traceid=short", None, None),
    ];
    for (text, level, trace) in cases {
        let line = parsed(text);
        assert_eq!(line.format, Format::Plain, "{text}");
        assert_eq!(
            (line.level, line.trace_id.as_deref()),
            (level, trace),
            "{text}"
        );
        assert_eq!(line.message, text);
    }
}

#[test]
fn a_sites_own_field_names() {
    let names = FieldNames {
        level: vec!["sev".into()],
        message: vec!["body".into()],
        time: vec!["when".into()],
        trace_id: vec!["rid".into()],
    };
    let line = parse(
        r#"{"sev":"W","body":"hi","rid":"r-123456789","level":"ignored"}"#,
        &names,
    );
    assert_eq!(line.level, Some(Level::Warn));
    assert_eq!(line.message, "hi");
    assert_eq!(line.trace_id.as_deref(), Some("r-123456789"));
    assert_eq!(line.fields, [("level".to_owned(), "ignored".to_owned())]);
}

#[test]
fn a_huge_line_is_parsed_only_as_far_as_the_limit() {
    let mut line = String::from("ERROR ");
    line.push_str(&"é".repeat(600_000));
    let parsed = parsed(&line);
    assert_eq!(parsed.level, Some(Level::Error));
    assert_eq!(parsed.message.len(), line.len());
    // A JSON object cut by the limit is plain text, whole.
    let json = format!(r#"{{"msg":"{}"}}"#, "x".repeat(PARSE_LIMIT));
    assert_eq!(
        super::parse(&json, &FieldNames::default()).format,
        Format::Plain
    );
}

#[test]
fn levels_order_from_trace_to_fatal() {
    assert!(Level::Trace < Level::Debug && Level::Warn < Level::Error);
    assert_eq!(Level::parse("WARNING"), Some(Level::Warn));
    assert_eq!(Level::parse("dpanic"), Some(Level::Fatal));
    assert_eq!(Level::parse("[ERROR]"), Some(Level::Error));
    assert_eq!(Level::parse("verbose"), None);
}
