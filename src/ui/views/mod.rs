//! One file per view.

pub mod cluster;
pub mod cluster_pane;
pub mod kafka;
pub mod middleware;
pub mod overview;
pub mod sites;

use crate::config::theme::Role;
use crate::probe::ProbeState;

/// The theme role for a probe state.
pub fn state_role(state: ProbeState) -> Role {
    match state {
        ProbeState::Up => Role::StatusOk,
        ProbeState::Pending => Role::StatusUnknown,
        ProbeState::ConfigError | ProbeState::Degraded => Role::StatusWarn,
        _ => Role::StatusCrit,
    }
}
