//! The page on a loopback listener with an in-memory backend: what the `tresor` integration
//! tests cannot reach with the real one — the `Secure` cookie and a trusted proxy's
//! `X-Forwarded-Proto`, backend errors the user cannot cause (key password out of sync, busy,
//! unavailable), backend values escaped, and the body limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use web::{Backend, BackendError, KeyInfo, Options, Status};
use zeroize::Zeroizing;

struct Fake;

impl Backend for Fake {
    fn log_in(&self, address: &str, password: &[u8]) -> Result<String, BackendError> {
        match (address, password) {
            ("out-of-sync@example.org", _) => Err(BackendError::KeysOutOfSync),
            ("down@example.org", _) => Err(BackendError::Unavailable),
            (a, b"right password") => Ok(a.to_lowercase()),
            _ => Err(BackendError::WrongPassword),
        }
    }

    fn status(&self, address: &str) -> Result<Status, BackendError> {
        Ok(Status::new(
            address.to_string(),
            false,
            vec![KeyInfo::new("<img src=x>".into(), "secp521r1".into(), true)],
            2,
        ))
    }

    fn change_password(&self, _: &str, _: &[u8], new: &[u8]) -> Result<(), BackendError> {
        match new {
            b"busy busy busy" => Err(BackendError::Busy),
            _ => Ok(()),
        }
    }

    fn create_recovery_code(&self, _: &str, _: &[u8]) -> Result<Zeroizing<String>, BackendError> {
        Err(BackendError::NotEncrypted)
    }

    fn reset_password(&self, _: &str, _: &[u8], _: &[u8]) -> Result<(), BackendError> {
        Err(BackendError::WrongRecoveryCode)
    }
}

/// Serves the page with `options` on a free loopback port; returns the port.
fn start(options: Options) -> (tokio::runtime::Runtime, u16) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let (_tx, rx) = tokio::sync::watch::channel(false);
    rt.spawn(async move {
        let _keep = _tx;
        web::serve(vec![listener], Arc::new(Fake), options, rx).await
    });
    (rt, port)
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

fn request(port: u16, method: &str, path: &str, headers: &str, body: &str) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let mut body = String::new();
    r.read_to_string(&mut body).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply { status, head, body }
}

fn cookie_line(r: &Reply) -> &str {
    r.head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or("")
}

fn csrf(r: &Reply) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = r.body.find(marker).unwrap() + marker.len();
    r.body[at..].split('"').next().unwrap().to_string()
}

/// The `name=value` of a reply's cookie.
fn cookie_pair(r: &Reply) -> Option<String> {
    let (_, value) = cookie_line(r).split_once(':')?;
    Some(value.trim().split(';').next()?.to_string())
}

/// Logs in as `address` and returns the reply and the session's cookie pair afterwards.
fn log_in(port: u16, address: &str, extra: &str) -> (Reply, String) {
    let page = request(port, "GET", "/login", extra, "");
    let pair = cookie_pair(&page).unwrap();
    let token = csrf(&page);
    let body = format!(
        "csrf={token}&address={}&password=right+password",
        address.replace('@', "%40")
    );
    let r = request(
        port,
        "POST",
        "/login",
        &format!("{extra}Cookie: {pair}\r\nContent-Type: application/x-www-form-urlencoded\r\n"),
        &body,
    );
    let pair = cookie_pair(&r).unwrap_or(pair);
    (r, pair)
}

#[test]
fn secure_cookie_by_default_and_from_a_trusted_https_proxy() {
    let (_rt, port) = start(Options::default());
    let r = request(port, "GET", "/login", "", "");
    let c = cookie_line(&r);
    assert!(c.contains("__Host-tresor="), "{c}");
    assert!(c.contains("; Secure") && c.contains("HttpOnly") && c.contains("SameSite=Strict"));
    let (r, _) = log_in(port, "a@example.org", "");
    assert_eq!(r.status, 303, "{}", r.head);

    let mut o = Options::default();
    o.cookie_secure = false;
    o.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let (_rt2, port) = start(o);
    let plain = request(port, "GET", "/login", "", "");
    assert!(cookie_line(&plain).contains("tresor="));
    assert!(!cookie_line(&plain).contains("Secure"));
    let https = request(port, "GET", "/login", "X-Forwarded-Proto: https\r\n", "");
    assert!(cookie_line(&https).contains("__Host-tresor="));
    assert!(cookie_line(&https).contains("; Secure"));
}

#[test]
fn backend_errors_the_user_cannot_cause_have_their_own_messages() {
    let mut o = Options::default();
    o.cookie_secure = false;
    let (_rt, port) = start(o);
    let (r, _) = log_in(port, "out-of-sync@example.org", "");
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("does not unlock your encrypted mail"),
        "{}",
        r.body
    );
    let (r, _) = log_in(port, "down@example.org", "");
    assert_eq!(r.status, 503);
    assert!(r.body.contains("temporarily unavailable"));

    let (r, pair) = log_in(port, "a@example.org", "");
    assert_eq!(r.status, 303);
    let cookie = format!("Cookie: {pair}\r\n");
    let status = request(port, "GET", "/status", &cookie, "");
    assert!(status.body.contains("&lt;img src=x&gt;"));
    assert!(!status.body.contains("<img"));
    assert!(status.body.contains("2 unused codes"));
    assert!(status.body.contains("off: your mail is stored unencrypted"));
    let token = csrf(&status);
    let form = format!("{cookie}Content-Type: application/x-www-form-urlencoded\r\n");
    let r = request(
        port,
        "POST",
        "/password",
        &form,
        &format!("csrf={token}&old=x&new=busy+busy+busy&confirm=busy+busy+busy"),
    );
    assert_eq!(r.status, 409);
    assert!(r.body.contains("Another change to your account is running"));
    let r = request(
        port,
        "POST",
        "/recovery",
        &form,
        &format!("csrf={token}&password=x"),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Your mail is not encrypted"));
    let r = request(
        port,
        "POST",
        "/recovery/download",
        &form,
        &format!("csrf={token}"),
    );
    assert_eq!(r.status, 410, "nothing to download before a code was made");

    let big = "x".repeat(64 * 1024);
    let r = request(port, "POST", "/password", &form, &big);
    assert_eq!(r.status, 413);
    assert_eq!(request(port, "GET", "/logout", &cookie, "").status, 405);
}
