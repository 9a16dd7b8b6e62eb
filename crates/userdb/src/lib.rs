//! tresor's users: who exists, their settings (quota, crypt, home), and whether a password is
//! right, read from the same SQL userdb an ISPmail Dovecot uses.
//!
//! - [`scheme`]: Dovecot password schemes, verified as Dovecot 2.3 verifies them
//!   (`{BLF-CRYPT}`, `{SHA512-CRYPT}`, `{ARGON2ID}`, `{SSHA512}`, `{PLAIN}`, …) and generated
//!   for new passwords (`{BLF-CRYPT}`, `{ARGON2ID}`).
//! - [`UserDb`]: SQLite (the default), MariaDB/MySQL or PostgreSQL, read through Dovecot-style
//!   `password_query`/`user_query`/`iterate_query` and written through fixed statements on
//!   the ISPmail schema (`virtual_domains`, `virtual_users`, `virtual_aliases`).
//! - [`Authenticated`]: the proof a login succeeded, which only this crate can make.
//!
//! This crate never knows about keys or mail. It never puts a user-supplied value into SQL
//! text: Dovecot's `%u`/`%n`/`%d` become bind parameters.
//!
//! # Columns the queries may return
//!
//! | field | columns (first found wins) | value |
//! |---|---|---|
//! | address | `user` | a `local@domain` address; Dovecot's way to rename the user |
//! | password | `password` (password_query only) | a stored password, see [`scheme`] |
//! | quota | `quota`, `userdb_quota` | bytes, 0 = unlimited |
//! | quota | `quota_rule`, `userdb_quota_rule` | `*:bytes=N` or `*:storage=N[KMGT]` ([`parse_quota_rule`]) |
//! | crypt | `crypt`, `mail_crypt_save_version`, `userdb_mail_crypt_save_version` | 0 or 2; else [`Options::default_crypt`] |
//! | home | `home`, `userdb_home` | a directory |
//! | uid, gid | `uid`/`userdb_uid`, `gid`/`userdb_gid` | numbers |
//!
//! After a password matched, the user comes from `user_query`, with columns it lacks filled
//! from the `password_query` row (like Dovecot's prefetch).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

mod address;
mod db;
mod error;
mod query;
mod record;
mod schema;
pub mod scheme;

pub use address::{Address, AddressError, MAX_ADDRESS_LEN, MAX_DOMAIN_LEN, MAX_LOCAL_LEN, Part};
pub use db::{
    Backend, DEFAULT_ITERATE_QUERY, DEFAULT_PASSWORD_QUERY, DEFAULT_USER_QUERY, Options, UserDb,
    UserRow,
};
pub use error::{AuthError, FailReason, UserDbError};
pub use record::parse_quota_rule;
pub use scheme::{Scheme, SchemeError};

/// A mail user as tresor needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The address, as the database spells it (`user` column) or as looked up.
    pub email: String,
    /// Quota in bytes; 0 means unlimited.
    pub quota: u64,
    /// Mail encryption: 0 = plaintext, 2 = mail-crypt v2 (Dovecot's `mail_crypt_save_version`).
    pub crypt: u8,
    /// The home directory, when the user query returns one.
    pub home: Option<String>,
    /// The system uid for the user's files, when the user query returns one.
    pub uid: Option<u32>,
    /// The system gid for the user's files, when the user query returns one.
    pub gid: Option<u32>,
}

/// Proof that a user logged in with the right password.
///
/// Only [`UserDb::authenticate`] makes one; it cannot be copied, cloned or built elsewhere.
/// Code that must only run for a logged-in user (unlocking the user's keys) takes it as an
/// argument.
#[derive(Debug)]
pub struct Authenticated {
    user: User,
}

impl Authenticated {
    /// The user who logged in.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// Gives up the proof for the user.
    pub fn into_user(self) -> User {
        self.user
    }
}
