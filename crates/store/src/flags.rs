//! Message flags in Maildir file names and the `dovecot-keywords` file, as Dovecot 2.3 writes
//! them (`maildir-filename-flags.c`, `maildir-keywords.c`, `maildir-sync-index.c`).
//!
//! A message's flags are the info part of its file name, `<base>:2,<letters>`:
//!
//! - uppercase `D` \Draft, `F` \Flagged, `R` \Answered, `S` \Seen, `T` \Deleted;
//! - lowercase `a`–`z`: keyword 0–25, whose name is on the line `<index> <name>` of the folder's
//!   `dovecot-keywords` (so at most 26 keywords per folder);
//! - any other character is another client's flag (`P` passed, …), kept where it is.
//!
//! Dovecot writes the letters in ASCII order (system flags, then keyword letters), inserting them
//! around the other clients' letters it keeps, and drops a `:` info part that is not `2,`. A
//! second `,`-separated flag set is kept verbatim. [`FileFlags`] is this letter-level view;
//! [`Flags`] is the IMAP view (system flags and keyword names).
//!
//! Flags are not in `dovecot-uidlist` (only the base name is), so changing them is a `rename()`
//! of the file into `cur/`. Like Dovecot's sync, tresor renames and adds keywords while holding
//! `dovecot-uidlist.lock`: Dovecot only assigns keyword letters under that lock, and it deletes a
//! `dovecot-keywords.lock` it finds while holding it, trusting the uidlist lock alone.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dotlock::{DotlockError, LockedFile};

use crate::folder::Folder;
use crate::maildir::{self, DeliverError};
use crate::uidlist::UIDLIST_NAME;

/// One of the five IMAP system flags a Maildir file name stores. Exhaustive: `\Recent` is
/// session state and never stored. Variants are in the ASCII order of their letters, the order
/// Dovecot writes them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SystemFlag {
    /// `\Draft`, letter `D`.
    Draft,
    /// `\Flagged`, letter `F`.
    Flagged,
    /// `\Answered`, letter `R` (replied).
    Answered,
    /// `\Seen`, letter `S`.
    Seen,
    /// `\Deleted`, letter `T` (trashed).
    Deleted,
}

impl SystemFlag {
    /// All five, in letter order.
    pub const ALL: [Self; 5] = [
        Self::Draft,
        Self::Flagged,
        Self::Answered,
        Self::Seen,
        Self::Deleted,
    ];

    /// The letter in a Maildir file name.
    pub const fn letter(self) -> char {
        match self {
            Self::Draft => 'D',
            Self::Flagged => 'F',
            Self::Answered => 'R',
            Self::Seen => 'S',
            Self::Deleted => 'T',
        }
    }

    /// The flag a file name letter stands for, if it is one of `D`, `F`, `R`, `S`, `T`.
    pub const fn from_letter(letter: char) -> Option<Self> {
        match letter {
            'D' => Some(Self::Draft),
            'F' => Some(Self::Flagged),
            'R' => Some(Self::Answered),
            'S' => Some(Self::Seen),
            'T' => Some(Self::Deleted),
            _ => None,
        }
    }

    /// The IMAP name (`\Seen`).
    pub const fn imap_name(self) -> &'static str {
        match self {
            Self::Draft => "\\Draft",
            Self::Flagged => "\\Flagged",
            Self::Answered => "\\Answered",
            Self::Seen => "\\Seen",
            Self::Deleted => "\\Deleted",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Draft => 1,
            Self::Flagged => 2,
            Self::Answered => 4,
            Self::Seen => 8,
            Self::Deleted => 16,
        }
    }
}

/// The index of a keyword in `dovecot-keywords`, 0–25, written as the letter `a`–`z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeywordIndex(u8);

impl KeywordIndex {
    /// The index `index`, if below 26 (`MAILDIR_MAX_KEYWORDS`).
    pub const fn new(index: u8) -> Option<Self> {
        if index < MAX_KEYWORDS {
            Some(Self(index))
        } else {
            None
        }
    }

    /// The index as a number, 0–25.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// The letter in a file name: `a` for 0 … `z` for 25.
    pub fn letter(self) -> char {
        char::from(b'a'.saturating_add(self.0))
    }

    /// The index a file name letter stands for, if it is `a`–`z`.
    pub fn from_letter(letter: char) -> Option<Self> {
        let byte = u8::try_from(letter).ok()?;
        if byte.is_ascii_lowercase() {
            Self::new(byte.wrapping_sub(b'a'))
        } else {
            None
        }
    }

