//! The cluster's controller, cluster id and each broker's rack: librdkafka's
//! DescribeCluster admin call (Kafka 2.8 and later), which rdkafka 0.39
//! does not wrap. The metadata rdkafka exposes has neither.

use std::collections::HashMap;
use std::ffi::{CStr, c_char};
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};

use super::client::LogKeeper;

/// What DescribeCluster says.
#[derive(Debug, Default)]
pub(super) struct ClusterInfo {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller's broker id.
    pub controller: Option<i32>,
    /// Each broker's rack, where it has one.
    pub racks: HashMap<i32, String>,
}

/// Asks the cluster to describe itself, within `timeout`.
pub(super) fn describe(
    consumer: &BaseConsumer<LogKeeper>,
    timeout: Duration,
) -> Result<ClusterInfo, String> {
    let rk = consumer.client().native_ptr();
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the queue, options and event come from librdkafka and are
    // destroyed once, after their last use; the result's strings and
    // nodes are read before the event is destroyed.
    unsafe {
        let queue = rd::rd_kafka_queue_new(rk);
        let options = rd::rd_kafka_AdminOptions_new(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
        );
        let mut error = [0 as c_char; 256];
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options,
            millis,
            error.as_mut_ptr(),
            error.len(),
        );
        rd::rd_kafka_DescribeCluster(rk, options, queue);
        let event = rd::rd_kafka_queue_poll(queue, millis.saturating_add(1000));
        let info = if event.is_null() {
            Err(format!("no answer within {:.1} s", timeout.as_secs_f64()))
        } else {
            let info = read(event);
            rd::rd_kafka_event_destroy(event);
            info
        };
        rd::rd_kafka_AdminOptions_destroy(options);
        rd::rd_kafka_queue_destroy(queue);
        info
    }
}

/// # Safety
/// `event` must be a live DescribeCluster result event.
unsafe fn read(event: *mut rd::rd_kafka_event_t) -> Result<ClusterInfo, String> {
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
        let result = rd::rd_kafka_event_DescribeCluster_result(event);
        if result.is_null() {
            return Err("not a DescribeCluster result".into());
        }
        let controller = rd::rd_kafka_DescribeCluster_result_controller(result);
        let mut count = 0usize;
        let nodes = rd::rd_kafka_DescribeCluster_result_nodes(result, &mut count);
        let nodes = if nodes.is_null() || count == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(nodes, count)
        };
        let racks = nodes
            .iter()
            .filter(|node| !node.is_null())
            .filter_map(|&node| {
                let rack = text(rd::rd_kafka_Node_rack(node)).filter(|r| !r.is_empty())?;
                Some((rd::rd_kafka_Node_id(node), rack))
            })
            .collect();
        Ok(ClusterInfo {
            cluster_id: text(rd::rd_kafka_DescribeCluster_result_cluster_id(result)),
            controller: (!controller.is_null()).then(|| rd::rd_kafka_Node_id(controller)),
            racks,
        })
    }
}
