use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

const VMAIL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/dovecot-2.3.19/vmail"
);

const P521_GUID: &str = "b1284f3633840b6bc652000083ecc375";

fn vector_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(VMAIL)];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else if entry.file_name() == "dovecot-attributes" {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

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

// ---- codec ----

#[test]
fn escape_spec_example() {
    // SPEC §5.4: `a\tb\x01c` is stored as `a 01 t b 01 1 c`.
    assert_eq!(tab_escape("a\tb\x01c"), "a\x01tb\x011c");
    assert_eq!(tab_escape_bytes(b"a\tb\x01c"), b"a\x01tb\x011c");
    assert_eq!(tab_unescape(b"a\x01tb\x011c"), b"a\tb\x01c");
}

#[test]
fn escape_all_specials() {
    assert_eq!(tab_escape("\r\n\0"), "\x01r\x01n\x010");
    assert_eq!(tab_escape("grüße ✓"), "grüße ✓");
    assert_eq!(tab_escape(""), "");
}

#[test]
fn unescape_leniency() {
    assert_eq!(tab_unescape(b"\x010"), b"\0");
    assert_eq!(tab_unescape(b"a\x01xb"), b"axb");
    assert_eq!(tab_unescape(b"a\x01\x01b"), b"a\x01b");
    assert_eq!(tab_unescape(b"abc\x01"), b"abc");
    assert_eq!(tab_unescape(b"\x01"), b"");
    assert_eq!(tab_unescape(b"plain"), b"plain");
}

#[test]
fn round_trip_tricky_values() {
    let values: [&[u8]; 8] = [
        b"a\tb\x01c",
        b"\r",
        b"\n",
        b"",
        "grüße ✓".as_bytes(),
        b"\x01\x01\x01",
        b"trailing\r",
        b"\0nul\xff",
    ];
    let mut map = AttributeMap::new();
    for (i, value) in values.iter().enumerate() {
        map.set(format!("key/{i}\t\n"), *value);
    }
    let encoded = map.encode();
    // Exactly two lines per record, and no raw CR or TAB in them.
    assert_eq!(
        encoded.iter().filter(|&&b| b == b'\n').count(),
        2 * values.len()
    );
    assert!(!encoded.contains(&b'\r') && !encoded.contains(&b'\t'));
    let parsed = AttributeMap::parse(&encoded);
    assert_eq!(parsed, map);
    for (i, value) in values.iter().enumerate() {
        assert_eq!(parsed.get(format!("key/{i}\t\n")), Some(*value));
    }
}

#[test]
fn parse_duplicate_later_wins() {
    let map = AttributeMap::parse(b"k\nfirst\nother\nx\nk\nsecond\n");
    assert_eq!(map.len(), 2);
    assert_eq!(map.get("k"), Some(&b"second"[..]));
}

#[test]
fn parse_strips_cr_before_lf() {
    let map = AttributeMap::parse(b"k\r\nv\r\nk2\r\r\nv2\n");
    assert_eq!(map.get("k"), Some(&b"v"[..]));
    // Only one CR is stripped.
    assert_eq!(map.get("k2\r"), Some(&b"v2"[..]));
}

#[test]
fn parse_odd_trailing_key_ignored() {
    let map = AttributeMap::parse(b"k\nv\nlonely\n");
    assert_eq!(map.len(), 1);
    assert!(!map.contains_key("lonely"));
}

#[test]
fn parse_unterminated_last_line_ignored() {
    // Dovecot's line reader does not return a last line without LF.
    let map = AttributeMap::parse(b"k\nv\nk2\nv2");
    assert_eq!(map.len(), 1);
    assert!(!map.contains_key("k2"));
    assert!(AttributeMap::parse(b"k\nv").is_empty());
}

#[test]
fn parse_lone_trailing_escape_dropped() {
    let map = AttributeMap::parse(b"key\x01\nvalue\x01\n");
    assert_eq!(map.get("key"), Some(&b"value"[..]));
}

#[test]
fn parse_empty_value_and_empty_input() {
    let map = AttributeMap::parse(b"k\n\n");
    assert_eq!(map.get("k"), Some(&b""[..]));
    assert!(AttributeMap::parse(b"").is_empty());
    assert_eq!(map.encode(), b"k\n\n");
}

#[test]
fn map_operations() {
    let mut map: AttributeMap = [("a/1", "x"), ("a/2", "y"), ("b/1", "z"), ("a", "w")]
        .into_iter()
        .collect();
    assert_eq!(map.set("a/1", "x2"), Some(b"x".to_vec()));
    assert_eq!(map.remove("b/1"), Some(b"z".to_vec()));
    assert_eq!(map.remove("b/1"), None);
    assert_eq!(map.get_str("a/1"), Some("x2"));
    let under_a: Vec<_> = map.iter_prefix("a/").map(|(k, _)| k.to_vec()).collect();
    assert_eq!(under_a, vec![b"a/1".to_vec(), b"a/2".to_vec()]);
    assert_eq!(map.iter_prefix("zzz").count(), 0);
    assert_eq!(map.iter_prefix("").count(), 3);
    assert_eq!((&map).into_iter().count(), 3);
}

#[test]
fn debug_hides_values() {
    let map: AttributeMap = [("priv/x/privkeys/1", "SECRET-KEY")].into_iter().collect();
    let debug = format!("{map:?}");
    assert!(debug.contains("privkeys/1"));
    assert!(!debug.contains("SECRET"));
}

// ---- real Dovecot files ----

#[test]
fn vector_p521_known_records() {
    let path = format!("{VMAIL}/example.org/p521/Maildir/dovecot-attributes");
    let map = AttributeFile::new(&path).load().unwrap();
    assert_eq!(map.len(), 6);
    assert_eq!(
        map.get_str(format!(
            "shared/{P521_GUID}/vendor/vendor.dovecot/pvt/crypt/active"
        )),
        Some("77b47fbfffd1ffd59c16e6bea9628256f5043679eede9929dd6aa2a4aaf00d3a")
    );
    assert_eq!(
        map.get_str(format!(
            "shared/{P521_GUID}/vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/active"
        )),
        Some("becae00c2029feaca3dc2fc91727ab956020d0d8f43430a4ba420233698d7658")
    );
    let privkeys: Vec<_> = map
        .iter_prefix(format!(
            "priv/{P521_GUID}/vendor/vendor.dovecot/pvt/crypt/privkeys/"
        ))
        .collect();
    assert_eq!(privkeys.len(), 1);
    assert!(privkeys[0].1.starts_with(b"2:1.3.132.0.35:1:"));
}

#[test]
fn vectors_parse_and_reencode_same_records() {
    let files = vector_files();
    assert!(files.len() >= 5, "vector files not found under {VMAIL}");
    for path in files {
        let data = fs::read(&path).unwrap();
        let map = AttributeMap::parse(&data);
        let lines = data.split(|&b| b == b'\n').count() - 1;
        assert_eq!(map.len() * 2, lines, "{}", path.display());
        // Dovecot's record order is arbitrary: compare the records as a set.
        let records = |bytes: &[u8]| -> BTreeSet<(Vec<u8>, Vec<u8>)> {
            let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
            lines
                .chunks_exact(2)
                .map(|pair| (pair[0].to_vec(), pair[1].to_vec()))
                .collect()
        };
        let encoded = map.encode();
        assert_eq!(encoded.len(), data.len(), "{}", path.display());
        assert_eq!(records(&encoded), records(&data), "{}", path.display());
        assert_eq!(AttributeMap::parse(&encoded), map);
    }
}

// ---- file and lock ----

#[test]
fn load_missing_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = AttributeFile::new(dir.path().join("dovecot-attributes"));
    assert!(file.load().unwrap().is_empty());
}

