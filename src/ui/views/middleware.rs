//! The Middleware view: one row per endpoint (name, kind, endpoint, path,
//! role, state, key figures, latency, last checked), and under it the
//! selected endpoint's every figure and finding with its hint.

use chrono::Utc;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::state::State;
use crate::config::theme::{Role, Theme};
use crate::middleware::Severity;
use crate::probe::{ProbeReport, ProbeState, Source};

/// Draws the Middleware view.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let border = theme.style(if state.popup.is_none() {
        Role::BorderFocus
    } else {
        Role::Border
    });
    let Some(site) = &state.site else {
        empty(frame, area, theme, "No site open: pick one in Sites (g s).");
        return;
    };
    let table = &site.middleware;
    if table.rows.is_empty() {
        empty(
            frame,
            area,
            theme,
            "This site's profile lists no middleware: add endpoints under `middleware:` (see docs/middleware.md).",
        );
        return;
    }
    let degraded = site
        .reports
        .iter()
        .zip(&site.sources)
        .filter(|(_, s)| matches!(s.kind, crate::probe::SourceKind::Middleware(_)))
        .filter(|(r, _)| r.state != ProbeState::Up && r.state != ProbeState::Pending)
        .count();
    let mut title = vec![Span::styled(" Middleware ", theme.style(Role::TextTitle))];
    title.push(Span::styled(
        super::row_count(table),
        theme.style(Role::TextMuted),
    ));
    if degraded > 0 {
        title.push(Span::styled(
            format!("· {degraded} not up "),
            theme.style(Role::StatusWarn),
        ));
    }
    let block = Block::bordered()
        .border_style(border)
        .title(Line::from(title));
    let ([table_area, filter_area, detail_area], show_filter) =
        super::table_over_detail(area, state, table);
    let now = state.now.unwrap_or_else(Utc::now);
    // The figures matter more than where the endpoint is (the detail
    // pane's title says that): narrow terminals drop those columns first.
    let always_hidden = match area.width {
        w if w < 100 => 5,
        w if w < 120 => 4,
        w if w < 140 => 2,
        _ => 0,
    };
    super::cluster::draw_table(
        frame,
        table_area,
        theme,
        table,
        block,
        now,
        super::cluster::Hiding {
            order: crate::app::middleware::HIDE_ORDER,
            always: always_hidden,
        },
    );
    if show_filter {
        super::cluster::filter_line(frame, filter_area, theme, table, state.filtering);
    }
    let detail = Block::bordered().border_style(theme.style(Role::Border));
    match crate::app::middleware::selected(state) {
        Some((source, report)) => {
            let title = Line::from(vec![
                Span::styled(format!(" {} ", source.name), theme.style(Role::TextTitle)),
                Span::styled(
                    format!("· {} · {} ", source.kind.label(), source.target),
                    theme.style(Role::TextMuted),
                ),
            ]);
            let width = usize::from(detail_area.width.saturating_sub(2));
            let lines = detail_lines(theme, source, report, width);
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(detail.title(title)),
                detail_area,
            );
        }
        None => frame.render_widget(detail, detail_area),
    }
}

fn empty(frame: &mut Frame, area: Rect, theme: &Theme, text: &str) {
    frame.render_widget(
        Paragraph::new(Line::styled(text.to_owned(), theme.style(Role::TextMuted)))
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .border_style(theme.style(Role::BorderFocus))
                    .title(" Middleware "),
            ),
        area,
    );
}

/// The detail pane: state and how it was reached, then findings (worst
/// first, each with its hint), then every figure.
fn detail_lines(
    theme: &Theme,
    source: &Source,
    report: &ProbeReport,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let key = |text: &str| Span::styled(format!("{text:<LABEL$} "), theme.style(Role::TextMuted));
    let mut state_line = vec![
        key("state"),
        Span::styled(
            report.state.label().to_owned(),
            theme.style(super::state_role(report.state)),
        ),
    ];
    if let Some(ms) = report.latency_ms {
        state_line.push(Span::styled(
            format!("  in {ms:.0} ms"),
            theme.style(Role::TextMuted),
        ));
    }
    if let Some(at) = report.checked_at {
        state_line.push(Span::styled(
            format!("  at {}", at.format("%H:%M:%S")),
            theme.style(Role::TextMuted),
        ));
    }
    lines.push(Line::from(state_line));
    if let Some(path) = &report.path {
        lines.push(Line::from(vec![key("reached"), Span::raw(path.clone())]));
    }
    let Some(health) = &report.health else {
        let text = if report.detail.is_empty() {
            format!("not checked yet: {}", source.checks)
        } else {
            report.detail.clone()
        };
        lines.push(Line::from(vec![
            key("detail"),
            Span::styled(text, theme.style(super::state_role(report.state))),
        ]));
        return lines;
    };
    if let Some(version) = &health.version {
        lines.push(Line::from(vec![key("version"), Span::raw(version.clone())]));
    }
    if let Some(role) = &health.role {
        lines.push(Line::from(vec![key("role"), Span::raw(role.clone())]));
    }
    for finding in &health.findings {
        let role = match finding.severity {
            Severity::Critical => Role::StatusCrit,
            Severity::Warning => Role::StatusWarn,
            Severity::Info => Role::Text,
        };
        let label = finding.severity.label();
        let text_width = width.saturating_sub(LABEL + 1).max(20);
        for (n, part) in wrap(&finding.message, text_width).into_iter().enumerate() {
            let label = if n == 0 { label } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("{label:<LABEL$} "), theme.style(role)),
                Span::styled(part, theme.style(role)),
            ]));
        }
        let hint = format!("→ {}", finding.hint);
        for part in wrap(&hint, text_width) {
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(LABEL + 1)),
                Span::styled(part, theme.style(Role::TextMuted)),
            ]));
        }
    }
    for figure in &health.figures {
        lines.push(Line::from(vec![
            key(&figure.name),
            Span::raw(figure.value.clone()),
        ]));
    }
    lines
}

/// The width of the labels in the detail pane.
const LABEL: usize = 18;

/// Splits `text` into lines of at most `width` columns at spaces (a word
/// longer than a line is cut).
fn wrap(text: &str, width: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wraps_at_spaces() {
        assert_eq!(wrap("a bb ccc dd", 6), ["a bb", "ccc dd"]);
        assert_eq!(wrap("", 6), [""]);
        assert_eq!(wrap("toolongword x", 4), ["toolongword", "x"]);
    }
}
