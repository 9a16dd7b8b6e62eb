//! Sealed mail files: v2 read and write, v1 read (SPEC §2, §3).
//!
//! Reading is strict where Dovecot is lax, so that any damage shows as an error: the header
//! length must match the fields exactly, flags must be exactly AEAD, the key-data hash must
//! have the digest's length, and the GCM tag is checked before any plaintext is released.

pub(crate) mod gcm;
mod seal;

use std::borrow::Borrow;

use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::digest::{HashAlg, pbkdf2_key_iv, sha256};
use crate::reader::Reader;
use crate::{KeyId, OpenError, PrivateKey, PublicKey, aes};
pub use seal::{PreparedWrap, Sealer, seal, seal_keyed, seal_prepared};

/// The 9 magic bytes every mail-crypt file starts with (SPEC §2.2, `IOSTREAM_CRYPT_MAGIC`).
pub const MAGIC: [u8; 9] = *b"CRYPTED\x03\x07";

/// True when `data` starts with the mail-crypt magic. Dovecot serves anything else as
/// plaintext (SPEC §2.10 step 1).
pub fn is_sealed(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

/// Opens a sealed file with keys from `lookup` (called with each recipient id the file names,
/// until one returns a key). The plaintext is returned only after its tag verified.
pub fn open<K: Borrow<PrivateKey>>(
    data: &[u8],
    mut lookup: impl FnMut(&KeyId) -> Option<K>,
) -> Result<Plaintext, OpenError> {
    let file = SealedFile::parse(data)?;
    let recipients = file.recipients();
    for r in &recipients {
        if let Some(key) = lookup(&r.id) {
            let fk = file.unwrap_key(key.borrow())?;
            return file.decrypt(&fk);
        }
    }
    Err(OpenError::NoKey {
        ids: recipients.into_iter().map(|r| r.id).collect(),
    })
}

/// A parsed sealed file, borrowing its bytes.
pub struct SealedFile<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    V2 {
        hash: HashAlg,
        rounds: u32,
        entries: Vec<Entry<'a>>,
        kd_hash: &'a [u8],
        /// Ciphertext followed by the 16-byte tag.
        body: &'a [u8],
    },
    V1 {
        eph: &'a [u8],
        id: KeyId,
        seed_hash: &'a [u8],
        enc_seed: &'a [u8],
        body: &'a [u8],
    },
}

struct Entry<'a> {
    kind: u8,
    id: KeyId,
    eph: &'a [u8],
    wrapped: &'a [u8],
}

/// One recipient named in a file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recipient {
    /// The recipient key id (v2 id in v2 files, old id in v1 files).
    pub id: KeyId,
}

/// The unwrapped per-file key material (v2: key ‖ IV ‖ AAD, 60 bytes; v1: the 32-byte seed).
/// Zeroized on drop. Holding it lets a reader skip ECDH + PBKDF2 on later reads.
pub struct FileKey(Zeroizing<Vec<u8>>);

impl FileKey {
    /// The raw key material, for sealing into a cache.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Rebuilds key material saved with [`Self::expose`].
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }
}

/// Decrypted mail, zeroized on drop.
pub struct Plaintext {
    data: Zeroizing<Vec<u8>>,
    integrity: Integrity,
}

/// What was proven about a [`Plaintext`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Integrity {
    /// The v2 GCM tag verified before decryption: the bytes are what was sealed.
    Verified,
    /// A legacy v1 file: the format has no integrity protection.
    Unauthenticated,
}

impl Plaintext {
    /// The decrypted bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Whether the bytes were authenticated.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    /// Takes the bytes out.
    pub fn into_bytes(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(std::mem::take(&mut *self.data))
    }
}

impl Drop for Plaintext {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut *self.data));
    }
}

/// Zeroizes and frees a buffer with one `memset` behind an optimization barrier (zeroize's
/// slice impl). `Zeroizing<Vec<u8>>` itself writes byte by byte with volatile stores, about
/// 2.6 GB/s here, which made dropping a 10 MB [`Plaintext`] cost more than decrypting it.
fn wipe(mut v: Vec<u8>) {
    v.as_mut_slice().zeroize();
    v.spare_capacity_mut().zeroize();
}

