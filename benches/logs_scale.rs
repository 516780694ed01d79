//! Logs at scale (issue #7): 200 pods × 100 lines/s from the Kubernetes API
//! simulator for a while, followed by the real `sitedeck logs --follow`
//! (release build), as an operator's script would run it.
//!
//! The simulator (in this process) gets 200 running pods labelled
//! `app=load`. A writer thread appends, once a second, 100 JSON lines to
//! each pod's log, each carrying the time it was written (`sent`, µs
//! since 1970). `sitedeck logs --selector scale/app=load --follow --format
//! json` reads every pod (`logs.concurrency: 200` in the profile) and its
//! output is read here: for each line, the lag from `sent` to the moment
//! its JSON line arrives on stdout. Every second the harness notes the
//! lines received and sitedeck's RSS (VmRSS from /proc).
//!
//! Reported: lines written and received, lag p50/p99/max, the received
//! rate over the last half of the run against the written rate (a growing
//! backlog would fall behind), and RSS at the start, middle and end.
//!
//! Run: `cargo bench --bench logs_scale` (`SITEDECK_SECONDS` sets the
//! duration, default 60). `SITEDECK_COMPARE=kubetail` runs Debian's
//! `kubetail` (a `kubectl logs -f` per pod, merged by a shell; kubectl
//! from `scripts/lib.sh`) on the same load instead, RSS summed over its
//! processes. Note: the simulator, the writer and sitedeck
//! share the machine; on two cores the simulator's own work is part of
//! what is measured.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

const PODS: usize = 200;
const LINES_PER_SECOND: usize = 100;

fn micros_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The RSS of every process of the group `pgid` (kubetail runs a kubectl
/// per pod).
fn group_rss_kib(pgid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // After the command's `(name)`: state, ppid, pgrp.
                    let rest = &stat[stat.rfind(')')? + 2..];
                    rest.split(' ').nth(2)?.parse::<u32>().ok()
                })
                == Some(pgid)
        })
        .filter_map(rss_kib)
        .sum()
}

