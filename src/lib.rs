//! sitedeck: a terminal operations cockpit for SREs who deliver and run a
//! product on customers' own Kubernetes clusters.
//!
//! The domain modules (`config`, `probe`) know nothing of the terminal; the
//! TUI (`app`, `ui`) and the headless CLI (`cli`) are two clients of them.

pub mod app;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod kafka;
pub mod logging;
pub mod logs;
pub mod middleware;
pub mod nodes;
pub mod probe;
pub mod store;
pub mod terminal;
pub mod text;
pub mod ui;
