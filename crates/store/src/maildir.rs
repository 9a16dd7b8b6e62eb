//! Messages in a Maildir++ folder, written and found the way Dovecot 2.3 does: new files are
//! named `<secs>.M<usec>P<pid>.<host>,S=<size>,W=<crlf size>`, made complete in `tmp/`,
//! fsynced, renamed into `new/` under the `dovecot-uidlist.lock` dotlock and given the next UID
//! in `dovecot-uidlist` before the lock is released — so a Dovecot syncing the same folder
//! never sees a file without its UID, and a crash never leaves a partial file in `new/`.
//!
//! Message content is whatever the caller writes: plaintext for crypt=0 users, a sealed stream
//! (`mailcrypt::seal`) for crypt=2 users — so for encrypted users only ciphertext ever
//! reaches `tmp/`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use dotlock::{Change, DotlockError, LockedFile};
use mailcrypt::PublicKey;

use crate::folder::Folder;
use crate::uidlist::{Ext, Record, UIDLIST_NAME, Uidlist, UidlistError, Version, basename};

/// What to do with the message bytes on their way to disk.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Content<'a> {
    /// Store as given (crypt=0 users).
    Plain,
    /// Seal to this folder public key (crypt=2 users); only ciphertext is written.
    SealedTo(&'a PublicKey),
    /// Write these bytes, already sealed from the stored form (sizes in the file name still
    /// come from the plaintext).
    Sealed(&'a [u8]),
}

/// Delivery settings.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct DeliverOptions {
    /// The user's quota in bytes of stored message size; `None` or `Some(0)` is unlimited.
    pub quota: Option<u64>,
    /// Owner (uid, gid) to give new files; `None` keeps the process's.
    pub owner: Option<(u32, u32)>,
    /// Modification time (IMAP INTERNALDATE) the file has before it becomes visible;
    /// `None` keeps the time of writing.
    pub mtime: Option<SystemTime>,
}

/// A message that is now durable in a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivered {
    /// Its UID in the folder.
    pub uid: u32,
    /// Where it is (`new/…`).
    pub path: PathBuf,
    /// Stored (plaintext, LF) size: the `S=` of the name.
    pub size: u64,
    /// Size with CRLF line ends: the `W=` of the name (IMAP's RFC822.SIZE).
    pub vsize: u64,
}

