//! The whole read path, `mailcrypt::open`, with one fixed P-256 private key offered for every
//! recipient id: key unwrapping (ECDH, PBKDF2, AES) and GCM decryption run on fuzzed bytes.
//! Must never panic, and must never return plaintext for bytes that are not a sealed file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailcrypt::{MAGIC, PrivateKey, PrivateKeyString};

/// Dovecot's own P-256 test key (`test-crypto.c`, SPEC §4.3), stored unprotected.
const KEY: &str = "2:1.2.840.10045.3.1.7:0:\
    0000002100b6e40903eb9ba19595c201dc0dc8b255dae8bc03f094caac8432b7b3bf080c3b:\
    ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";

fn key() -> &'static PrivateKey {
    static KEY_CELL: OnceLock<PrivateKey> = OnceLock::new();
    KEY_CELL.get_or_init(|| {
        PrivateKeyString::parse(KEY)
            .and_then(|s| s.unlock())
            .expect("the fixed test key loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    if let Ok(plain) = mailcrypt::open(data, |_| Some(key)) {
        assert!(
            data.starts_with(&MAGIC),
            "open returned plaintext for bytes without the mail-crypt magic"
        );
        let _ = plain.integrity();
        let _ = plain.as_bytes().len();
    }
});
