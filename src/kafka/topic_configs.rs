//! Each topic's retention, from librdkafka's DescribeConfigs admin call
//! (one request for every topic), which rdkafka 0.39 wraps only as an
//! async admin client of its own. A broker that describes no configs (the
//! lab's nisshi) leaves retention unknown.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::client::LogKeeper;

/// `retention.ms` and `retention.bytes` of each topic that has them.
pub(super) fn retention(
    consumer: &BaseConsumer<LogKeeper>,
    topics: &[&str],
    timeout: Duration,
) -> Result<HashMap<String, String>, String> {
    if topics.is_empty() {
        return Ok(HashMap::new());
    }
    let rk = consumer.client().native_ptr();
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let names: Vec<CString> = topics
        .iter()
        .filter_map(|t| CString::new(*t).ok())
        .collect();
    // SAFETY: resources, options, queue and event come from librdkafka and
    // are destroyed once, after their last use; the names outlive the
    // call that copies them; results are read before the event goes.
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
        let queue = rd::rd_kafka_queue_new(rk);
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
        );
        let mut error = [0 as c_char; 256];
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options,
            millis,
            error.as_mut_ptr(),
            error.len(),
        );
        rd::rd_kafka_DescribeConfigs(rk, resources.as_mut_ptr(), resources.len(), options, queue);
        rd::rd_kafka_ConfigResource_destroy_array(resources.as_mut_ptr(), resources.len());
        let event = rd::rd_kafka_queue_poll(queue, millis.saturating_add(1000));
        let found = if event.is_null() {
            Err(format!("no answer within {:.1} s", timeout.as_secs_f64()))
        } else {
            let found = read(event);
            rd::rd_kafka_event_destroy(event);
            found
        };
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_queue_destroy(queue);
        found
    }
}

/// # Safety
/// `event` must be a live DescribeConfigs result event.
unsafe fn read(event: *mut rd::rd_kafka_event_t) -> Result<HashMap<String, String>, String> {
    let text = |pointer: *const c_char| {
        // SAFETY: librdkafka's strings are NUL-terminated and live as long
        // as the event.
        (!pointer.is_null()).then(|| {
            unsafe { CStr::from_ptr(pointer) }
                .to_string_lossy()
                .into_owned()
        })
    };
    // SAFETY: as the function's contract says.
    unsafe {
        if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(text(rd::rd_kafka_event_error_string(event)).unwrap_or_default());
        }
        let result = rd::rd_kafka_event_DescribeConfigs_result(event);
        let mut count = 0usize;
        let resources = rd::rd_kafka_DescribeConfigs_result_resources(result, &mut count);
        let resources = if resources.is_null() || count == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(resources, count)
        };
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
            let entries = rd::rd_kafka_ConfigResource_configs(resource, &mut entries_count);
            let entries = if entries.is_null() || entries_count == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(entries, entries_count)
            };
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
