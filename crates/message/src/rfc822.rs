//! A lenient RFC 5322 / RFC 2045 tokenizer for address lists and MIME parameter headers.
//!
//! Values are kept raw: encoded words (RFC 2047) are not decoded, because Dovecot sends
//! ENVELOPE and BODYSTRUCTURE strings undecoded.

/// One token of a structured header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// An atom (any run of non-special, non-space bytes; dots included).
    Atom(Vec<u8>),
    /// A quoted string, quotes removed and backslash escapes resolved.
    Quoted(Vec<u8>),
    /// A domain literal `[...]`, brackets kept.
    Literal(Vec<u8>),
    /// A comment's text (outer parentheses removed).
    Comment(Vec<u8>),
    /// A special character.
    Special(u8),
}

/// True for the specials that end an atom.
fn is_special(b: u8, mime: bool) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'@' | b',' | b';' | b':' | b'\\' | b'"' | b'[' | b']'
    ) || (mime && matches!(b, b'/' | b'?' | b'='))
}

/// Splits `value` into tokens. `mime` adds the RFC 2045 tspecials `/ ? =`.
pub(crate) fn tokenize(value: &[u8], mime: bool) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while let Some(&c) = value.get(i) {
                    i += 1;
                    match c {
                        b'\\' => {
                            if let Some(&n) = value.get(i) {
                                text.push(n);
                                i += 1;
                            }
                        }
                        b'(' => {
                            if depth > 0 {
                                text.push(c);
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        b'\r' | b'\n' => {}
                        _ => text.push(c),
                    }
                }
                out.push(Token::Comment(text));
            }
            b'"' => {
                i += 1;
                let mut text = Vec::new();
                while let Some(&c) = value.get(i) {
                    i += 1;
                    match c {
                        b'\\' => {
                            if let Some(&n) = value.get(i) {
                                text.push(n);
                                i += 1;
                            }
                        }
                        b'"' => break,
                        b'\r' | b'\n' => {}
                        _ => text.push(c),
                    }
                }
                out.push(Token::Quoted(text));
            }
            b'[' if !mime => {
                let start = i;
                while let Some(&c) = value.get(i) {
                    i += 1;
                    if c == b']' {
                        break;
                    }
                }
                let lit: Vec<u8> = value
                    .get(start..i)
                    .unwrap_or_default()
                    .iter()
                    .copied()
                    .filter(|c| *c != b'\r' && *c != b'\n')
                    .collect();
                out.push(Token::Literal(lit));
            }
            _ if is_special(b, mime) => {
                out.push(Token::Special(b));
                i += 1;
            }
            _ => {
                let start = i;
                while let Some(&c) = value.get(i) {
                    if matches!(c, b' ' | b'\t' | b'\r' | b'\n') || is_special(c, mime) {
                        break;
                    }
                    i += 1;
                }
                out.push(Token::Atom(
                    value.get(start..i).unwrap_or_default().to_vec(),
                ));
            }
        }
    }
    out
}

/// One address, or a group marker, as ENVELOPE wants it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Addr {
    /// Display name (phrase), raw, or the comment when there is no phrase.
    pub(crate) name: Option<Vec<u8>>,
    /// Source route (`@a,@b`).
    pub(crate) route: Option<Vec<u8>>,
    /// Local part; the group name for a group start.
    pub(crate) mailbox: Option<Vec<u8>>,
    /// Domain; `None` for group markers.
    pub(crate) host: Option<Vec<u8>>,
}

/// Dovecot's filler for an address without a local part.
const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
/// Dovecot's domain for an angle address that is not closed.
const SYNTAX_ERROR: &[u8] = b"SYNTAX_ERROR";
/// Dovecot's filler for an address without a domain.
const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

