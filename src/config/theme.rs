//! Themes: styles by meaning, never by colour.
//!
//! A view asks for [`Role::StatusOk`], not for green. A theme file names a
//! palette and maps roles to styles; `inherits` takes another theme's roles
//! first; a role a theme does not set falls back to its parent role
//! (`status.ok` → `status` → `text`). `NO_COLOR` selects `mono`.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The shipped themes, by name.
pub const SHIPPED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

macro_rules! roles {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// A style by meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Role { $(#[doc = $doc] $variant,)* }

        impl Role {
            /// Every role.
            pub const ALL: &'static [Role] = &[$(Role::$variant,)*];

            /// The role's name in a theme file.
            pub fn name(self) -> &'static str {
                match self { $(Role::$variant => $name,)* }
            }
        }
    };
}

roles! {
    Text => "text", "Body text.";
    TextMuted => "text.muted", "Secondary text.";
    TextTitle => "text.title", "Titles of panes.";
    TextKey => "text.key", "Key names in hints and help.";
    TextMatch => "text.match", "Characters a search matched.";
    Border => "border", "Pane borders.";
    BorderFocus => "border.focus", "The focused pane's border.";
    Selection => "selection", "The selected row.";
    Status => "status", "Source states (parent of the status roles).";
    StatusOk => "status.ok", "Healthy, reachable.";
    StatusWarn => "status.warn", "Degraded, needs attention.";
    StatusCrit => "status.crit", "Down, failed.";
    StatusUnknown => "status.unknown", "Not known yet, pending.";
    Header => "header", "The header line.";
    HeaderSite => "header.site", "The site name.";
    BadgeProd => "badge.prod", "The prod environment badge.";
    BadgeStaging => "badge.staging", "The staging environment badge.";
    BadgePoc => "badge.poc", "The poc environment badge.";
    BadgeReadonly => "badge.readonly", "The READONLY badge.";
    Tab => "tab", "An inactive tab.";
    TabActive => "tab.active", "The active tab.";
    StatusBar => "statusbar", "The status bar.";
    StatusBarWarn => "statusbar.warn", "A warning in the status bar.";
    StatusBarError => "statusbar.error", "An error in the status bar.";
    Popup => "popup", "Popup background and text.";
    PopupBorder => "popup.border", "Popup border.";
}

/// The role a role falls back to: `status.ok` → `status` → `text`.
fn parent_role(name: &str) -> Option<&str> {
    match name.rsplit_once('.') {
        Some((parent, _)) => Some(parent),
        None if name == "text" => None,
        None => Some("text"),
    }
}

/// A resolved theme.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The theme's name.
    pub name: String,
    styles: BTreeMap<String, Style>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StyleFile {
    #[serde(default)]
    fg: Option<String>,
    #[serde(default)]
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
}

impl Theme {
    /// The style for a role, falling back to its parents.
    pub fn style(&self, role: Role) -> Style {
        let mut name = Some(role.name());
        while let Some(current) = name {
            if let Some(style) = self.styles.get(current) {
                return *style;
            }
            name = parent_role(current);
        }
        Style::default()
    }

