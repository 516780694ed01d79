//! The Kafka views' model: the topics and consumer-group tables built from
//! each Kafka cluster's last good snapshot (kept, marked stale, when a
//! later look fails), the lag trend of every group over the session, the
//! partition chosen in the topic's detail pane, and peek.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Local};

use super::effect::Effect;
use super::state::{Level, Popup, State, View};
use super::table::{Cell, Table, TableRow, Target, Tone};
use crate::kafka::{Group, KafkaSnapshot, PeekFrom, Topic};
use crate::probe::{ProbeReport, SourceKind};
use crate::text::one_line;

/// The Topics table's columns.
pub const TOPIC_COLUMNS: &[&str] = &[
    "CLUSTER",
    "TOPIC",
    "PARTS",
    "RF",
    "UNDER-REPL",
    "OFFLINE",
    "MESSAGES",
    "LAG",
    "RETENTION",
];
/// Topics columns hidden first when narrow: RETENTION, RF, OFFLINE, and
/// CLUSTER last (with several clusters a topic's name alone may be
/// ambiguous).
const TOPIC_HIDE_ORDER: &[usize] = &[8, 3, 5, 0];
/// The same with one cluster: CLUSTER first (and always).
const TOPIC_HIDE_ORDER_ONE: &[usize] = &[0, 8, 3, 5];

/// The Groups table's columns.
pub const GROUP_COLUMNS: &[&str] = &[
    "CLUSTER", "GROUP", "STATE", "MEMBERS", "ASSIGNOR", "TOPICS", "LAG", "TREND",
];
/// Groups columns hidden first when narrow: ASSIGNOR, TOPICS, CLUSTER.
const GROUP_HIDE_ORDER: &[usize] = &[4, 5, 0];
/// The same with one cluster: CLUSTER first (and always).
const GROUP_HIDE_ORDER_ONE: &[usize] = &[0, 4, 5];

/// The columns a Kafka table hides first when narrow, and how many of
/// them it hides whatever the width: with one cluster, its name in every
/// row says nothing, so CLUSTER goes first and always.
pub fn hide_order(topics: bool, clusters: usize) -> (&'static [usize], usize) {
    match (topics, clusters == 1) {
        (true, true) => (TOPIC_HIDE_ORDER_ONE, 1),
        (true, false) => (TOPIC_HIDE_ORDER, 0),
        (false, true) => (GROUP_HIDE_ORDER_ONE, 1),
        (false, false) => (GROUP_HIDE_ORDER, 0),
    }
}
/// The Groups table sorts by LAG, highest first.
const LAG_COLUMN: usize = 6;

/// How many lag samples a group keeps (one per look).
pub const TREND_SAMPLES: usize = 60;
/// How many messages `p` reads.
pub const PEEK_LIMIT: usize = 20;

/// The times the palette offers to peek from: label and minutes ago.
pub const PEEK_SINCE: [(&str, u32); 4] = [("15m", 15), ("1h", 60), ("6h", 360), ("24h", 1440)];

const TOPIC_KIND: &str = "KafkaTopic";
const GROUP_KIND: &str = "KafkaGroup";

/// One cluster's last good look.
#[derive(Debug, Clone)]
pub struct Seen {
    /// What was read.
    pub snapshot: Arc<KafkaSnapshot>,
    /// When.
    pub at: DateTime<Local>,
}

/// The Kafka views' state.
#[derive(Debug, Clone)]
pub struct KafkaState {
    /// Topics of every cluster.
    pub topics: Table,
    /// Consumer groups of every cluster.
    pub groups: Table,
    /// The last good snapshot per cluster (source) name.
    pub seen: HashMap<String, Seen>,
    /// Total lag per (cluster, group), oldest first.
    pub trend: HashMap<(String, String), VecDeque<i64>>,
    /// The partition chosen in a topic's detail pane: the topic's row
    /// and the partition (another topic starts at partition 0).
    pub chosen: Option<(Target, i32)>,
}

