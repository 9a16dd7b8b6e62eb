//! The IMAP session: bytes in, bytes and events out, no IO of its own.
//!
//! Call order (the listener's loop): [`Session::enqueue_input`] with whatever the client sent,
//! then [`Session::next`] until it returns `None` (more input needed), writing every
//! [`Event::Output`], switching to TLS on [`Event::StartTls`] and closing on
//! [`Event::Closed`]. While idling, [`Session::poll_timeout`] says when to call
//! [`Session::handle_timeout`] (which looks for changes made by other sessions). `next` and
//! `handle_timeout` call the blocking [`Mail`] backend: run them off the async reactor.
//!
//! States (RFC 3501 §3): not authenticated → authenticated ⇄ selected → logout. The session
//! reads framing with imap-codec's `Fragmentizer` (literals, `+` continuations, LITERAL+) and
//! writes responses itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::secret::Secret;
use imap_codec::{AuthenticateDataCodec, CommandCodec, IdleDoneCodec};
use zeroize::Zeroizing;

use crate::backend::{Authenticator, LoginError, Mail, SpecialUse};
use crate::selected::{Fetching, Selected};
use crate::{esearch, listext, reply};

/// Session settings (from the `[imap]` config section).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Largest literal (APPEND message) accepted, in bytes. Default 50 MiB.
    pub max_literal_size: u32,
    /// Allow LOGIN/AUTHENTICATE without TLS from non-loopback peers. Default false.
    pub allow_plaintext_auth: bool,
    /// Offer STARTTLS (a certificate is configured). Default false.
    pub starttls: bool,
    /// Mailboxes created and subscribed at login, with their SPECIAL-USE attribute.
    pub autocreate: Vec<(String, SpecialUse)>,
    /// How often an idling session looks for changes. Default 2 s.
    pub idle_poll: Duration,
    /// A session that sends no command for this long is logged out (RFC 3501 §5.4: at
    /// least 30 minutes; an IDLE counts as a command when it starts). Default 30 min.
    pub autologout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_literal_size: 50 * 1024 * 1024,
            allow_plaintext_auth: false,
            starttls: false,
            autocreate: vec![
                ("Drafts".into(), SpecialUse::Drafts),
                ("Sent".into(), SpecialUse::Sent),
                ("Trash".into(), SpecialUse::Trash),
                ("Junk".into(), SpecialUse::Junk),
            ],
            idle_poll: Duration::from_secs(2),
            autologout: Duration::from_secs(30 * 60),
        }
    }
}

/// Where the client is: decides whether plaintext passwords are accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peer {
    /// The connection is TLS (IMAPS, or after STARTTLS).
    pub tls: bool,
    /// The peer is on a loopback address.
    pub loopback: bool,
}

impl Peer {
    /// A peer with these properties.
    pub const fn new(tls: bool, loopback: bool) -> Self {
        Self { tls, loopback }
    }
}

/// What the session asks of its driver.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Bytes to send to the client, in order.
    Output(Vec<u8>),
    /// Start TLS now (the OK was in the previous output); then call [`Session::tls_started`].
    StartTls,
    /// The session is over; close the connection.
    Closed,
}

/// RFC 3501 §3 connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Before login.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// LOGOUT done.
    Logout,
}

/// One IMAP connection's state machine.
pub struct Session {
    pub(crate) options: Arc<Options>,
    auth: Arc<dyn Authenticator>,
    peer: Peer,
    frag: Fragmentizer,
    pub(crate) out: Vec<u8>,
    events: VecDeque<Event>,
    pub(crate) state: State,
    pub(crate) mail: Option<Box<dyn Mail>>,
    pub(crate) selected: Option<Selected>,
    mode: Mode,
    pub(crate) condstore: bool,
    next_poll: Option<Instant>,
    deadline: Option<Instant>,
}

enum Mode {
    Command,
    Authenticate {
        tag: String,
        login: bool,
        username: Option<String>,
    },
    Idle {
        tag: String,
    },
    Fetch(Box<Fetching>),
}

