//! [`UserDb`]: users over SQL (SQLite, MariaDB/MySQL, PostgreSQL), read through Dovecot-style
//! queries and written through fixed statements on the ISPmail schema.

use std::fmt;
use std::str::FromStr;

use sqlx::mysql::{MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Column as _, ColumnIndex, Decode, Row, Type, TypeInfo, ValueRef};
use zeroize::Zeroizing;

use crate::query::{Template, Vars};
use crate::record::{Cell, Record};
use crate::schema::{self, Column};
use crate::{
    Address, AuthError, Authenticated, FailReason, Scheme, SchemeError, User, UserDbError, scheme,
};

/// Binds every [`Arg`] to a `sqlx::query`.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(n) => query.bind(*n),
                Arg::Text(text) => query.bind(text.clone()),
            };
        }
        query
    }};
}

/// Dovecot's ISPmail `password_query`, returning the columns tresor reads.
pub const DEFAULT_PASSWORD_QUERY: &str =
    "SELECT email AS user, password, crypt FROM virtual_users WHERE email='%u'";
/// Dovecot's ISPmail `user_query`, returning the columns tresor reads.
pub const DEFAULT_USER_QUERY: &str =
    "SELECT email AS user, quota, crypt FROM virtual_users WHERE email='%u'";
/// Dovecot's ISPmail `iterate_query`.
pub const DEFAULT_ITERATE_QUERY: &str = "SELECT email AS user FROM virtual_users";

/// How [`UserDb`] reads users. Start from [`Options::default`] (the ISPmail setup) and change
/// fields.
///
/// The queries are Dovecot's (`dovecot-sql.conf.ext`) with `%u`, `%n`, `%d` and `%%`; each
/// variable is sent as a bind parameter, never spliced into the SQL (see the crate docs). The
/// columns they may return are listed in the crate docs too.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Finds the stored password: must return a `password` column, may return `user`.
    pub password_query: String,
    /// Finds a user's settings: `user`, `quota`/`quota_rule`, `crypt`, `home`, `uid`, `gid`.
    pub user_query: String,
    /// Lists all users: a `user` column, or `username` and `domain`.
    pub iterate_query: String,
    /// The scheme of stored passwords without a `{SCHEME}` prefix (Dovecot's
    /// `default_pass_scheme`; ISPmail uses BLF-CRYPT).
    pub default_pass_scheme: Scheme,
    /// The crypt setting of users whose `user_query` row has no crypt column (Dovecot's
    /// global `mail_crypt_save_version`; ISPmail uses 2).
    pub default_crypt: u8,
    /// Lowercase the ASCII letters of every address before using it, like Dovecot's default
    /// `auth_username_format = %Lu`.
    pub lowercase_usernames: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            password_query: DEFAULT_PASSWORD_QUERY.to_owned(),
            user_query: DEFAULT_USER_QUERY.to_owned(),
            iterate_query: DEFAULT_ITERATE_QUERY.to_owned(),
            default_pass_scheme: Scheme::BlfCrypt,
            default_crypt: 2,
            lowercase_usernames: true,
        }
    }
}

/// The kind of SQL database behind a [`UserDb`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// MariaDB or MySQL (`mysql://…`, `mariadb://…`).
    MySql,
    /// PostgreSQL (`postgres://…`, `postgresql://…`).
    Postgres,
    /// SQLite (`sqlite:PATH`); the file is created when missing.
    Sqlite,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Self, UserDbError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "mysql" | "mariadb" => Ok(Self::MySql),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            _ => Err(UserDbError::UnsupportedUrl {
                scheme: scheme
                    .chars()
                    .take(32)
                    .flat_map(char::escape_debug)
                    .collect(),
            }),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MySql => "MariaDB/MySQL",
            Self::Postgres => "PostgreSQL",
            Self::Sqlite => "SQLite",
        })
    }
}

