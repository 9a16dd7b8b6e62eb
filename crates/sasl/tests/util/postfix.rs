//! A stand-in for Postfix's Dovecot SASL client (`src/xsasl/xsasl_dovecot_server.c`),
//! written from what that file does on the wire:
//!
//! - On connecting it sends, in one write, `VERSION 1 0` and `CPID <its pid>` (it speaks
//!   protocol 1.0), then reads lines up to `DONE`. A `VERSION` with another major version, or a
//!   `SPID` before any `MECH` line (which it takes for the auth-master socket), is a failed
//!   handshake; `MECH` lines flagged `private` are skipped; other lines are ignored.
//! - For each SMTP AUTH it checks the mechanism against that list (ignoring case) and that an
//!   initial response uses only base64 characters, then sends
//!   `AUTH <n> <mech as typed> service=smtp nologin lip=<server ip> rip=<client ip>`,
//!   `secured` when the SMTP session is TLS, and `resp=<initial response>` last. `<n>` counts
//!   up per process, across SMTP sessions, on the same connection.
//! - It then reads lines, ignoring any whose id is not `<n>` and any other command: `OK` must
//!   carry `user=` (its SASL username); `CONT` carries the base64 challenge it relays as
//!   `334 <challenge>`, and the SMTP client's answer goes back as `CONT <n> <answer>`; `FAIL`
//!   may carry `reason=`, shown after "authentication failed:". End of input is a temporary
//!   failure. Each read waits at most 10 s (`AUTH_TIMEOUT`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// How Postfix's client reaches the server.
pub(crate) trait Transport {
    fn send(&mut self, bytes: &[u8]);
    /// The next line without its LF, or `None` at end of input or timeout.
    fn read_line(&mut self) -> Option<String>;
}

/// What `xsasl_dovecot_server_first`/`_next` report to smtpd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `OK`: authenticated as this SASL username.
    Done(String),
    /// `CONT`: send `334 <challenge>` to the SMTP client.
    More(String),
    /// `FAIL`: `535 … authentication failed: <reason>`.
    Fail(String),
    /// Connection lost or broken reply: `454` temporary failure.
    Temp(String),
}

pub(crate) struct PostfixClient<T> {
    transport: T,
    pub(crate) mechanisms: Vec<String>,
    counter: u32,
    last_id: u32,
}

impl<T: Transport> PostfixClient<T> {
    /// The handshake of `xsasl_dovecot_server_connect`.
    pub(crate) fn connect(mut transport: T, pid: u32) -> Result<Self, String> {
        transport.send(format!("VERSION\t1\t0\nCPID\t{pid}\n").as_bytes());
        let mut mechanisms = Vec::new();
        let mut saw_mech = false;
        while let Some(line) = transport.read_line() {
            let mut fields = line.split('\t');
            match fields.next() {
                Some("VERSION") => {
                    let major: Option<u32> = fields.next().and_then(|v| v.parse().ok());
                    let minor: Option<u32> = fields.next().and_then(|v| v.parse().ok());
                    if minor.is_none() || major != Some(1) {
                        return Err(format!("protocol version error: {line}"));
                    }
                }
                Some("MECH") => {
                    let Some(name) = fields.next() else { continue };
                    saw_mech = true;
                    if !fields.any(|flag| flag.eq_ignore_ascii_case("private")) {
                        mechanisms.push(name.to_owned());
                    }
                }
                Some("SPID") if !saw_mech => return Err("connected to auth-master".into()),
                Some("DONE") => {
                    return Ok(Self {
                        transport,
                        mechanisms,
                        counter: 0,
                        last_id: 0,
                    });
                }
                _ => {}
            }
        }
        Err("handshake cut short".into())
    }

    /// `xsasl_dovecot_server_first`.
    pub(crate) fn first(
        &mut self,
        mechanism: &str,
        initial: Option<&str>,
        lip: &str,
        rip: &str,
        tls: bool,
    ) -> Reply {
        if !self
            .mechanisms
            .iter()
            .any(|m| m.eq_ignore_ascii_case(mechanism))
        {
            return Reply::Fail("Invalid authentication mechanism".into());
        }
        if initial.is_some_and(|i| !is_base64_chars(i)) {
            return Reply::Fail("Invalid base64 data in initial response".into());
        }
        self.counter += 1;
        self.last_id = self.counter;
        let mut line = format!(
            "AUTH\t{}\t{mechanism}\tservice=smtp\tnologin\tlip={lip}\trip={rip}",
            self.last_id
        );
        if tls {
            line.push_str("\tsecured");
        }
        if let Some(initial) = initial {
            line.push_str("\tresp=");
            line.push_str(initial);
        }
        line.push('\n');
        self.transport.send(line.as_bytes());
        self.handle_reply()
    }

    /// `xsasl_dovecot_server_next`.
    pub(crate) fn next(&mut self, response: &str) -> Reply {
        if !is_base64_chars(response) {
            return Reply::Fail("Invalid base64 data in continued response".into());
        }
        let line = format!("CONT\t{}\t{response}\n", self.last_id);
        self.transport.send(line.as_bytes());
        self.handle_reply()
    }

    fn handle_reply(&mut self) -> Reply {
        while let Some(line) = self.transport.read_line() {
            let mut fields = line.split('\t');
            let command = fields.next().unwrap_or_default();
            let Some(id) = fields.next() else {
                return Reply::Temp("protocol error".into());
            };
            if id.parse::<u32>().ok() != Some(self.last_id) {
                continue;
            }
            let args: Vec<&str> = fields.collect();
            let field = |name: &str| {
                args.iter()
                    .find_map(|a| a.strip_prefix(name).map(str::to_owned))
            };
            match command {
                "OK" => {
                    return match field("user=") {
                        Some(user) => Reply::Done(user),
                        None => Reply::Fail("Authentication backend error".into()),
                    };
                }
                "CONT" => return Reply::More(args.first().copied().unwrap_or_default().into()),
                "FAIL" => return Reply::Fail(field("reason=").unwrap_or_default()),
                _ => {}
            }
        }
        Reply::Temp("Connection lost to authentication server".into())
    }
}

fn is_base64_chars(data: &str) -> bool {
    data.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// A blocking unix socket, with Postfix's 10 s read timeout.
pub(crate) struct SocketTransport {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl SocketTransport {
    pub(crate) fn new(stream: UnixStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set timeout");
        let writer = stream.try_clone().expect("clone stream");
        Self {
            reader: BufReader::new(stream),
            writer,
        }
    }
}

impl Transport for SocketTransport {
    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to server");
    }

    fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_owned()),
        }
    }
}

/// Lines already received, for transports that produce whole replies at once.
#[derive(Default)]
pub(crate) struct Lines(pub(crate) VecDeque<String>);

impl Lines {
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        self.0.extend(text.lines().map(str::to_owned));
    }
}
