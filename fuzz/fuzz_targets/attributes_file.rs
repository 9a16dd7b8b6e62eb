//! The `dovecot-attributes` dict file: every input parses, and what `encode` writes must parse
//! back to the same map.
#![no_main]

use keys::attributes::AttributeMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let map = AttributeMap::parse(data);
    let encoded = map.encode();
    let again = AttributeMap::parse(&encoded);
    assert_eq!(map, again, "attributes round trip changed the map");
    assert_eq!(encoded, again.encode(), "attributes encoding is not stable");
});
