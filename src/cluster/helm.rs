//! Helm 3 releases, decoded from their secrets (`type: helm.sh/release.v1`,
//! label `owner=helm`): the `release` key holds base64 of the gzipped
//! release JSON. Only the chart's metadata and the release's info are kept;
//! the values (which may hold passwords) are dropped at once.

use std::io::Read;

use base64::Engine;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;

use super::model::HelmRelease;

/// The label selector of Helm's release secrets.
pub const SELECTOR: &str = "owner=helm";

/// The largest decompressed release sitedeck reads (Helm itself caps a
/// release secret at 1 MiB compressed).
const MAX_RELEASE_BYTES: u64 = 32 << 20;

#[derive(Deserialize)]
struct StoredRelease {
    name: String,
    namespace: Option<String>,
    version: i64,
    info: Option<StoredInfo>,
    chart: Option<StoredChart>,
}

#[derive(Deserialize)]
struct StoredInfo {
    status: Option<String>,
    last_deployed: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct StoredChart {
    metadata: Option<StoredMetadata>,
}

#[derive(Deserialize)]
struct StoredMetadata {
    name: Option<String>,
    version: Option<String>,
    #[serde(rename = "appVersion")]
    app_version: Option<String>,
}

/// Decodes a release secret; an error says what was wrong with it.
pub fn decode(secret: &Secret) -> Result<HelmRelease, String> {
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("release"))
        .ok_or("the secret has no `release` key")?;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.0.trim_ascii())
        .map_err(|e| format!("the release is not base64: {e}"))?;
    let mut json = Vec::new();
    if compressed.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(compressed.as_slice())
            .take(MAX_RELEASE_BYTES)
            .read_to_end(&mut json)
            .map_err(|e| format!("the release is not valid gzip: {e}"))?;
    } else {
        json = compressed;
    }
    let stored: StoredRelease = serde_json::from_slice(&json)
        .map_err(|e| format!("the release is not Helm's JSON: {e}"))?;
    let metadata = stored.chart.and_then(|c| c.metadata);
    let info = stored.info;
    Ok(HelmRelease {
        name: stored.name,
        namespace: stored
            .namespace
            .or_else(|| secret.metadata.namespace.clone())
            .unwrap_or_default(),
        chart: metadata
            .as_ref()
            .and_then(|m| m.name.clone())
            .unwrap_or_default(),
        chart_version: metadata
            .as_ref()
            .and_then(|m| m.version.clone())
            .unwrap_or_default(),
        app_version: metadata.and_then(|m| m.app_version).unwrap_or_default(),
        status: info
            .as_ref()
            .and_then(|i| i.status.clone())
            .unwrap_or_else(|| "unknown".to_owned()),
        revision: stored.version,
        updated: info.and_then(|i| i.last_deployed),
        secret: secret.metadata.name.clone().unwrap_or_default(),
    })
}

/// The row of a release secret; one that cannot be decoded still gets a
/// row, with the reason as its status, so it is not silently missing.
pub fn release_row(secret: &Secret) -> HelmRelease {
    decode(secret).unwrap_or_else(|reason| {
        let labels = secret.metadata.labels.clone().unwrap_or_default();
        HelmRelease {
            name: labels.get("name").cloned().unwrap_or_default(),
            namespace: secret.metadata.namespace.clone().unwrap_or_default(),
            chart: String::new(),
            chart_version: String::new(),
            app_version: String::new(),
            status: format!("unreadable: {reason}"),
            revision: labels
                .get("version")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            updated: None,
            secret: secret.metadata.name.clone().unwrap_or_default(),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use k8s_openapi::ByteString;

    fn secret(release_json: &str, gzip: bool) -> Secret {
        let bytes = if gzip {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(release_json.as_bytes()).unwrap();
            encoder.finish().unwrap()
        } else {
            release_json.as_bytes().to_vec()
        };
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut secret = Secret::default();
        secret.metadata.name = Some("sh.helm.release.v1.web.v2".into());
        secret.metadata.namespace = Some("apps".into());
        secret.data = Some([("release".to_owned(), ByteString(text.into_bytes()))].into());
        secret
    }

    #[test]
    fn a_release_secret_decodes_to_its_chart_and_status() {
        let json = r#"{"name":"web","namespace":"apps","version":2,
            "info":{"status":"deployed","last_deployed":"2026-11-02T14:05:00Z"},
            "chart":{"metadata":{"name":"web","version":"1.8.2","appVersion":"2.4.1"}},
            "config":{"password":"hunter2"}}"#;
        for gzip in [true, false] {
            let release = decode(&secret(json, gzip)).unwrap();
            assert_eq!(release.name, "web");
            assert_eq!(release.chart_version, "1.8.2");
            assert_eq!(release.app_version, "2.4.1");
            assert_eq!(release.status, "deployed");
            assert_eq!(release.revision, 2);
            assert!(!format!("{release:?}").contains("hunter2"));
        }
    }

    #[test]
    fn a_broken_release_secret_still_gets_a_row_that_says_why() {
        let mut broken = secret("{}", true);
        broken.data = Some([("release".to_owned(), ByteString(b"%%%".to_vec()))].into());
        let row = release_row(&broken);
        assert!(
            row.status
                .starts_with("unreadable: the release is not base64")
        );
    }
}