impl Default for KafkaState {
    fn default() -> Self {
        let mut groups = Table::new(GROUP_COLUMNS, Some(LAG_COLUMN));
        groups.descending = true;
        Self {
            topics: Table::new(TOPIC_COLUMNS, Some(1)),
            groups,
            seen: HashMap::new(),
            trend: HashMap::new(),
            chosen: None,
        }
    }
}

fn trend_key(cluster: &str, group: &str) -> (String, String) {
    (cluster.to_owned(), group.to_owned())
}

impl KafkaState {
    /// Takes a Kafka cluster's report: a good snapshot replaces the last
    /// one and adds a lag sample to every group's trend.
    pub fn on_report(&mut self, cluster: &str, report: &ProbeReport) {
        let Some(snapshot) = &report.kafka else {
            self.rebuild();
            return;
        };
        // A group whose lag is unknown gets no sample: a 0 would be a lie.
        for group in snapshot.groups.iter().filter(|g| g.error.is_none()) {
            let samples = self
                .trend
                .entry(trend_key(cluster, &group.name))
                .or_default();
            if samples.len() == TREND_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(group.total_lag());
        }
        self.seen.insert(
            cluster.to_owned(),
            Seen {
                snapshot: Arc::clone(snapshot),
                at: report.checked_at.unwrap_or_else(Local::now),
            },
        );
        self.rebuild();
    }

    /// Rebuilds both tables from the snapshots seen.
    pub fn rebuild(&mut self) {
        let mut clusters: Vec<(&String, &Seen)> = self.seen.iter().collect();
        clusters.sort_by_key(|(name, _)| *name);
        let mut topic_rows = Vec::new();
        let mut group_rows = Vec::new();
        for (cluster, seen) in clusters {
            let lag_by_topic = lag_by_topic(&seen.snapshot.groups);
            for topic in seen.snapshot.topics.iter().filter(|t| !t.is_internal()) {
                let lag = lag_by_topic.get(topic.name.as_str()).copied().unwrap_or(0);
                topic_rows.push(topic_row(cluster, topic, lag));
            }
            for group in &seen.snapshot.groups {
                let trend = self.trend.get(&trend_key(cluster, &group.name));
                group_rows.push(group_row(cluster, group, trend));
            }
        }
        self.topics.set_rows(topic_rows);
        self.groups.set_rows(group_rows);
    }

    /// The selected topic and the snapshot it is in.
    pub fn selected_topic(&self) -> Option<(&Seen, &Topic)> {
        let target = &self.topics.selected_row()?.target;
        let seen = self.seen.get(&target.namespace)?;
        let topic = seen
            .snapshot
            .topics
            .iter()
            .find(|t| t.name == target.name)?;
        Some((seen, topic))
    }

    /// The selected group and the snapshot it is in.
    pub fn selected_group(&self) -> Option<(&Seen, &Group)> {
        let target = &self.groups.selected_row()?.target;
        let seen = self.seen.get(&target.namespace)?;
        let group = seen
            .snapshot
            .groups
            .iter()
            .find(|g| g.name == target.name)?;
        Some((seen, group))
    }

    /// The partition chosen for the selected topic (0 unless `[`/`]`
    /// chose another for it).
    pub fn chosen_partition(&self) -> i32 {
        match (&self.chosen, self.topics.selected_row()) {
            (Some((target, partition)), Some(row)) if *target == row.target => *partition,
            _ => 0,
        }
    }

    /// Forgets clusters no longer in the profile (after a reload), with
    /// their groups' trends.
    pub fn retain_clusters(&mut self, clusters: &[String]) {
        let known = |name: &str| clusters.iter().any(|c| c == name);
        self.seen.retain(|name, _| known(name));
        // A group id may hold any character: the key is a pair, not a
        // joined string.
        self.trend.retain(|(cluster, _), _| known(cluster));
        self.rebuild();
    }

    /// A group's lag samples.
    pub fn trend_of(&self, cluster: &str, group: &str) -> Option<&VecDeque<i64>> {
        self.trend.get(&trend_key(cluster, group))
    }
}

