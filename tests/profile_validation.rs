//! Site profiles: the shipped example and the documented examples load, every
//! kind of mistake is reported with its place and a message that says what to
//! fix, no message ever shows a plaintext secret, and `sitedeck profile check`
//! exits 0 or 1 accordingly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

use sitedeck::config::profile::{
    self, ClusterVia, Endpoint, Environment, MiddlewareKind, NodesSpec, ProfileError,
    SaslMechanism, SecurityProtocol,
};
use sitedeck::config::secret::SecretSource;

/// The environment variables the example's `{env: ...}` secrets name.
const EXAMPLE_ENV: [(&str, &str); 2] = [
    ("ACME_MYSQL_PASSWORD", "mysql-from-env-5521"),
    ("ACME_REDIS_PASSWORD", "redis-from-env-8830"),
];

/// Every bad fixture in `tests/fixtures/profiles/bad/` and exactly what
/// `load` says about it. The fixtures directory is written `{dir}`.
const BAD: &[(&str, &str)] = &[
    (
        "bad-mysql-without-user.yaml",
        "bad-mysql-without-user.yaml:4:11: `mysql-main`: mysql needs a `user` to log in as",
    ),
    (
        "bad-port-zero.yaml",
        "bad-port-zero.yaml:6:5: expected a port number (1-65535), not `0`",
    ),
    (
        "bad-duplicate-nodes.yaml",
        "bad-duplicate-nodes.yaml:7:13: duplicate node name `n1`: names must be unique",
    ),
    (
        "bad-unknown-key.yaml",
        "bad-unknown-key.yaml:2:1: unknown key `enviroment` (did you mean `environment`?); \
         expected one of: name, environment, readonly, description, cluster, ssh, release, \
         middleware, kafka, checklist, runbooks, probes, logs, time",
    ),
    (
        "bad-unknown-nested-key.yaml",
        "bad-unknown-nested-key.yaml:6:5: unknown key `endpont` (did you mean `endpoint`?); \
         expected one of: name, kind, endpoint, url, user, password, database, role, replicas, write_probe, bucket, region, expect_status, expect_body, expect_json, ca_file, timeout_seconds",
    ),
    (
        "bad-environment.yaml",
        "bad-environment.yaml:2:14: unknown value `production` (did you mean `prod`?); \
         expected one of: prod, staging, poc",
    ),
    (
        "bad-missing-name.yaml",
        "bad-missing-name.yaml:1:1: missing required key `name`",
    ),
    (
        "bad-wrong-type.yaml",
        "bad-wrong-type.yaml:4:20: expected a number, not `5s`",
    ),
    (
        "bad-yaml-syntax.yaml",
        "bad-yaml-syntax.yaml:5:7: mapping values are not allowed in this context \
         (check the indentation of this line, or quote a value that contains `: `)",
    ),
    (
        "bad-endpoint.yaml",
        "bad-endpoint.yaml:6:15: endpoint of `mysql-main`: `mysql.acme.internal` is not host:port",
    ),
    (
        "bad-port.yaml",
        "bad-port.yaml:6:11: expected a port number (1-65535), not `70000`",
    ),
    (
        "bad-duplicate-names.yaml",
        "bad-duplicate-names.yaml:7:11: duplicate middleware name `redis-cache`: names must be unique",
    ),
    (
        "bad-missing-env-secret.yaml",
        "bad-missing-env-secret.yaml:8:15: password for `mysql-main`: environment variable \
         SITEDECK_TEST_NEVER_SET_MYSQL_PASSWORD is not set (export it before starting sitedeck)",
    ),
    (
        "bad-missing-secret-file.yaml",
        "bad-missing-secret-file.yaml:9:15: password for `kafka-main`: cannot read secret file \
         {dir}/secrets/kafka-password: No such file or directory (os error 2)",
    ),
    (
        "bad-k8s-secret-format.yaml",
        "bad-k8s-secret-format.yaml:7:15: k8s_secret `acme/redis-auth` must be \
         namespace/name/key, e.g. prod/mysql-auth/password",
    ),
    (
        "bad-secret-kind.yaml",
        "bad-secret-kind.yaml:7:15: unknown secret reference `k8s` (did you mean `k8s_secret`?): \
         expected env, file or k8s_secret",
    ),
    (
        "bad-missing-kubeconfig.yaml",
        "bad-missing-kubeconfig.yaml:4:15: kubeconfig not found: {dir}/clusters/acme-prod.kubeconfig",
    ),
    (
        "bad-via-bastion.yaml",
        "bad-via-bastion.yaml:5:8: `via: bastion` needs an `ssh.bastion` to tunnel through",
    ),
    (
        "bad-sasl-credentials.yaml",
        "bad-sasl-credentials.yaml:4:11: kafka `kafka-main` uses SASL_SSL but sets no password: \
         SASL needs sasl_mechanism, username and password",
    ),
    (
        "bad-nodes-word.yaml",
        "bad-nodes-word.yaml:5:10: `nodes` is a list of nodes or `from_cluster`, not \
         `from-cluster` (did you mean `from_cluster`?)",
    ),
    (
        "bad-empty.yaml",
        "bad-empty.yaml:1:1: the profile is empty: a site profile needs at least `name` and \
         `environment`",
    ),
    (
        "bad-plaintext-secret.yaml",
        "bad-plaintext-secret.yaml:6:15: endpoint of `mysql-main`: `33060000` in \
         `10.20.0.31:33060000` is not a port number (1-65535)",
    ),
    (
        "bad-unquoted-secret.yaml",
        "bad-unquoted-secret.yaml:7:15: this plaintext secret reads as a number or a boolean: \
         put it in quotes, or better use {env: NAME} or {file: PATH}",
    ),
    (
        "bad-from-cluster-without-cluster.yaml",
        "bad-from-cluster-without-cluster.yaml:4:3: `ssh.nodes: from_cluster` lists the nodes \
         from the Kubernetes API, and the profile has no `cluster`: add a `cluster` section or \
         list the nodes",
    ),
    ("bad-several-problems.yaml", SEVERAL_PROBLEMS),
];