    fn bit(self) -> u32 {
        1u32 << self.0
    }
}

/// The flags of a Maildir file name, letter for letter: system flags, keyword letters, other
/// clients' letters and any further flag set (`maildir_filename_flags_get`,
/// `maildir_filename_flags_full_set`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileFlags {
    system: u8,
    keywords: u32,
    foreign: String,
    more: String,
}

impl FileFlags {
    /// Splits a file name into its base and flags. The info part starts at the last `:`; it
    /// holds flags only when it starts with `2,` (Dovecot ignores, and on rename drops, any
    /// other info). A name without `:` (a message in `new/`) has no flags.
    pub fn parse(file_name: &str) -> (&str, Self) {
        let Some((base, info)) = file_name.rsplit_once(INFO_SEP) else {
            return (file_name, Self::default());
        };
        let mut flags = Self::default();
        let Some(letters) = info.strip_prefix(FLAGS_PREFIX) else {
            return (base, flags);
        };
        let (first, more) = match letters.find(FLAGS_SEP) {
            Some(at) => letters.split_at(at),
            None => (letters, ""),
        };
        for c in first.chars() {
            if let Some(flag) = SystemFlag::from_letter(c) {
                flags.system |= flag.bit();
            } else if let Some(index) = KeywordIndex::from_letter(c) {
                flags.keywords |= index.bit();
            } else {
                flags.foreign.push(c);
            }
        }
        flags.more = more.to_string();
        (base, flags)
    }

    /// `<base>:2,<letters>` as Dovecot writes it: system flags and keyword letters in ASCII
    /// order, each inserted before the first kept foreign letter that sorts after it (the
    /// foreign letters stay in their own order), then any further flag set.
    pub fn format(&self, base: &str) -> String {
        let mut out = String::with_capacity(base.len() + 8 + self.foreign.len() + self.more.len());
        out.push_str(base);
        out.push(INFO_SEP);
        out.push_str(FLAGS_PREFIX);
        let mut system = SystemFlag::ALL
            .into_iter()
            .filter(|f| self.contains(*f))
            .peekable();
        let mut keywords_written = false;
        // Each foreign letter, then an end marker above every letter (Dovecot's 256).
        let nexts = self.foreign.chars().map(Some).chain([None]);
        for next in nexts {
            let next_code = next.map_or(u32::MAX, u32::from);
            while let Some(flag) = system.next_if(|f| u32::from(f.letter()) < next_code) {
                out.push(flag.letter());
            }
            if !keywords_written && next_code > u32::from('a') {
                out.extend(self.keyword_indexes().map(KeywordIndex::letter));
                keywords_written = true;
            }
            if let Some(c) = next {
                out.push(c);
            }
        }
        out.push_str(&self.more);
        out
    }

    /// Whether the system flag is set.
    pub fn contains(&self, flag: SystemFlag) -> bool {
        self.system & flag.bit() != 0
    }

    /// Sets or clears a system flag.
    pub fn set(&mut self, flag: SystemFlag, on: bool) {
        if on {
            self.system |= flag.bit();
        } else {
            self.system &= !flag.bit();
        }
    }

    /// The keyword letters set, as indexes in ascending order.
    pub fn keyword_indexes(&self) -> impl Iterator<Item = KeywordIndex> + '_ {
        (0..MAX_KEYWORDS)
            .filter_map(KeywordIndex::new)
            .filter(|i| self.keywords & i.bit() != 0)
    }

    /// Sets or clears a keyword letter.
    pub fn set_keyword(&mut self, index: KeywordIndex, on: bool) {
        if on {
            self.keywords |= index.bit();
        } else {
            self.keywords &= !index.bit();
        }
    }

    /// Other clients' letters of the first flag set (neither `DFRST` nor `a`–`z`), in file order.
    /// Dovecot, and tresor, keep them on every rename.
    pub fn foreign(&self) -> &str {
        &self.foreign
    }
}

/// A message's flags as IMAP sees them: system flags and keyword names. Keywords are looked up
/// ignoring ASCII case, as Dovecot does, and kept in name order; `==` compares them exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    system: u8,
    keywords: Vec<String>,
}

impl Flags {
    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// These flags plus `flag`.
    #[must_use]
    pub fn with(mut self, flag: SystemFlag) -> Self {
        self.insert(flag);
        self
    }

    /// These flags plus the keyword `name`.
    #[must_use]
    pub fn with_keyword(mut self, name: &str) -> Self {
        self.insert_keyword(name);
        self
    }

