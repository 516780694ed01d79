//! Where sitedeck reads its configuration and writes its state.
//!
//! Defaults follow the XDG layout through `directories`
//! (`~/.config/sitedeck`, `~/.local/state/sitedeck`); `SITEDECK_CONFIG_DIR`
//! and `SITEDECK_STATE_DIR` override them, which the tests use to stay out of
//! the operator's home.

use std::path::PathBuf;

/// The directories sitedeck uses.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Configuration: `sites/`, `keymap.toml`, `themes/`.
    pub config_dir: PathBuf,
    /// State: the log file, per-site state.
    pub state_dir: PathBuf,
}

impl Paths {
    /// Resolves the directories from the environment.
    pub fn from_env() -> Self {
        let dirs = directories::ProjectDirs::from("", "", "sitedeck");
        let config_dir = std::env::var_os("SITEDECK_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from(".sitedeck/config"));
        let state_dir = std::env::var_os("SITEDECK_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                dirs.as_ref().map(|d| {
                    d.state_dir()
                        .unwrap_or_else(|| d.data_local_dir())
                        .to_path_buf()
                })
            })
            .unwrap_or_else(|| PathBuf::from(".sitedeck/state"));
        Self {
            config_dir,
            state_dir,
        }
    }

    /// The directory holding the operator's site profiles.
    pub fn sites_dir(&self) -> PathBuf {
        self.config_dir.join("sites")
    }

    /// The user's keymap overlay.
    pub fn user_keymap(&self) -> PathBuf {
        self.config_dir.join("keymap.toml")
    }

    /// The directory of user themes.
    pub fn user_themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }

    /// The log file.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("sitedeck.log")
    }
}

/// Expands a leading `~/` to the home directory.
pub fn expand_tilde(path: &str) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = directories::BaseDirs::new()
    {
        return home.home_dir().join(rest);
    }
    PathBuf::from(path)
}
