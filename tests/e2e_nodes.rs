//! End to end: the real `sitedeck` binary in a pseudo-terminal against the
//! lab's nodes (real sshd behind a real sshd bastion, chronyd as the
//! site's NTP server): the Time view shows the skewed clocks, the largest
//! skew and the node without a time daemon; the Hosts view the nearly
//! full disk.

mod support;

use std::time::Duration;

use sitedeck_lab::nodes::LabNodes;
use support::pty::Tui;

/// Generous: the debug binary on a busy two-core machine.
const T: Duration = Duration::from_secs(40);

#[test]
fn the_time_and_hosts_views_show_the_labs_nodes() {
    let home = tempfile::tempdir().expect("temp dir");
    let nodes = LabNodes::start(&home.path().join("nodes")).expect("the lab's nodes");
    let site = home.path().join("site.yaml");
    std::fs::write(&site, nodes.site(home.path()).expect("site")).expect("profile");
    let mut tui = Tui::start(home.path(), ["--site".as_ref(), site.as_os_str()], 120, 36);
    tui.wait_for("Site nodes-lab", T);
    tui.send("gt");
    let screen = tui.wait_for("largest skew", T);
    assert!(screen.contains("acme-worker-1 +35"), "{screen}");
    assert!(screen.contains("acme-worker-2 -1"), "{screen}");
    tui.wait_for("acme-worker-2 runs no time daemon that answers", T);
    tui.send("gN");
    let screen = tui.wait_for("is 93 % full", T);
    assert!(screen.contains("Hosts 3"), "{screen}");
    // r reads them again.
    tui.send("r");
    tui.wait_for("nodes read", T);
    tui.quit(T);
}
