//! The one vocabulary of state changes.
//!
//! Actions a user can bind in a keymap have snake_case names (`quit`,
//! `command_palette`…); the ones the event loop and background tasks send
//! are `#[serde(skip)]`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::app::table::Target;
use crate::cluster::ClusterEvent;
use crate::cluster::release::ReleaseManifest;
use crate::config::keymap::KeyChord;
use crate::config::profile::LoadedProfile;
use crate::config::theme::Theme;
use crate::probe::ProbeReport;

/// Everything that can change the state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Leave sitedeck (asks first while jobs run).
    Quit,
    /// Show the key bindings.
    Help,
    /// Open the command palette.
    CommandPalette,
    /// Close the popup or go back to the previous view.
    Back,
    /// Show the next view.
    NextView,
    /// Show the previous view.
    PrevView,
    /// Probe every source again now.
    Refresh,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Move the selection a page up.
    PageUp,
    /// Move the selection a page down.
    PageDown,
    /// Move to the first row.
    Top,
    /// Move to the last row.
    Bottom,
    /// Open or run what is selected.
    Select,
    /// Show the Overview view.
    OpenOverview,
    /// Show the site list.
    OpenSites,
    /// Switch to the next theme.
    CycleTheme,
    /// Complete the palette's input with the selected entry.
    Complete,
    /// Answer yes to a question.
    Confirm,
    /// Answer no to a question.
    Cancel,
    /// Show the warnings about the configuration and the site profile.
    Warnings,
    /// Show the Middleware view.
    OpenMiddleware,
    /// Check the selected middleware endpoint now.
    CheckNow,
    /// Show the Versions view.
    OpenVersions,
    /// Show the Helm releases.
    OpenHelm,
    /// Show the Pods view.
    OpenPods,
    /// Show the Nodes view.
    OpenNodes,
    /// Show the Events view.
    OpenEvents,
    /// Type a filter for the table.
    Filter,
    /// Sort the table by the next column.
    SortNext,
    /// Reverse the table's order.
    SortReverse,
    /// Describe the selected object.
    Describe,
    /// Show the Kafka topics.
    OpenKafka,
    /// Show the Kafka consumer groups.
    OpenKafkaGroups,
    /// Show the nodes over SSH.
    OpenHosts,
    /// Show the nodes' time.
    OpenTime,
    /// Run a command on the selected node (Hosts; not in read-only mode).
    RunCommand,
    /// Run a command on every node (Hosts; not in read-only mode).
    RunCommandAll,
    /// Accept the selected node's (or the bastion's) unknown host key,
    /// after comparing its fingerprint (Hosts, Time).
    AcceptHostKey,
    /// Follow the selected node's journal (kubelet) in the Logs view
    /// (Hosts).
    NodeJournal,
    /// Follow this unit's journal of the node (internal, from the
    /// palette's `journal UNIT`).
    #[serde(skip)]
    JournalUnit(String),
    /// A host key was recorded, or why not (internal).
    #[serde(skip)]
    HostKeyAccepted(Result<String, String>),
    /// A command on nodes ended (internal).
    #[serde(skip)]
    NodeCommandRan {
        /// The run's number.
        run: u64,
        /// Each node's output, or why nothing ran.
        outputs: Result<Vec<crate::nodes::exec::NodeOutput>, String>,
    },
    /// Choose the previous partition of the selected topic.
    PrevPartition,
    /// Choose the next partition of the selected topic.
    NextPartition,
    /// Peek at the chosen partition's last messages (read-only).
    Peek,
    /// Peek at the chosen partition's first messages from this many
    /// minutes ago (internal, from the palette).
    #[serde(skip)]
    PeekSince(u32),
    /// Peek at the chosen partition's first messages from a time
    /// (milliseconds since the epoch; internal, typed in the palette).
    #[serde(skip)]
    PeekAt(i64),
    /// Logs of the selected pod or workload.
    OpenLogs,
    /// Logs: follow the newest line, or stay.
    ToggleFollow,
    /// Logs: show lines of at least the next level.
    CycleLevel,
    /// Logs: wrap long lines, or cut them.
    ToggleWrap,
    /// Logs: the previous (crashed) containers' logs, or the current ones.
    TogglePrevious,
    /// Logs: the selected line's trace from every pod of its namespace.
    TracePivot,
    /// Logs: save the lines shown to a file.
    SaveLogs,
    /// Logs: copy the selected line to the clipboard (OSC 52).
    CopyLine,
    /// The lines were saved, or why not (internal).
    #[serde(skip)]
    LogsSaved(Result<(std::path::PathBuf, usize), String>),
    /// Log lines read (internal).
    #[serde(skip)]
    LogLines {
        /// The stream they belong to; older streams' lines are ignored.
        generation: u64,
        /// The lines, each stream's in order.
        lines: Vec<crate::logs::buffer::LogLine>,
    },
    /// How the log streams go (internal).
    #[serde(skip)]
    LogsProgress {
        /// The stream.
        generation: u64,
        /// Streams found, open, waiting, finished, failed.
        progress: crate::logs::stream::Progress,
    },
    /// Reading logs ended (internal).
    #[serde(skip)]
    LogsEnded {
        /// The stream.
        generation: u64,
        /// Why, when it failed.
        error: Option<String>,
    },

    /// A key the keymap resolves (internal).
    #[serde(skip)]
    Key(KeyChord),
    /// Text pasted into the terminal (internal).
    #[serde(skip)]
    Paste(String),
    /// The terminal changed size (internal).
    #[serde(skip)]
    Resize,
    /// SIGTERM or SIGHUP: leave now (internal).
    #[serde(skip)]
    Terminate,
    /// The wall clock's minute changed (internal).
    #[serde(skip)]
    ClockTick(String),
    /// Animate the job spinner (internal).
    #[serde(skip)]
    SpinnerTick,
    /// A site profile was read (internal).
    #[serde(skip)]
    SiteLoaded(Box<SiteLoad>),
    /// One source's probe finished (internal).
    #[serde(skip)]
    ProbeFinished {
        /// The probe round it belongs to; older rounds are ignored.
        round: u64,
        /// The row in Overview.
        index: usize,
        /// The outcome.
        report: Box<ProbeReport>,
    },
    /// The background refresh timer fired (internal).
    #[serde(skip)]
    RefreshTick,
    /// Use the theme with this name (internal, from the palette).
    #[serde(skip)]
    SetTheme(String),
    /// A theme was loaded, with its warnings (internal).
    #[serde(skip)]
    ThemeLoaded(Box<(Theme, Vec<String>)>),
    /// Open the site profile at this path (internal).
    #[serde(skip)]
    OpenSite(PathBuf),
    /// The cluster session reported (internal).
    #[serde(skip)]
    Cluster {
        /// The session it belongs to; older sessions are ignored.
        generation: u64,
        /// What happened.
        event: Box<ClusterEvent>,
    },
    /// One node of a running survey was read.
    #[serde(skip)]
    NodeRead {
        /// The profile of the site being read.
        site: std::path::PathBuf,
        /// The node.
        node: Box<crate::nodes::survey::NodeReport>,
    },
    /// A survey of the nodes ended.
    #[serde(skip)]
    NodesSurveyed(std::sync::Arc<crate::app::nodes::NodesSnapshot>),
    /// A peek came back (internal).
    #[serde(skip)]
    KafkaPeeked {
        /// The popup's title it answers.
        title: String,
        /// The messages, or why there are none.
        result: Result<Vec<crate::kafka::PeekedMessage>, String>,
    },
    /// A describe came back (internal).
    #[serde(skip)]
    Described {
        /// The object described.
        target: Target,
        /// The YAML, or why there is none.
        text: Result<String, String>,
    },
}

