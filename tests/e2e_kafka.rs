//! End to end: the real binary against a real broker (nisshi with a
//! SCRAM-SHA-512 user): the Kafka and Groups views, peek, `status`'s kafka
//! section and `kafka peek`, and the password kept out of the log.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sitedeck_lab::kafka::{BrokerOptions, KafkaBroker, KafkaUser, Scram};
use sitedeck_lab::kafka_traffic::{Produced, commit, create_topic, produce};
use support::pty::{Tui, sitedeck};

/// Generous: the debug binary on a busy two-core machine.
const T: Duration = Duration::from_secs(30);
/// A password no log or screen may show.
const SENTINEL: &str = "pw-SENTINEL-4711";

struct Site {
    _broker: KafkaBroker,
    file: PathBuf,
}

/// A broker with `orders` (2 partitions, 7 + 3 messages), the group
/// `billing` committed at 2 on partition 0, and a site profile for it
/// whose password file holds `password`.
fn site(home: &Path, password: &str) -> Site {
    let user = KafkaUser {
        name: "ops".into(),
        password: SENTINEL.into(),
        mechanism: Scram::Sha512,
    };
    let broker = KafkaBroker::start(
        &home.join("kafka"),
        &BrokerOptions {
            users: vec![user.clone()],
            ..Default::default()
        },
    )
    .expect("nisshi starts");
    let login = broker.login(&user);
    create_topic(&login, "orders", 2).expect("topic");
    let messages = |partition: i32, count: i32| -> Vec<Produced> {
        (0..count)
            .map(|n| Produced {
                partition,
                key: Some(format!("order-{partition}-{n}")),
                // Partition 1 holds plain text with a raw escape sequence.
                value: if partition == 0 {
                    format!(r#"{{"order":{n}}}"#)
                } else {
                    format!("order {n} evil\x1b]0;title\x07")
                },
                headers: Vec::new(),
            })
            .collect()
    };
    produce(&login, "orders", &messages(0, 7)).expect("produce");
    produce(&login, "orders", &messages(1, 3)).expect("produce");
    commit(&login, "billing", "orders", 0, 2).expect("commit");
    std::fs::write(home.join("kafka.pw"), password).expect("secret");
    let file = home.join("site.yaml");
    std::fs::write(
        &file,
        format!(
            "name: k\nenvironment: poc\nprobes:\n  timeout_seconds: 5\nkafka:\n  - name: events\n    bootstrap: [{}]\n    security_protocol: SASL_PLAINTEXT\n    sasl_mechanism: SCRAM-SHA-512\n    username: ops\n    password: {{file: kafka.pw}}\n",
            broker.bootstrap()
        ),
    )
    .expect("profile");
    Site {
        _broker: broker,
        file,
    }
}

fn headless(home: &Path, site: &Site, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(sitedeck())
        .args(args)
        .arg("--site")
        .arg(&site.file)
        .env("SITEDECK_CONFIG_DIR", home.join("config"))
        .env("SITEDECK_STATE_DIR", home.join("state"))
        .env("SITEDECK_LOG", "debug")
        .env("HOME", home)
        .output()
        .expect("run sitedeck");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn log(home: &Path) -> String {
    std::fs::read_to_string(home.join("state/sitedeck.log")).unwrap_or_default()
}

#[test]
fn views_show_topics_lag_and_a_sanitised_peek() {
    let home = tempfile::tempdir().expect("tempdir");
    let site = site(home.path(), SENTINEL);
    let mut tui = Tui::start(
        home.path(),
        ["--site".into(), site.file.clone().into_os_string()],
        80,
        24,
    );
    tui.wait_for("Site k", T);
    tui.send("gk");
    // The detail pane's last line: the whole frame is on screen.
    let screen = tui.wait_for("reached direct", T);
    assert!(screen.contains("Kafka topics 1"), "{screen}");
    assert!(screen.contains("orders"), "{screen}");
    tui.send("]p");
    let screen = tui.wait_for("offset 0", T);
    assert!(screen.contains("Peek events · orders/1"), "{screen}");
    assert!(screen.contains("key order-1-0"), "{screen}");
    // The escape in the value is shown, not obeyed.
    assert!(screen.contains("evil\\x1b]0;title\\x07"), "{screen}");
    tui.send("\x1b");
    tui.wait_gone("Peek events", T);
    tui.send("gc");
    let screen = tui.wait_for("billing", T);
    // produced − committed: 7 − 2 on partition 0 (partition 1 has no commit).
    assert!(
        screen
            .lines()
            .any(|l| l.contains("billing") && l.split_whitespace().any(|w| w == "5")),
        "{screen}"
    );
    tui.quit(T);
    assert!(!log(home.path()).contains(SENTINEL));
}

#[test]
fn status_and_peek_headless_and_the_password_stays_out_of_the_log() {
    let home = tempfile::tempdir().expect("tempdir");
    let site = site(home.path(), SENTINEL);
    let (code, stdout, stderr) = headless(home.path(), &site, &["status", "--format", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let kafka = &json["kafka"][0];
    assert_eq!(kafka["state"], "up", "{kafka:#}");
    assert_eq!(kafka["topics"][0]["name"], "orders");
    assert_eq!(kafka["topics"][0]["messages"], 10);
    assert_eq!(kafka["groups"][0]["name"], "billing");
    assert_eq!(kafka["groups"][0]["total_lag"], 5);

    let (code, stdout, _) = headless(
        home.path(),
        &site,
        &[
            "kafka",
            "peek",
            "orders",
            "--partition",
            "0",
            "--limit",
            "2",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.contains("offset 5") && stdout.contains("offset 6"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    // From a time, as an operator types it: everything produced in the
    // last hour.
    let (code, stdout, stderr) = headless(
        home.path(),
        &site,
        &["kafka", "peek", "orders", "--from", "1h", "--limit", "1"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("offset 0"), "{stdout}");
    let (code, _, stderr) = headless(
        home.path(),
        &site,
        &["kafka", "peek", "orders", "--from", "teatime"],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("`teatime` is not a time"), "{stderr}");

    // A wrong password: exit 1, the error names the user and mechanism.
    std::fs::write(home.path().join("kafka.pw"), "wrong-pw").expect("secret");
    let (code, stdout, stderr) = headless(home.path(), &site, &["status", "--format", "json"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["kafka"][0]["state"], "auth_failed", "{json:#}");
    let detail = json["kafka"][0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("`ops`") && detail.contains("SCRAM-SHA-512"),
        "{detail}"
    );
    let (code, _, stderr) = headless(home.path(), &site, &["kafka", "peek", "orders"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("SASL authentication failed"), "{stderr}");

    let log = log(home.path());
    assert!(log.contains("librdkafka"), "debug logging was on: {log}");
    assert!(!log.contains(SENTINEL), "the password is in the log");
    assert!(
        !log.contains("wrong-pw"),
        "the wrong password is in the log"
    );
}
