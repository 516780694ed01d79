//! `sitedeck exec`: an ad-hoc command on some or all of the site's nodes,
//! in parallel, each node's output under its name. Refused in read-only
//! mode; on a production site it needs `--confirm SITE` (the typed
//! confirmation a script can give); audited before and after.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::profile::{Environment, SiteProfile};
use crate::nodes::cluster_nodes::site_nodes;
use crate::nodes::exec::{ExecSettings, NodeOutput, run_audited};

/// What `sitedeck exec` was asked.
#[derive(Debug)]
pub struct ExecRequest<'a> {
    /// The nodes by name; empty with `all`.
    pub nodes: &'a [String],
    /// Every node of the profile.
    pub all: bool,
    /// The command, as the remote shell reads it.
    pub command: &'a str,
    /// The site's name, typed again (needed on production sites).
    pub confirm: Option<&'a str>,
    /// How long the command may stay silent.
    pub quiet_timeout: Duration,
    /// `--readonly`.
    pub readonly: bool,
    /// JSON instead of text.
    pub json: bool,
}

/// Why a command may not run on this site now, if it may not: read-only
/// mode, or a production site without the site's name typed again.
pub fn refusal(profile: &SiteProfile, readonly: bool, confirm: Option<&str>) -> Option<String> {
    if readonly || profile.readonly {
        return Some(
            "read-only mode: commands on nodes are not run (drop --readonly, or `readonly: true` from the profile)"
                .into(),
        );
    }
    if profile.environment == Environment::Prod && confirm != Some(profile.name.as_str()) {
        return Some(format!(
            "{} is a production site: add --confirm {} to run the command",
            profile.name, profile.name
        ));
    }
    None
}

/// Runs the request; exits 0 when every node ran it and exited 0, 1
/// otherwise, 2 when it was refused or the nodes are unknown.
pub async fn exec(profile: &SiteProfile, state_dir: &Path, request: ExecRequest<'_>) -> ExitCode {
    if let Some(why) = refusal(profile, request.readonly, request.confirm) {
        eprintln!("exec: {why}");
        return ExitCode::from(2);
    }
    let nodes = match site_nodes(profile, state_dir).await {
        None => {
            eprintln!("exec: the profile has no `ssh` section: list the nodes under ssh.nodes");
            return ExitCode::from(2);
        }
        Some(Err(e)) => {
            eprintln!("exec: {e}");
            return ExitCode::from(1);
        }
        Some(Ok(nodes)) => nodes,
    };
    let known: Vec<&str> = nodes
        .access
        .nodes
        .iter()
        .map(|(n, _)| n.as_str())
        .chain(nodes.unreachable.iter().map(|r| r.name.as_str()))
        .collect();
    let names: Vec<String> = if request.all {
        known.iter().map(|n| (*n).to_owned()).collect()
    } else {
        request.nodes.to_vec()
    };
    let unknown: Vec<&str> = names
        .iter()
        .filter(|name| !known.contains(&name.as_str()))
        .map(String::as_str)
        .collect();
    if names.is_empty() || !unknown.is_empty() {
        eprintln!(
            "exec: {}; the profile's nodes: {}",
            if names.is_empty() {
                "name the nodes with --node, or use --all".to_owned()
            } else {
                format!("no node named {}", unknown.join(", "))
            },
            known.join(", ")
        );
        return ExitCode::from(2);
    }
    let settings = ExecSettings {
        quiet_timeout: request.quiet_timeout,
        ..ExecSettings::default()
    };
    let ran = run_audited(
        &profile.name,
        state_dir,
        nodes,
        &names,
        request.command,
        settings,
    )
    .await;
    let outputs = match ran {
        Ok(outputs) => outputs,
        Err(why) => {
            eprintln!("exec: {why}");
            return ExitCode::from(2);
        }
    };
    if request.json {
        match serde_json::to_string_pretty(&outputs) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("exec: {e}"),
        }
    } else {
        print!("{}", render(&outputs));
    }
    if outputs.iter().all(NodeOutput::succeeded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Each node's output under a line with its name and how it ended.
pub fn render(outputs: &[NodeOutput]) -> String {
    let mut text = String::new();
    for output in outputs {
        text.push_str(&format!(
            "== {} ({}) {}, {} ms\n",
            output.name,
            output.target,
            output.ended(),
            output.took_ms
        ));
        text.push_str(&output.output);
        if !output.output.is_empty() && !output.output.ends_with('\n') {
            text.push('\n');
        }
        if output.cut {
            text.push_str(&format!(
                "[output cut after {} KiB]\n",
                crate::nodes::exec::MAX_OUTPUT / 1024
            ));
        }
    }
    text
}
