//! An ad-hoc command on nodes from the Hosts view: `x` on the selected
//! node, `X` on all. The command is typed in a popup; on a production
//! site the site's name is typed again (Esc cancels, the default); then
//! it runs (audited by the effect runner) and each node's output shows in
//! the same popup. Nothing runs in read-only mode.

use std::sync::Arc;

use ratatui_textarea::TextArea;

use super::effect::Effect;
use super::state::{Level, Popup, State, View};
use crate::config::keymap::KeyChord;
use crate::config::profile::Environment;
use crate::nodes::exec::NodeOutput;

/// The command popup.
#[derive(Debug, Clone)]
pub struct NodeCommand {
    /// The nodes it runs on, by name.
    pub nodes: Vec<String>,
    /// Where it is.
    pub stage: Stage,
}

/// The steps of a command run.
#[derive(Debug, Clone)]
pub enum Stage {
    /// The command is being typed.
    Typing(TextArea<'static>),
    /// A production site: its name is being typed again.
    Confirming {
        /// The command.
        command: String,
        /// What is typed.
        typed: TextArea<'static>,
    },
    /// Running.
    Running {
        /// The command.
        command: String,
        /// The run's number, which its result carries.
        run: u64,
    },
    /// Ended: each node's output, or why nothing ran.
    Done {
        /// The command.
        command: String,
        /// Each node's output, or why nothing ran.
        outputs: Result<Vec<NodeOutput>, String>,
        /// The first line shown.
        scroll: u16,
    },
}

impl NodeCommand {
    /// The input being typed, if any.
    pub fn input(&mut self) -> Option<&mut TextArea<'static>> {
        match &mut self.stage {
            Stage::Typing(input) | Stage::Confirming { typed: input, .. } => Some(input),
            Stage::Running { .. } | Stage::Done { .. } => None,
        }
    }

    /// Whether keys go to an input line.
    pub fn is_typing(&self) -> bool {
        matches!(self.stage, Stage::Typing(_) | Stage::Confirming { .. })
    }
}

fn input_line() -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_cursor_line_style(ratatui::style::Style::default());
    input
}

/// Opens the popup for the selected node (`all`: every node surveyed).
pub fn open(state: &mut State, all: bool) {
    if state.view != View::Hosts {
        state.say(Level::Info, "commands run on nodes from Hosts (g N)");
        return;
    }
    if state.readonly() {
        state.say(Level::Warn, "read-only mode: commands on nodes are not run");
        return;
    }
    let Some(site) = &state.site else { return };
    let mut nodes: Vec<String> = if all {
        site.nodes
            .snapshot()
            .map(|s| s.survey.nodes.iter().map(|n| n.name.clone()).collect())
            .unwrap_or_default()
    } else {
        site.nodes
            .hosts
            .selected_row()
            .map(|row| vec![row.target.name.clone()])
            .unwrap_or_default()
    };
    // The row that says the cluster's nodes could not be listed is no node.
    nodes.retain(|name| name != crate::nodes::cluster_nodes::LISTING_ROW);
    if nodes.is_empty() {
        state.say(Level::Info, "no node to run a command on yet");
        return;
    }
    state.popup = Some(Popup::NodeCommand(Box::new(NodeCommand {
        nodes,
        stage: Stage::Typing(input_line()),
    })));
}

/// Feeds a key to the input line.
pub fn type_key(command: &mut NodeCommand, chord: KeyChord) {
    if let Some(input) = command.input() {
        input.input(crossterm::event::KeyEvent::new(chord.code, chord.modifiers));
    }
}

/// Pastes the first line of `text` into the input line.
pub fn paste(command: &mut NodeCommand, text: &str) {
    if let Some(input) = command.input() {
        input.insert_str(text.lines().next().unwrap_or_default());
    }
}

