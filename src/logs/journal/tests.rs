use super::*;

fn node() -> (Arc<str>, Arc<str>) {
    ("n1".into(), "kubelet".into())
}

#[test]
fn entries_are_taken_apart() {
    let (node, unit) = node();
    let names = FieldNames::default();
    let line = line_of(
        "2026-12-03T10:00:00.123456+0000 node-1 kubelet[812]: E1203 10:00:00.123456     812 pod_workers.go:1298] \"Error syncing pod\"",
        &node,
        &unit,
        &names,
        None,
    )
    .expect("a line");
    assert_eq!(&*line.namespace, NAMESPACE);
    assert_eq!(&*line.pod, "n1");
    assert_eq!(&*line.container, "kubelet[812]");
    assert_eq!(line.at.timestamp_subsec_micros(), 123_456);
    assert_eq!(line.parsed.level, Some(crate::logs::parse::Level::Error));
    assert!(
        line.raw.starts_with("E1203 10:00:00.123456"),
        "{}",
        line.raw
    );

    // Newer systemd writes the offset with a colon; the time is UTC.
    let line = line_of(
        "2026-12-03T11:00:00.5+01:00 node-1 containerd[90]: level=warn msg=\"slow\"",
        &node,
        &unit,
        &names,
        None,
    )
    .expect("a line");
    assert_eq!(line.at.to_rfc3339(), "2026-12-03T10:00:00.500+00:00");
    assert_eq!(line.parsed.level, Some(crate::logs::parse::Level::Warn));
    assert_eq!(line.parsed.message, "slow");
}

#[test]
fn notes_and_continuations() {
    let (node, unit) = node();
    let names = FieldNames::default();
    assert_eq!(
        JournalLine::split("-- No entries --"),
        Some(JournalLine::Note("No entries"))
    );
    assert!(line_of("-- Boot 3f2a --", &node, &unit, &names, None).is_none());
    assert!(line_of("   ", &node, &unit, &names, None).is_none());
    let before = parse_stamp("2026-12-03T10:00:00.000001+0000");
    let line = line_of("    at the second line", &node, &unit, &names, before).expect("kept");
    assert_eq!(Some(line.at), before);
    assert_eq!(&*line.container, "kubelet");
    // An entry without an identifier keeps the unit's name.
    let line = line_of(
        "2026-12-03T10:00:00.000001+0000 node-1 a message: with words",
        &node,
        &unit,
        &names,
        None,
    )
    .expect("kept");
    assert_eq!(line.raw, "a message: with words");
}

#[test]
fn the_command_asks_what_was_asked() {
    let mut request = JournalRequest::new("n1", "containerd.service");
    assert_eq!(
        request.command(),
        "journalctl -u 'containerd.service' -o short-iso-precise --no-pager -n 500 -f"
    );
    request.follow = false;
    request.entries = None;
    request.since = Some(Duration::from_secs(600));
    assert_eq!(
        request.command(),
        "journalctl -u 'containerd.service' -o short-iso-precise --no-pager --since=-600s"
    );
}

#[test]
fn unit_names_that_could_be_anything_else_are_refused() {
    for good in [
        "kubelet",
        "containerd.service",
        "getty@tty1.service",
        "a-b_c:d",
    ] {
        assert!(check_unit(good).is_ok(), "{good}");
    }
    for bad in ["", "-f", "kube let", "x';reboot'", "a\x1b]0;x\x07", "$(id)"] {
        assert!(check_unit(bad).is_err(), "{bad:?}");
    }
    let error = check_unit("a\x1b[2J").expect_err("refused").to_string();
    assert!(!error.contains('\x1b'), "{error}");
}
