//! The command palette: fuzzy completion over commands, views, themes and
//! sites.

use crossterm::event::KeyEvent;
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use ratatui_textarea::TextArea;

use crate::app::action::Action;
use crate::config::keymap::KeyChord;

/// One command the palette offers.
#[derive(Debug, Clone, PartialEq)]
pub struct PaletteEntry {
    /// What the operator types: `theme light`, `overview`.
    pub label: String,
    /// What it does.
    pub desc: String,
    /// The action it runs.
    pub action: Action,
}

/// A match: the entry and the matched character positions in its label.
#[derive(Debug, Clone, PartialEq)]
pub struct PaletteMatch {
    /// Index into the entries.
    pub entry: usize,
    /// Positions (in chars) of the label that matched the query.
    pub positions: Vec<u32>,
}

/// The palette's state while it is open.
#[derive(Debug, Clone)]
pub struct Palette {
    /// The input line.
    pub input: TextArea<'static>,
    /// Every command.
    pub entries: Vec<PaletteEntry>,
    /// The entries matching the input, best first.
    pub matches: Vec<PaletteMatch>,
    /// The selected match.
    pub selected: usize,
}

impl Palette {
    /// Opens the palette over these commands.
    pub fn new(entries: Vec<PaletteEntry>) -> Self {
        let mut input = TextArea::default();
        input.set_cursor_line_style(ratatui::style::Style::default());
        let mut palette = Self {
            input,
            entries,
            matches: Vec::new(),
            selected: 0,
        };
        palette.refilter();
        palette
    }

    /// The text typed so far.
    pub fn query(&self) -> String {
        self.input.lines().join(" ")
    }

    /// Feeds a key the keymap did not take to the input line.
    pub fn type_key(&mut self, chord: KeyChord) {
        self.input.input(KeyEvent::new(chord.code, chord.modifiers));
        self.refilter();
    }

    /// Inserts pasted text (first line only).
    pub fn paste(&mut self, text: &str) {
        self.input
            .insert_str(text.lines().next().unwrap_or_default());
        self.refilter();
    }

    /// Moves the selection by `delta`, wrapping around.
    pub fn move_selection(&mut self, delta: isize) {
        let len = self.matches.len() as isize;
        if len > 0 {
            self.selected = (self.selected as isize + delta).rem_euclid(len) as usize;
        }
    }

    /// The selected entry.
    pub fn selected_entry(&self) -> Option<&PaletteEntry> {
        self.matches
            .get(self.selected)
            .and_then(|m| self.entries.get(m.entry))
    }

    /// Replaces the input with the selected entry's label.
    pub fn complete(&mut self) {
        if let Some(label) = self.selected_entry().map(|e| e.label.clone()) {
            self.input = TextArea::from([label]);
            self.input
                .set_cursor_line_style(ratatui::style::Style::default());
            self.input.move_cursor(ratatui_textarea::CursorMove::End);
            self.refilter();
        }
    }

    fn refilter(&mut self) {
        let query = self.query();
        self.selected = 0;
        if query.trim().is_empty() {
            self.matches = (0..self.entries.len())
                .map(|entry| PaletteMatch {
                    entry,
                    positions: Vec::new(),
                })
                .collect();
            return;
        }
        let pattern = Pattern::parse(&query, CaseMatching::Ignore, Normalization::Smart);
        let mut matcher = Matcher::new(Config::DEFAULT);
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, PaletteMatch)> = Vec::new();
        for (entry, e) in self.entries.iter().enumerate() {
            let haystack = Utf32Str::new(&e.label, &mut buf);
            let mut positions = Vec::new();
            if let Some(score) = pattern.indices(haystack, &mut matcher, &mut positions) {
                positions.sort_unstable();
                positions.dedup();
                scored.push((score, PaletteMatch { entry, positions }));
            }
        }
        // Best score first; equal scores keep the entries' order.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.entry.cmp(&b.1.entry)));
        self.matches = scored.into_iter().map(|(_, m)| m).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn palette() -> Palette {
        Palette::new(vec![
            PaletteEntry {
                label: "overview".into(),
                desc: "Go to Overview".into(),
                action: Action::OpenOverview,
            },
            PaletteEntry {
                label: "theme light".into(),
                desc: "Use the light theme".into(),
                action: Action::SetTheme("light".into()),
            },
            PaletteEntry {
                label: "theme mono".into(),
                desc: "Use the mono theme".into(),
                action: Action::SetTheme("mono".into()),
            },
        ])
    }

    #[test]
    fn fuzzy_query_ranks_the_closest_first() {
        let mut p = palette();
        for c in "thli".chars() {
            p.type_key(KeyChord::char(c));
        }
        assert_eq!(p.selected_entry().unwrap().label, "theme light");
        assert_eq!(p.matches.len(), 1);
    }

    #[test]
    fn completion_fills_the_input() {
        let mut p = palette();
        p.type_key(KeyChord::char('m'));
        p.type_key(KeyChord::char('o'));
        p.complete();
        assert_eq!(p.query(), "theme mono");
    }
}
