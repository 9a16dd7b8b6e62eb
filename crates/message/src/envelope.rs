//! RFC 3501 ENVELOPE, shaped as Dovecot 2.3 sends it (`imap-envelope.c`,
//! `message-part-data.c`).

use imap_codec::imap_types::envelope::{Address, Envelope};

use crate::header::{clean_value, fields};
use crate::imapstr::{nhuman, nstring};
use crate::rfc822::{Addr, parse_addresses};

/// The envelope fields of the header block `raw[start..end]`, raw (not decoded).
#[derive(Debug, Default)]
pub(crate) struct RawEnvelope {
    pub(crate) date: Option<Vec<u8>>,
    pub(crate) subject: Option<Vec<u8>>,
    pub(crate) from: Option<Vec<Addr>>,
    pub(crate) sender: Option<Vec<Addr>>,
    pub(crate) reply_to: Option<Vec<Addr>>,
    pub(crate) to: Option<Vec<Addr>>,
    pub(crate) cc: Option<Vec<Addr>>,
    pub(crate) bcc: Option<Vec<Addr>>,
    pub(crate) in_reply_to: Option<Vec<u8>>,
    pub(crate) message_id: Option<Vec<u8>>,
}

/// Reads the envelope headers. As Dovecot does: a repeated string field keeps its last
/// value; repeated address fields are merged as if comma-separated.
pub(crate) fn read(raw: &[u8], start: usize, end: usize) -> RawEnvelope {
    let mut env = RawEnvelope::default();
    for f in fields(raw, start, end) {
        let name = f.name(raw);
        let slot_str = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let value = f.raw_value(raw);
        let addr_slot = if slot_str("From") {
            Some(&mut env.from)
        } else if slot_str("Sender") {
            Some(&mut env.sender)
        } else if slot_str("Reply-To") {
            Some(&mut env.reply_to)
        } else if slot_str("To") {
            Some(&mut env.to)
        } else if slot_str("Cc") {
            Some(&mut env.cc)
        } else if slot_str("Bcc") {
            Some(&mut env.bcc)
        } else {
            None
        };
        if let Some(slot) = addr_slot {
            let cleaned = clean_value(value);
            slot.get_or_insert_with(Vec::new)
                .extend(parse_addresses(&cleaned));
            continue;
        }
        let str_slot = if slot_str("Date") {
            &mut env.date
        } else if slot_str("Subject") {
            &mut env.subject
        } else if slot_str("In-Reply-To") {
            &mut env.in_reply_to
        } else if slot_str("Message-ID") {
            &mut env.message_id
        } else {
            continue;
        };
        *str_slot = Some(clean_value(value));
    }
    env
}

/// Builds the imap-types ENVELOPE from raw fields.
pub(crate) fn build(env: &RawEnvelope) -> Envelope<'static> {
    let from = addresses(env.from.as_deref());
    let sender = match env.sender.as_deref() {
        Some(s) if !s.is_empty() => addresses(Some(s)),
        _ => from.clone(),
    };
    let reply_to = match env.reply_to.as_deref() {
        Some(s) if !s.is_empty() => addresses(Some(s)),
        _ => from.clone(),
    };
    Envelope {
        date: nstring(env.date.as_deref()),
        subject: nhuman(env.subject.as_deref()),
        from,
        sender,
        reply_to,
        to: addresses(env.to.as_deref()),
        cc: addresses(env.cc.as_deref()),
        bcc: addresses(env.bcc.as_deref()),
        in_reply_to: nstring(env.in_reply_to.as_deref()),
        message_id: nstring(env.message_id.as_deref()),
    }
}

fn addresses(list: Option<&[Addr]>) -> Vec<Address<'static>> {
    list.unwrap_or_default()
        .iter()
        .map(|a| Address {
            name: nhuman(a.name.as_deref()),
            adl: nstring(a.route.as_deref()),
            mailbox: nstring(a.mailbox.as_deref()),
            host: nstring(a.host.as_deref()),
        })
        .collect()
}
