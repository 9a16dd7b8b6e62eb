//! Compares this crate with what Dovecot 2.3.19.1 sent for the same stored bytes.
//!
//! `tests/fixtures/NAME.eml` are the stored messages; `NAME.dovecot` are the replies
//! captured from a real Dovecot by `tests/fixtures/capture.py` (how: see that file).
//! Dovecot's replies are decoded with imap-codec and compared as imap-types values, so the
//! check covers quoted-vs-literal choices, NIL, sizes, lines and nesting. (imap-codec
//! writes `"TEXT"`/`"MESSAGE" "RFC822"` upper-case where Dovecot echoes the header's
//! case; decoding makes those equal, as they are for clients.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::num::NonZeroU32;
use std::path::PathBuf;

use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::{IString, NString};

use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName,
};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::{CommandCodec, ResponseCodec};
use message::Message;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every fixture that has a captured reply file.
fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dovecot"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 15, "fixtures missing: {names:?}");
    names
}

/// `(command, raw reply)` records of a `.dovecot` file.
fn records(name: &str) -> Vec<(String, Vec<u8>)> {
    let data = std::fs::read(dir().join(format!("{name}.dovecot"))).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let nl = i + data[i..].iter().position(|b| *b == b'\n').unwrap();
        let head = String::from_utf8_lossy(&data[i..nl]).into_owned();
        let (cmd, n) = head.rsplit_once(' ').unwrap();
        let n: usize = n.parse().unwrap();
        out.push((cmd.to_owned(), data[nl + 1..nl + 1 + n].to_vec()));
        i = nl + 1 + n + 1;
    }
    out
}

/// Dovecot's reply as an imap-types value; `None` when imap-codec cannot decode it
/// (its decoder stops at a nesting depth Dovecot's BODYSTRUCTURE can exceed).
fn fetch_item(reply: &[u8]) -> Option<MessageDataItem<'static>> {
    let (_, resp) = ResponseCodec::default().decode(reply).ok()?;
    Some(match resp {
        Response::Data(Data::Fetch { items, .. }) => {
            let items: Vec<_> = items.into_iter().collect();
            assert_eq!(items.len(), 1);
            let item = items.into_iter().next().unwrap();
            imap_codec::imap_types::ToStatic::to_static(&item)
        }
        other => panic!("not a FETCH: {other:?}"),
    })
}

/// Our item encoded byte for byte against Dovecot's reply up to its tagged line; with
/// `fold_case` both are lower-cased first (imap-codec writes `"TEXT"` and
/// `"MESSAGE" "RFC822"` in upper case, Dovecot echoes the header's case).
fn compare_encoded(
    name: &str,
    cmd: &str,
    mine: MessageDataItem<'static>,
    reply: &[u8],
    fold_case: bool,
) {
    let resp = Response::Data(Data::Fetch {
        seq: NonZeroU32::new(1).unwrap(),
        items: mine.into(),
    });
    let ours = ResponseCodec::default().encode(&resp).dump();
    // the untagged reply ends where the tagged status line starts
    let tagged = reply.windows(3).rposition(|w| w == b"\r\nc").unwrap() + 2;
    let theirs = &reply[..tagged];
    if fold_case {
        assert_eq!(
            ours.to_ascii_lowercase(),
            theirs.to_ascii_lowercase(),
            "{name}: {cmd}"
        );
    } else {
        assert_eq!(ours, theirs, "{name}: {cmd}");
    }
}

fn fetch_name(cmd: &str) -> MessageDataItemName<'static> {
    let line = format!("t {cmd}\r\n");
    let (_, c) = CommandCodec::default().decode(line.as_bytes()).unwrap();
    match c.body {
        CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
            ..
        } => imap_codec::imap_types::ToStatic::to_static(&names[0]),
        other => panic!("{other:?}"),
    }
}

fn nstring_bytes(n: &NString<'_>) -> Vec<u8> {
    match &n.0 {
        None => b"NIL".to_vec(),
        Some(IString::Literal(l)) => l.data().to_vec(),
        Some(IString::Quoted(q)) => q.inner().as_bytes().to_vec(),
        #[allow(unreachable_patterns)]
        Some(other) => panic!("{other:?}"),
    }
}

