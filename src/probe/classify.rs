//! Turning client-library errors into states an operator can act on.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use super::ProbeState;

/// A failed probe: its state and a message that says what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure {
    /// The state to show.
    pub state: ProbeState,
    /// What happened, for the operator.
    pub message: String,
}

impl ProbeFailure {
    /// A failure with this state and message.
    pub fn new(state: ProbeState, message: impl Into<String>) -> Self {
        Self {
            state,
            message: message.into(),
        }
    }

    /// The probe ran out of time.
    pub fn timeout(after: Duration) -> Self {
        Self::new(
            ProbeState::Timeout,
            format!("timed out after {:.1} s", after.as_secs_f64()),
        )
    }

    /// The profile does not say enough to probe.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ProbeState::ConfigError, message)
    }

    /// The server refused the credentials.
    pub fn auth(message: impl Into<String>) -> Self {
        Self::new(ProbeState::AuthFailed, message)
    }

    /// Classifies an I/O error on the way to `target`.
    pub fn io(error: &io::Error, target: &str) -> Self {
        match error.kind() {
            io::ErrorKind::ConnectionRefused => Self::new(
                ProbeState::Refused,
                format!("connection refused by {target}"),
            ),
            io::ErrorKind::TimedOut => {
                Self::new(ProbeState::Timeout, format!("{target}: timed out"))
            }
            _ => Self::new(ProbeState::Error, format!("{target}: {error}")),
        }
    }

    /// Classifies any error by walking its source chain: an I/O error, a
    /// TLS or DNS failure found anywhere in the chain decides the state.
    pub fn chain(error: &(dyn StdError + 'static), target: &str) -> Self {
        let mut current: Option<&(dyn StdError + 'static)> = Some(error);
        let full = chain_text(error);
        let lower = full.to_lowercase();
        while let Some(e) = current {
            if let Some(io_error) = e.downcast_ref::<io::Error>()
                && matches!(
                    io_error.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut
                )
            {
                return Self::io(io_error, target);
            }
            current = e.source();
        }
        // DNS and refusals first: a host name may itself contain "tls".
        const TLS_WORDS: [&str; 6] = [
            "certificate",
            "tls",
            "handshake",
            "corrupt message",
            "fatal alert",
            "invalidcontenttype",
        ];
        if lower.contains("dns error") || lower.contains("lookup address") {
            Self::new(
                ProbeState::DnsError,
                format!("cannot resolve {target}: {full}"),
            )
        } else if lower.contains("connection refused") {
            Self::new(
                ProbeState::Refused,
                format!("connection refused by {target}"),
            )
        } else if TLS_WORDS.iter().any(|w| lower.contains(w)) {
            Self::new(
                ProbeState::TlsError,
                format!("TLS error with {target}: {full}"),
            )
        } else {
            Self::new(ProbeState::Error, format!("{target}: {full}"))
        }
    }
}

/// The messages of an error and its sources, joined, without repeats.
pub fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Message(&'static str);

    impl std::fmt::Display for Message {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Message {}

    #[test]
    fn a_host_named_tls_is_still_a_dns_failure() {
        let error =
            Message("dns error: failed to lookup address information for tls-gw.acme.internal");
        let failure = ProbeFailure::chain(&error, "https://tls-gw.acme.internal:6443");
        assert_eq!(failure.state, ProbeState::DnsError);
    }

    #[test]
    fn io_errors_in_the_chain_decide() {
        let error = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            ProbeFailure::chain(&error, "db:3306").state,
            ProbeState::Refused
        );
        let tls = Message("received fatal alert: HandshakeFailure");
        assert_eq!(
            ProbeFailure::chain(&tls, "api:6443").state,
            ProbeState::TlsError
        );
    }
}
