//! Taking and releasing Dovecot's dotlock (`file-dotlock.c: dotlock_create`, `check_lock`).
//!
//! The lock is the file `<path>.lock`, created with `O_EXCL` (Dovecot's default,
//! `dotlock_use_excl = yes`), which fails with `EEXIST` while someone else holds it. The
//! holder writes the new contents into the lock file and `rename()`s it over `<path>`, which
//! also releases the lock.
//!
//! A held lock is stale when neither it nor the protected file changed for `stale_timeout`
//! (Dovecot: 60 s for the `file` dict); it is then removed and the lock retried. Dovecot's locks
//! taken for a rewrite carry no PID (`file_dotlock_open` passes `write_pid = FALSE`), so the PID
//! check of `check_lock` never applies to them and is not reproduced here.
//!
//! Dovecot may instead create the lock by `link()`ing a temp file to the lock name
//! (`dotlock_use_excl = no`); both fail while the lock exists, so the two ways exclude each other.
//! With [`Options::link_holder_dir`](crate::Options) we take that way too, but keep the linked
//! file (the *holder*, one per process and lock) between locks: taking and releasing the lock
//! then only adds and removes a name, where `O_EXCL` allocates and frees an inode every time.
//! On a busy mailbox that churn is most of a delivery's filesystem work (ext4 without a journal
//! even scans past every recently freed inode on each allocation).

use std::fs::{self, File, Metadata, OpenOptions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{DotlockError, Options, io_error};

/// A dotlock we hold. Dropping it without [`DotLock::replace`] removes the lock file, but only
/// while it is still ours (same inode), so a lock another process took over is left alone.
pub(crate) struct DotLock<'a> {
    lock_path: &'a Path,
    file: File,
    dev: u64,
    ino: u64,
    armed: bool,
    /// The holder file when the lock is a hard link to it, else `None` (`O_EXCL`).
    holder: Option<PathBuf>,
    /// This process's turn on the lock path; released after the lock file is gone (fields
    /// drop after `Drop::drop`).
    _turn: LocalTurn,
}

/// Threads of one process queue for a lock path here first, so they wait on a condition
/// variable (woken the moment the holder is done) instead of polling the lock file with
/// sleeps of 10 ms and more; the dotlock itself still excludes other processes (Dovecot).
struct LocalTurn {
    slot: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl LocalTurn {
    fn take(lock_path: &Path) -> Self {
        use std::collections::HashMap;
        use std::sync::{Arc, Condvar, Mutex, PoisonError};
        type Slots = HashMap<PathBuf, Arc<(Mutex<bool>, Condvar)>>;
        static SLOTS: Mutex<Option<Slots>> = Mutex::new(None);
        let slot = {
            let mut slots = SLOTS.lock().unwrap_or_else(PoisonError::into_inner);
            let slots = slots.get_or_insert_with(HashMap::new);
            // Forget slots nobody holds or waits for, so the map stays small.
            slots.retain(|_, s| Arc::strong_count(s) > 1);
            Arc::clone(slots.entry(lock_path.to_path_buf()).or_default())
        };
        {
            let (held, cv) = &*slot;
            let mut held = held.lock().unwrap_or_else(PoisonError::into_inner);
            while *held {
                held = cv.wait(held).unwrap_or_else(PoisonError::into_inner);
            }
            *held = true;
        }
        Self { slot }
    }
}

impl Drop for LocalTurn {
    fn drop(&mut self) {
        let (held, cv) = &*self.slot;
        *held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        cv.notify_one();
    }
}

impl<'a> DotLock<'a> {
    /// Takes the dotlock `lock_path` protecting `path`, waiting up to `options.lock_timeout` and
    /// breaking a stale lock (`dotlock_create`).
    pub(crate) fn acquire(
        path: &Path,
        lock_path: &'a Path,
        options: &Options,
    ) -> Result<Self, DotlockError> {
        let turn = LocalTurn::take(lock_path);
        let holder = options
            .link_holder_dir
            .as_deref()
            .map(|dir| holder_path(dir, lock_path));
        let started = Instant::now();
        let deadline = started.checked_add(options.lock_timeout);
        let mut watch = StaleWatch::new();
        let mut wait = WAIT_INITIAL;
        loop {
            // Created with O_EXCL, Dovecot's default (`dotlock_use_excl = yes`): one new inode
            // per lock instead of a temp file, a link and an unlink. It excludes the hard-link
            // flavour as well, since both fail while the lock name exists. With a holder, a
            // link to it; should the holder be unusable (its directory gone, say), O_EXCL.
            let (attempt, linked) = match holder.as_deref().map(|h| link_holder(h, lock_path)) {
                Some(Err(e)) if e.kind() != io::ErrorKind::AlreadyExists => {
                    (create_excl(lock_path), false)
                }
                Some(result) => (result, true),
                None => (create_excl(lock_path), false),
            };
            match attempt {
                Ok(file) => {
                    let meta = file
                        .metadata()
                        .map_err(|e| io_error("inspecting lock file", lock_path, e))?;
                    return Ok(Self {
                        lock_path,
                        file,
                        dev: meta.dev(),
                        ino: meta.ino(),
                        armed: true,
                        holder: if linked { holder.clone() } else { None },
                        _turn: turn,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error("creating lock file", lock_path, e)),
            }

            let state = watch.check(path, lock_path, options.stale_timeout)?;
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => {
                        return Err(DotlockError::LockTimeout {
                            lock_path: lock_path.to_path_buf(),
                            waited: started.elapsed(),
                        });
                    }
                },
                None => Duration::MAX,
            };
            match state {
                LockState::Gone => {}
                LockState::Stale(ident) => {
                    remove_if_same(lock_path, ident)?;
                    // Dovecot sleeps 0.1–0.2 s after overriding, so that a second process that
                    // also found the lock stale does not remove the lock we are about to take.
                    let pause = jitter(STALE_PAUSE, STALE_PAUSE)
                        .min(options.stale_timeout)
                        .min(left);
                    thread::sleep(pause);
                }
                LockState::Held { changed } => {
                    if changed {
                        wait = WAIT_INITIAL;
                    }
                    thread::sleep(jitter(wait, wait).min(left));
                    wait = wait.saturating_mul(3).checked_div(2).unwrap_or(WAIT_MAX);
                    wait = wait.min(WAIT_MAX);
                }
            }
        }
    }

