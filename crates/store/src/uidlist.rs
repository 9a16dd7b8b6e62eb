//! The `dovecot-uidlist` file of a Maildir folder (SPEC §5.3 "Mailbox GUID source";
//! `maildir-uidlist.c`, `maildir-uidlist.h`).
//!
//! Version 3, which Dovecot 1.1 and later write:
//!
//! ```text
//! 3 V<uid validity> N<next uid> G<mailbox guid, 32 hex> [<key><value> …]
//! <uid> [<key><value> …] :<file name base>
//! …
//! ```
//!
//! Every line ends with `\n`. Header fields are one character of key followed by the value up to
//! the next space; Dovecot writes `V`, `N` and `G` first, then the fields it did not recognise,
//! in the order it read them. Record fields are the same shape (keys `A`–`Z`: `G` message GUID,
//! `S` physical size, `W` virtual size, `P` POP3 UIDL, `O` POP3 order). After the fields comes
//! `:` and the Maildir file name without its `:2,<flags>` part. UIDs ascend strictly.
//!
//! Version 1 (Dovecot 1.0, Courier's `courierimapuiddb`) is `1 <uid validity> <next uid>` then
//! `<uid> <file name>` lines; it is read and written, but has no GUID.
//!
//! The header's `N` may be stale: Dovecot appends records without rewriting the header, so the
//! next free UID is [`Uidlist::next_uid_for_append`], not [`Uidlist::next_uid`].

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A mailbox GUID: 128 bits, written as 32 lowercase hex digits (`guid_128_to_string`). The
/// `dovecot-attributes` keys of a folder contain it (`shared/<guid>/…`, `priv/<guid>/…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxGuid([u8; 16]);

impl MailboxGuid {
    /// The GUID with these bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The GUID's bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for MailboxGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MailboxGuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxGuid({self})")
    }
}

impl FromStr for MailboxGuid {
    type Err = ParseGuidError;

    /// Parses 32 hex digits, either case, as Dovecot does (`guid_128_from_string`).
    fn from_str(s: &str) -> Result<Self, ParseGuidError> {
        let digits = s.as_bytes();
        if digits.len() != 32 {
            return Err(ParseGuidError(()));
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(&hi), Some(&lo)) = (pair.first(), pair.get(1)) else {
                return Err(ParseGuidError(()));
            };
            *byte = (hex_value(hi)? << 4) | hex_value(lo)?;
        }
        Ok(Self(bytes))
    }
}

/// A string is not a mailbox GUID (32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a mailbox GUID is 32 hex digits")]
pub struct ParseGuidError(());

/// The format version of a `dovecot-uidlist` file (its first character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Version {
    /// `1 <uid validity> <next uid>`: Dovecot 1.0 and Courier; no GUID, no extension fields.
    V1,
    /// `3 V… N… G…`: what Dovecot 1.1 and later write.
    V3,
}

impl Version {
    /// The number written at the start of the file.
    pub const fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V3 => 3,
        }
    }
}

/// One extension field: a one-character key and its value (no spaces), kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ext {
    /// The key, e.g. `'G'` (message GUID), `'S'` (physical size), `'W'` (virtual size).
    pub key: char,
    /// The value, everything up to the next space.
    pub value: String,
}

/// One message: its UID, extension fields and Maildir file name base.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// The message's IMAP UID.
    pub uid: u32,
    /// Extension fields in file order (always empty in version 1).
    pub ext: Vec<Ext>,
    /// The Maildir file name as written in the list: the base, without `:2,<flags>`.
    pub filename: String,
}

impl Record {
    /// The value of the extension field `key`, if present.
    pub fn extension(&self, key: char) -> Option<&str> {
        self.ext
            .iter()
            .find(|ext| ext.key == key)
            .map(|ext| ext.value.as_str())
    }

    /// The file name base, up to any `:` (what Dovecot compares and writes).
    pub fn basename(&self) -> &str {
        basename(&self.filename)
    }
}

/// A parsed `dovecot-uidlist` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uidlist {
    /// The file format version.
    pub version: Version,
    /// The folder's IMAP UIDVALIDITY (`V`).
    pub uid_validity: u32,
    /// The header's next UID (`N`); may be lower than the records show, see
    /// [`Uidlist::next_uid_for_append`].
    pub next_uid: u32,
    /// The mailbox GUID (`G`), which the folder's keys are filed under; `None` in version 1 and
    /// in a version 3 header without `G`.
    pub guid: Option<MailboxGuid>,
    /// Header fields other than `V`, `N` and `G`, verbatim and in order.
    pub header_ext: Vec<Ext>,
    /// The messages, in file order (ascending UID).
    pub records: Vec<Record>,
}

