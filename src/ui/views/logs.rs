//! The Logs view: lines merged by time (time, pod, level, trace id,
//! message), the newest at the bottom while following; under them the
//! selected line whole, a JSON line pretty-printed. Every text from the
//! pods goes through the sanitiser.

use std::collections::VecDeque;

use chrono::Local;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::logs::LogsState;
use crate::app::state::State;
use crate::app::table::Filter;
use crate::config::theme::{Role, Theme};
use crate::logs::buffer::LogLine;
use crate::logs::parse::{Format, Level};
use crate::text::{one_line, sanitize};

/// The widest pod name shown (its start and end kept: workloads differ at
/// the start, their pods at the end).
const POD_WIDTH: usize = 28;
/// The trace id's characters shown on a wide screen.
const TRACE_WIDTH: usize = 16;

/// Draws the Logs view.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let Some(logs) = state.site.as_ref().and_then(|s| s.logs.as_ref()) else {
        let text =
            "No logs open: select a pod or a workload in Pods (g p) or Versions (g v) and press l.";
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(" Logs ")),
            area,
        );
        return;
    };
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(area);
    let shown = logs.shown_len();
    let block = Block::bordered()
        .border_style(theme.style(Role::BorderFocus))
        .title(title(theme, logs, shown, state.filtering));
    let block = match progress(theme, logs) {
        Some(progress) => block.title_bottom(progress),
        None => block,
    };
    let inner = block.inner(list_area);
    frame.render_widget(block, list_area);
    let height = usize::from(inner.height).max(1);
    let width = usize::from(inner.width);
    let selected = logs.selected.min(shown.saturating_sub(1));
    // From the selected line up until the screen is full: the selected
    // line at the bottom, or at the top when it alone fills the screen.
    let mut rows: VecDeque<Line> = VecDeque::new();
    for at in (0..shown.min(selected + 1)).rev() {
        let Some(line) = logs.shown_line(at) else {
            break;
        };
        let line_rows = row(theme, line, at == selected, width, &logs.filter, logs.wrap);
        if at == selected && line_rows.len() >= height {
            rows.extend(line_rows.into_iter().take(height));
            break;
        }
        for line_row in line_rows.into_iter().rev() {
            rows.push_front(line_row);
        }
        if rows.len() >= height {
            break;
        }
    }
    while rows.len() > height {
        rows.pop_front();
    }
    if rows.is_empty() {
        let waiting = match (&logs.ended, &logs.progress.last_failure) {
            (Some(why), _) => format!("no lines: {}", one_line(why)),
            (None, Some(why)) => format!("no lines yet: {}", one_line(why)),
            (None, None) => "waiting for lines…".to_owned(),
        };
        frame.render_widget(
            Paragraph::new(waiting)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .style(theme.style(Role::TextMuted)),
            inner,
        );
    } else {
        frame.render_widget(Paragraph::new(Vec::from(rows)), inner);
    }
    detail(frame, detail_area, theme, logs.shown_line(selected));
}

/// The streams' progress under the list: for a trace pivot, a bar of the
/// container logs read; when following, how many streams are open and
/// how many wait for a slot (`logs.concurrency`) or failed.
fn progress(theme: &Theme, logs: &LogsState) -> Option<Line<'static>> {
    let p = &logs.progress;
    if p.found == 0 {
        return None;
    }
    let mut spans = Vec::new();
    if logs.pivot {
        const BAR: usize = 20;
        let done = p.finished + p.failed;
        let filled = (done * BAR).checked_div(p.found).unwrap_or(0).min(BAR);
        spans.push(Span::styled(
            format!(
                " {}{} {done}/{} container logs read ",
                "█".repeat(filled),
                "░".repeat(BAR - filled),
                p.found
            ),
            theme.style(Role::TextKey),
        ));
    } else {
        spans.push(Span::raw(format!(" {} stream(s) open ", p.open)));
        if p.waiting > 0 {
            spans.push(Span::styled(
                format!(
                    "· {} wait for a slot (logs.concurrency in the profile) ",
                    p.waiting
                ),
                theme.style(Role::StatusWarn),
            ));
        }
    }
    let why = p.last_failure.as_deref().map(one_line).unwrap_or_default();
    if p.retrying > 0 {
        spans.push(Span::styled(
            format!("· {} refused, tried again: {why} ", p.retrying),
            theme.style(Role::StatusWarn),
        ));
    } else if p.failed > 0 {
        spans.push(Span::styled(
            format!("· {} could not be read: {why} ", p.failed),
            theme.style(Role::StatusWarn),
        ));
    }
    Some(Line::from(spans))
}

