//! The `sitedeck` binary: parse the command line, then run the cockpit or a
//! headless command.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use sitedeck::app::action::Action;
use sitedeck::app::run::{discover_sites, run};
use sitedeck::app::state::{Level, Options, State, View};
use sitedeck::cli::{Cli, run_command};
use sitedeck::config::keymap::Keymap;
use sitedeck::config::theme::{self, Theme};
use sitedeck::config::{Paths, profile};

/// How long to wait at exit for background work (a DNS lookup, a probe)
/// before leaving without it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = Paths::from_env();
    let log_problem = sitedeck::logging::init(&paths).err();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "sitedeck: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = if let Some(command) = &cli.command {
        // Headless output piped into `head` ends quietly, as other tools do.
        // SAFETY: resetting a signal disposition at start, before any thread writes.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        if let Some(problem) = &log_problem {
            let _ = writeln!(std::io::stderr(), "warning: {problem}");
        }
        runtime.block_on(run_command(&cli, command, &paths))
    } else {
        match runtime.block_on(cockpit(cli, paths, log_problem)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e:#}");
                // After a hangup stderr may be gone too: never panic on it.
                let _ = writeln!(std::io::stderr(), "sitedeck: {e:#}");
                ExitCode::from(1)
            }
        }
    };
    // A DNS lookup in a blocking thread must not hold the exit hostage.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    code
}

async fn cockpit(cli: Cli, paths: Paths, log_problem: Option<String>) -> anyhow::Result<()> {
    let mut warnings: Vec<String> = log_problem.into_iter().collect();
    let overlay = std::fs::read_to_string(paths.user_keymap()).ok();
    let (keymap, keymap_warnings) = Keymap::load(&cli.keymap, overlay.as_deref());
    warnings.extend(keymap_warnings);
    let theme_name = cli
        .theme
        .clone()
        .unwrap_or_else(|| theme::default_name().to_owned());
    let themes = Theme::available(&paths.user_themes_dir());
    if !themes.contains(&theme_name) {
        anyhow::bail!(
            "unknown theme `{theme_name}`: choose one of {} (your own go in {})",
            themes.join(", "),
            paths.user_themes_dir().display()
        );
    }
    let (theme, theme_warnings) = Theme::load(&theme_name, &paths.user_themes_dir());
    warnings.extend(theme_warnings);
    let options = Options {
        readonly: cli.readonly,
        context: cli.context.clone(),
        kubeconfig: cli.kubeconfig.clone(),
        sites_dir: paths.sites_dir(),
    };
    let mut state = State::new(keymap, theme, themes, options);
    state.sites = discover_sites(&paths.sites_dir());
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if let Some(first) = warnings.first() {
        state.say(Level::Warn, first.clone());
    }
    state.config_warnings = warnings;
    let mut initial = Vec::new();
    if let Some(site) = &cli.site {
        match profile::find(site, &paths.sites_dir()) {
            Ok(path) => {
                state.view = View::Overview;
                initial.extend(sitedeck::app::update(&mut state, Action::OpenSite(path)));
            }
            Err(e) => {
                state.site_error = Some(e.clone());
                state.say(Level::Error, e);
            }
        }
    }
    run(state, paths, initial).await
}
