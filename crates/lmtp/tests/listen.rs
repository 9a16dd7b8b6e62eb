//! The tokio shell over real sockets: one TCP loopback session through `serve_connection`,
//! and `listen` on a unix socket with stale-socket removal, mode, idle timeout and graceful
//! shutdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lmtp::{
    DeliveryOutcome, Envelope, Handler, ListenAddr, ListenOptions, PeerInfo, RcptVerdict,
    Recipient, SessionConfig, listen, serve_connection,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;
use tokio::time::timeout;

/// An in-memory mail store: `nobody@…` does not exist, `full@…` is over quota.
#[derive(Default)]
struct Store {
    mail: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Handler for Store {
    async fn check_recipient(&self, address: &str) -> RcptVerdict {
        if address.starts_with("nobody@") {
            RcptVerdict::UnknownUser
        } else {
            RcptVerdict::Accepted
        }
    }

    async fn deliver(
        &self,
        _envelope: &Envelope,
        recipient: &Recipient,
        message: Vec<u8>,
    ) -> DeliveryOutcome {
        if recipient.address.starts_with("full@") {
            return DeliveryOutcome::OverQuota;
        }
        tokio::task::yield_now().await;
        let mut mail = self.mail.lock().unwrap();
        mail.push((recipient.address.clone(), message));
        DeliveryOutcome::Delivered {
            detail: String::new(),
        }
    }
}

/// Reads one (possibly multi-line) reply.
async fn reply<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        let n = timeout(Duration::from_secs(10), r.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed after {all:?}");
        all.push_str(&line);
        if line.as_bytes().get(3) == Some(&b' ') {
            return all;
        }
    }
}

async fn at_eof<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> bool {
    let mut line = String::new();
    timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .unwrap()
        .unwrap()
        == 0
}

fn session_config() -> SessionConfig {
    let mut c = SessionConfig::new("mx.test");
    c.max_message_size = 10_000;
    c
}

#[tokio::test]
async fn tcp_loopback_session() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(Store::default());
    let server = {
        let store = store.clone();
        tokio::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            serve_connection(stream, PeerInfo::tcp(peer), session_config(), &*store).await
        })
    };

    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    assert_eq!(reply(&mut read).await, "220 mx.test LMTP ready\r\n");
    write.write_all(b"LHLO client.test\r\n").await.unwrap();
    assert!(reply(&mut read).await.ends_with("250 CHUNKING\r\n"));
    // Pipelined, as Postfix sends it.
    write
        .write_all(
            b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<nobody@example.org>\r\n\
              RCPT TO:<full@example.org>\r\nDATA\r\n",
        )
        .await
        .unwrap();
    assert_eq!(reply(&mut read).await, "250 2.1.0 OK\r\n");
    assert_eq!(reply(&mut read).await, "250 2.1.5 OK\r\n");
    assert_eq!(
        reply(&mut read).await,
        "550 5.1.1 <nobody@example.org> User doesn't exist\r\n"
    );
    assert_eq!(reply(&mut read).await, "250 2.1.5 OK\r\n");
    assert!(reply(&mut read).await.starts_with("354 "));
    write
        .write_all(b"Subject: t\r\n\r\n..hi\r\n.\r\n")
        .await
        .unwrap();
    assert_eq!(
        reply(&mut read).await,
        "250 2.0.0 <a@example.org> Saved\r\n"
    );
    assert_eq!(
        reply(&mut read).await,
        "552 5.2.2 <full@example.org> Mailbox is full (quota exceeded)\r\n"
    );
    write.write_all(b"QUIT\r\n").await.unwrap();
    assert_eq!(reply(&mut read).await, "221 2.0.0 Bye\r\n");
    assert!(at_eof(&mut read).await);
    server.await.unwrap().unwrap();

    let mail = store.mail.lock().unwrap();
    assert_eq!(mail.len(), 1);
    let (rcpt, message) = &mail[0];
    assert_eq!(rcpt, "a@example.org");
    let text = String::from_utf8(message.clone()).unwrap();
    assert!(text.starts_with(
        "Return-Path: <s@example.net>\r\nDelivered-To: a@example.org\r\n\
         Received: from client.test ([127.0.0.1])\r\n\tby mx.test with LMTP\r\n\tid "
    ));
    assert!(text.contains("\r\n\t(envelope-from <s@example.net>)\r\n\tfor <a@example.org>; "));
    assert!(
        text.ends_with(" +0000\r\nSubject: t\r\n\r\n.hi\r\n"),
        "{text:?}"
    );
}

