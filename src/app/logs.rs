//! The Logs view's state: the lines of the streams it follows, merged by
//! time in a bounded buffer; following or paused; a minimum level; and the
//! trace pivot, which gathers the selected line's trace from every pod of
//! its namespace.

use std::time::Duration;

use ratatui_textarea::TextArea;

use super::effect::Effect;
use super::state::{Level as Say, State, View};
use super::table::Filter;
use crate::app::cluster::ClusterView;
use crate::logs::buffer::{LogBuffer, LogLine};
use crate::logs::parse::Level;
use crate::logs::stream::{LogSource, Progress};

/// How far back the trace pivot looks.
pub const PIVOT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The most bytes `y` copies: terminals and tmux cap OSC 52 around there.
const COPY_LIMIT: usize = 100_000;

/// What the Logs view shows and follows.
#[derive(Debug, Clone)]
pub struct LogsState {
    /// What is read, for the title: `acme-prod/billing-service`, `trace 4bf9…`.
    pub title: String,
    /// The stream's number; lines of an older one are ignored.
    pub generation: u64,
    /// The lines read, merged by time.
    pub buffer: LogBuffer,
    /// Keep the newest line selected as lines come.
    pub follow: bool,
    /// The selected line, among those shown.
    pub selected: usize,
    /// Show only lines of this level or worse (lines without a level are
    /// hidden then).
    pub min_level: Option<Level>,
    /// Show only lines of this trace id.
    pub trace: Option<String>,
    /// A trace pivot: a window read once, with a progress bar, rather
    /// than streams followed.
    pub pivot: bool,
    /// How the streams go.
    pub progress: Progress,
    /// Why the reading ended, if it did.
    pub ended: Option<String>,
    /// The filter line (`/`): text, or a regex.
    pub filter_input: TextArea<'static>,
    /// The filter it makes, over each line as written.
    pub filter: Filter,
    /// Why the typed regex was taken as text, if it was.
    pub filter_error: Option<String>,
    /// Pods (by a part of their name) whose lines alone are shown:
    /// `pod:NAME` words of the filter line.
    pub pods_in: Vec<String>,
    /// Pods whose lines are hidden: `-pod:NAME` words.
    pub pods_out: Vec<String>,
    /// Long lines wrap in the list instead of being cut.
    pub wrap: bool,
    /// What is read.
    pub source: Option<LogSource>,
    /// The previous (crashed) containers' logs are read, not followed.
    pub previous: bool,
    /// The buffer's indices of the lines the filters let through, kept as
    /// lines come so that a full buffer is not filtered again each time.
    shown: Vec<usize>,
}

impl LogsState {
    /// An empty view of `title`, keeping at most `cap` lines.
    pub fn new(title: String, generation: u64, cap: usize) -> Self {
        Self {
            title,
            generation,
            buffer: LogBuffer::new(cap),
            follow: true,
            selected: 0,
            min_level: None,
            trace: None,
            pivot: false,
            progress: Progress::default(),
            ended: None,
            filter_input: empty_input(),
            filter: Filter::None,
            filter_error: None,
            pods_in: Vec::new(),
            pods_out: Vec::new(),
            wrap: false,
            source: None,
            previous: false,
            shown: Vec::new(),
        }
    }

    /// Whether the filters (level, trace, pods, text) let `line` through.
    pub fn passes(&self, line: &LogLine) -> bool {
        let level = match self.min_level {
            Some(min) => line.parsed.level.is_some_and(|level| level >= min),
            None => true,
        };
        let trace = match &self.trace {
            Some(trace) => line.parsed.trace_id.as_deref() == Some(trace.as_str()),
            None => true,
        };
        let pod = &*line.pod;
        let pods = (self.pods_in.is_empty()
            || self.pods_in.iter().any(|p| pod.contains(p.as_str())))
            && !self.pods_out.iter().any(|p| pod.contains(p.as_str()));
        level
            && trace
            && pods
            && (self.filter.matches_text(&line.raw) || self.filter.matches_text(&line.pod))
    }

    /// Filters the whole buffer again (after a filter changed); the
    /// newest line shown is selected.
    pub fn refilter(&mut self) {
        self.shown = (0..self.buffer.len())
            .filter(|&at| {
                self.buffer
                    .get(at)
                    .is_some_and(|(line, _)| self.passes(line))
            })
            .collect();
        self.selected = self.shown.len().saturating_sub(1);
    }

