//! The event loop and the effect runner.
//!
//! One `select!` over terminal events, actions from background tasks,
//! signals and timers. Actions are drained in batches; the screen is drawn
//! only when something changed, at most once per frame budget, inside a
//! synchronized update. Idle, nothing is written to the terminal.

use std::collections::HashMap;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Timelike;
use crossterm::event::{Event, KeyEventKind};
use futures::FutureExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::panic::AssertUnwindSafe;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::app::action::{Action, SiteLoad};
use crate::app::effect::Effect;
use crate::app::state::State;
use crate::app::update;
use crate::config::keymap::KeyChord;
use crate::config::theme::Theme;
use crate::config::{Paths, profile};
use crate::probe::{ProbeReport, ProbeState};
use crate::terminal::TerminalGuard;

/// The shortest time between two frames.
const FRAME_BUDGET: Duration = Duration::from_millis(16);
/// How often the job spinner turns while jobs run.
const SPINNER_PERIOD: Duration = Duration::from_millis(250);
/// How many actions to handle before drawing again.
const BATCH: usize = 256;

/// Runs the cockpit until the operator quits or a signal arrives.
pub async fn run(mut state: State, paths: Paths, initial: Vec<Effect>) -> anyhow::Result<()> {
    crate::store::audit::from_cockpit();
    let _guard = TerminalGuard::enter()?;
    // Never dropped: ratatui's Drop writes to stderr with eprintln!, which
    // panics once an SSH session is gone. The guard restores the cursor.
    let mut terminal = ManuallyDrop::new(Terminal::new(CrosstermBackend::new(io::stdout()))?);
    // Through the backend: `Terminal::clear` asks the terminal where the
    // cursor is and stalls (or fails) when no answer comes over a slow link.
    ratatui::backend::Backend::clear(terminal.backend_mut())?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut runner = EffectRunner::new(tx.clone(), paths);
    spawn_clock(tx.clone());
    state.clock = clock_now();
    for effect in initial {
        runner.run(effect);
    }
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigquit = signal(SignalKind::quit())?;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    spawn_input_thread(events_tx);
    // Every second: is the terminal still there? (See `terminal_hung_up`.)
    let mut hangup_check = tokio::time::interval(Duration::from_secs(1));
    hangup_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut spinner = tokio::time::interval(SPINNER_PERIOD);
    // After a long idle stretch the spinner resumes calmly, not in a burst.
    spinner.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut last_frame = Instant::now() - FRAME_BUDGET;
    loop {
        // Before drawing: after SIGHUP the terminal may be gone.
        if state.should_quit {
            break;
        }
        if dirty && last_frame.elapsed() >= FRAME_BUDGET {
            state.settle();
            draw(&mut terminal, &state)?;
            dirty = false;
            last_frame = Instant::now();
        }
        let jobs = state.jobs_running() > 0;
        let mut actions = Vec::new();
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => actions.extend(action_from_event(event)),
                // The input thread ended: the terminal cannot be read.
                None => break,
            },
            _ = hangup_check.tick() => {
                if terminal_hung_up() {
                    tracing::info!("the terminal hung up; leaving");
                    actions.push(Action::Terminate);
                }
            }
            received = rx.recv_many(&mut actions, BATCH) => {
                if received == 0 {
                    break;
                }
            }
            _ = sigterm.recv() => actions.push(Action::Terminate),
            _ = sighup.recv() => actions.push(Action::Terminate),
            _ = sigint.recv() => actions.push(Action::Terminate),
            _ = sigquit.recv() => actions.push(Action::Terminate),
            _ = spinner.tick(), if jobs => actions.push(Action::SpinnerTick),
            () = sleep_until(last_frame + FRAME_BUDGET), if dirty => {}
        }
        while let Ok(more) = rx.try_recv() {
            actions.push(more);
            if actions.len() >= BATCH {
                break;
            }
        }
        for action in actions {
            dirty = true;
            for effect in update(&mut state, action) {
                runner.run(effect);
            }
        }
    }
    runner.stop_probes();
    runner.cluster = None;
    Ok(())
}

