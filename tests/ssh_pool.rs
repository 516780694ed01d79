//! Sessions kept between surveys, against real sshd: a second survey and
//! a command log in no more; a node that restarted in between is logged
//! into again, and read; two users of one node at once get two sessions.
//! A survey starts one shell on a node, not one per thing it reads.
//!
//! And a survey whose facts come back cut short says so, not zeros.
//!
//! The pool is per process and this file's tests share it, so each test
//! counts only its own nodes' logins (from their sshd logs).

use std::sync::Arc;

use sitedeck::nodes::access::SshAccess;
use sitedeck::nodes::exec::{ExecSettings, run_on};
use sitedeck::nodes::pool;
use sitedeck::nodes::survey::{SurveySettings, survey};
use sitedeck_lab::sshd::SshNode;

mod support;

/// How many lines of `node`'s sshd log say `what`.
fn logged(node: &SshNode, what: &str) -> usize {
    std::fs::read_to_string(node.dir.join("sshd.log"))
        .expect("sshd log")
        .matches(what)
        .count()
}

/// How many times `node` let a user in.
fn logins(node: &SshNode) -> usize {
    logged(node, "Accepted publickey")
}

/// How many commands (each a shell started by the login shell) `node` ran.
fn commands(node: &SshNode) -> usize {
    logged(node, "Starting session: command")
}

fn access(dir: &std::path::Path, node: &SshNode) -> Arc<SshAccess> {
    let known = support::ssh::known(dir);
    support::ssh::trust(&known, node);
    Arc::new(SshAccess {
        nodes: vec![("n1".into(), support::ssh::target(node))],
        auth: support::ssh::key_auth(node),
        bastion: None,
        known,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_survey_and_a_command_reuse_the_first_surveys_session() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("n1")).expect("node");
    let access = access(dir.path(), &node);
    // Accepting the key logged in once (its session was not kept).
    let before = logins(&node);
    let commands_before = commands(&node);

    let first = survey(access.clone(), SurveySettings::default()).await;
    assert!(first.nodes[0].error.is_none(), "{first:?}");
    assert!(first.nodes[0].facts.is_some() && first.nodes[0].time.is_some());
    // The clock, the facts and the time daemon in one shell: the node's
    // rc files run once per survey.
    assert_eq!(commands(&node) - commands_before, 1, "one shell per survey");
    let second = survey(access.clone(), SurveySettings::default()).await;
    assert!(second.nodes[0].error.is_none(), "{second:?}");
    let ran = run_on(
        access.clone(),
        &["n1".into()],
        "echo kept",
        ExecSettings::default(),
    )
    .await;
    assert_eq!(ran[0].exit, Some(0), "{ran:?}");
    assert_eq!(logins(&node) - before, 1, "one login for all three");

    // Restarted: the kept session is dead; the next survey logs in again.
    let node = node.restart().expect("restart");
    let third = survey(access.clone(), SurveySettings::default()).await;
    assert!(third.nodes[0].error.is_none(), "{third:?}");
    assert!(third.nodes[0].facts.is_some());
    let after_restart = logins(&node);
    let fourth = survey(access, SurveySettings::default()).await;
    assert!(fourth.nodes[0].error.is_none(), "{fourth:?}");
    assert_eq!(logins(&node), after_restart, "kept again after the restart");
}

#[test]
fn two_users_of_one_node_at_once_get_a_session_each() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("n1")).expect("node");
    let access = access(dir.path(), &node);
    let target = support::ssh::target(&node);
    let timeout = support::ssh::TIMEOUT;
    let first = pool::lease(&access, &target, timeout).expect("first");
    let second = pool::lease(&access, &target, timeout).expect("second");
    assert!(!second.reused(), "the first is still lent out");
    drop(first);
    drop(second);
    let third = pool::lease(&access, &target, timeout).expect("third");
    assert!(third.reused());
    third.broken();
    let fourth = pool::lease(&access, &target, timeout).expect("fourth");
    assert!(!fourth.reused(), "a broken session is not kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_session_whose_node_went_away_is_dropped_by_the_keepalive_round() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = SshNode::start(&dir.path().join("n1")).expect("node");
    let access = access(dir.path(), &node);
    let surveyed = survey(access.clone(), SurveySettings::default()).await;
    assert!(surveyed.nodes[0].error.is_none(), "{surveyed:?}");
    assert_eq!(pool::idle_count(), 1);
    pool::keep_alive_now();
    assert_eq!(pool::idle_count(), 1, "a live session is kept");
    let _node = node.restart().expect("restart");
    pool::keep_alive_now();
    assert_eq!(pool::idle_count(), 0, "its node closed it");
}

#[tokio::test(flavor = "multi_thread")]
async fn facts_cut_short_are_an_error_not_zeros() {
    // A node whose sessions find none of the facts' programs (an empty
    // PATH directory): the sections come back empty.
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).expect("dir");
    let node = SshNode::start_with(
        &dir.path().join("n1"),
        sitedeck_lab::sshd::NodeOptions {
            path: Some(empty.display().to_string()),
            ..sitedeck_lab::sshd::NodeOptions::default()
        },
    )
    .expect("node");
    let access = access(dir.path(), &node);
    let surveyed = survey(access, SurveySettings::default()).await;
    let error = surveyed.nodes[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("the facts came back incomplete"),
        "{surveyed:?}"
    );
}
