//! End to end: the real `sitedeck` binary in a pseudo-terminal, against the
//! lab's real MariaDB and Redis.
//!
//! Each test starts its own lab (from the test's own thread: the servers die
//! with the thread that started them) and its own temp directory for
//! sitedeck's config and state, so nothing touches `$HOME`. Every handle
//! stops what it started on drop, so a failing test leaves nothing behind.

mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sitedeck_lab::Lab;
use support::pty::{Tui, dump, keys, last_row, row, sitedeck};

/// Generous: the debug binary on a busy two-core machine.
const T: Duration = Duration::from_secs(30);

fn start_lab(home: &Path) -> Lab {
    Lab::start(&home.join("lab")).expect("cannot start the lab (MariaDB + Redis)")
}

fn site_args(lab: &Lab) -> [std::ffi::OsString; 2] {
    ["--site".into(), lab.site_file().into_os_string()]
}

/// The STATE column of the Overview row of `name`, if it is on screen.
fn source_state(screen: &vt100::Screen, name: &str) -> Option<String> {
    screen.rows(0, screen.size().1.get()).find_map(|row| {
        let cells: Vec<&str> = row
            .trim_matches(|c: char| c == '│' || c.is_whitespace())
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        (cells.first() == Some(&name) && cells.len() >= 4).then(|| cells[3].to_owned())
    })
}

/// Overview after the first probe round: both lab sources up, none down,
/// no probe in flight.
fn lab_probed(screen: &vt100::Screen) -> bool {
    let text = screen.contents();
    text.contains("checked ")
        && text.contains(" 0 down ")
        && !text.contains("probing")
        && source_state(screen, "cluster").as_deref() == Some("up")
        && source_state(screen, "mariadb").as_deref() == Some("up")
        && source_state(screen, "redis").as_deref() == Some("up")
}

fn wait_lab_probed(tui: &Tui) -> vt100::Screen {
    tui.wait_until("both lab sources up and 0 down", T, lab_probed)
}

/// The terminal is back to normal: main screen, cursor shown.
fn assert_restored(tui: &Tui, how: &str) {
    let screen = tui.screen();
    assert!(
        !screen.alternate_screen(),
        "{how}: still in the alternate screen\n{}",
        dump(&screen)
    );
    assert!(
        !screen.hide_cursor(),
        "{how}: the cursor is still hidden\n{}",
        dump(&screen)
    );
}

#[test]
fn help_palette_theme_then_quit_restores_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let lab = start_lab(home.path());
    let mut tui = Tui::start(home.path(), site_args(&lab), 100, 30);
    let screen = wait_lab_probed(&tui);
    assert!(
        screen.alternate_screen(),
        "the cockpit runs in the alternate screen"
    );
    assert!(screen.hide_cursor(), "the cockpit hides the cursor");
    assert_eq!(
        tui.cursor_queries(),
        0,
        "sitedeck must not ask the terminal for its cursor: over a slow link that stalls start-up"
    );

    tui.send("?");
    tui.wait_for("Keys · keymap default", T);
    tui.send(keys::ESC);
    tui.wait_gone("Keys · keymap default", T);

    tui.send(":");
    tui.wait_for(" Command ", T);
    tui.send("theme mono");
    tui.wait_for(": theme mono", T);
    tui.send(keys::ENTER);
    let screen = tui.wait_until("`theme mono` in the status bar", T, |s| {
        last_row(s).trim_start().starts_with("theme mono")
    });
    assert!(
        !screen.contents().contains(" Command "),
        "the palette closed after enter\n{}",
        dump(&screen)
    );

    // Probes finished long ago: `q` quits at once, no confirmation.
    tui.send("q");
    let status = tui.wait_exit(T);
    assert!(
        status.success(),
        "`q` exits with status 0, got {status:?}\n{}",
        dump(&tui.screen())
    );
    assert_restored(&tui, "after q");
}

fn signal_restores_the_terminal(lab: &Lab, home: &Path, signal: libc::c_int, name: &str) {
    let mut tui = Tui::start(home, site_args(lab), 100, 30);
    wait_lab_probed(&tui);
    // A popup open when the signal arrives changes nothing.
    tui.send("?");
    tui.wait_for("Keys · keymap default", T);
    tui.signal(signal);
    let status = tui.wait_exit(T);
    assert!(
        status.signal().is_none(),
        "{name}: sitedeck handles the signal and exits by itself, but it died of it: {status:?}"
    );
    assert!(
        status.success(),
        "{name}: exit status {status:?}\n{}",
        dump(&tui.screen())
    );
    assert_restored(&tui, name);
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let lab = start_lab(home.path());
    signal_restores_the_terminal(&lab, home.path(), libc::SIGTERM, "SIGTERM");
    signal_restores_the_terminal(&lab, home.path(), libc::SIGHUP, "SIGHUP");
}

