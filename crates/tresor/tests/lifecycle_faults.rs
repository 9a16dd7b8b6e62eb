//! Crash tests of the key lifecycle: for every fault point of `user passwd`, `user reset`,
//! `mailbox encrypt`, `mailbox decrypt` and `key rotate` the binary aborts there (built with
//! the `fault-injection` feature, `TRESOR_FAULT_AT=<op>:<n>`), then the invariant is checked
//! (the old or the new password logs in and opens every message; UIDs and flags unchanged; no
//! plaintext of an encrypted user in a file that should not have it), then the same command runs
//! again and must finish the job. Then random SIGKILLs during the same commands, same checks.
//!
//! Run: `cargo test -p tresor --features fault-injection --test lifecycle_faults`.

#![cfg(feature = "fault-injection")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::{Duration, Instant};

mod lifecycle_common;
use lifecycle_common::{EMAIL, Env, NEW, OLD, code, holds, ok};

type Sent = Vec<(String, u32, Vec<u8>)>;

/// One operation under test: its command, its stdin, and its checks.
struct Op<'a> {
    name: &'a str,
    args: Vec<&'a str>,
    stdin: String,
    /// The invariant after a crash anywhere.
    mid: &'a dyn Fn(&Env),
    /// The state once the operation completed.
    done: &'a dyn Fn(&Env),
    /// A rerun after the last durable step may fail with this exit code (reset: the code is
    /// used up) as long as `done` holds.
    rerun_may_fail_with: Option<i32>,
}

/// Crashes `op` at step 1, 2, … of a copy of `template` until a run completes; checks after
/// each crash, reruns, checks the end state. Returns the number of fault points.
fn crash_at_every_step(template: &Env, op: &Op<'_>) -> u32 {
    for n in 1.. {
        let env = template.copy();
        let fault = format!("{}:{n}", op.name);
        let out = env.run_env(&op.args, &op.stdin, &[("TRESOR_FAULT_AT", &fault)]);
        if out.status.success() {
            (op.done)(&env);
            return n - 1;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code(&out), 128 + 6, "{fault}: {stderr}");
        assert!(
            stderr.contains(&format!("fault injected at {fault}")),
            "{stderr}"
        );
        (op.mid)(&env);
        let rerun = env.run(&op.args, &op.stdin);
        if !rerun.status.success() {
            assert_eq!(
                Some(code(&rerun)),
                op.rerun_may_fail_with,
                "rerun after {fault}: {}",
                String::from_utf8_lossy(&rerun.stderr)
            );
        }
        (op.done)(&env);
    }
    unreachable!()
}

/// SIGKILLs `op` at random moments of a copy of `template` `rounds` times; after each kill the
/// stale dotlocks are broken (what Dovecot's stale timeout does), the invariant is checked, the
/// command reruns and the end state is checked.
fn kill_at_random(template: &Env, op: &Op<'_>, rounds: u32) -> Vec<u128> {
    let timing = template.copy();
    let start = Instant::now();
    ok(&timing.run(&op.args, &op.stdin));
    let full = start.elapsed().as_micros().max(1);
    let mut killed_at = Vec::new();
    for _ in 0..rounds {
        let env = template.copy();
        let at = random() % full;
        let mut child = env.spawn(&op.args, &op.stdin);
        std::thread::sleep(Duration::from_micros(at as u64));
        let _ = child.kill();
        let _ = child.wait();
        killed_at.push(at * 100 / full);
        env.break_stale_locks();
        (op.mid)(&env);
        let rerun = env.run(&op.args, &op.stdin);
        if !rerun.status.success() {
            assert_eq!(
                Some(code(&rerun)),
                op.rerun_may_fail_with,
                "rerun after a kill at {at} µs: {}",
                String::from_utf8_lossy(&rerun.stderr)
            );
        }
        (op.done)(&env);
    }
    eprintln!("{}: killed at {killed_at:?} % of a {full} µs run", op.name);
    killed_at
}

fn random() -> u128 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    u128::from(h.finish())
}

