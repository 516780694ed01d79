//! The Hosts and Time views' model: the site's nodes read over SSH (facts
//! and findings; clocks and time daemons), surveyed when a view opens and
//! on `r`, one row per node in each view.

use std::sync::Arc;

use chrono::{DateTime, Local, Utc};

use super::effect::Effect;
use super::state::{Level, SiteState, State, View};
use super::table::{Cell, Table, TableRow, Target, Tone};
use crate::nodes::facts::Severity;
use crate::nodes::survey::{NodeReport, Survey};
use crate::nodes::time::{NodeTime, TimeReport};

/// The Hosts table's columns.
pub const HOST_COLUMNS: &[&str] = &[
    "NODE", "TARGET", "OS", "KERNEL", "CPUS", "LOAD", "MEM USED", "DISK", "UPTIME", "FINDINGS",
];

/// Hosts columns hidden first when narrow: TARGET, KERNEL, UPTIME, CPUS.
pub const HOST_HIDE_ORDER: &[usize] = &[1, 3, 8, 4];

/// The Time table's columns.
pub const TIME_COLUMNS: &[&str] = &[
    "NODE",
    "OFFSET",
    "±",
    "DAEMON",
    "SYNCED",
    "SOURCE",
    "STRATUM",
    "DAEMON SAYS",
];

/// Time columns hidden first when narrow: DAEMON SAYS, STRATUM, ±.
pub const TIME_HIDE_ORDER: &[usize] = &[7, 6, 2];

/// What the last survey found.
#[derive(Debug, Clone, PartialEq)]
pub struct NodesSnapshot {
    /// Each node.
    pub survey: Survey,
    /// The site's time, judged.
    pub time: TimeReport,
    /// When it was read.
    pub at: DateTime<Local>,
    /// The profile of the site it read.
    pub site: std::path::PathBuf,
    /// The nodes read so far of a survey still running.
    pub partial: bool,
}

/// The views' state for one site.
#[derive(Debug, Clone)]
pub struct NodesState {
    /// The Hosts table.
    pub hosts: Table,
    /// The Time table.
    pub time: Table,
    /// The last survey, or why it could not run.
    pub last: Option<Result<Arc<NodesSnapshot>, String>>,
    /// A survey is running.
    pub surveying: bool,
    /// Commands and host key acceptances running on the nodes: quitting
    /// asks first, so their outcome reaches the audit log.
    pub changing: usize,
}

impl NodesState {
    /// Empty tables, nothing surveyed.
    pub fn new() -> Self {
        Self {
            hosts: Table::new(HOST_COLUMNS, None),
            time: Table::new(TIME_COLUMNS, None),
            last: None,
            surveying: false,
            changing: 0,
        }
    }

    /// The last good survey.
    pub fn snapshot(&self) -> Option<&NodesSnapshot> {
        self.last.as_ref()?.as_ref().ok().map(Arc::as_ref)
    }
}

