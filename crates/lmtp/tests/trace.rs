//! `trace_headers` against what Dovecot 2.3.19's LMTP really prepended
//! (`lmtp_added_headers` in `shared/vectors/dovecot-2.3.19/manifest.json`), byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use lmtp::{Timestamp, trace_headers, transaction_id};
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/dovecot-2.3.19")
}

/// The session's transaction id as Dovecot wrote it (`id …` line); random per session.
fn id_in(headers: &str) -> &str {
    let start = headers.find("\r\n\tid ").unwrap() + "\r\n\tid ".len();
    let len = headers[start..].find("\r\n").unwrap();
    &headers[start..start + len]
}

#[test]
fn dovecot_2_3_19_lmtp_added_headers_byte_for_byte() {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(vectors().join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for user in manifest["users"].as_array().unwrap() {
        let email = user["email"].as_str().unwrap();
        for mail in user["mails"].as_array().unwrap() {
            let expected = mail["lmtp_added_headers"].as_str().unwrap();
            if expected.is_empty() {
                continue; // stored with IMAP APPEND, not LMTP
            }
            // The Maildir file name starts with the delivery time, the Received date's source.
            let path = mail["path"].as_str().unwrap();
            let name = path.rsplit('/').next().unwrap();
            let unix: i64 = name.split('.').next().unwrap().parse().unwrap();
            let id = id_in(expected);
            let got = trace_headers(
                "sender@example.net",
                email,
                "vector-maker",
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                "vm",
                id,
                Timestamp::from_unix(unix),
            );
            assert_eq!(String::from_utf8(got).unwrap(), expected, "{path}");
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "only {checked} LMTP deliveries in the manifest"
    );
}

#[test]
fn transaction_ids_follow_dovecot() {
    // Mails 0 and 1 of the first user came in one LMTP session.
    assert_eq!(
        transaction_id("qL5WODOEC2t5UgAAg+zDdQ", 1),
        "qL5WODOEC2t5UgAAg+zDdQ"
    );
    assert_eq!(
        transaction_id("qL5WODOEC2t5UgAAg+zDdQ", 2),
        "qL5WODOEC2t5UgAAg+zDdQ:T2"
    );
}

#[test]
fn header_values_cannot_add_lines() {
    let got = trace_headers(
        "a@example.net",
        "u@example.org",
        "evil\r\nX-Injected: 1",
        Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        "vm",
        "id\r\n",
        Timestamp::from_unix(0),
    );
    let text = String::from_utf8(got).unwrap();
    assert!(!text.contains("\r\nX-Injected"));
    assert!(text.contains("Received: from evilX-Injected: 1 ([::1])\r\n"));
    assert_eq!(text.matches("\r\n").count(), 7);
}

#[test]
fn ipv4_mapped_peer_is_shown_as_ipv4() {
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
    let got = trace_headers(
        "",
        "u@d",
        "mx",
        Some(mapped),
        "vm",
        "i",
        Timestamp::from_unix(0),
    );
    assert!(
        String::from_utf8(got)
            .unwrap()
            .contains("from mx ([192.0.2.1])\r\n")
    );
}
