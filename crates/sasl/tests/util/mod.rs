//! A harness for session transcripts: feed client bytes, collect what the session does.

// Test support: clippy.toml's allow-*-in-tests covers only `#[test]` functions.
#![allow(dead_code, clippy::expect_used, clippy::panic)]

pub(crate) mod postfix;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sasl::{
    AuthFailure, Event, Handshake, Interrupt, Options, Penalty, ProtocolError, RequestId,
    RequestInfo, Session,
};

/// The handshake every harness session sends.
pub(crate) const HANDSHAKE: Handshake = Handshake {
    server_pid: 4321,
    connection_id: 7,
    cookie: [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ],
};

/// The bytes of [`HANDSHAKE`] as Dovecot 2.3 would send them.
pub(crate) const HANDSHAKE_BYTES: &[u8] = b"VERSION\t1\t2\n\
MECH\tPLAIN\tplaintext\n\
MECH\tLOGIN\tplaintext\n\
SPID\t4321\n\
CUID\t7\n\
COOKIE\t00112233445566778899aabbccddeeff\n\
DONE\n";

/// What the session did, in a form tests can compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    /// `Event::Output`, as text.
    Now(String),
    /// `Event::DelayedOutput`, delay and text.
    Later(Duration, String),
    /// `Event::Authenticate`.
    Auth {
        id: u32,
        username: String,
        password: Vec<u8>,
    },
}

impl Out {
    pub(crate) fn now(s: &str) -> Self {
        Self::Now(s.to_owned())
    }

    pub(crate) fn later(secs: u64, s: &str) -> Self {
        Self::Later(Duration::from_secs(secs), s.to_owned())
    }

    pub(crate) fn auth(id: u32, username: &str, password: &str) -> Self {
        Self::Auth {
            id,
            username: username.to_owned(),
            password: password.as_bytes().to_vec(),
        }
    }
}

pub(crate) struct Harness {
    pub(crate) session: Session,
    pub(crate) penalty: Arc<Penalty>,
    pub(crate) now: Instant,
    /// Every byte the session asked to write, immediate or delayed, in order of events.
    pub(crate) written: Vec<u8>,
    /// The Debug text of every event.
    pub(crate) debug: String,
    /// The `info` of the last `Authenticate`.
    pub(crate) last_info: Option<RequestInfo>,
}

impl Harness {
    /// A session right after connecting, its handshake already checked.
    pub(crate) fn connected() -> Self {
        Self::connected_with(Options::default(), Arc::new(Penalty::default()))
    }

    pub(crate) fn connected_with(options: Options, penalty: Arc<Penalty>) -> Self {
        let mut h = Self {
            session: Session::new(options, HANDSHAKE, penalty.clone()),
            penalty,
            now: Instant::now(),
            written: Vec::new(),
            debug: String::new(),
            last_info: None,
        };
        assert_eq!(h.drain(), vec![Out::Now(text(HANDSHAKE_BYTES))]);
        h
    }

    /// A session after the client's `VERSION 1 2` and `CPID`.
    pub(crate) fn ready() -> Self {
        let mut h = Self::connected();
        assert_eq!(h.send(b"VERSION\t1\t2\nCPID\t999\n"), vec![]);
        h
    }

    pub(crate) fn ready_with(options: Options, penalty: Arc<Penalty>) -> Self {
        let mut h = Self::connected_with(options, penalty);
        assert_eq!(h.send(b"VERSION\t1\t2\nCPID\t999\n"), vec![]);
        h
    }

    /// Feeds bytes; expects no protocol error.
    pub(crate) fn send(&mut self, bytes: &[u8]) -> Vec<Out> {
        self.session.enqueue_input(bytes);
        let (out, error) = self.drain_until_interrupt();
        assert_eq!(error, None, "unexpected protocol error; events: {out:?}");
        out
    }

    /// Feeds bytes; expects the session to end with a protocol error.
    pub(crate) fn send_err(&mut self, bytes: &[u8]) -> (Vec<Out>, ProtocolError) {
        self.session.enqueue_input(bytes);
        let (out, error) = self.drain_until_interrupt();
        let error = error.expect("expected a protocol error");
        assert!(self.session.is_closed());
        (out, error)
    }

    /// Answers an `Authenticate` at the harness clock.
    pub(crate) fn answer(&mut self, id: u32, result: Result<&str, AuthFailure>) -> Vec<Out> {
        self.session
            .auth_result(RequestId(id), result.map(str::to_owned), self.now)
            .expect("request awaits a result");
        self.drain()
    }

    pub(crate) fn drain(&mut self) -> Vec<Out> {
        let (out, error) = self.drain_until_interrupt();
        assert_eq!(error, None);
        out
    }

    fn drain_until_interrupt(&mut self) -> (Vec<Out>, Option<ProtocolError>) {
        let mut out = Vec::new();
        loop {
            match self.session.next() {
                Ok(event) => {
                    self.debug.push_str(&format!("{event:?}\n"));
                    out.push(self.record(event));
                }
                Err(Interrupt::NeedMoreInput) => return (out, None),
                Err(Interrupt::Error(e)) => return (out, Some(e)),
                Err(other) => panic!("unknown interrupt {other:?}"),
            }
        }
    }

    fn record(&mut self, event: Event) -> Out {
        match event {
            Event::Output(bytes) => {
                self.written.extend_from_slice(&bytes);
                Out::Now(text(&bytes))
            }
            Event::DelayedOutput { delay, bytes, .. } => {
                self.written.extend_from_slice(&bytes);
                Out::Later(delay, text(&bytes))
            }
            Event::Authenticate {
                id,
                username,
                password,
                info,
            } => {
                self.last_info = Some(info);
                Out::Auth {
                    id: id.0,
                    username,
                    password: password.to_vec(),
                }
            }
        }
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("server output is UTF-8")
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The `resp=` of a PLAIN login.
pub(crate) fn plain(authzid: &str, user: &str, password: &str) -> String {
    b64(format!("{authzid}\0{user}\0{password}").as_bytes())
}