impl Uidlist {
    /// Parses a whole file (`maildir_uidlist_update_read`).
    ///
    /// Lines end with `\n`; one `\r` before it is dropped, and bytes after the last `\n` are
    /// ignored, as Dovecot's line reader does (a writer may be appending right now).
    ///
    /// # Errors
    ///
    /// [`UidlistError::Malformed`] with the line number for an empty file, a bad header, a bad
    /// or non-ascending UID, a record without `:`, a bad file name or a bad GUID;
    /// [`UidlistError::Unsupported`] for a version other than 1 or 3.
    pub fn parse(data: &[u8]) -> Result<Self, UidlistError> {
        let mut lines = complete_lines(data).zip(1usize..);
        let Some((header, _)) = lines.next() else {
            return Err(malformed(1, MalformedKind::Empty));
        };
        let mut list = parse_header(header)?;
        let mut previous = 0;
        for (line, number) in lines {
            let record =
                parse_record(line, &list, previous).map_err(|kind| malformed(number, kind))?;
            previous = record.uid;
            list.records.push(record);
        }
        Ok(list)
    }

    /// The file contents Dovecot would write for this list (`maildir_uidlist_write_fd`): for a
    /// file Dovecot wrote, the same bytes. Each record's file name is cut at its first `:`, as
    /// Dovecot cuts it. No GUID is ever invented: without one the `G` field is left out.
    /// Version 1 lists are written as version 1, without GUID or extension fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        match self.version {
            Version::V1 => {
                out.push_str(&format!("1 {} {}\n", self.uid_validity, self.next_uid));
                for record in &self.records {
                    out.push_str(&format!("{} {}\n", record.uid, record.filename));
                }
            }
            Version::V3 => {
                out.push_str(&format!("3 V{} N{}", self.uid_validity, self.next_uid));
                if let Some(guid) = self.guid {
                    out.push_str(&format!(" G{guid}"));
                }
                push_ext(&mut out, &self.header_ext);
                out.push('\n');
                for record in &self.records {
                    record.push_v3_line(&mut out);
                }
            }
        }
        out.into_bytes()
    }

    /// The UID a message appended to the file `data` would get, reading only the header and
    /// the last complete record (records ascend, so the last is the highest): the cheap path
    /// of [`Uidlist::next_uid_for_append`] for delivery. `None` when the UID space is used up.
    ///
    /// # Errors
    ///
    /// As [`Uidlist::parse`], for the header and the last record.
    pub fn next_uid_of(data: &[u8]) -> Result<(Version, Option<u32>), UidlistError> {
        let mut lines = complete_lines(data);
        let Some(header) = lines.next() else {
            return Err(malformed(1, MalformedKind::Empty));
        };
        let list = parse_header(header)?;
        // The last complete line, found from the end: O(line), not O(file). The header is
        // line 1; a file with only a header has no records.
        let complete = data
            .iter()
            .rposition(|b| *b == b'\n')
            .and_then(|end| data.get(..end))
            .unwrap_or_default();
        let last = complete
            .iter()
            .rposition(|b| *b == b'\n')
            .and_then(|i| complete.get(i + 1..))
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let max = match last {
            Some(line) => Some(
                parse_record(line, &list, 0)
                    .map_err(|kind| malformed(complete_lines(data).count(), kind))?
                    .uid,
            ),
            None => None,
        };
        let after_max = match max {
            Some(max) => max.checked_add(1),
            None => Some(1),
        };
        let next = after_max.map(|a| list.next_uid.max(a).max(1));
        Ok((list.version, next.filter(|n| *n != u32::MAX)))
    }

    /// The highest UID in the records, if there are any.
    pub fn max_uid(&self) -> Option<u32> {
        self.records.iter().map(|record| record.uid).max()
    }

    /// The UID the next appended message gets: the larger of the header's `N` and one past the
    /// highest recorded UID (Dovecot does the same after reading, since `N` can be stale).
    /// `None` when the UID space is used up (Dovecot refuses UID 4294967295).
    pub fn next_uid_for_append(&self) -> Option<u32> {
        let after_max = match self.max_uid() {
            Some(max) => max.checked_add(1)?,
            None => 1,
        };
        let next = self.next_uid.max(after_max).max(1);
        (next != u32::MAX).then_some(next)
    }

    /// The record for a Maildir file name, with or without its `:2,<flags>` part.
    pub fn find_by_basename(&self, name: &str) -> Option<&Record> {
        let base = basename(name);
        self.records.iter().find(|record| record.basename() == base)
    }
}

