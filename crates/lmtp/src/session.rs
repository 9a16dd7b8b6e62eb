//! The LMTP server session (RFC 2033): bytes in, replies and requests for the driver out.
//!
//! No sockets, no tokio, no clock, no files: the driver ([`crate::listen`] or a test) feeds
//! client bytes in with [`Session::enqueue_input`] and acts on each [`Event`] from
//! [`Session::next`]. Commands are parsed with smtp-proto on complete lines; DATA is
//! dot-unstuffed with smtp-proto's `DataReceiver`, BDAT chunks are counted with its
//! `BdatReceiver`.

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::time::Duration;

use smtp_proto::request::receiver::{BdatReceiver, DataReceiver};
use smtp_proto::{MAIL_BODY_BINARYMIME, Request};

use crate::event::{ApiMisuse, DeliveryOutcome, Envelope, Event, RcptId, RcptVerdict, Recipient};
use crate::reply::Reply;

/// Settings of one session. Start from [`SessionConfig::new`] or `Default` and set fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SessionConfig {
    /// This server's name, used in the greeting, the LHLO reply and 421 replies.
    pub hostname: String,
    /// Largest message accepted, in octets after dot-unstuffing (advertised as `SIZE`).
    pub max_message_size: usize,
    /// Most recipients accepted in one transaction; more get `452 4.5.3`.
    pub max_recipients: usize,
    /// Longest command line, CRLF included; longer lines get `500 5.5.2`.
    pub max_line_length: usize,
    /// Invalid commands tolerated before the session says `421` and closes.
    pub max_bad_commands: u32,
    /// How long the driver waits for client input before calling
    /// [`Session::handle_idle_timeout`]. The session itself never reads a clock.
    pub idle_timeout: Duration,
    /// Answer a full mailbox with `452 4.2.2` (try again later) instead of `552 5.2.2`
    /// (bounce), like Dovecot's `quota_full_tempfail = yes`.
    pub quota_full_tempfail: bool,
}

impl SessionConfig {
    /// Defaults with `hostname` as this server's name.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            ..Self::default()
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            max_message_size: 64 * 1024 * 1024,
            max_recipients: 100,
            max_line_length: 4096,
            max_bad_commands: 20,
            idle_timeout: Duration::from_secs(5 * 60),
            quota_full_tempfail: false,
        }
    }
}

/// One LMTP server session, as a state machine without IO.
///
/// # Call order
///
/// 1. [`Session::new`] queues the greeting.
/// 2. Loop:
///    - drain [`Session::next`] until it returns `None`, acting on each [`Event`] as it comes:
///      write [`Event::Output`]; answer [`Event::CheckRecipient`] with
///      [`Session::recipient_checked`] and [`Event::Deliver`] with [`Session::delivered`]
///      *before* calling `next` again (until answered, `next` returns `None`); on
///      [`Event::Closed`] close the connection and stop;
///    - then read from the client and pass the bytes to [`Session::enqueue_input`], in any
///      chunking (one byte at a time works);
///    - if nothing arrives for [`SessionConfig::idle_timeout`], call
///      [`Session::handle_idle_timeout`] instead, and drain `next` once more.
/// 3. To stop the server gracefully call [`Session::shutdown`]: the session finishes the
///    transaction in progress (if any), then says `421` and closes.
///
/// Replies come out in command order, so pipelined commands (RFC 2920) may arrive in one
/// chunk. After DATA (or BDAT LAST) there is exactly one reply per accepted recipient, in
/// RCPT order (RFC 2033 §4.2).
pub struct Session {
    config: SessionConfig,
    /// Unprocessed client bytes are `input[start..]`.
    input: Vec<u8>,
    start: usize,
    /// `input[start..scanned]` holds no LF.
    scanned: usize,
    phase: Phase,
    lhlo: Option<String>,
    transaction: Option<Transaction>,
    transactions: u32,
    next_rcpt: u64,
    bad_commands: u32,
    shutdown: bool,
    events: VecDeque<Event>,
}

