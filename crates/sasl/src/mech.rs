//! The SASL mechanisms tresor offers: PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login),
//! as Dovecot's `mech-plain.c` and `mech-login.c` read them.

use std::fmt;

use zeroize::Zeroizing;

/// A SASL mechanism of the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mechanism {
    /// `LOGIN`: the username, then the password, each after a prompt.
    Login,
    /// `PLAIN`: `authzid NUL authcid NUL password` in one message.
    Plain,
}

impl Mechanism {
    /// The name as the protocol writes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "LOGIN",
            Self::Plain => "PLAIN",
        }
    }

    /// The mechanism a client named, ignoring ASCII case as Dovecot's `mech_register_find`
    /// does (Postfix passes on the name as the SMTP client typed it).
    pub(crate) fn parse(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"PLAIN") {
            Some(Self::Plain)
        } else if name.eq_ignore_ascii_case(b"LOGIN") {
            Some(Self::Login)
        } else {
            None
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The mechanisms in the order of the handshake, as ISPmail's `auth_mechanisms = plain login`
/// lists them; both carry plaintext passwords (`MECH_SEC_PLAINTEXT`).
pub(crate) const MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// LOGIN's first prompt (`mech-login.c`).
pub(crate) const LOGIN_USERNAME_PROMPT: &[u8] = b"Username:";

/// LOGIN's second prompt (`mech-login.c`).
pub(crate) const LOGIN_PASSWORD_PROMPT: &[u8] = b"Password:";

/// What a PLAIN message holds once checked.
pub(crate) struct PlainMessage {
    /// The authentication identity (authcid), the user to check.
    pub(crate) username: String,
    /// The password.
    pub(crate) password: Zeroizing<Vec<u8>>,
}

/// Why a PLAIN message or a LOGIN username is refused before any password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The authorization identity names another user (a Dovecot master-user login); tresor
    /// has no master users.
    AuthzidDiffers,
    /// Not `authzid NUL authcid NUL password` (Dovecot: "invalid input").
    MalformedPlain,
    /// The username is empty, not UTF-8, or holds a NUL or a control character.
    InvalidUsername,
}

impl Refusal {
    /// Dovecot's failure code for this refusal, if it has one.
    pub(crate) fn code(self) -> Option<&'static str> {
        match self {
            Self::AuthzidDiffers => Some("authz_fail"),
            Self::MalformedPlain | Self::InvalidUsername => None,
        }
    }

    /// The `reason=` text; Postfix shows it to the SMTP client after "authentication failed:".
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::AuthzidDiffers => "Authorization identity must be empty or the login name",
            Self::MalformedPlain => "Invalid PLAIN response",
            Self::InvalidUsername => "Invalid username",
        }
    }
}

/// Splits a PLAIN message into `authzid NUL authcid NUL password`.
///
/// As in `mech-plain.c`, exactly two NULs are allowed (the password holds none), and an
/// authzid equal to the authcid counts as empty. Unlike Dovecot, a different authzid is
/// refused instead of being tried as a master-user login. On refusal, the username is returned
/// when it could be read, for the `user=` field.
pub(crate) fn parse_plain(message: &[u8]) -> Result<PlainMessage, (Refusal, Option<String>)> {
    let mut parts = message.splitn(3, |&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err((Refusal::MalformedPlain, None));
    };
    if password.contains(&0) {
        return Err((Refusal::MalformedPlain, None));
    }
    let username = check_username(authcid).map_err(|r| (r, None))?;
    if !authzid.is_empty() && authzid != authcid {
        return Err((Refusal::AuthzidDiffers, Some(username)));
    }
    Ok(PlainMessage {
        username,
        password: Zeroizing::new(password.to_vec()),
    })
}

/// Checks a username: non-empty UTF-8 without control characters (so neither NUL, which
/// Dovecot's C strings would cut at, nor the protocol's TAB and LF).
pub(crate) fn check_username(bytes: &[u8]) -> Result<String, Refusal> {
    let name = std::str::from_utf8(bytes).map_err(|_| Refusal::InvalidUsername)?;
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(Refusal::InvalidUsername);
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_forms() {
        let m = parse_plain(b"\0alice@example.org\0secret").ok().unwrap();
        assert_eq!(m.username, "alice@example.org");
        assert_eq!(m.password.as_slice(), b"secret");
        let m = parse_plain(b"a@b\0a@b\0").ok().unwrap();
        assert_eq!(m.username, "a@b");
        assert!(m.password.is_empty());
        assert_eq!(
            parse_plain(b"boss@b\0a@b\0pw").err().unwrap(),
            (Refusal::AuthzidDiffers, Some("a@b".to_owned()))
        );
        for bad in [
            &b""[..],
            b"a@b",
            b"\0a@b",
            b"\0a@b\0p\0w",
            b"\0\0pw",
            b"\0\xff\0pw",
        ] {
            assert!(parse_plain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mechanism_names_ignore_case() {
        assert_eq!(Mechanism::parse(b"plain"), Some(Mechanism::Plain));
        assert_eq!(Mechanism::parse(b"LoGiN"), Some(Mechanism::Login));
        assert_eq!(Mechanism::parse(b"CRAM-MD5"), None);
    }
}
