//! The sealed mail file header (magic, version, flags, key-data entries): parsing must never
//! panic, and neither may the accessors of a header that parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcrypt::SealedFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = SealedFile::parse(data) {
        let _ = file.recipients();
        let _ = file.version();
        let _ = file.plaintext_len();
    }
});
