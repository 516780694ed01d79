//! The lines of many streams in one buffer: merged by their Kubernetes
//! timestamps, each stream's own order kept, and bounded: past the cap the
//! oldest lines go, and are counted.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::parse::ParsedLine;

/// The default cap on the lines kept.
pub const DEFAULT_CAP: usize = 100_000;

/// One line of one container's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// The pod's namespace.
    pub namespace: Arc<str>,
    /// The pod.
    pub pod: Arc<str>,
    /// The container.
    pub container: Arc<str>,
    /// When the container runtime took the line (the Kubernetes
    /// timestamp), which orders lines across pods.
    pub at: DateTime<Utc>,
    /// The line as the container wrote it (not sanitised).
    pub raw: String,
    /// The line taken apart.
    pub parsed: ParsedLine,
}

/// Lines of many streams, oldest first, at most `cap` of them.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    cap: usize,
    /// (line, arrival number), ordered by (time, arrival).
    lines: VecDeque<(LogLine, u64)>,
    arrivals: u64,
    dropped: u64,
}

impl LogBuffer {
    /// An empty buffer that keeps at most `cap` lines (at least one).
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            lines: VecDeque::new(),
            arrivals: 0,
            dropped: 0,
        }
    }

    /// Adds a line where its time puts it: after every line of the same
    /// time or earlier, so lines of one stream (which arrive in order)
    /// keep their order. Past the cap, the oldest line goes.
    pub fn push(&mut self, line: LogLine) {
        let arrival = self.arrivals;
        self.arrivals += 1;
        // Lines mostly arrive in time order: look from the back.
        let at = self.lines.partition_point(|(kept, _)| kept.at <= line.at);
        self.lines.insert(at, (line, arrival));
        if self.lines.len() > self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    /// The lines, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &LogLine> + ExactSizeIterator {
        self.lines.iter().map(|(line, _)| line)
    }

    /// How many lines are kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no line is kept.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// How many lines were dropped to keep within the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

/// Where a followed stream is, so that a resumed stream (after log
/// rotation, the kubelet's idle timeout, a restart) neither repeats nor
/// skips lines. The API's `sinceTime` has whole seconds, so a resumed
/// stream starts at the second of the last line and repeats what was
/// already read of that second: those lines are skipped by their time and
/// by how many of that exact time were read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The last line's time.
    last: Option<DateTime<Utc>>,
    /// How many lines of exactly that time were read.
    at_last: usize,
    /// In a resumed stream: lines of time `last` still to skip.
    skip_at_last: usize,
}

impl Resume {
    /// Whether a line of this time is new (and then counts it).
    pub fn accept(&mut self, at: DateTime<Utc>) -> bool {
        match self.last {
            Some(last) if at < last => false,
            Some(last) if at == last && self.skip_at_last > 0 => {
                // Read before: it still counts as read at that time.
                self.skip_at_last -= 1;
                self.at_last += 1;
                false
            }
            Some(last) if at == last => {
                self.at_last += 1;
                true
            }
            _ => {
                self.last = Some(at);
                self.at_last = 1;
                self.skip_at_last = 0;
                true
            }
        }
    }

    /// The `sinceTime` to resume from (the last line's second), if a line
    /// was read; from now on, the lines of the last time already read are
    /// skipped.
    pub fn resume_from(&mut self) -> Option<DateTime<Utc>> {
        let last = self.last?;
        self.skip_at_last = self.at_last;
        self.at_last = 0;
        DateTime::from_timestamp(last.timestamp(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::parse::{FieldNames, parse};

    fn line(pod: &str, second: i64, text: &str) -> LogLine {
        LogLine {
            namespace: "ns".into(),
            pod: pod.into(),
            container: "app".into(),
            at: DateTime::from_timestamp(1_764_756_000 + second, 0).expect("time"),
            raw: text.into(),
            parsed: parse(text, &FieldNames::default()),
        }
    }

    fn texts(buffer: &LogBuffer) -> Vec<&str> {
        buffer.iter().map(|l| l.raw.as_str()).collect()
    }

    #[test]
    fn lines_merge_by_time_and_keep_each_streams_order() {
        let mut buffer = LogBuffer::new(10);
        buffer.push(line("a", 1, "a1"));
        buffer.push(line("a", 3, "a3"));
        // b's lines arrive late, one of them at a's time.
        buffer.push(line("b", 2, "b2"));
        buffer.push(line("b", 3, "b3"));
        buffer.push(line("a", 3, "a3'"));
        assert_eq!(texts(&buffer), ["a1", "b2", "a3", "b3", "a3'"]);
    }

    #[test]
    fn past_the_cap_the_oldest_lines_go_and_are_counted() {
        let mut buffer = LogBuffer::new(3);
        for n in 0..5 {
            buffer.push(line("a", n, &format!("a{n}")));
        }
        assert_eq!(texts(&buffer), ["a2", "a3", "a4"]);
        assert_eq!(buffer.dropped(), 2);
        // A late line older than everything kept goes at once.
        buffer.push(line("b", 0, "b0"));
        assert_eq!(texts(&buffer), ["a2", "a3", "a4"]);
        assert_eq!(buffer.dropped(), 3);
    }

    #[test]
    fn a_resumed_stream_neither_repeats_nor_skips() {
        let t = |second: i64, nanos: u32| {
            DateTime::from_timestamp(1_764_756_000 + second, nanos).expect("time")
        };
        let mut resume = Resume::default();
        assert_eq!(resume.resume_from(), None, "nothing read: from the start");
        // First stream: three lines, two of them at the same instant.
        for at in [t(0, 5), t(1, 7), t(1, 7)] {
            assert!(resume.accept(at));
        }
        // It ends; the new one starts at second 1 and repeats its lines.
        assert_eq!(resume.resume_from(), Some(t(1, 0)));
        let resumed = [t(1, 7), t(1, 7), t(1, 7), t(1, 9), t(2, 0)];
        let accepted: Vec<bool> = resumed.iter().map(|at| resume.accept(*at)).collect();
        // Two lines at 1.000000007 were read: the third is new.
        assert_eq!(accepted, [false, false, true, true, true]);
        // And again, across a stream that brought nothing new.
        assert_eq!(resume.resume_from(), Some(t(2, 0)));
        assert!(!resume.accept(t(2, 0)));
        assert_eq!(resume.resume_from(), Some(t(2, 0)));
        assert!(!resume.accept(t(2, 0)));
        assert!(resume.accept(t(2, 1)));
    }
}
