//! Keymaps: key sequences bound to actions, by focus.
//!
//! The shipped keymaps (`keymaps/*.toml`) are compiled in; the operator's
//! `keymap.toml` in the config dir overlays them key by key. An entry is
//! `{ on = ["g", "o"], run = "open_overview", desc = "…" }`. A sequence that
//! is the start of longer ones is "pending" and drives the which-key popup.
//! Unknown actions or keys never stop sitedeck: they become warnings.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

use crate::app::action::Action;

/// The shipped keymaps, by name.
pub const SHIPPED: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("vim", include_str!("../../keymaps/vim.toml")),
];

/// Where the keyboard focus is; each has a section in a keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Focus {
    /// Keys that work everywhere but in popups that take text.
    Global,
    /// Tables and lists.
    List,
    /// The command palette (typing goes to its input).
    Palette,
    /// The help screen.
    Help,
    /// A yes/no question.
    Confirm,
    /// A table's filter line (typing goes to it).
    Filter,
}

impl Focus {
    /// All sections, in help order.
    pub const ALL: [Focus; 6] = [
        Focus::Global,
        Focus::List,
        Focus::Filter,
        Focus::Palette,
        Focus::Help,
        Focus::Confirm,
    ];

    /// The section name in a keymap file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::List => "list",
            Self::Palette => "palette",
            Self::Help => "help",
            Self::Confirm => "confirm",
            Self::Filter => "filter",
        }
    }

    /// Whether `[global]` keys also apply under this focus.
    fn inherits_global(self) -> bool {
        matches!(self, Self::List)
    }
}

/// One key with its modifiers, normalised so that `G` is `G`, not `shift-g`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    /// The key.
    pub code: KeyCode,
    /// Ctrl and Alt (Shift is folded into the character).
    pub modifiers: KeyModifiers,
}

impl KeyChord {
    /// A chord from a terminal key event.
    pub fn from_event(event: KeyEvent) -> Self {
        let mut modifiers = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match event.code {
            KeyCode::BackTab => KeyCode::BackTab,
            KeyCode::Char(c) if event.modifiers.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            other => {
                if event.modifiers.contains(KeyModifiers::SHIFT)
                    && !matches!(other, KeyCode::Char(_))
                {
                    modifiers |= KeyModifiers::SHIFT;
                }
                other
            }
        };
        Self { code, modifiers }
    }

    /// A plain character key.
    pub fn char(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            modifiers: KeyModifiers::NONE,
        }
    }

    /// Parses `q`, `G`, `?`, `ctrl-r`, `alt-x`, `esc`, `enter`, `shift-tab`, `f5`…
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                modifiers |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                modifiers |= KeyModifiers::ALT;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("shift-") {
                modifiers |= KeyModifiers::SHIFT;
                rest = r;
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => KeyCode::Char(if modifiers.contains(KeyModifiers::SHIFT) {
                modifiers -= KeyModifiers::SHIFT;
                c.to_ascii_uppercase()
            } else {
                c
            }),
            _ => match rest {
                "esc" => KeyCode::Esc,
                "enter" => KeyCode::Enter,
                "tab" if modifiers.contains(KeyModifiers::SHIFT) => {
                    modifiers -= KeyModifiers::SHIFT;
                    KeyCode::BackTab
                }
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" => KeyCode::Delete,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pgup" => KeyCode::PageUp,
                "pgdown" => KeyCode::PageDown,
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => KeyCode::F(n),
                    _ => return Err(format!("unknown key `{text}`")),
                },
                _ => return Err(format!("unknown key `{text}`")),
            },
        };
        if modifiers == KeyModifiers::CONTROL && matches!(code, KeyCode::Char('a' | 'b')) {
            return Err(format!(
                "`{text}` is the tmux/screen prefix and is never bound by sitedeck"
            ));
        }
        Ok(Self { code, modifiers })
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdown"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// One binding: a key sequence, the action it runs and its description.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The key sequence.
    pub keys: Vec<KeyChord>,
    /// The action.
    pub action: Action,
    /// What it does, for help and which-key.
    pub desc: String,
}