fn lag_by_topic(groups: &[Group]) -> HashMap<&str, i64> {
    let mut lag: HashMap<&str, i64> = HashMap::new();
    for offset in groups.iter().flat_map(|g| &g.offsets) {
        *lag.entry(offset.topic.as_str()).or_default() += offset.lag;
    }
    lag
}

fn number(n: i64) -> Cell {
    Cell::Number(n, n.to_string())
}

fn topic_row(cluster: &str, topic: &Topic, lag: i64) -> TableRow {
    let (under, offline) = (topic.under_replicated(), topic.offline());
    let tone = match (offline, under) {
        (0, 0) if topic.error.is_none() => Tone::Normal,
        (0, _) => Tone::Warn,
        _ => Tone::Crit,
    };
    TableRow {
        cells: vec![
            Cell::Text(one_line(cluster)),
            Cell::Text(one_line(&topic.name)),
            number(topic.partitions.len() as i64),
            number(topic.replication_factor() as i64),
            number(under as i64),
            number(offline as i64),
            number(topic.messages()),
            number(lag),
            Cell::Text(
                topic
                    .retention
                    .as_deref()
                    .map_or_else(|| "?".into(), one_line),
            ),
        ],
        tone,
        target: Target {
            kind: TOPIC_KIND.into(),
            namespace: cluster.to_owned(),
            name: topic.name.clone(),
        },
        detail: String::new(),
    }
}

fn group_row(cluster: &str, group: &Group, trend: Option<&VecDeque<i64>>) -> TableRow {
    let lag = group.total_lag();
    let topics = group.lag_by_topic().len();
    let tone = if group.error.is_some() {
        Tone::Crit
    } else if stalled(trend) {
        Tone::Warn
    } else if group.members == 0 {
        Tone::Muted
    } else {
        Tone::Normal
    };
    let lag_text = match &group.error {
        Some(_) => "error".to_owned(),
        None => lag.to_string(),
    };
    TableRow {
        cells: vec![
            Cell::Text(one_line(cluster)),
            Cell::Text(one_line(&group.name)),
            Cell::Text(one_line(&group.state)),
            number(group.members as i64),
            Cell::Text(one_line(&group.assignor)),
            number(topics as i64),
            Cell::Number(lag, lag_text),
            Cell::Text(trend.map(sparkline).unwrap_or_default()),
        ],
        tone,
        target: Target {
            kind: GROUP_KIND.into(),
            namespace: cluster.to_owned(),
            name: group.name.clone(),
        },
        detail: String::new(),
    }
}

/// A group whose lag grew at each of its last three looks: its consumers
/// are not keeping up, or have stopped.
pub fn stalled(trend: Option<&VecDeque<i64>>) -> bool {
    let Some(samples) = trend else { return false };
    let recent: Vec<i64> = samples.iter().rev().take(4).copied().collect();
    recent.len() == 4 && recent.windows(2).all(|w| w[0] > w[1])
}

/// The last samples (at most 12) as block characters, scaled between
/// their own low and high.
pub fn sparkline(samples: &VecDeque<i64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let recent: Vec<i64> = samples.iter().rev().take(12).rev().copied().collect();
    let (Some(low), Some(high)) = (recent.iter().min(), recent.iter().max()) else {
        return String::new();
    };
    let span = (high - low).max(1) as f64;
    recent
        .iter()
        .map(|v| {
            let level = if high == low {
                0
            } else {
                (((v - low) as f64 / span) * 7.0).round() as usize
            };
            BARS[level.min(7)]
        })
        .collect()
}

/// Moves the partition chosen in the topic's detail pane.
pub fn move_partition(state: &mut State, delta: i32) {
    if state.view != View::Kafka {
        state.say(
            Level::Info,
            "[ and ] choose a partition in Kafka topics (g k)",
        );
        return;
    }
    let Some(site) = &mut state.site else { return };
    let kafka = &mut site.kafka;
    let count = kafka
        .selected_topic()
        .map_or(0, |(_, t)| t.partitions.len() as i32);
    let Some(row) = kafka.topics.selected_row().map(|r| r.target.clone()) else {
        return;
    };
    if count > 0 {
        let partition = (kafka.chosen_partition() + delta).rem_euclid(count);
        kafka.chosen = Some((row, partition));
    }
}

