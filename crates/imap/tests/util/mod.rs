//! Scripted sessions without sockets: a real Maildir in a temp dir, a fake userdb.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imap::account::StoreMail;
use imap::{Authenticator, Event, LoginError, Mail, Options, Peer, Session};
use keys::KeysError;
use store::account::Account;

/// `alice`/`secret` (plaintext mailbox) and `carol`/`right` (encrypted; key wrapped with
/// `key_password`).
pub struct Users {
    pub home: std::path::PathBuf,
    pub encrypted: bool,
    pub password: &'static str,
}

impl Authenticator for Users {
    fn login(&self, username: &str, password: &[u8]) -> Result<Box<dyn Mail>, LoginError> {
        if username != "alice" || password != self.password.as_bytes() {
            return Err(LoginError::Rejected);
        }
        let account = Account::new(&self.home, self.encrypted);
        if !self.encrypted {
            return Ok(Box::new(StoreMail::new(account, None)));
        }
        let keys = account
            .keystore()
            .and_then(|k| k.load().map_err(Into::into))
            .map_err(|e| LoginError::TemporaryFailure(e.to_string()))?;
        match keys.unlock_user(Some(password)) {
            Ok(user) => Ok(Box::new(StoreMail::new(account, Some(user)))),
            Err(KeysError::WrongPassword) => Err(LoginError::Unavailable("key locked".into())),
            Err(e) => Err(LoginError::TemporaryFailure(e.to_string())),
        }
    }
}

pub struct Harness {
    pub session: Session,
    pub dir: tempfile::TempDir,
    pub now: Instant,
    pub closed: bool,
    pub starttls: bool,
}

impl Harness {
    /// A plaintext user with an empty INBOX, from a loopback peer.
    pub fn new() -> Self {
        Self::with(Options::default(), Peer::new(false, true), false, None)
    }

    pub fn with(options: Options, peer: Peer, encrypted: bool, key_password: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let account = Account::new(dir.path(), encrypted);
        account.create().unwrap();
        if let Some(pw) = key_password {
            account
                .keystore()
                .unwrap()
                .generate_user_key(mailcrypt::Curve::P256, Some(pw.as_bytes()), false)
                .unwrap();
        }
        let users = Users {
            home: dir.path().to_path_buf(),
            encrypted,
            password: if encrypted { "right" } else { "secret" },
        };
        let session = Session::new(Arc::new(options), Arc::new(users), peer);
        let mut h = Self {
            session,
            dir,
            now: Instant::now(),
            closed: false,
            starttls: false,
        };
        let greeting = h.drain();
        assert!(
            greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
            "{greeting}"
        );
        h
    }

    pub fn account(&self) -> Account {
        Account::new(self.dir.path(), false)
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Delivers a message into `mailbox` as LMTP would.
    pub fn deliver(&self, mailbox: &str, raw: &[u8]) -> u32 {
        let encrypted = self.dir.path().join("Maildir/dovecot-attributes").exists();
        Account::new(self.dir.path(), encrypted)
            .deliver(mailbox, raw)
            .unwrap()
            .uid
    }

    /// Sends bytes and returns everything the server wrote until it wanted more input.
    pub fn send(&mut self, bytes: &[u8]) -> String {
        self.session.enqueue_input(bytes);
        self.drain()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.session.enqueue_input(bytes);
        self.drain_raw()
    }

    pub fn drain(&mut self) -> String {
        String::from_utf8_lossy(&self.drain_raw()).into_owned()
    }

    pub fn drain_raw(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(event) = self.session.next(self.now) {
            match event {
                Event::Output(bytes) => out.extend_from_slice(&bytes),
                Event::StartTls => self.starttls = true,
                Event::Closed => self.closed = true,
                _ => {}
            }
        }
        out
    }

    /// Moves the fake clock and fires the session's timer when due.
    pub fn advance(&mut self, by: Duration) -> String {
        self.now += by;
        if self.session.poll_timeout().is_some_and(|t| t <= self.now) {
            self.session.handle_timeout(self.now);
        }
        self.drain()
    }

    pub fn login(&mut self) {
        let pw = if self.dir.path().join("Maildir/dovecot-attributes").exists() {
            "right"
        } else {
            "secret"
        };
        let r = self.send(format!("l1 LOGIN alice {pw}\r\n").as_bytes());
        assert!(r.contains("l1 OK"), "{r}");
    }
}
