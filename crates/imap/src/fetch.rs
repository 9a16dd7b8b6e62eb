//! FETCH and UID FETCH (RFC 3501 §6.4.5, CONDSTORE's CHANGEDSINCE and MODSEQ). Responses
//! are produced one message per session step, so a large FETCH never sits in memory whole.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder as _;
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Part, Section,
};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::sequence::SequenceSet;
use store::flags::SystemFlag;
use tracing::warn;

use crate::backend::MailError;
use crate::session::Session;
use message::Message;

use crate::wire;

/// A FETCH in progress.
pub(crate) struct Fetching {
    tag: String,
    uid: bool,
    items: Vec<MessageDataItemName<'static>>,
    indices: VecDeque<usize>,
    changed_since: Option<u64>,
    failed: Option<MailError>,
}

impl Session {
    pub(crate) fn fetch(
        &mut self,
        tag: String,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'static>,
        uid: bool,
        modifiers: &[FetchModifier],
    ) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let Some(indices) = sel.resolve(set, uid) else {
            return self.line(&format!(
                "{tag} BAD Error in IMAP command FETCH: Invalid messageset"
            ));
        };
        let mut items = match items {
            MacroOrMessageDataItemNames::Macro(m) => m
                .expand()
                .into_iter()
                .map(imap_codec::imap_types::IntoStatic::into_static)
                .collect(),
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        let changed_since = modifiers.iter().find_map(|m| match m {
            FetchModifier::ChangedSince(n) => Some(n.get()),
            FetchModifier::Vanished => None,
        });
        if changed_since.is_some() || items.contains(&MessageDataItemName::ModSeq) {
            self.enable_condstore_implicitly();
        }
        if changed_since.is_some() && !items.contains(&MessageDataItemName::ModSeq) {
            items.push(MessageDataItemName::ModSeq);
        }
        if uid && !items.contains(&MessageDataItemName::Uid) {
            items.insert(0, MessageDataItemName::Uid);
        }
        self.start_fetch(Fetching {
            tag,
            uid,
            items,
            indices: indices.into(),
            changed_since,
            failed: None,
        });
    }

    /// Writes one message of `job`; returns whether more remain (else the tagged reply is out).
    pub(crate) fn fetch_one(&mut self, job: &mut Fetching) -> bool {
        let Some(index) = job.indices.pop_front() else {
            self.refresh(job.uid);
            match job.failed.take() {
                Some(e) => self.fail(&job.tag, &e),
                None => self.ok(&job.tag, "Fetch completed."),
            }
            return false;
        };
        match self.fetch_message(job, index) {
            // Expunged by another session and not reported yet (RFC 2180 §4.1.2): no data
            // for it, the rest of the FETCH goes on.
            Ok(()) | Err(MailError::Expunged) => {}
            Err(e) => job.failed = Some(e),
        }
        true
    }

