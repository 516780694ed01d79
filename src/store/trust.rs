//! The credential programs the operator trusted, per site: a kubeconfig's
//! exec plugin runs only after the operator saw its command and said yes,
//! and that answer is remembered for that site's profile file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The trust file: site profile path → commands trusted for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustStore {
    file: PathBuf,
    sites: BTreeMap<String, Vec<String>>,
}

impl TrustStore {
    /// The trust file in `state_dir`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("trusted-credential-commands.json")
    }

    /// Reads the trust file; a missing file trusts nothing. An unreadable or
    /// corrupt one also trusts nothing (the operator is asked again), and
    /// the reason is returned to show.
    pub fn load(state_dir: &Path) -> (Self, Option<String>) {
        let file = Self::path(state_dir);
        let mut store = Self {
            file: file.clone(),
            sites: BTreeMap::new(),
        };
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(sites) => store.sites = sites,
                Err(e) => {
                    return (
                        store,
                        Some(format!(
                            "{} is damaged ({e}); sitedeck will ask again",
                            file.display()
                        )),
                    );
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return (store, Some(format!("cannot read {}: {e}", file.display()))),
        }
        (store, None)
    }

    /// The commands trusted for a site.
    pub fn trusted(&self, site: &Path) -> Vec<String> {
        self.sites.get(&key(site)).cloned().unwrap_or_default()
    }

    /// Trusts `command` for `site` and writes the file atomically.
    pub fn trust(&mut self, site: &Path, command: &str) -> std::io::Result<()> {
        let commands = self.sites.entry(key(site)).or_default();
        if !commands.iter().any(|c| c == command) {
            commands.push(command.to_owned());
        }
        let text = serde_json::to_vec_pretty(&self.sites).map_err(std::io::Error::other)?;
        super::write_atomic(&self.file, &text)
    }
}

fn key(site: &Path) -> String {
    std::fs::canonicalize(site)
        .unwrap_or_else(|_| site.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_is_remembered_per_site() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("acme.yaml");
        std::fs::write(&site, "").unwrap();
        let (mut store, problem) = TrustStore::load(dir.path());
        assert_eq!(problem, None);
        store.trust(&site, "aws eks get-token").unwrap();
        let (again, _) = TrustStore::load(dir.path());
        assert_eq!(again.trusted(&site), ["aws eks get-token"]);
        assert!(again.trusted(&dir.path().join("other.yaml")).is_empty());
    }

    #[test]
    fn a_damaged_trust_file_trusts_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(TrustStore::path(dir.path()), "{not json").unwrap();
        let (store, problem) = TrustStore::load(dir.path());
        assert!(store.trusted(Path::new("/x.yaml")).is_empty());
        assert!(problem.unwrap().contains("ask again"));
    }
}
