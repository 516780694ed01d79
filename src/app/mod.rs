//! The application core: State, Action, `update` and the effects it asks
//! for. Everything here is synchronous and does no I/O; the event loop in
//! [`run`] feeds it and carries out the effects.

pub mod action;
pub mod cluster;
pub mod effect;
pub mod journal;
pub mod kafka;
pub mod logs;
pub mod middleware;
pub mod node_command;
pub mod node_effects;
pub mod nodes;
pub mod palette;
pub mod run;
pub mod site_load;
pub mod state;
pub mod table;
pub mod update;

pub use action::Action;
pub use effect::Effect;
pub use state::State;
pub use update::update;