/// BINARY and BINARY.SIZE replies (imap-codec decodes `~{n}` literal8).
fn check_binary(name: &str, msg: &Message<'_>, cmd: &str, reply: &[u8]) {
    let section = |s: &str| -> Vec<NonZeroU32> {
        let inner = s.split('[').nth(1).unwrap().split(']').next().unwrap();
        inner
            .split('.')
            .filter(|x| !x.is_empty())
            .map(|n| n.parse().unwrap())
            .collect()
    };
    let partial = cmd.split('<').nth(1).map(|p| {
        let (a, b) = p
            .trim_end_matches(")")
            .trim_end_matches('>')
            .split_once('.')
            .unwrap();
        (a.parse::<u32>().unwrap(), b.parse::<NonZeroU32>().unwrap())
    });
    let sec = section(cmd);
    let refused = reply.windows(4).any(|w| w == b" NO ");
    if cmd.contains("BINARY.SIZE") {
        let mine = msg.binary_size(&sec);
        if refused {
            assert!(
                mine.is_err(),
                "{name}: {cmd}: Dovecot refused, we gave {mine:?}"
            );
            return;
        }
        let Some(MessageDataItem::BinarySize { size, .. }) = fetch_item(reply) else {
            panic!("{cmd}")
        };
        // Known Dovecot inconsistency: for bs-edge's message/rfc822 part 2 it sends a
        // 191-byte BINARY[2] but says BINARY.SIZE[2] 190. RFC 3516 wants the size of what
        // BINARY sends, so we say 191.
        let size = if name == "bs-edge" && cmd == "FETCH 1 (BINARY.SIZE[2])" {
            assert_eq!(size, 190);
            191
        } else {
            size
        };
        assert_eq!(mine.unwrap(), size, "{name}: {cmd}");
        return;
    }
    let mine = msg.binary(&sec, partial);
    if refused {
        assert!(
            mine.is_err(),
            "{name}: {cmd}: Dovecot refused, we gave {mine:?}"
        );
        return;
    }
    let mine = mine.unwrap_or_else(|e| panic!("{name}: {cmd}: {e}"));
    let (theirs, literal8) = binary_literal(reply);
    assert_eq!(
        String::from_utf8_lossy(&mine.data),
        String::from_utf8_lossy(&theirs),
        "{name}: {cmd}"
    );
    assert_eq!(mine.data.as_ref(), theirs.as_slice(), "{name}: {cmd}");
    assert_eq!(mine.literal8, literal8, "{name}: {cmd}: literal8");
}

/// The literal of a `BINARY[…]<…> {n}` or `~{n}` reply, read by hand (imap-codec does
/// not decode a BINARY reply with an origin).
fn binary_literal(reply: &[u8]) -> (Vec<u8>, bool) {
    let open = reply.iter().position(|b| *b == b'{').unwrap();
    let close = open + reply[open..].iter().position(|b| *b == b'}').unwrap();
    let n: usize = std::str::from_utf8(&reply[open + 1..close])
        .unwrap()
        .parse()
        .unwrap();
    let start = close + 3;
    (reply[start..start + n].to_vec(), reply[open - 1] == b'~')
}