/// Why a delivery or lookup failed. Nothing is left in `new/` when delivery fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// The user is over quota; they must delete mail or the admin must raise the quota.
    #[error("over quota: {used} + {size} bytes would exceed the quota of {quota} bytes")]
    OverQuota {
        /// Bytes in use.
        used: u64,
        /// Size of this message.
        size: u64,
        /// The quota.
        quota: u64,
    },
    /// The folder does not exist (create it first).
    #[error("mailbox {0} does not exist")]
    NoMailbox(String),
    /// A file system operation failed (permissions, full disk, …).
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The folder's uidlist is damaged or unsupported.
    #[error(transparent)]
    Uidlist(#[from] UidlistError),
    /// The uidlist lock could not be taken.
    #[error(transparent)]
    Lock(#[from] DotlockError),
    /// The folder's UID space is used up (Dovecot would need a new UIDVALIDITY).
    #[error("mailbox {0} has used up its UID space")]
    UidsExhausted(String),
    /// No message with that UID.
    #[error("mailbox {mailbox} has no message with UID {uid}")]
    NoSuchUid {
        /// The mailbox.
        mailbox: String,
        /// The UID asked for.
        uid: u32,
    },
}

/// Converts a message as received (CRLF line ends on the wire) to the stored form Dovecot
/// uses: every CRLF becomes LF; a lone CR is kept.
pub fn to_stored(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter().copied().peekable();
    while let Some(b) = it.next() {
        if b == b'\r' && it.peek() == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Delivers `stored` (already in stored form, see [`to_stored`]) into `folder`; the file is
/// durable and has its UID when this returns.
pub fn deliver(
    folder: &Folder,
    stored: &[u8],
    content: Content<'_>,
    options: &DeliverOptions,
) -> Result<Delivered, DeliverError> {
    if !folder.dir.join("cur").is_dir() {
        return Err(DeliverError::NoMailbox(folder.name.clone()));
    }
    let size = stored.len() as u64;
    let vsize = size + stored.iter().filter(|b| **b == b'\n').count() as u64;
    if let Some(quota) = options.quota.filter(|q| *q > 0) {
        let maildir = maildir_of(folder);
        let used = usage(&maildir)?;
        if used + size > quota {
            return Err(DeliverError::OverQuota { used, size, quota });
        }
    }
    // Git-copied or hand-made Maildirs may lack the empty tmp/ and new/; Dovecot recreates them.
    for sub in ["tmp", "new"] {
        let dir = folder.dir.join(sub);
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .or_else(|e| if dir.is_dir() { Ok(()) } else { Err(e) })
                .map_err(|e| io_err("creating", &dir, e))?;
            if let Some((uid, gid)) = options.owner {
                std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                    .map_err(|e| io_err("changing the owner of", &dir, e))?;
            }
        }
    }
    let (name, tmp_path, file) = create_tmp(&folder.dir, size, vsize)?;
    let written = write_content(file, stored, content, options, &tmp_path);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(e);
    }
    let new_path = folder.dir.join("new").join(&name);
    let result = publish(folder, &name, &tmp_path, &new_path);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp_path);
    }
    let uid = result?;
    Ok(Delivered {
        uid,
        path: new_path,
        size,
        vsize,
    })
}

/// Removes message `uid` from `folder`: its file and its uidlist record, under the uidlist
/// lock (what Dovecot's expunge leaves behind after its next sync).
pub fn expunge(folder: &Folder, uid: u32) -> Result<(), DeliverError> {
    let path = find_uid(folder, uid)?;
    let mut options = dotlock::Options::default();
    options.stale_timeout = std::time::Duration::from_secs(120);
    LockedFile::with_options(folder.dir.join(UIDLIST_NAME), options).update(|current| {
        let mut list = match current {
            Some(data) => {
                Uidlist::parse(data).map_err(|e| e.in_file(&folder.dir.join(UIDLIST_NAME)))?
            }
            None => return Err(DeliverError::Uidlist(UidlistError::missing(&folder.dir))),
        };
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing", &path, e)),
        }
        // The header's N may lag behind appended records: keep it past the highest UID ever
        // given, or removing the last record would hand its UID out again.
        if let Some(next) = list.next_uid_for_append() {
            list.next_uid = list.next_uid.max(next);
        }
        list.records.retain(|r| r.uid != uid);
        Ok((Some(list.encode()), ()))
    })
}

/// The mail file of `uid` in `folder` (in `cur/` or `new/`, any flags).
pub fn find_uid(folder: &Folder, uid: u32) -> Result<PathBuf, DeliverError> {
    let none = || DeliverError::NoSuchUid {
        mailbox: folder.name.clone(),
        uid,
    };
    let list = read_uidlist(folder)?.ok_or_else(none)?;
    let record = list
        .records
        .iter()
        .find(|r| r.uid == uid)
        .ok_or_else(none)?;
    let base = record.basename();
    for sub in ["cur", "new"] {
        let dir = folder.dir.join(sub);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err("listing", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err("listing", &dir, e))?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| basename(n) == base)
            {
                return Ok(entry.path());
            }
        }
    }
    Err(none())
}

