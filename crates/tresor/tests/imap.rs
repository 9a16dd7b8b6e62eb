//! `tresor serve` over IMAP: LMTP delivery to an encrypted user, then IMAP login and
//! BODY.PEEK[] over loopback; bad input keeps the connection usable; the Dovecot-written
//! vector mailboxes are served with the bytes Dovecot sent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sha2::Digest as _;

mod common;

use common::free_port;

use common::tresor;

use common::Server;

/// A minimal IMAP client: sends a tagged command, reads until the tagged reply, literals
/// included.
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    n: u32,
}

impl Client {
    fn connect(port: u16) -> (Self, String) {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Self {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            n: 0,
        };
        let mut greeting = String::new();
        c.r.read_line(&mut greeting).unwrap();
        (c, greeting)
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// Reads lines (and literals) until one starts with `tag `.
    fn read_until(&mut self, tag: &str) -> Vec<u8> {
        let mut all = Vec::new();
        loop {
            let mut line = Vec::new();
            self.r.read_until(b'\n', &mut line).unwrap();
            assert!(
                !line.is_empty(),
                "connection closed; got {}",
                String::from_utf8_lossy(&all)
            );
            all.extend_from_slice(&line);
            if let Some(n) = literal_len(&line) {
                let mut data = vec![0; n];
                self.r.read_exact(&mut data).unwrap();
                all.extend_from_slice(&data);
                continue;
            }
            if line.starts_with(format!("{tag} ").as_bytes()) {
                return all;
            }
        }
    }

    fn cmd(&mut self, command: &str) -> String {
        String::from_utf8_lossy(&self.cmd_bytes(command)).into_owned()
    }

    fn cmd_bytes(&mut self, command: &str) -> Vec<u8> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.raw(format!("{tag} {command}\r\n").as_bytes());
        self.read_until(&tag)
    }

    /// The literal of `BODY[] {n}` in a FETCH reply.
    fn fetch_body(&mut self, command: &str) -> Vec<u8> {
        let reply = self.cmd_bytes(command);
        let marker = b"BODY[] {";
        let at = reply
            .windows(marker.len())
            .position(|w| w == marker)
            .unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(&reply)));
        let rest = &reply[at + marker.len()..];
        let close = rest.iter().position(|&b| b == b'}').unwrap();
        let n: usize = std::str::from_utf8(&rest[..close])
            .unwrap()
            .parse()
            .unwrap();
        rest[close + 3..close + 3 + n].to_vec()
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

fn lmtp_deliver(port: u16, rcpt: &str, body: &[u8]) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut line = String::new();
    let mut expect = |r: &mut BufReader<TcpStream>, code: &str| loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with(code), "{line}");
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    expect(&mut r, "220");
    w.write_all(b"LHLO t\r\n").unwrap();
    expect(&mut r, "250");
    w.write_all(format!("MAIL FROM:<s@example.net>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n").as_bytes())
        .unwrap();
    expect(&mut r, "250");
    expect(&mut r, "250");
    expect(&mut r, "354");
    w.write_all(body).unwrap();
    if !body.ends_with(b"\r\n") {
        w.write_all(b"\r\n").unwrap();
    }
    w.write_all(b".\r\n").unwrap();
    expect(&mut r, "250");
    w.write_all(b"QUIT\r\n").unwrap();
}

