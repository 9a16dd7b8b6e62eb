//! The `subscriptions` file of a Maildir (`~/Maildir/subscriptions`), as Dovecot 2.3 reads and
//! writes it (`subscription-file.c`, `mailbox-list-subscriptions.c`).
//!
//! Each line is one subscribed mailbox in its storage form: modified UTF-7, hierarchy levels
//! separated by Maildir++'s `.` (`Lists.Dovecot`, `Entw&APw-rfe`). Two layouts exist:
//!
//! ```text
//! V\t2\n           version 2 (Dovecot 2.2.17 and later): this header and an empty line,
//! \n               then one line per mailbox with its levels joined by a tab instead of the
//! Lists\tDovecot\n separator, each level tab-escaped (\x01 -> \x01 1, \t -> \x01 t,
//! INBOX\n          \r -> \x01 r, \n -> \x01 n)
//! ```
//!
//! and the older layout without header, one storage name per line. Dovecot writes a new file in
//! version 2 but rewrites an existing file in the layout it has (`compat_keep_layout`): a file
//! without the header, even an empty one, stays without it. Lines end with `\n`; a `\r` before
//! it is dropped and a last line without `\n` still counts. Changes are made under the dotlock
//! `subscriptions.lock` (stale after 30 s, waited for up to 120 s) by writing the whole new file
//! and renaming it over the old one, and only when something changed.
//!
//! At this API names are UTF-8 IMAP names (`Entwürfe`, `Lists.Dovecot`), checked as
//! [`folder::folder`] checks them; a mailbox need not exist to be subscribed.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dotlock::{DotlockError, LockedFile};

use crate::folder::{self, FolderError};
use crate::mutf7;

