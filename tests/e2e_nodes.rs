//! End to end: the real `sitedeck` binary in a pseudo-terminal against the
//! lab's nodes (real sshd behind a real sshd bastion, chronyd as the
//! site's NTP server): the Time view shows the skewed clocks, the largest
//! skew and the node without a time daemon; the Hosts view the nearly
//! full disk, and the nodes that answer while a hung one is waited for.

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
    // A fourth node that accepts and never says a word (a hung sshd),
    // where the bastion reaches it.
    let namespace = nodes.bastion_namespace().expect("a lab network (root)");
    let address: std::net::SocketAddr = (
        nodes
            .bastion
            .host
            .parse::<std::net::IpAddr>()
            .expect("an address"),
        0,
    )
        .into();
    let silent = sitedeck_lab::netns::bind_in(&namespace, address).expect("listener");
    let hung_port = silent.local_addr().expect("address").port();
    sitedeck_lab::hold_silently(silent);
    let site = home.path().join("site.yaml");
    let text = nodes.site(home.path()).expect("site").replace(
        "time:",
        &format!(
            "    - {{name: acme-hung, host: {}, port: {hung_port}}}\ntime:",
            nodes.bastion.host
        ),
    );
    std::fs::write(&site, text).expect("profile");
    let mut tui = Tui::start(home.path(), ["--site".as_ref(), site.as_os_str()], 120, 36);
    tui.wait_for("Site nodes-lab", T);
    // The nodes that answer are shown while the hung one is still waited
    // for (its timeout is 10 s).
    tui.send("gN");
    let screen = tui.wait_for("is 93 % full", T);
    assert!(screen.contains("reading…"), "{screen}");
    assert!(!screen.contains("acme-hung"), "{screen}");
    tui.wait_for("acme-hung", T);
    tui.send("gt");
    let screen = tui.wait_for("largest skew", T);
    assert!(screen.contains("acme-worker-1 +35"), "{screen}");
    assert!(screen.contains("acme-worker-2 -1"), "{screen}");
    tui.wait_for("acme-worker-2 runs no time daemon that answers", T);
    tui.send("gN");
    let screen = tui.wait_for("is 93 % full", T);
    assert!(screen.contains("Hosts 4"), "{screen}");
    // r reads them again; the hung one is said.
    tui.send("r");
    tui.wait_for("reading the nodes over SSH", T);
    tui.wait_for("1 node(s) could not be read", T);
    tui.quit(T);
}
