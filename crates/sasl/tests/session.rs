//! Transcripts of the auth-client protocol against a bare session: no sockets, no sleeps.
//!
//! Test names carry the source of the behaviour: `dovecot_` for Dovecot 2.3's auth-client
//! protocol, `rfc4616_` for SASL PLAIN, `login_` for the LOGIN mechanism.

mod util;

use std::sync::Arc;

use sasl::{ApiMisuse, AuthFailure, Mechanism, Options, Penalty, ProtocolError, RequestId};
use util::{Harness, Out, b64, plain};

const PASSWORD: &str = "hunter2-Secret!";

// ---- handshake ----

#[test]
fn dovecot_handshake_bytes_exact() {
    // `Harness::connected` asserts the exact bytes against `util::HANDSHAKE_BYTES`.
    let mut h = Harness::connected();
    assert_eq!(h.send(b"VERSION\t1\t2\n"), vec![]);
    assert_eq!(h.send(b"CPID\t12345\n"), vec![]);
    assert!(!h.session.is_closed());
}

#[test]
fn dovecot_handshake_pipelined_with_auth() {
    let mut h = Harness::connected();
    let line = format!(
        "VERSION\t1\t2\nCPID\t1\nAUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "a@example.org", PASSWORD)
    );
    assert_eq!(
        h.send(line.as_bytes()),
        vec![Out::auth(1, "a@example.org", PASSWORD)]
    );
}

#[test]
fn dovecot_handshake_crlf_lines() {
    let mut h = Harness::connected();
    assert_eq!(h.send(b"VERSION\t1\t2\r\nCPID\t1\r\n"), vec![]);
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\r\n",
        plain("", "a@b", "pw")
    );
    assert_eq!(h.send(line.as_bytes()), vec![Out::auth(1, "a@b", "pw")]);
}

#[test]
fn dovecot_handshake_other_major_version() {
    let mut h = Harness::connected();
    let (out, err) = h.send_err(b"VERSION\t2\t0\n");
    assert_eq!(out, vec![]);
    assert_eq!(err, ProtocolError::UnsupportedVersion { major: 2 });
}

#[test]
fn dovecot_handshake_must_start_with_version() {
    for bad in [
        &b"CPID\t1\n"[..],
        b"VERSION\t1\n",
        b"VERSION\t1\tx\n",
        b"VERSION 1 2\n",
        b"AUTH\t1\tPLAIN\tservice=smtp\n",
    ] {
        let mut h = Harness::connected();
        let (_, err) = h.send_err(bad);
        assert_eq!(err, ProtocolError::Malformed("VERSION line"), "{bad:?}");
    }
}

#[test]
fn dovecot_handshake_needs_cpid() {
    for bad in [
        &b"CPID\t0\n"[..],
        b"CPID\t\n",
        b"CPID\t-1\n",
        b"AUTH\t1\tPLAIN\n",
    ] {
        let mut h = Harness::connected();
        h.send(b"VERSION\t1\t2\n");
        let (_, err) = h.send_err(bad);
        assert_eq!(err, ProtocolError::Malformed("CPID line"), "{bad:?}");
    }
}

// ---- PLAIN ----

#[test]
fn rfc4616_plain_initial_response_ok() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.25\trip=198.51.100.7\tsecured\tresp={}\n",
        plain("", "alice@example.org", PASSWORD)
    );
    assert_eq!(
        h.send(line.as_bytes()),
        vec![Out::auth(1, "alice@example.org", PASSWORD)]
    );
    let info = h.last_info.clone().unwrap();
    assert_eq!(info.mechanism, Mechanism::Plain);
    assert_eq!(info.service, "smtp");
    assert_eq!(info.remote_ip, Some("198.51.100.7".parse().unwrap()));
    assert_eq!(info.local_ip, Some("192.0.2.25".parse().unwrap()));
    assert!(info.secured);
    assert_eq!(
        h.answer(1, Ok("alice@example.org")),
        vec![Out::now("OK\t1\tuser=alice@example.org\n")]
    );
}

