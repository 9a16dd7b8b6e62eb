//! The `dovecot-uidlist` file: parsing must never panic, and a list that parsed must survive
//! `encode` and a second parse unchanged, apart from what `encode` drops by design.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store::uidlist::{Uidlist, Version};

/// What one `encode` → `parse` trip is documented to keep: in version 3 each record's file name
/// is written cut at its first `:` (`Uidlist::encode`, as Dovecot writes it). Everything else
/// must come back exactly.
fn expected_after_round_trip(list: &Uidlist) -> Uidlist {
    let mut expected = list.clone();
    if expected.version == Version::V3 {
        for record in &mut expected.records {
            record.filename = record.basename().to_owned();
        }
    }
    expected
}

fuzz_target!(|data: &[u8]| {
    let Ok(list) = Uidlist::parse(data) else {
        return;
    };
    let _ = list.max_uid();
    // The delivery path's cheap append point agrees with the full parse.
    let (version, next) = Uidlist::next_uid_of(data).expect("a list that parses has an append point");
    assert_eq!(version, list.version);
    assert_eq!(next, list.next_uid_for_append(), "append point differs from the full parse");
    let encoded = list.encode();
    let again = match Uidlist::parse(&encoded) {
        Ok(again) => again,
        Err(e) => panic!(
            "uidlist encoding does not parse again: {e}\nencoded: {:?}",
            String::from_utf8_lossy(&encoded)
        ),
    };
    assert_eq!(
        expected_after_round_trip(&list),
        again,
        "uidlist round trip changed the list\nencoded: {:?}",
        String::from_utf8_lossy(&encoded)
    );
    assert_eq!(encoded, again.encode(), "uidlist encoding is not stable");
});
