//! The HTTP client the URL kinds (`s3`, `elasticsearch`, `http`) share: it
//! connects to the check's dial address (the URL's own host, or the local
//! end of a port-forward) while the URL's host stays in the Host header, the
//! SNI and the certificate check; it never follows redirects nor uses a
//! proxy; and it tells a refusal from a timeout, a DNS failure and the
//! precise TLS failure.
//!
//! TLS is rustls with the ring provider (as kube uses), the system's roots
//! plus the profile's `ca_file`.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode, Url};
use rustls::CertificateError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{CheckContext, Health, Severity};
use crate::probe::{ProbeFailure, ProbeState};

/// Days before a certificate's expiry that make the endpoint degraded.
pub(super) const CERT_WARNING_DAYS: i64 = 14;
/// The most of a body a check reads; past it the body is cut.
pub(super) const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// How much of an unexpected body a finding quotes.
const EXCERPT_CHARS: usize = 120;

/// A client for one check of one URL endpoint.
pub(super) struct Web {
    client: Client,
    /// The URL as the profile writes it: what the server sees.
    url: Url,
    /// How a URL changes when the check goes through a port-forward.
    route: Option<Route>,
    /// Where the check connects, for messages.
    target: String,
    /// The check's budget, for messages.
    budget: Duration,
    /// When the check's inner requests must give up (a little before the
    /// caller's own timeout, so the message can say which step hung).
    deadline: Instant,
    /// HTTP basic authentication for every request: user and password.
    auth: Option<(String, Option<String>)>,
}

/// A port-forward: the connection goes to another port (and, for a URL
/// whose host is an address, another address) with the original Host.
#[derive(Debug, Clone)]
struct Route {
    port: u16,
    host: Option<String>,
    host_header: String,
}

