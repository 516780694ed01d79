//! Helm release secrets, as Helm 3 stores them: one Secret per release
//! revision, `type: helm.sh/release.v1`, labelled `owner=helm`, whose
//! `release` key holds base64 of the gzipped release JSON (and the Secret's
//! data encoding adds the usual base64 on top).

use std::io::Write;

use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::resources::find_by_kind;
use super::store::ObjectStore;

/// A Helm release revision of the seed site.
#[derive(Debug, Clone, Copy)]
pub struct HelmRelease<'a> {
    /// The release name.
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// The chart's name.
    pub chart: &'a str,
    /// The chart's version.
    pub chart_version: &'a str,
    /// The app version the chart ships.
    pub app_version: &'a str,
    /// The revision number.
    pub revision: u32,
    /// `deployed`, `superseded`, `failed`…
    pub status: &'a str,
    /// When it was deployed (RFC 3339).
    pub deployed: &'a str,
}

/// The releases of the seed site: ingress-nginx, and the middleware chart
/// at revision 3 with its superseded revision 2.
pub const SEED_RELEASES: [HelmRelease<'static>; 3] = [
    HelmRelease {
        name: "ingress-nginx",
        namespace: "kube-system",
        chart: "ingress-nginx",
        chart_version: "4.11.3",
        app_version: "1.11.3",
        revision: 1,
        status: "deployed",
        deployed: "2026-10-12T08:30:00Z",
    },
    HelmRelease {
        name: "acme-middleware",
        namespace: "middleware",
        chart: "acme-middleware",
        chart_version: "1.7.0",
        app_version: "2.4.0",
        revision: 2,
        status: "superseded",
        deployed: "2026-10-10T09:00:00Z",
    },
    HelmRelease {
        name: "acme-middleware",
        namespace: "middleware",
        chart: "acme-middleware",
        chart_version: "1.8.2",
        app_version: "2.4.1",
        revision: 3,
        status: "deployed",
        deployed: "2026-11-02T14:05:00Z",
    },
];

impl HelmRelease<'_> {
    /// The release JSON Helm stores (the fields its readers use).
    pub fn release_json(&self) -> Value {
        json!({
            "name": self.name,
            "namespace": self.namespace,
            "version": self.revision,
            "info": {
                "first_deployed": self.deployed,
                "last_deployed": self.deployed,
                "deleted": "",
                "description": if self.revision == 1 { "Install complete" } else { "Upgrade complete" },
                "status": self.status,
            },
            "chart": {
                "metadata": {
                    "apiVersion": "v2",
                    "name": self.chart,
                    "version": self.chart_version,
                    "appVersion": self.app_version,
                    "type": "application",
                },
            },
            "config": {},
            "manifest": format!("---\n# Source: {}/templates/deployment.yaml\n", self.chart),
        })
    }

    /// The Secret that holds this revision.
    pub fn secret(&self) -> Result<Value> {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(self.release_json().to_string().as_bytes())?;
        let helm_encoded = STANDARD.encode(gzip.finish()?);
        Ok(json!({
            "metadata": {
                "name": format!("sh.helm.release.v1.{}.v{}", self.name, self.revision),
                "namespace": self.namespace,
                "labels": {
                    "name": self.name,
                    "owner": "helm",
                    "status": self.status,
                    "version": self.revision.to_string(),
                },
                "creationTimestamp": self.deployed,
            },
            "type": "helm.sh/release.v1",
            "data": {"release": STANDARD.encode(helm_encoded)},
        }))
    }
}

/// Stores the seed site's Helm release secrets.
pub fn seed_releases(store: &mut ObjectStore) -> Result<()> {
    let secrets = find_by_kind("v1", "Secret").context("no resource for Secret")?;
    for release in SEED_RELEASES {
        store
            .create(secrets, release.secret()?)
            .with_context(|| format!("cannot seed the Helm release {}", release.name))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_release_secret_decodes_back_to_its_json() {
        let release = SEED_RELEASES[2];
        let secret = release.secret().unwrap();
        let outer = secret["data"]["release"].as_str().unwrap();
        let helm_encoded = STANDARD.decode(outer).unwrap();
        let gzipped = STANDARD.decode(helm_encoded).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(gzipped.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        let decoded: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(decoded, release.release_json());
        assert_eq!(decoded["chart"]["metadata"]["version"], "1.8.2");
        assert_eq!(secret["metadata"]["labels"]["owner"], "helm");
    }
}
