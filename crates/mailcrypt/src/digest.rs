//! The hash named by a file header's "MAC" OID, and the KDFs built on it.
//!
//! SPEC §2.3, §2.6, §2.7: the MAC algorithm of a v2 header is also the PBKDF2 hash of the key
//! wrap and the hash of the key-data check value. mail-crypt always writes SHA-256; the reader
//! honours what the header says (SHA-2 family).

use sha2::{Digest as _, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

/// A SHA-2 hash that may appear as the MAC/KDF hash of a v2 header or key string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HashAlg {
    /// SHA-256, what Dovecot writes (`sha256`, OID 2.16.840.1.101.3.4.2.1).
    Sha256,
    /// SHA-384 (`sha384`, OID 2.16.840.1.101.3.4.2.2).
    Sha384,
    /// SHA-512 (`sha512`, OID 2.16.840.1.101.3.4.2.3).
    Sha512,
}

impl HashAlg {
    /// OpenSSL's short name, as used in key strings.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Parses an OpenSSL short name (case-insensitive, as `EVP_get_digestbyname`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The complete DER TLV of the OID, as it stands in a v2 file header (SPEC §2.3).
    pub fn oid_der(self) -> &'static [u8] {
        match self {
            Self::Sha256 => &OID_SHA256,
            Self::Sha384 => &OID_SHA384,
            Self::Sha512 => &OID_SHA512,
        }
    }

    pub(crate) fn from_oid_der(der: &[u8]) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.oid_der() == der)
    }

    /// Digest size in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// `PBKDF2(HMAC-self, password, salt, rounds, out.len())`.
    pub(crate) fn pbkdf2(self, password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
        // SHA-256, what every Dovecot file and key string uses, on the bare compression
        // function (two calls a round; PBKDF2 was a third of a delivery's CPU). The others on
        // aws-lc, without RustCrypto's per-round HMAC overhead. Zero rounds, which both
        // refuse, stay on RustCrypto. Cross-checked in the tests.
        use aws_lc_rs::pbkdf2::{PBKDF2_HMAC_SHA384, PBKDF2_HMAC_SHA512};
        if let Some(n) = std::num::NonZeroU32::new(rounds) {
            let alg = match self {
                Self::Sha256 => {
                    return crate::sha256_kdf::pbkdf2_hmac_sha256(password, salt, rounds, out);
                }
                Self::Sha384 => PBKDF2_HMAC_SHA384,
                Self::Sha512 => PBKDF2_HMAC_SHA512,
            };
            aws_lc_rs::pbkdf2::derive(alg, n, salt, password, out);
            return;
        }
        self.pbkdf2_rustcrypto(password, salt, rounds, out);
    }

    /// PBKDF2 in RustCrypto: zero rounds, and the cross-check in the tests.
    pub(crate) fn pbkdf2_rustcrypto(
        self,
        password: &[u8],
        salt: &[u8],
        rounds: u32,
        out: &mut [u8],
    ) {
        match self {
            Self::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, rounds, out),
            Self::Sha384 => pbkdf2::pbkdf2_hmac::<Sha384>(password, salt, rounds, out),
            Self::Sha512 => pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, rounds, out),
        }
    }

    /// The key-data check value of SPEC §2.7: `h = H(km)`, then `h = H(h ‖ u32be(i))` for
    /// `i` in `1..=2048` (the count is fixed, not the header's rounds).
    pub(crate) fn key_data_hash(self, km: &[u8]) -> Vec<u8> {
        fn iterate<D: sha2::Digest>(km: &[u8]) -> Vec<u8> {
            let mut h = D::digest(km);
            for i in 1..=KEY_DATA_HASH_ROUNDS {
                let mut d = D::new();
                d.update(&h);
                d.update(i.to_be_bytes());
                h = d.finalize();
            }
            h.to_vec()
        }
        match self {
            Self::Sha256 => {
                crate::sha256_kdf::key_data_hash_sha256(km, KEY_DATA_HASH_ROUNDS).to_vec()
            }
            Self::Sha384 => iterate::<Sha384>(km),
            Self::Sha512 => iterate::<Sha512>(km),
        }
    }
}

/// An AES-256 key and a 16-byte IV, zeroized on drop.
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct KeyIv {
    pub(crate) key: [u8; 32],
    pub(crate) iv: [u8; 16],
}

/// PBKDF2 to 48 bytes, split into an AES-256 key and a 16-byte IV (SPEC §2.6, §4.3).
pub(crate) fn pbkdf2_key_iv(hash: HashAlg, password: &[u8], salt: &[u8], rounds: u32) -> KeyIv {
    let mut out = Zeroizing::new([0u8; 48]);
    hash.pbkdf2(password, salt, rounds, out.as_mut_slice());
    let (key, iv) = out.split_at(32);
    let mut k = KeyIv {
        key: [0; 32],
        iv: [0; 16],
    };
    k.key.copy_from_slice(key);
    k.iv.copy_from_slice(iv);
    k
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The largest PBKDF2 round count a reader accepts (Dovecot writes 2048): more would let a
/// damaged or hostile header cost minutes of CPU.
pub(crate) const MAX_ROUNDS: u32 = 1 << 16;
const KEY_DATA_HASH_ROUNDS: u32 = 2048;
const OID_SHA256: [u8; 11] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
];
const OID_SHA384: [u8; 11] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
];
const OID_SHA512: [u8; 11] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
];

#[cfg(test)]
mod tests {
    use super::*;

    /// aws-lc's PBKDF2 equals RustCrypto's for every hash, round count and output length we use.
    #[test]
    fn pbkdf2_backends_agree() {
        for hash in [HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512] {
            for rounds in [1, 2, 2048, 3001] {
                for len in [32, 48, 64] {
                    let mut a = vec![0u8; len];
                    let mut b = vec![0u8; len];
                    hash.pbkdf2(b"secret", b"salt bytes", rounds, &mut a);
                    let mut e1 = vec![0u8; len];
                    let mut e2 = vec![0u8; len];
                    hash.pbkdf2(b"", b"", rounds, &mut e1);
                    hash.pbkdf2_rustcrypto(b"", b"", rounds, &mut e2);
                    assert_eq!(e1, e2);
                    hash.pbkdf2_rustcrypto(b"secret", b"salt bytes", rounds, &mut b);
                    assert_eq!(a, b, "{} rounds {rounds} len {len}", hash.name());
                }
            }
        }
    }
}
