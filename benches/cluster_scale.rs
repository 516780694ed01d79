//! Cluster scale harness (issue #4): sitedeck against a large site, and
//! kdash against the same simulator in the same run.
//!
//! The lab's Kubernetes API simulator runs as its own process
//! (`target/release/sitedeck-lab up --scale-pods 10000 --scale-deployments
//! 2000 --scale-nodes 200`, on top of the lab's seed site, over HTTPS on
//! loopback), so its memory and CPU are not counted in the client's. Then,
//! `RUNS` times, one after the other (never at the same time):
//!
//! * **sitedeck** (`target/release/sitedeck --site DIR/site.yaml`) in a
//!   120x40 pseudo-terminal (portable-pty, vt100): once the header names
//!   the site (opening it shows Overview, whatever was typed before),
//!   `g` `v` opens Versions. Populated: the Versions title shows its row
//!   count (one row per container), at least as many rows as the API has
//!   workload containers, and no `loading…` (every feed Versions shows —
//!   Deployments, StatefulSets, DaemonSets — has listed). Then `g` `p`:
//!   "pods" is when the Pods title shows every pod and no `loading…`.
//! * **kdash** (`/work/cache/kdash/bin/kdash`, or `$KDASH`) in the same
//!   terminal, `KUBECONFIG` the lab's, `HOME` and the XDG dirs in a temp
//!   dir. kdash has no Versions view. Its first frame is its Pods tab
//!   (title `Pods (ns: all) [0]`, `Loading ...`); `7` then opens its
//!   Deployments tab. Populated: the title reads `Deployments (ns: all)
//!   [N]` with N every Deployment the API has (kdash fetches every
//!   resource kind on each poll, whatever the tab). "pods" is when its
//!   Context Info reads `Pods: N running` with N > 0 (0 until its single,
//!   unpaged list of every pod has arrived).
//!
//! For each: wall time from spawn to populated (the screen is checked after
//! every chunk the process writes, and at least every 10 ms), CPU time
//! (utime+stime) the process used until then; then 5 s idle: the CPU used
//! in it, then `VmRSS` (steady RSS) and `VmHWM` (peak RSS) from
//! `/proc/PID/status`. sitedeck also logs (its
//! `SITEDECK_LOG=info,sitedeck::cluster=debug`) when each feed listed: the
//! harness prints those times from spawn, to tell waiting on the API from
//! work in sitedeck.
//!
//! It prints a table of medians. Missing a goal is not a failure (the
//! figures go to docs/PERFORMANCE.md); only a harness error (a process
//! that does not start, a screen that never shows what it waits for) exits
//! non-zero. Every process it starts (the lab, sitedeck, kdash) is stopped
//! when its guard drops, on failure too.
//!
//! Run: `cargo bench --bench cluster_scale` (builds the release binaries
//! first if missing; `SITEDECK_SCALE_RUNS` sets the number of runs).

#[path = "../tests/support/pty.rs"]
mod pty;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail, ensure};
use pty::{Tui, dump};

const PODS: usize = 10_000;
const DEPLOYMENTS: usize = 2_000;
const NODES: usize = 200;
const RUNS: usize = 3;
const COLS: u16 = 120;
const ROWS: u16 = 40;
/// Idle time after populated before memory is read.
const IDLE: Duration = Duration::from_secs(5);
/// The longest a client may take to populate.
const POPULATE_TIMEOUT: Duration = Duration::from_secs(180);
/// The longest the lab may take to start (generating 10k pods takes ~2 s).
const LAB_TIMEOUT: Duration = Duration::from_secs(180);
const KDASH_DEFAULT: &str = "/work/cache/kdash/bin/kdash";

