//! The connection to a site's cluster: which kubeconfig and context, the
//! trust an exec credential plugin needs, and one `kube::Client` per site.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::config::profile::{ClusterVia, SiteProfile};
use crate::nodes::access::{Bastion, BastionRoute};

/// Where a site's cluster is: the kubeconfig file and the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTarget {
    /// The kubeconfig file; `None`: `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The context; `None`: the kubeconfig's current context.
    pub context: Option<String>,
    /// The bastion the API server is reached through (`via: bastion`);
    /// `None`: directly.
    pub bastion: Option<BastionRoute>,
}

impl ClusterTarget {
    /// The target of a site: `--kubeconfig` over the profile's `kubeconfig`,
    /// `--context` over the profile's `context`. `None` when the profile has
    /// no `cluster` section.
    pub fn of_site(
        profile: &SiteProfile,
        kubeconfig: Option<&std::path::Path>,
        context: Option<&str>,
    ) -> Option<Self> {
        let cluster = profile.cluster.as_ref()?;
        Some(Self {
            kubeconfig: kubeconfig.map(std::path::Path::to_path_buf).or_else(|| {
                cluster
                    .kubeconfig
                    .as_ref()
                    .map(|p| p.resolve(&profile.base_dir))
            }),
            context: context
                .map(str::to_owned)
                .or_else(|| cluster.context.clone()),
            bastion: cluster
                .via
                .as_ref()
                .filter(|via| via.value == ClusterVia::Bastion)
                .and_then(|_| {
                    BastionRoute::of_profile(profile, &crate::config::Paths::from_env().state_dir)
                }),
        })
    }
}

/// Why sitedeck cannot talk to the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig cannot be read.
    #[error("cannot read the kubeconfig {file}: {reason}")]
    Kubeconfig {
        /// The file, or where it was looked for.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// No context given and none current.
    #[error(
        "the kubeconfig has no current context; set cluster.context in the profile or pass --context"
    )]
    NoContext,
    /// The context gets credentials from a program the operator has not trusted yet.
    #[error("context {context} gets its credentials by running `{command}`; trust it first")]
    Untrusted {
        /// The context.
        context: String,
        /// The program and its arguments.
        command: String,
    },
    /// The kubeconfig names something kube-rs cannot use.
    #[error("context {context}: {reason}")]
    Config {
        /// The context.
        context: String,
        /// What is wrong.
        reason: String,
    },
}

