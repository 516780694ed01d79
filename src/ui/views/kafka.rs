//! The Kafka views: topics (with the selected topic's partitions and the
//! brokers under them) and consumer groups (with the selected group's lag
//! per topic and partition, and its trend). A cluster whose last look
//! failed keeps its last good data, marked stale.

use chrono::Utc;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::app::kafka::{KafkaState, hide_order, sparkline};
use crate::app::state::{SiteState, State, View};
use crate::config::theme::{Role, Theme};
use crate::probe::SourceKind;
use crate::text::one_line;

/// Draws Kafka topics or consumer groups.
pub fn draw(frame: &mut Frame, area: Rect, state: &State, view: View) {
    let theme = &state.theme;
    let name = if view == View::Kafka {
        " Kafka topics "
    } else {
        " Kafka groups "
    };
    let Some(site) = &state.site else {
        empty(
            frame,
            area,
            theme,
            name,
            "No site open: pick one in Sites (g s).".into(),
        );
        return;
    };
    let clusters: Vec<_> = site
        .sources
        .iter()
        .zip(&site.reports)
        .filter(|(s, _)| s.kind == SourceKind::Kafka)
        .collect();
    if clusters.is_empty() {
        let text = "This site's profile lists no Kafka cluster: add one under `kafka:` (see docs/kafka.md).";
        empty(frame, area, theme, name, text.into());
        return;
    }
    let kafka = &site.kafka;
    if kafka.seen.is_empty() {
        let said: Vec<String> = clusters
            .iter()
            .map(|(s, r)| match r.detail.as_str() {
                "" => format!("{}: waiting for the first look…", s.name),
                detail => format!("{}: {} — {detail}", s.name, r.state.label()),
            })
            .collect();
        empty(frame, area, theme, name, said.join("\n"));
        return;
    }
    let table = if view == View::Kafka {
        &kafka.topics
    } else {
        &kafka.groups
    };
    let mut title = vec![Span::styled(name, theme.style(Role::TextTitle))];
    title.push(Span::styled(
        super::row_count(table),
        theme.style(Role::TextMuted),
    ));
    title.extend(stale_marks(site, theme));
    let border = theme.style(if state.popup.is_none() {
        Role::BorderFocus
    } else {
        Role::Border
    });
    let block = Block::bordered()
        .border_style(border)
        .title(Line::from(title));
    let ([table_area, filter_area, detail_area], show_filter) =
        super::table_over_detail(area, state, table);
    let (order, always) = hide_order(view == View::Kafka, kafka.seen.len());
    super::cluster::draw_table(
        frame,
        table_area,
        theme,
        table,
        block,
        state.now.unwrap_or_else(Utc::now),
        super::cluster::Hiding { order, always },
    );
    if show_filter {
        super::cluster::filter_line(frame, filter_area, theme, table, state.filtering);
    }
    let (title, lines) = if view == View::Kafka {
        topic_detail(theme, kafka)
    } else {
        group_detail(theme, kafka)
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_style(theme.style(Role::Border))
                .title(title),
        ),
        detail_area,
    );
}

/// `STALE` for each cluster whose last look failed, with why and when the
/// data shown was read.
fn stale_marks(site: &SiteState, theme: &Theme) -> Vec<Span<'static>> {
    site.sources
        .iter()
        .zip(&site.reports)
        .filter(|(s, r)| s.kind == SourceKind::Kafka && r.state.is_down())
        .map(|(s, r)| {
            let since = site
                .kafka
                .seen
                .get(&s.name)
                .map(|seen| format!(", data from {}", seen.at.format("%H:%M:%S")))
                .unwrap_or_default();
            Span::styled(
                format!("· STALE {}: {}{since} ", one_line(&s.name), r.state.label()),
                theme.style(Role::StatusCrit),
            )
        })
        .collect()
}

fn empty(frame: &mut Frame, area: Rect, theme: &Theme, name: &'static str, text: String) {
    let lines: Vec<Line> = text
        .lines()
        .map(|l| Line::styled(one_line(l), theme.style(Role::TextMuted)))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_style(theme.style(Role::BorderFocus))
                .title(name),
        ),
        area,
    );
}

fn muted(theme: &Theme, text: String) -> Span<'static> {
    Span::styled(text, theme.style(Role::TextMuted))
}

