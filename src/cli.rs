//! The command line: the cockpit's options and the headless commands.

mod cluster_status;
mod journal;
mod kafka;
mod logs;
mod middleware_status;
mod node_exec;
mod nodes;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use std::time::Duration;

use crate::cluster::connect::ClusterTarget;
use crate::config::Paths;
use crate::config::keymap::Keymap;
use crate::config::profile::{self, LoadedProfile};
use crate::probe::{self, ProbeReport, Source};

/// The names `--keymap` accepts: the shipped keymaps.
pub const KEYMAP_NAMES: [&str; 2] = ["default", "vim"];

const AFTER_HELP: &str = "\
Files:
  ~/.config/sitedeck/sites/*.yaml   site profiles (docs/site-profile.md)
  ~/.config/sitedeck/keymap.toml    your keys, overlaid on --keymap
  ~/.config/sitedeck/themes/*.toml  your themes
  ~/.local/state/sitedeck/sitedeck.log   the log (SITEDECK_LOG=debug for more)
SITEDECK_CONFIG_DIR and SITEDECK_STATE_DIR move them; NO_COLOR selects the mono theme.

Examples:
  sitedeck --site acme-prod --readonly
  sitedeck status --site ./acme.yaml --format json";

/// sitedeck — an operations cockpit for on-premises Kubernetes sites.
///
/// Without a command, opens the cockpit (on --site, or on the site list).
#[derive(Debug, Parser)]
#[command(name = "sitedeck", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    /// The site: a profile name from the sites directory, or a file path.
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub site: Option<String>,
    /// The kube context to use instead of the profile's.
    #[arg(long, global = true, value_name = "CTX")]
    pub context: Option<String>,
    /// The kubeconfig to use instead of the profile's (and of KUBECONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Read-only: nothing that changes the cluster, a node or a database runs.
    #[arg(long, global = true)]
    pub readonly: bool,
    /// Theme: dark, light, high-contrast, mono, or a user theme (NO_COLOR selects mono).
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// Keymap; the user's keymap.toml overlays it.
    #[arg(long, global = true, value_name = "NAME", default_value = "default",
          value_parser = clap::builder::PossibleValuesParser::new(KEYMAP_NAMES))]
    pub keymap: String,
    /// A headless command instead of the cockpit.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Headless commands, for scripts, cron and CI.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the site profiles found in the sites directory; exits 1 if any is invalid.
    Sites,
    /// Work with site profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Probe every source of a site once and print what Overview shows.
    /// Exits 1 if any source is down, 2 if the site cannot be loaded.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the key bindings of a keymap as a Markdown table.
    Keys,
    /// Kafka commands.
    #[command(subcommand)]
    Kafka(KafkaCommand),
    /// Pods' logs merged by time, parsed and sanitised: a workload's, a
    /// selector's, or one trace's from every pod; or a node's journal over
    /// SSH (--node). Exits 1 if the cluster, the pods or the node's
    /// journal cannot be read, 2 on a usage error.
    Logs(LogsArgs),
    /// The profile's nodes over SSH (through its bastion when set): facts,
    /// findings, each clock against this host's and the largest skew.
    /// Exits 1 if a node cannot be read, 2 when the profile lists none.
    Nodes {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Record a host key after comparing its fingerprint:
        /// `NAME=SHA256:…` (as `ssh-keygen -lf` prints it on the host);
        /// NAME is a node, or `bastion` for ssh.bastion. Repeatable.
        #[arg(long, value_name = "NAME=FINGERPRINT")]
        accept: Vec<String>,
    },
    /// Run a command on nodes over SSH, in parallel, and print each node's
    /// output. Refused with --readonly; audited. Exits 0 when every node
    /// exited 0, 1 otherwise, 2 when refused.
    #[command(
        after_help = "Example:\n  sitedeck exec --site acme-prod --all --confirm acme-prod -- df -h /var"
    )]
    #[command(group(clap::ArgGroup::new("which").required(true).args(["nodes", "all"])))]
    Exec {
        /// A node by its profile name (repeatable).
        #[arg(long = "node", value_name = "NAME")]
        nodes: Vec<String>,
        /// Every node of the profile.
        #[arg(long, conflicts_with = "nodes")]
        all: bool,
        /// The site's name again: needed on production sites.
        #[arg(long, value_name = "SITE")]
        confirm: Option<String>,
        /// Stop waiting after this many seconds without output.
        #[arg(long, value_name = "SECONDS", default_value_t = 60,
              value_parser = clap::value_parser!(u64).range(1..))]
        quiet_timeout: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// The command, run by each node's login shell.
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

/// `sitedeck logs`' flags.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("pods").required(true).args(["workload", "selector", "trace", "node"])))]
pub struct LogsArgs {
    /// The pods of a Deployment, StatefulSet or DaemonSet.
    #[arg(long, value_name = "NAMESPACE/NAME", conflicts_with = "selector")]
    pub workload: Option<String>,
    /// The pods a label selector matches, e.g. acme-prod/app=billing.
    #[arg(long, value_name = "NAMESPACE/SELECTOR")]
    pub selector: Option<String>,
    /// Only the lines of this trace id (or of the ids it starts, at least
    /// 8 characters); alone, from every pod of --namespace (default: every
    /// namespace), the last 15 minutes.
    #[arg(long, value_name = "ID")]
    pub trace: Option<String>,
    /// With --trace alone: the namespace whose pods are read.
    #[arg(long, value_name = "NAMESPACE", requires = "trace")]
    pub namespace: Option<String>,
    /// A node's systemd journal instead, over SSH (through the bastion when
    /// set): its last 500 entries, or those of --since.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with_all = ["workload", "selector", "trace", "container", "previous", "init_containers"]
    )]
    pub node: Option<String>,
    /// With --node: the systemd unit (default kubelet; containerd, docker,
    /// chronyd…).
    #[arg(long, value_name = "UNIT", requires = "node")]
    pub unit: Option<String>,
    /// Lines from this long ago: 30s, 10m, 2h, 1d.
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,
    /// Keep reading: new lines, resumed streams and new pods.
    #[arg(long, short)]
    pub follow: bool,
    /// One container (default: every container of each pod).
    #[arg(long, short, value_name = "NAME")]
    pub container: Option<String>,
    /// The previous (crashed) container's log.
    #[arg(long, short)]
    pub previous: bool,
    /// Init containers too (their logs first, as they ran first).
    #[arg(long)]
    pub init_containers: bool,
    /// Output format (`text` is the table).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Kafka commands.
#[derive(Debug, Subcommand)]
pub enum KafkaCommand {
    /// Print the last messages of a partition (or those from a time),
    /// read-only: never joins or commits for a consumer group. Exits 1 if
    /// the cluster cannot be read, 2 on a usage error.
    Peek {
        /// The topic.
        topic: String,
        /// The partition.
        #[arg(long, short, default_value_t = 0)]
        partition: i32,
        /// How many messages at most.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
        /// The first messages at or after this time instead of the last ones:
        /// 2026-12-03T10:30:00Z, 2026-12-03 10:30 or 10:30 (local time), or
        /// 90m / 2h / 1d ago.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// The Kafka cluster's name in the profile (needed when it has several).
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Profile commands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Validate a profile: exit 0 if it is valid, 1 with every problem if not.
    Check {
        /// The profile file.
        file: PathBuf,
    },
}

/// Output formats of headless commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[value(alias = "text")]
    Table,
    /// JSON for programs.
    Json,
}

/// Runs a headless command.
pub async fn run_command(cli: &Cli, command: &Command, paths: &Paths) -> ExitCode {
    match command {
        Command::Sites => sites(paths),
        Command::Profile(ProfileCommand::Check { file }) => check_profile(file),
        Command::Status { format } => status(cli, *format, paths).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "sitedeck", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Keys => {
            let (keymap, warnings) = Keymap::load(&cli.keymap, None);
            for w in warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", keymap.markdown_table());
            ExitCode::SUCCESS
        }
        Command::Logs(args) => {
            let loaded = match load_site(cli, paths) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            match journal::request(args, &loaded.profile) {
                Some(Ok(request)) => {
                    let json = args.format == Format::Json;
                    return journal::journal(&loaded.profile, &paths.state_dir, request, json)
                        .await;
                }
                Some(Err(why)) => {
                    eprintln!("{why}");
                    return ExitCode::from(2);
                }
                None => {}
            }
            let request = match logs::request(args, &loaded.profile) {
                Ok(request) => request,
                Err(why) => {
                    eprintln!("{why}");
                    return ExitCode::from(2);
                }
            };
            let target = ClusterTarget::of_site(
                &loaded.profile,
                cli.kubeconfig.as_deref(),
                cli.context.as_deref(),
            );
            logs::logs(&loaded.profile, target.as_ref(), &paths.state_dir, request).await
        }
        Command::Nodes { format, accept } => {
            let loaded = match load_site(cli, paths) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            if accept.is_empty() {
                return nodes::nodes(
                    &loaded.profile,
                    &paths.state_dir,
                    *format == Format::Json,
                    None,
                )
                .await;
            }
            // Each key in turn (the bastion's first when it is named
            // first: the nodes are reached through it).
            let mut worst = ExitCode::SUCCESS;
            for one in accept {
                let code = nodes::nodes(
                    &loaded.profile,
                    &paths.state_dir,
                    *format == Format::Json,
                    Some(one),
                )
                .await;
                if code != ExitCode::SUCCESS {
                    worst = code;
                }
            }
            worst
        }
        Command::Exec {
            nodes,
            all,
            confirm,
            quiet_timeout,
            format,
            command,
        } => {
            let loaded = match load_site(cli, paths) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let command = command.join(" ");
            node_exec::exec(
                &loaded.profile,
                &paths.state_dir,
                node_exec::ExecRequest {
                    nodes,
                    all: *all,
                    command: &command,
                    confirm: confirm.as_deref(),
                    quiet_timeout: Duration::from_secs(*quiet_timeout),
                    readonly: cli.readonly,
                    json: *format == Format::Json,
                },
            )
            .await
        }
        Command::Kafka(KafkaCommand::Peek {
            topic,
            partition,
            limit,
            from,
            cluster,
            format,
        }) => {
            let loaded = match load_site(cli, paths) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let request = kafka::PeekRequest {
                cluster: cluster.clone(),
                topic: topic.clone(),
                partition: *partition,
                limit: *limit,
                from: from.clone(),
                json: *format == Format::Json,
            };
            let target = ClusterTarget::of_site(
                &loaded.profile,
                cli.kubeconfig.as_deref(),
                cli.context.as_deref(),
            );
            kafka::peek(&loaded.profile, &request, target.as_ref(), &paths.state_dir).await
        }
    }
}

/// The profile `--site` names, its warnings printed; exit code 2 when it
/// cannot be loaded.
fn load_site(cli: &Cli, paths: &Paths) -> Result<LoadedProfile, ExitCode> {
    let Some(site) = &cli.site else {
        eprintln!("this command needs --site NAME|PATH (run `sitedeck sites` to list them)");
        return Err(ExitCode::from(2));
    };
    let loaded = profile::find(site, &paths.sites_dir())
        .and_then(|path| profile::load(&path).map_err(|e| e.to_string()))
        .map_err(|e| {
            eprintln!("{e}");
            ExitCode::from(2)
        })?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

fn sites(paths: &Paths) -> ExitCode {
    let dir = paths.sites_dir();
    let found = profile::discover(&dir);
    if found.is_empty() {
        println!("no site profiles in {}", dir.display());
        return ExitCode::SUCCESS;
    }
    println!("{:<24} {:<8} {:<10} FILE", "NAME", "ENV", "STATUS");
    let mut invalid = 0;
    for site in &found {
        let (env, status) = match &site.profile {
            Ok(loaded) => (loaded.profile.environment.to_string(), "ok".to_owned()),
            Err(e) => {
                invalid += 1;
                let problems = e.to_string().lines().count();
                (String::new(), format!("invalid ({problems})"))
            }
        };
        println!(
            "{:<24} {:<8} {:<10} {}",
            crate::text::one_line(&site.display_name()),
            env,
            status,
            crate::text::one_line(&site.path.display().to_string())
        );
    }
    if invalid > 0 {
        eprintln!("{invalid} invalid profile(s): `sitedeck profile check FILE` lists the problems");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn check_profile(file: &std::path::Path) -> ExitCode {
    match profile::load(file) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            let p = &loaded.profile;
            if let Some(release) = &p.release {
                let file = release.resolve(&p.base_dir);
                if let Err(e) = crate::cluster::release::load(&file) {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            }
            println!(
                "{}: ok — site {} ({}), {} middleware endpoint(s), {} kafka cluster(s)",
                crate::text::one_line(&file.display().to_string()),
                crate::text::one_line(&p.name),
                p.environment,
                p.middleware.len(),
                p.kafka.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// One source and its report, as `status --format json` prints it.
#[derive(Debug, Serialize)]
pub struct SourceStatus {
    /// The source.
    #[serde(flatten)]
    pub source: Source,
    /// Its report.
    #[serde(flatten)]
    pub report: ProbeReport,
}

/// What `status --format json` prints.
#[derive(Debug, Serialize)]
pub struct SiteStatus {
    /// The site's name.
    pub site: String,
    /// Its environment.
    pub environment: crate::config::profile::Environment,
    /// Whether it is read-only.
    pub readonly: bool,
    /// The profile file.
    pub profile: PathBuf,
    /// Every source with its report.
    pub sources: Vec<SourceStatus>,
    /// How many sources are down.
    pub down: usize,
    /// The cluster: reachability, permissions, versions and drift; absent
    /// when the profile has no cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<cluster_status::ClusterStatus>,
    /// Each node's facts, findings, clock and time daemon; absent when
    /// the profile lists no nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<crate::nodes::survey::NodeReport>>,
    /// The site's time: offsets, the largest skew, daemons, NTP servers;
    /// absent without nodes or NTP servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<crate::nodes::time::TimeReport>,
    /// Each middleware endpoint's state, role, figures and findings.
    pub middleware: Vec<middleware_status::MiddlewareStatus>,
    /// Each Kafka cluster's brokers, topics and groups with their lag.
    pub kafka: Vec<kafka::KafkaStatus>,
}

/// Probes every source of a loaded profile concurrently.
pub async fn probe_all(
    loaded: &LoadedProfile,
    cluster: Option<&ClusterTarget>,
    readonly: bool,
    forwards: Option<crate::cluster::portforward::Forwards>,
    state_dir: &std::path::Path,
) -> SiteStatus {
    let profile = &loaded.profile;
    let context = cluster.and_then(|c| c.context.as_deref());
    let sources = probe::plan(profile, context);
    let env = probe::ProbeEnv {
        cluster: cluster.cloned(),
        readonly: readonly || profile.readonly,
        forwards,
        bastion: crate::nodes::access::Bastion::of_profile(
            profile,
            state_dir,
            Duration::from_secs_f64(profile.probes.timeout_seconds.max(1.0)),
        ),
    };
    let reports =
        futures::future::join_all(sources.iter().map(|s| probe::run(s, profile, &env))).await;
    let sources: Vec<SourceStatus> = sources
        .into_iter()
        .zip(reports)
        .map(|(source, report)| SourceStatus { source, report })
        .collect();
    SiteStatus {
        site: profile.name.clone(),
        environment: profile.environment,
        readonly: readonly || profile.readonly,
        profile: profile.source_file.clone(),
        down: sources.iter().filter(|s| s.report.state.is_down()).count(),
        middleware: middleware_status::collect(&sources),
        kafka: kafka::collect(&sources),
        sources,
        cluster: None,
        nodes: None,
        time: None,
    }
}

async fn status(cli: &Cli, format: Format, paths: &Paths) -> ExitCode {
    let loaded = match load_site(cli, paths) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let target = ClusterTarget::of_site(
        &loaded.profile,
        cli.kubeconfig.as_deref(),
        cli.context.as_deref(),
    );
    let release = loaded.profile.release.as_ref().map(|file| {
        crate::cluster::release::load(&file.resolve(&loaded.profile.base_dir))
            .map_err(|e| e.to_string())
    });
    let wait = Duration::from_secs_f64(loaded.profile.probes.timeout_seconds.max(1.0) * 3.0);
    let cluster = async {
        match target.clone() {
            Some(target) => Some(
                cluster_status::collect(
                    target,
                    &loaded.profile.source_file,
                    &paths.state_dir,
                    release,
                    wait,
                )
                .await,
            ),
            None => None,
        }
    };
    let forwards =
        middleware_status::forwards(&loaded.profile, target.as_ref(), &paths.state_dir).await;
    let (mut status, cluster, (nodes, time)) = futures::join!(
        probe_all(
            &loaded,
            target.as_ref(),
            cli.readonly,
            forwards,
            &paths.state_dir
        ),
        cluster,
        nodes::site_nodes(&loaded.profile, &paths.state_dir)
    );
    status.cluster = cluster;
    status.nodes = nodes;
    status.time = time;
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Json => serde_json::to_string_pretty(&status)
            .map_err(std::io::Error::other)
            .and_then(|json| writeln!(out, "{json}")),
        Format::Table => write_table(&mut out, &status),
    };
    if let Err(e) = written {
        eprintln!("cannot write the status: {e}");
        return ExitCode::from(2);
    }
    let cluster_problems = status
        .cluster
        .as_ref()
        .is_some_and(cluster_status::ClusterStatus::has_problems);
    let degraded = status
        .sources
        .iter()
        .any(|s| s.report.state == probe::ProbeState::Degraded);
    let node_problems = status
        .nodes
        .iter()
        .flatten()
        .any(|node| node.error.is_some() || !node.findings.is_empty())
        || status
            .time
            .as_ref()
            .is_some_and(|time| time.severity.is_some());
    if status.down > 0 || degraded || cluster_problems || node_problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn write_table(out: &mut impl Write, status: &SiteStatus) -> std::io::Result<()> {
    writeln!(
        out,
        "site {} ({}){}",
        crate::text::one_line(&status.site),
        status.environment,
        if status.readonly { ", readonly" } else { "" }
    )?;
    let names: Vec<String> = status
        .sources
        .iter()
        .map(|s| crate::text::one_line(&s.source.name))
        .collect();
    let targets: Vec<String> = status
        .sources
        .iter()
        .map(|s| crate::text::one_line(&s.source.target))
        .collect();
    // Columns as wide as their longest cell, so a long name or an
    // in-cluster target does not push the rest of its row out of line.
    let width = |cells: &[String], least: usize| {
        cells
            .iter()
            .map(|c| unicode_width::UnicodeWidthStr::width(c.as_str()))
            .max()
            .unwrap_or(0)
            .max(least)
    };
    let (name_width, target_width) = (width(&names, 16), width(&targets, 24));
    writeln!(
        out,
        "{:<name_width$} {:<10} {:<target_width$} {:<12} {:>8}  DETAIL",
        "NAME", "KIND", "TARGET", "STATE", "LATENCY"
    )?;
    for ((s, name), target) in status.sources.iter().zip(&names).zip(&targets) {
        let latency = s
            .report
            .latency_ms
            .map_or_else(String::new, |ms| format!("{ms:.0} ms"));
        writeln!(
            out,
            "{name:<name_width$} {:<10} {target:<target_width$} {:<12} {:>8}  {}",
            s.source.kind.label(),
            s.report.state.label(),
            latency,
            s.report.detail
        )?;
    }
    writeln!(
        out,
        "{} of {} source(s) down",
        status.down,
        status.sources.len()
    )?;
    middleware_status::write_table(out, &status.middleware)?;
    kafka::write_table(out, &status.kafka)?;
    if let Some(cluster) = &status.cluster {
        cluster_status::write_table(out, cluster)?;
    }
    nodes::write_table(out, status.nodes.as_deref(), status.time.as_ref())
}
