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
//!   (`<path>.lock`), so tresor and a running Dovecot can share the file.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::fs::{self, File, Metadata, Permissions};
use std::io::{self, Read, Write};
use std::ops::Bound;
use std::os::unix::fs::{MetadataExt, PermissionsExt, fchown};
use std::path::{Path, PathBuf};
use std::time::Duration;

use dotlock::{DotLock, parent_dir};

mod dotlock;

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

/// Settings for [`AttributeFile`]. Start from [`Options::default`] and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// How long [`AttributeFile::update`] waits for the lock before giving up. Default 120 s,
    /// as Dovecot's `file` dict.
    pub lock_timeout: Duration,
    /// A lock is stale, and is removed, when neither it nor the protected file changed for this
    /// long. Default 60 s, as Dovecot's `file` dict; must be the same for every process sharing
    /// the file.
    pub stale_timeout: Duration,
    /// Permission bits of a newly created file. Default `0o600`, since the file holds keys
    /// (Dovecot copies the parent directory's bits, `& 0o666`). An existing file keeps its own.
    pub new_file_mode: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(120),
            stale_timeout: Duration::from_secs(60),
            new_file_mode: 0o600,
        }
    }
}

/// One user's `dovecot-attributes` file (`HOME/Maildir/dovecot-attributes`).
#[derive(Debug, Clone)]
pub struct AttributeFile {
    path: PathBuf,
    lock_path: PathBuf,
    options: Options,
}

impl AttributeFile {
    /// The file at `path`, with default [`Options`].
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_options(path, Options::default())
    }

    /// The file at `path`, with `options`.
    pub fn with_options(path: impl Into<PathBuf>, options: Options) -> Self {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(LOCK_SUFFIX);
        Self {
            path,
            lock_path: PathBuf::from(lock_path),
            options,
        }
    }

    /// The attribute file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dotlock's path, `<path>.lock`.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// Reads the current records without locking, as Dovecot reads. A missing file holds no
    /// records.
    ///
    /// # Errors
    ///
    /// [`AttributesError::Io`] when the file exists but cannot be read.
    pub fn load(&self) -> Result<AttributeMap, AttributesError> {
        read_current(&self.path).map(|(map, _)| map)
    }

    /// Changes the records under Dovecot's dotlock: takes `<path>.lock`, reads the current file,
    /// lets `change` edit the records, writes them into the lock file, fsyncs it, renames it over
    /// the file (releasing the lock) and fsyncs the directory.
    ///
    /// When `change` returns an error, or leaves the records as they were, nothing is written and
    /// the lock is removed. The lock is never left behind by this call, whatever happens.
    ///
    /// The rewritten file keeps the old file's permission bits and owner (the owner only when
    /// this process may change it, i.e. as root; otherwise its group where allowed). A new file
    /// gets [`Options::new_file_mode`] and, where allowed, the directory's owner, so a file
    /// created by root in a mail user's Maildir stays readable by Dovecot.
    ///
    /// # Errors
    ///
    /// Whatever `change` returns, and, converted into `E`: [`AttributesError::LockTimeout`] when
    /// the lock stays held, [`AttributesError::LockLost`] when another process broke our lock as
    /// stale before we were done (nothing is written then), [`AttributesError::Io`] otherwise.
    /// After an `Io` error on the final directory fsync the new contents are already in place.
    pub fn update<T, E, F>(&self, change: F) -> Result<T, E>
    where
        F: FnOnce(&mut AttributeMap) -> Result<T, E>,
        E: From<AttributesError>,
    {
        let lock = DotLock::acquire(&self.path, &self.lock_path, &self.options)?;
        let (current, old_meta) = read_current(&self.path)?;
        let mut map = current.clone();
        let out = change(&mut map)?;
        if map == current {
            lock.release()?;
            return Ok(out);
        }
        self.write_locked(&lock, &map.encode(), old_meta.as_ref())?;
        lock.replace(&self.path)?;
        let dir = parent_dir(&self.path);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("syncing directory", dir, e))?;
        Ok(out)
    }

    /// Gives the lock file the final owner and mode, then writes and fsyncs `data` into it.
    fn write_locked(
        &self,
        lock: &DotLock<'_>,
        data: &[u8],
        old_meta: Option<&Metadata>,
    ) -> Result<(), AttributesError> {
        let lock_path = lock.lock_path();
        let (uid, gid, mode) = match old_meta {
            Some(meta) => (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            None => {
                let dir = parent_dir(&self.path);
                let meta = fs::metadata(dir).map_err(|e| io_error("inspecting", dir, e))?;
                (meta.uid(), meta.gid(), self.options.new_file_mode & 0o7777)
            }
        };
        let mut file = lock.file();
        adopt_owner(file, uid, gid, lock_path)?;
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| io_error("setting permissions of", lock_path, e))?;
        file.write_all(data)
            .map_err(|e| io_error("writing", lock_path, e))?;
        file.sync_all()
            .map_err(|e| io_error("syncing", lock_path, e))
    }
}

/// What can go wrong reading or updating a `dovecot-attributes` file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttributesError {
    /// A file system operation failed. Check that the path exists, its ownership and permissions
    /// (the mail user must be able to create files in the Maildir), and free disk space.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process judged our lock stale and took it over before we had written; nothing was
    /// written. Retry; if it recurs, the disk is too slow for the stale timeout, or processes
    /// sharing the file use different stale timeouts.
    #[error("lock {} was taken over by another process; nothing was written", lock_path.display())]
    LockLost {
        /// The lock file.
        lock_path: PathBuf,
    },
    /// The lock stayed held for the whole lock timeout. If no Dovecot or tresor process is
    /// updating this user's attributes right now, the lock is stale: remove the lock file.
    #[error(
        "timed out after {waited:?} waiting for lock {}; if no Dovecot or tresor process is \
         updating attributes, the lock is stale and can be removed",
        lock_path.display()
    )]
    LockTimeout {
        /// The lock file.
        lock_path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
}

/// Builds [`AttributesError::Io`].
fn io_error(action: &'static str, path: &Path, source: io::Error) -> AttributesError {
    AttributesError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and parses the file, with its metadata; a missing file is an empty map.
fn read_current(path: &Path) -> Result<(AttributeMap, Option<Metadata>), AttributesError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((AttributeMap::new(), None)),
        Err(e) => return Err(io_error("opening", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| io_error("inspecting", path, e))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| io_error("reading", path, e))?;
    Ok((AttributeMap::parse(&data), Some(meta)))
}

/// Gives `file` the owner `uid:gid` where this process may: fully as root, else only the group
/// (allowed when we are a member of it), else leaves it as it is.
fn adopt_owner(file: &File, uid: u32, gid: u32, path: &Path) -> Result<(), AttributesError> {
    let meta = file
        .metadata()
        .map_err(|e| io_error("inspecting", path, e))?;
    if meta.uid() == uid && meta.gid() == gid {
        return Ok(());
    }
    match fchown(file, Some(uid), Some(gid)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            if meta.gid() != gid {
                let _ = fchown(file, None, Some(gid));
            }
            Ok(())
        }
        Err(e) => Err(io_error("changing owner of", path, e)),
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
/// Dotlock suffix (`file-dotlock.c: DEFAULT_LOCK_SUFFIX`).
const LOCK_SUFFIX: &str = ".lock";

#[cfg(test)]
mod tests;
