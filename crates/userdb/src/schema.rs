//! The ISPmail schema (`virtual_domains`, `virtual_users`, `virtual_aliases`) and the fixed
//! admin statements that write it.
//!
//! SQLite: the text after each table name is byte for byte what
//! `shared/peer/dovecot/up.sh` (and so the Dovecot 2.3.19 vectors' `userdb.sqlite`) uses;
//! SQLite stores that text in `sqlite_master`, so both files look the same.
//! MariaDB/MySQL: the ISPmail guide's types (`int(11) … auto_increment`, `varchar(50)` domain,
//! `varchar(100)` addresses, `varchar(150)` password, InnoDB), with `utf8mb4` instead of the
//! guide's 3-byte `utf8` so any UTF-8 address fits, plus the `crypt` column of the encryption
//! chapter and a UNIQUE domain name. PostgreSQL: the same columns and limits.

use crate::Backend;

/// `CREATE TABLE IF NOT EXISTS` statements, in dependency order.
pub(crate) fn create_statements(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::MySql => MYSQL,
        Backend::Postgres => POSTGRES,
    }
}

/// Inserts the domain `$1` unless it exists.
pub(crate) fn insert_domain(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "INSERT OR IGNORE INTO virtual_domains (name) VALUES (?)",
        // Not INSERT IGNORE: that would also turn a too-long name into a truncated row.
        Backend::MySql => {
            "INSERT INTO virtual_domains (name) VALUES (?) ON DUPLICATE KEY UPDATE id = id"
        }
        Backend::Postgres => {
            "INSERT INTO virtual_domains (name) VALUES ($1) ON CONFLICT (name) DO NOTHING"
        }
    }
}

/// Inserts a user under the domain named by the last parameter:
/// (email, password, quota, crypt, domain).
pub(crate) fn insert_user(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite | Backend::MySql => {
            "INSERT INTO virtual_users (domain_id, email, password, quota, crypt) \
             SELECT id, ?, ?, ?, ? FROM virtual_domains WHERE name = ?"
        }
        Backend::Postgres => {
            "INSERT INTO virtual_users (domain_id, email, password, quota, crypt) \
             SELECT id, $1, $2, $3, $4 FROM virtual_domains WHERE name = $5"
        }
    }
}

/// (value, email).
pub(crate) fn update_user(backend: Backend, column: Column) -> &'static str {
    match (backend, column) {
        (Backend::Postgres, Column::Password) => {
            "UPDATE virtual_users SET password = $1 WHERE email = $2"
        }
        (Backend::Postgres, Column::Crypt) => {
            "UPDATE virtual_users SET crypt = $1 WHERE email = $2"
        }
        (Backend::Postgres, Column::Quota) => {
            "UPDATE virtual_users SET quota = $1 WHERE email = $2"
        }
        (_, Column::Password) => "UPDATE virtual_users SET password = ? WHERE email = ?",
        (_, Column::Crypt) => "UPDATE virtual_users SET crypt = ? WHERE email = ?",
        (_, Column::Quota) => "UPDATE virtual_users SET quota = ? WHERE email = ?",
    }
}

/// (email).
pub(crate) fn delete_user(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "DELETE FROM virtual_users WHERE email = $1",
        Backend::Sqlite | Backend::MySql => "DELETE FROM virtual_users WHERE email = ?",
    }
}

/// (email) → id, domain_id, domain, email, password, quota, crypt.
pub(crate) fn select_user_row(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "SELECT u.id, u.domain_id, d.name AS domain, u.email, u.password, u.quota, u.crypt \
             FROM virtual_users u JOIN virtual_domains d ON d.id = u.domain_id WHERE u.email = $1"
        }
        Backend::Sqlite | Backend::MySql => {
            "SELECT u.id, u.domain_id, d.name AS domain, u.email, u.password, u.quota, u.crypt \
             FROM virtual_users u JOIN virtual_domains d ON d.id = u.domain_id WHERE u.email = ?"
        }
    }
}

/// A `virtual_users` column the admin statements change.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Column {
    Crypt,
    Password,
    Quota,
}

const SQLITE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS virtual_domains (
  id   INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE
)",
    "CREATE TABLE IF NOT EXISTS virtual_users (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
  email     TEXT NOT NULL UNIQUE,
  password  TEXT NOT NULL,
  quota     INTEGER NOT NULL DEFAULT 0,
  crypt     INTEGER NOT NULL DEFAULT 2
)",
    "CREATE TABLE IF NOT EXISTS virtual_aliases (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id   INTEGER NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
  source      TEXT NOT NULL,
  destination TEXT NOT NULL
)",
];

const MYSQL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS `virtual_domains` (
  `id` int(11) NOT NULL auto_increment,
  `name` varchar(50) NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `name` (`name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS `virtual_users` (
  `id` int(11) NOT NULL auto_increment,
  `domain_id` int(11) NOT NULL,
  `email` varchar(100) NOT NULL,
  `password` varchar(150) NOT NULL,
  `quota` bigint(11) NOT NULL DEFAULT 0,
  `crypt` int(11) NOT NULL DEFAULT 2,
  PRIMARY KEY (`id`),
  UNIQUE KEY `email` (`email`),
  FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS `virtual_aliases` (
  `id` int(11) NOT NULL auto_increment,
  `domain_id` int(11) NOT NULL,
  `source` varchar(100) NOT NULL,
  `destination` varchar(100) NOT NULL,
  PRIMARY KEY (`id`),
  FOREIGN KEY (domain_id) REFERENCES virtual_domains(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
];

const POSTGRES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS virtual_domains (
  id   integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name varchar(50) NOT NULL UNIQUE
)",
    "CREATE TABLE IF NOT EXISTS virtual_users (
  id        integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  domain_id integer NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
  email     varchar(100) NOT NULL UNIQUE,
  password  varchar(150) NOT NULL,
  quota     bigint NOT NULL DEFAULT 0,
  crypt     integer NOT NULL DEFAULT 2
)",
    "CREATE TABLE IF NOT EXISTS virtual_aliases (
  id          integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  domain_id   integer NOT NULL REFERENCES virtual_domains(id) ON DELETE CASCADE,
  source      varchar(100) NOT NULL,
  destination varchar(100) NOT NULL
)",
];
