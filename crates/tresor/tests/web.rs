//! The self-service web page through `tresor serve` with a plain HTTP/1.1 client over
//! loopback: every page and every error (wrong password, mismatched confirmation, bad CSRF
//! token, expired session, rate limit), the security headers, that a password changed on the
//! page is the one IMAP takes and unlocks the mail delivered before, that a recovery code is
//! shown once, downloads once and resets once, and that no secret reaches the log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

const EMAIL: &str = "web@example.org";
const OLD: &str = "old pass phrase";
const NEW: &str = "new pass phrase ü";
const RESET: &str = "reset pass phrase";

use common::free_port;

struct Env {
    _tmp: tempfile::TempDir,
    config: std::path::PathBuf,
    lmtp: u16,
    imap: u16,
    web: u16,
}

impl Env {
    /// A config on free loopback ports with `web_extra` lines in `[web]`, and one encrypted
    /// user with password [`OLD`].
    fn new(web_extra: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (lmtp, imap, web) = (free_port(), free_port(), free_port());
        let config = tmp.path().join("tresor.toml");
        std::fs::write(
            &config,
            format!(
                "[paths]\ndata_dir = \"{}\"\n[lmtp]\nlisten = [\"127.0.0.1:{lmtp}\"]\n[imap]\nlisten = [\"127.0.0.1:{imap}\"]\n[web]\nlisten = [\"127.0.0.1:{web}\"]\ncookie_secure = false\n{web_extra}\n[server]\nhostname = \"mx.test\"\n[mail]\ncurve = \"prime256v1\"\n",
                tmp.path().join("data").display(),
            ),
        )
        .unwrap();
        let env = Self {
            _tmp: tmp,
            config,
            lmtp,
            imap,
            web,
        };
        let add = env.tresor(
            &["user", "add", EMAIL, "--password-stdin"],
            format!("{OLD}\n").as_bytes(),
        );
        assert!(
            add.status.success(),
            "{}",
            String::from_utf8_lossy(&add.stderr)
        );
        env
    }

    fn tresor(&self, args: &[&str], stdin: &[u8]) -> std::process::Output {
        common::tresor(&self.config, args, stdin)
    }

    fn serve(&self) -> Server {
        Server::start(&self.config, self.web)
    }

    fn browser(&self) -> Browser {
        Browser {
            port: self.web,
            cookie: None,
            forwarded_for: None,
        }
    }
}

use common::Server;

/// One HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The CSRF token of the page's first form.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let at = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no form in {}", self.body));
        self.body[at + marker.len()..]
            .split('"')
            .next()
            .unwrap()
            .to_string()
    }

    /// The text of the page's message line.
    fn message(&self) -> String {
        let at = self
            .body
            .find("id=\"message\">")
            .unwrap_or_else(|| panic!("no message in {}", self.body));
        self.body[at + 13..]
            .split("</p>")
            .next()
            .unwrap()
            .to_string()
    }
}

/// A cookie-keeping HTTP/1.1 client (one connection per request).
struct Browser {
    port: u16,
    cookie: Option<String>,
    forwarded_for: Option<String>,
}

