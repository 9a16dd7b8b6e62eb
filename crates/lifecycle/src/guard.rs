//! One lifecycle operation per user at a time.
//!
//! Two operations on the same keys at once could undo each other: a password change staging
//! wraps of the keys it saw while a rotation adds a new key would leave that key under the old
//! password. Every operation therefore holds an exclusive `flock` on `Maildir/tresor-lifecycle.lock`
//! (tresor's own file; Dovecot ignores it) while it runs. The kernel drops the lock when the
//! process ends, so a crash never leaves it held. Delivery and reading do not take it: they
//! work on any state the operations leave.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{LifecycleError, io_err};

/// Holds the user's lifecycle lock until dropped.
pub struct Guard {
    _lock: Flock<File>,
}

/// Takes the lifecycle lock of the Maildir `maildir` without waiting; new lock files get
/// `owner`.
pub fn exclusive(maildir: &Path, owner: Option<(u32, u32)>) -> Result<Guard, LifecycleError> {
    let path = maildir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| io_err("opening", &path, e))?;
    if let Some((u, g)) = owner {
        let _ = std::os::unix::fs::fchown(&file, Some(u), Some(g));
    }
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Guard { _lock: lock }),
        Err((_, Errno::EWOULDBLOCK)) => Err(LifecycleError::Busy),
        Err((_, e)) => Err(io_err("locking", &path, std::io::Error::from(e))),
    }
}

const LOCK_FILE: &str = "tresor-lifecycle.lock";