fn title(theme: &Theme, logs: &LogsState, shown: usize, typing: bool) -> Line<'static> {
    let mut spans = vec![
        Span::styled(
            format!(" Logs {} ", one_line(&logs.title)),
            theme.style(Role::TextTitle),
        ),
        Span::raw(format!("· {shown} line(s) ")),
    ];
    if logs.buffer.dropped() > 0 {
        spans.push(Span::styled(
            format!("· {} oldest dropped ", logs.buffer.dropped()),
            theme.style(Role::StatusWarn),
        ));
    }
    let following = if logs.follow {
        "· FOLLOW "
    } else {
        "· PAUSED "
    };
    spans.push(Span::styled(following, theme.style(Role::TextKey)));
    if logs.wrap {
        spans.push(Span::styled("· WRAP ", theme.style(Role::TextKey)));
    }
    if let Some(level) = logs.min_level {
        spans.push(Span::raw(format!("· {level}+ ")));
    }
    let typed = logs.filter_input.lines().join(" ");
    if typing || !typed.is_empty() {
        let cursor = if typing { "▏" } else { "" };
        spans.push(Span::styled(
            format!("· /{}{cursor} ", one_line(&typed)),
            theme.style(Role::TextMatch),
        ));
    }
    if let Some(why) = &logs.filter_error {
        spans.push(Span::styled(
            format!("· {why} "),
            theme.style(Role::StatusWarn),
        ));
    }
    if let Some(why) = &logs.ended {
        spans.push(Span::styled(
            format!("· ended: {} ", one_line(why)),
            theme.style(Role::StatusWarn),
        ));
    }
    Line::from(spans)
}

/// The most screen rows a wrapped line takes (a 1 MB line must not fill
/// the list; the detail pane and `w` have it whole).
const WRAP_ROWS: usize = 8;