#[test]
fn rfc4616_plain_initial_response_fail() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "alice@example.org", "wrong")
    );
    assert_eq!(
        h.send(line.as_bytes()),
        vec![Out::auth(1, "alice@example.org", "wrong")]
    );
    assert_eq!(
        h.answer(1, Err(AuthFailure::Rejected)),
        vec![Out::now("FAIL\t1\tuser=alice@example.org\n")]
    );
}

#[test]
fn dovecot_temporary_failure_code() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "a@b", "pw")
    );
    h.send(line.as_bytes());
    assert_eq!(
        h.answer(1, Err(AuthFailure::Unavailable)),
        vec![Out::now("FAIL\t1\tuser=a@b\tcode=temp_fail\n")]
    );
}

#[test]
fn rfc4616_plain_via_continuation() {
    let mut h = Harness::ready();
    assert_eq!(
        h.send(b"AUTH\t7\tPLAIN\tservice=smtp\n"),
        vec![Out::now("CONT\t7\t\n")]
    );
    let cont = format!("CONT\t7\t{}\n", plain("", "bob@example.org", PASSWORD));
    assert_eq!(
        h.send(cont.as_bytes()),
        vec![Out::auth(7, "bob@example.org", PASSWORD)]
    );
    assert_eq!(
        h.answer(7, Ok("bob@example.org")),
        vec![Out::now("OK\t7\tuser=bob@example.org\n")]
    );
}

#[test]
fn rfc4616_plain_authzid_equal_to_authcid() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("a@example.org", "a@example.org", "pw")
    );
    assert_eq!(
        h.send(line.as_bytes()),
        vec![Out::auth(1, "a@example.org", "pw")]
    );
}

#[test]
fn rfc4616_plain_authzid_differs_refused() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("boss@example.org", "a@example.org", PASSWORD)
    );
    assert_eq!(
        h.send(line.as_bytes()),
        vec![Out::now(
            "FAIL\t1\tuser=a@example.org\tcode=authz_fail\t\
             reason=Authorization identity must be empty or the login name\n"
        )]
    );
    // Not a protocol error: the connection goes on.
    assert_eq!(
        h.send(b"AUTH\t2\tPLAIN\tservice=smtp\n"),
        vec![Out::now("CONT\t2\t\n")]
    );
}

#[test]
fn rfc4616_plain_malformed_message() {
    for message in [
        &b"no-nuls"[..],
        b"\0only-one",
        b"\0a@b\0p\0w",
        b"\0\0pw",
        b"\0\xc3\0pw",
    ] {
        let mut h = Harness::ready();
        let line = format!("AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n", b64(message));
        let out = h.send(line.as_bytes());
        assert_eq!(out.len(), 1, "{message:?}");
        let Out::Now(reply) = &out[0] else {
            panic!("{out:?}")
        };
        assert!(reply.starts_with("FAIL\t1\treason=Invalid "), "{reply}");
    }
}

#[test]
fn dovecot_mechanism_name_ignores_case() {
    let mut h = Harness::ready();
    assert_eq!(
        h.send(b"AUTH\t1\tplain\tservice=smtp\n"),
        vec![Out::now("CONT\t1\t\n")]
    );
    assert_eq!(
        h.send(b"AUTH\t2\tLogin\tservice=smtp\n"),
        vec![Out::now("CONT\t2\tVXNlcm5hbWU6\n")]
    );
}

// ---- LOGIN ----

#[test]
fn login_two_steps() {
    let mut h = Harness::ready();
    // "Username:" and "Password:", base64.
    assert_eq!(
        h.send(b"AUTH\t3\tLOGIN\tservice=smtp\n"),
        vec![Out::now("CONT\t3\tVXNlcm5hbWU6\n")]
    );
    let user = format!("CONT\t3\t{}\n", b64(b"carol@example.org"));
    assert_eq!(
        h.send(user.as_bytes()),
        vec![Out::now("CONT\t3\tUGFzc3dvcmQ6\n")]
    );
    let pass = format!("CONT\t3\t{}\n", b64(PASSWORD.as_bytes()));
    assert_eq!(
        h.send(pass.as_bytes()),
        vec![Out::auth(3, "carol@example.org", PASSWORD)]
    );
    assert_eq!(h.last_info.as_ref().unwrap().mechanism, Mechanism::Login);
    assert_eq!(
        h.answer(3, Ok("carol@example.org")),
        vec![Out::now("OK\t3\tuser=carol@example.org\n")]
    );
}

