use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

fn fast_options() -> Options {
    Options {
        lock_timeout: Duration::from_secs(10),
        ..Options::default()
    }
}

/// Everything in `dir` except `keep`: leftover locks or temp files.
fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !keep.contains(&name.as_str()))
        .collect()
}

/// `line` and a newline appended to `current`.
fn appended(current: Option<&[u8]>, line: &str) -> Option<Vec<u8>> {
    let mut data = current.unwrap_or_default().to_vec();
    data.extend_from_slice(line.as_bytes());
    data.push(b'\n');
    Some(data)
}

/// Appends `line` and a newline to `file` under the lock.
fn append(file: &LockedFile, line: &str) -> Result<(), DotlockError> {
    file.update(|current| Ok((appended(current, line), ())))
}

#[test]
fn paths() {
    let file = LockedFile::new("/home/u/Maildir/dovecot-uidlist");
    assert_eq!(file.path(), Path::new("/home/u/Maildir/dovecot-uidlist"));
    assert_eq!(
        file.lock_path(),
        Path::new("/home/u/Maildir/dovecot-uidlist.lock")
    );
}

#[test]
fn read_missing_file_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let file = LockedFile::new(dir.path().join("f"));
    assert_eq!(file.read().unwrap(), None);
}

#[test]
fn read_unreadable_path_is_io_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory opens but cannot be read.
    let file = LockedFile::new(dir.path());
    assert!(matches!(file.read(), Err(DotlockError::Io { .. })));
}

#[test]
fn update_creates_file_with_new_file_mode_and_leaves_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        new_file_mode: 0o640,
        ..fast_options()
    };
    let file = LockedFile::with_options(dir.path().join("f"), options);
    let seen = file
        .update(|current| Ok::<_, DotlockError>((Some(b"new\n".to_vec()), current.is_none())))
        .unwrap();
    assert!(seen, "a missing file is passed as None");
    let meta = fs::metadata(file.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    let dir_meta = fs::metadata(dir.path()).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (dir_meta.uid(), dir_meta.gid()));
    assert_eq!(file.read().unwrap(), Some(b"new\n".to_vec()));
    assert_eq!(leftovers(dir.path(), &["f"]), Vec::<String>::new());
}

#[test]
fn default_new_file_mode_is_0600() {
    let dir = tempfile::tempdir().unwrap();
    let file = LockedFile::new(dir.path().join("f"));
    append(&file, "x").unwrap();
    let meta = fs::metadata(file.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
}

#[test]
fn update_keeps_existing_mode_and_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"old\n").unwrap();
    fs::set_permissions(&path, Permissions::from_mode(0o604)).unwrap();
    let before = fs::metadata(&path).unwrap();
    let file = LockedFile::with_options(&path, fast_options());
    file.update(|current| {
        assert_eq!(current, Some(&b"old\n"[..]));
        Ok::<_, DotlockError>((Some(b"new\n".to_vec()), ()))
    })
    .unwrap();
    let after = fs::metadata(&path).unwrap();
    assert_ne!(after.ino(), before.ino(), "replaced by rename");
    assert_eq!(after.permissions().mode() & 0o7777, 0o604);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(fs::read(&path).unwrap(), b"new\n");
}

#[test]
fn owner_of_dir_or_old_file_is_adopted_as_root() {
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("probe");
    fs::write(&probe, b"").unwrap();
    if fs::metadata(&probe).unwrap().uid() != 0 {
        // Only root may give files away; without it the owner stays ours, as tested above.
        return;
    }
    fs::remove_file(&probe).unwrap();
    let (uid, gid) = (54_321, 54_322);
    // A new file takes the directory's owner.
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let file = LockedFile::with_options(dir.path().join("f"), fast_options());
    append(&file, "x").unwrap();
    let meta = fs::metadata(file.path()).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    // A rewritten file keeps its own owner, not the directory's.
    std::os::unix::fs::chown(file.path(), Some(uid + 1), Some(gid + 1)).unwrap();
    append(&file, "y").unwrap();
    let meta = fs::metadata(file.path()).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid + 1, gid + 1));
    assert_eq!(fs::read(file.path()).unwrap(), b"x\ny\n");
}

#[test]
fn update_returning_none_does_not_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"keep\n").unwrap();
    let before = fs::metadata(&path).unwrap();
    let file = LockedFile::with_options(&path, fast_options());
    let out = file
        .update(|current| Ok::<_, DotlockError>((None, current.map(<[u8]>::len))))
        .unwrap();
    assert_eq!(out, Some(5));
    let after = fs::metadata(&path).unwrap();
    assert_eq!(after.ino(), before.ino());
    assert_eq!(fs::read(&path).unwrap(), b"keep\n");
    assert_eq!(leftovers(dir.path(), &["f"]), Vec::<String>::new());
}

