//! Behaviour that the Dovecot fixtures do not pin down: RFC 5256 base subjects, SORT
//! keys, dates, wire form and partial fetches.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;
use std::num::NonZeroU32;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use message::{AddressField, Message, SortField};

fn section(text: &str) -> Option<Section<'static>> {
    let line = format!("t FETCH 1 ({text})\r\n");
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
}

fn subject(s: &str) -> String {
    message::base_subject(format!("Subject: {s}\r\n\r\n").as_bytes())
}

#[test]
fn rfc5256_base_subject() {
    assert_eq!(subject("Re: hello"), "hello");
    assert_eq!(subject("RE: Re: re:hello"), "hello");
    assert_eq!(subject("Fwd: FW: fw: hello"), "hello");
    assert_eq!(subject("[list] Re: hello"), "hello");
    assert_eq!(subject("Re [2]: hello"), "hello");
    assert_eq!(subject("Re: [list] Re: hello (fwd)"), "hello");
    assert_eq!(subject("hello (fwd) (FWD)  "), "hello");
    assert_eq!(subject("[Fwd: Re: hello]"), "hello");
    assert_eq!(subject("  lots   of\t space  "), "lots of space");
    // a blob that is the whole subject stays
    assert_eq!(subject("[only blob]"), "[only blob]");
    assert_eq!(subject("Re: [only blob]"), "[only blob]");
    // not a leader
    assert_eq!(subject("Rebecca: hello"), "Rebecca: hello");
    assert_eq!(subject("Re hello"), "Re hello");
    // RFC 2047 is decoded first
    assert_eq!(subject("=?UTF-8?Q?Re=3A_caf=C3=A9?="), "café");
    assert_eq!(message::base_subject(b"From: a@b\r\n\r\n"), "");
}

#[test]
fn sort_addresses_are_first_local_parts() {
    let raw = b"From: \"Zed\" <zed@example.org>, amy@example.org\r\n\
        To: Team: bob@example.org;\r\nCc: (nobody)\r\n\r\n";
    let msg = Message::parse(raw);
    assert_eq!(msg.sort_address(AddressField::From).as_deref(), Some("zed"));
    // a group's name counts as the first address (Dovecot; see dovecot_sort.rs)
    assert_eq!(msg.sort_address(AddressField::To).as_deref(), Some("Team"));
    assert_eq!(msg.sort_address(AddressField::Cc), None);
    assert_eq!(msg.sort_key(SortField::From), "ZED");
    assert_eq!(msg.sort_key(SortField::DisplayFrom), "ZED");
    assert_eq!(msg.sort_key(SortField::Cc), "");
}

#[test]
fn collation_decomposes_and_uppercases() {
    // Like Dovecot's tables: a character without a one-character title case (ß, the ﬁ
    // ligature) is only decomposed, and the decomposition is not title-cased again.
    assert_eq!(message::collation_key("Émile ﬁx ß"), "E\u{301}MILE fiX ß");
}

#[test]
fn sent_date_keeps_the_header_zone() {
    let msg = Message::parse(b"Date: Thu, 31 Dec 2020 23:30:00 -0130\r\n\r\n");
    let d = msg.sent_date().unwrap();
    assert_eq!(d.date(), (2020, 12, 31));
    assert_eq!(d.offset_minutes, -90);
    // 2021-01-01 01:00:00 UTC
    assert_eq!(d.timestamp(), 1_609_462_800);
    assert_eq!(Message::parse(b"Date: yesterday\r\n\r\n").sent_date(), None);
    assert_eq!(Message::parse(b"Subject: x\r\n\r\n").sent_date(), None);
}

#[test]
fn wire_form_borrows_when_it_can() {
    let crlf = b"Subject: x\r\n\r\nbody\r\n";
    assert!(matches!(message::to_wire(crlf), Cow::Borrowed(_)));
    let lf = b"Subject: x\n\nbo\rdy\n\0end";
    let wire = message::to_wire(lf);
    assert_eq!(wire.as_ref(), b"Subject: x\r\n\r\nbo\rdy\r\n\x80end");
    assert_eq!(message::wire_size(lf), wire.len());
    // A section of a CRLF message is borrowed too.
    let msg = Message::parse(crlf);
    assert!(matches!(
        msg.section(section("BODY[TEXT]").as_ref(), None),
        Cow::Borrowed(b"body\r\n")
    ));
}

#[test]
fn partial_fetches_cut_the_wire_form() {
    let msg = Message::parse(b"Subject: x\n\nabc\ndef\n");
    let n = |x| NonZeroU32::new(x).unwrap();
    assert_eq!(msg.section(None, Some((10, n(5)))).as_ref(), b"\r\n\r\na");
    assert_eq!(
        msg.section(section("BODY[TEXT]").as_ref(), Some((3, n(100))))
            .as_ref(),
        b"\r\ndef\r\n"
    );
    assert_eq!(
        msg.section(section("BODY[TEXT]").as_ref(), Some((100, n(1))))
            .as_ref(),
        b""
    );
    assert_eq!(msg.section(section("BODY[2]").as_ref(), None).as_ref(), b"");
    assert_eq!(
        msg.section(section("BODY[1.HEADER]").as_ref(), None)
            .as_ref(),
        b""
    );
}

#[test]
fn empty_and_tiny_messages() {
    for raw in [&b""[..], b"\n", b"\r\n", b"x", b"\r", b"--", b"\n\n--"] {
        let msg = Message::parse(raw);
        let _ = msg.envelope();
        let _ = msg.body_structure(true);
        assert_eq!(msg.section(None, None).len(), message::wire_size(raw));
    }
}
