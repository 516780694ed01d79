//! A real PostgreSQL server from Debian's packages on a free loopback port.
//!
//! PostgreSQL refuses to run as root, and the tests run as root: then
//! `initdb` and `postgres` run as `nobody`, which owns the data and socket
//! directories, and the directories above them get the search bit for
//! others (`o+x`) where they lack it and we own them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::{ManagedProcess, running_as_root, wait_until};

/// The user sitedeck logs in as, and the database it owns.
pub const USER: &str = "sitedeck";

/// The database superuser; it may only log in over the unix socket.
const SUPERUSER: &str = "postgres";

/// A running PostgreSQL server with a `sitedeck` user and database, which
/// takes passwords (scram-sha-256) over TCP on 127.0.0.1 only.
#[derive(Debug)]
pub struct Postgres {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The login user, `sitedeck`.
    pub user: String,
    /// The `sitedeck` user's password.
    pub password: String,
    /// The server's directory (data, socket, log).
    pub dir: PathBuf,
    bin: PathBuf,
    process: ManagedProcess,
}

/// Who the server runs as.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

impl Postgres {
    /// Initialises a cluster in `dir/data` and starts the server.
    pub fn start(dir: &Path) -> Result<Self> {
        let bin = find_bin_dir().context(
            "PostgreSQL is not installed (apt-get install postgresql); \
             no /usr/lib/postgresql/*/bin/initdb and no initdb on PATH",
        )?;
        std::fs::create_dir_all(dir)?;
        let dir = std::path::absolute(dir)?;
        let run_as = if running_as_root() {
            let (uid, gid) = nobody();
            make_traversable(&dir)?;
            Some(RunAs { uid, gid })
        } else {
            None
        };
        let data = dir.join("data");
        let socket = dir.join("socket");
        let log = Self::log_file(&dir);
        for own in [&data, &socket] {
            private_dir(own, run_as)?;
        }

        let mut init = Command::new(bin.join("initdb"));
        init.arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--auth-local=trust"])
            .args(["--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"]);
        let output = as_user(init, run_as, &dir)
            .output()
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }

        let port = crate::free_port()?;
        let mut command = Command::new(bin.join("postgres"));
        command.arg("-D").arg(&data).arg("-p").arg(port.to_string());
        for setting in [
            "listen_addresses=127.0.0.1".to_owned(),
            format!("unix_socket_directories={}", socket.display()),
            "shared_buffers=16MB".to_owned(),
            "max_connections=30".to_owned(),
            "fsync=off".to_owned(),
            "synchronous_commit=off".to_owned(),
            "full_page_writes=off".to_owned(),
            "password_encryption=scram-sha-256".to_owned(),
        ] {
            command.arg("-c").arg(setting);
        }
        let mut process = ManagedProcess::spawn("postgres", as_user(command, run_as, &dir), &log)?;
        let status_file = data.join("postmaster.pid");
        wait_until(&mut process, Duration::from_secs(60), "PostgreSQL", || {
            // The 8th line of postmaster.pid is the server's state.
            std::fs::read_to_string(&status_file)
                .is_ok_and(|pid_file| pid_file.lines().nth(7).map(str::trim) == Some("ready"))
        })
        .with_context(|| format!("see {}", log.display()))?;

        let server = Self {
            port,
            user: USER.to_owned(),
            password: crate::lab_secret("postgres"),
            dir,
            bin,
            process,
        };
        // Through stdin: the password never shows in argv.
        server.sql_in(
            SUPERUSER,
            &format!(
                "CREATE ROLE {USER} LOGIN PASSWORD '{pw}';\nCREATE DATABASE sitedeck OWNER {USER};\n",
                pw = server.password
            ),
        )?;
        Ok(server)
    }

    /// The server's log file when it runs in `dir`.
    pub fn log_file(dir: &Path) -> PathBuf {
        dir.join("postgres.log")
    }

    /// Runs SQL in the `sitedeck` database as the superuser over the unix
    /// socket, through stdin. Returns the rows, one per line, fields
    /// separated by `|`, without headers.
    pub fn sql(&self, sql: &str) -> Result<String> {
        self.sql_in("sitedeck", sql)
    }

    fn sql_in(&self, database: &str, sql: &str) -> Result<String> {
        let mut psql = self.bin.join("psql");
        if !psql.is_file() {
            psql = PathBuf::from("psql");
        }
        let mut command = Command::new(psql);
        command
            .args(["--no-psqlrc", "--quiet", "--tuples-only", "--no-align"])
            .args(["--set", "ON_ERROR_STOP=1"])
            .arg("--host")
            .arg(self.dir.join("socket"))
            .args(["--port", &self.port.to_string()])
            .args(["--username", SUPERUSER, "--dbname", database]);
        crate::process::run_sql(command, sql, "psql (apt-get install postgresql-client)")
    }

    /// `host:port` for clients.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server now: a fast shutdown (SIGINT ends the sessions),
    /// killed if it takes longer than a few seconds.
    pub fn stop(&mut self) {
        if self.process.check_running().is_ok()
            && let Ok(pid) = libc::pid_t::try_from(self.process.pid())
        {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        self.process.stop(Duration::from_secs(10));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A plain SIGTERM would wait for every client to disconnect.
        self.stop();
    }
}

/// The newest `/usr/lib/postgresql/*/bin` with an `initdb`, else the
/// directory of `initdb` on PATH.
fn find_bin_dir() -> Option<PathBuf> {
    let versioned = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<f64>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, bin)| bin);
    versioned.or_else(|| {
        crate::process::find_program(&["initdb"])
            .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
    })
}

/// `nobody`'s user and group ids, from /etc/passwd (65534 if absent).
fn nobody() -> (u32, u32) {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.first() == Some(&"nobody") && fields.len() > 3)
                    .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                    .flatten()
            })
        })
        .unwrap_or((65534, 65534))
}

/// Gives `dir` and each directory above it the search bit for others, if
/// it lacks it and we own it, so `nobody` can reach its own directories
/// inside (a temporary directory is 0700).
fn make_traversable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    for ancestor in dir.ancestors() {
        let meta = std::fs::metadata(ancestor)
            .with_context(|| format!("cannot read {}", ancestor.display()))?;
        let mode = meta.mode() & 0o7777;
        if mode & 0o001 != 0 {
            continue;
        }
        if meta.uid() != me {
            bail!(
                "PostgreSQL runs as nobody, which cannot enter {} (mode {mode:o}, not ours to change)",
                ancestor.display()
            );
        }
        std::fs::set_permissions(ancestor, std::fs::Permissions::from_mode(mode | 0o001))
            .with_context(|| format!("cannot make {} traversable", ancestor.display()))?;
    }
    Ok(())
}

/// Creates `dir` (mode 0700) owned by whoever runs the server.
fn private_dir(dir: &Path, run_as: Option<RunAs>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(RunAs { uid, gid }) = run_as {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .with_context(|| format!("cannot give {} to nobody", dir.display()))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// `command` run as `run_as` (if any), in `dir`, with a HOME it can read.
fn as_user(mut command: Command, run_as: Option<RunAs>, dir: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    command.current_dir(dir).env("HOME", dir);
    if let Some(RunAs { uid, gid }) = run_as {
        // std drops root's groups and sets the ids before ManagedProcess's
        // pre_exec hook runs, so the parent-death signal set there
        // survives the switch (changing ids clears it).
        command.uid(uid).gid(gid);
    }
    command
}
