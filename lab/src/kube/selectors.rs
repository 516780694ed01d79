//! Label and field selectors, parsed and matched as the API server does.
//!
//! Labels: `a=b`, `a==b`, `a!=b`, `a in (b,c)`, `a notin (b,c)`, `a`, `!a`,
//! `a>1`, `a<1`. Fields: `f=v`, `f==v`, `f!=v` over the fields each resource
//! supports; anything else is a 400 like on a real cluster.

use serde_json::{Map, Value};

use super::resources::ResourceType;
use super::status::ApiError;

/// One requirement on a label.
#[derive(Debug, Clone, PartialEq)]
enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

impl LabelRequirement {
    fn matches(&self, labels: &Map<String, Value>) -> bool {
        let value = |key: &str| labels.get(key).and_then(Value::as_str);
        let number = |key: &str| value(key).and_then(|v| v.parse::<i64>().ok());
        match self {
            Self::Equals(key, wanted) => value(key) == Some(wanted),
            Self::NotEquals(key, unwanted) => value(key) != Some(unwanted),
            Self::In(key, set) => value(key).is_some_and(|v| set.iter().any(|s| s == v)),
            Self::NotIn(key, set) => value(key).is_none_or(|v| !set.iter().any(|s| s == v)),
            Self::Exists(key) => labels.contains_key(key),
            Self::DoesNotExist(key) => !labels.contains_key(key),
            Self::GreaterThan(key, bound) => number(key).is_some_and(|n| n > *bound),
            Self::LessThan(key, bound) => number(key).is_some_and(|n| n < *bound),
        }
    }
}

/// A parsed `labelSelector`: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses a selector; the empty selector matches everything.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let requirements = split_terms(text)
            .into_iter()
            .map(parse_label_requirement)
            .collect::<Result<_, _>>()
            .map_err(|problem| {
                ApiError::bad_request(format!("unable to parse requirement: {problem}"))
            })?;
        Ok(Self { requirements })
    }

    /// Whether an object's labels satisfy the selector.
    pub fn matches(&self, object: &Value) -> bool {
        let empty = Map::new();
        let labels = object["metadata"]["labels"].as_object().unwrap_or(&empty);
        self.requirements.iter().all(|req| req.matches(labels))
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Splits on commas outside parentheses, dropping empty terms.
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_label_requirement(term: &str) -> Result<LabelRequirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelRequirement::DoesNotExist(label_key(key)?));
    }
    for (operator, make) in [
        (
            "!=",
            LabelRequirement::NotEquals as fn(String, String) -> LabelRequirement,
        ),
        ("==", LabelRequirement::Equals),
        ("=", LabelRequirement::Equals),
    ] {
        if let Some((key, value)) = term.split_once(operator) {
            return Ok(make(label_key(key)?, label_value(value)?));
        }
    }
    for (operator, make) in [
        (
            ">",
            LabelRequirement::GreaterThan as fn(String, i64) -> LabelRequirement,
        ),
        ("<", LabelRequirement::LessThan),
    ] {
        if let Some((key, value)) = term.split_once(operator) {
            let bound = value
                .trim()
                .parse()
                .map_err(|_| format!("for '{operator}', the value must be an integer: {term}"))?;
            return Ok(make(label_key(key)?, bound));
        }
    }
    if let Some(open) = term.find('(') {
        let head: Vec<&str> = term[..open].split_whitespace().collect();
        let Some(body) = term[open + 1..].trim_end().strip_suffix(')') else {
            return Err(format!("found '{term}', expected: ')'"));
        };
        let values = body
            .split(',')
            .map(label_value)
            .collect::<Result<Vec<_>, _>>()?;
        return match head.as_slice() {
            [key, "in"] => Ok(LabelRequirement::In(label_key(key)?, values)),
            [key, "notin"] => Ok(LabelRequirement::NotIn(label_key(key)?, values)),
            _ => Err(format!("found '{term}', expected: in, notin")),
        };
    }
    Ok(LabelRequirement::Exists(label_key(term)?))
}

fn label_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    let valid = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if valid {
        Ok(key.to_string())
    } else {
        Err(format!("invalid label key \"{key}\""))
    }
}