    /// The open lock file, for writing the new contents into (an `O_EXCL` lock only: a
    /// holder is never written).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Where new contents are written before the rename when the lock is a link to a holder
    /// (beside the holder, so on the same filesystem); `None` for an `O_EXCL` lock, whose own
    /// file takes the contents.
    pub(crate) fn scratch_path(&self) -> Option<PathBuf> {
        self.holder.as_ref().map(|h| {
            let mut p = h.clone().into_os_string();
            p.push(".new");
            PathBuf::from(p)
        })
    }

    /// The lock file's path.
    pub(crate) fn lock_path(&self) -> &'a Path {
        self.lock_path
    }

    /// Removes the lock without touching the protected file.
    pub(crate) fn release(mut self) -> Result<(), DotlockError> {
        self.armed = false;
        if !self.is_ours() {
            return Ok(());
        }
        match fs::remove_file(self.lock_path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("removing lock file", self.lock_path, e)),
        }
    }

    /// Renames `staged` over `path`, which publishes its contents, and releases the lock
    /// (`file_dotlock_replace`). `staged` is the lock file itself for an `O_EXCL` lock (the
    /// rename is the release) and [`Self::scratch_path`] for a linked one (the lock name is
    /// removed after). Refuses, writing nothing, when another process took the lock over in
    /// the meantime.
    pub(crate) fn replace(mut self, staged: &Path, path: &Path) -> Result<(), DotlockError> {
        if !self.is_ours() {
            self.armed = false;
            if self.holder.is_some() {
                let _ = fs::remove_file(staged);
            }
            return Err(DotlockError::LockLost {
                lock_path: self.lock_path.to_path_buf(),
            });
        }
        fs::rename(staged, path).map_err(|e| io_error("renaming new contents over", path, e))?;
        if self.holder.is_some() {
            return self.release();
        }
        self.armed = false;
        Ok(())
    }

    /// Whether `lock_path` is still the file we linked (`file_dotlock_is_locked`).
    fn is_ours(&self) -> bool {
        fs::symlink_metadata(self.lock_path)
            .is_ok_and(|meta| meta.dev() == self.dev && meta.ino() == self.ino)
    }
}

impl Drop for DotLock<'_> {
    fn drop(&mut self) {
        if self.armed && self.is_ours() {
            let _ = fs::remove_file(self.lock_path);
        }
    }
}

/// `O_EXCL` creation of the lock file.
fn create_excl(lock_path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(lock_path)
}

/// Opens (creating it if needed) the holder and links it to the lock name; `AlreadyExists`
/// while someone holds the lock.
fn link_holder(holder: &Path, lock_path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(holder)?;
    fs::hard_link(holder, lock_path)?;
    Ok(file)
}

