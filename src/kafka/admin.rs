//! The plumbing of librdkafka's admin calls that rdkafka 0.39 does not
//! wrap (DescribeCluster, DescribeConfigs, ListConsumerGroupOffsets), made
//! over the snapshot's own client: options with a timeout, a reply queue,
//! waiting for the result event, and reading its strings and arrays.

use std::ffi::{CStr, c_char, c_void};
use std::time::{Duration, Instant};

use super::handle::{KafkaHandle, millis};
use rdkafka::bindings as rd;

/// One admin request: the client, a reply queue, and options with the
/// timeout. Dropping it destroys the options and the queue (librdkafka
/// keeps what a request in flight needs).
pub(super) struct AdminCall {
    /// The client the request goes out on.
    pub rk: *mut rd::rd_kafka_t,
    /// Where the result events arrive.
    pub queue: *mut rd::rd_kafka_queue_t,
    options: Vec<*mut rd::rd_kafka_AdminOptions_t>,
    op: rd::rd_kafka_admin_op_t,
    timeout: Duration,
    /// When the call was prepared: its answers are awaited until a second
    /// past the timeout from then, so a call can be sent, other work done
    /// meanwhile, and its answer read after.
    started: Instant,
}

impl AdminCall {
    /// Prepares calls of `op` on `handle`'s client, each bounded by
    /// `timeout`.
    pub fn new(handle: &KafkaHandle, op: rd::rd_kafka_admin_op_t, timeout: Duration) -> Self {
        let rk = handle.native_ptr();
        // SAFETY: `rk` is the live client's handle.
        let queue = unsafe { rd::rd_kafka_queue_new(rk) };
        Self {
            rk,
            queue,
            options: Vec::new(),
            op,
            timeout,
            started: Instant::now(),
        }
    }

    /// Options for one request, with the timeout, and `opaque` to tell its
    /// result event apart (see [`event_opaque`]).
    pub fn options(&mut self, opaque: usize) -> *mut rd::rd_kafka_AdminOptions_t {
        let millis = millis(self.timeout);
        // SAFETY: `rk` is live; the options are destroyed on drop.
        unsafe {
            let options = rd::rd_kafka_AdminOptions_new(self.rk, self.op);
            let mut error = [0 as c_char; 256];
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options,
                millis,
                error.as_mut_ptr(),
                error.len(),
            );
            rd::rd_kafka_AdminOptions_set_opaque(options, opaque as *mut c_void);
            self.options.push(options);
            options
        }
    }

    /// Waits for up to `count` result events (until a second past the
    /// timeout from when the call was prepared), handing each to `read`
    /// before destroying it.
    pub fn receive(&self, count: usize, mut read: impl FnMut(*mut rd::rd_kafka_event_t)) {
        let deadline = self.started + self.timeout + Duration::from_secs(1);
        let mut left = count;
        while left > 0 {
            let wait = deadline.saturating_duration_since(Instant::now());
            // SAFETY: the queue is live; the event is destroyed once, after
            // `read` is done with it.
            unsafe {
                // Polled even past the deadline: an answer that arrived
                // while other work went on is waiting there.
                let event = rd::rd_kafka_queue_poll(self.queue, millis(wait));
                if event.is_null() {
                    if wait.is_zero() {
                        break;
                    }
                    continue;
                }
                left -= 1;
                read(event);
                rd::rd_kafka_event_destroy(event);
            }
        }
    }

    /// The one result of a single request, read by `read`.
    pub fn receive_one<T>(
        &self,
        read: impl FnOnce(*mut rd::rd_kafka_event_t) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut read = Some(read);
        let mut result = None;
        self.receive(1, |event| {
            result = read.take().map(|read| read(event));
        });
        result.unwrap_or_else(|| Err(self.no_answer()))
    }

    /// What to say when a request got no answer in time.
    pub fn no_answer(&self) -> String {
        format!("no answer within {:.1} s", self.timeout.as_secs_f64())
    }
}

impl Drop for AdminCall {
    fn drop(&mut self) {
        // SAFETY: each was made by librdkafka and is destroyed once.
        unsafe {
            for options in self.options.drain(..) {
                rd::rd_kafka_AdminOptions_destroy(options);
            }
            rd::rd_kafka_queue_destroy(self.queue);
        }
    }
}

/// The opaque the event's request was given in [`AdminCall::options`].
///
/// # Safety
/// `event` must be a live event.
pub(super) unsafe fn event_opaque(event: *mut rd::rd_kafka_event_t) -> usize {
    // SAFETY: as the function's contract says.
    unsafe { rd::rd_kafka_event_opaque(event) as usize }
}

/// The event's own error, if it failed as a whole.
///
/// # Safety
/// `event` must be a live event.
pub(super) unsafe fn event_error(event: *mut rd::rd_kafka_event_t) -> Option<String> {
    // SAFETY: as the function's contract says.
    unsafe {
        (rd::rd_kafka_event_error(event) != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then(|| text(rd::rd_kafka_event_error_string(event)).unwrap_or_default())
    }
}

/// A librdkafka string, lossily; `None` for a null pointer.
///
/// # Safety
/// `pointer` must be null or a NUL-terminated string that lives as long as
/// the call.
pub(super) unsafe fn text(pointer: *const c_char) -> Option<String> {
    // SAFETY: as the function's contract says.
    (!pointer.is_null()).then(|| {
        unsafe { CStr::from_ptr(pointer) }
            .to_string_lossy()
            .into_owned()
    })
}

/// A librdkafka array of `count` elements; empty for a null pointer.
///
/// # Safety
/// `pointer` must be null or point to `count` elements that live for `'a`.
pub(super) unsafe fn array<'a, T>(pointer: *const T, count: usize) -> &'a [T] {
    if pointer.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: as the function's contract says.
        unsafe { std::slice::from_raw_parts(pointer, count) }
    }
}
