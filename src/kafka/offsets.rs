//! Every consumer group's committed offsets, asked for at once over one
//! client: librdkafka's ListConsumerGroupOffsets admin call (which rdkafka
//! 0.39 does not wrap) without a partition list, so each broker answers
//! with only the partitions the group committed to. Asking with every
//! partition of the cluster instead (`committed()` needs a list, and a
//! client per group) was broker-bound: 50 groups on 3000 partitions took
//! about 10 s on the lab's broker.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_void};
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::client::LogKeeper;

/// A committed offset.
pub(super) struct Committed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One group's committed offsets, or why they could not be read.
pub(super) type GroupOffsets = Result<Vec<Committed>, String>;

/// The committed offsets of each of `groups` (same order), each request
/// bounded by `timeout`.
pub(super) fn committed_offsets(
    consumer: &BaseConsumer<LogKeeper>,
    groups: &[String],
    timeout: Duration,
) -> Vec<GroupOffsets> {
    let mut answers: HashMap<usize, GroupOffsets> = HashMap::new();
    let rk = consumer.client().native_ptr();
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: every pointer passed to librdkafka comes from librdkafka (or
    // from a CString alive for the call) and is destroyed once, after its
    // last use; results are read only before their event is destroyed.
    unsafe {
        let queue = rd::rd_kafka_queue_new(rk);
        let mut options = Vec::new();
        let mut sent = 0;
        for (index, group) in groups.iter().enumerate() {
            let Ok(name) = CString::new(group.as_str()) else {
                answers.insert(index, Err("the group id holds a NUL byte".into()));
                continue;
            };
            let option = rd::rd_kafka_AdminOptions_new(
                rk,
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            );
            let mut error = [0 as std::ffi::c_char; 256];
            rd::rd_kafka_AdminOptions_set_request_timeout(
                option,
                millis,
                error.as_mut_ptr(),
                error.len(),
            );
            // The event names its request by this index.
            rd::rd_kafka_AdminOptions_set_opaque(option, index as *mut c_void);
            let mut request =
                rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), std::ptr::null());
            rd::rd_kafka_ListConsumerGroupOffsets(rk, &mut request, 1, option, queue);
            rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
            options.push(option);
            sent += 1;
        }
        let deadline = Instant::now() + timeout + Duration::from_secs(1);
        while sent > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let wait = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            let event = rd::rd_kafka_queue_poll(queue, wait);
            if event.is_null() {
                continue;
            }
            sent -= 1;
            let index = rd::rd_kafka_event_opaque(event) as usize;
            answers.insert(index, read_event(event));
            rd::rd_kafka_event_destroy(event);
        }
        for option in options {
            rd::rd_kafka_AdminOptions_destroy(option);
        }
        rd::rd_kafka_queue_destroy(queue);
    }
    (0..groups.len())
        .map(|index| {
            answers
                .remove(&index)
                .unwrap_or_else(|| Err(format!("no answer within {:.1} s", timeout.as_secs_f64())))
        })
        .collect()
}

/// One ListConsumerGroupOffsets result.
///
/// # Safety
/// `event` must be a live event from a ListConsumerGroupOffsets request.
unsafe fn read_event(event: *mut rd::rd_kafka_event_t) -> GroupOffsets {
    let text = |pointer: *const std::ffi::c_char| {
        if pointer.is_null() {
            String::new()
        } else {
            // SAFETY: librdkafka's strings are NUL-terminated and live as
            // long as the event.
            unsafe { CStr::from_ptr(pointer) }
                .to_string_lossy()
                .into_owned()
        }
    };
    // SAFETY: as the function's contract says; every pointer read below
    // belongs to the event.
    unsafe {
        if rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(text(rd::rd_kafka_event_error_string(event)));
        }
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event);
        let mut count = 0usize;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
        let Some(&group) = (!groups.is_null() && count > 0)
            .then(|| std::slice::from_raw_parts(groups, count))
            .and_then(|g| g.first())
        else {
            return Err("the broker answered with no group".into());
        };
        let error = rd::rd_kafka_group_result_error(group);
        if !error.is_null() {
            return Err(text(rd::rd_kafka_error_string(error)));
        }
        let list = rd::rd_kafka_group_result_partitions(group);
        if list.is_null() {
            return Ok(Vec::new());
        }
        let list = &*list;
        let elements = match usize::try_from(list.cnt) {
            Ok(n) if n > 0 && !list.elems.is_null() => std::slice::from_raw_parts(list.elems, n),
            _ => &[],
        };
        Ok(elements
            .iter()
            .filter(|e| {
                e.err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0
            })
            .map(|e| Committed {
                topic: text(e.topic),
                partition: e.partition,
                offset: e.offset,
            })
            .collect())
    }
}