#[test]
fn update_creates_file_0600_and_leaves_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let file = AttributeFile::with_options(dir.path().join("dovecot-attributes"), fast_options());
    file.update(|map| {
        map.set("shared/g/k", "v\tw");
        Ok::<_, AttributesError>(())
    })
    .unwrap();
    let meta = fs::metadata(file.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(fs::read(file.path()).unwrap(), b"shared/g/k\nv\x01tw\n");
    assert_eq!(
        leftovers(dir.path(), &["dovecot-attributes"]),
        Vec::<String>::new()
    );
}

#[test]
fn update_preserves_existing_mode_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    fs::write(&path, b"old\nvalue\n").unwrap();
    fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
    let before = fs::metadata(&path).unwrap();
    let file = AttributeFile::with_options(&path, fast_options());
    let previous = file
        .update(|map| Ok::<_, AttributesError>(map.set("new", "")))
        .unwrap();
    assert_eq!(previous, None);
    let after = fs::metadata(&path).unwrap();
    assert_eq!(after.permissions().mode() & 0o7777, 0o640);
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    let map = file.load().unwrap();
    assert_eq!(map.get("old"), Some(&b"value"[..]));
    assert_eq!(map.get("new"), Some(&b""[..]));
}

#[test]
fn update_without_change_does_not_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    // Not canonical (CRLF): a rewrite would be visible.
    fs::write(&path, b"k\r\nv\r\n").unwrap();
    let file = AttributeFile::with_options(&path, fast_options());
    let value = file
        .update(|map| Ok::<_, AttributesError>(map.get("k").map(<[u8]>::to_vec)))
        .unwrap();
    assert_eq!(value, Some(b"v".to_vec()));
    assert_eq!(fs::read(&path).unwrap(), b"k\r\nv\r\n");
    assert_eq!(
        leftovers(dir.path(), &["dovecot-attributes"]),
        Vec::<String>::new()
    );
}

