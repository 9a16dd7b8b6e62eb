//! The TOML configuration (`--config FILE`). Every key has a default except where noted, so
//! `tresor` runs with no file at all on embedded defaults: a SQLite userdb and Maildirs under
//! one local data directory.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// `[userdb]`
    pub(crate) userdb: UserdbConfig,
    /// `[mail]`
    pub(crate) mail: MailConfig,
    /// `[paths]`
    pub(crate) paths: PathsConfig,
    /// `[lmtp]`
    pub(crate) lmtp: LmtpConfig,
    /// `[auth]`
    pub(crate) auth: AuthConfig,
    /// `[server]`
    pub(crate) server: ServerConfig,
    /// `[imap]`
    pub(crate) imap: ImapConfig,
    /// `[web]`
    pub(crate) web: WebConfig,
}

/// `[web]`: the self-service page (see `crate::web`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebConfig {
    /// TCP addresses. Unset: `127.0.0.1:8080`, skipped with a warning when that port is
    /// taken; set, every address must bind; `[]` turns the page off.
    pub(crate) listen: Option<Vec<String>>,
    /// Mark the session cookie `Secure`. Default: true unless every listen address is
    /// loopback (then a request a trusted proxy reports as HTTPS still gets `Secure`).
    pub(crate) cookie_secure: Option<bool>,
    /// Seconds without a request after which a session ends. Default 900.
    pub(crate) session_idle: u64,
    /// Reverse proxies (IP addresses) whose `X-Forwarded-For`/`-Proto` are believed.
    /// Default: none.
    pub(crate) trusted_proxies: Vec<String>,
    /// Failed password or recovery-code checks per address and per client before they are
    /// refused for `failure_window`. Default 5.
    pub(crate) max_failures: u32,
    /// Seconds failures are remembered (from the last one). Default 900.
    pub(crate) failure_window: u64,
    /// Milliseconds before answering the first failure; doubles per failure. Default 1000.
    pub(crate) failure_delay_ms: u64,
    /// Longest delay before answering a failure, milliseconds. Default 16000.
    pub(crate) max_failure_delay_ms: u64,
    /// Shortest new password accepted, in characters. Default 8.
    pub(crate) min_password_length: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: None,
            cookie_secure: None,
            session_idle: 900,
            trusted_proxies: Vec::new(),
            max_failures: 5,
            failure_window: 900,
            failure_delay_ms: 1000,
            max_failure_delay_ms: 16_000,
            min_password_length: 8,
        }
    }
}

/// `[imap]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ImapConfig {
    /// Plain IMAP TCP addresses (STARTTLS offered when a certificate is set).
    /// Default: `127.0.0.1:1143`.
    pub(crate) listen: Vec<String>,
    /// Implicit-TLS (IMAPS) TCP addresses; need `tls_cert` and `tls_key`. Default: none.
    pub(crate) imaps_listen: Vec<String>,
    /// PEM certificate chain for IMAPS and STARTTLS.
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for IMAPS and STARTTLS.
    pub(crate) tls_key: Option<PathBuf>,
    /// Accept LOGIN/AUTHENTICATE without TLS from non-loopback clients. Default false.
    pub(crate) allow_plaintext_auth: bool,
    /// Largest APPEND literal in bytes. Default 50 MiB.
    pub(crate) max_literal_size: u32,
    /// Mailboxes created and subscribed at login, name = SPECIAL-USE attribute. Default:
    /// Drafts, Sent, Trash, Junk. An empty table turns it off.
    pub(crate) autocreate: std::collections::BTreeMap<String, String>,
    /// Seconds between checks for changes while a client idles. Default 2.
    pub(crate) idle_poll: u64,
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            listen: vec!["127.0.0.1:1143".into()],
            imaps_listen: Vec::new(),
            tls_cert: None,
            tls_key: None,
            allow_plaintext_auth: false,
            max_literal_size: 50 * 1024 * 1024,
            autocreate: ["Drafts", "Sent", "Trash", "Junk"]
                .into_iter()
                .map(|n| (n.to_string(), format!("\\{n}")))
                .collect(),
            idle_poll: 2,
        }
    }
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Name used in greetings and `Received:` headers. Default: the machine's host name.
    pub(crate) hostname: Option<String>,
    /// Seconds `serve` waits for in-flight work after SIGTERM before it exits. Default 10.
    pub(crate) shutdown_grace: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: None,
            shutdown_grace: 10,
        }
    }
}

