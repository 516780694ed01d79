//! What the Kubernetes API simulator itself costs at the size of a large
//! site, so later benchmarks can tell sitedeck's cost from the simulator's:
//! `kubectl get pods -A` of 10k pods, a watch of 2k deployments, and the
//! simulator's memory. Run: `cargo bench -p sitedeck-lab --bench kube_scale`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sitedeck_lab::kube::seed::ScaleSpec;
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

const SPEC: ScaleSpec = ScaleSpec {
    namespaces: 20,
    deployments: 2_000,
    pods: 10_000,
    nodes: 200,
};
const RUNS: usize = 5;

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rss_before = memory_kib("VmRSS");
    let options = KubeSimOptions {
        seed_site: false,
        ..KubeSimOptions::default()
    };
    let sim = KubeSim::start_with(dir.path(), options)?;
    let started = Instant::now();
    sim.generate(SPEC)?;
    let generated = started.elapsed();
    let rss_loaded = memory_kib("VmRSS");
    println!(
        "generated {} pods, {} deployments, {} nodes in {:.2} s",
        SPEC.pods,
        SPEC.deployments,
        SPEC.nodes,
        generated.as_secs_f64()
    );

    let kubectl = |args: &[&str]| {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(sim.kubeconfig())
            .arg("--cache-dir")
            .arg(dir.path().join("kubectl-cache"))
            .env_remove("KUBECONFIG")
            .args(args);
        command
    };
    // Warm kubectl's discovery cache once, as an operator's would be.
    kubectl(&["get", "ns"]).output()?;

    let mut list_times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let output = kubectl(&["get", "pods", "-A", "--no-headers"]).output()?;
        list_times.push(started.elapsed());
        anyhow::ensure!(output.status.success(), "kubectl get pods failed");
        anyhow::ensure!(output.stdout.iter().filter(|b| **b == b'\n').count() == SPEC.pods);
    }

    let mut watch_times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut child = kubectl(&["get", "deploy", "-A", "-w", "--no-headers"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let lines = BufReader::new(stdout)
            .lines()
            .take(SPEC.deployments)
            .count();
        watch_times.push(started.elapsed());
        child.kill()?;
        child.wait()?;
        anyhow::ensure!(
            lines == SPEC.deployments,
            "the watch showed {lines} deployments"
        );
    }

    let rss_after = memory_kib("VmRSS");
    let peak = memory_kib("VmHWM");
    println!();
    println!("| measurement | result |");
    println!("|---|---|");
    println!(
        "| `kubectl get pods -A` of {} pods ({RUNS} runs) | {} |",
        SPEC.pods,
        summary(&list_times)
    );
    println!(
        "| `kubectl get deploy -A -w` until all {} are shown ({RUNS} runs) | {} |",
        SPEC.deployments,
        summary(&watch_times)
    );
    println!(
        "| simulator RSS: empty / loaded / after the runs / peak | {} / {} / {} / {} MiB |",
        rss_before / 1024,
        rss_loaded / 1024,
        rss_after / 1024,
        peak / 1024
    );
    Ok(())
}

fn summary(times: &[Duration]) -> String {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    format!(
        "min {:.0} ms · median {:.0} ms · max {:.0} ms",
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    )
}

/// A memory figure of this process (the simulator runs in it), in KiB.
fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