    /// Adds lines read: merged into the buffer, and into the lines shown
    /// from where they changed. Following, the newest line is selected;
    /// paused, the selected line stays selected while it is kept.
    pub fn add(&mut self, lines: Vec<LogLine>) {
        let kept_arrival = (!self.follow)
            .then(|| self.shown.get(self.selected))
            .flatten()
            .and_then(|&at| self.buffer.get(at))
            .map(|(_, arrival)| arrival);
        let dropped_before = self.buffer.dropped();
        let changed_from = self.buffer.extend(lines);
        let dropped = usize::try_from(self.buffer.dropped() - dropped_before).unwrap_or(usize::MAX);
        // Indices before the change only moved down by the lines dropped.
        self.shown
            .retain(|&at| at >= dropped && at - dropped < changed_from);
        for at in &mut self.shown {
            *at -= dropped;
        }
        for at in changed_from..self.buffer.len() {
            if self
                .buffer
                .get(at)
                .is_some_and(|(line, _)| self.passes(line))
            {
                self.shown.push(at);
            }
        }
        self.selected = match kept_arrival {
            None => self.shown.len().saturating_sub(1),
            Some(arrival) => self
                .buffer
                .position(arrival)
                .and_then(|at| self.shown.binary_search(&at).ok())
                .unwrap_or(0),
        };
    }

    /// How many lines are shown.
    pub fn shown_len(&self) -> usize {
        self.shown.len()
    }

    /// The `index`-th line shown.
    pub fn shown_line(&self, index: usize) -> Option<&LogLine> {
        let at = *self.shown.get(index)?;
        self.buffer.get(at).map(|(line, _)| line)
    }

    /// The lines shown, oldest first.
    pub fn shown(&self) -> Vec<&LogLine> {
        (0..self.shown.len())
            .filter_map(|index| self.shown_line(index))
            .collect()
    }

    /// The selected line, if any is shown.
    pub fn selected_line(&self) -> Option<&LogLine> {
        self.shown_line(self.selected.min(self.shown.len().saturating_sub(1)))
    }

    fn follow_newest(&mut self) {
        if self.follow {
            self.selected = self.shown.len().saturating_sub(1);
        }
    }
}

/// How [`start`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The newest lines, followed.
    Follow,
    /// The previous (crashed) containers' logs, once.
    Previous,
    /// A trace's lines over the pivot's window, once.
    Pivot,
}

/// Starts reading `source` in the Logs view (replacing what it read).
fn start(
    state: &mut State,
    title: String,
    source: LogSource,
    trace: Option<String>,
    reading: Reading,
) -> Vec<Effect> {
    state.last_logs += 1;
    let generation = state.last_logs;
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    let settings = &site.loaded.profile.logs;
    let pivot = reading == Reading::Pivot;
    let mut logs = LogsState::new(title, generation, settings.max_lines);
    // The way lines are drawn stays as the operator chose it.
    logs.wrap = site.logs.as_ref().is_some_and(|old| old.wrap);
    logs.trace = trace.clone();
    logs.pivot = pivot;
    logs.previous = reading == Reading::Previous;
    logs.source = Some(source.clone());
    site.logs = Some(logs);
    let options = crate::logs::stream::ReadOptions {
        since: pivot.then_some(PIVOT_WINDOW),
        // Without a window, the last lines of each container: a pod that
        // logged for weeks must not flood the buffer first.
        tail: (!pivot).then_some(500),
        follow: reading == Reading::Follow,
        previous: reading == Reading::Previous,
        // A pod stuck in Init is explained by its init containers.
        init: true,
        concurrency: settings.concurrency,
        // The pivot keeps only the trace's lines of every pod it reads.
        trace,
        names: std::sync::Arc::new(settings.fields.clone()),
        ..Default::default()
    };
    if state.view != View::Logs {
        state.previous_view = Some(state.view);
        state.view = View::Logs;
    }
    vec![Effect::StreamLogs {
        generation,
        source,
        options,
    }]
}

/// `P` in Logs: the previous (crashed) containers' logs of what is read,
/// or back to the current ones, followed.
pub fn toggle_previous(state: &mut State) -> Vec<Effect> {
    if super::journal::refused_for_journal(state, "P") {
        return Vec::new();
    }
    let Some(logs) = logs(state) else {
        return Vec::new();
    };
    let (Some(source), false) = (logs.source.clone(), logs.pivot) else {
        state.say(Say::Info, "P reads the previous logs of a pod or workload");
        return Vec::new();
    };
    let title = logs.title.trim_end_matches(" (previous)").to_owned();
    if logs.previous {
        start(state, title, source, None, Reading::Follow)
    } else {
        start(
            state,
            format!("{title} (previous)"),
            source,
            None,
            Reading::Previous,
        )
    }
}

