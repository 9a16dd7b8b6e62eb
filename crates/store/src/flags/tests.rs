//! Tests of Maildir flags and keywords.
use std::os::unix::ffi::OsStrExt as _;

use super::*;
use crate::account::Account;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/dovecot-2.3.19/vmail"
);

fn round_trip(name: &str) -> String {
    let (base, flags) = FileFlags::parse(name);
    flags.format(base)
}

#[test]
fn file_names_round_trip() {
    for name in [
        "1.M2P3.h,S=4,W=5:2,",
        "1.M2P3.h,S=4,W=5:2,S",
        "1.M2P3.h,S=4,W=5:2,FRS",
        "1.M2P3.h,S=4,W=5:2,Sab",
        "1.M2P3.h,S=4,W=5:2,DFRSTabz",
        "1.M2P3.h,S=4,W=5:2,FPRS",
        "1.M2P3.h,S=4,W=5:2,S,Xy",
    ] {
        assert_eq!(round_trip(name), name);
    }
    let (base, flags) = FileFlags::parse("b:2,FRS");
    assert_eq!(base, "b");
    assert!(flags.contains(SystemFlag::Flagged));
    assert!(flags.contains(SystemFlag::Answered));
    assert!(flags.contains(SystemFlag::Seen));
    assert!(!flags.contains(SystemFlag::Draft));
    let (_, flags) = FileFlags::parse("b:2,Sab");
    let letters: String = flags.keyword_indexes().map(KeywordIndex::letter).collect();
    assert_eq!(letters, "ab");
}

#[test]
fn formatting_sorts_and_normalises_as_dovecot() {
    assert_eq!(round_trip("b"), "b:2,");
    assert_eq!(round_trip("b:2,SR"), "b:2,RS");
    assert_eq!(round_trip("b:2,baS"), "b:2,Sab");
    assert_eq!(round_trip("b:2,SS"), "b:2,S");
    // Info that is not "2," is dropped, as Dovecot drops it on rename.
    assert_eq!(round_trip("b:1,xyz"), "b:2,");
}

#[test]
fn foreign_letters_are_kept_in_place() {
    let (base, mut flags) = FileFlags::parse("b:2,PS");
    assert_eq!(flags.foreign(), "P");
    flags.set(SystemFlag::Draft, true);
    flags.set(SystemFlag::Answered, true);
    assert_eq!(flags.format(base), "b:2,DPRS");
    flags.set(SystemFlag::Seen, false);
    flags.set(SystemFlag::Answered, false);
    flags.set(SystemFlag::Draft, false);
    assert_eq!(flags.format(base), "b:2,P");
    // Letters after 'z' go after the keywords, letters between 'T' and 'a' before them.
    let (base, mut flags) = FileFlags::parse("b:2,Z~");
    flags.set_keyword(KeywordIndex::new(0).unwrap(), true);
    flags.set(SystemFlag::Deleted, true);
    assert_eq!(flags.format(base), "b:2,TZa~");
    // Unsorted foreign letters stay unsorted; ours go before the first one above them.
    let (base, mut flags) = FileFlags::parse("b:2,~Z");
    flags.set_keyword(KeywordIndex::new(0).unwrap(), true);
    flags.set(SystemFlag::Deleted, true);
    assert_eq!(flags.format(base), "b:2,Ta~Z");
}

#[test]
fn dovecot_vector_file_names_round_trip() {
    let mut seen = 0;
    for domain in fs::read_dir(VECTORS).unwrap() {
        for user in fs::read_dir(domain.unwrap().path()).unwrap() {
            let cur = user.unwrap().path().join("Maildir/cur");
            let Ok(entries) = fs::read_dir(&cur) else {
                continue;
            };
            for entry in entries {
                let name = entry.unwrap().file_name();
                let name = name.to_str().unwrap();
                assert!(name.ends_with(":2,"), "{name}");
                let (_, flags) = FileFlags::parse(name);
                assert_eq!(flags, FileFlags::default());
                assert_eq!(round_trip(name), name);
                seen += 1;
            }
        }
    }
    assert!(seen > 0);
}

