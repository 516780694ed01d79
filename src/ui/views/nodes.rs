//! The Hosts view (the nodes over SSH: facts and findings) and the Time
//! view (each node's clock and time daemon, the largest skew as the
//! headline, the site's NTP servers), each a table over the selected
//! node's detail.

use chrono::Utc;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::nodes::{self, NodesSnapshot};
use crate::app::state::{State, View};
use crate::config::theme::{Role, Theme};
use crate::nodes::facts::Severity;
use crate::nodes::survey::NodeReport;
use crate::nodes::time::{NodeTime, TimeReport};

/// Draws the Hosts or the Time view.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let name = if state.view == View::Time {
        " Time "
    } else {
        " Hosts "
    };
    let Some(site) = &state.site else {
        empty(
            frame,
            area,
            theme,
            name,
            "No site open: pick one in Sites (g s).",
        );
        return;
    };
    let snapshot = match &site.nodes.last {
        Some(Ok(snapshot)) => snapshot,
        Some(Err(why)) => return empty(frame, area, theme, name, why),
        None if site.nodes.surveying => {
            return empty(frame, area, theme, name, "Reading the nodes over SSH…");
        }
        None => return empty(frame, area, theme, name, "Not read yet: r reads the nodes."),
    };
    let Some(table) = state.table() else { return };
    let now = state.now.unwrap_or_else(Utc::now);
    let mut title = vec![Span::styled(name, theme.style(Role::TextTitle))];
    title.push(Span::styled(
        super::row_count(table),
        theme.style(Role::TextMuted),
    ));
    if state.view == View::Time {
        title.extend(headline(theme, &snapshot.time));
    }
    let read = if site.nodes.surveying {
        "reading… ".to_owned()
    } else {
        format!("{} ", nodes::read_at(snapshot, now))
    };
    title.push(Span::styled(read, theme.style(Role::TextMuted)));
    let block = Block::bordered()
        .border_style(theme.style(if state.popup.is_none() {
            Role::BorderFocus
        } else {
            Role::Border
        }))
        .title(Line::from(title));
    let ([table_area, filter_area, detail_area], show_filter) =
        super::table_over_detail(area, state, table);
    let (order, always) = match (state.view, area.width) {
        (View::Time, w) if w < 100 => (nodes::TIME_HIDE_ORDER, 2),
        (View::Time, _) => (nodes::TIME_HIDE_ORDER, 0),
        (_, w) if w < 100 => (nodes::HOST_HIDE_ORDER, 3),
        (_, w) if w < 140 => (nodes::HOST_HIDE_ORDER, 1),
        _ => (nodes::HOST_HIDE_ORDER, 0),
    };
    super::cluster::draw_table(
        frame,
        table_area,
        theme,
        table,
        block,
        now,
        super::cluster::Hiding { order, always },
    );
    if show_filter {
        super::cluster::filter_line(frame, filter_area, theme, table, state.filtering);
    }
    let detail = Block::bordered().border_style(theme.style(Role::Border));
    let lines = match (state.view, nodes::selected(state)) {
        (View::Time, selected) => time_lines(theme, snapshot, selected.and_then(|(_, t)| t)),
        (_, Some((node, _))) => {
            let accept = state.keymap.hint(
                crate::config::keymap::Focus::List,
                &crate::app::Action::AcceptHostKey,
            );
            host_lines(theme, node, accept.as_deref())
        }
        (_, None) => Vec::new(),
    };
    let title = nodes::selected(state).map_or_else(Line::default, |(node, _)| {
        Line::from(vec![
            Span::styled(format!(" {} ", node.name), theme.style(Role::TextTitle)),
            Span::styled(format!("· {} ", node.target), theme.style(Role::TextMuted)),
        ])
    });
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(detail.title(title)),
        detail_area,
    );
}

/// `· largest skew 812 ms (critical > 500 ms)`.
fn headline(theme: &Theme, time: &TimeReport) -> Vec<Span<'static>> {
    let role = severity_role(time.severity);
    let text = match time.max_skew_ms {
        Some(skew) => format!("· largest skew {skew:.0} ms "),
        None => "· no skew measured ".to_owned(),
    };
    let limits = match time.severity {
        Some(Severity::Critical) => format!("(critical > {:.0} ms) ", time.critical_ms),
        Some(Severity::Warn) => format!("(warn > {:.0} ms) ", time.warn_ms),
        None => String::new(),
    };
    vec![
        Span::styled(text, theme.style(role)),
        Span::styled(limits, theme.style(Role::TextMuted)),
    ]
}

fn severity_role(severity: Option<Severity>) -> Role {
    match severity {
        Some(Severity::Critical) => Role::StatusCrit,
        Some(Severity::Warn) => Role::StatusWarn,
        None => Role::StatusOk,
    }
}

fn empty(frame: &mut Frame, area: Rect, theme: &Theme, name: &str, text: &str) {
    frame.render_widget(
        Paragraph::new(Line::styled(text.to_owned(), theme.style(Role::TextMuted)))
            .wrap(Wrap { trim: false })
            .block(
                Block::bordered()
                    .border_style(theme.style(Role::BorderFocus))
                    .title(name.to_owned()),
            ),
        area,
    );
}

/// The width of the labels in the detail pane.
const LABEL: usize = 10;

fn key(theme: &Theme, text: &str) -> Span<'static> {
    Span::styled(format!("{text:<LABEL$} "), theme.style(Role::TextMuted))
}