/// One row of `virtual_users` as the ISPmail schema stores it, for admin tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    /// `virtual_users.id`.
    pub id: i64,
    /// `virtual_users.domain_id`.
    pub domain_id: i64,
    /// `virtual_domains.name` of that domain.
    pub domain: String,
    /// `virtual_users.email`.
    pub email: String,
    /// `virtual_users.password`: the stored hash.
    pub password: String,
    /// `virtual_users.quota` in bytes, 0 = unlimited.
    pub quota: u64,
    /// `virtual_users.crypt`: 0 = plaintext, 2 = encrypted (mail-crypt v2).
    pub crypt: u8,
}

/// The user database: lookups and logins through the configured queries, admin writes on the
/// ISPmail schema.
#[derive(Debug)]
pub struct UserDb {
    pool: Pool,
    backend: Backend,
    options: Options,
    password_query: Template,
    user_query: Template,
    iterate_query: Template,
}

impl UserDb {
    /// Connects to `url` (`sqlite:PATH`, `mysql://…`, `mariadb://…`, `postgres://…`,
    /// `postgresql://…`) and checks the queries in `options`.
    ///
    /// A SQLite file is created when missing (as `?mode=rwc`) unless the URL sets `mode=`. The
    /// first connection is made here, so an unreachable server fails now.
    pub async fn connect(url: &str, options: Options) -> Result<Self, UserDbError> {
        let backend = Backend::from_url(url)?;
        let template = |option, src: &str, vars| {
            Template::parse(src, backend, vars)
                .map_err(|reason| UserDbError::BadQuery { option, reason })
        };
        let password_query = template("password_query", &options.password_query, true)?;
        let user_query = template("user_query", &options.user_query, true)?;
        let iterate_query = template("iterate_query", &options.iterate_query, false)?;
        let connect = |source| UserDbError::Connect { backend, source };
        let pool = match backend {
            Backend::Sqlite => {
                let mut opts = SqliteConnectOptions::from_str(url).map_err(connect)?;
                let params = url.split_once('?').map_or("", |(_, p)| p);
                if !params.split('&').any(|p| p.starts_with("mode=")) {
                    opts = opts.create_if_missing(true);
                }
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .connect_with(opts)
                        .await
                        .map_err(connect)?,
                )
            }
            Backend::MySql => {
                let url = match url.split_once(':') {
                    Some((_, rest)) => format!("mysql:{rest}"),
                    None => url.to_owned(),
                };
                Pool::MySql(
                    MySqlPoolOptions::new()
                        .connect(&url)
                        .await
                        .map_err(connect)?,
                )
            }
            Backend::Postgres => {
                Pool::Postgres(PgPoolOptions::new().connect(url).await.map_err(connect)?)
            }
        };
        Ok(Self {
            pool,
            backend,
            options,
            password_query,
            user_query,
            iterate_query,
        })
    }

    /// The kind of database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The options this database was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// The user with this address, through `user_query`; `None` when there is none.
    pub async fn lookup(&self, email: &str) -> Result<Option<User>, UserDbError> {
        let address = self.address(email)?;
        let Some(record) = self
            .user_record(&self.user_query, "user_query", &address)
            .await?
        else {
            return Ok(None);
        };
        record.user(&address, self.options.default_crypt).map(Some)
    }

    /// Checks a login: `password_query` finds the stored password, [`scheme`] verifies it,
    /// then `user_query` supplies the user (as Dovecot's passdb, then userdb).
    ///
    /// An invalid address, an unknown user and a wrong password are all
    /// [`AuthError::Failed`]; an unknown user costs as much time as a wrong password.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &[u8],
    ) -> Result<Authenticated, AuthError> {
        let address = self.address(email).map_err(|e| match e {
            UserDbError::InvalidAddress(e) => AuthError::Failed(FailReason::InvalidAddress(e)),
            other => AuthError::Backend(other),
        })?;
        if password.is_empty() {
            return Err(AuthError::Failed(FailReason::EmptyPassword));
        }
        let password = Zeroizing::new(password.to_vec());
        let Some(pass_row) = self
            .user_record(&self.password_query, "password_query", &address)
            .await?
        else {
            let _ = self.check_password(DUMMY_HASH.to_owned(), password).await;
            return Err(AuthError::Failed(FailReason::UnknownUser));
        };
        if !pass_row.has("password") {
            return Err(UserDbError::MissingColumn {
                query: "password_query",
                column: "password",
            }
            .into());
        }
        let stored = pass_row.text(&["password"])?.unwrap_or_default();
        if stored.is_empty() {
            let _ = self.check_password(DUMMY_HASH.to_owned(), password).await;
            return Err(AuthError::Failed(FailReason::NoPassword));
        }
        match self.check_password(stored, password).await? {
            Ok(true) => {}
            Ok(false) => return Err(AuthError::Failed(FailReason::WrongPassword)),
            Err(e) => return Err(AuthError::Failed(FailReason::BadStoredHash(e))),
        }
        // The passdb may rename the user (its `user` column), as in Dovecot.
        let name = match pass_row.text(&["user"])? {
            Some(user) => self.address(&user).map_err(|e| UserDbError::BadColumn {
                column: "user".to_owned(),
                reason: e.to_string(),
            })?,
            None => address,
        };
        let Some(mut record) = self
            .user_record(&self.user_query, "user_query", &name)
            .await?
        else {
            return Err(AuthError::Failed(FailReason::NotInUserdb));
        };
        record.fill_from(&pass_row);
        let user = record.user(&name, self.options.default_crypt)?;
        Ok(Authenticated { user })
    }

    /// Every user's address, through `iterate_query`.
    pub async fn list(&self) -> Result<Vec<String>, UserDbError> {
        let (sql, _) = self.iterate_query.render(self.backend, &NO_VARS);
        let rows = self
            .fetch(&sql, &[])
            .await
            .map_err(sql_error("iterate_query"))?;
        rows.iter()
            .map(|row| {
                if let Some(user) = row.text(&["user"])? {
                    return Ok(user);
                }
                match (row.text(&["username"])?, row.text(&["domain"])?) {
                    (Some(name), Some(domain)) => Ok(format!("{name}@{domain}")),
                    (Some(name), None) => Ok(name),
                    _ => Err(UserDbError::MissingColumn {
                        query: "iterate_query",
                        column: "user",
                    }),
                }
            })
            .collect()
    }

    /// Creates the ISPmail tables (`virtual_domains`, `virtual_users`, `virtual_aliases`)
    /// unless they exist.
    ///
    /// SQLite gets the very table definitions of Dovecot's ISPmail SQLite userdb (the vectors'
    /// `userdb.sqlite`). MariaDB/MySQL gets the ISPmail guide's types (`int(11)
    /// auto_increment`, `varchar(50)` domain, `varchar(100)` email, `varchar(150)` password,
    /// `bigint` quota, InnoDB) plus `crypt int NOT NULL DEFAULT 2` and a UNIQUE domain name,
    /// in `utf8mb4` rather than the guide's 3-byte `utf8`. PostgreSQL gets the same columns.
    pub async fn create_schema(&self) -> Result<(), UserDbError> {
        for statement in schema::create_statements(self.backend) {
            self.execute(statement, &[])
                .await
                .map_err(sql_error("create_schema"))?;
        }
        Ok(())
    }

    /// Adds a user to the ISPmail tables, creating its domain row when missing.
    ///
    /// `password_hash` is a stored password (`{BLF-CRYPT}$2y$…`; see [`scheme::hash`]) and is
    /// refused unless tresor can verify it. `quota` is in bytes (0 = unlimited), `crypt` is 0
    /// (plaintext) or 2 (encrypted).
    pub async fn add_user(
        &self,
        email: &str,
        password_hash: &str,
        quota: u64,
        crypt: u8,
    ) -> Result<(), UserDbError> {
        let address = self.address(email)?;
        self.check_hash(password_hash)?;
        let quota = quota_arg(quota)?;
        let domain = address.domain().to_owned();
        self.execute(
            schema::insert_domain(self.backend),
            &[Arg::Text(domain.clone())],
        )
        .await
        .map_err(sql_error("add_user (domain)"))?;
        let args = [
            Arg::Text(address.as_str().to_owned()),
            Arg::Text(password_hash.to_owned()),
            quota,
            Arg::Int(i64::from(crypt)),
            Arg::Text(domain),
        ];
        match self.execute(schema::insert_user(self.backend), &args).await {
            Ok(1) => Ok(()),
            Ok(_) => Err(UserDbError::Unreachable(
                "the domain row vanished while adding the user; try again",
            )),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(UserDbError::UserExists(address.as_str().to_owned()))
            }
            Err(source) => Err(UserDbError::Sql {
                context: "add_user",
                source,
            }),
        }
    }

    /// Replaces a user's stored password (refused unless tresor can verify the hash).
    pub async fn set_password(&self, email: &str, password_hash: &str) -> Result<(), UserDbError> {
        self.check_hash(password_hash)?;
        self.update(email, Column::Password, Arg::Text(password_hash.to_owned()))
            .await
    }

    /// Changes a user's crypt setting (0 = plaintext, 2 = encrypted).
    pub async fn set_crypt(&self, email: &str, crypt: u8) -> Result<(), UserDbError> {
        self.update(email, Column::Crypt, Arg::Int(i64::from(crypt)))
            .await
    }

    /// Changes a user's quota in bytes (0 = unlimited).
    pub async fn set_quota(&self, email: &str, quota: u64) -> Result<(), UserDbError> {
        self.update(email, Column::Quota, quota_arg(quota)?).await
    }

    /// Removes a user's row (the mail on disk stays).
    pub async fn delete_user(&self, email: &str) -> Result<(), UserDbError> {
        let address = self.address(email)?;
        let n = self
            .execute(
                schema::delete_user(self.backend),
                &[Arg::Text(address.as_str().to_owned())],
            )
            .await
            .map_err(sql_error("delete_user"))?;
        if n == 0 {
            return Err(UserDbError::UnknownUser(address.as_str().to_owned()));
        }
        Ok(())
    }

    /// The user's `virtual_users` row as stored, with its domain name.
    pub async fn user_row(&self, email: &str) -> Result<Option<UserRow>, UserDbError> {
        let address = self.address(email)?;
        let rows = self
            .fetch(
                schema::select_user_row(self.backend),
                &[Arg::Text(address.as_str().to_owned())],
            )
            .await
            .map_err(sql_error("user_row"))?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let int = |name: &'static str| -> Result<i64, UserDbError> {
            match row.get(&[name]) {
                Some((_, Cell::Int(n))) => Ok(*n),
                _ => Err(UserDbError::MissingColumn {
                    query: "user_row",
                    column: name,
                }),
            }
        };
        let text = |name: &'static str| -> Result<String, UserDbError> {
            row.text(&[name])?.ok_or(UserDbError::MissingColumn {
                query: "user_row",
                column: name,
            })
        };
        Ok(Some(UserRow {
            id: int("id")?,
            domain_id: int("domain_id")?,
            domain: text("domain")?,
            email: text("email")?,
            password: text("password")?,
            quota: row
                .unsigned(&["quota"], i64::MAX as u64)?
                .unwrap_or_default(),
            crypt: row
                .unsigned(&["crypt"], u64::from(u8::MAX))?
                .and_then(|n| u8::try_from(n).ok())
                .unwrap_or_default(),
        }))
    }

    fn address(&self, email: &str) -> Result<Address, UserDbError> {
        let address = if self.options.lowercase_usernames {
            Address::parse_lowercase(email)?
        } else {
            Address::parse(email)?
        };
        Ok(address)
    }

    fn check_hash(&self, hash: &str) -> Result<(), UserDbError> {
        if hash.is_empty() {
            return Err(SchemeError::Malformed {
                scheme: self.options.default_pass_scheme,
                reason: "empty",
            }
            .into());
        }
        scheme::check(hash, self.options.default_pass_scheme)?;
        Ok(())
    }

    async fn update(&self, email: &str, column: Column, value: Arg) -> Result<(), UserDbError> {
        let address = self.address(email)?;
        let args = [value, Arg::Text(address.as_str().to_owned())];
        let n = self
            .execute(schema::update_user(self.backend, column), &args)
            .await
            .map_err(sql_error("update"))?;
        if n == 0 {
            return Err(UserDbError::UnknownUser(address.as_str().to_owned()));
        }
        Ok(())
    }

    /// Runs a per-user query; at most one row is allowed.
    async fn user_record(
        &self,
        template: &Template,
        query: &'static str,
        address: &Address,
    ) -> Result<Option<Record>, UserDbError> {
        let vars = Vars {
            user: address.as_str(),
            username: address.local(),
            domain: address.domain(),
        };
        let (sql, values) = template.render(self.backend, &vars);
        let args: Vec<Arg> = values.into_iter().map(Arg::Text).collect();
        let mut rows = self.fetch(&sql, &args).await.map_err(sql_error(query))?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(UserDbError::AmbiguousUser { query, rows: n }),
        }
    }

    /// Verifies off the async threads (bcrypt and argon2 take tens to hundreds of ms).
    async fn check_password(
        &self,
        stored: String,
        password: Zeroizing<Vec<u8>>,
    ) -> Result<Result<bool, SchemeError>, UserDbError> {
        let default = self.options.default_pass_scheme;
        tokio::task::spawn_blocking(move || {
            scheme::verify_with_default(&stored, &password, default)
        })
        .await
        .map_err(|_| UserDbError::Unreachable("the password hashing thread failed"))
    }

    async fn fetch(&self, sql: &str, args: &[Arg]) -> Result<Vec<Record>, sqlx::Error> {
        // The SQL text comes from the configured templates or the fixed statements in
        // `schema`; every value from outside is in `args` (see `query`).
        let sql = AssertSqlSafe(sql.to_owned());
        match &self.pool {
            Pool::Sqlite(pool) => {
                let rows = bind_all!(sqlx::query(sql), args).fetch_all(pool).await?;
                rows.iter().map(|r| record(r, no_extra)).collect()
            }
            Pool::MySql(pool) => {
                let rows = bind_all!(sqlx::query(sql), args).fetch_all(pool).await?;
                rows.iter().map(|r| record(r, mysql_unsigned)).collect()
            }
            Pool::Postgres(pool) => {
                let rows = bind_all!(sqlx::query(sql), args).fetch_all(pool).await?;
                rows.iter().map(|r| record(r, no_extra)).collect()
            }
        }
    }

    async fn execute(&self, sql: &str, args: &[Arg]) -> Result<u64, sqlx::Error> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match &self.pool {
            Pool::Sqlite(pool) => bind_all!(sqlx::query(sql), args)
                .execute(pool)
                .await?
                .rows_affected(),
            Pool::MySql(pool) => bind_all!(sqlx::query(sql), args)
                .execute(pool)
                .await?
                .rows_affected(),
            Pool::Postgres(pool) => bind_all!(sqlx::query(sql), args)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }
}

