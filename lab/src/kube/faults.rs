//! Fault injection, switched at run time through [`super::KubeSim::faults`]:
//! the next requests (optionally only those under a path prefix) get 410
//! Gone, 429 with Retry-After, 503, a dropped connection or a slow answer;
//! and an API restart stops accepting connections for a while, drops every
//! open connection and watch, and listens again on the same port with the
//! same objects.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// What an injected fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 410 Gone (`Expired`): as an ERROR event ending a watch, as the API
    /// server reports a too-old resourceVersion; as a 410 Status otherwise.
    Gone,
    /// 429 TooManyRequests with a `Retry-After` header (client-go waits
    /// and retries on its own).
    TooManyRequests {
        /// The seconds the client is told to wait.
        retry_after_seconds: u64,
    },
    /// 503 ServiceUnavailable, without Retry-After.
    Unavailable,
    /// The connection is closed without an answer.
    DropConnection,
    /// The request is answered normally after this long.
    Delay(Duration),
}

/// A fault for the next `times` requests whose path starts with
/// `path_prefix` (all requests when it is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    /// The fault.
    pub fault: Fault,
    /// How many requests still get it.
    pub times: usize,
    /// Only requests under this path, e.g. `/api/v1/namespaces`.
    pub path_prefix: Option<String>,
}

impl Injection {
    /// `fault` for the next `times` requests.
    pub fn new(fault: Fault, times: usize) -> Self {
        Self {
            fault,
            times,
            path_prefix: None,
        }
    }

    /// Limits the injection to paths starting with `prefix`.
    pub fn on_paths(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self
    }
}

/// The simulator's switchboard of faults; cheap to clone, shared with the
/// server.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pending: Mutex<Vec<Injection>>,
    /// A restart asked for and not yet begun: how long to stay down.
    restart: Mutex<Option<Duration>>,
    restart_wake: Notify,
    /// Bumped when a restart begins; open connections end on it.
    epoch: watch::Sender<u64>,
    down: AtomicBool,
    restarts: AtomicU64,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            pending: Mutex::default(),
            restart: Mutex::default(),
            restart_wake: Notify::new(),
            epoch: watch::channel(0).0,
            down: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
        }
    }
}

impl Faults {
    /// Adds an injection; injections are used in the order added.
    pub fn inject(&self, injection: Injection) {
        if injection.times > 0 {
            self.pending().push(injection);
        }
    }

    /// Removes every injection not used up yet.
    pub fn clear(&self) {
        self.pending().clear();
    }

    /// How many faulty answers are still to come.
    pub fn remaining(&self) -> usize {
        self.pending().iter().map(|injection| injection.times).sum()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Injection>> {
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fault for a request to `path`, counting it used.
    pub fn take(&self, path: &str) -> Option<Fault> {
        let mut pending = self.pending();
        let index = pending.iter().position(|injection| {
            injection
                .path_prefix
                .as_ref()
                .is_none_or(|prefix| path.starts_with(prefix.as_str()))
        })?;
        let injection = &mut pending[index];
        let fault = injection.fault.clone();
        injection.times -= 1;
        if injection.times == 0 {
            pending.remove(index);
        }
        Some(fault)
    }

    /// Restarts the API: open connections and watches are dropped, the
    /// port refuses connections for `downtime`, then the server listens on
    /// it again with the same objects. Returns once the port is closed
    /// (or after five seconds if the server does not get to it).
    pub fn restart(&self, downtime: Duration) {
        *self
            .inner
            .restart
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(downtime);
        self.inner.epoch.send_modify(|epoch| *epoch += 1);
        self.inner.restart_wake.notify_one();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.is_down() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the API is down for a restart.
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::SeqCst)
    }

    /// How many restarts have completed (the port listening again).
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::SeqCst)
    }

    /// Accepts the next connection on `listener`, carrying out a restart
    /// when one is asked for: the listening socket is closed (swapped for
    /// a placeholder on another port), and after the downtime bound again
    /// to the same address.
    pub async fn accept(
        &self,
        listener: &mut TcpListener,
    ) -> std::io::Result<(TcpStream, SocketAddr)> {
        loop {
            let downtime = self
                .inner
                .restart
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take();
            if let Some(downtime) = downtime {
                self.restart_listener(listener, downtime).await?;
                continue;
            }
            tokio::select! {
                accepted = listener.accept() => return accepted,
                () = self.inner.restart_wake.notified() => {}
            }
        }
    }

    async fn restart_listener(
        &self,
        listener: &mut TcpListener,
        downtime: Duration,
    ) -> std::io::Result<()> {
        let address = listener.local_addr()?;
        *listener = TcpListener::bind("127.0.0.1:0").await?;
        self.inner.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(downtime).await;
        let mut attempts = 0;
        let rebound = loop {
            match TcpListener::bind(address).await {
                Ok(rebound) => break rebound,
                // Something else took the port meanwhile: keep trying a
                // while, as a restarting API server would fail and retry.
                Err(error) if attempts >= 200 => return Err(error),
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        *listener = rebound;
        self.inner.down.store(false, Ordering::SeqCst);
        self.inner.restarts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Runs a connection until it ends or the API restarts; `None` when the
    /// restart cut it off.
    pub async fn until_restart<F: Future>(&self, connection: F) -> Option<F::Output> {
        Self::until_restart_since(self.restarts_from_now(), connection).await
    }

    /// A watch on restarts from now on: taken when a connection is
    /// accepted, so that a restart during its TLS handshake cuts it too.
    pub fn restarts_from_now(&self) -> watch::Receiver<u64> {
        self.inner.epoch.subscribe()
    }

    /// Runs a connection until it ends or the API restarts after `since`
    /// was taken; `None` when a restart cut it off.
    pub async fn until_restart_since<F: Future>(
        mut since: watch::Receiver<u64>,
        connection: F,
    ) -> Option<F::Output> {
        tokio::select! {
            output = connection => Some(output),
            _ = since.changed() => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections_are_used_up_in_order_and_by_prefix() {
        let faults = Faults::default();
        faults.inject(Injection::new(Fault::Unavailable, 2).on_paths("/api/v1/pods"));
        faults.inject(Injection::new(Fault::Gone, 1));
        assert_eq!(faults.remaining(), 3);
        assert_eq!(faults.take("/apis/apps/v1"), Some(Fault::Gone));
        assert_eq!(faults.take("/apis/apps/v1"), None);
        assert_eq!(faults.take("/api/v1/pods"), Some(Fault::Unavailable));
        assert_eq!(faults.take("/api/v1/pods"), Some(Fault::Unavailable));
        assert_eq!(faults.take("/api/v1/pods"), None);
        faults.inject(Injection::new(Fault::DropConnection, 5));
        faults.clear();
        assert_eq!(faults.remaining(), 0);
    }
}