#[test]
fn update_returning_none_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = LockedFile::with_options(dir.path().join("f"), fast_options());
    file.update(|_| Ok::<_, DotlockError>((None, ()))).unwrap();
    assert_eq!(leftovers(dir.path(), &[]), Vec::<String>::new());
}

#[test]
fn update_error_in_closure_writes_nothing_and_removes_lock() {
    #[derive(Debug)]
    enum MyError {
        Dotlock,
        Refused,
    }
    impl From<DotlockError> for MyError {
        fn from(_: DotlockError) -> Self {
            Self::Dotlock
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"k\n").unwrap();
    let file = LockedFile::with_options(&path, fast_options());
    let result: Result<(), MyError> = file.update(|_| Err(MyError::Refused));
    assert!(matches!(result, Err(MyError::Refused)), "{result:?}");
    assert_eq!(fs::read(&path).unwrap(), b"k\n");
    assert_eq!(leftovers(dir.path(), &["f"]), Vec::<String>::new());
    // Errors of the lock itself arrive converted.
    fs::write(file.lock_path(), b"").unwrap();
    let options = Options {
        lock_timeout: Duration::from_millis(50),
        ..Options::default()
    };
    let file = LockedFile::with_options(&path, options);
    let result: Result<(), MyError> = file.update(|_| Ok((None, ())));
    assert!(matches!(result, Err(MyError::Dotlock)), "{result:?}");
}

#[test]
fn update_waits_for_held_lock_then_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let options = Options {
        lock_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let file = LockedFile::with_options(&path, options);
    fs::write(file.lock_path(), b"").unwrap();
    let started = Instant::now();
    let result = append(&file, "x");
    let waited = started.elapsed();
    match result {
        Err(DotlockError::LockTimeout { lock_path, .. }) => {
            assert_eq!(lock_path, file.lock_path());
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // The foreign lock is left alone; our temp file is gone; nothing was written.
    assert!(file.lock_path().exists());
    assert!(!path.exists());
    assert_eq!(leftovers(dir.path(), &["f.lock"]), Vec::<String>::new());
}

#[test]
fn timeout_message_points_at_stale_lock() {
    let error = DotlockError::LockTimeout {
        lock_path: PathBuf::from("/home/u/Maildir/dovecot-uidlist.lock"),
        waited: Duration::from_secs(120),
    };
    let message = error.to_string();
    assert!(message.contains("/home/u/Maildir/dovecot-uidlist.lock"));
    assert!(message.contains("stale"));
}

#[test]
fn stale_lock_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"old\n").unwrap();
    let options = Options {
        lock_timeout: Duration::from_secs(5),
        stale_timeout: Duration::from_millis(250),
        ..Options::default()
    };
    let file = LockedFile::with_options(&path, options);
    // A lock left behind by a crashed writer, half-written.
    fs::write(file.lock_path(), b"half a li").unwrap();
    let started = Instant::now();
    append(&file, "new").unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(fs::read(&path).unwrap(), b"old\nnew\n");
    assert_eq!(leftovers(dir.path(), &["f"]), Vec::<String>::new());
}

#[test]
fn waiter_gets_lock_after_holder_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let file = Arc::new(LockedFile::with_options(&path, fast_options()));
    let barrier = Arc::new(Barrier::new(2));
    let holder = {
        let file = Arc::clone(&file);
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            file.update(|current| {
                barrier.wait();
                thread::sleep(Duration::from_millis(150));
                Ok::<_, DotlockError>((appended(current, "holder"), ()))
            })
            .unwrap();
        })
    };
    barrier.wait();
    // The holder is inside its closure: the lock exists now.
    assert!(file.lock_path().exists());
    file.update(|current| {
        // The holder's write is visible once we have the lock.
        assert_eq!(current, Some(&b"holder\n"[..]));
        Ok::<_, DotlockError>((appended(current, "waiter"), ()))
    })
    .unwrap();
    holder.join().unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"holder\nwaiter\n");
    assert_eq!(leftovers(dir.path(), &["f"]), Vec::<String>::new());
}

