//! A simulator with kubectl pointed at it, shared by the kubectl tests.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

use serde_json::Value;
use sitedeck_lab::kube::{KubeSim, KubeSimOptions};

/// A simulator with the seeded site, in a temporary directory.
pub struct Cluster {
    /// The simulator.
    pub sim: KubeSim,
    /// Its directory (kubeconfig, kubectl's cache, test files).
    pub dir: tempfile::TempDir,
    /// The namespace every kubectl command of the test runs in, if any.
    namespace: Option<&'static str>,
}

impl Cluster {
    /// A simulator with the default options.
    pub fn start() -> Self {
        Self::start_with(KubeSimOptions::default())
    }

    /// A simulator with `options`.
    pub fn start_with(options: KubeSimOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let sim = KubeSim::start_with(dir.path(), options).expect("simulator starts");
        Self {
            sim,
            dir,
            namespace: None,
        }
    }

    /// Runs every kubectl command of this cluster in `namespace`.
    pub fn in_namespace(mut self, namespace: &'static str) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// kubectl with this cluster's kubeconfig and a discovery cache of its
    /// own (so no test reads another's, or the user's).
    pub fn command(&self) -> Command {
        self.command_with(self.sim.kubeconfig())
    }

    /// kubectl with another kubeconfig (a wrong token, say) but this
    /// cluster's cache.
    pub fn command_with(&self, kubeconfig: &Path) -> Command {
        let mut command = Command::new("kubectl");
        command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"))
            .env_remove("KUBECONFIG");
        if let Some(namespace) = self.namespace {
            command.args(["-n", namespace]);
        }
        command
    }

    /// Runs kubectl with `args`.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("kubectl runs")
    }

    /// Runs kubectl and returns its standard output, failing the test with
    /// its standard error when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args);
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    /// kubectl's JSON of one object or list.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).expect("JSON")
    }
}

/// An HTTPS connection to the simulator that trusts only its CA, for tests
/// of the raw API.
pub async fn connect(sim: &KubeSim) -> std::io::Result<SendRequest<Empty<Bytes>>> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(sim.ca_pem().as_bytes()).expect("CA PEM");
    roots.add(ca).expect("CA accepted");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let address = sim.url().trim_start_matches("https://").to_string();
    let tcp = tokio::net::TcpStream::connect(&address).await?;
    let server_name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    Ok(sender)
}
