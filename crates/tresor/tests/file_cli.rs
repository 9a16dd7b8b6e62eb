//! `tresor file` and `tresor key` against the real Dovecot 2.3.19 Maildirs in
//! `../shared/vectors/dovecot-2.3.19` (manifest-driven), plus the error contract: wrong
//! password, tampered, truncated, unknown key — each with its own exit code and no stdout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;
use common::{run, vectors};
use sha2::{Digest as _, Sha256};

fn manifest() -> Value {
    serde_json::from_slice(&std::fs::read(vectors().join("manifest.json")).unwrap()).unwrap()
}

fn open(home: &Path, file: &Path, password: &str) -> Output {
    run(
        &[
            "file",
            "open",
            "--home",
            home.to_str().unwrap(),
            "--password-stdin",
            file.to_str().unwrap(),
        ],
        format!("{password}\n").as_bytes(),
    )
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A writable copy of one user's home from the vectors.
fn copy_home(rel_home: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("home");
    copy_dir(&vectors().join(rel_home), &dst);
    (tmp, dst)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
            let mut p = std::fs::metadata(&to).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o600);
            std::fs::set_permissions(&to, p).unwrap();
        }
    }
    for sub in ["cur", "new", "tmp"] {
        if dst
            .file_name()
            .is_some_and(|n| n == "Maildir" || n.to_string_lossy().starts_with('.'))
        {
            std::fs::create_dir_all(dst.join(sub)).unwrap();
        }
    }
}

#[test]
fn every_vector_mail_opens_to_its_stored_bytes() {
    let m = manifest();
    let mut opened = 0;
    for user in m["users"].as_array().unwrap() {
        let home = vectors().join(user["home"].as_str().unwrap());
        let password = user["password"].as_str().unwrap();
        for mail in user["mails"].as_array().unwrap() {
            let file = vectors().join(mail["path"].as_str().unwrap());
            let out = open(&home, &file, password);
            assert!(
                out.status.success(),
                "{}: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                sha256(&out.stdout),
                mail["stored_sha256"].as_str().unwrap(),
                "{}",
                file.display()
            );
            if mail["encrypted"] == Value::Bool(false) {
                assert_eq!(
                    out.stdout,
                    std::fs::read(&file).unwrap(),
                    "crypt=0 passes through"
                );
            }
            opened += 1;
        }
    }
    assert!(opened >= 45, "only {opened} mails in the manifest");
}

#[test]
fn old_password_of_the_pwchange_user_is_refused() {
    let m = manifest();
    let user = m["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "pwchange@example.com")
        .unwrap();
    let home = vectors().join(user["home"].as_str().unwrap());
    let old = user["initial_password"].as_str().unwrap();
    for mail in user["mails"].as_array().unwrap() {
        let out = open(&home, &vectors().join(mail["path"].as_str().unwrap()), old);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("wrong password"));
    }
}

