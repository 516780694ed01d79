//! Finding site profiles: the sites directory, a name, or a path.

use std::path::{Path, PathBuf};

use super::{LoadedProfile, ProfileError, load};

/// The name a profile file goes by when its own name cannot be read: the
/// file name without `.yaml`.
pub fn file_stem_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A profile found on disk, loaded or not.
#[derive(Debug)]
pub struct FoundSite {
    /// The profile file.
    pub path: PathBuf,
    /// The profile, or why it could not be loaded.
    pub profile: Result<LoadedProfile, ProfileError>,
}

impl FoundSite {
    /// The name to list the site under: the profile's name, else the file stem.
    pub fn display_name(&self) -> String {
        match &self.profile {
            Ok(loaded) => loaded.profile.name.clone(),
            Err(_) => file_stem_name(&self.path),
        }
    }
}

/// Finds every `*.yaml`/`*.yml` profile in `dir`, sorted by file name.
pub fn discover(dir: &Path) -> Vec<FoundSite> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| FoundSite {
            profile: load(&path),
            path,
        })
        .collect()
}

/// Finds a site by file path, or by name or file stem among the sites in
/// `dir`. A name that two profiles share is refused rather than guessed.
pub fn find(site: &str, dir: &Path) -> Result<PathBuf, String> {
    let as_path = PathBuf::from(site);
    if as_path.is_file() {
        return Ok(as_path);
    }
    let matches: Vec<PathBuf> = discover(dir)
        .into_iter()
        .filter(|found| found.display_name() == site || file_stem_name(&found.path) == site)
        .map(|found| found.path)
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!(
            "no site `{site}`: not a file, and not a profile in {} (run `sitedeck sites` to list them)",
            dir.display()
        )),
        several => Err(format!(
            "{} profiles go by `{site}`: {}; give the path instead",
            several.len(),
            several
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
