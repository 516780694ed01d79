//! A site of sshd nodes whose `journalctl` is a stand-in (the lab's nodes
//! run no systemd): a shell script first on the sessions' PATH that
//! prints journal lines, one with an escape sequence, and with `-f` one
//! more every 200 ms, recording its pid so a test can see it ended.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sitedeck_lab::sshd::{NodeOptions, SshNode};

/// What a node's `journalctl` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    /// Two entries (the second with `ESC ] 0 ; owned BEL`), then with `-f`
    /// `tick N` every 200 ms; `-u nothing`: `-- No entries --`.
    Kubelet,
    /// As journalctl run by a user outside systemd-journal and adm: the
    /// hint on stderr, no entries, and with `-f` it waits (5 s, silent).
    Unreadable,
    /// There is none on the PATH.
    Missing,
}

const KUBELET: &str = r#"#!/bin/sh
# A stand-in for journalctl -o short-iso-precise.
here=$(dirname "$0")
echo $$ >> "$here/journalctl.pids"
echo "$*" > "$here/journalctl.args"
follow=no
for a in "$@"; do [ "$a" = -f ] && follow=yes; done
now() { date -u +%Y-%m-%dT%H:%M:%S.%6N+0000; }
if [ "$2" = nothing ]; then echo '-- No entries --'; exit 0; fi
echo '-- Journal begins at Mon 2026-11-30 08:00:00 UTC. --'
printf '%s node-1 kubelet[812]: I1203 10:00:00.000001     812 kubelet.go:1] "Starting kubelet"\n' "$(now)"
printf '%s node-1 kubelet[812]: E1203 10:00:00.000002     812 pod_workers.go:2] "Error syncing pod" title=\033]0;owned\007 end\n' "$(now)"
if [ $follow = yes ]; then
  n=0
  while :; do
    sleep 0.2
    n=$((n + 1))
    printf '%s node-1 kubelet[812]: W1203 10:00:01.000000     812 kubelet.go:3] "tick %d"\n' "$(now)" $n
  done
fi
"#;

const UNREADABLE: &str = r#"#!/bin/sh
here=$(dirname "$0")
echo $$ >> "$here/journalctl.pids"
echo 'Hint: You are currently not seeing messages from other users and the system.' >&2
echo "      Users in groups 'adm', 'systemd-journal' can see all messages." >&2
echo '-- No entries --'
for a in "$@"; do
  if [ "$a" = -f ]; then i=0; while [ $i -lt 25 ]; do sleep 0.2; i=$((i + 1)); done; fi
done
"#;

/// A node named `name` in `dir/name` whose `journalctl` does `journal`;
/// the stand-in's directory is `dir/name-bin`.
pub fn node(dir: &Path, name: &str, journal: Journal) -> SshNode {
    let bin = dir.join(format!("{name}-bin"));
    std::fs::create_dir_all(&bin).expect("bin dir");
    let script = match journal {
        Journal::Kubelet => Some(KUBELET),
        Journal::Unreadable => Some(UNREADABLE),
        Journal::Missing => None,
    };
    let path = match script {
        Some(script) => {
            let file = bin.join("journalctl");
            std::fs::write(&file, script).expect("the stand-in");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
                .expect("executable");
            format!("{}:/usr/bin:/bin", bin.display())
        }
        // No /usr/bin nor /bin: this machine has a real journalctl there.
        None => bin.display().to_string(),
    };
    let options = NodeOptions {
        path: Some(path),
        ..NodeOptions::default()
    };
    SshNode::start_with(&dir.join(name), options).expect("a node")
}

/// A site `acme` (poc) of `nodes`, each trusted and logged into with n1's
/// key. Returns the profile's path.
pub fn site(dir: &Path, nodes: &[(&str, &SshNode)]) -> PathBuf {
    let known = super::ssh::known(dir);
    let first = nodes.first().expect("a node").1;
    let mut listed = String::new();
    for (name, node) in nodes {
        std::fs::copy(
            first.client_key.with_extension("pub"),
            node.dir.join("authorized_keys"),
        )
        .expect("one key for all");
        super::ssh::trust(&known, node);
        listed.push_str(&format!(
            "    - {{name: {name}, host: 127.0.0.1, port: {port}}}\n",
            port = node.port
        ));
    }
    let profile = dir.join("site.yaml");
    std::fs::write(
        &profile,
        format!(
            "name: acme\nenvironment: poc\nssh:\n  user: {user}\n  identity: {key}\n  nodes:\n{listed}",
            user = first.user,
            key = first.client_key.display(),
        ),
    )
    .expect("profile");
    profile
}

/// The pids the stand-in of node `name` recorded.
pub fn pids(dir: &Path, name: &str) -> Vec<u32> {
    std::fs::read_to_string(dir.join(format!("{name}-bin/journalctl.pids")))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Whether `pid` runs (a zombie does not).
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Waits until no stand-in of node `name` runs; panics after `timeout`.
pub fn wait_ended(dir: &Path, name: &str, timeout: Duration) {
    let start = Instant::now();
    loop {
        let alive: Vec<u32> = pids(dir, name)
            .into_iter()
            .filter(|p| running(*p))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "journalctl of {name} still runs after {timeout:?}: {alive:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
