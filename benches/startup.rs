//! Startup and idle harness: the release binary in a pseudo-terminal.
//!
//! Not a criterion timing of a function: this starts the real `sitedeck`
//! the way an operator does and measures what they feel and what the host
//! pays.
//!
//! 1. process start to first frame: from spawn until the screen shows the
//!    whole first frame (the header's ` sitedeck ` and the status bar), with
//!    no profile (no `--site`, so no network), over 20 runs after one
//!    warm-up run: min / median / p95;
//! 2. idle: after the first frame has settled, 10 s with no input: bytes
//!    written to the terminal (goal 0) and CPU used by the process from
//!    `/proc/PID/stat` utime+stime (goal < 0.5 % of one core) — without a
//!    site, and with a lab site (real MariaDB and Redis, probes every 15 s)
//!    after the first probe round finished.
//!
//! The header clock redraws once a minute, on the minute: a window that
//! would cross a minute boundary is moved (and the output says so).
//!
//! Run with `cargo bench --bench startup`.

#[path = "../tests/support/pty.rs"]
mod pty;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pty::{Tui, dump, last_row, row};

const RUNS: usize = 20;
const IDLE: Duration = Duration::from_secs(10);
const COLS: u16 = 120;
const ROWS: u16 = 40;
/// Quiet time that counts as "the first frame has settled".
const SETTLE: Duration = Duration::from_millis(200);
const T: Duration = Duration::from_secs(30);

fn main() {
    let bin = release_binary();
    println!("sitedeck startup/idle harness");
    println!("  binary   {}", bin.display());
    println!("  machine  {} CPU(s), {}", nproc(), cpu_model());
    println!("  load     {}", load_average());
    println!(
        "  date     {}",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S %Z")
    );
    println!("  terminal {COLS}x{ROWS} pseudo-terminal, TERM=xterm-256color, vt100 emulator");
    println!();

    let frames = first_frames(&bin);
    println!();
    let bare = idle_without_site(&bin);
    println!();
    let lab = idle_with_lab(&bin);
    println!();

    println!("results");
    println!("| measurement | result | goal |");
    println!("|---|---|---|");
    println!(
        "| start to first frame, no site ({RUNS} runs) | min {:.1} ms · median {:.1} ms · p95 {:.1} ms · max {:.1} ms | ≤ 50 ms |",
        frames.min, frames.median, frames.p95, frames.max
    );
    for (name, idle) in [("no site", Some(&bare)), ("lab site", lab.as_ref())] {
        match idle {
            Some(idle) => {
                println!(
                    "| 10 s idle, {name}: bytes to the terminal | {} | 0 |",
                    idle.bytes
                );
                println!(
                    "| 10 s idle, {name}: CPU (utime+stime) | {:.3} % of a core ({} ticks of {} ms; {:.1} ms on CPU by schedstat) | < 0.5 % |",
                    idle.cpu_percent,
                    idle.ticks,
                    1000 / clock_ticks_per_second(),
                    idle.schedstat_ms
                );
            }
            None => println!("| 10 s idle, {name} | not measured (the lab did not start) | |"),
        }
    }
}

/// The release binary: the one cargo built for this bench, else
/// `target/release/sitedeck`, built first if missing.
fn release_binary() -> PathBuf {
    let from_cargo = PathBuf::from(env!("CARGO_BIN_EXE_sitedeck"));
    if from_cargo.is_file() && from_cargo.parent().is_some_and(|p| p.ends_with("release")) {
        return from_cargo;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("release").join("sitedeck");
    if !bin.is_file() {
        println!("{} is missing: cargo build --release", bin.display());
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--bin", "sitedeck"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cannot run cargo build --release");
        assert!(status.success(), "cargo build --release failed");
    }
    bin
}

/// The whole first frame: the header and the status bar.
fn first_frame(screen: &vt100::Screen) -> bool {
    row(screen, 0).contains(" sitedeck ") && last_row(screen).contains("quit")
}

struct Frames {
    min: f64,
    median: f64,
    p95: f64,
    max: f64,
}

fn first_frames(bin: &Path) -> Frames {
    println!("start to first frame, no site: 1 warm-up run + {RUNS} runs");
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..=RUNS {
        let home = tempfile::tempdir().expect("temp dir");
        let tui = Tui::start_program(bin, home.path(), std::iter::empty::<&str>(), COLS, ROWS);
        tui.wait_until("the first frame", T, first_frame);
        let ms = (Instant::now() - tui.spawned_at()).as_secs_f64() * 1000.0;
        let queries = tui.cursor_queries();
        quit(tui);
        if run == 0 {
            println!("  warm-up {ms:7.1} ms (not counted); cursor position queries: {queries}");
        } else {
            println!("  run {run:>2}  {ms:7.1} ms");
            times.push(ms);
        }
    }
    times.sort_by(f64::total_cmp);
    let nearest_rank = |p: f64| times[((p * times.len() as f64).ceil() as usize).max(1) - 1];
    Frames {
        min: times[0],
        median: (times[RUNS / 2 - 1] + times[RUNS / 2]) / 2.0,
        p95: nearest_rank(0.95),
        max: times[RUNS - 1],
    }
}

fn quit(mut tui: Tui) {
    tui.send("q");
    let status = tui.wait_exit(T);
    assert!(
        status.success(),
        "sitedeck exited with {status:?}\n{}",
        dump(&tui.screen())
    );
}

struct Idle {
    bytes: u64,
    ticks: u64,
    cpu_percent: f64,
    schedstat_ms: f64,
}

/// Seconds into the current minute (UTC; local time differs by whole minutes).
fn seconds_into_minute() -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs() % 60) as f64 + f64::from(now.subsec_millis()) / 1000.0
}

