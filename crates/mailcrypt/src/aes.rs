//! AES modes used outside the message body: CTR for key strings and v1, CBC/PKCS#7 for the
//! v2 file key wrap (SPEC §1.5).

use aes::Aes256;
use cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher, block_padding::Pkcs7};
use zeroize::Zeroizing;

/// AES-256-CTR with OpenSSL semantics: the whole 16-byte IV is a big-endian counter.
pub(crate) fn ctr256(key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
    let mut c = ctr::Ctr128BE::<Aes256>::new(key.into(), iv.into());
    c.apply_keystream(data);
}

/// AES-256-CBC with PKCS#7 padding.
pub(crate) fn cbc256_encrypt(key: &[u8; 32], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(data)
}

/// AES-256-CBC decryption; `None` when the padding is invalid.
pub(crate) fn cbc256_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    data: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    cbc::Decryptor::<Aes256>::new(key.into(), iv.into())
        .decrypt_padded_vec::<Pkcs7>(data)
        .ok()
        .map(Zeroizing::new)
}
