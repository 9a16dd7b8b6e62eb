//! LMTP session transcripts: client bytes in, exact server bytes and events out. No sockets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod util;

use lmtp::{ApiMisuse, DeliveryOutcome, Event, RcptVerdict, Session, SessionConfig};
use proptest::prelude::*;
use util::{GREETING, Harness, LHLO_REPLY, config, greeted};

const START_DATA: &str = "354 Start mail input; end with <CRLF>.<CRLF>\r\n";
const MESSAGE: &str = "From: a@example.net\r\nSubject: hi\r\n\r\nbody\r\n";

fn saved(addr: &str) -> String {
    format!("250 2.0.0 <{addr}> Saved\r\n")
}

#[test]
fn rfc2033_happy_path() {
    let mut h = Harness::new();
    assert_eq!(h.take_output(), GREETING);
    assert_eq!(h.exchange("LHLO postfix.example.org\r\n"), LHLO_REPLY);
    assert_eq!(
        h.exchange("MAIL FROM:<sender@example.net> SIZE=42 BODY=8BITMIME\r\n"),
        "250 2.1.0 OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<u@example.org>\r\n"),
        "250 2.1.5 OK\r\n"
    );
    assert_eq!(h.exchange("DATA\r\n"), START_DATA);
    assert_eq!(
        h.exchange(&format!("{MESSAGE}.\r\n")),
        saved("u@example.org")
    );
    assert_eq!(h.exchange("QUIT\r\n"), "221 2.0.0 Bye\r\n");
    assert!(h.closed);
    assert!(h.session.is_closed());

    assert_eq!(h.checked, ["u@example.org"]);
    let (envelope, message) = &h.delivered[0];
    assert_eq!(envelope.mail_from, "sender@example.net");
    assert_eq!(envelope.lhlo, "postfix.example.org");
    assert_eq!(envelope.transaction, 1);
    assert_eq!(envelope.recipients.len(), 1);
    assert_eq!(envelope.recipients[0].address, "u@example.org");
    assert_eq!(message, MESSAGE.as_bytes());
}

#[test]
fn rfc2920_pipelined_commands_in_one_chunk() {
    let mut h = greeted();
    let out = h.exchange(
        "MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
    );
    assert_eq!(
        out,
        format!("250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n{START_DATA}")
    );
    // The message, the final dot and the next transaction in one chunk too.
    let out = h.exchange(&format!(
        "{MESSAGE}.\r\nMAIL FROM:<>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
    ));
    assert_eq!(
        out,
        format!(
            "{}{}250 2.1.0 OK\r\n250 2.1.5 OK\r\n{START_DATA}",
            saved("a@example.org"),
            saved("b@example.org")
        )
    );
    assert_eq!(
        h.exchange(".\r\nQUIT\r\n"),
        format!("{}221 2.0.0 Bye\r\n", saved("c@example.org"))
    );
    assert_eq!(h.delivered.len(), 2);
    assert_eq!(h.delivered[1].0.mail_from, "");
    assert_eq!(h.delivered[1].0.transaction, 2);
    assert_eq!(h.delivered[1].1, b"");
}

#[test]
fn rfc2920_pipelined_replies_come_as_one_write() {
    let mut s = Session::new(config());
    assert!(matches!(s.next(), Some(Event::Output(_))));
    s.enqueue_input(b"LHLO x\r\nMAIL FROM:<s@example.net>\r\nNOOP\r\nRSET\r\n");
    let Some(Event::Output(out)) = s.next() else {
        panic!("expected output")
    };
    assert!(out.ends_with(b"250 2.1.0 OK\r\n250 2.0.0 OK\r\n250 2.0.0 OK\r\n"));
    assert!(s.next().is_none());
}

