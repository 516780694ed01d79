//! The whole state of the cockpit. Views read it; only `update` writes it.

use std::path::PathBuf;

use crate::app::cluster::{ClusterState, ClusterView};
use crate::app::palette::Palette;
use crate::app::table::Table;
use crate::config::keymap::{Focus, KeyChord, Keymap};
use crate::config::profile::LoadedProfile;
use crate::config::theme::Theme;
use crate::probe::{ProbeReport, Source};

/// The views of the cockpit, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The site at a glance: its profile and the live state of every source.
    Overview,
    /// Middleware health: every endpoint's state, role, figures and findings.
    Middleware,
    /// Kafka topics, their partitions, and peek.
    Kafka,
    /// Kafka consumer groups and their lag.
    KafkaGroups,
    /// A cluster view: Versions, Helm, Pods, Nodes or Events.
    Cluster(ClusterView),
    /// The nodes over SSH: facts and findings.
    Hosts,
    /// The nodes' clocks and time daemons, the largest skew, NTP.
    Time,
    /// The site profiles found, to open one.
    Sites,
    /// Pods' logs, merged by time (opened with `l`; not a tab).
    Logs,
}

impl View {
    /// Every view, in tab order.
    pub const ALL: [View; 12] = [
        View::Overview,
        View::Middleware,
        View::Kafka,
        View::KafkaGroups,
        View::Cluster(ClusterView::Versions),
        View::Cluster(ClusterView::Helm),
        View::Cluster(ClusterView::Pods),
        View::Cluster(ClusterView::Nodes),
        View::Hosts,
        View::Time,
        View::Cluster(ClusterView::Events),
        View::Sites,
    ];

    /// The tab title.
    pub fn title(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Middleware => "Middleware",
            Self::Kafka => "Kafka",
            Self::KafkaGroups => "Groups",
            Self::Cluster(ClusterView::Versions) => "Versions",
            Self::Cluster(ClusterView::Helm) => "Helm",
            Self::Cluster(ClusterView::Pods) => "Pods",
            Self::Cluster(ClusterView::Nodes) => "Nodes",
            Self::Cluster(ClusterView::Events) => "Events",
            Self::Hosts => "Hosts",
            Self::Time => "Time",
            Self::Sites => "Sites",
            Self::Logs => "Logs",
        }
    }
}

/// A popup over the main area; it takes the keys while open.
#[derive(Debug, Clone)]
pub enum Popup {
    /// The key bindings, scrolled by this many lines.
    Help {
        /// The first line shown.
        scroll: u16,
    },
    /// The command palette.
    Palette(Box<Palette>),
    /// Quit while jobs run?
    ConfirmQuit,
    /// Run the kubeconfig's credential program?
    Trust {
        /// The context.
        context: String,
        /// The program and its arguments.
        command: String,
    },
    /// An object's YAML.
    Describe {
        /// `Deployment acme-prod/api-gateway`.
        title: String,
        /// The YAML, or why there is none; `None` while it loads.
        text: Option<Result<String, String>>,
        /// The first line shown.
        scroll: u16,
    },
    /// The warnings, scrolled by this many lines.
    Warnings {
        /// The first line shown.
        scroll: u16,
    },
    /// Accept this unknown host key? The default answer is No.
    AcceptKey(crate::nodes::accept::UnknownKey),
    /// A command on nodes: typed, confirmed, running, its output.
    NodeCommand(Box<crate::app::node_command::NodeCommand>),
}

/// How much a status-bar message matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// For information.
    Info,
    /// Something is off, but sitedeck goes on.
    Warn,
    /// Something failed.
    Error,
}

/// The status bar's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessage {
    /// How much it matters.
    pub level: Level,
    /// The text.
    pub text: String,
}

/// A site profile found in the sites directory (or given on the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteEntry {
    /// The name to list it under.
    pub name: String,
    /// `prod`, `staging`, `poc`, or empty when the profile is broken.
    pub environment: String,
    /// The file.
    pub path: PathBuf,
    /// Why it cannot be opened, if it cannot.
    pub error: Option<String>,
}

