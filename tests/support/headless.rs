//! The real binary run headlessly, as scripts run it.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// `sitedeck --site SITE ARGS…` with its config and state under `home`
/// (and `HOME` there: nothing of the machine's user is read). Returns the
/// exit code, stdout and stderr.
pub fn sitedeck(home: &Path, site: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sitedeck"))
        .arg("--site")
        .arg(site)
        .args(args)
        .env("SITEDECK_CONFIG_DIR", home.join("config"))
        .env("SITEDECK_STATE_DIR", home.join("state"))
        .env("HOME", home)
        .output()
        .expect("run sitedeck");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
