//! A node's facts, read over SSH in one command: OS release, kernel,
//! CPUs, load, memory and swap, disk and inode use per mount, uptime, the
//! container runtime and a few sysctls; and the findings they give (a
//! disk ≥ 80 % used warns, ≥ 90 % is critical; thresholds from the site).

use ssh2::Session;

/// The one command that prints every fact, section by section. Only
/// what every supported distribution has (coreutils, procfs).
pub const FACTS_COMMAND: &str = "\
echo '== os'; cat /etc/os-release 2>/dev/null; \
echo '== kernel'; uname -r; \
echo '== cpus'; nproc; \
echo '== load'; cat /proc/loadavg; \
echo '== memory'; cat /proc/meminfo; \
echo '== uptime'; cat /proc/uptime; \
echo '== disk'; timeout 5 df -P -k -l -x squashfs -x overlay -x devtmpfs -x iso9660 2>/dev/null; \
echo '== inodes'; timeout 5 df -P -i -l -x squashfs -x overlay -x devtmpfs -x iso9660 2>/dev/null; \
echo '== runtime'; (containerd --version || crio --version || docker --version) 2>/dev/null | head -n 1; \
echo '== sysctl'; for k in vm/swappiness net/ipv4/ip_forward fs/file-max vm/max_map_count; do \
printf '%s=%s\\n' \"$k\" \"$(cat /proc/sys/$k 2>/dev/null)\"; done";

/// One mounted filesystem's use (local ones; not snaps' squashfs, overlay
/// layers or devtmpfs, which repeat or are always full; `df` given 5 s, so
/// a stale network mount does not hang the facts).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mount {
    /// Where it is mounted.
    pub path: String,
    /// Its size, KiB.
    pub size_kib: u64,
    /// Blocks used, in percent.
    pub used_percent: f64,
    /// Inodes used, in percent (when the filesystem has inodes).
    pub inodes_percent: Option<f64>,
}

/// What a node is and how it does.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct NodeFacts {
    /// The distribution, as recognised (`Rocky Linux 9.4`, `Kylin V10`…).
    pub os: String,
    /// Its family, for the supported list: centos, rhel, rocky, ubuntu,
    /// debian, kylin, uos, openeuler, or other.
    pub os_family: String,
    /// `uname -r`.
    pub kernel: String,
    /// CPUs online.
    pub cpus: u32,
    /// The 1, 5 and 15 minute load.
    pub load: [f64; 3],
    /// Memory, KiB: total and available.
    pub memory_kib: (u64, u64),
    /// Swap, KiB: total and free.
    pub swap_kib: (u64, u64),
    /// Seconds since boot.
    pub uptime_s: u64,
    /// Each mounted filesystem with a size.
    pub mounts: Vec<Mount>,
    /// The container runtime's version line, if one is installed.
    pub runtime: Option<String>,
    /// Selected sysctls, `name=value`.
    pub sysctls: Vec<(String, String)>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look.
    Warn,
    /// Act now.
    Critical,
}

/// Something about a node the operator should know.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// What, in words: `/var/lib/containerd is 93 % full`.
    pub what: String,
}

/// Disk thresholds, percent used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskThresholds {
    /// Warn from here.
    pub warn: f64,
    /// Critical from here.
    pub critical: f64,
}

impl Default for DiskThresholds {
    fn default() -> Self {
        Self {
            warn: 80.0,
            critical: 90.0,
        }
    }
}

/// Reads the facts over `session`. Blocking.
pub fn read(session: &Session) -> Result<NodeFacts, String> {
    let (status, out, err) = super::ssh::run(session, FACTS_COMMAND)?;
    if out.trim().is_empty() {
        return Err(format!(
            "the facts command printed nothing (exit {status}): {}",
            crate::text::one_line(&err)
        ));
    }
    Ok(parse(&out))
}

