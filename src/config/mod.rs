//! Configuration: where sitedeck keeps its files, site profiles, secrets,
//! keymaps and themes.

pub mod keymap;
pub mod paths;
pub mod profile;
pub mod secret;
pub mod theme;

pub use paths::Paths;

/// A TOML parse error as `origin:line:column: message`.
pub(crate) fn toml_problem(origin: &str, text: &str, error: &toml::de::Error) -> String {
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{origin}:{line}:{column}: {}", error.message())
        }
        None => format!("{origin}: {}", error.message()),
    }
}