impl Binding {
    /// The description, or the action's name when the keymap gives none.
    pub fn description(&self) -> &str {
        if self.desc.is_empty() {
            action_name(&self.action)
        } else {
            &self.desc
        }
    }

    /// The sequence as the operator types it: `g o`.
    pub fn keys_label(&self) -> String {
        self.keys
            .iter()
            .map(KeyChord::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a key sequence means under a focus.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// Run this action.
    Action(Action),
    /// The sequence starts longer ones: these are the next keys and what they lead to.
    Pending(Vec<(String, String)>),
    /// Not bound.
    Unbound,
}

/// A keymap: bindings by focus.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    /// The keymap's name (`default`, `vim`).
    pub name: String,
    sections: BTreeMap<Focus, Vec<Binding>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    on: KeysFile,
    run: String,
    #[serde(default)]
    desc: String,
}

/// `on = ["g", "o"]`, or a single key written as a plain string.
#[derive(Deserialize)]
#[serde(untagged)]
enum KeysFile {
    One(String),
    Many(Vec<String>),
}

impl KeysFile {
    fn names(&self) -> Vec<&str> {
        match self {
            Self::One(key) => vec![key.as_str()],
            Self::Many(keys) => keys.iter().map(String::as_str).collect(),
        }
    }
}

impl Keymap {
    /// Loads a shipped keymap by name, with its `inherits` chain, and
    /// overlays the user's file text if given. Problems become warnings.
    pub fn load(name: &str, user_overlay: Option<&str>) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut keymap = Self {
            name: name.to_owned(),
            sections: BTreeMap::new(),
        };
        let shipped_name = if SHIPPED.iter().any(|(n, _)| *n == name) {
            name
        } else {
            warnings.push(format!("unknown keymap `{name}`, using `default`"));
            keymap.name = "default".into();
            "default"
        };
        keymap.overlay_shipped(shipped_name, &mut warnings, 0);
        if let Some(text) = user_overlay {
            keymap.overlay_text(text, "keymap.toml", &mut warnings);
        }
        (keymap, warnings)
    }

