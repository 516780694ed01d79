//! The one librdkafka client a look or a peek uses, made over rdkafka's
//! `Client` rather than its `BaseConsumer`: only a client made from a
//! native configuration can carry librdkafka's address resolution
//! callback, which sends each broker address to its port-forward. The few
//! consumer calls a `BaseConsumer` would make (offsets for times, assign,
//! poll) are made here over the C API, as the admin calls already are.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::bindings as rd;
use rdkafka::client::Client;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::groups::GroupList;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaType;

use super::client::LogKeeper;

unsafe extern "C" {
    // In the bundled librdkafka (2.2 and later); rdkafka-sys 4.10 does not
    // declare it.
    fn rd_kafka_conf_set_resolve_cb(
        conf: *mut rd::rd_kafka_conf_t,
        resolve_cb: Option<
            unsafe extern "C" fn(
                node: *const c_char,
                service: *const c_char,
                hints: *const libc::addrinfo,
                res: *mut *mut libc::addrinfo,
                opaque: *mut c_void,
            ) -> c_int,
        >,
    );
}

/// A consumer-type librdkafka client that never subscribes and never
/// commits. Its events (logs, errors) are handed to its [`LogKeeper`] by
/// [`Self::serve_events`].
pub(super) struct KafkaHandle {
    client: Client<LogKeeper>,
}

/// A message read by [`KafkaHandle::next_message`], destroyed when dropped
/// (before its client: it borrows the handle).
pub(super) struct RawMessage<'a>(
    *mut rd::rd_kafka_message_t,
    std::marker::PhantomData<&'a KafkaHandle>,
);

impl KafkaHandle {
    /// Makes the client; when `keeper` has routes, every address librdkafka
    /// resolves goes through them.
    pub fn new(config: &ClientConfig, keeper: LogKeeper) -> KafkaResult<Self> {
        let native = config.create_native_config()?;
        // SAFETY: the configuration is live until `Client::new` hands it
        // to librdkafka; the callback's opaque is the context, which the
        // client keeps alive until librdkafka's threads are gone.
        unsafe {
            rd::rd_kafka_conf_set_events(native.ptr(), rd::RD_KAFKA_EVENT_ERROR);
            if keeper.routes.is_some() {
                rd_kafka_conf_set_resolve_cb(native.ptr(), Some(resolve));
            }
        }
        let client = Client::new(config, native, RDKafkaType::RD_KAFKA_CONSUMER, keeper)?;
        Ok(Self { client })
    }

    /// The context: what librdkafka said, and the routes.
    pub fn context(&self) -> &LogKeeper {
        self.client.context()
    }

    /// The librdkafka handle, for the admin calls.
    pub fn native_ptr(&self) -> *mut rd::rd_kafka_t {
        self.client.native_ptr()
    }

    /// The cluster's metadata, every topic.
    pub fn fetch_metadata(&self, timeout: Duration) -> KafkaResult<Metadata> {
        self.client.fetch_metadata(None, timeout)
    }