impl Session {
    /// A new session; its first event is the `220` greeting.
    pub fn new(config: SessionConfig) -> Self {
        let mut session = Self {
            config,
            input: Vec::new(),
            start: 0,
            scanned: 0,
            phase: Phase::Command,
            lhlo: None,
            transaction: None,
            transactions: 0,
            next_rcpt: 1,
            bad_commands: 0,
            shutdown: false,
            events: VecDeque::new(),
        };
        session.reply(&Reply::greeting(&session.config.hostname));
        session
    }

    // --- getters ---

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The name the client gave in LHLO, once it has.
    pub fn lhlo_name(&self) -> Option<&str> {
        self.lhlo.as_deref()
    }

    /// Whether a mail transaction (MAIL FROM until its end) is in progress.
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    /// Whether the session is over (after [`Event::Closed`] has been queued).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    // --- input ---

    /// Client bytes, in any chunking. Ignored once the session is closed.
    pub fn enqueue_input(&mut self, bytes: &[u8]) {
        if !self.is_closed() {
            self.input.extend_from_slice(bytes);
        }
    }

    /// The client sent nothing for [`SessionConfig::idle_timeout`]: say `421 4.4.2` and close.
    pub fn handle_idle_timeout(&mut self) {
        if !self.is_closed() {
            self.reply(&Reply::idle_timeout(&self.config.hostname));
            self.close();
        }
    }

    /// The server is stopping: finish the transaction in progress, then say `421 4.3.2` and
    /// close (at once when no transaction is in progress).
    pub fn shutdown(&mut self) {
        self.shutdown = true;
    }

    // --- answers to events ---

    /// The answer to [`Event::CheckRecipient`]: queues the RCPT reply.
    pub fn recipient_checked(&mut self, id: RcptId, verdict: RcptVerdict) -> Result<(), ApiMisuse> {
        let Phase::CheckRecipient { id: pending, .. } = &self.phase else {
            return Err(ApiMisuse::NoSuchCheck(id));
        };
        if *pending != id {
            return Err(ApiMisuse::NoSuchCheck(id));
        }
        let Phase::CheckRecipient { address, .. } = mem::replace(&mut self.phase, Phase::Command)
        else {
            return Err(ApiMisuse::NoSuchCheck(id));
        };
        self.reply(&Reply::for_verdict(&address, &verdict));
        if verdict == RcptVerdict::Accepted
            && let Some(transaction) = &mut self.transaction
        {
            transaction.recipients.push(Recipient { address, id });
        }
        Ok(())
    }

    /// The answer to [`Event::Deliver`]: one outcome per recipient, in any order. Queues one
    /// reply per recipient in RCPT order and ends the transaction.
    ///
    /// A recipient without an outcome is answered `451 4.3.0` (so the client retries it) and
    /// reported in the error; outcomes for unknown ids are ignored.
    pub fn delivered(&mut self, outcomes: Vec<(RcptId, DeliveryOutcome)>) -> Result<(), ApiMisuse> {
        if !matches!(self.phase, Phase::Deliver { .. }) {
            return Err(ApiMisuse::NoDelivery);
        }
        let Phase::Deliver { recipients } = mem::replace(&mut self.phase, Phase::Command) else {
            return Err(ApiMisuse::NoDelivery);
        };
        let mut missing = Vec::new();
        for recipient in &recipients {
            let outcome = outcomes
                .iter()
                .find(|(id, _)| *id == recipient.id)
                .map(|(_, outcome)| outcome);
            let reply = match outcome {
                Some(outcome) => {
                    Reply::for_outcome(&recipient.address, outcome, self.config.quota_full_tempfail)
                }
                None => {
                    missing.push(recipient.id);
                    Reply::for_outcome(
                        &recipient.address,
                        &DeliveryOutcome::TempFail(String::new()),
                        false,
                    )
                }
            };
            self.reply(&reply);
        }
        self.transaction = None;
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiMisuse::MissingOutcomes(missing))
        }
    }

    // --- output ---

    /// The next thing the driver must do, or `None` when the session needs more input (or an
    /// answer to the last event).
    #[allow(clippy::should_implement_trait)] // not an iterator: `None` is not the end
    pub fn next(&mut self) -> Option<Event> {
        self.advance();
        self.events.pop_front()
    }
}

// --- the state machine ---

