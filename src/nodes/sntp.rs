//! An SNTP query (RFC 4330) from this host to the site's NTP server: one
//! request, the server's answer checked (a server's answer to this
//! request, not a kiss-of-death), and this host's offset from it with the
//! round trip. Blocking: run it on the blocking pool.

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Seconds from 1900 (NTP's era 0) to 1970.
const NTP_TO_UNIX: u64 = 2_208_988_800;

/// What the NTP server said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SntpReading {
    /// The server as the profile names it.
    pub server: String,
    /// This host's clock minus the server's, ms (positive: this host is
    /// ahead).
    pub offset_ms: f64,
    /// The round trip, less the server's own time, ms.
    pub delay_ms: f64,
    /// The server's stratum (1: a reference clock; 16: unsynchronised).
    pub stratum: u8,
    /// Its reference: an IPv4 address, or a code such as `GPS` or `LOCL`.
    pub reference: String,
}

/// Asks `server` (`host` or `host:port`; port 123 by default) for the
/// time, waiting at most `timeout` for the answer.
pub fn query(server: &str, timeout: Duration) -> Result<SntpReading, String> {
    let with_port = if server
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !server.ends_with(']')
    {
        server.to_owned()
    } else {
        format!("{server}:123")
    };
    let address = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("{server} has no address"))?;
    let bind = if address.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("no UDP socket: {e}"))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| format!("no UDP socket: {e}"))?;
    socket
        .connect(address)
        .map_err(|e| format!("cannot reach {server}: {e}"))?;
    let sent_at = SystemTime::now();
    let request = request(ntp_timestamp(sent_at));
    socket
        .send(&request)
        .map_err(|e| format!("cannot send to {server}: {e}"))?;
    let mut answer = [0u8; 68];
    let read = socket.recv(&mut answer).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
            "{server} did not answer within {:.1} s (UDP port {} closed or filtered?)",
            timeout.as_secs_f64(),
            address.port()
        ),
        _ => format!("no answer from {server}: {e}"),
    })?;
    let received_at = SystemTime::now();
    let answer = answer.get(..read).unwrap_or_default();
    reading(server, &request, answer, received_at)
}

/// A client request: version 4, mode 3, our send time as the transmit
/// timestamp (the server echoes it back as the originate timestamp).
fn request(transmit: u64) -> [u8; 48] {
    let mut packet = [0u8; 48];
    packet[0] = 0b00_100_011;
    packet[40..48].copy_from_slice(&transmit.to_be_bytes());
    packet
}

/// Reads the server's answer to `request`, received at `received_at`.
fn reading(
    server: &str,
    request: &[u8; 48],
    answer: &[u8],
    received_at: SystemTime,
) -> Result<SntpReading, String> {
    if answer.len() < 48 {
        return Err(format!(
            "{server} sent {} bytes, not an NTP answer",
            answer.len()
        ));
    }
    let word = |at: usize| {
        answer
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    };
    let mode = answer[0] & 0b111;
    if mode != 4 {
        return Err(format!("{server} answered in mode {mode}, not as a server"));
    }
    let stratum = answer[1];
    if answer[0] >> 6 == 3 {
        return Err(format!(
            "{server} says its own clock is not synchronised (leap indicator 3)"
        ));
    }
    let reference_bytes = answer.get(12..16).unwrap_or_default();
    if stratum == 0 {
        let code = String::from_utf8_lossy(reference_bytes)
            .trim_end_matches('\0')
            .to_owned();
        return Err(format!("{server} refused the query (kiss-of-death {code})"));
    }
    if answer.get(24..32) != request.get(40..48) {
        return Err(format!("{server} answered another request"));
    }
    let reference = if stratum == 1 {
        String::from_utf8_lossy(reference_bytes)
            .trim_end_matches('\0')
            .to_owned()
    } else {
        reference_bytes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(".")
    };
    let seconds =
        |stamp: u64| (stamp >> 32) as f64 + (stamp & 0xffff_ffff) as f64 / 4_294_967_296.0;
    let sent = seconds(word(24));
    let server_received = seconds(word(32));
    let server_sent = seconds(word(40));
    let received = seconds(ntp_timestamp(received_at));
    let server_ahead = ((server_received - sent) + (server_sent - received)) / 2.0;
    let delay = (received - sent) - (server_sent - server_received);
    Ok(SntpReading {
        server: server.to_owned(),
        offset_ms: -server_ahead * 1000.0,
        delay_ms: delay * 1000.0,
        stratum,
        reference,
    })
}

/// `time` as an NTP timestamp: seconds since 1900 and a 32-bit fraction.
fn ntp_timestamp(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let fraction = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    ((since.as_secs() + NTP_TO_UNIX) << 32) | fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's answer to `request`: stamps as given, seconds from 1970.
    fn answer(request: &[u8; 48], stratum: u8, received: f64, sent: f64) -> Vec<u8> {
        let stamp = |s: f64| ntp_timestamp(UNIX_EPOCH + Duration::from_secs_f64(s)).to_be_bytes();
        let mut packet = vec![0u8; 48];
        packet[0] = 0b00_100_100;
        packet[1] = stratum;
        packet[12..16].copy_from_slice(&[10, 20, 0, 1]);
        packet[24..32].copy_from_slice(&request[40..48]);
        packet[32..40].copy_from_slice(&stamp(received));
        packet[40..48].copy_from_slice(&stamp(sent));
        packet
    }

    #[test]
    fn a_server_ahead_gives_a_negative_offset_and_the_delay_excludes_its_own_time() {
        // Sent at 1000.000, the server (0.5 s ahead) got it at 1000.510 of
        // its clock and answered at 1000.530; back here at 1000.040.
        let request = request(ntp_timestamp(UNIX_EPOCH + Duration::from_secs(1000)));
        let packet = answer(&request, 2, 1000.510, 1000.530);
        let at = UNIX_EPOCH + Duration::from_secs_f64(1000.040);
        let reading = reading("ntp", &request, &packet, at).expect("a reading");
        assert!((reading.offset_ms + 500.0).abs() < 0.01, "{reading:?}");
        assert!((reading.delay_ms - 20.0).abs() < 0.01, "{reading:?}");
        assert_eq!(
            (reading.stratum, reading.reference.as_str()),
            (2, "10.20.0.1")
        );
    }

    #[test]
    fn a_kiss_of_death_an_answer_to_another_request_and_a_short_packet_are_refused() {
        let request = request(ntp_timestamp(UNIX_EPOCH + Duration::from_secs(1000)));
        let at = UNIX_EPOCH + Duration::from_secs(1000);
        let mut kiss = answer(&request, 0, 1000.0, 1000.0);
        kiss[12..16].copy_from_slice(b"RATE");
        let error = reading("ntp", &request, &kiss, at).expect_err("kiss-of-death");
        assert!(error.contains("kiss-of-death RATE"), "{error}");
        let mut other = answer(&request, 2, 1000.0, 1000.0);
        other[24] ^= 1;
        let error = reading("ntp", &request, &other, at).expect_err("another request");
        assert!(error.contains("another request"), "{error}");
        let error = reading("ntp", &request, &[0x24; 20], at).expect_err("short");
        assert!(error.contains("20 bytes"), "{error}");
    }
}
