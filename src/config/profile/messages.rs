//! Turning the YAML reader's errors into problems an operator can act on:
//! friendly wording, a "did you mean", and the right line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::{Problem, REQUIRED_KEYS};

impl Problem {
    pub(super) fn at(line: u64, column: u64, message: String) -> Self {
        Self {
            line,
            column,
            message,
        }
    }
}

/// Where the top-level keys and the `probes` keys are, from a lenient second
/// reading of the text: for problems found after parsing, and to put a
/// missing top-level key at the top of the file rather than at its last key.
#[derive(Debug, Default)]
pub(super) struct Skeleton {
    top: BTreeMap<String, Location>,
    probes: BTreeMap<String, Location>,
}

/// The `probes` mapping, read leniently.
#[derive(Deserialize)]
pub(super) struct ProbesSkeleton {
    #[serde(default)]
    probes: BTreeMap<String, Spanned<serde::de::IgnoredAny>>,
}

impl Skeleton {
    /// Reads the skeleton, or nothing if the text is not a mapping.
    pub(super) fn read(text: &str) -> Option<Self> {
        let top: BTreeMap<String, Spanned<serde::de::IgnoredAny>> =
            serde_saphyr::from_str(text).ok()?;
        let probes = serde_saphyr::from_str::<ProbesSkeleton>(text)
            .map(|p| p.probes)
            .unwrap_or_default();
        let places = |map: BTreeMap<String, Spanned<serde::de::IgnoredAny>>| {
            map.into_iter().map(|(k, v)| (k, v.referenced)).collect()
        };
        Some(Self {
            top: places(top),
            probes: places(probes),
        })
    }

    /// Where the value of a top-level key is.
    pub(super) fn top_at(&self, key: &str) -> Location {
        self.top.get(key).copied().unwrap_or(Location::UNKNOWN)
    }

    /// Where the value of a `probes` key is.
    pub(super) fn probe_at(&self, key: &str) -> Location {
        self.probes.get(key).copied().unwrap_or(Location::UNKNOWN)
    }

    /// The required top-level keys the profile lacks.
    pub(super) fn missing_required(&self) -> Vec<&'static str> {
        REQUIRED_KEYS
            .into_iter()
            .filter(|key| !self.top.contains_key(*key))
            .collect()
    }
}

/// The problems of a profile the YAML reader rejected: its error, and every
/// missing top-level key (the reader reports one problem only).
pub(super) fn parse_problems(
    error: &serde_saphyr::Error,
    text: &str,
    skeleton: Option<&Skeleton>,
) -> Vec<Problem> {
    let missing = missing_top_keys(error, skeleton);
    let mut problems: Vec<Problem> = missing
        .iter()
        .map(|key| Problem::at(1, 1, format!("missing required key `{key}`")))
        .collect();
    let reported = matches!(
        error.without_snippet(),
        serde_saphyr::Error::SerdeMissingField { field, .. } if missing.contains(field)
    );
    if !reported {
        problems.push(problem_from_yaml(error, text));
    }
    problems.sort_by_key(|p| (p.line, p.column));
    problems
}

/// The required top-level keys the profile lacks, except one the reader's
/// error already suggests: `enviroment: prod` is one problem, not two.
pub(super) fn missing_top_keys(
    error: &serde_saphyr::Error,
    skeleton: Option<&Skeleton>,
) -> Vec<&'static str> {
    let mut missing = skeleton.map(Skeleton::missing_required).unwrap_or_default();
    if let serde_saphyr::Error::SerdeUnknownField {
        field, expected, ..
    } = error.without_snippet()
    {
        let suggested = closest(field, expected);
        missing.retain(|key| Some(*key) != suggested);
    }
    missing
}

/// Suggests the closest of `candidates` to `word`, as `; did you mean `x`?`,
/// or nothing when none is close.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// The candidate closest to `word`, if one is close enough to suggest.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

pub(crate) fn problem_from_yaml(error: &serde_saphyr::Error, text: &str) -> Problem {
    let location = error.location().unwrap_or(Location::UNKNOWN);
    let token = token_at(text, location);
    Problem::at(
        location.line(),
        location.column(),
        yaml_message(error.without_snippet(), token),
    )
}

