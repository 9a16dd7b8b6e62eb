use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/dovecot-2.3.19"
);

fn vector_uidlists() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from(VECTORS)];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else if entry.file_name() == UIDLIST_NAME {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn err_kind(data: &[u8]) -> (usize, MalformedKind) {
    match Uidlist::parse(data) {
        Err(UidlistError::Malformed { line, kind, .. }) => (line, kind),
        other => panic!(
            "expected Malformed for {:?}, got {other:?}",
            String::from_utf8_lossy(data)
        ),
    }
}

const HEADER: &str = "3 V1795916851 N1 Gb1284f3633840b6bc652000083ecc375\n";

// ---- real Dovecot files ----

#[test]
fn vectors_parse_and_reencode_byte_exact() {
    let files = vector_uidlists();
    assert!(files.len() >= 9, "found only {files:?} under {VECTORS}");
    for path in files {
        let data = fs::read(&path).unwrap();
        let list = Uidlist::parse(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(list.version, Version::V3);
        assert!(!list.records.is_empty(), "{}", path.display());
        assert_eq!(
            String::from_utf8(list.encode()).unwrap(),
            String::from_utf8(data).unwrap(),
            "{}",
            path.display()
        );
        let guid = list
            .guid
            .unwrap_or_else(|| panic!("{}: no GUID", path.display()));
        assert_eq!(read_guid(path.parent().unwrap()).unwrap(), guid);
    }
}

#[test]
fn vector_p521_known_guid_and_uids() {
    let dir = Path::new(VECTORS).join("vmail/example.org/p521/Maildir");
    // Read the G field by hand.
    let text = fs::read_to_string(dir.join(UIDLIST_NAME)).unwrap();
    let header = text.lines().next().unwrap();
    let by_hand = header
        .split(' ')
        .find_map(|field| field.strip_prefix('G'))
        .unwrap();
    assert_eq!(by_hand, "b1284f3633840b6bc652000083ecc375");
    let guid = read_guid(&dir).unwrap();
    assert_eq!(guid.to_string(), by_hand);

    let list = Uidlist::parse(text.as_bytes()).unwrap();
    assert_eq!(list.uid_validity, 1_795_916_851);
    // The header says N1 but eight messages are recorded: N is stale.
    assert_eq!(list.next_uid, 1);
    assert_eq!(list.max_uid(), Some(8));
    assert_eq!(list.next_uid_for_append(), Some(9));
    let first = &list.records[0];
    assert_eq!(first.uid, 1);
    assert_eq!(first.extension('G'), Some("1795916851.M947517P21113.vm"));
    assert_eq!(first.filename, "1795916851.M947517P21113.vm,S=411,W=425");
}

#[test]
fn vector_files_on_disk_are_all_listed() {
    let mut checked = 0;
    for path in vector_uidlists() {
        let dir = path.parent().unwrap();
        let list = Uidlist::parse(&fs::read(&path).unwrap()).unwrap();
        for sub in ["cur", "new"] {
            let Ok(entries) = fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for entry in entries {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(name.contains(":2,"), "{name}");
                let record = list
                    .find_by_basename(&name)
                    .unwrap_or_else(|| panic!("{name} not in {}", path.display()));
                assert_eq!(record.basename(), basename(&name));
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "checked only {checked} files");
}

#[test]
fn vector_plain_user_has_no_record_ext() {
    let dir = Path::new(VECTORS).join("vmail/example.org/plain/Maildir");
    let list = Uidlist::parse(&fs::read(dir.join(UIDLIST_NAME)).unwrap()).unwrap();
    assert!(list.records.iter().all(|r| r.ext.is_empty()));
    assert_eq!(
        list.records[0].filename,
        "1795916853.M685954P21113.vm,S=413,W=427"
    );
}

// ---- grammar ----

#[test]
fn header_extensions_kept_in_order() {
    let data = b"3 V5 N7 Gb1284f3633840b6bc652000083ecc375 Pformat Zx\n1 S10 W12 Q :a\n";
    let list = Uidlist::parse(data).unwrap();
    assert_eq!(
        list.header_ext,
        vec![
            Ext {
                key: 'P',
                value: "format".into()
            },
            Ext {
                key: 'Z',
                value: "x".into()
            },
        ]
    );
    assert_eq!(list.records[0].extension('S'), Some("10"));
    assert_eq!(list.records[0].extension('Q'), Some(""));
    assert_eq!(list.encode(), data);
}

#[test]
fn header_field_order_is_normalised_like_dovecot() {
    // Dovecot writes V, N, G first, then the others; extra spaces go.
    let list = Uidlist::parse(b"3 Xy  N2 V9\n1 :a\n").unwrap();
    assert_eq!(list.guid, None);
    assert_eq!(list.encode(), b"3 V9 N2 Xy\n1 :a\n");
}

#[test]
fn crlf_and_unterminated_last_line() {
    let data = format!("{}1 :a\r\n2 :b", HEADER.replace('\n', "\r\n"));
    let list = Uidlist::parse(data.as_bytes()).unwrap();
    // The unterminated record is ignored, as Dovecot ignores it.
    assert_eq!(list.records.len(), 1);
    assert_eq!(list.records[0].filename, "a");
}

#[test]
fn filename_flags_are_cut_on_encode() {
    let data = format!("{HEADER}1 :a:2,S\n");
    let list = Uidlist::parse(data.as_bytes()).unwrap();
    assert_eq!(list.records[0].filename, "a:2,S");
    assert_eq!(list.encode(), format!("{HEADER}1 :a\n").into_bytes());
    assert!(list.find_by_basename("a:2,RS").is_some());
    assert!(list.find_by_basename("a").is_some());
    assert!(list.find_by_basename("b:2,").is_none());
}

#[test]
fn filename_may_contain_spaces() {
    let list = Uidlist::parse(format!("{HEADER}1 W3 :a b\n").as_bytes()).unwrap();
    assert_eq!(list.records[0].filename, "a b");
}

#[test]
fn version_1() {
    let data = b"1 1234 10\n3 1234.abc\n7 1235.def:2,S\n";
    let list = Uidlist::parse(data).unwrap();
    assert_eq!(list.version, Version::V1);
    assert_eq!(
        (list.uid_validity, list.next_uid, list.guid),
        (1234, 10, None)
    );
    assert_eq!(list.records[1].filename, "1235.def:2,S");
    assert_eq!(list.encode(), data);
    assert_eq!(
        err_kind(b"1 1234 10\n10 x\n"),
        (
            2,
            MalformedKind::UidNotBelowNextUid {
                uid: 10,
                next_uid: 10
            }
        )
    );
}

#[test]
fn unsupported_versions() {
    for data in [&b"2 1 2\n"[..], b"4 V1 N1\n", b"0 x\n"] {
        assert!(matches!(
            Uidlist::parse(data),
            Err(UidlistError::Unsupported { .. })
        ));
    }
}

#[test]
fn malformed_headers() {
    use MalformedKind::*;
    assert_eq!(err_kind(b""), (1, Empty));
    assert_eq!(err_kind(b"3 V1 N1"), (1, Empty));
    assert!(matches!(err_kind(b"x V1 N1\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"3V1 N1\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"3\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"3 N1\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"3 V1\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"3 V0 N1\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"3 Vx N1\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"3 V4294967296 N1\n"), (1, BadHeader(_))));
    assert!(matches!(err_kind(b"1 5\n"), (1, BadHeader(_))));
    assert_eq!(err_kind(b"3 V1 N1 Gb1284f36\n"), (1, BadGuid));
    assert_eq!(
        err_kind(b"3 V1 N1 Gzz284f3633840b6bc652000083ecc375\n"),
        (1, BadGuid)
    );
    assert_eq!(err_kind(b"3 V1 N1 G\n"), (1, BadGuid));
    assert_eq!(err_kind(b"3 V1 N1 \xff\n"), (1, NotUtf8));
    assert_eq!(err_kind(b"3 V1 N1\0\n"), (1, BadByte));
    assert_eq!(err_kind(b"3 V1 N1 X\r\r\n"), (1, BadByte));
}

#[test]
fn malformed_records_report_line() {
    use MalformedKind::*;
    let h = HEADER;
    assert_eq!(err_kind(format!("{h}1 :a\nx :b\n").as_bytes()), (3, BadUid));
    assert_eq!(err_kind(format!("{h}1a :b\n").as_bytes()), (2, BadUid));
    assert_eq!(err_kind(format!("{h}0 :b\n").as_bytes()), (2, BadUid));
    assert_eq!(err_kind(format!("{h}1:b\n").as_bytes()), (2, BadUid));
    assert_eq!(
        err_kind(format!("{h}4294967295 :b\n").as_bytes()),
        (2, BadUid)
    );
    assert_eq!(
        err_kind(format!("{h}99999999999 :b\n").as_bytes()),
        (2, BadUid)
    );
    assert_eq!(err_kind(format!("{h}\n").as_bytes()), (2, BadUid));
    assert_eq!(
        err_kind(format!("{h}1 :a\n2 :b\n2 :c\n").as_bytes()),
        (
            4,
            UidsNotAscending {
                uid: 2,
                previous: 2
            }
        )
    );
    assert_eq!(
        err_kind(format!("{h}5 :a\n3 :b\n").as_bytes()),
        (
            3,
            UidsNotAscending {
                uid: 3,
                previous: 5
            }
        )
    );
    assert_eq!(
        err_kind(format!("{h}1 W5 name\n").as_bytes()),
        (2, MissingColon)
    );
    assert_eq!(err_kind(format!("{h}1 \n").as_bytes()), (2, MissingColon));
    assert_eq!(err_kind(format!("{h}1 :\n").as_bytes()), (2, BadFilename));
    assert_eq!(
        err_kind(format!("{h}1 :../x\n").as_bytes()),
        (2, BadFilename)
    );
    assert_eq!(
        err_kind(format!("{h}1 ::2,S\n").as_bytes()),
        (2, BadFilename)
    );
    assert_eq!(err_kind(format!("{h}1 :a\rb\n").as_bytes()), (2, BadByte));
    let mut bad_utf8 = format!("{h}1 :").into_bytes();
    bad_utf8.extend_from_slice(b"\xc3(\n");
    assert_eq!(err_kind(&bad_utf8), (2, NotUtf8));
}

#[test]
fn next_uid_for_append_cases() {
    let mut list = Uidlist::parse(HEADER.as_bytes()).unwrap();
    assert_eq!(list.max_uid(), None);
    assert_eq!(list.next_uid_for_append(), Some(1));
    list.next_uid = 20;
    assert_eq!(list.next_uid_for_append(), Some(20));
    list.records.push(Record {
        uid: 30,
        ext: vec![],
        filename: "x".into(),
    });
    assert_eq!(list.next_uid_for_append(), Some(31));
    list.records.push(Record {
        uid: u32::MAX - 1,
        ext: vec![],
        filename: "y".into(),
    });
    assert_eq!(list.next_uid_for_append(), None);
}

#[test]
fn guid_text_forms() {
    let guid: MailboxGuid = "B1284F3633840B6BC652000083ECC375".parse().unwrap();
    assert_eq!(guid.to_string(), "b1284f3633840b6bc652000083ecc375");
    assert_eq!(
        format!("{guid:?}"),
        "MailboxGuid(b1284f3633840b6bc652000083ecc375)"
    );
    assert_eq!(guid.as_bytes()[0], 0xb1);
    assert_eq!(MailboxGuid::from_bytes(*guid.as_bytes()), guid);
    for bad in [
        "",
        "b1284f36",
        "b1284f3633840b6bc652000083ecc3751",
        "g1284f3633840b6bc652000083ecc375",
        "é1284f3633840b6bc652000083ecc37",
    ] {
        assert!(bad.parse::<MailboxGuid>().is_err(), "{bad}");
    }
}

// ---- read_guid ----

#[test]
fn read_guid_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let error = read_guid(dir.path()).unwrap_err();
    assert!(matches!(
        error,
        UidlistError::NoGuid {
            reason: NoGuidReason::FileMissing,
            ..
        }
    ));
    let message = error.to_string();
    assert!(message.contains("GUID"));
    assert!(message.contains("never"));
    assert!(message.contains(&dir.path().join(UIDLIST_NAME).display().to_string()));
}

#[test]
fn read_guid_without_g_field_or_v1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(UIDLIST_NAME);
    fs::write(&path, "3 V1 N1\n").unwrap();
    assert!(matches!(
        read_guid(dir.path()),
        Err(UidlistError::NoGuid {
            reason: NoGuidReason::FieldMissing,
            ..
        })
    ));
    fs::write(&path, "1 1 1\n").unwrap();
    assert!(matches!(
        read_guid(dir.path()),
        Err(UidlistError::NoGuid {
            reason: NoGuidReason::Version1,
            ..
        })
    ));
}

#[test]
fn read_guid_ignores_damaged_records_but_not_damaged_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(UIDLIST_NAME);
    fs::write(&path, format!("{HEADER}garbage\n")).unwrap();
    assert_eq!(
        read_guid(dir.path()).unwrap().to_string(),
        "b1284f3633840b6bc652000083ecc375"
    );
    fs::write(&path, "3 V1 N1 Gnothex\n").unwrap();
    let error = read_guid(dir.path()).unwrap_err();
    assert!(matches!(
        &error,
        UidlistError::Malformed { path: Some(p), line: 1, kind: MalformedKind::BadGuid } if *p == path
    ));
    fs::write(&path, "").unwrap();
    assert!(matches!(
        read_guid(dir.path()),
        Err(UidlistError::Malformed {
            line: 1,
            kind: MalformedKind::Empty,
            ..
        })
    ));
}

// ---- properties ----

fn arb_ext(keys: &'static str) -> impl Strategy<Value = Ext> {
    (
        proptest::sample::select(keys.chars().collect::<Vec<_>>()),
        "[A-Za-z0-9.,=_:-]{0,12}",
    )
        .prop_map(|(key, value)| Ext { key, value })
}

fn arb_uidlist() -> impl Strategy<Value = Uidlist> {
    (
        1..=u32::MAX,
        1..=u32::MAX,
        proptest::option::of(any::<[u8; 16]>()),
        proptest::collection::vec(arb_ext("ABCDEFHIJKLMOPQRSTUWXYZabc0é"), 0..4),
        proptest::collection::vec(
            (
                1..1000u32,
                proptest::collection::vec(arb_ext("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 0..4),
                "[A-Za-z0-9.,=_ -]{0,20}[A-Za-z0-9]",
            ),
            0..8,
        ),
    )
        .prop_map(|(uid_validity, next_uid, guid, header_ext, recs)| {
            let mut uid = 0;
            let records = recs
                .into_iter()
                .map(|(step, ext, filename)| {
                    uid += step;
                    Record { uid, ext, filename }
                })
                .collect();
            Uidlist {
                version: Version::V3,
                uid_validity,
                next_uid,
                guid: guid.map(MailboxGuid::from_bytes),
                header_ext,
                records,
            }
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(list) = Uidlist::parse(&bytes) {
            // Whatever parses, re-parses to the same list once written out.
            prop_assert_eq!(Uidlist::parse(&list.encode()).unwrap(), list);
        }
    }

    #[test]
    fn near_valid_text_never_panics(
        text in "(3 V[0-9]{1,3} N[0-9]{1,2}( G[0-9a-f]{32})?( [A-Z][a-z0-9]{0,3})?\r?\n)?([0-9 ]{0,4}[A-Z:]{0,2}[a-z0-9,:=/ ]{0,8}\r?\n){0,6}"
    ) {
        if let Ok(list) = Uidlist::parse(text.as_bytes()) {
            prop_assert_eq!(Uidlist::parse(&list.encode()).unwrap(), list);
        }
    }

    #[test]
    fn encode_parse_round_trip(list in arb_uidlist()) {
        prop_assert_eq!(Uidlist::parse(&list.encode()).unwrap(), list);
    }

    #[test]
    fn guid_display_parse_round_trip(bytes in any::<[u8; 16]>()) {
        let guid = MailboxGuid::from_bytes(bytes);
        prop_assert_eq!(guid.to_string().parse::<MailboxGuid>().unwrap(), guid);
    }
}

/// The cheap append point agrees with a full parse: the larger of N and the last UID + 1; a
/// torn last line does not count; a v3 record line re-parses to the same record.
#[test]
fn next_uid_of_matches_full_parse() {
    let cases = [
        "3 V1 N1\n".to_string(),
        "3 V1 N10\n1 :a\n".to_string(),
        "3 V1 N1 G0123456789abcdef0123456789abcdef\n1 :a\n2 GX :b\n8 :c\n".to_string(),
        "3 V1 N3\n1 :a\n2 :b\n9 :tor".to_string(),
        "1 7 5\n1 a\n4 b\n".to_string(),
    ];
    for data in cases {
        let full = Uidlist::parse(data.as_bytes()).unwrap();
        let (version, next) = Uidlist::next_uid_of(data.as_bytes()).unwrap();
        assert_eq!(version, full.version, "{data}");
        assert_eq!(next, full.next_uid_for_append(), "{data}");
    }
    let record = Record {
        uid: 12,
        ext: vec![Ext {
            key: 'G',
            value: "abc".into(),
        }],
        filename: "1.M2P3.host,S=5,W=6:2,S".into(),
    };
    let data = format!("3 V1 N1\n{}", record.v3_line());
    let list = Uidlist::parse(data.as_bytes()).unwrap();
    assert_eq!(list.records[0].uid, 12);
    assert_eq!(list.records[0].filename, "1.M2P3.host,S=5,W=6");
    assert!(Uidlist::next_uid_of(b"").is_err());
    assert!(Uidlist::next_uid_of(b"3 V1 N1\nx :a\n").is_err());
}