/// The base of a Maildir file name: everything before the first `:` (`MAILDIR_INFO_SEP`), e.g.
/// `1795916851.M947517P21113.vm,S=411,W=425` for `1795916851.M947517P21113.vm,S=411,W=425:2,S`.
pub fn basename(name: &str) -> &str {
    name.split_once(':').map_or(name, |(base, _)| base)
}

/// Reads the mailbox GUID of the Maildir folder `maildir_dir` from its `dovecot-uidlist` header.
/// Only the header line is read, so damaged records do not hide the GUID.
///
/// Never generates a GUID: the folder's mail-crypt keys are filed under the existing one.
///
/// # Errors
///
/// [`UidlistError::NoGuid`] when the file is missing, is version 1, or has no `G` field;
/// [`UidlistError::Io`] when it cannot be read; [`UidlistError::Malformed`] or
/// [`UidlistError::Unsupported`] when its header is damaged.
pub fn read_guid(maildir_dir: &Path) -> Result<MailboxGuid, UidlistError> {
    let path = maildir_dir.join(UIDLIST_NAME);
    // Only the header line is needed: read the start of the file, not all of it (delivery
    // asks for every message, and the file grows with the folder).
    let first = || -> io::Result<Vec<u8>> {
        use std::io::Read as _;
        let mut file = fs::File::open(&path)?;
        let mut data = vec![0u8; 4096];
        let mut filled = 0;
        while filled < data.len() {
            let n = file.read(data.get_mut(filled..).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        data.truncate(filled);
        if !data.contains(&b'\n') && filled == 4096 {
            file.read_to_end(&mut data)?;
        }
        Ok(data)
    };
    let data = match first() {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(UidlistError::NoGuid {
                path,
                reason: NoGuidReason::FileMissing,
            });
        }
        Err(e) => return Err(UidlistError::Io { path, source: e }),
    };
    let header = complete_lines(&data)
        .next()
        .ok_or_else(|| malformed(1, MalformedKind::Empty))
        .and_then(parse_header)
        .map_err(|e| e.in_file(&path))?;
    match (header.version, header.guid) {
        (_, Some(guid)) => Ok(guid),
        (Version::V1, None) => Err(UidlistError::NoGuid {
            path,
            reason: NoGuidReason::Version1,
        }),
        (_, None) => Err(UidlistError::NoGuid {
            path,
            reason: NoGuidReason::FieldMissing,
        }),
    }
}

/// What can go wrong reading a `dovecot-uidlist` file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UidlistError {
    /// The file could not be read. Check that it exists and that the mail user may read it.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file is damaged at `line` (1 is the header). Dovecot would discard such a file and
    /// rebuild it, possibly with a new mailbox GUID; restore it from backup if the folder has
    /// keys, or repair the named line by hand.
    #[error("malformed dovecot-uidlist{}, line {line}: {kind}", in_path(path.as_deref()))]
    Malformed {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        kind: MalformedKind,
    },
    /// The folder's mailbox GUID cannot be found. Its mail-crypt keys are filed under that GUID,
    /// so restore the file from backup; never let Dovecot or tresor generate a new GUID for a
    /// folder that has keys, or its encrypted mail can no longer be read.
    #[error(
        "cannot find the folder GUID in {} ({reason}); the folder's keys are filed under it: \
         restore the file from backup, and never let a new GUID be generated for a folder that \
         has keys",
        path.display()
    )]
    NoGuid {
        /// The `dovecot-uidlist` file.
        path: PathBuf,
        /// Why there is no GUID.
        reason: NoGuidReason,
    },
    /// The file uses a format version tresor cannot read (only 1 and 3 exist in practice; 2 was
    /// written only by development versions of Dovecot 1.0). Let Dovecot 2.3 open the folder
    /// once to rewrite it as version 3.
    #[error("unsupported dovecot-uidlist version {version}{}", in_path(path.as_deref()))]
    Unsupported {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The version digit found.
        version: u8,
    },
}

impl UidlistError {
    /// The error for a folder that has no `dovecot-uidlist` at all.
    pub fn missing(folder_dir: &Path) -> Self {
        Self::NoGuid {
            path: folder_dir.join(UIDLIST_NAME),
            reason: NoGuidReason::FileMissing,
        }
    }

