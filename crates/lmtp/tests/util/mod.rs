//! Transcript harness: feeds client bytes to a [`Session`] and answers its events from
//! scripted verdicts and outcomes, collecting the exact server bytes.

#![allow(dead_code)]

use std::collections::HashMap;

use lmtp::{DeliveryOutcome, Envelope, Event, RcptId, RcptVerdict, Session, SessionConfig};

/// A session with scripted answers.
pub(crate) struct Harness {
    pub(crate) session: Session,
    /// Server bytes not yet taken by [`Harness::take_output`].
    pub(crate) output: Vec<u8>,
    /// Deliveries seen: envelope and message.
    pub(crate) delivered: Vec<(Envelope, Vec<u8>)>,
    /// Addresses checked, in order.
    pub(crate) checked: Vec<String>,
    pub(crate) closed: bool,
    /// Verdicts by address; anything else is accepted.
    pub(crate) verdicts: HashMap<String, RcptVerdict>,
    /// Outcomes by address; anything else is delivered.
    pub(crate) outcomes: HashMap<String, DeliveryOutcome>,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(config())
    }

    pub(crate) fn with_config(config: SessionConfig) -> Self {
        let mut h = Self {
            session: Session::new(config),
            output: Vec::new(),
            delivered: Vec::new(),
            checked: Vec::new(),
            closed: false,
            verdicts: HashMap::new(),
            outcomes: HashMap::new(),
        };
        h.drain();
        h
    }

    pub(crate) fn verdict(mut self, address: &str, verdict: RcptVerdict) -> Self {
        self.verdicts.insert(address.into(), verdict);
        self
    }

    pub(crate) fn outcome(mut self, address: &str, outcome: DeliveryOutcome) -> Self {
        self.outcomes.insert(address.into(), outcome);
        self
    }

    /// Feeds bytes in one chunk and answers every event.
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        self.session.enqueue_input(bytes);
        self.drain();
    }

    /// Feeds bytes one at a time, answering events after each.
    pub(crate) fn send_bytewise(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.send(std::slice::from_ref(b));
        }
    }

    /// Sends and returns the server's reply bytes as a string.
    pub(crate) fn exchange(&mut self, bytes: &str) -> String {
        self.send(bytes.as_bytes());
        self.take_output()
    }

    pub(crate) fn take_output(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.output)).unwrap()
    }

    pub(crate) fn drain(&mut self) {
        while let Some(event) = self.session.next() {
            assert!(!self.closed, "event after Closed: {event:?}");
            match event {
                Event::Output(bytes) => self.output.extend_from_slice(&bytes),
                Event::CheckRecipient { id, address } => {
                    self.checked.push(address.clone());
                    let verdict = self
                        .verdicts
                        .get(&address)
                        .cloned()
                        .unwrap_or(RcptVerdict::Accepted);
                    self.session.recipient_checked(id, verdict).unwrap();
                }
                Event::Deliver { envelope, message } => {
                    let outcomes: Vec<(RcptId, DeliveryOutcome)> = envelope
                        .recipients
                        .iter()
                        .map(|r| {
                            let outcome = self.outcomes.get(&r.address).cloned().unwrap_or(
                                DeliveryOutcome::Delivered {
                                    detail: String::new(),
                                },
                            );
                            (r.id, outcome)
                        })
                        .collect();
                    self.delivered.push((envelope, message));
                    self.session.delivered(outcomes).unwrap();
                }
                Event::Closed => self.closed = true,
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
}

pub(crate) fn config() -> SessionConfig {
    let mut c = SessionConfig::new("mx.example.org");
    c.max_message_size = 1000;
    c.max_recipients = 3;
    c.max_line_length = 512;
    c
}

pub(crate) const GREETING: &str = "220 mx.example.org LMTP ready\r\n";
pub(crate) const LHLO_REPLY: &str = "250-mx.example.org\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n\
                              250-8BITMIME\r\n250-SIZE 1000\r\n250 CHUNKING\r\n";

/// A harness past the greeting and LHLO.
pub(crate) fn greeted() -> Harness {
    let mut h = Harness::new();
    assert_eq!(h.take_output(), GREETING);
    assert_eq!(h.exchange("LHLO postfix.example.org\r\n"), LHLO_REPLY);
    h
}