impl<'a> SealedFile<'a> {
    /// Parses the header. `data` is the whole file.
    pub fn parse(data: &'a [u8]) -> Result<Self, OpenError> {
        if data.len() < MAGIC.len() {
            return Err(if !data.is_empty() && MAGIC.starts_with(data) {
                OpenError::Truncated("magic")
            } else {
                OpenError::NotMailCrypt(None)
            });
        }
        if !is_sealed(data) {
            return Err(OpenError::NotMailCrypt(None));
        }
        let mut r = Reader::new(data);
        r.take(MAGIC.len());
        let inner = match r.u8().ok_or(OpenError::Truncated("header"))? {
            2 => parse_v2(data, r)?,
            1 => parse_v1(r)?,
            v => return Err(OpenError::NotMailCrypt(Some(v))),
        };
        Ok(Self { inner })
    }

    /// The recipients named in the header.
    pub fn recipients(&self) -> Vec<Recipient> {
        match &self.inner {
            Inner::V2 { entries, .. } => entries.iter().map(|e| Recipient { id: e.id }).collect(),
            Inner::V1 { id, .. } => vec![Recipient { id: *id }],
        }
    }

    /// Format version (1 or 2).
    pub fn version(&self) -> u8 {
        match self.inner {
            Inner::V2 { .. } => 2,
            Inner::V1 { .. } => 1,
        }
    }

    /// Length of the plaintext this file decrypts to.
    pub fn plaintext_len(&self) -> usize {
        match &self.inner {
            Inner::V2 { body, .. } => body.len().saturating_sub(TAG_LEN),
            Inner::V1 { body, .. } => body.len(),
        }
    }

    /// Unwraps the per-file key with the recipient's private key: ECDH, PBKDF2, CBC unwrap and
    /// the key-data check value (SPEC §2.6–2.7), or the v1 seed check (SPEC §3).
    pub fn unwrap_key(&self, key: &PrivateKey) -> Result<FileKey, OpenError> {
        match &self.inner {
            Inner::V2 {
                hash,
                rounds,
                entries,
                kd_hash,
                ..
            } => {
                let ids = || entries.iter().map(|e| e.id).collect::<Vec<_>>();
                let entry = entries
                    .iter()
                    .find(|e| key.public_key().matches_id(&e.id))
                    .ok_or_else(|| OpenError::NoKey { ids: ids() })?;
                if entry.kind != KEY_TYPE_EC {
                    return Err(OpenError::Unsupported("RSA recipient".into()));
                }
                let peer = PublicKey::from_sec1(key.curve(), entry.eph)
                    .map_err(|_| OpenError::KeyUnwrap)?;
                let secret = key.ecdh(&peer)?;
                let kiv = pbkdf2_key_iv(*hash, &secret, entry.eph, *rounds);
                let km = aes::cbc256_decrypt(&kiv.key, &kiv.iv, entry.wrapped)
                    .ok_or(OpenError::KeyUnwrap)?;
                if km.len() != KEY_MATERIAL_LEN
                    || !bool::from(hash.key_data_hash(&km).ct_eq(kd_hash))
                {
                    return Err(OpenError::KeyUnwrap);
                }
                Ok(FileKey(km))
            }
            Inner::V1 {
                eph,
                id,
                seed_hash,
                enc_seed,
                ..
            } => {
                if !key.public_key().matches_id(id) {
                    return Err(OpenError::NoKey { ids: vec![*id] });
                }
                let peer =
                    PublicKey::from_sec1(key.curve(), eph).map_err(|_| OpenError::KeyUnwrap)?;
                let k = Zeroizing::new(sha256(&key.ecdh(&peer)?));
                let mut seed = Zeroizing::new(enc_seed.to_vec());
                aes::ctr256(&k, &[0; 16], &mut seed);
                if !bool::from(sha256(&seed).ct_eq(seed_hash)) {
                    return Err(OpenError::KeyUnwrap);
                }
                Ok(FileKey(seed))
            }
        }
    }