    fn fetch_message(&mut self, job: &Fetching, index: usize) -> Result<(), MailError> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let Some(msg) = sel.messages.get(index).cloned() else {
            return Ok(());
        };
        if job.changed_since.is_some_and(|n| msg.modseq <= n) {
            return Ok(());
        }
        let name = sel.name.clone();
        let read_only = sel.read_only;
        let recent = sel.recent.contains(&msg.uid);
        let needs_content = job.items.iter().any(|i| match i {
            MessageDataItemName::Uid
            | MessageDataItemName::Flags
            | MessageDataItemName::InternalDate
            | MessageDataItemName::ModSeq => false,
            MessageDataItemName::Rfc822Size => msg.vsize.is_none(),
            _ => true,
        });
        let stored = if needs_content {
            self.mail_op(|m| m.read(&name, msg.uid, Some(&msg.path)))?
        } else {
            Default::default()
        };
        let parsed = Message::parse(&stored);
        let sets_seen = job.items.iter().any(|i| {
            matches!(
                i,
                MessageDataItemName::BodyExt { peek: false, .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Text
                    | MessageDataItemName::Binary { peek: false, .. }
            )
        });
        let mut flags = msg.flags.clone();
        let mut flags_changed = false;
        if sets_seen && !read_only && !flags.contains(SystemFlag::Seen) {
            flags.insert(SystemFlag::Seen);
            if self
                .mail_op(|m| m.set_flags(&name, msg.uid, &flags))
                .is_ok()
            {
                flags_changed = true;
                let modseq = self.mail_op(|m| m.bump_modseq(&name, &[msg.uid], &[])).ok();
                if let Some(sel) = self.selected.as_mut()
                    && let Some(m) = sel.messages.get_mut(index)
                {
                    m.flags = flags.clone();
                    if let Some(s) = modseq {
                        m.modseq = s;
                    }
                }
            }
        }
        let modseq = self
            .selected
            .as_ref()
            .and_then(|s| s.messages.get(index))
            .map_or(msg.modseq, |m| m.modseq);
        let mut out: Vec<u8> = format!("* {} FETCH (", index + 1).into_bytes();
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b' ');
            }
            first = false;
        };
        let mut flags_sent = false;
        for item in &job.items {
            sep(&mut out);
            match item {
                MessageDataItemName::Uid => {
                    out.extend_from_slice(format!("UID {}", msg.uid).as_bytes())
                }
                MessageDataItemName::Flags => {
                    flags_sent = true;
                    out.extend_from_slice(
                        format!("FLAGS {}", wire::flag_list(&flags, recent)).as_bytes(),
                    );
                }
                MessageDataItemName::InternalDate => out.extend_from_slice(
                    format!("INTERNALDATE {}", wire::internal_date(msg.internal_date)).as_bytes(),
                ),
                MessageDataItemName::Rfc822Size => {
                    let size = msg
                        .vsize
                        .unwrap_or_else(|| u64::from(parsed.rfc822_size().unwrap_or(u32::MAX)));
                    out.extend_from_slice(format!("RFC822.SIZE {size}").as_bytes());
                }
                MessageDataItemName::ModSeq => {
                    out.extend_from_slice(format!("MODSEQ ({modseq})").as_bytes());
                }
                MessageDataItemName::Envelope => {
                    out.extend_from_slice(b"ENVELOPE ");
                    out.extend_from_slice(&encode_item(MessageDataItem::Envelope(
                        parsed.envelope(),
                    )));
                }
                MessageDataItemName::BodyStructure => {
                    out.extend_from_slice(b"BODYSTRUCTURE ");
                    out.extend_from_slice(&encode_item(MessageDataItem::BodyStructure(
                        parsed.body_structure(true),
                    )));
                }
                MessageDataItemName::Body => {
                    out.extend_from_slice(b"BODY ");
                    out.extend_from_slice(&encode_item(MessageDataItem::Body(
                        parsed.body_structure(false),
                    )));
                }
                MessageDataItemName::Rfc822 => {
                    out.extend_from_slice(b"RFC822 ");
                    wire::literal(&mut out, &parsed.section(None, None));
                }
                MessageDataItemName::Rfc822Header => {
                    out.extend_from_slice(b"RFC822.HEADER ");
                    wire::literal(
                        &mut out,
                        &parsed.section(Some(&Section::Header(None)), None),
                    );
                }
                MessageDataItemName::Rfc822Text => {
                    out.extend_from_slice(b"RFC822.TEXT ");
                    wire::literal(&mut out, &parsed.section(Some(&Section::Text(None)), None));
                }
                MessageDataItemName::BodyExt {
                    section, partial, ..
                } => {
                    out.extend_from_slice(
                        format!("BODY[{}]", section_name(section.as_ref())).as_bytes(),
                    );
                    let data = parsed.section(section.as_ref(), *partial);
                    write_partial(&mut out, &data, partial.map(|(start, _)| start));
                }
                MessageDataItemName::Binary {
                    section, partial, ..
                } => {
                    let spec = section
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(".");
                    out.extend_from_slice(format!("BINARY[{spec}]").as_bytes());
                    let data = binary_section(&parsed, section, *partial);
                    write_partial(&mut out, &data, partial.map(|(start, _)| start));
                }
                MessageDataItemName::BinarySize { section } => {
                    let spec = section
                        .iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(".");
                    let data = binary_section(&parsed, section, None);
                    out.extend_from_slice(format!("BINARY.SIZE[{spec}] {}", data.len()).as_bytes());
                }
            }
        }
        if flags_changed && !flags_sent {
            sep(&mut out);
            out.extend_from_slice(format!("FLAGS {}", wire::flag_list(&flags, recent)).as_bytes());
        }
        out.extend_from_slice(b")\r\n");
        self.out.extend_from_slice(&out);
        Ok(())
    }
}