/// `l`: the logs of the selected pod, or of the selected workload's pods.
pub fn open(state: &mut State) -> Vec<Effect> {
    let target = match state.view {
        View::Cluster(ClusterView::Pods | ClusterView::Versions) => state
            .table_mut()
            .and_then(|table| table.selected_row().map(|row| row.target.clone())),
        _ => None,
    };
    let Some(target) = target else {
        state.say(
            Say::Info,
            "l shows logs of the pod or workload selected in Pods (g p) or Versions (g v)",
        );
        return Vec::new();
    };
    let (namespace, name) = (target.namespace.clone(), target.name.clone());
    let source = match target.kind.as_str() {
        "Pod" => LogSource::Pod {
            namespace: namespace.clone(),
            name: name.clone(),
        },
        "Deployment" | "StatefulSet" | "DaemonSet" => LogSource::Workload {
            namespace: namespace.clone(),
            name: name.clone(),
        },
        other => {
            state.say(Say::Info, format!("a {other} has no logs of its own"));
            return Vec::new();
        }
    };
    start(
        state,
        format!("{namespace}/{name}"),
        source,
        None,
        Reading::Follow,
    )
}

/// `t`: the selected line's trace, from every pod of its namespace over
/// the last 15 minutes, merged by time (read once, with a progress bar);
/// `t` again on it: from every pod of the site.
pub fn pivot(state: &mut State) -> Vec<Effect> {
    if super::journal::refused_for_journal(state, "t") {
        return Vec::new();
    }
    let Some(line) = logs(state).and_then(LogsState::selected_line) else {
        return Vec::new();
    };
    let Some(trace) = line.parsed.trace_id.clone() else {
        state.say(Say::Info, "the selected line has no trace id");
        return Vec::new();
    };
    let namespace = line.namespace.to_string();
    let short: String = trace.chars().take(16).collect();
    // `t` again on a trace gathered in a namespace: across the site.
    let widen = logs(state).is_some_and(|logs| {
        logs.trace.as_deref() == Some(trace.as_str())
            && matches!(logs.source, Some(LogSource::Namespace(_)))
    });
    let (title, source) = if widen {
        (
            format!("trace {short} across the site"),
            LogSource::Everywhere,
        )
    } else {
        (
            format!("trace {short} in {namespace}"),
            LogSource::Namespace(namespace),
        )
    };
    start(state, title, source, Some(trace), Reading::Pivot)
}

fn empty_input() -> TextArea<'static> {
    let mut input = TextArea::default();
    input.set_cursor_line_style(ratatui::style::Style::default());
    input
}

/// `/` in Logs: the keys go to the filter line.
pub fn start_filter(state: &mut State) {
    if logs(state).is_some() {
        state.filtering = true;
    }
}

