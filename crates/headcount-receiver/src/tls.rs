//! Listening sockets: plain TCP (behind a reverse proxy) or native TLS (rustls, ring).
//!
//! Both hand connections to axum without the peer's address (`Addr = ()`): nothing past
//! `accept` can keep or log it.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsFiles;

/// A TLS handshake that takes longer is dropped (slow or stuck clients must not pile up).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const ACCEPTED_QUEUE: usize = 1024;
/// Pause after a failed accept (out of file descriptors): retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file is unreadable or holds no PEM item of the expected kind.
    #[error("{}: {what}: {reason}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair (for example, the key does not match the certificate).
    #[error("TLS certificate and key: {0}")]
    Config(#[from] rustls::Error),
}

fn file_err<'a>(path: &'a Path, what: &'static str) -> impl Fn(String) -> TlsError + 'a {
    move |reason| TlsError::File {
        path: path.to_owned(),
        what,
        reason,
    }
}

/// Loads the certificate chain and key and builds the rustls server configuration.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_err = file_err(&files.certificate, "certificate");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no CERTIFICATE in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| file_err(&files.key, "private key")(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Plain TCP, without peer addresses.
pub struct PlainListener(pub TcpListener);

impl axum::serve::Listener for PlainListener {
    type Io = TcpStream;
    type Addr = ();

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, _peer)) => {
                    // Small request/response exchanges: never wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    return (stream, ());
                }
                Err(_) => tokio::time::sleep(ACCEPT_ERROR_PAUSE).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(())
    }
}

/// TLS over TCP, without peer addresses. Handshakes run concurrently in their own tasks so one
/// slow client never holds up the others.
pub struct TlsListener {
    accepted: mpsc::Receiver<TlsStream<TcpStream>>,
}

impl TlsListener {
    /// Starts accepting and handshaking on `listener`.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        let (tx, accepted) = mpsc::channel(ACCEPTED_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _peer)) => stream,
                    Err(_) => {
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let handshaken = tx.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        let _ = handshaken.send(tls).await;
                    }
                });
                if tx.is_closed() {
                    return;
                }
            }
        });
        TlsListener { accepted }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = ();

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(s) => (s, ()),
            // The accept task only stops when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(())
    }
}

/// The address a `--listen` value names, for messages.
pub fn describe(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}
