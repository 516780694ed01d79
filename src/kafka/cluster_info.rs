//! The cluster's controller, cluster id and each broker's rack: librdkafka's
//! DescribeCluster admin call (Kafka 2.8 and later), which rdkafka 0.39
//! does not wrap. The metadata rdkafka exposes has neither.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::bindings as rd;

use super::admin::{AdminCall, array, event_error, text};
use super::handle::KafkaHandle;

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

/// Asks the cluster to describe itself, within `timeout`; [`answer`]
/// reads the reply.
pub(super) fn ask(consumer: &KafkaHandle, timeout: Duration) -> AdminCall {
    let mut call = AdminCall::new(
        consumer,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
        timeout,
    );
    let options = call.options(0);
    // SAFETY: the client, options and queue are live for the call.
    unsafe { rd::rd_kafka_DescribeCluster(call.rk, options, call.queue) };
    call
}

/// The reply to [`ask`], waiting for it until the call's timeout.
pub(super) fn answer(call: &AdminCall) -> Result<ClusterInfo, String> {
    // SAFETY: `receive_one` hands over a live DescribeCluster event.
    call.receive_one(|event| unsafe { read(event) })
}

/// # Safety
/// `event` must be a live DescribeCluster result event.
unsafe fn read(event: *mut rd::rd_kafka_event_t) -> Result<ClusterInfo, String> {
    // SAFETY: as the function's contract says; the result's strings and
    // nodes belong to the event.
    unsafe {
        if let Some(error) = event_error(event) {
            return Err(error);
        }
        let result = rd::rd_kafka_event_DescribeCluster_result(event);
        if result.is_null() {
            return Err("not a DescribeCluster result".into());
        }
        let controller = rd::rd_kafka_DescribeCluster_result_controller(result);
        let mut count = 0usize;
        let nodes = array(
            rd::rd_kafka_DescribeCluster_result_nodes(result, &mut count),
            count,
        );
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