    /// The low and high watermark of one partition.
    pub fn fetch_watermarks(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> KafkaResult<(i64, i64)> {
        self.client.fetch_watermarks(topic, partition, timeout)
    }

    /// The consumer groups the brokers know.
    pub fn fetch_group_list(&self, timeout: Duration) -> KafkaResult<GroupList> {
        self.client.fetch_group_list(None, timeout)
    }

    /// Replaces each entry's offset (a time in milliseconds, or −1 for the
    /// end and −2 for the start) by the offset the brokers found for it.
    pub fn offsets_for_times(
        &self,
        list: &mut TopicPartitionList,
        timeout: Duration,
    ) -> KafkaResult<()> {
        // SAFETY: the handle and the list are live for the call.
        let code = unsafe {
            rd::rd_kafka_offsets_for_times(self.native_ptr(), list.ptr(), millis(timeout))
        };
        check(code, KafkaError::OffsetFetch)
    }

    /// Assigns the partitions at their offsets, without joining a group.
    pub fn assign(&self, list: &TopicPartitionList) -> KafkaResult<()> {
        // SAFETY: the handle and the list are live for the call.
        let code = unsafe { rd::rd_kafka_assign(self.native_ptr(), list.ptr()) };
        check(code, |code| KafkaError::Subscription(code.to_string()))
    }

    /// Hands what waits in the main queue (logs, errors) to the context.
    pub fn serve_events(&self) {
        // SAFETY: the queue reference is released below; each event is
        // destroyed once, after it is read.
        unsafe {
            let queue = rd::rd_kafka_queue_get_main(self.native_ptr());
            loop {
                let event = rd::rd_kafka_queue_poll(queue, 0);
                if event.is_null() {
                    break;
                }
                match rd::rd_kafka_event_type(event) {
                    rd::RD_KAFKA_EVENT_LOG => {
                        let mut facility = std::ptr::null();
                        let mut text = std::ptr::null();
                        let mut level: c_int = 0;
                        rd::rd_kafka_event_log(event, &mut facility, &mut text, &mut level);
                        if !text.is_null() {
                            let text = CStr::from_ptr(text).to_string_lossy();
                            rdkafka::ClientContext::log(
                                self.context(),
                                log_level(level),
                                "",
                                &text,
                            );
                        }
                    }
                    rd::RD_KAFKA_EVENT_ERROR => {
                        let code = RDKafkaErrorCode::from(rd::rd_kafka_event_error(event));
                        let reason = rd::rd_kafka_event_error_string(event);
                        let reason = if reason.is_null() {
                            String::new()
                        } else {
                            CStr::from_ptr(reason).to_string_lossy().into_owned()
                        };
                        self.context().keep(format!("{code}: {reason}"));
                    }
                    _ => {}
                }
                rd::rd_kafka_event_destroy(event);
            }
            rd::rd_kafka_queue_destroy(queue);
        }
    }

    /// The next message of the assigned partitions, waiting up to `wait`;
    /// `None` when none came.
    pub fn next_message(&self, wait: Duration) -> Option<RawMessage<'_>> {
        // SAFETY: a returned message is owned by the `RawMessage`.
        let message = unsafe { rd::rd_kafka_consumer_poll(self.native_ptr(), millis(wait)) };
        (!message.is_null()).then_some(RawMessage(message, std::marker::PhantomData))
    }
}

impl RawMessage<'_> {
    fn get(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: non-null and live until dropped.
        unsafe { &*self.0 }
    }

    /// The message's error: a failed fetch, or the end of the partition.
    pub fn error(&self) -> Option<RDKafkaErrorCode> {
        let code = self.get().err;
        (code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then(|| RDKafkaErrorCode::from(code))
    }

    /// What a failed message says (its payload holds the error text).
    pub fn error_text(&self) -> String {
        let said = self
            .payload()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        match self.error() {
            Some(code) if said.is_empty() => code.to_string(),
            Some(code) => format!("{code}: {said}"),
            None => said.into_owned(),
        }
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.get().partition
    }

    /// The offset.
    pub fn offset(&self) -> i64 {
        self.get().offset
    }

    /// The message time in milliseconds since the epoch, if it has one.
    pub fn timestamp(&self) -> Option<i64> {
        let mut kind = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: the message is live.
        let millis = unsafe { rd::rd_kafka_message_timestamp(self.0, &mut kind) };
        (kind != rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE && millis >= 0)
            .then_some(millis)
    }

    /// The value.
    pub fn payload(&self) -> Option<&[u8]> {
        let m = self.get();
        // SAFETY: librdkafka keeps `len` bytes at `payload` while the
        // message lives.
        (!m.payload.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(m.payload.cast::<u8>(), m.len) })
    }

    /// The key.
    pub fn key(&self) -> Option<&[u8]> {
        let m = self.get();
        // SAFETY: as for the payload.
        (!m.key.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(m.key.cast::<u8>(), m.key_len) })
    }

    /// Header names and values (`None`: a header without a value).
    pub fn headers(&self) -> Vec<(String, Option<&[u8]>)> {
        let mut headers = std::ptr::null_mut();
        // SAFETY: the headers belong to the message and are read while it
        // lives.
        unsafe {
            if rd::rd_kafka_message_headers(self.0, &mut headers)
                != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
            {
                return Vec::new();
            }
            let mut found = Vec::new();
            for index in 0.. {
                let mut name = std::ptr::null();
                let mut value = std::ptr::null();
                let mut size = 0usize;
                if rd::rd_kafka_header_get_all(headers, index, &mut name, &mut value, &mut size)
                    != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                {
                    break;
                }
                let name = CStr::from_ptr(name).to_string_lossy().into_owned();
                let value = (!value.is_null())
                    .then(|| std::slice::from_raw_parts(value.cast::<u8>(), size));
                found.push((name, value));
            }
            found
        }
    }
}