/// Old or new password works (exactly one), every message opens, UIDs and flags as before.
fn one_password_works(
    env: &Env,
    before: &std::collections::BTreeMap<String, std::collections::BTreeMap<u32, String>>,
) {
    assert_eq!(&env.snapshot(), before, "UIDs or flags changed");
    let old = env.works(OLD);
    let new = env.works(NEW);
    assert!(old ^ new, "old works: {old}, new works: {new}");
}

fn contents_with(env: &Env, password: &str, sent: &Sent) {
    env.assert_contents(password, sent);
}

/// No file in a `tmp/` holds plaintext.
fn no_plaintext_in_tmp(env: &Env) {
    let tmp: Vec<_> = env
        .files()
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("tmp")))
        .collect();
    let leaks = holds(&tmp, b"SECRET-BODY");
    assert!(leaks.is_empty(), "plaintext in {leaks:?}");
}

fn sealed_count(env: &Env) -> (usize, usize) {
    let mut sealed = 0;
    let mut plain = 0;
    for p in env.files() {
        let parent = p.parent().unwrap();
        if !(parent.ends_with("cur") || parent.ends_with("new")) {
            continue;
        }
        if std::fs::read(&p).unwrap().starts_with(b"CRYPTED") {
            sealed += 1;
        } else {
            plain += 1;
        }
    }
    (sealed, plain)
}

#[test]
fn passwd_survives_a_crash_at_every_step_and_random_kills() {
    let template = Env::new();
    let sent = template.alice(false, 0);
    let before = template.snapshot();
    let mid = |env: &Env| one_password_works(env, &before);
    let done = |env: &Env| {
        assert!(env.works(NEW) && !env.works(OLD));
        contents_with(env, NEW, &sent);
        assert_eq!(env.snapshot(), before);
    };
    let op = Op {
        name: "passwd",
        args: vec!["user", "passwd", EMAIL],
        stdin: format!("{OLD}\n{NEW}\n"),
        mid: &mid,
        done: &done,
        rerun_may_fail_with: None,
    };
    let steps = crash_at_every_step(&template, &op);
    assert_eq!(steps, 4);
    kill_at_random(&template, &op, 5);
}

#[test]
fn reset_survives_a_crash_at_every_step() {
    let template = Env::new();
    let sent = template.alice(false, 0);
    let rc = ok(&template.run(
        &["key", "recovery", EMAIL, "--password-stdin"],
        &format!("{OLD}\n"),
    ));
    let before = template.snapshot();
    let mid = |env: &Env| one_password_works(env, &before);
    let done = |env: &Env| {
        assert!(env.works(NEW) && !env.works(OLD));
        contents_with(env, NEW, &sent);
    };
    let op = Op {
        name: "reset",
        args: vec!["user", "reset", EMAIL, "--recovery-code-stdin"],
        stdin: format!("{}\n{NEW}\n", rc.trim()),
        mid: &mid,
        done: &done,
        // Crashed after the commit: the code is used up, the new password is in place.
        rerun_may_fail_with: Some(3),
    };
    assert_eq!(crash_at_every_step(&template, &op), 4);
}

#[test]
fn encrypt_survives_a_crash_at_every_step() {
    let template = Env::new();
    let sent = template.alice(true, 1);
    let before = template.snapshot();
    let mid = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert!(env.works(OLD));
        no_plaintext_in_tmp(env);
    };
    let done = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert_eq!(sealed_count(env), (4, 0));
        let leaks = holds(&env.files(), b"SECRET-BODY");
        assert!(leaks.is_empty(), "plaintext in {leaks:?}");
        assert!(ok(&env.run(&["user", "show", EMAIL], "")).contains("crypt: 2"));
        contents_with(env, OLD, &sent);
    };
    let op = Op {
        name: "encrypt",
        args: vec!["mailbox", "encrypt", EMAIL, "--password-stdin"],
        stdin: format!("{OLD}\n"),
        mid: &mid,
        done: &done,
        rerun_may_fail_with: None,
    };
    assert_eq!(crash_at_every_step(&template, &op), 2 + 2 * 4);
}

