//! Sites: the profiles found, to open one; a broken profile shows its errors.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::app::state::State;
use crate::config::theme::Role;
use crate::text::one_line;

/// Draws the site list.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let selected = state.sites.get(state.sites_selected);
    let inner_width = usize::from(area.width.saturating_sub(2)).max(1);
    let error_height = match selected.and_then(|s| s.error.as_ref()) {
        Some(error) => {
            let wrapped: usize = error
                .lines()
                .map(|l| {
                    unicode_width::UnicodeWidthStr::width(l)
                        .div_ceil(inner_width)
                        .max(1)
                })
                .sum();
            (wrapped as u16 + 2).min(area.height / 2)
        }
        None => 0,
    };
    let [list_area, error_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(error_height)]).areas(area);
    let block = Block::bordered()
        .border_style(theme.style(if state.popup.is_none() {
            Role::BorderFocus
        } else {
            Role::Border
        }))
        .title(Span::styled(" Sites ", theme.style(Role::TextTitle)));
    if state.sites.is_empty() {
        let lines = vec![
            Line::raw("No site profiles found."),
            Line::styled(
                format!(
                    "Put profiles in {}, or start with --site PATH.",
                    state.options.sites_dir.display()
                ),
                theme.style(Role::TextMuted),
            ),
        ];
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(block),
            list_area,
        );
        return;
    }
    let rows: Vec<Row> = state
        .sites
        .iter()
        .map(|site| {
            let open = state
                .site
                .as_ref()
                .is_some_and(|s| s.loaded.profile.source_file == site.path);
            let (status, role) = match &site.error {
                Some(error) => (
                    format!("invalid: {} problem(s)", error.lines().count()),
                    Role::StatusCrit,
                ),
                None if open => ("open".to_owned(), Role::StatusOk),
                None => ("ok".to_owned(), Role::Text),
            };
            Row::new([
                Cell::from(one_line(&site.name)),
                Cell::from(site.environment.clone()),
                Cell::from(status).style(theme.style(role)),
                Cell::from(one_line(&site.path.display().to_string()))
                    .style(theme.style(Role::TextMuted)),
            ])
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(18),
            Constraint::Length(8),
            Constraint::Min(20),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(["NAME", "ENV", "STATUS", "FILE"]).style(theme.style(Role::TextMuted)))
    .row_highlight_style(theme.style(Role::Selection))
    .block(block);
    let mut table_state = TableState::default().with_selected(Some(state.sites_selected));
    frame.render_stateful_widget(table, list_area, &mut table_state);
    if let Some(error) = selected.and_then(|s| s.error.as_ref()) {
        let lines: Vec<Line> = error
            .lines()
            .map(|l| Line::styled(one_line(l), theme.style(Role::StatusCrit)))
            .collect();
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::bordered()
                    .border_style(theme.style(Role::Border))
                    .title(Span::styled(
                        " Profile errors ",
                        theme.style(Role::TextTitle),
                    )),
            ),
            error_area,
        );
    }
}
