//! ESEARCH (RFC 4731) `SEARCH RETURN (MIN MAX COUNT ALL)`, which imap-codec cannot parse:
//! the RETURN clause is cut out and the rest goes through the codec as a plain SEARCH.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder as _;
use imap_codec::imap_types::IntoStatic as _;
use imap_codec::imap_types::command::Command;

/// What the client asked ESEARCH to return.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Returns {
    pub(crate) min: bool,
    pub(crate) max: bool,
    pub(crate) count: bool,
    pub(crate) all: bool,
}

/// `tag [UID] SEARCH RETURN (...) criteria` → the plain SEARCH command and the options;
/// `None` when the bytes are not such a command (or an option is unknown).
pub(crate) fn parse(bytes: &[u8]) -> Option<(Command<'static>, Returns)> {
    let text = bytes;
    let upper: Vec<u8> = text.to_ascii_uppercase();
    let find = |needle: &[u8], from: usize| {
        upper
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let search = find(b" SEARCH RETURN (", 0)?;
    // Only a tag, or a tag and UID, may come before SEARCH.
    let head = std::str::from_utf8(text.get(..search)?).ok()?;
    let words: Vec<&str> = head.split(' ').collect();
    match words.as_slice() {
        [_tag] => {}
        [_tag, uid] if uid.eq_ignore_ascii_case("UID") => {}
        _ => return None,
    }
    let open = search + b" SEARCH RETURN (".len();
    let close = find(b")", open)?;
    let mut returns = Returns::default();
    let options = std::str::from_utf8(text.get(open..close)?).ok()?;
    for option in options.split_whitespace() {
        match option.to_ascii_uppercase().as_str() {
            "MIN" => returns.min = true,
            "MAX" => returns.max = true,
            "COUNT" => returns.count = true,
            "ALL" => returns.all = true,
            _ => return None,
        }
    }
    if returns == Returns::default() {
        returns.all = true; // RFC 4731 §3.1: RETURN () means ALL
    }
    let mut plain = text.get(..search)?.to_vec();
    plain.extend_from_slice(b" SEARCH");
    plain.extend_from_slice(text.get(close + 1..)?);
    let (_, command) = CommandCodec::default().decode(&plain).ok()?;
    Some((command.into_static(), returns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::imap_types::command::CommandBody;

    #[test]
    fn rfc4731_return_clause() {
        let (cmd, r) = parse(b"a UID SEARCH RETURN (MIN COUNT) UNSEEN\r\n").unwrap();
        assert!(matches!(cmd.body, CommandBody::Search { uid: true, .. }));
        assert!(r.min && r.count && !r.max && !r.all);
        let (_, r) = parse(b"b SEARCH RETURN () ALL\r\n").unwrap();
        assert!(r.all);
        assert!(parse(b"c SEARCH RETURN (BOGUS) ALL\r\n").is_none());
        assert!(parse(b"d FETCH 1 FLAGS\r\n").is_none());
    }
}
