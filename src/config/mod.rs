//! Configuration: where sitedeck keeps its files, site profiles, secrets,
//! keymaps and themes.

pub mod keymap;
pub mod paths;
pub mod profile;
pub mod secret;
pub mod theme;

pub use paths::Paths;