#[test]
fn a_broken_profile_shows_its_errors_and_the_app_runs_on() {
    let home = tempfile::tempdir().unwrap();
    let profile = home.path().join("broken.yaml");
    std::fs::write(
        &profile,
        "name: broken\n\
         environment: prod\n\
         middleware:\n\
         \x20 - name: db\n\
         \x20   kind: mysqll\n\
         \x20   endpoint: 127.0.0.1:3306\n",
    )
    .unwrap();
    let mut tui = Tui::start(
        home.path(),
        [OsStr::new("--site"), profile.as_os_str()],
        160,
        40,
    );
    let screen = tui.wait_for("Profile errors", T);
    let sites_row = screen
        .lines()
        .find(|l| l.contains("broken") && l.contains("invalid"))
        .unwrap_or_else(|| panic!("no `invalid` row for the broken profile\n{screen}"));
    assert!(sites_row.contains("invalid: "), "{sites_row}");
    // The error pane names the file, the line and the column.
    let place = "broken.yaml:5:11: unknown value `mysqll`";
    let pane = screen
        .split_once("Profile errors")
        .map(|(_, after)| after)
        .unwrap_or_default();
    assert!(
        pane.contains(place),
        "the Profile errors pane shows `{place}`\n{}",
        dump(&tui.screen())
    );
    let status = last_row(&tui.screen());
    assert!(
        status.contains("cannot open") && status.contains("broken"),
        "the status bar says the site cannot be opened: {status:?}"
    );

    // The cockpit still answers.
    tui.send("?");
    tui.wait_for("Keys · keymap default", T);
    tui.send(keys::ESC);
    tui.wait_gone("Keys · keymap default", T);
    let status = tui.quit(T);
    assert!(status.success(), "{status:?}");
    assert_restored(&tui, "after q with a broken profile");
}

#[test]
fn overview_renders_at_80x24_and_160x48() {
    let home = tempfile::tempdir().unwrap();
    let lab = start_lab(home.path());
    for (cols, rows) in [(80u16, 24u16), (160, 48)] {
        let mut tui = Tui::start(home.path(), site_args(&lab), cols, rows);
        let screen = wait_lab_probed(&tui);
        let size = format!("{cols}x{rows}");
        let header = row(&screen, 0);
        for word in ["sitedeck", "lab", "POC"] {
            assert!(
                header.contains(word),
                "{size}: the header shows {word:?}\n{}",
                dump(&screen)
            );
        }
        assert!(
            row(&screen, 1).contains("Overview"),
            "{size}: the tab bar\n{}",
            dump(&screen)
        );
        assert!(
            screen.contents().contains("Sources"),
            "{size}: the sources table\n{}",
            dump(&screen)
        );
        assert!(
            last_row(&screen).contains("quit"),
            "{size}: the status bar's hints\n{}",
            dump(&screen)
        );
        assert!(tui.running(), "{size}: sitedeck is still running");
        let status = tui.quit(T);
        assert!(status.success(), "{size}: {status:?}");
        assert_restored(&tui, &size);
    }
}

