//! `tresor serve` as a process: LMTP delivery over loopback into the store, one reply per
//! recipient, and a prompt, clean exit on SIGTERM.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::free_port;

use common::tresor;

fn reply(r: &mut impl BufRead) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

#[test]
fn lmtp_delivery_and_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    // A socket directory only root may write to, as Postfix's private/ is to the mail user:
    // serve binds it before it drops privileges.
    std::fs::create_dir(tmp.path().join("private")).unwrap();
    std::fs::set_permissions(
        tmp.path().join("private"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let config = tmp.path().join("tresor.toml");
    std::fs::write(
        &config,
        format!(
            "[paths]\ndata_dir = \"{}\"\n[lmtp]\nlisten = [\"127.0.0.1:{port}\", \"{}\"]\n[auth]\nlisten = [\"{}\"]\n[server]\nhostname = \"mx.test\"\n[imap]\nlisten = []\n[mail]\ncurve = \"prime256v1\"\n",
            tmp.path().join("data").display(),
            tmp.path().join("private/lmtp").display(),
            tmp.path().join("auth").display()
        ),
    )
    .unwrap();
    assert!(
        tresor(
            &config,
            &["user", "add", "enc@example.org", "--password-stdin"],
            b"enc pw\n"
        )
        .status
        .success()
    );
    assert!(
        tresor(
            &config,
            &[
                "user",
                "add",
                "small@example.org",
                "--password-stdin",
                "--no-crypt",
                "--quota",
                "100"
            ],
            b"pw\n"
        )
        .status
        .success()
    );

    let mut server = Command::new(env!("CARGO_BIN_EXE_tresor"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("server did not start: {e}"),
        }
    };
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    assert!(reply(&mut r).starts_with("220 mx.test"));
    // Pipelined: LHLO, MAIL, three RCPTs, DATA in one write.
    w.write_all(b"LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<enc@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<small@example.org>\r\nDATA\r\n").unwrap();
    let lhlo = reply(&mut r);
    assert!(
        lhlo.contains("250-PIPELINING") && lhlo.contains("ENHANCEDSTATUSCODES"),
        "{lhlo}"
    );
    assert!(reply(&mut r).starts_with("250"), "MAIL");
    assert!(reply(&mut r).starts_with("250"), "enc accepted");
    assert!(
        reply(&mut r).starts_with("550 5.1.1"),
        "unknown user at RCPT"
    );
    assert!(reply(&mut r).starts_with("250"), "small accepted");
    assert!(reply(&mut r).starts_with("354"));
    let mut body = b"Subject: over lmtp\r\n\r\nSECRET-MARKER\r\n".to_vec();
    body.extend(std::iter::repeat_n(b'y', 200));
    body.extend_from_slice(b"\r\n.\r\n");
    w.write_all(&body).unwrap();
    let first = reply(&mut r);
    let second = reply(&mut r);
    assert!(first.starts_with("250 2.0.0 <enc@example.org>"), "{first}");
    assert!(
        second.starts_with("552 5.2.2 <small@example.org>"),
        "{second}"
    );
    w.write_all(b"QUIT\r\n").unwrap();
    assert!(reply(&mut r).starts_with("221"));

    // The message is sealed on disk and opens with the password, trace headers first.
    let out = tresor(
        &config,
        &["fetch", "enc@example.org", "--password-stdin", "--uid", "1"],
        b"enc pw\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Return-Path: <s@example.net>\nDelivered-To: enc@example.org\nReceived: from client.test ([127.0.0.1])\n\tby mx.test with LMTP\n"), "{text}");
    assert!(text.contains("Subject: over lmtp\n\nSECRET-MARKER\n"));
    let new = tmp.path().join("data/vmail/example.org/enc/Maildir/new");
    for e in std::fs::read_dir(new).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        assert!(data.starts_with(b"CRYPTED\x03\x07\x02"));
    }

    // The same server answers on its unix socket.
    let unix = std::os::unix::net::UnixStream::connect(tmp.path().join("private/lmtp")).unwrap();
    unix.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut ur = BufReader::new(unix.try_clone().unwrap());
    assert!(reply(&mut ur).starts_with("220 mx.test"));
    (&unix).write_all(b"QUIT\r\n").unwrap();
    assert!(reply(&mut ur).starts_with("221"));

    // SMTP AUTH through the Dovecot-protocol socket, as Postfix asks it.
    use base64::Engine as _;
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let auth = std::os::unix::net::UnixStream::connect(tmp.path().join("auth")).unwrap();
    auth.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut ar = BufReader::new(auth.try_clone().unwrap());
    let mut aw = auth;
    aw.write_all(b"VERSION\t1\t0\nCPID\t4242\n").unwrap();
    let mut handshake = String::new();
    while !handshake.ends_with("DONE\n") {
        ar.read_line(&mut handshake).unwrap();
    }
    assert!(
        handshake.starts_with("VERSION\t1\t2\nMECH\tPLAIN"),
        "{handshake}"
    );
    let good = b64(b"\0enc@example.org\0enc pw");
    let bad = b64(b"\0enc@example.org\0wrong");
    aw.write_all(format!("AUTH\t1\tPLAIN\tservice=smtp\tresp={good}\n").as_bytes())
        .unwrap();
    let mut line = String::new();
    ar.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\t1\tuser=enc@example.org\n");
    aw.write_all(format!("AUTH\t2\tPLAIN\tservice=smtp\tresp={bad}\n").as_bytes())
        .unwrap();
    line.clear();
    ar.read_line(&mut line).unwrap();
    assert!(line.starts_with("FAIL\t2\t"), "{line}");

    // SIGTERM: exits cleanly and promptly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = server.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("stopped"), "{log}");
    assert!(
        !log.contains("SECRET-MARKER") && !log.contains("enc pw"),
        "logs carry no content or passwords"
    );
}
