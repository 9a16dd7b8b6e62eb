//! What Postfix's Dovecot SASL client sends and expects, replayed against a bare session
//! (see `util/postfix.rs` for that client's behaviour).

// Helpers outside `#[test]` functions are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod util;

use std::sync::Arc;

use sasl::{AuthFailure, Event, Options, Penalty, Session};
use util::postfix::{Lines, PostfixClient, Reply, Transport};
use util::{HANDSHAKE, b64, plain};

/// The session as Postfix's transport: answers password checks at once from a fixed table,
/// and writes delayed replies without waiting.
struct InMemory {
    session: Session,
    lines: Lines,
}

impl InMemory {
    fn new() -> Self {
        let mut transport = Self {
            session: Session::new(Options::default(), HANDSHAKE, Arc::new(Penalty::default())),
            lines: Lines::default(),
        };
        transport.pump();
        transport
    }

    fn pump(&mut self) {
        let now = std::time::Instant::now();
        while let Ok(event) = self.session.next() {
            match event {
                Event::Output(bytes) | Event::DelayedOutput { bytes, .. } => {
                    self.lines.push_bytes(&bytes);
                }
                Event::Authenticate {
                    id,
                    username,
                    password,
                    ..
                } => {
                    let verdict = match (username.as_str(), password.as_slice()) {
                        ("alice@example.org", b"correct horse") => Ok("alice@example.org".into()),
                        _ => Err(AuthFailure::Rejected),
                    };
                    self.session.auth_result(id, verdict, now).unwrap();
                }
            }
        }
    }
}

impl Transport for InMemory {
    fn send(&mut self, bytes: &[u8]) {
        self.session.enqueue_input(bytes);
        self.pump();
    }

    fn read_line(&mut self) -> Option<String> {
        self.lines.0.pop_front()
    }
}

fn postfix() -> PostfixClient<InMemory> {
    PostfixClient::connect(InMemory::new(), 31337).unwrap()
}

#[test]
fn postfix_accepts_handshake() {
    let client = postfix();
    assert_eq!(client.mechanisms, ["PLAIN", "LOGIN"]);
}

#[test]
fn postfix_plain_ok_and_fail_on_one_connection() {
    let mut client = postfix();
    let good = plain("", "alice@example.org", "correct horse");
    let bad = plain("", "alice@example.org", "battery staple");
    let (lip, rip) = ("192.0.2.25", "198.51.100.7");
    assert_eq!(
        client.first("PLAIN", Some(&good), lip, rip, true),
        Reply::Done("alice@example.org".into())
    );
    // smtpd passes the mechanism as the SMTP client typed it.
    assert_eq!(
        client.first("plain", Some(&bad), lip, rip, false),
        Reply::Fail(String::new())
    );
    assert_eq!(
        client.first("Plain", Some(&good), lip, rip, true),
        Reply::Done("alice@example.org".into())
    );
}

#[test]
fn postfix_plain_without_initial_response() {
    let mut client = postfix();
    assert_eq!(
        client.first("PLAIN", None, "192.0.2.25", "198.51.100.7", true),
        Reply::More(String::new())
    );
    assert_eq!(
        client.next(&plain("", "alice@example.org", "correct horse")),
        Reply::Done("alice@example.org".into())
    );
}

#[test]
fn postfix_login() {
    let mut client = postfix();
    assert_eq!(
        client.first("LOGIN", None, "192.0.2.25", "198.51.100.7", true),
        Reply::More(b64(b"Username:"))
    );
    assert_eq!(
        client.next(&b64(b"alice@example.org")),
        Reply::More(b64(b"Password:"))
    );
    assert_eq!(
        client.next(&b64(b"correct horse")),
        Reply::Done("alice@example.org".into())
    );
}

#[test]
fn postfix_sees_reasons() {
    let mut client = postfix();
    let other = plain("boss@example.org", "alice@example.org", "correct horse");
    assert_eq!(
        client.first("PLAIN", Some(&other), "192.0.2.25", "198.51.100.7", true),
        Reply::Fail("Authorization identity must be empty or the login name".into())
    );
    // Postfix only checks the alphabet; padding errors reach the server.
    assert_eq!(
        client.first(
            "PLAIN",
            Some("AGFAYgBwdw"),
            "192.0.2.25",
            "198.51.100.7",
            true
        ),
        Reply::Fail("Invalid base64 data in initial response".into())
    );
}