impl Drop for RawMessage<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, destroyed once.
        unsafe { rd::rd_kafka_message_destroy(self.0) }
    }
}

fn check(
    code: rd::rd_kafka_resp_err_t,
    error: fn(RDKafkaErrorCode) -> KafkaError,
) -> KafkaResult<()> {
    if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(error(code.into()))
    }
}

/// A duration as librdkafka's milliseconds.
pub(super) fn millis(duration: Duration) -> c_int {
    c_int::try_from(duration.as_millis()).unwrap_or(c_int::MAX)
}

fn log_level(level: c_int) -> RDKafkaLogLevel {
    match level {
        0 => RDKafkaLogLevel::Emerg,
        1 => RDKafkaLogLevel::Alert,
        2 => RDKafkaLogLevel::Critical,
        3 => RDKafkaLogLevel::Error,
        4 => RDKafkaLogLevel::Warning,
        5 => RDKafkaLogLevel::Notice,
        6 => RDKafkaLogLevel::Info,
        _ => RDKafkaLogLevel::Debug,
    }
}

/// librdkafka's address resolution: each broker address is looked up in
/// the context's routes and resolved to its forward's loopback address.
/// Called on librdkafka's threads; with all three of `node`, `service`
/// and `hints` null it frees what an earlier call returned.
unsafe extern "C" fn resolve(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    res: *mut *mut libc::addrinfo,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY (whole function): librdkafka passes C strings or null, a
    // valid `res`, and the opaque `Client::new` set: the live context.
    unsafe {
        if node.is_null() && service.is_null() && hints.is_null() {
            if !res.is_null() && !(*res).is_null() {
                libc::freeaddrinfo(*res);
                *res = std::ptr::null_mut();
            }
            return 0;
        }
        if node.is_null() || opaque.is_null() {
            return libc::getaddrinfo(node, service, hints, res);
        }
        let keeper = &*(opaque as *const LogKeeper);
        let host = CStr::from_ptr(node).to_string_lossy().into_owned();
        let port = (!service.is_null())
            .then(|| {
                CStr::from_ptr(service)
                    .to_string_lossy()
                    .parse::<u16>()
                    .ok()
            })
            .flatten();
        let (Some(routes), Some(port)) = (keeper.routes.as_ref(), port) else {
            return libc::getaddrinfo(node, service, hints, res);
        };
        // A panic must not cross into C.
        let local = std::panic::catch_unwind(AssertUnwindSafe(|| routes.local(&host, port)))
            .unwrap_or_else(|_| Err("the forward's lookup failed".into()));
        match local {
            Ok(address) => {
                let (Ok(ip), Ok(port)) = (
                    CString::new(address.ip().to_string()),
                    CString::new(address.port().to_string()),
                ) else {
                    return libc::EAI_FAIL;
                };
                libc::getaddrinfo(ip.as_ptr(), port.as_ptr(), hints, res)
            }
            Err(why) => {
                keeper.keep(format!("cannot forward to broker {host}:{port}: {why}"));
                libc::EAI_NONAME
            }
        }
    }
}
