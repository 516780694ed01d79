//! Connections through the bastion over one SSH session (a real sshd from
//! Debian as the bastion): many at once through a loopback listener, in
//! both directions and whole; a port nothing listens on is said and the
//! tunnel goes on; a bastion that goes away ends the tunnel with its
//! reason.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sitedeck_lab::sshd::SshNode;
use support::ssh::{known, trust, tunnel};

mod support;

/// A TCP service on 127.0.0.1 that sends back what it reads, until
/// the test ends (its threads end with the process).
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = stream.try_clone().expect("clone");
                let mut writer = stream;
                let _ = std::io::copy(&mut reader, &mut writer);
            });
        }
    });
    port
}

/// Sends `size` bytes of a pattern through `stream` and reads them back.
fn round_trip(mut stream: TcpStream, size: usize, seed: u8) -> Vec<u8> {
    let sent: Vec<u8> = (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let mut writer = stream.try_clone().expect("clone");
    let to_send = sent.clone();
    let writing = std::thread::spawn(move || writer.write_all(&to_send).expect("write"));
    let mut back = vec![0u8; size];
    stream.read_exact(&mut back).expect("read back");
    writing.join().expect("writer");
    assert_eq!(back, sent, "the bytes came back whole and in order");
    back
}

#[test]
fn many_connections_at_once_go_through_one_bastion_session_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bastion = SshNode::start(&dir.path().join("bastion")).expect("bastion");
    let known = known(dir.path());
    trust(&known, &bastion);
    let echo = echo_server();
    let tunnel = tunnel(&bastion, &known);
    let local = tunnel.listen("127.0.0.1", echo).expect("a listener");
    assert_eq!(
        tunnel.listen("127.0.0.1", echo).expect("again"),
        local,
        "one listener per host and port"
    );
    let clients: Vec<_> = (0..12u8)
        .map(|seed| {
            std::thread::spawn(move || {
                let stream = TcpStream::connect(local).expect("connect");
                round_trip(stream, 256 * 1024, seed).len()
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().expect("client"), 256 * 1024);
    }
    // One login, every connection a forward on it.
    let log = std::fs::read_to_string(bastion.dir.join("sshd.log")).expect("log");
    assert_eq!(log.matches("Accepted publickey").count(), 1, "{log}");
    assert!(
        log.matches(&format!("port {echo}")).count() >= 12,
        "each connection is forwarded: {log}"
    );
    assert!(tunnel.ended().is_none());
}

#[test]
fn a_port_nothing_listens_on_is_said_and_the_tunnel_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bastion = SshNode::start(&dir.path().join("bastion")).expect("bastion");
    let known = known(dir.path());
    trust(&known, &bastion);
    let closed = sitedeck_lab::free_port().expect("a free port");
    let tunnel = tunnel(&bastion, &known);
    let error = tunnel
        .connect("127.0.0.1", closed)
        .expect_err("nothing listens");
    assert!(
        error.contains("could not connect to 127.0.0.1:") && error.contains("bastion"),
        "{error}"
    );
    // Through a listener the client sees the connection close, and the
    // tunnel keeps the reason.
    let local = tunnel.listen("127.0.0.1", closed).expect("a listener");
    let mut stream = TcpStream::connect(local).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert_eq!(stream.read(&mut byte).expect("closed"), 0);
    let failure = tunnel
        .failure_to("127.0.0.1", closed)
        .expect("the failure is kept");
    assert!(failure.contains(&format!(":{closed}")), "{failure}");
    // The same session still carries.
    let echo = echo_server();
    let stream = tunnel.connect("127.0.0.1", echo).expect("a connection");
    let mut stream = stream;
    stream.write_all(b"still here").expect("write");
    let mut back = [0u8; 10];
    stream.read_exact(&mut back).expect("read");
    assert_eq!(&back, b"still here");
}

#[test]
fn a_bastion_that_goes_away_ends_the_tunnel_with_its_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bastion = SshNode::start(&dir.path().join("bastion")).expect("bastion");
    let known = known(dir.path());
    trust(&known, &bastion);
    let echo = echo_server();
    let tunnel = tunnel(&bastion, &known);
    let mut open = tunnel.connect("127.0.0.1", echo).expect("a connection");
    // sshd's session process for this login ends with the server.
    drop(bastion);
    let started = Instant::now();
    while tunnel.ended().is_none() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let why = tunnel.ended().expect("the tunnel ended");
    assert!(why.contains("bastion"), "{why}");
    // The open connection is closed, not left hanging.
    open.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert!(matches!(open.read(&mut byte), Ok(0) | Err(_)));
    // New connections are refused with the reason.
    let error = tunnel.connect("127.0.0.1", echo).expect_err("ended");
    assert_eq!(error, why);
}