#[test]
fn login_initial_response_is_the_username() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tLOGIN\tservice=smtp\tresp={}\n",
        b64(b"dan@example.org")
    );
    assert_eq!(
        h.send(line.as_bytes()),
        vec![Out::now("CONT\t1\tUGFzc3dvcmQ6\n")]
    );
    let pass = format!("CONT\t1\t{}\n", b64(b"pw"));
    assert_eq!(
        h.send(pass.as_bytes()),
        vec![Out::auth(1, "dan@example.org", "pw")]
    );
}

#[test]
fn login_invalid_username() {
    let mut h = Harness::ready();
    h.send(b"AUTH\t1\tLOGIN\tservice=smtp\n");
    let bad = format!("CONT\t1\t{}\n", b64(b"a\x00b"));
    assert_eq!(
        h.send(bad.as_bytes()),
        vec![Out::now("FAIL\t1\treason=Invalid username\n")]
    );
}

// ---- base64 and empty responses ----

#[test]
fn dovecot_bad_base64_initial_response() {
    let mut h = Harness::ready();
    assert_eq!(
        h.send(b"AUTH\t1\tPLAIN\tservice=smtp\tresp=not*base64\n"),
        vec![Out::now(
            "FAIL\t1\tcode=invalid_base64\treason=Invalid base64 data in initial response\n"
        )]
    );
    // Missing padding is invalid too, as in Dovecot.
    assert_eq!(
        h.send(b"AUTH\t2\tPLAIN\tservice=smtp\tresp=AGFAYgBw\n")
            .len(),
        1
    );
    assert_eq!(
        h.send(b"AUTH\t3\tPLAIN\tservice=smtp\tresp=AGFAYgBwdw\n"),
        vec![Out::now(
            "FAIL\t3\tcode=invalid_base64\treason=Invalid base64 data in initial response\n"
        )]
    );
}

#[test]
fn dovecot_bad_base64_continuation() {
    let mut h = Harness::ready();
    h.send(b"AUTH\t1\tLOGIN\tservice=smtp\n");
    assert_eq!(
        h.send(b"CONT\t1\t%%%\n"),
        vec![Out::now(
            "FAIL\t1\tcode=invalid_base64\treason=Invalid base64 data in continued response\n"
        )]
    );
    // The request is gone.
    assert_eq!(
        h.send(b"CONT\t1\tYQ==\n"),
        vec![Out::now(
            "FAIL\t1\treason=Authentication request timed out\n"
        )]
    );
}

#[test]
fn dovecot_empty_resp_means_none_before_minor_2() {
    let mut h = Harness::connected();
    h.send(b"VERSION\t1\t0\nCPID\t5\n");
    assert_eq!(
        h.send(b"AUTH\t1\tPLAIN\tservice=smtp\tresp=\n"),
        vec![Out::now("CONT\t1\t\n")]
    );
}

#[test]
fn dovecot_empty_resp_is_empty_from_minor_2() {
    let mut h = Harness::ready();
    for (id, resp) in [(1, "resp="), (2, "resp=="), (3, "resp")] {
        let out = h.send(format!("AUTH\t{id}\tPLAIN\tservice=smtp\t{resp}\n").as_bytes());
        assert_eq!(
            out,
            vec![Out::Now(format!(
                "FAIL\t{id}\treason=Invalid PLAIN response\n"
            ))],
            "{resp}"
        );
    }
    // LOGIN with an empty initial response asks for the username.
    assert_eq!(
        h.send(b"AUTH\t4\tLOGIN\tservice=smtp\tresp==\n"),
        vec![Out::now("CONT\t4\tVXNlcm5hbWU6\n")]
    );
}