    /// True when `fk` is this file's key: the v2 key-data check value (SPEC §2.7) or the v1
    /// seed hash, compared in constant time. Lets a cached key be checked before use, so a
    /// stale cache entry (the file was sealed again) is told apart from a tampered file.
    pub fn key_matches(&self, fk: &FileKey) -> bool {
        match &self.inner {
            Inner::V2 { hash, kd_hash, .. } => {
                fk.0.len() == KEY_MATERIAL_LEN
                    && bool::from(hash.key_data_hash(&fk.0).ct_eq(kd_hash))
            }
            Inner::V1 { seed_hash, .. } => bool::from(sha256(&fk.0).ct_eq(seed_hash)),
        }
    }

    /// Decrypts with an unwrapped key. For v2 nothing is returned unless the tag verifies; on
    /// a mismatch any decrypted attempt is wiped before the error is returned.
    pub fn decrypt(&self, fk: &FileKey) -> Result<Plaintext, OpenError> {
        match &self.inner {
            Inner::V2 { body, .. } => {
                let (key, iv, aad) = split_key_material(&fk.0).ok_or(OpenError::KeyUnwrap)?;
                let (ct, tag) = body
                    .split_last_chunk::<TAG_LEN>()
                    .ok_or(OpenError::Truncated("authentication tag"))?;
                // Verify-then-release: `gcm::open` returns bytes only for a matching tag and
                // wipes any decrypted attempt otherwise.
                let data = gcm::open(key, iv, aad, ct, tag).map_err(|_| OpenError::TagMismatch)?;
                Ok(Plaintext {
                    data,
                    integrity: Integrity::Verified,
                })
            }
            Inner::V1 { body, .. } => {
                let seed: &[u8; 32] =
                    fk.0.as_slice()
                        .try_into()
                        .map_err(|_| OpenError::KeyUnwrap)?;
                let mut data = Zeroizing::new(body.to_vec());
                aes::ctr256(seed, &[0; 16], &mut data);
                Ok(Plaintext {
                    data,
                    integrity: Integrity::Unauthenticated,
                })
            }
        }
    }
}

/// SPEC §2.1, §2.5: strict v2 header parse. `r` stands after the version byte.
fn parse_v2<'a>(data: &'a [u8], mut r: Reader<'a>) -> Result<Inner<'a>, OpenError> {
    let short = OpenError::Truncated("header");
    let flags = r.u32be().ok_or(short)?;
    match flags {
        FLAG_AEAD => {}
        FLAG_HMAC => {
            return Err(OpenError::Unsupported(
                "HMAC integrity (fs-crypt files)".into(),
            ));
        }
        0 | FLAG_NONE => {
            return Err(OpenError::Unsupported(
                "no integrity protection; refusing to read".into(),
            ));
        }
        _ => return Err(OpenError::Malformed("flags")),
    }
    let hdr_len = usize::try_from(r.u32be().ok_or(OpenError::Truncated("header"))?)
        .map_err(|_| OpenError::Malformed("header length"))?;
    if hdr_len > data.len() {
        return Err(OpenError::Truncated("header"));
    }
    let header = data.get(..hdr_len).ok_or(OpenError::Truncated("header"))?;
    let mut h = Reader::new(header);
    h.take(r.pos());
    let cipher = der_oid(&mut h)?;
    if cipher != OID_AES_256_GCM {
        return Err(OpenError::Unsupported(format!(
            "cipher OID {} (only aes-256-gcm)",
            hex::encode(cipher)
        )));
    }
    let mac = der_oid(&mut h)?;
    let hash = HashAlg::from_oid_der(mac)
        .ok_or_else(|| OpenError::Unsupported(format!("hash OID {}", hex::encode(mac))))?;
    let rounds = h.u32be().ok_or(OpenError::Malformed("header length"))?;
    if rounds == 0 || rounds > crate::digest::MAX_ROUNDS {
        // Dovecot writes 2048; a huge count is a cheap way to make a reader spin.
        return Err(OpenError::Malformed("rounds"));
    }
    let keydata = h
        .u32_prefixed()
        .ok_or(OpenError::Malformed("header length"))?;
    if !h.rest().is_empty() {
        return Err(OpenError::Malformed("header length"));
    }
    let mut k = Reader::new(keydata);
    let bad = OpenError::Malformed("key data");
    let count = k.u8().ok_or(OpenError::Malformed("key data"))?;
    if count == 0 {
        return Err(bad);
    }
    let mut entries = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let entry = (|| {
            Some(Entry {
                kind: k.u8()?,
                id: KeyId(k.array::<32>()?),
                eph: k.u32_prefixed()?,
                wrapped: k.u32_prefixed()?,
            })
        })()
        .ok_or(OpenError::Malformed("key data"))?;
        entries.push(entry);
    }
    let kd_hash = k.u32_prefixed().ok_or(OpenError::Malformed("key data"))?;
    if !k.rest().is_empty() || kd_hash.len() != hash.output_len() {
        return Err(bad);
    }
    let body = data.get(hdr_len..).unwrap_or_default();
    if body.len() < TAG_LEN {
        return Err(OpenError::Truncated("authentication tag"));
    }
    Ok(Inner::V2 {
        hash,
        rounds,
        entries,
        kd_hash,
        body,
    })
}