    fn overlay_shipped(&mut self, name: &str, warnings: &mut Vec<String>, depth: usize) {
        let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == name) else {
            warnings.push(format!("keymap `{name}` inherits an unknown keymap"));
            return;
        };
        if depth > 4 {
            warnings.push(format!("keymap `{name}`: inherits chain too deep"));
            return;
        }
        if let Ok(file) = toml::from_str::<toml::Table>(text)
            && let Some(parent) = file.get("inherits").and_then(toml::Value::as_str)
        {
            self.overlay_shipped(parent, warnings, depth + 1);
        }
        self.overlay_text(text, &format!("keymaps/{name}.toml"), warnings);
    }

    /// Overlays keymap text key by key: an entry replaces the binding of the
    /// same keys in its section; `run = "unbind"` removes it. A bad entry is
    /// a warning and the others still apply.
    pub fn overlay_text(&mut self, text: &str, origin: &str, warnings: &mut Vec<String>) {
        let file: toml::Table = match toml::from_str(text) {
            Ok(file) => file,
            Err(e) => {
                warnings.push(super::toml_problem(origin, text, &e));
                return;
            }
        };
        for (section_name, section) in file {
            if section_name == "inherits" {
                continue;
            }
            let Some(focus) = Focus::ALL.into_iter().find(|f| f.name() == section_name) else {
                let names = Focus::ALL.map(Focus::name);
                warnings.push(format!(
                    "{origin}: unknown section [{section_name}]{}",
                    super::profile::did_you_mean(&section_name, &names)
                ));
                continue;
            };
            let Some(entries) = section.get("keymap").and_then(toml::Value::as_array) else {
                warnings.push(format!(
                    "{origin}: [{section_name}] needs `keymap = [ {{ on = [...], run = \"...\" }}, ... ]`"
                ));
                continue;
            };
            for (index, entry) in entries.iter().enumerate() {
                match entry.clone().try_into::<EntryFile>() {
                    Ok(entry) => self.overlay_entry(focus, entry, origin, warnings),
                    Err(e) => warnings.push(format!(
                        "{origin}: [{section_name}] entry {}: {}",
                        index + 1,
                        e.message()
                    )),
                }
            }
        }
    }

    fn overlay_entry(
        &mut self,
        focus: Focus,
        entry: EntryFile,
        origin: &str,
        warnings: &mut Vec<String>,
    ) {
        let keys: Result<Vec<KeyChord>, String> =
            entry.on.names().into_iter().map(KeyChord::parse).collect();
        let keys = match keys {
            Ok(keys) if !keys.is_empty() => keys,
            Ok(_) => {
                warnings.push(format!("{origin}: [{}] an entry has no keys", focus.name()));
                return;
            }
            Err(e) => {
                warnings.push(format!("{origin}: [{}] {e}", focus.name()));
                return;
            }
        };
        let bindings = self.sections.entry(focus).or_default();
        bindings.retain(|b| b.keys != keys);
        if entry.run == "unbind" {
            return;
        }
        match Action::from_name(&entry.run) {
            Some(action) => bindings.push(Binding {
                keys,
                action,
                desc: entry.desc,
            }),
            None => warnings.push(format!(
                "{origin}: [{}] unknown action `{}`{}",
                focus.name(),
                entry.run,
                super::profile::did_you_mean(&entry.run, Action::BINDABLE)
            )),
        }
    }

    /// The bindings of one section, in file order.
    pub fn section(&self, focus: Focus) -> &[Binding] {
        self.sections.get(&focus).map(Vec::as_slice).unwrap_or(&[])
    }

    fn scopes(&self, focus: Focus) -> Vec<&[Binding]> {
        let mut scopes = vec![self.section(focus)];
        if focus.inherits_global() {
            scopes.push(self.section(Focus::Global));
        }
        scopes
    }

    /// Resolves a key sequence under a focus; the focus's own section wins
    /// over `[global]`.
    pub fn lookup(&self, focus: Focus, sequence: &[KeyChord]) -> Lookup {
        for scope in self.scopes(focus) {
            if let Some(b) = scope.iter().find(|b| b.keys == sequence) {
                return Lookup::Action(b.action.clone());
            }
        }
        let mut next: Vec<(String, String)> = Vec::new();
        for scope in self.scopes(focus) {
            for b in scope {
                if b.keys.len() > sequence.len() && b.keys.starts_with(sequence) {
                    let key = b.keys[sequence.len()].to_string();
                    let desc = if b.keys.len() == sequence.len() + 1 {
                        b.description().to_owned()
                    } else {
                        "…".to_owned()
                    };
                    if !next.iter().any(|(k, _)| *k == key) {
                        next.push((key, desc));
                    }
                }
            }
        }
        if next.is_empty() {
            Lookup::Unbound
        } else {
            Lookup::Pending(next)
        }
    }

    /// The first key sequence bound to `action` under `focus`, for hints.
    pub fn hint(&self, focus: Focus, action: &Action) -> Option<String> {
        self.scopes(focus)
            .into_iter()
            .flatten()
            .find(|b| &b.action == action)
            .map(Binding::keys_label)
    }

    /// The key bindings as a Markdown table, for the README.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from("| focus | keys | action | what it does |\n|---|---|---|---|\n");
        for focus in Focus::ALL {
            for b in self.section(focus) {
                let keys = b.keys_label().replace('|', "\\|").replace('`', "");
                out.push_str(&format!(
                    "| {} | `{}` | {} | {} |\n",
                    focus.name(),
                    keys,
                    action_name(&b.action),
                    b.description()
                ));
            }
        }
        out
    }
}

