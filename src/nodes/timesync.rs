//! A node's time daemon, as it reports itself: chrony (`chronyc -c
//! tracking` and `sources`), ntpd (`ntpq -pn`) or systemd-timesyncd
//! (`timedatectl show-timesync`): which one answers, whether it is
//! synchronised, its selected source, the node's stratum and the daemon's
//! own offset estimate. One shell command reads them all; the first
//! daemon that answers is the node's.

use serde::Serialize;

/// The shell command that asks each daemon, each answer after a marker.
/// Every client is bounded by `timeout`, so a hung daemon cannot hold the
/// node's session.
pub const DAEMON_COMMAND: &str = "\
has() { command -v \"$1\" >/dev/null 2>&1; }; \
echo '@@chrony'; has chronyc && timeout 5 chronyc -n -c tracking 2>&1; \
echo '@@chrony-sources'; has chronyc && timeout 5 chronyc -n -c sources 2>&1; \
echo '@@ntpq'; has ntpq && timeout 5 ntpq -pn 2>&1; \
echo '@@timesyncd'; has timedatectl && timeout 5 timedatectl show-timesync 2>&1; \
echo '@@timedatectl'; has timedatectl && timeout 5 timedatectl show 2>&1; \
echo '@@end'";

/// Which daemon keeps the node's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DaemonKind {
    /// chronyd.
    Chrony,
    /// ntpd (or ntpsec).
    Ntpd,
    /// systemd-timesyncd.
    Timesyncd,
    /// None answered.
    None,
}

impl DaemonKind {
    /// The daemon's name as shown.
    pub fn label(self) -> &'static str {
        match self {
            Self::Chrony => "chrony",
            Self::Ntpd => "ntpd",
            Self::Timesyncd => "timesyncd",
            Self::None => "none",
        }
    }
}

/// What the node's time daemon says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonState {
    /// Which daemon answered.
    pub daemon: DaemonKind,
    /// Whether it is synchronised to a source; `None` when it cannot say.
    pub synced: Option<bool>,
    /// The selected source (address or name).
    pub source: Option<String>,
    /// The node's own stratum (its source's + 1).
    pub stratum: Option<u8>,
    /// The daemon's estimate of the node's offset from true time, ms
    /// (positive: the node is ahead).
    pub offset_ms: Option<f64>,
    /// Sources the daemon can reach, of those it has.
    pub reachable_sources: Option<(usize, usize)>,
    /// What the daemons said when none could be read.
    pub note: Option<String>,
}

impl DaemonState {
    fn of(daemon: DaemonKind) -> Self {
        Self {
            daemon,
            synced: None,
            source: None,
            stratum: None,
            offset_ms: None,
            reachable_sources: None,
            note: None,
        }
    }
}

/// One line for the operator: `chrony, synced to 10.20.0.1 (stratum 3),
/// +0.4 ms`, or why nothing could be said.
pub fn describe(state: &DaemonState) -> String {
    if let Some(note) = &state.note {
        return crate::text::one_line(note);
    }
    let mut line = state.daemon.label().to_owned();
    match (state.synced, &state.source) {
        (Some(true), Some(source)) => {
            line.push_str(&format!(", synced to {}", crate::text::one_line(source)));
        }
        (Some(true), None) => line.push_str(", synced"),
        (Some(false), _) => line.push_str(", NOT synchronised"),
        (None, _) => line.push_str(", synchronisation unknown"),
    }
    if let Some(stratum) = state.stratum {
        line.push_str(&format!(" (stratum {stratum})"));
    }
    if let Some(offset) = state.offset_ms {
        line.push_str(&format!(", {offset:+.1} ms"));
    }
    if let Some((reachable, total)) = state.reachable_sources
        && reachable < total
    {
        line.push_str(&format!(", {reachable} of {total} sources reachable"));
    }
    line
}

