//! `tresor serve`: the server process, in the foreground (systemd `Type=notify` or `simple`).
//!
//! Startup is a straight line with a log line per step; one shutdown signal (SIGTERM/SIGINT)
//! stops the listeners from accepting, lets in-flight deliveries finish, and exits within
//! `[server] shutdown_grace` seconds. Logs never carry passwords, keys or message content.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lmtp::{DeliveryOutcome, Envelope, ListenAddr, ListenOptions, RcptVerdict, Recipient};
use store::account::AccountError;
use store::maildir::DeliverError;
use tokio::sync::watch;
use tracing::{error, info, warn};
use userdb::UserDb;

use crate::config::Config;

/// Runs the server until SIGTERM or SIGINT.
pub(crate) fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    info!(version = env!("CARGO_PKG_VERSION"), "starting tresor");
    let config = Arc::new(config);
    prepare_data_dir(&config)?;
    let db = config
        .connect_userdb()
        .await
        .context("cannot open the userdb")?;
    hand_sqlite_to_mail_user(&config)?;
    // Delivery seals with wraps a spare core prepared ahead (see store::sealpool).
    store::sealpool::enable();
    let db = Arc::new(db);
    info!(backend = %db.backend(), "userdb ready");
    let lmtp_addrs = config
        .lmtp
        .listen
        .iter()
        .map(|a| parse_listen(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The auth sockets usually live in Postfix's spool: bind them before dropping root.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut auth_tasks = Vec::new();
    for addr in &config.auth.listen {
        let listener = sasl::listen::Listener::bind(auth_options(&config, addr)?)
            .await
            .with_context(|| format!("[auth] listen: cannot listen on {addr}"))?;
        info!(listen = %addr, "SASL auth socket listening");
        let auth = Arc::new(Auth {
            db: Arc::clone(&db),
        });
        auth_tasks.push(tokio::spawn(listener.serve(auth, stop_rx.clone())));
    }
    let hostname = config.server.hostname.clone().unwrap_or_else(hostname);
    let mut session = lmtp::SessionConfig::new(hostname);
    session.max_message_size = config.lmtp.max_message_size;
    let mut options = ListenOptions::new(session);
    options.unix_socket_mode = config.lmtp.socket_mode;
    options.unix_socket_owner = config.lmtp.socket_uid.zip(config.lmtp.socket_gid);
    // Bound while still root (a socket in Postfix's spool), served as the mail user.
    let lmtp_sockets = lmtp::bind(lmtp_addrs, &options)
        .await
        .with_context(|| format!("[lmtp] listen: cannot listen on {:?}", config.lmtp.listen))?;
    let imap_options = crate::imap::options(&config)?;
    let imap_sockets = crate::imap::bind(&config).await?;
    let web_sockets = crate::web::bind(&config).await?;
    let web_options = crate::web::options(&config, &web_sockets)?;
    drop_privileges(&config)?;
    let users = db.list().await.map(|u| u.len()).unwrap_or(0);
    if users == 0 {
        info!("no users yet; add the first one with: tresor user add you@example.org");
    }

    info!(listen = ?config.imap.listen, imaps = ?config.imap.imaps_listen, "IMAP listening");
    let imap_task = crate::imap::spawn(
        imap_sockets,
        imap_options,
        Arc::clone(&db),
        Arc::clone(&config),
        stop_rx.clone(),
    );
    let web_task = if web_sockets.is_empty() {
        None
    } else {
        let addrs: Vec<String> = web_sockets
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect();
        info!(listen = ?addrs, secure_cookie = web_options.cookie_secure, "web page listening");
        Some(crate::web::spawn(
            web_sockets,
            web_options,
            Arc::clone(&db),
            Arc::clone(&config),
            stop_rx.clone(),
        ))
    };
    let handler = Arc::new(Delivery {
        db,
        recent: std::sync::Mutex::default(),
        config: Arc::clone(&config),
    });
    info!(listen = ?config.lmtp.listen, "LMTP listening");
    let lmtp_task = tokio::spawn(lmtp_sockets.serve(options, handler, stop_rx));
    notify_systemd("READY=1");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: finishing in-flight deliveries"),
        _ = tokio::signal::ctrl_c() => info!("SIGINT: finishing in-flight deliveries"),
    }
    notify_systemd("STOPPING=1");
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(config.server.shutdown_grace);
    let _ = tokio::time::timeout(grace, imap_task).await;
    if let Some(task) = web_task {
        let _ = tokio::time::timeout(grace, task).await;
    }
    for task in auth_tasks {
        let _ = tokio::time::timeout(grace, task).await;
    }
    match tokio::time::timeout(grace, lmtp_task).await {
        Ok(Ok(Ok(()))) => info!("stopped"),
        Ok(Ok(Err(e))) => error!(error = %e, "LMTP listener failed"),
        Ok(Err(e)) => error!(error = %e, "LMTP listener panicked"),
        Err(_) => warn!(
            seconds = grace.as_secs(),
            "deliveries still running at the deadline; exiting"
        ),
    }
    Ok(())
}