/// `bad-several-problems.yaml` has seven problems, found in one go.
const SEVERAL_PROBLEMS: &str = "\
bad-several-problems.yaml:4:15: kubeconfig not found: {dir}/clusters/acme-prod.kubeconfig
bad-several-problems.yaml:5:8: `via: bastion` needs an `ssh.bastion` to tunnel through
bad-several-problems.yaml:9:15: endpoint of `mysql-main`: `10.20.0.31` is not host:port
bad-several-problems.yaml:10:15: password for `mysql-main`: environment variable \
SITEDECK_TEST_NEVER_SET_MYSQL_PASSWORD is not set (export it before starting sitedeck)
bad-several-problems.yaml:11:11: duplicate middleware name `mysql-main`: names must be unique
bad-several-problems.yaml:15:11: kafka `kafka-main` uses SASL_PLAINTEXT but sets no \
sasl_mechanism, username or password: SASL needs sasl_mechanism, username and password
bad-several-problems.yaml:19:20: `probes.timeout_seconds` must be more than 0 and at most 300";

/// Plaintext passwords written in fixtures; no message may contain them.
const PLAINTEXT_SECRETS: [(&str, &str); 2] = [
    ("bad-plaintext-secret.yaml", "Hunter2-acme-prod!"),
    ("bad-unquoted-secret.yaml", "4711.0815"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example_path() -> PathBuf {
    repo().join("assets/sites/example.yaml")
}

fn bad_dir() -> PathBuf {
    repo().join("tests/fixtures/profiles/bad")
}

/// Sets the example's secrets in this process's environment, once.
fn set_example_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, value) in EXAMPLE_ENV {
            // SAFETY: these variables are set once and never changed, and no
            // test in this binary runs C code that reads the environment.
            unsafe { std::env::set_var(name, value) };
        }
    });
}

/// What `load` says about a bad fixture, with paths made independent of
/// where the repository is: the file named as written, the directory as `{dir}`.
fn load_error(name: &str) -> String {
    let dir = bad_dir();
    match profile::load(&dir.join(name)) {
        Ok(_) => panic!("{name} loaded, but it is a bad profile"),
        Err(e) => relative(&e.to_string(), &dir),
    }
}