// ---- protocol errors ----

#[test]
fn dovecot_unknown_mechanism_closes() {
    let mut h = Harness::ready();
    let (out, err) = h.send_err(b"AUTH\t1\tCRAM-MD5\tservice=smtp\n");
    assert_eq!(out, vec![]);
    assert_eq!(err, ProtocolError::UnsupportedMechanism);
}

#[test]
fn dovecot_malformed_auth_lines_close() {
    for (line, what) in [
        (&b"AUTH\t0\tPLAIN\tservice=smtp\n"[..], "AUTH request id"),
        (b"AUTH\tx\tPLAIN\tservice=smtp\n", "AUTH request id"),
        (b"AUTH\t\n", "AUTH request id"),
        (b"AUTH\t1\n", "AUTH mechanism"),
        (b"AUTH\t1\tPLAIN\n", "AUTH without service"),
        (
            b"AUTH\t1\tPLAIN\tresp=AA==\tservice=smtp\n",
            "AUTH parameters after resp",
        ),
        (b"AUTH 1 PLAIN\n", "command (expected AUTH, CONT or CANCEL)"),
        (b"HELLO\n", "command (expected AUTH, CONT or CANCEL)"),
        (b"\n", "command (expected AUTH, CONT or CANCEL)"),
        (b"CONT\t1\n", "CONT line"),
        (b"CONT\tx\tAA==\n", "CONT id"),
        (b"CANCEL\tx\n", "CANCEL id"),
    ] {
        let mut h = Harness::ready();
        let (out, err) = h.send_err(line);
        assert_eq!(out, vec![], "{line:?}");
        assert_eq!(err, ProtocolError::Malformed(what), "{line:?}");
    }
}

#[test]
fn dovecot_duplicate_open_id_closes() {
    let mut h = Harness::ready();
    h.send(b"AUTH\t1\tLOGIN\tservice=smtp\n");
    let (_, err) = h.send_err(b"AUTH\t1\tPLAIN\tservice=smtp\n");
    assert_eq!(err, ProtocolError::DuplicateRequest(RequestId(1)));
}

#[test]
fn dovecot_finished_id_may_be_reused() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "a@b", "pw")
    );
    h.send(line.as_bytes());
    h.answer(1, Ok("a@b"));
    assert_eq!(h.send(line.as_bytes()), vec![Out::auth(1, "a@b", "pw")]);
}

#[test]
fn dovecot_line_length_limit() {
    let limit = Options::default().max_line_length;
    // A line of exactly `limit` bytes with its LF is accepted (and fails as bad base64).
    let mut h = Harness::ready();
    let prefix = "AUTH\t1\tPLAIN\tservice=smtp\tresp=";
    let line = format!("{prefix}{}\n", "A".repeat(limit - prefix.len() - 1));
    assert_eq!(line.len(), limit);
    assert_eq!(h.send(line.as_bytes()).len(), 1);
    // One byte more closes the connection, even before the LF arrives.
    let mut h = Harness::ready();
    let (_, err) = h.send_err("A".repeat(limit).as_bytes());
    assert_eq!(err, ProtocolError::LineTooLong { limit });
    let mut h = Harness::ready();
    let line = format!("{prefix}{}\n", "A".repeat(limit - prefix.len()));
    let (_, err) = h.send_err(line.as_bytes());
    assert_eq!(err, ProtocolError::LineTooLong { limit });
}

#[test]
fn dovecot_error_is_sticky() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "a@b", "pw")
    );
    // The valid request before the bad line is still handed out, then the session closes.
    let (out, err) = h.send_err(format!("{line}BOGUS\nAUTH\t2\tPLAIN\tservice=smtp\n").as_bytes());
    assert_eq!(out, vec![Out::auth(1, "a@b", "pw")]);
    assert!(matches!(err, ProtocolError::Malformed(_)));
    // Later input and results change nothing.
    let (out, again) = h.send_err(b"AUTH\t3\tPLAIN\tservice=smtp\n");
    assert_eq!((out, again), (vec![], err));
    assert_eq!(
        h.session.auth_result(RequestId(1), Ok("a@b".into()), h.now),
        Ok(())
    );
    assert!(h.session.next().is_err());
}