/// An open site: its profile and the last probe of each source.
#[derive(Debug, Clone)]
pub struct SiteState {
    /// The profile and its warnings.
    pub loaded: LoadedProfile,
    /// The sources, in Overview order.
    pub sources: Vec<Source>,
    /// The last report of each source, same order.
    pub reports: Vec<ProbeReport>,
    /// Which sources have a probe in flight, same order.
    pub in_flight: Vec<bool>,
    /// The round the probes in flight belong to.
    pub round: u64,
    /// The cluster, when the profile has one.
    pub cluster: Option<ClusterState>,
    /// The Middleware view's table, rebuilt as reports come in.
    pub middleware: Table,
    /// The source `r` asked to check now, whose result the status bar
    /// reports.
    pub checking_now: Option<usize>,
    /// The Kafka views' tables, snapshots and lag trends.
    pub kafka: crate::app::kafka::KafkaState,
    /// The Logs view: what it reads and shows.
    pub logs: Option<crate::app::logs::LogsState>,
    /// The nodes over SSH (Hosts and Time views).
    pub nodes: crate::app::nodes::NodesState,
}

impl SiteState {
    /// How many probes of the current round are still running.
    pub fn probes_running(&self) -> usize {
        self.in_flight.iter().filter(|f| **f).count()
    }