fn status_command(home: &Path, lab: &Lab, format: &str) -> (i32, String, String) {
    let output = Command::new(sitedeck())
        .arg("status")
        .arg("--site")
        .arg(lab.site_file())
        .args(["--format", format])
        .current_dir(home)
        .env("SITEDECK_CONFIG_DIR", home.join("config"))
        .env("SITEDECK_STATE_DIR", home.join("state"))
        .env("HOME", home)
        .env_remove("NO_COLOR")
        .output()
        .expect("cannot run sitedeck status");
    (
        output.status.code().expect("status exits with a code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `(name, state)` of each source from `status --format json`, and the
/// down count, after checking the document's shape.
fn json_states(stdout: &str) -> (Vec<(String, String)>, u64) {
    let json: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("status --format json is not JSON ({e}):\n{stdout}"));
    assert_eq!(json["site"], "lab", "{json:#}");
    let sources = json["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("no sources array: {json:#}"));
    let states = sources
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let down = json["down"]
        .as_u64()
        .unwrap_or_else(|| panic!("no down count: {json:#}"));
    (states, down)
}

fn as_strs(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect()
}

/// The STATE column of `name` in `status --format table`.
fn table_state(stdout: &str, name: &str) -> Option<String> {
    let header = stdout.lines().find(|l| l.starts_with("NAME"))?;
    let start = header.find("STATE")?;
    let end = header.find("LATENCY")?;
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.get(start..end.min(l.len())))
        .map(|s| s.trim().to_owned())
}

/// `status` in both formats: the exit code and each source's state.
fn assert_status(home: &Path, lab: &Lab, code: i32, redis: &str) {
    let (exit, stdout, stderr) = status_command(home, lab, "json");
    assert_eq!(exit, code, "json: exit {code}\n{stdout}\n{stderr}");
    let (states, down) = json_states(&stdout);
    // Through the forward, the kubelet's refusal (or, when it comes late
    // on a busy machine, the closed forward: an error).
    let redis_in_cluster = states
        .iter()
        .find(|(name, _)| name == "redis-in-cluster")
        .map(|(_, state)| state.clone())
        .unwrap_or_default();
    if redis != "up" {
        assert!(
            ["refused", "error"].contains(&redis_in_cluster.as_str()),
            "{stdout}"
        );
    }
    let redis_in_cluster = if redis == "up" {
        "up".to_owned()
    } else {
        redis_in_cluster
    };
    // With the primary gone, its replica's link is down: degraded.
    let replica = if redis == "up" { "up" } else { "degraded" };
    assert_eq!(
        as_strs(&states),
        [
            ("cluster", "up"),
            ("mariadb", "up"),
            ("mariadb-replica", "up"),
            ("redis", redis),
            ("redis-replica", replica),
            ("postgresql", "up"),
            ("s3", "up"),
            ("kube-api-ready", "up"),
            ("postgresql-port", "up"),
            ("mariadb-in-cluster", "up"),
            ("redis-in-cluster", redis_in_cluster.as_str()),
            ("events", "up"),
            ("events-in-cluster", "up"),
        ],
        "{stdout}"
    );
    assert_eq!(down, 2 * u64::from(redis != "up"));

    let (exit, stdout, stderr) = status_command(home, lab, "table");
    assert_eq!(exit, code, "table: exit {code}\n{stdout}\n{stderr}");
    assert_eq!(
        table_state(&stdout, "mariadb").as_deref(),
        Some("up"),
        "{stdout}"
    );
    assert_eq!(
        table_state(&stdout, "redis").as_deref(),
        Some(redis),
        "{stdout}"
    );
    assert_eq!(
        table_state(&stdout, "cluster").as_deref(),
        Some("up"),
        "the simulator's API answers: {stdout}"
    );
    let summary = format!("{} of 13 source(s) down", down);
    assert!(stdout.contains(&summary), "{stdout}");
}

#[test]
fn status_command_reports_the_lab_and_a_stopped_redis() {
    let home = tempfile::tempdir().unwrap();
    let mut lab = start_lab(home.path());
    // Every source is up, but the lab runs notification-worker at the
    // wrong version: drift makes `status` exit 1, like a lint.
    assert_status(home.path(), &lab, 1, "up");
    lab.redis.stop();
    assert_status(home.path(), &lab, 1, "refused");
}

#[test]
fn status_command_reports_the_cluster_versions_and_drift() {
    let home = tempfile::tempdir().unwrap();
    let lab = start_lab(home.path());
    let (exit, stdout, stderr) = status_command(home.path(), &lab, "json");
    assert_eq!(exit, 1, "drift exits 1\n{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let cluster = &json["cluster"];
    assert_eq!(cluster["reachable"], true, "{cluster:#}");
    assert!(
        cluster["version"]
            .as_str()
            .unwrap_or_default()
            .starts_with("v1."),
        "{cluster:#}"
    );
    assert_eq!(cluster["release"]["version"], "2.4.1", "{cluster:#}");
    assert!(
        cluster["feeds"]
            .as_object()
            .expect("feeds")
            .values()
            .all(|f| f == "live"),
        "{cluster:#}"
    );
    assert!(
        cluster["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .all(|p| p["allowed"] == true),
        "{cluster:#}"
    );
    let workloads = cluster["workloads"].as_array().expect("workloads");
    let drift = |name: &str| {
        workloads
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| (w["drift"].clone(), w["expected"].clone()))
            .unwrap_or_else(|| panic!("no workload {name}: {cluster:#}"))
    };
    let (worker, expected) = drift("notification-worker");
    assert_eq!(worker, "older");
    assert_eq!(
        expected,
        "registry.acme.example/platform/notification-worker:2.4.1"
    );
    assert_eq!(drift("order-service").0, "ok");
    assert_eq!(drift("coredns").0, "untracked");
    let helm = cluster["helm"].as_array().expect("helm");
    let chart = helm
        .iter()
        .find(|h| h["name"] == "acme-middleware")
        .unwrap_or_else(|| panic!("no acme-middleware: {cluster:#}"));
    assert_eq!(
        (&chart["version"], &chart["drift"]),
        (&"1.8.2".into(), &"ok".into())
    );
    assert_eq!(cluster["summary"]["helm_releases"], 2, "{cluster:#}");
    assert_eq!(cluster["summary"]["drifted"], 1, "{cluster:#}");
    assert_eq!(cluster["summary"]["missing"], 0, "{cluster:#}");

    let (exit, stdout, _) = status_command(home.path(), &lab, "table");
    assert_eq!(exit, 1);
    let line = stdout
        .lines()
        .find(|l| l.contains("notification-worker"))
        .unwrap_or_else(|| panic!("no drift line:\n{stdout}"));
    assert!(line.contains("2.4.0") && line.contains("older"), "{line}");
}

#[test]
fn versions_shows_the_drift_of_the_lab_and_filters_to_it() {
    let home = tempfile::tempdir().unwrap();
    let lab = start_lab(home.path());
    let mut tui = Tui::start(home.path(), site_args(&lab), 100, 30);
    // Opening the site shows Overview: wait for it before leaving it.
    tui.wait_for("Site lab", T);
    tui.send("gv");
    tui.wait_until("Versions listed", T, |screen| {
        let text = screen.contents();
        text.contains("notification-worker")
            && text.contains("Versions 12")
            && !text.contains("loading")
    });
    tui.send("/");
    tui.send("notif");
    let screen = tui.wait_for("Versions 1 of 12", T);
    assert!(screen.contains("older"), "{screen}");
    assert!(screen.contains("2.4.0"), "{screen}");
    tui.send(keys::ENTER);
    // The detail line says what the release wants.
    let screen = tui.wait_for("notification-worker:2.4.1", T);
    assert!(screen.contains("acme-platform 2.4.1 wants"), "{screen}");
    // Enter again: the workload's pods.
    tui.send(keys::ENTER);
    let screen = tui.wait_for("Pods 1 · Deployment acme-prod/notification-worker", T);
    assert!(screen.contains("Running"), "{screen}");
    tui.quit(T);
}

/// Kills the child when dropped, so a failing test leaves no sitedeck
/// behind.
struct KillOnDrop(Box<dyn portable_pty::Child + Send + Sync>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `program args` in a pty, waits for sitedeck's first frame, closes
/// every master handle and expects sitedeck to end, without a panic.
fn ends_when_the_terminal_vanishes(program: &std::path::Path, args: &[&std::ffi::OsStr]) {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    use std::io::Read;

    let home = tempfile::tempdir().unwrap();
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pty");
    let mut command = CommandBuilder::new(program);
    command.args(args);
    command.env("SITEDECK_CONFIG_DIR", home.path().join("config"));
    command.env("SITEDECK_STATE_DIR", home.path().join("state"));
    command.env("TERM", "xterm-256color");
    let mut child = KillOnDrop(pair.slave.spawn_command(command).expect("starts"));
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let writer = pair.master.take_writer().expect("writer");
    // Read until the first frame is there, then close every master handle.
    let seen = std::thread::spawn(move || {
        let mut screen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&screen).contains("sitedeck") {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => screen.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&screen).contains("sitedeck")
    })
    .join()
    .expect("reader thread");
    assert!(seen, "the first frame came");
    drop(writer);
    drop(pair.master);

    let deadline = std::time::Instant::now() + T;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sitedeck outlived its terminal"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(home.path().join("state/sitedeck.log")).unwrap_or_default();
    assert!(!log.contains("panic"), "the log shows a panic:\n{log}");
    assert_ne!(status.exit_code(), 101, "a panic exit: {status:?}\n{log}");
}

/// The SSH session drops: the terminal itself goes away (all of its master
/// side closes), not just a signal. sitedeck must exit cleanly, without a
/// panic in its log. This once left sitedeck spinning for ever, now and
/// then: crossterm's reader, on the event loop's thread, loops on a read
/// that returns 0 once the terminal is gone, so SIGHUP was never handled.
#[test]
fn a_vanished_terminal_ends_sitedeck_without_a_panic() {
    ends_when_the_terminal_vanishes(&sitedeck(), &[]);
}

/// The same without the SIGHUP (sitedeck in a session of its own, so the
/// pty is not its controlling terminal): it notices the hangup itself.
#[test]
fn a_vanished_terminal_ends_sitedeck_even_without_sighup() {
    let program = sitedeck();
    ends_when_the_terminal_vanishes(
        Path::new("/usr/bin/setsid"),
        &[OsStr::new("--wait"), program.as_os_str()],
    );
}
