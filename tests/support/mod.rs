//! Helpers shared by the integration tests.

pub mod headless;
pub mod pty;
pub mod ssh;
