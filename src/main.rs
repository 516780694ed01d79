//! The `sitedeck` binary: parse the command line, then run the cockpit or a
//! headless command.

use std::process::ExitCode;

use clap::Parser;

use sitedeck::app::action::Action;
use sitedeck::app::run::{discover_sites, run};
use sitedeck::app::state::{Level, Options, State, View};
use sitedeck::cli::{Cli, run_command};
use sitedeck::config::keymap::Keymap;
use sitedeck::config::theme::{self, Theme};
use sitedeck::config::{Paths, profile};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = Paths::from_env();
    let log_problem = sitedeck::logging::init(&paths).err();
    if let Some(command) = &cli.command {
        if let Some(problem) = &log_problem {
            eprintln!("warning: {problem}");
        }
        return run_command(&cli, command, &paths).await;
    }
    match cockpit(cli, paths, log_problem).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sitedeck: {e:#}");
            ExitCode::from(1)
        }
    }
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
    let (theme, theme_warnings) = Theme::load(&theme_name, &paths.user_themes_dir());
    warnings.extend(theme_warnings);
    let themes = Theme::available(&paths.user_themes_dir());
    let options = Options {
        readonly: cli.readonly,
        context: cli.context.clone(),
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
