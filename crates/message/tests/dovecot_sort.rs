//! SORT order from our keys equals the order Dovecot 2.3.19.1 returned.
//!
//! `tests/fixtures/sort/NN.eml` were put in one folder (sequence number = file order,
//! all with the same INTERNALDATE) and `SORT (…) UTF-8 ALL` captured into `sort.dovecot`
//! by `tests/fixtures/capture.py`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use message::{Message, SortField};

/// INTERNALDATE of every message in the captured folder (the files' mtime).
const INTERNALDATE: i64 = 1_700_000_000;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sort")
}

fn records() -> Vec<(String, String)> {
    let data = std::fs::read(dir().join("sort.dovecot")).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let nl = i + data[i..].iter().position(|b| *b == b'\n').unwrap();
        let head = String::from_utf8_lossy(&data[i..nl]).into_owned();
        let (cmd, n) = head.rsplit_once(' ').unwrap();
        let n: usize = n.parse().unwrap();
        out.push((
            cmd.to_owned(),
            String::from_utf8_lossy(&data[nl + 1..nl + 1 + n]).into_owned(),
        ));
        i = nl + 1 + n + 1;
    }
    out
}

#[test]
fn dovecot_sort_orders_match() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    let raws: Vec<Vec<u8>> = names.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let msgs: Vec<Message<'_>> = raws.iter().map(|r| Message::parse(r)).collect();
    let recs = records();
    // sequence numbers follow the file order
    let fetch = &recs[0].1;
    for (i, _) in msgs.iter().enumerate() {
        assert!(fetch.contains(&format!(
            "* {} FETCH (BODY[HEADER.FIELDS (X-SEQ)] {{13}}\r\nX-Seq: {:02}",
            i + 1,
            i + 1
        )));
    }
    let mut checked = 0;
    for (cmd, reply) in &recs[1..] {
        if let Some(search) = cmd.strip_prefix("SEARCH ") {
            check_search(&msgs, search, reply);
            checked += 1;
            continue;
        }
        let key = cmd
            .strip_prefix("SORT (")
            .unwrap()
            .split(')')
            .next()
            .unwrap();
        let theirs: Vec<usize> = reply
            .lines()
            .next()
            .unwrap()
            .strip_prefix("* SORT ")
            .unwrap()
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        let mut seqs: Vec<usize> = (1..=msgs.len()).collect();
        let (reverse, key) = match key.strip_prefix("REVERSE ") {
            Some(k) => (true, k),
            None => (false, key),
        };
        // REVERSE reverses the key order only: ties stay in ascending sequence order.
        if key == "DATE" {
            let t = |s: usize| {
                msgs[s - 1]
                    .sent_date()
                    .map_or(INTERNALDATE, |d| d.timestamp())
            };
            if reverse {
                seqs.sort_by_key(|s| (std::cmp::Reverse(t(*s)), *s));
            } else {
                seqs.sort_by_key(|s| (t(*s), *s));
            }
        } else {
            let field = match key {
                "SUBJECT" => SortField::Subject,
                "FROM" => SortField::From,
                "TO" => SortField::To,
                "CC" => SortField::Cc,
                "DISPLAYFROM" => SortField::DisplayFrom,
                "DISPLAYTO" => SortField::DisplayTo,
                other => panic!("{other}"),
            };
            assert!(!reverse);
            seqs.sort_by_key(|s| (msgs[s - 1].sort_key(field), *s));
        }
        assert_eq!(seqs, theirs, "{cmd}");
        checked += 1;
    }
    assert_eq!(checked, 8 + 12 + 4);
}

/// SENTON/SENTBEFORE/SENTSINCE (date in the header's own zone; no usable Date is
/// 1970-01-01 for SEARCH, unlike SORT) and FROM with decomposed needles.
fn check_search(msgs: &[Message<'_>], search: &str, reply: &str) {
    let theirs: Vec<usize> = reply
        .lines()
        .next()
        .unwrap()
        .strip_prefix("* SEARCH")
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (key, arg) = search.split_once(' ').unwrap();
    let mine: Vec<usize> = (1..=msgs.len())
        .filter(|s| {
            let m = &msgs[s - 1];
            match key {
                "CHARSET" => m.matches_header("From", arg.strip_prefix("UTF-8 FROM ").unwrap()),
                _ => {
                    let sent = m.sent_date().map_or((1970, 1, 1), |d| d.date());
                    let want = imap_date(arg);
                    match key {
                        "SENTON" => sent == want,
                        "SENTBEFORE" => sent < want,
                        "SENTSINCE" => sent >= want,
                        other => panic!("{other}"),
                    }
                }
            }
        })
        .collect();
    assert_eq!(mine, theirs, "SEARCH {search}");
}

fn imap_date(s: &str) -> (u16, u8, u8) {
    let mut it = s.split('-');
    let d: u8 = it.next().unwrap().parse().unwrap();
    let mon = it.next().unwrap();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|x| *x == mon).unwrap() as u8 + 1;
    (it.next().unwrap().parse().unwrap(), m, d)
}
