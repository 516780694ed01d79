//! Popups over the main area: help, command palette, which-key, confirm.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, List, ListItem, ListState, Paragraph};

use super::centered;
use crate::app::palette::Palette;
use crate::app::state::State;
use crate::config::keymap::Focus;
use crate::config::theme::Role;

pub(super) fn popup_block<'a>(state: &State, title: &'a str) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(state.theme.style(Role::PopupBorder))
        .style(state.theme.style(Role::Popup))
        .title(Span::styled(
            format!(" {title} "),
            state.theme.style(Role::TextTitle),
        ))
}

/// The help screen, generated from the keymap's descriptions.
pub fn help(frame: &mut Frame, area: Rect, state: &State, scroll: u16) {
    let theme = &state.theme;
    let mut lines: Vec<Line> = Vec::new();
    for focus in Focus::ALL {
        let bindings = state.keymap.section(focus);
        if bindings.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(
            format!("[{}]", focus.name()),
            theme.style(Role::TextTitle),
        ));
        for binding in bindings {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {:<12}", binding.keys_label()),
                    theme.style(Role::TextKey),
                ),
                Span::styled(binding.description().to_owned(), theme.style(Role::Text)),
            ]));
        }
    }
    let rect = centered(area, 64, area.height.saturating_sub(2).max(8));
    let title = format!("Keys · keymap {}", state.keymap.name);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(popup_block(state, &title)),
        rect,
    );
}

/// The warnings about the configuration and the open site's profile.
pub fn warnings(frame: &mut Frame, area: Rect, state: &State, scroll: u16) {
    let theme = &state.theme;
    let lines: Vec<Line> = state
        .warnings()
        .into_iter()
        .map(|w| {
            Line::styled(
                format!("• {}", crate::text::one_line(w)),
                theme.style(Role::Text),
            )
        })
        .collect();
    let width = area.width.saturating_sub(4).min(120);
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let wrapped: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let height = (wrapped as u16 + 2).clamp(3, area.height.saturating_sub(2).max(3));
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .scroll((scroll, 0))
            .block(popup_block(state, "Warnings")),
        rect,
    );
}

/// The command palette: an input line and the fuzzy matches.
pub fn palette(frame: &mut Frame, area: Rect, state: &State, palette: &Palette) {
    let theme = &state.theme;
    // Near the top, like other palettes, so the matches grow downwards.
    let rect = Rect {
        y: area.y + 1.min(area.height),
        ..centered(area, 64, area.height.saturating_sub(2).clamp(5, 16))
    };
    frame.render_widget(Clear, rect);
    let block = popup_block(state, "Command");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [input_area, list_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let [prompt_area, text_area] =
        Layout::horizontal([Constraint::Length(2), Constraint::Min(1)]).areas(input_area);
    frame.render_widget(Span::styled(": ", theme.style(Role::TextKey)), prompt_area);
    frame.render_widget(&palette.input, text_area);
    let items: Vec<ListItem> = palette
        .matches
        .iter()
        .filter_map(|m| {
            let entry = palette.entries.get(m.entry)?;
            let mut spans: Vec<Span> = entry
                .label
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    let role = if m.positions.contains(&(i as u32)) {
                        Role::TextMatch
                    } else {
                        Role::Text
                    };
                    Span::styled(c.to_string(), theme.style(role))
                })
                .collect();
            let pad = 22usize.saturating_sub(entry.label.chars().count());
            spans.push(Span::raw(" ".repeat(pad + 1)));
            spans.push(Span::styled(
                entry.desc.clone(),
                theme.style(Role::TextMuted),
            ));
            Some(ListItem::new(Line::from(spans)))
        })
        .collect();
    // `peek from TIME` in Kafka topics: what Enter will do, or why TIME
    // is not a time.
    let typed = crate::app::kafka::typed_peek(state, &palette.query());
    let said = match typed {
        Some(Ok(millis)) => Some(format!(
            "  Enter: peek at the first messages from {}",
            crate::app::kafka::peek_time_label(state.now, millis)
        )),
        Some(Err(why)) if items.is_empty() => Some(format!("  {why}")),
        _ if items.is_empty() => Some("  no matching command".to_owned()),
        _ => None,
    };
    if let Some(said) = said {
        frame.render_widget(
            Paragraph::new(said)
                .wrap(ratatui::widgets::Wrap { trim: false })
                .style(theme.style(Role::TextMuted)),
            list_area,
        );
        return;
    }
    let mut list_state = ListState::default().with_selected(Some(palette.selected));
    frame.render_stateful_widget(
        List::new(items).highlight_style(theme.style(Role::Selection)),
        list_area,
        &mut list_state,
    );
}

