//! Mail addresses as user names: `local@domain`, checked before any lookup.
//!
//! The checks keep an address usable as Dovecot's `%n`/`%d` in a home directory
//! (`/var/vmail/%d/%n`): no `/` or `\`, no control characters or spaces, no `.`/`..` path parts.
//! They are stricter than RFC 5322 (no quoted local parts, no domain literals) and allow UTF-8.

use std::fmt;

/// Longest address accepted (RFC 5321 §4.5.3.1.3: a 256-octet path minus the angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;
/// Longest local part accepted (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_LEN: usize = 64;
/// Longest domain accepted (RFC 1035 §2.3.4, without the root dot).
pub const MAX_DOMAIN_LEN: usize = 253;

/// A checked `local@domain` address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    full: String,
    at: usize,
}

impl Address {
    /// Checks `text` and keeps it as given.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        if text.is_empty() {
            return Err(AddressError::Empty);
        }
        if text.len() > MAX_ADDRESS_LEN {
            return Err(AddressError::TooLong {
                part: Part::Address,
                max: MAX_ADDRESS_LEN,
            });
        }
        if let Some(ch) = text.chars().find(|c| forbidden(*c)) {
            return Err(AddressError::ForbiddenChar(ch));
        }
        let (local, domain) = text.split_once('@').ok_or(AddressError::MissingAt)?;
        if domain.contains('@') {
            return Err(AddressError::SeveralAt);
        }
        check_local(local)?;
        check_domain(domain)?;
        Ok(Self {
            full: text.to_owned(),
            at: local.len(),
        })
    }

    /// Checks `text` and lowercases its ASCII letters, as Dovecot's default
    /// `auth_username_format = %Lu` does.
    pub fn parse_lowercase(text: &str) -> Result<Self, AddressError> {
        let mut address = Self::parse(text)?;
        address.full.make_ascii_lowercase();
        Ok(address)
    }

    /// The whole address (Dovecot's `%u`).
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part before the `@` (Dovecot's `%n`).
    pub fn local(&self) -> &str {
        self.full.get(..self.at).unwrap_or_default()
    }

    /// The part after the `@` (Dovecot's `%d`).
    pub fn domain(&self) -> &str {
        self.full.get(self.at + 1..).unwrap_or_default()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Which part of an address an [`AddressError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The whole address.
    Address,
    /// The part after the `@`.
    Domain,
    /// The part before the `@`.
    Local,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Address => "address",
            Self::Domain => "domain",
            Self::Local => "local part",
        })
    }
}

/// Why a string is not a usable mail address. The address itself is not repeated, so the
/// message is safe to log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// A dot at the start or end of a part, or two in a row. Write the address without them.
    #[error("invalid mail address: the {0} has a leading, trailing or doubled dot")]
    BadDots(Part),
    /// The address is empty. Give a `local@domain` address.
    #[error("invalid mail address: empty; expected local@domain")]
    Empty,
    /// One side of the `@` is empty. Give a `local@domain` address.
    #[error("invalid mail address: the {0} is empty; expected local@domain")]
    EmptyPart(Part),
    /// The address holds a character tresor does not accept: control characters, spaces, `/`,
    /// `\`, quotes or brackets in the domain. Use a plain `local@domain` address.
    #[error("invalid mail address: character {0:?} is not allowed")]
    ForbiddenChar(char),
    /// There is no `@`. User names in tresor are full addresses (`local@domain`).
    #[error("invalid mail address: no '@'; user names are full addresses (local@domain)")]
    MissingAt,
    /// There is more than one `@`. Quoted local parts are not supported.
    #[error("invalid mail address: more than one '@'")]
    SeveralAt,
    /// The address or one of its parts is longer than the RFC limits.
    #[error("invalid mail address: the {part} is longer than {max} bytes")]
    TooLong {
        /// The part that is too long.
        part: Part,
        /// Its limit in bytes.
        max: usize,
    },
}

fn forbidden(c: char) -> bool {
    c.is_control() || c.is_whitespace() || matches!(c, '/' | '\\')
}

fn check_local(local: &str) -> Result<(), AddressError> {
    if local.is_empty() {
        return Err(AddressError::EmptyPart(Part::Local));
    }
    if local.len() > MAX_LOCAL_LEN {
        return Err(AddressError::TooLong {
            part: Part::Local,
            max: MAX_LOCAL_LEN,
        });
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(AddressError::BadDots(Part::Local));
    }
    if let Some(ch) = local.chars().find(|c| matches!(c, '"' | '<' | '>')) {
        return Err(AddressError::ForbiddenChar(ch));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), AddressError> {
    if domain.is_empty() {
        return Err(AddressError::EmptyPart(Part::Domain));
    }
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(AddressError::TooLong {
            part: Part::Domain,
            max: MAX_DOMAIN_LEN,
        });
    }
    if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
        return Err(AddressError::BadDots(Part::Domain));
    }
    // Letters, digits, '-', '_', '.' and any non-ASCII (IDN in UTF-8).
    if let Some(ch) = domain
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(AddressError::ForbiddenChar(ch));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for text in [
            "p521@example.org",
            "o'brien@example.org",
            "first.last+tag@sub.example.co.uk",
            "jörg@bücher.example",
            "x@y",
        ] {
            let a = Address::parse(text).unwrap();
            assert_eq!(a.as_str(), text);
            assert_eq!(format!("{}@{}", a.local(), a.domain()), text);
        }
        let a = Address::parse_lowercase("John.Doe@Example.ORG").unwrap();
        assert_eq!((a.local(), a.domain()), ("john.doe", "example.org"));
        // Only ASCII letters are lowercased, like Dovecot's %L.
        assert_eq!(Address::parse_lowercase("Ä@B.C").unwrap().as_str(), "Ä@b.c");
    }

    #[test]
    fn rejects_what_cannot_be_a_user_name() {
        use AddressError::*;
        let long_local = format!("{}@example.org", "a".repeat(65));
        let long_all = format!("a@{}.org", "b".repeat(250));
        let cases: &[(&str, AddressError)] = &[
            ("", Empty),
            ("alice", MissingAt),
            ("x' OR '1'='1", ForbiddenChar(' ')),
            ("x'OR'1'='1", MissingAt),
            ("a@b@c", SeveralAt),
            ("@example.org", EmptyPart(Part::Local)),
            ("alice@", EmptyPart(Part::Domain)),
            ("../etc@example.org", ForbiddenChar('/')),
            ("..@example.org", BadDots(Part::Local)),
            ("a@..", BadDots(Part::Domain)),
            ("a@example..org", BadDots(Part::Domain)),
            (".a@example.org", BadDots(Part::Local)),
            ("a@example.org.", BadDots(Part::Domain)),
            ("a\\b@example.org", ForbiddenChar('\\')),
            ("a\n@example.org", ForbiddenChar('\n')),
            ("a\0@example.org", ForbiddenChar('\0')),
            ("a@exa'mple.org", ForbiddenChar('\'')),
            ("a@[127.0.0.1]", ForbiddenChar('[')),
            ("\"a\"@example.org", ForbiddenChar('"')),
            (
                &long_local,
                TooLong {
                    part: Part::Local,
                    max: 64,
                },
            ),
            (
                &long_all,
                TooLong {
                    part: Part::Address,
                    max: 254,
                },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Address::parse(text).as_ref(), Err(want), "{text:?}");
        }
        assert!(MissingAt.to_string().contains("local@domain"));
    }
}
