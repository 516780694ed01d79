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
        // A binary search; the insert moves the shorter side.
        let at = self.lines.partition_point(|(kept, _)| kept.at <= line.at);
        self.lines.insert(at, (line, arrival));
        if self.lines.len() > self.cap {
            self.lines.pop_front();
            self.dropped += 1;
        }
    }

    /// Adds lines that came together (a batch of many streams): sorted by
    /// time, each stream's order kept, and merged with the lines kept
    /// from the first one's time on, so a late batch costs what it
    /// overlaps rather than a move of the whole buffer per line. Past the
    /// cap, the oldest lines go. Returns the index from which the lines
    /// kept are new or moved; those before it are as they were, less the
    /// [`Self::dropped`] lines taken off the front.
    pub fn extend(&mut self, mut batch: Vec<LogLine>) -> usize {
        // Stable: lines of one time keep the order they came in.
        batch.sort_by_key(|line| line.at);
        let Some(first) = batch.first() else {
            return self.lines.len();
        };
        let from = self.lines.partition_point(|(kept, _)| kept.at <= first.at);
        let mut overlapped = self.lines.drain(from..).collect::<Vec<_>>().into_iter();
        let mut next_kept = overlapped.next();
        for line in batch {
            while let Some(kept) = next_kept.take_if(|(kept, _)| kept.at <= line.at) {
                self.lines.push_back(kept);
                next_kept = overlapped.next();
            }
            self.lines.push_back((line, self.arrivals));
            self.arrivals += 1;
        }
        self.lines.extend(next_kept);
        self.lines.extend(overlapped);
        let over = self.lines.len().saturating_sub(self.cap);
        self.lines.drain(..over);
        self.dropped += over as u64;
        from.saturating_sub(over)
    }

    /// The line at `index` (oldest first) and its arrival number, which
    /// stays with it as lines come and go.
    pub fn get(&self, index: usize) -> Option<(&LogLine, u64)> {
        self.lines
            .get(index)
            .map(|(line, arrival)| (line, *arrival))
    }

    /// The index of the line that arrived `arrival`-th, if it is kept.
    pub fn position(&self, arrival: u64) -> Option<usize> {
        self.lines.iter().position(|(_, kept)| *kept == arrival)
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
/// already read of that second: while it replays, lines older than the
/// last one are skipped, and of the lines of exactly that time as many as
/// were read before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The newest line's time.
    last: Option<DateTime<Utc>>,
    /// How many lines of exactly that time were read, in every stream.
    at_last: usize,
    /// How many lines of that time the current stream brought.
    seen_at_last: usize,
    /// The current stream is a resumed one that has not yet passed the
    /// lines read before.
    replaying: bool,
}

impl Resume {
    /// Whether a line of this time is new (and then counts it).
    pub fn accept(&mut self, at: DateTime<Utc>) -> bool {
        let Some(last) = self.last else {
            self.newest(at);
            return true;
        };
        if at > last {
            self.newest(at);
            return true;
        }
        if at == last {
            self.seen_at_last += 1;
            if self.replaying && self.seen_at_last <= self.at_last {
                return false; // read before
            }
            self.replaying = false;
            self.at_last += 1;
            self.seen_at_last = self.at_last;
            return true;
        }
        // Older than the newest line: replayed, or (live) a clock that
        // stepped back, whose lines are shown all the same.
        !self.replaying
    }

    fn newest(&mut self, at: DateTime<Utc>) {
        self.last = Some(at);
        self.at_last = 1;
        self.seen_at_last = 1;
        self.replaying = false;
    }

    /// Whether any line was read.
    pub fn started(&self) -> bool {
        self.last.is_some()
    }

    /// The `sinceTime` to resume from (the last line's second), if a line
    /// was read; from now on, the lines read before are skipped as the
    /// new stream repeats them.
    pub fn resume_from(&mut self) -> Option<DateTime<Utc>> {
        let last = self.last?;
        self.seen_at_last = 0;
        self.replaying = true;
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
    fn a_batch_merges_with_the_lines_it_overlaps() {
        let mut buffer = LogBuffer::new(5);
        assert_eq!(
            buffer.extend(vec![line("a", 1, "a1"), line("a", 4, "a4")]),
            0
        );
        // b's batch comes late and out of order; a line of a's time goes
        // after a's.
        let from = buffer.extend(vec![line("b", 4, "b4"), line("b", 2, "b2")]);
        assert_eq!(texts(&buffer), ["a1", "b2", "a4", "b4"]);
        assert_eq!(from, 1, "a1 stays where it was");
        // Past the cap the oldest go; the index counts after the drop.
        let from = buffer.extend(vec![line("c", 5, "c5"), line("c", 6, "c6")]);
        assert_eq!(texts(&buffer), ["b2", "a4", "b4", "c5", "c6"]);
        assert_eq!((from, buffer.dropped()), (3, 1));
        assert_eq!(buffer.extend(Vec::new()), 5);
        // Arrival numbers stay with their lines.
        let arrival = buffer.get(1).map(|(_, arrival)| arrival).expect("a4");
        buffer.extend(vec![line("d", 3, "d3")]);
        assert_eq!(
            buffer.position(arrival),
            Some(1),
            "b2 dropped, d3 before a4"
        );
        assert_eq!(texts(&buffer), ["d3", "a4", "b4", "c5", "c6"]);
    }

    #[test]
    fn a_resume_that_fails_midway_still_repeats_nothing() {
        let t = |nanos: u32| DateTime::from_timestamp(1_764_756_000, nanos).expect("time");
        let mut resume = Resume::default();
        for _ in 0..3 {
            assert!(resume.accept(t(7)));
        }
        // The first resumed stream replays one of the three, then breaks.
        resume.resume_from();
        assert!(!resume.accept(t(7)));
        // The next one replays all three again: still nothing new.
        resume.resume_from();
        let accepted: Vec<bool> = [t(5), t(7), t(7), t(7), t(7)]
            .iter()
            .map(|at| resume.accept(*at))
            .collect();
        assert_eq!(accepted, [false, false, false, false, true]);
        // Live, a line older than the newest (a clock stepped back) shows.
        assert!(resume.accept(t(1)));
        assert!(resume.started());
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