/// A client for one site's cluster.
#[derive(Clone)]
pub struct Connection {
    /// The client; clones share its connection pool.
    pub client: kube::Client,
    /// The API server's URL.
    pub server: String,
    /// The context in use.
    pub context: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// Builds a client for `target`. A program the kubeconfig runs for
/// credentials (an exec plugin or an auth provider's `cmd-path`) runs only
/// when `trusted` names exactly that command; otherwise the answer is
/// [`ConnectError::Untrusted`] with the command to show the operator.
pub async fn connect(
    target: &ClusterTarget,
    trusted: &[String],
) -> Result<Connection, ConnectError> {
    let path = target.kubeconfig.clone();
    let shown = path.as_ref().map_or_else(
        || std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".to_owned()),
        |p| p.display().to_string(),
    );
    // Reading files blocks: not on the runtime's threads.
    let read = tokio::task::spawn_blocking(move || match path {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    })
    .await;
    let kubeconfig = match read {
        Ok(Ok(kubeconfig)) => kubeconfig,
        Ok(Err(e)) => {
            return Err(ConnectError::Kubeconfig {
                file: shown,
                reason: crate::probe::classify::chain_text(&e),
            });
        }
        Err(e) => {
            return Err(ConnectError::Kubeconfig {
                file: shown,
                reason: e.to_string(),
            });
        }
    };
    let context = target
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
        .ok_or(ConnectError::NoContext)?;
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(ConnectError::Config {
            context,
            reason: format!(
                "no such context in {shown} (it has: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        });
    }
    if let Some(command) = credential_command(&kubeconfig, &context)
        && !trusted.contains(&command)
    {
        return Err(ConnectError::Untrusted { context, command });
    }
    let mut kubeconfig = kubeconfig;
    // A credential program must never get the cockpit's terminal: with
    // `IfAvailable` (gcloud's default) kube-rs hands it stdin and stderr,
    // and whatever it prints lands on the screen.
    for auth in &mut kubeconfig.auth_infos {
        if let Some(exec) = auth.auth_info.as_mut().and_then(|i| i.exec.as_mut()) {
            exec.interactive_mode = Some(kube::config::ExecInteractiveMode::Never);
        }
    }
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| ConnectError::Config {
            context: context.clone(),
            reason: crate::probe::classify::chain_text(&e),
        })?;
    // A dead API server must not hold a view for minutes over a slow link.
    config.connect_timeout = Some(std::time::Duration::from_secs(5));
    config.read_timeout = Some(std::time::Duration::from_secs(295));
    // kube's client retries 429/503/504 up to 15 times, doubling from 5 ms:
    // an API server whose backends are down would look "loading" for
    // minutes. The watches back off and retry themselves, and say so.
    config.default_retry = false;
    let mut server = config.cluster_url.to_string();
    if let Some(route) = &target.bastion {
        let through = through_bastion(&mut config, route)
            .await
            .map_err(|reason| ConnectError::Config {
                context: context.clone(),
                reason,
            })?;
        server = format!("{server} ({through})");
    }
    // Building the client may run the credential program: not on the
    // runtime's threads.
    let built = tokio::task::spawn_blocking(move || kube::Client::try_from(config)).await;
    let client = match built {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            return Err(ConnectError::Config {
                context,
                reason: crate::probe::classify::chain_text(&e),
            });
        }
        Err(e) => {
            return Err(ConnectError::Config {
                context,
                reason: e.to_string(),
            });
        }
    };
    Ok(Connection {
        client,
        server,
        context,
    })
}

/// Points `config` at a listener whose connections the bastion carries
/// to the API server, keeping TLS checked against the API server's own
/// name (or address). Says the way it goes.
async fn through_bastion(
    config: &mut kube::Config,
    route: &BastionRoute,
) -> Result<String, String> {
    let url = config.cluster_url.clone();
    let host = url
        .host()
        .ok_or_else(|| format!("the API server's URL {url} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_u16()
        .unwrap_or(if url.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    let bastion = Bastion::shared(route, std::time::Duration::from_secs(10));
    let name = bastion.name();
    let local = tokio::task::spawn_blocking({
        let host = host.clone();
        move || {
            bastion
                .stable_listener(&host, port)
                .map_err(|error| crate::nodes::access::explain(&error))
        }
    })
    .await
    .map_err(|e| format!("the bastion's session ended: {e}"))??;
    let scheme = url.scheme_str().unwrap_or("https");
    let path = url.path_and_query().map_or("", |p| p.as_str());
    config.cluster_url = format!("{scheme}://{local}{path}")
        .parse()
        .map_err(|e| format!("no URL for {local}: {e}"))?;
    config.tls_server_name.get_or_insert(host);
    Ok(format!("via bastion {name}"))
}

/// The program (with its arguments) a context's user runs to get
/// credentials, if any: an exec plugin, or an auth provider's `cmd-path`
/// (kube-rs runs both).
pub fn credential_command(kubeconfig: &Kubeconfig, context: &str) -> Option<String> {
    let named = kubeconfig.contexts.iter().find(|c| c.name == context)?;
    let user = named.context.as_ref()?.user.as_deref()?;
    let auth = kubeconfig.auth_infos.iter().find(|a| a.name == user)?;
    let info = auth.auth_info.as_ref()?;
    if let Some(exec) = &info.exec {
        let mut words = vec![exec.command.clone().unwrap_or_default()];
        words.extend(exec.args.clone().unwrap_or_default());
        return Some(words.join(" "));
    }
    let provider = info.auth_provider.as_ref()?;
    let command = provider.config.get("cmd-path")?;
    let args = provider.config.get("cmd-args").map(String::as_str);
    Some(match args {
        Some(args) if !args.is_empty() => format!("{command} {args}"),
        _ => command.clone(),
    })
}
