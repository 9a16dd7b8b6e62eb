//! One auth-client connection as a state machine: bytes in, events out, no IO and no clock.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::error::{ApiMisuse, ProtocolError};
use crate::event::{AuthFailure, Event, Interrupt, RequestId, RequestInfo};
use crate::handshake::{Handshake, PROTOCOL_MAJOR};
use crate::input::Input;
use crate::mech::{self, Mechanism, Refusal};
use crate::penalty::{Counter, Penalty};
use crate::wire;

/// The server side of one connection of Dovecot's auth-client protocol (the socket Postfix's
/// `smtpd_sasl_type = dovecot` talks to).
///
/// # Call order
///
/// 1. [`Session::new`] queues the server's handshake, so start by draining [`Session::next`]:
///    the server speaks first, as Dovecot's `auth_client_connection_create` does.
/// 2. Whenever bytes arrive, pass them to [`enqueue_input`](Session::enqueue_input), then call
///    [`next`](Session::next) until it returns [`Interrupt::NeedMoreInput`]. Handle each
///    event:
///    - [`Event::Output`]: write the bytes now.
///    - [`Event::DelayedOutput`]: write the bytes once the delay has passed, and meanwhile
///      keep reading and answering other requests.
///    - [`Event::Authenticate`]: check the password (without blocking the connection), then
///      call [`auth_result`](Session::auth_result) and drain [`next`](Session::next) again.
/// 3. On [`Interrupt::Error`], write nothing more and close the connection. Later calls keep
///    returning the error; [`auth_result`](Session::auth_result) is then ignored.
///
/// The session keeps no clock: [`auth_result`](Session::auth_result) takes `now` to age the
/// failure counters of [`Penalty`].
pub struct Session {
    options: Options,
    penalty: Arc<Penalty>,
    state: State,
    client_minor: u32,
    input: Input,
    events: VecDeque<Event>,
    requests: HashMap<RequestId, Request>,
    next_seq: u64,
    connection_failures: Counter,
}

impl Session {
    /// A new connection; the handshake is queued as the first [`Event::Output`].
    ///
    /// `penalty` holds the failure counters shared by all connections of the server.
    pub fn new(options: Options, handshake: Handshake, penalty: Arc<Penalty>) -> Self {
        let mut events = VecDeque::new();
        events.push_back(Event::Output(handshake.to_bytes()));
        Self {
            options,
            penalty,
            state: State::AwaitingVersion,
            client_minor: 0,
            input: Input::default(),
            events,
            requests: HashMap::new(),
            next_seq: 0,
            connection_failures: Counter::default(),
        }
    }

    /// Adds bytes read from the client. They are parsed by [`next`](Session::next).
    pub fn enqueue_input(&mut self, bytes: &[u8]) {
        if !matches!(self.state, State::Closed(_)) {
            self.input.push(bytes);
        }
    }