/// `[lmtp]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LmtpConfig {
    /// TCP addresses (`127.0.0.1:24`) and unix socket paths (`/var/spool/postfix/private/tresor-lmtp`).
    /// Default: `127.0.0.1:2424`.
    pub(crate) listen: Vec<String>,
    /// Largest message accepted, in bytes (LMTP SIZE). Default 50 MiB.
    pub(crate) max_message_size: usize,
    /// Deliver `user+detail@domain` into mailbox `detail` when it exists. Default false.
    pub(crate) save_to_detail_mailbox: bool,
    /// Recipient delimiter for detail addresses. Default `+`.
    pub(crate) recipient_delimiter: char,
    /// Permissions of LMTP unix sockets. Default `0o660`.
    pub(crate) socket_mode: u32,
    /// Owner uid of LMTP unix sockets (Postfix's); unchanged when absent.
    pub(crate) socket_uid: Option<u32>,
    /// Group gid of LMTP unix sockets (Postfix's); unchanged when absent.
    pub(crate) socket_gid: Option<u32>,
}

impl Default for LmtpConfig {
    fn default() -> Self {
        Self {
            listen: vec!["127.0.0.1:2424".into()],
            max_message_size: 50 * 1024 * 1024,
            save_to_detail_mailbox: false,
            recipient_delimiter: '+',
            socket_mode: 0o660,
            socket_uid: None,
            socket_gid: None,
        }
    }
}

/// `[auth]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthConfig {
    /// Unix socket paths (or loopback `ip:port`) for Postfix's `smtpd_sasl_type = dovecot`
    /// (e.g. `/var/spool/postfix/private/auth`). Default: none.
    pub(crate) listen: Vec<String>,
    /// Permissions of the socket. Default `0o660`.
    pub(crate) socket_mode: u32,
    /// Owner uid of the socket (Postfix's); unchanged when absent.
    pub(crate) socket_uid: Option<u32>,
    /// Group gid of the socket (Postfix's); unchanged when absent.
    pub(crate) socket_gid: Option<u32>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            socket_mode: 0o660,
            socket_uid: None,
            socket_gid: None,
        }
    }
}

/// `[paths]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PathsConfig {
    /// Where the embedded defaults live (SQLite userdb, Maildirs). Default: `/var/lib/tresor`
    /// when run as root, else `$HOME/.local/share/tresor`; `TRESOR_DATA_DIR` overrides.
    pub(crate) data_dir: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        let dir = std::env::var_os("TRESOR_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                if nix::unistd::geteuid().is_root() {
                    PathBuf::from("/var/lib/tresor")
                } else {
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".local/share/tresor"))
                        .unwrap_or_else(|| PathBuf::from("tresor-data"))
                }
            });
        Self { data_dir: dir }
    }
}

/// `[userdb]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct UserdbConfig {
    /// `sqlite:PATH`, `mysql://user:pw@host/db` or `postgres://user@host/db`.
    /// Default: `sqlite:<data_dir>/userdb.sqlite`.
    pub(crate) url: Option<String>,
    /// Dovecot-style query returning `password` (and `crypt`) for `%u`.
    pub(crate) password_query: Option<String>,
    /// Dovecot-style query returning `quota`, `crypt` (and optionally `home`, `uid`, `gid`).
    pub(crate) user_query: Option<String>,
    /// Query listing every user.
    pub(crate) iterate_query: Option<String>,
    /// Scheme of hashes stored without a `{SCHEME}` prefix. Default `BLF-CRYPT`.
    pub(crate) default_pass_scheme: Option<String>,
}

/// `[mail]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MailConfig {
    /// Home template: `%d` domain, `%n` local part, `%u` address.
    /// Default: `<data_dir>/vmail/%d/%n` (ISPmail uses `/var/vmail/%d/%n`).
    pub(crate) home: Option<String>,
    /// Mail files' owner when the userdb row has no uid. Default 5000 (ISPmail's vmail).
    pub(crate) uid: u32,
    /// Mail files' group when the userdb row has no gid. Default 5000.
    pub(crate) gid: u32,
    /// Curve of new user keys (OpenSSL name). Default `secp521r1`.
    pub(crate) curve: String,
    /// How new user keys are wrapped: `dovecot` (PBKDF2 of the password; Dovecot can unlock)
    /// or `argon2id` (stronger against offline guessing; only tresor can unlock). Default
    /// `dovecot`.
    pub(crate) key_wrap: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            home: None,
            uid: 5000,
            gid: 5000,
            curve: "secp521r1".into(),
            key_wrap: "dovecot".into(),
        }
    }
}

