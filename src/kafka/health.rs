//! A Kafka snapshot as a [`Health`]: the figures Overview and `status`
//! show, and findings for what an operator must act on.

use crate::middleware::{Health, Severity};

use super::KafkaSnapshot;

/// The cluster's figures and findings: offline partitions are critical,
/// under-replicated ones and unreadable parts warnings.
pub fn health(snapshot: &KafkaSnapshot) -> Health {
    let mut health = Health::default();
    let topics: Vec<_> = snapshot
        .topics
        .iter()
        .filter(|t| !t.is_internal())
        .collect();
    let partitions: usize = topics.iter().map(|t| t.partitions.len()).sum();
    let under: usize = topics.iter().map(|t| t.under_replicated()).sum();
    let offline: usize = topics.iter().map(|t| t.offline()).sum();
    let lag: i64 = snapshot.groups.iter().map(super::Group::total_lag).sum();
    health.key_figure("brokers", snapshot.brokers.len());
    health.key_figure("topics", topics.len());
    health.figure("partitions", partitions);
    health.key_figure("groups", snapshot.groups.len());
    health.key_figure("lag", lag);
    health.figure("under-replicated", under);
    health.figure("offline", offline);
    health.figure("path", &snapshot.path);
    if offline > 0 {
        health.finding(
            Severity::Critical,
            format!("{offline} partition(s) have no leader"),
            "producers and consumers of those partitions are stuck: check the brokers that held them",
        );
    }
    if under > 0 {
        health.finding(
            Severity::Warning,
            format!("{under} partition(s) are under-replicated"),
            "a broker is down or slow: check broker health and disk before another one fails",
        );
    }
    if snapshot.brokers.is_empty() {
        health.finding(
            Severity::Critical,
            "the metadata lists no broker",
            "check the bootstrap servers and the brokers' advertised listeners",
        );
    }
    let failed: Vec<&super::Group> = snapshot
        .groups
        .iter()
        .filter(|g| g.error.is_some())
        .collect();
    if let Some(first) = failed.first() {
        health.finding(
            Severity::Warning,
            format!(
                "the lag of {} group(s) is unknown ({}: {})",
                failed.len(),
                first.name,
                first.error.as_deref().unwrap_or_default()
            ),
            "an authorisation error: the user needs Describe on the groups; anything else: check the group coordinator broker",
        );
    }
    for note in &snapshot.notes {
        health.finding(
            Severity::Warning,
            note.clone(),
            "a broker that leads partitions cannot be reached from here: check it, and the brokers' advertised listeners",
        );
    }
    health.finish()
}
