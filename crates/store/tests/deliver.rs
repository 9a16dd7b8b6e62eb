//! Delivery into Maildir folders: UIDs, file names, sealing, quota, concurrency, and the
//! Dovecot-written vector folders.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use mailcrypt::Curve;
use store::account::{Account, AccountError};
use store::folder;
use store::maildir::{self, DeliverError};

/// Nothing in `tmp/` but this process's uidlist lock holder, which is empty (the uidlist
/// lock is taken by linking it, see `dotlock::Options::link_holder_dir`).
fn assert_tmp_holds_only_the_lock_holder(tmp: &Path) {
    let names: Vec<String> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() <= 1, "{names:?}");
    for name in &names {
        assert!(name.starts_with(".dovecot-uidlist.lock."), "{name}");
        assert_eq!(std::fs::metadata(tmp.join(name)).unwrap().len(), 0);
    }
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/dovecot-2.3.19")
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::write(&to, std::fs::read(e.path()).unwrap()).unwrap();
        }
    }
    if dst
        .file_name()
        .is_some_and(|n| n == "Maildir" || n.to_string_lossy().starts_with('.'))
    {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dst.join(sub)).unwrap();
        }
    }
}

fn encrypted_account(dir: &Path, password: &[u8]) -> Account {
    let account = Account::new(dir, true);
    account.create().unwrap();
    account
        .keystore()
        .unwrap()
        .generate_user_key(Curve::P256, Some(password), false)
        .unwrap();
    account
}

#[test]
fn crlf_becomes_lf_and_lone_cr_stays() {
    assert_eq!(maildir::to_stored(b"a\r\nb\rc\n\r\n"), b"a\nb\rc\n\n");
}

#[test]
fn uids_start_at_one_and_names_follow_dovecot() {
    let tmp = tempfile::tempdir().unwrap();
    let account = Account::new(tmp.path(), false);
    let msg = b"Subject: x\r\n\r\nbody\r\n";
    let d1 = account.deliver("INBOX", msg).unwrap();
    let d2 = account.deliver("INBOX", msg).unwrap();
    assert_eq!((d1.uid, d2.uid), (1, 2));
    assert_eq!((d1.size, d1.vsize), (17, 20));
    let name = d1.path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with(",S=17,W=20"), "{name}");
    assert!(name.contains(".M") && name.contains('P'), "{name}");
    assert_eq!(d1.path.parent().unwrap().file_name().unwrap(), "new");
    assert_eq!(std::fs::read(&d1.path).unwrap(), b"Subject: x\n\nbody\n");
    let inbox = account.folder("INBOX").unwrap();
    assert_eq!(maildir::find_uid(&inbox, 2).unwrap(), d2.path);
    assert!(matches!(
        maildir::find_uid(&inbox, 3),
        Err(DeliverError::NoSuchUid { .. })
    ));
    assert_tmp_holds_only_the_lock_holder(&tmp.path().join("Maildir/tmp"));
}

#[test]
fn delivery_into_a_dovecot_folder_takes_the_next_uid_and_keeps_the_guid() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    copy_dir(&vectors().join("vmail/example.com/folders"), &home);
    let account = Account::new(&home, true);
    let before = store::uidlist::read_guid(&home.join("Maildir/.Archive")).unwrap();
    let d = account.deliver("Archive", b"Subject: new\n\nhi\n").unwrap();
    // Dovecot's header says N1 but UIDs 1..3 are taken.
    assert_eq!(d.uid, 4);
    assert_eq!(
        store::uidlist::read_guid(&home.join("Maildir/.Archive")).unwrap(),
        before
    );
    // The new file is sealed to the folder's existing (Dovecot-made) key and opens.
    let keys = account.keystore().unwrap().load().unwrap();
    let user = keys.unlock_user(Some(b"Folders & keys")).unwrap();
    assert_eq!(
        account.fetch("Archive", 4, Some(&user)).unwrap().as_slice(),
        b"Subject: new\n\nhi\n"
    );
    assert_eq!(
        account.fetch("Archive", 1, Some(&user)).unwrap().len(),
        2288
    );
    // The uidlist's old records survive byte for byte.
    let text = std::fs::read_to_string(home.join("Maildir/.Archive/dovecot-uidlist")).unwrap();
    let old = std::fs::read_to_string(
        vectors().join("vmail/example.com/folders/Maildir/.Archive/dovecot-uidlist"),
    )
    .unwrap();
    for line in old.lines().skip(1) {
        assert!(text.contains(line), "{line} lost");
    }
}

