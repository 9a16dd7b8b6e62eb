//! `tresor status`: is the server healthy? Checks what the admin would check by hand — the
//! userdb answers, the data directory is there, and every configured listener takes a
//! connection and greets as its protocol says (LMTP `220`, IMAP `* OK`, auth `VERSION`,
//! the web page `200` for its login page).
//! One line per check; exit status 0 only when every check passed (for monitoring).

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::context::Ctx;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Runs every check, prints one line each, and fails when one did.
pub(crate) fn run(ctx: &mut Ctx) -> anyhow::Result<()> {
    let mut failed = 0usize;
    let mut report = |name: String, result: Result<String, String>| match result {
        Ok(detail) => println!("ok      {name}: {detail}"),
        Err(why) => {
            failed += 1;
            println!("FAILED  {name}: {why}");
        }
    };
    let users = ctx.list_users().map_err(|e| format!("{e:#}"));
    report(
        "userdb".into(),
        users.map(|u| format!("reachable, {} users", u.len())),
    );
    let data_dir = ctx.config.paths.data_dir.clone();
    report(
        "data directory".into(),
        if data_dir.is_dir() {
            Ok(data_dir.display().to_string())
        } else {
            Err(format!("{} does not exist", data_dir.display()))
        },
    );
    let config = &ctx.config;
    let mut probes: Vec<(String, String, Proto)> = Vec::new();
    for a in &config.lmtp.listen {
        probes.push(("LMTP".into(), a.clone(), Proto::Lmtp));
    }
    for a in &config.imap.listen {
        probes.push(("IMAP".into(), a.clone(), Proto::Imap));
    }
    for a in &config.auth.listen {
        probes.push(("auth".into(), a.clone(), Proto::Auth));
    }
    // An unset [web] listen means the loopback default, which the server skips when the port
    // is taken: only explicitly configured web listeners are required to answer.
    for a in config.web.listen.iter().flatten() {
        probes.push(("web".into(), a.clone(), Proto::Web));
    }
    for (name, addr, proto) in probes {
        report(format!("{name} {addr}"), probe(&addr, proto));
    }
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed; is `tresor serve` running with this config?");
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proto {
    Lmtp,
    Imap,
    Auth,
    Web,
}

fn probe(addr: &str, proto: Proto) -> Result<String, String> {
    if addr.starts_with('/') {
        let s = UnixStream::connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
        let _ = s.set_read_timeout(Some(TIMEOUT));
        let _ = s.set_write_timeout(Some(TIMEOUT));
        greet(s, proto)
    } else {
        let sock = addr
            .parse::<std::net::SocketAddr>()
            .map_err(|_| "not a socket address".to_string())?;
        let s = TcpStream::connect_timeout(&sock, TIMEOUT)
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = s.set_read_timeout(Some(TIMEOUT));
        let _ = s.set_write_timeout(Some(TIMEOUT));
        greet(s, proto)
    }
}

fn greet<S: Read + Write>(s: S, proto: Proto) -> Result<String, String> {
    let mut r = BufReader::new(s);
    let mut line = String::new();
    if proto == Proto::Web {
        r.get_mut()
            .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .map_err(|e| e.to_string())?;
    }
    if proto == Proto::Auth {
        // The server speaks first in Dovecot's auth protocol: VERSION, MECH…, SPID, CUID, DONE.
        r.get_mut()
            .write_all(b"VERSION\t1\t2\nCPID\t1\n")
            .map_err(|e| e.to_string())?;
    }
    r.read_line(&mut line)
        .map_err(|e| format!("no greeting: {e}"))?;
    let line = line.trim_end().to_string();
    let ok = match proto {
        Proto::Lmtp => line.starts_with("220 "),
        Proto::Imap => line.starts_with("* OK"),
        Proto::Auth => line.starts_with("VERSION\t1\t"),
        Proto::Web => line.starts_with("HTTP/1.1 200"),
    };
    let bye: &[u8] = match proto {
        Proto::Lmtp => b"QUIT\r\n",
        Proto::Imap => b"s LOGOUT\r\n",
        Proto::Auth | Proto::Web => b"",
    };
    let _ = r.get_mut().write_all(bye);
    if ok {
        Ok("answering".into())
    } else {
        Err(format!(
            "unexpected greeting {:?}",
            line.chars().take(60).collect::<String>()
        ))
    }
}
