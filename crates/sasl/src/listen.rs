//! The tokio shell around [`Session`]: sockets, tasks and sleeps. The crate's only async code.

mod options;

use std::future::{Future, pending};
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use zeroize::Zeroizing;

pub use self::options::{ListenOptions, UnixSocket};
use crate::{AuthFailure, Event, Handshake, Interrupt, Options, Penalty, RequestId, Session};

/// Checks logins for the listener (in tresor, `userdb::UserDb::authenticate` behind an
/// adapter mapping a wrong login to [`AuthFailure::Rejected`] and a database error to
/// [`AuthFailure::Unavailable`]).
pub trait Authenticator: Send + Sync + 'static {
    /// `Ok` with the user's canonical name (sent to the client as `user=`), or why not.
    fn authenticate(
        &self,
        username: &str,
        password: &[u8],
    ) -> impl Future<Output = Result<String, AuthFailure>> + Send;
}

/// Bound sockets, ready to [`serve`](Listener::serve).
#[derive(Debug)]
pub struct Listener {
    unix: Option<(UnixListener, PathBuf)>,
    tcp: Option<TcpListener>,
    session: Options,
    penalty: Arc<Penalty>,
    grace: Duration,
}

impl Listener {
    /// Binds the sockets in `options`, so a bad path or a port in use fails at startup.
    pub async fn bind(options: ListenOptions) -> io::Result<Self> {
        let unix = match &options.unix {
            Some(socket) => Some((bind_unix(socket).await?, socket.path.clone())),
            None => None,
        };
        let tcp = match options.tcp {
            Some(addr) if !addr.ip().is_loopback() => {
                let msg = format!("refusing to serve auth on non-loopback address {addr}");
                return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
            }
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let (session, grace) = (options.session, options.shutdown_grace);
        let penalty = Arc::new(Penalty::new(options.penalty));
        Ok(Self {
            unix,
            tcp,
            session,
            penalty,
            grace,
        })
    }

    /// The bound TCP address, if any (useful with port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves connections until `shutdown` turns `true` (or its sender is dropped). Then it
    /// stops accepting, removes the unix socket, gives open connections
    /// [`ListenOptions::shutdown_grace`] to send the replies they still owe, and closes them.
    pub async fn serve<A: Authenticator>(
        self,
        authenticator: Arc<A>,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<()> {
        let mut connections = JoinSet::new();
        let mut connection_id: u32 = 0;
        loop {
            tokio::select! {
                () = shutdown_requested(&mut shutdown) => break,
                accepted = accept(self.unix.as_ref().map(|(l, _)| l), self.tcp.as_ref()) => {
                    let Ok(stream) = accepted else {
                        // Out of file descriptors, say: wait for some to be freed.
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    };
                    connection_id = connection_id.wrapping_add(1);
                    let session = self.session(connection_id);
                    let (auth, stop) = (authenticator.clone(), shutdown.clone());
                    connections.spawn(async move {
                        // A protocol or IO error only ends this connection.
                        let _ = drive(stream, session, auth, stop).await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        if let Some((listener, path)) = self.unix {
            drop(listener);
            let _ = std::fs::remove_file(path);
        }
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.grace, drained).await.is_err() {
            connections.shutdown().await;
        }
        Ok(())
    }

    fn session(&self, connection_id: u32) -> Session {
        let mut cookie = [0u8; 16];
        // The cookie only matters to Dovecot's login processes, which tresor does not serve.
        let _ = getrandom::fill(&mut cookie);
        let server_pid = std::process::id();
        let handshake = Handshake {
            server_pid,
            connection_id,
            cookie,
        };
        Session::new(self.session.clone(), handshake, self.penalty.clone())
    }
}

/// One connection: drain the session's events, then wait for input, a verdict or a delay.
/// Password checks and delayed replies run as tasks, so neither holds up other requests.
async fn drive<A: Authenticator>(
    stream: Box<dyn Stream>,
    mut session: Session,
    authenticator: Arc<A>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut tasks = JoinSet::new();
    // Reads carry passwords: the buffer is wiped when dropped.
    let mut buf = Zeroizing::new(vec![0u8; 4096]);
    let mut draining = false;
    loop {
        loop {
            match session.next() {
                Ok(Event::Output(bytes)) => writer.write_all(&bytes).await?,
                Ok(Event::DelayedOutput { delay, bytes, .. }) => {
                    tasks.spawn(async move {
                        tokio::time::sleep(delay).await;
                        Done::Delayed(bytes)
                    });
                }
                Ok(Event::Authenticate {
                    id,
                    username,
                    password,
                    ..
                }) => {
                    let authenticator = authenticator.clone();
                    tasks.spawn(async move {
                        let verdict = authenticator.authenticate(&username, &password).await;
                        Done::Checked(id, verdict)
                    });
                }
                Err(Interrupt::NeedMoreInput) => break,
                Err(Interrupt::Error(e)) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
        }
        if draining && tasks.is_empty() {
            return Ok(());
        }
        tokio::select! {
            read = reader.read(&mut buf[..]), if !draining => match read? {
                0 => return Ok(()),
                n => session.enqueue_input(buf.get(..n).unwrap_or_default()),
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => match done.map_err(io::Error::other)? {
                // Cannot fail: each id is handed out once and answered once.
                Done::Checked(id, verdict) => { let _ = session.auth_result(id, verdict, Instant::now()); }
                Done::Delayed(bytes) => writer.write_all(&bytes).await?,
            },
            () = shutdown_requested(&mut shutdown), if !draining => draining = true,
        }
    }
}

/// A connection, unix or TCP.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// What a connection's background task produced.
enum Done {
    Checked(RequestId, Result<String, AuthFailure>),
    Delayed(Vec<u8>),
}

async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

async fn accept(
    unix: Option<&UnixListener>,
    tcp: Option<&TcpListener>,
) -> io::Result<Box<dyn Stream>> {
    let unix = async {
        match unix {
            Some(listener) => listener
                .accept()
                .await
                .map(|(s, _)| Box::new(s) as Box<dyn Stream>),
            None => pending().await,
        }
    };
    let tcp = async {
        match tcp {
            Some(listener) => listener
                .accept()
                .await
                .map(|(s, _)| Box::new(s) as Box<dyn Stream>),
            None => pending().await,
        }
    };
    tokio::select! {
        accepted = unix => accepted,
        accepted = tcp => accepted,
    }
}

/// Creates the socket: a stale socket is removed first, a live one (another server) or a
/// non-socket at the path is an error; then the owner and the mode are set.
async fn bind_unix(socket: &UnixSocket) -> io::Result<UnixListener> {
    let path = &socket.path;
    let context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(context(io::ErrorKind::AddrInUse.into()));
            }
            std::fs::remove_file(path).map_err(context)?;
        }
        Ok(_) => return Err(context(io::ErrorKind::AlreadyExists.into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(context(e)),
    }
    let listener = UnixListener::bind(path).map_err(context)?;
    if socket.uid.is_some() || socket.gid.is_some() {
        std::os::unix::fs::chown(path, socket.uid, socket.gid).map_err(context)?;
    }
    let mode = std::fs::Permissions::from_mode(socket.mode);
    std::fs::set_permissions(path, mode).map_err(context)?;
    Ok(listener)
}

/// How long to wait after a failed `accept` before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
