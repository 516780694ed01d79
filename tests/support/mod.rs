//! Helpers shared by the integration tests.

pub mod headless;
pub mod journal;
pub mod pty;
pub mod ssh;