#[test]
fn byte_at_a_time_gives_the_same_transcript() {
    let script = format!(
        "LHLO postfix\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n\
         {MESSAGE}..dot\r\n.\r\nBDAT 5\r\nhelloBDAT 0 LAST\r\nQUIT\r\n"
    );
    let mut whole = Harness::new();
    whole.send(script.as_bytes());
    let mut bytewise = Harness::new();
    bytewise.send_bytewise(script.as_bytes());
    assert_eq!(whole.take_output(), bytewise.take_output());
    assert_eq!(whole.delivered, bytewise.delivered);
    assert_eq!(
        bytewise.delivered[0].1,
        format!("{MESSAGE}.dot\r\n").as_bytes()
    );
    assert!(bytewise.closed);
}

#[test]
fn rfc2033_rcpt_partial_failure_one_reply_per_recipient_in_order() {
    let mut h = greeted()
        .outcome("full@example.org", DeliveryOutcome::OverQuota)
        .outcome(
            "busy@example.org",
            DeliveryOutcome::TempFail("disk busy".into()),
        );
    h.send(
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<ok@example.org>\r\nRCPT TO:<full@example.org>\r\n\
          RCPT TO:<busy@example.org>\r\nDATA\r\n",
    );
    h.take_output();
    assert_eq!(
        h.exchange(&format!("{MESSAGE}.\r\n")),
        "250 2.0.0 <ok@example.org> Saved\r\n\
         552 5.2.2 <full@example.org> Mailbox is full (quota exceeded)\r\n\
         451 4.3.0 <busy@example.org> Temporary failure: disk busy\r\n"
    );
}

#[test]
fn delivered_detail_and_permanent_failure() {
    let mut h = greeted()
        .outcome(
            "a@example.org",
            DeliveryOutcome::Delivered {
                detail: "qL5WODOEC2t5UgAAg+zDdQ".into(),
            },
        )
        .outcome("b@example.org", DeliveryOutcome::PermFail("no key".into()));
    h.send(
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
    );
    h.take_output();
    assert_eq!(
        h.exchange(".\r\n"),
        "250 2.0.0 <a@example.org> qL5WODOEC2t5UgAAg+zDdQ Saved\r\n\
         550 5.3.0 <b@example.org> Permanent failure: no key\r\n"
    );
}

#[test]
fn quota_full_tempfail_option() {
    let mut c = config();
    c.quota_full_tempfail = true;
    let mut h = Harness::with_config(c).outcome("full@example.org", DeliveryOutcome::OverQuota);
    h.send(b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<full@example.org>\r\nDATA\r\n");
    h.take_output();
    assert_eq!(
        h.exchange(".\r\n"),
        "452 4.2.2 <full@example.org> Mailbox is full (quota exceeded)\r\n"
    );
}

#[test]
fn rfc2033_unknown_user_at_rcpt_then_data_for_the_others() {
    let mut h = greeted()
        .verdict("nobody@example.org", RcptVerdict::UnknownUser)
        .verdict(
            "later@example.org",
            RcptVerdict::TempFail("userdb down".into()),
        );
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net>\r\n"),
        "250 2.1.0 OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<a@example.org>\r\n"),
        "250 2.1.5 OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<nobody@example.org>\r\n"),
        "550 5.1.1 <nobody@example.org> User doesn't exist\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<later@example.org>\r\n"),
        "451 4.3.0 <later@example.org> Temporary failure: userdb down\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<b@example.org>\r\n"),
        "250 2.1.5 OK\r\n"
    );
    assert_eq!(h.exchange("DATA\r\n"), START_DATA);
    assert_eq!(
        h.exchange(".\r\n"),
        format!("{}{}", saved("a@example.org"), saved("b@example.org"))
    );
    let addrs: Vec<_> = h.delivered[0]
        .0
        .recipients
        .iter()
        .map(|r| r.address.clone())
        .collect();
    assert_eq!(addrs, ["a@example.org", "b@example.org"]);
}