/// Writers on `threads` threads, thread `t` with `options(t)`, each write `ROUNDS` lines to
/// `path` through `write`: every line lands exactly once.
fn assert_concurrent_writers_lose_nothing(
    path: &Path,
    threads: usize,
    options: impl Fn(usize) -> Options,
    write: fn(&LockedFile, &str),
) {
    const ROUNDS: usize = 5;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let file = LockedFile::with_options(path, options(t));
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                for r in 0..ROUNDS {
                    write(&file, &format!("t{t}/r{r}"));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let data = String::from_utf8(fs::read(path).unwrap()).unwrap();
    let mut lines: Vec<&str> = data.lines().collect();
    lines.sort_unstable();
    let mut expected: Vec<String> = (0..threads)
        .flat_map(|t| (0..ROUNDS).map(move |r| format!("t{t}/r{r}")))
        .collect();
    expected.sort_unstable();
    assert_eq!(lines, expected);
}

#[test]
fn concurrent_updaters_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    assert_concurrent_writers_lose_nothing(
        &path,
        8,
        |_| fast_options(),
        |file, line| {
            append(file, line).unwrap();
        },
    );
    assert_eq!(leftovers(dir.path(), &["f"]), Vec::<String>::new());
}

/// An update of `dir/f` (holding `k`) whose lock another process judges stale and takes
/// over midway: it fails with `LockLost`, writes nothing and leaves their lock alone.
fn assert_takeover_midway_writes_nothing(dir: &Path, options: Options) {
    let path = dir.join("f");
    fs::write(&path, b"k\n").unwrap();
    let file = LockedFile::with_options(&path, options);
    let lock_path = file.lock_path().to_path_buf();
    let result = file.update(|current| {
        fs::remove_file(&lock_path).unwrap();
        fs::write(&lock_path, b"theirs").unwrap();
        Ok::<_, DotlockError>((appended(current, "mine"), ()))
    });
    assert!(
        matches!(result, Err(DotlockError::LockLost { .. })),
        "{result:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"k\n");
    assert_eq!(fs::read(&lock_path).unwrap(), b"theirs");
}

#[test]
fn lock_taken_over_midway_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    assert_takeover_midway_writes_nothing(dir.path(), fast_options());
    assert_eq!(
        leftovers(dir.path(), &["f", "f.lock"]),
        Vec::<String>::new()
    );
}

#[test]
fn update_in_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir/f");
    let file = LockedFile::with_options(&path, fast_options());
    let result = append(&file, "x");
    assert!(matches!(result, Err(DotlockError::Io { .. })), "{result:?}");
}

#[test]
fn bare_file_name_locks_in_current_directory() {
    assert_eq!(parent_dir(Path::new("f")), Path::new("."));
    assert_eq!(parent_dir(Path::new("/d/f")), Path::new("/d"));
}

/// In-place appends from many threads: every line arrives whole, none is lost, no lock or
/// temp file is left, and the file keeps its inode (no rewrite happened).
#[test]
fn change_appends_in_place_under_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list");
    fs::write(&path, b"header\n").unwrap();
    let inode = fs::metadata(&path).unwrap().ino();
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let file = LockedFile::with_options(&path, fast_options());
                barrier.wait();
                for i in 0..25 {
                    file.change(|current| {
                        assert!(current.unwrap().ends_with(b"\n"));
                        Ok::<_, DotlockError>((Change::Append(format!("{t}-{i}\n").into()), ()))
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let data = fs::read_to_string(&path).unwrap();
    assert_eq!(data.lines().count(), 101);
    for t in 0..4 {
        for i in 0..25 {
            assert!(data.lines().any(|l| l == format!("{t}-{i}")), "{t}-{i}");
        }
    }
    assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
    assert!(leftovers(dir.path(), &["list"]).is_empty());
}

/// `Keep` leaves the file alone and releases the lock; `Replace` rewrites it; appending to a
/// missing file is an error that leaves no lock behind.
#[test]
fn change_keep_replace_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list");
    let file = LockedFile::with_options(&path, fast_options());
    let err = file.change(|current| {
        assert!(current.is_none());
        Ok::<_, DotlockError>((Change::Append(b"x\n".to_vec()), ()))
    });
    assert!(matches!(err, Err(DotlockError::Io { .. })), "{err:?}");
    assert!(!path.exists());
    assert!(leftovers(dir.path(), &[]).is_empty());
    file.change(|_| Ok::<_, DotlockError>((Change::Replace(b"a\n".to_vec()), ())))
        .unwrap();
    file.change(|_| Ok::<_, DotlockError>((Change::Keep, ())))
        .unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"a\n");
    assert!(leftovers(dir.path(), &["list"]).is_empty());
}

/// Options that take the lock by linking a holder kept in `holders`.
fn linked_options(holders: &Path) -> Options {
    Options {
        link_holder_dir: Some(holders.to_path_buf()),
        ..fast_options()
    }
}

