//! What most commands need: the configuration, the userdb, and a user's account.

use std::future::Future;
use std::path::PathBuf;

use anyhow::Context as _;
use store::account::Account;
use userdb::{User, UserDb};

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
            let db = self.runtime.block_on(self.config.connect_userdb())?;
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

    /// The user's home (see [`Config::home_of`]).
    pub(crate) fn home(&self, user: &User) -> anyhow::Result<PathBuf> {
        self.config.home_of(user)
    }

    /// The owner of the user's mail files (see [`Config::owner_of`]).
    pub(crate) fn owner(&self, user: &User) -> (u32, u32) {
        self.config.owner_of(user)
    }

    /// The user's mail store.
    pub(crate) fn account(&self, user: &User) -> anyhow::Result<Account> {
        self.config.account_of(user)
    }
}

/// The address is not in the userdb.
#[derive(Debug, thiserror::Error)]
#[error("no such user: {0}")]
pub(crate) struct UnknownUser(pub(crate) String);
