//! Whole-profile checks after parsing: referenced files exist, secrets
//! resolve, names are unique, settings fit together.

use std::collections::HashSet;
use std::path::Path;

use serde_saphyr::{Location, Spanned};

use super::messages::Skeleton;
use super::*;
use crate::config::secret::{SecretError, SecretSource};

/// Whole-profile checks after parsing, collecting every problem.
#[derive(Default)]
pub(super) struct Validation {
    pub(super) problems: Vec<Problem>,
    pub(super) warnings: Vec<Problem>,
    pub(super) spans: Skeleton,
}

impl Validation {
    pub(super) fn problem(&mut self, at: Location, message: String) {
        self.problems.push(Problem {
            line: at.line(),
            column: at.column(),
            message,
        });
    }

    pub(super) fn profile(&mut self, p: &SiteProfile) {
        if p.name.trim().is_empty() {
            self.problem(self.spans.top_at("name"), "`name` must not be empty".into());
        }
        self.cluster(p);
        self.ssh(p);
        let base = &p.base_dir;
        self.file(base, p.release.as_ref(), "release manifest");
        self.file(base, p.checklist.as_ref(), "checklist");
        self.runbooks(base, p.runbooks.as_ref());
        self.probes(&p.probes);
        self.logs(&p.logs);
        self.time(p);
        self.middleware(p);
        self.kafka(p);
    }

    pub(super) fn cluster(&mut self, p: &SiteProfile) {
        let Some(cluster) = &p.cluster else { return };
        self.file(&p.base_dir, cluster.kubeconfig.as_ref(), "kubeconfig");
        if let Some(via) = &cluster.via
            && via.value == ClusterVia::Bastion
            && p.ssh.as_ref().and_then(|s| s.bastion.as_ref()).is_none()
        {
            self.problem(
                via.referenced,
                "`via: bastion` needs an `ssh.bastion` to tunnel through".into(),
            );
        }
    }

    /// A host name or address as SSH and known_hosts take it: no spaces,
    /// commas, brackets or control characters (they would break the
    /// known_hosts line sitedeck writes).
    fn ssh_host(&mut self, at: Location, host: &str, whose: &str) {
        let bad = host.is_empty()
            || host.chars().any(|c| {
                c.is_whitespace()
                    || c.is_control()
                    || matches!(c, ',' | '[' | ']' | '*' | '?' | '!' | '#')
            });
        if bad {
            self.problem(
                at,
                format!(
                    "the host of {whose}, `{}`, is not a host name or address",
                    crate::text::one_line(host)
                ),
            );
        }
    }

    /// Records a warning at a place in the file.
    fn warn(&mut self, at: Location, message: String) {
        self.warnings
            .push(Problem::at(at.line(), at.column(), message));
    }

    pub(super) fn ssh(&mut self, p: &SiteProfile) {
        let Some(ssh) = &p.ssh else { return };
        let base = &p.base_dir;
        self.file(base, ssh.known_hosts.as_ref(), "known_hosts file");
        self.file(base, ssh.identity.as_ref(), "SSH identity");
        self.login(
            base,
            ssh.identity.as_ref(),
            ssh.passphrase.as_ref(),
            ssh.password.as_ref(),
            "ssh",
        );
        if let Some(bastion) = &ssh.bastion {
            self.file(base, bastion.identity.as_ref(), "bastion identity");
            self.ssh_host(self.spans.top_at("ssh"), &bastion.host, "the bastion");
            self.login(
                base,
                bastion.identity.as_ref(),
                bastion.passphrase.as_ref(),
                bastion.password.as_ref(),
                "ssh.bastion",
            );
        }
        match &ssh.nodes {
            NodesSpec::List(nodes) => {
                let mut seen = HashSet::new();
                for node in nodes {
                    self.unique_name(&mut seen, &node.name, "node");
                    self.ssh_host(node.name.referenced, &node.host, &node.name.value);
                }
            }
            NodesSpec::FromCluster if p.cluster.is_none() => self.problem(
                self.spans.top_at("ssh"),
                "`ssh.nodes: from_cluster` lists the nodes from the Kubernetes API, and the \
                 profile has no `cluster`: add a `cluster` section or list the nodes"
                    .into(),
            ),
            NodesSpec::FromCluster | NodesSpec::None => {}
        }
    }

