//! BODY and BODYSTRUCTURE, shaped as Dovecot 2.3 sends them (`imap-bodystructure.c`).

use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{IString, NString, Vec1};

use crate::envelope;
use crate::header::{clean_value, fields};
use crate::imapstr::{nstring, string};
use crate::mime::{Kind, Part};
use crate::rfc822::{MimeValue, Token, parse_mime_value, tokenize};
use crate::wire::{count_lines, wire_len};

/// The Content-* data of one part (Dovecot's `message_part_data`).
#[derive(Debug, Default)]
struct PartData {
    content_type: Option<MimeValue>,
    encoding: Option<Vec<u8>>,
    id: Option<Vec<u8>>,
    description: Option<Vec<u8>>,
    md5: Option<Vec<u8>>,
    disposition: Option<MimeValue>,
    language: Option<Vec<Vec<u8>>>,
    location: Option<Vec<u8>>,
}

fn part_data(raw: &[u8], part: &Part) -> PartData {
    let mut d = PartData::default();
    if !part.is_mime {
        return d;
    }
    d.content_type = part.content_type.clone();
    for f in fields(raw, part.header_start, part.body_start) {
        let name = f.name(raw);
        let Some(rest) = name
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case(b"Content-"))
        else {
            continue;
        };
        let _ = rest;
        let sub = name.get(8..).unwrap_or_default();
        let value = f.raw_value(raw);
        let is = |n: &str| sub.eq_ignore_ascii_case(n.as_bytes());
        if is("Transfer-Encoding") && d.encoding.is_none() {
            d.encoding = transfer_encoding(value);
        } else if is("ID") && d.id.is_none() {
            d.id = Some(clean_value(value));
        } else if is("Description") && d.description.is_none() {
            d.description = Some(clean_value(value));
        } else if is("MD5") && d.md5.is_none() {
            d.md5 = Some(clean_value(value));
        } else if is("Location") && d.location.is_none() {
            d.location = Some(clean_value(value));
        } else if is("Language") && d.language.is_none() {
            d.language = language(value);
        } else if is("Disposition") && d.disposition.as_ref().is_none_or(|v| v.params.is_empty()) {
            let v = parse_mime_value(value, false);
            if !v.main.is_empty() {
                d.disposition = Some(v);
            }
        }
    }
    d
}

/// One MIME token, nothing else (Dovecot ignores the header otherwise).
fn transfer_encoding(value: &[u8]) -> Option<Vec<u8>> {
    let toks = tokenize(value, true);
    let mut it = toks.iter().filter(|t| !matches!(t, Token::Comment(_)));
    match (it.next(), it.next()) {
        (Some(Token::Atom(a)), None) => Some(a.clone()),
        _ => None,
    }
}