#[test]
fn dovecot_keywords_file_is_parsed_and_rewritten() {
    // As Dovecot 2.3 writes it: "%u %s\n" per named index, in index order.
    let written = b"0 $Forwarded\n1 $Junk\n3 work\n";
    let keywords = Keywords::parse(written);
    assert_eq!(keywords.encode(), written);
    assert_eq!(
        keywords.iter().collect::<Vec<_>>(),
        [
            (KeywordIndex::new(0).unwrap(), "$Forwarded"),
            (KeywordIndex::new(1).unwrap(), "$Junk"),
            (KeywordIndex::new(3).unwrap(), "work"),
        ]
    );
    assert_eq!(keywords.index("$junk"), KeywordIndex::new(1));
    let flags = Flags::from_file_flags(&FileFlags::parse("b:2,Sabd").1, &keywords);
    assert_eq!(flags.keywords(), ["$Forwarded", "$Junk", "work"]);
    assert!(flags.contains(SystemFlag::Seen));
    assert_eq!(
        Flags::from_file_flags(&FileFlags::parse("b:2,c").1, &keywords).keywords(),
        ["unknown-2"]
    );
}

#[test]
fn keywords_parse_leniently_as_dovecot() {
    let data = b"x\n0 a\r\n1\n2 \n-3 c\n26 z\n99999999999999999999 y\n4 A\n5 e f\n6 tail";
    let keywords = Keywords::parse(data);
    assert_eq!(keywords.encode(), b"0 a\n5 e f\n");
    // The first free index is taken, even below a used one.
    let mut keywords = Keywords::parse(b"1 b\n");
    assert_eq!(keywords.assign("a").unwrap(), KeywordIndex::new(0).unwrap());
    assert_eq!(keywords.assign("B").unwrap(), KeywordIndex::new(1).unwrap());
    assert_eq!(keywords.assign("c").unwrap(), KeywordIndex::new(2).unwrap());
    for bad in ["", "a b", "a(", "\\Seen", "x]", "ä", &"k".repeat(51)] {
        assert!(
            matches!(keywords.assign(bad), Err(FlagsError::InvalidKeyword(_))),
            "{bad:?}"
        );
    }
    for i in 3..26 {
        keywords.assign(&format!("k{i}")).unwrap();
    }
    assert!(matches!(
        keywords.assign("one-too-many"),
        Err(FlagsError::KeywordsFull(_))
    ));
}

fn inbox_with_message(dir: &Path) -> (Folder, u32, PathBuf) {
    let account = Account::new(dir, false);
    let delivered = account
        .deliver("INBOX", b"Subject: t\r\n\r\nhello\r\n")
        .unwrap();
    let folder = account.folder("INBOX").unwrap();
    (folder, delivered.uid, delivered.path)
}

#[test]
fn set_flags_moves_to_cur_and_renames() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, uid, path) = inbox_with_message(tmp.path());
    let base = path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(path.starts_with(folder.dir.join("new")) && !base.contains(':'));
    let uidlist = fs::read(folder.dir.join(UIDLIST_NAME)).unwrap();
    assert_eq!(flags(&folder, uid).unwrap(), Flags::new());

    let seen = set_flags(&folder, uid, &Flags::new().with(SystemFlag::Seen)).unwrap();
    assert_eq!(seen, folder.dir.join("cur").join(format!("{base}:2,S")));
    assert!(!path.exists() && seen.exists());
    assert_eq!(
        flags(&folder, uid).unwrap(),
        Flags::new().with(SystemFlag::Seen)
    );

    let more = Flags::new()
        .with(SystemFlag::Seen)
        .with(SystemFlag::Answered)
        .with(SystemFlag::Flagged);
    let renamed = set_flags(&folder, uid, &more).unwrap();
    assert_eq!(
        renamed,
        folder.dir.join("cur").join(format!("{base}:2,FRS"))
    );
    assert!(!seen.exists() && renamed.exists());
    assert_eq!(flags(&folder, uid).unwrap(), more);

    let none = set_flags(&folder, uid, &Flags::new()).unwrap();
    assert_eq!(none, folder.dir.join("cur").join(format!("{base}:2,")));
    assert_eq!(set_flags(&folder, uid, &Flags::new()).unwrap(), none);

    assert_eq!(fs::read(folder.dir.join(UIDLIST_NAME)).unwrap(), uidlist);
    assert!(!folder.dir.join(KEYWORDS_NAME).exists());
    assert!(!folder.dir.join("dovecot-uidlist.lock").exists());
}

#[test]
fn set_flags_keeps_other_clients_letters() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, uid, path) = inbox_with_message(tmp.path());
    let base = path.file_name().unwrap().to_str().unwrap().to_string();
    let passed = folder.dir.join("cur").join(format!("{base}:2,PS"));
    fs::rename(&path, &passed).unwrap();
    let new = set_flags(&folder, uid, &Flags::new().with(SystemFlag::Flagged)).unwrap();
    assert_eq!(new.file_name().unwrap(), format!("{base}:2,FP").as_str());
}

