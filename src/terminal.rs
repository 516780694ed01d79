//! The terminal guard: raw mode and the alternate screen, restored on every
//! way out — normal exit, error, panic, SIGTERM, SIGHUP.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::{cursor, event, execute, terminal};

static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Holds the terminal in cockpit mode; dropping it restores the terminal.
pub struct TerminalGuard;

impl TerminalGuard {
    /// Installs the panic hook, then enters raw mode and the alternate screen.
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        terminal::enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        // The guard exists before anything else can fail, so its drop restores.
        let guard = Self;
        execute!(
            io::stdout(),
            terminal::EnterAlternateScreen,
            event::EnableBracketedPaste,
            cursor::Hide
        )?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Restores the terminal if sitedeck changed it; safe to call twice.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if let Err(e) = execute!(
        out,
        event::DisableBracketedPaste,
        terminal::LeaveAlternateScreen,
        cursor::Show
    ) {
        tracing::warn!("could not leave the alternate screen: {e}");
    }
    if let Err(e) = terminal::disable_raw_mode() {
        tracing::warn!("could not leave raw mode: {e}");
    }
    let _ = out.flush();
}

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        tracing::error!("panic: {info}\n{backtrace}");
        // Panics in background tasks are caught and reported by the app; only
        // a panic of the main thread (the event loop) ends the cockpit.
        if std::thread::current().name() == Some("main") {
            restore();
            previous(info);
        }
    }));
}
