//! The listener over real sockets on this machine: a unix socket in a temporary directory and
//! TCP on loopback. The client side is blocking code on a blocking thread.

// Helpers outside `#[test]` functions are not covered by clippy.toml's allow-*-in-tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sasl::AuthFailure;
use sasl::listen::{Authenticator, ListenOptions, Listener, UnixSocket};
use tokio::sync::watch;
use util::postfix::{PostfixClient, Reply, SocketTransport};
use util::{b64, plain};

struct Users;

impl Authenticator for Users {
    async fn authenticate(&self, username: &str, password: &[u8]) -> Result<String, AuthFailure> {
        match (username.to_ascii_lowercase().as_str(), password) {
            ("alice@example.org", b"correct horse") => Ok("alice@example.org".into()),
            ("broken@example.org", _) => Err(AuthFailure::Unavailable),
            _ => Err(AuthFailure::Rejected),
        }
    }
}

async fn start(
    path: &Path,
) -> (
    watch::Sender<bool>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let mut options = ListenOptions::default();
    options.unix = Some(UnixSocket::new(path));
    let listener = Listener::bind(options).await.unwrap();
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(listener.serve(Arc::new(Users), shutdown));
    (stop, server)
}

fn socket_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_serves_postfix_and_shuts_down() {
    let (_dir, path) = socket_path();
    // A socket left behind by a server that died is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let (stop, server) = start(&path).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);

    let client_path = path.clone();
    let replies = tokio::task::spawn_blocking(move || {
        let stream = UnixStream::connect(client_path).unwrap();
        let mut client = PostfixClient::connect(SocketTransport::new(stream), 4242).unwrap();
        assert_eq!(client.mechanisms, ["PLAIN", "LOGIN"]);
        let (lip, rip) = ("192.0.2.25", "198.51.100.7");
        let good = plain("", "alice@example.org", "correct horse");
        vec![
            client.first("PLAIN", Some(&good), lip, rip, true),
            client.first("LOGIN", None, lip, rip, true),
            client.next(&b64(b"Alice@Example.org")),
            client.next(&b64(b"correct horse")),
            client.first(
                "PLAIN",
                Some(&plain("", "broken@example.org", "x")),
                lip,
                rip,
                true,
            ),
        ]
    })
    .await
    .unwrap();
    assert_eq!(
        replies,
        [
            Reply::Done("alice@example.org".into()),
            Reply::More(b64(b"Username:")),
            Reply::More(b64(b"Password:")),
            Reply::Done("alice@example.org".into()),
            Reply::Fail(String::new()),
        ]
    );

    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
    assert!(!path.exists(), "the socket is removed at shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_failure_does_not_hold_up_other_replies() {
    let (_dir, path) = socket_path();
    let (stop, server) = start(&path).await;
    let client_path = path.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = UnixStream::connect(client_path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        let mut next_line = |reader: &mut BufReader<UnixStream>| {
            line.clear();
            reader.read_line(&mut line).unwrap();
            line.clone()
        };
        stream.write_all(b"VERSION\t1\t2\nCPID\t77\n").unwrap();
        while next_line(&mut reader) != "DONE\n" {}

        let bad = plain("", "mallory@example.org", "guess");
        let good = plain("", "alice@example.org", "correct horse");
        let auth = |id: u32, rip: &str, resp: &str| {
            format!("AUTH\t{id}\tPLAIN\tservice=smtp\trip={rip}\tresp={resp}\n")
        };
        // The first failure is answered at once.
        stream
            .write_all(auth(1, "203.0.113.9", &bad).as_bytes())
            .unwrap();
        assert_eq!(
            next_line(&mut reader),
            "FAIL\t1\tuser=mallory@example.org\n"
        );
        // The second waits 1 s; a login from elsewhere meanwhile is answered first.
        let sent = Instant::now();
        stream
            .write_all(auth(2, "203.0.113.9", &bad).as_bytes())
            .unwrap();
        stream
            .write_all(auth(3, "192.0.2.77", &good).as_bytes())
            .unwrap();
        assert_eq!(next_line(&mut reader), "OK\t3\tuser=alice@example.org\n");
        assert!(sent.elapsed() < Duration::from_secs(1));
        assert_eq!(
            next_line(&mut reader),
            "FAIL\t2\tuser=mallory@example.org\n"
        );
        assert!(sent.elapsed() >= Duration::from_secs(1));
        // A protocol error closes the connection.
        stream.write_all(b"NONSENSE\n").unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    })
    .await
    .unwrap();
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn bind_refuses_a_live_socket_or_other_file() {
    let (_dir, path) = socket_path();
    let (stop, server) = start(&path).await;
    let mut options = ListenOptions::default();
    options.unix = Some(UnixSocket::new(&path));
    let err = Listener::bind(options.clone()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();

    std::fs::write(&path, b"not a socket").unwrap();
    let err = Listener::bind(options).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}

#[tokio::test]
async fn tcp_only_on_loopback() {
    let mut options = ListenOptions::default();
    options.tcp = Some("0.0.0.0:0".parse().unwrap());
    let err = Listener::bind(options).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

    let mut options = ListenOptions::default();
    options.tcp = Some("127.0.0.1:0".parse().unwrap());
    let listener = Listener::bind(options).await.unwrap();
    let addr = listener.tcp_addr().unwrap();
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(listener.serve(Arc::new(Users), shutdown));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut handshake = Vec::new();
    while !handshake.ends_with(b"DONE\n") {
        let mut buf = [0u8; 256];
        let n = tokio::io::AsyncReadExt::read(&mut stream, &mut buf)
            .await
            .unwrap();
        assert!(n > 0);
        handshake.extend_from_slice(&buf[..n]);
    }
    assert!(handshake.starts_with(b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\n"));
    // Shutdown closes open connections too.
    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut buf)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
