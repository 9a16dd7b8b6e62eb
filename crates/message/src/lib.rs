//! One message's plaintext bytes turned into what an IMAP server sends, the way
//! Dovecot 2.3 sends it. Pure: no IO, no clock, never panics on any input.
//!
//! The input is a message as stored: LF or CRLF line ends, possibly bare CR, NUL bytes
//! or broken MIME. Everything sized or sent is in *wire form* (see [`to_wire`]).
//!
//! # API for the IMAP server
//!
//! Parse once, then ask for what the FETCH/SEARCH/SORT needs:
//!
//! ```
//! let raw = b"From: a@example.org\nSubject: Re: hi\n\nbody\n";
//! let msg = message::Message::parse(raw);
//! let env = msg.envelope();                        // ENVELOPE
//! let bs = msg.body_structure(true);               // BODYSTRUCTURE (false: BODY)
//! let all = msg.section(None, None);               // BODY[] in wire form
//! assert_eq!(msg.rfc822_size().unwrap() as usize, all.len()); // RFC822.SIZE
//! assert!(msg.matches_text("BODY"));               // SEARCH TEXT
//! assert_eq!(msg.base_subject(), "hi");            // SORT SUBJECT
//! # let _ = (env, bs);
//! ```
//!
//! | IMAP item | call | type |
//! |---|---|---|
//! | ENVELOPE | [`Message::envelope`] | `imap_types::envelope::Envelope` |
//! | BODY / BODYSTRUCTURE | [`Message::body_structure`] | `imap_types::body::BodyStructure` |
//! | BODY\[section\]\<partial\> (also RFC822, RFC822.HEADER, RFC822.TEXT) | [`Message::section`] with an `imap_types::fetch::Section` | wire bytes |
//! | RFC822.SIZE | [`Message::rfc822_size`] | `u32` |
//! | BINARY\[part\]\<partial\> / BINARY.SIZE\[part\] (RFC 3516) | [`Message::binary`] / [`Message::binary_size`] | [`Binary`] (bytes + literal8 flag) / `u32` |
//! | SEARCH HEADER/FROM/TO/CC/BCC/SUBJECT | [`Message::matches_header`] | `bool` |
//! | SEARCH BODY / TEXT | [`Message::matches_body`] / [`Message::matches_text`] | `bool` |
//! | SEARCH SENTBEFORE/SENTON/SENTSINCE, SORT DATE | [`Message::sent_date`] | [`SentDate`] |
//! | SORT SUBJECT/FROM/TO/CC/DISPLAYFROM/DISPLAYTO | [`Message::sort_key`] | `String`, compare as strings |
//! | (RFC 5256 base subject, SORT address local part, raw) | [`Message::base_subject`], [`Message::sort_address`] | `String` |
//!
//! The same functions exist as free functions over `&[u8]` ([`envelope`],
//! [`body_structure`], [`section`], [`to_wire`], [`matches_header`], [`matches_body`],
//! [`matches_text`], [`date_header`], [`base_subject`]) for one-off use; each parses the
//! MIME structure again.
//!
//! # Dovecot compatibility (2.3.19.1, checked against a running Dovecot; see
//! `tests/fixtures/capture.py`)
//!
//! * Wire form: LF → CRLF, lone CR kept, NUL → 0x80; **no** CRLF is added at the end.
//! * A section that does not exist is the empty string (Dovecot answers `{0}`), not an
//!   error; `BODY[1.MIME]` of a single-part message is the message header.
//! * A plain 7-bit us-ascii text/plain message gets the fixed lower-case
//!   `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" n l …)` Dovecot sends once the
//!   message is cached.
//! * ENVELOPE and BODYSTRUCTURE strings are raw (encoded words not decoded); quoted or
//!   literal chosen as Dovecot chooses. imap-codec writes the keywords `"TEXT"` and
//!   `"MESSAGE" "RFC822"` in upper case where Dovecot writes the type as found; clients
//!   compare these case-insensitively.
//! * A missing or unparsable Date: [`Message::sent_date`] is `None`; Dovecot then
//!   searches (SENTBEFORE/SENTON/SENTSINCE) as if the date were 1970-01-01, but sorts
//!   (SORT DATE) by INTERNALDATE. SENT* compare the date in the header's own zone.
//! * SEARCH compares Dovecot's normalised forms ([`collation_key`]: title case, then
//!   decomposed), so `cafe` finds `café` in a subject; SORT compares the same keys.
//! * MIME nesting is capped at [`MAX_DEPTH`] levels and [`MAX_PARTS`] parts; deeper
//!   multiparts are reported as one `application/octet-stream` part, as Dovecot does.

