//! The LMTP session state machine fed arbitrary client bytes in arbitrary chunks, with
//! arbitrary verdicts from the driver: it must never panic, never report API misuse when
//! driven as documented, answer only in whole CRLF-terminated reply lines, and give one
//! outcome slot per accepted recipient.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lmtp::{DeliveryOutcome, Event, RcptVerdict, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, input)) = data.split_first() else {
        return;
    };
    let mut config = SessionConfig::new("fuzz.test");
    config.max_message_size = 4096;
    let mut session = Session::new(config);
    let chunk = usize::from(knobs % 13) + 1;
    let mut n = 0u32;
    let mut out = Vec::new();
    for piece in input.chunks(chunk) {
        session.enqueue_input(piece);
        while let Some(event) = session.next() {
            n = n.wrapping_add(1);
            match event {
                Event::Output(bytes) => out.extend_from_slice(&bytes),
                Event::CheckRecipient { id, address } => {
                    let verdict = match (n ^ address.len() as u32) % 3 {
                        0 => RcptVerdict::Accepted,
                        1 => RcptVerdict::UnknownUser,
                        _ => RcptVerdict::TempFail("fuzz".into()),
                    };
                    session.recipient_checked(id, verdict).expect("driven as documented");
                }
                Event::Deliver { envelope, message } => {
                    assert!(!envelope.recipients.is_empty(), "DATA without a recipient");
                    assert!(message.len() <= 4096 + 2, "message over SIZE accepted");
                    let outcomes = envelope
                        .recipients
                        .iter()
                        .map(|r| {
                            let o = if knobs & 1 == 0 {
                                DeliveryOutcome::Delivered { detail: String::new() }
                            } else {
                                DeliveryOutcome::OverQuota
                            };
                            (r.id, o)
                        })
                        .collect();
                    session.delivered(outcomes).expect("one outcome per recipient");
                }
                Event::Closed => return,
                _ => {}
            }
        }
    }
    if !out.is_empty() {
        assert!(out.ends_with(b"\r\n"), "a reply was cut: {:?}", String::from_utf8_lossy(&out));
    }
});