impl Web {
    /// Builds the client for `ctx`: its URL, dial, CA file and timeout.
    pub(super) async fn new(ctx: &CheckContext<'_>) -> Result<Self, ProbeFailure> {
        let written = ctx
            .spec
            .url
            .as_ref()
            .ok_or_else(|| ProbeFailure::config("no `url` to check"))?;
        let url = Url::parse(&written.value).map_err(|e| {
            ProbeFailure::config(format!("the url `{}` is not valid: {e}", written.value))
        })?;
        let host = url
            .host_str()
            .ok_or_else(|| {
                ProbeFailure::config(format!("the url `{}` has no host", written.value))
            })?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().ok_or_else(|| {
            ProbeFailure::config(format!("the url `{}` has no port", written.value))
        })?;
        let ca = match &ctx.spec.ca_file {
            Some(file) => {
                let path = file.resolve(&ctx.profile.base_dir);
                let pem = tokio::fs::read(&path).await.map_err(|e| {
                    ProbeFailure::config(format!("cannot read ca_file {}: {e}", path.display()))
                })?;
                let certs = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        ProbeFailure::config(format!("ca_file {}: {e}", path.display()))
                    })?;
                if certs.is_empty() {
                    return Err(ProbeFailure::config(format!(
                        "ca_file {} holds no PEM certificate",
                        path.display()
                    )));
                }
                certs
            }
            None => Vec::new(),
        };
        let direct = ctx.dial.path == "direct" && ctx.dial.host == host && ctx.dial.port == port;
        let mut route = None;
        let mut resolve = None;
        if !direct {
            let ip: IpAddr = ctx.dial.host.parse().map_err(|_| {
                ProbeFailure::config(format!(
                    "the dial address {} is not an IP address",
                    ctx.dial.host
                ))
            })?;
            let host_header = match url.port() {
                Some(p) => format!("{}:{p}", url.host_str().unwrap_or(&host)),
                None => url.host_str().unwrap_or(&host).to_owned(),
            };
            let literal = host.parse::<IpAddr>().is_ok();
            if literal && url.scheme() == "https" {
                return Err(ProbeFailure::config(format!(
                    "an https url with an IP address ({host}) cannot be checked through a port-forward: write the name its certificate holds in the url"
                )));
            }
            route = Some(Route {
                port: ctx.dial.port,
                host: literal.then(|| ctx.dial.host.clone()),
                host_header,
            });
            if !literal {
                resolve = Some((host.clone(), SocketAddr::new(ip, ctx.dial.port)));
            }
        }
        let budget = ctx.timeout;
        let deadline = Instant::now() + budget.mul_f64(0.95);
        // Loading the system's roots reads files: off the runtime's threads.
        let client = tokio::task::spawn_blocking(move || build_client(ca, resolve, budget))
            .await
            .map_err(|e| ProbeFailure::config(format!("cannot build the HTTP client: {e}")))??;
        Ok(Self {
            client,
            url,
            route,
            target: ctx.dial.address(),
            budget,
            deadline,
            auth: None,
        })
    }

    /// Sends HTTP basic authentication with every request.
    pub(super) fn basic_auth(&mut self, user: &str, password: Option<String>) {
        self.auth = Some((user.to_owned(), password));
    }

    /// The URL as the profile writes it.
    pub(super) fn url(&self) -> &Url {
        &self.url
    }

    /// Where the check connects, for messages.
    pub(super) fn target(&self) -> &str {
        &self.target
    }

    /// The URL with `path_and_query` appended to its path (for APIs under
    /// a prefix, e.g. `https://gw/es/` + `/_cluster/health`).
    pub(super) fn endpoint(&self, path_and_query: &str) -> Url {
        let mut url = self.url.clone();
        let (path, query) = path_and_query
            .split_once('?')
            .map_or((path_and_query, None), |(p, q)| (p, Some(q)));
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url.set_query(query);
        url
    }

    /// A request to `url` (one of [`Self::endpoint`]'s or a signed one),
    /// sent where the check connects.
    pub(super) fn request(&self, method: Method, url: &Url) -> RequestBuilder {
        let mut url = url.clone();
        let mut builder;
        match &self.route {
            Some(route) => {
                // Setting a port or an address host cannot fail on an
                // http(s) URL, which is all a Web has.
                let _ = url.set_port(Some(route.port));
                if let Some(host) = &route.host {
                    let _ = url.set_host(Some(host));
                }
                builder = self.client.request(method, url);
                builder = builder.header(reqwest::header::HOST, route.host_header.clone());
            }
            None => builder = self.client.request(method, url),
        }
        if let Some((user, password)) = &self.auth {
            builder = builder.basic_auth(user, password.as_ref());
        }
        builder.timeout(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Sends a request, classifying a failure.
    pub(super) async fn send(&self, request: RequestBuilder) -> Result<Response, ProbeFailure> {
        if Instant::now() >= self.deadline {
            return Err(ProbeFailure::timeout(self.budget));
        }
        request.send().await.map_err(|e| self.fail(&e))
    }

    /// Reads a body, at most `limit` bytes of it.
    pub(super) async fn body(
        &self,
        mut response: Response,
        limit: usize,
    ) -> Result<Vec<u8>, ProbeFailure> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.fail(&e))? {
            let room = limit.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= limit {
                break;
            }
        }
        Ok(body)
    }

    /// Sends a GET to `path_and_query` and reads its status and body.
    pub(super) async fn get(
        &self,
        path_and_query: &str,
    ) -> Result<(StatusCode, Vec<u8>), ProbeFailure> {
        let response = self
            .send(self.request(Method::GET, &self.endpoint(path_and_query)))
            .await?;
        let status = response.status();
        Ok((status, self.body(response, BODY_LIMIT).await?))
    }

    /// Turns a client error into what the operator needs to know.
    pub(super) fn fail(&self, error: &reqwest::Error) -> ProbeFailure {
        let host = self.url.host_str().unwrap_or_default();
        if error.is_timeout() {
            let step = if error.is_connect() {
                format!("connecting to {}", self.target)
            } else {
                format!("waiting for {} to answer", self.target)
            };
            return ProbeFailure::new(
                ProbeState::Timeout,
                format!("timed out after {:.1} s {step}", self.budget.as_secs_f64()),
            );
        }
        if let Some(tls) = find::<rustls::Error>(error) {
            return ProbeFailure::new(
                ProbeState::TlsError,
                format!("TLS error: {}", tls_reason(tls, host)),
            );
        }
        if let Some(io) = find::<std::io::Error>(error)
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return ProbeFailure::new(
                ProbeState::Refused,
                format!("connection refused by {}", self.target),
            );
        }
        let text = crate::probe::classify::chain_text(error);
        let lower = text.to_lowercase();
        if lower.contains("dns error") || lower.contains("lookup address") {
            return ProbeFailure::new(ProbeState::DnsError, format!("cannot resolve {host}"));
        }
        if self.url.scheme() == "https"
            && (lower.contains("corrupt message") || lower.contains("invalidcontenttype"))
        {
            return ProbeFailure::new(
                ProbeState::TlsError,
                format!(
                    "TLS error: {} does not speak TLS (is the url http://?)",
                    self.target
                ),
            );
        }
        ProbeFailure::chain(error, &self.target)
    }
}

fn build_client(
    ca: Vec<CertificateDer<'static>>,
    resolve: Option<(String, SocketAddr)>,
    budget: Duration,
) -> Result<Client, ProbeFailure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = if ca.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(ca, provider.clone())
    }
    .map_err(|e| {
        ProbeFailure::config(format!(
            "cannot set up certificate checks: {e} (set `ca_file` to the site's CA bundle)"
        ))
    })?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeFailure::config(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut builder = Client::builder()
        .tls_backend_preconfigured(tls)
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(budget.mul_f64(0.95))
        .user_agent(concat!("sitedeck/", env!("CARGO_PKG_VERSION")));
    if let Some((host, address)) = resolve {
        builder = builder.resolve(&host, address);
    }
    builder
        .build()
        .map_err(|e| ProbeFailure::config(format!("cannot build the HTTP client: {e}")))
}

