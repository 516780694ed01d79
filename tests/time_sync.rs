//! Time sync against real chrony (Debian's chronyd, never setting this
//! machine's clock): the SNTP query to the site's NTP server, and a
//! node's own chronyd read over SSH with its source and stratum.

use std::time::{Duration, Instant};

use sitedeck::nodes::sntp;
use sitedeck::nodes::ssh::{connect, run};
use sitedeck::nodes::timesync::{self, DaemonKind};
use sitedeck_lab::chrony::NtpServer;
use sitedeck_lab::sshd::{NodeOptions, SshNode};
use support::ssh::{TIMEOUT, key_auth, known, target, trust};

mod support;

#[test]
fn sntp_reads_the_labs_chrony_and_says_when_nothing_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = NtpServer::start(&dir.path().join("ntp")).expect("chronyd");
    let reading =
        sntp::query(&server.address.to_string(), Duration::from_secs(2)).expect("an answer");
    assert_eq!(reading.stratum, 8, "{reading:?}");
    // Its clock is this machine's: no offset to speak of.
    assert!(reading.offset_ms.abs() < 50.0, "{reading:?}");
    assert!((0.0..50.0).contains(&reading.delay_ms), "{reading:?}");
    server.stop();
    let error = sntp::query(&server.address.to_string(), Duration::from_millis(500))
        .expect_err("nothing answers");
    assert!(
        error.contains("did not answer") || error.contains("refused"),
        "{error}"
    );
}

#[test]
fn a_nodes_chrony_is_read_with_its_source_and_a_node_without_one_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = NtpServer::start(&dir.path().join("ntp")).expect("chronyd");
    let node = SshNode::start_with(
        &dir.path().join("node"),
        NodeOptions {
            ntp_server: Some(server.address),
            ..NodeOptions::default()
        },
    )
    .expect("node with chrony");
    let bare = SshNode::start(&dir.path().join("bare")).expect("node without a daemon");
    let known = known(dir.path());
    trust(&known, &node);
    trust(&known, &bare);
    let session = connect(&target(&node), &key_auth(&node), &known, TIMEOUT).expect("session");
    // chronyd takes a few polls to select its source.
    let started = Instant::now();
    let state = loop {
        let (_, out, _) = run(&session, timesync::DAEMON_COMMAND).expect("run");
        let state = timesync::parse(&out);
        if state.synced == Some(true) || started.elapsed() > Duration::from_secs(20) {
            break state;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(state.daemon, DaemonKind::Chrony, "{state:?}");
    assert_eq!(state.synced, Some(true), "{state:?}");
    assert_eq!(state.source.as_deref(), Some("127.0.0.1"), "{state:?}");
    assert_eq!(state.stratum, Some(9), "{state:?}");
    assert_eq!(state.reachable_sources, Some((1, 1)), "{state:?}");
    assert!(state.offset_ms.is_some_and(|o| o.abs() < 50.0), "{state:?}");

    let session = connect(&target(&bare), &key_auth(&bare), &known, TIMEOUT).expect("session");
    let (_, out, _) = run(&session, timesync::DAEMON_COMMAND).expect("run");
    let state = timesync::parse(&out);
    assert_eq!(state.daemon, DaemonKind::None, "{state:?}");
    assert!(
        state.note.as_deref().is_some_and(|n| n.contains("chrony:")),
        "{state:?}"
    );
}
