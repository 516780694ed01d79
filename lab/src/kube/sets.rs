//! The StatefulSet and DaemonSet controllers on the rollout simulation's
//! runtime: [`super::rollout::Controller`] hands them every change it
//! reads, and they sync the sets those changes touch (a set itself, its
//! pods or revisions; for DaemonSets, any node).

use std::collections::BTreeSet;
use std::time::Instant;

use super::revisions::SetKinds;
use super::rollout::{ControllerState, Key, controller_of};
use super::store::{Change, ObjectStore};
use super::{daemonset, statefulset};

/// The storages whose changes the set controllers read.
pub const WATCHED: [&str; 5] = [
    "statefulsets",
    "daemonsets",
    "controllerrevisions",
    "nodes",
    "pods",
];

/// The sets to sync on the next pass.
#[derive(Debug)]
pub struct SetControllers {
    kinds: Option<SetKinds>,
    stateful_sets: BTreeSet<Key>,
    daemon_sets: BTreeSet<Key>,
    every_daemon_set: bool,
}

impl Default for SetControllers {
    fn default() -> Self {
        Self {
            kinds: SetKinds::find(),
            stateful_sets: BTreeSet::new(),
            daemon_sets: BTreeSet::new(),
            every_daemon_set: false,
        }
    }
}

impl SetControllers {
    /// Notes the set a change touches, if any.
    pub fn note(&mut self, change: &Change) {
        let key = (change.key.namespace.clone(), change.key.name.clone());
        match change.key.storage {
            "statefulsets" => {
                self.stateful_sets.insert(key);
            }
            "daemonsets" => {
                self.daemon_sets.insert(key);
            }
            "nodes" => self.every_daemon_set = true,
            "pods" | "controllerrevisions" => match controller_of(&change.object) {
                Some(owner) if owner.kind == "StatefulSet" => {
                    self.stateful_sets.insert((key.0, owner.name));
                }
                Some(owner) if owner.kind == "DaemonSet" => {
                    self.daemon_sets.insert((key.0, owner.name));
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// Syncs every noted set, one step each.
    pub fn reconcile(
        &mut self,
        store: &mut ObjectStore,
        state: &mut ControllerState,
        now: Instant,
    ) {
        let Some(kinds) = self.kinds else { return };
        if std::mem::take(&mut self.every_daemon_set) {
            let all = store
                .list(kinds.daemon_sets, None, None)
                .map(|(key, _)| (key.namespace.clone(), key.name.clone()));
            self.daemon_sets.extend(all.collect::<Vec<_>>());
        }
        for key in std::mem::take(&mut self.stateful_sets) {
            statefulset::sync(store, &kinds, state, &key, now);
        }
        for key in std::mem::take(&mut self.daemon_sets) {
            daemonset::sync(store, &kinds, state, &key, now);
        }
    }
}