/// The facts from the command's output.
pub fn parse(output: &str) -> NodeFacts {
    let mut facts = NodeFacts::default();
    let mut section = "";
    let mut os = Vec::new();
    let mut inodes = Vec::new();
    for line in output.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            section = name.trim();
            continue;
        }
        match section {
            "os" => os.push(line),
            "kernel" => facts.kernel = line.trim().to_owned(),
            "cpus" => facts.cpus = line.trim().parse().unwrap_or(0),
            "load" => {
                let mut loads = line.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
                for slot in &mut facts.load {
                    *slot = loads.next().unwrap_or(0.0);
                }
            }
            "memory" => memory_line(line, &mut facts),
            "uptime" => {
                facts.uptime_s = line
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .map_or(0, |s| s as u64);
            }
            "disk" => facts.mounts.extend(df_line(line)),
            "inodes" => inodes.extend(df_line(line)),
            "runtime" if !line.trim().is_empty() => facts.runtime = Some(line.trim().to_owned()),
            "sysctl" => {
                if let Some((name, value)) = line.split_once('=')
                    && !value.is_empty()
                {
                    facts
                        .sysctls
                        .push((name.replace('/', "."), value.trim().to_owned()));
                }
            }
            _ => {}
        }
    }
    for mount in &mut facts.mounts {
        mount.inodes_percent = inodes
            .iter()
            .find(|i| i.path == mount.path && i.size_kib > 0)
            .map(|i| i.used_percent);
    }
    (facts.os, facts.os_family) = recognise(&os);
    facts
}

fn memory_line(line: &str, facts: &mut NodeFacts) {
    let Some((name, value)) = line.split_once(':') else {
        return;
    };
    let kib: u64 = value
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match name {
        "MemTotal" => facts.memory_kib.0 = kib,
        "MemAvailable" => facts.memory_kib.1 = kib,
        "SwapTotal" => facts.swap_kib.0 = kib,
        "SwapFree" => facts.swap_kib.1 = kib,
        _ => {}
    }
}

/// One line of `df -P` (KiB blocks or inodes): `fs size used avail use% mount`.
fn df_line(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [_, size, used, available, _, path @ ..] = fields.as_slice() else {
        return None;
    };
    let (size, used, available): (u64, u64, u64) = (
        size.parse().ok()?,
        used.parse().ok()?,
        available.parse().ok()?,
    );
    if size == 0 || path.is_empty() {
        return None;
    }
    // As df rounds it: used over what a user could have.
    let usable = used + available;
    // Rounded up, as df shows it: 89.6 % is 90 %, and critical.
    let used_percent = if usable == 0 {
        100.0
    } else {
        (used as f64 * 100.0 / usable as f64).ceil()
    };
    Some(Mount {
        path: path.join(" "),
        size_kib: size,
        used_percent,
        inodes_percent: None,
    })
}

/// The distribution and its family from `/etc/os-release`.
fn recognise(lines: &[&str]) -> (String, String) {
    let field = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let (id, name, version) = (field("ID"), field("NAME"), field("VERSION_ID"));
    let family = match id.to_ascii_lowercase().as_str() {
        "centos" => "centos",
        "rhel" => "rhel",
        "rocky" => "rocky",
        "ubuntu" => "ubuntu",
        "debian" => "debian",
        "kylin" => "kylin",
        "uos" | "uniontech" => "uos",
        "openeuler" => "openeuler",
        _ => "other",
    };
    let shown = match (name.is_empty(), version.is_empty()) {
        (true, _) => "unknown".to_owned(),
        (false, true) => name,
        (false, false) => format!("{name} {version}"),
    };
    (crate::text::one_line(&shown), family.to_owned())
}

/// The findings of `facts`: disks and inodes past the thresholds.
pub fn findings(facts: &NodeFacts, disk: DiskThresholds) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut check = |percent: f64, what: String| {
        let severity = if percent >= disk.critical {
            Severity::Critical
        } else if percent >= disk.warn {
            Severity::Warn
        } else {
            return;
        };
        found.push(Finding { severity, what });
    };
    for mount in &facts.mounts {
        let path = crate::text::one_line(&mount.path);
        check(
            mount.used_percent,
            format!("{path} is {:.0} % full", mount.used_percent),
        );
        if let Some(inodes) = mount.inodes_percent {
            check(
                inodes,
                format!("{path} has used {inodes:.0} % of its inodes"),
            );
        }
    }
    found.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const KYLIN: &str = "== os
