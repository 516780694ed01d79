//! `sitedeck-lab`: start and stop the local lab site.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

/// The sitedeck lab: real servers on 127.0.0.1 for tests and the demo.
#[derive(Parser)]
#[command(name = "sitedeck-lab", version)]
struct Cli {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Subcommand)]
enum LabCommand {
    /// Start the lab in DIR, write DIR/site.yaml, and wait until stopped
    /// (`down`, SIGTERM or ctrl-c).
    Up {
        /// The lab's directory.
        #[arg(long)]
        dir: PathBuf,
        /// Serve the Kubernetes API over plain HTTP instead of HTTPS.
        #[arg(long)]
        plain_http: bool,
        /// Add a generated cluster of this many pods (with --scale-deployments,
        /// --scale-nodes), e.g. 10000 for the benchmarks.
        #[arg(long, value_name = "PODS")]
        scale_pods: Option<usize>,
        /// Deployments of the generated cluster.
        #[arg(long, default_value_t = 2000, requires = "scale_pods")]
        scale_deployments: usize,
        /// Nodes of the generated cluster.
        #[arg(long, default_value_t = 200, requires = "scale_pods")]
        scale_nodes: usize,
    },
    /// Stop the lab running in DIR.
    Down {
        /// The lab's directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() -> Result<()> {
    match Cli::parse().command {
        LabCommand::Up {
            dir,
            plain_http,
            scale_pods,
            scale_deployments,
            scale_nodes,
        } => {
            let options = sitedeck_lab::site::LabOptions {
                plain_http,
                scale: scale_pods.map(|pods| sitedeck_lab::kube::seed::ScaleSpec {
                    namespaces: 20,
                    deployments: scale_deployments,
                    pods,
                    nodes: scale_nodes,
                }),
                nodes: true,
            };
            up(&dir, &options)
        }
        LabCommand::Down { dir } => down(&dir),
    }
}

fn up(dir: &Path, options: &sitedeck_lab::site::LabOptions) -> Result<()> {
    let pid_file = dir.join("lab.pid");
    if let Some(pid) = read_pid(&pid_file)
        && alive(pid)
    {
        bail!(
            "a lab already runs in {} (pid {pid}); stop it with `sitedeck-lab down --dir {}`",
            dir.display(),
            dir.display()
        );
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGHUP,
            request_stop as *const () as libc::sighandler_t,
        );
    }
    // The pid file comes first, so `down` can stop a lab that is still starting.
    std::fs::create_dir_all(dir)?;
    std::fs::write(&pid_file, std::process::id().to_string())?;
    let lab = match sitedeck_lab::Lab::start_with(dir, options) {
        Ok(lab) => lab,
        Err(e) => {
            let _ = std::fs::remove_file(&pid_file);
            return Err(e);
        }
    };
    println!("lab up in {}", lab.dir.display());
    let user = sitedeck_lab::mariadb::USER;
    let rows = [
        (
            "mariadb",
            format!("{}  (user {user})", lab.mariadb.endpoint()),
        ),
        (
            "mariadb-replica",
            format!(
                "{}  (replica of {})",
                lab.mariadb_replica.endpoint(),
                lab.mariadb.endpoint()
            ),
        ),
        ("redis", lab.redis.endpoint()),
        (
            "redis-replica",
            format!(
                "{}  (replica of {})",
                lab.redis_replica.endpoint(),
                lab.redis.endpoint()
            ),
        ),
        (
            "postgresql",
            format!(
                "{}  (user {}, database sitedeck)",
                lab.postgres.endpoint(),
                lab.postgres.user
            ),
        ),
        (
            "s3",
            format!(
                "{}  (bucket {}, access key {})",
                lab.s3.url(),
                lab.s3.bucket,
                lab.s3.access_key
            ),
        ),
        (
            "kafka",
            format!(
                "{}  (SASL {}, user {}; topics orders, payments; groups billing, audit)",
                lab.kafka.broker.bootstrap(),
                lab.kafka.user.mechanism.name(),
                lab.kafka.user.name
            ),
        ),
        (
            "kube",
            format!(
                "{}  (kubectl --kubeconfig {})",
                lab.kube.url(),
                lab.kube.kubeconfig().display()
            ),
        ),
        ("site", lab.site_file().display().to_string()),
    ];
    for (name, what) in rows {
        println!("  {name:<16} {what}");
    }
    println!("ready");
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(lab);
    let _ = std::fs::remove_file(&pid_file);
    // Whoever started us may have stopped reading: a closed pipe is no error.
    let _ = writeln!(std::io::stdout(), "lab stopped");
    Ok(())
}

fn down(dir: &Path) -> Result<()> {
    let pid_file = dir.join("lab.pid");
    let pid = read_pid(&pid_file)
        .with_context(|| format!("no lab runs in {} (no lab.pid)", dir.display()))?;
    if !alive(pid) {
        let _ = std::fs::remove_file(&pid_file);
        println!("the lab in {} was not running", dir.display());
        return Ok(());
    }
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        if Instant::now() > deadline {
            bail!("the lab (pid {pid}) did not stop within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("lab in {} stopped", dir.display());
    Ok(())
}

fn read_pid(path: &Path) -> Option<libc::pid_t> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether the process runs: it exists and is not a zombie waiting for
/// its parent (a shell script that has not reaped it yet).
fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) == 0 }
        || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && !is_zombie(pid)
}

fn is_zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses.
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(false)
}