/// Enter: the typed command goes on to the confirmation (production) or
/// runs; the typed site name runs it when it matches.
pub fn submit(state: &mut State) -> Vec<Effect> {
    let production = state
        .site
        .as_ref()
        .is_some_and(|s| s.loaded.profile.environment == Environment::Prod);
    let site_name = state
        .site
        .as_ref()
        .map(|s| s.loaded.profile.name.clone())
        .unwrap_or_default();
    let Some(Popup::NodeCommand(popup)) = &mut state.popup else {
        return Vec::new();
    };
    let command = match &popup.stage {
        Stage::Typing(input) => {
            let command = input.lines().join(" ").trim().to_owned();
            if command.is_empty() {
                return Vec::new();
            }
            if production {
                popup.stage = Stage::Confirming {
                    command,
                    typed: input_line(),
                };
                return Vec::new();
            }
            command
        }
        Stage::Confirming { command, typed } => {
            if typed.lines().join("") != site_name {
                state.say(
                    Level::Warn,
                    format!("type {site_name} to run it, or Esc to cancel"),
                );
                return Vec::new();
            }
            command.clone()
        }
        Stage::Running { .. } | Stage::Done { .. } => return Vec::new(),
    };
    start(state, command)
}

fn start(state: &mut State, command: String) -> Vec<Effect> {
    // The profile may have been read again (readonly: true) meanwhile.
    if state.readonly() {
        state.popup = None;
        state.say(Level::Warn, "read-only mode: commands on nodes are not run");
        return Vec::new();
    }
    state.last_node_command += 1;
    let run = state.last_node_command;
    let (Some(site), Some(Popup::NodeCommand(popup))) = (&mut state.site, &mut state.popup) else {
        return Vec::new();
    };
    site.nodes.changing += 1;
    let nodes = popup.nodes.clone();
    popup.stage = Stage::Running {
        command: command.clone(),
        run,
    };
    let effect = Effect::RunOnNodes {
        run,
        profile: Arc::new(site.loaded.profile.clone()),
        nodes,
        command,
    };
    state.say(Level::Info, "running the command");
    vec![effect]
}

/// A run ended: shown in its popup when it is open, else said.
pub fn ran(state: &mut State, run: u64, outputs: Result<Vec<NodeOutput>, String>) {
    if let Some(site) = &mut state.site {
        site.nodes.changing = site.nodes.changing.saturating_sub(1);
    }
    let said = match &outputs {
        Ok(outputs) => {
            let failed = outputs.iter().filter(|o| !o.succeeded()).count();
            let level = if failed == 0 {
                Level::Info
            } else {
                Level::Warn
            };
            let said = match (failed, outputs.len()) {
                (0, 1) => "the command exited 0".to_owned(),
                (0, all) => format!("the command exited 0 on all {all} nodes"),
                (failed, all) => format!("the command failed on {failed} of {all} node(s)"),
            };
            (level, said)
        }
        Err(why) => (Level::Error, why.clone()),
    };
    if let Some(Popup::NodeCommand(popup)) = &mut state.popup
        && let Stage::Running { command, run: open } = &popup.stage
        && *open == run
    {
        popup.stage = Stage::Done {
            command: command.clone(),
            outputs,
            scroll: 0,
        };
    }
    state.say(said.0, said.1);
}

/// Scrolls the output by `delta` lines.
pub fn scroll(command: &mut NodeCommand, delta: isize) {
    if let Stage::Done { scroll, .. } = &mut command.stage {
        *scroll = (i64::from(*scroll) + delta as i64).clamp(0, 20_000) as u16;
    }
}

/// The output as lines: each node under a heading with how it ended.
/// A heading carries whether its node succeeded; an output line `None`.
pub fn output_lines(outputs: &[NodeOutput]) -> Vec<(Option<bool>, String)> {
    let mut lines = Vec::new();
    for output in outputs {
        lines.push((
            Some(output.succeeded()),
            format!(
                "{} · {} · {} ms",
                output.name,
                output.ended(),
                output.took_ms
            ),
        ));
        lines.extend(
            output
                .output
                .lines()
                .map(|l| (None, l.replace('\t', "    "))),
        );
        if output.cut {
            lines.push((None, "[output cut]".into()));
        }
    }
    lines
}
