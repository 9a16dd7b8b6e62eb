use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

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

// ---- file (locking itself is tested in the dotlock crate) ----

#[test]
fn load_missing_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = AttributeFile::new(dir.path().join("dovecot-attributes"));
    assert!(file.load().unwrap().is_empty());
    assert_eq!(
        file.lock_path(),
        dir.path().join("dovecot-attributes.lock").as_path()
    );
}

#[test]
fn update_creates_file_0600_with_encoded_records() {
    let dir = tempfile::tempdir().unwrap();
    let file = AttributeFile::new(dir.path().join("dovecot-attributes"));
    file.update(|map| {
        map.set("shared/g/k", "v\tw");
        Ok::<_, AttributesError>(())
    })
    .unwrap();
    let meta = fs::metadata(file.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(fs::read(file.path()).unwrap(), b"shared/g/k\nv\x01tw\n");
    assert!(!file.lock_path().exists());
}

#[test]
fn update_keeps_existing_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    fs::write(&path, b"old\nvalue\n").unwrap();
    let file = AttributeFile::new(&path);
    let previous = file
        .update(|map| Ok::<_, AttributesError>(map.set("new", "")))
        .unwrap();
    assert_eq!(previous, None);
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
    let file = AttributeFile::new(&path);
    let value = file
        .update(|map| Ok::<_, AttributesError>(map.get("k").map(<[u8]>::to_vec)))
        .unwrap();
    assert_eq!(value, Some(b"v".to_vec()));
    assert_eq!(fs::read(&path).unwrap(), b"k\r\nv\r\n");
    assert!(!file.lock_path().exists());
}

#[test]
fn update_passes_closure_errors_through_and_converts_lock_errors() {
    #[derive(Debug)]
    enum MyError {
        Attributes(AttributesError),
        Refused,
    }
    impl From<AttributesError> for MyError {
        fn from(e: AttributesError) -> Self {
            Self::Attributes(e)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dovecot-attributes");
    fs::write(&path, b"k\nv\n").unwrap();
    let mut options = Options::default();
    options.lock_timeout = Duration::from_millis(50);
    let file = AttributeFile::with_options(&path, options);
    let result: Result<(), MyError> = file.update(|map| {
        map.set("k", "changed");
        Err(MyError::Refused)
    });
    assert!(matches!(result, Err(MyError::Refused)), "{result:?}");
    assert_eq!(fs::read(&path).unwrap(), b"k\nv\n");
    assert!(!file.lock_path().exists());

    fs::write(file.lock_path(), b"").unwrap();
    let result: Result<(), MyError> = file.update(|_| Ok(()));
    assert!(
        matches!(
            result,
            Err(MyError::Attributes(AttributesError::Lock(
                DotlockError::LockTimeout { .. }
            )))
        ),
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