    /// The IMAP flags of a file name's letters; keyword letters are named through `keywords`. A
    /// letter without a name gets the name Dovecot gives it, `unknown-<index>` (with `?`
    /// appended while that name is taken).
    pub fn from_file_flags(file: &FileFlags, keywords: &Keywords) -> Self {
        let mut flags = Self {
            system: file.system,
            keywords: Vec::new(),
        };
        for index in file.keyword_indexes() {
            match keywords.name(index) {
                Some(name) => flags.insert_keyword(name),
                None => flags.insert_keyword(&keywords.placeholder(index)),
            }
        }
        flags
    }

    /// Whether the system flag is set.
    pub fn contains(&self, flag: SystemFlag) -> bool {
        self.system & flag.bit() != 0
    }

    /// Sets a system flag.
    pub fn insert(&mut self, flag: SystemFlag) {
        self.system |= flag.bit();
    }

    /// Clears a system flag.
    pub fn remove(&mut self, flag: SystemFlag) {
        self.system &= !flag.bit();
    }

    /// The system flags set, in letter order.
    pub fn system(&self) -> impl Iterator<Item = SystemFlag> + '_ {
        SystemFlag::ALL.into_iter().filter(|f| self.contains(*f))
    }

    /// The keyword names, in name order (ignoring ASCII case).
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// Whether the keyword is set (ignoring ASCII case).
    pub fn has_keyword(&self, name: &str) -> bool {
        self.keywords.iter().any(|k| k.eq_ignore_ascii_case(name))
    }

    /// Sets a keyword; a name equal but for ASCII case to one already set is not added again.
    /// Names are checked when the flags are stored ([`set_flags`]).
    pub fn insert_keyword(&mut self, name: &str) {
        if self.has_keyword(name) {
            return;
        }
        let at = self
            .keywords
            .partition_point(|k| keyword_order(k, name).is_lt());
        self.keywords.insert(at, name.to_string());
    }

    /// Clears a keyword (ignoring ASCII case); returns whether it was set.
    pub fn remove_keyword(&mut self, name: &str) -> bool {
        let before = self.keywords.len();
        self.keywords.retain(|k| !k.eq_ignore_ascii_case(name));
        self.keywords.len() != before
    }
}

/// The keyword names of a folder: its `dovecot-keywords` file, lines `<index> <name>\n` in index
/// order (`maildir_keywords_sync`, `maildir_keywords_write_fd`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keywords {
    slots: Vec<Option<Keyword>>,
}