fn relative(text: &str, dir: &Path) -> String {
    let dir = dir.display().to_string();
    let prefix = format!("{dir}/");
    text.lines()
        .map(|line| {
            line.strip_prefix(&prefix)
                .unwrap_or(line)
                .replace(&dir, "{dir}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `sitedeck profile check FILE` in `cwd`, away from the operator's
/// home, with the example's secrets set only if `env` sets them.
fn profile_check(cwd: &Path, file: &str, env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_sitedeck"));
    for (name, _) in EXAMPLE_ENV {
        command.env_remove(name);
    }
    command
        .args(["profile", "check", file])
        .current_dir(cwd)
        .env("SITEDECK_CONFIG_DIR", home.path().join("config"))
        .env("SITEDECK_STATE_DIR", home.path().join("state"))
        .envs(env.iter().copied())
        .output()
        .expect("run sitedeck")
}

/// What the example's settings that sitedeck cannot use yet warn about.
const EXAMPLE_WARNINGS: [&str; 0] = [];

#[test]
fn the_example_loads_with_only_the_not_yet_supported_warnings() {
    set_example_env();
    let loaded = profile::load(&example_path()).expect("the example profile is valid");
    let dir = format!("{}/", repo().join("assets/sites").display());
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| w.replace(&dir, ""))
        .collect();
    assert_eq!(warnings, EXAMPLE_WARNINGS);
    let p = &loaded.profile;
    assert_eq!(p.name, "acme-prod");
    assert_eq!(p.environment, Environment::Prod);
    assert!(!p.readonly);
    assert!(
        p.description
            .as_deref()
            .is_some_and(|d| d.contains("AL-2291"))
    );

    let cluster = p.cluster.as_ref().expect("cluster");
    assert_eq!(cluster.context.as_deref(), Some("acme-prod"));
    assert_eq!(
        cluster.via.as_ref().map(|v| v.value),
        Some(ClusterVia::Bastion)
    );

    let ssh = p.ssh.as_ref().expect("ssh");
    let bastion = ssh.bastion.as_ref().expect("bastion");
    assert_eq!(
        (bastion.host.as_str(), bastion.port.get()),
        ("bastion.acme.example", 2222)
    );
    let NodesSpec::List(nodes) = &ssh.nodes else {
        panic!("the example lists its nodes");
    };
    let hosts: Vec<(&str, u16)> = nodes
        .iter()
        .map(|n| (n.host.as_str(), ssh.port_of(n)))
        .collect();
    assert_eq!(
        hosts,
        [("10.20.0.11", 22), ("10.20.0.21", 22), ("10.20.0.22", 22)]
    );

    let kinds: Vec<MiddlewareKind> = p.middleware.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            MiddlewareKind::Mysql,
            MiddlewareKind::Mysql,
            MiddlewareKind::Redis,
            MiddlewareKind::Postgresql,
            MiddlewareKind::S3,
            MiddlewareKind::Elasticsearch,
            MiddlewareKind::Http,
            MiddlewareKind::Tcp
        ]
    );

    assert_eq!(p.middleware[2].database.as_deref(), Some("0"));
    assert_eq!(
        p.middleware[2]
            .endpoint
            .as_ref()
            .map(|e| e.value.to_string()),
        Some("pod acme-data/app=redis,role=master:6379".to_owned())
    );
    assert_eq!(
        p.middleware[1].endpoint.as_ref().map(|e| e.value.clone()),
        Some(sitedeck::config::profile::Endpoint::Service {
            namespace: "acme-data".into(),
            name: "mysql-replica".into(),
            port: 3306,
        })
    );

    let [kafka] = p.kafka.as_slice() else {
        panic!("the example has one Kafka cluster");
    };
    assert_eq!(kafka.security_protocol, SecurityProtocol::SaslSsl);
    assert_eq!(kafka.sasl_mechanism, Some(SaslMechanism::ScramSha512));
    assert_eq!(kafka.bootstrap.len(), 3);
    assert_eq!(
        kafka
            .properties
            .get("socket.timeout.ms")
            .map(String::as_str),
        Some("10000")
    );
    assert_eq!(
        (p.probes.timeout_seconds, p.probes.refresh_seconds),
        (8.0, 30)
    );
}

#[test]
fn the_example_secrets_resolve_from_env_and_file() {
    set_example_env();
    let loaded = profile::load(&example_path()).expect("the example profile is valid");
    let p = &loaded.profile;
    let resolve = |source: &SecretSource| {
        source
            .resolve_local(&p.base_dir)
            .expect("secret resolves")
            .expose()
            .to_owned()
    };
    let mysql = p.middleware[0].password.as_ref().expect("mysql password");
    assert_eq!(mysql.value, SecretSource::Env("ACME_MYSQL_PASSWORD".into()));
    assert_eq!(resolve(&mysql.value), EXAMPLE_ENV[0].1);
    let kafka = p.kafka[0].password.as_ref().expect("kafka password");
    assert_eq!(
        kafka.value,
        SecretSource::File("example/kafka-password".into())
    );
    assert_eq!(resolve(&kafka.value), "acme-kafka-ops-2024");
}

#[test]
fn the_example_uses_every_key() {
    let example = std::fs::read_to_string(example_path()).expect("read the example");
    for key in all_keys() {
        assert!(
            example.contains(&format!("{key}:")),
            "assets/sites/example.yaml does not show `{key}`"
        );
    }
}

/// The release manifest, checklist and kubeconfig next to the example are
/// real files of their kind.
#[test]
fn the_example_companion_files_are_well_formed() {
    let sites = repo().join("assets/sites");
    let release =
        sitedeck::cluster::release::load(&repo().join("assets/releases/example-2.4.1.yaml"))
            .expect("the release manifest is valid");
    assert_eq!(
        (release.name.as_str(), release.version.as_str()),
        ("acme-platform", "2.4.1")
    );
    assert!(!release.components.is_empty());

    let text = std::fs::read_to_string(sites.join("example/checklist.yaml")).expect("checklist");
    let _: serde::de::IgnoredAny = serde_saphyr::from_str(&text).expect("checklist parses");

    let kubeconfig = kube::config::Kubeconfig::read_from(sites.join("example/kubeconfig.yaml"))
        .expect("kubeconfig parses");
    assert_eq!(kubeconfig.current_context.as_deref(), Some("acme-prod"));
    let server = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .and_then(|c| c.server.clone());
    assert_eq!(server.as_deref(), Some("https://127.0.0.1:6443"));

    let known_hosts =
        std::fs::read_to_string(sites.join("example/known_hosts")).expect("known_hosts");
    let entries: Vec<Vec<&str>> = known_hosts
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].len(), 3, "hosts, key type, key");
    assert!(entries[0][0].contains("bastion.acme.example"));
    assert_eq!(entries[0][1], "ssh-ed25519");
}

