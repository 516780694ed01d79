//! The simulator's TLS identity: a throwaway CA and a server certificate for
//! 127.0.0.1 and localhost that it signs, made fresh for every simulator;
//! and the acceptor that speaks TLS, or plain HTTP when asked to.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A CA and the server certificate it signed.
pub struct LabCertificates {
    /// The CA certificate in PEM, for the kubeconfig's
    /// `certificate-authority-data` and for test clients.
    pub ca_pem: String,
    /// The CA certificate in DER.
    pub ca_der: CertificateDer<'static>,
    /// The server certificate in PEM (for servers that read files).
    pub server_pem: String,
    /// The server's private key in PEM (PKCS#8).
    pub server_key_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivatePkcs8KeyDer<'static>,
}

impl LabCertificates {
    /// Makes a new CA and a server certificate valid for 127.0.0.1 and
    /// localhost.
    pub fn generate() -> Result<Self> {
        Self::generate_for(&[])
    }

    /// The same, the certificate valid for `names` (addresses or host
    /// names) too.
    pub fn generate_for(names: &[String]) -> Result<Self> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name = distinguished_name("sitedeck-lab-ca");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)
            .context("cannot make the lab CA")?;

        let mut server_params = CertificateParams::new(
            ["127.0.0.1", "localhost"]
                .into_iter()
                .map(str::to_owned)
                .chain(names.iter().cloned())
                .collect::<Vec<_>>(),
        )?;
        server_params.distinguished_name = distinguished_name("kube-apiserver");
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate()?;
        let server_cert = server_params
            .signed_by(&server_key, &ca)
            .context("cannot sign the lab server certificate")?;

        Ok(Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            server_chain: vec![server_cert.der().clone()],
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
        })
    }

    /// A rustls server configuration presenting the server certificate,
    /// speaking HTTP/1.1 only (kubectl and kube-rs are content with it).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                self.server_chain.clone(),
                PrivateKeyDer::Pkcs8(self.server_key.clone_key()),
            )
            .context("the lab server certificate does not fit its key")?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// Accepts connections with TLS, or as they are when the simulator
/// serves plain HTTP.
#[derive(Clone)]
pub enum Acceptor {
    /// HTTPS with the lab's certificate.
    Tls(tokio_rustls::TlsAcceptor),
    /// Plain HTTP.
    Plain,
}

impl Acceptor {
    /// TLS with `config`, or plain HTTP without one.
    pub fn new(config: Option<Arc<rustls::ServerConfig>>) -> Self {
        config.map_or(Self::Plain, |config| {
            Self::Tls(tokio_rustls::TlsAcceptor::from(config))
        })
    }

    /// Completes the TLS handshake, if any.
    pub async fn accept(&self, connection: TcpStream) -> std::io::Result<ServerStream> {
        match self {
            Self::Tls(acceptor) => Ok(ServerStream::Tls(Box::new(
                acceptor.accept(connection).await?,
            ))),
            Self::Plain => Ok(ServerStream::Plain(connection)),
        }
    }
}

/// A client's connection, with or without TLS.
pub enum ServerStream {
    /// Over TLS.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// Plain TCP.
    Plain(TcpStream),
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
            Self::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
        buffer: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, buffer),
            Self::Plain(stream) => Pin::new(stream).poll_write(context, buffer),
        }
    }

    fn poll_flush(
        self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
            Self::Plain(stream) => Pin::new(stream).poll_flush(context),
        }
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        context: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(context),
        }
    }
}
