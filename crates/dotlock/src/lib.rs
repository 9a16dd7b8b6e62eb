//! Dovecot's dotlock (`<file>.lock`, created by link() of a temp file, stale after 60 s, waited
//! for up to 120 s) and atomic whole-file replacement under it, so tresor and Dovecot can share
//! a file.
//!
//! [`LockedFile::read`] reads the file without locking, as Dovecot's readers do.
//! [`LockedFile::update`] is a read-modify-write under the lock: the new contents are written
//! into the lock file itself, which is then renamed over the file (`file_dotlock_replace`), so a
//! reader sees the old file or the new one, never a mix.
//!
//! This crate moves whole files as bytes and nothing else: it knows no file format, takes no
//! `fcntl`/`flock` locks, and never keeps a lock beyond one call. It is Unix-only (hard links,
//! inode numbers, `fchown`). `keys` uses it for `dovecot-attributes` (Dovecot's `file` dict) and
//! `store` for `dovecot-uidlist`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]

use std::fs::{self, File, Metadata, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt, fchown};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::DotlockError;

/// What [`LockedFile::change`] does with the file once the lock is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Leave the file as it is.
    Keep,
    /// Append these bytes to the existing file, in place, and fdatasync it.
    Append(Vec<u8>),
    /// Append these bytes in place without syncing: the caller syncs after the lock is gone
    /// (with [`LockedFile::sync`]), so that concurrent writers' syncs overlap instead of
    /// queueing behind the lock.
    AppendUnsynced(Vec<u8>),
    /// Replace the whole file with these bytes (atomically, by rename).
    Replace(Vec<u8>),
}

use error::io_error;
use lock::{DotLock, parent_dir};

mod error;
mod lock;

/// Settings for [`LockedFile`]. Start from [`Options::default`] and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// How long [`LockedFile::update`] waits for the lock before giving up. Default 120 s, as
    /// Dovecot's `file` dict.
    pub lock_timeout: Duration,
    /// A lock is stale, and is removed, when neither it nor the protected file changed for this
    /// long. Default 60 s, as Dovecot's `file` dict (Dovecot's `dovecot-uidlist.lock` uses 120 s,
    /// `MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT`). Must be the same for every process sharing the
    /// file.
    pub stale_timeout: Duration,
    /// Permission bits of a newly created file. Default `0o600`, as files shared with Dovecot
    /// can hold keys (Dovecot copies the parent directory's bits, `& 0o666`). An existing file
    /// keeps its own.
    pub new_file_mode: u32,
    /// Take the lock by hard-linking a file this process keeps in this directory (which must
    /// be on the lock's filesystem; a Maildir's `tmp/` for its `dovecot-uidlist`), instead of
    /// creating a new lock file each time. Same exclusion, against Dovecot too, without an
    /// inode allocated and freed per lock. New contents then go to a scratch file beside the
    /// holder before the rename. Default `None` (`O_EXCL`, as Dovecot).
    pub link_holder_dir: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            lock_timeout: Duration::from_secs(120),
            stale_timeout: Duration::from_secs(60),
            new_file_mode: 0o600,
            link_holder_dir: None,
        }
    }
}

/// A file shared with Dovecot, protected by Dovecot's dotlock `<path>.lock`.
#[derive(Debug, Clone)]
pub struct LockedFile {
    path: PathBuf,
    lock_path: PathBuf,
    options: Options,
}

impl LockedFile {
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

    /// The protected file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dotlock's path, `<path>.lock`.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// Reads the current contents without locking, as Dovecot reads (`None` if the file does
    /// not exist). The rename in [`update`](Self::update) makes this see a whole file.
    ///
    /// # Errors
    ///
    /// [`DotlockError::Io`] when the file exists but cannot be read.
    pub fn read(&self) -> Result<Option<Vec<u8>>, DotlockError> {
        Ok(read_current(&self.path)?.map(|(data, _)| data))
    }

    /// Changes the file under Dovecot's dotlock: takes `<path>.lock`, reads the current contents
    /// (`None` if the file does not exist) and calls `change` with them.
    ///
    /// If `change` returns `Some(new)`, `new` is written into the lock file, which gets the old
    /// file's permission bits and owner (the owner only when this process may change it, i.e. as
    /// root; otherwise its group where allowed), or for a new file [`Options::new_file_mode`]
    /// and, where allowed, the directory's owner, so a file created by root in a mail user's
    /// directory stays readable by Dovecot. The lock file is then fsynced, checked to be still
    /// ours, and renamed over the file (releasing the lock); last the directory is fsynced.
    ///
    /// If `change` returns `None` or an error, nothing is written and the lock is removed. The
    /// lock never outlives this call, whatever happens.
    ///
    /// # Errors
    ///
    /// Whatever `change` returns, and, converted into `E`: [`DotlockError::LockTimeout`] when
    /// the lock stays held, [`DotlockError::LockLost`] when another process broke our lock as
    /// stale before we were done (nothing is written then), [`DotlockError::Io`] otherwise.
    /// After an `Io` error on the final directory fsync the new contents are already in place.
    pub fn update<T, E, F>(&self, change: F) -> Result<T, E>
    where
        F: FnOnce(Option<&[u8]>) -> Result<(Option<Vec<u8>>, T), E>,
        E: From<DotlockError>,
    {
        let lock = DotLock::acquire(&self.path, &self.lock_path, &self.options)?;
        let current = read_current(&self.path)?;
        let (new, out) = change(current.as_ref().map(|(data, _)| data.as_slice()))?;
        let Some(new) = new else {
            lock.release()?;
            return Ok(out);
        };
        self.replace_locked(lock, &new, current.as_ref().map(|(_, meta)| meta))?;
        Ok(out)
    }