fn draw(terminal: &mut Terminal<CrosstermBackend<io::Stdout>>, state: &State) -> io::Result<()> {
    crossterm::queue!(
        terminal.backend_mut(),
        crossterm::terminal::BeginSynchronizedUpdate
    )?;
    terminal.draw(|frame| crate::ui::draw(frame, state))?;
    crossterm::queue!(
        terminal.backend_mut(),
        crossterm::terminal::EndSynchronizedUpdate
    )?;
    terminal.backend_mut().flush()
}

/// Reads terminal events on a thread of its own and sends them to the loop.
///
/// Not crossterm's `EventStream` on the loop's thread: when the terminal
/// hangs up, crossterm 0.29's reader loops for ever on a read that returns
/// 0 or EIO, and on the loop's thread that froze the whole cockpit, signals
/// included. Here it can only stall this thread, which ends with the
/// process.
fn spawn_input_thread(tx: UnboundedSender<Event>) {
    let spawned = std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            loop {
                match crossterm::event::read() {
                    Ok(event) => {
                        if tx.send(event).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::info!("cannot read the terminal: {e}");
                        break;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the terminal input thread: {e}");
    }
}

/// Whether the terminal on stdin is gone (the SSH session or the pty's
/// other side closed): `poll` says HUP, ERR or NVAL.
fn terminal_hung_up() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout.
    let ready = unsafe { libc::poll(&mut fd, 1, 0) };
    ready > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
}

fn action_from_event(event: Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => {
            Some(Action::Key(KeyChord::from_event(key)))
        }
        Event::Paste(text) => Some(Action::Paste(text)),
        Event::Resize(_, _) => Some(Action::Resize),
        _ => None,
    }
}

/// The wall clock as the header shows it.
pub fn clock_now() -> String {
    chrono::Local::now().format("%H:%M").to_string()
}

/// Sends the clock once a minute, on the minute.
fn spawn_clock(tx: UnboundedSender<Action>) {
    tokio::spawn(async move {
        loop {
            let now = chrono::Local::now();
            let into_minute =
                u64::from(now.second()) * 1000 + u64::from(now.timestamp_subsec_millis());
            let wait = 60_000u64.saturating_sub(into_minute).max(1);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            if tx.send(Action::ClockTick(clock_now())).is_err() {
                break;
            }
        }
    });
}

/// Carries out effects: spawns the tasks that do the I/O and sends their
/// results back as actions.
pub struct EffectRunner {
    tx: UnboundedSender<Action>,
    paths: Paths,
    probes: Vec<JoinHandle<()>>,
    refresh: Option<JoinHandle<()>>,
    /// The open site's cluster session.
    cluster: Option<crate::cluster::Session>,
    /// The last state logged per source, so the log records changes, not
    /// the same failure every round.
    last_states: Arc<Mutex<HashMap<String, ProbeState>>>,
    /// Port-forwards to in-cluster middleware, over the session's client.
    forwards: Option<crate::cluster::portforward::Forwards>,
    /// The Logs view's reading, aborted when replaced or stopped.
    logs: Option<JoinHandle<()>>,
    /// The open site's bastion, as the last probes found it.
    bastion: Option<Arc<crate::nodes::access::Bastion>>,
}

/// Logs a source's state when it changed since the last probe.
fn log_change(last: &Mutex<HashMap<String, ProbeState>>, source: &str, report: &ProbeReport) {
    let mut last = last
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.insert(source.to_owned(), report.state) == Some(report.state) {
        return;
    }
    if report.state.is_down() {
        tracing::warn!(source, state = report.state.label(), detail = %report.detail, "source changed state");
    } else {
        tracing::info!(source, state = report.state.label(), detail = %report.detail, "source changed state");
    }
}

