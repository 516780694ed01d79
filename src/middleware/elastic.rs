//! Elasticsearch and OpenSearch: cluster health (status, nodes, shards),
//! index count and size, and each data node's disk against the cluster's
//! watermarks.

use reqwest::StatusCode;
use serde::Deserialize;

use super::web::Web;
use super::{CheckContext, Health, Severity};
use crate::probe::{ProbeFailure, ProbeState};

/// `GET /`.
#[derive(Debug, Deserialize)]
pub struct Root {
    /// `version.number` and `version.distribution` (OpenSearch).
    pub version: RootVersion,
    /// The cluster's name.
    #[serde(default)]
    pub cluster_name: String,
}

/// The version block of `GET /`.
#[derive(Debug, Deserialize)]
pub struct RootVersion {
    /// `8.15.0`.
    pub number: String,
    /// `opensearch` on OpenSearch; absent on Elasticsearch.
    #[serde(default)]
    pub distribution: Option<String>,
}

/// `GET /_cluster/health`.
#[derive(Debug, Deserialize)]
pub struct ClusterHealth {
    /// `green`, `yellow` or `red`.
    pub status: String,
    /// Nodes in the cluster.
    pub number_of_nodes: u64,
    /// Data nodes.
    pub number_of_data_nodes: u64,
    /// Shards allocated.
    pub active_shards: u64,
    /// Shards being moved.
    pub relocating_shards: u64,
    /// Shards being recovered.
    pub initializing_shards: u64,
    /// Shards on no node.
    pub unassigned_shards: u64,
}

/// One row of `GET /_cat/indices?format=json&bytes=b`.
#[derive(Debug, Deserialize)]
pub struct IndexRow {
    /// Its size with replicas, in bytes (a string in `_cat` output).
    #[serde(rename = "store.size", default)]
    pub store_size: Option<String>,
}

/// One row of `GET /_cat/allocation?format=json&bytes=b`.
#[derive(Debug, Deserialize)]
pub struct AllocationRow {
    /// The node's name (`UNASSIGNED` for the unassigned shards' row).
    pub node: String,
    /// Disk used, in percent.
    #[serde(rename = "disk.percent", default)]
    pub disk_percent: Option<String>,
}

/// The disk watermarks, in percent used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watermarks {
    /// No new shards above it.
    pub low: f64,
    /// Shards move away above it.
    pub high: f64,
    /// Indices become read-only above it.
    pub flood: f64,
}

impl Default for Watermarks {
    /// Elasticsearch's defaults.
    fn default() -> Self {
        Self {
            low: 85.0,
            high: 90.0,
            flood: 95.0,
        }
    }
}

/// Reads the watermarks from `GET /_cluster/settings?include_defaults=true&flat_settings=true`:
/// the persistent, then transient, then default values; percentages only
/// (absolute byte watermarks keep the default).
pub fn watermarks(settings: &serde_json::Value) -> Watermarks {
    let read = |name: &str, default: f64| {
        ["transient", "persistent", "defaults"]
            .iter()
            .filter_map(|section| settings.get(section)?.get(name)?.as_str())
            .find_map(|value| value.trim().strip_suffix('%')?.parse::<f64>().ok())
            .unwrap_or(default)
    };
    let default = Watermarks::default();
    Watermarks {
        low: read("cluster.routing.allocation.disk.watermark.low", default.low),
        high: read(
            "cluster.routing.allocation.disk.watermark.high",
            default.high,
        ),
        flood: read(
            "cluster.routing.allocation.disk.watermark.flood_stage",
            default.flood,
        ),
    }
}

/// Everything the check asked the cluster.
#[derive(Debug)]
pub struct Answers {
    /// `GET /`.
    pub root: Root,
    /// `GET /_cluster/health`.
    pub health: ClusterHealth,
    /// `GET /_cat/indices`, if it answered.
    pub indices: Option<Vec<IndexRow>>,
    /// `GET /_cat/allocation`, if it answered.
    pub allocation: Option<Vec<AllocationRow>>,
    /// The disk watermarks.
    pub watermarks: Watermarks,
}