impl Browser {
    fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, None, "")
    }

    fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body: String = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            &body,
        )
    }

    fn post_json(
        &mut self,
        path: &str,
        csrf: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let extra = csrf.map(|t| format!("X-CSRF-Token: {t}\r\n"));
        let r = self.request_with(
            "POST",
            path,
            Some("application/json"),
            &body.to_string(),
            extra.as_deref().unwrap_or(""),
        );
        (r.status, serde_json::from_str(&r.body).unwrap())
    }

    fn request(&mut self, method: &str, path: &str, ctype: Option<&str>, body: &str) -> Response {
        self.request_with(method, path, ctype, body, "")
    }

    fn request_with(
        &mut self,
        method: &str,
        path: &str,
        ctype: Option<&str>,
        body: &str,
        extra: &str,
    ) -> Response {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n{extra}",
            self.port,
            body.len()
        );
        if let Some(t) = ctype {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        if let Some(c) = &self.cookie {
            head.push_str(&format!("Cookie: {c}\r\n"));
        }
        if let Some(ip) = &self.forwarded_for {
            head.push_str(&format!("X-Forwarded-For: {ip}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut body = String::new();
        r.read_to_string(&mut body).unwrap();
        let response = Response {
            status,
            headers,
            body,
        };
        for (k, v) in &response.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let pair = v.split(';').next().unwrap().to_string();
                self.cookie = if pair.ends_with('=') {
                    None
                } else {
                    Some(pair)
                };
            }
        }
        response
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn log_in(b: &mut Browser, password: &str) -> Response {
    let page = b.get("/login");
    let csrf = page.csrf();
    b.post(
        "/login",
        &[("csrf", &csrf), ("address", EMAIL), ("password", password)],
    )
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
    w.write_all(b"\r\n.\r\n").unwrap();
    expect(&mut r, "250");
    w.write_all(b"QUIT\r\n").unwrap();
}

/// IMAP LOGIN with `password` (as a literal, so any byte goes), then the first message of
/// INBOX; `None` when the login is refused.
fn imap_read_first(port: u16, password: &str) -> Option<String> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut all = String::new();
    let read_until = |r: &mut BufReader<TcpStream>, tag: &str| -> String {
        let mut out = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "closed: {out}");
            out.push_str(&line);
            if line.starts_with(tag) || line.starts_with("+ ") {
                return out;
            }
        }
    };
    read_until(&mut r, "* OK");
    w.write_all(format!("a LOGIN {EMAIL} {{{}}}\r\n", password.len()).as_bytes())
        .unwrap();
    read_until(&mut r, "+ ");
    w.write_all(password.as_bytes()).unwrap();
    w.write_all(b"\r\n").unwrap();
    let login = read_until(&mut r, "a ");
    if !login.contains("a OK") {
        return None;
    }
    w.write_all(b"b SELECT INBOX\r\nc UID FETCH 1:* (BODY.PEEK[])\r\nd LOGOUT\r\n")
        .unwrap();
    all.push_str(&read_until(&mut r, "c "));
    Some(all)
}