fn label_value(value: &str) -> Result<String, String> {
    let value = value.trim();
    let valid = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid && value.len() <= 63 {
        Ok(value.to_string())
    } else {
        Err(format!("invalid label value: \"{value}\""))
    }
}

/// A parsed `fieldSelector`: every `field=value` / `field!=value` must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    /// (field, value, whether it must equal rather than differ)
    requirements: Vec<(String, String, bool)>,
}

impl FieldSelector {
    /// Parses a selector, refusing fields the resource cannot be selected
    /// by, as the API server does.
    pub fn parse(text: &str, resource: &ResourceType) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let (field, value, equal) = if let Some((field, value)) = term.split_once("!=") {
                (field, value, false)
            } else if let Some((field, value)) = term.split_once("==") {
                (field, value, true)
            } else if let Some((field, value)) = term.split_once('=') {
                (field, value, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{text}'; can't understand '{term}'"
                )));
            };
            let field = field.trim();
            if !supported_fields(resource).contains(&field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            requirements.push((field.to_string(), value.trim().to_string(), equal));
        }
        Ok(Self { requirements })
    }

    /// Whether an object's fields satisfy the selector.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements
            .iter()
            .all(|(field, value, equal)| (field_value(object, field) == *value) == *equal)
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// The fields each resource can be selected by (from the API server's
/// field label conversion functions).
fn supported_fields(resource: &ResourceType) -> &'static [&'static str] {
    match resource.storage {
        "pods" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "events" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "secrets" => &["metadata.name", "metadata.namespace", "type"],
        "nodes" => &["metadata.name", "spec.unschedulable"],
        "namespaces" => &["metadata.name", "status.phase"],
        "replicasets" => &["metadata.name", "metadata.namespace", "status.replicas"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

/// A field's value as the API server compares it: strings as they are,
/// booleans and numbers spelled out, a missing field as "" (a missing
/// boolean as "false").
fn field_value(object: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let value = path.split('.').fold(object, |value, part| &value[part]);
    match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::Null if matches!(field, "spec.hostNetwork" | "spec.unschedulable") => "false".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::find;
    use serde_json::json;

    fn pod(labels: Value, phase: &str) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "status": {"phase": phase}})
    }

    #[test]
    fn label_selectors_follow_the_api_grammar() {
        let object = pod(
            json!({"app": "web", "tier": "front", "shard": "3"}),
            "Running",
        );
        let matches = |text: &str| LabelSelector::parse(text).expect(text).matches(&object);
        for selector in [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "app in (web, db)",
            "app notin (db)",
            "app",
            "!missing",
            "shard>2",
            "shard<4",
            "app=web,tier in (front),!missing",
            "missing notin (x)",
            "missing!=x",
        ] {
            assert!(matches(selector), "{selector} should match");
        }
        for selector in [
            "app=db",
            "app in (db)",
            "app notin (web,db)",
            "missing",
            "!app",
            "shard>3",
        ] {
            assert!(!matches(selector), "{selector} should not match");
        }
        for bad in ["app in (web", "a b c", "app=we b", "shard>x", "=x"] {
            assert_eq!(LabelSelector::parse(bad).expect_err(bad).code, 400, "{bad}");
        }
    }

    #[test]
    fn field_selectors_accept_only_supported_fields() {
        let pods = find("", "v1", "pods").expect("pods");
        let object = pod(json!({}), "Running");
        let matches = |text: &str| {
            FieldSelector::parse(text, pods)
                .expect(text)
                .matches(&object)
        };
        assert!(matches("status.phase=Running,metadata.name=p"));
        assert!(matches("status.phase!=Pending,spec.nodeName="));
        assert!(matches("spec.hostNetwork=false"));
        assert!(!matches("metadata.namespace==other"));
        let error = FieldSelector::parse("spec.containers=x", pods).expect_err("unsupported");
        assert_eq!(error.message, "field label not supported: spec.containers");
        let configmaps = find("", "v1", "configmaps").expect("configmaps");
        assert!(FieldSelector::parse("status.phase=Running", configmaps).is_err());
    }
}
