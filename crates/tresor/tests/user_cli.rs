//! The userdb-backed commands: `user add|list|show|del`, `deliver`, `fetch`, `mailbox list`,
//! `key generate|list|password EMAIL`, on the embedded SQLite default and on Dovecot's own
//! vector set (the Dovecot → tresor switch), plus SIGKILL during delivery.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;
use common::run;
use sha2::{Digest as _, Sha256};

struct Env {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    config: PathBuf,
}

impl Env {
    /// A config with the embedded defaults under a fresh directory, mail files owned by `owner`.
    fn new(owner: (u32, u32)) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = root.join("tresor.toml");
        std::fs::write(
            &config,
            format!(
                "[paths]\ndata_dir = \"{}\"\n[mail]\nuid = {}\ngid = {}\ncurve = \"prime256v1\"\n",
                root.join("data").display(),
                owner.0,
                owner.1
            ),
        )
        .unwrap();
        Self {
            _tmp: tmp,
            root,
            config,
        }
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        run(&all, stdin)
    }

    fn home(&self, local: &str, domain: &str) -> PathBuf {
        self.root.join("data/vmail").join(domain).join(local)
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn users_mail_and_keys_on_embedded_defaults() {
    let env = Env::new((5000, 5000));
    ok(&env.run(
        &["user", "add", "alice@example.org", "--password-stdin"],
        b"alice's pw\n",
    ));
    ok(&env.run(
        &[
            "user",
            "add",
            "bob@example.org",
            "--password-stdin",
            "--no-crypt",
            "--quota",
            "100",
        ],
        b"bob pw\n",
    ));
    assert!(
        !env.run(
            &["user", "add", "alice@example.org", "--password-stdin"],
            b"x\n"
        )
        .status
        .success()
    );
    assert_eq!(
        ok(&env.run(&["user", "list"], b"")),
        "alice@example.org\nbob@example.org\n"
    );
    let show = ok(&env.run(&["user", "show", "alice@example.org"], b""));
    assert!(
        show.contains("crypt: 2") && show.contains("active user key: "),
        "{show}"
    );

    // Deliver (CRLF in, LF stored), then fetch the stored bytes back.
    let uid = ok(&env.run(
        &["deliver", "alice@example.org"],
        b"Subject: one\r\n\r\nHELLO-MARKER\r\n",
    ));
    assert_eq!(uid.trim(), "1");
    ok(&env.run(
        &["deliver", "alice@example.org"],
        b"Subject: two\r\n\r\nsecond\r\n",
    ));
    let fetched = env.run(
        &[
            "fetch",
            "alice@example.org",
            "--password-stdin",
            "--uid",
            "1",
        ],
        b"alice's pw\n",
    );
    assert_eq!(ok(&fetched), "Subject: one\n\nHELLO-MARKER\n");
    let wrong = env.run(
        &[
            "fetch",
            "alice@example.org",
            "--password-stdin",
            "--uid",
            "1",
        ],
        b"nope\n",
    );
    assert_eq!(wrong.status.code(), Some(3));
    assert!(wrong.stdout.is_empty());

    // No plaintext anywhere under an encrypted user's home; files belong to the mail user.
    let home = env.home("alice", "example.org");
    let mut files = Vec::new();
    walk(&home, &mut files);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        assert!(
            !data.windows(12).any(|w| w == b"HELLO-MARKER"),
            "plaintext in {}",
            f.display()
        );
        if is_root() {
            assert_eq!(std::fs::metadata(f).unwrap().uid(), 5000, "{}", f.display());
        }
    }

    // Plain user with a quota: stored as is, over quota refused (exit 77).
    ok(&env.run(&["deliver", "bob@example.org"], b"Subject: b\n\nshort\n"));
    let bob = env.home("bob", "example.org");
    let mut bob_files = Vec::new();
    walk(&bob.join("Maildir/new"), &mut bob_files);
    assert_eq!(
        std::fs::read(&bob_files[0]).unwrap(),
        b"Subject: b\n\nshort\n"
    );
    let over = env.run(&["deliver", "bob@example.org"], &[b'x'; 200]);
    assert_eq!(
        over.status.code(),
        Some(77),
        "{}",
        String::from_utf8_lossy(&over.stderr)
    );
    assert!(String::from_utf8_lossy(&over.stderr).contains("over quota"));
    let nobody = env.run(&["deliver", "nobody@example.org"], b"x");
    assert_eq!(nobody.status.code(), Some(67));

    let boxes = ok(&env.run(&["mailbox", "list", "alice@example.org"], b""));
    assert!(
        boxes
            .lines()
            .any(|l| l.starts_with("INBOX") && l.contains(" 2 ")),
        "{boxes}"
    );

    // Keys by address: list; generate refuses without --force; the key password changes.
    let keys = ok(&env.run(&["key", "list", "alice@example.org"], b""));
    assert!(
        keys.contains("prime256v1") && keys.contains("folder INBOX"),
        "{keys}"
    );
    let again = env.run(
        &["key", "generate", "alice@example.org", "--password-stdin"],
        b"alice's pw\n",
    );
    assert!(!again.status.success());
    let typo = env.run(
        &[
            "key",
            "generate",
            "alice@example.org",
            "--password-stdin",
            "--force",
        ],
        b"alice's pwx\n",
    );
    assert_eq!(
        typo.status.code(),
        Some(3),
        "keys are only wrapped with the login password"
    );
    let bad = env.run(
        &["key", "password", "alice@example.org"],
        b"wrong\nnew pw\n",
    );
    assert_eq!(bad.status.code(), Some(3));
    ok(&env.run(
        &["key", "password", "alice@example.org"],
        b"alice's pw\nnew pw\n",
    ));
    let fetched = env.run(
        &[
            "fetch",
            "alice@example.org",
            "--password-stdin",
            "--uid",
            "2",
        ],
        b"new pw\n",
    );
    assert_eq!(ok(&fetched), "Subject: two\n\nsecond\n");
    let attrs = std::fs::read_to_string(home.join("Maildir/dovecot-attributes")).unwrap();
    assert!(
        attrs.contains(":2:aes-256-ctr:"),
        "still password-protected"
    );

    ok(&env.run(&["user", "del", "bob@example.org", "--purge"], b""));
    assert!(!bob.exists());
    assert_eq!(ok(&env.run(&["user", "list"], b"")), "alice@example.org\n");
}