NAME=\"Kylin Linux Advanced Server\"
VERSION=\"V10 (Lance)\"
ID=\"kylin\"
VERSION_ID=\"V10\"
== kernel
4.19.90-52.22.v2207.ky10.x86_64
== cpus
16
== load
3.52 2.10 1.75 4/1201 99881
== memory
MemTotal:       65584308 kB
MemFree:         1204400 kB
MemAvailable:   20311040 kB
SwapTotal:             0 kB
SwapFree:              0 kB
== uptime
8153245.12 120000.50
== disk
Filesystem     1024-blocks      Used Available Capacity Mounted on
/dev/mapper/klas-root 104806400 98500000 6306400 94% /
/dev/sdb1       524032000 104806400 419225600 21% /var/lib/containerd
tmpfs             32792152         0  32792152   0% /dev/shm
== inodes
Filesystem      Inodes  IUsed   IFree IUse% Mounted on
/dev/mapper/klas-root 52428800 44564480 7864320 85% /
/dev/sdb1      262144000 1000 262143000 1% /var/lib/containerd
== runtime
containerd containerd.io 1.6.21 3dce8eb055cbb6872793272b4f20ed16117344f8
== sysctl
vm/swappiness=0
net/ipv4/ip_forward=1
fs/file-max=
";

    #[test]
    fn a_kylin_node_with_a_full_root_disk() {
        let facts = parse(KYLIN);
        assert_eq!(facts.os, "Kylin Linux Advanced Server V10");
        assert_eq!(facts.os_family, "kylin");
        assert_eq!(facts.kernel, "4.19.90-52.22.v2207.ky10.x86_64");
        assert_eq!((facts.cpus, facts.load), (16, [3.52, 2.10, 1.75]));
        assert_eq!(facts.memory_kib, (65_584_308, 20_311_040));
        assert_eq!(facts.swap_kib, (0, 0));
        assert_eq!(facts.uptime_s, 8_153_245);
        assert_eq!(facts.mounts.len(), 3);
        assert_eq!(facts.mounts[0].path, "/");
        assert_eq!(facts.mounts[0].inodes_percent.map(f64::round), Some(85.0));
        assert!(
            facts
                .runtime
                .as_deref()
                .is_some_and(|r| r.contains("1.6.21"))
        );
        assert_eq!(
            facts.sysctls,
            [
                ("vm.swappiness".to_owned(), "0".to_owned()),
                ("net.ipv4.ip_forward".to_owned(), "1".to_owned())
            ]
        );
        let found = findings(&facts, DiskThresholds::default());
        assert_eq!(
            found,
            [
                Finding {
                    severity: Severity::Critical,
                    what: "/ is 94 % full".into()
                },
                Finding {
                    severity: Severity::Warn,
                    what: "/ has used 85 % of its inodes".into()
                },
            ]
        );
        // The site's own thresholds.
        let strict = DiskThresholds {
            warn: 20.0,
            critical: 99.0,
        };
        assert_eq!(findings(&facts, strict).len(), 3);
    }

    #[test]
    fn distributions_are_recognised() {
        for (release, family) in [
            (
                "ID=rocky\nNAME=\"Rocky Linux\"\nVERSION_ID=\"9.4\"",
                "rocky",
            ),
            ("ID=\"centos\"\nNAME=\"CentOS Linux\"", "centos"),
            ("ID=\"rhel\"\nNAME=\"Red Hat Enterprise Linux\"", "rhel"),
            ("ID=ubuntu\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"", "ubuntu"),
            ("ID=uos\nNAME=\"UOS Server\"", "uos"),
            ("ID=\"openEuler\"\nNAME=\"openEuler\"", "openeuler"),
            ("ID=alpine", "other"),
        ] {
            let lines: Vec<&str> = release.lines().collect();
            assert_eq!(recognise(&lines).1, family, "{release}");
        }
    }
}
