//! The README and the user's guide show what the code does: the key table
//! is the keymap's, and the examples in the docs load without a warning.

use std::path::Path;

use sitedeck::config::keymap::Keymap;
use sitedeck::config::profile;
use sitedeck::config::theme::Theme;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced blocks of a language in a Markdown text, in order.
fn fenced(text: &str, lang: &str) -> Vec<String> {
    let open = format!("```{lang}");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == open => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn readme_key_table_is_the_default_keymap() {
    let readme = read("README.md");
    let start = readme.find("<!-- keys:start -->\n").expect("start marker");
    let end = readme.find("<!-- keys:end -->").expect("end marker");
    let table = &readme[start + "<!-- keys:start -->\n".len()..end];
    let (keymap, _) = Keymap::load("default", None);
    assert_eq!(
        table,
        keymap.markdown_table(),
        "README's key table is stale: regenerate it with `sitedeck keys`"
    );
}

#[test]
fn readme_starts_with_the_two_commands() {
    let readme = read("README.md");
    let first_section = readme.find("\n## ").expect("a section");
    let section = &readme[first_section..];
    assert!(
        section.starts_with("\n## The two commands"),
        "the first section is the two commands"
    );
    let body = &section[..section[1..].find("\n## ").expect("a next section")];
    assert!(body.contains("scripts/demo") && body.contains("scripts/test"));
}

#[test]
fn readme_profile_example_is_valid() {
    let readme = read("README.md");
    let example = fenced(&readme, "yaml")
        .into_iter()
        .next()
        .expect("a yaml block");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("kubeconfig"), "apiVersion: v1\n").expect("write");
    // SAFETY: no other thread of this test binary reads this variable.
    unsafe { std::env::set_var("ACME_MYSQL_PASSWORD", "x") };
    let loaded = profile::parse(&example, &dir.path().join("acme.yaml"), dir.path())
        .unwrap_or_else(|e| panic!("README example: {e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.profile.name, "acme-prod");
}

#[test]
fn guide_keymap_example_overlays_without_warnings() {
    let guide = read("docs/keymaps-and-themes.md");
    let toml_blocks = fenced(&guide, "toml");
    let keymap_example = toml_blocks.first().expect("a keymap example");
    let (keymap, warnings) = Keymap::load("default", Some(keymap_example));
    assert!(warnings.is_empty(), "{warnings:?}");
    let quit = sitedeck::config::keymap::KeyChord::parse("ctrl-q").expect("key");
    assert_eq!(
        keymap.lookup(sitedeck::config::keymap::Focus::Global, &[quit]),
        sitedeck::config::keymap::Lookup::Action(sitedeck::app::Action::Quit)
    );
}

#[test]
fn guide_theme_example_loads_without_warnings() {
    let guide = read("docs/keymaps-and-themes.md");
    let theme_example = fenced(&guide, "toml")
        .get(1)
        .cloned()
        .expect("a theme example");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("solarized.toml"), theme_example).expect("write");
    let (theme, warnings) = Theme::load("solarized", dir.path());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(theme.name, "solarized");
    assert!(Theme::available(dir.path()).contains(&"solarized".to_owned()));
}

#[test]
fn release_manifest_guide_examples_load_and_its_errors_are_the_real_ones() {
    use sitedeck::cluster::release;
    let guide = read("docs/release-manifest.md");
    let examples = fenced(&guide, "yaml");
    assert!(!examples.is_empty(), "the guide shows a manifest");
    for (index, example) in examples.iter().enumerate() {
        let manifest = release::parse(example, Path::new("release.yaml"))
            .unwrap_or_else(|e| panic!("yaml block {index} of docs/release-manifest.md:\n{e}"));
        assert!(!manifest.components.is_empty());
    }
    // The mistakes example, then what sitedeck says about it.
    let text = fenced(&guide, "text");
    let [mistakes, messages, ..] = text.as_slice() else {
        panic!("the guide shows a bad manifest and its messages");
    };
    let error = release::parse(mistakes, Path::new("release.yaml"))
        .expect_err("the mistakes example is invalid");
    assert_eq!(error.to_string(), messages.trim_end());
}

#[test]
fn the_cluster_guide_lists_every_finding_and_every_view_key() {
    let guide = read("docs/cluster.md");
    for kind in sitedeck::cluster::findings::FindingKind::ALL {
        assert!(
            guide.contains(&format!("`{}`", kind.code())),
            "docs/cluster.md does not list the finding `{}`",
            kind.code()
        );
    }
    let keymap = Keymap::load("default", None).0;
    for action in [
        "filter",
        "sort_next",
        "sort_reverse",
        "describe",
        "open_versions",
    ] {
        let action = sitedeck::app::Action::from_name(action).expect("an action");
        let hint = keymap
            .hint(sitedeck::config::keymap::Focus::List, &action)
            .expect("bound");
        assert!(
            guide.contains(&format!("`{hint}`")),
            "docs/cluster.md does not show the key `{hint}` for {action:?}"
        );
    }
}

#[test]
fn the_middleware_guide_example_loads_and_names_every_kind() {
    let guide = read("docs/middleware.md");
    let examples = fenced(&guide, "yaml profile");
    assert!(!examples.is_empty(), "a profile example");
    for example in examples {
        let loaded = profile::parse(&example, Path::new("middleware.md"), Path::new("/"))
            .unwrap_or_else(|e| panic!("docs/middleware.md example: {e}"));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }
    let kinds = read("docs/middleware-kinds.md");
    for kind in profile::MiddlewareKind::ALL {
        let heading = format!("## {kind}");
        assert!(
            guide.contains(&heading) || kinds.contains(&heading),
            "the middleware guide has no section `{heading}`"
        );
    }
}

#[test]
fn the_kafka_guide_example_loads_and_names_every_key() {
    let guide = read("docs/kafka.md");
    let examples = fenced(&guide, "yaml profile");
    assert_eq!(
        examples.len(),
        3,
        "a direct, a port-forward and a bastion example"
    );
    // The files they name, beside them.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("secrets")).expect("mkdir");
    std::fs::write(dir.path().join("secrets/kafka-password"), "pw").expect("secret");
    std::fs::write(dir.path().join("kafka-ca.pem"), "").expect("ca");
    std::fs::write(dir.path().join("kubeconfig.yaml"), "").expect("kubeconfig");
    std::fs::create_dir(dir.path().join("keys")).expect("mkdir");
    std::fs::write(dir.path().join("keys/ops_ed25519"), "").expect("key");
    let load = |example: &str| {
        profile::parse(example, Path::new("kafka.md"), dir.path())
            .unwrap_or_else(|e| panic!("docs/kafka.md example: {e}"))
    };
    let direct = load(&examples[0]);
    let kafka = &direct.profile.kafka[0];
    assert!(kafka.security_protocol.uses_sasl() && kafka.ca_file.is_some());
    assert_eq!(kafka.via, profile::KafkaPath::Direct);
    let forwarded = load(&examples[1]);
    assert_eq!(
        forwarded.profile.kafka[0].via,
        profile::KafkaPath::PortForward
    );
    let through_bastion = load(&examples[2]);
    assert_eq!(
        through_bastion.profile.kafka[0].via,
        profile::KafkaPath::Bastion
    );
    for key in ["g k", "g c", "`p`", "`[` and `]`"] {
        assert!(guide.contains(key), "docs/kafka.md does not mention {key}");
    }
}

#[test]
fn the_logs_guide_example_loads_and_names_the_keys() {
    let guide = read("docs/logs.md");
    let examples = fenced(&guide, "yaml profile");
    assert_eq!(examples.len(), 1, "one profile example");
    let loaded = profile::parse(&examples[0], Path::new("logs.md"), Path::new("/"))
        .unwrap_or_else(|e| panic!("docs/logs.md example: {e}"));
    let logs = &loaded.profile.logs;
    assert!(logs.fields.trace_id.iter().any(|n| n == "x-request-id"));
    // The defaults the guide lists are the parser's.
    let defaults = sitedeck::logs::parse::FieldNames::default();
    for name in defaults
        .level
        .iter()
        .chain(&defaults.message)
        .chain(&defaults.time)
        .chain(&defaults.trace_id)
    {
        assert!(
            guide.contains(&format!("`{name}`")),
            "docs/logs.md does not list `{name}`"
        );
    }
    for key in [
        "`l`",
        "`f`",
        "`v`",
        "`t`",
        "--trace",
        "--workload",
        "--selector",
    ] {
        assert!(guide.contains(key), "docs/logs.md does not mention {key}");
    }
}

#[test]
fn the_nodes_guide_example_loads() {
    let guide = read("docs/nodes.md");
    let examples = fenced(&guide, "yaml profile");
    assert_eq!(
        examples.len(),
        3,
        "the nodes, the nodes from the cluster, and the API via the bastion"
    );
    // The files they name, beside them.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("keys")).expect("dir");
    for file in ["keys/acme_ed25519", "acme_known_hosts", "kubeconfig.yaml"] {
        std::fs::write(dir.path().join(file), "").expect("file");
    }
    let loaded = profile::parse(&examples[0], Path::new("nodes.md"), dir.path())
        .unwrap_or_else(|e| panic!("docs/nodes.md example: {e}"));
    let ssh = loaded.profile.ssh.expect("ssh");
    assert!(ssh.bastion.is_some());
    assert!(matches!(ssh.nodes, profile::NodesSpec::List(ref nodes) if nodes.len() == 3));
    let from_cluster = profile::parse(&examples[1], Path::new("nodes.md"), dir.path())
        .unwrap_or_else(|e| panic!("docs/nodes.md example: {e}"));
    assert!(
        from_cluster.warnings.is_empty(),
        "{:?}",
        from_cluster.warnings
    );
    let ssh = from_cluster.profile.ssh.expect("ssh");
    assert_eq!(ssh.nodes, profile::NodesSpec::FromCluster);
    let tunnelled = profile::parse(&examples[2], Path::new("nodes.md"), dir.path())
        .unwrap_or_else(|e| panic!("docs/nodes.md example: {e}"));
    let cluster = tunnelled.profile.cluster.as_ref().expect("cluster");
    assert_eq!(
        cluster.via.as_ref().map(|via| via.value),
        Some(profile::ClusterVia::Bastion)
    );
    assert!(tunnelled.warnings.is_empty(), "{:?}", tunnelled.warnings);
}