/// `warn       what`, in the finding's colour.
fn finding_line(theme: &Theme, finding: &crate::nodes::facts::Finding) -> Line<'static> {
    let label = format!("{:?}", finding.severity).to_lowercase();
    Line::from(vec![
        Span::styled(
            format!("{label:<LABEL$} "),
            theme.style(severity_role(Some(finding.severity))),
        ),
        Span::raw(crate::text::one_line(&finding.what)),
    ])
}

/// A node's facts, its error, its findings and every mount.
fn host_lines(theme: &Theme, node: &NodeReport, accept: Option<&str>) -> Vec<Line<'static>> {
    let one = |text: &str| crate::text::one_line(text);
    let mut lines = Vec::new();
    if let Some(error) = &node.error {
        lines.push(Line::from(vec![
            key(theme, "error"),
            Span::styled(one(error), theme.style(Role::StatusCrit)),
        ]));
    }
    if let Some(unknown) = &node.unknown_key {
        lines.push(Line::from(vec![
            key(theme, "host key"),
            Span::raw(format!(
                "{} {} of {}: compare it on the host, then press {} to accept it",
                one(&unknown.key_type),
                one(&unknown.fingerprint),
                one(&unknown.whose),
                accept.unwrap_or("the palette's `accept`")
            )),
        ]));
    }
    lines.extend(node.findings.iter().map(|f| finding_line(theme, f)));
    let Some(facts) = &node.facts else {
        return lines;
    };
    let gib = |kib: u64| kib as f64 / 1_048_576.0;
    let (total, available) = facts.memory_kib;
    let (swap, swap_free) = facts.swap_kib;
    for (label, value) in [
        ("os", format!("{} ({})", one(&facts.os), facts.os_family)),
        ("kernel", one(&facts.kernel)),
        (
            "cpu",
            format!(
                "{} CPUs, load {:.2} {:.2} {:.2}",
                facts.cpus, facts.load[0], facts.load[1], facts.load[2]
            ),
        ),
        (
            "memory",
            format!(
                "{:.1} GiB of {:.1} GiB available, swap {:.1} of {:.1} GiB free",
                gib(available),
                gib(total),
                gib(swap_free),
                gib(swap)
            ),
        ),
        (
            "runtime",
            facts
                .runtime
                .as_deref()
                .map_or_else(|| "none found".into(), one),
        ),
        (
            "sysctl",
            facts
                .sysctls
                .iter()
                .map(|(k, v)| format!("{}={}", one(k), one(v)))
                .collect::<Vec<_>>()
                .join("  "),
        ),
    ] {
        lines.push(Line::from(vec![key(theme, label), Span::raw(value)]));
    }
    for mount in &facts.mounts {
        let worst = mount.used_percent.max(mount.inodes_percent.unwrap_or(0.0));
        let role = match worst {
            w if w >= 90.0 => Role::StatusCrit,
            w if w >= 80.0 => Role::StatusWarn,
            _ => Role::Text,
        };
        let inodes = mount
            .inodes_percent
            .map_or_else(String::new, |p| format!(", inodes {p:.0} %"));
        lines.push(Line::from(vec![
            key(theme, "mount"),
            Span::styled(
                format!(
                    "{} {:.0} % of {}{inodes}",
                    one(&mount.path),
                    mount.used_percent,
                    size(mount.size_kib)
                ),
                theme.style(role),
            ),
        ]));
    }
    lines
}

/// The selected node's clock and daemon, then the site's findings and NTP
/// servers.
fn time_lines(
    theme: &Theme,
    snapshot: &NodesSnapshot,
    node: Option<&NodeTime>,
) -> Vec<Line<'static>> {
    let one = |text: &str| crate::text::one_line(text);
    let mut lines = Vec::new();
    if let Some(node) = node {
        let clock = match (node.offset_ms, node.uncertainty_ms, &node.error) {
            (Some(offset), Some(give), _) => format!(
                "{offset:+.1} ms ± {give:.1} ms against this host ({})",
                if offset >= 0.0 { "ahead" } else { "behind" }
            ),
            (_, _, Some(error)) => one(error),
            _ => "not measured".into(),
        };
        lines.push(Line::from(vec![
            key(theme, "clock"),
            Span::styled(clock, theme.style(severity_role(node.severity))),
        ]));
        if let Some(daemon) = &node.daemon {
            lines.push(Line::from(vec![
                key(theme, "daemon"),
                Span::raw(crate::nodes::timesync::describe(daemon)),
            ]));
        }
    }
    lines.extend(
        snapshot
            .time
            .findings
            .iter()
            .map(|f| finding_line(theme, f)),
    );
    for check in &snapshot.time.ntp {
        let text = match &check.reading {
            Some(reading) => format!(
                "{}: stratum {}, this host {:+.1} ms, round trip {:.1} ms",
                one(&check.server),
                reading.stratum,
                reading.offset_ms,
                reading.delay_ms
            ),
            None => format!(
                "{}: {}",
                one(&check.server),
                one(check.error.as_deref().unwrap_or("no answer"))
            ),
        };
        lines.push(Line::from(vec![key(theme, "NTP"), Span::raw(text)]));
    }
    lines
}

/// `200.0 GiB`, or `1.0 MiB` for what is smaller than a GiB.
fn size(kib: u64) -> String {
    if kib >= 1_048_576 {
        format!("{:.1} GiB", kib as f64 / 1_048_576.0)
    } else {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    }
}