/// A bind value.
#[derive(Clone, Debug)]
enum Arg {
    Int(i64),
    Text(String),
}

#[derive(Debug)]
enum Pool {
    MySql(MySqlPool),
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Reduces a driver row to a [`Record`], trying the integer, text and byte types each driver
/// has; `extra` tries driver-specific types first.
fn record<R>(row: &R, extra: fn(&R, usize) -> Option<Cell>) -> Result<Record, sqlx::Error>
where
    R: Row,
    usize: ColumnIndex<R>,
    i64: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    i32: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    i16: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    String: Type<R::Database> + for<'r> Decode<'r, R::Database>,
    Vec<u8>: Type<R::Database> + for<'r> Decode<'r, R::Database>,
{
    let mut cols = Vec::with_capacity(row.columns().len());
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name().to_ascii_lowercase();
        let raw = row.try_get_raw(i)?;
        let cell = if raw.is_null() {
            Cell::Null
        } else if let Some(cell) = extra(row, i) {
            cell
        } else if let Ok(n) = row.try_get::<i64, _>(i) {
            Cell::Int(n)
        } else if let Ok(n) = row.try_get::<i32, _>(i) {
            Cell::Int(i64::from(n))
        } else if let Ok(n) = row.try_get::<i16, _>(i) {
            Cell::Int(i64::from(n))
        } else if let Ok(text) = row.try_get::<String, _>(i) {
            Cell::Text(text)
        } else if let Ok(bytes) = row.try_get::<Vec<u8>, _>(i) {
            Cell::Bytes(bytes)
        } else {
            return Err(sqlx::Error::ColumnDecode {
                index: name.clone(),
                source: format!(
                    "SQL type {} is not one tresor reads (integer, text, bytes); CAST the \
                     column in the query",
                    raw.type_info().name()
                )
                .into(),
            });
        };
        cols.push((name, cell));
    }
    Ok(Record { cols })
}