impl Session {
    /// A new session; the greeting is the first output.
    pub fn new(options: Arc<Options>, auth: Arc<dyn Authenticator>, peer: Peer) -> Self {
        let max = options.max_literal_size.saturating_add(MAX_LINE);
        let mut s = Self {
            options,
            auth,
            peer,
            frag: Fragmentizer::new(max),
            out: Vec::new(),
            events: VecDeque::new(),
            state: State::NotAuthenticated,
            mail: None,
            selected: None,
            mode: Mode::Command,
            condstore: false,
            next_poll: None,
            deadline: None,
        };
        let caps = s.capabilities();
        s.line(&format!("* OK [CAPABILITY {caps}] tresor ready."));
        s
    }

    /// The connection state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Bytes received from the client.
    pub fn enqueue_input(&mut self, bytes: &[u8]) {
        self.frag.enqueue_bytes(bytes);
    }

    /// The driver finished the TLS handshake after [`Event::StartTls`].
    pub fn tls_started(&mut self) {
        self.peer.tls = true;
    }

    /// When [`Self::handle_timeout`] wants to run next: the IDLE poll, or the autologout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_poll, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time has come (see [`Self::poll_timeout`]): an idling session reports changes made by
    /// other sessions or deliveries; an inactive session is logged out.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) && self.state != State::Logout {
            self.line("* BYE Disconnected for inactivity.");
            return self.logout_now();
        }
        if self.next_poll.is_none_or(|t| t > now) {
            return;
        }
        if let Mode::Idle { .. } = self.mode {
            self.refresh(true);
            self.next_poll = Some(now + self.options.idle_poll);
        } else {
            self.next_poll = None;
        }
    }

    /// Shuts the session down (server stopping): an untagged BYE, then [`Event::Closed`].
    pub fn shutdown(&mut self) {
        if self.state != State::Logout {
            self.line("* BYE Server shutting down.");
            self.logout_now();
        }
    }

    /// The next thing for the driver to do; `None` when more input is needed. `now` is the
    /// driver's clock (starts the IDLE poll timer).
    pub fn next(&mut self, now: Instant) -> Option<Event> {
        if self.deadline.is_none() && self.state != State::Logout {
            self.deadline = Some(now + self.options.autologout);
        }
        loop {
            if self.out.len() >= FLUSH_AT {
                return Some(Event::Output(std::mem::take(&mut self.out)));
            }
            if let Some(event) = self.events.front() {
                if !self.out.is_empty() {
                    return Some(Event::Output(std::mem::take(&mut self.out)));
                }
                let _ = event;
                return self.events.pop_front();
            }
            if self.state == State::Logout {
                return self.flush();
            }
            if let Mode::Fetch(_) = self.mode {
                self.fetch_step();
                continue;
            }
            let Some(info) = self.frag.progress() else {
                return self.flush();
            };
            if let FragmentInfo::Line {
                announcement: Some(LiteralAnnouncement { mode, length }),
                ..
            } = info
            {
                self.literal_announced(mode, length);
                continue;
            }
            if !self.frag.is_message_complete() {
                continue;
            }
            self.deadline = Some(now + self.options.autologout);
            self.message_complete(now);
        }
    }

    fn flush(&mut self) -> Option<Event> {
        if self.out.is_empty() {
            None
        } else {
            Some(Event::Output(std::mem::take(&mut self.out)))
        }
    }

    fn literal_announced(&mut self, mode: LiteralMode, length: u32) {
        let too_big = length > self.options.max_literal_size;
        match (mode, too_big) {
            (LiteralMode::Sync, false) => self.line("+ OK"),
            (LiteralMode::Sync, true) => {
                let tag = self.frag.decode_tag().map(|t| t.inner().to_string());
                match tag {
                    Some(tag) => {
                        self.line(&format!("{tag} NO [TOOBIG] Literal too large."));
                        self.frag.skip_message();
                    }
                    None => self.frag.poison_message(),
                }
            }
            (LiteralMode::NonSync, true) => self.frag.poison_message(),
            (LiteralMode::NonSync, false) => {}
        }
    }

    fn message_complete(&mut self, now: Instant) {
        if self.frag.is_max_message_size_exceeded() || self.frag.is_message_poisoned() {
            let tag = self.frag.decode_tag().map(|t| t.inner().to_string());
            match tag {
                Some(tag) => self.line(&format!("{tag} NO [TOOBIG] Command or literal too large.")),
                None => self.line("* BAD Command too large."),
            }
            return;
        }
        match &self.mode {
            Mode::Command | Mode::Fetch(_) => {
                let decoded = self
                    .frag
                    .decode_message(&CommandCodec::default())
                    .map(IntoStatic::into_static);
                match decoded {
                    Ok(command) => self.command(command, now),
                    Err(_) => self.undecodable(),
                }
            }
            Mode::Authenticate { .. } => {
                let data = self
                    .frag
                    .decode_message(&AuthenticateDataCodec::default())
                    .map(IntoStatic::into_static);
                self.authenticate_data(data.ok());
            }
            Mode::Idle { tag } => {
                let tag = tag.clone();
                self.mode = Mode::Command;
                self.next_poll = None;
                if self.frag.decode_message(&IdleDoneCodec::default()).is_ok() {
                    self.refresh(true);
                    self.line(&format!("{tag} OK Idle completed."));
                } else {
                    self.line(&format!("{tag} BAD Expected DONE."));
                }
            }
        }
    }

    /// A command the codec refused: an extended LIST we parse ourselves, else BAD.
    fn undecodable(&mut self) {
        let bytes = self.frag.message_bytes().to_vec();
        if let Some(list) = listext::parse(&bytes) {
            if matches!(self.state, State::Authenticated | State::Selected) {
                self.list_extended(&list);
            } else {
                self.line(&format!("{} BAD Not logged in.", list.tag));
            }
            return;
        }
        if let Some((command, returns)) = esearch::parse(&bytes) {
            let tag = command.tag.inner().to_string();
            match (self.state, command.body) {
                (
                    State::Selected,
                    CommandBody::Search {
                        charset,
                        criteria,
                        uid,
                    },
                ) => self.search_returning(
                    &tag,
                    charset.as_ref(),
                    criteria.as_ref(),
                    uid,
                    Some(&returns),
                ),
                _ => self.line(&format!("{tag} BAD No mailbox selected.")),
            }
            return;
        }
        match self.frag.decode_tag().map(|t| t.inner().to_string()) {
            Some(tag) => self.line(&format!(
                "{tag} BAD Error in IMAP command: unknown command or invalid arguments."
            )),
            None => self.line("* BAD Error in IMAP command: no tag."),
        }
    }

    fn command(&mut self, command: Command<'static>, now: Instant) {
        let tag = command.tag.inner().to_string();
        let body = command.body;
        // Commands valid in any state.
        match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.line(&format!("* CAPABILITY {caps}"));
                self.ok(&tag, "Capability completed.");
            }
            CommandBody::Noop => {
                self.refresh(true);
                self.ok(&tag, "NOOP completed.");
            }
            CommandBody::Logout => {
                self.line("* BYE Logging out");
                self.ok(&tag, "Logout completed.");
                self.logout_now();
            }
            CommandBody::Id { .. } => {
                self.line("* ID (\"name\" \"tresor\")");
                self.ok(&tag, "ID completed.");
            }
            body => match self.state {
                State::NotAuthenticated => self.not_authenticated(tag, body),
                State::Authenticated | State::Selected => self.authenticated(tag, body, now),
                State::Logout => {}
            },
        }
    }

    fn not_authenticated(&mut self, tag: String, body: CommandBody<'static>) {
        match body {
            CommandBody::StartTLS if self.options.starttls && !self.peer.tls => {
                self.ok(&tag, "Begin TLS negotiation now.");
                // No byte received before the handshake may be processed (command injection).
                self.frag =
                    Fragmentizer::new(self.options.max_literal_size.saturating_add(MAX_LINE));
                self.events.push_back(Event::StartTls);
            }
            CommandBody::StartTLS => self.line(&format!("{tag} BAD TLS is not available.")),
            CommandBody::Login { username, password } => {
                if !self.plaintext_allowed() {
                    return self.line(&format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."));
                }
                let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                let pass = Zeroizing::new(password.declassify().as_ref().to_vec());
                self.login(&tag, &user, &pass);
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => self.authenticate(tag, &mechanism, initial_response),
            _ => self.line(&format!("{tag} BAD Command not valid before login.")),
        }
    }

    fn plaintext_allowed(&self) -> bool {
        self.peer.tls || self.peer.loopback || self.options.allow_plaintext_auth
    }

    fn authenticate(
        &mut self,
        tag: String,
        mechanism: &AuthMechanism<'static>,
        initial: Option<Secret<std::borrow::Cow<'static, [u8]>>>,
    ) {
        let login = match mechanism {
            AuthMechanism::Plain => false,
            AuthMechanism::Login => true,
            _ => {
                return self.line(&format!("{tag} NO Unsupported authentication mechanism."));
            }
        };
        if !self.plaintext_allowed() {
            return self.line(&format!("{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."));
        }
        self.mode = Mode::Authenticate {
            tag: tag.clone(),
            login,
            username: None,
        };
        match initial {
            Some(data) => {
                let data = Zeroizing::new(data.declassify().to_vec());
                self.sasl_step(&data);
            }
            None if login => self.line("+ VXNlcm5hbWU6"),
            None => self.line("+ "),
        }
    }

    fn authenticate_data(&mut self, data: Option<AuthenticateData<'static>>) {
        match data {
            Some(AuthenticateData::Continue(bytes)) => {
                let bytes = Zeroizing::new(bytes.declassify().to_vec());
                self.sasl_step(&bytes);
            }
            Some(AuthenticateData::Cancel) => {
                if let Mode::Authenticate { tag, .. } =
                    std::mem::replace(&mut self.mode, Mode::Command)
                {
                    self.line(&format!("{tag} BAD Authentication aborted by client."));
                }
            }
            None => {
                if let Mode::Authenticate { tag, .. } =
                    std::mem::replace(&mut self.mode, Mode::Command)
                {
                    self.line(&format!("{tag} BAD Invalid base64 data."));
                }
            }
        }
    }

    /// One decoded SASL client message.
    fn sasl_step(&mut self, data: &[u8]) {
        let Mode::Authenticate {
            tag,
            login,
            username,
        } = std::mem::replace(&mut self.mode, Mode::Command)
        else {
            return;
        };
        if login {
            match username {
                None => {
                    self.mode = Mode::Authenticate {
                        tag,
                        login,
                        username: Some(String::from_utf8_lossy(data).into_owned()),
                    };
                    self.line("+ UGFzc3dvcmQ6");
                }
                Some(user) => self.login(&tag, &user, data),
            }
            return;
        }
        // PLAIN: authzid NUL authcid NUL password.
        let mut parts = data.splitn(3, |&b| b == 0);
        let (authz, authc, pass) = (parts.next(), parts.next(), parts.next());
        match (authz, authc, pass) {
            (Some(authz), Some(authc), Some(pass)) if authz.is_empty() || authz == authc => {
                let user = String::from_utf8_lossy(authc).into_owned();
                self.login(&tag, &user, pass);
            }
            _ => self.line(&format!(
                "{tag} NO [AUTHENTICATIONFAILED] Authentication failed."
            )),
        }
    }

    fn login(&mut self, tag: &str, username: &str, password: &[u8]) {
        match self.auth.login(username, password) {
            Ok(mail) => {
                self.autocreate(mail.as_ref());
                self.mail = Some(mail);
                self.state = State::Authenticated;
                let caps = self.capabilities();
                self.line(&format!("{tag} OK [CAPABILITY {caps}] Logged in"));
            }
            Err(LoginError::Rejected) => {
                self.line(&format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed."));
            }
            Err(LoginError::Unavailable(_)) => self.line(&format!(
                "{tag} NO [UNAVAILABLE] Your mailbox cannot be opened with this password (the encryption key is locked); the administrator has been told."
            )),
            Err(LoginError::TemporaryFailure(_)) => self.line(&format!(
                "{tag} NO [UNAVAILABLE] Temporary authentication failure, try again later."
            )),
        }
    }

    /// Creates and subscribes the configured special-use mailboxes that are missing.
    fn autocreate(&self, mail: &dyn Mail) {
        let Ok(existing) = mail.mailboxes() else {
            return;
        };
        for (name, _) in &self.options.autocreate {
            if !existing.iter().any(|e| e == name) && mail.create(name).is_ok() {
                let _ = mail.subscribe(name, true);
            }
        }
    }

    fn authenticated(&mut self, tag: String, body: CommandBody<'static>, now: Instant) {
        match body {
            CommandBody::Login { .. } | CommandBody::Authenticate { .. } => {
                self.line(&format!("{tag} BAD Already logged in."));
            }
            CommandBody::StartTLS => self.line(&format!("{tag} BAD Already logged in.")),
            CommandBody::Idle => {
                self.refresh(true);
                self.line("+ idling");
                self.mode = Mode::Idle { tag };
                self.next_poll = Some(now + self.options.idle_poll);
            }
            body => self.mailbox_command(tag, body),
        }
    }

    /// Starts a FETCH that produces its responses one message per [`Self::next`] step.
    pub(crate) fn start_fetch(&mut self, fetching: Fetching) {
        self.mode = Mode::Fetch(Box::new(fetching));
    }

    fn fetch_step(&mut self) {
        let Mode::Fetch(mut job) = std::mem::replace(&mut self.mode, Mode::Command) else {
            return;
        };
        if self.fetch_one(&mut job) {
            self.mode = Mode::Fetch(job);
        }
    }

    pub(crate) fn logout_now(&mut self) {
        self.selected = None;
        self.mail = None; // drops the unlocked keys (zeroized)
        self.state = State::Logout;
        self.mode = Mode::Command;
        self.next_poll = None;
        self.deadline = None;
        self.events.push_back(Event::Closed);
    }

    /// The CAPABILITY list for the current state.
    pub(crate) fn capabilities(&self) -> String {
        let mut caps = String::from("IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE");
        if self.state == State::NotAuthenticated {
            if self.options.starttls && !self.peer.tls {
                caps.push_str(" STARTTLS");
            }
            if self.plaintext_allowed() {
                caps.push_str(" AUTH=PLAIN AUTH=LOGIN");
            } else {
                caps.push_str(" LOGINDISABLED");
            }
        } else {
            caps.push_str(
                " SORT UIDPLUS MOVE UNSELECT NAMESPACE CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS QUOTA CONDSTORE ESEARCH",
            );
        }
        caps
    }

    /// RFC 7162 §3.1: a CONDSTORE-enabling command (FETCH MODSEQ, CHANGEDSINCE, SEARCH
    /// MODSEQ, UNCHANGEDSINCE) turns CONDSTORE on and reports the mailbox's HIGHESTMODSEQ.
    pub(crate) fn enable_condstore_implicitly(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let Some(highest) = self.selected.as_ref().map(|s| s.highest_modseq) {
            self.line(&format!("* OK [HIGHESTMODSEQ {highest}] Highest"));
        }
    }

    /// Writes one response line (CRLF added).
    pub(crate) fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// `tag OK text`.
    pub(crate) fn ok(&mut self, tag: &str, text: &str) {
        self.line(&format!("{tag} OK {text}"));
    }

    /// The tagged NO/BAD for a failed mail operation.
    pub(crate) fn fail(&mut self, tag: &str, error: &crate::backend::MailError) {
        let text = reply::reply_for_mail(error);
        self.line(&format!("{tag} {text}"));
    }
}

/// Output is handed to the driver once it reaches this size (keeps per-session memory small).
const FLUSH_AT: usize = 64 * 1024;
/// Room for the command line around the largest literal.
const MAX_LINE: u32 = 64 * 1024;