/// The result of reading a site profile for the cockpit.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteLoad {
    /// The file that was read.
    pub path: PathBuf,
    /// Which request this answers; an answer to an older one is dropped.
    pub load: u64,
    /// The profile, or the error text to show.
    pub result: Result<LoadedProfile, String>,
    /// The release manifest the profile names, or why it cannot be read.
    pub release: Option<Result<ReleaseManifest, String>>,
}

impl Action {
    /// The names of the actions a keymap can bind.
    pub const BINDABLE: &'static [&'static str] = &[
        "quit",
        "help",
        "command_palette",
        "back",
        "next_view",
        "prev_view",
        "refresh",
        "up",
        "down",
        "page_up",
        "page_down",
        "top",
        "bottom",
        "select",
        "open_overview",
        "open_sites",
        "cycle_theme",
        "complete",
        "confirm",
        "cancel",
        "warnings",
        "open_versions",
        "open_helm",
        "open_pods",
        "open_nodes",
        "open_events",
        "filter",
        "sort_next",
        "sort_reverse",
        "describe",
        "open_middleware",
        "check_now",
        "open_hosts",
        "open_time",
        "open_kafka",
        "open_kafka_groups",
        "prev_partition",
        "next_partition",
        "peek",
        "open_logs",
        "toggle_follow",
        "cycle_level",
        "toggle_wrap",
        "toggle_previous",
        "trace_pivot",
        "save_logs",
        "copy_line",
        "run_command",
        "run_command_all",
        "accept_host_key",
        "node_journal",
    ];

    /// Parses a bindable action name from a keymap (`"quit"`).
    pub fn from_name(name: &str) -> Option<Self> {
        use serde::de::IntoDeserializer;
        let deserializer: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            name.into_deserializer();
        Self::deserialize(deserializer).ok()
    }
}
