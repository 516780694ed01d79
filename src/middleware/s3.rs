//! S3 object stores (MinIO, Ceph RGW, AWS): the bucket is reachable with
//! the profile's keys; optionally a write/read/delete probe object; and
//! MinIO's own liveness and cluster health where the server has them.
//!
//! Requests are signed by `rusty-s3` (presigned URLs, path style) and sent
//! by the shared HTTP client, so port-forwards, CA files and TLS errors
//! work as for the other URL kinds.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::web::{self, Web};
use super::{CheckContext, Health, Severity};
use crate::probe::{ProbeFailure, ProbeState};

/// How long a signed request stays valid: long enough for a slow link.
const SIGNED_FOR: Duration = Duration::from_secs(300);

/// Checks the bucket, MinIO's health endpoints and the write probe.
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let spec = ctx.spec;
    let bucket_name = spec
        .bucket
        .clone()
        .ok_or_else(|| ProbeFailure::config("no `bucket` to check"))?;
    let key = spec
        .user
        .clone()
        .ok_or_else(|| ProbeFailure::config("no `user` (the access key)"))?;
    let secret = ctx
        .password()
        .await?
        .ok_or_else(|| ProbeFailure::config("no `password` (the secret key)"))?;
    let web = Web::new(ctx).await?;
    let region = spec.region.clone().unwrap_or_else(|| "us-east-1".into());
    let bucket = Bucket::new(
        web.url().clone(),
        UrlStyle::Path,
        bucket_name.clone(),
        region,
    )
    .map_err(|e| ProbeFailure::config(format!("cannot address the bucket: {e}")))?;
    let credentials = Credentials::new(key.clone(), secret.expose().to_owned());
    let mut health = Health::default();

    let url = bucket.head_bucket(Some(&credentials)).sign(SIGNED_FOR);
    let response = web.send(web.request(Method::HEAD, &url)).await?;
    web::certificate(&mut health, &response, false);
    let status = response.status();
    match status {
        s if s.is_success() => health.key_figure("bucket", format!("{bucket_name} reachable")),
        StatusCode::NOT_FOUND => health.finding(
            Severity::Critical,
            format!("bucket {bucket_name} does not exist"),
            "create it (or fix `bucket` in the profile): the application's uploads fail without it",
        ),
        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
            // A HEAD has no body: ask again with a GET to learn why.
            let url = bucket.list_objects_v2(Some(&credentials)).sign(SIGNED_FOR);
            let (_, body) = fetch(&web, Method::GET, &url).await?;
            return Err(denied(&key, &bucket_name, &body));
        }
        other => {
            return Err(ProbeFailure::new(
                ProbeState::Error,
                format!("{}: HEAD bucket answered {other}", web.target()),
            ));
        }
    }
    minio(&web, &mut health).await;
    if status.is_success() && ctx.write_probe_allowed(&mut health) {
        write_probe(ctx, &web, &bucket, &credentials, &mut health).await?;
    }
    Ok(health)
}

/// Sends a signed request and reads its status and body.
async fn fetch(
    web: &Web,
    method: Method,
    url: &reqwest::Url,
) -> Result<(StatusCode, Vec<u8>), ProbeFailure> {
    let response = web.send(web.request(method, url)).await?;
    let status = response.status();
    Ok((status, web.body(response, 64 * 1024).await?))
}

/// The `<Code>` of an S3 error document.
fn error_code(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(crate::text::one_line(&text[start..end]))
}

/// Why the keys were refused: an authentication failure when the keys are
/// wrong, an error naming the missing permission otherwise.
fn denied(key: &str, bucket: &str, body: &[u8]) -> ProbeFailure {
    match error_code(body).as_deref() {
        Some("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken") | None => {
            ProbeFailure::auth(format!("authentication failed for access key {key}"))
        }
        Some(code) => ProbeFailure::new(
            ProbeState::Error,
            format!(
                "access key {key} may not read bucket {bucket} ({code}): grant it s3:ListBucket"
            ),
        ),
    }
}

/// MinIO's liveness and cluster health; silently nothing elsewhere (404).
async fn minio(web: &Web, health: &mut Health) {
    let Ok((live, _)) = web.get("/minio/health/live").await else {
        return;
    };
    if live == StatusCode::NOT_FOUND || live == StatusCode::FORBIDDEN {
        return;
    }
    health.figure("minio live", live.as_u16());
    match web.get("/minio/health/cluster").await {
        Ok((status, _)) if status.is_success() => health.figure("minio cluster", "healthy"),
        Ok((StatusCode::SERVICE_UNAVAILABLE, _)) => health.finding(
            Severity::Critical,
            "the MinIO cluster has lost write quorum",
            "writes fail: bring back the missing MinIO nodes or drives (mc admin info) before anything else",
        ),
        Ok((status, _)) => health.figure("minio cluster", status.as_u16()),
        Err(_) => {}
    }
}

/// Puts `sitedeck-probe/NAME`, reads it back, deletes it.
async fn write_probe(
    ctx: &CheckContext<'_>,
    web: &Web,
    bucket: &Bucket,
    credentials: &Credentials,
    health: &mut Health,
) -> Result<(), ProbeFailure> {
    let started = Instant::now();
    let object = format!("sitedeck-probe/{}", ctx.name());
    let marker = chrono::Utc::now().timestamp_micros().to_string();
    let url = bucket
        .put_object(Some(credentials), &object)
        .sign(SIGNED_FOR);
    let response = web
        .send(web.request(Method::PUT, &url).body(marker.clone()))
        .await?;
    let status = response.status();
    if !status.is_success() {
        let body = web.body(response, 64 * 1024).await?;
        let code = error_code(&body).unwrap_or_else(|| status.to_string());
        health.finding(
            Severity::Critical,
            format!("the write probe could not put {object}: {code}"),
            "uploads fail: check the key's s3:PutObject permission, the bucket's quota and the servers' disks",
        );
        return Ok(());
    }
    let url = bucket
        .get_object(Some(credentials), &object)
        .sign(SIGNED_FOR);
    let (status, body) = fetch(web, Method::GET, &url).await?;
    let url = bucket
        .delete_object(Some(credentials), &object)
        .sign(SIGNED_FOR);
    let (deleted, _) = fetch(web, Method::DELETE, &url).await?;
    if !status.is_success() || body != marker.as_bytes() {
        health.finding(
            Severity::Critical,
            format!("the write probe read back {status}, not what it wrote"),
            "reads after writes are inconsistent: check the servers' health and replication",
        );
    } else if !deleted.is_success() {
        health.finding(
            Severity::Warning,
            format!("the write probe could not delete {object}: {deleted}"),
            "grant the key s3:DeleteObject on sitedeck-probe/*, or delete the object by hand",
        );
    } else {
        health.figure(
            "write probe",
            format!("ok in {:.1} ms", started.elapsed().as_secs_f64() * 1000.0),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_come_from_the_xml() {
        let body =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>x</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("NoSuchBucket"));
        assert_eq!(error_code(b"nothing"), None);
    }

    #[test]
    fn wrong_keys_are_an_authentication_failure() {
        let body = b"<Error><Code>SignatureDoesNotMatch</Code></Error>";
        assert_eq!(denied("AK", "b", body).state, ProbeState::AuthFailed);
        let body = b"<Error><Code>AccessDenied</Code></Error>";
        assert_eq!(denied("AK", "b", body).state, ProbeState::Error);
    }
}