/// The folder's uidlist, or `None` when it has none yet.
pub fn read_uidlist(folder: &Folder) -> Result<Option<Uidlist>, DeliverError> {
    let path = folder.dir.join(UIDLIST_NAME);
    match std::fs::read(&path) {
        Ok(data) => Ok(Some(Uidlist::parse(&data).map_err(|e| e.in_file(&path))?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", &path, e)),
    }
}

/// Bytes of stored mail in a user's Maildir (all folders), from the `S=` sizes in file names
/// (the size of the stored plaintext, so encryption does not count against the quota).
pub fn usage(maildir: &Path) -> Result<u64, DeliverError> {
    let mut total = 0u64;
    let folders = crate::folder::list(maildir).map_err(|e| DeliverError::Io {
        action: "listing",
        path: maildir.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })?;
    for f in folders {
        for sub in ["cur", "new"] {
            let dir = f.dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let size = size_from_name(&name)
                    .unwrap_or_else(|| entry.metadata().map(|m| m.len()).unwrap_or(0));
                total += size;
            }
        }
    }
    Ok(total)
}

/// `S=<n>` of a Maildir file name.
pub fn size_from_name(name: &str) -> Option<u64> {
    basename(name)
        .split(',')
        .find_map(|f| f.strip_prefix("S=")?.parse().ok())
}

fn maildir_of(folder: &Folder) -> PathBuf {
    if folder.name == "INBOX" {
        folder.dir.clone()
    } else {
        folder
            .dir
            .parent()
            .map_or_else(|| folder.dir.clone(), Path::to_path_buf)
    }
}

fn write_content(
    mut file: File,
    stored: &[u8],
    content: Content<'_>,
    options: &DeliverOptions,
    path: &Path,
) -> Result<(), DeliverError> {
    let io = |e| io_err("writing", path, e);
    if let Some((uid, gid)) = options.owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(|e| io_err("changing the owner of", path, e))?;
    }
    match content {
        Content::Plain => file.write_all(stored).map_err(io)?,
        Content::SealedTo(key) => {
            // The whole message is in memory already: the one-shot sealer is the fast path.
            let sealed = mailcrypt::seal(stored, key).map_err(|e| io(io::Error::other(e)))?;
            file.write_all(&sealed).map_err(io)?;
        }
        Content::Sealed(sealed) => file.write_all(sealed).map_err(io)?,
    }
    if let Some(mtime) = options.mtime {
        file.set_modified(mtime)
            .map_err(|e| io_err("setting the date of", path, e))?;
    }
    file.sync_all().map_err(|e| io_err("syncing", path, e))
}