use std::borrow::Cow;
use std::num::NonZeroU32;

pub use imap_codec::imap_types;
use imap_codec::imap_types::body::BodyStructure;
use imap_codec::imap_types::envelope::Envelope;
use imap_codec::imap_types::fetch::Section;

mod binary;
mod bodystructure;
mod envelope;
mod header;
mod imapstr;
mod mime;
mod rfc822;
mod search;
mod section;
mod sort;
mod wire;

pub use binary::{Binary, BinaryError};
pub use mime::{MAX_DEPTH, MAX_PARTS};
pub use wire::NUL_REPLACEMENT;

/// A message parsed once for many FETCH, SEARCH and SORT items. Borrows the bytes.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    root: mime::Part,
}

/// A SORT criterion that compares strings (RFC 5256 and RFC 5957 DISPLAYFROM/DISPLAYTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SortField {
    /// SORT CC: local part of the first Cc address.
    Cc,
    /// SORT DISPLAYFROM: decoded display name of the first From address, else its address.
    DisplayFrom,
    /// SORT DISPLAYTO: as DisplayFrom, for To.
    DisplayTo,
    /// SORT FROM: local part of the first From address.
    From,
    /// SORT SUBJECT: the base subject.
    Subject,
    /// SORT TO: local part of the first To address.
    To,
}

/// Which address header SORT FROM/TO/CC looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressField {
    /// SORT CC.
    Cc,
    /// SORT FROM.
    From,
    /// SORT TO.
    To,
}

/// Errors from this crate. Only sizes can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SizeError {
    /// The wire size does not fit IMAP's 32-bit number; the message cannot be offered
    /// as one literal (refuse it at delivery).
    #[error("message is {0} bytes in wire form, more than IMAP can announce")]
    TooLarge(u64),
}

/// The parsed `Date:` header (the first one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SentDate {
    /// Year as written (four digits after RFC 5322's two-digit year rules).
    pub year: u16,
    /// Month 1–12.
    pub month: u8,
    /// Day of month 1–31.
    pub day: u8,
    /// Hour 0–23.
    pub hour: u8,
    /// Minute 0–59.
    pub minute: u8,
    /// Second 0–60.
    pub second: u8,
    /// Zone offset east of UTC in minutes (`+0100` → 60).
    pub offset_minutes: i16,
}

impl SentDate {
    /// The date in the header's own zone, as SENTBEFORE/SENTON/SENTSINCE compare it
    /// (RFC 3501: time and zone disregarded).
    pub fn date(&self) -> (u16, u8, u8) {
        (self.year, self.month, self.day)
    }

    /// Seconds since 1970-01-01 00:00 UTC (for SORT DATE).
    pub fn timestamp(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_minutes) * 60
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl<'a> Message<'a> {
    /// Parses the MIME structure of `raw`. Linear in the size; never fails.
    pub fn parse(raw: &'a [u8]) -> Self {
        Self {
            raw,
            root: mime::parse(raw),
        }
    }

    /// The bytes this message was parsed from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// RFC 3501 ENVELOPE of the message, as Dovecot sends it (raw header values; Sender
    /// and Reply-To default to From; groups as `(NIL NIL "name" NIL)…(NIL NIL NIL NIL)`;
    /// a missing domain is `MISSING_DOMAIN`).
    pub fn envelope(&self) -> Envelope<'static> {
        envelope::build(&envelope::read(
            self.raw,
            self.root.header_start,
            self.root.body_start,
        ))
    }

