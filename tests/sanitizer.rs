//! The sanitiser every text from pods and the cluster goes through:
//! property tests over arbitrary bytes and text (proptest), and a corpus
//! of hostile terminal input kept in `tests/fixtures/sanitizer`.
//!
//! What must hold: no control character reaches the terminal (C0 but tab,
//! DEL, C1) and no bidi override or isolate; sanitising twice changes
//! nothing; a log line printed as text is one line without any control
//! character at all.

use std::path::Path;

use chrono::DateTime;
use proptest::prelude::*;
use sitedeck::logs::buffer::LogLine;
use sitedeck::logs::parse::{FieldNames, parse};
use sitedeck::text::{one_line, sanitize};

/// Whether a character may reach the terminal in sanitised text.
fn safe(c: char) -> bool {
    let bidi = matches!(c as u32, 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069);
    (c == '\t' || !c.is_control()) && !bidi
}

fn log_line(raw: &str) -> LogLine {
    LogLine {
        namespace: "ns".into(),
        pod: "pod".into(),
        container: "c".into(),
        at: DateTime::from_timestamp(1_764_756_000, 0).expect("time"),
        raw: raw.to_owned(),
        parsed: parse(raw, &FieldNames::default()),
    }
}

/// Checks every property for one input.
fn check(text: &str) -> Result<(), TestCaseError> {
    let once = sanitize(text);
    prop_assert!(once.chars().all(safe), "unsafe output {once:?}");
    prop_assert_eq!(sanitize(&once), once.clone(), "not idempotent");
    let line = one_line(text);
    prop_assert!(!line.chars().any(char::is_control), "{line:?}");
    let printed = sitedeck::logs::print::text(&log_line(text), true);
    prop_assert!(
        !printed.chars().any(|c| c.is_control() || !safe(c)),
        "printed {printed:?}"
    );
    Ok(())
}

/// Text rich in what terminals act on: escapes, C1, bidi marks, JSON.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\u{1b}".to_owned()),
        Just("\u{1b}]52;c;".to_owned()),
        Just("\u{1b}[".to_owned()),
        Just("\u{7}".to_owned()),
        Just("\u{9b}".to_owned()),
        Just("\u{202e}".to_owned()),
        Just("\u{2066}".to_owned()),
        Just("\r\n".to_owned()),
        Just("\t".to_owned()),
        Just("\\x1b".to_owned()),
        Just("{\"msg\":\"".to_owned()),
        Just("\"}".to_owned()),
        Just("level=error msg=\"".to_owned()),
        "[ -~]{0,12}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_comes_out_safe_and_sanitising_is_idempotent(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn hostile_text_comes_out_safe(text in hostile_text()) {
        check(&text)?;
    }

    #[test]
    fn any_bytes_shown_lossily_come_out_safe(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }
}

#[test]
fn the_corpus_of_hostile_input_comes_out_safe() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sanitizer");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("a corpus file");
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            if let Err(e) = check(line) {
                panic!("{}: {e}", path.display());
            }
            let shown = sanitize(line);
            assert!(!shown.contains('\u{1b}'), "{}: {shown}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 9, "the corpus has {checked} files");
}

#[test]
fn a_megabyte_line_is_sanitised_and_parsed_at_once() {
    let mut line = String::from("{\"msg\":\"");
    line.push_str(&"\u{1b}[31mx".repeat(200_000));
    line.push_str("\"}");
    let parsed = parse(&line, &FieldNames::default());
    assert_eq!(parsed.message.len(), line.len(), "too long to parse: plain");
    let shown = sanitize(&line);
    assert!(shown.chars().all(safe));
}
