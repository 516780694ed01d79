//! Overview: the site from its profile and the live state of every source.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::state_role;
use crate::app::state::{SiteState, State};
use crate::config::theme::{Role, Theme};
use crate::text::one_line;

/// Draws Overview.
pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let Some(site) = &state.site else {
        no_site(frame, area, state);
        return;
    };
    // The detail pane grows with a long error, so the error is what stays
    // readable at 80x24, not the empty rows of the table.
    let detail_height = site
        .reports
        .get(state.overview_selected)
        .map_or(4, |report| {
            let inner = usize::from(area.width.saturating_sub(2)).max(1);
            let first_line = report.state.label().len() + 2 + report.detail.chars().count();
            (first_line.div_ceil(inner) as u16 + 3).clamp(4, 8)
        });
    let wide = area.width >= 150;
    let cluster_height = super::cluster_pane::height(state, wide);
    let [info, middle, cluster_row, detail] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Min(4),
        Constraint::Length(if wide { 0 } else { cluster_height }),
        Constraint::Length(detail_height),
    ])
    .areas(area);
    site_info(frame, info, &state.theme, site, state);
    if wide && cluster_height > 0 {
        let [sources, cluster] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(middle);
        sources_table(frame, sources, state, site);
        super::cluster_pane::draw(frame, cluster, state, true);
    } else {
        sources_table(frame, middle, state, site);
        super::cluster_pane::draw(frame, cluster_row, state, false);
    }
    source_detail(frame, detail, &state.theme, site, state.overview_selected);
}

fn block<'a>(theme: &Theme, title: String, focused: bool) -> Block<'a> {
    let border = if focused {
        Role::BorderFocus
    } else {
        Role::Border
    };
    Block::bordered()
        .border_style(theme.style(border))
        .title(Span::styled(title, theme.style(Role::TextTitle)))
}

fn no_site(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let mut lines = vec![
        Line::raw("No site is open."),
        Line::styled(
            "Pick one in Sites (tab), or start with --site NAME|PATH.",
            theme.style(Role::TextMuted),
        ),
    ];
    if let Some(error) = &state.site_error {
        lines.push(Line::raw(""));
        lines.extend(
            error
                .lines()
                .map(|l| Line::styled(one_line(l), theme.style(Role::StatusCrit))),
        );
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(theme, " Overview ".into(), false)),
        area,
    );
}

fn label_value<'a>(theme: &Theme, label: &'a str, value: String) -> [Span<'a>; 2] {
    [
        Span::styled(format!("{label} "), theme.style(Role::TextMuted)),
        Span::styled(value, theme.style(Role::Text)),
    ]
}

fn site_info(frame: &mut Frame, area: Rect, theme: &Theme, site: &SiteState, state: &State) {
    let profile = &site.loaded.profile;
    let mut first: Vec<Span> =
        label_value(theme, "environment", profile.environment.to_string()).into();
    first.extend(label_value(
        theme,
        "  readonly",
        match (state.options.readonly, profile.readonly) {
            (true, _) => "yes (--readonly)".into(),
            (false, true) => "yes (profile)".into(),
            (false, false) => "no".into(),
        },
    ));
    if !site.loaded.warnings.is_empty() {
        first.push(Span::styled(
            format!("  {} warning(s)", site.loaded.warnings.len()),
            theme.style(Role::StatusWarn),
        ));
    }
    if let Some(description) = &profile.description {
        first.extend(label_value(theme, "  ·", one_line(description)));
    }
    let mut second: Vec<Span> = Vec::new();
    match &profile.cluster {
        Some(cluster) => {
            second.extend(label_value(
                theme,
                "context",
                state
                    .kube_context()
                    .map_or_else(|| "(current)".into(), |c| one_line(&c)),
            ));
            if let Some(kubeconfig) = &state.options.kubeconfig {
                second.extend(label_value(
                    theme,
                    "  kubeconfig",
                    format!(
                        "{} (--kubeconfig)",
                        one_line(&kubeconfig.display().to_string())
                    ),
                ));
            } else if let Some(kubeconfig) = &cluster.kubeconfig {
                second.extend(label_value(
                    theme,
                    "  kubeconfig",
                    one_line(kubeconfig.as_written()),
                ));
            }
        }
        None => second.extend(label_value(theme, "cluster", "none configured".into())),
    }
    let nodes = match profile.ssh.as_ref().map(|s| &s.nodes) {
        Some(crate::config::profile::NodesSpec::List(list)) => format!("{} listed", list.len()),
        Some(crate::config::profile::NodesSpec::FromCluster) => "from the cluster".into(),
        _ => "none".into(),
    };
    second.extend(label_value(theme, "  nodes", nodes));
    let mut third: Vec<Span> = Vec::new();
    let path_or_dash = |p: &Option<crate::config::profile::PathRef>| {
        p.as_ref()
            .map_or_else(|| "—".to_owned(), |p| one_line(p.as_written()))
    };
    third.extend(label_value(
        theme,
        "release",
        path_or_dash(&profile.release),
    ));
    third.extend(label_value(
        theme,
        "  checklist",
        path_or_dash(&profile.checklist),
    ));
    third.extend(label_value(
        theme,
        "  runbooks",
        path_or_dash(&profile.runbooks),
    ));
    let lines = vec![Line::from(first), Line::from(second), Line::from(third)];
    let title = format!(" Site {} ", one_line(&profile.name));
    frame.render_widget(
        Paragraph::new(lines).block(block(theme, title, false)),
        area,
    );
}

