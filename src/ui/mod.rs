//! Drawing: pure functions from `&State` to a frame. No I/O, no mutation,
//! no literal colours (styles come from the theme by role).

mod chrome;
mod node_command;
mod popups;
pub mod views;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use crate::app::state::{Popup, State, View};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, state: &State) {
    let [header, tabs, main, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    chrome::header(frame, header, state);
    chrome::tabs(frame, tabs, state);
    match state.view {
        View::Overview => views::overview::draw(frame, main, state),
        View::Middleware => views::middleware::draw(frame, main, state),
        View::Kafka | View::KafkaGroups => views::kafka::draw(frame, main, state, state.view),
        View::Sites => views::sites::draw(frame, main, state),
        View::Logs => views::logs::draw(frame, main, state),
        View::Cluster(view) => views::cluster::draw(frame, main, state, view),
        View::Hosts | View::Time => views::nodes::draw(frame, main, state),
    }
    chrome::status_bar(frame, status, state);
    match &state.popup {
        Some(Popup::Help { scroll }) => popups::help(frame, main, state, *scroll),
        Some(Popup::Palette(palette)) => popups::palette(frame, main, state, palette),
        Some(Popup::ConfirmQuit) => popups::confirm_quit(frame, main, state),
        Some(Popup::Warnings { scroll }) => popups::warnings(frame, main, state, *scroll),
        Some(Popup::Trust { context, command }) => {
            popups::trust(frame, main, state, context, command)
        }
        Some(Popup::Describe {
            title,
            text,
            scroll,
        }) => popups::describe(frame, main, state, title, text.as_ref(), *scroll),
        Some(Popup::NodeCommand(command)) => node_command::draw(frame, main, state, command),
        Some(Popup::AcceptKey(key)) => node_command::accept_key(frame, main, state, key),
        None => {}
    }
    if !state.which_key.is_empty() {
        popups::which_key(frame, main, state);
    }
}

/// A rectangle of at most `width` x `height` centred in `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}