/// Delivery of one LMTP recipient: userdb lookup, then the user's store.
struct Delivery {
    db: Arc<UserDb>,
    config: Arc<Config>,
    /// Users found at RCPT, so DATA right after does not ask the userdb again (a few
    /// seconds at most: a user removed meanwhile still gets the message being delivered).
    recent: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, userdb::User)>>,
}

/// How long a RCPT lookup is reused for the DATA of the same transaction.
const RECENT_LOOKUP: Duration = Duration::from_secs(5);

impl Delivery {
    /// The userdb row for `address`, reusing one looked up at RCPT moments ago.
    async fn lookup(&self, address: &str) -> Result<Option<userdb::User>, userdb::UserDbError> {
        let now = std::time::Instant::now();
        {
            let mut recent = self
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            recent.retain(|_, (at, _)| now.duration_since(*at) < RECENT_LOOKUP);
            if let Some((_, user)) = recent.get(address) {
                return Ok(Some(user.clone()));
            }
        }
        let found = self.db.lookup(address).await?;
        if let Some(user) = &found {
            self.recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(address.to_string(), (now, user.clone()));
        }
        Ok(found)
    }

    fn base_address<'a>(&self, address: &'a str) -> (std::borrow::Cow<'a, str>, Option<&'a str>) {
        lmtp::split_detail(address, self.config.lmtp.recipient_delimiter)
    }
}

impl lmtp::Handler for Delivery {
    async fn check_recipient(&self, address: &str) -> RcptVerdict {
        let (base, _) = self.base_address(address);
        match self.lookup(&base).await {
            Ok(Some(_)) => RcptVerdict::Accepted,
            Ok(None) => RcptVerdict::UnknownUser,
            Err(e) => {
                error!(error = %e, "userdb lookup failed");
                RcptVerdict::TempFail("userdb unavailable".into())
            }
        }
    }

    async fn deliver(
        &self,
        _: &Envelope,
        recipient: &Recipient,
        message: Vec<u8>,
    ) -> DeliveryOutcome {
        let (base, detail) = self.base_address(&recipient.address);
        let user = match self.lookup(&base).await {
            Ok(Some(u)) => u,
            Ok(None) => return DeliveryOutcome::PermFail("5.1.1 User doesn't exist".into()),
            Err(e) => {
                error!(error = %e, "userdb lookup failed");
                return DeliveryOutcome::TempFail("userdb unavailable".into());
            }
        };
        let account = match self.config.account_of(&user) {
            Ok(a) => a,
            Err(e) => {
                error!(user = %user.email, error = %e, "no home for user");
                return DeliveryOutcome::TempFail("mailbox unavailable".into());
            }
        };
        let mailbox = match detail {
            Some(d) if self.config.lmtp.save_to_detail_mailbox && account.folder(d).is_ok() => {
                d.to_string()
            }
            _ => "INBOX".to_string(),
        };
        let email = user.email.clone();
        let result = tokio::task::spawn_blocking(move || account.deliver(&mailbox, &message)).await;
        match result {
            Ok(Ok(d)) => {
                info!(user = %email, uid = d.uid, size = d.size, "delivered");
                DeliveryOutcome::Delivered {
                    detail: String::new(),
                }
            }
            Ok(Err(AccountError::Deliver(DeliverError::OverQuota { .. }))) => {
                info!(user = %email, "over quota");
                DeliveryOutcome::OverQuota
            }
            Ok(Err(AccountError::NoUserKey)) => {
                error!(
                    user = %email,
                    "encrypted user has no key pair; run `tresor key generate {email} --password-stdin` with the user's password"
                );
                DeliveryOutcome::TempFail("mailbox not ready".into())
            }
            Ok(Err(e)) => {
                error!(user = %email, error = %e, "delivery failed");
                DeliveryOutcome::TempFail("temporary failure".into())
            }
            Err(e) => {
                error!(user = %email, error = %e, "delivery task failed");
                DeliveryOutcome::TempFail("temporary failure".into())
            }
        }
    }
}