/// Whether a window of `IDLE` starting now (plus a margin) crosses a minute.
fn crosses_minute() -> bool {
    seconds_into_minute() + IDLE.as_secs_f64() + 1.0 >= 60.0
}

/// Waits until no output has arrived for `SETTLE` (at most 3 s).
fn settle(tui: &Tui) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let quiet = tui
            .last_output()
            .map_or(Duration::MAX, |t| Instant::now() - t);
        if quiet >= SETTLE {
            return;
        }
        std::thread::sleep(SETTLE - quiet);
    }
}

/// Bytes and CPU of the process over `IDLE`, from now.
fn measure_idle(tui: &Tui) -> Idle {
    let pid = tui.pid();
    let bytes0 = tui.bytes();
    let ticks0 = cpu_ticks(pid);
    let sched0 = schedstat_ns(pid);
    let t0 = Instant::now();
    std::thread::sleep(IDLE);
    let bytes1 = tui.bytes();
    let ticks1 = cpu_ticks(pid);
    let sched1 = schedstat_ns(pid);
    let wall = t0.elapsed().as_secs_f64();
    let ticks = ticks1 - ticks0;
    let cpu_seconds = ticks as f64 / clock_ticks_per_second() as f64;
    Idle {
        bytes: bytes1 - bytes0,
        ticks,
        cpu_percent: cpu_seconds / wall * 100.0,
        schedstat_ms: schedstat_delta(&sched0, &sched1) as f64 / 1e6,
    }
}

/// `before`: bytes that arrived after the screen first matched (the rest of
/// that frame) and before the window opened.
fn report_idle(name: &str, idle: &Idle, before: u64) {
    println!(
        "  {name}: {} bytes in {} s, CPU {:.3} % of a core ({} ticks; {:.1} ms by schedstat); {before} bytes settling before the window",
        idle.bytes,
        IDLE.as_secs(),
        idle.cpu_percent,
        idle.ticks,
        idle.schedstat_ms
    );
}

fn idle_without_site(bin: &Path) -> Idle {
    println!("10 s idle, no site");
    let home = tempfile::tempdir().expect("temp dir");
    let tui = Tui::start_program(bin, home.path(), std::iter::empty::<&str>(), COLS, ROWS);
    tui.wait_until("the first frame", T, first_frame);
    let first = tui.bytes();
    settle(&tui);
    if crosses_minute() {
        let wait = 60.0 - seconds_into_minute() + 1.5;
        println!(
            "  the window would cross a minute boundary (the header clock redraws on the minute): waiting {wait:.1} s"
        );
        std::thread::sleep(Duration::from_secs_f64(wait));
        settle(&tui);
    }
    let before = tui.bytes() - first;
    let idle = measure_idle(&tui);
    report_idle("no site", &idle, before);
    quit(tui);
    idle
}

/// The `checked HH:MM:SS` of Overview's sources title.
fn checked_at(screen: &vt100::Screen) -> Option<String> {
    let text = screen.contents();
    let at = text.find("checked ")? + "checked ".len();
    text.get(at..at + 8).map(str::to_owned)
}

/// A probe round has finished: both sources up, none down, none in flight.
fn round_done(screen: &vt100::Screen) -> bool {
    let text = screen.contents();
    checked_at(screen).is_some() && text.contains(" 0 down ") && !text.contains("probing")
}

fn idle_with_lab(bin: &Path) -> Option<Idle> {
    println!("10 s idle, lab site (MariaDB + Redis on loopback, probes every 15 s)");
    let home = tempfile::tempdir().expect("temp dir");
    let lab = match sitedeck_lab::Lab::start(&home.path().join("lab")) {
        Ok(lab) => lab,
        Err(e) => {
            println!("  the lab did not start: {e:#}");
            return None;
        }
    };
    let site = lab.site_file();
    let tui = Tui::start_program(
        bin,
        home.path(),
        ["--site".as_ref(), site.as_os_str()],
        COLS,
        ROWS,
    );
    let screen = tui.wait_until("the first probe round (0 down)", T, round_done);
    let mut round = checked_at(&screen);
    let first = tui.bytes();
    settle(&tui);
    // A window right after a round ends before the next one (15 s after
    // the last started); if it would cross a minute, take the next round.
    for _ in 0..5 {
        if !crosses_minute() {
            break;
        }
        println!(
            "  the window after the round checked {} would cross a minute boundary: waiting for the next round",
            round.as_deref().unwrap_or("?")
        );
        let screen = tui.wait_until("the next probe round", T, |s| {
            round_done(s) && checked_at(s) != round
        });
        round = checked_at(&screen);
        settle(&tui);
    }
    let before = tui.bytes() - first;
    let idle = measure_idle(&tui);
    let after = tui.screen();
    assert!(
        round_done(&after),
        "the lab went down during the window\n{}",
        dump(&after)
    );
    report_idle(
        &format!(
            "lab site (round checked {})",
            round.as_deref().unwrap_or("?")
        ),
        &idle,
        before,
    );
    quit(tui);
    drop(lab);
    Some(idle)
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// utime + stime of the whole process (every thread), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').expect("comm ends with )") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a number") };
    field(14) + field(15)
}

/// Time on CPU of each live thread, in nanoseconds (finer than clock ticks).
fn schedstat_ns(pid: u32) -> HashMap<String, u64> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return HashMap::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let ns = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let ns = ns.split_whitespace().next()?.parse::<u64>().ok()?;
            Some((task.file_name().to_string_lossy().into_owned(), ns))
        })
        .collect()
}

/// CPU time between two schedstat samples: threads alive at the end, less
/// what they had at the start (a thread that exited in between is lost).
fn schedstat_delta(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> u64 {
    after
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
