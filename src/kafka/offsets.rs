//! Every consumer group's committed offsets, asked for at once over one
//! client: librdkafka's ListConsumerGroupOffsets admin call (which rdkafka
//! 0.39 does not wrap) without a partition list, so each broker answers
//! with only the partitions the group committed to. Asking with every
//! partition of the cluster instead (`committed()` needs a list, and a
//! client per group) was broker-bound: 50 groups on 3000 partitions took
//! about 10 s on the lab's broker.

use std::collections::HashMap;
use std::ffi::CString;
use std::time::Duration;

use rdkafka::bindings as rd;

use super::admin::{AdminCall, array, event_error, event_opaque, text};
use super::handle::KafkaHandle;

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
    consumer: &KafkaHandle,
    groups: &[String],
    timeout: Duration,
) -> Vec<GroupOffsets> {
    let mut answers: HashMap<usize, GroupOffsets> = HashMap::new();
    let mut call = AdminCall::new(
        consumer,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
        timeout,
    );
    let mut sent = 0;
    for (index, group) in groups.iter().enumerate() {
        let Ok(name) = CString::new(group.as_str()) else {
            answers.insert(index, Err("the group id holds a NUL byte".into()));
            continue;
        };
        // The event names its request by this index.
        let options = call.options(index);
        // SAFETY: the request is made and destroyed here (the call copies
        // it); the name outlives the call.
        unsafe {
            let mut request =
                rd::rd_kafka_ListConsumerGroupOffsets_new(name.as_ptr(), std::ptr::null());
            rd::rd_kafka_ListConsumerGroupOffsets(call.rk, &mut request, 1, options, call.queue);
            rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
        }
        sent += 1;
    }
    // SAFETY: `receive` hands over live ListConsumerGroupOffsets events.
    call.receive(sent, |event| unsafe {
        answers.insert(event_opaque(event), read_event(event));
    });
    (0..groups.len())
        .map(|index| {
            answers
                .remove(&index)
                .unwrap_or_else(|| Err(call.no_answer()))
        })
        .collect()
}

/// One ListConsumerGroupOffsets result.
///
/// # Safety
/// `event` must be a live event from a ListConsumerGroupOffsets request.
unsafe fn read_event(event: *mut rd::rd_kafka_event_t) -> GroupOffsets {
    // SAFETY: as the function's contract says; every pointer read below
    // belongs to the event.
    unsafe {
        if let Some(error) = event_error(event) {
            return Err(error);
        }
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event);
        let mut count = 0usize;
        let groups = array(
            rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count),
            count,
        );
        let Some(&group) = groups.first() else {
            return Err("the broker answered with no group".into());
        };
        let error = rd::rd_kafka_group_result_error(group);
        if !error.is_null() {
            return Err(text(rd::rd_kafka_error_string(error)).unwrap_or_default());
        }
        let list = rd::rd_kafka_group_result_partitions(group);
        if list.is_null() {
            return Ok(Vec::new());
        }
        let list = &*list;
        let elements = array(list.elems, usize::try_from(list.cnt).unwrap_or(0));
        Ok(elements
            .iter()
            .filter(|e| {
                e.err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0
            })
            .map(|e| Committed {
                topic: text(e.topic).unwrap_or_default(),
                partition: e.partition,
                offset: e.offset,
            })
            .collect())
    }
}
