//! End to end: the real `sitedeck` binary in a pseudo-terminal, against the
//! lab's Kubernetes API simulator, whose workloads log JSON lines with
//! trace ids: open a workload's logs, keep the warnings and errors, pivot
//! on a trace id to the same request in the other services.

mod support;

use std::time::Duration;

use sitedeck_lab::kube::{KubeSim, KubeSimOptions};
use support::pty::{Tui, keys};

/// Generous: the debug binary on a busy two-core machine.
const T: Duration = Duration::from_secs(30);

#[test]
fn a_workloads_logs_filtered_by_level_then_one_trace_across_services() {
    let home = tempfile::tempdir().expect("temp dir");
    // A request passes through the site every 100 ms.
    let sim = KubeSim::start_with(
        &home.path().join("kube"),
        KubeSimOptions {
            log_interval: Some(Duration::from_millis(100)),
            ..KubeSimOptions::default()
        },
    )
    .expect("simulator");
    let site = home.path().join("site.yaml");
    std::fs::write(
        &site,
        format!(
            "name: logs-e2e\nenvironment: poc\ncluster:\n  kubeconfig: {}\n",
            sim.kubeconfig().display()
        ),
    )
    .expect("profile");
    let mut tui = Tui::start(home.path(), ["--site".as_ref(), site.as_os_str()], 120, 36);
    tui.wait_for("Site logs-e2e", T);
    tui.send("gv");
    tui.wait_until("Versions listed", T, |screen| {
        let text = screen.contents();
        text.contains("billing-service") && !text.contains("loading")
    });
    tui.send("/");
    tui.send("billing");
    tui.wait_for("Versions 1 of", T);
    tui.send(keys::ENTER);
    tui.send("l");
    let screen = tui
        .wait_until("billing-service's lines", T, |screen| {
            let text = screen.contents();
            text.contains("Logs acme-prod/billing-service") && text.contains("payment")
        })
        .contents();
    assert!(screen.contains("FOLLOW"), "{screen}");

    // v: info+, then warn+.
    tui.send("v");
    tui.send("v");
    // The frame may arrive in pieces: wait until it is whole.
    tui.wait_until("only warnings and errors", T, |screen| {
        let text = screen.contents();
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" billing-"))
            .filter(|l| !l.contains(" · "))
            .collect();
        text.contains("warn+")
            && !rows.is_empty()
            && rows.iter().all(|row| {
                row.contains(" warn ") || row.contains(" error ") || row.contains(" fatal ")
            })
    });

    // The newest warning or error has a trace id: gather it everywhere.
    tui.send("t");
    let screen = tui
        .wait_until("the trace from several services", T, |screen| {
            let text = screen.contents();
            // Pods are shown by their start and end: api-gat…, billing-…
            text.contains("Logs trace ")
                && text.contains(" in acme-prod")
                && text.contains("│  ")
                && text.contains(" api-gat")
                && text.contains(" billing-")
                && text.contains("container logs read")
        })
        .contents();
    assert!(screen.contains("request received"), "{screen}");
    tui.send(keys::ESC);
    // Back where l was pressed (its filter kept).
    tui.wait_for("Versions 1 of", T);
    tui.quit(T);
}