#[test]
fn update_error_in_closure_writes_nothing_and_removes_lock() {
    #[derive(Debug)]
    enum MyError {
        Attributes,
        Refused,
    }
    impl From<AttributesError> for MyError {
        fn from(_: AttributesError) -> Self {
            Self::Attributes
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    fs::write(&path, b"k\nv\n").unwrap();
    let file = AttributeFile::with_options(&path, fast_options());
    let result: Result<(), MyError> = file.update(|map| {
        map.set("k", "changed");
        Err(MyError::Refused)
    });
    assert!(matches!(result, Err(MyError::Refused)));
    assert_eq!(fs::read(&path).unwrap(), b"k\nv\n");
    assert_eq!(
        leftovers(dir.path(), &["dovecot-attributes"]),
        Vec::<String>::new()
    );
}

#[test]
fn update_waits_for_held_lock_then_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    let options = Options {
        lock_timeout: Duration::from_millis(200),
        ..Options::default()
    };
    let file = AttributeFile::with_options(&path, options);
    fs::write(file.lock_path(), b"").unwrap();
    let started = Instant::now();
    let result = file.update(|map| Ok::<_, AttributesError>(map.set("k", "v")));
    let waited = started.elapsed();
    match result {
        Err(AttributesError::LockTimeout { lock_path, .. }) => {
            assert_eq!(lock_path, file.lock_path());
        }
        other => panic!("expected LockTimeout, got {other:?}"),
    }
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // The foreign lock is left alone; our temp file is gone; nothing was written.
    assert!(file.lock_path().exists());
    assert!(!path.exists());
    assert_eq!(
        leftovers(dir.path(), &["dovecot-attributes.lock"]),
        Vec::<String>::new()
    );
}

#[test]
fn timeout_message_points_at_stale_lock() {
    let error = AttributesError::LockTimeout {
        lock_path: PathBuf::from("/home/u/Maildir/dovecot-attributes.lock"),
        waited: Duration::from_secs(120),
    };
    let message = error.to_string();
    assert!(message.contains("/home/u/Maildir/dovecot-attributes.lock"));
    assert!(message.contains("stale"));
}

#[test]
fn stale_lock_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    fs::write(&path, b"old\nv\n").unwrap();
    let options = Options {
        lock_timeout: Duration::from_secs(5),
        stale_timeout: Duration::from_millis(250),
        ..Options::default()
    };
    let file = AttributeFile::with_options(&path, options);
    // A lock left behind by a crashed writer, half-written.
    fs::write(file.lock_path(), b"half a reco").unwrap();
    let started = Instant::now();
    file.update(|map| Ok::<_, AttributesError>(map.set("new", "1")))
        .unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    let map = file.load().unwrap();
    assert_eq!(map.get("old"), Some(&b"v"[..]));
    assert_eq!(map.get("new"), Some(&b"1"[..]));
    assert_eq!(
        leftovers(dir.path(), &["dovecot-attributes"]),
        Vec::<String>::new()
    );
}

