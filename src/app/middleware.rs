//! The Middleware view's model: one row per middleware endpoint, built from
//! the probes' reports, and the key that checks the selected one now.

use std::sync::Arc;

use chrono::Utc;

use super::effect::Effect;
use super::state::{Level, SiteState, State, View};
use super::table::{Cell, Table, TableRow, Target, Tone};
use crate::probe::{ProbeReport, ProbeState, Source, SourceKind};

/// The Middleware table's columns.
pub const COLUMNS: &[&str] = &[
    "NAME", "KIND", "ENDPOINT", "PATH", "ROLE", "STATE", "FIGURES", "LATENCY", "CHECKED",
];

/// Columns hidden first when the terminal is narrow: CHECKED, PATH, KIND,
/// ENDPOINT (the detail pane's title names it), LATENCY.
pub const HIDE_ORDER: &[usize] = &[8, 3, 1, 2, 7];

/// The target kind of a middleware row.
const TARGET_KIND: &str = "Middleware";

/// An empty Middleware table.
pub fn table() -> Table {
    Table::new(COLUMNS, None)
}

/// Rebuilds the rows of a site's Middleware table from its reports.
pub fn rebuild(site: &mut SiteState) {
    let rows = site
        .sources
        .iter()
        .zip(&site.reports)
        .zip(&site.in_flight)
        .filter(|((source, _), _)| matches!(source.kind, SourceKind::Middleware(_)))
        .map(|((source, report), in_flight)| row(source, report, *in_flight));
    // Problems first (down, then degraded), in profile order otherwise;
    // the selection follows its endpoint.
    let mut rows: Vec<TableRow> = rows.collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.tone));
    site.middleware.set_rows(rows);
}

fn row(source: &Source, report: &ProbeReport, in_flight: bool) -> TableRow {
    let health = report.health.as_ref();
    let state = match (in_flight, report.state) {
        (true, ProbeState::Pending) => "checking…".to_owned(),
        (true, state) => format!("{}…", state.label()),
        (false, state) => state.label().to_owned(),
    };
    let figures = match health.map(crate::middleware::Health::summary) {
        Some(summary) if !summary.is_empty() => summary,
        _ => report.detail.clone(),
    };
    let latency = report
        .latency_ms
        .map_or(Cell::Number(i64::MAX, "-".into()), |ms| {
            Cell::Number(ms.round() as i64, format!("{ms:.0} ms"))
        });
    TableRow {
        cells: vec![
            Cell::Text(source.name.clone()),
            Cell::Text(source.kind.label()),
            Cell::Text(source.target.clone()),
            Cell::Text(report.path.clone().unwrap_or_default()),
            Cell::Text(
                health
                    .and_then(|h| h.role.clone())
                    .unwrap_or_else(|| "-".into()),
            ),
            Cell::Number(state_rank(report.state), state),
            Cell::Text(figures),
            latency,
            Cell::Age(report.checked_at.map(|t| t.with_timezone(&Utc))),
        ],
        tone: tone(report.state),
        target: Target {
            kind: TARGET_KIND.into(),
            namespace: String::new(),
            name: source.name.clone(),
        },
        detail: String::new(),
    }
}

/// Sorting by STATE puts the worst first when descending.
fn state_rank(state: ProbeState) -> i64 {
    match state {
        ProbeState::Up => 0,
        ProbeState::Pending => 1,
        ProbeState::Degraded => 2,
        _ => 3,
    }
}

/// How a state looks: degraded stands out, down is critical.
pub fn tone(state: ProbeState) -> Tone {
    match state {
        ProbeState::Up => Tone::Normal,
        ProbeState::Pending => Tone::Muted,
        ProbeState::Degraded => Tone::Warn,
        _ => Tone::Crit,
    }
}

/// The selected endpoint's source and report, for the detail pane.
pub fn selected(state: &State) -> Option<(&Source, &ProbeReport)> {
    let site = state.site.as_ref()?;
    let row = site.middleware.selected_row()?;
    site.sources
        .iter()
        .zip(&site.reports)
        .find(|(s, _)| matches!(s.kind, SourceKind::Middleware(_)) && s.name == row.target.name)
}

/// Checks the selected endpoint (Middleware) or Kafka cluster (Kafka,
/// Groups) now, without waiting for the next round.
pub fn check_now(state: &mut State) -> Vec<Effect> {
    if !matches!(
        state.view,
        View::Middleware | View::Kafka | View::KafkaGroups
    ) {
        state.say(
            Level::Info,
            "r checks now in Middleware (g m) and Kafka (g k, g c)",
        );
        return Vec::new();
    }
    let kafka = state.view != View::Middleware;
    let readonly = state.readonly();
    let cluster = state.site.as_ref().and_then(|site| {
        crate::cluster::connect::ClusterTarget::of_site(
            &site.loaded.profile,
            state.options.kubeconfig.as_deref(),
            state.options.context.as_deref(),
        )
    });
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    // A Kafka row names its cluster as its target's namespace.
    let selected = match state.view {
        View::Kafka => site.kafka.topics.selected_row(),
        View::KafkaGroups => site.kafka.groups.selected_row(),
        _ => site.middleware.selected_row(),
    };
    let Some(name) = selected.map(|r| {
        if kafka {
            r.target.namespace.clone()
        } else {
            r.target.name.clone()
        }
    }) else {
        return Vec::new();
    };
    let Some(index) = site.sources.iter().position(|s| {
        s.name == name
            && if kafka {
                s.kind == SourceKind::Kafka
            } else {
                matches!(s.kind, SourceKind::Middleware(_))
            }
    }) else {
        return Vec::new();
    };
    if site.in_flight[index] {
        state.say(
            Level::Info,
            format!("{name} is being checked: results in a moment"),
        );
        return Vec::new();
    }
    site.in_flight[index] = true;
    site.checking_now = Some(index);
    let effect = Effect::ProbeOne {
        round: site.round,
        source: site.sources[index].clone(),
        profile: Arc::new(site.loaded.profile.clone()),
        cluster,
        readonly,
    };
    rebuild(site);
    state.say(Level::Info, format!("checking {name}"));
    vec![effect]
}
