//! `UserDb` against real databases: SQLite in a temporary directory, MariaDB at
//! `mysql://root@127.0.0.1:3306` and PostgreSQL at `postgres://postgres@127.0.0.1:5432`
//! (override with `TRESOR_TEST_MARIADB` / `TRESOR_TEST_POSTGRES`, given without a database
//! name). Every test makes its own randomly named database and drops it afterwards, so runs
//! can overlap. CI starts both servers, so an unreachable server fails the test; it never
//! skips.
//!
//! Each scenario runs on all three backends: `sqlite::x`, `mariadb::x`, `postgres::x`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection as _};
use userdb::{
    AuthError, Backend, FailReason, Options, Scheme, User, UserDb, UserDbError, UserRow, scheme,
};

const PASSWORD: &str = "pä55 word!";
const MARIADB: &str = "mysql://root@127.0.0.1:3306";
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

macro_rules! on_all_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $scenario() {
                super::with_db(super::Kind::Sqlite, super::$scenario).await;
            })*
        }
        mod mariadb {
            $(#[tokio::test]
            async fn $scenario() {
                super::with_db(super::Kind::MariaDb, super::$scenario).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $scenario() {
                super::with_db(super::Kind::Postgres, super::$scenario).await;
            })*
        }
    };
}

on_all_backends!(
    schema_add_lookup_authenticate,
    duplicate_user_and_admin_writes,
    custom_queries_with_local_part_and_domain,
    sql_injection_in_the_address,
    query_misconfigurations_are_reported,
);

