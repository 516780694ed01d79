//! The Hosts view's popups: a command (being typed, the production site's
//! typed confirmation, the run, each node's output) and accepting an
//! unknown host key.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::centered;
use super::popups::popup_block;
use crate::app::node_command::{NodeCommand, Stage, output_lines};
use crate::app::state::State;
use crate::config::theme::Role;
use crate::nodes::accept::UnknownKey;

/// Draws the popup over `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, popup: &NodeCommand) {
    let theme = &state.theme;
    let on = match popup.nodes.as_slice() {
        [one] => crate::text::one_line(one),
        many => format!("{} nodes", many.len()),
    };
    let title = format!("Run on {on}");
    let height = match popup.stage {
        Stage::Typing(_) => 6,
        Stage::Confirming { .. } => 8,
        Stage::Running { .. } | Stage::Done { .. } => area.height.saturating_sub(2),
    };
    let rect = centered(area, area.width.saturating_sub(4).min(110), height.max(5));
    frame.render_widget(Clear, rect);
    let block = popup_block(state, &title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    // Every name when they fit in two lines, else the first ones and how
    // many more (the count is always there).
    let names = names_fitting(
        &popup.nodes,
        (usize::from(inner.width) * 2).saturating_sub(24),
    );
    let muted = theme.style(Role::TextMuted);
    let key = theme.style(Role::TextKey);
    match &popup.stage {
        Stage::Typing(input) => {
            let [prompt, text, help] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(2),
                Constraint::Length(1),
            ])
            .areas(inner);
            input_line(frame, prompt, "$ ", input, state);
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled(format!("on {names}"), muted),
                    Line::styled(
                        "run by each node's login shell; written to the audit log",
                        muted,
                    ),
                ])
                .wrap(Wrap { trim: false }),
                text,
            );
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("enter", key),
                    Span::raw(" run   "),
                    Span::styled("esc", key),
                    Span::raw(" cancel"),
                ])),
                help,
            );
        }
        Stage::Confirming { command, typed } => {
            let site = state
                .site
                .as_ref()
                .map(|s| crate::text::one_line(&s.loaded.profile.name))
                .unwrap_or_default();
            let [text, prompt, help] = Layout::vertical([
                Constraint::Length(3),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .areas(inner);
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled(
                        format!("{site} is a production site. Type its name to run"),
                        theme.style(Role::StatusWarn),
                    ),
                    Line::styled(format!("  {}", crate::text::one_line(command)), key),
                    Line::raw(format!("on {names}")),
                ])
                .wrap(Wrap { trim: false }),
                text,
            );
            input_line(frame, prompt, "> ", typed, state);
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled("esc", key),
                    Span::raw(" cancel (the default)   "),
                    Span::styled("enter", key),
                    Span::raw(" run once the name matches"),
                ])),
                help,
            );
        }
        Stage::Running { command, .. } => {
            let spinner = crate::app::update::SPINNER[state.spinner];
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled(format!("$ {}", crate::text::one_line(command)), key),
                    Line::raw(format!("{spinner} running on {names}")),
                    Line::styled("esc closes this window; the run goes on", muted),
                ])
                .wrap(Wrap { trim: false }),
                inner,
            );
        }
        Stage::Done {
            command,
            outputs,
            scroll,
        } => {
            let mut lines = vec![Line::styled(
                format!("$ {}", crate::text::one_line(command)),
                key,
            )];
            match outputs {
                Ok(outputs) => {
                    for (heading, text) in output_lines(outputs) {
                        lines.push(match heading {
                            Some(true) => Line::styled(text, theme.style(Role::TextTitle)),
                            Some(false) => Line::styled(text, theme.style(Role::StatusCrit)),
                            None => Line::raw(text),
                        });
                    }
                }
                Err(why) => lines.push(Line::styled(why.clone(), theme.style(Role::StatusCrit))),
            }
            frame.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0)),
                inner,
            );
        }
    }
}

/// Accept this host key? The default answer is No.
pub fn accept_key(frame: &mut Frame, area: Rect, state: &State, key: &UnknownKey) {
    let theme = &state.theme;
    let hint = |action: &crate::app::Action| {
        state
            .keymap
            .hint(crate::config::keymap::Focus::Confirm, action)
            .unwrap_or_default()
    };
    let one = |text: &str| crate::text::one_line(text);
    let whose = if key.whose == crate::nodes::accept::BASTION {
        "the bastion".to_owned()
    } else {
        format!("node {}", one(&key.whose))
    };
    let lines = vec![
        Line::raw(format!(
            "{} ({whose}) offers a host key sitedeck does not know:",
            one(&key.target)
        )),
        Line::styled(
            format!("  {} {}", one(&key.key_type), one(&key.fingerprint)),
            theme.style(Role::TextKey),
        ),
        Line::raw("Compare it on the host itself (its console, not this connection):"),
        Line::styled(
            "  ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub",
            theme.style(Role::TextMuted),
        ),
        Line::raw(""),
        Line::from(vec![
            Span::styled(
                hint(&crate::app::Action::Confirm),
                theme.style(Role::TextKey),
            ),
            Span::raw(" it is the same: record it   "),
            Span::styled(
                hint(&crate::app::Action::Cancel),
                theme.style(Role::TextKey),
            ),
            Span::raw(" no (default)"),
        ]),
    ];
    let rect = centered(area, area.width.saturating_sub(4).min(84), 9);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(popup_block(state, "Accept a host key?")),
        rect,
    );
}

fn input_line(
    frame: &mut Frame,
    area: Rect,
    prompt: &str,
    input: &ratatui_textarea::TextArea<'static>,
    state: &State,
) {
    let [prompt_area, text_area] =
        Layout::horizontal([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    frame.render_widget(
        Span::styled(prompt.to_owned(), state.theme.style(Role::TextKey)),
        prompt_area,
    );
    frame.render_widget(input, text_area);
}

/// `a, b, c` when it fits in `room` characters; else as many names as fit
/// and `… and 12 more (15 nodes)`.
fn names_fitting(nodes: &[String], room: usize) -> String {
    let names: Vec<String> = nodes.iter().map(|n| crate::text::one_line(n)).collect();
    let all = names.join(", ");
    if all.chars().count() <= room {
        return all;
    }
    let mut shown = String::new();
    for (i, name) in names.iter().enumerate() {
        let more = format!(" … and {} more ({} nodes)", names.len() - i, names.len());
        if shown.chars().count() + name.chars().count() + 2 + more.chars().count() > room {
            return format!("{shown}{more}");
        }
        if !shown.is_empty() {
            shown.push_str(", ");
        }
        shown.push_str(name);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::names_fitting;

    #[test]
    fn many_names_say_how_many_more() {
        let nodes: Vec<String> = (1..=40).map(|n| format!("acme-worker-{n}")).collect();
        let shown = names_fitting(&nodes, 100);
        assert!(shown.ends_with("more (40 nodes)"), "{shown}");
        assert!(shown.chars().count() <= 100, "{shown}");
        assert_eq!(
            names_fitting(&nodes[..2], 100),
            "acme-worker-1, acme-worker-2"
        );
    }
}