fn sources_table(frame: &mut Frame, area: Rect, state: &State, site: &SiteState) {
    let theme = &state.theme;
    let header = Row::new(["NAME", "KIND", "TARGET", "STATE", "LATENCY", "DETAIL"])
        .style(theme.style(Role::TextMuted));
    let rows: Vec<Row> = site
        .sources
        .iter()
        .zip(&site.reports)
        .zip(&site.in_flight)
        .map(|((source, report), in_flight)| {
            let state_text = match (*in_flight, report.checked_at) {
                (true, None) => "probing…".to_owned(),
                // The last result stays while the next probe runs, marked.
                (true, Some(_)) => format!("{} …", report.state.label()),
                (false, _) => report.state.label().to_owned(),
            };
            let latency = report
                .latency_ms
                .map_or_else(String::new, |ms| format!("{ms:.0} ms"));
            Row::new([
                Cell::from(one_line(&source.name)),
                Cell::from(source.kind.label()),
                Cell::from(one_line(&source.target)),
                Cell::from(state_text).style(theme.style(state_role(report.state))),
                Cell::from(latency),
                Cell::from(report.detail.clone()).style(theme.style(Role::TextMuted)),
            ])
        })
        .collect();
    let down = site.reports.iter().filter(|r| r.state.is_down()).count();
    let checked = site.checked_at().map_or_else(
        || "not yet probed".to_owned(),
        |t| format!("checked {}", t.format("%H:%M:%S")),
    );
    let position = format!("{}/{}", state.overview_selected + 1, site.sources.len());
    let title = format!(" Sources {position} · {checked} · {down} down ");
    let widths = [
        Constraint::Length(14),
        Constraint::Length(11),
        Constraint::Length(18),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme.style(Role::Selection))
        .block(block(theme, title, state.popup.is_none()));
    let mut table_state = TableState::default().with_selected(Some(state.overview_selected));
    frame.render_stateful_widget(table, area, &mut table_state);
}

fn source_detail(frame: &mut Frame, area: Rect, theme: &Theme, site: &SiteState, selected: usize) {
    let (Some(source), Some(report)) = (site.sources.get(selected), site.reports.get(selected))
    else {
        return;
    };
    let label = match (site.in_flight.get(selected), report.checked_at) {
        (Some(true), None) => "probing…",
        _ => report.state.label(),
    };
    let lines = vec![
        Line::from(vec![
            Span::styled(label, theme.style(state_role(report.state))),
            Span::raw("  "),
            Span::styled(report.detail.clone(), theme.style(Role::Text)),
        ]),
        Line::from(label_value(theme, "checks", source.checks.to_owned()).to_vec()),
    ];
    let title = format!(" {} ", one_line(&source.name));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block(theme, title, false)),
        area,
    );
}