#[test]
fn encrypted_delivery_writes_only_ciphertext() {
    let tmp = tempfile::tempdir().unwrap();
    let account = encrypted_account(tmp.path(), b"pw");
    let secret = b"Subject: top secret\n\nTHE-PLAINTEXT-MARKER\n";
    let d = account.deliver("INBOX", secret).unwrap();
    let on_disk = std::fs::read(&d.path).unwrap();
    assert!(on_disk.starts_with(&mailcrypt::MAGIC));
    assert!(!on_disk.windows(20).any(|w| w == b"THE-PLAINTEXT-MARKER"));
    let keys = account.keystore().unwrap().load().unwrap();
    let user = keys.unlock_user(Some(b"pw")).unwrap();
    assert_eq!(
        account
            .fetch("INBOX", d.uid, Some(&user))
            .unwrap()
            .as_slice(),
        secret
    );
    // Empty message: a 0-byte file that reads back empty.
    let e = account.deliver("INBOX", b"").unwrap();
    assert_eq!(std::fs::metadata(&e.path).unwrap().len(), 0);
    assert!(
        account
            .fetch("INBOX", e.uid, Some(&user))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn encrypted_user_without_key_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let account = Account::new(tmp.path(), true);
    account.create().unwrap();
    let err = account.deliver("INBOX", b"x").unwrap_err();
    assert!(matches!(err, AccountError::NoUserKey), "{err}");
    assert!(err.to_string().contains("tresor key generate"));
    for sub in ["new", "tmp", "cur"] {
        assert!(
            std::fs::read_dir(tmp.path().join("Maildir").join(sub))
                .unwrap()
                .next()
                .is_none()
        );
    }
}

#[test]
fn quota_is_enforced_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let account = Account::new(tmp.path(), false).with_quota(Some(30));
    account.deliver("INBOX", &[b'a'; 20]).unwrap();
    let err = account.deliver("INBOX", &[b'b'; 20]).unwrap_err();
    assert!(
        matches!(
            err,
            AccountError::Deliver(DeliverError::OverQuota {
                used: 20,
                size: 20,
                quota: 30
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("over quota"));
    assert_tmp_holds_only_the_lock_holder(&tmp.path().join("Maildir/tmp"));
    Account::new(tmp.path(), false)
        .with_quota(Some(0))
        .deliver("INBOX", &[b'c'; 50])
        .unwrap();
}

#[test]
fn bad_mailbox_names_never_leave_the_maildir() {
    let tmp = tempfile::tempdir().unwrap();
    let account = Account::new(tmp.path(), false);
    account.create().unwrap();
    for bad in ["../x", "a/b", "..", "a\u{1}b", "", ".hidden"] {
        let err = account.deliver(bad, b"x").unwrap_err();
        assert!(
            matches!(
                err,
                AccountError::Folder(folder::FolderError::InvalidName(_))
            ),
            "{bad:?}: {err}"
        );
    }
    assert!(matches!(
        account.deliver("Nope", b"x"),
        Err(AccountError::NoMailbox(_))
    ));
    let entries: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("Maildir")]);
}

#[test]
fn a_corrupt_uidlist_is_an_error_not_a_new_guid() {
    let tmp = tempfile::tempdir().unwrap();
    let account = Account::new(tmp.path(), false);
    account.deliver("INBOX", b"x").unwrap();
    let path = tmp.path().join("Maildir/dovecot-uidlist");
    std::fs::write(&path, b"3 Vx N1 Gzz\n").unwrap();
    let err = account.deliver("INBOX", b"y").unwrap_err();
    assert!(err.to_string().contains("dovecot-uidlist"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"3 Vx N1 Gzz\n",
        "left as it was"
    );
    std::fs::remove_file(&path).unwrap();
    let enc = Account::new(tmp.path(), true);
    assert!(
        enc.keystore().is_err(),
        "a missing uidlist is an error for keys, never a fresh GUID"
    );
}

#[test]
fn concurrent_deliveries_get_distinct_uids() {
    let tmp = tempfile::tempdir().unwrap();
    let account = Account::new(tmp.path(), false);
    account.create().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let a = account.clone();
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        a.deliver("INBOX", format!("m {t} {i}\n").as_bytes())
                            .unwrap()
                            .uid
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut uids: Vec<u32> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    uids.sort_unstable();
    assert_eq!(uids, (1..=40).collect::<Vec<_>>());
    let list = maildir::read_uidlist(&account.folder("INBOX").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(list.records.len(), 40);
}

#[test]
fn copy_and_move_reseal_to_the_destination_folder_key() {
    use store::mailstore::MailStore;
    let tmp = tempfile::tempdir().unwrap();
    let account = encrypted_account(tmp.path(), b"pw");
    let store: &dyn MailStore = &account;
    store.create_mailbox("Archive").unwrap();
    let d = store
        .deliver("INBOX", b"Subject: m\r\n\r\nmove me\r\n")
        .unwrap();
    let keys = account.keystore().unwrap().load().unwrap();
    let user = keys.unlock_user(Some(b"pw")).unwrap();
    let copied = store.copy("INBOX", d.uid, "Archive", Some(&user)).unwrap();
    // The copy names the Archive folder key as its recipient, not INBOX's.
    let archive_guid = store::uidlist::read_guid(&tmp.path().join("Maildir/.Archive")).unwrap();
    let keys = account.keystore().unwrap().load().unwrap();
    let archive_key = keys
        .active_folder_key_id(&archive_guid.to_string())
        .unwrap();
    let sealed = std::fs::read(&copied.path).unwrap();
    let file = mailcrypt::SealedFile::parse(&sealed).unwrap();
    assert_eq!(file.recipients()[0].id, archive_key);
    assert_eq!(
        store
            .fetch("Archive", copied.uid, Some(&user))
            .unwrap()
            .as_slice(),
        b"Subject: m\n\nmove me\n"
    );
    let moved = store
        .move_message("INBOX", d.uid, "Archive", Some(&user))
        .unwrap();
    assert_eq!(moved.uid, copied.uid + 1);
    assert!(matches!(
        store.fetch("INBOX", d.uid, Some(&user)),
        Err(AccountError::Deliver(DeliverError::NoSuchUid { .. }))
    ));
    assert!(!d.path.exists());
    let inbox = maildir::read_uidlist(&account.folder("INBOX").unwrap())
        .unwrap()
        .unwrap();
    assert!(
        inbox.records.is_empty(),
        "the moved message's record is gone"
    );
    assert_eq!(
        store.mailboxes().unwrap(),
        vec!["INBOX".to_string(), "Archive".to_string()]
    );
}

/// Many threads delivering same-sized messages at once: every message keeps its own file
/// and its own record (two deliveries in one microsecond once shared a name, and the second
/// rename replaced the first message).
#[test]
fn concurrent_same_size_deliveries_never_share_a_file_name() {
    let tmp = tempfile::tempdir().unwrap();
    let account = std::sync::Arc::new(Account::new(tmp.path(), false));
    account.create().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let account = std::sync::Arc::clone(&account);
            std::thread::spawn(move || {
                for i in 0..100 {
                    account
                        .deliver("INBOX", format!("Subject: {t}{i:02}\n\nx\n").as_bytes())
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let new = std::fs::read_dir(tmp.path().join("Maildir/new"))
        .unwrap()
        .count();
    assert_eq!(new, 400);
    let list = maildir::read_uidlist(&account.folder("INBOX").unwrap())
        .unwrap()
        .unwrap();
    let names: std::collections::HashSet<_> = list.records.iter().map(|r| r.basename()).collect();
    assert_eq!(names.len(), 400);
}
