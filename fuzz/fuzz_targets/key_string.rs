//! Key strings as found in `dovecot-attributes` values: v2 (`2:...`) and v1 (`1\t...`) private
//! and public key strings, and PEM. Nothing here may panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcrypt::{PrivateKeyString, PublicKey, parse_pem};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(key) = PrivateKeyString::parse(&text) {
        let _ = key.id();
        let _ = key.curve();
        let _ = key.wrap();
        let _ = format!("{key:?}");
        let _ = key.unlock();
        let _ = key.unlock_with_password(b"pw");
    }
    let _ = PublicKey::from_key_string(&text);
    let _ = parse_pem(&text);
});