    /// BODYSTRUCTURE (`extended`) or BODY (not `extended`): sizes in wire octets, lines
    /// for text/* and message/rfc822, nested ENVELOPE and body for message/rfc822,
    /// extension data with MD5, disposition, language and location.
    pub fn body_structure(&self, extended: bool) -> BodyStructure<'static> {
        bodystructure::build(self.raw, &self.root, extended)
    }

    /// The wire bytes of `BODY[section]<partial>`; `None` is `BODY[]`. A part that does
    /// not exist gives the empty string, as in Dovecot. `partial` is `(start, length)`.
    pub fn section(
        &self,
        section: Option<&Section<'_>>,
        partial: Option<(u32, NonZeroU32)>,
    ) -> Cow<'a, [u8]> {
        section::section(self.raw, &self.root, section, partial)
    }

    /// RFC 3516 `BINARY[section]<partial>` (`section` empty: the whole message): the
    /// content with base64/quoted-printable undone, line ends as CRLF, NUL kept. A part
    /// that does not exist is empty, as in Dovecot. For a message or multipart, every
    /// encoded part inside is rewritten as Dovecot does (body decoded, its
    /// `Content-Transfer-Encoding` header moved to the end of its header as `binary`).
    pub fn binary(
        &self,
        section: &[NonZeroU32],
        partial: Option<(u32, NonZeroU32)>,
    ) -> Result<Binary<'a>, BinaryError> {
        binary::binary(self.raw, &self.root, section, partial)
    }

    /// RFC 3516 `BINARY.SIZE[section]`: the length of [`Message::binary`] without a range.
    pub fn binary_size(&self, section: &[NonZeroU32]) -> Result<u32, BinaryError> {
        let n = binary::binary_size(self.raw, &self.root, section)?;
        u32::try_from(n).map_err(|_| BinaryError::TooLarge(u64::try_from(n).unwrap_or(u64::MAX)))
    }

    /// RFC822.SIZE: the size of `BODY[]` in wire form.
    pub fn rfc822_size(&self) -> Result<u32, SizeError> {
        let n = wire::wire_len(self.raw, 0, self.raw.len());
        u32::try_from(n).map_err(|_| SizeError::TooLarge(u64::try_from(n).unwrap_or(u64::MAX)))
    }

    /// SEARCH HEADER `field` `needle` (and FROM/TO/CC/BCC/SUBJECT): case-insensitive
    /// substring of the decoded value (RFC 2047 decoded, whitespace runs as one space;
    /// address fields as the normalised `Name <local@domain>` list). An empty needle
    /// matches when the field exists. Only the top-level header is searched.
    pub fn matches_header(&self, field: &str, needle: &str) -> bool {
        search::matches_header(self.raw, &self.root, field, needle)
    }

    /// SEARCH BODY: case-insensitive substring of the decoded bodies (transfer encoding
    /// and charset undone) of the text/* and message/* parts; headers, preamble and
    /// epilogue are not searched, as in Dovecot.
    pub fn matches_body(&self, needle: &str) -> bool {
        search::matches_body(self.raw, &self.root, needle)
    }

    /// SEARCH TEXT: [`Message::matches_body`] plus every header line (name and decoded
    /// value) of the message and of its MIME parts and encapsulated messages.
    pub fn matches_text(&self, needle: &str) -> bool {
        search::matches_text(self.raw, &self.root, needle)
    }

    /// The first `Date:` header, parsed; `None` when missing or unparsable (then SEARCH
    /// SENT* treats the date as 1970-01-01 and SORT DATE uses INTERNALDATE, as Dovecot).
    pub fn sent_date(&self) -> Option<SentDate> {
        let f = header::fields(self.raw, self.root.header_start, self.root.body_start)
            .find(|f| f.is(self.raw, "Date"))?;
        let text = String::from_utf8_lossy(&header::unfold(f.raw_value(self.raw))).into_owned();
        let dt = mail_parser::DateTime::parse_rfc822(&text)?;
        if !(1..=12).contains(&dt.month)
            || !(1..=31).contains(&dt.day)
            || dt.hour > 23
            || dt.minute > 59
            || dt.second > 60
        {
            return None;
        }
        let off = i16::from(dt.tz_hour) * 60 + i16::from(dt.tz_minute);
        Some(SentDate {
            year: dt.year,
            month: dt.month,
            day: dt.day,
            hour: dt.hour,
            minute: dt.minute,
            second: dt.second,
            offset_minutes: if dt.tz_before_gmt { -off } else { off },
        })
    }

    /// RFC 5256 base subject (for SORT SUBJECT and THREAD): decoded, whitespace
    /// collapsed, `Re:`/`Fwd:`/`[blob]` leaders, trailing `(fwd)` and `[fwd: …]` wrappers
    /// removed. Empty when there is no Subject. Compare with a case-insensitive collation.
    pub fn base_subject(&self) -> String {
        let subject = header::fields(self.raw, self.root.header_start, self.root.body_start)
            .find(|f| f.is(self.raw, "Subject"))
            .map(|f| search::decode_header(f.raw_value(self.raw)))
            .unwrap_or_default();
        sort::base_subject(&subject)
    }

    /// The SORT key for `field` as Dovecot 2.3 builds it: the value (see [`SortField`];
    /// empty when the header is missing) put through [`collation_key`]. Sort by comparing
    /// the keys as strings (byte order), ties by sequence number. A group name counts as
    /// the first address, as in Dovecot. SORT DATE is [`Message::sent_date`] (Dovecot
    /// falls back to INTERNALDATE when it is `None`); SORT SIZE is
    /// [`Message::rfc822_size`].
    pub fn sort_key(&self, field: SortField) -> String {
        let value = match field {
            SortField::Subject => {
                let subject =
                    header::fields(self.raw, self.root.header_start, self.root.body_start)
                        .find(|f| f.is(self.raw, "Subject"))
                        .map(|f| search::decode_header(f.raw_value(self.raw)));
                subject.map(|s| sort::base_subject(&s)).unwrap_or_default()
            }
            SortField::Cc => self.sort_address(AddressField::Cc).unwrap_or_default(),
            SortField::From => self.sort_address(AddressField::From).unwrap_or_default(),
            SortField::To => self.sort_address(AddressField::To).unwrap_or_default(),
            SortField::DisplayFrom => self.display_name("From"),
            SortField::DisplayTo => self.display_name("To"),
        };
        collation_key(&value)
    }

    /// RFC 5957 display name of the first address of `field`.
    fn display_name(&self, field: &str) -> String {
        let Some(a) = search::first_address(self.raw, &self.root, field) else {
            return String::new();
        };
        if let Some(name) = &a.name {
            let decoded = search::decode_header(name);
            if !decoded.is_empty() {
                return decoded;
            }
        }
        let mut out =
            String::from_utf8_lossy(a.mailbox.as_deref().unwrap_or_default()).into_owned();
        if let Some(host) = &a.host {
            out.push('@');
            out.push_str(&String::from_utf8_lossy(host));
        }
        out
    }

    /// The raw local part (RFC 5256 addr-mailbox) of the first address of the first such
    /// header (a group's name when the list starts with a group, as Dovecot takes it),
    /// lossily decoded as UTF-8; `None` when there is none. [`Message::sort_key`] is the
    /// collated form SORT compares.
    pub fn sort_address(&self, field: AddressField) -> Option<String> {
        let name = match field {
            AddressField::Cc => "Cc",
            AddressField::From => "From",
            AddressField::To => "To",
        };
        let a = search::first_address(self.raw, &self.root, name)?;
        a.mailbox.map(|m| String::from_utf8_lossy(&m).into_owned())
    }
}