#[test]
fn keywords_get_letters_in_order_and_persist() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, uid, _) = inbox_with_message(tmp.path());
    let account = Account::new(tmp.path(), false);
    let second = account
        .deliver("INBOX", b"Subject: 2\r\n\r\nx\r\n")
        .unwrap();
    // A stale lock left by a crashed writer does not block: the uidlist lock covers it.
    fs::write(folder.dir.join("dovecot-keywords.lock"), b"").unwrap();

    let work = Flags::new().with(SystemFlag::Seen).with_keyword("work");
    let path = set_flags(&folder, uid, &work).unwrap();
    assert!(path.to_str().unwrap().ends_with(":2,Sa"));
    assert_eq!(
        fs::read(folder.dir.join(KEYWORDS_NAME)).unwrap(),
        b"0 work\n"
    );
    assert!(!folder.dir.join("dovecot-keywords.lock").exists());

    let both = Flags::new().with_keyword("work").with_keyword("$Junk");
    let path = set_flags(&folder, uid, &both).unwrap();
    assert!(path.to_str().unwrap().ends_with(":2,ab"));
    assert_eq!(
        fs::read(folder.dir.join(KEYWORDS_NAME)).unwrap(),
        b"0 work\n1 $Junk\n"
    );
    assert_eq!(flags(&folder, uid).unwrap(), both);

    // Another message reuses the letters, whatever the case of the name.
    let path = set_flags(&folder, second.uid, &Flags::new().with_keyword("$junk")).unwrap();
    assert!(path.to_str().unwrap().ends_with(":2,b"));
    assert_eq!(
        fs::read(folder.dir.join(KEYWORDS_NAME)).unwrap(),
        b"0 work\n1 $Junk\n"
    );
    assert_eq!(flags(&folder, second.uid).unwrap().keywords(), ["$Junk"]);

    let bad = set_flags(&folder, uid, &Flags::new().with_keyword("no good"));
    assert!(matches!(bad, Err(FlagsError::InvalidKeyword(_))));
    assert_eq!(flags(&folder, uid).unwrap(), both);
}

#[test]
fn keywords_file_mtime_always_grows() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, uid, _) = inbox_with_message(tmp.path());
    let path = folder.dir.join(KEYWORDS_NAME);
    fs::write(&path, b"0 old\n").unwrap();
    let future = SystemTime::now() + Duration::from_secs(1000);
    let future_secs = future.duration_since(UNIX_EPOCH).unwrap().as_secs();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(future_secs))
        .unwrap();
    set_flags(&folder, uid, &Flags::new().with_keyword("new")).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"0 old\n1 new\n");
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    assert_eq!(
        mtime.duration_since(UNIX_EPOCH).unwrap().as_secs(),
        future_secs + 1
    );
}

#[test]
fn unnamed_letters_are_recorded_as_dovecot_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, uid, path) = inbox_with_message(tmp.path());
    let base = path.file_name().unwrap().to_str().unwrap().to_string();
    fs::write(folder.dir.join(KEYWORDS_NAME), b"0 work\n").unwrap();
    fs::rename(&path, folder.dir.join("cur").join(format!("{base}:2,ac"))).unwrap();
    let read = flags(&folder, uid).unwrap();
    assert_eq!(read.keywords(), ["unknown-2", "work"]);
    let path = set_flags(&folder, uid, &read.clone().with(SystemFlag::Seen)).unwrap();
    assert_eq!(
        path.file_name().unwrap().as_bytes(),
        format!("{base}:2,Sac").as_bytes()
    );
    assert_eq!(
        fs::read(folder.dir.join(KEYWORDS_NAME)).unwrap(),
        b"0 work\n2 unknown-2\n"
    );
}

#[test]
fn missing_uid_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let (folder, _, _) = inbox_with_message(tmp.path());
    assert!(matches!(
        set_flags(&folder, 99, &Flags::new()),
        Err(FlagsError::Message(DeliverError::NoSuchUid { uid: 99, .. }))
    ));
    assert!(matches!(
        flags(&folder, 99),
        Err(FlagsError::Message(DeliverError::NoSuchUid { .. }))
    ));
}

#[test]
fn flags_keep_keywords_sorted_and_unique() {
    let mut flags = Flags::new()
        .with_keyword("b")
        .with_keyword("A")
        .with_keyword("a")
        .with(SystemFlag::Deleted);
    assert_eq!(flags.keywords(), ["A", "b"]);
    assert!(flags.has_keyword("B"));
    assert!(flags.remove_keyword("a"));
    assert!(!flags.remove_keyword("a"));
    assert_eq!(flags.system().collect::<Vec<_>>(), [SystemFlag::Deleted]);
    flags.remove(SystemFlag::Deleted);
    assert_eq!(flags, Flags::new().with_keyword("b"));
}
