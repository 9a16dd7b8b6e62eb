//! A pre-parser for what imap-codec cannot parse yet: LIST-EXTENDED (RFC 5258) with selection
//! options, several patterns and RETURN options (`SUBSCRIBED`, `CHILDREN`, `SPECIAL-USE`,
//! `STATUS (...)` of RFC 5819). Tried only after the codec has refused a command.

/// A parsed extended LIST command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtendedList {
    /// The command tag.
    pub(crate) tag: String,
    /// Reference name (raw, as sent).
    pub(crate) reference: String,
    /// Mailbox patterns (raw).
    pub(crate) patterns: Vec<String>,
    /// `(SUBSCRIBED)` selection: only subscribed mailboxes.
    pub(crate) select_subscribed: bool,
    /// `(SPECIAL-USE)` selection: only mailboxes with a special use.
    pub(crate) select_special_use: bool,
    /// `RECURSIVEMATCH` selection.
    pub(crate) recursive_match: bool,
    /// `RETURN (SUBSCRIBED)` or a SUBSCRIBED selection.
    pub(crate) return_subscribed: bool,
    /// `RETURN (STATUS (...))` items, upper case.
    pub(crate) return_status: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Atom(String),
    Str(String),
    Open,
    Close,
}

/// Parses `tag LIST ...` when it is an extended LIST; `None` otherwise.
pub(crate) fn parse(bytes: &[u8]) -> Option<ExtendedList> {
    let tokens = tokenize(bytes)?;
    let mut it = tokens.into_iter().peekable();
    let Some(Token::Atom(tag)) = it.next() else {
        return None;
    };
    match it.next() {
        Some(Token::Atom(cmd)) if cmd.eq_ignore_ascii_case("LIST") => {}
        _ => return None,
    }
    let mut out = ExtendedList {
        tag,
        ..ExtendedList::default()
    };
    if it.peek() == Some(&Token::Open) {
        it.next();
        loop {
            match it.next()? {
                Token::Close => break,
                Token::Atom(a) => match a.to_ascii_uppercase().as_str() {
                    "SUBSCRIBED" => {
                        out.select_subscribed = true;
                        out.return_subscribed = true;
                    }
                    "SPECIAL-USE" => out.select_special_use = true,
                    "RECURSIVEMATCH" => out.recursive_match = true,
                    "REMOTE" => {}
                    _ => return None,
                },
                _ => return None,
            }
        }
    }
    out.reference = match it.next()? {
        Token::Atom(a) | Token::Str(a) => a,
        _ => return None,
    };
    match it.next()? {
        Token::Atom(a) | Token::Str(a) => out.patterns.push(a),
        Token::Open => loop {
            match it.next()? {
                Token::Close => break,
                Token::Atom(a) | Token::Str(a) => out.patterns.push(a),
                Token::Open => return None,
            }
        },
        Token::Close => return None,
    }
    if let Some(token) = it.next() {
        if !matches!(&token, Token::Atom(a) if a.eq_ignore_ascii_case("RETURN")) {
            return None;
        }
        if it.next()? != Token::Open {
            return None;
        }
        loop {
            match it.next()? {
                Token::Close => break,
                Token::Atom(a) => match a.to_ascii_uppercase().as_str() {
                    "SUBSCRIBED" => out.return_subscribed = true,
                    "CHILDREN" | "SPECIAL-USE" => {}
                    "STATUS" => {
                        if it.next()? != Token::Open {
                            return None;
                        }
                        let mut items = Vec::new();
                        loop {
                            match it.next()? {
                                Token::Close => break,
                                Token::Atom(i) => items.push(i.to_ascii_uppercase()),
                                _ => return None,
                            }
                        }
                        out.return_status = Some(items);
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
        if it.next().is_some() {
            return None;
        }
    }
    if out.recursive_match && !out.select_subscribed {
        return None; // RFC 5258: RECURSIVEMATCH alone is a syntax error
    }
    Some(out)
}

/// Splits a command (ending in CRLF) into tokens; literals are read inline.
fn tokenize(bytes: &[u8]) -> Option<Vec<Token>> {
    let line = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))?;
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = line.get(i) {
        match b {
            b' ' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b'"' => {
                let mut s = Vec::new();
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'"' => break,
                        b'\\' => {
                            i += 1;
                            s.push(*line.get(i)?);
                        }
                        c => s.push(c),
                    }
                    i += 1;
                }
                i += 1;
                out.push(Token::Str(String::from_utf8(s).ok()?));
            }
            b'{' => {
                let close = line.get(i..)?.iter().position(|&c| c == b'}')? + i;
                let spec = std::str::from_utf8(line.get(i + 1..close)?).ok()?;
                let len: usize = spec.trim_end_matches('+').parse().ok()?;
                let start = close + 3; // "}\r\n"
                let data = line.get(start..start + len)?;
                out.push(Token::Str(String::from_utf8(data.to_vec()).ok()?));
                i = start + len;
            }
            _ => {
                let end = line
                    .get(i..)?
                    .iter()
                    .position(|&c| matches!(c, b' ' | b'(' | b')'))
                    .map_or(line.len(), |p| p + i);
                out.push(Token::Atom(
                    String::from_utf8(line.get(i..end)?.to_vec()).ok()?,
                ));
                i = end;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5258_and_rfc5819_forms() {
        let l =
            parse(b"a LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n")
                .unwrap();
        assert_eq!(l.tag, "a");
        assert!(l.select_subscribed && l.return_subscribed);
        assert_eq!(l.patterns, vec!["*".to_string()]);
        assert_eq!(
            l.return_status,
            Some(vec!["MESSAGES".to_string(), "UNSEEN".to_string()])
        );
        let l = parse(b"b list \"\" (INBOX \"Sent\") RETURN (SPECIAL-USE)\r\n").unwrap();
        assert_eq!(l.patterns.len(), 2);
        assert!(parse(b"c LIST (RECURSIVEMATCH) \"\" *\r\n").is_none());
        assert!(parse(b"d FETCH 1 (FLAGS)\r\n").is_none());
        assert!(parse(b"e LIST \"\" * RETURN (BOGUS)\r\n").is_none());
    }
}
