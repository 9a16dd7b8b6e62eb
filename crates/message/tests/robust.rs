//! No input makes any function panic, hang or recurse without bound.
//!
//! Random bytes and random mutations of the fixtures go through every public function;
//! a few invariants that must hold for any input are checked on the way.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::num::NonZeroU32;
use std::path::PathBuf;

use imap_codec::CommandCodec;
use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::body::{BodyStructure, SpecificFields};
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::response::{Data, Response};
use message::{AddressField, Message, SortField};
use proptest::prelude::*;

const SECTIONS: &[&str] = &[
    "BODY[]",
    "BODY[HEADER]",
    "BODY[TEXT]",
    "BODY[1]",
    "BODY[1.MIME]",
    "BODY[2]",
    "BODY[2.MIME]",
    "BODY[2.HEADER]",
    "BODY[2.TEXT]",
    "BODY[2.1]",
    "BODY[2.1.2]",
    "BODY[3.HEADER.FIELDS (SUBJECT)]",
    "BODY[HEADER.FIELDS (FROM TO)]",
    "BODY[HEADER.FIELDS.NOT (FROM)]",
];

fn sections() -> Vec<Option<Section<'static>>> {
    SECTIONS
        .iter()
        .map(|s| {
            let line = format!("t FETCH 1 ({s})\r\n");
            let (_, c) = CommandCodec::default().decode(line.as_bytes()).unwrap();
            let CommandBody::Fetch {
                macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names),
                ..
            } = c.body
            else {
                panic!()
            };
            let MessageDataItemName::BodyExt { section, .. } = &names[0] else {
                panic!()
            };
            imap_codec::imap_types::ToStatic::to_static(section)
        })
        .collect()
}

fn fixtures() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    out.sort();
    out
}

/// Encodes an item in a FETCH response and decodes it back: the value must be valid.
fn roundtrip(item: MessageDataItem<'static>) {
    let resp = Response::Data(Data::Fetch {
        seq: NonZeroU32::new(1).unwrap(),
        items: item.clone().into(),
    });
    let bytes = ResponseCodec::default().encode(&resp).dump();
    let (_, back) = ResponseCodec::default()
        .decode(&bytes)
        .unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(back, resp);
}

/// Nesting depth of a body structure, message/rfc822 levels included.
fn nesting(b: &BodyStructure<'_>) -> usize {
    match b {
        BodyStructure::Single { body, .. } => match &body.specific {
            SpecificFields::Message { body_structure, .. } => 1 + nesting(body_structure),
            _ => 1,
        },
        BodyStructure::Multi { bodies, .. } => {
            1 + bodies.as_ref().iter().map(nesting).max().unwrap_or(0)
        }
    }
}