#[test]
fn waiter_gets_lock_after_holder_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    let file = Arc::new(AttributeFile::with_options(&path, fast_options()));
    let barrier = Arc::new(Barrier::new(2));
    let holder = {
        let file = Arc::clone(&file);
        let barrier = Arc::clone(&barrier);
        thread::spawn(move || {
            file.update(|map| {
                barrier.wait();
                thread::sleep(Duration::from_millis(150));
                Ok::<_, AttributesError>(map.set("holder", "1"))
            })
            .unwrap();
        })
    };
    barrier.wait();
    // The holder is inside its closure: the lock exists now.
    assert!(file.lock_path().exists());
    file.update(|map| {
        // The holder's write is visible once we have the lock.
        assert_eq!(map.get("holder"), Some(&b"1"[..]));
        Ok::<_, AttributesError>(map.set("waiter", "2"))
    })
    .unwrap();
    holder.join().unwrap();
    let map = file.load().unwrap();
    assert_eq!(map.len(), 2);
    assert_eq!(
        leftovers(dir.path(), &["dovecot-attributes"]),
        Vec::<String>::new()
    );
}

#[test]
fn concurrent_updaters_lose_nothing() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let path = path.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let file = AttributeFile::with_options(&path, fast_options());
                barrier.wait();
                for r in 0..ROUNDS {
                    file.update(|map| {
                        Ok::<_, AttributesError>(map.set(format!("t{t}/r{r}"), format!("{t}.{r}")))
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let map = AttributeFile::new(&path).load().unwrap();
    assert_eq!(map.len(), THREADS * ROUNDS);
    for t in 0..THREADS {
        for r in 0..ROUNDS {
            assert_eq!(
                map.get_str(format!("t{t}/r{r}")),
                Some(format!("{t}.{r}").as_str())
            );
        }
    }
    assert_eq!(
        leftovers(dir.path(), &["dovecot-attributes"]),
        Vec::<String>::new()
    );
}

#[test]
fn lock_taken_over_midway_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    fs::write(&path, b"k\nv\n").unwrap();
    let file = AttributeFile::with_options(&path, fast_options());
    let lock_path = file.lock_path().to_path_buf();
    let result = file.update(|map| {
        // Another process judges our lock stale and takes it over.
        fs::remove_file(&lock_path).unwrap();
        fs::write(&lock_path, b"theirs").unwrap();
        Ok::<_, AttributesError>(map.set("k", "mine"))
    });
    assert!(
        matches!(result, Err(AttributesError::LockLost { .. })),
        "{result:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"k\nv\n");
    // Their lock is left alone.
    assert_eq!(fs::read(&lock_path).unwrap(), b"theirs");
    assert_eq!(
        leftovers(
            dir.path(),
            &["dovecot-attributes", "dovecot-attributes.lock"]
        ),
        Vec::<String>::new()
    );
}

#[test]
fn update_in_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir/dovecot-attributes");
    let file = AttributeFile::with_options(&path, fast_options());
    let result = file.update(|map| Ok::<_, AttributesError>(map.set("k", "v")));
    assert!(
        matches!(result, Err(AttributesError::Io { .. })),
        "{result:?}"
    );
}

proptest! {
    #[test]
    fn escape_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let escaped = tab_escape_bytes(&bytes);
        prop_assert!(!escaped.iter().any(|b| matches!(b, b'\n' | b'\r' | b'\t' | 0)));
        prop_assert_eq!(tab_unescape(&escaped), bytes);
    }

    #[test]
    fn str_escape_matches_bytes(s in ".*") {
        prop_assert_eq!(tab_escape(&s).into_bytes(), tab_escape_bytes(s.as_bytes()));
    }

    #[test]
    fn map_round_trips(entries in proptest::collection::btree_map(
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<u8>(), 0..16),
        0..8,
    )) {
        let map: AttributeMap = entries.into_iter().collect();
        prop_assert_eq!(AttributeMap::parse(&map.encode()), map);
    }

    #[test]
    fn parse_accepts_anything(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let map = AttributeMap::parse(&bytes);
        prop_assert_eq!(AttributeMap::parse(&map.encode()), map);
    }
}