/// Parses an address list (From, To, …) with groups, leniently, in Dovecot's shape.
pub(crate) fn parse_addresses(value: &[u8]) -> Vec<Addr> {
    let toks = tokenize(value, false);
    let mut p = Parser {
        toks: &toks,
        pos: 0,
    };
    let mut out = Vec::new();
    let mut in_group = false;
    // Dovecot (with FILL_MISSING): an empty element between separators, or a separator
    // where an address should be, is an address with MISSING_MAILBOX/MISSING_DOMAIN; an
    // empty list and a trailing comma add nothing.
    let missing = || fill(Addr::default());
    while let Some(t) = p.peek() {
        match t {
            Token::Comment(_) => p.pos += 1,
            Token::Special(b',') => {
                out.push(missing());
                p.pos += 1;
            }
            Token::Special(b';') => {
                p.pos += 1;
                if in_group {
                    out.push(Addr::default());
                    in_group = false;
                    p.skip_comments();
                    if let Some(Token::Special(b',')) = p.peek() {
                        p.pos += 1;
                    }
                } else {
                    out.push(missing());
                }
            }
            _ => {
                let before = p.pos;
                match p.mailbox_or_group() {
                    Item::GroupStart(name) => {
                        if in_group {
                            out.push(Addr::default());
                        }
                        in_group = true;
                        out.push(Addr {
                            mailbox: Some(name),
                            ..Addr::default()
                        });
                        continue;
                    }
                    Item::Mailbox(a) => out.push(a),
                    Item::Nothing => out.push(missing()),
                }
                if p.pos == before {
                    // cannot make progress: skip one token
                    p.pos += 1;
                }
                // the separator after an address
                p.skip_comments();
                if let Some(Token::Special(b',')) = p.peek() {
                    p.pos += 1;
                }
            }
        }
    }
    if in_group {
        out.push(Addr::default());
    }
    out
}

enum Item {
    GroupStart(Vec<u8>),
    Mailbox(Addr),
    Nothing,
}

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    /// Reads words (atoms, quoted strings) and comments up to a special.
    fn words(&mut self) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        let mut words = Vec::new();
        let mut comment = None;
        while let Some(t) = self.peek() {
            match t {
                Token::Atom(a) | Token::Literal(a) => words.push(a.clone()),
                Token::Quoted(q) => words.push(q.clone()),
                Token::Comment(c) => comment = Some(c.clone()),
                Token::Special(b'.') => words.push(b".".to_vec()),
                Token::Special(_) => break,
            }
            self.pos += 1;
        }
        (words, comment)
    }

    fn mailbox_or_group(&mut self) -> Item {
        let (words, _comment_before) = self.words();
        match self.peek() {
            Some(Token::Special(b':')) => {
                self.pos += 1;
                Item::GroupStart(join(&words, b" "))
            }
            Some(Token::Special(b'<')) => {
                self.pos += 1;
                let mut addr = self.angle_addr();
                let comment = self.trailing_comments();
                addr.name = if words.is_empty() {
                    comment.filter(|c| !c.is_empty())
                } else {
                    Some(join(&words, b" "))
                };
                Item::Mailbox(addr)
            }
            _ => {
                // addr-spec: the words are the local part; a comment after it is the name
                let local = join(&words, b"");
                let mut host = None;
                let mut comment = None;
                if let Some(Token::Special(b'@')) = self.peek() {
                    self.pos += 1;
                    let (dom, c) = self.words();
                    comment = c;
                    host = Some(join(&dom, b""));
                }
                if let Some(c) = self.trailing_comments() {
                    comment = Some(c);
                }
                if words.is_empty() && host.is_none() {
                    return Item::Nothing;
                }
                Item::Mailbox(fill(Addr {
                    name: comment.filter(|c| !c.is_empty()),
                    route: None,
                    mailbox: Some(local),
                    host,
                }))
            }
        }
    }

    fn skip_comments(&mut self) {
        while let Some(Token::Comment(_)) = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips comments; the last one's text.
    fn trailing_comments(&mut self) -> Option<Vec<u8>> {
        let mut last = None;
        while let Some(Token::Comment(c)) = self.peek() {
            last = Some(c.clone());
            self.pos += 1;
        }
        last
    }

    /// Parses after '<' up to and including '>'.
    fn angle_addr(&mut self) -> Addr {
        let mut route: Option<Vec<u8>> = None;
        if let Some(Token::Special(b'@')) = self.peek() {
            let mut r = Vec::new();
            while let Some(t) = self.peek() {
                match t {
                    Token::Special(b':') => {
                        self.pos += 1;
                        break;
                    }
                    Token::Special(b'>') => break,
                    Token::Special(c) => r.push(*c),
                    Token::Atom(a) | Token::Literal(a) | Token::Quoted(a) => {
                        r.extend_from_slice(a);
                    }
                    Token::Comment(_) => {}
                }
                self.pos += 1;
            }
            route = Some(r);
        }
        let (local, _) = self.words();
        let mut host = None;
        if let Some(Token::Special(b'@')) = self.peek() {
            self.pos += 1;
            let (dom, _) = self.words();
            host = Some(join(&dom, b""));
        }
        // Dovecot: an angle address not closed by '>' gets the domain SYNTAX_ERROR, and
        // parsing goes on with what follows.
        if let Some(Token::Special(b'>')) = self.peek() {
            self.pos += 1;
        } else {
            host = Some(SYNTAX_ERROR.to_vec());
        }
        fill(Addr {
            name: None,
            route,
            mailbox: Some(join(&local, b"")),
            host,
        })
    }
}