#[test]
fn damage_gives_distinct_errors_and_no_output() {
    let (_tmp, home) = copy_home("vmail/example.org/p256");
    let password = "p256 pass word";
    let cur = home.join("Maildir/cur");
    let file = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("S=1614,"))
        .unwrap();
    let original = std::fs::read(&file).unwrap();

    // Tampered: one flipped byte in the ciphertext.
    let mut bad = original.clone();
    bad[original.len() / 2] ^= 0x20;
    std::fs::write(&file, &bad).unwrap();
    let out = open(&home, &file, password);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication tag mismatch"));

    // Truncated: cut 100 bytes (the S= size in the name tells).
    std::fs::write(&file, &original[..original.len() - 100]).unwrap();
    let out = open(&home, &file, password);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));

    // Unknown version byte after the magic.
    let mut v = original.clone();
    v[9] = 9;
    std::fs::write(&file, &v).unwrap();
    let out = open(&home, &file, password);
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a mail-crypt file"));

    // A file sealed to another folder's key: no key with that id for this mailbox.
    std::fs::write(&file, &original).unwrap();
    let folders = vectors().join("vmail/example.com/folders/Maildir/.Archive/cur");
    let foreign = std::fs::read_dir(folders)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let moved = cur.join(foreign.file_name().unwrap());
    std::fs::copy(&foreign, &moved).unwrap();
    let out = open(&home, &moved, password);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no key with id") && err.contains("for mailbox INBOX"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn sealed_files_open_again_and_keys_are_listed() {
    let (_tmp, home) = copy_home("vmail/example.com/folders");
    let h = home.to_str().unwrap();
    let password = "Folders & keys";
    for (mailbox, dir) in [("INBOX", "Maildir"), ("Entwürfe", "Maildir/.Entw&APw-rfe")] {
        for msg in [&b""[..], b"x", b"From: a\nSubject: s\n\nbody\n"] {
            let out = run(&["file", "seal", "--home", h, "--mailbox", mailbox], msg);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            if msg.is_empty() {
                assert!(out.stdout.is_empty(), "an empty message is a 0-byte file");
            } else {
                assert!(out.stdout.starts_with(b"CRYPTED\x03\x07\x02"));
            }
            let file =
                home.join(dir)
                    .join("new")
                    .join(format!("1.M{}P1.test,S={}", msg.len(), msg.len()));
            std::fs::write(&file, &out.stdout).unwrap();
            let back = open(&home, &file, password);
            assert!(
                back.status.success(),
                "{}",
                String::from_utf8_lossy(&back.stderr)
            );
            assert_eq!(back.stdout, msg);
        }
    }
    let out = run(&["file", "seal", "--home", h, "--mailbox", "Nope"], b"x");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let out = run(
        &["file", "seal", "--home", h, "--mailbox", "../../etc"],
        b"x",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid mailbox name"));

    let list = run(&["key", "list", "--home", h], b"");
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(text.contains("62c670567e2492abc7da2d7af5b4bf0ee057e038052f2032d2fe0f8132743aac  secp521r1   yes     user"), "{text}");
    for name in ["INBOX", "Archive", "Lists.Dovecot", "Entwürfe"] {
        assert!(text.contains(&format!("folder {name}")), "{text}");
    }

    let export = run(
        &["key", "export", "--home", h, "--password-stdin"],
        format!("{password}\n").as_bytes(),
    );
    let text = String::from_utf8(export.stdout).unwrap();
    assert_eq!(
        text.matches("-----BEGIN PRIVATE KEY-----").count(),
        5,
        "{text}"
    );
    let wrong = run(
        &["key", "export", "--home", h, "--password-stdin"],
        b"nope\n",
    );
    assert_eq!(wrong.status.code(), Some(3));
    assert!(wrong.stdout.is_empty());
}

#[test]
fn exported_keys_match_dovecots_export() {
    // Dovecot's own `cryptokey export` of the p256 user (keys/p256@example.org.txt).
    let dovecot = std::fs::read_to_string(vectors().join("keys/p256@example.org.txt")).unwrap();
    let home = vectors().join("vmail/example.org/p256");
    let out = run(
        &[
            "key",
            "export",
            "--home",
            home.to_str().unwrap(),
            "--password-stdin",
        ],
        b"p256 pass word\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = String::from_utf8(out.stdout).unwrap();
    let pems = |s: &str| -> Vec<String> {
        s.split("-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .map(|p| {
                p.split("-----END PRIVATE KEY-----")
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .collect()
            })
            .collect()
    };
    let mut a = pems(&dovecot);
    let mut b = pems(&ours);
    a.sort();
    b.sort();
    assert_eq!(a.len(), 2);
    assert_eq!(a, b, "PKCS#8 bytes differ from Dovecot's export");
}

#[test]
fn generated_keys_seal_and_open_in_a_new_home() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("u");
    std::fs::create_dir(&home).unwrap();
    let h = home.to_str().unwrap();
    let password = "pä55 'wörd' \"x\" ";
    let out = run(
        &[
            "key",
            "generate",
            "--home",
            h,
            "--password-stdin",
            "--curve",
            "prime256v1",
        ],
        format!("{password}\n").as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let again = run(
        &["key", "generate", "--home", h, "--password-stdin"],
        b"x\n",
    );
    assert!(!again.status.success(), "a second user key needs --force");
    let out = run(&["key", "generate", "--home", h, "--mailbox", "INBOX"], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sealed = run(&["file", "seal", "--home", h], b"Subject: hi\n\nhello\n").stdout;
    let file = home.join("Maildir/new/1.M1P1.t,S=19");
    std::fs::write(&file, sealed).unwrap();
    assert_eq!(
        open(&home, &file, password).stdout,
        b"Subject: hi\n\nhello\n"
    );
    assert_eq!(
        open(&home, &file, "pä55 'wörd' \"x\"").status.code(),
        Some(3),
        "trailing space matters"
    );
    let list = String::from_utf8(run(&["key", "list", "--home", h], b"").stdout).unwrap();
    assert!(
        list.contains(&user_id) && list.contains("prime256v1") && list.contains("folder INBOX"),
        "{list}"
    );
}