impl EffectRunner {
    /// What probes need: the cluster, read-only mode, and the site's
    /// port-forwards over the cluster session's client (made before the
    /// session connects: a check waits for it).
    fn probe_env(
        &mut self,
        profile: &crate::config::profile::SiteProfile,
        cluster: Option<crate::cluster::connect::ClusterTarget>,
        readonly: bool,
    ) -> Arc<crate::probe::ProbeEnv> {
        Arc::new(crate::probe::ProbeEnv {
            cluster,
            readonly,
            forwards: self.forwards(),
            bastion: self.bastion(profile),
        })
    }

    /// The site's bastion (its session shared process-wide by
    /// [`crate::nodes::access::Bastion::shared`]), remembered for peeks.
    fn bastion(
        &mut self,
        profile: &crate::config::profile::SiteProfile,
    ) -> Option<Arc<crate::nodes::access::Bastion>> {
        let timeout = Duration::from_secs_f64(profile.probes.timeout_seconds.max(1.0));
        self.bastion =
            crate::nodes::access::Bastion::of_profile(profile, &self.paths.state_dir, timeout);
        self.bastion.clone()
    }

    /// The site's port-forwards over the cluster session's client, made
    /// the first time; `None` without a cluster session.
    fn forwards(&mut self) -> Option<crate::cluster::portforward::Forwards> {
        if self.forwards.is_none()
            && let Some(session) = &self.cluster
        {
            let slot = session.client_slot();
            self.forwards = Some(crate::cluster::portforward::Forwards::deferred(slot));
        }
        self.forwards.clone()
    }