fn fill(mut a: Addr) -> Addr {
    if a.mailbox.as_ref().is_none_or(|m| m.is_empty()) {
        a.mailbox = Some(MISSING_MAILBOX.to_vec());
    }
    if a.host.as_ref().is_none_or(|h| h.is_empty()) {
        a.host = Some(MISSING_DOMAIN.to_vec());
    }
    a
}

fn join(words: &[Vec<u8>], sep: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        // a dot glues to its neighbours
        let glue = w.as_slice() == b"."
            || words
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.as_slice() == b".");
        if i > 0 && !glue {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(w);
    }
    out
}

/// A parsed `Content-Type` or `Content-Disposition`: the value and its parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MimeValue {
    /// `type/subtype` for Content-Type (type, subtype), or the disposition token.
    pub(crate) main: Vec<u8>,
    /// The subtype (Content-Type only); `None` when there was no `/`.
    pub(crate) sub: Option<Vec<u8>>,
    /// Parameters in order, names as written, values unquoted.
    pub(crate) params: Vec<(Vec<u8>, Vec<u8>)>,
    /// False when the value itself was malformed (parameters then not read).
    pub(crate) valid: bool,
}

/// Parses `type/subtype; a=b; …` (or a disposition when `with_sub` is false).
pub(crate) fn parse_mime_value(value: &[u8], with_sub: bool) -> MimeValue {
    let toks = tokenize(value, true);
    let mut i = 0;
    let mut mv = MimeValue::default();
    let skip_comments = |i: &mut usize| {
        while let Some(Token::Comment(_)) = toks.get(*i) {
            *i += 1;
        }
    };
    skip_comments(&mut i);
    match toks.get(i) {
        Some(Token::Atom(a)) => {
            mv.main = a.clone();
            i += 1;
        }
        _ => return mv,
    }
    if with_sub {
        skip_comments(&mut i);
        match toks.get(i) {
            Some(Token::Special(b'/')) => {
                i += 1;
                skip_comments(&mut i);
                match toks.get(i) {
                    Some(Token::Atom(a)) => {
                        i += 1;
                        skip_comments(&mut i);
                        if !matches!(toks.get(i), None | Some(Token::Special(b';'))) {
                            // Dovecot drops the whole value when junk follows the subtype
                            mv.main.clear();
                            return mv;
                        }
                        mv.sub = Some(a.clone());
                    }
                    _ => {
                        mv.main.clear();
                        return mv;
                    }
                }
            }
            // `text` alone: Dovecot keeps the type, with an empty subtype
            None => return mv,
            _ => {
                mv.main.clear();
                return mv;
            }
        }
    }
    mv.valid = true;
    mv.params = parse_params(&toks, i);
    mv
}