async fn schema_add_lookup_authenticate(url: String, _kind: Kind) {
    let db = UserDb::connect(&url, Options::default()).await.unwrap();
    db.create_schema().await.unwrap();
    db.create_schema().await.unwrap(); // idempotent
    let hash = scheme::hash(Scheme::BlfCrypt, PASSWORD.as_bytes()).unwrap();
    db.add_user("alice@example.org", &hash, 1_000_000, 2)
        .await
        .unwrap();
    db.add_user("Bob@Example.org", "{PLAIN}bob secret", 0, 0)
        .await
        .unwrap();

    let alice = User {
        email: "alice@example.org".into(),
        quota: 1_000_000,
        crypt: 2,
        home: None,
        uid: None,
        gid: None,
    };
    assert_eq!(
        db.lookup("alice@example.org").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        db.lookup("ALICE@example.ORG").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(db.lookup("nobody@example.org").await.unwrap(), None);
    assert!(matches!(
        db.lookup("not an address").await,
        Err(UserDbError::InvalidAddress(_))
    ));

    let ok = db
        .authenticate("alice@example.org", PASSWORD.as_bytes())
        .await
        .unwrap();
    assert_eq!(ok.user(), &alice);
    assert_eq!(ok.into_user(), alice);
    // Addresses are lowercased by default (Dovecot's auth_username_format = %Lu).
    let bob = db
        .authenticate("BOB@example.org", b"bob secret")
        .await
        .unwrap();
    assert_eq!(
        (bob.user().email.as_str(), bob.user().crypt),
        ("bob@example.org", 0)
    );

    let wrong = db
        .authenticate("alice@example.org", b"pa55 word!")
        .await
        .unwrap_err();
    let unknown = db
        .authenticate("nobody@example.org", PASSWORD.as_bytes())
        .await
        .unwrap_err();
    let empty = db.authenticate("alice@example.org", b"").await.unwrap_err();
    // Same outward error, different reason for the admin.
    for err in [&wrong, &unknown, &empty] {
        assert!(matches!(err, AuthError::Failed(_)), "{err:?}");
        assert_eq!(err.to_string(), "authentication failed");
    }
    assert!(matches!(wrong.reason(), Some(FailReason::WrongPassword)));
    assert!(matches!(unknown.reason(), Some(FailReason::UnknownUser)));
    assert!(matches!(empty.reason(), Some(FailReason::EmptyPassword)));

    let row = db.user_row("alice@example.org").await.unwrap().unwrap();
    assert_eq!(
        row,
        UserRow {
            id: row.id,
            domain_id: row.domain_id,
            domain: "example.org".into(),
            email: "alice@example.org".into(),
            password: hash,
            quota: 1_000_000,
            crypt: 2,
        }
    );
    let bob_row = db.user_row("bob@example.org").await.unwrap().unwrap();
    assert_eq!(
        bob_row.domain_id, row.domain_id,
        "one domain row for both users"
    );
    assert_ne!(bob_row.id, row.id);
    assert_eq!(db.user_row("nobody@example.org").await.unwrap(), None);

    let mut users = db.list().await.unwrap();
    users.sort();
    assert_eq!(users, ["alice@example.org", "bob@example.org"]);
}

async fn duplicate_user_and_admin_writes(url: String, _kind: Kind) {
    let db = UserDb::connect(&url, Options::default()).await.unwrap();
    db.create_schema().await.unwrap();
    let first = scheme::hash(Scheme::BlfCrypt, b"first password").unwrap();
    db.add_user("carol@example.net", &first, 0, 2)
        .await
        .unwrap();
    assert!(matches!(
        db.add_user("carol@example.net", &first, 0, 2).await,
        Err(UserDbError::UserExists(email)) if email == "carol@example.net"
    ));
    assert!(matches!(
        db.add_user("CAROL@example.net", &first, 5, 0).await,
        Err(UserDbError::UserExists(_))
    ));
    // Hashes tresor cannot verify are refused before they lock the user out.
    for bad in ["", "{MD5-CRYPT}$1$abc$def", "not-a-hash", "{SHA256}AAAA"] {
        assert!(
            matches!(
                db.add_user("dave@example.net", bad, 0, 2).await,
                Err(UserDbError::BadHash(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        db.add_user("eve@example.net", &first, u64::MAX, 2).await,
        Err(UserDbError::OutOfRange { .. })
    ));
    assert!(matches!(
        db.add_user("a/b@example.net", &first, 0, 2).await,
        Err(UserDbError::InvalidAddress(_))
    ));

    let second = scheme::hash(Scheme::Argon2id, b"second password").unwrap();
    db.set_password("carol@example.net", &second).await.unwrap();
    db.set_password("carol@example.net", &second).await.unwrap(); // same value again
    assert!(
        db.authenticate("carol@example.net", b"second password")
            .await
            .is_ok()
    );
    assert!(
        db.authenticate("carol@example.net", b"first password")
            .await
            .is_err()
    );
    db.set_crypt("carol@example.net", 0).await.unwrap();
    db.set_quota("carol@example.net", 4096).await.unwrap();
    let carol = db.lookup("carol@example.net").await.unwrap().unwrap();
    assert_eq!((carol.crypt, carol.quota), (0, 4096));
    let row = db.user_row("carol@example.net").await.unwrap().unwrap();
    assert_eq!(
        (row.password.as_str(), row.crypt, row.quota),
        (second.as_str(), 0, 4096)
    );

    for result in [
        db.set_password("nobody@example.net", &second).await,
        db.set_crypt("nobody@example.net", 2).await,
        db.delete_user("nobody@example.net").await,
    ] {
        assert!(
            matches!(result, Err(UserDbError::UnknownUser(ref e)) if e == "nobody@example.net"),
            "{result:?}"
        );
    }
    db.delete_user("carol@example.net").await.unwrap();
    assert_eq!(db.lookup("carol@example.net").await.unwrap(), None);
    assert!(matches!(
        db.delete_user("carol@example.net").await,
        Err(UserDbError::UnknownUser(_))
    ));
    // The address is free again.
    db.add_user("carol@example.net", &first, 0, 2)
        .await
        .unwrap();
}

async fn custom_queries_with_local_part_and_domain(url: String, kind: Kind) {
    let quota_rule = kind.concat("'*:bytes='", "u.quota");
    let local_part = match kind {
        Kind::Sqlite => "substr(email, 1, instr(email, '@') - 1)",
        Kind::MariaDb => "SUBSTRING_INDEX(email, '@', 1)",
        Kind::Postgres => "split_part(email, '@', 1)",
    };
    let mut options = Options::default();
    // %n and %d separately: a quoted literal mixing both, and a bare %d.
    options.password_query = "SELECT u.email AS user, u.password FROM virtual_users u \
         JOIN virtual_domains d ON d.id = u.domain_id \
         WHERE u.email = '%n@%d' AND d.name = %d"
        .to_owned();
    options.user_query = format!(
        "SELECT u.email AS user, {quota_rule} AS quota_rule, '/var/vmail/%d/%n' AS home, \
         5000 AS uid, 5000 AS gid, u.crypt AS mail_crypt_save_version \
         FROM virtual_users u WHERE u.email = '%u'"
    );
    options.iterate_query = format!(
        "SELECT {local_part} AS username, d.name AS domain FROM virtual_users \
         JOIN virtual_domains d ON d.id = domain_id ORDER BY email"
    );
    options.default_pass_scheme = Scheme::Sha512Crypt;
    let db = UserDb::connect(&url, options).await.unwrap();
    db.create_schema().await.unwrap();
    // Unprefixed $6$ hash from `doveadm pw -s SHA512-CRYPT -p 'pä55 word!'`, as old ISPmail
    // tables hold them.
    let sha512 = "$6$XcP3rSZRhD/TLuDx$BH1hkoudZQi12AqN2Mfvju9AQoIHwtQs147egPxkNkpArUL02zJ/KPoRR7dK.9zs1.9FpPViLjrhJ8Opie4NA.";
    db.add_user("frank@example.com", sha512, 2 << 30, 2)
        .await
        .unwrap();
    db.add_user("grace@example.org", "{PLAIN}grace", 0, 0)
        .await
        .unwrap();

    let want = User {
        email: "frank@example.com".into(),
        quota: 2 << 30,
        crypt: 2,
        home: Some("/var/vmail/example.com/frank".into()),
        uid: Some(5000),
        gid: Some(5000),
    };
    assert_eq!(
        db.lookup("frank@example.com").await.unwrap(),
        Some(want.clone())
    );
    let ok = db
        .authenticate("frank@example.com", PASSWORD.as_bytes())
        .await
        .unwrap();
    assert_eq!(ok.user(), &want);
    // Same local part, other domain: the %d condition must not match.
    let err = db
        .authenticate("frank@example.org", PASSWORD.as_bytes())
        .await
        .unwrap_err();
    assert!(
        matches!(err.reason(), Some(FailReason::UnknownUser)),
        "{err:?}"
    );
    assert_eq!(
        db.list().await.unwrap(),
        ["frank@example.com", "grace@example.org"]
    );
    let grace = db.lookup("grace@example.org").await.unwrap().unwrap();
    assert_eq!((grace.quota, grace.crypt), (0, 0));
}

async fn sql_injection_in_the_address(url: String, _kind: Kind) {
    let db = UserDb::connect(&url, Options::default()).await.unwrap();
    db.create_schema().await.unwrap();
    db.add_user("alice@example.org", "{PLAIN}secret", 0, 2)
        .await
        .unwrap();
    // A bare %u (no quotes in the template) must be just as safe.
    let mut bare = Options::default();
    bare.password_query =
        "SELECT email AS user, password FROM virtual_users WHERE email = %u".to_owned();
    bare.user_query = "SELECT email AS user FROM virtual_users WHERE email = %u".to_owned();
    let bare = UserDb::connect(&url, bare).await.unwrap();

    for db in [&db, &bare] {
        for evil in [
            "x' OR '1'='1",
            "x' OR '1'='1@example.org",
            "x'OR'1'='1@example.org",
            "alice@example.org' --",
            "alice'--@example.org",
            "alice@example.org'OR'1'='1",
            "'; DROP TABLE virtual_users; --",
            "x\\'OR'1'='1@example.org",
        ] {
            for password in ["secret", "' OR '1'='1"] {
                let err = db
                    .authenticate(evil, password.as_bytes())
                    .await
                    .unwrap_err();
                assert!(
                    matches!(
                        err.reason(),
                        Some(FailReason::UnknownUser | FailReason::InvalidAddress(_))
                    ),
                    "{evil:?}: {err:?}"
                );
            }
            match db.lookup(evil).await {
                Ok(None) | Err(UserDbError::InvalidAddress(_)) => {}
                other => panic!("{evil:?}: {other:?}"),
            }
        }
    }
    // Nothing was dropped or changed.
    assert_eq!(db.list().await.unwrap(), ["alice@example.org"]);
    assert!(
        db.authenticate("alice@example.org", b"secret")
            .await
            .is_ok()
    );
}

async fn query_misconfigurations_are_reported(url: String, kind: Kind) {
    let setup = UserDb::connect(&url, Options::default()).await.unwrap();
    setup.create_schema().await.unwrap();
    setup
        .add_user("alice@example.org", "{PLAIN}secret", 0, 2)
        .await
        .unwrap();
    setup
        .add_user("bob@example.org", "{PLAIN}secret", 0, 2)
        .await
        .unwrap();

    let connect = |f: fn(&mut Options)| {
        let url = url.clone();
        async move {
            let mut options = Options::default();
            f(&mut options);
            UserDb::connect(&url, options).await
        }
    };
    // Dovecot's ISPmail password_query passes %w to the database; tresor refuses.
    let err = connect(|o| {
        o.password_query =
            "SELECT email AS user, password, '%w' AS userdb_mail_crypt_private_password \
                            FROM virtual_users WHERE email='%u'"
                .to_owned();
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err, UserDbError::BadQuery { option: "password_query", reason } if reason.contains("%w")),
        "{err:?}"
    );
    let err = connect(|o| o.iterate_query = "SELECT email AS user WHERE x = '%d'".to_owned())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            UserDbError::BadQuery {
                option: "iterate_query",
                ..
            }
        ),
        "{err:?}"
    );

    // Several rows for one user: a backend error, not a login.
    let db = connect(|o| {
        o.password_query = "SELECT email AS user, password FROM virtual_users".to_owned();
    })
    .await
    .unwrap();
    let err = db
        .authenticate("alice@example.org", b"secret")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Backend(UserDbError::AmbiguousUser {
                query: "password_query",
                rows: 2
            })
        ),
        "{err:?}"
    );
    // No password column.
    let db = connect(|o| {
        o.password_query = "SELECT email AS user FROM virtual_users WHERE email = '%u'".to_owned();
    })
    .await
    .unwrap();
    let err = db
        .authenticate("alice@example.org", b"secret")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::Backend(UserDbError::MissingColumn {
                column: "password",
                ..
            })
        ),
        "{err:?}"
    );
    // A column type tresor does not read (REAL/DECIMAL/NUMERIC): an error, not a panic.
    let db = connect(|o| {
        o.user_query =
            "SELECT email AS user, 1.5 AS quota FROM virtual_users WHERE email = '%u'".to_owned();
    })
    .await
    .unwrap();
    let err = db.lookup("alice@example.org").await.unwrap_err();
    assert!(
        matches!(
            err,
            UserDbError::Sql {
                context: "user_query",
                ..
            }
        ),
        "{kind:?}: {err:?}"
    );
    assert!(err.to_string().contains("CAST"), "{err}");
    // A negative quota.
    let db = connect(|o| {
        o.user_query =
            "SELECT email AS user, -1 AS quota FROM virtual_users WHERE email = '%u'".to_owned();
    })
    .await
    .unwrap();
    assert!(matches!(
        db.lookup("alice@example.org").await,
        Err(UserDbError::BadColumn { ref column, .. }) if column == "quota"
    ));
    // A query against a missing table.
    let db = connect(|o| {
        o.user_query = "SELECT email AS user FROM no_such_table WHERE email = '%u'".to_owned();
    })
    .await
    .unwrap();
    assert!(matches!(
        db.lookup("alice@example.org").await,
        Err(UserDbError::Sql {
            context: "user_query",
            ..
        })
    ));
}