async fn connect_unix(
    path: &Path,
) -> (
    BufReader<tokio::net::unix::OwnedReadHalf>,
    tokio::net::unix::OwnedWriteHalf,
) {
    let stream = UnixStream::connect(path).await.unwrap();
    let (read, write) = stream.into_split();
    (BufReader::new(read), write)
}

#[tokio::test]
async fn unix_socket_listen_idle_timeout_and_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lmtp");
    // A stale socket from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(
        std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket()
    );

    let mut config = session_config();
    config.idle_timeout = Duration::from_millis(300);
    let store = Arc::new(Store::default());
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(listen(
        vec![ListenAddr::Unix(path.clone())],
        ListenOptions::new(config),
        store.clone(),
        shutdown,
    ));
    // Wait for the new socket to accept.
    let mut tries = 0;
    while UnixStream::connect(&path).await.is_err() {
        tries += 1;
        assert!(tries < 200, "listener did not come up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);

    // An idle client is told so and disconnected.
    let (mut idle, _idle_write) = connect_unix(&path).await;
    assert_eq!(reply(&mut idle).await, "220 mx.test LMTP ready\r\n");
    assert_eq!(
        reply(&mut idle).await,
        "421 4.4.2 mx.test Idle timeout, closing connection\r\n"
    );
    assert!(at_eof(&mut idle).await);

    // A client in the middle of a transaction when shutdown starts may finish it.
    let (mut read, mut write) = connect_unix(&path).await;
    assert!(reply(&mut read).await.starts_with("220 "));
    write
        .write_all(b"LHLO client\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\n")
        .await
        .unwrap();
    assert!(reply(&mut read).await.starts_with("250-mx.test"));
    assert_eq!(reply(&mut read).await, "250 2.1.0 OK\r\n");
    assert_eq!(reply(&mut read).await, "250 2.1.5 OK\r\n");

    stop.send(true).unwrap();
    // The listener stops accepting and removes its socket.
    let mut tries = 0;
    while path.exists() {
        tries += 1;
        assert!(tries < 200, "socket not removed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(UnixStream::connect(&path).await.is_err());
    assert!(!server.is_finished());

    write.write_all(b"DATA\r\n").await.unwrap();
    assert!(reply(&mut read).await.starts_with("354 "));
    write
        .write_all(b"Subject: last\r\n\r\n.\r\n")
        .await
        .unwrap();
    assert_eq!(
        reply(&mut read).await,
        "250 2.0.0 <a@example.org> Saved\r\n"
    );
    assert_eq!(
        reply(&mut read).await,
        "421 4.3.2 mx.test Service shutting down\r\n"
    );
    assert!(at_eof(&mut read).await);

    timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let mail = store.mail.lock().unwrap();
    assert_eq!(mail.len(), 1);
    assert!(String::from_utf8_lossy(&mail[0].1).contains("Received: from client\r\n\tby mx.test"));
}

#[tokio::test]
async fn unix_socket_mode_and_refusal_to_replace_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, b"keep me").unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let store = Arc::new(Store::default());
    let err = listen(
        vec![ListenAddr::Unix(file.clone())],
        ListenOptions::new(session_config()),
        store.clone(),
        shutdown.clone(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

    let path = dir.path().join("open");
    let (stop, shutdown) = watch::channel(false);
    let mut options = ListenOptions::new(session_config());
    options.unix_socket_mode = 0o666;
    let server = tokio::spawn(listen(
        vec![ListenAddr::Unix(path.clone())],
        options,
        store,
        shutdown,
    ));
    let mut tries = 0;
    while UnixStream::connect(&path).await.is_err() {
        tries += 1;
        assert!(tries < 200, "listener did not come up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666);
    drop(stop); // a dropped sender also shuts down
    timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(!path.exists());
}
