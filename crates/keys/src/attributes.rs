//! The `dovecot-attributes` file: Dovecot's `file` dict driver as configured by
//! `mail_attribute_dict = file:%h/Maildir/dovecot-attributes` (SPEC §5.3–5.4; `dict-file.c`,
//! `strescape.c`, `file-dotlock.c`).
//!
//! The file is a sequence of records of two lines each, a key line and a value line, every line
//! ended by `\n` and "tab-escaped" with the escape byte `0x01` (see [`tab_escape`]). There is no
//! header. Dovecot writes records in hash-table order, so their order carries no meaning.
//!
//! Keys look like `shared/<mailbox guid>/vendor/vendor.dovecot/pvt/crypt/active` or
//! `priv/<mailbox guid>/…/privkeys/<key id>`; one file holds the keys of all of a user's folders.
//!
//! * [`AttributeMap`] is the pure codec: [`AttributeMap::parse`] reads what Dovecot reads and
//!   [`AttributeMap::encode`] writes what Dovecot can read.
//! * [`AttributeFile`] does the IO: [`AttributeFile::load`] reads without locking (as Dovecot
//!   does) and [`AttributeFile::update`] does a read-modify-write under Dovecot's own dotlock
//!   (`<path>.lock`), so tresor and a running Dovecot can share the file. Both are thin wrappers
//!   over the `dotlock` crate's [`LockedFile`], which `store` uses for `dovecot-uidlist` too.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use dotlock::LockedFile;
pub use dotlock::{DotlockError, Options};

/// Tab-escapes `s` for one line of the file (`strescape.c: str_append_tabescaped`).
///
/// `0x01` → `0x01 '1'`, `\t` → `0x01 't'`, `\r` → `0x01 'r'`, `\n` → `0x01 'n'`, and NUL →
/// `0x01 '0'` (newer Dovecot escapes NUL the same way; 2.3 never has one to write, as it works on
/// C strings). Every other character is copied, so the result is still UTF-8.
pub fn tab_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match u8::try_from(c).ok().and_then(escape_code) {
            Some(code) => {
                out.push(char::from(ESCAPE));
                out.push(char::from(code));
            }
            None => out.push(c),
        }
    }
    out
}

/// Tab-escapes arbitrary bytes; see [`tab_escape`].
pub fn tab_escape_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    push_escaped(&mut out, bytes);
    out
}

/// Undoes [`tab_escape`] on one line (`strescape.c: str_tabunescape`).
///
/// `0x01` followed by `'0'`, `'1'`, `'t'`, `'r'` or `'n'` gives NUL, `0x01`, tab, CR or LF;
/// followed by any other byte it gives that byte; a lone `0x01` at the end is dropped. Never
/// fails: this is as lenient as Dovecot.
pub fn tab_unescape(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != ESCAPE {
            out.push(byte);
            continue;
        }
        let Some(code) = bytes.next() else {
            break;
        };
        out.push(match code {
            b'0' => 0x00,
            b'1' => ESCAPE,
            b't' => b'\t',
            b'r' => b'\r',
            b'n' => b'\n',
            other => other,
        });
    }
    out
}

/// The records of a `dovecot-attributes` file: byte-string keys mapped to byte-string values.
///
/// Entries are kept sorted by key, so [`encode`](Self::encode) is deterministic. `Debug` shows
/// keys only: values can be private keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AttributeMap {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl AttributeMap {
    /// An empty map (what a missing file holds).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a file's contents exactly as Dovecot does (`dict-file.c: file_dict_refresh`).
    ///
    /// Every input is accepted: lines are split at `\n`, one `\r` before the `\n` is dropped,
    /// lines pair up as key then value, a later duplicate key wins, and an odd trailing key line
    /// is ignored. Bytes after the last `\n` are ignored too, because Dovecot's line reader
    /// never returns an unterminated last line.
    pub fn parse(data: &[u8]) -> Self {
        let mut entries = BTreeMap::new();
        let mut lines = data
            .split_inclusive(|&b| b == b'\n')
            .filter_map(|line| line.strip_suffix(b"\n"))
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        while let Some(key) = lines.next() {
            let Some(value) = lines.next() else {
                break;
            };
            entries.insert(tab_unescape(key), tab_unescape(value));
        }
        Self { entries }
    }

    /// The file contents for these records: for each, the escaped key, `\n`, the escaped value,
    /// `\n` (`dict-file.c: file_dict_write_changes`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in &self.entries {
            push_escaped(&mut out, key);
            out.push(b'\n');
            push_escaped(&mut out, value);
            out.push(b'\n');
        }
        out
    }

    /// The value stored under `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&[u8]> {
        self.entries.get(key.as_ref()).map(Vec::as_slice)
    }

    /// The value stored under `key`, if there is one and it is UTF-8.
    pub fn get_str(&self, key: impl AsRef<[u8]>) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether `key` has a value (possibly empty).
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> bool {
        self.entries.contains_key(key.as_ref())
    }

    /// Sets `key` to `value` (an empty value is a value); returns the previous value.
    pub fn set(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Option<Vec<u8>> {
        self.entries.insert(key.into(), value.into())
    }

    /// Removes `key` (Dovecot: unsetting an attribute drops its record); returns its value.
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        self.entries.remove(key.as_ref())
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All records, sorted by key.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: self.entries.iter(),
        }
    }

    /// The records whose key starts with `prefix`, sorted by key (a recursive dict iteration,
    /// e.g. all `priv/<guid>/vendor/vendor.dovecot/pvt/crypt/privkeys/` entries).
    pub fn iter_prefix(&self, prefix: impl AsRef<[u8]>) -> PrefixIter<'_> {
        let prefix = prefix.as_ref().to_vec();
        let inner = self
            .entries
            .range::<[u8], _>((Bound::Included(prefix.as_slice()), Bound::Unbounded));
        PrefixIter { inner, prefix }
    }
}

