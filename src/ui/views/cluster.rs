//! The cluster views (Versions, Helm, Pods, Nodes, Events): one table
//! each, drawn only for the rows on screen, with the feed's health in the
//! title (loading, stale with its age, forbidden) and the filter line.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell as TableCell, Paragraph, Row, Table, Wrap};
use unicode_width::UnicodeWidthStr;

use crate::app::cluster::{ClusterState, ClusterView, Connection, FeedStatus};
use crate::app::state::State;
use crate::app::table::{Cell, Table as TableModel, Tone};
use crate::config::theme::{Role, Theme};
use crate::ui::chrome::ellipsize;

/// Draws a cluster view.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, view: ClusterView) {
    let theme = &state.theme;
    let title = crate::app::state::View::Cluster(view).title();
    let block = Block::bordered().border_style(theme.style(if state.popup.is_none() {
        Role::BorderFocus
    } else {
        Role::Border
    }));
    let Some(cluster) = state.cluster() else {
        let text = if state.site.is_some() {
            "This site's profile has no `cluster` section: nothing to show."
        } else {
            "No site open: pick one in Sites (g s)."
        };
        message(
            frame,
            area,
            theme,
            block.title(format!(" {title} ")),
            text,
            Role::TextMuted,
        );
        return;
    };
    let Some(table) = cluster.table(view) else {
        return;
    };
    let now = state.now.unwrap_or_else(Utc::now);
    let mut title_spans = vec![Span::styled(
        format!(" {title} "),
        theme.style(Role::TextTitle),
    )];
    title_spans.push(Span::styled(
        super::row_count(table),
        theme.style(Role::TextMuted),
    ));
    if view == ClusterView::Pods
        && let Some(scope) = &cluster.pod_scope
    {
        title_spans.push(Span::styled(
            format!("· {} ", scope.label),
            theme.style(Role::TextKey),
        ));
    }
    if let Some((text, role)) = health(cluster, view, now) {
        title_spans.push(Span::styled(format!("· {text} "), theme.style(role)));
    }
    let block = block.title(Line::from(title_spans));
    if let Some((text, role)) = empty_reason(cluster, view, table) {
        message(frame, area, theme, block, &text, role);
        return;
    }
    let show_filter = state.filtering || !table.filter_text().is_empty();
    let detail = table.selected_row().map_or("", |r| r.detail.as_str());
    let detail_height = if detail.is_empty() {
        0
    } else {
        (wrapped_lines(detail, usize::from(area.width)) as u16).clamp(1, 4)
    };
    let [table_area, detail_area, filter_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(detail_height),
        Constraint::Length(u16::from(show_filter)),
    ])
    .areas(area);
    draw_table(
        frame,
        table_area,
        theme,
        table,
        block,
        now,
        Hiding {
            order: view.hide_order(),
            always: 0,
        },
    );
    if detail_height > 0 {
        let role = table.selected_row().map_or(Role::Text, |r| match r.tone {
            Tone::Crit => Role::StatusCrit,
            Tone::Warn => Role::StatusWarn,
            _ => Role::TextMuted,
        });
        frame.render_widget(
            Paragraph::new(Line::styled(detail.to_owned(), theme.style(role)))
                .wrap(Wrap { trim: true }),
            detail_area,
        );
    }
    if show_filter {
        filter_line(frame, filter_area, theme, table, state.filtering);
    }
}

/// How many lines `text` takes wrapped at word boundaries to `width`, as
/// the detail paragraph wraps it: more than its width divided by the
/// line's when words do not fill each line.
fn wrapped_lines(text: &str, width: usize) -> usize {
    let width = width.max(1);
    let (mut lines, mut used) = (1, 0);
    for word in text.split_whitespace().map(UnicodeWidthStr::width) {
        if used > 0 && used + 1 + word <= width {
            used += 1 + word;
            continue;
        }
        if used > 0 {
            lines += 1;
        }
        // A word longer than a line is broken over as many as it needs.
        lines += word.saturating_sub(1) / width;
        used = word - word.saturating_sub(1) / width * width;
    }
    lines
}

