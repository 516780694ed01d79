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
use crate::logs::stream::LogSource;

/// How far back the trace pivot looks.
pub const PIVOT_WINDOW: Duration = Duration::from_secs(15 * 60);

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
}

impl LogsState {
    /// The lines shown: the buffer through the level and trace filters.
    pub fn shown(&self) -> Vec<&LogLine> {
        self.buffer
            .iter()
            .filter(|line| match self.min_level {
                Some(min) => line.parsed.level.is_some_and(|level| level >= min),
                None => true,
            })
            .filter(|line| match &self.trace {
                Some(trace) => line.parsed.trace_id.as_deref() == Some(trace.as_str()),
                None => true,
            })
            .filter(|line| {
                let pod = &*line.pod;
                (self.pods_in.is_empty() || self.pods_in.iter().any(|p| pod.contains(p.as_str())))
                    && !self.pods_out.iter().any(|p| pod.contains(p.as_str()))
            })
            .filter(|line| {
                self.filter.matches_text(&line.raw) || self.filter.matches_text(&line.pod)
            })
            .collect()
    }

    /// The selected line, if any is shown.
    pub fn selected_line(&self) -> Option<&LogLine> {
        let shown = self.shown();
        let at = self.selected.min(shown.len().saturating_sub(1));
        shown.get(at).copied()
    }

    fn follow_newest(&mut self) {
        if self.follow {
            self.selected = self.shown().len().saturating_sub(1);
        }
    }
}

/// Starts reading `source` in the Logs view (replacing what it read).
fn start(
    state: &mut State,
    title: String,
    source: LogSource,
    trace: Option<String>,
    since: Option<Duration>,
) -> Vec<Effect> {
    let Some(site) = &mut state.site else {
        return Vec::new();
    };
    let settings = &site.loaded.profile.logs;
    let generation = site.logs.as_ref().map_or(1, |logs| logs.generation + 1);
    site.logs = Some(LogsState {
        title,
        generation,
        buffer: LogBuffer::new(settings.max_lines),
        follow: true,
        selected: 0,
        min_level: None,
        trace: trace.clone(),
        ended: None,
        filter_input: empty_input(),
        filter: Filter::None,
        filter_error: None,
        pods_in: Vec::new(),
        pods_out: Vec::new(),
    });
    let options = crate::logs::stream::ReadOptions {
        since,
        // Without a window, the last lines of each container: a pod that
        // logged for weeks must not flood the buffer first.
        tail: since.is_none().then_some(500),
        follow: true,
        concurrency: settings.concurrency,
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
    start(state, format!("{namespace}/{name}"), source, None, None)
}

/// `t`: the selected line's trace, from every pod of its namespace over
/// the last 15 minutes, merged by time.
pub fn pivot(state: &mut State) -> Vec<Effect> {
    let Some(line) = logs(state).and_then(LogsState::selected_line) else {
        return Vec::new();
    };
    let Some(trace) = line.parsed.trace_id.clone() else {
        state.say(Say::Info, "the selected line has no trace id");
        return Vec::new();
    };
    let namespace = line.namespace.to_string();
    let short: String = trace.chars().take(16).collect();
    start(
        state,
        format!("trace {short} in {namespace}"),
        LogSource::Namespace(namespace),
        Some(trace),
        Some(PIVOT_WINDOW),
    )
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
    logs.selected = logs.shown().len().saturating_sub(1);
}

/// `esc` on the filter line: every line again.
pub fn clear_filter(state: &mut State) {
    if let Some(logs) = logs_mut(state) {
        logs.filter_input = empty_input();
        logs.filter = Filter::None;
        logs.filter_error = None;
        logs.pods_in.clear();
        logs.pods_out.clear();
        logs.selected = logs.shown().len().saturating_sub(1);
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
    let Some(logs) = logs_mut(state).filter(|l| l.generation == generation) else {
        return;
    };
    for line in lines {
        logs.buffer.push(line);
    }
    logs.follow_newest();
}

/// The stream `generation` ended.
pub fn on_ended(state: &mut State, generation: u64, error: Option<String>) {
    if let Some(logs) = logs_mut(state).filter(|l| l.generation == generation) {
        logs.ended = Some(error.unwrap_or_else(|| "every stream ended".into()));
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
        logs.selected = logs.shown().len().saturating_sub(1);
    }
}

/// Moves the selection; moving up stops following, reaching the newest
/// line follows again.
pub fn move_by(state: &mut State, delta: isize) {
    if let Some(logs) = logs_mut(state) {
        let len = logs.shown().len();
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
    let text = crate::text::sanitize(&line.raw);
    state.say(
        Say::Info,
        "copied the line (OSC 52: in tmux, set-clipboard must be on)",
    );
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