// ---- requests: continuation, cancel, limits, misuse ----

#[test]
fn dovecot_cont_for_unknown_request() {
    let mut h = Harness::ready();
    assert_eq!(
        h.send(b"CONT\t9\tAA==\n"),
        vec![Out::now(
            "FAIL\t9\treason=Authentication request timed out\n"
        )]
    );
}

#[test]
fn dovecot_cont_while_verifying_drops_the_result() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "a@b", "pw")
    );
    h.send(line.as_bytes());
    assert_eq!(
        h.send(b"CONT\t1\tAA==\n"),
        vec![Out::now("FAIL\t1\treason=Unexpected continuation\n")]
    );
    assert_eq!(h.session.pending_results(), 1);
    assert_eq!(h.answer(1, Ok("a@b")), vec![]);
    assert_eq!(h.session.pending_results(), 0);
}

#[test]
fn dovecot_cancel() {
    let mut h = Harness::ready();
    h.send(b"AUTH\t1\tLOGIN\tservice=smtp\n");
    assert_eq!(h.send(b"CANCEL\t1\n"), vec![]);
    assert_eq!(
        h.send(b"CONT\t1\tYQ==\n"),
        vec![Out::now(
            "FAIL\t1\treason=Authentication request timed out\n"
        )]
    );
    // Cancelling a request under verification drops its result.
    let line = format!(
        "AUTH\t2\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "a@b", "pw")
    );
    h.send(line.as_bytes());
    assert_eq!(h.send(b"CANCEL\t2\nCANCEL\t77\n"), vec![]);
    assert_eq!(h.answer(2, Err(AuthFailure::Rejected)), vec![]);
    assert_eq!(h.penalty.user_failures("a@b", h.now), 0);
}

#[test]
fn dovecot_request_limit_evicts_oldest_waiting_for_client() {
    let mut options = Options::default();
    options.max_requests = 2;
    let mut h = Harness::ready_with(options, Arc::new(Penalty::default()));
    h.send(b"AUTH\t1\tLOGIN\tservice=smtp\nAUTH\t2\tLOGIN\tservice=smtp\n");
    assert_eq!(
        h.send(b"AUTH\t3\tLOGIN\tservice=smtp\n"),
        vec![Out::now("CONT\t3\tVXNlcm5hbWU6\n")]
    );
    assert_eq!(
        h.send(b"CONT\t1\tYQ==\n"),
        vec![Out::now(
            "FAIL\t1\treason=Authentication request timed out\n"
        )]
    );
    assert_eq!(
        h.send(b"CONT\t2\tYQ==\n"),
        vec![Out::now("CONT\t2\tUGFzc3dvcmQ6\n")]
    );
}

#[test]
fn dovecot_request_limit_counts_pending_checks() {
    let mut options = Options::default();
    options.max_requests = 2;
    let mut h = Harness::ready_with(options, Arc::new(Penalty::default()));
    for id in 1..=2 {
        let line = format!(
            "AUTH\t{id}\tPLAIN\tservice=smtp\tresp={}\n",
            plain("", "a@b", "p")
        );
        h.send(line.as_bytes());
    }
    let (_, err) = h.send_err(b"AUTH\t3\tLOGIN\tservice=smtp\n");
    assert_eq!(err, ProtocolError::TooManyRequests { limit: 2 });
}