// --- SQLite only ----------------------------------------------------------------------------

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/dovecot-2.3.19")
}

/// A writable copy of the userdb Dovecot 2.3.19 used for the vectors.
fn vector_db_copy(dir: &tempfile::TempDir) -> PathBuf {
    let copy = dir.path().join("userdb.sqlite");
    std::fs::copy(vectors().join("userdb.sqlite"), &copy).unwrap();
    copy
}

#[tokio::test]
async fn sqlite_vector_db_authenticates_with_default_queries() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", vector_db_copy(&dir).display());
    let db = UserDb::connect(&url, Options::default()).await.unwrap();
    assert_eq!(db.backend(), Backend::Sqlite);
    let ok = db
        .authenticate("p521@example.org", b"Sesame-521 open")
        .await
        .unwrap();
    assert_eq!(
        ok.user(),
        &User {
            email: "p521@example.org".into(),
            quota: 0,
            crypt: 2,
            home: None,
            uid: None,
            gid: None,
        }
    );
    let err = db
        .authenticate("p521@example.org", b"Sesame-521 opeN")
        .await
        .unwrap_err();
    assert!(matches!(err.reason(), Some(FailReason::WrongPassword)));
    let plain = db
        .authenticate("plain@example.org", b"plain text pw")
        .await
        .unwrap();
    assert_eq!(plain.user().crypt, 0);
    let mut users = db.list().await.unwrap();
    users.sort();
    assert_eq!(
        users,
        [
            "folders@example.com",
            "p256@example.org",
            "p384@example.org",
            "p521@example.org",
            "plain@example.org",
            "pwchange@example.com",
        ]
    );
}

