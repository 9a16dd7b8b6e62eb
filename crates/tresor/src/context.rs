//! What most commands need: the configuration, the userdb, and a user's account.

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context as _;
use store::account::Account;
use userdb::{Options, Scheme, User, UserDb};

use crate::config::Config;

/// The configuration plus a connection to the userdb, made on first use.
pub(crate) struct Ctx {
    pub(crate) config: Config,
    runtime: tokio::runtime::Runtime,
    db: Option<UserDb>,
}

impl Ctx {
    pub(crate) fn new(config: Config) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            config,
            runtime,
            db: None,
        })
    }

    /// The userdb; a SQLite file (and its schema) is created on first use.
    pub(crate) fn db(&mut self) -> anyhow::Result<&UserDb> {
        if self.db.is_none() {
            let url = self.config.userdb_url();
            if let Some(path) = url.strip_prefix("sqlite:") {
                let path = PathBuf::from(path.split('?').next().unwrap_or(path));
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
            }
            let mut options = Options::default();
            let u = &self.config.userdb;
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
                    .parse::<Scheme>()
                    .with_context(|| format!("[userdb] default_pass_scheme = {s:?}"))?;
            }
            let db = self.runtime.block_on(UserDb::connect(&url, options))?;
            if url.starts_with("sqlite:") {
                self.runtime.block_on(db.create_schema())?;
            }
            self.db = Some(db);
        }
        self.db.as_ref().context("userdb not connected")
    }

    /// Runs one userdb operation to completion.
    pub(crate) fn with_db<'a, T, F>(
        &'a mut self,
        f: impl FnOnce(&'a UserDb) -> F,
    ) -> anyhow::Result<T>
    where
        F: Future<Output = T>,
    {
        self.db()?;
        let db = self.db.as_ref().context("userdb not connected")?;
        Ok(self.runtime.block_on(f(db)))
    }

    /// Every user's address.
    pub(crate) fn list_users(&mut self) -> anyhow::Result<Vec<String>> {
        Ok(self.with_db(|db| db.list())??)
    }

    /// The user from the userdb, or a clear error.
    pub(crate) fn user(&mut self, email: &str) -> anyhow::Result<User> {
        let user = self.with_db(|db| db.lookup(email))??;
        user.ok_or_else(|| anyhow::Error::new(UnknownUser(email.to_string())))
    }

    /// The user's home: the userdb's `home` column, else the `[mail] home` template.
    pub(crate) fn home(&self, user: &User) -> anyhow::Result<PathBuf> {
        match &user.home {
            Some(h) => Ok(PathBuf::from(h)),
            None => self.config.home_for(&user.email),
        }
    }

    /// The owner of the user's mail files: the userdb's uid/gid, else `[mail]`.
    pub(crate) fn owner(&self, user: &User) -> (u32, u32) {
        (
            user.uid.unwrap_or(self.config.mail.uid),
            user.gid.unwrap_or(self.config.mail.gid),
        )
    }

    /// The user's mail store.
    pub(crate) fn account(&self, user: &User) -> anyhow::Result<Account> {
        Ok(Account::new(&self.home(user)?, user.crypt == 2)
            .with_owner(Some(self.owner(user)))
            .with_quota(Some(user.quota)))
    }
}

/// The address is not in the userdb.
#[derive(Debug, thiserror::Error)]
#[error("no such user: {0}")]
pub(crate) struct UnknownUser(pub(crate) String);