impl Keywords {
    /// Parses a `dovecot-keywords` file leniently, as Dovecot reads it: lines end with `\n` (one
    /// `\r` before it is dropped, text after the last `\n` is ignored); a line without a space,
    /// with an index that is not all digits or not below 26, with an empty name, or with a name
    /// already seen (ignoring ASCII case) is skipped; a later line for the same index wins.
    /// Names are kept byte for byte, so [`Keywords::encode`] rewrites them unchanged.
    pub fn parse(data: &[u8]) -> Self {
        let mut keywords = Self::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut rest = data;
        while let Some(at) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(at);
            rest = tail.get(1..).unwrap_or_default();
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(space) = line.iter().position(|b| *b == b' ') else {
                continue;
            };
            let (digits, name) = line.split_at(space);
            let name = name.get(1..).unwrap_or_default();
            // Dovecot handles the line as a C string: the name ends at a NUL.
            let name = name.split(|b| *b == 0).next().unwrap_or_default();
            let Some(index) = parse_index(digits) else {
                continue;
            };
            if name.is_empty() || seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                continue;
            }
            seen.push(name.to_vec());
            keywords.put(index, Keyword::from_raw(name.to_vec()));
        }
        keywords
    }

    /// The file contents: `<index> <name>\n` for every named index, in index order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(keyword) = slot {
                out.extend_from_slice(index.to_string().as_bytes());
                out.push(b' ');
                out.extend_from_slice(&keyword.raw);
                out.push(b'\n');
            }
        }
        out
    }

    /// Reads the folder's `dovecot-keywords` without locking, as Dovecot's readers do (the file
    /// is only ever replaced by `rename()`). A missing file has no keywords.
    ///
    /// # Errors
    ///
    /// [`FlagsError::Io`] when the file exists but cannot be read.
    pub fn read(folder: &Folder) -> Result<Self, FlagsError> {
        let path = folder.dir.join(KEYWORDS_NAME);
        match fs::read(&path) {
            Ok(data) => Ok(Self::parse(&data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(io_err("reading", &path, e)),
        }
    }

    /// The name of keyword `index`, if it has one.
    pub fn name(&self, index: KeywordIndex) -> Option<&str> {
        self.slot(index).map(|k| k.name.as_str())
    }

    /// The index of keyword `name`, ignoring ASCII case (Dovecot's `strcasecmp`).
    pub fn index(&self, name: &str) -> Option<KeywordIndex> {
        self.iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(i, _)| i)
    }

    /// Every named keyword, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (KeywordIndex, &str)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            let index = KeywordIndex::new(u8::try_from(i).ok()?)?;
            slot.as_ref().map(|k| (index, k.name.as_str()))
        })
    }

    /// Whether no keyword is named.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// The index of `name`, giving it the first free index when it has none
    /// (`maildir_keywords_lookup_or_create`). A name not yet in the file must be a valid IMAP
    /// keyword: 1–50 ASCII characters, no space, control character or any of `(){%*"\]`
    /// (`mailbox_keyword_is_valid`).
    ///
    /// # Errors
    ///
    /// [`FlagsError::InvalidKeyword`] for an invalid new name, [`FlagsError::KeywordsFull`] when
    /// all 26 indexes are taken.
    pub fn assign(&mut self, name: &str) -> Result<KeywordIndex, FlagsError> {
        if let Some(index) = self.index(name) {
            return Ok(index);
        }
        if !is_valid_keyword(name) {
            return Err(FlagsError::InvalidKeyword(name.to_string()));
        }
        let free = (0..MAX_KEYWORDS)
            .filter_map(KeywordIndex::new)
            .find(|i| self.slot(*i).is_none())
            .ok_or_else(|| FlagsError::KeywordsFull(name.to_string()))?;
        self.put(free, Keyword::from_raw(name.as_bytes().to_vec()));
        Ok(free)
    }

    /// Dovecot's name for a keyword letter it finds without a name: `unknown-<index>`, with `?`
    /// appended until no other keyword has it (`maildir_keywords_char_idx`).
    fn placeholder(&self, index: KeywordIndex) -> String {
        let mut name = format!("unknown-{}", index.get());
        while self.index(&name).is_some() {
            name.push('?');
        }
        name
    }

    fn slot(&self, index: KeywordIndex) -> Option<&Keyword> {
        self.slots
            .get(usize::from(index.get()))
            .and_then(Option::as_ref)
    }

    fn put(&mut self, index: KeywordIndex, keyword: Keyword) {
        let at = usize::from(index.get());
        if self.slots.len() <= at {
            self.slots.resize(at + 1, None);
        }
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = Some(keyword);
        }
    }
}

