//! Headless commands never pass a profile's control characters to the
//! terminal, and exit with the documented codes.

use std::process::Command;

fn sitedeck(home: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sitedeck"));
    command
        .env("SITEDECK_CONFIG_DIR", home.join("config"))
        .env("SITEDECK_STATE_DIR", home.join("state"));
    command
}

const HOSTILE: &str = "name: \"evil\\e]0;pwned\\a\\e[2J\\u202e\"\nenvironment: poc\n";

fn assert_clean(output: &std::process::Output) {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\u{202e}'),
            "raw control characters reached the terminal: {text:?}"
        );
    }
}

#[test]
fn hostile_names_are_escaped_in_every_command() {
    let home = tempfile::tempdir().expect("temp dir");
    let sites = home.path().join("config/sites");
    std::fs::create_dir_all(&sites).expect("mkdir");
    let file = sites.join("evil.yaml");
    std::fs::write(&file, HOSTILE).expect("write");

    let check = sitedeck(home.path())
        .args(["profile", "check"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains("evil\\x1b]0;pwned\\x07"));
    assert_clean(&check);

    let status = sitedeck(home.path())
        .args(["status", "--site"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(status.status.success(), "no source, none down");
    assert_clean(&status);

    let sites = sitedeck(home.path()).arg("sites").output().expect("runs");
    assert!(sites.status.success());
    assert_clean(&sites);
}

#[test]
fn status_exit_codes() {
    let home = tempfile::tempdir().expect("temp dir");
    let missing = sitedeck(home.path())
        .args(["status", "--site", "nowhere"])
        .output()
        .expect("runs");
    assert_eq!(
        missing.status.code(),
        Some(2),
        "a site that cannot be loaded"
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no site `nowhere`"));

    let closed = sitedeck_lab::free_port().expect("port");
    let file = home.path().join("down.yaml");
    std::fs::write(
        &file,
        format!("name: d\nenvironment: poc\nmiddleware:\n  - name: gw\n    kind: tcp\n    endpoint: 127.0.0.1:{closed}\n"),
    )
    .expect("write");
    let down = sitedeck(home.path())
        .args(["status", "--site"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(down.status.code(), Some(1), "a source is down");
    assert!(String::from_utf8_lossy(&down.stdout).contains("refused"));
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let home = tempfile::tempdir().expect("temp dir");
    let mut child = sitedeck(home.path())
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("exits");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn profile_check_also_checks_the_release_manifest() {
    let home = tempfile::tempdir().expect("temp dir");
    let site = home.path().join("site.yaml");
    std::fs::write(&site, "name: x\nenvironment: poc\nrelease: release.yaml\n").expect("write");
    std::fs::write(
        home.path().join("release.yaml"),
        "name: acme\nversion: 1.0.0\ncomponents:\n  - name: a\n    kind: Deploymnt\n",
    )
    .expect("write");
    let output = sitedeck(home.path())
        .args(["profile", "check"])
        .arg(&site)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("release.yaml:5:11: unknown kind `Deploymnt` (did you mean `Deployment`?)"),
        "{stderr}"
    );
}
