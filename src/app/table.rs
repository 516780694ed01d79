//! A table view's model: rows as cells, a filter (substring or regex),
//! a sort column and direction, and the selection. The rows are rebuilt
//! when the data changes; which rows show, in which order, is recomputed
//! only when rows, filter or sort change, never per frame.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use ratatui_textarea::TextArea;
use regex::Regex;

/// One cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// Text, sorted as text.
    Text(String),
    /// A number shown as text (`3/3`, `512Mi`), sorted by the number.
    Number(i64, String),
    /// A time shown as an age (`5m`, `41d`), sorted by the time.
    Age(Option<DateTime<Utc>>),
}

impl Cell {
    /// The text matched by the filter (ages are not matched).
    pub fn text(&self) -> &str {
        match self {
            Self::Text(text) | Self::Number(_, text) => text,
            Self::Age(_) => "",
        }
    }

    fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Number(a, _), Self::Number(b, _)) => a.cmp(b),
            // Older first when ascending, as `sort by age` reads.
            (Self::Age(a), Self::Age(b)) => b.cmp(a),
            _ => self.text().cmp(other.text()),
        }
    }
}

/// How a row should look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tone {
    /// Not part of the release, or finished.
    Muted,
    /// Nothing to say.
    Normal,
    /// Worth a look.
    Warn,
    /// Broken.
    Crit,
}

/// What a row stands for, to describe it or jump from it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// `Deployment`, `Pod`, `Node`, `Event`, `HelmRelease`…; empty: nothing.
    pub kind: String,
    /// The namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// The name.
    pub name: String,
}

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// The cells, one per column.
    pub cells: Vec<Cell>,
    /// How it looks.
    pub tone: Tone,
    /// What it stands for.
    pub target: Target,
    /// What the operator should know about it, shown under the table when
    /// it is selected: drift, findings, the scheduler's reason.
    pub detail: String,
}

/// The filter as typed, compiled.
#[derive(Debug, Clone)]
pub enum Filter {
    /// Show every row.
    None,
    /// Case-insensitive substring (already lowercased).
    Text(String),
    /// A regular expression (case-insensitive).
    Regex(Regex),
}

impl Filter {
    /// Compiles what was typed: text with a regex metacharacter
    /// (`^$*+?()[]{}|\`) is a regex, anything else a substring; a broken
    /// regex falls back to a substring and says why.
    pub fn parse(typed: &str) -> (Self, Option<String>) {
        let typed = typed.trim();
        if typed.is_empty() {
            return (Self::None, None);
        }
        const META: &[char] = &[
            '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\',
        ];
        if typed.contains(META) {
            match regex::RegexBuilder::new(typed)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
            {
                Ok(regex) => return (Self::Regex(regex), None),
                Err(e) => {
                    let reason = e.to_string();
                    let last = reason.lines().last().unwrap_or_default().trim().to_owned();
                    return (
                        Self::Text(typed.to_lowercase()),
                        Some(format!("not a valid regex ({last}); matching as text")),
                    );
                }
            }
        }
        (Self::Text(typed.to_lowercase()), None)
    }

    /// Whether a row passes.
    pub fn matches(&self, row: &TableRow) -> bool {
        match self {
            Self::None => true,
            _ => row.cells.iter().any(|c| self.matches_text(c.text())),
        }
    }

    /// Whether one text matches.
    pub fn matches_text(&self, text: &str) -> bool {
        match self {
            Self::None => true,
            Self::Text(needle) => {
                // Most texts are ASCII: skip the allocation then.
                if text.is_ascii() && needle.is_ascii() {
                    text.as_bytes()
                        .windows(needle.len().max(1))
                        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
                } else {
                    text.to_lowercase().contains(needle.as_str())
                }
            }
            Self::Regex(regex) => regex.is_match(text),
        }
    }
}

