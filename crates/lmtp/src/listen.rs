//! The async shell around [`Session`]: the crate's only tokio code.
//!
//! [`serve_connection`] drives one session over any byte stream; [`listen`] accepts TCP and
//! unix-socket connections and runs one session each until told to shut down.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::{
    DeliveryOutcome, Envelope, Event, Handler, ListenAddr, ListenOptions, PeerInfo, RcptId,
    Session, SessionConfig, Timestamp, trace_headers, transaction_id,
};

/// Runs one LMTP session over `stream` until the client quits, goes idle or the stream fails.
pub async fn serve_connection<S, H>(
    stream: S,
    peer: PeerInfo,
    config: SessionConfig,
    handler: &H,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler + ?Sized,
{
    let (_keep, never) = watch::channel(false);
    serve_connection_until(stream, peer, config, handler, never).await
}

/// [`serve_connection`] that also ends gracefully once `shutdown` becomes `true` (or its
/// sender is dropped): the transaction in progress finishes, then the client gets `421`.
pub async fn serve_connection_until<S, H>(
    mut stream: S,
    peer: PeerInfo,
    config: SessionConfig,
    handler: &H,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler + ?Sized,
{
    let session_id = new_session_id();
    let idle = config.idle_timeout;
    let mut session = Session::new(config);
    let mut stopping = false;
    let mut buf = vec![0; 16 * 1024];
    loop {
        if !stopping && *shutdown.borrow_and_update() {
            stopping = true;
            session.shutdown();
        }
        while let Some(event) = session.next() {
            match event {
                Event::Output(bytes) => write(&mut stream, &bytes, idle).await?,
                Event::CheckRecipient { id, address } => {
                    let verdict = handler.check_recipient(&address).await;
                    // cannot fail: this answers the check just taken from the session
                    let _ = session.recipient_checked(id, verdict);
                }
                Event::Deliver { envelope, message } => {
                    let host = session.config().hostname.clone();
                    let outcomes = deliver(handler, &session_id, peer, &host, &envelope, &message);
                    // cannot fail: one outcome per recipient of the pending delivery
                    let _ = session.delivered(outcomes.await);
                }
                Event::Closed => {
                    let _ = timeout(idle, stream.shutdown()).await;
                    return Ok(());
                }
            }
        }
        tokio::select! {
            read = timeout(idle, stream.read(&mut buf)) => match read {
                Err(_elapsed) => session.handle_idle_timeout(),
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(n)) => session.enqueue_input(buf.get(..n).unwrap_or_default()),
                Ok(Err(e)) => return Err(e),
            },
            changed = shutdown.changed(), if !stopping => {
                if changed.is_err() {
                    stopping = true;
                    session.shutdown();
                }
            }
        }
    }
}

/// Accepts connections on every address in `addrs` and serves each with its own session,
/// until `shutdown` becomes `true` (or its sender is dropped). Then it stops accepting,
/// removes its unix sockets, lets every open session finish its transaction, and returns.
/// The same as [`bind`] followed by [`Bound::serve`].
pub async fn listen<H>(
    addrs: Vec<ListenAddr>,
    options: ListenOptions,
    handler: Arc<H>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()>
where
    H: Handler + Send + Sync + 'static,
{
    bind(addrs, &options)
        .await?
        .serve(options, handler, shutdown)
        .await
}

/// Binds every address (unix sockets get the configured mode and owner), so a server can bind
/// while it is still privileged and serve after it has dropped privileges.
pub async fn bind(addrs: Vec<ListenAddr>, options: &ListenOptions) -> io::Result<Bound> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        listeners.push(match addr {
            ListenAddr::Tcp(addr) => Listener::Tcp(TcpListener::bind(addr).await?),
            ListenAddr::Unix(path) => {
                bind_unix(path, options.unix_socket_mode, options.unix_socket_owner)?
            }
        });
    }
    Ok(Bound { listeners })
}

/// Listening sockets made by [`bind`].
pub struct Bound {
    listeners: Vec<Listener>,
}

impl Bound {
    /// Serves every socket until `shutdown` (see [`listen`]).
    pub async fn serve<H>(
        self,
        options: ListenOptions,
        handler: Arc<H>,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<()>
    where
        H: Handler + Send + Sync + 'static,
    {
        let mut loops = JoinSet::new();
        for listener in self.listeners {
            let (config, handler, shutdown) =
                (options.session.clone(), handler.clone(), shutdown.clone());
            loops.spawn(accept_loop(listener, config, handler, shutdown));
        }
        while loops.join_next().await.is_some() {}
        Ok(())
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

async fn accept_loop<H>(
    listener: Listener,
    config: SessionConfig,
    handler: Arc<H>,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Handler + Send + Sync + 'static,
{
    let mut sessions = JoinSet::new();
    while !*shutdown.borrow_and_update() {
        let (handler, config, stop) = (handler.clone(), config.clone(), shutdown.clone());
        tokio::select! {
            accepted = accept(&listener) => match accepted {
                Ok(Accepted::Tcp(stream, addr)) => drop(sessions.spawn(async move {
                    let _ = serve_connection_until(stream, PeerInfo::tcp(addr), config, &*handler, stop).await;
                })),
                Ok(Accepted::Unix(stream)) => drop(sessions.spawn(async move {
                    let _ = serve_connection_until(stream, PeerInfo::unix(), config, &*handler, stop).await;
                })),
                // Out of file descriptors or a connection reset before accept: try again soon.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            changed = shutdown.changed() => if changed.is_err() { break },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
    }
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
}

enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, a)| Accepted::Tcp(s, a)),
        Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

/// Binds a unix socket at `path`, replacing a stale socket (never another kind of file).
fn bind_unix(path: PathBuf, mode: u32, owner: Option<(u32, u32)>) -> io::Result<Listener> {
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(&path)?,
        Ok(_) => {
            let what = format!("{} exists and is not a socket", path.display());
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, what));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
    }
    Ok(Listener::Unix(listener, path))
}

/// Delivers the message to each recipient in turn, trace headers prepended per recipient.
async fn deliver<H: Handler + ?Sized>(
    handler: &H,
    session_id: &str,
    peer: PeerInfo,
    hostname: &str,
    envelope: &Envelope,
    message: &[u8],
) -> Vec<(RcptId, DeliveryOutcome)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let date = Timestamp::from_unix(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    let id = transaction_id(session_id, envelope.transaction);
    let ip = peer.addr.map(|a| a.ip());
    let mut outcomes = Vec::with_capacity(envelope.recipients.len());
    for rcpt in &envelope.recipients {
        let (from, lhlo) = (&envelope.mail_from, &envelope.lhlo);
        let mut copy = trace_headers(from, &rcpt.address, lhlo, ip, hostname, &id, date);
        copy.extend_from_slice(message);
        outcomes.push((rcpt.id, handler.deliver(envelope, rcpt, copy).await));
    }
    outcomes
}

async fn write<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    idle: Duration,
) -> io::Result<()> {
    let written = timeout(idle, async {
        stream.write_all(bytes).await?;
        stream.flush().await
    });
    written
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// A random id in Dovecot's form: 16 bytes, base64 without padding (22 characters).
fn new_session_id() -> String {
    let mut raw = [0u8; 16];
    if getrandom::fill(&mut raw).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        raw = nanos.as_nanos().to_le_bytes();
    }
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw)
}
