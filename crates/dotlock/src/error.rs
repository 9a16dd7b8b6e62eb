//! [`DotlockError`], the one error of this crate.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What can go wrong reading a file, or locking and rewriting it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DotlockError {
    /// A file system operation failed. Check that the path exists, its ownership and permissions
    /// (the mail user must be able to create files in the file's directory), and free disk space.
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
    /// updating the file right now, the lock is stale: remove the lock file.
    #[error(
        "timed out after {waited:?} waiting for lock {}; if no Dovecot or tresor process is \
         updating the file, the lock is stale and can be removed",
        lock_path.display()
    )]
    LockTimeout {
        /// The lock file.
        lock_path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
}

/// Builds [`DotlockError::Io`].
pub(crate) fn io_error(action: &'static str, path: &Path, source: io::Error) -> DotlockError {
    DotlockError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