/// A table's rows and how they are shown.
#[derive(Debug, Clone)]
pub struct Table {
    /// The column titles.
    pub columns: &'static [&'static str],
    /// Every row.
    pub rows: Vec<TableRow>,
    /// The rows shown, in order: indexes into `rows`.
    pub visible: Vec<usize>,
    /// The filter's input line.
    pub filter_input: TextArea<'static>,
    /// The compiled filter.
    pub filter: Filter,
    /// Why the filter is not what was typed.
    pub filter_error: Option<String>,
    /// The column sorted by; `None`: as built (problems first).
    pub sort_column: Option<usize>,
    /// Sorted high to low.
    pub descending: bool,
    /// The selected position in `visible`.
    pub selected: usize,
}

impl Table {
    /// An empty table with these columns, sorted by `sort_column`.
    pub fn new(columns: &'static [&'static str], sort_column: Option<usize>) -> Self {
        let mut filter_input = TextArea::default();
        filter_input.set_cursor_line_style(ratatui::style::Style::default());
        Self {
            columns,
            rows: Vec::new(),
            visible: Vec::new(),
            filter_input,
            filter: Filter::None,
            filter_error: None,
            sort_column,
            descending: false,
            selected: 0,
        }
    }

    /// The filter as typed.
    pub fn filter_text(&self) -> String {
        self.filter_input.lines().join(" ")
    }

    /// Replaces the rows, keeping the selection on the same object if it
    /// is still there.
    pub fn set_rows(&mut self, rows: Vec<TableRow>) {
        let selected = self.selected_identity();
        self.rows = rows;
        self.refresh();
        self.select_identity(selected);
    }

    /// The selected row as its object and which of that object's rows it
    /// is (Versions has a row per container): stable across rebuilds and
    /// sorts, unlike its position.
    fn selected_identity(&self) -> Option<(Target, usize)> {
        let target = &self.selected_row()?.target;
        let nth = self.visible[..self.selected]
            .iter()
            .filter(|&&i| self.rows[i].target == *target)
            .count();
        Some((target.clone(), nth))
    }

    fn select_identity(&mut self, identity: Option<(Target, usize)>) {
        let Some((target, nth)) = identity else {
            return;
        };
        let mut matching = self
            .visible
            .iter()
            .enumerate()
            .filter(|(_, i)| self.rows[**i].target == target)
            .map(|(position, _)| position);
        let first = matching.next();
        if let Some(position) = matching
            .nth(nth.saturating_sub(1))
            .filter(|_| nth > 0)
            .or(first)
        {
            self.selected = position;
        }
    }

    /// Sets the filter from its input line and recomputes the rows shown.
    pub fn apply_filter(&mut self) {
        let (filter, error) = Filter::parse(&self.filter_text());
        self.filter = filter;
        self.filter_error = error;
        self.selected = 0;
        self.refresh();
    }

    /// Clears the filter.
    pub fn clear_filter(&mut self) {
        self.filter_input = TextArea::default();
        self.filter_input
            .set_cursor_line_style(ratatui::style::Style::default());
        self.apply_filter();
    }

    /// Sorts by the next column, ascending; after the last column, back
    /// to the built order (problems first).
    pub fn sort_next(&mut self) {
        self.sort_column = match self.sort_column {
            None => Some(0),
            Some(last) if last + 1 >= self.columns.len() => None,
            Some(column) => Some(column + 1),
        };
        self.descending = false;
        let selected = self.selected_identity();
        self.refresh();
        self.select_identity(selected);
    }

    /// Reverses the order.
    pub fn sort_reverse(&mut self) {
        self.descending = !self.descending;
        let selected = self.selected_identity();
        self.refresh();
        self.select_identity(selected);
    }

    /// Recomputes which rows show and in which order.
    pub fn refresh(&mut self) {
        let filter = &self.filter;
        let mut visible: Vec<usize> = self
            .rows
            .iter()
            .enumerate()
            .filter(|(_, row)| filter.matches(row))
            .map(|(i, _)| i)
            .collect();
        let rows = &self.rows;
        let Some(column) = self.sort_column else {
            if self.descending {
                visible.reverse();
            }
            self.visible = visible;
            self.selected = self.selected.min(self.visible.len().saturating_sub(1));
            return;
        };
        // Stable: equal cells keep the builder's order (problems first).
        visible.sort_by(|&a, &b| {
            let ordering = match (rows[a].cells.get(column), rows[b].cells.get(column)) {
                (Some(x), Some(y)) => x.compare(y),
                _ => Ordering::Equal,
            };
            if self.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
        self.visible = visible;
        self.selected = self.selected.min(self.visible.len().saturating_sub(1));
    }

    /// The selected row.
    pub fn selected_row(&self) -> Option<&TableRow> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.rows.get(i))
    }

    /// Moves the selection, clamped to the rows shown.
    pub fn move_by(&mut self, delta: isize) {
        let last = self.visible.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize)
            .saturating_add(delta)
            .clamp(0, last.max(0)) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, restarts: i64) -> TableRow {
        TableRow {
            cells: vec![
                Cell::Text(name.into()),
                Cell::Number(restarts, restarts.to_string()),
            ],
            tone: Tone::Normal,
            target: Target {
                kind: "Pod".into(),
                namespace: "ns".into(),
                name: name.into(),
            },
            detail: String::new(),
        }
    }

    fn names(table: &Table) -> Vec<&str> {
        table
            .visible
            .iter()
            .map(|&i| table.rows[i].cells[0].text())
            .collect()
    }

    #[test]
    fn filters_by_substring_or_regex_and_sorts_numbers_as_numbers() {
        let mut table = Table::new(&["NAME", "RESTARTS"], Some(0));
        table.set_rows(vec![row("web-1", 10), row("api-2", 9), row("Web-3", 100)]);
        assert_eq!(names(&table), ["Web-3", "api-2", "web-1"]);
        table.filter_input.insert_str("WEB");
        table.apply_filter();
        assert_eq!(names(&table), ["Web-3", "web-1"]);
        table.sort_next();
        assert_eq!(names(&table), ["web-1", "Web-3"]);
        table.sort_reverse();
        assert_eq!(names(&table), ["Web-3", "web-1"]);
        table.clear_filter();
        table.filter_input.insert_str("^(api|web)-[12]$");
        table.apply_filter();
        assert_eq!(table.filter_error, None);
        assert_eq!(names(&table).len(), 2);
    }

    #[test]
    fn a_broken_regex_matches_as_text_and_says_so() {
        let (filter, error) = Filter::parse("web-(1");
        assert!(matches!(filter, Filter::Text(t) if t == "web-(1"));
        assert!(error.unwrap().contains("not a valid regex"));
    }

    #[test]
    fn the_selection_follows_its_object_when_rows_change() {
        let mut table = Table::new(&["NAME", "RESTARTS"], None);
        table.set_rows(vec![row("a", 0), row("b", 0), row("c", 0)]);
        table.move_by(2);
        assert_eq!(table.selected_row().unwrap().target.name, "c");
        table.set_rows(vec![row("0", 0), row("c", 0), row("a", 0)]);
        assert_eq!(table.selected_row().unwrap().target.name, "c");
    }
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    fn container_row(workload: &str, container: &str) -> TableRow {
        TableRow {
            cells: vec![Cell::Text(workload.into()), Cell::Text(container.into())],
            tone: Tone::Normal,
            target: Target {
                kind: "Deployment".into(),
                namespace: "ns".into(),
                name: workload.into(),
            },
            detail: String::new(),
        }
    }

    #[test]
    fn the_selection_stays_on_its_container_row_through_rebuilds_and_sorts() {
        let mut table = Table::new(&["NAME", "CONTAINER"], None);
        let rows = || {
            vec![
                container_row("web", "app"),
                container_row("web", "proxy"),
                container_row("web", "exporter"),
                container_row("api", "app"),
            ]
        };
        table.set_rows(rows());
        table.move_by(2);
        assert_eq!(table.selected_row().unwrap().cells[1].text(), "exporter");
        table.set_rows(rows());
        assert_eq!(table.selected_row().unwrap().cells[1].text(), "exporter");
        table.sort_next();
        assert_eq!(table.selected_row().unwrap().target.name, "web");
        table.sort_reverse();
        assert_eq!(table.selected_row().unwrap().target.name, "web");
    }
}
