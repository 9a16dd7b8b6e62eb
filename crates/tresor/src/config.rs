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
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            home: None,
            uid: 5000,
            gid: 5000,
            curve: "secp521r1".into(),
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