/// Moves the tmp file into `new/` and records its UID, all under the uidlist lock.
fn publish(folder: &Folder, name: &str, tmp: &Path, new: &Path) -> Result<u32, DeliverError> {
    // Dovecot breaks a `dovecot-uidlist.lock` as stale after 120 s
    // (MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT), not the dict's 60 s.
    let mut options = dotlock::Options::default();
    options.stale_timeout = std::time::Duration::from_secs(120);
    // The lock as a link to a file this process keeps in tmp/: no inode allocated and freed
    // per delivery (Dovecot's `dotlock_use_excl = no` way; it excludes Dovecot's O_EXCL too).
    options.link_holder_dir = Some(folder.dir.join("tmp"));
    let locked = LockedFile::with_options(folder.dir.join(UIDLIST_NAME), options);
    let uid = locked.change(|current| {
        let Some(data) = current else {
            return Err(DeliverError::Uidlist(UidlistError::missing(&folder.dir)));
        };
        let in_file = |e: UidlistError| e.in_file(&folder.dir.join(UIDLIST_NAME));
        let (version, next) = Uidlist::next_uid_of(data).map_err(in_file)?;
        let uid = next.ok_or_else(|| DeliverError::UidsExhausted(folder.name.clone()))?;
        std::fs::rename(tmp, new).map_err(|e| io_err("moving into new/", new, e))?;
        let guid = name.split(',').next().unwrap_or(name).to_string();
        let record = Record {
            uid,
            ext: vec![Ext {
                key: 'G',
                value: guid,
            }],
            filename: name.to_string(),
        };
        // Dovecot appends new records and leaves the header's N behind (readers take the
        // larger of N and the last UID + 1): O(1) per delivery instead of a rewrite. A torn
        // last line (crash mid-append) or a version 1 file gets the full rewrite instead.
        if version == Version::V3 && data.ends_with(b"\n") {
            return Ok((Change::AppendUnsynced(record.v3_line().into_bytes()), uid));
        }
        let mut list = Uidlist::parse(data).map_err(in_file)?;
        list.records.push(record);
        list.next_uid = list.next_uid.max(uid.saturating_add(1));
        Ok((Change::Replace(list.encode()), uid))
    })?;
    // Durable before the caller acknowledges, but synced after the lock is released, so
    // concurrent deliveries' syncs overlap (one journal commit can cover several) instead of
    // queueing behind the lock. A crash before these syncs loses nothing acknowledged; it
    // can leave a record whose file is gone, which readers skip (as Dovecot's sync does).
    let new_dir = folder.dir.join("new");
    File::open(&new_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing", &new_dir, e))?;
    locked.sync()?;
    Ok(uid)
}

/// A new, exclusive file in `tmp/` with a Dovecot-style unique name.
fn create_tmp(dir: &Path, size: u64, vsize: u64) -> Result<(String, PathBuf, File), DeliverError> {
    let now = unique_time();
    let host = hostname();
    let pid = std::process::id();
    for attempt in 0u32..1000 {
        let q = if attempt == 0 {
            String::new()
        } else {
            format!("Q{attempt}")
        };
        let name = format!(
            "{}.M{}P{pid}{q}.{host},S={size},W={vsize}",
            now.as_secs(),
            now.subsec_micros()
        );
        let path = dir.join("tmp").join(&name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => {
                f.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io_err("setting permissions of", &path, e))?;
                return Ok((name, path, f));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("creating", &path, e)),
        }
    }
    Err(io_err(
        "creating a unique file in",
        &dir.join("tmp"),
        io::Error::other("name collisions"),
    ))
}

/// The time for a new file name: now, but strictly later than any this process handed out
/// before (as Dovecot bumps the microseconds). `create_new` in `tmp/` alone is not enough:
/// two deliveries in the same microsecond with the same size pass it one after the other
/// once the first file has moved on to `new/`, and the second rename would replace the first
/// message. With the PID in the name, names are unique across processes too.
fn unique_time() -> std::time::Duration {
    use std::sync::Mutex;
    static LAST: Mutex<std::time::Duration> = Mutex::new(std::time::Duration::ZERO);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let micros = |d: std::time::Duration| d.as_secs() * 1_000_000 + u64::from(d.subsec_micros());
    let next = if micros(now) > micros(*last) {
        now
    } else {
        let m = micros(*last) + 1;
        std::time::Duration::from_micros(m)
    };
    *last = next;
    next
}

/// The host name as Dovecot puts it in file names (`/` → `\057`, `:` → `\072`).
fn hostname() -> String {
    let raw =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    raw.trim().replace('/', "\\057").replace(':', "\\072")
}

fn io_err(action: &'static str, path: &Path, source: io::Error) -> DeliverError {
    DeliverError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name times never repeat within a process, even from many threads at once (the clock
    /// alone gives the same microsecond to calls made together).
    #[test]
    fn name_times_are_unique_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..5000).map(|_| unique_time()).collect::<Vec<_>>()))
            .collect();
        let mut all = std::collections::HashSet::new();
        for t in threads {
            // File names carry seconds and microseconds: compare at that resolution.
            let times: Vec<(u64, u32)> = t
                .join()
                .unwrap_or_default()
                .into_iter()
                .map(|d| (d.as_secs(), d.subsec_micros()))
                .collect();
            assert!(times.windows(2).all(|w| w.first() < w.get(1)));
            for time in times {
                assert!(all.insert(time), "{time:?} handed out twice");
            }
        }
        assert_eq!(all.len(), 20_000);
    }
}