#[test]
fn linked_lock_reuses_one_holder_inode_and_leaves_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let holders = dir.path().join("tmp");
    fs::create_dir(&holders).unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"a\n").unwrap();
    let file = LockedFile::with_options(&path, linked_options(&holders));
    let mut inodes = Vec::new();
    for line in ["b", "c", "d"] {
        file.change(|_| {
            // While held, the lock is a second name of this process's holder.
            let lock = fs::symlink_metadata(file.lock_path()).unwrap();
            assert_eq!(lock.nlink(), 2);
            inodes.push(lock.ino());
            Ok::<_, DotlockError>((Change::Append(format!("{line}\n").into_bytes()), ()))
        })
        .unwrap();
    }
    assert_eq!(fs::read(&path).unwrap(), b"a\nb\nc\nd\n");
    assert!(inodes.windows(2).all(|w| w[0] == w[1]), "{inodes:?}");
    assert!(!file.lock_path().exists());
    assert_eq!(leftovers(dir.path(), &["f", "tmp"]), Vec::<String>::new());
    let held: Vec<String> = leftovers(&holders, &[]);
    assert_eq!(held.len(), 1, "{held:?}");
    let holder = fs::metadata(holders.join(&held[0])).unwrap();
    assert_eq!(
        (holder.ino(), holder.nlink(), holder.len()),
        (inodes[0], 1, 0)
    );
}

#[test]
fn linked_lock_replaces_through_a_scratch_file() {
    let dir = tempfile::tempdir().unwrap();
    let holders = dir.path().join("tmp");
    fs::create_dir(&holders).unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"old\n").unwrap();
    fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
    let file = LockedFile::with_options(&path, linked_options(&holders));
    file.change(|current| {
        assert_eq!(current, Some(&b"old\n"[..]));
        Ok::<_, DotlockError>((Change::Replace(b"new\n".to_vec()), ()))
    })
    .unwrap();
    append(&file, "more").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new\nmore\n");
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
    assert!(!file.lock_path().exists());
    // Only the (empty) holder stays; no scratch file.
    let held = leftovers(&holders, &[]);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(fs::metadata(holders.join(&held[0])).unwrap().len(), 0);
}

#[test]
fn linked_lock_waits_for_an_excl_lock_and_excludes_it() {
    let dir = tempfile::tempdir().unwrap();
    let holders = dir.path().join("tmp");
    fs::create_dir(&holders).unwrap();
    let path = dir.path().join("f");
    let options = Options {
        lock_timeout: Duration::from_millis(200),
        ..linked_options(&holders)
    };
    let file = LockedFile::with_options(&path, options);
    // Dovecot (or anyone) holds the lock the O_EXCL way: we wait, then give up untouched.
    fs::write(file.lock_path(), b"").unwrap();
    let result = append(&file, "x");
    assert!(
        matches!(result, Err(DotlockError::LockTimeout { .. })),
        "{result:?}"
    );
    assert!(!path.exists());
    fs::remove_file(file.lock_path()).unwrap();
    // And while we hold it, an O_EXCL taker fails.
    file.change(|_| {
        let excl = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(file.lock_path());
        assert_eq!(excl.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        Ok::<_, DotlockError>((Change::Replace(b"ok\n".to_vec()), ()))
    })
    .unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"ok\n");
}

#[test]
fn linked_lock_taken_over_midway_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let holders = dir.path().join("tmp");
    fs::create_dir(&holders).unwrap();
    assert_takeover_midway_writes_nothing(dir.path(), linked_options(&holders));
    assert_eq!(leftovers(&holders, &[]).len(), 1, "only the holder");
}

#[test]
fn linked_lock_without_its_holder_directory_falls_back_to_excl() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let file = LockedFile::with_options(&path, linked_options(&dir.path().join("gone")));
    append(&file, "x").unwrap();
    append(&file, "y").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"x\ny\n");
    assert_eq!(leftovers(dir.path(), &["f"]), Vec::<String>::new());
}

#[test]
fn concurrent_linked_updaters_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let holders = dir.path().join("tmp");
    fs::create_dir(&holders).unwrap();
    let path = dir.path().join("f");
    fs::write(&path, b"").unwrap();
    // Half link, half O_EXCL: the two flavours exclude each other.
    let options = |t: usize| {
        if t.is_multiple_of(2) {
            linked_options(&holders)
        } else {
            fast_options()
        }
    };
    assert_concurrent_writers_lose_nothing(&path, 6, options, |file, line| {
        let line = format!("{line}\n").into_bytes();
        file.change(|_| Ok::<_, DotlockError>((Change::Append(line), ())))
            .unwrap();
    });
    assert_eq!(leftovers(dir.path(), &["f", "tmp"]), Vec::<String>::new());
}