/// The queries Dovecot used for the vectors, read from its `dovecot-sql.conf.ext`.
#[tokio::test]
async fn sqlite_vector_db_with_dovecots_own_queries() {
    let conf = std::fs::read_to_string(vectors().join("config/dovecot-sql.conf.ext")).unwrap();
    let conf = conf.replace("\\\n", " ");
    let setting = |key: &str| -> String {
        conf.lines()
            .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
            .unwrap()
            .trim()
            .replace("@ROOT@", "/srv/peer")
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", vector_db_copy(&dir).display());

    let mut options = Options::default();
    options.password_query = setting("password_query");
    options.user_query = setting("user_query");
    options.iterate_query = setting("iterate_query");
    options.default_pass_scheme = setting("default_pass_scheme").parse().unwrap();
    // tresor refuses to send the password (%w) to the database.
    let err = UserDb::connect(&url, options.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            UserDbError::BadQuery {
                option: "password_query",
                ..
            }
        ),
        "{err}"
    );
    options.password_query = options
        .password_query
        .replace("'%w' AS userdb_mail_crypt_private_password", "1 AS unused");
    let db = UserDb::connect(&url, options).await.unwrap();
    let want = User {
        email: "p384@example.org".into(),
        quota: 0,
        crypt: 2,
        home: Some("/srv/peer/vmail/example.org/p384".into()),
        uid: Some(5000),
        gid: Some(5000),
    };
    assert_eq!(
        db.lookup("p384@example.org").await.unwrap(),
        Some(want.clone())
    );
    let ok = db
        .authenticate("p384@example.org", b"p384-Secret!")
        .await
        .unwrap();
    assert_eq!(ok.user(), &want);
    let plain = db.lookup("plain@example.org").await.unwrap().unwrap();
    assert_eq!(plain.crypt, 0);
}