#[test]
fn dovecot_vectors_switch_to_tresor_unchanged() {
    let vectors =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/dovecot-2.3.19");
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("v");
    let status = Command::new("cp")
        .arg("-r")
        .arg(&vectors)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    Command::new("chmod")
        .args(["-R", "u+w"])
        .arg(&copy)
        .status()
        .unwrap();
    let config = tmp.path().join("tresor.toml");
    std::fs::write(
        &config,
        format!(
            "[userdb]\nurl = \"sqlite:{}\"\n[mail]\nhome = \"{}/vmail/%d/%n\"\nuid = {}\ngid = {}\n",
            copy.join("userdb.sqlite").display(),
            copy.display(),
            nix::unistd::geteuid(),
            nix::unistd::getegid()
        ),
    )
    .unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    let mut n = 0;
    for user in manifest["users"].as_array().unwrap() {
        let email = user["email"].as_str().unwrap();
        let password = format!("{}\n", user["password"].as_str().unwrap());
        for mail in user["mails"].as_array().unwrap() {
            let uid = mail["uid"].as_u64().unwrap().to_string();
            let mailbox = mail["mailbox"].as_str().unwrap();
            let out = run(
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "fetch",
                    email,
                    "--password-stdin",
                    "--mailbox",
                    mailbox,
                    "--uid",
                    &uid,
                ],
                password.as_bytes(),
            );
            let bytes = ok(&out);
            let _ = bytes;
            assert_eq!(
                hex::encode(Sha256::digest(&out.stdout)),
                mail["stored_sha256"].as_str().unwrap(),
                "{email} {mailbox} {uid}"
            );
            n += 1;
        }
    }
    assert!(n >= 45);
    // Delivery into a Dovecot-written folder continues its UIDs and seals to its key.
    let uid = ok(&run(
        &[
            "--config",
            config.to_str().unwrap(),
            "deliver",
            "folders@example.com",
            "--mailbox",
            "Lists.Dovecot",
        ],
        b"Subject: after switch\n\nok\n",
    ));
    let listed: Vec<String> = std::fs::read_to_string(
        copy.join("vmail/example.com/folders/Maildir/.Lists.Dovecot/dovecot-uidlist"),
    )
    .unwrap()
    .lines()
    .map(str::to_string)
    .collect();
    let highest_before: u32 = listed[1..listed.len() - 1]
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert_eq!(uid.trim().parse::<u32>().unwrap(), highest_before + 1);
    let back = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "fetch",
            "folders@example.com",
            "--password-stdin",
            "--mailbox",
            "Lists.Dovecot",
            "--uid",
            uid.trim(),
        ],
        b"Folders & keys\n",
    );
    assert_eq!(ok(&back), "Subject: after switch\n\nok\n");
}

