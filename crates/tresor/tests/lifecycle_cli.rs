//! The key lifecycle commands end to end through the binary: `user passwd|reset`,
//! `key recovery|prune|rotate`, `mailbox verify|encrypt|decrypt`. Each test checks the
//! promise that matters: which password works afterwards, that every message still opens with
//! the same bytes, and that UIDs and flags did not move. The crash tests are in
//! `lifecycle_faults.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod lifecycle_common;
use lifecycle_common::{EMAIL, Env, NEW, OLD, code, holds, ok};

#[test]
fn passwd_switches_login_and_keys_together_and_wrong_old_changes_nothing() {
    let env = Env::new();
    let sent = env.alice(false, 0);
    let before = env.snapshot();
    let attrs = env.maildir().join("dovecot-attributes");
    let keys_before = std::fs::read(&attrs).unwrap();

    let wrong = env.run(&["user", "passwd", EMAIL], &format!("not it\n{NEW}\n"));
    assert_eq!(
        code(&wrong),
        3,
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("recovery code"));
    assert_eq!(std::fs::read(&attrs).unwrap(), keys_before);
    assert!(env.works(OLD) && !env.works(NEW));

    let out = ok(&env.run(&["user", "passwd", EMAIL], &format!("{OLD}\n{NEW}\n")));
    assert!(out.contains("changed"), "{out}");
    assert!(!env.works(OLD) && env.works(NEW));
    env.assert_contents(NEW, &sent);
    assert_eq!(env.snapshot(), before);
    // The same command again is harmless.
    let again = ok(&env.run(&["user", "passwd", EMAIL], &format!("{OLD}\n{NEW}\n")));
    assert!(again.contains("already"), "{again}");
    assert!(env.works(NEW));
}

#[test]
fn reset_needs_a_recovery_code_and_uses_it_up() {
    let env = Env::new();
    let sent = env.alice(false, 0);
    let refused = env.run(&["user", "reset", EMAIL], "");
    assert_eq!(code(&refused), 3);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("recovery code"));

    let wrong_pw = env.run(&["key", "recovery", EMAIL, "--password-stdin"], "nope\n");
    assert_eq!(code(&wrong_pw), 3);
    let out = env.run(
        &["key", "recovery", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    );
    let code_line = ok(&out);
    let lines: Vec<&str> = code_line.lines().collect();
    assert_eq!(lines.len(), 1, "the code alone on stdout: {code_line:?}");
    let rc = lines[0];
    let groups: Vec<&str> = rc.split('-').collect();
    assert!(
        groups.len() >= 5 && groups.iter().all(|g| g.len() == 5),
        "{rc}"
    );
    assert!(
        rc.chars()
            .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit())
    );
    // ≥ 128 bits: 30 characters from a 32-letter alphabet.
    assert!(rc.replace('-', "").len() * 5 >= 128);
    let attrs = env.maildir().join("dovecot-attributes");
    assert!(
        !holds(&env.files(), rc.replace('-', "").as_bytes())
            .iter()
            .any(|_| true)
    );

    // A wrong code changes nothing.
    let before = std::fs::read(&attrs).unwrap();
    let mut wrong = rc.replace('-', "").into_bytes();
    wrong[3] = if wrong[3] == b'A' { b'B' } else { b'A' };
    let bad = env.run(
        &["user", "reset", EMAIL, "--recovery-code-stdin"],
        &format!("{}\n{NEW}\n", String::from_utf8(wrong).unwrap()),
    );
    assert_eq!(code(&bad), 3);
    assert_eq!(std::fs::read(&attrs).unwrap(), before);
    assert!(env.works(OLD) && !env.works(NEW));

    // Without dashes and in lower case is fine.
    let typed = rc.replace('-', "").to_lowercase();
    ok(&env.run(
        &["user", "reset", EMAIL, "--recovery-code-stdin"],
        &format!("{typed}\n{NEW}\n"),
    ));
    assert!(!env.works(OLD) && env.works(NEW));
    env.assert_contents(NEW, &sent);
    // Used up.
    let reused = env.run(
        &["user", "reset", EMAIL, "--recovery-code-stdin"],
        &format!("{rc}\nthird\n"),
    );
    assert_eq!(code(&reused), 3);
    assert!(env.works(NEW));
}

