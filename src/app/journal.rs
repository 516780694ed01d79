//! A node's journal in the Logs view: `J` in Hosts follows the selected
//! node's `kubelet` journal; `journal UNIT` in the palette follows another
//! unit of that node (or of the journal open). The lines come over SSH
//! ([`crate::logs::journal`]) as pods' lines do, so follow, the level
//! filter, wrap, save and copy work as for pods.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinHandle;

use super::action::Action;
use super::effect::Effect;
use super::logs::LogsState;
use super::palette::PaletteEntry;
use super::state::{Level as Say, Popup, State, View};
use crate::config::profile::SiteProfile;
use crate::logs::journal::{COMMON_UNITS, DEFAULT_UNIT, JournalRequest, OnNotice, check_unit};
use crate::logs::stream::{LogSource, Progress};

/// What the palette says of its `journal UNIT` entries.
const PALETTE_DESC: &str = "Follow this unit's journal on the node; or type any unit: journal UNIT";

/// `J` in Hosts: the selected node's kubelet journal, followed.
pub fn open(state: &mut State) -> Vec<Effect> {
    if state.view != View::Hosts {
        state.say(Say::Info, "J follows a node's journal from Hosts (g N)");
        return Vec::new();
    }
    match selected_node(state) {
        Some(node) => start(state, node, DEFAULT_UNIT.to_owned()),
        None => {
            state.say(Say::Info, "no node to read yet: the nodes are being read");
            Vec::new()
        }
    }
}

/// `journal UNIT` from the palette: that unit's journal of the node whose
/// journal is open, or of the node selected in Hosts.
pub fn with_unit(state: &mut State, unit: String) -> Vec<Effect> {
    if let Err(e) = check_unit(&unit) {
        state.say(Say::Warn, e.to_string());
        return Vec::new();
    }
    let node = open_journal(state)
        .map(|(node, _)| node.to_owned())
        .or_else(|| {
            (state.view == View::Hosts)
                .then(|| selected_node(state))
                .flatten()
        });
    match node {
        Some(node) => start(state, node, unit),
        None => {
            state.say(
                Say::Info,
                "journal UNIT reads a node's journal: select the node in Hosts (g N) first",
            );
            Vec::new()
        }
    }
}

/// The palette's `journal UNIT` entries, where a journal can be opened.
pub fn palette_entries(state: &State) -> Vec<PaletteEntry> {
    if !can_open(state) {
        return Vec::new();
    }
    COMMON_UNITS
        .iter()
        .map(|unit| PaletteEntry {
            label: format!("journal {unit}"),
            desc: PALETTE_DESC.to_owned(),
            action: Action::JournalUnit((*unit).to_owned()),
        })
        .collect()
}

/// `journal UNIT` typed in the palette (any unit, not only those offered):
/// the action, or why the unit is refused; `None` when the query is not
/// one, when the selected entry completes it (`journal contai` runs
/// `journal containerd`), or when no journal can be opened here.
pub fn typed_unit(state: &State, query: &str) -> Option<Result<Action, String>> {
    let query = query.trim();
    let unit = query.strip_prefix("journal ")?.trim();
    if unit.is_empty() || !can_open(state) {
        return None;
    }
    if let Some(Popup::Palette(palette)) = &state.popup
        && palette
            .selected_entry()
            .is_some_and(|entry| entry.label.starts_with(query))
    {
        return None;
    }
    Some(
        check_unit(unit)
            .map(|()| Action::JournalUnit(unit.to_owned()))
            .map_err(|e| e.to_string()),
    )
}

/// Whether the Logs view reads a journal: what `t` and `P` say then.
pub fn refused_for_journal(state: &mut State, key: &str) -> bool {
    if open_journal(state).is_none() {
        return false;
    }
    state.say(
        Say::Info,
        format!(
            "{key}: not for journals (a node's journal has no trace pivot nor previous containers)"
        ),
    );
    true
}

/// The node and unit of the journal the Logs view reads, if it reads one.
fn open_journal(state: &State) -> Option<(&str, &str)> {
    if state.view != View::Logs {
        return None;
    }
    match state.site.as_ref()?.logs.as_ref()?.source.as_ref()? {
        LogSource::NodeJournal { node, unit } => Some((node, unit)),
        _ => None,
    }
}

fn can_open(state: &State) -> bool {
    state.view == View::Hosts || open_journal(state).is_some()
}

/// The node of the selected Hosts row.
fn selected_node(state: &State) -> Option<String> {
    let site = state.site.as_ref()?;
    let row = site.nodes.hosts.selected_row()?;
    Some(row.target.name.clone())
}

/// Opens the Logs view on `unit`'s journal of `node` (replacing what it
/// read).
fn start(state: &mut State, node: String, unit: String) -> Vec<Effect> {
    state.last_logs += 1;
    let generation = state.last_logs;
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    let settings = &site.loaded.profile.logs;
    let mut logs = LogsState::new(
        format!("journal {node} · {unit}"),
        generation,
        settings.max_lines,
    );
    logs.wrap = site.logs.as_ref().is_some_and(|old| old.wrap);
    let request = JournalRequest {
        names: Arc::new(settings.fields.clone()),
        ..JournalRequest::new(&node, &unit)
    };
    logs.source = Some(LogSource::NodeJournal { node, unit });
    site.logs = Some(logs);
    let profile = Arc::new(site.loaded.profile.clone());
    if state.view != View::Logs {
        state.previous_view = Some(state.view);
        state.view = View::Logs;
    }
    vec![Effect::StreamJournal {
        generation,
        profile,
        request,
    }]
}

/// Reads the journal for the Logs view (the effect runner's side): lines
/// go out in batches (every 100 ms, or 2000 lines), what journalctl says
/// besides them as the reading's progress, then `LogsEnded`. Aborting the
/// task drops the lines' receiver, which stops the reader on the node.
pub fn spawn(
    tx: UnboundedSender<Action>,
    state_dir: PathBuf,
    generation: u64,
    profile: Arc<SiteProfile>,
    request: JournalRequest,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (lines_tx, mut lines) = mpsc::channel(4096);
        let on_notice: OnNotice = {
            let tx = tx.clone();
            Arc::new(move |notice: &str| {
                let progress = Progress {
                    found: 1,
                    open: 1,
                    last_failure: Some(notice.to_owned()),
                    ..Progress::default()
                };
                let _ = tx.send(Action::LogsProgress {
                    generation,
                    progress,
                });
            })
        };
        let (node, follow) = (request.node.clone(), request.follow);
        let reading =
            crate::logs::journal::read(&profile, &state_dir, request, lines_tx, on_notice);
        let forwarding = async {
            let mut batch = Vec::new();
            let mut open = true;
            while open {
                open = super::logs::gather(&mut lines, &mut batch).await;
                if !batch.is_empty() {
                    let lines = std::mem::take(&mut batch);
                    let _ = tx.send(Action::LogLines { generation, lines });
                }
            }
        };
        let (read, ()) = tokio::join!(reading, forwarding);
        let error = match read {
            Err(e) => Some(e.to_string()),
            Ok(()) if follow => Some(format!("journalctl ended on {node}")),
            Ok(()) => None,
        };
        let _ = tx.send(Action::LogsEnded { generation, error });
    })
}