fn check_fetches(name: &str) -> usize {
    let raw = std::fs::read(dir().join(format!("{name}.eml"))).unwrap();
    let msg = Message::parse(&raw);
    let mut checked = 0;
    for (cmd, reply) in records(name) {
        if !cmd.starts_with("FETCH") {
            continue;
        }
        if cmd.contains("BINARY") {
            check_binary(name, &msg, &cmd, &reply);
            checked += 1;
            continue;
        }
        let Some(item) = fetch_item(&reply) else {
            let mine = match cmd.as_str() {
                "FETCH 1 (BODY)" => MessageDataItem::Body(msg.body_structure(false)),
                "FETCH 1 (BODYSTRUCTURE)" => {
                    MessageDataItem::BodyStructure(msg.body_structure(true))
                }
                _ => panic!("{name}: cannot decode the reply to {cmd}"),
            };
            compare_encoded(name, &cmd, mine, &reply, true);
            checked += 1;
            continue;
        };
        match item {
            MessageDataItem::Envelope(e) => {
                assert_eq!(msg.envelope(), e, "{name}: {cmd}");
                compare_encoded(
                    name,
                    &cmd,
                    MessageDataItem::Envelope(msg.envelope()),
                    &reply,
                    false,
                );
            }
            MessageDataItem::Body(b) => {
                assert_eq!(msg.body_structure(false), b, "{name}: {cmd}");
                let mine = MessageDataItem::Body(msg.body_structure(false));
                compare_encoded(name, &cmd, mine, &reply, true);
            }
            MessageDataItem::BodyStructure(b) => {
                assert_eq!(msg.body_structure(true), b, "{name}: {cmd}");
                let mine = MessageDataItem::BodyStructure(msg.body_structure(true));
                compare_encoded(name, &cmd, mine, &reply, true);
            }
            MessageDataItem::Rfc822Size(n) => {
                assert_eq!(msg.rfc822_size().unwrap(), n, "{name}: {cmd}")
            }
            MessageDataItem::BodyExt { data, .. } => {
                let MessageDataItemName::BodyExt {
                    section, partial, ..
                } = fetch_name(&cmd)
                else {
                    panic!("{cmd}")
                };
                let mine = msg.section(section.as_ref(), partial);
                let mut theirs = nstring_bytes(&data);
                // Known Dovecot inconsistency: for a header without an empty line,
                // HEADER.FIELDS ends with the empty line when Dovecot reads the message but
                // not when it answers from its cache (checked by hand against 2.3.19.1:
                // same mailbox, same command, before and after a FETCH ENVELOPE). We keep
                // the uncached answer.
                if name == "headers-only" && cmd.contains("HEADER.FIELDS (From Subject)") {
                    theirs.extend_from_slice(b"\r\n");
                }
                assert_eq!(
                    String::from_utf8_lossy(&mine),
                    String::from_utf8_lossy(&theirs),
                    "{name}: {cmd}"
                );
                assert_eq!(mine.as_ref(), theirs.as_slice(), "{name}: {cmd}");
            }
            other => panic!("unexpected {other:?}"),
        }
        checked += 1;
    }
    checked
}

/// `(year, month, day)` of an IMAP date "DD-Mon-YYYY".
fn imap_date(s: &str) -> (u16, u8, u8) {
    let mut it = s.split('-');
    let d: u8 = it.next().unwrap().parse().unwrap();
    let mon = it.next().unwrap();
    let m = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|x| *x == mon)
    .unwrap() as u8
        + 1;
    let y: u16 = it.next().unwrap().parse().unwrap();
    (y, m, d)
}

fn check_searches(name: &str) -> usize {
    let raw = std::fs::read(dir().join(format!("{name}.eml"))).unwrap();
    let msg = Message::parse(&raw);
    let mut checked = 0;
    for (cmd, reply) in records(name) {
        let Some(rest) = cmd.strip_prefix("SEARCH ") else {
            continue;
        };
        let expected = reply.windows(10).any(|w| w == b"* SEARCH 1");
        let got = if let Some(kv) = rest.strip_prefix("CHARSET UTF-8 ") {
            let (key, needle) = if let Some(h) = kv.strip_prefix("HEADER ") {
                let (field, needle) = h.split_once(' ').unwrap();
                (field.to_owned(), needle.to_owned())
            } else {
                let (k, n) = kv.split_once(' ').unwrap();
                (k.to_owned(), n.to_owned())
            };
            match key.as_str() {
                "BODY" => msg.matches_body(&needle),
                "TEXT" => msg.matches_text(&needle),
                field => msg.matches_header(field, &needle),
            }
        } else {
            let (key, date) = rest.split_once(' ').unwrap();
            let sent = msg.sent_date().map_or((1970, 1, 1), |d| d.date());
            let want = imap_date(date);
            match key {
                "SENTON" => sent == want,
                "SENTBEFORE" => sent < want,
                "SENTSINCE" => sent >= want,
                _ => panic!("{key}"),
            }
        };
        assert_eq!(got, expected, "{name}: {cmd}");
        checked += 1;
    }
    checked
}

#[test]
fn dovecot_fetch_replies_match() {
    let mut n = 0;
    for name in &fixtures() {
        n += check_fetches(name);
    }
    assert!(n > 200, "only {n} FETCH replies checked");
    eprintln!("{n} FETCH replies checked");
}

#[test]
fn dovecot_search_results_match() {
    let mut n = 0;
    for name in &fixtures() {
        n += check_searches(name);
    }
    assert!(n > 300, "only {n} SEARCH results checked");
}