/// One line in the list: time, pod, level, trace id, message; cut at the
/// width, or wrapped over up to [`WRAP_ROWS`] rows.
fn row(
    theme: &Theme,
    line: &LogLine,
    selected: bool,
    width: usize,
    filter: &Filter,
    wrap: bool,
) -> Vec<Line<'static>> {
    let time = line.at.with_timezone(&Local).format("%H:%M:%S%.3f");
    // Narrow screens keep room for the message.
    let pod_width = (width / 5).clamp(8, POD_WIDTH);
    let trace_width = if width < 120 { 8 } else { TRACE_WIDTH };
    let pod = super::cluster::ellipsize_middle(&one_line(&line.pod), pod_width);
    let level = line.parsed.level.map_or("-", Level::name);
    let trace: String = line
        .parsed
        .trace_id
        .as_deref()
        .map_or_else(|| "-".to_owned(), one_line)
        .chars()
        .take(trace_width)
        .collect();
    let rows = if wrap { WRAP_ROWS } else { 1 };
    // Only what can be shown is sanitised.
    let message: String = line.parsed.message.chars().take(width * rows).collect();
    let message = sanitize(&message).replace(['\t', '\n'], " ");
    let text = format!(
        "{} {time} {pod:<pod_width$} {level:<5} {trace:<trace_width$} {message}",
        if selected { "▶" } else { " " }
    );
    let text: String = text.chars().take(width.max(1) * rows).collect();
    let role = if selected {
        Role::Selection
    } else {
        match line.parsed.level {
            Some(Level::Error | Level::Fatal) => Role::StatusCrit,
            Some(Level::Warn) => Role::StatusWarn,
            Some(Level::Trace | Level::Debug) => Role::TextMuted,
            _ => Role::Text,
        }
    };
    let style = theme.style(role);
    let chars: Vec<char> = text.chars().collect();
    // What the filter matched, marked (past the marker and the time), as
    // a range of characters.
    let skip = 16.min(chars.len());
    let searched: String = chars.iter().skip(skip).collect();
    let marked = found(filter, &searched).map(|(start, end)| {
        let count = |bytes: usize| searched.get(..bytes).map_or(0, |s| s.chars().count());
        (skip + count(start), skip + count(end))
    });
    let in_match = |index: usize| marked.is_some_and(|(start, end)| (start..end).contains(&index));
    // Rows by screen columns: wide characters (CJK, emoji) take two.
    let width = width.max(1);
    let mut row_starts = vec![0];
    let mut used = 0;
    for (index, c) in chars.iter().enumerate() {
        let columns = unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
        if used + columns > width && used > 0 {
            row_starts.push(index);
            used = 0;
        }
        used += columns;
    }
    row_starts
        .iter()
        .zip(
            row_starts
                .iter()
                .skip(1)
                .chain(std::iter::once(&chars.len())),
        )
        .take(rows)
        .map(|(&row_start, &row_end)| {
            let mut spans = Vec::new();
            let mut from = row_start;
            for at in row_start + 1..=row_end {
                if at == row_end || in_match(at) != in_match(from) {
                    let piece: String = chars.get(from..at).unwrap_or_default().iter().collect();
                    let piece_style = if in_match(from) {
                        theme.style(Role::TextMatch)
                    } else {
                        style
                    };
                    spans.push(Span::styled(piece, piece_style));
                    from = at;
                }
            }
            Line::from(spans)
        })
        .collect()
}

/// Where the filter matches `text` (byte range), for ASCII text or a regex.
fn found(filter: &Filter, text: &str) -> Option<(usize, usize)> {
    match filter {
        Filter::None => None,
        Filter::Text(needle) if text.is_ascii() && !needle.is_empty() => text
            .as_bytes()
            .windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
            .map(|at| (at, at + needle.len())),
        Filter::Text(_) => None,
        Filter::Regex(regex) => regex
            .find(text)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end())),
    }
}

/// The selected line whole: where it comes from, then its message and
/// fields, a JSON line pretty-printed.
fn detail(frame: &mut Frame, area: Rect, theme: &Theme, line: Option<&LogLine>) {
    let block = Block::bordered().border_style(theme.style(Role::Border));
    let Some(line) = line else {
        frame.render_widget(block, area);
        return;
    };
    let block = block.title(Line::styled(
        format!(
            " {}/{} · {} · {} ",
            one_line(&line.namespace),
            one_line(&line.pod),
            one_line(&line.container),
            line.at
                .with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S%.3f")
        ),
        theme.style(Role::TextTitle),
    ));
    let mut lines = Vec::new();
    if let Some(trace) = &line.parsed.trace_id {
        lines.push(Line::from(vec![
            Span::styled("trace ", theme.style(Role::TextMuted)),
            Span::raw(one_line(trace)),
            Span::styled(
                "  (t: this trace from every pod of the namespace)",
                theme.style(Role::TextMuted),
            ),
        ]));
    }
    let body = match line.parsed.format {
        Format::Json => serde_json::from_str::<serde_json::Value>(&line.raw)
            .ok()
            .and_then(|value| serde_json::to_string_pretty(&value).ok())
            .unwrap_or_else(|| line.raw.clone()),
        Format::Logfmt | Format::Plain => line.raw.clone(),
    };
    for text in body.lines() {
        lines.push(Line::raw(sanitize(text).replace('\t', "    ")));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