fn assert_security_headers(r: &Response) {
    assert_eq!(
        r.header("content-security-policy"),
        Some(
            "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn pages_change_password_make_and_use_a_recovery_code() {
    let env = Env::new("failure_delay_ms = 10\nmax_failure_delay_ms = 20\nmax_failures = 50");
    let server = env.serve();
    lmtp_deliver(
        env.lmtp,
        EMAIL,
        b"Subject: before the change\r\n\r\nWEB-MARKER-BEFORE",
    );
    let mut b = env.browser();

    // Not logged in: pages send to the login page; the login page sets an anonymous session.
    let r = b.get("/status");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    let cookie = r.header("set-cookie").unwrap().to_string();
    let r = b.get("/login");
    assert_eq!(r.status, 200);
    assert_security_headers(&r);
    assert_eq!(r.header("set-cookie"), None, "the session is kept");
    assert!(cookie.starts_with("tresor="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.contains("Secure"), "cookie_secure = false");
    assert!(r.body.contains("<label for=\"password\">Password</label>"));
    let style = b.get("/style.css");
    assert_eq!(
        style.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    assert_eq!(b.get("/nowhere").status, 404);

    // Login errors: wrong password, bad CSRF token, a value echoed escaped.
    let csrf = r.csrf();
    let r = b.post(
        "/login",
        &[("csrf", &csrf), ("address", EMAIL), ("password", "wrong")],
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.message(), "The mail address or password is wrong.");
    assert_security_headers(&r);
    let r = b.post(
        "/login",
        &[("csrf", "forged"), ("address", EMAIL), ("password", OLD)],
    );
    assert_eq!(r.status, 403);
    assert!(r.message().contains("did not come from this site"), "{r:?}");
    let r = b.post(
        "/login",
        &[
            ("csrf", &csrf),
            ("address", "<script>alert(1)</script>@x"),
            ("password", "x"),
        ],
    );
    assert_eq!(r.status, 401);
    assert!(!r.body.contains("<script>alert"));
    assert!(r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;@x"));
    // Without any cookie the form cannot be checked.
    let mut stranger = env.browser();
    let r = stranger.post(
        "/login",
        &[("csrf", &csrf), ("address", EMAIL), ("password", OLD)],
    );
    assert_eq!(r.status, 403);

    // Log in: a new session id (no fixation), then the status page.
    let before = b.cookie.clone();
    let r = b.post(
        "/login",
        &[("csrf", &csrf), ("address", EMAIL), ("password", OLD)],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/status"));
    assert_ne!(b.cookie, before);
    let status = b.get("/status");
    assert_eq!(status.status, 200);
    assert!(status.body.contains("<dd id=\"encryption\">on"));
    assert!(status.body.contains("<dd id=\"recovery-codes\">none"));
    let keys = env.tresor(&["key", "list", EMAIL], b"");
    let listing = String::from_utf8_lossy(&keys.stdout);
    let key_id = listing
        .split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(status.body.contains(key_id), "{}", status.body);
    assert_eq!(b.get("/").header("location"), Some("/status"));

    // Change password: every error first, nothing changes.
    let csrf = b.get("/password").csrf();
    let change = |b: &mut Browser, csrf: &str, old: &str, new: &str, confirm: &str| {
        b.post(
            "/password",
            &[
                ("csrf", csrf),
                ("old", old),
                ("new", new),
                ("confirm", confirm),
            ],
        )
    };
    let r = change(&mut b, &csrf, OLD, NEW, "something else");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.message(),
        "The new passwords do not match. Nothing was changed."
    );
    let r = change(&mut b, &csrf, OLD, "short", "short");
    assert_eq!(r.status, 400);
    assert!(r.message().contains("at least 8 characters"));
    let r = change(&mut b, &csrf, "not my password", NEW, NEW);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.message(),
        "Your current password is wrong. Nothing was changed."
    );
    let r = change(&mut b, "forged", OLD, NEW, NEW);
    assert_eq!(r.status, 403);
    assert!(imap_read_first(env.imap, OLD).is_some());
    let mut elsewhere = env.browser();
    assert_eq!(log_in(&mut elsewhere, OLD).status, 303);
    let r = change(&mut b, &csrf, OLD, NEW, NEW);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.message().contains("Your password was changed"));
    // The session that made the change lives on; one opened with the old password does not.
    assert_eq!(b.get("/status").status, 200);
    assert_eq!(elsewhere.get("/status").status, 401);
    // IMAP: the old password is refused, the new one reads the mail delivered before.
    assert!(imap_read_first(env.imap, OLD).is_none());
    let mail = imap_read_first(env.imap, NEW).unwrap();
    assert!(mail.contains("WEB-MARKER-BEFORE"), "{mail}");

    // Recovery code: wrong password, then one code, downloadable once.
    let csrf = b.get("/recovery").csrf();
    let r = b.post("/recovery", &[("csrf", &csrf), ("password", OLD)]);
    assert_eq!(r.status, 401);
    assert_eq!(r.message(), "The password is wrong. Nothing was changed.");
    let r = b.post("/recovery", &[("csrf", &csrf), ("password", NEW)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let at = r.body.find("id=\"recovery-code\"").unwrap();
    let code = r.body[at..]
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(code.len(), 35, "{code}");
    let download = b.post("/recovery/download", &[("csrf", &csrf)]);
    assert_eq!(download.status, 200);
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=\"tresor-recovery-code.txt\"")
    );
    assert!(download.body.contains(&code));
    assert_security_headers(&download);
    let again = b.post("/recovery/download", &[("csrf", &csrf)]);
    assert_eq!(again.status, 410);
    assert!(
        b.get("/status")
            .body
            .contains("<dd id=\"recovery-codes\">1 unused code")
    );

    // Log out: the session is gone.
    let r = b.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(r.status, 303);
    assert_eq!(b.cookie, None);
    assert_eq!(b.get("/status").status, 303);

    // Reset with the code: mismatch, wrong code, unknown address, then the right one, once.
    let csrf = b.get("/reset").csrf();
    let reset = |b: &mut Browser, address: &str, code: &str, new: &str, confirm: &str| {
        b.post(
            "/reset",
            &[
                ("csrf", &csrf),
                ("address", address),
                ("code", code),
                ("new", new),
                ("confirm", confirm),
            ],
        )
    };
    let r = reset(&mut b, EMAIL, &code, RESET, "other");
    assert_eq!(r.status, 400);
    let wrong_code = "00000-00000-00000-00000-00000-00000";
    let r = reset(&mut b, EMAIL, wrong_code, RESET, RESET);
    assert_eq!(r.status, 401);
    assert!(r.message().contains("recovery code is wrong"));
    let r = reset(&mut b, "nobody@example.org", &code, RESET, RESET);
    assert_eq!(r.status, 401);
    assert!(r.message().contains("recovery code is wrong"));
    let r = reset(&mut b, EMAIL, &code.to_lowercase(), RESET, RESET);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.message().contains("Your new password is set"));
    let r = reset(&mut b, EMAIL, &code, "yet another one", "yet another one");
    assert_eq!(r.status, 401, "a code works once");
    assert_eq!(log_in(&mut b, NEW).status, 401);
    assert_eq!(log_in(&mut b, RESET).status, 303);
    let mail = imap_read_first(env.imap, RESET).unwrap();
    assert!(mail.contains("WEB-MARKER-BEFORE"), "{mail}");

    let log = server.stop();
    for secret in [OLD, NEW, RESET, code.as_str()] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
    assert!(log.contains("web: password changed"), "{log}");
}

#[test]
fn idle_sessions_expire() {
    let env = Env::new("session_idle = 1");
    let _server = env.serve();
    let mut b = env.browser();
    assert_eq!(log_in(&mut b, OLD).status, 303);
    let csrf = b.get("/password").csrf();
    std::thread::sleep(Duration::from_millis(2500));
    let r = b.get("/status");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.message(),
        "Your session has expired. Please log in again."
    );
    assert_eq!(log_in(&mut b, OLD).status, 303);
    std::thread::sleep(Duration::from_millis(2500));
    let r = b.post(
        "/password",
        &[
            ("csrf", &csrf),
            ("old", OLD),
            ("new", NEW),
            ("confirm", NEW),
        ],
    );
    assert_eq!(r.status, 401);
    assert!(r.message().contains("expired"), "{}", r.body);
    // Nothing changed.
    assert_eq!(log_in(&mut b, OLD).status, 303);
}

#[test]
fn failures_are_delayed_more_each_time_then_refused_per_address_and_client() {
    let env = Env::new(
        "failure_delay_ms = 300\nmax_failure_delay_ms = 5000\nmax_failures = 3\ntrusted_proxies = [\"127.0.0.1\"]",
    );
    let _server = env.serve();
    let mut b = env.browser();
    b.forwarded_for = Some("203.0.113.1".into());
    let mut delays = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        assert_eq!(log_in(&mut b, "wrong").status, 401);
        delays.push(start.elapsed());
    }
    // 300 ms, 600 ms, 1200 ms (plus the password check).
    assert!(delays[0] >= Duration::from_millis(300), "{delays:?}");
    assert!(delays[1] >= Duration::from_millis(600), "{delays:?}");
    assert!(delays[2] >= Duration::from_millis(1200), "{delays:?}");
    assert!(delays[2] > delays[0], "{delays:?}");
    // Over the limit: even the right password is refused, with Retry-After.
    let r = log_in(&mut b, OLD);
    assert_eq!(r.status, 429);
    assert!(
        r.message().starts_with("Too many failed attempts."),
        "{r:?}"
    );
    assert!(r.header("retry-after").is_some());
    // The same address from another client is refused too (per address) …
    let mut other = env.browser();
    other.forwarded_for = Some("203.0.113.2".into());
    assert_eq!(log_in(&mut other, OLD).status, 429);
    // … and the first client cannot try other addresses or recovery codes (per client).
    let csrf = b.get("/reset").csrf();
    let r = b.post(
        "/reset",
        &[
            ("csrf", &csrf),
            ("address", "other@example.org"),
            ("code", "00000-00000-00000-00000-00000-00000"),
            ("new", RESET),
            ("confirm", RESET),
        ],
    );
    assert_eq!(r.status, 429);
    // Without a trusted proxy's word the client is the TCP peer, a separate key: recovery
    // attempts for another address count there and get their own limit.
    let mut direct = env.browser();
    let csrf = direct.get("/reset").csrf();
    for expect in [401, 401, 401, 429] {
        let r = direct.post(
            "/reset",
            &[
                ("csrf", &csrf),
                ("address", "other@example.org"),
                ("code", "00000-00000-00000-00000-00000-00000"),
                ("new", RESET),
                ("confirm", RESET),
            ],
        );
        assert_eq!(r.status, expect, "{}", r.body);
    }
}