#[test]
fn api_misuse_is_reported() {
    let mut h = Harness::ready();
    assert_eq!(
        h.session.auth_result(RequestId(5), Ok("x".into()), h.now),
        Err(ApiMisuse::NotAwaitingResult(RequestId(5)))
    );
    h.send(b"AUTH\t1\tLOGIN\tservice=smtp\n");
    assert_eq!(
        h.session.auth_result(RequestId(1), Ok("x".into()), h.now),
        Err(ApiMisuse::NotAwaitingResult(RequestId(1)))
    );
    // The request is still there.
    assert_eq!(
        h.send(b"CONT\t1\tYQ==\n"),
        vec![Out::now("CONT\t1\tUGFzc3dvcmQ6\n")]
    );
}

// ---- escaping ----

#[test]
fn dovecot_tab_escaping_in_replies() {
    let mut h = Harness::ready();
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n",
        plain("", "a@b", "pw")
    );
    h.send(line.as_bytes());
    assert_eq!(
        h.answer(1, Ok("we\tird\x01\r\nname")),
        vec![Out::now("OK\t1\tuser=we\x01tird\x011\x01r\x01nname\n")]
    );
}

#[test]
fn dovecot_tab_escaped_parameters() {
    let mut h = Harness::ready();
    // `\x01t` in a value is a TAB; an escaped `=`-less field is a boolean.
    let line = format!(
        "AUTH\t1\tPLAIN\tservice=sm\x01ttp\tsec\x01ured\trip=192.0.2.1\tresp={}\n",
        plain("", "a@b", "pw")
    );
    assert_eq!(h.send(line.as_bytes()), vec![Out::auth(1, "a@b", "pw")]);
    let info = h.last_info.clone().unwrap();
    assert_eq!(info.service, "sm\ttp");
    assert!(info.secured);
}

// ---- secrets ----

#[test]
fn password_never_in_output() {
    let mut h = Harness::ready();
    let script = format!(
        "AUTH\t1\tPLAIN\tservice=smtp\trip=192.0.2.9\tresp={p}\n\
         AUTH\t2\tPLAIN\tservice=smtp\n\
         CONT\t2\t{p}\n\
         AUTH\t3\tLOGIN\tservice=smtp\n\
         CONT\t3\t{u}\n\
         CONT\t3\t{pw}\n\
         AUTH\t4\tPLAIN\tservice=smtp\tresp={z}\n\
         CONT\t4\t{pw}\n\
         CONT\t3\t{pw}\n",
        p = plain("", "a@b", PASSWORD),
        u = b64(b"a@b"),
        pw = b64(PASSWORD.as_bytes()),
        z = plain("x@y", "a@b", PASSWORD),
    );
    let out = h.send(script.as_bytes());
    assert_eq!(
        out.iter().filter(|o| matches!(o, Out::Auth { .. })).count(),
        3
    );
    for id in 1..=3 {
        h.answer(id, Err(AuthFailure::Rejected));
    }
    let written = String::from_utf8(h.written.clone()).unwrap();
    for secret in [
        PASSWORD.to_owned(),
        b64(PASSWORD.as_bytes()),
        plain("", "a@b", PASSWORD),
    ] {
        assert!(!written.contains(&secret), "{written}");
        assert!(!h.debug.contains(&secret), "{}", h.debug);
        assert!(!format!("{:?}", h.session).contains(&secret));
    }
    assert!(h.debug.contains("<redacted>"));
}

// ---- byte at a time ----

#[test]
fn byte_at_a_time_matches_whole_input() {
    let script = format!(
        "VERSION\t1\t2\r\nCPID\t42\n\
         AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n\
         AUTH\t2\tLOGIN\tservice=smtp\nCONT\t2\t{}\nCONT\t2\t{}\n\
         AUTH\t3\tPLAIN\tservice=smtp\nCONT\t3\t%\nCANCEL\t2\n",
        plain("", "a@b", "pw"),
        b64(b"c@d"),
        b64(b"pw2"),
    );
    let mut whole = Harness::connected();
    let expected = whole.send(script.as_bytes());
    assert_eq!(expected.len(), 6, "{expected:?}");
    let mut bytewise = Harness::connected();
    let mut got = Vec::new();
    for b in script.as_bytes() {
        got.extend(bytewise.send(std::slice::from_ref(b)));
    }
    assert_eq!(got, expected);
}