#[test]
fn rfc2033_data_without_valid_recipients() {
    let mut h = greeted().verdict("nobody@example.org", RcptVerdict::UnknownUser);
    h.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<nobody@example.org>\r\n");
    h.take_output();
    assert_eq!(h.exchange("DATA\r\n"), "554 5.5.1 No valid recipients\r\n");
    // Still in the transaction: a good recipient can follow.
    assert_eq!(
        h.exchange("RCPT TO:<a@example.org>\r\n"),
        "250 2.1.5 OK\r\n"
    );
    assert_eq!(h.exchange("DATA\r\n"), START_DATA);
}

#[test]
fn rfc1870_size_too_large_at_mail() {
    let mut h = greeted();
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net> SIZE=1001\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    assert!(!h.session.in_transaction());
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net> SIZE=1000\r\n"),
        "250 2.1.0 OK\r\n"
    );
}

#[test]
fn rfc1870_message_too_large_by_data_length() {
    let mut h = greeted();
    h.send(
        b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
    );
    h.take_output();
    let line = "x".repeat(98) + "\r\n";
    for _ in 0..20 {
        h.send(line.as_bytes());
    }
    assert_eq!(h.take_output(), "");
    assert_eq!(
        h.exchange(".\r\n"),
        "552 5.3.4 <a@example.org> Message size exceeds fixed maximum message size\r\n\
         552 5.3.4 <b@example.org> Message size exceeds fixed maximum message size\r\n"
    );
    assert!(h.delivered.is_empty());
    // The session goes on.
    assert!(!h.session.in_transaction());
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
}

#[test]
fn message_of_exactly_the_maximum_size_is_accepted() {
    let mut h = greeted();
    h.send(b"MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
    h.take_output();
    let body = "y".repeat(998) + "\r\n";
    assert_eq!(h.exchange(&format!("{body}.\r\n")), saved("a@example.org"));
    assert_eq!(h.delivered[0].1.len(), 1000);
}

fn data_of(raw: &str) -> Vec<u8> {
    let mut h = greeted();
    h.send(b"MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n");
    h.take_output();
    h.send(raw.as_bytes());
    assert_eq!(h.take_output(), saved("a@example.org"), "for {raw:?}");
    h.delivered.pop().unwrap().1
}

#[test]
fn rfc5321_dot_unstuffing() {
    assert_eq!(data_of("a\r\n..\r\nb\r\n.\r\n"), b"a\r\n.\r\nb\r\n");
    assert_eq!(data_of("a\r\n..x\r\n.\r\n"), b"a\r\n.x\r\n");
    assert_eq!(data_of("...\r\n.\r\n"), b"..\r\n");
    assert_eq!(data_of("..first\r\n.\r\n"), b".first\r\n");
    assert_eq!(data_of(".\r\n"), b"");
    // A dot inside a line is data.
    assert_eq!(data_of("a.b\r\n. x\r\n.\r\n"), b"a.b\r\n x\r\n");
}

#[test]
fn rfc5321_final_dot_only_after_crlf() {
    // The CRLF before the final dot ends the last line; a message "without" one gets it.
    assert_eq!(data_of("body\r\n.\r\n"), b"body\r\n");
    // "body.\r\n" does not end the data; neither do bare-LF dots (no SMTP smuggling).
    assert_eq!(
        data_of("body.\r\n\n.\n\r.\r\nend\r\n.\r\n"),
        b"body.\r\n\n.\n\r.\r\nend\r\n"
    );
}

#[test]
fn rfc5321_commands_out_of_sequence() {
    let mut h = Harness::new();
    h.take_output();
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net>\r\n"),
        "503 5.5.1 Send LHLO first\r\n"
    );
    assert_eq!(h.exchange("LHLO x\r\n"), LHLO_REPLY);
    assert_eq!(
        h.exchange("RCPT TO:<a@example.org>\r\n"),
        "503 5.5.1 MAIL needed first\r\n"
    );
    assert_eq!(h.exchange("DATA\r\n"), "503 5.5.1 MAIL needed first\r\n");
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net>\r\n"),
        "250 2.1.0 OK\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net>\r\n"),
        "503 5.5.1 Nested MAIL command\r\n"
    );
    assert!(h.checked.is_empty());
}

