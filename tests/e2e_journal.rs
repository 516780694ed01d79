//! End to end: a node's journal from the Hosts view, in the real binary
//! in a pseudo-terminal, against a real sshd node whose journalctl is a
//! stand-in: J shows its lines in the Logs view (the escape sequence it
//! prints shown, not obeyed) and new ones as they come; Esc leaves, and
//! journalctl on the node ends with it.

mod support;

use std::time::Duration;

use support::journal::{Journal, node, pids, running, site, wait_ended};
use support::pty::{Tui, keys};

/// Generous: the debug binary on a busy two-core machine.
const T: Duration = Duration::from_secs(40);

#[test]
fn j_in_hosts_follows_the_nodes_journal_and_esc_ends_it_on_the_node() {
    let home = tempfile::tempdir().expect("temp dir");
    let n1 = node(home.path(), "n1", Journal::Kubelet);
    let profile = site(home.path(), &[("n1", &n1)]);
    let mut tui = Tui::start(
        home.path(),
        ["--site".as_ref(), profile.as_os_str()],
        100,
        30,
    );
    tui.wait_for("Site acme", T);
    tui.send("gN");
    tui.wait_for("nodes read", T);
    tui.send("J");
    tui.wait_for("Logs journal n1 · kubelet", T);
    let screen = tui.wait_for("tick 2", T);
    assert!(screen.contains("kubelet.go:1] \"Sta"), "{screen}");
    // The node's escape sequence is shown as text (the window kept its
    // title): filtered to its line, the pane under the list shows it whole.
    tui.send("/owned");
    tui.send(keys::ENTER);
    tui.wait_for("title=\\x1b]0;owned\\x07 end", T);
    let started = pids(home.path(), "n1");
    assert_eq!(started.len(), 1, "one journalctl");
    assert!(running(started[0]), "journalctl follows");

    tui.send(keys::ESC);
    tui.wait_gone("Logs journal", T);
    tui.wait_for("nodes read", T);
    // Within the reader's poll and the next line's write.
    wait_ended(home.path(), "n1", Duration::from_secs(5));
    tui.quit(T);
}