/// SMTP AUTH checks for Postfix, against the userdb's password hashes.
struct Auth {
    db: Arc<UserDb>,
}

impl sasl::listen::Authenticator for Auth {
    async fn authenticate(
        &self,
        username: &str,
        password: &[u8],
    ) -> Result<String, sasl::AuthFailure> {
        match self.db.authenticate(username, password).await {
            Ok(user) => {
                info!(user = %user.user().email, "SMTP AUTH ok");
                Ok(user.user().email.clone())
            }
            Err(userdb::AuthError::Failed(reason)) => {
                info!(user = %username.escape_debug(), reason = %reason, "SMTP AUTH failed");
                Err(sasl::AuthFailure::Rejected)
            }
            Err(e) => {
                error!(error = %e, "userdb unavailable for SMTP AUTH");
                Err(sasl::AuthFailure::Unavailable)
            }
        }
    }
}

fn auth_options(config: &Config, addr: &str) -> anyhow::Result<sasl::listen::ListenOptions> {
    let mut options = sasl::listen::ListenOptions::default();
    if addr.starts_with('/') {
        let mut socket = sasl::listen::UnixSocket::new(addr);
        socket.mode = config.auth.socket_mode;
        socket.uid = config.auth.socket_uid;
        socket.gid = config.auth.socket_gid;
        options.unix = Some(socket);
    } else {
        options.tcp = Some(
            addr.parse()
                .with_context(|| format!("[auth] listen: {addr:?}"))?,
        );
    }
    Ok(options)
}

/// `127.0.0.1:2424` or a unix socket path.
fn parse_listen(text: &str) -> anyhow::Result<ListenAddr> {
    if text.starts_with('/') {
        return Ok(ListenAddr::Unix(PathBuf::from(text)));
    }
    let addr: SocketAddr = text
        .parse()
        .with_context(|| format!("[lmtp] listen: {text:?} is neither ip:port nor /path"))?;
    Ok(ListenAddr::Tcp(addr))
}

/// The embedded default data directory, made and given to the mail user when missing.
fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.paths.data_dir;
    if !dir.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        info!(dir = %dir.display(), "created data directory");
    }
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(dir, Some(config.mail.uid), Some(config.mail.gid))?;
        let db = dir.join("userdb.sqlite");
        if db.exists() {
            std::os::unix::fs::chown(&db, Some(config.mail.uid), Some(config.mail.gid))?;
        }
    }
    Ok(())
}

/// An embedded SQLite userdb is opened while still root, which makes its `-wal` and `-shm`
/// files root's; the pool opens more connections later as the mail user, so hand all three
/// files to it (the self-service page writes password changes through them, too).
fn hand_sqlite_to_mail_user(config: &Config) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let url = config.userdb_url();
    let Some(path) = url.strip_prefix("sqlite:") else {
        return Ok(());
    };
    let path = path.split('?').next().unwrap_or(path);
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{path}{suffix}"));
        if file.exists() {
            std::os::unix::fs::chown(&file, Some(config.mail.uid), Some(config.mail.gid))
                .with_context(|| format!("cannot hand {} to the mail user", file.display()))?;
        }
    }
    Ok(())
}

/// Started as root, the server becomes the mail user for good once its sockets are bound.
fn drop_privileges(config: &Config) -> anyhow::Result<()> {
    use nix::unistd::{Gid, Uid, setgid, setgroups, setuid};
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let (uid, gid) = (config.mail.uid, config.mail.gid);
    setgroups(&[Gid::from_raw(gid)])?;
    setgid(Gid::from_raw(gid))?;
    setuid(Uid::from_raw(uid))?;
    info!(uid, gid, "running as the mail user");
    Ok(())
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Tells systemd (Type=notify) about our state, when started by it.
fn notify_systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let path = PathBuf::from(path);
    if let Err(e) = sock.send_to(state.as_bytes(), &path) {
        warn!(error = %e, "cannot notify systemd");
    }
}
