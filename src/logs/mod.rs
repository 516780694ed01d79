//! Pod logs: lines taken apart ([`parse`]), merged by time in a bounded
//! buffer, and followed across stream ends without repeats or gaps
//! ([`buffer`]). A node's systemd journal, read over SSH, comes as the
//! same lines ([`journal`]).

pub mod buffer;
pub mod journal;
pub mod parse;
pub mod print;
pub mod stream;