#[test]
fn a_plaintext_password_loads_with_one_warning_that_hides_it() {
    let text = "name: lab\nenvironment: poc\nmiddleware:\n  - name: redis-lab\n    kind: redis\n    endpoint: 127.0.0.1:6379\n    password: \"0x1F-lab-secret\"\n";
    let loaded = profile::parse(text, Path::new("lab.yaml"), &bad_dir()).expect("valid");
    assert_eq!(
        loaded.warnings,
        [
            "lab.yaml:7:15: plaintext password for `redis-lab` in the profile; prefer {env: NAME} or {file: PATH}"
        ]
    );
    let password = loaded.profile.middleware[0]
        .password
        .as_ref()
        .expect("password");
    assert!(!format!("{:?}", loaded.profile).contains("0x1F-lab-secret"));
    let secret = password.value.resolve_local(Path::new("/")).expect("plain");
    assert_eq!(
        secret.expose(),
        "0x1F-lab-secret",
        "kept exactly as written"
    );
}

#[test]
fn every_bad_profile_is_reported_exactly() {
    let mismatches: Vec<String> = BAD
        .iter()
        .filter_map(|(name, expected)| {
            let actual = load_error(name);
            (actual != *expected)
                .then(|| format!("{name}\n  expected: {expected}\n  actual:   {actual}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}

#[test]
fn every_bad_fixture_has_an_expected_message() {
    let mut on_disk: Vec<String> = std::fs::read_dir(bad_dir())
        .expect("fixtures dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = BAD.iter().map(|(name, _)| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert!(listed.len() >= 12);
}

#[test]
fn every_problem_has_a_line_and_a_column() {
    for (name, _) in BAD {
        let Err(ProfileError::Invalid { problems, .. }) = profile::load(&bad_dir().join(name))
        else {
            panic!("{name} should be invalid");
        };
        for p in problems {
            assert!(
                p.line >= 1 && p.column >= 1,
                "{name}: no location for {p:?}"
            );
        }
    }
}

#[test]
fn several_problems_are_all_reported_sorted_by_line() {
    let Err(ProfileError::Invalid { problems, .. }) =
        profile::load(&bad_dir().join("bad-several-problems.yaml"))
    else {
        panic!("bad-several-problems.yaml should be invalid");
    };
    let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [4, 5, 9, 10, 11, 15, 19]);
    assert_eq!(load_error("bad-several-problems.yaml"), SEVERAL_PROBLEMS);
}

#[test]
fn a_typo_for_a_required_key_is_one_problem_and_a_missing_key_another() {
    // `enviroment` is reported as the typo it is, not also as a missing key;
    // with `name` missing as well, both are reported, by line.
    let text = "description: Acme staging\nenviroment: staging\n";
    let Err(e) = profile::parse(text, Path::new("s.yaml"), &bad_dir()) else {
        panic!("invalid");
    };
    assert_eq!(
        e.to_string(),
        "s.yaml:1:1: missing required key `name`\n\
         s.yaml:2:1: unknown key `enviroment` (did you mean `environment`?); expected one of: \
         name, environment, readonly, description, cluster, ssh, release, middleware, kafka, \
         checklist, runbooks, probes, logs, time"
    );
}

#[test]
fn errors_never_print_a_plaintext_secret() {
    for (name, secret) in PLAINTEXT_SECRETS {
        let message = load_error(name);
        assert!(
            !message.contains(secret),
            "{name} leaks its secret: {message}"
        );
        let output = profile_check(&bad_dir(), name, &[]);
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !printed.contains(secret),
            "{name} leaks its secret: {printed}"
        );
    }
    // A plaintext password next to other mistakes in the same entry.
    let text = "name: lab\nenvironment: poc\nmiddleware:\n  - name: db\n    kind: mysql\n    endpoint: db\n    password: Sup3r-Secret-99\n  - name: db\n    kind: mysql\n    endpoint: db:3306\n    password: Sup3r-Secret-99\n    user: [root]\n";
    let message = profile::parse(text, Path::new("lab.yaml"), &bad_dir())
        .expect_err("invalid")
        .to_string();
    assert_eq!(
        message,
        "lab.yaml:12:11: expected a single value here, not a list or a mapping"
    );
    let without_type_error = text.replace("    user: [root]\n", "");
    let message = profile::parse(&without_type_error, Path::new("lab.yaml"), &bad_dir())
        .expect_err("invalid")
        .to_string();
    assert!(
        message.contains("duplicate middleware name `db`"),
        "{message}"
    );
    assert!(!message.contains("Sup3r-Secret-99"), "{message}");
}

#[test]
fn profile_check_exits_0_for_the_example() {
    let output = profile_check(&repo().join("assets/sites"), "example.yaml", &EXAMPLE_ENV);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "example.yaml: ok — site acme-prod (prod), 8 middleware endpoint(s), 1 kafka cluster(s)\n"
    );
    let expected: String = EXAMPLE_WARNINGS
        .iter()
        .map(|w| format!("warning: {w}\n"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&output.stderr), expected);
}

#[test]
fn profile_check_exits_1_with_every_problem_on_stderr() {
    let output = profile_check(&bad_dir(), "bad-environment.yaml", &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "bad-environment.yaml:2:14: unknown value `production` (did you mean `prod`?); \
         expected one of: prod, staging, poc\n"
    );

    let output = profile_check(&bad_dir(), "bad-several-problems.yaml", &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(relative(&stderr, &bad_dir()), SEVERAL_PROBLEMS);
}

#[test]
fn profile_check_exits_1_without_the_secret_env_vars() {
    let output = profile_check(&repo().join("assets/sites"), "example.yaml", &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "example.yaml:92:15: password for `mysql-main`: environment variable \
         ACME_MYSQL_PASSWORD is not set (export it before starting sitedeck)\n\
         example.yaml:104:15: password for `mysql-replica`: environment variable \
         ACME_MYSQL_PASSWORD is not set (export it before starting sitedeck)\n\
         example.yaml:110:15: password for `redis-cache`: environment variable \
         ACME_REDIS_PASSWORD is not set (export it before starting sitedeck)\n"
    );
}

/// Every ```` ```yaml profile ```` block of the user's guide is a complete
/// profile, written relative to `assets/sites/`; every other ```` ```yaml ````
/// block is at least valid YAML.
#[test]
fn the_documented_examples_are_valid() {
    set_example_env();
    let doc = std::fs::read_to_string(repo().join("docs/site-profile.md")).expect("read doc");
    let blocks = fenced_blocks(&doc);
    let profiles: Vec<&(String, String)> = blocks
        .iter()
        .filter(|(info, _)| info == "yaml profile")
        .collect();
    assert!(profiles.len() >= 2, "the guide shows complete profiles");
    for (i, (_, text)) in profiles.iter().enumerate() {
        let name = format!("docs/site-profile.md, profile #{}", i + 1);
        if let Err(e) = profile::parse(text, Path::new(&name), &repo().join("assets/sites")) {
            panic!("{e}");
        }
    }
    for (_, text) in blocks.iter().filter(|(info, _)| info == "yaml") {
        let parsed: Result<serde::de::IgnoredAny, _> = serde_saphyr::from_str(text);
        assert!(parsed.is_ok(), "not YAML:\n{text}");
    }
}

#[test]
fn the_guide_documents_every_key() {
    let doc = std::fs::read_to_string(repo().join("docs/site-profile.md")).expect("read doc");
    for key in all_keys() {
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/site-profile.md does not document `{key}`"
        );
    }
}

/// The code blocks of a Markdown text, with their info strings.
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Every key the profile format accepts, at every level, as the parser
/// itself lists them when it meets an unknown one.
fn all_keys() -> Vec<String> {
    let head = "name: x\nenvironment: poc\n";
    let probes = [
        "zzz: 1\n",
        "cluster:\n  zzz: 1\n",
        "ssh:\n  zzz: 1\n",
        "ssh:\n  bastion:\n    zzz: 1\n",
        "ssh:\n  nodes:\n    - zzz: 1\n",
        "middleware:\n  - zzz: 1\n",
        "kafka:\n  - zzz: 1\n",
        "probes:\n  zzz: 1\n",
    ];
    let mut keys = Vec::new();
    for probe in probes {
        let message = profile::parse(&format!("{head}{probe}"), Path::new("k.yaml"), &repo())
            .expect_err("unknown key")
            .to_string();
        let (_, list) = message
            .split_once("expected one of: ")
            .unwrap_or_else(|| panic!("no key list in: {message}"));
        keys.extend(list.split(", ").map(str::to_owned));
    }
    keys.sort();
    keys.dedup();
    keys
}

#[test]
fn secrets_in_kafka_properties_are_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "name: a\nenvironment: poc\nkafka:\n  - name: k\n    bootstrap: [k:9092]\n    properties:\n      sasl.password: hunter2\n      client.id: sitedeck\n";
    let loaded = profile::parse(text, &dir.path().join("a.yaml"), dir.path()).expect("valid");
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert!(loaded.warnings[0].contains("`sasl.password` in plaintext properties"));
    assert!(!loaded.warnings[0].contains("hunter2"));
}

#[test]
fn kafka_via_port_forward_needs_the_cluster_and_in_cluster_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entry = "kafka:\n  - name: k\n    via: port-forward\n    bootstrap: [kafka-0.kafka.data.svc:9092, 10.0.0.5:9092]\n";
    let text = format!("name: a\nenvironment: poc\n{entry}");
    let error = profile::parse(&text, &dir.path().join("a.yaml"), dir.path())
        .expect_err("no cluster, and an address");
    let said = error.to_string();
    assert!(
        said.contains("a.yaml:4:11: kafka `k` is reached through the Kubernetes API (via: port-forward), and the profile has no `cluster`"),
        "{said}"
    );
    assert!(
        said.contains("a.yaml:6:46: kafka `k` goes via port-forward, so `10.0.0.5:9092` must be an in-cluster name"),
        "{said}"
    );
    assert!(
        !said.contains("kafka-0.kafka.data.svc:9092` must"),
        "{said}"
    );

    std::fs::write(dir.path().join("kubeconfig"), "").expect("kubeconfig");
    let text = format!(
        "name: a\nenvironment: poc\ncluster:\n  kubeconfig: kubeconfig\n{}",
        entry.replace(", 10.0.0.5:9092", "")
    );
    let loaded = profile::parse(&text, &dir.path().join("a.yaml"), dir.path()).expect("valid");
    assert!(loaded.profile.needs_forwards());
}

#[test]
fn cluster_names_map_to_pods_and_services() {
    let pod = |namespace: &str, pod: &str| Endpoint::NamedPod {
        namespace: namespace.into(),
        pod: pod.into(),
        port: 9092,
    };
    let service = |namespace: &str, name: &str| Endpoint::Service {
        namespace: namespace.into(),
        name: name.into(),
        port: 9092,
    };
    let of = |host: &str| Endpoint::of_cluster_name(host, 9092);
    assert_eq!(
        of("kafka-0.kafka-headless.data.svc.cluster.local"),
        Some(pod("data", "kafka-0"))
    );
    assert_eq!(
        of("Kafka-0.kafka-headless.data.svc.cluster.local."),
        Some(pod("data", "kafka-0"))
    );
    assert_eq!(of("kafka-0.brokers.data.svc"), Some(pod("data", "kafka-0")));
    assert_eq!(
        of("kafka.data.svc.corp.internal"),
        Some(service("data", "kafka"))
    );
    assert_eq!(of("kafka.data.svc"), Some(service("data", "kafka")));
    // A Service, or a namespace, may be called svc itself.
    assert_eq!(of("svc.data.svc"), Some(service("data", "svc")));
    assert_eq!(of("kafka-0.svc.data.svc"), Some(pod("data", "kafka-0")));
    assert_eq!(
        of("kafka.svc.svc.cluster.local"),
        Some(service("svc", "kafka"))
    );
    for outside in [
        "kafka.example.com",
        "kafka.data",
        "10.0.0.5",
        "svc",
        "a.b.c.d.svc",
        "bad_name.data.svc",
        ".data.svc",
    ] {
        assert_eq!(of(outside), None, "{outside}");
    }
}

#[test]
fn kafka_via_bastion_needs_the_ssh_bastion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let entry = "kafka:\n  - name: k\n    via: bastion\n    bootstrap: [10.20.0.41:9092]\n";
    let text = format!("name: a\nenvironment: poc\n{entry}");
    let error =
        profile::parse(&text, &dir.path().join("a.yaml"), dir.path()).expect_err("no bastion");
    assert!(
        error.to_string().contains(
            "a.yaml:4:11: kafka `k` goes via bastion, and the profile has no `ssh.bastion`"
        ),
        "{error}"
    );
    let text = format!("name: a\nenvironment: poc\nssh:\n  bastion:\n    host: 10.20.0.1\n{entry}");
    let loaded = profile::parse(&text, &dir.path().join("a.yaml"), dir.path()).expect("valid");
    assert_eq!(loaded.profile.kafka[0].via, profile::KafkaPath::Bastion);
}

#[test]
fn a_node_host_that_would_break_known_hosts_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "name: a\nenvironment: poc\nssh:\n  bastion:\n    host: 'jump host'\n  nodes:\n    - {name: n1, host: '10.0.0.1,10.0.0.2'}\n    - {name: n2, host: 10.0.0.3}\n";
    let error =
        profile::parse(text, &dir.path().join("a.yaml"), dir.path()).expect_err("bad hosts");
    let said = error.to_string();
    assert!(
        said.contains("the host of the bastion, `jump host`, is not a host name or address"),
        "{said}"
    );
    assert!(
        said.contains("the host of n1, `10.0.0.1,10.0.0.2`, is not a host name or address"),
        "{said}"
    );
    assert!(!said.contains("n2"), "{said}");
}
