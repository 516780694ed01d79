//! One file per view.

pub mod cluster;
pub mod cluster_pane;
pub mod kafka;
pub mod logs;
pub mod middleware;
pub mod nodes;
pub mod overview;
pub mod sites;

use crate::config::theme::Role;
use crate::probe::ProbeState;

/// `12 ` or, when a filter hides rows, `3 of 12 `, for a table's title.
pub(crate) fn row_count(table: &crate::app::table::Table) -> String {
    if table.visible.len() == table.rows.len() {
        format!("{} ", table.rows.len())
    } else {
        format!("{} of {} ", table.visible.len(), table.rows.len())
    }
}

/// A table over a detail pane: the table takes what its rows need, up to
/// half of `area`; a line for the filter when one is typed or set; the
/// detail pane gets the rest. Returns the three areas and whether the
/// filter line shows.
pub(crate) fn table_over_detail(
    area: ratatui::layout::Rect,
    state: &crate::app::state::State,
    table: &crate::app::table::Table,
) -> ([ratatui::layout::Rect; 3], bool) {
    use ratatui::layout::{Constraint, Layout};
    let show_filter = state.filtering || !table.filter_text().is_empty();
    let table_height = (table.visible.len() as u16 + 3).clamp(5, (area.height / 2).max(5));
    let areas = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(u16::from(show_filter)),
        Constraint::Min(3),
    ])
    .areas(area);
    (areas, show_filter)
}

/// The theme role for a probe state.
pub fn state_role(state: ProbeState) -> Role {
    match state {
        ProbeState::Up => Role::StatusOk,
        ProbeState::Pending => Role::StatusUnknown,
        ProbeState::ConfigError | ProbeState::Degraded => Role::StatusWarn,
        _ => Role::StatusCrit,
    }
}