/// This process's holder for `lock_path` in `dir`: the lock's name, the PID and a random
/// token drawn once per process (two processes in different PID namespaces sharing a
/// mailbox must not share a holder, or each would take the other's lock for its own).
fn holder_path(dir: &Path, lock_path: &Path) -> PathBuf {
    static TOKEN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let token = *TOKEN.get_or_init(random_u64);
    let name = lock_path
        .file_name()
        .map_or_else(|| "lock".into(), |n| n.to_string_lossy());
    dir.join(format!(".{name}.{}.{token:016x}", std::process::id()))
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// What [`StaleWatch::check`] found at the lock path.
enum LockState {
    /// The lock disappeared: retry at once.
    Gone,
    /// Someone holds it; `changed` when it is a different lock or was modified since last seen.
    Held { changed: bool },
    /// Held, but nothing changed for the stale timeout: remove this lock and retry.
    Stale(Ident),
}

/// The identity and times of a file, to notice change (`struct file_change_info`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Ident {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: SystemTime,
    ctime: SystemTime,
}

impl Ident {
    fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: unix_time(meta.mtime(), meta.mtime_nsec()),
            ctime: unix_time(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Tracks when the lock or the protected file last changed (`struct lock_info`, `check_lock`).
struct StaleWatch {
    lock: Option<Ident>,
    file: Option<Ident>,
    last_change: SystemTime,
}

impl StaleWatch {
    fn new() -> Self {
        Self {
            lock: None,
            file: None,
            last_change: UNIX_EPOCH,
        }
    }

    fn check(
        &mut self,
        path: &Path,
        lock_path: &Path,
        stale_timeout: Duration,
    ) -> Result<LockState, DotlockError> {
        let meta = match fs::symlink_metadata(lock_path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LockState::Gone),
            Err(e) => return Err(io_error("inspecting lock file", lock_path, e)),
        };
        let now = SystemTime::now();
        let ident = Ident::of(&meta);
        let changed = observe(&mut self.lock, ident, now, &mut self.last_change);
        if !expired(now, self.last_change, stale_timeout) {
            return Ok(LockState::Held { changed });
        }
        // Possibly stale; a writer may still be busy with the protected file itself.
        match fs::metadata(path) {
            Ok(meta) => {
                observe(&mut self.file, Ident::of(&meta), now, &mut self.last_change);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("inspecting", path, e)),
        }
        if expired(now, self.last_change, stale_timeout) {
            Ok(LockState::Stale(ident))
        } else {
            Ok(LockState::Held { changed })
        }
    }
}

/// Records a sighting of a file; returns whether it changed (`update_change_info`). On the first
/// sighting the change time is the file's own (mtime if later than ctime and not in the future,
/// else ctime); after that it is the moment a change was noticed.
fn observe(
    prev: &mut Option<Ident>,
    ident: Ident,
    now: SystemTime,
    last_change: &mut SystemTime,
) -> bool {
    if prev.as_ref() == Some(&ident) {
        return false;
    }
    let change_time = if prev.is_none() {
        if ident.mtime <= now && ident.mtime > ident.ctime {
            ident.mtime
        } else {
            ident.ctime
        }
    } else {
        now
    };
    if *last_change < change_time {
        *last_change = change_time;
    }
    *prev = Some(ident);
    true
}

fn expired(now: SystemTime, last_change: SystemTime, stale_timeout: Duration) -> bool {
    last_change
        .checked_add(stale_timeout)
        .is_some_and(|limit| now > limit)
}

/// Removes a stale lock, unless it was replaced since we judged it (`dotlock_override`).
fn remove_if_same(lock_path: &Path, ident: Ident) -> Result<(), DotlockError> {
    match fs::symlink_metadata(lock_path) {
        Ok(meta) if meta.dev() == ident.dev && meta.ino() == ident.ino => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("inspecting lock file", lock_path, e)),
    }
    match fs::remove_file(lock_path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("removing stale lock file", lock_path, e)),
    }
}

/// Non-cryptographic randomness from std's per-process random hash keys: enough for unique temp
/// names (creation is exclusive anyway) and for wait jitter.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// `base` plus a random part of up to `spread`.
fn jitter(base: Duration, spread: Duration) -> Duration {
    let spread_nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
    let extra = random_u64().checked_rem(spread_nanos).unwrap_or(0);
    base.saturating_add(Duration::from_nanos(extra))
}

/// A time from `stat` seconds and nanoseconds; times before 1970 count as 1970.
fn unix_time(secs: i64, nanos: i64) -> SystemTime {
    let secs = u64::try_from(secs).unwrap_or(0);
    let nanos = u32::try_from(nanos).unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::new(secs, 0))
        .and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos))))
        .unwrap_or(UNIX_EPOCH)
}

/// First wait between attempts while the lock is held. Dovecot waits 0.1–0.2 s but is woken by
/// inotify when the lock goes away; without inotify we poll sooner.
const WAIT_INITIAL: Duration = Duration::from_millis(10);
/// Longest wait between attempts (Dovecot: 3 s, again with inotify).
const WAIT_MAX: Duration = Duration::from_millis(500);
/// Pause after breaking a stale lock (Dovecot: `LOCK_RANDOM_USLEEP_TIME`, 0.1–0.2 s).
const STALE_PAUSE: Duration = Duration::from_millis(100);