#[test]
fn rfc2033_helo_and_ehlo_refused() {
    let mut h = Harness::new();
    h.take_output();
    assert_eq!(
        h.exchange("HELO x\r\n"),
        "500 5.5.1 This is LMTP: use LHLO\r\n"
    );
    assert_eq!(
        h.exchange("EHLO x\r\n"),
        "500 5.5.1 This is LMTP: use LHLO\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<>\r\n"),
        "503 5.5.1 Send LHLO first\r\n"
    );
}

#[test]
fn rfc5321_rset_clears_the_transaction() {
    let mut h = greeted();
    h.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\n");
    h.take_output();
    assert!(h.session.in_transaction());
    assert_eq!(h.exchange("RSET\r\n"), "250 2.0.0 OK\r\n");
    assert!(!h.session.in_transaction());
    assert_eq!(h.exchange("DATA\r\n"), "503 5.5.1 MAIL needed first\r\n");
    // LHLO is kept.
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net>\r\n"),
        "250 2.1.0 OK\r\n"
    );
    assert_eq!(h.exchange("DATA\r\n"), "554 5.5.1 No valid recipients\r\n");
    // LHLO again also resets.
    assert_eq!(h.exchange("LHLO y\r\n"), LHLO_REPLY);
    assert!(!h.session.in_transaction());
    assert_eq!(h.session.lhlo_name(), Some("y"));
}

#[test]
fn rfc5321_quit_closes_and_ignores_the_rest() {
    let mut h = greeted();
    assert_eq!(h.exchange("QUIT\r\nNOOP\r\n"), "221 2.0.0 Bye\r\n");
    assert!(h.closed);
    assert_eq!(h.exchange("NOOP\r\n"), "");
    assert!(h.session.next().is_none());
}

#[test]
fn rfc5321_noop_vrfy_and_unimplemented_commands() {
    let mut h = greeted();
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
    assert_eq!(h.exchange("noop hello\r\n"), "250 2.0.0 OK\r\n");
    assert_eq!(
        h.exchange("VRFY u@example.org\r\n"),
        "252 2.3.3 Cannot VRFY user, but will accept message and attempt delivery\r\n"
    );
    assert_eq!(
        h.exchange("STARTTLS\r\n"),
        "502 5.5.1 Command not implemented\r\n"
    );
    assert_eq!(
        h.exchange("EXPN list\r\n"),
        "502 5.5.1 Command not implemented\r\n"
    );
    assert!(h.checked.is_empty());
}

#[test]
fn rfc5321_syntax_errors() {
    let mut h = greeted();
    assert_eq!(
        h.exchange("MAIL FROM:s@example.net\r\n"),
        "501 5.5.4 Syntax: MAIL FROM:<reverse-path> [parameters]\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<a@@b>\r\n"),
        "501 5.1.7 Invalid sender address\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net> SIZE=abc\r\n"),
        "501 5.5.4 Invalid SIZE parameter\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net> FOO=BAR\r\n"),
        "555 5.5.4 Unsupported parameter FOO=BAR\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net> BODY=BINARYMIME\r\n"),
        "555 5.5.4 BODY=BINARYMIME is not supported\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<s@example.net>\r\n"),
        "250 2.1.0 OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<nodomain>\r\n"),
        "501 5.1.3 Invalid recipient address\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<>\r\n"),
        "501 5.1.3 Invalid recipient address\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:a@example.org\r\n"),
        "501 5.5.4 Syntax: RCPT TO:<forward-path> [parameters]\r\n"
    );
    assert_eq!(h.exchange("LHLO\r\n"), "501 5.5.4 Syntax: LHLO domain\r\n");
    assert!(h.checked.is_empty());
}