/// The continuations of a pending key sequence.
pub fn which_key(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let typed: Vec<String> = state.pending_keys.iter().map(ToString::to_string).collect();
    let lines: Vec<Line> = state
        .which_key
        .iter()
        .map(|(key, desc)| {
            Line::from(vec![
                Span::styled(format!(" {key:<6}"), theme.style(Role::TextKey)),
                Span::styled(desc.clone(), theme.style(Role::Text)),
            ])
        })
        .collect();
    let width = lines.iter().map(Line::width).max().unwrap_or(10) as u16 + 4;
    let height = lines.len() as u16 + 2;
    let width = width.max(typed.join(" ").len() as u16 + 8).min(area.width);
    let height = height.min(area.height);
    let rect = Rect {
        x: area.right().saturating_sub(width),
        y: area.bottom().saturating_sub(height),
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(popup_block(state, &typed.join(" "))),
        rect,
    );
}

/// Quit while jobs run? The default answer is No.
pub fn confirm_quit(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let jobs = state.jobs_running();
    let yes = state
        .keymap
        .hint(Focus::Confirm, &crate::app::Action::Confirm);
    let no = state
        .keymap
        .hint(Focus::Confirm, &crate::app::Action::Cancel);
    let lines = vec![
        Line::raw(format!("{jobs} background job(s) still running.")),
        Line::raw("Quit anyway?"),
        Line::raw(""),
        Line::from(vec![
            Span::styled(yes.unwrap_or_default(), theme.style(Role::TextKey)),
            Span::raw(" quit   "),
            Span::styled(no.unwrap_or_default(), theme.style(Role::TextKey)),
            Span::raw(" stay (default)"),
        ]),
    ];
    let rect = centered(area, 44, 6);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(popup_block(state, "Quit?")),
        rect,
    );
}

/// Run the kubeconfig's credential program? The default answer is No.
pub fn trust(frame: &mut Frame, area: Rect, state: &State, context: &str, command: &str) {
    let theme = &state.theme;
    let yes = state
        .keymap
        .hint(Focus::Confirm, &crate::app::Action::Confirm);
    let no = state
        .keymap
        .hint(Focus::Confirm, &crate::app::Action::Cancel);
    let lines = vec![
        Line::raw(format!(
            "Context {} gets its credentials by running:",
            crate::text::one_line(context)
        )),
        Line::styled(
            format!("  {}", crate::text::one_line(command)),
            theme.style(Role::TextKey),
        ),
        Line::raw("Run it now and remember the answer for this site?"),
        Line::raw(""),
        Line::from(vec![
            Span::styled(yes.unwrap_or_default(), theme.style(Role::TextKey)),
            Span::raw(" trust and connect   "),
            Span::styled(no.unwrap_or_default(), theme.style(Role::TextKey)),
            Span::raw(" do not run it (default)"),
        ]),
    ];
    let width = area.width.saturating_sub(4).min(76);
    let rect = centered(area, width, 8);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .block(popup_block(state, "Trust a credential program?")),
        rect,
    );
}

/// An object's YAML (managedFields stripped), scrolled.
pub fn describe(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    title: &str,
    text: Option<&Result<String, String>>,
    scroll: u16,
) {
    let theme = &state.theme;
    let lines: Vec<Line> = match text {
        None => vec![Line::styled("loading…", theme.style(Role::StatusUnknown))],
        Some(Err(error)) => vec![Line::styled(
            crate::text::one_line(error),
            theme.style(Role::StatusCrit),
        )],
        Some(Ok(yaml)) => yaml
            .lines()
            .map(|line| {
                let role = if line.starts_with("# critical") {
                    Role::StatusCrit
                } else if line.starts_with("# warning") {
                    Role::StatusWarn
                } else {
                    Role::Text
                };
                Line::styled(line.to_owned(), theme.style(role))
            })
            .collect(),
    };
    // The whole main area: nothing of the view behind shows through.
    let rect = area;
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .scroll((scroll, 0))
            .block(popup_block(state, &crate::text::one_line(title))),
        rect,
    );
}