impl fmt::Debug for AttributeMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<_> = self
            .entries
            .keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect();
        f.debug_struct("AttributeMap")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl<K: Into<Vec<u8>>, V: Into<Vec<u8>>> FromIterator<(K, V)> for AttributeMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl<'a> IntoIterator for &'a AttributeMap {
    type Item = (&'a [u8], &'a [u8]);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over all records of an [`AttributeMap`], from [`AttributeMap::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: btree_map::Iter<'a, Vec<u8>, Vec<u8>>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }
}

/// Iterator over the records under a key prefix, from [`AttributeMap::iter_prefix`].
#[derive(Debug, Clone)]
pub struct PrefixIter<'a> {
    inner: btree_map::Range<'a, Vec<u8>, Vec<u8>>,
    prefix: Vec<u8>,
}

impl<'a> Iterator for PrefixIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (key, value) = self.inner.next()?;
        if key.starts_with(&self.prefix) {
            Some((key.as_slice(), value.as_slice()))
        } else {
            None
        }
    }
}

/// One user's `dovecot-attributes` file (`HOME/Maildir/dovecot-attributes`), read and rewritten
/// through [`LockedFile`].
#[derive(Debug, Clone)]
pub struct AttributeFile {
    file: LockedFile,
}

impl AttributeFile {
    /// The file at `path`, with default [`Options`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_options(path, Options::default())
    }

    /// The file at `path`, with `options`.
    pub fn with_options(path: impl Into<PathBuf>, options: Options) -> Self {
        Self {
            file: LockedFile::with_options(path, options),
        }
    }

    /// The attribute file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The dotlock's path, `<path>.lock`.
    pub fn lock_path(&self) -> &Path {
        self.file.lock_path()
    }

    /// Reads the current records without locking, as Dovecot reads. A missing file holds no
    /// records.
    ///
    /// # Errors
    ///
    /// [`DotlockError::Io`] when the file exists but cannot be read.
    pub fn load(&self) -> Result<AttributeMap, AttributesError> {
        let data = self.file.read()?;
        Ok(data.map_or_else(AttributeMap::new, |data| AttributeMap::parse(&data)))
    }

    /// Changes the records under Dovecot's dotlock ([`LockedFile::update`]): takes
    /// `<path>.lock`, reads the current file, lets `change` edit the records, and writes them
    /// back by renaming the lock file over the file.
    ///
    /// When `change` returns an error, or leaves the records as they were, nothing is written and
    /// the lock is removed. The lock is never left behind by this call, whatever happens. The
    /// rewritten file keeps the old file's mode and owner; a new one gets
    /// [`Options::new_file_mode`] (default `0o600`) and the directory's owner where allowed.
    ///
    /// # Errors
    ///
    /// Whatever `change` returns, and, converted into `E`, [`AttributesError::Lock`] with a
    /// [`DotlockError`]: `LockTimeout` when the lock stays held, `LockLost` when another process
    /// broke our lock as stale before we were done (nothing is written then), `Io` otherwise.
    pub fn update<T, E, F>(&self, change: F) -> Result<T, E>
    where
        F: FnOnce(&mut AttributeMap) -> Result<T, E>,
        E: From<AttributesError>,
    {
        let result = self.file.update(|data| {
            let current = data.map_or_else(AttributeMap::new, AttributeMap::parse);
            let mut map = current.clone();
            let out = change(&mut map).map_err(UpdateError::Change)?;
            let new = (map != current).then(|| map.encode());
            Ok((new, out))
        });
        result.map_err(|e| match e {
            UpdateError::Change(e) => e,
            UpdateError::Lock(e) => E::from(AttributesError::Lock(e)),
        })
    }
}

/// What can go wrong reading or updating a `dovecot-attributes` file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttributesError {
    /// Reading the file, or locking and rewriting it, failed; each [`DotlockError`] variant says
    /// what the admin can do.
    #[error(transparent)]
    Lock(#[from] DotlockError),
}

/// The error inside [`AttributeFile::update`]: the lock's own, or the caller's from `change`,
/// kept apart so that only the lock's needs converting into the caller's `E`.
enum UpdateError<E> {
    Change(E),
    Lock(DotlockError),
}

impl<E> From<DotlockError> for UpdateError<E> {
    fn from(e: DotlockError) -> Self {
        Self::Lock(e)
    }
}

/// Appends `bytes` tab-escaped to `out`.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        match escape_code(byte) {
            Some(code) => out.extend_from_slice(&[ESCAPE, code]),
            None => out.push(byte),
        }
    }
}

/// The letter that follows [`ESCAPE`] for a byte that must be escaped.
fn escape_code(byte: u8) -> Option<u8> {
    match byte {
        0x00 => Some(b'0'),
        ESCAPE => Some(b'1'),
        b'\t' => Some(b't'),
        b'\r' => Some(b'r'),
        b'\n' => Some(b'n'),
        _ => None,
    }
}

/// The tab-escape byte (`strescape.h`).
const ESCAPE: u8 = 0x01;

#[cfg(test)]
mod tests;
