//! One look at a cluster: metadata, watermarks (two batched ListOffsets
//! per leader, not one call per partition), the consumer groups, and every
//! group's committed offsets asked for at once.

use std::collections::HashMap;

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::client::{KafkaError, Settings};
use super::handle::KafkaHandle;
use super::{Broker, Group, GroupOffset, KafkaSnapshot, Partition, Topic};

/// Reads the whole snapshot. Fails only when the metadata cannot be read;
/// what fails later is noted and the rest kept.
pub(super) fn snapshot(settings: &Settings) -> Result<KafkaSnapshot, KafkaError> {
    let consumer = settings.consumer(None)?;
    let metadata = settings.metadata(&consumer)?;
    let mut brokers: Vec<Broker> = metadata
        .brokers()
        .iter()
        .map(|b| Broker {
            id: b.id(),
            host: b.host().to_owned(),
            port: b.port(),
            rack: None,
            controller: false,
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    // Controller and racks are extras, asked for now and read after the
    // rest: an unanswered request costs its timeout once, not on top.
    let asked_cluster = super::cluster_info::ask(&consumer, settings.timeout);
    let mut topics: Vec<Topic> = metadata
        .topics()
        .iter()
        .map(|t| {
            let mut partitions: Vec<Partition> = t
                .partitions()
                .iter()
                .map(|p| Partition {
                    id: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                    low: None,
                    high: None,
                    error: p.error().map(|e| RDKafkaErrorCode::from(e).to_string()),
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            Topic {
                name: t.name().to_owned(),
                partitions,
                error: t.error().map(|e| RDKafkaErrorCode::from(e).to_string()),
                retention: None,
            }
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    // Retention is an extra too.
    let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
    let asked_configs = super::topic_configs::ask(&consumer, &names, settings.timeout);
    let mut notes = Vec::new();
    read_watermarks(&consumer, settings, &mut topics, &mut notes);
    let groups = read_groups(&consumer, settings, &topics, &mut notes);
    // An older broker that cannot say leaves the extras out, without a
    // finding; so does one that describes no configs (nisshi).
    let cluster = super::cluster_info::answer(&asked_cluster).unwrap_or_else(|e| {
        tracing::debug!("DescribeCluster: {e}");
        super::cluster_info::ClusterInfo::default()
    });
    for broker in &mut brokers {
        broker.rack = cluster.racks.get(&broker.id).cloned();
        broker.controller = cluster.controller == Some(broker.id);
    }
    match super::topic_configs::retention(asked_configs.as_ref()) {
        Ok(mut retention) => {
            for topic in &mut topics {
                topic.retention = retention.remove(&topic.name);
            }
        }
        Err(e) => tracing::debug!("DescribeConfigs: {e}"),
    }
    Ok(KafkaSnapshot {
        brokers,
        topics,
        groups,
        path: settings.path(),
        cluster_id: cluster.cluster_id,
        notes,
    })
}

/// Every partition of every topic at `offset`.
fn partition_list(topics: &[Topic], offset: Offset) -> TopicPartitionList {
    let mut list =
        TopicPartitionList::with_capacity(topics.iter().map(|t| t.partitions.len()).sum());
    for topic in topics {
        for partition in &topic.partitions {
            // Only fails for an offset librdkafka cannot represent.
            let _ = list.add_partition_offset(&topic.name, partition.id, offset);
        }
    }
    list
}

/// Fills in low and high watermarks: ListOffsets for the earliest and the
/// latest offset (timestamps −2 and −1), batched by librdkafka per leader.
fn read_watermarks(
    consumer: &KafkaHandle,
    settings: &Settings,
    topics: &mut [Topic],
    notes: &mut Vec<String>,
) {
    if topics.iter().all(|t| t.partitions.is_empty()) {
        return;
    }
    for (offset, high) in [(Offset::End, true), (Offset::Beginning, false)] {
        let mut found = partition_list(topics, offset);
        if let Err(e) = consumer.offsets_for_times(&mut found, settings.timeout) {
            let which = if high { "end" } else { "start" };
            notes.push(format!(
                "partition {which} offsets could not be read: {}",
                settings.explain(&e, consumer)
            ));
            continue;
        }
        let mut by_partition: HashMap<(String, i32), i64> = HashMap::new();
        for element in found.elements() {
            if let (Offset::Offset(n), Ok(())) = (element.offset(), element.error()) {
                by_partition.insert((element.topic().to_owned(), element.partition()), n);
            }
        }
        for topic in topics.iter_mut() {
            for partition in &mut topic.partitions {
                let value = by_partition
                    .get(&(topic.name.clone(), partition.id))
                    .copied();
                if high {
                    partition.high = value;
                } else {
                    partition.low = value;
                }
            }
        }
    }
}

/// Lists the consumer groups and reads each one's committed offsets.
fn read_groups(
    consumer: &KafkaHandle,
    settings: &Settings,
    topics: &[Topic],
    notes: &mut Vec<String>,
) -> Vec<Group> {
    let list = match consumer.fetch_group_list(settings.timeout) {
        Ok(list) => list,
        Err(e) => {
            notes.push(format!(
                "consumer groups could not be listed: {}",
                settings.explain(&e, consumer)
            ));
            return Vec::new();
        }
    };
    let mut groups: Vec<Group> = list
        .groups()
        .iter()
        .filter(|g| matches!(g.protocol_type(), "consumer" | ""))
        .map(|g| Group {
            name: g.name().to_owned(),
            state: g.state().to_owned(),
            protocol_type: g.protocol_type().to_owned(),
            assignor: g.protocol().to_owned(),
            members: g.members().len(),
            offsets: Vec::new(),
            error: None,
        })
        .collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let ends: HashMap<(&str, i32), i64> = topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter_map(move |p| Some(((t.name.as_str(), p.id), p.high?)))
        })
        .collect();
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let found = super::offsets::committed_offsets(consumer, &names, settings.timeout);
    for (group, result) in groups.iter_mut().zip(found) {
        match result.and_then(|committed| with_lag(committed, &ends)) {
            Ok(offsets) => group.offsets = offsets,
            Err(e) => group.error = Some(e),
        }
    }
    groups
}

/// A group's committed offsets with the lag of each: the partition's end
/// minus the committed offset.
fn with_lag(
    committed: Vec<super::offsets::Committed>,
    ends: &HashMap<(&str, i32), i64>,
) -> Result<Vec<GroupOffset>, String> {
    let mut offsets = Vec::with_capacity(committed.len());
    for c in committed {
        // An unknown end is an unknown lag, never a lag of 0.
        let Some(end) = ends.get(&(c.topic.as_str(), c.partition)).copied() else {
            return Err(format!(
                "lag unknown: the end offset of {}/{} could not be read",
                c.topic, c.partition
            ));
        };
        offsets.push(GroupOffset {
            lag: (end - c.offset).max(0),
            topic: c.topic,
            partition: c.partition,
            committed: c.offset,
            end,
        });
    }
    offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(offsets)
}