#[test]
fn bare_lf_command_lines_are_accepted() {
    let mut h = Harness::new();
    h.take_output();
    h.send(b"LHLO x\nMAIL FROM:<s@example.net>\nRCPT TO:<a@example.org>\nDATA\n");
    assert_eq!(
        h.take_output(),
        format!("{LHLO_REPLY}250 2.1.0 OK\r\n250 2.1.5 OK\r\n{START_DATA}")
    );
    assert_eq!(h.exchange("x\r\n.\r\n"), saved("a@example.org"));
}

#[test]
fn garbage_gets_5xx_and_the_session_goes_on() {
    let mut h = greeted();
    assert_eq!(
        h.exchange("\x00\x01\u{ff}\r\n"),
        "500 5.5.2 Unknown command\r\n"
    );
    assert_eq!(h.exchange("\r\n"), "500 5.5.2 Unknown command\r\n");
    assert_eq!(
        h.exchange("FOOBARBAZQUUX\r\n"),
        "500 5.5.2 Unknown command\r\n"
    );
    h.send(&[0xff, 0xfe, b'\r', b'\n']);
    assert_eq!(h.take_output(), "500 5.5.2 Unknown command\r\n");
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
}

#[test]
fn overlong_line_gets_500_and_the_session_goes_on() {
    // Whole line in one chunk.
    let mut h = greeted();
    let long = format!("NOOP {}\r\n", "a".repeat(600));
    assert_eq!(h.exchange(&long), "500 5.5.2 Line too long\r\n");
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
    // In pieces, far longer than the buffer: nothing is kept, one reply at the line's end.
    let mut h = greeted();
    for _ in 0..100 {
        h.send("MAIL FROM:<".repeat(100).as_bytes());
    }
    assert_eq!(h.take_output(), "");
    assert_eq!(
        h.exchange(">\r\nNOOP\r\n"),
        "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"
    );
    // The tail of the long line was not taken as a command.
    assert!(!h.session.in_transaction());
    // Byte by byte.
    let mut h = greeted();
    h.send_bytewise(long.as_bytes());
    assert_eq!(h.take_output(), "500 5.5.2 Line too long\r\n");
}

#[test]
fn rfc5321_too_many_recipients() {
    let mut h = greeted();
    h.send(b"MAIL FROM:<s@example.net>\r\n");
    for addr in ["a", "b", "c"] {
        h.send(format!("RCPT TO:<{addr}@example.org>\r\n").as_bytes());
    }
    h.take_output();
    assert_eq!(
        h.exchange("RCPT TO:<d@example.org>\r\n"),
        "452 4.5.3 Too many recipients\r\n"
    );
    assert_eq!(h.checked.len(), 3);
    h.send(b"DATA\r\n.\r\n");
    assert_eq!(h.delivered[0].0.recipients.len(), 3);
}

#[test]
fn rfc3030_bdat_chunks() {
    let mut h = greeted();
    h.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n");
    h.take_output();
    assert_eq!(
        h.exchange("BDAT 7\r\nhello\r\n"),
        "250 2.0.0 7 octets received\r\n"
    );
    // Chunk data is not dot-unstuffed and may hold anything, command-like lines included.
    assert_eq!(
        h.exchange("BDAT 13 LAST\r\n..\r\nQUIT\r\n.\r\n"),
        format!("{}{}", saved("a@example.org"), saved("b@example.org"))
    );
    assert!(!h.closed);
    assert_eq!(h.delivered[0].1, b"hello\r\n..\r\nQUIT\r\n.\r\n");
}

#[test]
fn rfc3030_bdat_out_of_sequence_and_without_recipients() {
    let mut h = greeted();
    // The chunk is read and thrown away even when refused.
    assert_eq!(
        h.exchange("BDAT 4 LAST\r\nNOOP"),
        "503 5.5.1 MAIL needed first\r\n"
    );
    h.send(b"MAIL FROM:<s@example.net>\r\n");
    h.take_output();
    assert_eq!(
        h.exchange("BDAT 4\r\nNOOP"),
        "554 5.5.1 No valid recipients\r\n"
    );
    h.send(b"RCPT TO:<a@example.org>\r\n");
    h.take_output();
    assert_eq!(
        h.exchange("BDAT 2\r\nab"),
        "250 2.0.0 2 octets received\r\n"
    );
    assert_eq!(
        h.exchange("DATA\r\n"),
        "503 5.5.1 DATA not allowed after BDAT\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<b@example.org>\r\n"),
        "503 5.5.1 RCPT not allowed after BDAT\r\n"
    );
    assert_eq!(h.exchange("BDAT 0 LAST\r\n"), saved("a@example.org"));
    assert_eq!(h.delivered[0].1, b"ab");
}