/// Peeks at the chosen partition of the selected topic: its last
/// messages, or its first ones from `from_millis` (milliseconds since the epoch).
pub fn peek(state: &mut State, from_millis: Option<i64>) -> Vec<Effect> {
    if state.view != View::Kafka {
        state.say(Level::Info, "p peeks at a topic in Kafka topics (g k)");
        return Vec::new();
    }
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    // A topic row's target is its cluster (namespace) and topic (name).
    let Some((cluster, topic)) = site
        .kafka
        .topics
        .selected_row()
        .map(|row| (row.target.namespace.clone(), row.target.name.clone()))
    else {
        state.say(Level::Info, "no topic selected: nothing to peek at");
        return Vec::new();
    };
    let partition = site.kafka.chosen_partition();
    let spec = site
        .sources
        .iter()
        .find(|s| s.kind == SourceKind::Kafka && s.name == cluster)
        .and_then(|source| site.loaded.profile.kafka.get(source.spec()))
        .cloned();
    let Some(spec) = spec else {
        state.say(
            Level::Warn,
            format!("the Kafka cluster {cluster} is no longer in the profile"),
        );
        return Vec::new();
    };
    let (from, when) = match from_millis {
        None => (PeekFrom::Last, format!("last {PEEK_LIMIT}")),
        Some(millis) => (
            PeekFrom::Time(millis),
            format!("{PEEK_LIMIT} from {}", peek_time_label(state.now, millis)),
        ),
    };
    let title = peek_title(&cluster, &topic, partition, &when);
    state.popup = Some(Popup::Describe {
        title: title.clone(),
        text: None,
        scroll: 0,
    });
    vec![Effect::KafkaPeek {
        title,
        spec: Box::new(spec),
        base_dir: site.loaded.profile.base_dir.clone(),
        timeout: std::time::Duration::from_secs_f64(
            site.loaded.profile.probes.timeout_seconds.max(1.0),
        ),
        topic,
        partition,
        from,
    }]
}

/// `peek from TIME` typed in the palette in Kafka topics: when, or why
/// TIME is not a time. `None` for anything else.
pub fn typed_peek(state: &State, query: &str) -> Option<Result<i64, String>> {
    if state.view != View::Kafka {
        return None;
    }
    let time = query.trim().strip_prefix("peek from ")?;
    // An offered entry's own words (`1h ago`) are a time too.
    let time = time.trim().strip_suffix(" ago").unwrap_or(time);
    let now = state
        .now
        .unwrap_or_else(chrono::Utc::now)
        .with_timezone(&Local);
    Some(crate::kafka::parse_from(time, &now))
}

/// A peek's start in local time, with the date only when it is not
/// today's.
pub fn peek_time_label(now: Option<DateTime<chrono::Utc>>, millis: i64) -> String {
    let now = now.unwrap_or_else(chrono::Utc::now).with_timezone(&Local);
    let since = DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .with_timezone(&Local);
    let format = if since.date_naive() == now.date_naive() {
        "%H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    since.format(format).to_string()
}

/// The peek popup's title, which also tells its result apart.
pub fn peek_title(cluster: &str, topic: &str, partition: i32, when: &str) -> String {
    format!("Peek {cluster} · {topic}/{partition} · {when} · read-only")
}

/// Shows a peek's messages in its popup if it is still open.
pub fn on_peeked(
    state: &mut State,
    title: &str,
    result: Result<Vec<crate::kafka::PeekedMessage>, String>,
) {
    if let Some(Popup::Describe {
        title: shown_title,
        text,
        ..
    }) = &mut state.popup
        && shown_title == title
    {
        *text = Some(result.map(|messages| {
            if messages.is_empty() {
                return "the partition holds no message".to_owned();
            }
            messages
                .iter()
                .map(crate::kafka::render)
                .collect::<Vec<_>>()
                .join("")
        }));
    }
}