/// The first error of type `T` in `error`'s chain, looking inside I/O
/// errors too (which hide the error they wrap from `source()`).
fn find<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            && let Some(found) = find::<T>(inner)
        {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Which TLS failure it was, in the operator's words.
fn tls_reason(error: &rustls::Error, host: &str) -> String {
    let rustls::Error::InvalidCertificate(certificate) = error else {
        return match error {
            rustls::Error::AlertReceived(alert) => {
                format!("{host} refused the handshake ({alert:?})")
            }
            rustls::Error::InvalidMessage(_) => {
                format!("{host} does not speak TLS (is the url http://?)")
            }
            other => other.to_string(),
        };
    };
    match certificate {
        CertificateError::ExpiredContext { time, not_after } => {
            let days = time.as_secs().saturating_sub(not_after.as_secs()) / 86_400;
            format!(
                "certificate expired {days} days ago (not valid after {})",
                date(not_after.as_secs())
            )
        }
        CertificateError::Expired => "certificate expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "certificate not valid yet: check this machine's clock and the server's".into()
        }
        CertificateError::UnknownIssuer => format!(
            "certificate of {host} is not signed by a trusted CA (set `ca_file` to the CA that signed it)"
        ),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("certificate is not valid for {host}")
        }
        CertificateError::Revoked => "certificate revoked".into(),
        CertificateError::BadSignature => "certificate has a bad signature".into(),
        other => format!("invalid certificate: {other:?}"),
    }
}

/// A UNIX time as a UTC date, `2026-05-01`.
fn date(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || unix_seconds.to_string(),
            |t| t.format("%Y-%m-%d").to_string(),
        )
}

/// Adds the server certificate's days to expiry (an https response only),
/// with a warning under [`CERT_WARNING_DAYS`] and a critical finding once
/// expired. `key` puts the figure in the table's summary.
pub(super) fn certificate(health: &mut Health, response: &Response, key: bool) {
    let Some(der) = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
    else {
        return;
    };
    let Some(not_after) = not_after(der) else {
        health.figure("certificate", "unreadable");
        return;
    };
    let days = (not_after - chrono::Utc::now())
        .num_seconds()
        .div_euclid(86_400);
    let when = not_after.format("%Y-%m-%d");
    let host = response.url().host_str().unwrap_or_default().to_owned();
    let value = if days >= 0 {
        format!("{days} days left ({when})")
    } else {
        format!("expired {when}")
    };
    if key {
        health.key_figure("cert", value);
    } else {
        health.figure("certificate", value);
    }
    if days < 0 {
        health.finding(
            Severity::Critical,
            format!("certificate expired {} days ago", -days),
            format!("clients refuse {host}: renew its certificate now (cert-manager: kubectl describe certificate; otherwise the CA that issued it)"),
        );
    } else if days < CERT_WARNING_DAYS {
        health.finding(
            Severity::Warning,
            format!("certificate expires in {days} days ({when})"),
            format!("renew the certificate of {host} before {when} (cert-manager: check the Certificate and its issuer; otherwise ask the CA that issued it)"),
        );
    }
}

/// The end of a DER certificate's validity.
pub(super) fn not_after(der: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let seconds = cert
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration()
        .as_secs();
    chrono::DateTime::from_timestamp(i64::try_from(seconds).ok()?, 0)
}

/// What came back, for a finding: sanitised, on one line, cut to about
/// 120 characters.
pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = flat.chars().take(EXCERPT_CHARS).collect();
    if flat.chars().count() > EXCERPT_CHARS {
        cut.push('…');
    }
    crate::text::sanitize(&cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_short_safe_line() {
        assert_eq!(
            excerpt(b"{\n  \"status\": \"DOWN\"\n}"),
            "{ \"status\": \"DOWN\" }"
        );
        let long = "x".repeat(500);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt(b"a\x1b[2Jb"), "a\\x1b[2Jb");
    }

    #[test]
    fn expired_certificates_say_so() {
        use rustls::pki_types::UnixTime;
        let error = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000 + 3 * 86_400 + 60)),
            not_after: UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000)),
        });
        assert_eq!(
            tls_reason(&error, "es.acme"),
            "certificate expired 3 days ago (not valid after 2023-11-14)"
        );
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(tls_reason(&unknown, "es.acme").contains("not signed by a trusted CA"));
    }

    #[test]
    fn tls_errors_are_found_inside_io_errors() {
        let inner = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        assert!(find::<rustls::Error>(&io).is_some());
    }
}
