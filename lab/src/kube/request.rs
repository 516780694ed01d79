//! The parts of a request the simulator reads: the query parameters of a
//! list or watch, percent-decoded, and the record kept of each request.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::status::ApiError;

/// One request as the simulator saw it, for tests to check what a client
/// did (e.g. that kubectl paged with `continue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string as sent (still percent-encoded).
    pub query: String,
}

impl RecordedRequest {
    /// The decoded value of a query parameter.
    pub fn param(&self, name: &str) -> Option<String> {
        QueryParams::parse(&self.query)
            .get(name)
            .map(str::to_string)
    }
}

/// The last requests served, oldest first, bounded so that a long benchmark
/// does not grow it without end.
#[derive(Debug, Default)]
pub struct RequestLog {
    requests: Mutex<VecDeque<RecordedRequest>>,
}

impl RequestLog {
    const KEPT: usize = 10_000;

    /// Records a request.
    pub fn record(&self, request: RecordedRequest) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if requests.len() == Self::KEPT {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    /// A copy of the recorded requests.
    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        requests.iter().cloned().collect()
    }
}

/// Decoded query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Parses `a=1&b=x%3Dy`, decoding `%XX` and `+` as Go's net/url does.
    pub fn parse(query: &str) -> Self {
        let pairs = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A boolean parameter (`true`/`1`); absent is false.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// A non-negative integer parameter; absent or empty is None.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {text:?}"))),
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |offset: usize| {
            bytes
                .get(index + offset)
                .and_then(|digit| (*digit as char).to_digit(16))
        };
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' if hex(1).is_some() && hex(2).is_some() => {
                let high = hex(1).unwrap_or_default();
                let low = hex(2).unwrap_or_default();
                decoded.push((high * 16 + low) as u8);
                index += 2;
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_selectors_as_kubectl_sends_them() {
        let params = QueryParams::parse("labelSelector=app+in+%28a%2Cb%29&limit=2&watch=true&x");
        assert_eq!(params.get("labelSelector"), Some("app in (a,b)"));
        assert_eq!(params.number("limit"), Ok(Some(2)));
        assert!(params.flag("watch"));
        assert_eq!(params.get("x"), Some(""));
        assert!(params.number("labelSelector").is_err());
        assert_eq!(params.get("missing"), None);
    }

    #[test]
    fn the_log_keeps_the_newest_requests() {
        let log = RequestLog::default();
        for index in 0..RequestLog::KEPT + 5 {
            log.record(RecordedRequest {
                method: "GET".into(),
                path: format!("/{index}"),
                query: String::new(),
            });
        }
        let requests = log.snapshot();
        assert_eq!(requests.len(), RequestLog::KEPT);
        assert_eq!(requests[0].path, "/5");
    }
}