    /// The next thing for the driver to do, or why there is nothing.
    #[expect(
        clippy::should_implement_trait,
        reason = "named after imap-next's State::next, as tresor's other sessions"
    )]
    pub fn next(&mut self) -> Result<Event, Interrupt> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            if let State::Closed(error) = &self.state {
                return Err(Interrupt::Error(error.clone()));
            }
            let handled = match self.input.next_line(self.options.max_line_length) {
                Ok(Some(line)) => self.handle_line(&line),
                Ok(None) => return Err(Interrupt::NeedMoreInput),
                Err(error) => Err(error),
            };
            if let Err(error) = handled {
                self.close(error);
            }
        }
    }

    /// Answers an [`Event::Authenticate`]: `Ok` with the user's canonical name (sent as
    /// `user=`), or why the login failed.
    ///
    /// Queues `OK TAB <id> TAB user=<name>` or `FAIL TAB <id> TAB user=<username>` (with
    /// `code=temp_fail` for [`AuthFailure::Unavailable`]), delayed as [`Penalty`] describes.
    /// A result for a request the client cancelled, or after the session closed, is dropped.
    pub fn auth_result(
        &mut self,
        id: RequestId,
        result: Result<String, AuthFailure>,
        now: Instant,
    ) -> Result<(), ApiMisuse> {
        if matches!(self.state, State::Closed(_)) {
            return Ok(());
        }
        let Some(request) = self.requests.remove(&id) else {
            return Err(ApiMisuse::NotAwaitingResult(id));
        };
        let username = match request.step {
            Step::Verifying { username } => username,
            Step::Cancelled => return Ok(()),
            other => {
                self.requests.insert(
                    id,
                    Request {
                        step: other,
                        ..request
                    },
                );
                return Err(ApiMisuse::NotAwaitingResult(id));
            }
        };
        let window = self.penalty.options().window;
        let remote_ip = request.info.remote_ip;
        let (line, failures) = match result {
            Ok(user) => {
                let client = match remote_ip {
                    Some(ip) => self.penalty.client_failures(ip, now),
                    None => self.connection_failures.current(now, window),
                };
                self.penalty.forgive_user(&username);
                (wire::ok_line(id, &user), client.saturating_add(1))
            }
            Err(AuthFailure::Rejected) => {
                let client = match remote_ip {
                    Some(ip) => self.penalty.fail_client(ip, now),
                    None => self.connection_failures.fail(now, window),
                };
                let user = self.penalty.fail_user(&username, now);
                (
                    wire::fail_line(id, Some(&username), None, None),
                    client.max(user),
                )
            }
            Err(AuthFailure::Unavailable) => (
                wire::fail_line(id, Some(&username), Some(CODE_TEMP_FAIL), None),
                0,
            ),
        };
        let delay = self.penalty.options().delay(failures);
        self.events.push_back(if delay.is_zero() {
            Event::Output(line)
        } else {
            Event::DelayedOutput {
                id,
                delay,
                bytes: line,
            }
        });
        Ok(())
    }

    /// Whether the session ended with a protocol error.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// How many [`Event::Authenticate`] are still waiting for [`auth_result`](Self::auth_result)
    /// (cancelled ones included).
    pub fn pending_results(&self) -> usize {
        self.requests
            .values()
            .filter(|r| matches!(r.step, Step::Verifying { .. } | Step::Cancelled))
            .count()
    }

    fn close(&mut self, error: ProtocolError) {
        self.state = State::Closed(error);
        self.input.clear();
        self.requests.clear();
    }

    fn handle_line(&mut self, line: &[u8]) -> Result<(), ProtocolError> {
        match self.state {
            State::AwaitingVersion => {
                let (major, minor) = parse_version(line)?;
                if major != PROTOCOL_MAJOR {
                    return Err(ProtocolError::UnsupportedVersion { major });
                }
                self.client_minor = minor;
                self.state = State::AwaitingCpid;
                Ok(())
            }
            State::AwaitingCpid => match line.strip_prefix(b"CPID\t").and_then(wire::parse_uint) {
                Some(pid) if pid != 0 => {
                    self.state = State::Ready;
                    Ok(())
                }
                _ => Err(ProtocolError::Malformed("CPID line")),
            },
            State::Ready => {
                if let Some(args) = line.strip_prefix(b"AUTH\t") {
                    self.handle_auth(args)
                } else if let Some(args) = line.strip_prefix(b"CONT\t") {
                    self.handle_cont(args)
                } else if let Some(args) = line.strip_prefix(b"CANCEL\t") {
                    self.handle_cancel(args)
                } else {
                    Err(ProtocolError::Malformed(
                        "command (expected AUTH, CONT or CANCEL)",
                    ))
                }
            }
            // `next` never reads input once closed.
            State::Closed(ref error) => Err(error.clone()),
        }
    }

    /// `AUTH TAB <id> TAB <mechanism> [TAB <name>[=<value>]]… [TAB resp=<base64>]`
    /// (`auth_request_handler_auth_begin`).
    fn handle_auth(&mut self, args: &[u8]) -> Result<(), ProtocolError> {
        // Owned and wiped copies: the `resp=` field is a password in base64.
        let fields: Vec<Zeroizing<Vec<u8>>> = args
            .split(|&b| b == b'\t')
            .map(|f| Zeroizing::new(wire::tab_unescape(f).into_owned()))
            .collect();
        let mut fields = fields.iter();
        let id = fields
            .next()
            .and_then(|f| wire::parse_uint(f))
            .filter(|&id| id != 0)
            .map(RequestId)
            .ok_or(ProtocolError::Malformed("AUTH request id"))?;
        let mechanism = fields
            .next()
            .ok_or(ProtocolError::Malformed("AUTH mechanism"))?;
        let mechanism = Mechanism::parse(mechanism).ok_or(ProtocolError::UnsupportedMechanism)?;
        let mut info = RequestInfo {
            mechanism,
            service: String::new(),
            remote_ip: None,
            local_ip: None,
            secured: false,
        };
        let mut service = None;
        let mut resp = None;
        for field in fields.by_ref() {
            let (name, value) = match field.iter().position(|&b| b == b'=') {
                Some(eq) => (field.get(..eq), field.get(eq + 1..)),
                None => (Some(field.as_slice()), Some(b"".as_slice())),
            };
            let (Some(name), Some(value)) = (name, value) else {
                return Err(ProtocolError::Malformed("AUTH parameter"));
            };
            match name {
                b"service" => service = Some(String::from_utf8_lossy(value).into_owned()),
                b"rip" => info.remote_ip = parse_ip(value),
                b"lip" => info.local_ip = parse_ip(value),
                b"secured" => info.secured = true,
                b"resp" => {
                    resp = Some(value);
                    break;
                }
                _ => {}
            }
        }
        if fields.next().is_some() {
            return Err(ProtocolError::Malformed("AUTH parameters after resp"));
        }
        info.service = service.ok_or(ProtocolError::Malformed("AUTH without service"))?;
        if self.requests.contains_key(&id) {
            return Err(ProtocolError::DuplicateRequest(id));
        }
        let initial = match resp {
            None => None,
            // Clients of protocol 1.0 and 1.1 (Postfix says 1.0, Exim too) may send an empty
            // `resp=` to mean none, as Dovecot allows for them.
            Some(b"") if self.client_minor < 2 => None,
            // `=` is how SASL profiles write an empty initial response.
            Some(b"") | Some(b"=") => Some(Zeroizing::new(Vec::new())),
            Some(data) => match wire::decode_base64(data) {
                Some(data) => Some(Zeroizing::new(data)),
                None => {
                    self.fail_now(
                        id,
                        None,
                        Some(CODE_INVALID_BASE64),
                        "Invalid base64 data in initial response",
                    );
                    return Ok(());
                }
            },
        };
        self.make_room()?;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let request = Request {
            seq,
            info,
            step: Step::PlainResponse,
        };
        match (mechanism, initial) {
            (Mechanism::Plain, None) => self.ask(id, request, Step::PlainResponse, b""),
            (Mechanism::Plain, Some(message)) => self.plain(id, request, &message),
            (Mechanism::Login, Some(username)) if !username.is_empty() => {
                self.login_username(id, request, &username);
            }
            (Mechanism::Login, _) => {
                self.ask(
                    id,
                    request,
                    Step::LoginUsername,
                    mech::LOGIN_USERNAME_PROMPT,
                );
            }
        }
        Ok(())
    }

    /// `CONT TAB <id> TAB <base64>` (`auth_request_handler_auth_continue`).
    fn handle_cont(&mut self, args: &[u8]) -> Result<(), ProtocolError> {
        let tab = args.iter().position(|&b| b == b'\t');
        let Some((Some(id), Some(data))) = tab.map(|tab| (args.get(..tab), args.get(tab + 1..)))
        else {
            return Err(ProtocolError::Malformed("CONT line"));
        };
        let id = RequestId(wire::parse_uint(id).ok_or(ProtocolError::Malformed("CONT id"))?);
        let Some(mut request) = self.requests.remove(&id) else {
            self.fail_now(id, None, None, TIMED_OUT);
            return Ok(());
        };
        if !request.step.awaits_client() {
            // Waiting for the driver: Dovecot fails the request; its result is dropped. A
            // cancelled request is as unknown to the client as a finished one.
            let reason = match request.step {
                Step::Verifying { .. } => "Unexpected continuation",
                _ => TIMED_OUT,
            };
            request.step = Step::Cancelled;
            self.requests.insert(id, request);
            self.fail_now(id, None, None, reason);
            return Ok(());
        }
        let Some(data) = wire::decode_base64(data).map(Zeroizing::new) else {
            self.fail_now(
                id,
                None,
                Some(CODE_INVALID_BASE64),
                "Invalid base64 data in continued response",
            );
            return Ok(());
        };
        match std::mem::replace(&mut request.step, Step::Cancelled) {
            Step::LoginUsername => self.login_username(id, request, &data),
            Step::LoginPassword { username } => self.verify(id, request, username, data),
            _ => self.plain(id, request, &data),
        }
        Ok(())
    }

    /// `CANCEL TAB <id>`: forget the request; its pending result, if any, is dropped.
    fn handle_cancel(&mut self, args: &[u8]) -> Result<(), ProtocolError> {
        let id = RequestId(wire::parse_uint(args).ok_or(ProtocolError::Malformed("CANCEL id"))?);
        if let Some(request) = self.requests.get_mut(&id) {
            match request.step {
                Step::Verifying { .. } | Step::Cancelled => request.step = Step::Cancelled,
                _ => {
                    self.requests.remove(&id);
                }
            }
        }
        Ok(())
    }

    fn plain(&mut self, id: RequestId, request: Request, message: &[u8]) {
        match mech::parse_plain(message) {
            Ok(plain) => self.verify(id, request, plain.username, plain.password),
            Err((refusal, username)) => self.refuse(id, username.as_deref(), refusal),
        }
    }

    fn login_username(&mut self, id: RequestId, request: Request, username: &[u8]) {
        match mech::check_username(username) {
            Ok(username) => self.ask(
                id,
                request,
                Step::LoginPassword { username },
                mech::LOGIN_PASSWORD_PROMPT,
            ),
            Err(refusal) => self.refuse(id, None, refusal),
        }
    }

    /// Stores the request at `step` and sends the challenge.
    fn ask(&mut self, id: RequestId, request: Request, step: Step, challenge: &[u8]) {
        self.requests.insert(id, Request { step, ..request });
        self.events
            .push_back(Event::Output(wire::cont_line(id, challenge)));
    }

    /// Hands the credentials to the driver.
    fn verify(
        &mut self,
        id: RequestId,
        request: Request,
        username: String,
        password: Zeroizing<Vec<u8>>,
    ) {
        let info = request.info.clone();
        self.requests.insert(
            id,
            Request {
                step: Step::Verifying {
                    username: username.clone(),
                },
                ..request
            },
        );
        self.events.push_back(Event::Authenticate {
            id,
            username,
            password,
            info,
        });
    }

    fn refuse(&mut self, id: RequestId, username: Option<&str>, refusal: Refusal) {
        self.events.push_back(Event::Output(wire::fail_line(
            id,
            username,
            refusal.code(),
            Some(refusal.reason()),
        )));
    }

    fn fail_now(&mut self, id: RequestId, user: Option<&str>, code: Option<&str>, reason: &str) {
        self.events
            .push_back(Event::Output(wire::fail_line(id, user, code, Some(reason))));
    }

    /// Makes room for one more request: when full, the oldest request waiting for the client
    /// is dropped (a later CONT for it gets "timed out", as after Dovecot's request timeout);
    /// if all wait for the driver, the client is pipelining too much.
    fn make_room(&mut self) -> Result<(), ProtocolError> {
        if self.requests.len() < self.options.max_requests {
            return Ok(());
        }
        let oldest = self
            .requests
            .iter()
            .filter(|(_, r)| r.step.awaits_client())
            .min_by_key(|(_, r)| r.seq)
            .map(|(&id, _)| id);
        match oldest {
            Some(id) => {
                self.requests.remove(&id);
                Ok(())
            }
            None => Err(ProtocolError::TooManyRequests {
                limit: self.options.max_requests,
            }),
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The input buffer may hold a password: never shown.
        f.debug_struct("Session")
            .field("state", &self.state)
            .field("requests", &self.requests.len())
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Limits of a [`Session`]. Start from [`Options::default`] and change fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// The longest line accepted, LF included (default 16 384, Dovecot's
    /// `AUTH_CLIENT_MAX_LINE_LENGTH`). A longer line closes the connection.
    pub max_line_length: usize,
    /// How many requests may be open at once on one connection (default 64). Postfix has one.
    pub max_requests: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_line_length: 16_384,
            max_requests: 64,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    AwaitingVersion,
    AwaitingCpid,
    Ready,
    Closed(ProtocolError),
}

struct Request {
    /// Arrival order, to find the oldest.
    seq: u64,
    info: RequestInfo,
    step: Step,
}

enum Step {
    /// Sent an empty challenge; waiting for the PLAIN message.
    PlainResponse,
    /// Sent `Username:`.
    LoginUsername,
    /// Sent `Password:`.
    LoginPassword { username: String },
    /// Handed out as [`Event::Authenticate`]; waiting for the driver.
    Verifying { username: String },
    /// Waiting for the driver, but the client gave the request up: drop the result.
    Cancelled,
}

impl Step {
    fn awaits_client(&self) -> bool {
        matches!(
            self,
            Self::PlainResponse | Self::LoginUsername | Self::LoginPassword { .. }
        )
    }
}

/// `VERSION TAB <major> TAB <minor>`.
fn parse_version(line: &[u8]) -> Result<(u32, u32), ProtocolError> {
    let malformed = ProtocolError::Malformed("VERSION line");
    let rest = line.strip_prefix(b"VERSION\t").ok_or(malformed.clone())?;
    let mut parts = rest.splitn(2, |&b| b == b'\t');
    let major = parts.next().and_then(wire::parse_uint);
    let minor = parts.next().and_then(wire::parse_uint);
    match (major, minor) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => Err(malformed),
    }
}

fn parse_ip(value: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Dovecot's `AUTH_CLIENT_FAIL_CODE_TEMPFAIL`.
const CODE_TEMP_FAIL: &str = "temp_fail";
/// The reason Dovecot gives for a CONT to a request it no longer knows.
const TIMED_OUT: &str = "Authentication request timed out";
/// Dovecot's `AUTH_CLIENT_FAIL_CODE_INVALID_BASE64`.
const CODE_INVALID_BASE64: &str = "invalid_base64";