/// SIGKILL `tresor deliver` at many points: afterwards every message in new/ opens, the
/// uidlist names only files that exist, and no plaintext is anywhere under the home.
#[test]
fn sigkill_during_delivery_leaves_no_partial_or_plaintext_file() {
    let env = Env::new((5000, 5000));
    ok(&env.run(
        &["user", "add", "k@example.org", "--password-stdin"],
        b"kpw\n",
    ));
    let mut body = b"Subject: big\n\n".to_vec();
    while body.len() < 3_000_000 {
        body.extend_from_slice(b"PLAINTEXT-CANARY line of the message body\n");
    }
    // Time one whole delivery, then kill at points spread over (and a bit past) that time.
    let start = std::time::Instant::now();
    ok(&env.run(&["deliver", "k@example.org"], &body));
    let full = start.elapsed();
    let mut acknowledged = 1;
    for i in 0..30u32 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tresor"))
            .args([
                "--config",
                env.config.to_str().unwrap(),
                "deliver",
                "k@example.org",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = body.clone();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        std::thread::sleep(full.mul_f64(f64::from(i) / 24.0));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        if out.status.success() {
            acknowledged += 1;
        }
    }
    eprintln!("{acknowledged} of 31 deliveries completed before SIGKILL (one takes {full:?})");
    let home = env.home("k", "example.org");
    let mut files = Vec::new();
    walk(&home, &mut files);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        assert!(
            !data.windows(16).any(|w| w == b"PLAINTEXT-CANARY"),
            "plaintext in {}",
            f.display()
        );
    }
    let list = std::fs::read_to_string(home.join("Maildir/dovecot-uidlist")).unwrap();
    let uids: Vec<String> = list
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert!(
        uids.len() >= acknowledged,
        "every acknowledged delivery has a UID"
    );
    for uid in &uids {
        let out = env.run(
            &["fetch", "k@example.org", "--password-stdin", "--uid", uid],
            b"kpw\n",
        );
        assert_eq!(ok(&out).len(), body.len(), "uid {uid}");
    }
    let new: Vec<_> = std::fs::read_dir(home.join("Maildir/new"))
        .unwrap()
        .collect();
    assert_eq!(
        new.len(),
        uids.len(),
        "no file in new/ without a UID, no UID without a file"
    );
}

#[test]
fn missing_or_corrupt_key_files_give_clear_errors_and_change_nothing() {
    let env = Env::new((5000, 5000));
    ok(&env.run(
        &["user", "add", "c@example.org", "--password-stdin"],
        b"cpw\n",
    ));
    ok(&env.run(&["deliver", "c@example.org"], b"Subject: x\n\nbody\n"));
    let maildir = env.home("c", "example.org").join("Maildir");
    let attrs = maildir.join("dovecot-attributes");
    let original = std::fs::read(&attrs).unwrap();

    // A damaged user key string: the error names the key, nothing is rewritten.
    let text = String::from_utf8(original.clone()).unwrap();
    let damaged = text.replace(":2:aes-256-ctr:", ":2:aes-256-ctr:zz");
    std::fs::write(&attrs, &damaged).unwrap();
    let out = env.run(
        &["fetch", "c@example.org", "--password-stdin", "--uid", "1"],
        b"cpw\n",
    );
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&attrs).unwrap(), damaged);

    // No attributes file at all: delivery refuses (temporary failure) and writes nothing,
    // reading says which key is missing.
    std::fs::remove_file(&attrs).unwrap();
    let out = env.run(&["deliver", "c@example.org"], b"Subject: y\n\nmore\n");
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("tresor key generate"));
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 1);
    assert!(!attrs.exists(), "no key was silently made");
    let out = env.run(
        &["fetch", "c@example.org", "--password-stdin", "--uid", "1"],
        b"cpw\n",
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A damaged uidlist: a clear error, and the GUID is not regenerated.
    std::fs::write(&attrs, &original).unwrap();
    let uidlist = maildir.join("dovecot-uidlist");
    std::fs::write(&uidlist, b"3 V1 N1 Gnot-a-guid\n").unwrap();
    let out = env.run(&["deliver", "c@example.org"], b"Subject: z\n\nz\n");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("dovecot-uidlist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&uidlist).unwrap(), b"3 V1 N1 Gnot-a-guid\n");
}
