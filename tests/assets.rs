//! Every shipped keymap and theme parses without a warning, no key is bound
//! twice in one section, and every theme gives every role a style.

use std::collections::HashSet;
use std::path::Path;

use sitedeck::config::keymap::{self, Focus, KeyChord, Keymap};
use sitedeck::config::theme::{self, Role, Theme};

fn files_in(dir: &str, ext: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("folder exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .{ext} files in {dir}");
    files
}

#[test]
fn every_keymap_file_is_shipped_and_loads_cleanly() {
    for file in files_in("keymaps", "toml") {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("name");
        assert!(
            keymap::SHIPPED.iter().any(|(n, _)| *n == name),
            "{name} is not compiled in"
        );
        let (keymap, warnings) = Keymap::load(name, None);
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        assert!(
            !keymap.section(Focus::Global).is_empty(),
            "{name}: no [global] keys"
        );
    }
}

#[test]
fn keymap_option_accepts_exactly_the_shipped_keymaps() {
    let shipped: Vec<&str> = keymap::SHIPPED.iter().map(|(n, _)| *n).collect();
    assert_eq!(shipped, sitedeck::cli::KEYMAP_NAMES);
}

#[test]
fn no_key_is_bound_twice_in_one_section_of_a_file() {
    for file in files_in("keymaps", "toml") {
        let text = std::fs::read_to_string(&file).expect("readable");
        let value: toml::Table = toml::from_str(&text).expect("valid TOML");
        for (section, body) in &value {
            let Some(entries) = body.get("keymap").and_then(|k| k.as_array()) else {
                continue;
            };
            let mut seen = HashSet::new();
            for entry in entries {
                let keys: Vec<KeyChord> = entry["on"]
                    .as_array()
                    .expect("on is a list")
                    .iter()
                    .map(|k| KeyChord::parse(k.as_str().expect("a string")).expect("a key"))
                    .collect();
                assert!(
                    seen.insert(keys.clone()),
                    "{}: [{section}] binds {keys:?} twice",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn no_binding_is_hidden_behind_a_shorter_one() {
    for (name, _) in keymap::SHIPPED {
        let (keymap, _) = Keymap::load(name, None);
        for focus in Focus::ALL {
            // [list] is looked up before [global]: both shadow each other.
            let mut bindings = keymap.section(focus).to_vec();
            if focus == Focus::List {
                bindings.extend_from_slice(keymap.section(Focus::Global));
            }
            for long in &bindings {
                for short in &bindings {
                    assert!(
                        short.keys.len() >= long.keys.len() || !long.keys.starts_with(&short.keys),
                        "{name} [{}]: `{}` can never be typed because `{}` is bound",
                        focus.name(),
                        long.keys_label(),
                        short.keys_label()
                    );
                }
            }
        }
    }
}

#[test]
fn every_theme_file_is_shipped_and_loads_cleanly() {
    for file in files_in("themes", "toml") {
        let name = file.file_stem().and_then(|s| s.to_str()).expect("name");
        assert!(
            theme::SHIPPED.iter().any(|(n, _)| *n == name),
            "{name} is not compiled in"
        );
        let (loaded, warnings) = Theme::load(name, Path::new("/nonexistent"));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        assert_eq!(loaded.name, name);
    }
}

#[test]
fn base_themes_set_every_role_explicitly() {
    for name in ["dark", "mono"] {
        let text = theme::SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .expect("shipped");
        let value: toml::Table = toml::from_str(text).expect("valid TOML");
        let styles = value["styles"].as_table().expect("[styles]");
        for role in Role::ALL {
            assert!(
                styles.contains_key(role.name()),
                "{name} does not set {}",
                role.name()
            );
        }
    }
}

#[test]
fn mono_uses_no_colour_at_all() {
    let (mono, _) = Theme::load("mono", Path::new("/nonexistent"));
    for role in Role::ALL {
        let style = mono.style(*role);
        assert!(
            style.fg.is_none() && style.bg.is_none(),
            "{} has a colour",
            role.name()
        );
    }
}

#[test]
fn states_look_different_in_every_theme() {
    for (name, _) in theme::SHIPPED {
        let (loaded, _) = Theme::load(name, Path::new("/nonexistent"));
        let ok = loaded.style(Role::StatusOk);
        let warn = loaded.style(Role::StatusWarn);
        let crit = loaded.style(Role::StatusCrit);
        assert!(
            ok != warn && warn != crit && ok != crit,
            "{name}: states share a style"
        );
    }
}