/// `create_schema` writes the very table definitions of the ISPmail SQLite userdb that
/// Dovecot used, and leaves an existing one alone.
#[tokio::test]
async fn sqlite_schema_matches_the_vector_db() {
    let dir = tempfile::tempdir().unwrap();
    let vector = vector_db_copy(&dir);
    let fresh = dir.path().join("sub").join("new.sqlite");
    std::fs::create_dir(dir.path().join("sub")).unwrap();

    let fresh_db = UserDb::connect(&format!("sqlite:{}", fresh.display()), Options::default())
        .await
        .unwrap();
    fresh_db.create_schema().await.unwrap();
    // Make sqlite_sequence appear, as it does once AUTOINCREMENT was used.
    fresh_db
        .add_user("x@example.org", "{PLAIN}x", 0, 2)
        .await
        .unwrap();
    let before = sqlite_master(&vector).await;
    let vector_db = UserDb::connect(&format!("sqlite:{}", vector.display()), Options::default())
        .await
        .unwrap();
    vector_db.create_schema().await.unwrap();
    vector_db.close().await;
    fresh_db.close().await;

    assert_eq!(sqlite_master(&fresh).await, before);
    assert_eq!(
        sqlite_master(&vector).await,
        before,
        "create_schema changed an existing file"
    );
    // Three tables, sqlite_sequence, and the UNIQUE autoindexes of name and email.
    assert_eq!(before.len(), 6, "{before:?}");
}