#[test]
fn json_api_does_what_the_pages_do() {
    let env = Env::new("failure_delay_ms = 10");
    let _server = env.serve();
    let mut b = env.browser();
    let (status, _) = b.post_json(
        "/api/login",
        None,
        &serde_json::json!({"address": EMAIL, "password": "wrong"}),
    );
    assert_eq!(status, 401);
    let r = b.request("POST", "/api/login", Some("text/plain"), "{}");
    assert_eq!(r.status, 415);
    let (status, login) = b.post_json(
        "/api/login",
        None,
        &serde_json::json!({"address": EMAIL, "password": OLD}),
    );
    assert_eq!(status, 200, "{login}");
    let csrf = login["csrf"].as_str().unwrap().to_string();
    let r = b.get("/api/status");
    let s: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(s["encrypted"], true);
    assert_eq!(s["keys"].as_array().unwrap().len(), 1);
    let (status, _) = b.post_json(
        "/api/password",
        None,
        &serde_json::json!({"old": OLD, "new": NEW}),
    );
    assert_eq!(status, 403, "no CSRF header");
    let (status, r) = b.post_json(
        "/api/password",
        Some(&csrf),
        &serde_json::json!({"old": OLD, "new": NEW}),
    );
    assert_eq!(status, 200, "{r}");
    let (status, r) = b.post_json(
        "/api/recovery",
        Some(&csrf),
        &serde_json::json!({"password": NEW}),
    );
    assert_eq!(status, 200, "{r}");
    let code = r["code"].as_str().unwrap().to_string();
    let (status, r) = b.post_json(
        "/api/reset",
        None,
        &serde_json::json!({"address": EMAIL, "code": code, "new": RESET}),
    );
    assert_eq!(status, 200, "{r}");
    assert!(imap_read_first(env.imap, RESET).is_some());
}

