//! Pod logs: lines taken apart ([`parse`]), merged by time in a bounded
//! buffer, and followed across stream ends without repeats or gaps
//! ([`buffer`]).

pub mod buffer;
pub mod parse;
pub mod print;
pub mod stream;
