//! Nodes survey harness (issue #8): facts and time from 20 real sshd
//! nodes (Debian's openssh-server on loopback, half of them running their
//! own chronyd following the lab's NTP server), read in parallel as
//! `sitedeck status`, the Hosts and the Time views read them: a login,
//! five clock round trips, the facts and the time daemon per node, at most
//! `AT_ONCE_DIRECT` logins at once. Then the same with a 21st node that is hung
//! (it accepts TCP and never says a word): the time until the 20 live
//! nodes are read must not grow, and the hung one is reported when its
//! timeout runs out. Surveys keep each node's session for the next one
//! (`nodes::pool`), so the runs are measured cold (every session closed
//! first: each node logs in) and warm (the sessions of the last survey).
//!
//! For each run: the time until the slowest live node was read (goal:
//! ≤ 2 s), and the whole survey. A live node with an error, or a hung one
//! without, is a harness error. Missing the goal is not: the figures go
//! to docs/PERFORMANCE.md.
//!
//! Last, the cold survey again with rc files that take 0.2 s in every
//! node's shell (as a distribution's `/etc/bashrc` and its profile.d
//! scripts can): what each shell sitedeck starts on a node costs.
//!
//! Run: `cargo bench --bench nodes_survey` (`SITEDECK_ROUNDS` sets the
//! number of runs of each, default 5).

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use sitedeck::nodes::access::SshAccess;
use sitedeck::nodes::pool;
use sitedeck::nodes::ssh::{KnownHosts, SshAuth, SshTarget};
use sitedeck::nodes::survey::{SurveySettings, survey};
use sitedeck_lab::chrony::NtpServer;
use sitedeck_lab::sshd::{NodeOptions, SshNode};

/// Live nodes.
const NODES: usize = 20;

/// How long a node's rc files take in the last case.
const RC_SECONDS: &str = "0.2";