enum Phase {
    /// Waiting for the verdict on a RCPT.
    CheckRecipient {
        id: RcptId,
        address: String,
    },
    Closed,
    /// Reading command lines.
    Command,
    /// Reading a BDAT chunk; `refusal` is the reply when the chunk is to be thrown away.
    Chunk {
        receiver: BdatReceiver,
        size: usize,
        refusal: Option<Reply>,
    },
    /// Reading DATA up to the final dot.
    Data(DataReceiver),
    /// Waiting for the delivery outcomes.
    Deliver {
        recipients: Vec<Recipient>,
    },
    /// Throwing away the rest of an overlong line.
    DiscardLine,
}

struct Transaction {
    mail_from: String,
    number: u32,
    recipients: Vec<Recipient>,
    message: Vec<u8>,
    /// The message went over the size limit; its bytes are being thrown away.
    too_big: bool,
    /// BDAT was used: DATA and RCPT are out of sequence now.
    chunked: bool,
}

impl Session {
    /// Processes input until the session needs more of it, waits for the driver, or closes.
    fn advance(&mut self) {
        loop {
            let progressed = match self.phase {
                Phase::CheckRecipient { .. } | Phase::Closed | Phase::Deliver { .. } => false,
                Phase::Command => self.command(),
                Phase::DiscardLine => self.discard_line(),
                Phase::Data(_) => self.data(),
                Phase::Chunk { .. } => self.chunk(),
            };
            if !progressed {
                break;
            }
        }
        self.compact();
    }

    fn command(&mut self) -> bool {
        if self.shutdown && self.transaction.is_none() {
            self.reply(&Reply::shutting_down(&self.config.hostname));
            self.close();
            return false;
        }
        let pending = self.input.get(self.scanned..).unwrap_or_default();
        let Some(lf) = pending.iter().position(|&b| b == b'\n') else {
            self.scanned = self.input.len();
            if self.scanned - self.start > self.config.max_line_length {
                self.phase = Phase::DiscardLine;
                self.start = self.input.len();
                self.scanned = self.start;
                return true;
            }
            return false;
        };
        let end = self.scanned + lf + 1;
        let line = self.input.get(self.start..end).unwrap_or_default().to_vec();
        self.start = end;
        self.scanned = end;
        if line.len() > self.config.max_line_length {
            self.bad_command(&Reply::line_too_long());
        } else {
            self.line(&line);
        }
        true
    }

    fn discard_line(&mut self) -> bool {
        let pending = self.input.get(self.start..).unwrap_or_default();
        match pending.iter().position(|&b| b == b'\n') {
            Some(lf) => {
                self.start += lf + 1;
                self.scanned = self.start;
                self.phase = Phase::Command;
                self.bad_command(&Reply::line_too_long());
                true
            }
            None => {
                self.start = self.input.len();
                self.scanned = self.start;
                false
            }
        }
    }

    /// One complete command line (ending in LF; CRLF or a bare LF).
    fn line(&mut self, line: &[u8]) {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(error) => {
                self.bad_command(&Reply::for_parse_error(&error));
                return;
            }
        };
        match request {
            Request::Lhlo { host } => {
                self.lhlo = Some(host.into_owned());
                self.transaction = None;
                self.good(&Reply::capabilities(
                    &self.config.hostname,
                    self.config.max_message_size,
                ));
            }
            Request::Ehlo { .. } | Request::Helo { .. } => {
                self.bad_command(&Reply::lhlo_required())
            }
            Request::Mail { from } => self.mail(from.address.into_owned(), from.size, from.flags),
            Request::Rcpt { to } => self.rcpt(to.address.into_owned()),
            Request::Data => self.start_data(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.start_chunk(chunk_size, is_last),
            Request::Rset => {
                self.transaction = None;
                self.good(&Reply::ok());
            }
            Request::Noop { .. } => self.good(&Reply::ok()),
            Request::Vrfy { .. } => self.good(&Reply::vrfy()),
            Request::Quit => {
                self.reply(&Reply::bye());
                self.close();
            }
            Request::Auth { .. }
            | Request::Expn { .. }
            | Request::Help { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. }
            | Request::StartTls => self.bad_command(&Reply::not_implemented()),
        }
    }