impl Default for NodesState {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts a survey of the open site, unless one runs.
pub fn survey(state: &mut State) -> Vec<Effect> {
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    if site.nodes.surveying {
        state.say(Level::Info, "the nodes are being read: results in a moment");
        return Vec::new();
    }
    let profile = &site.loaded.profile;
    let has_nodes = profile.ssh.as_ref().is_some_and(|ssh| ssh.nodes.any());
    if !has_nodes && profile.time.ntp_servers.is_empty() {
        site.nodes.last = Some(Err(
            "This site's profile lists no nodes: add them under `ssh.nodes` (see docs/nodes.md)."
                .into(),
        ));
        return Vec::new();
    }
    site.nodes.surveying = true;
    let effect = Effect::SurveyNodes {
        profile: Arc::new(site.loaded.profile.clone()),
    };
    state.say(Level::Info, "reading the nodes over SSH");
    vec![effect]
}

/// Shows a finished survey.
pub fn surveyed(state: &mut State, snapshot: Arc<NodesSnapshot>) {
    let Some(site) = &mut state.site else { return };
    // A survey of a site no longer open is not this one's.
    if site.loaded.profile.source_file != snapshot.site {
        return;
    }
    site.nodes.surveying = false;
    let failed = snapshot
        .survey
        .nodes
        .iter()
        .filter(|n| n.error.is_some())
        .count();
    site.nodes.last = Some(Ok(snapshot));
    rebuild(site);
    if failed > 0 {
        state.say(
            Level::Warn,
            format!("{failed} node(s) could not be read: see their rows"),
        );
    } else {
        state.say(Level::Info, "nodes read");
    }
}

/// Shows a node read while its survey runs: on the site's first read the
/// rows come in as the nodes answer; on a later one each node's row is
/// replaced as it answers, the others keep the last read's until then.
pub fn node_read(state: &mut State, site_file: &std::path::Path, node: NodeReport) {
    let Some(site) = &mut state.site else { return };
    if !site.nodes.surveying || site.loaded.profile.source_file != site_file {
        return;
    }
    let (mut nodes, ntp) = match &site.nodes.last {
        Some(Ok(snapshot)) => (snapshot.survey.nodes.clone(), snapshot.time.ntp.clone()),
        None | Some(Err(_)) => (Vec::new(), Vec::new()),
    };
    match nodes.iter_mut().find(|n| n.name == node.name) {
        Some(row) => *row = node,
        None => nodes.push(node),
    }
    let survey = Survey {
        nodes,
        max_skew_ms: None,
    };
    // The NTP servers' last answers stand until the survey's own come.
    let time = crate::nodes::time::assess(&survey, ntp, &site.loaded.profile.time);
    site.nodes.last = Some(Ok(Arc::new(NodesSnapshot {
        survey,
        time,
        at: Local::now(),
        site: site_file.to_path_buf(),
        partial: true,
    })));
    rebuild(site);
}

/// Rebuilds both tables from the last survey.
pub fn rebuild(site: &mut SiteState) {
    let Some(snapshot) = site.nodes.snapshot() else {
        return;
    };
    let mut hosts: Vec<TableRow> = snapshot.survey.nodes.iter().map(host_row).collect();
    hosts.sort_by_key(|r| std::cmp::Reverse(r.tone));
    let mut times: Vec<TableRow> = snapshot.time.nodes.iter().map(time_row).collect();
    times.sort_by_key(|r| std::cmp::Reverse(r.tone));
    site.nodes.hosts.set_rows(hosts);
    site.nodes.time.set_rows(times);
}

fn target(name: &str) -> Target {
    Target {
        kind: "Node".into(),
        namespace: String::new(),
        name: name.to_owned(),
    }
}

fn host_row(node: &NodeReport) -> TableRow {
    let worst = node.findings.iter().map(|f| f.severity).max();
    let tone = match (&node.error, worst) {
        (Some(_), _) | (None, Some(Severity::Critical)) => Tone::Crit,
        (None, Some(Severity::Warn)) => Tone::Warn,
        (None, None) => Tone::Normal,
    };
    let text = |s: String| Cell::Text(crate::text::one_line(&s));
    let Some(facts) = &node.facts else {
        let error = node.error.clone().unwrap_or_else(|| "not read".into());
        let mut cells = vec![text(node.name.clone()), text(node.target.clone())];
        cells.extend((2..HOST_COLUMNS.len() - 1).map(|_| Cell::Text("-".into())));
        cells.push(text(error));
        return TableRow {
            cells,
            tone,
            target: target(&node.name),
            detail: String::new(),
        };
    };
    let (total, available) = facts.memory_kib;
    let used = percent(total.saturating_sub(available), total);
    let disk = facts
        .mounts
        .iter()
        .map(|m| m.used_percent.max(m.inodes_percent.unwrap_or(0.0)))
        .fold(0.0_f64, f64::max);
    let findings = match (&node.error, node.findings.len()) {
        (Some(error), _) => crate::text::one_line(error),
        (None, 0) => "-".into(),
        (None, 1) => node.findings[0].what.clone(),
        (None, n) => format!("{n}: {}", node.findings[0].what),
    };
    TableRow {
        cells: vec![
            text(node.name.clone()),
            text(node.target.clone()),
            text(facts.os.clone()),
            text(facts.kernel.clone()),
            Cell::Number(i64::from(facts.cpus), facts.cpus.to_string()),
            Cell::Number(
                (facts.load[0] * 100.0) as i64,
                format!("{:.2}", facts.load[0]),
            ),
            Cell::Number(used as i64, format!("{used:.0} %")),
            Cell::Number(disk as i64, format!("{disk:.0} %")),
            Cell::Number(facts.uptime_s as i64, uptime(facts.uptime_s)),
            text(findings),
        ],
        tone,
        target: target(&node.name),
        detail: String::new(),
    }
}

fn time_row(node: &NodeTime) -> TableRow {
    let tone = match node.severity {
        Some(Severity::Critical) => Tone::Crit,
        Some(Severity::Warn) => Tone::Warn,
        None if node.offset_ms.is_none() => Tone::Crit,
        None => Tone::Normal,
    };
    let offset = match node.offset_ms {
        Some(ms) => Cell::Number(ms.abs().round() as i64, format!("{ms:+.1} ms")),
        None => Cell::Number(i64::MAX, "?".into()),
    };
    let give = node
        .uncertainty_ms
        .map_or_else(|| "-".into(), |ms| format!("{ms:.1} ms"));
    let daemon = node.daemon.as_ref();
    let text =
        |s: Option<String>| Cell::Text(crate::text::one_line(&s.unwrap_or_else(|| "-".into())));
    let synced = daemon.map(|d| match d.synced {
        Some(true) => "yes".to_owned(),
        Some(false) => "NO".to_owned(),
        None => "?".to_owned(),
    });
    let says = daemon.and_then(|d| d.offset_ms.map(|ms| format!("{ms:+.2} ms")));
    let says = match (says, &node.error, daemon.and_then(|d| d.note.clone())) {
        (Some(says), _, _) => Some(says),
        (None, Some(error), _) => Some(error.clone()),
        (None, None, note) => note,
    };
    TableRow {
        cells: vec![
            text(Some(node.name.clone())),
            offset,
            Cell::Text(give),
            text(daemon.map(|d| d.daemon.label().to_owned())),
            text(synced),
            text(daemon.and_then(|d| d.source.clone())),
            text(daemon.and_then(|d| d.stratum.map(|s| s.to_string()))),
            text(says),
        ],
        tone,
        target: target(&node.name),
        detail: String::new(),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// `12d 3h`, `5h 02m`, `7m`.
fn uptime(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes:02}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// The node the selected row of the open view names, from the last
/// survey.
pub fn selected(state: &State) -> Option<(&NodeReport, Option<&NodeTime>)> {
    let site = state.site.as_ref()?;
    let table = match state.view {
        View::Time => &site.nodes.time,
        _ => &site.nodes.hosts,
    };
    let name = &table.selected_row()?.target.name;
    let snapshot = site.nodes.snapshot()?;
    let node = snapshot.survey.nodes.iter().find(|n| &n.name == name)?;
    let time = snapshot.time.nodes.iter().find(|n| &n.name == name);
    Some((node, time))
}

/// Asks whether to accept the selected node's unknown host key (or the
/// bastion's, met on the way to it).
pub fn ask_accept(state: &mut State) {
    if !matches!(state.view, View::Hosts | View::Time) {
        state.say(Level::Info, "host keys are accepted from Hosts or Time");
        return;
    }
    let unknown = selected(state).and_then(|(node, _)| node.unknown_key.clone());
    match unknown {
        Some(key) => state.popup = Some(super::state::Popup::AcceptKey(key)),
        None => state.say(
            Level::Info,
            "the selected node did not offer an unknown host key",
        ),
    }
}

/// The operator accepted `key`: record it if its host still offers it.
pub fn accept_confirmed(state: &mut State, key: crate::nodes::accept::UnknownKey) -> Vec<Effect> {
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    site.nodes.changing += 1;
    let effect = Effect::AcceptHostKey {
        profile: Arc::new(site.loaded.profile.clone()),
        key,
    };
    state.say(
        Level::Info,
        "checking the host offers that key, then recording it",
    );
    vec![effect]
}

/// A key was recorded (the nodes are read again), or why not.
pub fn accepted(state: &mut State, result: Result<String, String>) -> Vec<Effect> {
    if let Some(site) = &mut state.site {
        site.nodes.changing = site.nodes.changing.saturating_sub(1);
    }
    match result {
        Ok(said) => {
            let effects = survey(state);
            state.say(Level::Info, format!("{said}; reading the nodes again"));
            effects
        }
        Err(why) => {
            state.say(Level::Error, why);
            Vec::new()
        }
    }
}

/// When the last survey was read, for the views' titles.
pub fn read_at(snapshot: &NodesSnapshot, now: DateTime<Utc>) -> String {
    let age = now.signed_duration_since(snapshot.at.with_timezone(&Utc));
    format!(
        "read {} ({}s ago)",
        snapshot.at.format("%H:%M:%S"),
        age.num_seconds().max(0)
    )
}

#[cfg(test)]
mod tests {
    use super::uptime;

    #[test]
    fn uptime_reads_short() {
        assert_eq!(uptime(420), "7m");
        assert_eq!(uptime(5 * 3600 + 120), "5h 02m");
        assert_eq!(uptime(12 * 86_400 + 3 * 3600), "12d 3h");
    }
}