/// ` {n}\r\n<data>`, or `<start> {n}\r\n<data>` for a partial fetch (data already cut).
fn write_partial(out: &mut Vec<u8>, data: &[u8], start: Option<u32>) {
    if let Some(start) = start {
        out.extend_from_slice(format!("<{start}>").as_bytes());
    }
    out.push(b' ');
    wire::literal(out, data);
}

/// BINARY[section]: the section's wire bytes (content transfer decoding is not done yet).
fn binary_section(
    parsed: &Message<'_>,
    section: &[NonZeroU32],
    partial: Option<(u32, NonZeroU32)>,
) -> Vec<u8> {
    match Vec1::try_from(section.to_vec()) {
        Ok(numbers) => parsed
            .section(Some(&Section::Part(Part(numbers))), partial)
            .into_owned(),
        Err(_) => parsed.section(None, partial).into_owned(),
    }
}

/// `1.2.HEADER.FIELDS (From To)` as echoed in the response.
pub(crate) fn section_name(section: Option<&Section<'_>>) -> String {
    let part = |p: &Option<Part>| {
        p.as_ref().map_or(String::new(), |p| {
            let mut s = part_numbers(p);
            s.push('.');
            s
        })
    };
    let names = |n: &Vec1<imap_codec::imap_types::core::AString<'_>>| {
        n.as_ref()
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match section {
        None => String::new(),
        Some(Section::Part(p)) => part_numbers(p),
        Some(Section::Header(p)) => format!("{}HEADER", part(p)),
        Some(Section::HeaderFields(p, n)) => format!("{}HEADER.FIELDS ({})", part(p), names(n)),
        Some(Section::HeaderFieldsNot(p, n)) => {
            format!("{}HEADER.FIELDS.NOT ({})", part(p), names(n))
        }
        Some(Section::Text(p)) => format!("{}TEXT", part(p)),
        Some(Section::Mime(p)) => format!("{}.MIME", part_numbers(p)),
    }
}

fn part_numbers(p: &Part) -> String {
    p.0.as_ref()
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The wire bytes of one FETCH item value (ENVELOPE, BODY, BODYSTRUCTURE), by encoding a
/// one-item FETCH response with imap-codec and cutting the frame away.
fn encode_item(item: MessageDataItem<'static>) -> Vec<u8> {
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(item),
    });
    let bytes = ResponseCodec::default().encode(&response).dump();
    // "* 1 FETCH (ENVELOPE <value>)\r\n": the value starts after the first space following
    // the item name and ends before ")\r\n".
    let Some(open) = bytes.iter().position(|&b| b == b'(') else {
        warn!("IMAP: unexpected encoder output");
        return b"NIL".to_vec();
    };
    let rest = bytes.get(open + 1..).unwrap_or_default();
    let Some(space) = rest.iter().position(|&b| b == b' ') else {
        return b"NIL".to_vec();
    };
    let value = rest.get(space + 1..).unwrap_or_default();
    value.strip_suffix(b")\r\n").unwrap_or(value).to_vec()
}