#[tokio::test]
async fn sqlite_file_is_created_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.sqlite");
    let db = UserDb::connect(&format!("sqlite:{}", path.display()), Options::default())
        .await
        .unwrap();
    db.create_schema().await.unwrap();
    assert!(path.exists());
    // `mode=` given explicitly is respected: read-only does not create.
    let missing = dir.path().join("missing.sqlite");
    let err = UserDb::connect(
        &format!("sqlite:{}?mode=ro", missing.display()),
        Options::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            UserDbError::Connect {
                backend: Backend::Sqlite,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!missing.exists());
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_them() {
    for url in ["redis://user:hunter2@host/0", "hunter2", "file:/tmp/x.db"] {
        let err = UserDb::connect(url, Options::default()).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, UserDbError::UnsupportedUrl { .. }), "{err:?}");
        assert!(
            !text.contains("hunter2@") && text.contains("sqlite:PATH"),
            "{text}"
        );
    }
    assert_eq!(Backend::from_url("mariadb://x/y").unwrap(), Backend::MySql);
    assert_eq!(
        Backend::from_url("postgresql://x/y").unwrap(),
        Backend::Postgres
    );
}

/// `type|name|tbl_name|sql` of every schema object, sorted.
async fn sqlite_master(path: &Path) -> Vec<(String, String, String, Option<String>)> {
    let url = format!("sqlite:{}?mode=ro", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows: Vec<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    rows
}

// --- scratch databases ----------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    MariaDb,
    Postgres,
    Sqlite,
}

impl Kind {
    /// SQL string concatenation of two expressions.
    fn concat(self, a: &str, b: &str) -> String {
        match self {
            Self::MariaDb => format!("CONCAT({a}, {b})"),
            Self::Postgres | Self::Sqlite => format!("{a} || {b}"),
        }
    }
}

/// Runs `body` against a fresh database of `kind` and drops the database afterwards, also
/// when `body` panics.
async fn with_db<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(String, Kind) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let scratch = Scratch::create(kind).await;
    let outcome = tokio::spawn(body(scratch.url.clone(), kind)).await;
    scratch.drop_database().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

struct Scratch {
    kind: Kind,
    name: String,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    async fn create(kind: Kind) -> Self {
        let name = unique_name();
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("userdb.sqlite").display());
                Self {
                    kind,
                    name,
                    url,
                    _dir: Some(dir),
                }
            }
            Kind::MariaDb | Kind::Postgres => {
                let base = server_base(kind);
                admin_execute(kind, &format!("CREATE DATABASE {name}")).await;
                Self {
                    kind,
                    url: format!("{base}/{name}"),
                    name,
                    _dir: None,
                }
            }
        }
    }

    async fn drop_database(&self) {
        match self.kind {
            Kind::Sqlite => {}
            Kind::MariaDb => {
                admin_execute(self.kind, &format!("DROP DATABASE {}", self.name)).await
            }
            Kind::Postgres => {
                admin_execute(
                    self.kind,
                    &format!("DROP DATABASE {} WITH (FORCE)", self.name),
                )
                .await;
            }
        }
    }
}

fn server_base(kind: Kind) -> String {
    let (var, default) = match kind {
        Kind::MariaDb => ("TRESOR_TEST_MARIADB", MARIADB),
        Kind::Postgres => ("TRESOR_TEST_POSTGRES", POSTGRES),
        Kind::Sqlite => unreachable!("SQLite needs no server"),
    };
    std::env::var(var)
        .unwrap_or_else(|_| default.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// Runs one statement on the server's `test` database, retrying the connection for up to
/// 30 s (CI may still be starting the server) and failing loudly after that.
async fn admin_execute(kind: Kind, statement: &str) {
    let url = format!("{}/test", server_base(kind));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let result = match kind {
            Kind::MariaDb => match sqlx::MySqlConnection::connect(&url).await {
                Ok(mut conn) => sqlx::query(AssertSqlSafe(statement.to_owned()))
                    .execute(&mut conn)
                    .await
                    .map(drop),
                Err(e) => Err(e),
            },
            Kind::Postgres => match sqlx::PgConnection::connect(&url).await {
                Ok(mut conn) => sqlx::query(AssertSqlSafe(statement.to_owned()))
                    .execute(&mut conn)
                    .await
                    .map(drop),
                Err(e) => Err(e),
            },
            Kind::Sqlite => unreachable!("SQLite needs no server"),
        };
        match result {
            Ok(()) => return,
            Err(sqlx::Error::Database(e)) => panic!("{kind:?}: {statement}: {e}"),
            Err(e) if Instant::now() > deadline => panic!(
                "{kind:?} server at {url} unreachable: {e}. The userdb tests need it running \
                 (.ci/run starts MariaDB and PostgreSQL)."
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or_default();
    format!(
        "tresor_t_{:x}_{:x}_{:x}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
