//! The frame around the views: header, tab bar, status bar.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::Action;
use crate::app::state::{Level, State, View};
use crate::app::update::SPINNER;
use crate::config::keymap::Focus;
use crate::config::profile::Environment;
use crate::config::theme::Role;
use crate::text::one_line;

/// Site, environment badge, kube context, READONLY badge, clock.
pub fn header(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let mut spans = vec![Span::styled(" sitedeck ", theme.style(Role::TextTitle))];
    match &state.site {
        Some(site) => {
            let profile = &site.loaded.profile;
            spans.push(Span::styled(
                format!(" {} ", one_line(&profile.name)),
                theme.style(Role::HeaderSite),
            ));
            let badge = match profile.environment {
                Environment::Prod => Role::BadgeProd,
                Environment::Staging => Role::BadgeStaging,
                Environment::Poc => Role::BadgePoc,
            };
            spans.push(Span::styled(
                format!(" {} ", profile.environment.to_string().to_uppercase()),
                theme.style(badge),
            ));
            if let Some(context) = state.kube_context() {
                spans.push(Span::styled(" ctx ", theme.style(Role::TextMuted)));
                spans.push(Span::styled(one_line(&context), theme.style(Role::Header)));
            }
        }
        None => spans.push(Span::styled(" no site open", theme.style(Role::TextMuted))),
    }
    if state.readonly() {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" READONLY ", theme.style(Role::BadgeReadonly)));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.style(Role::Header)),
        area,
    );
    let clock = Paragraph::new(format!("{} ", state.clock))
        .alignment(Alignment::Right)
        .style(theme.style(Role::TextMuted));
    let clock_width = state.clock.len() as u16 + 1;
    if area.width > clock_width + 40 {
        let right = Rect {
            x: area.right() - clock_width,
            width: clock_width,
            ..area
        };
        frame.render_widget(clock, right);
    }
}

/// The views as tabs; when they do not all fit, the ones around the
/// active tab, with `‹` and `›` where some are left out.
pub fn tabs(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let width = usize::from(area.width);
    let widths: Vec<usize> = View::ALL.iter().map(|v| v.title().len() + 2).collect();
    let active = View::ALL.iter().position(|v| *v == state.view);
    // Room for the leading space and both markers.
    let room = width.saturating_sub(4);
    let mut first = 0;
    if let Some(active) = active {
        while first < active && widths[first..=active].iter().sum::<usize>() > room {
            first += 1;
        }
    }
    let mut last = first;
    let mut used = 0;
    while last < widths.len() && used + widths[last] <= room.max(widths[first]) {
        used += widths[last];
        last += 1;
    }
    let all_fit = widths.iter().sum::<usize>() < width;
    let (first, last) = if all_fit {
        (0, widths.len())
    } else {
        (first, last)
    };
    let mut spans = vec![Span::styled(
        if first > 0 { "‹" } else { " " },
        theme.style(Role::TextMuted),
    )];
    for view in &View::ALL[first..last] {
        let role = if *view == state.view {
            Role::TabActive
        } else {
            Role::Tab
        };
        spans.push(Span::styled(view.title(), theme.style(role)));
        spans.push(Span::styled("  ", theme.style(Role::Tab)));
    }
    if last < View::ALL.len() {
        spans.push(Span::styled("›", theme.style(Role::TextMuted)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The last message on the left, running jobs and key hints on the right.
pub fn status_bar(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let mut right: Vec<Span> = Vec::new();
    let jobs = state.jobs_running();
    if jobs > 0 {
        right.push(Span::styled(
            format!("{} probing {jobs} ", SPINNER[state.spinner % SPINNER.len()]),
            theme.style(Role::StatusUnknown),
        ));
    }
    let warnings = state.warnings().len();
    if warnings > 0 {
        right.push(Span::styled(
            format!(
                " {warnings} warning{} ",
                if warnings == 1 { "" } else { "s" }
            ),
            theme.style(Role::StatusBarWarn),
        ));
        if let Some(keys) = state.keymap.hint(Focus::Global, &Action::Warnings) {
            right.push(Span::styled(keys, theme.style(Role::TextKey)));
            right.push(Span::raw(" "));
        }
    }
    for (action, label) in [
        (Action::Help, "help"),
        (Action::CommandPalette, "command"),
        (Action::Quit, "quit"),
    ] {
        if let Some(keys) = state.keymap.hint(Focus::Global, &action) {
            right.push(Span::styled(keys, theme.style(Role::TextKey)));
            right.push(Span::styled(
                format!(" {label} "),
                theme.style(Role::TextMuted),
            ));
        }
    }
    let right_line = Line::from(right);
    let right_width = right_line.width() as u16;
    let (text, role) = match &state.status {
        Some(message) => (
            message.text.as_str(),
            match message.level {
                Level::Info => Role::StatusBar,
                Level::Warn => Role::StatusBarWarn,
                Level::Error => Role::StatusBarError,
            },
        ),
        None => ("", Role::StatusBar),
    };
    let left_width = area.width.saturating_sub(right_width + 2);
    let message = ellipsize(&format!(" {}", one_line(text)), usize::from(left_width));
    frame.render_widget(
        Paragraph::new(message).style(theme.style(role)),
        Rect {
            width: left_width,
            ..area
        },
    );
    if right_width <= area.width {
        frame.render_widget(
            Paragraph::new(right_line).alignment(Alignment::Right),
            Rect {
                x: area.right() - right_width,
                width: right_width,
                ..area
            },
        );
    }
}

/// Cuts `text` to `width` columns, ending with `…` when something was cut.
pub(crate) fn ellipsize(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if unicode_width::UnicodeWidthStr::width(text) <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::ellipsize;

    #[test]
    fn long_messages_end_with_an_ellipsis() {
        assert_eq!(ellipsize("abcdef", 6), "abcdef");
        assert_eq!(ellipsize("abcdefg", 6), "abcde…");
        assert_eq!(ellipsize("数据库连接", 5), "数据…");
    }
}