    fn mail(&mut self, mail_from: String, size: usize, flags: u64) {
        if self.lhlo.is_none() {
            return self.bad_command(&Reply::bad_sequence("Send LHLO first"));
        }
        if self.transaction.is_some() {
            return self.bad_command(&Reply::bad_sequence("Nested MAIL command"));
        }
        if flags & MAIL_BODY_BINARYMIME != 0 {
            return self.bad_command(&Reply::body_not_supported());
        }
        if size > self.config.max_message_size {
            return self.good(&Reply::message_too_big());
        }
        self.transactions = self.transactions.saturating_add(1);
        self.transaction = Some(Transaction {
            mail_from,
            number: self.transactions,
            recipients: Vec::new(),
            message: Vec::new(),
            too_big: false,
            chunked: false,
        });
        self.good(&Reply::sender_ok());
    }

    fn rcpt(&mut self, address: String) {
        let Some(transaction) = &self.transaction else {
            return self.bad_command(&Reply::bad_sequence("MAIL needed first"));
        };
        if transaction.chunked {
            return self.bad_command(&Reply::bad_sequence("RCPT not allowed after BDAT"));
        }
        if address.is_empty() {
            return self.bad_command(&Reply::for_parse_error(
                &smtp_proto::Error::InvalidRecipientAddress,
            ));
        }
        if transaction.recipients.len() >= self.config.max_recipients {
            return self.good(&Reply::too_many_recipients());
        }
        self.bad_commands = 0;
        let id = RcptId(self.next_rcpt);
        self.next_rcpt += 1;
        self.events.push_back(Event::CheckRecipient {
            id,
            address: address.clone(),
        });
        self.phase = Phase::CheckRecipient { id, address };
    }

    fn start_data(&mut self) {
        let Some(transaction) = &self.transaction else {
            return self.bad_command(&Reply::bad_sequence("MAIL needed first"));
        };
        if transaction.chunked {
            return self.bad_command(&Reply::bad_sequence("DATA not allowed after BDAT"));
        }
        if transaction.recipients.is_empty() {
            return self.good(&Reply::no_valid_recipients());
        }
        let mut receiver = DataReceiver::new();
        // The receiver only sees a final dot or a stuffed dot right after CRLF; the DATA
        // line's own CRLF primes it so an empty message (".") and a first line starting with
        // a dot are handled too. The two primed bytes go to a scratch buffer.
        receiver.ingest(&mut b"\r\n".iter(), &mut Vec::new());
        self.good(&Reply::start_data());
        self.phase = Phase::Data(receiver);
    }

    fn start_chunk(&mut self, size: usize, last: bool) {
        let refusal = match &mut self.transaction {
            None if self.lhlo.is_none() => Some(Reply::bad_sequence("Send LHLO first")),
            None => Some(Reply::bad_sequence("MAIL needed first")),
            Some(t) if t.recipients.is_empty() => Some(Reply::no_valid_recipients()),
            Some(t) => {
                t.chunked = true;
                None
            }
        };
        self.phase = Phase::Chunk {
            receiver: BdatReceiver::new(size, last),
            size,
            refusal,
        };
    }

    /// Feeds input to the DATA receiver; at the final dot, ends the message.
    fn data(&mut self) -> bool {
        let Phase::Data(receiver) = &mut self.phase else {
            return false;
        };
        let Some(transaction) = &mut self.transaction else {
            // cannot happen: DATA starts only inside a transaction
            self.phase = Phase::Command;
            return true;
        };
        let pending = self.input.get(self.start..).unwrap_or_default();
        let mut bytes = pending.iter();
        let done = if transaction.too_big {
            receiver.ingest(&mut bytes, &mut Vec::new())
        } else {
            receiver.ingest(&mut bytes, &mut transaction.message)
        };
        let consumed = pending.len() - bytes.len();
        self.start += consumed;
        self.scanned = self.start;
        mark_if_too_big(transaction, self.config.max_message_size);
        if done {
            self.phase = Phase::Command;
            self.end_message();
        }
        done
    }