#[test]
fn rfc3030_bdat_too_big() {
    let mut h = greeted();
    h.send(b"MAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\n");
    h.take_output();
    let chunk = "z".repeat(600);
    assert_eq!(
        h.exchange(&format!("BDAT 600\r\n{chunk}")),
        "250 2.0.0 600 octets received\r\n"
    );
    assert_eq!(
        h.exchange(&format!("BDAT 600\r\n{chunk}")),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    assert_eq!(
        h.exchange("BDAT 1 LAST\r\nz"),
        "552 5.3.4 <a@example.org> Message size exceeds fixed maximum message size\r\n"
    );
    assert!(h.delivered.is_empty());
}

#[test]
fn idle_timeout_says_421_and_closes() {
    let mut h = greeted();
    h.session.handle_idle_timeout();
    h.drain();
    assert_eq!(
        h.take_output(),
        "421 4.4.2 mx.example.org Idle timeout, closing connection\r\n"
    );
    assert!(h.closed);
}

#[test]
fn shutdown_when_idle_closes_at_once() {
    let mut h = greeted();
    h.session.shutdown();
    h.drain();
    assert_eq!(
        h.take_output(),
        "421 4.3.2 mx.example.org Service shutting down\r\n"
    );
    assert!(h.closed);
}

#[test]
fn shutdown_lets_the_transaction_finish() {
    let mut h = greeted();
    h.send(b"MAIL FROM:<s@example.net>\r\nRCPT TO:<a@example.org>\r\n");
    h.take_output();
    h.session.shutdown();
    h.drain();
    assert!(!h.closed);
    assert_eq!(h.exchange("DATA\r\n"), START_DATA);
    assert_eq!(
        h.exchange("x\r\n.\r\nMAIL FROM:<s@example.net>\r\n"),
        format!(
            "{}421 4.3.2 mx.example.org Service shutting down\r\n",
            saved("a@example.org")
        )
    );
    assert!(h.closed);
    assert_eq!(h.delivered.len(), 1);
}

#[test]
fn too_many_invalid_commands_close_the_session() {
    let mut c = config();
    c.max_bad_commands = 3;
    let mut h = Harness::with_config(c);
    h.take_output();
    assert_eq!(
        h.exchange("x\r\ny\r\nNOOP\r\nz\r\nw\r\nv\r\nNOOP\r\n"),
        "500 5.5.2 Unknown command\r\n500 5.5.2 Unknown command\r\n250 2.0.0 OK\r\n\
         500 5.5.2 Unknown command\r\n500 5.5.2 Unknown command\r\n500 5.5.2 Unknown command\r\n\
         421 4.7.0 mx.example.org Too many invalid commands\r\n"
    );
    assert!(h.closed);
}

#[test]
fn reply_text_cannot_be_injected_through_an_address() {
    let mut h = greeted().verdict("a\"\r\n250 x\"@example.org", RcptVerdict::UnknownUser);
    h.send(b"MAIL FROM:<>\r\n");
    h.take_output();
    // CR is dropped by the parser and LF ends the line, so the address cannot span lines.
    let out = h.exchange("RCPT TO:<\"a\\\"\r250 x\"@example.org>\r\n");
    assert_eq!(out.matches("\r\n").count(), 1, "{out:?}");
}

#[test]
fn api_misuse_is_reported_and_keeps_the_protocol_consistent() {
    let mut s = Session::new(config());
    let _ = s.next();
    s.enqueue_input(
        b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n",
    );
    let _ = s.next(); // LHLO and MAIL replies
    let Some(Event::CheckRecipient { id: a, .. }) = s.next() else {
        panic!("expected a check")
    };
    assert!(
        s.next().is_none(),
        "nothing happens until the check is answered"
    );
    assert_eq!(s.delivered(Vec::new()), Err(ApiMisuse::NoDelivery));
    s.recipient_checked(a, RcptVerdict::Accepted).unwrap();
    assert_eq!(
        s.recipient_checked(a, RcptVerdict::Accepted),
        Err(ApiMisuse::NoSuchCheck(a))
    );
    let _ = s.next(); // 250 for a
    let Some(Event::CheckRecipient { id: b, .. }) = s.next() else {
        panic!("expected a check")
    };
    s.recipient_checked(b, RcptVerdict::Accepted).unwrap();
    s.enqueue_input(b"DATA\r\n.\r\n");
    let _ = s.next(); // 250, 354
    let Some(Event::Deliver { envelope, .. }) = s.next() else {
        panic!("expected a delivery")
    };
    let outcome = DeliveryOutcome::Delivered {
        detail: String::new(),
    };
    assert_eq!(
        s.delivered(vec![(envelope.recipients[0].id, outcome)]),
        Err(ApiMisuse::MissingOutcomes(vec![b]))
    );
    let Some(Event::Output(out)) = s.next() else {
        panic!("expected output")
    };
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "250 2.0.0 <a@example.org> Saved\r\n451 4.3.0 <b@example.org> Temporary failure\r\n"
    );
}

