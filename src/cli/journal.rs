//! `sitedeck logs --node NAME [--unit UNIT]`: a node's systemd journal
//! over SSH, printed as pods' logs are (parsed and sanitised, text or JSON
//! lines), its last entries or those since `--since`, then followed with
//! `--follow`.

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::logs::buffer::LogLine;
use crate::logs::journal::{DEFAULT_ENTRIES, DEFAULT_UNIT, JournalRequest};

/// The request the command line's flags make, with the site's log field
/// names; `None` when no `--node` was given.
pub fn request(
    args: &super::LogsArgs,
    profile: &crate::config::profile::SiteProfile,
) -> Option<Result<JournalRequest, String>> {
    let node = args.node.as_ref()?;
    let since = match args.since.as_deref().map(super::logs::parse_age) {
        Some(Ok(since)) => Some(since),
        Some(Err(why)) => return Some(Err(why)),
        None => None,
    };
    let unit = args.unit.as_deref().unwrap_or(DEFAULT_UNIT);
    if let Err(e) = crate::logs::journal::check_unit(unit) {
        return Some(Err(e.to_string()));
    }
    Some(Ok(JournalRequest {
        node: node.clone(),
        unit: unit.to_owned(),
        // With an age, every entry since then; else the last ones.
        entries: since.is_none().then_some(DEFAULT_ENTRIES),
        since,
        follow: args.follow,
        names: Arc::new(profile.logs.fields.clone()),
    }))
}

/// Prints the journal's lines as they come. Exits 1 when the node or its
/// journal cannot be read (the reason on stderr), or when the output
/// cannot be written; 0 once journalctl ended (or the output was closed).
pub async fn journal(
    profile: &crate::config::profile::SiteProfile,
    state_dir: &std::path::Path,
    request: JournalRequest,
    json: bool,
) -> ExitCode {
    let (tx, mut rx) = mpsc::channel::<LogLine>(4096);
    let on_notice: crate::logs::journal::OnNotice = Arc::new(|notice: &str| {
        eprintln!("logs: {}", crate::text::sanitize(notice));
    });
    let profile = profile.clone();
    let state_dir = state_dir.to_path_buf();
    let reading = tokio::spawn(async move {
        crate::logs::journal::read(&profile, &state_dir, request, tx, on_notice).await
    });
    let mut out = std::io::stdout().lock();
    // One node's journal comes in order: each line goes out as it comes.
    while let Some(line) = rx.recv().await {
        if let Err(code) = super::logs::print(&mut out, &line, json) {
            // The reader sees the receiver go and closes the channel.
            drop(rx);
            let _ = reading.await;
            return code;
        }
    }
    match reading.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(why)) => {
            eprintln!("logs: {}", crate::text::sanitize(&why.to_string()));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("logs: the journal reader ended unexpectedly: {e}");
            ExitCode::from(1)
        }
    }
}
