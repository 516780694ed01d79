//! Each topic's retention, from librdkafka's DescribeConfigs admin call
//! (one request for every topic), which rdkafka 0.39 wraps only as an
//! async admin client of its own. A broker that describes no configs (the
//! lab's nisshi) leaves retention unknown.

use std::collections::HashMap;
use std::ffi::CString;
use std::time::Duration;

use rdkafka::bindings as rd;

use super::admin::{AdminCall, array, event_error, text};
use super::handle::KafkaHandle;

/// Asks for the configs of `topics`, within `timeout`; [`retention`] reads
/// the reply. `None` without topics.
pub(super) fn ask(consumer: &KafkaHandle, topics: &[&str], timeout: Duration) -> Option<AdminCall> {
    if topics.is_empty() {
        return None;
    }
    let names: Vec<CString> = topics
        .iter()
        .filter_map(|t| CString::new(*t).ok())
        .collect();
    let mut call = AdminCall::new(
        consumer,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
        timeout,
    );
    let options = call.options(0);
    // SAFETY: the resources are made and destroyed here (the call copies
    // them); the names outlive the call.
    unsafe {
        let mut resources: Vec<*mut rd::rd_kafka_ConfigResource_t> = names
            .iter()
            .map(|name| {
                rd::rd_kafka_ConfigResource_new(
                    rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                    name.as_ptr(),
                )
            })
            .collect();
        rd::rd_kafka_DescribeConfigs(
            call.rk,
            resources.as_mut_ptr(),
            resources.len(),
            options,
            call.queue,
        );
        rd::rd_kafka_ConfigResource_destroy_array(resources.as_mut_ptr(), resources.len());
    }
    Some(call)
}

/// `retention.ms` and `retention.bytes` of each topic that has them, from
/// the reply to [`ask`] (waiting for it until the call's timeout).
pub(super) fn retention(call: Option<&AdminCall>) -> Result<HashMap<String, String>, String> {
    let Some(call) = call else {
        return Ok(HashMap::new());
    };
    // SAFETY: `receive_one` hands over a live DescribeConfigs event.
    call.receive_one(|event| unsafe { read(event) })
}

/// # Safety
/// `event` must be a live DescribeConfigs result event.
unsafe fn read(event: *mut rd::rd_kafka_event_t) -> Result<HashMap<String, String>, String> {
    // SAFETY: as the function's contract says; the resources, entries and
    // strings belong to the event.
    unsafe {
        if let Some(error) = event_error(event) {
            return Err(error);
        }
        let result = rd::rd_kafka_event_DescribeConfigs_result(event);
        let mut count = 0usize;
        let resources = array(
            rd::rd_kafka_DescribeConfigs_result_resources(result, &mut count),
            count,
        );
        let mut found = HashMap::new();
        for &resource in resources {
            if rd::rd_kafka_ConfigResource_error(resource)
                != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            {
                continue;
            }
            let Some(topic) = text(rd::rd_kafka_ConfigResource_name(resource)) else {
                continue;
            };
            let mut entries_count = 0usize;
            let entries = array(
                rd::rd_kafka_ConfigResource_configs(resource, &mut entries_count),
                entries_count,
            );
            let value = |key: &str| {
                entries.iter().find_map(|&entry| {
                    (text(rd::rd_kafka_ConfigEntry_name(entry)).as_deref() == Some(key))
                        .then(|| text(rd::rd_kafka_ConfigEntry_value(entry)))
                        .flatten()
                })
            };
            if let Some(shown) = describe(
                value("retention.ms").as_deref(),
                value("retention.bytes").as_deref(),
            ) {
                found.insert(topic, shown);
            }
        }
        Ok(found)
    }
}

/// Retention as an operator reads it: `7d`, `12h`, `forever`, with a size
/// cap when there is one (`7d or 1.0 GiB`); `None` when neither is known.
pub(super) fn describe(ms: Option<&str>, bytes: Option<&str>) -> Option<String> {
    let time = ms.and_then(|v| v.parse::<i64>().ok()).map(|ms| match ms {
        ..0 => "forever".to_owned(),
        ms if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms => format!("{ms}ms"),
    });
    let size = bytes
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|b| *b >= 0)
        .map(|b| crate::middleware::bytes(b as u64));
    match (time, size) {
        (Some(time), Some(size)) => Some(format!("{time} or {size}")),
        (Some(time), None) => Some(time),
        (None, Some(size)) => Some(size),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn retention_reads_as_an_operator_says_it() {
        // Apache Kafka's defaults, as DescribeConfigs returns them.
        assert_eq!(
            describe(Some("604800000"), Some("-1")).as_deref(),
            Some("7d")
        );
        assert_eq!(describe(Some("-1"), None).as_deref(), Some("forever"));
        assert_eq!(describe(Some("43200000"), None).as_deref(), Some("12h"));
        assert_eq!(describe(Some("90000"), None).as_deref(), Some("90000ms"));
        assert_eq!(
            describe(Some("86400000"), Some("1073741824")).as_deref(),
            Some("1d or 1.0 GiB")
        );
        assert_eq!(describe(None, None), None);
        assert_eq!(describe(Some("nonsense"), None), None);
    }
}
