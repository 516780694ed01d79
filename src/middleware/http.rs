//! HTTP(S) health endpoints: the status, the body or a JSON value, the
//! latency and the TLS certificate's days to expiry.

use std::time::Instant;

use reqwest::Method;

use super::web::{self, Web};
use super::{CheckContext, Health, Severity};
use crate::probe::ProbeFailure;

/// GETs the URL and checks the answer against the profile's expectations.
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let web = Web::new(ctx).await?;
    let started = Instant::now();
    let url = web.url().clone();
    let response = web.send(web.request(Method::GET, &url)).await?;
    let status = response.status();
    let mut health = Health::default();
    health.key_figure("status", status.as_u16());
    web::certificate(&mut health, &response, true);
    let body = web.body(response, web::BODY_LIMIT).await?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    health.figure("response", format!("{elapsed:.0} ms, {} bytes", body.len()));
    let spec = ctx.spec;
    let status_ok = match spec.expect_status {
        Some(expected) => status.as_u16() == expected,
        None => status.is_success(),
    };
    if !status_ok {
        let expected = spec
            .expect_status
            .map_or("a 2xx status".to_owned(), |s| format!("status {s}"));
        let hint = match status.as_u16() {
            401 | 403 => {
                "the endpoint refused sitedeck's request: does it need credentials, or does a network policy or gateway block the bastion?"
            }
            301 | 302 | 307 | 308 => {
                "the endpoint redirects (sitedeck does not follow): check the url, or set expect_status to the redirect"
            }
            500..=599 => {
                "the service or a dependency is failing: read the service's logs (sitedeck logs) and its own dependencies' health"
            }
            _ => "check the url and what the service answers there",
        };
        // The Location of a redirect is left out: it may carry tokens.
        health.finding(
            Severity::Critical,
            format!(
                "answered {status}, expected {expected}: {}",
                web::excerpt(&body)
            ),
            hint,
        );
    }
    if let Some(text) = &spec.expect_body
        && !String::from_utf8_lossy(&body).contains(text.as_str())
    {
        health.finding(
            Severity::Critical,
            format!("the body lacks `{text}`: {}", web::excerpt(&body)),
            "the service answers but reports a problem: read what it says, then its logs",
        );
    }
    if let Some(expect) = &spec.expect_json {
        match json_value(&body, &expect.path) {
            Ok(Some(value)) if value == expect.value => {
                health.figure(&expect.path, value);
            }
            Ok(Some(value)) => {
                health.key_figure(&expect.path, &value);
                health.finding(
                    Severity::Critical,
                    format!("{} is {value}, expected {}", expect.path, expect.value),
                    "the service reports itself unhealthy there: read the whole answer and its logs",
                );
            }
            Ok(None) => health.finding(
                Severity::Critical,
                format!(
                    "the JSON body has no {}: {}",
                    expect.path,
                    web::excerpt(&body)
                ),
                "the service's health format changed, or the path in expect_json is wrong",
            ),
            Err(e) => health.finding(
                Severity::Critical,
                format!("the body is not JSON ({e}): {}", web::excerpt(&body)),
                "the url may point at the wrong endpoint (an HTML error page, a login page)",
            ),
        }
    }
    Ok(health)
}

/// The value at a dotted path (`a.b.0.c`) of a JSON body, as text: a
/// string without its quotes, anything else as JSON.
pub fn json_value(body: &[u8], path: &str) -> Result<Option<String>, serde_json::Error> {
    let root: serde_json::Value = serde_json::from_slice(body)?;
    let mut current = &root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let next = match current {
            serde_json::Value::Object(map) => map.get(part),
            serde_json::Value::Array(items) => {
                part.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Ok(None),
        }
    }
    Ok(Some(match current {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::json_value;

    #[test]
    fn dotted_paths_reach_into_objects_and_arrays() {
        let body = br#"{"status":"UP","components":{"db":{"status":"DOWN"}},"items":[{"n":3},{"ok":true}]}"#;
        assert_eq!(
            json_value(body, "status").ok().flatten().as_deref(),
            Some("UP")
        );
        assert_eq!(
            json_value(body, "components.db.status")
                .ok()
                .flatten()
                .as_deref(),
            Some("DOWN")
        );
        assert_eq!(
            json_value(body, "items.0.n").ok().flatten().as_deref(),
            Some("3")
        );
        assert_eq!(
            json_value(body, "items.1.ok").ok().flatten().as_deref(),
            Some("true")
        );
        assert_eq!(json_value(body, "missing.path").ok().flatten(), None);
        assert!(json_value(b"<html>", "status").is_err());
    }
}