#[test]
fn verify_lists_a_tampered_file_and_exits_non_zero() {
    let env = Env::new();
    env.alice(false, 0);
    ok(&env.run(&["mailbox", "verify", EMAIL], ""));
    assert!(env.works(OLD));
    let archive = env.maildir().join(".Archive/new");
    let file = std::fs::read_dir(&archive)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut data = std::fs::read(&file).unwrap();
    let n = data.len();
    data[n - 20] ^= 1;
    std::fs::write(&file, &data).unwrap();
    let out = env.run(
        &["mailbox", "verify", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    );
    assert_eq!(code(&out), 8);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL Archive uid 1"), "{stdout}");
    assert!(stdout.contains("tampered"), "{stdout}");
    assert!(stdout.contains("1 failure(s)"), "{stdout}");
    // A header damaged beyond parsing is found without the password too.
    std::fs::write(&file, &data[..40]).unwrap();
    let out = env.run(&["mailbox", "verify", EMAIL], "");
    assert_eq!(code(&out), 8, "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn prune_removes_unreferenced_keys_and_refuses_referenced_ones() {
    let env = Env::new();
    let sent = env.alice(false, 0);
    let pw = format!("{OLD}\n");
    let ids = |env: &Env| -> Vec<(String, String, String)> {
        ok(&env.run(&["key", "list", EMAIL], ""))
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), f[2].to_string(), f[3].to_string())
            })
            .collect()
    };
    let first_user = ids(&env)
        .into_iter()
        .find(|(_, _, owner)| owner == "user")
        .unwrap()
        .0;
    // Two more user keys: the middle one ends up needed by nothing.
    let middle = ok(&env.run(
        &["key", "generate", EMAIL, "--password-stdin", "--force"],
        &pw,
    ));
    let middle = middle.trim().to_string();
    ok(&env.run(
        &["key", "generate", EMAIL, "--password-stdin", "--force"],
        &pw,
    ));

    let refused = env.run(&["key", "prune", EMAIL, &first_user], "");
    assert_eq!(code(&refused), 1);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("still referenced"));
    let folder_key = ids(&env)
        .into_iter()
        .find(|(_, _, owner)| owner == "folder")
        .unwrap()
        .0;
    let refused = env.run(&["key", "prune", EMAIL, &folder_key], "");
    assert_eq!(code(&refused), 1);

    let out = ok(&env.run(&["key", "prune", EMAIL], ""));
    assert!(out.contains(&format!("removed user key {middle}")), "{out}");
    assert!(out.contains("1 key(s) removed"), "{out}");
    let left: Vec<String> = ids(&env).into_iter().map(|k| k.0).collect();
    assert!(!left.contains(&middle) && left.contains(&first_user));
    assert!(env.works(OLD));
    env.assert_contents(OLD, &sent);
}