/// The keymap name of a bindable action (`command_palette`).
pub fn action_name(action: &Action) -> &'static str {
    Action::BINDABLE
        .iter()
        .find(|name| Action::from_name(name).as_ref() == Some(action))
        .copied()
        .unwrap_or("(internal)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_and_prints_them_back() {
        for text in [
            "q",
            "G",
            "?",
            ":",
            "ctrl-r",
            "esc",
            "enter",
            "shift-tab",
            "f5",
            "space",
        ] {
            assert_eq!(KeyChord::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(KeyChord::parse("shift-g").unwrap(), KeyChord::char('G'));
        assert!(
            KeyChord::parse("ctrl-b").is_err(),
            "tmux prefix must be refused"
        );
        assert!(KeyChord::parse("hyper-x").is_err());
    }

    #[test]
    fn shift_is_folded_into_characters() {
        let event = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(KeyChord::from_event(event), KeyChord::char('G'));
    }

    #[test]
    fn overlay_replaces_key_by_key_and_warns_on_unknown_actions() {
        let user = r#"
[global]
keymap = [
  { on = ["x"], run = "quit", desc = "Quit with x" },
  { on = ["q"], run = "unbind" },
  { on = ["z"], run = "fly_to_the_moon" },
]
"#;
        let (keymap, warnings) = Keymap::load("default", Some(user));
        let quit_x = keymap.lookup(Focus::Global, &[KeyChord::char('x')]);
        assert_eq!(quit_x, Lookup::Action(Action::Quit));
        assert_eq!(
            keymap.lookup(Focus::Global, &[KeyChord::char('q')]),
            Lookup::Unbound
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("unknown action `fly_to_the_moon`"));
    }

    #[test]
    fn one_bad_entry_keeps_the_rest_of_the_file() {
        let user = r#"
[global]
keymap = [
  { on = "x", run = "quit" },
  { on = ["y"], run = "hepl" },
  { on = ["z"], run = "help", descr = "typo" },
  { on = ["v"], run = "help" },
]
[lsit]
keymap = []
"#;
        let (keymap, warnings) = Keymap::load("default", Some(user));
        assert_eq!(
            keymap.lookup(Focus::Global, &[KeyChord::char('x')]),
            Lookup::Action(Action::Quit),
            "a single key may be written as a string"
        );
        assert_eq!(
            keymap.lookup(Focus::Global, &[KeyChord::char('v')]),
            Lookup::Action(Action::Help)
        );
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("unknown action `hepl` (did you mean `help`?)"));
        assert!(warnings[1].contains("entry 3") && warnings[1].contains("descr"));
        assert!(warnings[2].contains("unknown section [lsit] (did you mean `list`?)"));
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let (_, warnings) = Keymap::load(
            "default",
            Some("[global]\nkeymap = [\n  { on = [\"x\" }\n]\n"),
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("keymap.toml:3:"), "{warnings:?}");
    }

    #[test]
    fn every_action_the_shipped_keymaps_run_has_its_name() {
        for (name, _) in SHIPPED {
            let (keymap, warnings) = Keymap::load(name, None);
            assert!(warnings.is_empty(), "{warnings:?}");
            for focus in Focus::ALL {
                for binding in keymap.section(focus) {
                    assert_ne!(
                        action_name(&binding.action),
                        "(internal)",
                        "{name}: {}",
                        binding.description()
                    );
                }
            }
        }
    }

    #[test]
    fn every_bindable_name_is_an_action() {
        for name in Action::BINDABLE {
            assert!(Action::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn prefixes_are_pending_with_their_continuations() {
        let (keymap, _) = Keymap::load("default", None);
        match keymap.lookup(Focus::Global, &[KeyChord::char('g')]) {
            Lookup::Pending(next) => assert!(next.iter().any(|(k, _)| k == "o")),
            other => panic!("expected pending, got {other:?}"),
        }
    }

    #[test]
    fn action_names_round_trip() {
        for name in ["quit", "command_palette", "open_overview", "page_down"] {
            let action = Action::from_name(name).unwrap();
            assert_eq!(action_name(&action), name);
        }
        assert!(
            Action::from_name("resize").is_none(),
            "internal actions are not bindable"
        );
    }
}
