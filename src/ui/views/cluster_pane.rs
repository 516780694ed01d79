//! Overview's cluster pane: the connection, the counts that matter
//! (drift, missing, unavailable, findings), the watches' health, and the
//! permission table.

use chrono::Utc;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::cluster::{ClusterState, Connection, FeedStatus};
use crate::app::state::State;
use crate::config::theme::{Role, Theme};
use crate::text::one_line;

/// How many lines the pane wants at this width.
pub fn height(state: &State, wide: bool) -> u16 {
    match state.cluster() {
        None => 0,
        Some(cluster) if wide => 6 + cluster.permissions.len().min(16) as u16,
        Some(cluster) => {
            4 + u16::from(denied(cluster).next().is_some())
                + u16::from(matches!(cluster.release, Some(Err(_))))
                + u16::from(troubled(cluster))
        }
    }
}

/// Whether a watch is down or forbidden.
fn troubled(cluster: &ClusterState) -> bool {
    cluster
        .feeds
        .values()
        .any(|f| matches!(f, FeedStatus::Down { .. } | FeedStatus::Forbidden(_)))
}

fn denied(cluster: &ClusterState) -> impl Iterator<Item = &crate::cluster::access::Permission> {
    cluster
        .permissions
        .iter()
        .filter(|p| p.allowed != Some(true))
}

/// Draws the pane; `wide` adds the whole permission table.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, wide: bool) {
    let Some(cluster) = state.cluster() else {
        return;
    };
    let theme = &state.theme;
    let now = state.now.unwrap_or_else(Utc::now);
    let mut lines = vec![connection_line(theme, &cluster.connection)];
    let summary = &cluster.summary;
    let count = |n: usize, word: &str, bad: Role| {
        Span::styled(
            format!("{n} {word}  "),
            theme.style(if n > 0 { bad } else { Role::TextMuted }),
        )
    };
    // No all-clear before the workloads and pods were counted.
    use crate::cluster::watch::Feed;
    let listed = [
        Feed::Deployments,
        Feed::StatefulSets,
        Feed::DaemonSets,
        Feed::Pods,
    ]
    .iter()
    .all(|f| cluster.last_live.contains_key(f));
    if listed {
        let counts = vec![
            Span::styled(
                format!("{} workloads  ", summary.workloads),
                theme.style(Role::Text),
            ),
            count(summary.drifted, "drifted", Role::StatusWarn),
            count(summary.missing, "missing", Role::StatusCrit),
            count(summary.unavailable, "unavailable", Role::StatusWarn),
            count(summary.critical, "critical", Role::StatusCrit),
            count(summary.warnings, "warnings", Role::StatusWarn),
        ];
        lines.push(Line::from(counts));
        if !wide && troubled(cluster) {
            lines.push(feeds_line(theme, cluster, true, now));
        }
    } else if matches!(
        cluster.connection,
        Connection::Connecting | Connection::Connected { .. }
    ) {
        lines.push(Line::styled("listing…", theme.style(Role::StatusUnknown)));
    }
    if wide {
        lines.push(release_line(theme, cluster));
        lines.push(feeds_line(theme, cluster, false, now));
    } else if matches!(cluster.release, Some(Err(_))) {
        lines.push(release_line(theme, cluster));
    }
    if wide {
        for permission in &cluster.permissions {
            let (mark, role) = match permission.allowed {
                Some(true) => ("yes", Role::StatusOk),
                Some(false) => ("NO ", Role::StatusCrit),
                None => ("?  ", Role::StatusUnknown),
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {mark} "), theme.style(role)),
                Span::styled(
                    format!("{:<6} {:<24}", permission.verb, permission.resource),
                    theme.style(Role::Text),
                ),
                Span::styled(permission.purpose.clone(), theme.style(Role::TextMuted)),
            ]));
        }
    } else if denied(cluster).next().is_some() {
        let list: Vec<String> = denied(cluster)
            .map(|p| format!("{} {} ({})", p.verb, p.resource, p.purpose))
            .collect();
        lines.push(Line::styled(
            format!("denied: {}", list.join(", ")),
            theme.style(Role::StatusCrit),
        ));
    }
    let title = Span::styled(" Cluster ", theme.style(Role::TextTitle));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .border_style(theme.style(Role::Border))
                .title(title),
        ),
        area,
    );
}

fn connection_line(theme: &Theme, connection: &Connection) -> Line<'static> {
    match connection {
        Connection::Connecting => Line::styled("connecting…", theme.style(Role::StatusUnknown)),
        Connection::Connected {
            server,
            context,
            version: Ok(version),
        } => Line::from(vec![
            Span::styled("up ", theme.style(Role::StatusOk)),
            Span::styled(
                format!(
                    "Kubernetes {} at {} · context {}",
                    one_line(version),
                    one_line(server),
                    one_line(context)
                ),
                theme.style(Role::Text),
            ),
        ]),
        Connection::Connected {
            server,
            version: Err(error),
            ..
        } => Line::styled(
            format!("unreachable {}: {}", one_line(server), one_line(error)),
            theme.style(Role::StatusCrit),
        ),
        Connection::NeedsTrust { command, .. } => Line::styled(
            format!("waiting for trust in `{}`", one_line(command)),
            theme.style(Role::StatusWarn),
        ),
        Connection::Failed(error) => Line::styled(one_line(error), theme.style(Role::StatusCrit)),
    }
}

fn release_line(theme: &Theme, cluster: &ClusterState) -> Line<'static> {
    match &cluster.release {
        None => Line::styled(
            "no release manifest in the profile: drift not checked",
            theme.style(Role::TextMuted),
        ),
        Some(Ok(manifest)) => Line::styled(
            format!(
                "release {} {} · {} components",
                one_line(&manifest.name),
                one_line(&manifest.version),
                manifest.components.len()
            ),
            theme.style(Role::TextMuted),
        ),
        Some(Err(error)) => Line::styled(
            format!(
                "release manifest unusable: {}",
                one_line(error.lines().next().unwrap_or_default())
            ),
            theme.style(Role::StatusCrit),
        ),
    }
}

/// The watches' health; `only_trouble` leaves it empty when all are live.
fn feeds_line(
    theme: &Theme,
    cluster: &ClusterState,
    only_trouble: bool,
    now: chrono::DateTime<Utc>,
) -> Line<'static> {
    let mut spans = vec![Span::styled("watches ", theme.style(Role::TextMuted))];
    let troubled: Vec<Span> = cluster
        .feeds
        .iter()
        .filter_map(|(feed, status)| match status {
            FeedStatus::Live => None,
            FeedStatus::Loading => Some(Span::styled(
                format!("{} loading  ", feed.label()),
                theme.style(Role::StatusUnknown),
            )),
            FeedStatus::Forbidden(_) => Some(Span::styled(
                format!("{} forbidden  ", feed.label()),
                theme.style(Role::StatusCrit),
            )),
            FeedStatus::Down { last_live, .. } => Some(Span::styled(
                format!(
                    "{} stale {}  ",
                    feed.label(),
                    super::cluster::age(last_live.map(|t| t.with_timezone(&Utc)), now)
                ),
                theme.style(Role::StatusWarn),
            )),
        })
        .collect();
    if troubled.is_empty() && only_trouble {
        return Line::default();
    }
    if troubled.is_empty() {
        spans.push(Span::styled("all live", theme.style(Role::StatusOk)));
    } else {
        spans.extend(troubled);
    }
    Line::from(spans)
}
