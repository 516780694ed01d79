//! A whole lab site and the `site.yaml` that points sitedeck at it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::kube::KubeSim;
use crate::{MariaDb, Redis};

/// The servers of one lab site.
#[derive(Debug)]
pub struct Lab {
    /// The lab's directory: servers, secrets, `site.yaml`.
    pub dir: PathBuf,
    /// MariaDB.
    pub mariadb: MariaDb,
    /// Redis.
    pub redis: Redis,
    /// The Kubernetes API simulator with the seed site.
    pub kube: KubeSim,
}

/// The release manifest the lab's cluster should run (one component drifts).
const RELEASE: &str = include_str!("../../assets/releases/example-2.4.1.yaml");

/// How `sitedeck-lab up` builds the lab's cluster.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// Serve the Kubernetes API over plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Add a generated cluster of this size to the seed site.
    pub scale: Option<crate::kube::seed::ScaleSpec>,
}

impl Lab {
    /// Starts every server of the lab in `dir` and writes `dir/site.yaml`.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::start_with(dir, &LabOptions::default())
    }

    /// Starts the lab with `options`.
    pub fn start_with(dir: &Path, options: &LabOptions) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = std::path::absolute(dir)?;
        let mariadb = MariaDb::start(&dir.join("mariadb"))?;
        let redis = Redis::start(&dir.join("redis"))?;
        // The kubeconfig lands next to site.yaml.
        let kube_options = crate::kube::KubeSimOptions {
            plain_http: options.plain_http,
            ..crate::kube::KubeSimOptions::default()
        };
        let kube = KubeSim::start_with(&dir, kube_options)?;
        if let Some(scale) = options.scale {
            kube.generate(scale)?;
        }
        let lab = Self {
            dir,
            mariadb,
            redis,
            kube,
        };
        lab.write_site()?;
        Ok(lab)
    }

    /// The site profile's path.
    pub fn site_file(&self) -> PathBuf {
        self.dir.join("site.yaml")
    }

    fn write_site(&self) -> Result<()> {
        let secrets = self.dir.join("secrets");
        std::fs::create_dir_all(&secrets)?;
        write_private(&secrets.join("mariadb-password"), &self.mariadb.password)?;
        write_private(&secrets.join("redis-password"), &self.redis.password)?;
        let site = format!(
            "# Written by sitedeck-lab: the local lab site on 127.0.0.1.\n\
             name: lab\n\
             environment: poc\n\
             description: sitedeck lab (Kubernetes API simulator, real MariaDB and Redis on loopback)\n\
             cluster:\n\
             \x20 kubeconfig: kubeconfig\n\
             \x20 context: lab\n\
             release: release.yaml\n\
             middleware:\n\
             \x20 - name: mariadb\n\
             \x20   kind: mysql\n\
             \x20   endpoint: {mariadb}\n\
             \x20   user: {user}\n\
             \x20   password: {{file: secrets/mariadb-password}}\n\
             \x20   database: sitedeck\n\
             \x20 - name: redis\n\
             \x20   kind: redis\n\
             \x20   endpoint: {redis}\n\
             \x20   password: {{file: secrets/redis-password}}\n\
             probes:\n\
             \x20 timeout_seconds: 3\n\
             \x20 refresh_seconds: 15\n",
            mariadb = self.mariadb.endpoint(),
            user = crate::mariadb::USER,
            redis = self.redis.endpoint(),
        );
        std::fs::write(self.dir.join("release.yaml"), RELEASE)?;
        std::fs::write(self.site_file(), site)?;
        Ok(())
    }
}

/// Writes a file only its owner can read (0600, also when it existed).
pub fn write_private(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(secret.as_bytes())?;
    Ok(())
}