/// Runs every function on `raw` and checks the invariants.
fn exercise(raw: &[u8], sections: &[Option<Section<'static>>], roundtrip_values: bool) {
    let msg = Message::parse(raw);
    let env = msg.envelope();
    let body = msg.body_structure(false);
    let bs = msg.body_structure(true);
    // imap-codec's decoder stops at 8 levels of body nesting; deeper values are only
    // encoded (which cannot fail).
    if roundtrip_values && nesting(&bs) <= 6 {
        roundtrip(MessageDataItem::Envelope(env));
        roundtrip(MessageDataItem::Body(body));
        roundtrip(MessageDataItem::BodyStructure(bs));
    }
    let whole = msg.section(None, None);
    assert_eq!(whole, message::to_wire(raw));
    assert_eq!(whole.len(), message::wire_size(raw));
    assert_eq!(msg.rfc822_size().unwrap() as usize, whole.len());
    assert!(!whole.contains(&0));
    // HEADER + TEXT = BODY[]
    let header = msg.section(sections[1].as_ref(), None);
    let text = msg.section(sections[2].as_ref(), None);
    assert_eq!([header.as_ref(), text.as_ref()].concat(), whole.as_ref());
    for s in sections {
        let full = msg.section(s.as_ref(), None);
        assert!(!full.contains(&0));
        let part = msg.section(s.as_ref(), Some((3, NonZeroU32::new(7).unwrap())));
        assert_eq!(
            part.as_ref(),
            full.get(3..).map_or(&[][..], |r| &r[..r.len().min(7)])
        );
    }
    for needle in ["", "a", "Subject", "ü", "--"] {
        let _ = msg.matches_body(needle);
        let t = msg.matches_text(needle);
        if msg.matches_body(needle) {
            assert!(t, "TEXT must match whenever BODY does");
        }
        for field in ["From", "To", "Subject", "X-Unknown", "Date"] {
            let _ = msg.matches_header(field, needle);
        }
    }
    for sec in [
        &[][..],
        &[NonZeroU32::MIN][..],
        &[NonZeroU32::new(2).unwrap(), NonZeroU32::MIN][..],
    ] {
        if let Ok(b) = msg.binary(sec, None) {
            assert_eq!(
                msg.binary_size(sec)
                    .ok()
                    .map(|n| n as usize)
                    .unwrap_or(b.data.len()),
                b.data.len()
            );
            let cut = msg
                .binary(sec, Some((1, NonZeroU32::new(3).unwrap())))
                .unwrap();
            assert_eq!(
                cut.data.as_ref(),
                b.data.get(1..).map_or(&[][..], |r| &r[..r.len().min(3)])
            );
        }
    }
    let _ = msg.sent_date().map(|d| d.timestamp());
    let _ = msg.base_subject();
    for f in [AddressField::From, AddressField::To, AddressField::Cc] {
        let _ = msg.sort_address(f);
    }
    for f in [
        SortField::Cc,
        SortField::DisplayFrom,
        SortField::DisplayTo,
        SortField::From,
        SortField::Subject,
        SortField::To,
    ] {
        let _ = msg.sort_key(f);
    }
}

#[test]
fn fixtures_pass_every_function() {
    let s = sections();
    for f in fixtures() {
        exercise(&f, &s, true);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Replace(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b"\n".to_vec(),
        b"\r".to_vec(),
        b"\0".to_vec(),
        b"--".to_vec(),
        b"\n\n".to_vec(),
        b"\n--b1\n".to_vec(),
        b"\n--outer--\n".to_vec(),
        b"Content-Type: multipart/mixed; boundary=x\n".to_vec(),
        b"Content-Type: message/rfc822\n\n".to_vec(),
        b"=?utf-8?B?w7w=?=".to_vec(),
        b"\"".to_vec(),
        b"(".to_vec(),
        b"<".to_vec(),
        b":;,@".to_vec(),
        vec![0xff, 0xfe],
    ]);
    prop_oneof![
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
    ]
}

fn apply(mut raw: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = raw.len();
        match m {
            Mutation::Insert(i, b) => {
                let at = if len == 0 { 0 } else { i % (len + 1) };
                raw.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, n) if len > 0 => {
                let at = i % len;
                raw.drain(at..(at + n).min(len));
            }
            Mutation::Replace(i, b) if len > 0 => raw[i % len] = *b,
            _ => {}
        }
    }
    raw
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise(&raw, &sections(), false);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..64,
        muts in prop::collection::vec(mutation(), 1..12),
    ) {
        let all = fixtures();
        let raw = apply(all[which % all.len()].clone(), &muts);
        exercise(&raw, &sections(), true);
    }
}

/// `depth` multiparts inside each other, each with one text part at the bottom.
fn nested_multiparts(depth: usize) -> Vec<u8> {
    let mut out = b"Subject: deep\nMIME-Version: 1.0\n".to_vec();
    for i in 0..depth {
        out.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n").as_bytes(),
        );
    }
    out.extend_from_slice(b"Content-Type: text/plain\n\nbottom needle\n");
    for i in (0..depth).rev() {
        out.extend_from_slice(format!("--b{i}--\n").as_bytes());
    }
    out
}

#[test]
fn deep_multipart_nesting_is_capped() {
    let raw = nested_multiparts(5000);
    let msg = Message::parse(&raw);
    let bs = msg.body_structure(true);
    // count the depth of the structure: bounded by the cap
    let d = nesting(&bs);
    assert!(d <= message::MAX_DEPTH, "depth {d}");
    assert!(d >= message::MAX_DEPTH - 2, "depth {d}");
    // Beyond the cap the rest is one opaque part (as in Dovecot), so it is not searched.
    assert!(!msg.matches_body("bottom needle"));
    let _ = msg.section(None, None);
}

#[test]
fn deep_message_nesting_is_capped() {
    let mut raw = Vec::new();
    for _ in 0..5000 {
        raw.extend_from_slice(b"Subject: layer\nContent-Type: message/rfc822\n\n");
    }
    raw.extend_from_slice(b"Subject: core\n\ncore text\n");
    let msg = Message::parse(&raw);
    let _ = msg.body_structure(true);
    let _ = msg.envelope();
    assert!(msg.matches_text("core text"));
}

#[test]
fn many_parts_are_capped() {
    let mut raw = b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=x\n\n".to_vec();
    for _ in 0..20_000 {
        raw.extend_from_slice(b"--x\n\np\n");
    }
    raw.extend_from_slice(b"--x--\n");
    let msg = Message::parse(&raw);
    let bs = msg.body_structure(false);
    let BodyStructure::Multi { bodies, .. } = bs else {
        panic!("not multipart")
    };
    assert!(bodies.as_ref().len() < message::MAX_PARTS);
}