    /// When the last probe finished.
    pub fn checked_at(&self) -> Option<chrono::DateTime<chrono::Local>> {
        self.reports.iter().filter_map(|r| r.checked_at).max()
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--readonly`.
    pub readonly: bool,
    /// `--context`.
    pub context: Option<String>,
    /// `--kubeconfig`.
    pub kubeconfig: Option<PathBuf>,
    /// Where site profiles are looked for, to tell the operator.
    pub sites_dir: PathBuf,
}

/// The cockpit's state.
#[derive(Debug, Clone)]
pub struct State {
    /// The active keymap.
    pub keymap: Keymap,
    /// The active theme.
    pub theme: Theme,
    /// Names of the themes to cycle through.
    pub themes: Vec<String>,
    /// The view on screen.
    pub view: View,
    /// The view before it, for `back`.
    pub previous_view: Option<View>,
    /// The open popup.
    pub popup: Option<Popup>,
    /// Keys typed so far of a multi-key sequence.
    pub pending_keys: Vec<KeyChord>,
    /// Continuations of the pending sequence, for the which-key popup.
    pub which_key: Vec<(String, String)>,
    /// The open site.
    pub site: Option<SiteState>,
    /// Why the last site could not be opened.
    pub site_error: Option<String>,
    /// The site profiles found.
    pub sites: Vec<SiteEntry>,
    /// The selected row of the site list.
    pub sites_selected: usize,
    /// The selected row of Overview's sources.
    pub overview_selected: usize,
    /// The status bar's message.
    pub status: Option<StatusMessage>,
    /// Problems with the keymap, the theme or the command line, found at start.
    pub config_warnings: Vec<String>,
    /// The spinner's frame.
    pub spinner: usize,
    /// The wall clock as shown in the header.
    pub clock: String,
    /// Command-line options.
    pub options: Options,
    /// The last probe round started.
    pub last_round: u64,
    /// The last site load asked for.
    pub last_load: u64,
    /// The last cluster session started.
    pub last_cluster: u64,
    /// The last logs read started (in any site: a reload must not reuse
    /// a number whose lines may still be on their way).
    pub last_logs: u64,
    /// The last command run on nodes.
    pub last_node_command: u64,
    /// The filter line of the table on screen takes the keys.
    pub filtering: bool,
    /// The time ages are counted to; `None`: the wall clock (tests fix it).
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// Set when sitedeck should leave.
    pub should_quit: bool,
}

impl State {
    /// A fresh state with no site open.
    pub fn new(keymap: Keymap, theme: Theme, themes: Vec<String>, options: Options) -> Self {
        Self {
            keymap,
            theme,
            themes,
            view: View::Sites,
            previous_view: None,
            popup: None,
            pending_keys: Vec::new(),
            which_key: Vec::new(),
            site: None,
            site_error: None,
            sites: Vec::new(),
            sites_selected: 0,
            overview_selected: 0,
            status: None,
            config_warnings: Vec::new(),
            spinner: 0,
            clock: String::new(),
            options,
            last_round: 0,
            last_load: 0,
            last_logs: 0,
            last_node_command: 0,
            last_cluster: 0,
            filtering: false,
            now: None,
            should_quit: false,
        }
    }

    /// Where the keys go now.
    pub fn focus(&self) -> Focus {
        match &self.popup {
            Some(Popup::Help { .. } | Popup::Warnings { .. } | Popup::Describe { .. }) => {
                Focus::Help
            }
            Some(Popup::Palette(_)) => Focus::Palette,
            Some(Popup::NodeCommand(command)) if command.is_typing() => Focus::Palette,
            Some(Popup::NodeCommand(_)) => Focus::Help,
            Some(Popup::ConfirmQuit | Popup::Trust { .. } | Popup::AcceptKey(_)) => Focus::Confirm,
            None if self.filtering => Focus::Filter,
            None => Focus::List,
        }
    }

    /// Background jobs running now: probes in flight, commands and host
    /// key acceptances on the nodes.
    pub fn jobs_running(&self) -> usize {
        self.site
            .as_ref()
            .map_or(0, |site| site.probes_running() + site.nodes.changing)
    }

    /// Whether nothing may change the site: `--readonly` or the profile says so.
    pub fn readonly(&self) -> bool {
        self.options.readonly
            || self
                .site
                .as_ref()
                .is_some_and(|s| s.loaded.profile.readonly)
    }

    /// The kube context in use: `--context`, else the profile's.
    pub fn kube_context(&self) -> Option<String> {
        self.options.context.clone().or_else(|| {
            self.site
                .as_ref()?
                .loaded
                .profile
                .cluster
                .as_ref()?
                .context
                .clone()
        })
    }

    /// Every warning to show: the configuration's, then the open site's.
    pub fn warnings(&self) -> Vec<&str> {
        let site = self.site.iter().flat_map(|s| &s.loaded.warnings);
        self.config_warnings
            .iter()
            .chain(site)
            .map(String::as_str)
            .collect()
    }

    /// The open site's cluster.
    pub fn cluster(&self) -> Option<&ClusterState> {
        self.site.as_ref()?.cluster.as_ref()
    }

    /// The open site's cluster, to change.
    pub fn cluster_mut(&mut self) -> Option<&mut ClusterState> {
        self.site.as_mut()?.cluster.as_mut()
    }

    /// The table on screen, if the view is a cluster view.
    pub fn table(&self) -> Option<&Table> {
        match self.view {
            View::Cluster(view) => self.cluster()?.table(view),
            View::Middleware => Some(&self.site.as_ref()?.middleware),
            View::Kafka => Some(&self.site.as_ref()?.kafka.topics),
            View::KafkaGroups => Some(&self.site.as_ref()?.kafka.groups),
            View::Hosts => Some(&self.site.as_ref()?.nodes.hosts),
            View::Time => Some(&self.site.as_ref()?.nodes.time),
            _ => None,
        }
    }

    /// The table on screen, to change.
    pub fn table_mut(&mut self) -> Option<&mut Table> {
        match self.view {
            View::Cluster(view) => self.cluster_mut()?.table_mut(view),
            View::Middleware => Some(&mut self.site.as_mut()?.middleware),
            View::Kafka => Some(&mut self.site.as_mut()?.kafka.topics),
            View::KafkaGroups => Some(&mut self.site.as_mut()?.kafka.groups),
            View::Hosts => Some(&mut self.site.as_mut()?.nodes.hosts),
            View::Time => Some(&mut self.site.as_mut()?.nodes.time),
            _ => None,
        }
    }

    /// Rebuilds what changed since the last call (tables of the cluster
    /// views); the event loop calls it once per batch, before drawing.
    pub fn settle(&mut self) {
        let visible = match self.view {
            View::Cluster(view) => Some(view),
            _ => None,
        };
        if let Some(cluster) = self.cluster_mut() {
            cluster.settle_for(visible);
        }
    }

    /// Sets the status bar's message.
    pub fn say(&mut self, level: Level, text: impl Into<String>) {
        self.status = Some(StatusMessage {
            level,
            text: text.into(),
        });
    }
}