/// Says what the YAML reader found wrong, in the operator's words.
pub(super) fn yaml_message(error: &serde_saphyr::Error, token: Option<&str>) -> String {
    use serde_saphyr::Error as E;
    match error {
        E::SerdeUnknownField {
            field, expected, ..
        } => format!(
            "unknown key `{field}`{}; expected one of: {}",
            did_you_mean(field, expected),
            expected.join(", ")
        ),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => format!(
            "unknown value `{variant}`{}; expected one of: {}",
            did_you_mean(variant, expected),
            expected.join(", ")
        ),
        E::SerdeMissingField { field, .. } => format!("missing required key `{field}`"),
        E::InvalidScalar { ty, .. } => scalar_message(ty, token),
        E::Unexpected { expected, .. } => shape_message(expected),
        E::ExternallyTaggedEnumExpectedScalarOrMapping { .. } => {
            "expected a single word here, not a list or a mapping".into()
        }
        E::DuplicateMappingKey { key: Some(key), .. } => {
            format!("duplicate key `{key}`: a key may appear only once in a mapping")
        }
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => format!("expected {expected}; found {}", found(unexpected)),
        E::SerdeInvalidValue { expected, .. } if expected.contains("nonzero u16") => {
            scalar_message("u16", token)
        }
        E::Eof { .. } => "unexpected end of file".into(),
        other => rendered_message(other),
    }
}

/// A scalar that is not of the expected type, e.g. `port: 70000`.
pub(super) fn scalar_message(ty: &str, token: Option<&str>) -> String {
    let expected = match ty {
        "u16" => "a port number (1-65535)",
        "boolean" => "true or false",
        "floating point" => "a number",
        t if t.starts_with('u') => "a whole number, 0 or more",
        t if t.starts_with('i') => "a whole number",
        other => return format!("invalid {other}"),
    };
    match token {
        Some(token) => format!("expected {expected}, not `{token}`"),
        None => format!("expected {expected}"),
    }
}

/// A node of the wrong shape, e.g. a scalar where a list belongs.
pub(super) fn shape_message(expected: &str) -> String {
    match expected {
        "sequence start" => "expected a list here".into(),
        "mapping start" => "expected a mapping (`key: value` lines) here".into(),
        "string scalar" | "scalar" => {
            "expected a single value here, not a list or a mapping".into()
        }
        other => format!("expected {other}"),
    }
}

/// Names what serde found in the words of the profile format.
pub(super) fn found(unexpected: &str) -> &str {
    match unexpected {
        "sequence" => "a list",
        "map" => "a mapping",
        "unit value" => "nothing",
        other => other,
    }
}

/// Hints for the YAML syntax errors people make most.
pub(super) fn with_hint(message: String) -> String {
    let hint = match message.as_str() {
        "mapping values are not allowed in this context" => {
            " (check the indentation of this line, or quote a value that contains `: `)"
        }
        _ => "",
    };
    message + hint
}

/// The library's own message, without its location suffix, made friendlier
/// where we recognise it.
pub(super) fn rendered_message(error: &serde_saphyr::Error) -> String {
    let rendered = error.render();
    // The library appends " at line X column Y"; we print the place ourselves.
    let message = match rendered.rfind(" at line ") {
        Some(cut) => rendered[..cut].to_owned(),
        None => rendered,
    };
    friendlier(&message).unwrap_or_else(|| with_hint(message))
}

/// The scalar written at `at`, up to a comment or the end of the line.
pub(super) fn token_at(text: &str, at: Location) -> Option<&str> {
    let line_index = usize::try_from(at.line()).ok()?.checked_sub(1)?;
    let column_index = usize::try_from(at.column()).ok()?.checked_sub(1)?;
    let line = text.lines().nth(line_index)?;
    let (start, _) = line.char_indices().nth(column_index)?;
    let rest = &line[start..];
    let token = rest[..rest.find(" #").unwrap_or(rest.len())].trim();
    // Some errors point at the key rather than its value: `port: 0`.
    let token = match token.split_once(": ") {
        Some((key, value)) if !key.contains(['"', '\'', '{', '[']) => value.trim(),
        _ => token,
    };
    (!token.is_empty()).then_some(token)
}

/// Rewrites serde's "unknown field `x`, expected one of a, b" (and the same
/// for variants) with a suggestion.
pub(super) fn friendlier(message: &str) -> Option<String> {
    let (what, rest) = if let Some(rest) = message.strip_prefix("unknown field `") {
        ("key", rest)
    } else {
        ("value", message.strip_prefix("unknown variant `")?)
    };
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = match rest.split_once("expected one of ") {
        Some((_, list)) => list.split(", ").map(|e| e.trim_matches('`')).collect(),
        None => match rest.split_once("expected ") {
            Some((_, single)) => vec![single.trim_matches('`')],
            None => Vec::new(),
        },
    };
    Some(format!(
        "unknown {what} `{word}`{}; expected {}",
        did_you_mean(word, &expected),
        if expected.is_empty() {
            "none here".to_owned()
        } else {
            format!("one of: {}", expected.join(", "))
        }
    ))
}
