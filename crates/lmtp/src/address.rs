//! Envelope addresses: the `user+detail@domain` split and the `<path>` form used in headers.

use std::borrow::Cow;

/// Splits the detail off an address at the first `delimiter` in its local part, as Dovecot's
/// `recipient_delimiter` does: `user+box@example.org` → (`user@example.org`, `Some("box")`).
///
/// The domain is everything after the last `@`; an address without `@` is all local part. No
/// split is made when it would leave an empty user (`+box@example.org`). An empty detail
/// (`user+@example.org`) gives `Some("")`.
pub fn split_detail(address: &str, delimiter: char) -> (Cow<'_, str>, Option<&str>) {
    let (local, domain) = match address.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (address, None),
    };
    match local.split_once(delimiter) {
        Some((user, detail)) if !user.is_empty() => {
            let base = match domain {
                Some(domain) => format!("{user}@{domain}"),
                None => user.to_owned(),
            };
            (Cow::Owned(base), Some(detail))
        }
        _ => (Cow::Borrowed(address), None),
    }
}

/// The address as an RFC 5321 path without the angle brackets: the local part stays as it is
/// when it is a dot-atom, and is quoted otherwise (`"john doe"@example.org`). The empty
/// reverse path stays empty. Control characters are dropped.
pub(crate) fn encode_path(address: &str) -> String {
    let address: String = address.chars().filter(|c| !c.is_control()).collect();
    let Some((local, domain)) = address.rsplit_once('@') else {
        return address;
    };
    if is_dot_atom(local) {
        return address;
    }
    let mut out = String::with_capacity(address.len() + 4);
    out.push('"');
    for c in local.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("\"@");
    out.push_str(domain);
    out
}

fn is_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// RFC 5322 `atext`, plus UTF-8 (RFC 6532) so an 8-bit local part is not quoted.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_split() {
        assert_eq!(
            split_detail("user+box@example.org", '+'),
            (Cow::Borrowed("user@example.org"), Some("box"))
        );
        assert_eq!(
            split_detail("user+a+b@example.org", '+'),
            (Cow::Borrowed("user@example.org"), Some("a+b"))
        );
        assert_eq!(
            split_detail("user@example.org", '+'),
            (Cow::Borrowed("user@example.org"), None)
        );
        assert_eq!(
            split_detail("user+@example.org", '+'),
            (Cow::Borrowed("user@example.org"), Some(""))
        );
        assert_eq!(
            split_detail("+box@example.org", '+'),
            (Cow::Borrowed("+box@example.org"), None)
        );
        assert_eq!(
            split_detail("user-x", '-'),
            (Cow::Borrowed("user"), Some("x"))
        );
        // A delimiter in the domain is not a detail.
        assert_eq!(
            split_detail("user@ex+ample.org", '+'),
            (Cow::Borrowed("user@ex+ample.org"), None)
        );
    }

    #[test]
    fn paths() {
        assert_eq!(encode_path(""), "");
        assert_eq!(encode_path("a.b+c@example.org"), "a.b+c@example.org");
        assert_eq!(
            encode_path("john doe@example.org"),
            "\"john doe\"@example.org"
        );
        assert_eq!(encode_path("a\"b@example.org"), "\"a\\\"b\"@example.org");
        assert_eq!(encode_path(".a@example.org"), "\".a\"@example.org");
        assert_eq!(encode_path("a\r\n@example.org"), "a@example.org");
    }
}
