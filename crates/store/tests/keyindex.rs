//! The message-key index: delivery files each key; a fresh session reads mail through it;
//! a lost, damaged or stale index costs speed only, never a wrong or missing message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use mailcrypt::Curve;
use store::account::Account;
use store::keyindex::KEYINDEX_NAME;

const PW: &[u8] = b"index pw";

fn account(dir: &Path) -> Account {
    let account = Account::new(dir, true);
    account.create().unwrap();
    account
        .keystore()
        .unwrap()
        .generate_user_key(Curve::P256, Some(PW), false)
        .unwrap();
    account
}

fn message(i: usize) -> Vec<u8> {
    format!("Subject: m{i}\n\nbody {i}\n").into_bytes()
}

fn index_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("Maildir").join(KEYINDEX_NAME))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn delivery_files_keys_and_a_fresh_session_reads_through_them() {
    let tmp = tempfile::tempdir().unwrap();
    let account = account(tmp.path());
    for i in 0..20 {
        account.deliver("INBOX", &message(i)).unwrap();
    }
    let lines = index_lines(tmp.path());
    // One batch (this process), one entry per message; nothing in clear.
    assert_eq!(lines.iter().filter(|l| l.starts_with("B ")).count(), 1);
    assert_eq!(lines.iter().filter(|l| l.starts_with("E ")).count(), 20);
    let raw = std::fs::read(tmp.path().join("Maildir").join(KEYINDEX_NAME)).unwrap();
    assert!(!raw.windows(4).any(|w| w == b"body"));

    let user = account
        .keystore()
        .unwrap()
        .load()
        .unwrap()
        .unlock_user(Some(PW))
        .unwrap();
    for i in 0..20 {
        let got = account.fetch("INBOX", i as u32 + 1, Some(&user)).unwrap();
        assert_eq!(&got[..], &message(i)[..]);
    }
    // The session's ring holds every key now, from the index.
    let n = user.with_ring(|r| r.folders.values().map(|f| f.files.len()).sum::<usize>());
    assert_eq!(n, 20);
}

#[test]
fn lost_damaged_or_stale_index_still_reads_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let account = account(tmp.path());
    for i in 0..6 {
        account.deliver("INBOX", &message(i)).unwrap();
    }
    let index = tmp.path().join("Maildir").join(KEYINDEX_NAME);
    let keys = account.keystore().unwrap().load().unwrap();

    // Damaged: flip bytes in every entry line and append garbage.
    let text = std::fs::read_to_string(&index).unwrap();
    let damaged: String = text
        .lines()
        .map(|l| {
            if l.starts_with("E ") {
                let mut b = l.as_bytes().to_vec();
                let mid = b.len() / 2;
                b[mid] = if b[mid] == b'A' { b'B' } else { b'A' };
                String::from_utf8(b).unwrap() + "\n"
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&index, format!("{damaged}E !!!\nB x\n")).unwrap();
    let user = keys.unlock_user(Some(PW)).unwrap();
    for i in 0..6 {
        assert_eq!(
            &account.fetch("INBOX", i as u32 + 1, Some(&user)).unwrap()[..],
            &message(i)[..]
        );
    }

    let mut names: Vec<String> = Vec::new();
    for sub in ["new", "cur"] {
        for e in std::fs::read_dir(tmp.path().join("Maildir").join(sub)).unwrap() {
            names.push(e.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    assert_eq!(names.len(), 6);
    // Lost: no index at all.
    std::fs::remove_file(&index).unwrap();
    let user = keys.unlock_user(Some(PW)).unwrap();
    for i in 0..6 {
        assert_eq!(
            &account.fetch("INBOX", i as u32 + 1, Some(&user)).unwrap()[..],
            &message(i)[..]
        );
    }
    // Reading rebuilt it: a new session finds every key there.
    assert_eq!(
        index_lines(tmp.path())
            .iter()
            .filter(|l| l.starts_with("E "))
            .count(),
        6
    );

    // Stale: swap two mail files' contents, so each name's cached key belongs to the other
    // file. The key check turns that into a miss; both still open to the swapped bodies.
    // A session that already holds every key in its ring, to meet the swap below too.
    let warm = keys.unlock_user(Some(PW)).unwrap();
    for uid in 1..=6 {
        account.fetch("INBOX", uid, Some(&warm)).unwrap();
    }
    let dir = tmp.path().join("Maildir").join("new");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (a, b) = (
        std::fs::read(&files[0]).unwrap(),
        std::fs::read(&files[1]).unwrap(),
    );
    std::fs::write(&files[0], &b).unwrap();
    std::fs::write(&files[1], &a).unwrap();
    let user = keys.unlock_user(Some(PW)).unwrap();
    let mut bodies: Vec<Vec<u8>> = (1..=6)
        .map(|uid| account.fetch("INBOX", uid, Some(&user)).unwrap().to_vec())
        .collect();
    bodies.sort();
    let mut want: Vec<Vec<u8>> = (0..6).map(message).collect();
    want.sort();
    assert_eq!(bodies, want);
    // The warm session's ring keys are stale for the two swapped names: the GCM tag turns
    // them into misses, and every message still opens to its own bytes.
    let mut bodies: Vec<Vec<u8>> = (1..=6)
        .map(|uid| account.fetch("INBOX", uid, Some(&warm)).unwrap().to_vec())
        .collect();
    bodies.sort();
    assert_eq!(bodies, want);
}

/// A tampered mail file is still refused when its key comes from the index.
#[test]
fn tampered_mail_is_refused_with_an_indexed_key() {
    let tmp = tempfile::tempdir().unwrap();
    let account = account(tmp.path());
    account.deliver("INBOX", &message(1)).unwrap();
    let dir = tmp.path().join("Maildir").join("new");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut data = std::fs::read(&path).unwrap();
    let last = data.len() - 20;
    data[last] ^= 1;
    std::fs::write(&path, data).unwrap();
    let user = account
        .keystore()
        .unwrap()
        .load()
        .unwrap()
        .unlock_user(Some(PW))
        .unwrap();
    assert!(account.fetch("INBOX", 1, Some(&user)).is_err());
}