/// Reads the output of [`DAEMON_COMMAND`].
pub fn parse(output: &str) -> DaemonState {
    // A section: the lines after its marker, up to the next marker.
    let section = |name: &str| -> String {
        let marker = format!("@@{name}");
        output
            .lines()
            .skip_while(|line| *line != marker)
            .skip(1)
            .take_while(|line| !line.starts_with("@@"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if let Some(state) = chrony(&section("chrony"), &section("chrony-sources")) {
        return state;
    }
    if let Some(state) = ntpd(&section("ntpq")) {
        return state;
    }
    if let Some(state) = timesyncd(&section("timesyncd"), &section("timedatectl")) {
        return state;
    }
    let said: Vec<String> = ["chrony", "ntpq", "timesyncd"]
        .into_iter()
        .filter_map(|name| {
            let text = section(name);
            let first = text.lines().next()?;
            Some(format!("{name}: {}", crate::text::one_line(first)))
        })
        .collect();
    DaemonState {
        note: Some(if said.is_empty() {
            "no time daemon found (chronyc, ntpq and timedatectl are not installed)".into()
        } else {
            format!("no time daemon answered ({})", said.join("; "))
        }),
        ..DaemonState::of(DaemonKind::None)
    }
}

/// chrony's CSV tracking line: refid, name, stratum, ref time, system
/// time correction (negative: fast), …, leap status (14th).
fn chrony(tracking: &str, sources: &str) -> Option<DaemonState> {
    let fields: Vec<&str> = tracking.lines().next()?.split(',').collect();
    if fields.len() < 14 {
        return None;
    }
    let stratum: u8 = fields.get(2)?.parse().ok()?;
    let correction: f64 = fields.get(4)?.parse().ok()?;
    let leap = fields.get(13)?.trim();
    let reference_id = fields.first()?.trim();
    let synced = leap != "Not synchronised" && reference_id != "00000000" && stratum < 16;
    let mut state = DaemonState::of(DaemonKind::Chrony);
    state.synced = Some(synced);
    state.stratum = synced.then_some(stratum);
    state.source = synced
        .then(|| fields.get(1).map(|name| (*name).to_owned()))
        .flatten();
    state.offset_ms = synced.then_some(-correction * 1000.0);
    // `^,*,10.20.0.1,…`: mode, state, name, stratum, poll, reach (octal).
    let mut total = 0;
    let mut reachable = 0;
    for line in sources.lines() {
        let columns: Vec<&str> = line.split(',').collect();
        if columns.len() < 6 || !matches!(columns.first(), Some(&"^" | &"=" | &"#")) {
            continue;
        }
        total += 1;
        if columns.get(5).is_some_and(|reach| *reach != "0") {
            reachable += 1;
        }
    }
    state.reachable_sources = (total > 0).then_some((reachable, total));
    Some(state)
}

/// `ntpq -pn`: a peer table; the line starting `*` is the selected
/// source; its offset (ms) is the server's relative to the node.
fn ntpd(peers: &str) -> Option<DaemonState> {
    let mut lines = peers.lines();
    lines.find(|line| line.trim_start().starts_with("remote"))?;
    let mut state = DaemonState::of(DaemonKind::Ntpd);
    let mut total = 0;
    let mut reachable = 0;
    state.synced = Some(false);
    // A remote too long for its column (an IPv6 address) is on a line of
    // its own, the rest of its row on the next.
    let mut rows: Vec<String> = Vec::new();
    let mut pending: Option<&str> = None;
    for line in lines.filter(|line| !line.starts_with("===")) {
        match (pending.take(), line.split_whitespace().count()) {
            (None, 1) => pending = Some(line.trim()),
            (Some(remote), _) => rows.push(format!("{remote} {line}")),
            (None, _) => rows.push(line.to_owned()),
        }
    }
    for line in &rows {
        let columns: Vec<&str> = line.split_whitespace().collect();
        if columns.len() < 10 {
            continue;
        }
        total += 1;
        if columns.get(6).is_some_and(|reach| *reach != "0") {
            reachable += 1;
        }
        // `*` is the system peer, `o` the same with PPS.
        let Some(remote) = columns
            .first()
            .and_then(|r| r.strip_prefix('*').or_else(|| r.strip_prefix('o')))
        else {
            continue;
        };
        state.synced = Some(true);
        state.source = Some(remote.to_owned());
        state.stratum = columns
            .get(2)
            .and_then(|st| st.parse::<u8>().ok())
            .map(|st| st.saturating_add(1));
        state.offset_ms = columns
            .get(8)
            .and_then(|offset| offset.parse::<f64>().ok())
            .map(|offset| -offset);
    }
    state.reachable_sources = (total > 0).then_some((reachable, total));
    Some(state)
}

/// `timedatectl show-timesync` (ServerName, ServerAddress, NTPMessage
/// with the server's Stratum) and `timedatectl show` (NTPSynchronized).
fn timesyncd(timesync: &str, timedatectl: &str) -> Option<DaemonState> {
    let property = |text: &str, key: &str| -> Option<String> {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
            .filter(|value| !value.is_empty())
    };
    // Without the service, show-timesync fails, and `show` says NTP=no.
    if !timesync.contains("ServerName=") && !timesync.contains("NTPMessage=") {
        return None;
    }
    let mut state = DaemonState::of(DaemonKind::Timesyncd);
    state.synced = property(timedatectl, "NTPSynchronized").map(|value| value == "yes");
    state.source = property(timesync, "ServerAddress").or_else(|| property(timesync, "ServerName"));
    state.stratum = property(timesync, "NTPMessage").and_then(|message| {
        let at = message.find("Stratum=")? + "Stratum=".len();
        let digits: String = message
            .get(at..)?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse::<u8>().ok().map(|st| st.saturating_add(1))
    });
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(parts: &[(&str, &str)]) -> String {
        let mut text = String::new();
        for name in [
            "chrony",
            "chrony-sources",
            "ntpq",
            "timesyncd",
            "timedatectl",
        ] {
            text.push_str(&format!("@@{name}\n"));
            if let Some((_, body)) = parts.iter().find(|(n, _)| *n == name) {
                text.push_str(body);
                text.push('\n');
            }
        }
        text.push_str("@@end\n");
        text
    }

    #[test]
    fn chrony_synchronised_to_its_source() {
        // Captured from chronyd 4.3 (Debian 12) synchronised to a local
        // server: 2.175 µs fast.
        let text = sections(&[
            (
                "chrony",
                "7F000001,127.0.0.1,9,1796355101.996947979,-0.000002175,0.000000098,0.000001549,-0.131,0.006,1.530,0.000008204,0.000002872,1.0,Normal",
            ),
            (
                "chrony-sources",
                "^,*,127.0.0.1,8,0,377,0,0.000000083,0.000000181,0.000004161\n^,?,10.9.9.9,0,6,0,-,0.0,0.0,0.0",
            ),
        ]);
        let state = parse(&text);
        assert_eq!(state.daemon, DaemonKind::Chrony);
        assert_eq!(state.synced, Some(true));
        assert_eq!(state.source.as_deref(), Some("127.0.0.1"));
        assert_eq!(state.stratum, Some(9));
        let offset = state.offset_ms.expect("an offset");
        assert!((offset - 0.002_175).abs() < 1e-9, "{offset}");
        assert_eq!(state.reachable_sources, Some((1, 2)));
    }

    #[test]
    fn chrony_without_a_source_is_not_synchronised() {
        let text = sections(&[(
            "chrony",
            "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised",
        )]);
        let state = parse(&text);
        assert_eq!(
            (state.daemon, state.synced, state.source, state.offset_ms),
            (DaemonKind::Chrony, Some(false), None, None)
        );
    }

    #[test]
    fn ntpd_reports_its_selected_peer() {
        let text = sections(&[
            ("chrony", "506 Cannot talk to daemon"),
            (
                "ntpq",
                "     remote           refid      st t when poll reach   delay   offset  jitter\n\
                 ==============================================================================\n\
                 *10.20.0.1       .GPS.            1 u   33   64  377    0.512   -0.123   0.045\n\
                 +10.20.0.2       10.20.0.1        2 u   12   64    0    0.601    0.234   0.067",
            ),
        ]);
        let wrapped = parse(&sections(&[(
            "ntpq",
            "     remote           refid      st t when poll reach   delay   offset  jitter\n\
             ==============================================================================\n\
             *fd00:20::1\n\
             \x20                .GPS.            1 u   33   64  377    0.512   -0.123   0.045",
        )]));
        assert_eq!(wrapped.source.as_deref(), Some("fd00:20::1"), "{wrapped:?}");
        assert_eq!(wrapped.synced, Some(true));
        let state = parse(&text);
        assert_eq!(state.daemon, DaemonKind::Ntpd);
        assert_eq!(state.synced, Some(true));
        assert_eq!(state.source.as_deref(), Some("10.20.0.1"));
        assert_eq!(state.stratum, Some(2));
        assert_eq!(state.offset_ms, Some(0.123));
        assert_eq!(state.reachable_sources, Some((1, 2)));
    }

    #[test]
    fn timesyncd_from_timedatectl() {
        let text = sections(&[
            (
                "timesyncd",
                "SystemNTPServers=\nServerName=10.20.0.1\nServerAddress=10.20.0.1\n\
                 NTPMessage={ Leap=0, Version=4, Mode=4, Stratum=2, Precision=-23, RootDelay=10.681ms }",
            ),
            (
                "timedatectl",
                "Timezone=Etc/UTC\nNTP=yes\nNTPSynchronized=yes",
            ),
        ]);
        let state = parse(&text);
        assert_eq!(state.daemon, DaemonKind::Timesyncd);
        assert_eq!(state.synced, Some(true));
        assert_eq!(state.source.as_deref(), Some("10.20.0.1"));
        assert_eq!(state.stratum, Some(3));
    }

    #[test]
    fn no_daemon_says_what_each_client_said() {
        let state = parse(&sections(&[
            ("chrony", "506 Cannot talk to daemon"),
            (
                "timesyncd",
                "Failed to query server: Could not activate remote peer.",
            ),
        ]));
        assert_eq!(state.daemon, DaemonKind::None);
        let note = state.note.expect("a note");
        assert!(note.contains("chrony: 506 Cannot talk to daemon"), "{note}");
        assert_eq!(
            parse(&sections(&[])).note.as_deref(),
            Some("no time daemon found (chronyc, ntpq and timedatectl are not installed)")
        );
    }
}