/// Why the subscriptions could not be read or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionsError {
    /// The mailbox name is not valid (empty, empty hierarchy levels, control characters, `/`).
    /// Use a valid name.
    #[error(transparent)]
    InvalidName(FolderError),
    /// The name is too long for Dovecot to read back (more than 4096 bytes once encoded). Use a
    /// shorter name.
    #[error("mailbox name {0:?} is too long to subscribe to")]
    NameTooLong(String),
    /// `subscriptions.lock` could not be taken or the file could not be rewritten (see the inner
    /// error): check the Maildir's ownership, permissions and free space, or remove a stale lock.
    #[error(transparent)]
    Lock(#[from] DotlockError),
    /// The file exists but could not be read: check its ownership and permissions.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The subscribed mailboxes of `maildir` (`~/Maildir`), in file order, without duplicates; no
/// file means no subscriptions. Reads without locking (the file is only ever replaced whole).
///
/// # Errors
///
/// [`SubscriptionsError::Io`] when the file exists but cannot be read.
pub fn read(maildir: &Path) -> Result<Vec<String>, SubscriptionsError> {
    let path = maildir.join(SUBSCRIPTIONS_NAME);
    match std::fs::read(&path) {
        Ok(data) => Ok(parse(&data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(SubscriptionsError::Io { path, source }),
    }
}

/// The mailbox names of a `subscriptions` file, either layout, in file order without duplicates.
/// As Dovecot lists them: a trailing separator is dropped (`Lists.` is `Lists`), `inbox` in any
/// case is `INBOX`, and lines that are empty, not modified UTF-7 or not a valid name are
/// skipped (Dovecot removes those from the file; tresor leaves the file alone).
pub fn parse(data: &[u8]) -> Vec<String> {
    let (layout, body) = Layout::of(Some(data));
    let mut names: Vec<String> = Vec::new();
    for line in lines(body) {
        if let Some(name) = layout.decode(line)
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    names
}

/// Subscribes to mailbox `name` of `maildir`; returns whether the file changed (`false` when
/// already subscribed, in any spelling that reads back as `name`).
///
/// # Errors
///
/// [`SubscriptionsError::InvalidName`], [`SubscriptionsError::NameTooLong`], and
/// [`SubscriptionsError::Lock`] when the file could not be locked or rewritten.
pub fn subscribe(maildir: &Path, name: &str) -> Result<bool, SubscriptionsError> {
    set_subscribed(maildir, name, true)
}

/// Unsubscribes from mailbox `name` of `maildir`, removing every line that reads back as
/// `name`; returns whether the file changed.
///
/// # Errors
///
/// [`SubscriptionsError::InvalidName`], and [`SubscriptionsError::Lock`] when the file could
/// not be locked or rewritten.
pub fn unsubscribe(maildir: &Path, name: &str) -> Result<bool, SubscriptionsError> {
    set_subscribed(maildir, name, false)
}

/// `subsfile_set_subscribed`.
fn set_subscribed(maildir: &Path, name: &str, set: bool) -> Result<bool, SubscriptionsError> {
    let name = folder::folder(maildir, name)
        .map_err(SubscriptionsError::InvalidName)?
        .name;
    let mut options = dotlock::Options::default();
    options.lock_timeout = LOCK_TIMEOUT;
    options.stale_timeout = LOCK_STALE_TIMEOUT;
    LockedFile::with_options(maildir.join(SUBSCRIPTIONS_NAME), options).update(|current| {
        let new = rewrite(current, &name, set)?;
        let changed = new.is_some();
        Ok((new, changed))
    })
}

/// The new file contents with `name` (valid, UTF-8) subscribed or not, or `None` when nothing
/// changes. Other lines are kept as they are, in order; a new entry is appended.
fn rewrite(
    current: Option<&[u8]>,
    name: &str,
    set: bool,
) -> Result<Option<Vec<u8>>, SubscriptionsError> {
    let (layout, body) = Layout::of(current);
    let entry = layout.encode(&mutf7::encode(name));
    if set && entry.len() > MAX_LINE {
        return Err(SubscriptionsError::NameTooLong(name.to_string()));
    }
    let mut out = Vec::with_capacity(body.len() + entry.len() + V2_HEADER.len() + 1);
    if layout == Layout::V2 {
        out.extend_from_slice(V2_HEADER);
    }
    let mut found = false;
    let mut changed = false;
    for line in lines(body) {
        if line == entry.as_slice() || layout.decode(line).as_deref() == Some(name) {
            found = true;
            if !set {
                changed = true;
                continue;
            }
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    if set && !found {
        out.extend_from_slice(&entry);
        out.push(b'\n');
        changed = true;
    }
    Ok(changed.then_some(out))
}

/// The two layouts of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// No header; one storage name per line.
    Old,
    /// `V\t2\n\n`, then levels joined by tabs, tab-escaped.
    V2,
}

impl Layout {
    /// The layout of a file and the lines after its header (`subsfile_list_read_header`). A new
    /// file is version 2; an existing one keeps its layout.
    fn of(data: Option<&[u8]>) -> (Self, &[u8]) {
        match data {
            None => (Self::V2, &[]),
            Some(data) => match data.strip_prefix(V2_HEADER) {
                Some(body) => (Self::V2, body),
                None => (Self::Old, data),
            },
        }
    }

    /// The line for a storage name (levels separated by `.`).
    fn encode(self, storage_name: &str) -> Vec<u8> {
        match self {
            Self::Old => storage_name.as_bytes().to_vec(),
            Self::V2 => {
                let mut out = Vec::with_capacity(storage_name.len());
                for (i, level) in storage_name.split(SEPARATOR).enumerate() {
                    if i > 0 {
                        out.push(b'\t');
                    }
                    tab_escape(level.as_bytes(), &mut out);
                }
                out
            }
        }
    }

    /// The UTF-8 mailbox name of a line, if it is a valid one (`subsfile_list_unescaped`,
    /// `mailbox_list_subscription_fill_one`).
    fn decode(self, line: &[u8]) -> Option<String> {
        let storage = match self {
            Self::Old => line.to_vec(),
            Self::V2 => {
                let mut out = Vec::with_capacity(line.len());
                for (i, level) in line.split(|b| *b == b'\t').enumerate() {
                    if i > 0 {
                        out.extend_from_slice(SEPARATOR.as_bytes());
                    }
                    tab_unescape(level, &mut out);
                }
                out
            }
        };
        let storage = String::from_utf8(storage).ok()?;
        let storage = storage.strip_suffix(SEPARATOR).unwrap_or(&storage);
        if storage.is_empty() {
            return None;
        }
        let name = mutf7::decode(storage)?;
        folder::folder(Path::new(""), &name).ok().map(|f| f.name)
    }
}

/// The lines of `data`: split at `\n`, one trailing `\r` dropped, a last line without `\n`
/// included (`i_stream_set_return_partial_line`).
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut parts = body.split(|b| *b == b'\n');
    if data.is_empty() {
        // An empty file has no lines, not one empty line.
        let _ = parts.next();
    }
    parts.map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// `str_append_tabescaped`.
fn tab_escape(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        match b {
            0x01 => out.extend_from_slice(b"\x011"),
            b'\t' => out.extend_from_slice(b"\x01t"),
            b'\r' => out.extend_from_slice(b"\x01r"),
            b'\n' => out.extend_from_slice(b"\x01n"),
            _ => out.push(b),
        }
    }
}

/// `str_append_tabunescaped`: `\x01` and the next byte stand for `0` NUL, `1` `\x01`, `t` tab,
/// `r` CR, `n` LF, any other byte itself; a `\x01` at the end is dropped.
fn tab_unescape(data: &[u8], out: &mut Vec<u8>) {
    let mut bytes = data.iter().copied();
    while let Some(b) = bytes.next() {
        if b != 0x01 {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'0') => out.push(0),
            Some(b'1') => out.push(0x01),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
}

/// The file's name in `~/Maildir` (`subscription_fname`'s default).
pub const SUBSCRIPTIONS_NAME: &str = "subscriptions";
/// The version 2 header (`version2_header`).
const V2_HEADER: &[u8] = b"V\t2\n\n";
/// Maildir++'s hierarchy separator, as the storage names in the file use it.
const SEPARATOR: &str = ".";
/// `SUBSCRIPTION_FILE_LOCK_TIMEOUT`.
const LOCK_TIMEOUT: Duration = Duration::from_secs(120);
/// `SUBSCRIPTION_FILE_CHANGE_TIMEOUT`, the lock's stale timeout.
const LOCK_STALE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest line Dovecot reads: its line buffer holds `MAILBOX_LIST_NAME_MAX_LENGTH`
/// (`PATH_MAX`, 4096) + 1 bytes, newline included.
const MAX_LINE: usize = 4096;

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn maildir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let maildir = tmp.path().join("Maildir");
        fs::create_dir(&maildir).unwrap();
        (tmp, maildir)
    }

    fn file(maildir: &Path) -> Vec<u8> {
        fs::read(maildir.join(SUBSCRIPTIONS_NAME)).unwrap()
    }

    #[test]
    fn new_file_is_version_2_and_subscribe_is_idempotent() {
        let (_tmp, m) = maildir();
        assert_eq!(read(&m).unwrap(), Vec::<String>::new());
        assert!(subscribe(&m, "inbox").unwrap());
        assert!(subscribe(&m, "Lists.Dovecot").unwrap());
        assert!(subscribe(&m, "Entwürfe").unwrap());
        let written = b"V\t2\n\nINBOX\nLists\tDovecot\nEntw&APw-rfe\n";
        assert_eq!(file(&m), written);
        assert!(!subscribe(&m, "INBOX").unwrap());
        assert!(!subscribe(&m, "Lists.Dovecot").unwrap());
        assert!(!subscribe(&m, "Entwürfe").unwrap());
        assert_eq!(file(&m), written);
        assert_eq!(read(&m).unwrap(), ["INBOX", "Lists.Dovecot", "Entwürfe"]);
        assert!(!m.join("subscriptions.lock").exists());
    }

    #[test]
    fn unsubscribe_removes_only_that_name() {
        let (_tmp, m) = maildir();
        assert!(!unsubscribe(&m, "Nothing").unwrap());
        assert!(!m.join(SUBSCRIPTIONS_NAME).exists());
        for name in ["INBOX", "Lists", "Lists.Dovecot"] {
            subscribe(&m, name).unwrap();
        }
        assert!(unsubscribe(&m, "Lists").unwrap());
        assert_eq!(file(&m), b"V\t2\n\nINBOX\nLists\tDovecot\n");
        assert!(!unsubscribe(&m, "Lists").unwrap());
        assert!(unsubscribe(&m, "INBOX").unwrap());
        assert!(unsubscribe(&m, "Lists.Dovecot").unwrap());
        assert_eq!(file(&m), b"V\t2\n\n");
        assert_eq!(read(&m).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn old_layout_is_read_and_kept() {
        let (_tmp, m) = maildir();
        fs::write(
            m.join(SUBSCRIPTIONS_NAME),
            b"INBOX\nLists.Dovecot\nEntw&APw-rfe\n",
        )
        .unwrap();
        assert_eq!(read(&m).unwrap(), ["INBOX", "Lists.Dovecot", "Entwürfe"]);
        assert!(!subscribe(&m, "Entwürfe").unwrap());
        assert!(subscribe(&m, "Archive.2024").unwrap());
        assert_eq!(
            file(&m),
            b"INBOX\nLists.Dovecot\nEntw&APw-rfe\nArchive.2024\n"
        );
        assert!(unsubscribe(&m, "Lists.Dovecot").unwrap());
        assert_eq!(file(&m), b"INBOX\nEntw&APw-rfe\nArchive.2024\n");
    }

    #[test]
    fn empty_file_stays_without_header() {
        // Dovecot reads no header from an empty file and so rewrites it in the old layout.
        let (_tmp, m) = maildir();
        fs::write(m.join(SUBSCRIPTIONS_NAME), b"").unwrap();
        assert_eq!(read(&m).unwrap(), Vec::<String>::new());
        assert!(subscribe(&m, "Lists.Dovecot").unwrap());
        assert_eq!(file(&m), b"Lists.Dovecot\n");
    }

    #[test]
    fn lines_are_read_as_dovecot_lists_them() {
        let v2 =
            b"V\t2\n\nSent\r\n\ninbox\nLists\t\nLists\tDovecot\n&Jjo\nSent\nbad\x01tname\nLast";
        assert_eq!(
            parse(v2),
            ["Sent", "INBOX", "Lists", "Lists.Dovecot", "Last"]
        );
        let old = b"Sent.\nINBOX\nA\tB\nTrash";
        assert_eq!(parse(old), ["Sent", "INBOX", "Trash"]);
        // A header that is not exactly "V\t2\n\n" is a name line of the old layout.
        assert_eq!(parse(b"V\t2\nINBOX\n"), ["INBOX"]);
    }

    #[test]
    fn unsubscribe_removes_other_spellings() {
        let (_tmp, m) = maildir();
        fs::write(
            m.join(SUBSCRIPTIONS_NAME),
            b"V\t2\n\ninbox\nLists\t\nSent\n",
        )
        .unwrap();
        assert!(unsubscribe(&m, "INBOX").unwrap());
        assert!(unsubscribe(&m, "Lists").unwrap());
        assert_eq!(file(&m), b"V\t2\n\nSent\n");
    }

    #[test]
    fn tab_escaping_round_trips() {
        let raw = b"a\tb\x01c\rd\ne";
        let mut escaped = Vec::new();
        tab_escape(raw, &mut escaped);
        assert_eq!(escaped, b"a\x01tb\x011c\x01rd\x01ne");
        let mut back = Vec::new();
        tab_unescape(&escaped, &mut back);
        assert_eq!(back, raw);
        let mut odd = Vec::new();
        tab_unescape(b"\x010x\x01q\x01", &mut odd);
        assert_eq!(odd, b"\0xq");
    }

    #[test]
    fn invalid_and_long_names_are_refused() {
        let (_tmp, m) = maildir();
        for bad in ["", "a..b", ".x", "a/b", "a\tb"] {
            assert!(
                matches!(subscribe(&m, bad), Err(SubscriptionsError::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            subscribe(&m, &"x".repeat(4097)),
            Err(SubscriptionsError::NameTooLong(_))
        ));
        assert!(subscribe(&m, &"x".repeat(4096)).unwrap());
        assert_eq!(read(&m).unwrap(), ["x".repeat(4096)]);
    }
}