/// `Content-Language: en, de` → atoms separated by commas.
fn language(value: &[u8]) -> Option<Vec<Vec<u8>>> {
    let toks = tokenize(value, false);
    let mut out = Vec::new();
    let mut it = toks.iter().filter(|t| !matches!(t, Token::Comment(_)));
    while let Some(Token::Atom(a)) = it.next() {
        out.push(a.clone());
        match it.next() {
            Some(Token::Special(b',')) => {}
            _ => break,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Builds BODY (`extended == false`) or BODYSTRUCTURE for `part`.
pub(crate) fn build(raw: &[u8], part: &Part, extended: bool) -> BodyStructure<'static> {
    let data = part_data(raw, part);
    if let Kind::Multipart(children) = &part.kind {
        let mut bodies: Vec<BodyStructure<'static>> =
            children.iter().map(|c| build(raw, c, extended)).collect();
        if bodies.is_empty() {
            bodies.push(empty_body(extended));
        }
        let subtype = data
            .content_type
            .as_ref()
            .and_then(|c| c.sub.clone())
            .unwrap_or_default();
        let bodies = match Vec1::try_from(bodies) {
            Ok(v) => v,
            Err(_) => Vec1::from(empty_body(extended)),
        };
        return BodyStructure::Multi {
            bodies,
            subtype: string(&subtype),
            extension_data: extended.then(|| MultiPartExtensionData {
                parameter_list: params(data.content_type.as_ref(), false),
                tail: Some(common_ext(&data)),
            }),
        };
    }
    let size = u32::try_from(wire_len(raw, part.body_start, part.end)).unwrap_or(u32::MAX);
    let lines = u32::try_from(count_lines(raw, part.body_start, part.end)).unwrap_or(u32::MAX);
    let (r#type, subtype, text): (Vec<u8>, Vec<u8>, bool) = match (&part.kind, &data.content_type) {
        (Kind::Message(_), _) => (b"message".to_vec(), b"rfc822".to_vec(), false),
        (_, Some(ct)) if truncated(part, ct) => {
            (b"application".to_vec(), b"octet-stream".to_vec(), false)
        }
        (_, Some(ct)) => (
            ct.main.clone(),
            ct.sub.clone().unwrap_or_default(),
            ct.main.eq_ignore_ascii_case(b"text"),
        ),
        (_, None) if !part.text => (b"application".to_vec(), b"octet-stream".to_vec(), false),
        (_, None) => (b"text".to_vec(), b"plain".to_vec(), true),
    };
    // Dovecot answers a plain 7-bit us-ascii text/plain message with this fixed,
    // lower-case form once the message is in its cache (`IMAP_BODY_PLAIN_7BIT_ASCII`).
    let (r#type, subtype, parameter_list) = if is_plain_7bit(part, &data) {
        (
            string(b"text"),
            string(b"plain"),
            vec![(string(b"charset"), string(b"us-ascii"))],
        )
    } else {
        (
            string(&r#type),
            string(&subtype),
            params(data.content_type.as_ref(), text),
        )
    };
    let basic = BasicFields {
        parameter_list,
        id: nstring(data.id.as_deref()),
        description: nstring(data.description.as_deref()),
        content_transfer_encoding: string(data.encoding.as_deref().unwrap_or(b"7bit")),
        size,
    };
    let specific = match &part.kind {
        Kind::Message(inner) => {
            let env = envelope::build(&envelope::read(raw, inner.header_start, inner.body_start));
            SpecificFields::Message {
                envelope: Box::new(env),
                body_structure: Box::new(build(raw, inner, extended)),
                number_of_lines: lines,
            }
        }
        _ if text => SpecificFields::Text {
            subtype,
            number_of_lines: lines,
        },
        _ => SpecificFields::Basic { r#type, subtype },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: nstring(data.md5.as_deref()),
            tail: Some(common_ext(&data)),
        }),
    }
}

/// True for a multipart or message/rfc822 part that the limits kept opaque.
fn truncated(part: &Part, ct: &MimeValue) -> bool {
    if matches!(part.kind, Kind::Multipart(_) | Kind::Message(_)) {
        return false;
    }
    let main = ct.main.as_slice();
    let sub = ct.sub.as_deref().unwrap_or_default();
    main.eq_ignore_ascii_case(b"multipart")
        || (main.eq_ignore_ascii_case(b"message") && sub.eq_ignore_ascii_case(b"rfc822"))
}

/// Dovecot's `message_part_data_is_plain_7bit`, for the top-level part only.
fn is_plain_7bit(part: &Part, d: &PartData) -> bool {
    if part.header_start != 0 || !part.text || !matches!(part.kind, Kind::Leaf) {
        return false;
    }
    if let Some(ct) = &d.content_type {
        if !ct.main.eq_ignore_ascii_case(b"text") {
            return false;
        }
        if ct
            .sub
            .as_deref()
            .is_some_and(|s| !s.eq_ignore_ascii_case(b"plain"))
        {
            return false;
        }
        match ct.params.as_slice() {
            [] => {}
            [(n, v)]
                if n.eq_ignore_ascii_case(b"charset") && v.eq_ignore_ascii_case(b"us-ascii") => {}
            _ => return false,
        }
    }
    d.id.is_none()
        && d.description.is_none()
        && d.encoding
            .as_deref()
            .is_none_or(|e| e.eq_ignore_ascii_case(b"7bit"))
        && d.md5.is_none()
        && d.disposition.is_none()
        && d.language.is_none()
        && d.location.is_none()
}

/// The parameter list; for text parts a `charset us-ascii` is added when missing.
fn params(
    ct: Option<&MimeValue>,
    default_charset: bool,
) -> Vec<(IString<'static>, IString<'static>)> {
    let list: &[(Vec<u8>, Vec<u8>)] = ct.filter(|c| c.valid).map_or(&[], |c| c.params.as_slice());
    let mut out: Vec<_> = list.iter().map(|(n, v)| (string(n), string(v))).collect();
    if default_charset && !list.iter().any(|(n, _)| n.eq_ignore_ascii_case(b"charset")) {
        out.push((string(b"charset"), string(b"us-ascii")));
    }
    out
}

/// Disposition, language and location.
fn common_ext(d: &PartData) -> Disposition<'static> {
    let disposition = d
        .disposition
        .as_ref()
        .map(|v| (string(&v.main), params(Some(v), false)));
    let language = d
        .language
        .as_ref()
        .map(|l| l.iter().map(|x| string(x)).collect())
        .unwrap_or_default();
    Disposition {
        disposition,
        tail: Some(Language {
            language,
            tail: Some(Location {
                location: nstring(d.location.as_deref()),
                extensions: Vec::new(),
            }),
        }),
    }
}

/// Dovecot's body for a multipart without parts: an empty text/plain.
fn empty_body(extended: bool) -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: vec![(string(b"charset"), string(b"us-ascii"))],
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: string(b"7bit"),
                size: 0,
            },
            specific: SpecificFields::Text {
                subtype: string(b"plain"),
                number_of_lines: 0,
            },
        },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: NString(None),
            tail: Some(Disposition {
                disposition: None,
                tail: Some(Language {
                    language: Vec::new(),
                    tail: Some(Location {
                        location: NString(None),
                        extensions: Vec::new(),
                    }),
                }),
            }),
        }),
    }
}