/// The selected topic's partitions (the chosen one marked), then brokers.
fn topic_detail(theme: &Theme, kafka: &KafkaState) -> (Line<'static>, Vec<Line<'static>>) {
    let Some((seen, topic)) = kafka.selected_topic() else {
        return (Line::raw(""), Vec::new());
    };
    let title = Line::from(vec![
        Span::styled(
            format!(" {} ", one_line(&topic.name)),
            theme.style(Role::TextTitle),
        ),
        muted(
            theme,
            format!(
                "· [ ] choose a partition, p peeks at it · read {} ",
                seen.at.format("%H:%M:%S")
            ),
        ),
    ]);
    let mut lines = vec![Line::from(muted(
        theme,
        format!(
            "  {:>4}  {:>6}  {:<12} {:<12} {:>10} {:>10}",
            "PART", "LEADER", "REPLICAS", "ISR", "LOW", "HIGH"
        ),
    ))];
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let mark = |n: Option<i64>| n.map_or_else(|| "?".into(), |n| n.to_string());
    let chosen_partition = kafka.chosen_partition();
    for p in &topic.partitions {
        let chosen = p.id == chosen_partition;
        let role = if p.is_offline() {
            Role::StatusCrit
        } else if p.is_under_replicated() {
            Role::StatusWarn
        } else if chosen {
            Role::TextTitle
        } else {
            Role::Text
        };
        lines.push(Line::styled(
            format!(
                "{} {:>4}  {:>6}  {:<12} {:<12} {:>10} {:>10}",
                if chosen { "▶" } else { " " },
                p.id,
                p.leader,
                ids(&p.replicas),
                ids(&p.isr),
                mark(p.low),
                mark(p.high)
            ),
            theme.style(role),
        ));
    }
    let brokers: Vec<String> = seen
        .snapshot
        .brokers
        .iter()
        .map(|b| {
            let rack = b
                .rack
                .as_deref()
                .map(|r| format!(" rack {}", one_line(r)))
                .unwrap_or_default();
            let controller = if b.controller { " (controller)" } else { "" };
            format!(
                "{} {}:{}{rack}{controller}",
                b.id,
                one_line(&b.host),
                b.port
            )
        })
        .collect();
    lines.push(Line::from(vec![
        muted(theme, "brokers  ".into()),
        Span::raw(brokers.join(" · ")),
        muted(theme, format!("  (reached {})", seen.snapshot.path)),
    ]));
    for note in &seen.snapshot.notes {
        lines.push(Line::styled(one_line(note), theme.style(Role::StatusWarn)));
    }
    (title, lines)
}

/// The selected group: lag per topic, its trend, then per partition.
fn group_detail(theme: &Theme, kafka: &KafkaState) -> (Line<'static>, Vec<Line<'static>>) {
    let Some((seen, group)) = kafka.selected_group() else {
        return (Line::raw(""), Vec::new());
    };
    let cluster = kafka
        .groups
        .selected_row()
        .map(|r| r.target.namespace.clone())
        .unwrap_or_default();
    let title = Line::from(vec![
        Span::styled(
            format!(" {} ", one_line(&group.name)),
            theme.style(Role::TextTitle),
        ),
        muted(
            theme,
            format!(
                "· {} · {} member(s) · read {} ",
                one_line(&group.state),
                group.members,
                seen.at.format("%H:%M:%S")
            ),
        ),
    ]);
    let mut lines: Vec<Line<'static>> = seen
        .snapshot
        .notes
        .iter()
        .map(|note| Line::styled(one_line(note), theme.style(Role::StatusWarn)))
        .collect();
    if let Some(error) = &group.error {
        lines.push(Line::styled(
            format!("offsets not read: {}", one_line(error)),
            theme.style(Role::StatusCrit),
        ));
    }
    if let Some(trend) = kafka.trend_of(&cluster, &group.name) {
        let (low, high) = (
            trend.iter().min().copied().unwrap_or(0),
            trend.iter().max().copied().unwrap_or(0),
        );
        lines.push(Line::from(vec![
            muted(theme, "lag trend ".into()),
            Span::raw(sparkline(trend)),
            muted(
                theme,
                format!("  {} look(s), low {low}, high {high}", trend.len()),
            ),
        ]));
    }
    for (topic, lag) in group.lag_by_topic() {
        lines.push(Line::from(vec![
            muted(theme, "topic ".into()),
            Span::raw(format!("{} lag {lag}", one_line(&topic))),
        ]));
    }
    lines.push(Line::from(muted(
        theme,
        format!(
            "  {:<24} {:>4} {:>12} {:>12} {:>10}",
            "TOPIC", "PART", "COMMITTED", "END", "LAG"
        ),
    )));
    for o in &group.offsets {
        let role = if o.lag > 0 {
            Role::StatusWarn
        } else {
            Role::Text
        };
        lines.push(Line::styled(
            format!(
                "  {:<24} {:>4} {:>12} {:>12} {:>10}",
                one_line(&o.topic),
                o.partition,
                o.committed,
                o.end,
                o.lag
            ),
            theme.style(role),
        ));
    }
    (title, lines)
}
