//! The async shell around [`Session`]: the crate's only tokio code. TCP listeners for plain
//! IMAP (with STARTTLS when a certificate is configured) and implicit TLS (IMAPS); one task per
//! connection, the session run on the blocking pool because its backend does file IO.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::backend::Authenticator;
use crate::session::{Event, Options, Peer, Session};

/// Listener settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct ListenOptions {
    /// Session settings (`starttls` is set from `tls`).
    pub session: Options,
    /// Certificate and key for IMAPS and STARTTLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ListenOptions {
    /// Listener settings from session settings and an optional TLS configuration.
    pub fn new(mut session: Options, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        session.starttls = tls.is_some();
        Self { session, tls }
    }
}

/// Why the TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no PEM certificate.
    #[error("certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key file is missing, unreadable or holds no PEM private key.
    #[error("private key {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The key does not match the certificate, or rustls refused them.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A rustls server configuration from PEM files (certificate chain, private key).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            path: cert.display().to_string(),
            reason: "no certificate in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// Sockets bound by [`bind`] (while still privileged), served by [`Bound::serve`].
pub struct Bound {
    listeners: Vec<(TcpListener, bool)>,
}

/// Binds plain IMAP addresses and IMAPS (implicit TLS) addresses.
pub async fn bind(plain: &[SocketAddr], implicit_tls: &[SocketAddr]) -> io::Result<Bound> {
    let mut listeners = Vec::new();
    for addr in plain {
        listeners.push((TcpListener::bind(addr).await?, false));
    }
    for addr in implicit_tls {
        listeners.push((TcpListener::bind(addr).await?, true));
    }
    Ok(Bound { listeners })
}

impl Bound {
    /// The bound addresses (plain first, then IMAPS), e.g. to learn a port 0 choice.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Accepts connections until `shutdown` becomes true (or its sender is dropped); then
    /// every open session gets `* BYE` and this returns once they have all closed.
    pub async fn serve(
        self,
        options: ListenOptions,
        auth: Arc<dyn Authenticator>,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let options = Arc::new(options);
        let mut loops = JoinSet::new();
        for (listener, implicit) in self.listeners {
            loops.spawn(accept_loop(
                listener,
                implicit,
                Arc::clone(&options),
                Arc::clone(&auth),
                shutdown.clone(),
            ));
        }
        while loops.join_next().await.is_some() {}
        Ok(())
    }
}

async fn accept_loop(
    listener: TcpListener,
    implicit_tls: bool,
    options: Arc<ListenOptions>,
    auth: Arc<dyn Authenticator>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    let session_options = Arc::new(options.session.clone());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, addr)) = accepted else { continue };
                let (opts, auth, stop) =
                    (Arc::clone(&session_options), Arc::clone(&auth), shutdown.clone());
                let tls = options.tls.clone();
                conns.spawn(async move {
                    if let Err(e) = connection(stream, addr, implicit_tls, tls, opts, auth, stop).await {
                        debug!(peer = %addr, error = %e, "IMAP connection ended with an error");
                    }
                });
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    implicit_tls: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    options: Arc<Options>,
    auth: Arc<dyn Authenticator>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let loopback = addr.ip().is_loopback();
    if implicit_tls {
        let Some(config) = tls else {
            warn!("IMAPS listener without a TLS configuration");
            return Ok(());
        };
        let stream = TlsAcceptor::from(config).accept(stream).await?;
        let session = Session::new(options, auth, Peer::new(true, loopback));
        drive(stream, session, shutdown).await?;
        return Ok(());
    }
    let session = Session::new(options, auth, Peer::new(false, loopback));
    if let Some((stream, mut session)) = drive(stream, session, shutdown.clone()).await? {
        let Some(config) = tls else { return Ok(()) };
        let stream = TlsAcceptor::from(config).accept(stream).await?;
        session.tls_started();
        drive(stream, session, shutdown).await?;
    }
    Ok(())
}

/// Serves one session over `stream` until it closes; on STARTTLS, hands the stream and the
/// session back (no byte read after the command is processed before the handshake).
pub async fn drive<S>(
    mut stream: S,
    mut session: Session,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<Option<(S, Session)>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; READ_BUFFER];
    let mut stopping = false;
    loop {
        let (back, events, more) = step(session, run).await?;
        session = back;
        for event in events {
            match event {
                Event::Output(bytes) => stream.write_all(&bytes).await?,
                Event::StartTls => {
                    stream.flush().await?;
                    return Ok(Some((stream, session)));
                }
                Event::Closed => {
                    stream.flush().await?;
                    let _ = stream.shutdown().await;
                    return Ok(None);
                }
            }
        }
        if more {
            continue;
        }
        stream.flush().await?;
        let timer = session.poll_timeout();
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = read?;
                if n == 0 {
                    return Ok(None);
                }
                session.enqueue_input(buf.get(..n).unwrap_or_default());
            }
            () = sleep_until(timer) => {
                let (back, (), _) = step(session, |s, now| {
                    s.handle_timeout(now);
                    ((), false)
                }).await?;
                session = back;
            }
            changed = shutdown.changed(), if !stopping => {
                if changed.is_err() || *shutdown.borrow() {
                    stopping = true;
                    session.shutdown();
                }
            }
        }
    }
}

/// Runs `f` on the session on the blocking pool (the backend does file IO).
async fn step<T: Send + 'static>(
    mut session: Session,
    f: impl FnOnce(&mut Session, Instant) -> (T, bool) + Send + 'static,
) -> io::Result<(Session, T, bool)> {
    tokio::task::spawn_blocking(move || {
        let (out, more) = f(&mut session, Instant::now());
        (session, out, more)
    })
    .await
    .map_err(io::Error::other)
}

/// Drains the session's events, stopping after about [`STEP_OUTPUT`] bytes (`true`: more).
fn run(session: &mut Session, now: Instant) -> (Vec<Event>, bool) {
    let mut events = Vec::new();
    let mut size = 0;
    while let Some(event) = session.next(now) {
        let stop = !matches!(event, Event::Output(_));
        if let Event::Output(bytes) = &event {
            size += bytes.len();
        }
        events.push(event);
        if stop {
            return (events, false);
        }
        if size >= STEP_OUTPUT {
            return (events, true);
        }
    }
    (events, false)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Bytes read per socket read; the only fixed per-connection buffer.
const READ_BUFFER: usize = 4096;
/// Output collected per blocking step before it is written.
const STEP_OUTPUT: usize = 256 * 1024;