    /// Names of every theme: the shipped ones, then the user's.
    pub fn available(user_dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = SHIPPED.iter().map(|(n, _)| (*n).to_owned()).collect();
        if let Ok(entries) = std::fs::read_dir(user_dir) {
            let mut user: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let path = e.path();
                    (path.extension()? == "toml")
                        .then(|| path.file_stem()?.to_str().map(str::to_owned))?
                })
                .filter(|n| !names.contains(n))
                .collect();
            user.sort();
            names.extend(user);
        }
        names
    }

    /// Loads a theme by name: a user theme in `user_dir` first, then a
    /// shipped one. Problems become warnings; an unknown name gives `dark`.
    pub fn load(name: &str, user_dir: &Path) -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let mut theme = Self {
            name: name.to_owned(),
            styles: BTreeMap::new(),
        };
        if !theme.apply(name, Some(user_dir), &mut warnings, 0) {
            warnings.push(format!("unknown theme `{name}`, using `dark`"));
            theme.name = "dark".into();
            theme.apply("dark", Some(user_dir), &mut warnings, 0);
        }
        (theme, warnings)
    }

    /// The theme's text and where it came from: the user's file first
    /// (unless `user_dir` is `None`), then the shipped one.
    fn source(name: &str, user_dir: Option<&Path>) -> Option<(String, String)> {
        if let Some(dir) = user_dir {
            let user_file = dir.join(format!("{name}.toml"));
            if let Ok(text) = std::fs::read_to_string(&user_file) {
                return Some((text, user_file.display().to_string()));
            }
        }
        SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| ((*text).to_owned(), format!("themes/{name}.toml")))
    }

    /// Applies a theme file over the styles so far; every bad entry is a
    /// warning and the rest still applies. False if no such theme exists.
    fn apply(
        &mut self,
        name: &str,
        user_dir: Option<&Path>,
        warnings: &mut Vec<String>,
        depth: usize,
    ) -> bool {
        let Some((text, origin)) = Self::source(name, user_dir) else {
            return false;
        };
        let file: toml::Table = match toml::from_str(&text) {
            Ok(file) => file,
            Err(e) => {
                warnings.push(super::toml_problem(&origin, &text, &e));
                return true;
            }
        };
        for key in file.keys() {
            if !["inherits", "palette", "styles"].contains(&key.as_str()) {
                warnings.push(format!(
                    "{origin}: unknown key `{key}`{}",
                    super::profile::did_you_mean(key, &["inherits", "palette", "styles"])
                ));
            }
        }
        if let Some(parent) = file.get("inherits").and_then(toml::Value::as_str) {
            // A user theme named like a shipped one may extend that one.
            let parent_dir = if parent == name { None } else { user_dir };
            if depth >= 4 {
                warnings.push(format!("{origin}: inherits chain too deep"));
            } else if !self.apply(parent, parent_dir, warnings, depth + 1) {
                warnings.push(format!("{origin}: inherits unknown theme `{parent}`"));
            }
        }
        let palette: BTreeMap<String, String> = file
            .get("palette")
            .and_then(toml::Value::as_table)
            .map(|table| {
                table
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        let styles = file.get("styles").and_then(toml::Value::as_table);
        for (role, spec) in styles.into_iter().flatten() {
            self.apply_style(role, spec, &palette, &origin, warnings);
        }
        true
    }

    fn apply_style(
        &mut self,
        role: &str,
        spec: &toml::Value,
        palette: &BTreeMap<String, String>,
        origin: &str,
        warnings: &mut Vec<String>,
    ) {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
        if !names.contains(&role) {
            warnings.push(format!(
                "{origin}: unknown style role `{role}`{}",
                super::profile::did_you_mean(role, &names)
            ));
            return;
        }
        let built = spec
            .clone()
            .try_into::<StyleFile>()
            .map_err(|e| e.message().to_owned())
            .and_then(|spec| build_style(&spec, palette));
        match built {
            Ok(style) => {
                self.styles.insert(role.to_owned(), style);
            }
            Err(e) => warnings.push(format!("{origin}: `{role}`: {e}")),
        }
    }
}

fn build_style(spec: &StyleFile, palette: &BTreeMap<String, String>) -> Result<Style, String> {
    let mut style = Style::default();
    if let Some(fg) = &spec.fg {
        style = style.fg(parse_color(fg, palette)?);
    }
    if let Some(bg) = &spec.bg {
        style = style.bg(parse_color(bg, palette)?);
    }
    for (on, modifier) in [
        (spec.bold, Modifier::BOLD),
        (spec.dim, Modifier::DIM),
        (spec.italic, Modifier::ITALIC),
        (spec.underline, Modifier::UNDERLINED),
        (spec.reversed, Modifier::REVERSED),
    ] {
        if on {
            style = style.add_modifier(modifier);
        }
    }
    Ok(style)
}

fn parse_color(text: &str, palette: &BTreeMap<String, String>) -> Result<Color, String> {
    let resolved = palette.get(text).map(String::as_str).unwrap_or(text);
    resolved.parse::<Color>().map_err(|_| {
        format!("`{text}` is not a colour (a palette name, an ANSI name, #rrggbb or 0-255)")
    })
}

/// The theme to use when none is asked for: `mono` under `NO_COLOR`.
pub fn default_name() -> &'static str {
    match std::env::var_os("NO_COLOR") {
        Some(v) if !v.is_empty() => "mono",
        _ => "dark",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_role_falls_back_to_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "[styles]\n\"status\" = { fg = \"red\" }\n\"text\" = { fg = \"blue\" }\n",
        )
        .unwrap();
        let (theme, warnings) = Theme::load("mine", dir.path());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(theme.style(Role::StatusOk).fg, Some(Color::Red));
        assert_eq!(theme.style(Role::Border).fg, Some(Color::Blue));
    }

    #[test]
    fn user_theme_inherits_and_warns_on_bad_entries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "inherits = \"dark\"\n[styles]\n\"status.ok\" = { fg = \"chartreuse-ish\" }\n\"nonsense\" = {}\n",
        )
        .unwrap();
        let (theme, warnings) = Theme::load("mine", dir.path());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let dark = Theme::load("dark", dir.path()).0;
        assert_eq!(theme.style(Role::StatusOk), dark.style(Role::StatusOk));
    }

    #[test]
    fn one_bad_entry_keeps_the_rest_of_the_theme() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "inherits = \"dark\"\n[styles]\n\"selection\" = { bg = \"#zzzzzz\", blod = true }\n\"text.tilte\" = {}\n\"status.ok\" = { fg = \"magenta\" }\n",
        )
        .unwrap();
        let (theme, warnings) = Theme::load("mine", dir.path());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[1].contains("did you mean `text.title`"),
            "{warnings:?}"
        );
        assert_eq!(theme.style(Role::StatusOk).fg, Some(Color::Magenta));
        let dark = Theme::load("dark", dir.path()).0;
        assert_eq!(theme.style(Role::Selection), dark.style(Role::Selection));
    }

    #[test]
    fn a_user_theme_may_extend_the_shipped_one_of_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dark.toml"),
            "inherits = \"dark\"\n[styles]\n\"status.ok\" = { fg = \"magenta\" }\n",
        )
        .unwrap();
        let (theme, warnings) = Theme::load("dark", dir.path());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(theme.style(Role::StatusOk).fg, Some(Color::Magenta));
        assert_eq!(theme.style(Role::StatusCrit).fg, Some(Color::LightRed));
    }

    #[test]
    fn unknown_theme_falls_back_to_dark() {
        let (theme, warnings) = Theme::load("neon", Path::new("/nonexistent"));
        assert_eq!(theme.name, "dark");
        assert_eq!(warnings.len(), 1);
    }
}