fn main() {
    match run() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("cluster_scale: harness error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<()> {
    let runs = std::env::var("SITEDECK_SCALE_RUNS")
        .ok()
        .and_then(|r| r.parse::<usize>().ok())
        .filter(|r| *r > 0)
        .unwrap_or(RUNS);
    let target = target_dir();
    let sitedeck = release_binary(&target, "sitedeck", &["--bin", "sitedeck"])?;
    let lab_bin = release_binary(
        &target,
        "sitedeck-lab",
        &["-p", "sitedeck-lab", "--bin", "sitedeck-lab"],
    )?;
    let kdash = kdash_binary();
    let tmp = tempfile::Builder::new()
        .prefix("cluster-scale-")
        .tempdir()?;

    println!("sitedeck cluster scale harness (issue #4)");
    println!("  sitedeck {} ({})", sitedeck.display(), version(&sitedeck));
    match &kdash {
        Some(k) => println!("  kdash    {} ({})", k.display(), version(k)),
        None => println!(
            "  kdash    not found at {KDASH_DEFAULT} (or $KDASH): skipped; install it with\n           cargo install kdash --locked --root /work/cache/kdash"
        ),
    }
    println!("  machine  {} CPU(s), {}", nproc(), cpu_model());
    println!(
        "  date     {}",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S %Z")
    );
    println!("  terminal {COLS}x{ROWS} pseudo-terminal, TERM=xterm-256color, vt100 emulator");
    println!(
        "  cluster  lab seed site + {PODS} pods, {DEPLOYMENTS} deployments, {NODES} nodes (sitedeck-lab up, its own process)"
    );

    let lab_dir = tmp.path().join("lab");
    let started = Instant::now();
    let lab = LabProcess::start(&lab_bin, &lab_dir)?;
    println!(
        "  lab      ready in {:.1} s (pid {}, RSS {} MiB)",
        started.elapsed().as_secs_f64(),
        lab.pid(),
        status_kib(lab.pid(), "VmRSS").unwrap_or(0) / 1024
    );
    let api = ApiCounts::read(&lab_dir.join("kubeconfig"))?;
    println!(
        "  API      {} pods, {} deployments, {} statefulsets, {} daemonsets, {} workload containers (kubectl)",
        api.pods, api.deployments, api.stateful_sets, api.daemon_sets, api.containers
    );
    println!("  load     {}", load_average());
    println!();

    let mut sitedeck_runs = Vec::new();
    let mut kdash_runs = Vec::new();
    for run in 1..=runs {
        quiet(lab.pid());
        let home = tmp.path().join(format!("sitedeck-{run}"));
        let m = measure_sitedeck(&sitedeck, &home, &lab_dir, &api)
            .with_context(|| format!("sitedeck, run {run}"))?;
        println!("run {run} sitedeck: {}", m.line());
        for (what, at) in &m.log {
            println!("    {at:8.1} ms  {what}");
        }
        sitedeck_runs.push(m);
        if let Some(kdash) = &kdash {
            quiet(lab.pid());
            let home = tmp.path().join(format!("kdash-{run}"));
            let m = measure_kdash(kdash, &home, &lab_dir, &api)
                .with_context(|| format!("kdash, run {run}"))?;
            println!("run {run} kdash:    {}", m.line());
            for (what, at) in &m.log {
                println!("    {at:8.1} ms  {what}");
            }
            kdash_runs.push(m);
        }
    }
    println!(
        "  lab RSS after the runs {} MiB (not counted in either client)",
        status_kib(lab.pid(), "VmRSS").unwrap_or(0) / 1024
    );
    drop(lab);
    println!();

    println!("results: median of {runs} runs (min–max)");
    println!(
        "| client | time to populated | populated means | time to every pod | CPU until populated | CPU idle (5 s) | RSS steady (5 s idle) | RSS peak (VmHWM) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "{}",
        summary_row(
            "sitedeck",
            &sitedeck_runs,
            "Versions title shows every container row, no `loading…`"
        )
    );
    if let Some(kdash) = &kdash {
        println!(
            "{}",
            summary_row(
                &version(kdash),
                &kdash_runs,
                "Deployments tab title shows every deployment"
            )
        );
    } else {
        println!("| kdash | not measured (not installed) | | | | | | |");
    }
    println!();
    println!(
        "goals (sitedeck): populated ≤ 1.5 s, steady RSS ≤ 100 MB (see also `cargo bench --bench table_filter` for filter/sort ≤ 20 ms)"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Binaries

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// `target/release/NAME`, built with `cargo build --release ARGS` if missing.
fn release_binary(target: &Path, name: &str, args: &[&str]) -> Result<PathBuf> {
    let bin = target.join("release").join(name);
    if !bin.is_file() {
        println!(
            "{} is missing: cargo build --release {}",
            bin.display(),
            args.join(" ")
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .arg("build")
            .arg("--release")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .context("cannot run cargo build --release")?;
        ensure!(
            status.success(),
            "cargo build --release {} failed",
            args.join(" ")
        );
    }
    Ok(bin)
}

fn kdash_binary() -> Option<PathBuf> {
    let path = std::env::var_os("KDASH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(KDASH_DEFAULT));
    path.is_file().then_some(path)
}

fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "version unknown".into())
}

// ---------------------------------------------------------------------------
// The lab

/// `sitedeck-lab up` in its own process; stopped (SIGTERM, then SIGKILL)
/// when dropped.
struct LabProcess {
    child: Child,
}

impl LabProcess {
    fn start(bin: &Path, dir: &Path) -> Result<Self> {
        let mut child = Command::new(bin)
            .arg("up")
            .arg("--dir")
            .arg(dir)
            .args(["--scale-pods", &PODS.to_string()])
            .args(["--scale-deployments", &DEPLOYMENTS.to_string()])
            .args(["--scale-nodes", &NODES.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stderr = child.stderr.take().context("no stderr")?;
        // The guard exists from here on: any error below stops the lab.
        let lab = Self { child };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Keep draining after `ready`, so the lab never blocks on
                // a full pipe.
                let _ = tx.send(line);
            }
        });
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });
        let deadline = Instant::now() + LAB_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.trim() == "ready" => return Ok(lab),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("the lab did not print `ready` within {LAB_TIMEOUT:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    drop(lab);
                    let text = errors.join().unwrap_or_default();
                    bail!("the lab exited before it was ready:\n{text}");
                }
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM lets the lab stop MariaDB and Redis; SIGKILL if it hangs.
        let pid = libc::pid_t::try_from(self.child.id()).unwrap_or(0);
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("the lab (pid {pid}) did not stop within 30 s: killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the simulator is idle (under 2 % of a core over 500 ms, at
/// most 30 s): it serves one request at a time, and a list a client asked
/// for just before it quit (kdash re-lists every pod every 5 s) would
/// otherwise delay the next client's first requests.
fn quiet(lab: u32) {
    let started = Instant::now();
    let mut before = cpu_ms(lab);
    while started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(500));
        let now = cpu_ms(lab);
        if now - before < 10.0 {
            break;
        }
        before = now;
    }
    let waited = started.elapsed();
    if waited > Duration::from_millis(600) {
        println!(
            "  (waited {:.1} s for the simulator to go idle)",
            waited.as_secs_f64()
        );
    }
}

/// What the API holds, counted with kubectl, to know what "every row" is.
struct ApiCounts {
    pods: usize,
    deployments: usize,
    stateful_sets: usize,
    daemon_sets: usize,
    /// Containers of every Deployment, StatefulSet and DaemonSet's pod
    /// template: the least number of rows Versions shows.
    containers: usize,
}

impl ApiCounts {
    fn read(kubeconfig: &Path) -> Result<Self> {
        let kubectl = |args: &[&str]| -> Result<serde_json::Value> {
            let output = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .env_remove("KUBECONFIG")
                .args(args)
                .args(["-o", "json"])
                .output()
                .context("cannot run kubectl (needed to count what the API holds)")?;
            ensure!(
                output.status.success(),
                "kubectl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            Ok(serde_json::from_slice(&output.stdout)?)
        };
        let items = |v: &serde_json::Value| v["items"].as_array().cloned().unwrap_or_default();
        let containers = |items: &[serde_json::Value]| -> usize {
            items
                .iter()
                .map(|i| {
                    i["spec"]["template"]["spec"]["containers"]
                        .as_array()
                        .map_or(1, |c| c.len().max(1))
                })
                .sum()
        };
        let deployments = items(&kubectl(&["get", "deployments", "-A"])?);
        let stateful_sets = items(&kubectl(&["get", "statefulsets", "-A"])?);
        let daemon_sets = items(&kubectl(&["get", "daemonsets", "-A"])?);
        let pods = kubectl(&["get", "pods", "-A", "--chunk-size", "500"])?;
        Ok(Self {
            pods: items(&pods).len(),
            deployments: deployments.len(),
            stateful_sets: stateful_sets.len(),
            daemon_sets: daemon_sets.len(),
            containers: containers(&deployments)
                + containers(&stateful_sets)
                + containers(&daemon_sets),
        })
    }
}

// ---------------------------------------------------------------------------
// Measuring a client

struct Measured {
    /// Spawn to populated.
    populated_ms: f64,
    /// Spawn to the first frame.
    first_frame_ms: f64,
    /// Spawn to every pod loaded (see the module's doc).
    pods_ms: f64,
    /// utime+stime until populated.
    cpu_ms: f64,
    /// utime+stime in the idle window, in % of one core.
    idle_cpu_percent: f64,
    rss_kib: u64,
    hwm_kib: u64,
    rss_anon_kib: u64,
    /// What the screen said when populated.
    shown: String,
    /// Log lines of interest with their time from spawn (sitedeck only).
    log: Vec<(String, f64)>,
}

impl Measured {
    fn line(&self) -> String {
        format!(
            "first frame {:.0} ms, populated {:.0} ms ({}), pods {:.0} ms, CPU {:.0} ms until populated, idle CPU {:.1} %, RSS {:.1} MiB (anon {:.1}), peak {:.1} MiB",
            self.first_frame_ms,
            self.populated_ms,
            self.shown,
            self.pods_ms,
            self.cpu_ms,
            self.idle_cpu_percent,
            mib(self.rss_kib),
            mib(self.rss_anon_kib),
            mib(self.hwm_kib)
        )
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Waits (checking after every chunk of output and every 10 ms) until
/// `ready` holds; a harness error with the screen on timeout or exit.
fn wait(
    tui: &Tui,
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut(&vt100::Screen) -> bool,
) -> Result<vt100::Screen> {
    let deadline = Instant::now() + timeout;
    loop {
        let slice =
            Duration::from_millis(10).min(deadline.saturating_duration_since(Instant::now()));
        match tui.try_wait_until(slice, &mut ready) {
            Ok(screen) => return Ok(screen),
            Err(screen) => {
                if Instant::now() >= deadline {
                    bail!(
                        "timed out after {timeout:?} waiting for {what}; the screen:\n{}",
                        dump(&screen)
                    );
                }
                if !alive(tui.pid()) {
                    bail!(
                        "the process exited while waiting for {what}; the screen:\n{}",
                        dump(&screen)
                    );
                }
            }
        }
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next())
        })
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

/// Runs `program` with `env` set (through env(1), which execs it: same pid).
fn start(program: &Path, home: &Path, env: &[(&str, String)], args: &[&str]) -> Tui {
    let mut argv: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    argv.push(program.display().to_string());
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    Tui::start_program(Path::new("/usr/bin/env"), home, &argv, COLS, ROWS)
}

/// Reads CPU over `IDLE`, then memory, and fills in the rest of a
/// measurement.
fn settle_and_read(
    tui: &Tui,
    populated_ms: f64,
    first_frame_ms: f64,
    cpu_until: f64,
    shown: String,
) -> Result<Measured> {
    let pid = tui.pid();
    let cpu_before = cpu_ms(pid);
    let started = Instant::now();
    std::thread::sleep(IDLE);
    let idle_cpu_percent = (cpu_ms(pid) - cpu_before) / ms(started.elapsed()) * 100.0;
    ensure!(
        alive(pid),
        "the process exited during the idle time:\n{}",
        dump(&tui.screen())
    );
    Ok(Measured {
        populated_ms,
        first_frame_ms,
        pods_ms: f64::NAN,
        cpu_ms: cpu_until,
        idle_cpu_percent,
        rss_kib: status_kib(pid, "VmRSS").context("VmRSS")?,
        hwm_kib: status_kib(pid, "VmHWM").context("VmHWM")?,
        rss_anon_kib: status_kib(pid, "RssAnon").unwrap_or(0),
        shown,
        log: Vec::new(),
    })
}

// sitedeck ------------------------------------------------------------------

/// A cluster view's title ` Versions N ` (or `N of M`): the count and
/// whether it says `loading…`.
fn view_title(screen: &vt100::Screen, view: &str) -> Option<(usize, bool)> {
    let cols = screen.size().1.get();
    let title = format!(" {view} ");
    screen.rows(0, cols).find_map(|row| {
        let at = row.find(&title)? + title.len();
        let digits: String = row[at..].chars().take_while(char::is_ascii_digit).collect();
        let count = digits.parse().ok()?;
        Some((count, row.contains("loading…")))
    })
}

fn measure_sitedeck(bin: &Path, home: &Path, lab: &Path, api: &ApiCounts) -> Result<Measured> {
    std::fs::create_dir_all(home)?;
    let site = lab.join("site.yaml");
    let spawned_wall = SystemTime::now();
    let tui = start(
        bin,
        home,
        &[("SITEDECK_LOG", "info,sitedeck::cluster=debug".to_owned())],
        &["--site", &site.display().to_string()],
    );
    wait(&tui, "the first frame", Duration::from_secs(30), |s| {
        pty::row(s, 0).contains(" sitedeck ") && pty::last_row(s).contains("quit")
    })?;
    let first_frame_ms = ms(tui.spawned_at().elapsed());
    // Opening the site shows Overview: keys typed before it opened are
    // overridden, so wait for the header to name the site.
    wait(
        &tui,
        "the site opened (` lab ` in the header)",
        Duration::from_secs(30),
        |s| pty::row(s, 0).contains(" lab "),
    )?;
    tui.send("g");
    tui.send("v");
    let want = api.containers;
    let screen = wait(
        &tui,
        &format!("Versions with ≥ {want} rows and no `loading…`"),
        POPULATE_TIMEOUT,
        |s| view_title(s, "Versions").is_some_and(|(n, loading)| n >= want && !loading),
    )?;
    let populated_ms = ms(tui.spawned_at().elapsed());
    let cpu_until = cpu_ms(tui.pid());
    let (rows, _) = view_title(&screen, "Versions").ok_or_else(|| anyhow!("no Versions title"))?;
    // Then Pods (`g` `p`), until it shows every pod.
    tui.send("g");
    tui.send("p");
    let pods = api.pods;
    wait(
        &tui,
        &format!("Pods with {pods} rows and no `loading…`"),
        POPULATE_TIMEOUT,
        |s| view_title(s, "Pods").is_some_and(|(n, loading)| n >= pods && !loading),
    )?;
    let pods_ms = ms(tui.spawned_at().elapsed());
    let mut m = settle_and_read(
        &tui,
        populated_ms,
        first_frame_ms,
        cpu_until,
        format!("Versions {rows}"),
    )?;
    m.pods_ms = pods_ms;
    tui.send("g");
    tui.send("v");
    let after = wait(&tui, "Versions again", Duration::from_secs(5), |s| {
        view_title(s, "Versions").is_some()
    })?;
    let after = view_title(&after, "Versions").map(|(n, _)| n);
    ensure!(
        after == Some(rows),
        "the Versions count changed after populated: {rows} → {after:?}"
    );
    m.log = log_times(&home.join("state").join("sitedeck.log"), spawned_wall);
    quit(tui, "q");
    Ok(m)
}

/// Lines of sitedeck's log worth showing, with their time from spawn.
fn log_times(log: &Path, spawned: SystemTime) -> Vec<(String, f64)> {
    let Ok(text) = std::fs::read_to_string(log) else {
        return vec![("(no log)".into(), 0.0)];
    };
    let spawned: chrono::DateTime<chrono::Utc> = spawned.into();
    text.lines()
        .filter(|l| {
            l.contains("listed") || l.contains("cluster connected") || l.contains("site opened")
        })
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(' ')?;
            let at = chrono::DateTime::parse_from_rfc3339(stamp).ok()?;
            let offset =
                (at.with_timezone(&chrono::Utc) - spawned).num_microseconds()? as f64 / 1000.0;
            let rest = rest.trim();
            let rest = rest.split_once(": ").map_or(rest, |(_, msg)| msg);
            Some((rest.to_owned(), offset))
        })
        .collect()
}

// kdash -----------------------------------------------------------------------

/// The count in a kdash table title: `Deployments (ns: all) [2007]` → 2007.
fn kdash_count(screen: &vt100::Screen, resource: &str) -> Option<usize> {
    let title = format!("{resource} (ns: all) [");
    screen.contents().lines().find_map(|row| {
        let at = row.find(&title)? + title.len();
        let rest = &row[at..];
        rest[..rest.find(']')?].trim().parse().ok()
    })
}

/// The running pods in kdash's Context Info: `Pods:    10022 running`.
fn kdash_running(screen: &vt100::Screen) -> Option<usize> {
    screen.contents().lines().find_map(|row| {
        let at = row.find("Pods:")? + "Pods:".len();
        let rest = row[at..].trim_start();
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        rest[digits.len()..]
            .starts_with(" running")
            .then(|| digits.parse().ok())
            .flatten()
    })
}

fn measure_kdash(bin: &Path, home: &Path, lab: &Path, api: &ApiCounts) -> Result<Measured> {
    std::fs::create_dir_all(home)?;
    let h = home.display().to_string();
    let tui = start(
        bin,
        home,
        &[
            ("KUBECONFIG", lab.join("kubeconfig").display().to_string()),
            ("HOME", h.clone()),
            ("XDG_CONFIG_HOME", format!("{h}/.config")),
            ("XDG_CACHE_HOME", format!("{h}/.cache")),
            ("XDG_DATA_HOME", format!("{h}/.local/share")),
            ("XDG_STATE_HOME", format!("{h}/.local/state")),
        ],
        &[],
    );
    // The first frame: the Resources tabs with the Pods table's title.
    wait(&tui, "kdash's first frame", Duration::from_secs(30), |s| {
        kdash_count(s, "Pods").is_some()
    })?;
    let first_frame_ms = ms(tui.spawned_at().elapsed());
    // `7`: the Deployments tab, kdash's nearest to Versions.
    tui.send("7");
    let want = api.deployments;
    let pid = tui.pid();
    let mut cpu_until = f64::NAN;
    let mut deployments_ms = None;
    let mut pods_ms = None;
    let spawned = tui.spawned_at();
    let screen = wait(
        &tui,
        &format!("kdash's Deployments title with [{want}] and running pods in its Context Info"),
        POPULATE_TIMEOUT,
        |s| {
            if deployments_ms.is_none() && kdash_count(s, "Deployments").is_some_and(|n| n >= want)
            {
                deployments_ms = Some(ms(spawned.elapsed()));
                cpu_until = cpu_ms(pid);
            }
            // kdash lists all pods in one request: 0 until they arrive.
            if pods_ms.is_none() && kdash_running(s).is_some_and(|n| n > 0) {
                pods_ms = Some(ms(spawned.elapsed()));
            }
            deployments_ms.is_some() && pods_ms.is_some()
        },
    )?;
    let populated_ms = deployments_ms.unwrap_or(f64::NAN);
    let pods_ms = pods_ms.unwrap_or(f64::NAN);
    let n = kdash_count(&screen, "Deployments").unwrap_or(0);
    let r = kdash_running(&screen).unwrap_or(0);
    let mut m = settle_and_read(
        &tui,
        populated_ms,
        first_frame_ms,
        cpu_until,
        format!("Deployments [{n}]"),
    )?;
    m.pods_ms = pods_ms;
    m.log = vec![(format!("Context Info: Pods {r} running"), pods_ms)];
    quit(tui, "q");
    Ok(m)
}

fn quit(mut tui: Tui, key: &str) {
    tui.send(key);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tui.running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Still running: dropping the Tui kills it.
}

// ---------------------------------------------------------------------------
// /proc and statistics

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// utime + stime of the whole process so far, in ms.
fn cpu_ms(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command name start at field 3: utime is 14, stime 15.
    let field = |n: usize| -> u64 { fields.get(n - 3).and_then(|f| f.parse().ok()).unwrap_or(0) };
    (field(14) + field(15)) as f64 * 1000.0 / clock_ticks_per_second() as f64
}

fn median(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn summary_row(name: &str, runs: &[Measured], means: &str) -> String {
    let stat = |f: &dyn Fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    let seconds = |(m, lo, hi): (f64, f64, f64)| {
        format!(
            "{:.2} s ({:.2}–{:.2})",
            m / 1000.0,
            lo / 1000.0,
            hi / 1000.0
        )
    };
    let mebibytes = |(m, lo, hi): (f64, f64, f64)| format!("{m:.1} MiB ({lo:.1}–{hi:.1})");
    let (idle, idle_lo, idle_hi) = stat(&|m| m.idle_cpu_percent);
    format!(
        "| {name} | {} | {means} | {} | {} | {idle:.1} % ({idle_lo:.1}–{idle_hi:.1}) | {} | {} |",
        seconds(stat(&|m| m.populated_ms)),
        seconds(stat(&|m| m.pods_ms)),
        seconds(stat(&|m| m.cpu_ms)),
        mebibytes(stat(&|m| mib(m.rss_kib))),
        mebibytes(stat(&|m| mib(m.hwm_kib))),
    )
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