/// Turns the answers into figures and findings.
pub fn assess(answers: &Answers) -> Health {
    let product = match answers.root.version.distribution.as_deref() {
        Some("opensearch") => "OpenSearch",
        _ => "Elasticsearch",
    };
    let mut health = Health {
        version: Some(format!("{product} {}", answers.root.version.number)),
        ..Health::default()
    };
    let cluster = &answers.health;
    if !answers.root.cluster_name.is_empty() {
        health.figure("cluster", &answers.root.cluster_name);
    }
    health.key_figure("status", &cluster.status);
    health.key_figure(
        "nodes",
        format!(
            "{} ({} data)",
            cluster.number_of_nodes, cluster.number_of_data_nodes
        ),
    );
    health.figure("active shards", cluster.active_shards);
    health.key_figure("unassigned", cluster.unassigned_shards);
    health.figure("initializing", cluster.initializing_shards);
    health.figure("relocating", cluster.relocating_shards);
    match cluster.status.as_str() {
        "green" => {}
        "yellow" => health.finding(
            Severity::Warning,
            format!(
                "cluster yellow: replica shards unassigned: {}",
                cluster.unassigned_shards
            ),
            "a node is missing or its disk is above the low watermark: GET _cluster/allocation/explain says why",
        ),
        other => health.finding(
            Severity::Critical,
            format!(
                "cluster {other}: primary shards unassigned ({} shards in all)",
                cluster.unassigned_shards
            ),
            "some data cannot be searched or written: bring back the missing data nodes first; GET _cluster/allocation/explain names the shard",
        ),
    }
    if let Some(indices) = &answers.indices {
        let size: u64 = indices
            .iter()
            .filter_map(|i| i.store_size.as_deref()?.parse::<u64>().ok())
            .sum();
        health.key_figure("indices", indices.len());
        health.figure("size", super::bytes(size));
    }
    let w = answers.watermarks;
    health.figure(
        "watermarks",
        format!("low {}%, high {}%, flood {}%", w.low, w.high, w.flood),
    );
    for row in answers.allocation.iter().flatten() {
        let Some(percent) = row
            .disk_percent
            .as_deref()
            .and_then(|p| p.parse::<f64>().ok())
        else {
            continue;
        };
        health.figure(&format!("disk {}", row.node), format!("{percent}%"));
        if percent >= w.flood {
            health.finding(
                Severity::Critical,
                format!("node {} disk at {percent}%, above the flood stage ({}%)", row.node, w.flood),
                "its indices are read-only now: free disk (delete old indices, add disk), then clear index.blocks.read_only_allow_delete if the version does not do it by itself",
            );
        } else if percent >= w.high {
            health.finding(
                Severity::Warning,
                format!("node {} disk at {percent}%, above the high watermark ({}%)", row.node, w.high),
                "shards are being moved away and writes will stop at the flood stage: free disk or add capacity",
            );
        }
    }
    health
}

/// Asks the cluster and assesses its answers.
pub async fn check(ctx: &CheckContext<'_>) -> Result<Health, ProbeFailure> {
    let mut web = Web::new(ctx).await?;
    if let Some(user) = &ctx.spec.user {
        let password = ctx.password().await?;
        web.basic_auth(user, password.as_ref().map(|p| p.expose().to_owned()));
    }
    let user = ctx.spec.user.as_deref().unwrap_or("(none)");
    let root: Root = get_json(&web, "/", user).await?;
    let health: ClusterHealth = get_json(&web, "/_cluster/health", user).await?;
    let indices = get_json(&web, "/_cat/indices?format=json&bytes=b", user)
        .await
        .ok();
    let allocation = get_json(&web, "/_cat/allocation?format=json&bytes=b", user)
        .await
        .ok();
    let settings: Option<serde_json::Value> = get_json(
        &web,
        "/_cluster/settings?include_defaults=true&flat_settings=true",
        user,
    )
    .await
    .ok();
    let answers = Answers {
        root,
        health,
        indices,
        allocation,
        watermarks: settings.as_ref().map(watermarks).unwrap_or_default(),
    };
    Ok(assess(&answers))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    web: &Web,
    path: &str,
    user: &str,
) -> Result<T, ProbeFailure> {
    let (status, body) = web.get(path).await?;
    match status {
        StatusCode::UNAUTHORIZED => Err(ProbeFailure::auth(format!(
            "authentication failed for user {user}"
        ))),
        StatusCode::FORBIDDEN => Err(ProbeFailure::new(
            ProbeState::Error,
            format!("user {user} may not read {path}: grant it the monitor cluster privilege"),
        )),
        s if s.is_success() => serde_json::from_slice(&body).map_err(|e| {
            ProbeFailure::new(
                ProbeState::Error,
                format!(
                    "{}{path} did not answer as Elasticsearch does ({e}): {}",
                    web.target(),
                    super::web::excerpt(&body)
                ),
            )
        }),
        other => Err(ProbeFailure::new(
            ProbeState::Error,
            format!(
                "{}{path} answered {other}: {}",
                web.target(),
                super::web::excerpt(&body)
            ),
        )),
    }
}