#[test]
fn debug_output_never_shows_message_bytes() {
    let mut s = Session::new(SessionConfig::default());
    let _ = s.next();
    s.enqueue_input(b"LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@example.org>\r\n");
    let _ = s.next();
    let Some(Event::CheckRecipient { id, .. }) = s.next() else {
        panic!()
    };
    s.recipient_checked(id, RcptVerdict::Accepted).unwrap();
    s.enqueue_input(b"DATA\r\nsecret plaintext\r\n");
    let _ = s.next();
    assert!(!format!("{s:?}").contains("secret"));
    s.enqueue_input(b".\r\n");
    let event = s.next().unwrap();
    assert!(matches!(event, Event::Deliver { .. }));
    assert!(!format!("{event:?}").contains("secret"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random bytes, cut into random chunks, never panic; output is always whole reply lines.
    #[test]
    fn random_input_never_panics(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..32)
    ) {
        let mut h = Harness::new();
        for chunk in &chunks {
            h.send(chunk);
        }
        let out = h.take_output();
        prop_assert!(out.is_empty() || out.ends_with("\r\n"));
    }

    /// Random commands from the LMTP vocabulary, in random order and chunking, never panic,
    /// and every reply line has a 3-digit code.
    #[test]
    fn random_command_sequences_never_panic(
        commands in prop::collection::vec(prop::sample::select(vec![
            "LHLO x\r\n", "MAIL FROM:<s@example.net>\r\n", "MAIL FROM:<> SIZE=5000\r\n",
            "RCPT TO:<a@example.org>\r\n", "RCPT TO:<nobody@example.org>\r\n", "DATA\r\n",
            "body\r\n", "..\r\n", ".\r\n", "BDAT 3\r\n", "BDAT 0 LAST\r\n", "RSET\r\n",
            "NOOP\r\n", "VRFY x\r\n", "HELO x\r\n", "\r\n", "\n", "\r", ".", "x",
        ]), 0..40),
        split in 1usize..8,
    ) {
        let mut h = Harness::new().verdict("nobody@example.org", RcptVerdict::UnknownUser);
        let script: Vec<u8> = commands.concat().into_bytes();
        for chunk in script.chunks(split) {
            h.send(chunk);
        }
        let out = h.take_output();
        for line in out.split_terminator("\r\n") {
            prop_assert!(line.len() >= 4 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit), "{line:?}");
        }
    }
}