    /// Adds the file path to errors that were found in its contents.
    pub fn in_file(self, file: &Path) -> Self {
        match self {
            Self::Malformed { line, kind, .. } => Self::Malformed {
                path: Some(file.to_path_buf()),
                line,
                kind,
            },
            Self::Unsupported { version, .. } => Self::Unsupported {
                path: Some(file.to_path_buf()),
                version,
            },
            other => other,
        }
    }
}

/// What is wrong with a malformed line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MalformedKind {
    /// The line contains a NUL or CR byte (Dovecot never writes one; it would end the line).
    #[error("contains a NUL or CR byte")]
    BadByte,
    /// The file name is empty, starts with `:` or contains `/`.
    #[error("bad file name")]
    BadFilename,
    /// The `G` header field is not 32 hex digits.
    #[error("mailbox GUID is not 32 hex digits")]
    BadGuid,
    /// The header line is not valid; names the part.
    #[error("bad header: {0}")]
    BadHeader(&'static str),
    /// The UID is not a number from 1 to 4294967294 followed by a space.
    #[error("bad UID")]
    BadUid,
    /// The file has no complete header line.
    #[error("no header line")]
    Empty,
    /// The record has no `:` before its file name.
    #[error("missing ':' before the file name")]
    MissingColon,
    /// The line is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// Version 1 only: a UID is not below the header's next UID.
    #[error("UID {uid} is not below the next UID {next_uid}")]
    UidNotBelowNextUid {
        /// The record's UID.
        uid: u32,
        /// The header's next UID.
        next_uid: u32,
    },
    /// A UID is not greater than the one before it.
    #[error("UID {uid} does not follow UID {previous}")]
    UidsNotAscending {
        /// The record's UID.
        uid: u32,
        /// The UID of the record before it.
        previous: u32,
    },
}

/// Why [`read_guid`] found no mailbox GUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoGuidReason {
    /// The header has no `G` field.
    #[error("the header has no G field")]
    FieldMissing,
    /// The file does not exist.
    #[error("the file is missing")]
    FileMissing,
    /// The file is in version 1 format, which has no GUID.
    #[error("the file is in version 1 format, which has no GUID")]
    Version1,
}

/// Parses the header line (`maildir_uidlist_read_header`, `maildir_uidlist_read_v3_header`).
fn parse_header(line: &[u8]) -> Result<Uidlist, UidlistError> {
    let line = text(line).map_err(|kind| malformed(1, kind))?;
    let bad = |what| malformed(1, MalformedKind::BadHeader(what));
    let mut chars = line.chars();
    let (Some(digit), Some(' ')) = (chars.next(), chars.next()) else {
        return Err(bad("invalid version number"));
    };
    let Some(number) = digit.to_digit(10).and_then(|d| u8::try_from(d).ok()) else {
        return Err(bad("invalid version number"));
    };
    let fields = chars.as_str();
    let mut list = Uidlist {
        version: Version::V3,
        uid_validity: 0,
        next_uid: 0,
        guid: None,
        header_ext: Vec::new(),
        records: Vec::new(),
    };
    match number {
        1 => {
            // sscanf("%u %u"): two numbers; anything after them is ignored.
            list.version = Version::V1;
            let mut numbers = fields.split_ascii_whitespace();
            list.uid_validity = numbers.next().and_then(parse_u32).unwrap_or(0);
            list.next_uid = numbers.next().and_then(parse_u32).unwrap_or(0);
        }
        3 => {
            // Dovecot would take a space right after the version as a field key; never written.
            let mut rest = fields.trim_start_matches(' ');
            while let Some(key) = rest.chars().next() {
                let after_key = rest.get(key.len_utf8()..).unwrap_or_default();
                let (value, tail) = after_key.split_once(' ').unwrap_or((after_key, ""));
                match key {
                    'V' => list.uid_validity = parse_u32(value).unwrap_or(0),
                    'N' => list.next_uid = parse_u32(value).unwrap_or(0),
                    'G' => {
                        let guid = value
                            .parse()
                            .map_err(|_| malformed(1, MalformedKind::BadGuid))?;
                        list.guid = Some(guid);
                    }
                    _ => list.header_ext.push(Ext {
                        key,
                        value: value.to_owned(),
                    }),
                }
                rest = tail.trim_start_matches(' ');
            }
        }
        version => {
            return Err(UidlistError::Unsupported {
                path: None,
                version,
            });
        }
    }
    if list.uid_validity == 0 {
        return Err(bad("uid validity missing, zero or not a number"));
    }
    if list.next_uid == 0 {
        return Err(bad("next uid missing, zero or not a number"));
    }
    Ok(list)
}