/// Why reading or changing a message's flags failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlagsError {
    /// The folder has used all 26 keyword letters. Use an existing keyword; the admin can free
    /// letters only by removing a `dovecot-keywords` line no message file uses any more.
    #[error("cannot add keyword {0:?}: the folder already has 26 keywords, the Maildir maximum")]
    KeywordsFull(String),
    /// The keyword is not a valid IMAP keyword. Use a name of 1–50 ASCII letters, digits and
    /// punctuation other than `(){%*"\]`.
    #[error(
        "invalid keyword {0:?}: keywords are 1-50 ASCII characters without spaces, control \
         characters or any of ( ) {{ % * \" \\ ]"
    )]
    InvalidKeyword(String),
    /// The message could not be found: no such UID, a damaged `dovecot-uidlist`, or an
    /// unreadable folder (see the inner error).
    #[error(transparent)]
    Message(#[from] DeliverError),
    /// The message file kept being renamed or removed by another process while we tried to
    /// rename it; it may have been expunged. Retry.
    #[error("message UID {uid} of mailbox {mailbox} kept changing its name; it may be expunged")]
    Vanished {
        /// The mailbox.
        mailbox: String,
        /// The UID.
        uid: u32,
    },
    /// `dovecot-uidlist.lock` or `dovecot-keywords.lock` could not be taken, or
    /// `dovecot-keywords` could not be rewritten (see the inner error).
    #[error(transparent)]
    Lock(#[from] DotlockError),
    /// A file system operation failed: check ownership, permissions and free space of the
    /// folder.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The flags of message `uid` of `folder`, keyword names resolved through the folder's
/// `dovecot-keywords`. Reads without locking.
///
/// # Errors
///
/// [`FlagsError::Message`] when the message is not found, [`FlagsError::Io`] when
/// `dovecot-keywords` is unreadable.
pub fn flags(folder: &Folder, uid: u32) -> Result<Flags, FlagsError> {
    let path = maildir::find_uid(folder, uid)?;
    let (_, file) = FileFlags::parse(file_name(&path)?);
    let keywords = if file.keywords == 0 {
        Keywords::default()
    } else {
        Keywords::read(folder)?
    };
    Ok(Flags::from_file_flags(&file, &keywords))
}

/// Gives message `uid` of `folder` exactly `flags` (system flags and keywords), keeping other
/// clients' letters, by renaming its file to `cur/<base>:2,<letters>` — also when it is in
/// `new/` and when no flag is set (`:2,`), as Dovecot does when it first syncs a message.
/// Returns the new path. `dovecot-uidlist` is not changed.
///
/// All of it happens under `dovecot-uidlist.lock`, as in Dovecot's sync. Keywords new to the
/// folder get the first free letters, written to `dovecot-keywords` (under its own dotlock, with
/// a newer mtime, see [`Keywords`]) before the rename. Letters the file has but
/// `dovecot-keywords` does not name are recorded as `unknown-<index>`, as Dovecot records them.
/// When the file was renamed by someone else meanwhile (`ENOENT`), it is looked up again, up to
/// 10 times (`MAILDIR_RESYNC_RETRY_COUNT`).
///
/// # Errors
///
/// [`FlagsError::InvalidKeyword`] and [`FlagsError::KeywordsFull`] before anything is renamed;
/// [`FlagsError::Message`] when the message is not found; [`FlagsError::Vanished`] when it kept
/// moving; [`FlagsError::Lock`] and [`FlagsError::Io`] for locking and file system failures.
pub fn set_flags(folder: &Folder, uid: u32, flags: &Flags) -> Result<PathBuf, FlagsError> {
    let mut options = dotlock::Options::default();
    options.stale_timeout = UIDLIST_LOCK_STALE_TIMEOUT;
    let uidlist = LockedFile::with_options(folder.dir.join(UIDLIST_NAME), options);
    uidlist.update(|_| {
        for _ in 0..RENAME_ATTEMPTS {
            let path = maildir::find_uid(folder, uid)?;
            let (base, current) = FileFlags::parse(file_name(&path)?);
            let keywords = keywords_for(folder, &current, flags)?;
            let mut next = current.clone();
            next.system = flags.system;
            next.keywords = 0;
            for name in flags.keywords() {
                // Cannot fail: keywords_for named every keyword of `flags`.
                let index = keywords
                    .index(name)
                    .ok_or_else(|| FlagsError::KeywordsFull(name.clone()))?;
                next.set_keyword(index, true);
            }
            let new_path = folder.dir.join("cur").join(next.format(base));
            if new_path == path {
                // As Dovecot: no rename, only make sure the file is still there.
                match fs::symlink_metadata(&path) {
                    Ok(_) => return Ok((None, new_path)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err("inspecting", &path, e)),
                }
            }
            match fs::rename(&path, &new_path) {
                Ok(()) => return Ok((None, new_path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("renaming", &path, e)),
            }
        }
        Err(FlagsError::Vanished {
            mailbox: folder.name.clone(),
            uid,
        })
    })
}

/// The folder's keywords with every name of `flags` and every letter of `current` named,
/// written to `dovecot-keywords` first when that adds anything. Must run under the uidlist lock.
fn keywords_for(
    folder: &Folder,
    current: &FileFlags,
    flags: &Flags,
) -> Result<Keywords, FlagsError> {
    if flags.keywords.is_empty() && current.keywords == 0 {
        return Ok(Keywords::default());
    }
    let known = Keywords::read(folder)?;
    if completed(&known, current, flags)? == known {
        return Ok(known);
    }
    let path = folder.dir.join(KEYWORDS_NAME);
    let old_mtime = fs::metadata(&path).and_then(|m| m.modified()).ok();
    // Dovecot removes any `dovecot-keywords.lock` before taking it: under the uidlist lock,
    // which every writer of dovecot-keywords holds, such a lock can only be stale.
    let mut lock_path = path.clone().into_os_string();
    lock_path.push(".lock");
    match fs::remove_file(&lock_path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("removing stale lock", Path::new(&lock_path), e)),
    }
    let mut options = dotlock::Options::default();
    options.stale_timeout = KEYWORDS_LOCK_STALE_TIMEOUT;
    let keywords = LockedFile::with_options(&path, options).update(|data| {
        let on_disk = Keywords::parse(data.unwrap_or_default());
        let wanted = completed(&on_disk, current, flags)?;
        let new = (wanted != on_disk).then(|| wanted.encode());
        Ok::<_, FlagsError>((new, wanted))
    })?;
    compat_mtime_grows(&path, old_mtime)?;
    Ok(keywords)
}

/// `keywords` plus `unknown-<index>` for the letters of `current` it lacks
/// (`maildir_keywords_char_idx`), plus every keyword of `flags`.
fn completed(
    keywords: &Keywords,
    current: &FileFlags,
    flags: &Flags,
) -> Result<Keywords, FlagsError> {
    let mut out = keywords.clone();
    for index in current.keyword_indexes() {
        if out.slot(index).is_none() {
            let name = out.placeholder(index);
            out.put(index, Keyword::from_raw(name.into_bytes()));
        }
    }
    for name in flags.keywords() {
        out.assign(name)?;
    }
    Ok(out)
}

/// `compat_mtime_grows`: Dovecot re-reads `dovecot-keywords` only when its mtime (in seconds)
/// differs from the one it last read, and assigns a name of its own (`unknown-<index>`, which
/// it then writes back) to a letter it cannot name. So every rewrite must leave a later mtime
/// than the file had (`maildir_keywords_write_fd`: "mtime must grow every time").
fn compat_mtime_grows(path: &Path, old: Option<SystemTime>) -> Result<(), FlagsError> {
    let Some(old) = old else {
        return Ok(());
    };
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let new = fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| io_err("inspecting", path, e))?;
    if secs(new) > secs(old) {
        return Ok(());
    }
    let later = UNIX_EPOCH + Duration::from_secs(secs(old).saturating_add(1));
    // futimens() with explicit times needs ownership, not write access: open read-only.
    File::open(path)
        .and_then(|f| f.set_modified(later))
        .map_err(|e| io_err("setting the mtime of", path, e))
}

/// A name as read from `dovecot-keywords`: the bytes, and the text shown for them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Keyword {
    raw: Vec<u8>,
    name: String,
}