    /// Probes one source in the background and reports its result.
    fn spawn_probe(
        &mut self,
        round: u64,
        source: crate::probe::Source,
        profile: Arc<crate::config::profile::SiteProfile>,
        env: Arc<crate::probe::ProbeEnv>,
    ) {
        let tx = self.tx.clone();
        let last_states = Arc::clone(&self.last_states);
        self.probes.push(tokio::spawn(async move {
            let probe = crate::probe::run(&source, &profile, &env);
            // A bug in one probe must not leave its row "in flight" for ever.
            let report = AssertUnwindSafe(probe)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| ProbeReport::crashed());
            log_change(&last_states, &source.name, &report);
            let _ = tx.send(Action::ProbeFinished {
                round,
                index: source.index(),
                report: Box::new(report),
            });
        }));
    }

    /// A runner that reports to `tx`.
    pub fn new(tx: UnboundedSender<Action>, paths: Paths) -> Self {
        Self {
            tx,
            paths,
            probes: Vec::new(),
            refresh: None,
            cluster: None,
            last_states: Arc::default(),
            forwards: None,
            logs: None,
            bastion: None,
        }
    }

    /// Reads logs for the Logs view: lines go out in batches (every
    /// 100 ms, or 2000 lines), then `LogsEnded`.
    fn stream_logs(
        &mut self,
        generation: u64,
        source: crate::logs::stream::LogSource,
        options: crate::logs::stream::ReadOptions,
    ) {
        if let Some(running) = self.logs.take() {
            running.abort();
        }
        let tx = self.tx.clone();
        let client = self
            .cluster
            .as_ref()
            .and_then(crate::cluster::Session::client);
        self.logs = Some(tokio::spawn(async move {
            let Some(client) = client else {
                let _ = tx.send(Action::LogsEnded {
                    generation,
                    error: Some("not connected to the cluster".into()),
                });
                return;
            };
            let (lines_tx, mut lines) = tokio::sync::mpsc::channel(4096);
            let progress = std::sync::Arc::new(crate::logs::stream::ReadProgress::default());
            let reading =
                crate::logs::stream::read(client, source, options, lines_tx, progress.clone());
            let forwarding = async {
                let mut batch = Vec::new();
                let mut open = true;
                let mut told = crate::logs::stream::Progress::default();
                while open {
                    open = super::logs::gather(&mut lines, &mut batch).await;
                    if !batch.is_empty() {
                        let lines = std::mem::take(&mut batch);
                        let _ = tx.send(Action::LogLines { generation, lines });
                    }
                    let now = progress.get();
                    if now != told {
                        told = now.clone();
                        let _ = tx.send(Action::LogsProgress {
                            generation,
                            progress: now,
                        });
                    }
                }
            };
            let (read, ()) = tokio::join!(reading, forwarding);
            let _ = tx.send(Action::LogsEnded {
                generation,
                error: read.err(),
            });
        }));
    }

    /// Starts one effect.
    pub fn run(&mut self, effect: Effect) {
        match effect {
            Effect::LoadSite { path, load } => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let result = profile::load(&path).map_err(|e| e.to_string());
                    let release = result.as_ref().ok().and_then(|loaded| {
                        let file = loaded.profile.release.as_ref()?;
                        let file = file.resolve(&loaded.profile.base_dir);
                        Some(crate::cluster::release::load(&file).map_err(|e| e.to_string()))
                    });
                    match &result {
                        Ok(loaded) => {
                            tracing::info!(site = %loaded.profile.name, file = %path.display(), "site opened")
                        }
                        Err(e) => {
                            tracing::warn!(file = %path.display(), "site profile rejected: {e}")
                        }
                    }
                    let _ = tx.send(Action::SiteLoaded(Box::new(SiteLoad {
                        path,
                        load,
                        result,
                        release,
                    })));
                });
            }
            Effect::LoadTheme(name) => {
                let dir = self.paths.user_themes_dir();
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let loaded = Theme::load(&name, &dir);
                    let _ = tx.send(Action::ThemeLoaded(Box::new(loaded)));
                });
            }
            Effect::StartCluster {
                generation,
                target,
                site_file,
                trust,
            } => {
                // Drop the old session first: its watches stop now.
                self.cluster = None;
                self.forwards = None;
                let state_dir = self.paths.state_dir.clone();
                let (mut store, problem) = crate::store::trust::TrustStore::load(&state_dir);
                if let Some(problem) = problem {
                    tracing::warn!("{problem}");
                }
                if let Some(command) = &trust {
                    tracing::info!(site = %site_file.display(), command, "credential program trusted");
                    if let Err(e) = store.trust(&site_file, command) {
                        tracing::warn!("cannot remember the trust: {e}");
                    }
                }
                let mut trusted = store.trusted(&site_file);
                trusted.extend(trust);
                let tx = self.tx.clone();
                let sink: crate::cluster::EventSink = Arc::new(move |event| {
                    let _ = tx.send(Action::Cluster {
                        generation,
                        event: Box::new(event),
                    });
                });
                self.cluster = Some(crate::cluster::start(target, trusted, sink));
            }
            Effect::StreamLogs {
                generation,
                source,
                options,
            } => self.stream_logs(generation, source, options),
            Effect::StreamJournal {
                generation,
                profile,
                request,
            } => {
                if let Some(running) = self.logs.take() {
                    running.abort();
                }
                let state_dir = self.paths.state_dir.clone();
                self.logs = Some(super::journal::spawn(
                    self.tx.clone(),
                    state_dir,
                    generation,
                    profile,
                    request,
                ));
            }
            Effect::SaveText { name, text, lines } => {
                let dir = self.paths.state_dir.join("saved");
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || {
                    let path = dir.join(name);
                    let result = std::fs::create_dir_all(&dir)
                        .and_then(|()| crate::store::write_atomic(&path, text.as_bytes()))
                        .map(|()| (path.clone(), lines))
                        .map_err(|e| format!("{}: {e}", path.display()));
                    let _ = tx.send(Action::LogsSaved(result));
                });
            }
            Effect::CopyToClipboard(text) => {
                use base64::Engine;
                use std::io::Write;
                let encoded = base64::engine::general_purpose::STANDARD.encode(text);
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "\x1b]52;c;{encoded}\x07");
                let _ = out.flush();
            }
            Effect::StopLogs => {
                if let Some(running) = self.logs.take() {
                    running.abort();
                }
            }
            Effect::StopCluster => {
                self.cluster = None;
                self.forwards = None;
            }
            Effect::Describe(target) => {
                let tx = self.tx.clone();
                let client = self
                    .cluster
                    .as_ref()
                    .and_then(crate::cluster::Session::client);
                tokio::spawn(async move {
                    let text = match client {
                        Some(client) => {
                            let fetch = crate::cluster::describe(
                                &client,
                                &target.kind,
                                &target.namespace,
                                &target.name,
                            );
                            match tokio::time::timeout(Duration::from_secs(15), fetch).await {
                                Ok(result) => result,
                                Err(_) => Err("the API server did not answer in 15 s".to_owned()),
                            }
                        }
                        None => Err("not connected to the cluster".to_owned()),
                    };
                    let _ = tx.send(Action::Described { target, text });
                });
            }
            effect @ (Effect::SurveyNodes { .. }
            | Effect::AcceptHostKey { .. }
            | Effect::RunOnNodes { .. }) => {
                super::node_effects::spawn(effect, &self.tx, &self.paths.state_dir);
            }
            Effect::KafkaPeek {
                title,
                spec,
                base_dir,
                timeout,
                topic,
                partition,
                from,
            } => {
                let tx = self.tx.clone();
                // The bastion the probes of this site made.
                let bastion = self.bastion.clone();
                let target = crate::kafka::KafkaTarget::new(&spec, &base_dir, timeout)
                    .through(self.forwards())
                    .via_bastion(bastion);
                tokio::spawn(async move {
                    let result = crate::kafka::peek(
                        &target,
                        &topic,
                        partition,
                        from,
                        super::kafka::PEEK_LIMIT,
                    )
                    .await
                    .map_err(|e| e.to_string());
                    let _ = tx.send(Action::KafkaPeeked { title, result });
                });
            }
            Effect::Probe {
                round,
                sources,
                profile,
                cluster,
                readonly,
            } => {
                self.stop_probes();
                let env = self.probe_env(&profile, cluster, readonly);
                for source in sources {
                    self.spawn_probe(round, source, Arc::clone(&profile), Arc::clone(&env));
                }
                let tx = self.tx.clone();
                let every = Duration::from_secs(profile.probes.refresh_seconds);
                self.refresh = Some(tokio::spawn(async move {
                    // `update` ignores a tick while the last round still runs.
                    loop {
                        tokio::time::sleep(every).await;
                        if tx.send(Action::RefreshTick).is_err() {
                            break;
                        }
                    }
                }));
            }
            Effect::ProbeOne {
                round,
                source,
                profile,
                cluster,
                readonly,
            } => {
                let env = self.probe_env(&profile, cluster, readonly);
                self.spawn_probe(round, source, profile, env);
            }
        }
    }

    /// Cancels the probes in flight and the refresh timer.
    pub fn stop_probes(&mut self) {
        for task in self.probes.drain(..) {
            task.abort();
        }
        if let Some(timer) = self.refresh.take() {
            timer.abort();
        }
    }
}

/// Reads the sites directory into site-list entries (blocking I/O, before
/// the loop starts or from a blocking task).
pub fn discover_sites(dir: &Path) -> Vec<crate::app::state::SiteEntry> {
    profile::discover(dir)
        .into_iter()
        .map(|found| {
            let name = found.display_name();
            let (environment, error) = match &found.profile {
                Ok(loaded) => (loaded.profile.environment.to_string(), None),
                Err(e) => (String::new(), Some(e.to_string())),
            };
            crate::app::state::SiteEntry {
                name,
                environment,
                path: found.path,
                error,
            }
        })
        .collect()
}