    /// Feeds input to the BDAT receiver; at the chunk's end, replies or ends the message.
    fn chunk(&mut self) -> bool {
        let Phase::Chunk {
            receiver, refusal, ..
        } = &mut self.phase
        else {
            return false;
        };
        let pending = self.input.get(self.start..).unwrap_or_default();
        let mut bytes = pending.iter();
        let done = match &mut self.transaction {
            Some(t) if refusal.is_none() && !t.too_big => {
                let done = receiver.ingest(&mut bytes, &mut t.message);
                mark_if_too_big(t, self.config.max_message_size);
                done
            }
            _ => receiver.ingest(&mut bytes, &mut Vec::new()),
        };
        let consumed = pending.len() - bytes.len();
        self.start += consumed;
        self.scanned = self.start;
        if !done {
            return false;
        }
        let Phase::Chunk {
            receiver,
            size,
            refusal,
        } = mem::replace(&mut self.phase, Phase::Command)
        else {
            return true;
        };
        match refusal {
            Some(reply) => self.reply(&reply),
            None if receiver.is_last => self.end_message(),
            None if self.transaction.as_ref().is_some_and(|t| t.too_big) => {
                self.reply(&Reply::message_too_big())
            }
            None => self.reply(&Reply::chunk_received(size)),
        }
        true
    }

    /// The message is complete: hand it to the driver, or refuse it when too big.
    fn end_message(&mut self) {
        let Some(transaction) = self.transaction.take() else {
            return;
        };
        if transaction.too_big {
            for recipient in &transaction.recipients {
                self.reply(&Reply::recipient_message_too_big(&recipient.address));
            }
            return;
        }
        let envelope = Envelope {
            mail_from: transaction.mail_from,
            recipients: transaction.recipients.clone(),
            lhlo: self.lhlo.clone().unwrap_or_default(),
            transaction: transaction.number,
        };
        self.events.push_back(Event::Deliver {
            envelope,
            message: transaction.message,
        });
        self.phase = Phase::Deliver {
            recipients: transaction.recipients,
        };
    }

    /// A reply to a valid command.
    fn good(&mut self, reply: &Reply) {
        self.bad_commands = 0;
        self.reply(reply);
    }

    /// A reply to an invalid command; too many in a row close the session.
    fn bad_command(&mut self, reply: &Reply) {
        self.reply(reply);
        self.bad_commands = self.bad_commands.saturating_add(1);
        if self.bad_commands >= self.config.max_bad_commands {
            self.reply(&Reply::too_many_errors(&self.config.hostname));
            self.close();
        }
    }

    /// Queues reply bytes, joined to output already queued when nothing is in between.
    fn reply(&mut self, reply: &Reply) {
        if let Some(Event::Output(out)) = self.events.back_mut() {
            reply.encode(out);
        } else {
            let mut out = Vec::new();
            reply.encode(&mut out);
            self.events.push_back(Event::Output(out));
        }
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.transaction = None;
        self.input.clear();
        self.start = 0;
        self.scanned = 0;
        self.events.push_back(Event::Closed);
    }

    /// Drops processed input.
    fn compact(&mut self) {
        if self.start > 0 {
            self.input.drain(..self.start.min(self.input.len()));
            self.scanned = self.scanned.saturating_sub(self.start);
            self.start = 0;
        }
    }
}

// Debug output never shows raw input (mail plaintext must not reach logs).

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.phase)
            .field("lhlo", &self.lhlo)
            .field("in_transaction", &self.transaction.is_some())
            .field("transactions", &self.transactions)
            .field("buffered_input_len", &(self.input.len() - self.start))
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CheckRecipient { id, .. } => write!(f, "CheckRecipient({id})"),
            Self::Closed => f.write_str("Closed"),
            Self::Command => f.write_str("Command"),
            Self::Chunk { size, .. } => write!(f, "Chunk({size})"),
            Self::Data(_) => f.write_str("Data"),
            Self::Deliver { recipients } => write!(f, "Deliver({} recipients)", recipients.len()),
            Self::DiscardLine => f.write_str("DiscardLine"),
        }
    }
}

/// Once a message is over the limit, its bytes are dropped and only counted as gone.
fn mark_if_too_big(transaction: &mut Transaction, max: usize) {
    if !transaction.too_big && transaction.message.len() > max {
        transaction.too_big = true;
        transaction.message = Vec::new();
    }
}