#[test]
fn encrypt_survives_random_kills_in_a_bigger_mailbox() {
    let template = Env::new();
    let sent = template.alice(true, 13);
    let before = template.snapshot();
    let mid = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert!(env.works(OLD));
        no_plaintext_in_tmp(env);
    };
    let done = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert_eq!(sealed_count(env), (16, 0));
        contents_with(env, OLD, &sent);
    };
    let op = Op {
        name: "encrypt",
        args: vec!["mailbox", "encrypt", EMAIL, "--password-stdin"],
        stdin: format!("{OLD}\n"),
        mid: &mid,
        done: &done,
        rerun_may_fail_with: None,
    };
    kill_at_random(&template, &op, 6);
}

#[test]
fn decrypt_survives_a_crash_at_every_step() {
    let template = Env::new();
    let sent = template.alice(false, 1);
    let before = template.snapshot();
    let mid = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert!(env.works(OLD));
    };
    let done = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert_eq!(sealed_count(env), (0, 4));
        assert!(ok(&env.run(&["user", "show", EMAIL], "")).contains("crypt: 0"));
        contents_with(env, OLD, &sent);
    };
    let op = Op {
        name: "decrypt",
        args: vec!["mailbox", "decrypt", EMAIL, "--password-stdin"],
        stdin: format!("{OLD}\n"),
        mid: &mid,
        done: &done,
        rerun_may_fail_with: None,
    };
    assert_eq!(crash_at_every_step(&template, &op), 2 + 2 * 4);
}

#[test]
fn rotate_survives_a_crash_at_every_step() {
    let template = Env::new();
    let sent = template.alice(false, 1);
    let before = template.snapshot();
    let old_keys = ok(&template.run(&["key", "list", EMAIL], ""));
    let mid = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert!(env.works(OLD));
        // Headers and key records agree too (no password needed for that check).
        ok(&env.run(&["mailbox", "verify", EMAIL], ""));
        no_plaintext_in_tmp(env);
    };
    let done = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert!(!env.maildir().join("tresor-rotate").exists());
        let keys = ok(&env.run(&["key", "list", EMAIL], ""));
        for line in old_keys.lines().skip(1) {
            let id = line.split_whitespace().next().unwrap();
            assert!(!keys.contains(id), "old key {id} not retired:\n{keys}");
        }
        assert_eq!(
            keys.lines().count(),
            4,
            "one user key and two folder keys:\n{keys}"
        );
        assert_eq!(sealed_count(env), (4, 0));
        contents_with(env, OLD, &sent);
    };
    let op = Op {
        name: "rotate",
        args: vec!["key", "rotate", EMAIL, "--password-stdin"],
        stdin: format!("{OLD}\n"),
        mid: &mid,
        done: &done,
        rerun_may_fail_with: None,
    };
    assert_eq!(crash_at_every_step(&template, &op), 2 + 2 * 4 + 2);
}

#[test]
fn rotate_survives_random_kills_in_a_bigger_mailbox() {
    let template = Env::new();
    let sent = template.alice(false, 13);
    let before = template.snapshot();
    let mid = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert!(env.works(OLD));
        ok(&env.run(&["mailbox", "verify", EMAIL], ""));
        no_plaintext_in_tmp(env);
    };
    let done = |env: &Env| {
        assert_eq!(env.snapshot(), before);
        assert!(!env.maildir().join("tresor-rotate").exists());
        assert_eq!(ok(&env.run(&["key", "list", EMAIL], "")).lines().count(), 4);
        contents_with(env, OLD, &sent);
    };
    let op = Op {
        name: "rotate",
        args: vec!["key", "rotate", EMAIL, "--password-stdin"],
        stdin: format!("{OLD}\n"),
        mid: &mid,
        done: &done,
        rerun_may_fail_with: None,
    };
    kill_at_random(&template, &op, 6);
}