#[test]
fn imap_login_fetch_and_bad_input_over_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let (lmtp, imap) = (free_port(), free_port());
    let config = tmp.path().join("tresor.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndata_dir = \"{}\"\n[lmtp]\nlisten = [\"127.0.0.1:{lmtp}\"]\n[imap]\nlisten = [\"127.0.0.1:{imap}\"]\nmax_literal_size = 100000\n[server]\nhostname = \"mx.test\"\n[mail]\ncurve = \"prime256v1\"\n",
            tmp.path().join("data").display(),
        ),
    )
    .unwrap();
    let add = tresor(
        &config,
        &["user", "add", "enc@example.org", "--password-stdin"],
        b"enc pw\n",
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let server = Server::start(&config, imap);
    lmtp_deliver(
        lmtp,
        "enc@example.org",
        b"Subject: over lmtp\r\n\r\nSECRET-MARKER\r\nlast line",
    );

    let (mut c, greeting) = Client::connect(imap);
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{greeting}"
    );
    // Wrong state, malformed, wrong password: tagged BAD/NO, connection usable.
    assert!(c.cmd("SELECT INBOX").contains(" BAD "));
    assert!(c.cmd("FROBNICATE").contains(" BAD "));
    assert!(
        c.cmd("LOGIN enc@example.org wrong")
            .contains("NO [AUTHENTICATIONFAILED]")
    );
    let r = c.cmd("LOGIN enc@example.org \"enc pw\"");
    assert!(r.contains(" OK [CAPABILITY"), "{r}");
    let r = c.cmd("LIST \"\" *");
    assert!(r.contains("\\Sent) \".\" Sent"), "{r}");
    let r = c.cmd("SELECT INBOX");
    assert!(r.contains("* 1 EXISTS"), "{r}");
    let body = c.fetch_body("UID FETCH 1 (BODY.PEEK[])");
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.starts_with("Return-Path: <s@example.net>\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Subject: over lmtp\r\n\r\nSECRET-MARKER\r\nlast line\r\n"),
        "{text}"
    );
    assert!(c.cmd("SELECT Nope").contains("NO [NONEXISTENT]"));
    assert!(c.cmd("CREATE \"../../escape\"").contains(" NO "));
    assert!(!tmp.path().join("data/vmail/escape").exists());
    assert!(c.cmd("SELECT INBOX").contains(" OK "));
    // A huge literal is refused and the connection stays usable.
    c.n += 1;
    c.raw(format!("t{} APPEND INBOX {{200000}}\r\n", c.n).as_bytes());
    let r = String::from_utf8_lossy(&c.read_until(&format!("t{}", c.n))).into_owned();
    assert!(r.contains("NO [TOOBIG]"), "{r}");
    // A normal APPEND is sealed.
    c.n += 1;
    let msg = "Subject: appended\r\n\r\nAPPENDED\r\n";
    c.raw(format!("t{} APPEND INBOX {{{}+}}\r\n{msg}\r\n", c.n, msg.len()).as_bytes());
    let r = String::from_utf8_lossy(&c.read_until(&format!("t{}", c.n))).into_owned();
    assert!(r.contains("OK [APPENDUID"), "{r}");
    assert!(r.contains("* 2 EXISTS"), "{r}");
    let body = c.fetch_body("FETCH 2 (BODY.PEEK[])");
    assert_eq!(body, msg.as_bytes());
    for dir in ["new", "cur"] {
        let d = tmp
            .path()
            .join("data/vmail/example.org/enc/Maildir")
            .join(dir);
        for e in std::fs::read_dir(d).unwrap() {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            assert!(data.starts_with(b"CRYPTED"), "plaintext on disk");
        }
    }
    assert!(c.cmd("LOGOUT").contains(" OK "));
    // The key password goes out of sync with the login password: a clear refusal and a log
    // line for the admin, never an empty mailbox.
    let out = tresor(
        &config,
        &["key", "password", "enc@example.org"],
        b"enc pw\nother pw\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut c, _) = Client::connect(imap);
    let r = c.cmd("LOGIN enc@example.org \"enc pw\"");
    assert!(r.contains(" NO [UNAVAILABLE]"), "{r}");
    assert!(
        c.cmd("LOGIN enc@example.org wrong")
            .contains("NO [AUTHENTICATIONFAILED]")
    );
    let log = server.stop();
    assert!(log.contains("tresor key password"), "{log}");
    assert!(
        !log.contains("SECRET-MARKER") && !log.contains("enc pw"),
        "{log}"
    );
}