/// SPEC §3: v1 header. `r` stands after the version byte.
fn parse_v1(mut r: Reader<'_>) -> Result<Inner<'_>, OpenError> {
    let keydata = r.u16_prefixed().ok_or(OpenError::Truncated("header"))?;
    let body = r.rest();
    let mut k = Reader::new(keydata);
    let mut field = || match k.u16_prefixed() {
        Some(f) if !f.is_empty() => Ok(f),
        _ => Err(OpenError::Malformed("v1 key data")),
    };
    let eph = field()?;
    let id = KeyId(
        field()?
            .try_into()
            .map_err(|_| OpenError::Malformed("v1 key id"))?,
    );
    let seed_hash = field()?;
    let enc_seed = field()?;
    if seed_hash.len() != 32 || enc_seed.len() != 32 {
        return Err(OpenError::Malformed("v1 key data"));
    }
    Ok(Inner::V1 {
        eph,
        id,
        seed_hash,
        enc_seed,
        body,
    })
}

/// A DER OBJECT IDENTIFIER TLV with a short-form length (all Dovecot's reader supports).
fn der_oid<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], OpenError> {
    let start = r.rest();
    let (tag, len) = (r.u8(), r.u8());
    match (tag, len) {
        (Some(0x06), Some(len)) if len < 0x80 => {
            r.take(usize::from(len))
                .ok_or(OpenError::Malformed("header length"))?;
            start
                .get(..2 + usize::from(len))
                .ok_or(OpenError::Malformed("algorithm OID"))
        }
        _ => Err(OpenError::Malformed("algorithm OID")),
    }
}

fn split_key_material(km: &[u8]) -> Option<(&[u8; 32], &[u8; 12], &[u8; 16])> {
    let (key, rest) = km.split_first_chunk::<32>()?;
    let (iv, rest) = rest.split_first_chunk::<12>()?;
    let aad: &[u8; 16] = rest.try_into().ok()?;
    Some((key, iv, aad))
}

pub(crate) const TAG_LEN: usize = 16;
pub(crate) const KEY_MATERIAL_LEN: usize = 60;
pub(crate) const KEY_TYPE_EC: u8 = 2;
pub(crate) const FLAG_HMAC: u32 = 0x1;
pub(crate) const FLAG_AEAD: u32 = 0x2;
pub(crate) const FLAG_NONE: u32 = 0x4;
pub(crate) const OID_AES_256_GCM: [u8; 11] = [
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e,
];