/// Reads `; name=value` pairs from `toks[i..]`, joining RFC 2231 continuations.
fn parse_params(toks: &[Token], mut i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut raw: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        while let Some(Token::Comment(_)) = toks.get(i) {
            i += 1;
        }
        match toks.get(i) {
            Some(Token::Special(b';')) => i += 1,
            None => break,
            _ => break,
        }
        while let Some(Token::Comment(_)) = toks.get(i) {
            i += 1;
        }
        let Some(Token::Atom(name)) = toks.get(i) else {
            break;
        };
        i += 1;
        while let Some(Token::Comment(_)) = toks.get(i) {
            i += 1;
        }
        if toks.get(i) != Some(&Token::Special(b'=')) {
            break;
        }
        i += 1;
        while let Some(Token::Comment(_)) = toks.get(i) {
            i += 1;
        }
        let value = match toks.get(i) {
            Some(Token::Atom(v) | Token::Quoted(v)) => v.clone(),
            _ => break,
        };
        i += 1;
        raw.push((name.clone(), value));
    }
    join_continuations(raw)
}

/// One `key*<n>[*]` parameter waiting to be merged.
struct Rfc2231Piece {
    key: Vec<u8>,
    idx: u32,
    extended: bool,
    value: Vec<u8>,
}

/// Merges RFC 2231 continuations the way Dovecot's `rfc2231_parse` does: plain parameters
/// first, in order; then the `key*<n>[*]` ones sorted by key and index and joined
/// (`key*` with the value still %-encoded when any piece was extended). When an index is
/// missing the pieces are kept as `key*<n>[*]`. Quirk kept for compatibility: a `key*`
/// without a number takes the index of the previous RFC 2231 parameter.
fn join_continuations(raw: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut plain = Vec::new();
    let mut pieces: Vec<Rfc2231Piece> = Vec::new();
    let mut idx: u32 = 0;
    for (name, value) in raw {
        let Some(star) = name.iter().position(|b| *b == b'*') else {
            plain.push((name, value));
            continue;
        };
        let mut rest = name.get(star + 1..).unwrap_or_default();
        if !rest.is_empty() {
            idx = 0;
            while let Some(d) = rest.first().filter(|d| d.is_ascii_digit()) {
                idx = idx.saturating_mul(10).saturating_add(u32::from(d - b'0'));
                rest = rest.get(1..).unwrap_or_default();
            }
        }
        // `rest` is empty (key*) or starts after the digits
        let (extended, tail) = match rest.first() {
            Some(b'*') => (true, rest.get(1..).unwrap_or_default()),
            None if name.get(star + 1..).unwrap_or_default().is_empty() => (true, rest),
            _ => (false, rest),
        };
        if tail.is_empty() {
            pieces.push(Rfc2231Piece {
                key: name.get(..star).unwrap_or_default().to_vec(),
                idx,
                extended,
                value,
            });
        } else {
            plain.push((name, value));
        }
    }
    if pieces.is_empty() {
        return plain;
    }
    pieces.sort_by(|a, b| a.key.cmp(&b.key).then(a.idx.cmp(&b.idx)));
    let mut i = 0;
    while let Some(first) = pieces.get(i) {
        let group: Vec<&Rfc2231Piece> = pieces
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|p| p.key.eq_ignore_ascii_case(&first.key))
            .collect();
        let ok = group
            .iter()
            .enumerate()
            .all(|(n, p)| usize::try_from(p.idx).is_ok_and(|x| x == n));
        let have_extended = group.iter().any(|p| p.extended);
        if ok {
            let mut value = Vec::new();
            if !first.extended && have_extended {
                value.extend_from_slice(b"''");
            }
            for p in &group {
                if !p.extended && have_extended {
                    for b in &p.value {
                        if *b == b'%' {
                            value.extend_from_slice(b"%25");
                        } else {
                            value.push(*b);
                        }
                    }
                } else {
                    value.extend_from_slice(&p.value);
                }
            }
            let mut key = first.key.clone();
            if have_extended {
                key.push(b'*');
            }
            plain.push((key, value));
        } else {
            for p in &group {
                let mut key = p.key.clone();
                key.extend_from_slice(format!("*{}", p.idx).as_bytes());
                if p.extended {
                    key.push(b'*');
                }
                plain.push((key, p.value.clone()));
            }
        }
        i += group.len().max(1);
    }
    plain
}
