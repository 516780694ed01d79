//! Effects: the I/O that `update` asks for, as data.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::table::Target;
use crate::cluster::connect::ClusterTarget;
use crate::config::profile::SiteProfile;
use crate::probe::Source;

/// Something for the effect runner to do outside `update`.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Read and validate a site profile, then send `SiteLoaded`.
    LoadSite {
        /// The profile file.
        path: PathBuf,
        /// The request number the answer carries.
        load: u64,
    },
    /// Load a theme by name, then send `ThemeLoaded`.
    LoadTheme(String),
    /// Probe these sources (one task each, each with its own timeout) and
    /// send `ProbeFinished` for each; a newer round cancels an older one.
    Probe {
        /// The round number the results carry.
        round: u64,
        /// What to probe.
        sources: Vec<Source>,
        /// The profile the sources come from.
        profile: Arc<SiteProfile>,
        /// Where the cluster is, with the command line's overrides.
        cluster: Option<ClusterTarget>,
        /// Read-only mode: no write probes.
        readonly: bool,
    },
    /// Probe one source now, beside the round running (its result counts
    /// for `round`).
    ProbeOne {
        /// The round the result belongs to.
        round: u64,
        /// What to probe.
        source: Source,
        /// The profile the source comes from.
        profile: Arc<SiteProfile>,
        /// Where the cluster is, with the command line's overrides.
        cluster: Option<ClusterTarget>,
        /// Read-only mode: no write probes.
        readonly: bool,
    },
    /// Connect to the site's cluster and watch it, sending `Cluster`
    /// actions; replaces the session running.
    StartCluster {
        /// The session number the events carry.
        generation: u64,
        /// Where the cluster is.
        target: ClusterTarget,
        /// The site profile, whose trusted credential commands apply.
        site_file: PathBuf,
        /// A credential command the operator just trusted, to remember
        /// for the site before connecting.
        trust: Option<String>,
    },
    /// Stop the cluster session.
    StopCluster,
    /// Fetch an object and send `Described` with its YAML.
    Describe(Target),
    /// Read pods' logs and send `LogLines` as they come (then
    /// `LogsEnded`); replaces the logs being read.
    StreamLogs {
        /// The number the lines carry.
        generation: u64,
        /// Whose logs.
        source: crate::logs::stream::LogSource,
        /// How to read.
        options: crate::logs::stream::ReadOptions,
    },
    /// Read a node's journal over SSH and send `LogLines` as they come
    /// (then `LogsEnded`); replaces the logs being read.
    StreamJournal {
        /// The number the lines carry.
        generation: u64,
        /// The site's profile (its nodes and SSH access).
        profile: Arc<SiteProfile>,
        /// The node, the unit, how much.
        request: crate::logs::journal::JournalRequest,
    },
    /// Stop reading logs.
    StopLogs,
    /// Write `text` to `name` in the state directory's `saved/` (atomic,
    /// owner-only), then send `LogsSaved`.
    SaveText {
        /// The file's name.
        name: String,
        /// What goes in it.
        text: String,
        /// How many lines, for the answer.
        lines: usize,
    },
    /// Put `text` on the terminal's clipboard with OSC 52 (works over SSH
    /// and in tmux with `set-clipboard on`).
    CopyToClipboard(String),
    /// Read the nodes over SSH and the site's NTP servers, and send
    /// `NodesSurveyed`.
    SurveyNodes {
        /// The site's profile.
        profile: std::sync::Arc<crate::config::profile::SiteProfile>,
    },
    /// Write the audit log's intent, run `command` on `nodes`, write the
    /// outcome, and send `NodeCommandRan`.
    RunOnNodes {
        /// The run's number.
        run: u64,
        /// The site's profile.
        profile: std::sync::Arc<crate::config::profile::SiteProfile>,
        /// The nodes, by name.
        nodes: Vec<String>,
        /// The command.
        command: String,
    },
    /// Record a host key if its host still offers it (audited), and send
    /// `HostKeyAccepted`.
    AcceptHostKey {
        /// The site's profile.
        profile: std::sync::Arc<crate::config::profile::SiteProfile>,
        /// The key the operator compared.
        key: crate::nodes::accept::UnknownKey,
    },
    /// Read the last messages of a Kafka partition and send `KafkaPeeked`.
    KafkaPeek {
        /// The popup's title, which the answer carries.
        title: String,
        /// The Kafka cluster.
        spec: Box<crate::config::profile::KafkaSpec>,
        /// The profile's directory (relative secret and CA paths).
        base_dir: PathBuf,
        /// The timeout of each call to the brokers.
        timeout: std::time::Duration,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The last messages, or the first ones from a time.
        from: crate::kafka::PeekFrom,
    },
}