#[test]
fn imap_serves_dovecot_vectors_byte_for_byte() {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::vectors().join("manifest.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("v");
    copy_dir(&common::vectors(), &root);
    if nix::unistd::geteuid().is_root() {
        // As on a real server: the mail files belong to the mail user tresor runs as.
        let status = Command::new("chown")
            .args(["-R", "5000:5000"])
            .arg(&root)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let (lmtp, imap) = (free_port(), free_port());
    let config = tmp.path().join("tresor.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndata_dir = \"{}\"\n[userdb]\nurl = \"sqlite:{}\"\n[mail]\nhome = \"{}/vmail/%d/%n\"\n[lmtp]\nlisten = [\"127.0.0.1:{lmtp}\"]\n[imap]\nlisten = [\"127.0.0.1:{imap}\"]\nautocreate = {{}}\n",
            tmp.path().join("data").display(),
            root.join("userdb.sqlite").display(),
            root.display(),
        ),
    )
    .unwrap();
    let server = Server::start(&config, imap);
    let mut checked = 0;
    for user in m["users"].as_array().unwrap() {
        let (mut c, _) = Client::connect(imap);
        let email = user["email"].as_str().unwrap();
        let pw = user["password"]
            .as_str()
            .unwrap()
            .replace('\\', "\\\\")
            .replace('"', "\\\"");
        let r = c.cmd(&format!("LOGIN \"{email}\" \"{pw}\""));
        assert!(r.contains(" OK "), "{email}: {r}");
        let mut selected = String::new();
        for mail in user["mails"].as_array().unwrap() {
            let mailbox = mail["mailbox_imap"].as_str().unwrap();
            if mailbox != selected {
                let r = c.cmd(&format!("SELECT \"{mailbox}\""));
                assert!(r.contains(" OK "), "{email} {mailbox}: {r}");
                selected = mailbox.to_string();
            }
            let uid = mail["uid"].as_u64().unwrap();
            let body = c.fetch_body(&format!("UID FETCH {uid} (BODY.PEEK[])"));
            let sha = hex::encode(sha2::Sha256::digest(&body));
            assert_eq!(
                sha,
                mail["imap_sha256"].as_str().unwrap(),
                "{email} {mailbox} uid {uid}: {:?}",
                String::from_utf8_lossy(&body)
            );
            let r = c.cmd(&format!("UID FETCH {uid} (RFC822.SIZE)"));
            assert!(
                r.contains(&format!("RFC822.SIZE {}", mail["imap_size"])),
                "{email} {mailbox} uid {uid}: {r}"
            );
            checked += 1;
        }
        c.cmd("LOGOUT");
    }
    assert!(checked >= 45, "only {checked} mails checked");
    server.stop();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn imap_tls_imaps_and_starttls_with_python_imaplib() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (lmtp, imap, imaps) = (free_port(), free_port(), free_port());
    let config = tmp.path().join("tresor.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndata_dir = \"{}\"\n[lmtp]\nlisten = [\"127.0.0.1:{lmtp}\"]\n[imap]\nlisten = [\"127.0.0.1:{imap}\"]\nimaps_listen = [\"127.0.0.1:{imaps}\"]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n[mail]\ncurve = \"prime256v1\"\n",
            tmp.path().join("data").display(),
            cert.display(),
            key.display(),
        ),
    )
    .unwrap();
    let add = tresor(
        &config,
        &["user", "add", "tls@example.org", "--password-stdin"],
        b"tls pw\n",
    );
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let server = Server::start(&config, imap);
    lmtp_deliver(lmtp, "tls@example.org", b"Subject: tls\r\n\r\nover TLS\r\n");
    let script = format!(
        r#"
import imaplib, ssl
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", {imaps}, ssl_context=ctx)
m.login("tls@example.org", "tls pw")
m.select("INBOX")
typ, data = m.fetch("1", "(BODY.PEEK[])")
print("IMAPS", data[0][1].hex())
m.logout()
s = imaplib.IMAP4("127.0.0.1", {imap})
assert "STARTTLS" in s.capabilities, s.capabilities
s.starttls(ssl_context=ctx)
assert "STARTTLS" not in s.capabilities, s.capabilities
s.login("tls@example.org", "tls pw")
s.select("INBOX")
typ, data = s.fetch("1", "(BODY.PEEK[])")
print("STARTTLS", data[0][1].hex())
s.logout()
"#
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = std::str::from_utf8(b"Subject: tls\r\n\r\nover TLS\r\n").unwrap();
    for line in stdout.lines() {
        let (_, hex_body) = line.split_once(' ').unwrap();
        let bytes = hex::decode(hex_body).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with(body), "{line}: {text}");
    }
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    server.stop();
}
