//! Random input never panics the session, and never makes it echo a password.

mod util;

use proptest::prelude::*;
use sasl::{AuthFailure, RequestId};
use util::{Harness, b64, plain};

const PASSWORD: &str = "hunter2-Secret!";

/// Lines a client could plausibly send, some broken.
fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![Just("0".to_owned()), (1u32..5).prop_map(|i| i.to_string())];
    let mech = prop::sample::select(vec!["PLAIN", "LOGIN", "plain", "X", ""]);
    let data = prop_oneof![
        Just(plain("", "a@b", PASSWORD)),
        Just(plain("z", "a@b", PASSWORD)),
        Just(b64(b"a@b")),
        Just(b64(PASSWORD.as_bytes())),
        Just("=".to_owned()),
        Just(String::new()),
        "[A-Za-z0-9+/=%]{0,12}",
    ];
    let params = prop::sample::select(vec!["", "\tnologin", "\trip=192.0.2.1", "\tsecured"]);
    prop_oneof![
        (id.clone(), mech, params, prop::option::of(data.clone())).prop_map(|(i, m, p, d)| {
            let resp = d.map(|d| format!("\tresp={d}")).unwrap_or_default();
            format!("AUTH\t{i}\t{m}\tservice=smtp{p}{resp}\n").into_bytes()
        }),
        (id.clone(), data).prop_map(|(i, d)| format!("CONT\t{i}\t{d}\n").into_bytes()),
        id.prop_map(|i| format!("CANCEL\t{i}\n").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Send(Vec<u8>),
    Answer(u32, u8),
}

proptest! {
    #[test]
    fn random_bytes_never_panic(
        handshake in any::<bool>(),
        data in prop::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..64,
    ) {
        let mut h = Harness::connected();
        if handshake {
            h.session.enqueue_input(b"VERSION\t1\t2\nCPID\t1\n");
        }
        for piece in data.chunks(chunk) {
            h.session.enqueue_input(piece);
            while let Ok(event) = h.session.next() {
                if let sasl::Event::Authenticate { id, .. } = event {
                    let _ = h.session.auth_result(id, Err(AuthFailure::Rejected), h.now);
                }
            }
        }
    }

    #[test]
    fn random_sessions_never_panic_nor_leak(
        steps in prop::collection::vec(
            prop_oneof![
                line_strategy().prop_map(Step::Send),
                (1u32..5, any::<u8>()).prop_map(|(i, r)| Step::Answer(i, r)),
            ],
            0..40,
        ),
    ) {
        let mut h = Harness::connected();
        h.session.enqueue_input(b"VERSION\t1\t2\nCPID\t1\n");
        let mut written = Vec::new();
        for step in steps {
            match step {
                Step::Send(bytes) => h.session.enqueue_input(&bytes),
                Step::Answer(id, r) => {
                    let result = match r % 3 {
                        0 => Ok("a@b".to_owned()),
                        1 => Err(AuthFailure::Rejected),
                        _ => Err(AuthFailure::Unavailable),
                    };
                    let _ = h.session.auth_result(RequestId(id), result, h.now);
                }
            }
            loop {
                match h.session.next() {
                    Ok(sasl::Event::Output(b)) => written.extend(b),
                    Ok(sasl::Event::DelayedOutput { bytes, .. }) => written.extend(bytes),
                    // A PLAIN login of `a@b` can only carry the test password; a LOGIN
                    // password is whatever the client sent as its second response.
                    Ok(sasl::Event::Authenticate { username, password, info, .. }) => {
                        if info.mechanism == sasl::Mechanism::Plain && username == "a@b" {
                            prop_assert_eq!(password.as_slice(), PASSWORD.as_bytes());
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        let written = String::from_utf8_lossy(&written);
        prop_assert!(!written.contains(PASSWORD));
        prop_assert!(!written.contains(&b64(PASSWORD.as_bytes())));
    }
}