fn message(frame: &mut Frame, area: Rect, theme: &Theme, block: Block, text: &str, role: Role) {
    frame.render_widget(
        Paragraph::new(Line::styled(text.to_owned(), theme.style(role)))
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

/// `2m`, `5h`, `41d`.
pub fn age(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(then) = then else {
        return "-".to_owned();
    };
    let seconds = (now - then).num_seconds().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 2 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The worst health of the view's feeds, for the title.
fn health(cluster: &ClusterState, view: ClusterView, now: DateTime<Utc>) -> Option<(String, Role)> {
    let statuses = cluster.view_status(view);
    for (feed, status) in &statuses {
        if let FeedStatus::Forbidden(_) = status {
            return Some((format!("{} forbidden", feed.label()), Role::StatusCrit));
        }
    }
    for (feed, status) in &statuses {
        if let FeedStatus::Down {
            last_live, error, ..
        } = status
        {
            let since = last_live.map(|t| t.with_timezone(&Utc));
            return Some(match since {
                Some(since) => (
                    format!(
                        "STALE {} ({} down: {})",
                        age(Some(since), now),
                        feed.label(),
                        error
                    ),
                    Role::StatusWarn,
                ),
                None => (format!("{} down: {error}", feed.label()), Role::StatusCrit),
            });
        }
    }
    if statuses.iter().any(|(_, s)| **s == FeedStatus::Loading) {
        return Some(("loading…".to_owned(), Role::StatusUnknown));
    }
    None
}

/// Why there is no table to show, if there is none: never an empty table
/// where the truth is "forbidden" or "not connected".
fn empty_reason(
    cluster: &ClusterState,
    view: ClusterView,
    table: &TableModel,
) -> Option<(String, Role)> {
    match &cluster.connection {
        Connection::Failed(error) => {
            return Some((format!("Not connected: {error}"), Role::StatusCrit));
        }
        Connection::NeedsTrust { command, .. } => {
            return Some((
                format!("Waiting for you to trust the credential program `{command}`."),
                Role::StatusWarn,
            ));
        }
        _ => {}
    }
    if !table.rows.is_empty() {
        return None;
    }
    for (feed, status) in cluster.view_status(view) {
        match status {
            FeedStatus::Forbidden(reason) => {
                return Some((
                    format!(
                        "Forbidden: sitedeck may not list {} ({reason}).",
                        feed.label()
                    ),
                    Role::StatusCrit,
                ));
            }
            FeedStatus::Down { error, .. } => {
                return Some((
                    format!(
                        "Cannot list {}: {error}. Retrying with backoff.",
                        feed.label()
                    ),
                    Role::StatusCrit,
                ));
            }
            _ => {}
        }
    }
    if cluster
        .view_status(view)
        .iter()
        .any(|(_, s)| **s == FeedStatus::Loading)
    {
        return Some(("Loading…".to_owned(), Role::StatusUnknown));
    }
    let none = match view {
        ClusterView::Helm => "No Helm releases on this cluster.",
        ClusterView::Events => "No events (the API server keeps them about an hour).",
        _ => "None on this cluster.",
    };
    Some((none.to_owned(), Role::TextMuted))
}

fn tone_role(tone: Tone) -> Role {
    match tone {
        Tone::Normal => Role::Text,
        Tone::Warn => Role::StatusWarn,
        Tone::Crit => Role::StatusCrit,
        Tone::Muted => Role::TextMuted,
    }
}

fn cell_text(cell: &Cell, now: DateTime<Utc>) -> String {
    match cell {
        Cell::Age(time) => age(*time, now),
        other => other.text().to_owned(),
    }
}

/// Which columns give way when a table does not fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hiding {
    /// Column indices, hidden in this order while the table is too wide.
    pub(crate) order: &'static [usize],
    /// How many of `order` are hidden whatever the width.
    pub(crate) always: usize,
}

pub(crate) fn draw_table(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    table: &TableModel,
    block: Block,
    now: DateTime<Utc>,
    hiding: Hiding,
) {
    let inner_height = usize::from(area.height.saturating_sub(3)).max(1);
    let first = table.selected.saturating_sub(inner_height - 1);
    let window: Vec<&crate::app::table::TableRow> = table
        .visible
        .iter()
        .skip(first)
        .take(inner_height)
        .filter_map(|&i| table.rows.get(i))
        .collect();
    let texts: Vec<Vec<String>> = window
        .iter()
        .map(|row| row.cells.iter().map(|c| cell_text(c, now)).collect())
        .collect();
    let widths = column_widths(
        table,
        &texts,
        // Borders, and the selection marker with its spacing.
        usize::from(area.width.saturating_sub(4)),
        hiding,
    );
    let shown: Vec<usize> = (0..widths.len()).filter(|&i| widths[i] > 0).collect();
    let header = Row::new(
        std::iter::once(TableCell::from("")).chain(
            shown
                .iter()
                .map(|&i| (i, table.columns[i]))
                .map(|(i, title)| {
                    let marker = match table.sort_column {
                        Some(c) if c == i && table.descending => "↓",
                        Some(c) if c == i => "↑",
                        _ => "",
                    };
                    TableCell::from(format!("{title}{marker}"))
                }),
        ),
    )
    .style(theme.style(Role::TextTitle));
    let rows: Vec<Row> = window
        .iter()
        .zip(&texts)
        .enumerate()
        .map(|(offset, (row, cells))| {
            let selected = first + offset == table.selected;
            let style = if selected {
                theme.style(Role::Selection)
            } else {
                theme.style(tone_role(row.tone))
            };
            // A marker as well as the style: in mono, a warning row and
            // the selection are both reversed.
            let marker = if selected { "▶" } else { " " };
            let cells = std::iter::once(TableCell::from(marker)).chain(shown.iter().map(|&i| {
                let text = cells.get(i).map_or("", String::as_str);
                TableCell::from(ellipsize_middle(text, usize::from(widths[i])))
            }));
            Row::new(cells).style(style)
        })
        .collect();
    let constraints: Vec<Constraint> = std::iter::once(Constraint::Length(1))
        .chain(shown.iter().map(|&i| Constraint::Length(widths[i])))
        .collect();
    frame.render_widget(
        Table::new(rows, constraints)
            .header(header)
            .column_spacing(1)
            .style(Style::default())
            .block(block),
        area,
    );
}

/// Widths that fit: each column as wide as its header and the rows on
/// screen; when they do not fit, columns are hidden (width 0) in
/// `hiding.order` (the first `hiding.always` of them whatever the width),
/// then the widest give way.
fn column_widths(
    table: &TableModel,
    texts: &[Vec<String>],
    available: usize,
    hiding: Hiding,
) -> Vec<u16> {
    let mut widths: Vec<usize> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, title)| {
            texts
                .iter()
                .filter_map(|cells| cells.get(i))
                .map(|t| t.width())
                .max()
                .unwrap_or(0)
                .max(title.width() + 1)
                .min(60)
        })
        .collect();
    let total = |widths: &[usize]| {
        let shown = widths.iter().filter(|w| **w > 0).count();
        widths.iter().sum::<usize>() + shown.saturating_sub(1)
    };
    // A column is worth keeping if it can show most of itself (up to 24).
    let wanted = |widths: &[usize]| {
        let shown = widths.iter().filter(|w| **w > 0).count();
        widths.iter().map(|w| (*w).min(16)).sum::<usize>() + shown.saturating_sub(1)
    };
    for (n, &hide) in hiding.order.iter().enumerate() {
        if n >= hiding.always && wanted(&widths) <= available {
            break;
        }
        if let Some(width) = widths.get_mut(hide) {
            *width = 0;
        }
    }
    while total(&widths) > available {
        let Some((widest, width)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if *width <= 4 {
            break;
        }
        widths[widest] -= 1;
    }
    widths.into_iter().map(|w| w as u16).collect()
}

pub(crate) fn filter_line(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    table: &TableModel,
    editing: bool,
) {
    let kind = match table.filter {
        crate::app::table::Filter::Regex(_) => "regex",
        _ => "text",
    };
    let [prompt_area, input_area, note_area] = Layout::horizontal([
        Constraint::Length(2),
        Constraint::Min(10),
        Constraint::Length(
            table
                .filter_error
                .as_ref()
                .map_or(kind.len() + 2, |e| e.width() + 2)
                .min(usize::from(area.width / 2)) as u16,
        ),
    ])
    .areas(area);
    frame.render_widget(Span::styled("/ ", theme.style(Role::TextKey)), prompt_area);
    if editing {
        frame.render_widget(&table.filter_input, input_area);
    } else {
        frame.render_widget(
            Span::styled(table.filter_text(), theme.style(Role::Text)),
            input_area,
        );
    }
    let (note, role) = match &table.filter_error {
        Some(error) => (error.clone(), Role::StatusWarn),
        None => (kind.to_owned(), Role::TextMuted),
    };
    frame.render_widget(
        Span::styled(format!(" {note}"), theme.style(role)),
        note_area,
    );
}

/// Shortens `text` to `width` by cutting its middle: Kubernetes names
/// differ at the end (`order-service-5f6d7c8b9-x2x4k`), repositories at
/// both ends; text that is not ASCII is cut at the end.
pub(crate) fn ellipsize_middle(text: &str, width: usize) -> String {
    if text.len() <= width || !text.is_ascii() {
        return ellipsize(text, width);
    }
    if width < 5 {
        return ellipsize(text, width);
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    format!("{}…{}", &text[..head], &text[text.len() - tail..])
}
