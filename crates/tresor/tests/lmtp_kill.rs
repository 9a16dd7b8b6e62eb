//! SIGKILL during delivery: four LMTP sessions deliver to an encrypted user while the
//! server is killed at a varying moment, several times over the same store. Afterwards every
//! message that got its 250 opens to exactly what was sent, every mail file opens (no
//! partial file), and no file anywhere in the Maildir holds plaintext.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use store::account::Account;

mod common;

const PW: &str = "kill pw";
const MARK: &str = "PLAINTEXT-CANARY";

use common::free_port;

/// A running `tresor serve` that is killed when dropped, so a failing assertion does not
/// leave the server behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &Path, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_tresor"))
        .arg("--config")
        .arg(config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child)
}

fn reply(r: &mut impl BufRead) -> Option<String> {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return Some(all);
        }
    }
}

/// One session delivering until the connection dies; returns the ids that got a 250.
fn session(port: u16, prefix: String) -> Vec<String> {
    let mut accepted = Vec::new();
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return accepted;
    };
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut step = || -> Option<()> {
        reply(&mut r)?;
        w.write_all(b"LHLO kill.test\r\n").ok()?;
        reply(&mut r)?;
        for n in 0.. {
            let id = format!("{prefix}-{n}");
            let mut msg =
                b"MAIL FROM:<s@example.net>\r\nRCPT TO:<enc@example.org>\r\nDATA\r\n".to_vec();
            w.write_all(&msg).ok()?;
            for _ in 0..3 {
                reply(&mut r)?.starts_with(['2', '3']).then_some(())?;
            }
            msg = format!("Subject: {id}\r\nMessage-ID: <{id}@kill.test>\r\n\r\n{MARK} {id}\r\n")
                .into_bytes();
            msg.extend(std::iter::repeat_n(b'k', 4000));
            msg.extend_from_slice(b"\r\n.\r\n");
            w.write_all(&msg).ok()?;
            if reply(&mut r)?.starts_with("250") {
                accepted.push(id);
            }
        }
        Some(())
    };
    let _ = step();
    accepted
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn sigkill_during_four_session_delivery_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let web = free_port();
    let config = tmp.path().join("tresor.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndata_dir = \"{}\"\n[lmtp]\nlisten = [\"127.0.0.1:{port}\"]\n[auth]\nlisten = []\n[imap]\nlisten = []\n[web]\nlisten = [\"127.0.0.1:{web}\"]\n[mail]\ncurve = \"prime256v1\"\n",
            tmp.path().join("data").display(),
        ),
    )
    .unwrap();
    let out = common::run(
        &[
            "--config",
            config.to_str().unwrap(),
            "user",
            "add",
            "enc@example.org",
            "--password-stdin",
        ],
        format!("{PW}\n").as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let accepted = Arc::new(Mutex::new(Vec::new()));
    for round in 0..4 {
        let mut server = start(&config, port);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let accepted = Arc::clone(&accepted);
                std::thread::spawn(move || {
                    let ids = session(port, format!("r{round}t{t}"));
                    accepted.lock().unwrap().extend(ids);
                })
            })
            .collect();
        // A different moment each round, from the clock's nanoseconds.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(300 + u64::from(nanos % 700)));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        server.0.wait().unwrap();
        for t in threads {
            t.join().unwrap();
        }
    }
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert!(
        accepted.len() >= 8,
        "too few deliveries to mean anything: {}",
        accepted.len()
    );

    // After a restart the store is whole: read it the way the server does.
    let server = start(&config, port);
    let home = tmp.path().join("data/vmail/example.org/enc");
    let account = Account::new(&home, true);
    let user = account
        .keystore()
        .unwrap()
        .load()
        .unwrap()
        .unlock_user(Some(PW.as_bytes()))
        .unwrap();
    let maildir = home.join("Maildir");
    let folder = account.folder("INBOX").unwrap();
    let mut opened = HashSet::new();
    for path in files(&maildir) {
        let data = std::fs::read(&path).unwrap();
        assert!(
            !data.windows(MARK.len()).any(|w| w == MARK.as_bytes()),
            "plaintext on disk: {}",
            path.display()
        );
        let sub = path.parent().unwrap().file_name().unwrap();
        if sub == "new" || sub == "cur" {
            assert!(
                mailcrypt::is_sealed(&data),
                "{} is not sealed",
                path.display()
            );
            let plain = account
                .read_file(&folder, &path, Some(&user))
                .unwrap_or_else(|e| panic!("{} does not open: {e}", path.display()));
            let text = String::from_utf8_lossy(&plain).into_owned();
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap()
                .to_string();
            assert!(text.contains(&format!("{MARK} {id}")));
            opened.insert(id);
        }
    }
    let missing: Vec<_> = accepted.difference(&opened).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // Every acknowledged message also has its UID: the uidlist lists it.
    let uidlist = std::fs::read_to_string(maildir.join("dovecot-uidlist")).unwrap();
    let listed = uidlist.lines().skip(1).count();
    assert!(
        listed >= accepted.len(),
        "{listed} records for {} acknowledged",
        accepted.len()
    );
    // `tresor status` sees the restarted server as healthy, and a stopped one as not.
    let status =
        |config: &Path| common::run(&["--config", config.to_str().unwrap(), "status"], b"");
    let up = status(&config);
    let text = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(up.status.success(), "{text}");
    assert!(
        text.contains("ok      userdb: reachable, 1 users"),
        "{text}"
    );
    assert!(
        text.contains(&format!("ok      LMTP 127.0.0.1:{port}: answering")),
        "{text}"
    );
    drop(server);
    let down = status(&config);
    let text = String::from_utf8_lossy(&down.stdout).into_owned();
    assert!(!down.status.success(), "{text}");
    assert!(
        text.contains(&format!("FAILED  LMTP 127.0.0.1:{port}: cannot connect")),
        "{text}"
    );
}
