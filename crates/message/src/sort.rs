//! RFC 5256 base subject and the sent date.

/// RFC 5256 §2.1 base subject of an already decoded subject.
pub(crate) fn base_subject(decoded: &str) -> String {
    // (1) whitespace runs → one space, trimmed at both ends
    let mut s: String = {
        let mut out = String::with_capacity(decoded.len());
        let mut last_space = false;
        for c in decoded.chars() {
            if c.is_whitespace() {
                if !last_space {
                    out.push(' ');
                }
                last_space = true;
            } else {
                out.push(c);
                last_space = false;
            }
        }
        out.trim().to_owned()
    };
    // Each pass removes at least one byte, so the loops end.
    loop {
        // (2) trailing "(fwd)" and whitespace
        loop {
            let t = s.trim_end();
            let len = t.len();
            if len >= 5
                && t.get(len - 5..)
                    .is_some_and(|x| x.eq_ignore_ascii_case("(fwd)"))
            {
                s.truncate(len - 5);
            } else {
                s.truncate(len);
                break;
            }
        }
        // (3)-(5) leaders and blobs
        loop {
            let before = s.len();
            if let Some(rest) = strip_leader(&s) {
                s = rest.to_owned();
            }
            if let Some(rest) = strip_blob(&s)
                && !rest.is_empty()
            {
                s = rest.to_owned();
            }
            if s.len() == before {
                break;
            }
        }
        // (6) "[fwd: … ]"
        if s.len() >= 6
            && s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("[fwd:"))
            && s.ends_with(']')
        {
            s = s.get(5..s.len() - 1).unwrap_or_default().trim().to_owned();
            continue;
        }
        return s;
    }
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP` at the start; returns the rest.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find([']', '['])?;
    if rest.get(close..close + 1) != Some("]") {
        return None;
    }
    Some(rest.get(close + 1..)?.trim_start())
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP`; returns the rest.
fn strip_leader(s: &str) -> Option<&str> {
    if s.starts_with(' ') {
        return Some(s.trim_start());
    }
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest;
    }
    let lower_start = |p: &str| t.get(..p.len()).is_some_and(|x| x.eq_ignore_ascii_case(p));
    let rest = if lower_start("fwd") {
        t.get(3..)?
    } else if lower_start("fw") || lower_start("re") {
        t.get(2..)?
    } else {
        return None;
    };
    let mut rest = rest.trim_start();
    if let Some(after) = strip_blob(rest) {
        rest = after;
    }
    let rest = rest.strip_prefix(':')?;
    Some(rest.trim_start())
}