/// Dovecot's SORT collation (`uni_utf8_to_decomposed_titlecase`): every character
/// title-cased (approximated by a one-character upper case), then decomposed
/// (compatibility decomposition). Compare the results as plain strings.
pub fn collation_key(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let mut up = c.to_uppercase();
        let t = match (up.next(), up.next()) {
            (Some(u), None) => u,
            _ => c,
        };
        out.extend(std::iter::once(t).nfkd());
    }
    out
}

/// The wire form of a whole message, as Dovecot sends `BODY[]`: LF → CRLF, a lone CR
/// kept, NUL → 0x80, nothing added at the end. Borrowed when nothing changes.
pub fn to_wire(raw: &[u8]) -> Cow<'_, [u8]> {
    wire::wire_range(raw, 0, raw.len())
}

/// The length of [`to_wire`] without building it (RFC822.SIZE).
pub fn wire_size(raw: &[u8]) -> usize {
    wire::wire_len(raw, 0, raw.len())
}

/// ENVELOPE of `raw`; see [`Message::envelope`].
pub fn envelope(raw: &[u8]) -> Envelope<'static> {
    Message::parse(raw).envelope()
}

/// BODY (`extended == false`) or BODYSTRUCTURE of `raw`; see [`Message::body_structure`].
pub fn body_structure(raw: &[u8], extended: bool) -> BodyStructure<'static> {
    Message::parse(raw).body_structure(extended)
}

/// `BODY[section]<partial>` of `raw` in wire form; see [`Message::section`].
pub fn section<'a>(
    raw: &'a [u8],
    section: Option<&Section<'_>>,
    partial: Option<(u32, NonZeroU32)>,
) -> Cow<'a, [u8]> {
    Message::parse(raw).section(section, partial)
}

/// SEARCH HEADER; see [`Message::matches_header`].
pub fn matches_header(raw: &[u8], field: &str, needle: &str) -> bool {
    Message::parse(raw).matches_header(field, needle)
}

/// SEARCH BODY; see [`Message::matches_body`].
pub fn matches_body(raw: &[u8], needle: &str) -> bool {
    Message::parse(raw).matches_body(needle)
}

/// SEARCH TEXT; see [`Message::matches_text`].
pub fn matches_text(raw: &[u8], needle: &str) -> bool {
    Message::parse(raw).matches_text(needle)
}

/// The first Date header; see [`Message::sent_date`].
pub fn date_header(raw: &[u8]) -> Option<SentDate> {
    Message::parse(raw).sent_date()
}

/// RFC 5256 base subject; see [`Message::base_subject`].
pub fn base_subject(raw: &[u8]) -> String {
    Message::parse(raw).base_subject()
}
