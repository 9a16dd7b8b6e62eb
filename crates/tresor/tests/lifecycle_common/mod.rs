//! Helpers for the key lifecycle tests: a throw-away tresor installation (config, SQLite
//! userdb, homes under one directory) that can be copied, a mailbox snapshot (UIDs and flags
//! of every message) and the "old or new password works, every message opens" check.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub(crate) const EMAIL: &str = "alice@example.org";
pub(crate) const OLD: &str = "old password";
pub(crate) const NEW: &str = "new password";

/// A tresor installation under a temporary directory.
pub(crate) struct Env {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) config: PathBuf,
}

impl Env {
    /// Embedded defaults under a fresh directory; mail owned by the vmail uid when root.
    pub(crate) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = Self {
            config: root.join("tresor.toml"),
            root,
            tmp,
        };
        env.write_config();
        env
    }

    fn write_config(&self) {
        let (uid, gid) = if nix::unistd::geteuid().is_root() {
            (5000, 5000)
        } else {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        };
        std::fs::write(
            &self.config,
            format!(
                "[paths]\ndata_dir = \"{}\"\n[mail]\nuid = {uid}\ngid = {gid}\ncurve = \"prime256v1\"\n",
                self.root.join("data").display()
            ),
        )
        .unwrap();
    }

    /// A copy of this installation (userdb, homes, keys) in a new directory.
    pub(crate) fn copy(&self) -> Self {
        let new = Self::new();
        let status = Command::new("cp")
            .arg("-a")
            .arg(self.root.join("data"))
            .arg(&new.root)
            .status()
            .unwrap();
        assert!(status.success());
        new
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tresor"));
        c.arg("--config").arg(&self.config).args(args);
        c.env_remove("TRESOR_FAULT_AT");
        c
    }

    pub(crate) fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.run_env(args, stdin, &[])
    }

    pub(crate) fn run_env(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        let mut c = self.command(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// Starts a command without waiting (for SIGKILL tests).
    pub(crate) fn spawn(&self, args: &[&str], stdin: &str) -> Child {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.root.join("data/vmail/example.org/alice")
    }

    pub(crate) fn maildir(&self) -> PathBuf {
        self.home().join("Maildir")
    }

    /// Adds alice (encrypted unless `plain`) with `OLD` and the test messages: three in INBOX
    /// (one moved to cur/ with flags, as a client would), two in Archive. Returns the messages.
    pub(crate) fn alice(&self, plain: bool, extra: usize) -> Vec<(String, u32, Vec<u8>)> {
        let mut args = vec!["user", "add", EMAIL, "--password-stdin"];
        if plain {
            args.push("--no-crypt");
        }
        ok(&self.run(&args, &format!("{OLD}\n")));
        ok(&self.run(&["mailbox", "create", EMAIL, "Archive"], ""));
        let mut sent = Vec::new();
        for i in 0..3 + extra {
            let (mailbox, body) = if i % 3 == 2 {
                (
                    "Archive",
                    format!("Subject: archived {i}\n\nSECRET-BODY {i}\n"),
                )
            } else {
                ("INBOX", format!("Subject: m{i}\n\nSECRET-BODY {i}\n"))
            };
            let out = ok(&self.run(&["deliver", EMAIL, "--mailbox", mailbox], &body));
            sent.push((
                mailbox.to_string(),
                out.trim().parse().unwrap(),
                body.into_bytes(),
            ));
        }
        // A client read and flagged the first message: new/NAME → cur/NAME:2,FS.
        let new = self.maildir().join("new");
        let first = std::fs::read_dir(&new).unwrap().next().unwrap().unwrap();
        let name = first.file_name().into_string().unwrap();
        std::fs::rename(
            first.path(),
            self.maildir().join("cur").join(format!("{name}:2,FS")),
        )
        .unwrap();
        sent
    }

    /// (mailbox dir, uid → file name with flags) for every folder.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, BTreeMap<u32, String>> {
        let mut out = BTreeMap::new();
        for dir in [self.maildir(), self.maildir().join(".Archive")] {
            let uidlist = std::fs::read_to_string(dir.join("dovecot-uidlist")).unwrap();
            let mut uids = BTreeMap::new();
            for line in uidlist.lines().skip(1) {
                let uid: u32 = line.split(' ').next().unwrap().parse().unwrap();
                let base = line.rsplit(':').next().unwrap().to_string();
                let mut found = Vec::new();
                for sub in ["cur", "new"] {
                    for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                        let n = e.unwrap().file_name().into_string().unwrap();
                        if n.split(':').next() == Some(base.as_str()) {
                            found.push(format!("{sub}/{n}"));
                        }
                    }
                }
                assert_eq!(found.len(), 1, "uid {uid} ({base}) has files {found:?}");
                uids.insert(uid, found.pop().unwrap());
            }
            out.insert(
                dir.file_name().unwrap().to_string_lossy().into_owned(),
                uids,
            );
        }
        out
    }

    /// True when `password` logs in, unlocks the keys and opens every message.
    pub(crate) fn works(&self, password: &str) -> bool {
        self.run(
            &["mailbox", "verify", EMAIL, "--password-stdin"],
            &format!("{password}\n"),
        )
        .status
        .success()
    }

    /// Every message's content, fetched with `password`, equals what was sent.
    pub(crate) fn assert_contents(&self, password: &str, sent: &[(String, u32, Vec<u8>)]) {
        for (mailbox, uid, body) in sent {
            let out = self.run(
                &[
                    "fetch",
                    EMAIL,
                    "--password-stdin",
                    "--mailbox",
                    mailbox,
                    "--uid",
                    &uid.to_string(),
                ],
                &format!("{password}\n"),
            );
            assert_eq!(&ok_bytes(&out), body, "{mailbox} uid {uid}");
        }
    }

    /// Removes dotlocks a killed process left (what the 60 s / 120 s stale timeout does).
    pub(crate) fn break_stale_locks(&self) {
        for dir in [self.maildir(), self.maildir().join(".Archive")] {
            for name in ["dovecot-attributes.lock", "dovecot-uidlist.lock"] {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    }

    /// Every file under the home (not the userdb).
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.home(), &mut out);
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// True when some file under the home holds `needle` in clear.
pub(crate) fn holds(files: &[PathBuf], needle: &[u8]) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|d| d.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .cloned()
        .collect()
}

pub(crate) fn ok(out: &Output) -> String {
    String::from_utf8(ok_bytes(out)).unwrap()
}

pub(crate) fn ok_bytes(out: &Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.clone()
}

/// Exit code, or 128 + signal for a killed process.
pub(crate) fn code(out: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    out.status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0))
}
