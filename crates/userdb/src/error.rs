//! The errors of [`UserDb`](crate::UserDb) operations.

use crate::{AddressError, Backend, SchemeError};

/// Why a user database operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserDbError {
    /// A query returned several rows for one user. Make its `WHERE` clause match at most one
    /// row (the ISPmail schema has `email` UNIQUE).
    #[error("{query} returned {rows} rows for one user; it must return at most one")]
    AmbiguousUser {
        /// Which query (`password_query`, `user_query`).
        query: &'static str,
        /// How many rows it returned.
        rows: usize,
    },
    /// A column holds a value tresor cannot use (a negative quota, a uid that is a name, an
    /// SQL type such as DECIMAL). Fix the row, or `CAST` the column in the query.
    #[error("column {column:?}: {reason}")]
    BadColumn {
        /// The column, lowercased.
        column: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// A password hash handed to [`add_user`](crate::UserDb::add_user) or
    /// [`set_password`](crate::UserDb::set_password) is not one tresor can verify, so the user
    /// could never log in. Hash the password with [`hash`](crate::scheme::hash) or
    /// `doveadm pw -s BLF-CRYPT`.
    #[error("refusing to store this password hash: {0}")]
    BadHash(#[from] SchemeError),
    /// A configured query cannot be translated (unknown `%` variable, `%w`, unterminated
    /// quote). Fix the named option; the reason says how.
    #[error("{option}: {reason}")]
    BadQuery {
        /// The option (`password_query`, `user_query`, `iterate_query`).
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be reached or refused the login. Check that the server runs,
    /// the URL's host, port, database name and credentials, and for SQLite that the directory
    /// exists and is writable.
    #[error("cannot connect to the {backend} user database: {source}")]
    Connect {
        /// Which kind of database.
        backend: Backend,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The address is not a usable `local@domain` user name; the message says why.
    #[error(transparent)]
    InvalidAddress(#[from] AddressError),
    /// A query does not return a column tresor needs. Add it (for example
    /// `SELECT email AS user, password …`).
    #[error("{query} returns no {column:?} column; add one (e.g. `… AS {column}`)")]
    MissingColumn {
        /// Which query.
        query: &'static str,
        /// The missing column.
        column: &'static str,
    },
    /// A value is outside what the database column can hold (a quota above 2^63-1 bytes).
    #[error("{what} {value} is out of range (at most {max})")]
    OutOfRange {
        /// What the value is.
        what: &'static str,
        /// The value given.
        value: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// A statement failed in the database (schema missing, permissions, a lost connection).
    /// The driver's message says which; `create_schema` makes the ISPmail tables.
    #[error("{context} failed: {source}")]
    Sql {
        /// The query option or operation that failed.
        context: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// No user has this address. Check the spelling, or list users.
    #[error("no user {0}")]
    UnknownUser(String),
    /// An internal step failed that should not (a hashing thread died). Report it as a bug.
    #[error("internal error: {0}")]
    Unreachable(&'static str),
    /// The database URL's scheme is not one tresor speaks. Use `sqlite:PATH`,
    /// `mysql://…`/`mariadb://…` or `postgres://…`/`postgresql://…`.
    #[error(
        "unsupported database URL scheme {scheme:?}; use sqlite:PATH, mysql://, mariadb://, \
         postgres:// or postgresql://"
    )]
    UnsupportedUrl {
        /// The scheme found (never the rest of the URL, which may hold a password).
        scheme: String,
    },
    /// A user with this address exists already. Pick another address, or change the existing
    /// user with `set_password`/`set_crypt`.
    #[error("user {0} exists already")]
    UserExists(String),
}

/// Why [`authenticate`](crate::UserDb::authenticate) refused or could not decide.
///
/// A client must see the same answer for an unknown user and a wrong password: all such
/// cases are [`AuthError::Failed`], whose `Display` is only "authentication failed". The
/// admin-facing reason is in [`AuthError::reason`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The database could not answer. Tell the client to retry later (IMAP
    /// `NO [UNAVAILABLE]`, LMTP 4.3.0) and log the source for the admin.
    #[error("user database unavailable: {0}")]
    Backend(#[from] UserDbError),
    /// The login is refused. Tell the client "authentication failed" and nothing more; log
    /// [`AuthError::reason`] for the admin.
    #[error("authentication failed")]
    Failed(FailReason),
}

impl AuthError {
    /// The admin-facing reason of a refused login, `None` for a backend error.
    pub fn reason(&self) -> Option<&FailReason> {
        match self {
            Self::Failed(reason) => Some(reason),
            Self::Backend(_) => None,
        }
    }
}

/// The admin-facing reason behind [`AuthError::Failed`]. Never show it to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FailReason {
    /// The stored password cannot be checked (unsupported scheme, damaged hash). Give the user
    /// a new password; the message names the problem.
    #[error("stored password unusable: {0}")]
    BadStoredHash(SchemeError),
    /// The client sent an empty password, which tresor never accepts.
    #[error("empty password")]
    EmptyPassword,
    /// The client sent a user name that is not a valid address.
    #[error("{0}")]
    InvalidAddress(AddressError),
    /// The user has no password (NULL or empty `password` column), so cannot log in. Set one.
    #[error("the user has no password (NULL or empty password column)")]
    NoPassword,
    /// The password matched, but `user_query` found no such user. Make the two queries agree.
    #[error("password matched but user_query returned no row")]
    NotInUserdb,
    /// No user has this address.
    #[error("unknown user")]
    UnknownUser,
    /// The password is wrong.
    #[error("wrong password")]
    WrongPassword,
}