impl Record {
    /// The record's version 3 line, as [`Uidlist::encode`] writes it (with its `\n`).
    pub fn v3_line(&self) -> String {
        let mut out = String::new();
        self.push_v3_line(&mut out);
        out
    }

    fn push_v3_line(&self, out: &mut String) {
        out.push_str(&self.uid.to_string());
        push_ext(out, &self.ext);
        out.push_str(" :");
        out.push_str(self.basename());
        out.push('\n');
    }
}

/// Parses one record line (`maildir_uidlist_next`, `maildir_uidlist_read_extended`).
fn parse_record(line: &[u8], list: &Uidlist, previous: u32) -> Result<Record, MalformedKind> {
    let line = text(line)?;
    let digits = line
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(line.len());
    let (number, rest) = line.split_at_checked(digits).ok_or(MalformedKind::BadUid)?;
    let Some(rest) = rest.strip_prefix(' ') else {
        return Err(MalformedKind::BadUid);
    };
    let uid = match parse_u32(number) {
        Some(uid) if uid != 0 && uid != u32::MAX => uid,
        _ => return Err(MalformedKind::BadUid),
    };
    if uid <= previous {
        return Err(MalformedKind::UidsNotAscending { uid, previous });
    }
    let mut rest = rest.trim_start_matches(' ');
    let mut ext = Vec::new();
    let filename = match list.version {
        Version::V1 => {
            if uid >= list.next_uid {
                return Err(MalformedKind::UidNotBelowNextUid {
                    uid,
                    next_uid: list.next_uid,
                });
            }
            rest
        }
        Version::V3 => {
            while let Some(key) = rest.chars().next() {
                if key == ':' {
                    break;
                }
                let after_key = rest.get(key.len_utf8()..).unwrap_or_default();
                let (value, tail) = after_key.split_once(' ').unwrap_or((after_key, ""));
                ext.push(Ext {
                    key,
                    value: value.to_owned(),
                });
                rest = tail.trim_start_matches(' ');
            }
            rest.strip_prefix(':').ok_or(MalformedKind::MissingColon)?
        }
    };
    if basename(filename).is_empty() || filename.contains('/') {
        return Err(MalformedKind::BadFilename);
    }
    Ok(Record {
        uid,
        ext,
        filename: filename.to_owned(),
    })
}

/// The complete lines of `data`, without `\n` and one `\r` before it; an unterminated last line
/// is left out (Dovecot's `i_stream_read_next_line`).
fn complete_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split_inclusive(|&b| b == b'\n')
        .filter_map(|line| line.strip_suffix(b"\n"))
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

/// A line as text: UTF-8 without NUL or CR. Dovecot would see a NUL as the end of the line; a CR
/// inside a line is accepted by Dovecot but never written by it (its sync skips file names with
/// CR or LF), and one at the end of a value would not survive a rewrite.
fn text(line: &[u8]) -> Result<&str, MalformedKind> {
    if line.iter().any(|&b| b == 0 || b == b'\r') {
        return Err(MalformedKind::BadByte);
    }
    std::str::from_utf8(line).map_err(|_| MalformedKind::NotUtf8)
}

/// A decimal number: digits only, fitting in 32 bits.
fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hex_value(digit: u8) -> Result<u8, ParseGuidError> {
    match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        b'A'..=b'F' => Ok(digit - b'A' + 10),
        _ => Err(ParseGuidError(())),
    }
}

fn push_ext(out: &mut String, ext: &[Ext]) {
    for field in ext {
        out.push(' ');
        out.push(field.key);
        out.push_str(&field.value);
    }
}

fn malformed(line: usize, kind: MalformedKind) -> UidlistError {
    UidlistError::Malformed {
        path: None,
        line,
        kind,
    }
}

/// ` (in <path>)` for error messages, or nothing.
fn in_path(path: Option<&Path>) -> String {
    path.map(|p| format!(" ({})", p.display()))
        .unwrap_or_default()
}

/// The file's name in a Maildir folder (`MAILDIR_UIDLIST_NAME`).
pub const UIDLIST_NAME: &str = "dovecot-uidlist";

#[cfg(test)]
mod tests;