fn main() -> Result<()> {
    let rounds: usize = std::env::var("SITEDECK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir()?;
    let ntp = NtpServer::start(&dir.path().join("ntp"))?;
    let mut nodes = Vec::new();
    for n in 0..NODES {
        let node = SshNode::start_with(
            &dir.path().join(format!("node-{n}")),
            NodeOptions {
                ntp_server: (n % 2 == 0).then_some(ntp.address),
                ..NodeOptions::default()
            },
        )
        .with_context(|| format!("node {n}"))?;
        nodes.push(node);
    }
    // One key for all, and every host key known.
    let key = nodes[0].client_key.clone();
    let mut known_hosts = String::new();
    for node in &nodes {
        std::fs::copy(key.with_extension("pub"), node.dir.join("authorized_keys"))?;
        known_hosts.push_str(&format!(
            "[{}]:{} {}\n",
            node.host,
            node.port,
            node.host_key_line()?
        ));
    }
    let known = KnownHosts {
        user: None,
        extra: Vec::new(),
        own: dir.path().join("known_hosts"),
    };
    std::fs::write(&known.own, known_hosts)?;
    // A hung node: it accepts and never sends its SSH banner.
    let hung = TcpListener::bind("127.0.0.1:0")?;
    let hung_port = hung.local_addr()?.port();
    sitedeck_lab::hold_silently(hung);
    let target = |host: &str, port: u16| SshTarget {
        host: host.to_owned(),
        port,
        user: nodes[0].user.clone(),
    };
    let live: Vec<(String, SshTarget)> = nodes
        .iter()
        .enumerate()
        .map(|(n, node)| (format!("node-{n}"), target(&node.host, node.port)))
        .collect();
    let access = |with_hung: bool| {
        let mut list = live.clone();
        if with_hung {
            list.push(("hung".into(), target("127.0.0.1", hung_port)));
        }
        Arc::new(SshAccess {
            nodes: list,
            auth: SshAuth::KeyFile {
                path: key.clone(),
                passphrase: None,
            },
            bastion: None,
            known: known.clone(),
        })
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{NODES} live nodes (sshd on loopback, {} with chronyd), at most {} logins at once",
        NODES / 2,
        sitedeck::nodes::survey::AT_ONCE_DIRECT
    )?;
    // One node alone: what a node costs when the machine is not shared
    // with 19 other sshd.
    let mut alone_ms = Vec::new();
    for _ in 0..rounds {
        let one = Arc::new(SshAccess {
            nodes: live[..1].to_vec(),
            ..(*access(false)).clone()
        });
        pool::close_all();
        let began = Instant::now();
        let surveyed = runtime.block_on(survey(one, SurveySettings::default()));
        ensure!(
            surveyed.nodes[0].error.is_none(),
            "{:?}",
            surveyed.nodes[0].error
        );
        alone_ms.push(began.elapsed().as_secs_f64() * 1000.0);
    }
    writeln!(
        out,
        "one node alone: {} ms (median)",
        median(&mut alone_ms).round()
    )?;
    // (case, with the hung node, warm, rc files that take RC_SECONDS)
    let cases = [
        ("cold, all live", false, false, false),
        ("warm, all live", false, true, false),
        ("cold, with a hung node", true, false, false),
        ("cold, rc files of 0.2 s", false, false, true),
    ];
    for (case, with_hung, warm, slow_rc) in cases {
        // A node's shell start-up (rc files, profile.d scripts) happens
        // on its own CPUs: as time, a sleep in each node's ~/.bashrc.
        for node in &nodes {
            let rc = node.dir.join(".bashrc");
            if slow_rc {
                std::fs::write(&rc, format!("sleep {RC_SECONDS}\n"))?;
            } else if rc.exists() {
                std::fs::remove_file(&rc)?;
            }
        }
        let mut live_ms = Vec::new();
        let mut whole_ms = Vec::new();
        let mut own_cpu_ms = Vec::new();
        let mut busy_share = Vec::new();
        if warm {
            // The sessions a warm survey finds.
            runtime.block_on(survey(access(with_hung), SurveySettings::default()));
        }
        for _ in 0..rounds {
            if !warm {
                pool::close_all();
            }
            let began = Instant::now();
            let cpu = cpu_ms();
            let machine = machine_ticks();
            let surveyed = runtime.block_on(survey(access(with_hung), SurveySettings::default()));
            whole_ms.push(began.elapsed().as_secs_f64() * 1000.0);
            own_cpu_ms.push(cpu_ms() - cpu);
            let (busy, total) = machine_ticks();
            busy_share.push((busy - machine.0) / (total - machine.1).max(1.0) * 100.0);
            let mut slowest: f64 = 0.0;
            for node in &surveyed.nodes {
                if node.name == "hung" {
                    ensure!(node.error.is_some(), "the hung node was read");
                    continue;
                }
                ensure!(
                    node.error.is_none() && node.facts.is_some() && node.time.is_some(),
                    "{}: {:?}",
                    node.name,
                    node.error
                );
                slowest = slowest.max(node.done_after_ms);
            }
            live_ms.push(slowest);
        }
        writeln!(
            out,
            "{case}: live nodes read in {} ms (median; min {}, max {}); whole survey {} ms (median)",
            median(&mut live_ms.clone()).round(),
            live_ms
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .round(),
            live_ms.iter().copied().fold(0.0, f64::max).round(),
            median(&mut whole_ms).round(),
        )?;
        writeln!(
            out,
            "  sitedeck's own CPU per survey: {} ms (median); the machine's CPUs were {} % busy meanwhile (median), the rest of it the lab's sshd and their commands",
            median(&mut own_cpu_ms).round(),
            median(&mut busy_share).round()
        )?;
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// This process's CPU time so far (user + system), ms.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // utime and stime, in clock ticks of 10 ms.
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) * 10.0
}

/// The whole machine's CPU time (busy, all), in ticks of every core,
/// from /proc/stat: when busy is close to all during a survey, the
/// survey waited for CPU (the lab's nodes share this machine's cores).
fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let total: f64 = fields.iter().take(8).sum();
    // idle and iowait.
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}