fn main() -> Result<()> {
    let seconds: u64 = std::env::var("SITEDECK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir()?;
    let sim = Arc::new(KubeSim::start_with(
        &dir.path().join("kube"),
        KubeSimOptions {
            seed_site: false,
            log_interval: None,
            ..KubeSimOptions::default()
        },
    )?);
    sim.create(serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "scale"}}))?;
    for n in 0..PODS {
        sim.create(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("load-{n:03}"), "namespace": "scale", "labels": {"app": "load"}},
            "spec": {"containers": [{"name": "app", "image": "load:1"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                                              "image": "load:1", "state": {"running": {}}}]},
        }))?;
    }
    let site = dir.path().join("site.yaml");
    std::fs::write(
        &site,
        format!(
            "name: scale\nenvironment: poc\ncluster:\n  kubeconfig: {}\nlogs:\n  concurrency: {PODS}\n",
            sim.kubeconfig().display()
        ),
    )?;
    // The tool compared: `kubetail` (Debian's package: a kubectl per pod,
    // merged by a shell) on the same simulator, when asked.
    let kubetail = std::env::var("SITEDECK_COMPARE").is_ok_and(|tool| tool == "kubetail");
    let mut command = if kubetail {
        ensure!(
            Command::new("kubetail")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "kubetail is not installed: apt-get install kubetail (and kubectl, as scripts/test installs it)"
        );
        // kubetail 1.6.5 joins its kubectl commands with `${@/#/ & }`,
        // which bash 5.2 (bookworm's) turns into spaces: its
        // patsub_replacement reads `&` as the match. Off, through
        // BASH_ENV, kubetail runs as written.
        let bash_env = dir.path().join("bash_env");
        std::fs::write(&bash_env, "shopt -u patsub_replacement 2>/dev/null\n")?;
        let mut command = Command::new("kubetail");
        command
            .args(["load", "-n", "scale", "-s", "5s", "-k", "false"])
            .env("KUBECONFIG", sim.kubeconfig())
            .env("BASH_ENV", &bash_env);
        command
    } else {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sitedeck"));
        command
            .args(["--site"])
            .arg(&site)
            .args([
                "logs",
                "--selector",
                "scale/app=load",
                "--follow",
                "--format",
                "json",
            ])
            .env("SITEDECK_CONFIG_DIR", dir.path().join("config"))
            .env("SITEDECK_STATE_DIR", dir.path().join("state"));
        command
    };
    // Its own process group: kubetail's kubectl processes are measured
    // and stopped with it.
    let mut child = command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start the log reader")?;
    let pid = child.id();
    let stdout = child.stdout.take().context("stdout")?;

    // The reader: lag of each line from its `sent`.
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let received = received.clone();
        std::thread::spawn(move || {
            let mut lags = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let now = micros_now();
                // kubetail wraps the line as written in `[pod] ` and
                // colour codes.
                let json = match (line.find('{'), line.rfind('}')) {
                    (Some(start), Some(end)) if start < end => &line[start..=end],
                    _ => "",
                };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
                    continue;
                };
                let value = if value["fields"].is_object() {
                    value["fields"].clone()
                } else {
                    value
                };
                if let Some(sent) = value["sent"].as_str().and_then(|s| s.parse::<u64>().ok()) {
                    lags.push(now.saturating_sub(sent));
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
            lags
        })
    };
    // Give the streams time to open before writing.
    std::thread::sleep(Duration::from_secs(3));

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (sim, stop, written) = (sim.clone(), stop.clone(), written.clone());
        std::thread::spawn(move || -> Result<()> {
            let mut tick = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                for n in 0..PODS {
                    let sent = micros_now();
                    let mut batch = String::new();
                    for k in 0..LINES_PER_SECOND {
                        batch.push_str(&format!(
                            "{{\"level\":\"info\",\"msg\":\"tick {k}\",\"trace_id\":\"{n:016x}{k:016x}\",\"sent\":\"{sent}\"}}\n"
                        ));
                    }
                    sim.append_log("scale", &format!("load-{n:03}"), "", batch.as_bytes())?;
                    written.fetch_add(LINES_PER_SECOND as u64, Ordering::Relaxed);
                }
                tick += Duration::from_secs(1);
                std::thread::sleep(tick.saturating_duration_since(Instant::now()));
            }
            Ok(())
        })
    };

    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        samples.push((
            started.elapsed().as_secs_f64(),
            written.load(Ordering::Relaxed),
            received.load(Ordering::Relaxed),
            group_rss_kib(pid),
        ));
    }
    stop.store(true, Ordering::Relaxed);
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("writer panicked"))??;
    // Let the last lines through, then end sitedeck.
    std::thread::sleep(Duration::from_secs(3));
    let final_written = written.load(Ordering::Relaxed);
    let final_received = received.load(Ordering::Relaxed);
    let _ = Command::new("kill")
        .arg("--")
        .arg(format!("-{pid}"))
        .status();
    let _ = child.kill();
    let _ = child.wait();
    let mut lags = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    ensure!(!lags.is_empty(), "no line arrived");
    lags.sort_unstable();
    let pct = |p: f64| lags[((lags.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0;
    let half = samples.len() / 2;
    let (t0, w0, r0, _) = samples[half];
    let (t1, w1, r1, _) = samples[samples.len() - 1];
    let rss: Vec<u64> = [0, half, samples.len() - 1]
        .iter()
        .map(|&i| samples[i].3 / 1024)
        .collect();
    let tool = if kubetail { "kubetail" } else { "sitedeck" };
    println!(
        "logs_scale ({tool}): {PODS} pods x {LINES_PER_SECOND} lines/s for {seconds} s: written {final_written}, received {final_received}; \
         lag p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; second half: written {:.0}/s, received {:.0}/s; RSS {} / {} / {} MiB (start/middle/end)",
        pct(0.50),
        pct(0.99),
        pct(1.0),
        (w1 - w0) as f64 / (t1 - t0),
        (r1 - r0) as f64 / (t1 - t0),
        rss[0],
        rss[1],
        rss[2]
    );
    Ok(())
}