    /// One login (`section` is `ssh` or `ssh.bastion`): a passphrase needs
    /// the key it opens, a password replaces the key, and both secrets
    /// resolve.
    fn login(
        &mut self,
        base: &Path,
        identity: Option<&PathRef>,
        passphrase: Option<&Spanned<SecretSource>>,
        password: Option<&Spanned<SecretSource>>,
        section: &str,
    ) {
        if let Some(passphrase) = passphrase
            && identity.is_none()
        {
            self.problem(
                passphrase.referenced,
                format!(
                    "`{section}.passphrase` opens the key `{section}.identity`, and there is none"
                ),
            );
        }
        if let (Some(password), Some(_)) = (password, identity) {
            self.problem(
                password.referenced,
                format!(
                    "`{section}` sets both `identity` and `password`: it logs in with one of them"
                ),
            );
        }
        for (secret, key) in [(passphrase, "passphrase"), (password, "password")] {
            let what = format!("`{section}.{key}`");
            match secret {
                // The login happens before (and apart from) the cluster.
                Some(secret) if matches!(secret.value, SecretSource::K8sSecret { .. }) => self
                    .problem(
                        secret.referenced,
                        format!(
                            "{what}: an SSH login cannot read its secret from the cluster; use {{env: NAME}} or {{file: PATH}}"
                        ),
                    ),
                _ => self.secret_of(base, secret, &what),
            }
        }
    }

    pub(super) fn runbooks(&mut self, base: &Path, dir: Option<&PathRef>) {
        if let Some(dir) = dir
            && !dir.resolve(base).is_dir()
        {
            self.problem(
                dir.location(),
                format!(
                    "runbooks directory not found: {}",
                    dir.resolve(base).display()
                ),
            );
        }
    }

    pub(super) fn probes(&mut self, probes: &ProbeSettings) {
        let timeout = probes.timeout_seconds;
        if timeout.is_nan() || timeout <= 0.0 || timeout > 300.0 {
            self.problem(
                self.spans.probe_at("timeout_seconds"),
                "`probes.timeout_seconds` must be more than 0 and at most 300".into(),
            );
        }
        if probes.refresh_seconds == 0 {
            self.problem(
                self.spans.probe_at("refresh_seconds"),
                "`probes.refresh_seconds` must be at least 1".into(),
            );
        }
    }

    pub(super) fn logs(&mut self, logs: &LogSettings) {
        let at = self.spans.top_at("logs");
        if logs.max_lines < 1000 {
            self.problem(at, "`logs.max_lines` must be at least 1000".into());
        }
        if !(1..=500).contains(&logs.concurrency) {
            self.problem(at, "`logs.concurrency` must be 1 to 500".into());
        }
        let fields = &logs.fields;
        for (key, names) in [
            ("level", &fields.level),
            ("message", &fields.message),
            ("time", &fields.time),
            ("trace_id", &fields.trace_id),
        ] {
            if names.is_empty() {
                self.problem(
                    at,
                    format!("`logs.fields.{key}` is empty: leave it out for the common names"),
                );
            }
        }
    }

    pub(super) fn file(&mut self, base: &Path, path: Option<&PathRef>, what: &str) {
        if let Some(path) = path {
            let full = path.resolve(base);
            if !full.is_file() {
                self.problem(
                    path.location(),
                    format!("{what} not found: {}", full.display()),
                );
            }
        }
    }

    pub(super) fn secret(
        &mut self,
        base: &Path,
        secret: Option<&Spanned<SecretSource>>,
        owner: &str,
    ) {
        self.secret_of(base, secret, &format!("password for `{owner}`"));
    }

    /// A secret reference that must resolve; `what` names it in messages
    /// (`password for `mysql-main``, `` `ssh.passphrase` ``).
    pub(super) fn secret_of(
        &mut self,
        base: &Path,
        secret: Option<&Spanned<SecretSource>>,
        what: &str,
    ) {
        let Some(secret) = secret else { return };
        match &secret.value {
            SecretSource::Plain(_) => self.warn(
                secret.referenced,
                format!(
                    "plaintext {what} in the profile; prefer {{env: NAME}} or {{file: PATH}}"
                ),
            ),
            SecretSource::K8sSecret { .. } => self.warn(
                secret.referenced,
                format!(
                    "{what}: reading secrets from the cluster is not supported yet, so this source shows `config error`; use {{env: NAME}} or {{file: PATH}}"
                ),
            ),
            source => {
                if let Err(e) = source.resolve_local(base) {
                    let hint = match e {
                        SecretError::EnvMissing(_) => " (export it before starting sitedeck)",
                        _ => "",
                    };
                    self.problem(secret.referenced, format!("{what}: {e}{hint}"));
                }
            }
        }
    }