/// A key or pasted text for the filter line; the lines shown follow.
pub fn type_filter(state: &mut State, key: Option<crossterm::event::KeyEvent>, text: &str) {
    let Some(logs) = logs_mut(state) else {
        return;
    };
    match key {
        Some(key) => {
            logs.filter_input.input(key);
        }
        None => {
            logs.filter_input.insert_str(text);
        }
    }
    // `pod:NAME` and `-pod:NAME` words pick pods; the rest is the filter.
    let typed = logs.filter_input.lines().join(" ");
    let (mut pods_in, mut pods_out, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for word in typed.split(' ') {
        if let Some(pod) = word.strip_prefix("-pod:").filter(|p| !p.is_empty()) {
            pods_out.push(pod.to_owned());
        } else if let Some(pod) = word.strip_prefix("pod:").filter(|p| !p.is_empty()) {
            pods_in.push(pod.to_owned());
        } else {
            rest.push(word);
        }
    }
    let (filter, error) = Filter::parse(&rest.join(" "));
    logs.filter = filter;
    logs.filter_error = error;
    logs.pods_in = pods_in;
    logs.pods_out = pods_out;
    logs.refilter();
}

/// `esc` on the filter line: every line again.
pub fn clear_filter(state: &mut State) {
    if let Some(logs) = logs_mut(state) {
        logs.filter_input = empty_input();
        logs.filter = Filter::None;
        logs.filter_error = None;
        logs.pods_in.clear();
        logs.pods_out.clear();
        logs.refilter();
    }
}

fn logs(state: &State) -> Option<&LogsState> {
    state.site.as_ref().and_then(|site| site.logs.as_ref())
}

fn logs_mut(state: &mut State) -> Option<&mut LogsState> {
    state.site.as_mut().and_then(|site| site.logs.as_mut())
}

/// Lines read by the stream `generation`.
pub fn on_lines(state: &mut State, generation: u64, lines: Vec<LogLine>) {
    if let Some(logs) = logs_mut(state).filter(|l| l.generation == generation) {
        logs.add(lines);
    }
}

/// How the streams of `generation` go.
pub fn on_progress(state: &mut State, generation: u64, progress: Progress) {
    if let Some(logs) = logs_mut(state).filter(|l| l.generation == generation) {
        logs.progress = progress;
    }
}

/// The stream `generation` ended.
pub fn on_ended(state: &mut State, generation: u64, error: Option<String>) {
    if let Some(logs) = logs_mut(state).filter(|l| l.generation == generation) {
        let why = match (error, logs.pivot || logs.previous) {
            (Some(error), _) => error,
            (None, true) => "every log read".into(),
            (None, false) => "every stream ended".into(),
        };
        logs.ended = Some(why);
    }
}

/// `z` in Logs: wrap long lines, or cut them.
pub fn toggle_wrap(state: &mut State) {
    if let Some(logs) = logs_mut(state) {
        logs.wrap = !logs.wrap;
    }
}

/// `f`: follow the newest line, or stay where the selection is.
pub fn toggle_follow(state: &mut State) {
    if let Some(logs) = logs_mut(state) {
        logs.follow = !logs.follow;
        logs.follow_newest();
    }
}

/// `v`: show every line, then info or worse, warn or worse, error or
/// worse, and round again.
pub fn cycle_level(state: &mut State) {
    if let Some(logs) = logs_mut(state) {
        logs.min_level = match logs.min_level {
            None => Some(Level::Info),
            Some(Level::Trace | Level::Debug | Level::Info) => Some(Level::Warn),
            Some(Level::Warn) => Some(Level::Error),
            Some(Level::Error | Level::Fatal) => None,
        };
        logs.refilter();
    }
}

/// Moves the selection; moving up stops following, reaching the newest
/// line follows again.
pub fn move_by(state: &mut State, delta: isize) {
    if let Some(logs) = logs_mut(state) {
        let len = logs.shown_len();
        let at = (logs.selected as isize)
            .saturating_add(delta)
            .clamp(0, len.saturating_sub(1) as isize) as usize;
        logs.selected = at;
        logs.follow = at + 1 >= len;
    }
}

/// `w`: the lines shown, as `sitedeck logs` prints them, to a file in the
/// state directory (the status bar says where).
pub fn save(state: &mut State) -> Vec<Effect> {
    let site_name = state
        .site
        .as_ref()
        .map(|s| s.loaded.profile.name.clone())
        .unwrap_or_default();
    let Some(logs) = logs(state) else {
        return Vec::new();
    };
    let shown = logs.shown();
    if shown.is_empty() {
        state.say(Say::Info, "no lines shown: nothing to save");
        return Vec::new();
    }
    let mut text = String::new();
    for line in &shown {
        text.push_str(&crate::logs::print::text(line, true));
        text.push('\n');
    }
    let stamp = state
        .now
        .unwrap_or_else(chrono::Utc::now)
        .with_timezone(&chrono::Local)
        .format("%Y%m%d-%H%M%S");
    let what: String = format!("{site_name}-{}", logs.title)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let lines = shown.len();
    vec![Effect::SaveText {
        name: format!("logs-{what}-{stamp}.log"),
        text,
        lines,
    }]
}

/// The answer to [`save`].
pub fn on_saved(state: &mut State, result: Result<(std::path::PathBuf, usize), String>) {
    match result {
        Ok((path, lines)) => state.say(
            Say::Info,
            format!("saved {lines} line(s) to {}", path.display()),
        ),
        Err(why) => state.say(Say::Warn, format!("could not save the lines: {why}")),
    }
}

/// `y`: the selected line, sanitised, to the clipboard.
pub fn copy(state: &mut State) -> Vec<Effect> {
    let Some(line) = logs(state).and_then(LogsState::selected_line) else {
        return Vec::new();
    };
    // Sanitised: a line pasted into a shell must not carry escapes.
    let mut text = crate::text::sanitize(&line.raw);
    // Terminals and tmux refuse (or choke on) huge OSC 52 payloads.
    let said = if text.len() > COPY_LIMIT {
        let mut end = COPY_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        "copied the line's first 100 KB (w saves it whole)"
    } else {
        "copied the line (OSC 52: in tmux, set-clipboard must be on)"
    };
    state.say(Say::Info, said);
    vec![Effect::CopyToClipboard(text)]
}

/// `esc` in Logs: stop reading and go back.
pub fn close(state: &mut State) -> Vec<Effect> {
    state.view = state
        .previous_view
        .take()
        .unwrap_or(View::Cluster(ClusterView::Pods));
    vec![Effect::StopLogs]
}
/// Gathers the lines that come within 100 ms (at most 2000) into `batch`,
/// for one `LogLines` action: a burst is not an action per line. `false`
/// once the readers are gone and every line is taken.
pub(crate) async fn gather(
    lines: &mut tokio::sync::mpsc::Receiver<crate::logs::buffer::LogLine>,
    batch: &mut Vec<crate::logs::buffer::LogLine>,
) -> bool {
    let window = tokio::time::sleep(std::time::Duration::from_millis(100));
    tokio::pin!(window);
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    batch.push(line);
                    if batch.len() >= 2000 {
                        return true;
                    }
                }
                None => return false,
            },
            () = &mut window => return true,
        }
    }
}
