//! A SASL PLAIN front for a broker without authentication.
//!
//! nisshi does not offer PLAIN, so this proxy does the PLAIN part of the
//! Kafka protocol itself: it relays ApiVersions to the broker, answers
//! SaslHandshake and SaslAuthenticate (v0–v1) on its own, checking the
//! user and password, and after a successful login relays the connection
//! byte for byte. The broker advertises the proxy's address, so every
//! connection a client makes goes through it.
//!
//! It checks what a client sends for PLAIN (sitedeck's configuration); it
//! is not a broker's PLAIN implementation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const API_VERSIONS: i16 = 18;
const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;
/// Kafka's SASL_AUTHENTICATION_FAILED.
const AUTHENTICATION_FAILED: i16 = 58;
/// Kafka's UNSUPPORTED_SASL_MECHANISM.
const UNSUPPORTED_MECHANISM: i16 = 33;
/// The largest request the proxy reads before login.
const MAX_FRAME: usize = 1 << 20;

/// A running PLAIN proxy; stops when dropped.
#[derive(Debug)]
pub struct PlainProxy {
    /// The port on 127.0.0.1 it listens on.
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PlainProxy {
    /// Listens on `port` (the broker advertises it, so it is chosen
    /// before the broker starts) and relays logged-in clients to `broker`.
    pub fn start(port: u16, broker: SocketAddr, user: &str, password: &str) -> Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .with_context(|| format!("the PLAIN proxy cannot listen on port {port}"))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let credentials = Arc::new((user.to_owned(), password.to_owned()));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("plain-proxy".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(serve(listener, broker, credentials, stopping));
            })
            .context("cannot start the PLAIN proxy's thread")?;
        Ok(Self {
            port,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for PlainProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    broker: SocketAddr,
    credentials: Arc<(String, String)>,
    stop: Arc<AtomicBool>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    let mut connections = tokio::task::JoinSet::new();
    while !stop.load(Ordering::Relaxed) {
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept()).await;
        if let Ok(Ok((client, _))) = accepted {
            let credentials = Arc::clone(&credentials);
            connections.spawn(async move {
                if let Err(e) = relay(client, broker, &credentials).await {
                    eprintln!("plain-proxy: {e:#}");
                }
            });
        }
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

/// One client connection: PLAIN login, then a byte relay to the broker.
async fn relay(
    mut client: TcpStream,
    broker: SocketAddr,
    credentials: &(String, String),
) -> Result<()> {
    let mut upstream = TcpStream::connect(broker)
        .await
        .context("cannot reach the broker")?;
    loop {
        let Some(frame) = read_frame(&mut client).await? else {
            return Ok(());
        };
        let header = RequestHeader::parse(&frame)?;
        match header.api_key {
            API_VERSIONS => {
                upstream.write_all(&framed(&frame)).await?;
                let Some(response) = read_frame(&mut upstream).await? else {
                    bail!("the broker closed the connection during ApiVersions");
                };
                client.write_all(&framed(&response)).await?;
            }
            SASL_HANDSHAKE => {
                let mechanism = read_string(&frame, header.body)?.0;
                let error = if mechanism == "PLAIN" {
                    0
                } else {
                    UNSUPPORTED_MECHANISM
                };
                let mut body = header.correlation_id.to_be_bytes().to_vec();
                body.extend(error.to_be_bytes());
                body.extend(1i32.to_be_bytes());
                push_string(&mut body, "PLAIN");
                client.write_all(&framed(&body)).await?;
            }
            SASL_AUTHENTICATE => {
                if header.api_version > 1 {
                    bail!("SaslAuthenticate v{} is not handled", header.api_version);
                }
                let auth = read_bytes(&frame, header.body)?;
                let accepted = plain_matches(auth, credentials);
                let mut body = header.correlation_id.to_be_bytes().to_vec();
                if accepted {
                    body.extend(0i16.to_be_bytes());
                    body.extend((-1i16).to_be_bytes());
                } else {
                    body.extend(AUTHENTICATION_FAILED.to_be_bytes());
                    push_string(
                        &mut body,
                        "Authentication failed: invalid user name or password",
                    );
                }
                body.extend(0i32.to_be_bytes());
                if header.api_version >= 1 {
                    body.extend(0i64.to_be_bytes());
                }
                client.write_all(&framed(&body)).await?;
                if !accepted {
                    return Ok(());
                }
                tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
                return Ok(());
            }
            other => bail!("request {other} before login: refused"),
        }
    }
}

/// `\0user\0password` (an empty authorisation id, or one equal to the user).
fn plain_matches(auth: &[u8], (user, password): &(String, String)) -> bool {
    let mut parts = auth.split(|b| *b == 0);
    let (Some(authz), Some(given_user), Some(given_password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    (authz.is_empty() || authz == user.as_bytes())
        && given_user == user.as_bytes()
        && given_password == password.as_bytes()
}

/// A request header v1 (v2's tagged fields follow the client id; the
/// requests read here before login are never flexible).
struct RequestHeader {
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    /// Where the body starts.
    body: usize,
}

impl RequestHeader {
    fn parse(frame: &[u8]) -> Result<Self> {
        let api_key = i16::from_be_bytes(slice(frame, 0, 2)?.try_into()?);
        let api_version = i16::from_be_bytes(slice(frame, 2, 2)?.try_into()?);
        let correlation_id = i32::from_be_bytes(slice(frame, 4, 4)?.try_into()?);
        let client_id_len = i16::from_be_bytes(slice(frame, 8, 2)?.try_into()?);
        let body = 10 + usize::try_from(client_id_len.max(0))?;
        Ok(Self {
            api_key,
            api_version,
            correlation_id,
            body,
        })
    }
}

fn slice(frame: &[u8], at: usize, len: usize) -> Result<&[u8]> {
    frame
        .get(at..at + len)
        .context("a request ended before its fields")
}

fn read_string(frame: &[u8], at: usize) -> Result<(String, usize)> {
    let len = usize::try_from(i16::from_be_bytes(slice(frame, at, 2)?.try_into()?).max(0))?;
    let text = String::from_utf8_lossy(slice(frame, at + 2, len)?).into_owned();
    Ok((text, at + 2 + len))
}

fn read_bytes(frame: &[u8], at: usize) -> Result<&[u8]> {
    let len = usize::try_from(i32::from_be_bytes(slice(frame, at, 4)?.try_into()?).max(0))?;
    slice(frame, at + 4, len)
}

fn push_string(out: &mut Vec<u8>, text: &str) {
    out.extend(i16::try_from(text.len()).unwrap_or(i16::MAX).to_be_bytes());
    out.extend(text.as_bytes());
}

/// A frame with its length prefix.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    out.extend(body);
    out
}

/// One length-prefixed frame; `None` at a clean end of stream.
async fn read_frame(stream: &mut TcpStream) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = usize::try_from(u32::from_be_bytes(len))?;
    if len > MAX_FRAME {
        bail!("a {len}-byte frame before login: refused");
    }
    let mut frame = vec![0u8; len];
    stream.read_exact(&mut frame).await?;
    Ok(Some(frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_checks_user_and_password() {
        let credentials = ("alice".to_owned(), "pw".to_owned());
        assert!(plain_matches(b"\0alice\0pw", &credentials));
        assert!(plain_matches(b"alice\0alice\0pw", &credentials));
        assert!(!plain_matches(b"\0alice\0wrong", &credentials));
        assert!(!plain_matches(b"\0bob\0pw", &credentials));
        assert!(!plain_matches(b"\0alice", &credentials));
    }
}
