//! Scripted IMAP sessions through the sans-IO state machine, on a real Maildir.

mod util;

use std::time::Duration;

use imap::{Options, Peer};
use util::Harness;

#[test]
fn rfc3501_capability_noop_logout() {
    let mut h = Harness::new();
    let r = h.send(b"a CAPABILITY\r\n");
    assert!(r.contains("* CAPABILITY IMAP4rev1"), "{r}");
    assert!(r.contains("AUTH=PLAIN"), "{r}");
    assert!(r.ends_with("a OK Capability completed.\r\n"), "{r}");
    assert!(h.send(b"b NOOP\r\n").contains("b OK"));
    let r = h.send(b"c LOGOUT\r\n");
    assert!(r.starts_with("* BYE"), "{r}");
    assert!(r.contains("c OK"), "{r}");
    assert!(h.closed);
}

#[test]
fn rfc3501_login_wrong_password() {
    let mut h = Harness::new();
    let r = h.send(b"a LOGIN alice wrong\r\n");
    assert_eq!(r, "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    let r = h.send(b"b LOGIN alice secret\r\n");
    assert!(r.starts_with("b OK [CAPABILITY IMAP4rev1"), "{r}");
    assert!(r.contains("CONDSTORE"), "{r}");
}

#[test]
fn rfc3501_plaintext_login_refused_without_tls() {
    let mut h = Harness::with(Options::default(), Peer::new(false, false), false, None);
    let r = h.send(b"a CAPABILITY\r\n");
    assert!(r.contains("LOGINDISABLED"), "{r}");
    let r = h.send(b"b LOGIN alice secret\r\n");
    assert!(r.starts_with("b NO [PRIVACYREQUIRED]"), "{r}");
    let r = h.send(b"c AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(r.starts_with("c NO [PRIVACYREQUIRED]"), "{r}");
}

#[test]
fn rfc3501_starttls_discards_pipelined_input() {
    let mut options = Options::default();
    options.starttls = true;
    let mut h = Harness::with(options, Peer::new(false, false), false, None);
    let r = h.send(b"a CAPABILITY\r\n");
    assert!(r.contains("STARTTLS"), "{r}");
    let r = h.send(b"b STARTTLS\r\nc LOGIN alice secret\r\n");
    assert_eq!(r, "b OK Begin TLS negotiation now.\r\n");
    assert!(h.starttls);
    h.session.tls_started();
    let r = h.send(b"d CAPABILITY\r\n");
    assert!(!r.contains("STARTTLS") && r.contains("AUTH=PLAIN"), "{r}");
    assert!(h.send(b"e LOGIN alice secret\r\n").starts_with("e OK"));
}

#[test]
fn rfc4959_authenticate_plain_sasl_ir_and_login() {
    let mut h = Harness::new();
    // "\0alice\0secret"
    let r = h.send(b"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(r.starts_with("a OK [CAPABILITY"), "{r}");
    let mut h = Harness::new();
    assert_eq!(h.send(b"a AUTHENTICATE LOGIN\r\n"), "+ VXNlcm5hbWU6\r\n");
    assert_eq!(h.send(b"YWxpY2U=\r\n"), "+ UGFzc3dvcmQ6\r\n");
    assert!(h.send(b"c2VjcmV0\r\n").starts_with("a OK"));
    let mut h = Harness::new();
    assert_eq!(h.send(b"a AUTHENTICATE PLAIN\r\n"), "+ \r\n");
    assert!(h.send(b"*\r\n").starts_with("a BAD"));
    assert!(
        h.send(b"b AUTHENTICATE PLAIN AGFsaWNlAHdyb25n\r\n")
            .starts_with("b NO [AUTHENTICATIONFAILED]")
    );
}

#[test]
fn rfc3501_wrong_state_and_malformed_commands() {
    let mut h = Harness::new();
    assert!(h.send(b"a SELECT INBOX\r\n").starts_with("a BAD"));
    assert!(h.send(b"b FOO BAR\r\n").starts_with("b BAD"));
    assert!(h.send(b"garbage\r\n").contains(" BAD "));
    h.login();
    assert!(h.send(b"c FETCH 1 FLAGS\r\n").starts_with("c BAD"));
    assert!(
        h.send(b"d SELECT Nope\r\n")
            .starts_with("d NO [NONEXISTENT]")
    );
    assert!(h.send(b"e SELECT \"../etc\"\r\n").starts_with("e NO"));
    assert!(h.send(b"f CREATE \"../../x\"\r\n").starts_with("f NO"));
    assert!(h.send(b"g CREATE \"a/b\"\r\n").starts_with("g NO"));
    assert!(!h.home().join("x").exists());
    assert!(h.send(b"h LOGIN alice secret\r\n").starts_with("h BAD"));
    // still usable
    assert!(h.send(b"i NOOP\r\n").starts_with("i OK"));
}

#[test]
fn rfc3501_select_fetch_wire_form() {
    let mut h = Harness::new();
    let uid = h.deliver(
        "INBOX",
        b"Subject: hi\nFrom: Bob <bob@example.org>\n\nline1\nline2",
    );
    h.login();
    let r = h.send(b"a SELECT INBOX\r\n");
    assert!(r.contains("* 1 EXISTS\r\n"), "{r}");
    assert!(r.contains("* OK [UIDVALIDITY "), "{r}");
    assert!(r.contains(&format!("* OK [UIDNEXT {}]", uid + 1)), "{r}");
    assert!(r.contains("* OK [UNSEEN 1]"), "{r}");
    assert!(r.contains("a OK [READ-WRITE]"), "{r}");
    let r = h.send(b"b FETCH 1 (UID RFC822.SIZE FLAGS BODY.PEEK[])\r\n");
    let body = "Subject: hi\r\nFrom: Bob <bob@example.org>\r\n\r\nline1\r\nline2";
    assert!(
        r.contains(&format!("BODY[] {{{}}}\r\n{body})", body.len())),
        "{r}"
    );
    assert!(r.contains(&format!("UID {uid}")), "{r}");
    assert!(r.contains("FLAGS (\\Recent)"), "{r}");
    assert!(r.contains("BODY[] {"), "{r}");
    assert!(r.ends_with("b OK Fetch completed.\r\n"), "{r}");
    let r = h.send(b"c FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)] ENVELOPE)\r\n");
    assert!(
        r.contains("BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: hi\r\n\r\n"),
        "{r}"
    );
    assert!(r.contains("FLAGS (\\Seen \\Recent)"), "{r}");
    assert!(
        r.contains("ENVELOPE (NIL \"hi\" ((\"Bob\" NIL \"bob\" \"example.org\"))"),
        "{r}"
    );
    let r = h.send(b"d UID FETCH 1:* (FLAGS) \r\n");
    assert!(r.contains("d "), "{r}");
    let r = h.send(b"e FETCH 1 (BODY.PEEK[TEXT]<2.3>)\r\n");
    assert!(r.contains("BODY[TEXT]<2> {3}\r\nne1"), "{r}");
    assert!(h.send(b"f FETCH 5 FLAGS\r\n").starts_with("f BAD"));
}

#[test]
fn rfc3501_store_search_expunge() {
    let mut h = Harness::new();
    for i in 0..3 {
        h.deliver("INBOX", format!("Subject: m{i}\n\nbody {i}\n").as_bytes());
    }
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    let r = h.send(b"a STORE 2 +FLAGS (\\Deleted \\Flagged)\r\n");
    assert!(
        r.contains("* 2 FETCH (FLAGS (\\Flagged \\Deleted \\Recent))"),
        "{r}"
    );
    let r = h.send(b"b SEARCH DELETED\r\n");
    assert!(r.contains("* SEARCH 2\r\n"), "{r}");
    let r = h.send(b"c SEARCH BODY \"body 2\"\r\n");
    assert!(r.contains("* SEARCH 3\r\n"), "{r}");
    let r = h.send(b"c2 UID SEARCH SUBJECT m0\r\n");
    assert!(r.contains("* SEARCH 1\r\n"), "{r}");
    let r = h.send(b"d STORE 1 FLAGS.SILENT (\\Seen $Label1)\r\n");
    assert!(
        r.starts_with("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)\r\n"),
        "{r}"
    );
    assert!(
        r.ends_with("\\*)] Flags permitted.\r\nd OK Store completed.\r\n"),
        "{r}"
    );
    let r = h.send(b"e FETCH 1 FLAGS\r\n");
    assert!(r.contains("FLAGS (\\Seen \\Recent $Label1)"), "{r}");
    let r = h.send(b"f EXPUNGE\r\n");
    assert!(r.contains("* 2 EXPUNGE\r\n"), "{r}");
    let r = h.send(b"g SEARCH ALL\r\n");
    assert!(r.contains("* SEARCH 1 2\r\n"), "{r}");
    let r = h.send(b"h SEARCH KEYWORD $Label1 NOT SEEN\r\n");
    assert!(r.contains("* SEARCH\r\n"), "{r}");
}

#[test]
fn rfc3501_append_literal_and_toobig() {
    let mut options = Options::default();
    options.max_literal_size = 1000;
    let mut h = Harness::with(options, Peer::new(false, true), false, None);
    h.login();
    let r = h.send(b"a APPEND INBOX (\\Seen) {24}\r\n");
    assert_eq!(r, "+ OK\r\n");
    let r = h.send(b"Subject: x\r\n\r\nappended\r\n\r\n");
    assert!(r.starts_with("a OK [APPENDUID "), "{r}");
    let r = h.send(b"b APPEND INBOX {5000}\r\n");
    assert_eq!(r, "b NO [TOOBIG] Literal too large.\r\n");
    let r = h.send(b"c APPEND INBOX {3+}\r\nabc\r\n");
    assert!(r.starts_with("c OK [APPENDUID"), "{r}");
    let r = h.send(b"d APPEND Nope {3+}\r\nabc\r\n");
    assert!(r.starts_with("d NO [TRYCREATE]"), "{r}");
    let r = h.send(b"e SELECT INBOX\r\n");
    assert!(r.contains("* 2 EXISTS"), "{r}");
    let r = h.send(b"f FETCH 1 (FLAGS BODY.PEEK[TEXT])\r\n");
    assert!(r.contains("FLAGS (\\Seen \\Recent)"), "{r}");
    assert!(r.contains("{10}\r\nappended\r\n"), "{r}");
}

#[test]
fn rfc6851_copy_move_uidplus() {
    let mut h = Harness::new();
    h.deliver("INBOX", b"Subject: a\n\nA\n");
    h.deliver("INBOX", b"Subject: b\n\nB\n");
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    let r = h.send(b"a COPY 1 Trash\r\n");
    assert!(r.starts_with("a OK [COPYUID "), "{r}");
    let r = h.send(b"b COPY 1 Nope\r\n");
    assert!(r.starts_with("b NO [TRYCREATE]"), "{r}");
    let r = h.send(b"c UID MOVE 2 Junk\r\n");
    assert!(r.contains("* OK [COPYUID "), "{r}");
    assert!(r.contains("* 2 EXPUNGE\r\n"), "{r}");
    assert!(r.ends_with("c OK Move completed.\r\n"), "{r}");
    let r = h.send(b"d STATUS Junk (MESSAGES UNSEEN UIDNEXT)\r\n");
    assert!(
        r.contains("* STATUS Junk (MESSAGES 1 UNSEEN 1 UIDNEXT 2)"),
        "{r}"
    );
    let r = h.send(b"e STATUS Trash (MESSAGES)\r\n");
    assert!(r.contains("(MESSAGES 1)"), "{r}");
}

#[test]
fn rfc6154_list_special_use_children_and_subscriptions() {
    let mut h = Harness::new();
    h.login();
    let r = h.send(b"a LIST \"\" \"*\"\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \".\" INBOX\r\n"),
        "{r}"
    );
    assert!(
        r.contains("* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n"),
        "{r}"
    );
    assert!(r.contains("\\Drafts) \".\" Drafts"), "{r}");
    assert!(h.send(b"b CREATE Lists.Rust\r\n").starts_with("b OK"));
    assert!(h.send(b"b2 CREATE Lists\r\n").starts_with("b2 OK"));
    let r = h.send(b"c LIST \"\" %\r\n");
    assert!(r.contains("* LIST (\\HasChildren) \".\" Lists\r\n"), "{r}");
    assert!(!r.contains("Lists.Rust"), "{r}");
    let r = h.send(b"d LIST \"\" \"\"\r\n");
    assert!(r.contains("* LIST (\\Noselect) \".\" \"\""), "{r}");
    assert!(h.send(b"e SUBSCRIBE Lists.Rust\r\n").starts_with("e OK"));
    let r = h.send(b"f LSUB \"\" \"*\"\r\n");
    assert!(r.contains("* LSUB () \".\" Lists.Rust"), "{r}");
    assert!(r.contains("* LSUB () \".\" Sent"), "{r}");
    let r = h.send(b"g LIST (SUBSCRIBED) \"\" \"Lists*\" RETURN (STATUS (MESSAGES))\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren \\Subscribed) \".\" Lists.Rust\r\n"),
        "{r}"
    );
    assert!(r.contains("* STATUS Lists.Rust (MESSAGES 0)"), "{r}");
    assert!(!r.contains("\" Lists\r\n"), "{r}");
    let r = h.send(b"h LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n");
    assert!(r.contains("\\Trash) \".\" Trash"), "{r}");
    assert!(h.send(b"i RENAME Lists Feeds\r\n").starts_with("i OK"));
    let r = h.send(b"j LIST \"\" Feeds*\r\n");
    assert!(r.contains("Feeds.Rust"), "{r}");
    assert!(h.send(b"k DELETE Feeds.Rust\r\n").starts_with("k OK"));
    assert!(h.send(b"l DELETE INBOX\r\n").starts_with("l NO"));
    assert!(
        h.send(b"m CREATE Sent\r\n")
            .starts_with("m NO [ALREADYEXISTS]")
    );
    let r = h.send(b"n CREATE \"Entw&APw-rfe\"\r\n");
    assert!(r.starts_with("n OK"), "{r}");
    let r = h.send(b"o LIST \"\" Entw*\r\n");
    assert!(r.contains(" Entw&APw-rfe\r\n"), "{r}");
}

#[test]
fn rfc2177_idle_reports_new_mail_and_expunges() {
    let mut h = Harness::new();
    h.deliver("INBOX", b"Subject: 1\n\n1\n");
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    assert_eq!(h.send(b"i IDLE\r\n"), "+ idling\r\n");
    assert_eq!(h.advance(Duration::from_secs(3)), "");
    let uid = h.deliver("INBOX", b"Subject: 2\n\n2\n");
    let r = h.advance(Duration::from_secs(3));
    assert_eq!(r, "* 2 EXISTS\r\n* 2 RECENT\r\n");
    h.account().expunge("INBOX", uid).unwrap();
    let r = h.advance(Duration::from_secs(3));
    assert_eq!(r, "* 2 EXPUNGE\r\n");
    assert_eq!(h.send(b"DONE\r\n"), "i OK Idle completed.\r\n");
    // Only the autologout timer is left.
    assert!(
        h.session
            .poll_timeout()
            .is_some_and(|t| t > h.now + Duration::from_secs(29 * 60))
    );
}

#[test]
fn rfc3501_no_expunge_during_fetch() {
    let mut h = Harness::new();
    h.deliver("INBOX", b"Subject: 1\n\n1\n");
    let uid = h.deliver("INBOX", b"Subject: 2\n\n2\n");
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    h.account().expunge("INBOX", uid).unwrap();
    let r = h.send(b"a FETCH 1 FLAGS\r\n");
    assert!(!r.contains("EXPUNGE"), "{r}");
    let r = h.send(b"b NOOP\r\n");
    assert!(r.contains("* 2 EXPUNGE"), "{r}");
}

#[test]
fn rfc7162_condstore() {
    let mut h = Harness::new();
    h.deliver("INBOX", b"Subject: 1\n\n1\n");
    h.deliver("INBOX", b"Subject: 2\n\n2\n");
    h.login();
    assert!(
        h.send(b"a ENABLE CONDSTORE\r\n")
            .contains("* ENABLED CONDSTORE")
    );
    let r = h.send(b"b SELECT INBOX\r\n");
    assert!(r.contains("* OK [HIGHESTMODSEQ 2]"), "{r}");
    let r = h.send(b"c STORE 1 +FLAGS (\\Seen)\r\n");
    assert!(
        r.contains("* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (3))"),
        "{r}"
    );
    let r = h.send(b"d STORE 1,2 (UNCHANGEDSINCE 2) +FLAGS (\\Flagged)\r\n");
    assert!(r.contains("d OK [MODIFIED 1]"), "{r}");
    let r = h.send(b"e FETCH 1:* (FLAGS) (CHANGEDSINCE 3)\r\n");
    assert!(
        r.contains("* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (4))"),
        "{r}"
    );
    assert!(!r.contains("* 1 FETCH"), "{r}");
    let r = h.send(b"f SEARCH MODSEQ 4\r\n");
    assert!(r.contains("* SEARCH 2 (MODSEQ 4)"), "{r}");
    let r = h.send(b"g STATUS INBOX (HIGHESTMODSEQ)\r\n");
    assert!(r.contains("(HIGHESTMODSEQ 4)"), "{r}");
}

#[test]
fn rfc5256_sort() {
    let mut h = Harness::new();
    h.deliver(
        "INBOX",
        b"Subject: b\nFrom: z@x\nDate: Tue, 1 Jul 2003 10:52:37 +0200\n\n1\n",
    );
    h.deliver(
        "INBOX",
        b"Subject: Re: a\nFrom: y@x\nDate: Mon, 1 Jul 2002 10:52:37 +0200\n\n22222\n",
    );
    h.deliver(
        "INBOX",
        b"Subject: c\nFrom: x@x\nDate: Wed, 1 Jul 2004 10:52:37 +0200\n\n333\n",
    );
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    assert!(
        h.send(b"a SORT (SUBJECT) UTF-8 ALL\r\n")
            .contains("* SORT 2 1 3\r\n")
    );
    assert!(
        h.send(b"b SORT (REVERSE DATE) UTF-8 ALL\r\n")
            .contains("* SORT 3 1 2\r\n")
    );
    assert!(
        h.send(b"c SORT (FROM) UTF-8 ALL\r\n")
            .contains("* SORT 3 2 1\r\n")
    );
    assert!(
        h.send(b"d SORT (SIZE) UTF-8 ALL\r\n")
            .contains("* SORT 1 3 2\r\n")
    );
    assert!(
        h.send(b"e UID SORT (ARRIVAL) UTF-8 ALL\r\n")
            .contains("* SORT 1 2 3\r\n")
    );
    assert!(
        h.send(b"f SORT (ARRIVAL) KOI8-R ALL\r\n")
            .starts_with("f NO [BADCHARSET")
    );
}

/// DISPLAYFROM sorts on the display name (RFC 5957), not the local part FROM uses.
#[test]
fn sort_displayfrom_uses_the_display_name() {
    let mut h = Harness::new();
    h.deliver("INBOX", b"Subject: 1\nFrom: Charlie <a@x>\n\n1\n");
    h.deliver("INBOX", b"Subject: 2\nFrom: Alice <c@x>\n\n2\n");
    h.deliver("INBOX", b"Subject: 3\nFrom: Bob <b@x>\n\n3\n");
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    let r = h.send(b"a SORT (FROM) UTF-8 ALL\r\n");
    assert!(r.contains("* SORT 1 3 2\r\n"), "{r}");
    let r = h.send(b"b SORT (DISPLAYFROM) UTF-8 ALL\r\n");
    assert!(r.contains("* SORT 2 3 1\r\n"), "{r}");
}

#[test]
fn rfc2342_namespace_rfc2971_id_rfc2087_quota() {
    let mut h = Harness::new();
    h.login();
    assert!(
        h.send(b"a NAMESPACE\r\n")
            .contains("* NAMESPACE ((\"\" \".\")) NIL NIL")
    );
    assert!(
        h.send(b"b ID NIL\r\n")
            .contains("* ID (\"name\" \"tresor\")")
    );
    let r = h.send(b"c GETQUOTAROOT INBOX\r\n");
    assert!(r.contains("* QUOTAROOT INBOX \"User quota\""), "{r}");
    assert!(r.contains("c OK"), "{r}");
    h.send(b"d EXAMINE INBOX\r\n");
    assert!(h.send(b"e STORE 1 +FLAGS (\\Seen)\r\n").starts_with("e "));
    assert!(h.send(b"f UNSELECT\r\n").starts_with("f OK"));
    assert!(h.send(b"g CLOSE\r\n").starts_with("g BAD"));
}

#[test]
fn encrypted_user_reads_decrypted_mail() {
    let mut h = Harness::with(
        Options::default(),
        Peer::new(false, true),
        true,
        Some("right"),
    );
    h.deliver("INBOX", b"Subject: secret\n\nhello\n");
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    let r = h.send(b"a FETCH 1 BODY.PEEK[]\r\n");
    assert!(
        r.contains("{26}\r\nSubject: secret\r\n\r\nhello\r\n)"),
        "{r}"
    );
    // nothing decrypted on disk
    let raw = std::fs::read_dir(h.home().join("Maildir/new"))
        .unwrap()
        .count()
        + std::fs::read_dir(h.home().join("Maildir/cur"))
            .unwrap()
            .count();
    assert_eq!(raw, 1);
    let r = h.send(b"b SEARCH BODY hello\r\n");
    assert!(r.contains("* SEARCH 1"), "{r}");
    assert!(h.send(b"c LOGOUT\r\n").contains("c OK"));
}

#[test]
fn encrypted_user_with_out_of_sync_key_password_is_refused_clearly() {
    let mut h = Harness::with(
        Options::default(),
        Peer::new(false, true),
        true,
        Some("other"),
    );
    let r = h.send(b"a LOGIN alice right\r\n");
    assert!(r.starts_with("a NO [UNAVAILABLE]"), "{r}");
    assert!(
        h.send(b"b LOGIN alice wrong\r\n")
            .starts_with("b NO [AUTHENTICATIONFAILED]")
    );
}

#[test]
fn rfc4731_esearch() {
    let mut h = Harness::new();
    for i in 0..4 {
        h.deliver("INBOX", format!("Subject: m{i}\n\nbody\n").as_bytes());
    }
    h.login();
    h.send(b"s SELECT INBOX\r\n");
    h.send(b"t STORE 2 +FLAGS (\\Seen)\r\n");
    let r = h.send(b"a SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n");
    assert!(
        r.contains("* ESEARCH (TAG \"a\") MIN 1 MAX 4 COUNT 3\r\n"),
        "{r}"
    );
    let r = h.send(b"b UID SEARCH RETURN () ALL\r\n");
    assert!(r.contains("* ESEARCH (TAG \"b\") UID ALL 1:4\r\n"), "{r}");
    let r = h.send(b"c SEARCH RETURN (COUNT) SUBJECT nothing\r\n");
    assert!(r.contains("* ESEARCH (TAG \"c\") COUNT 0\r\n"), "{r}");
    assert!(
        h.send(b"d SEARCH RETURN (BOGUS) ALL\r\n")
            .starts_with("d BAD")
    );
}

#[test]
fn rfc3501_autologout_after_thirty_minutes_of_silence() {
    let mut h = Harness::new();
    h.login();
    assert_eq!(h.advance(Duration::from_secs(29 * 60)), "");
    assert!(h.send(b"a NOOP\r\n").starts_with("a OK"));
    assert_eq!(h.advance(Duration::from_secs(29 * 60)), "");
    assert!(!h.closed);
    let r = h.advance(Duration::from_secs(2 * 60));
    assert_eq!(r, "* BYE Disconnected for inactivity.\r\n");
    assert!(h.closed);
}