impl Keyword {
    fn from_raw(raw: Vec<u8>) -> Self {
        let name = String::from_utf8_lossy(&raw).into_owned();
        Self { raw, name }
    }
}

/// Orders keyword names ignoring ASCII case, then exactly.
fn keyword_order(a: &str, b: &str) -> std::cmp::Ordering {
    let fold = |s: &str| {
        s.bytes()
            .map(|b| b.to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    fold(a).cmp(&fold(b)).then_with(|| a.cmp(b))
}

/// A keyword index as Dovecot's `str_to_uint` reads it: digits only, below 26.
fn parse_index(digits: &[u8]) -> Option<KeywordIndex> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = std::str::from_utf8(digits).ok()?.parse::<u32>().ok()?;
    KeywordIndex::new(u8::try_from(value).ok()?)
}

/// `mailbox_keyword_is_valid` with the default `mail_max_keyword_length` of 50: a non-empty
/// IMAP atom.
fn is_valid_keyword(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_KEYWORD_LENGTH
        && name
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\]".contains(&b))
}

fn file_name(path: &Path) -> Result<&str, FlagsError> {
    path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io_err(
            "reading the name of",
            path,
            io::Error::other("not a UTF-8 file name"),
        )
    })
}

fn io_err(action: &'static str, path: &Path, source: io::Error) -> FlagsError {
    FlagsError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The keywords file of a folder (`MAILDIR_KEYWORDS_NAME`).
pub const KEYWORDS_NAME: &str = "dovecot-keywords";
/// Keyword letters `a`–`z` (`MAILDIR_MAX_KEYWORDS`).
const MAX_KEYWORDS: u8 = 26;
/// Dovecot's default `mail_max_keyword_length`.
const MAX_KEYWORD_LENGTH: usize = 50;
/// `MAILDIR_INFO_SEP`.
const INFO_SEP: char = ':';
/// `MAILDIR_FLAGS_SEP`.
const FLAGS_SEP: char = ',';
/// The info part's start for flags: `2` and `MAILDIR_FLAGS_SEP`.
const FLAGS_PREFIX: &str = "2,";
/// `MAILDIR_RESYNC_RETRY_COUNT`.
const RENAME_ATTEMPTS: u32 = 10;
/// `MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT`.
const UIDLIST_LOCK_STALE_TIMEOUT: Duration = Duration::from_secs(120);
/// `KEYWORDS_LOCK_STALE_TIMEOUT`.
const KEYWORDS_LOCK_STALE_TIMEOUT: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests;
