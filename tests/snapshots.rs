//! Snapshots of the views: TestBackend + insta, at 80x24 and 160x48, in the
//! dark and mono themes. Each snapshot holds the text of the screen and a
//! grid of style letters with their legend, so a change of colour or
//! emphasis shows up as well as a change of layout.

mod common;

use common::{empty_state, render_with_styles as render, state_with_reports};
use sitedeck::app::action::Action;
use sitedeck::app::{State, update};
use sitedeck::config::keymap::KeyChord;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];
const THEMES: [&str; 2] = ["dark", "mono"];

fn press(state: &mut State, keys: &[&str]) {
    for k in keys {
        update(state, Action::Key(KeyChord::parse(k).expect("a valid key")));
    }
}

fn snapshot_all(name: &str, prepare: impl Fn(&mut State)) {
    for theme in THEMES {
        for (width, height) in SIZES {
            let mut state = state_with_reports(theme);
            prepare(&mut state);
            insta::assert_snapshot!(
                format!("{name}_{theme}_{width}x{height}"),
                render(&state, width, height)
            );
        }
    }
}

#[test]
fn overview() {
    snapshot_all("overview", |_| {});
}

#[test]
fn help() {
    snapshot_all("help", |state| press(state, &["?"]));
}

#[test]
fn palette() {
    snapshot_all("palette", |state| press(state, &[":", "t", "h"]));
}

#[test]
fn which_key() {
    snapshot_all("which_key", |state| press(state, &["g"]));
}

#[test]
fn confirm_quit() {
    snapshot_all("confirm_quit", |state| {
        update(state, Action::RefreshTick);
        press(state, &["q"]);
    });
}

#[test]
fn site_list_with_a_broken_profile() {
    snapshot_all("sites", |state| {
        let path = std::path::Path::new("/home/ops/.config/sitedeck/sites/beta.yaml");
        let load = common::request_load(state, path);
        update(
            state,
            Action::SiteLoaded(Box::new(sitedeck::app::action::SiteLoad {
                path: path.to_path_buf(),
                load,
                result: Err("/home/ops/.config/sitedeck/sites/beta.yaml:2:1: unknown key `enviroment` (did you mean `environment`?); expected one of: name, environment\n/home/ops/.config/sitedeck/sites/beta.yaml:9:15: password for `mysql`: environment variable MYSQL_PW is not set".into()),
                release: None,
            })),
        );
    });
}

#[test]
fn no_site_open() {
    for theme in THEMES {
        let state = empty_state(theme);
        let mut state = state;
        press(&mut state, &["g", "o"]);
        insta::assert_snapshot!(format!("no_site_{theme}_80x24"), render(&state, 80, 24));
    }
}

#[test]
fn cjk_site_names_are_measured_by_width() {
    let mut state = state_with_reports("dark");
    if let Some(site) = &mut state.site {
        site.loaded.profile.name = "华东生产集群-数据库".into();
        site.sources[2].name = "主库-mysql".into();
    }
    insta::assert_snapshot!("cjk_dark_80x24", render(&state, 80, 24));
}

#[test]
fn warnings_popup_and_count() {
    snapshot_all("warnings", |state| {
        state.config_warnings = vec![
            "keymap.toml: [global] unknown action `hepl` (did you mean `help`?)".into(),
            "themes/mine.toml: `status.ok`: `chartreuse` is not a colour (a palette name, an ANSI name, #rrggbb or 0-255)".into(),
        ];
        press(state, &["W"]);
    });
}