#[test]
fn listen_settings_turn_the_page_off_or_must_bind() {
    let tmp = tempfile::tempdir().unwrap();
    let (lmtp, imap) = (free_port(), free_port());
    let write = |web: &str| {
        let config = tmp.path().join("tresor.toml");
        std::fs::write(
            &config,
            format!(
                "[paths]\ndata_dir = \"{}\"\n[lmtp]\nlisten = [\"127.0.0.1:{lmtp}\"]\n[imap]\nlisten = [\"127.0.0.1:{imap}\"]\n[web]\n{web}\n",
                tmp.path().join("data").display(),
            ),
        )
        .unwrap();
        config
    };
    // `listen = []`: no page.
    let config = write("listen = []");
    let server = Server::start(&config, lmtp);
    let log = server.stop();
    assert!(!log.contains("web page listening"), "{log}");
    // An address the admin set that cannot be bound stops the start, with the key named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = write(&format!("listen = [\"127.0.0.1:{port}\"]"));
    let out = Command::new(env!("CARGO_BIN_EXE_tresor"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[web] listen: cannot listen on"), "{err}");
    // A bad proxy address is a config error.
    let config = write("trusted_proxies = [\"proxy.example.org\"]");
    let out = Command::new(env!("CARGO_BIN_EXE_tresor"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[web] trusted_proxies"));
}