/// Parses a fixture's body (for the tests).
#[cfg(test)]
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture does not parse: {e}"))
}

#[cfg(test)]
mod tests {
    //! Responses captured from Elasticsearch 7 and 8 and OpenSearch 2, as
    //! their reference documentation shows them (tests/fixtures/elasticsearch
    //! says which page each comes from). No Elasticsearch server can be
    //! installed here, so the parser is tested on those.

    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/elasticsearch/", $name))
        };
    }

    fn answers(root: &str, health: &str, allocation: &str, settings: &str) -> Answers {
        Answers {
            root: parse(root),
            health: parse(health),
            indices: Some(parse(fixture!("cat-indices-8.json"))),
            allocation: Some(parse(allocation)),
            watermarks: watermarks(&parse(settings)),
        }
    }

    #[test]
    fn green_8_is_up() {
        let health = assess(&answers(
            fixture!("root-8.json"),
            fixture!("health-green-8.json"),
            fixture!("cat-allocation-8.json"),
            fixture!("settings-defaults-8.json"),
        ));
        assert_eq!(health.state(), ProbeState::Up, "{health:?}");
        assert_eq!(health.version.as_deref(), Some("Elasticsearch 8.15.0"));
        assert_eq!(health.value("status"), Some("green"));
        assert_eq!(health.value("indices"), Some("3"));
        assert_eq!(
            health.value("watermarks"),
            Some("low 85%, high 90%, flood 95%")
        );
    }

    #[test]
    fn yellow_7_with_unassigned_replicas_is_degraded() {
        let health = assess(&answers(
            fixture!("root-7.json"),
            fixture!("health-yellow-7.json"),
            fixture!("cat-allocation-8.json"),
            fixture!("settings-defaults-8.json"),
        ));
        assert_eq!(health.state(), ProbeState::Degraded);
        assert_eq!(health.version.as_deref(), Some("Elasticsearch 7.17.0"));
        assert_eq!(
            health.findings[0].message,
            "cluster yellow: replica shards unassigned: 1"
        );
    }

    #[test]
    fn red_is_critical() {
        let health = assess(&answers(
            fixture!("root-8.json"),
            fixture!("health-red-8.json"),
            fixture!("cat-allocation-8.json"),
            fixture!("settings-defaults-8.json"),
        ));
        assert_eq!(health.findings[0].severity, Severity::Critical);
        assert!(health.findings[0].message.starts_with("cluster red"));
    }

    #[test]
    fn a_disk_above_the_set_watermarks_is_found() {
        let health = assess(&answers(
            fixture!("root-opensearch-2.json"),
            fixture!("health-green-8.json"),
            fixture!("cat-allocation-full.json"),
            fixture!("settings-persistent.json"),
        ));
        assert_eq!(health.version.as_deref(), Some("OpenSearch 2.11.0"));
        let messages: Vec<&str> = health.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "node node-1 disk at 93%, above the high watermark (92%)",
                "node node-2 disk at 97%, above the flood stage (96%)",
            ]
        );
    }
}