#[test]
fn a_host_only_the_bastion_reaches_is_reached_through_it() {
    use sitedeck_lab::netns::SiteNetwork;
    use sitedeck_lab::sshd::NodeOptions;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut network = SiteNetwork::create().expect("a lab network (root, iproute2)");
    let inside = network.add_inside_host().expect("an inside host");
    let on = |host| NodeOptions {
        host: Some(host),
        ..NodeOptions::default()
    };
    let bastion =
        SshNode::start_with(&dir.path().join("bastion"), on(network.bastion())).expect("bastion");
    let node = SshNode::start_with(&dir.path().join("node"), on(inside.clone())).expect("node");
    let known = known(dir.path());
    trust(&known, &bastion);
    // From here the inside host cannot be reached at all.
    let direct = TcpStream::connect_timeout(&(inside.address, 22).into(), Duration::from_secs(2));
    assert!(direct.is_err(), "{inside:?} is reachable from here");
    let tunnel = tunnel(&bastion, &known);
    let stream = tunnel
        .connect(&inside.address.to_string(), 22)
        .expect("through the bastion");
    let target = support::ssh::target(&node);
    let error = support::ssh::refused(sitedeck::nodes::ssh::open(
        stream,
        &target,
        &support::ssh::key_auth(&node),
        &known,
        support::ssh::TIMEOUT,
    ));
    let sitedeck::nodes::ssh::SshError::UnknownHostKey { key, .. } = error else {
        panic!("its own key is checked: {error}");
    };
    sitedeck::nodes::ssh::accept_host_key(&known, &target, &key).expect("accept");
    let session = sitedeck::nodes::jump::connect_via(
        &tunnel,
        &target,
        &support::ssh::key_auth(&node),
        &known,
        support::ssh::TIMEOUT,
    )
    .expect("a session through the bastion");
    let (status, out, _) =
        sitedeck::nodes::ssh::run(&session, "echo $SSH_CONNECTION").expect("run");
    assert_eq!(status, 0);
    // The node saw the bastion's inside address connect.
    let bastion_inside = std::net::Ipv4Addr::from(u32::from(inside.address) - 1);
    assert!(out.starts_with(&format!("{bastion_inside} ")), "{out}");
}

/// CPU time of this process so far, in clock ticks (utime + stime).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn a_closed_connection_to_a_silent_host_neither_spins_nor_lingers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bastion = SshNode::start(&dir.path().join("bastion")).expect("bastion");
    let known = known(dir.path());
    trust(&known, &bastion);
    // A host that accepts and never says a word (a hung sshd).
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    sitedeck_lab::hold_silently(silent);
    let tunnel = tunnel(&bastion, &known);
    let stream = tunnel.connect("127.0.0.1", port).expect("a connection");
    // Our side gives up (as a handshake that timed out does), and the
    // handle goes: the carrier must wait quietly, then let go.
    drop(stream);
    drop(tunnel);
    let before = cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks() - before;
    // A spinning carrier would use about 200 ticks of the 2 s.
    assert!(used < 60, "{used} ticks in 2 s: a busy loop");
    // After the grace period the bastion's forward is closed.
    std::thread::sleep(Duration::from_secs(4));
    let log = std::fs::read_to_string(bastion.dir.join("sshd.log")).expect("log");
    assert!(
        log.contains("channel 0: free: direct-tcpip"),
        "the forward is still open: {log}"
    );
}
