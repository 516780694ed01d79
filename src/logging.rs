//! tracing to a file in the state directory, never to the screen.
//! `SITEDECK_LOG` sets the filter (default `info`).

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::config::Paths;

/// Starts logging to `sitedeck.log` in the state dir. A log that cannot be
/// opened is not a reason to fail: the error is returned for the caller to
/// show, and sitedeck runs without a log.
pub fn init(paths: &Paths) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let file = paths.log_file();
    // The log names hosts and users of a customer site: only its owner reads it.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.state_dir)
        .map_err(|e| format!("cannot create {}: {e}", paths.state_dir.display()))?;
    let writer = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&file)
        .map_err(|e| format!("cannot open the log {}: {e}", file.display()))?;
    let filter = EnvFilter::try_from_env("SITEDECK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(writer))
        .try_init()
        .map_err(|e| e.to_string())
}
