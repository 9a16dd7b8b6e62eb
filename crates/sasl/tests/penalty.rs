//! Failure delays across requests and connections, with a fake clock: no sockets, no sleeps.

mod util;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sasl::{AuthFailure, Options, Penalty, PenaltyOptions};
use util::{Harness, Out, plain};

fn auth_line(id: u32, user: &str, rip: Option<&str>) -> String {
    let rip = rip.map(|ip| format!("\trip={ip}")).unwrap_or_default();
    format!(
        "AUTH\t{id}\tPLAIN\tservice=smtp{rip}\tresp={}\n",
        plain("", user, "pw")
    )
}

fn fail_once(h: &mut Harness, id: u32, user: &str, rip: Option<&str>) -> Out {
    h.send(auth_line(id, user, rip).as_bytes());
    let mut out = h.answer(id, Err(AuthFailure::Rejected));
    assert_eq!(out.len(), 1);
    out.remove(0)
}

fn succeed_once(h: &mut Harness, id: u32, user: &str, rip: Option<&str>) -> Out {
    h.send(auth_line(id, user, rip).as_bytes());
    let mut out = h.answer(id, Ok(user));
    assert_eq!(out.len(), 1);
    out.remove(0)
}

#[test]
fn penalty_doubles_per_client_up_to_15s() {
    let mut h = Harness::ready();
    let mut delays = Vec::new();
    for id in 1..=7 {
        // A new user each time: only the client's count grows.
        match fail_once(&mut h, id, &format!("u{id}@b"), Some("203.0.113.5")) {
            Out::Now(line) => {
                assert_eq!(line, format!("FAIL\t{id}\tuser=u{id}@b\n"));
                delays.push(0);
            }
            Out::Later(d, line) => {
                assert_eq!(line, format!("FAIL\t{id}\tuser=u{id}@b\n"));
                delays.push(d.as_secs());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delays, [0, 1, 2, 4, 8, 15, 15]);
}

#[test]
fn penalty_ok_waits_like_a_failure_from_that_client() {
    let mut h = Harness::ready();
    let ip = Some("203.0.113.5");
    assert_eq!(
        succeed_once(&mut h, 1, "a@b", ip),
        Out::now("OK\t1\tuser=a@b\n")
    );
    fail_once(&mut h, 2, "a@b", ip);
    fail_once(&mut h, 3, "a@b", ip);
    // Two failures counted: a third would wait 2 s, and so does a success.
    assert_eq!(
        succeed_once(&mut h, 4, "a@b", ip),
        Out::later(2, "OK\t4\tuser=a@b\n")
    );
    // Success forgives the user, not the client.
    assert_eq!(h.penalty.user_failures("a@b", h.now), 0);
    let ip: IpAddr = "203.0.113.5".parse().unwrap();
    assert_eq!(h.penalty.client_failures(ip, h.now), 2);
}

#[test]
fn penalty_user_count_delays_failures_not_successes() {
    let penalty = Arc::new(Penalty::default());
    let mut attacker = Harness::ready_with(Options::default(), penalty.clone());
    for (id, ip) in [
        (1, "198.51.100.1"),
        (2, "198.51.100.2"),
        (3, "198.51.100.3"),
    ] {
        fail_once(&mut attacker, id, "Victim@Example.org", Some(ip));
    }
    let mut victim = Harness::ready_with(Options::default(), penalty.clone());
    // Another client failing for the same user waits for the user's count (4th failure: 4 s).
    assert_eq!(
        fail_once(&mut victim, 1, "victim@example.org", Some("192.0.2.50")),
        Out::later(4, "FAIL\t1\tuser=victim@example.org\n")
    );
    // The owner logging in from a clean address is not slowed by the others' failures.
    assert_eq!(
        succeed_once(&mut victim, 2, "victim@example.org", Some("192.0.2.60")),
        Out::now("OK\t2\tuser=victim@example.org\n")
    );
}

#[test]
fn penalty_without_rip_counts_the_connection() {
    let penalty = Arc::new(Penalty::default());
    let mut a = Harness::ready_with(Options::default(), penalty.clone());
    fail_once(&mut a, 1, "u1@b", None);
    assert_eq!(
        fail_once(&mut a, 2, "u2@b", None),
        Out::later(1, "FAIL\t2\tuser=u2@b\n")
    );
    // Another connection starts clean.
    let mut b = Harness::ready_with(Options::default(), penalty);
    assert_eq!(
        fail_once(&mut b, 1, "u3@b", None),
        Out::now("FAIL\t1\tuser=u3@b\n")
    );
}

#[test]
fn penalty_shared_across_connections_by_ip() {
    let penalty = Arc::new(Penalty::default());
    let mut a = Harness::ready_with(Options::default(), penalty.clone());
    let mut b = Harness::ready_with(Options::default(), penalty);
    fail_once(&mut a, 1, "u1@b", Some("2001:db8:5::1"));
    assert_eq!(
        fail_once(&mut b, 1, "u2@b", Some("2001:db8:5:9::2")),
        Out::later(1, "FAIL\t1\tuser=u2@b\n")
    );
}

#[test]
fn penalty_expires_after_window() {
    let mut h = Harness::ready();
    let ip = Some("203.0.113.5");
    for id in 1..=4 {
        fail_once(&mut h, id, "a@b", ip);
    }
    h.now += PenaltyOptions::default().window;
    assert_eq!(
        fail_once(&mut h, 5, "a@b", ip),
        Out::now("FAIL\t5\tuser=a@b\n")
    );
}

#[test]
fn penalty_not_counted_for_temporary_failures_or_refusals() {
    let mut h = Harness::ready();
    let ip = Some("203.0.113.5");
    for id in 1..=3 {
        h.send(auth_line(id, "a@b", ip).as_bytes());
        assert_eq!(
            h.answer(id, Err(AuthFailure::Unavailable)),
            vec![Out::Now(format!("FAIL\t{id}\tuser=a@b\tcode=temp_fail\n"))]
        );
    }
    h.send(b"AUTH\t9\tPLAIN\tservice=smtp\trip=203.0.113.5\tresp=!!\n");
    assert_eq!(
        fail_once(&mut h, 10, "a@b", ip),
        Out::now("FAIL\t10\tuser=a@b\n")
    );
}

#[test]
fn penalty_max_delay_is_configurable() {
    let mut options = PenaltyOptions::default();
    options.max_delay = Duration::from_secs(5);
    let penalty = Arc::new(Penalty::new(options));
    let mut h = Harness::ready_with(Options::default(), penalty);
    let last = (1..=8)
        .map(|id| fail_once(&mut h, id, "a@b", Some("192.0.2.1")))
        .last();
    assert_eq!(last, Some(Out::later(5, "FAIL\t8\tuser=a@b\n")));
}