impl Config {
    /// Reads `path`, or returns the defaults when `path` is `None`.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))
    }

    /// The userdb URL, defaulting to the embedded SQLite file.
    pub(crate) fn userdb_url(&self) -> String {
        self.userdb.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite:{}",
                self.paths.data_dir.join("userdb.sqlite").display()
            )
        })
    }

    /// The user's home: the userdb's `home` column, else the `[mail] home` template.
    pub(crate) fn home_of(&self, user: &userdb::User) -> anyhow::Result<PathBuf> {
        match &user.home {
            Some(h) => Ok(PathBuf::from(h)),
            None => self.home_for(&user.email),
        }
    }

    /// The owner of the user's mail files: the userdb's uid/gid, else `[mail]`.
    pub(crate) fn owner_of(&self, user: &userdb::User) -> (u32, u32) {
        (
            user.uid.unwrap_or(self.mail.uid),
            user.gid.unwrap_or(self.mail.gid),
        )
    }

    /// The user's mail store.
    pub(crate) fn account_of(
        &self,
        user: &userdb::User,
    ) -> anyhow::Result<store::account::Account> {
        Ok(
            store::account::Account::new(&self.home_of(user)?, user.crypt == 2)
                .with_owner(Some(self.owner_of(user)))
                .with_quota(Some(user.quota)),
        )
    }

    /// The userdb options from `[userdb]`.
    pub(crate) fn userdb_options(&self) -> anyhow::Result<userdb::Options> {
        let mut options = userdb::Options::default();
        let u = &self.userdb;
        if let Some(q) = &u.password_query {
            options.password_query = q.clone();
        }
        if let Some(q) = &u.user_query {
            options.user_query = q.clone();
        }
        if let Some(q) = &u.iterate_query {
            options.iterate_query = q.clone();
        }
        if let Some(s) = &u.default_pass_scheme {
            options.default_pass_scheme = s
                .parse::<userdb::Scheme>()
                .with_context(|| format!("[userdb] default_pass_scheme = {s:?}"))?;
        }
        Ok(options)
    }

    /// Connects to the userdb; a SQLite file (with its directory and schema) is created.
    pub(crate) async fn connect_userdb(&self) -> anyhow::Result<userdb::UserDb> {
        let url = self.userdb_url();
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = PathBuf::from(path.split('?').next().unwrap_or(path));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
        }
        let sqlite = url
            .strip_prefix("sqlite:")
            .map(|p| PathBuf::from(p.split('?').next().unwrap_or(p)));
        let created = sqlite.as_ref().is_some_and(|p| !p.exists());
        let db = userdb::UserDb::connect(&url, self.userdb_options()?).await?;
        if let Some(path) = sqlite {
            db.create_schema().await?;
            if created {
                // A file we made holds password hashes: readable by its owner only. An
                // existing file (shared with Dovecot's auth) keeps the mode the admin chose.
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict {}", path.display()))?;
            }
        }
        Ok(db)
    }

    /// The home directory of `email` from the template.
    pub(crate) fn home_for(&self, email: &str) -> anyhow::Result<PathBuf> {
        let template = self
            .mail
            .home
            .clone()
            .unwrap_or_else(|| format!("{}/vmail/%d/%n", self.paths.data_dir.display()));
        let (local, domain) = email
            .rsplit_once('@')
            .with_context(|| format!("{email} is not an address"))?;
        for part in [local, domain] {
            anyhow::ensure!(
                !part.is_empty() && part != "." && part != ".." && !part.contains(['/', '\0']),
                "{email}: address parts may not be empty, '.', '..' or contain '/'"
            );
        }
        let mut out = String::new();
        let mut chars = template.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('d') => out.push_str(domain),
                Some('n') => out.push_str(local),
                Some('u') => out.push_str(email),
                Some('%') => out.push('%'),
                other => anyhow::bail!("[mail] home: unknown variable %{}", other.unwrap_or(' ')),
            }
        }
        Ok(PathBuf::from(out))
    }
}