#[test]
fn encrypt_then_decrypt_in_place_keeps_uids_flags_and_bytes() {
    let env = Env::new();
    let sent = env.alice(true, 2);
    let before = env.snapshot();
    let plain: Vec<_> = before
        .iter()
        .flat_map(|(dir, m)| m.values().map(move |f| (dir.clone(), f.clone())))
        .map(|(dir, f)| {
            let d = if dir == "Maildir" {
                env.maildir()
            } else {
                env.maildir().join(&dir)
            };
            std::fs::read(d.join(&f)).unwrap()
        })
        .collect();
    let wrong = env.run(&["mailbox", "encrypt", EMAIL, "--password-stdin"], "nope\n");
    assert_eq!(code(&wrong), 3);
    assert!(!env.maildir().join("dovecot-attributes").exists());

    let out = ok(&env.run(
        &["mailbox", "encrypt", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    ));
    assert!(out.contains("encrypted 5 message(s)"), "{out}");
    assert!(ok(&env.run(&["user", "show", EMAIL], "")).contains("crypt: 2"));
    assert_eq!(env.snapshot(), before);
    let leaks = holds(&env.files(), b"SECRET-BODY");
    assert!(leaks.is_empty(), "plaintext left in {leaks:?}");
    assert!(env.works(OLD));
    env.assert_contents(OLD, &sent);
    // Again: nothing to do.
    let again = ok(&env.run(
        &["mailbox", "encrypt", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    ));
    assert!(again.contains("encrypted 0 message(s)"), "{again}");

    let out = ok(&env.run(
        &["mailbox", "decrypt", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    ));
    assert!(out.contains("decrypted 5 message(s)"), "{out}");
    assert!(ok(&env.run(&["user", "show", EMAIL], "")).contains("crypt: 0"));
    assert_eq!(env.snapshot(), before);
    let after: Vec<_> = before
        .iter()
        .flat_map(|(dir, m)| m.values().map(move |f| (dir.clone(), f.clone())))
        .map(|(dir, f)| {
            let d = if dir == "Maildir" {
                env.maildir()
            } else {
                env.maildir().join(&dir)
            };
            std::fs::read(d.join(&f)).unwrap()
        })
        .collect();
    assert_eq!(after, plain, "decrypt gives back the very bytes");
}

#[test]
fn rotate_reseals_everything_to_new_keys_and_retires_the_old() {
    let env = Env::new();
    let sent = env.alice(false, 1);
    let before = env.snapshot();
    let list = |env: &Env| ok(&env.run(&["key", "list", EMAIL], ""));
    let old_keys: Vec<String> = list(&env)
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    // A recovery code made before the rotation still works after it.
    let rc = ok(&env.run(
        &["key", "recovery", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    ));
    let wrong = env.run(&["key", "rotate", EMAIL, "--password-stdin"], "nope\n");
    assert_eq!(code(&wrong), 3);

    let out = ok(&env.run(
        &["key", "rotate", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    ));
    assert!(out.contains("4 message(s) re-sealed"), "{out}");
    assert!(out.contains("3 old key(s) retired"), "{out}");
    let new_list = list(&env);
    for k in &old_keys {
        assert!(!new_list.contains(k.as_str()), "old key {k} still there");
    }
    assert_eq!(new_list.lines().count(), 4, "{new_list}");
    assert_eq!(env.snapshot(), before);
    assert!(env.works(OLD));
    env.assert_contents(OLD, &sent);
    assert!(!env.maildir().join("tresor-rotate").exists());

    ok(&env.run(
        &["user", "reset", EMAIL, "--recovery-code-stdin"],
        &format!("{}\n{NEW}\n", rc.trim()),
    ));
    assert!(env.works(NEW));
    env.assert_contents(NEW, &sent);
}

#[test]
fn argon2id_wrap_converts_both_ways_and_survives_passwd_and_rotate() {
    let env = Env::new();
    let sent = env.alice(false, 0);
    let attrs = env.maildir().join("dovecot-attributes");
    let record = "vendor/vendor.tresor/wrap";
    let has_record = || String::from_utf8_lossy(&std::fs::read(&attrs).unwrap()).contains(record);
    let bad = env.run(
        &["key", "password", EMAIL, "--wrap", "scrypt"],
        &format!("{OLD}\n"),
    );
    assert_eq!(code(&bad), 1);
    let wrong = env.run(&["key", "password", EMAIL, "--wrap", "argon2id"], "nope\n");
    assert_eq!(code(&wrong), 3);
    assert!(!has_record());

    let out = env.run(
        &["key", "password", EMAIL, "--wrap", "argon2id"],
        &format!("{OLD}\n"),
    );
    assert!(ok(&out).contains("argon2id wrap"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Dovecot cannot unlock"));
    assert!(has_record());
    assert!(env.works(OLD));
    ok(&env.run(&["user", "passwd", EMAIL], &format!("{OLD}\n{NEW}\n")));
    assert!(has_record() && env.works(NEW) && !env.works(OLD));
    ok(&env.run(
        &["key", "rotate", EMAIL, "--password-stdin"],
        &format!("{NEW}\n"),
    ));
    assert!(has_record() && env.works(NEW));
    env.assert_contents(NEW, &sent);

    ok(&env.run(
        &["key", "password", EMAIL, "--wrap", "dovecot"],
        &format!("{NEW}\n"),
    ));
    assert!(!has_record());
    assert!(env.works(NEW));
    env.assert_contents(NEW, &sent);
}

#[test]
fn rotate_skips_a_message_that_does_not_open_and_finishes_once_it_is_fixed() {
    let env = Env::new();
    let sent = env.alice(false, 1);
    let archive = env.maildir().join(".Archive/new");
    let file = std::fs::read_dir(&archive)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 3] ^= 0x40;
    std::fs::write(&file, &bad).unwrap();

    let out = env.run(
        &["key", "rotate", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    );
    assert_eq!(code(&out), 8, "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL Archive uid"), "{stdout}");
    assert!(stdout.contains("3 message(s) re-sealed"), "{stdout}");
    assert!(env.maildir().join("tresor-rotate").exists(), "journal kept");
    // The damaged message still names a key the folder holds.
    ok(&env.run(&["mailbox", "verify", EMAIL], ""));

    std::fs::write(&file, &good).unwrap();
    let out = ok(&env.run(
        &["key", "rotate", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    ));
    assert!(out.contains("finished the interrupted rotation"), "{out}");
    assert!(out.contains("1 message(s) re-sealed"), "{out}");
    assert!(!env.maildir().join("tresor-rotate").exists());
    assert_eq!(ok(&env.run(&["key", "list", EMAIL], "")).lines().count(), 4);
    env.assert_contents(OLD, &sent);
}

#[test]
fn a_user_without_keys_or_maildir_can_change_and_reset_the_password() {
    let env = Env::new();
    ok(&env.run(
        &["user", "add", EMAIL, "--password-stdin", "--no-crypt"],
        &format!("{OLD}\n"),
    ));
    // As if the row came from another tool: no home yet.
    std::fs::remove_dir_all(env.home()).unwrap();
    ok(&env.run(&["user", "passwd", EMAIL], &format!("{OLD}\n{NEW}\n")));
    assert!(env.maildir().join("dovecot-uidlist").is_file());
    assert!(env.works(NEW) && !env.works(OLD));
    ok(&env.run(&["user", "reset", EMAIL, "--password-stdin"], "third\n"));
    assert!(env.works("third"));

    // An encrypted user: the old password or a recovery code, nothing else.
    let env = Env::new();
    env.alice(false, 0);
    let attrs = std::fs::read(env.maildir().join("dovecot-attributes")).unwrap();
    let refused = env.run(
        &["user", "reset", EMAIL, "--password-stdin"],
        &format!("{NEW}\n"),
    );
    assert_eq!(code(&refused), 3);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("recovery code"));
    assert_eq!(
        std::fs::read(env.maildir().join("dovecot-attributes")).unwrap(),
        attrs
    );
    assert!(env.works(OLD) && !env.works(NEW));
}