fn no_extra<R>(_: &R, _: usize) -> Option<Cell> {
    None
}

/// MySQL's UNSIGNED integers, which `i64` does not decode.
fn mysql_unsigned(row: &MySqlRow, i: usize) -> Option<Cell> {
    let n = row.try_get::<u64, _>(i).ok()?;
    Some(i64::try_from(n).map_or_else(|_| Cell::Text(n.to_string()), Cell::Int))
}

fn sql_error(context: &'static str) -> impl Fn(sqlx::Error) -> UserDbError {
    move |source| UserDbError::Sql { context, source }
}

fn quota_arg(quota: u64) -> Result<Arg, UserDbError> {
    i64::try_from(quota)
        .map(Arg::Int)
        .map_err(|_| UserDbError::OutOfRange {
            what: "quota",
            value: quota,
            max: i64::MAX as u64,
        })
}

/// The iterate query has no variables; these are never read.
const NO_VARS: Vars<'static> = Vars {
    user: "",
    username: "",
    domain: "",
};

/// Verified instead of a real hash when the user is unknown, so that an unknown user takes
/// as long as a wrong password. `{BLF-CRYPT}` at [`scheme::BLF_CRYPT_COST`] of a random
/// password nobody knows.
const DUMMY_HASH: &str = "{BLF-CRYPT}$2y$11$i8ZkqVcDy5eh5FH9E3A6S.K1lXo2sORMAAEjtsaRezfhlpObsfF6i";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_costs_what_new_hashes_cost() {
        assert_eq!(
            scheme::check(DUMMY_HASH, Scheme::Plain).unwrap(),
            Scheme::BlfCrypt
        );
        assert!(DUMMY_HASH.contains(&format!("$2y${:02}$", scheme::BLF_CRYPT_COST)));
    }

    #[test]
    fn default_queries_translate_on_every_backend() {
        let vars = Vars {
            user: "a@b.c",
            username: "a",
            domain: "b.c",
        };
        for backend in [Backend::Sqlite, Backend::MySql, Backend::Postgres] {
            let t = Template::parse(DEFAULT_PASSWORD_QUERY, backend, true).unwrap();
            let (sql, values) = t.render(backend, &vars);
            let placeholder = if backend == Backend::Postgres {
                "$1"
            } else {
                "?"
            };
            assert_eq!(
                sql,
                format!(
                    "SELECT email AS user, password, crypt FROM virtual_users WHERE email={placeholder}"
                )
            );
            assert_eq!(values, ["a@b.c"]);
            Template::parse(DEFAULT_USER_QUERY, backend, true).unwrap();
            Template::parse(DEFAULT_ITERATE_QUERY, backend, false).unwrap();
        }
    }
}