    /// Like [`update`](Self::update), but `change` may also ask to append to the file in
    /// place ([`Change::Append`]): the bytes go to the end of the existing file, which is then
    /// fdatasynced, all while the lock is held. This is how Dovecot adds records to a
    /// `dovecot-uidlist` without rewriting it; a reader that meets a half-written last line
    /// (a crash mid-append) must ignore it, as Dovecot's line reader does. Appending to a
    /// file that does not exist is an error: ask for [`Change::Replace`] then.
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub fn change<T, E, F>(&self, change: F) -> Result<T, E>
    where
        F: FnOnce(Option<&[u8]>) -> Result<(Change, T), E>,
        E: From<DotlockError>,
    {
        let lock = DotLock::acquire(&self.path, &self.lock_path, &self.options)?;
        let current = read_current(&self.path)?;
        let (todo, out) = change(current.as_ref().map(|(data, _)| data.as_slice()))?;
        match todo {
            Change::Keep => lock.release()?,
            Change::Append(ref bytes) | Change::AppendUnsynced(ref bytes) => {
                let sync = matches!(todo, Change::Append(_));
                let appended = fs::OpenOptions::new()
                    .append(true)
                    .open(&self.path)
                    .and_then(|mut f| {
                        f.write_all(bytes)?;
                        if sync { f.sync_data() } else { Ok(()) }
                    })
                    .map_err(|e| io_error("appending to", &self.path, e));
                let released = lock.release();
                appended?;
                released?;
            }
            Change::Replace(new) => {
                self.replace_locked(lock, &new, current.as_ref().map(|(_, meta)| meta))?;
            }
        }
        Ok(out)
    }

    /// fdatasyncs the file (after a [`Change::AppendUnsynced`]).
    ///
    /// # Errors
    ///
    /// [`DotlockError::Io`] when the file cannot be opened or synced.
    pub fn sync(&self) -> Result<(), DotlockError> {
        File::open(&self.path)
            .and_then(|f| f.sync_data())
            .map_err(|e| io_error("syncing", &self.path, e))
    }

    /// Replaces the file with `data` under `lock` and releases it: written into the lock file
    /// (or the scratch file of a linked lock), fsynced, renamed over the file; then the
    /// directory is fsynced.
    fn replace_locked(
        &self,
        lock: DotLock<'_>,
        data: &[u8],
        old_meta: Option<&Metadata>,
    ) -> Result<(), DotlockError> {
        let scratch = lock.scratch_path();
        let staged = match &scratch {
            None => {
                self.write_locked(lock.file(), lock.lock_path(), data, old_meta)?;
                lock.lock_path()
            }
            Some(scratch) => {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(scratch)
                    .map_err(|e| io_error("creating", scratch, e))?;
                if let Err(e) = self.write_locked(&file, scratch, data, old_meta) {
                    let _ = fs::remove_file(scratch);
                    return Err(e);
                }
                scratch.as_path()
            }
        };
        lock.replace(staged, &self.path)?;
        let dir = parent_dir(&self.path);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("syncing directory", dir, e))
    }

    /// Gives `file` (at `lock_path`) the final owner and mode, then writes and fsyncs `data`
    /// into it.
    fn write_locked(
        &self,
        file: &File,
        lock_path: &Path,
        data: &[u8],
        old_meta: Option<&Metadata>,
    ) -> Result<(), DotlockError> {
        let (uid, gid, mode) = match old_meta {
            Some(meta) => (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            None => {
                let dir = parent_dir(&self.path);
                let meta = fs::metadata(dir).map_err(|e| io_error("inspecting", dir, e))?;
                (meta.uid(), meta.gid(), self.options.new_file_mode & 0o7777)
            }
        };
        let mut file = file;
        adopt_owner(file, uid, gid, lock_path)?;
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| io_error("setting permissions of", lock_path, e))?;
        file.write_all(data)
            .map_err(|e| io_error("writing", lock_path, e))?;
        file.sync_all()
            .map_err(|e| io_error("syncing", lock_path, e))
    }
}

/// Reads the file with its metadata; `None` if it does not exist.
fn read_current(path: &Path) -> Result<Option<(Vec<u8>, Metadata)>, DotlockError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("opening", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| io_error("inspecting", path, e))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)
        .map_err(|e| io_error("reading", path, e))?;
    Ok(Some((data, meta)))
}

/// Gives `file` the owner `uid:gid` where this process may: fully as root, else only the group
/// (allowed when we are a member of it), else leaves it as it is.
fn adopt_owner(file: &File, uid: u32, gid: u32, path: &Path) -> Result<(), DotlockError> {
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

/// Dotlock suffix (`file-dotlock.c: DEFAULT_LOCK_SUFFIX`).
const LOCK_SUFFIX: &str = ".lock";

#[cfg(test)]
mod tests;