    pub(super) fn unique_name(
        &mut self,
        seen: &mut HashSet<String>,
        name: &Spanned<String>,
        what: &str,
    ) {
        if name.value.trim().is_empty() {
            self.problem(name.referenced, format!("{what} name must not be empty"));
        } else if !seen.insert(name.value.clone()) {
            self.problem(
                name.referenced,
                format!(
                    "duplicate {what} name `{}`: names must be unique",
                    name.value
                ),
            );
        }
    }

    pub(super) fn endpoint(&mut self, endpoint: &Spanned<String>, owner: &str) {
        if let Err(e) = split_host_port(&endpoint.value) {
            self.problem(endpoint.referenced, format!("endpoint of `{owner}`: {e}"));
        }
    }

    /// With a SASL protocol, the mechanism and both credentials are needed.
    pub(super) fn sasl(&mut self, k: &KafkaSpec) {
        if !k.security_protocol.uses_sasl() {
            return;
        }
        let missing: Vec<&str> = [
            ("sasl_mechanism", k.sasl_mechanism.is_none()),
            ("username", k.username.is_none()),
            ("password", k.password.is_none()),
        ]
        .into_iter()
        .filter_map(|(key, absent)| absent.then_some(key))
        .collect();
        if !missing.is_empty() {
            self.problem(
                k.name.referenced,
                format!(
                    "kafka `{}` uses {} but sets no {}: SASL needs sasl_mechanism, username and password",
                    k.name.value,
                    k.security_protocol.name(),
                    one_of(&missing)
                ),
            );
        }
    }

    pub(super) fn kafka(&mut self, p: &SiteProfile) {
        let mut seen = HashSet::new();
        for k in &p.kafka {
            self.unique_name(&mut seen, &k.name, "kafka cluster");
            if k.bootstrap.is_empty() {
                self.problem(
                    k.name.referenced,
                    format!("kafka `{}` has no bootstrap servers", k.name.value),
                );
            }
            for server in &k.bootstrap {
                self.endpoint(server, &k.name.value);
            }
            if k.via == KafkaPath::PortForward {
                self.forwarded_kafka(p, k);
            }
            if k.via == KafkaPath::Bastion
                && p.ssh.as_ref().and_then(|s| s.bastion.as_ref()).is_none()
            {
                self.problem(
                    k.name.referenced,
                    format!(
                        "kafka `{}` goes via bastion, and the profile has no `ssh.bastion` to tunnel through",
                        k.name.value
                    ),
                );
            }
            self.sasl(k);
            self.secret_properties(k);
            self.secret(&p.base_dir, k.password.as_ref(), &k.name.value);
            self.file(&p.base_dir, k.ca_file.as_ref(), "CA file");
        }
    }
}

impl Validation {
    /// `via: port-forward` needs the cluster, and bootstrap servers by
    /// their in-cluster names.
    fn forwarded_kafka(&mut self, p: &SiteProfile, k: &KafkaSpec) {
        if p.cluster.is_none() {
            self.problem(
                k.name.referenced,
                format!(
                    "kafka `{}` is reached through the Kubernetes API (via: port-forward), and the profile has no `cluster`",
                    k.name.value
                ),
            );
        }
        for server in &k.bootstrap {
            // A server that does not parse is reported already.
            if let Ok((host, port)) = split_host_port(&server.value)
                && Endpoint::of_cluster_name(&host, port).is_none()
            {
                self.problem(
                    server.referenced,
                    format!(
                        "kafka `{}` goes via port-forward, so `{}` must be an in-cluster name: \
                         POD.SERVICE.NAMESPACE.svc:PORT or SERVICE.NAMESPACE.svc:PORT",
                        k.name.value, server.value
                    ),
                );
            }
        }
    }

    /// librdkafka properties that hold secrets belong in `password`, where a
    /// secret reference keeps them out of the file.
    fn secret_properties(&mut self, k: &KafkaSpec) {
        const SECRET_PROPERTIES: [&str; 4] = [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "sasl.oauthbearer.client.secret",
        ];
        for key in k.properties.keys() {
            if SECRET_PROPERTIES.contains(&key.as_str()) {
                self.warnings.push(Problem::at(
                    k.name.referenced.line(),
                    k.name.referenced.column(),
                    format!(
                        "kafka `{}` sets the secret `{key}` in plaintext properties; prefer `password` with {{env: NAME}} or {{file: PATH}}",
                        k.name.value
                    ),
                ));
            }
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
pub(super) fn one_of(words: &[&str]) -> String {
    match words.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
