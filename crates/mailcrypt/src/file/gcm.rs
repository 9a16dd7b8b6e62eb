//! AES-256-GCM for the message body (SPEC §2.8: the whole message is one GCM message, 12-byte
//! IV, 16-byte AAD, tag at the end).
//!
//! Two shapes, behind one small seam so the backend can change:
//!
//! * one-shot ([`seal`], [`open`]), used by `seal()` and `SealedFile::decrypt()` when the whole
//!   message is in memory. It goes through the [`OneShot`] trait, implemented by [`AwsLc`]
//!   (the default, [`Backend`]: about 4× faster, crates.md §3.3) and by [`RustCrypto`] (the
//!   composition below). A unit test checks the two byte for byte.
//! * streaming ([`Gcm`]), used by `Sealer`: aws-lc-rs has no incremental GCM, so this stays
//!   on AES-CTR + GHASH from RustCrypto, checked byte for byte against `aes-gcm` in tests.
//!
//! Whatever the backend, [`open`] releases nothing unless the tag verified, and on a mismatch
//! zeroizes whatever the backend wrote into its output before it returns. Both directions
//! work out of place: at 10 MB a copy costs about as much as the cipher (perf), and filling a
//! fresh buffer with zeros is half the price of copying into it.

use aes::Aes256;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use cipher::{BlockCipherEncrypt as _, KeyInit as _, KeyIvInit as _, StreamCipher as _};
use ghash::GHash;
use ghash::universal_hash::UniversalHash as _;
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

/// The one-shot backend used by `seal()` and `SealedFile::decrypt()`.
pub(crate) type Backend = AwsLc;

/// Appends `encrypt(pt) ‖ tag` to `out`, with [`Backend`]. On error `out` is left as it was.
pub(crate) fn seal(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8; 16],
    pt: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TooLong> {
    seal_with::<Backend>(key, iv, aad, pt, out)
}

/// Verifies `tag` over `ct` and only then returns the plaintext, with [`Backend`]. On a
/// mismatch the buffer the backend decrypted into (if it did) is zeroized before returning.
pub(crate) fn open(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8; 16],
    ct: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<Zeroizing<Vec<u8>>, TagMismatch> {
    open_with::<Backend>(key, iv, aad, ct, tag)
}

fn seal_with<B: OneShot>(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8; 16],
    pt: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TooLong> {
    let start = out.len();
    out.reserve_exact(pt.len().saturating_add(TAG_LEN));
    out.resize(start.saturating_add(pt.len()), 0);
    match B::seal_into(key, iv, aad, pt, out.get_mut(start..).unwrap_or_default()) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn open_with<B: OneShot>(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8; 16],
    ct: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<Zeroizing<Vec<u8>>, TagMismatch> {
    let mut pt = Zeroizing::new(vec![0; ct.len()]);
    match B::open_into(key, iv, aad, ct, tag, &mut pt) {
        Ok(()) => Ok(pt),
        Err(e) => {
            // Explicit, though `Zeroizing` would do it on drop: the attempt never leaves.
            pt.zeroize();
            Err(e)
        }
    }
}

/// The tag did not verify (or the input cannot be a valid GCM message at all).
#[derive(Debug)]
pub(crate) struct TagMismatch;

/// The message is longer than one GCM message may be (2^36 − 32 bytes).
#[derive(Debug)]
pub(crate) struct TooLong;

/// One-shot AES-256-GCM with a 12-byte IV and 16-byte AAD: the seam between the file format
/// and a crypto library. Output slices have the input's length (else `Err`, nothing written).
pub(crate) trait OneShot {
    /// Encrypts `pt` into `ct`; returns the tag.
    fn seal_into(
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8; 16],
        pt: &[u8],
        ct: &mut [u8],
    ) -> Result<[u8; TAG_LEN], TooLong>;

    /// Decrypts `ct` into `pt` if `tag` verifies. On `Err`, `pt` may hold anything
    /// (including a decrypted attempt): callers go through [`open`], which wipes it.
    fn open_into(
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8; 16],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
        pt: &mut [u8],
    ) -> Result<(), TagMismatch>;
}

/// aws-lc-rs (`EVP_AEAD` AES-256-GCM, stitched AES-NI/VAES + CLMUL code). Its open decrypts
/// and authenticates in one pass, then compares the tag; the caller-visible result is the
/// same as verify-then-decrypt because [`open`] wipes the output on a mismatch.
pub(crate) struct AwsLc;

impl AwsLc {
    fn key(key: &[u8; 32]) -> Option<LessSafeKey> {
        UnboundKey::new(&AES_256_GCM, key)
            .ok()
            .map(LessSafeKey::new)
    }
}

impl OneShot for AwsLc {
    fn seal_into(
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8; 16],
        pt: &[u8],
        ct: &mut [u8],
    ) -> Result<[u8; TAG_LEN], TooLong> {
        // A 32-byte key always makes an AES-256-GCM key; what is left is length.
        let key = Self::key(key).ok_or(TooLong)?;
        let mut tag = [0; TAG_LEN];
        key.seal_out_of_place_scatter(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad),
            pt,
            ct,
            &[],
            &mut tag,
        )
        .map_err(|_| TooLong)?;
        Ok(tag)
    }

    fn open_into(
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8; 16],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
        pt: &mut [u8],
    ) -> Result<(), TagMismatch> {
        let key = Self::key(key).ok_or(TagMismatch)?;
        key.open_separate_gather(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad),
            ct,
            tag,
            pt,
        )
        .map_err(|_| TagMismatch)
    }
}

/// The RustCrypto composition ([`Gcm`]): GHASH over the ciphertext first, and the keystream
/// only after the tag verified, so on a mismatch `pt` is never written.
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "the fallback backend: point `Backend` here to use it"
    )
)]
pub(crate) struct RustCrypto;

impl OneShot for RustCrypto {
    fn seal_into(
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8; 16],
        pt: &[u8],
        ct: &mut [u8],
    ) -> Result<[u8; TAG_LEN], TooLong> {
        if ct.len() != pt.len() || u64::try_from(pt.len()).map_or(true, |n| n > MAX_LEN) {
            return Err(TooLong);
        }
        ct.copy_from_slice(pt);
        let mut gcm = Gcm::new(key, iv, aad);
        gcm.encrypt(ct);
        Ok(gcm.tag())
    }

    fn open_into(
        key: &[u8; 32],
        iv: &[u8; 12],
        aad: &[u8; 16],
        ct: &[u8],
        tag: &[u8; TAG_LEN],
        pt: &mut [u8],
    ) -> Result<(), TagMismatch> {
        if pt.len() != ct.len() || u64::try_from(ct.len()).map_or(true, |n| n > MAX_LEN) {
            return Err(TagMismatch);
        }
        let mut mac = Gcm::new(key, iv, aad);
        mac.absorb(ct);
        // The keystream half continues from the same start after the tag check.
        let mut ks = Gcm::new(key, iv, aad);
        if !bool::from(mac.tag().ct_eq(tag)) {
            return Err(TagMismatch);
        }
        pt.copy_from_slice(ct);
        ks.apply_keystream(pt);
        Ok(())
    }
}

/// Incremental GCM state: CTR keystream from counter 2, GHASH over AAD then ciphertext.
pub(crate) struct Gcm {
    ctr: ctr::Ctr32BE<Aes256>,
    ghash: GHash,
    tag_mask: [u8; 16],
    pending: [u8; 16],
    pending_len: usize,
    aad_len: u64,
    ct_len: u64,
}

impl Gcm {
    pub(crate) fn new(key: &[u8; 32], iv: &[u8; 12], aad: &[u8]) -> Self {
        let cipher = Aes256::new(key.into());
        let mut h = ghash::Block::default();
        cipher.encrypt_block(&mut h);
        let mut ghash = GHash::new(&h);
        h.zeroize();
        ghash.update_padded(aad);
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(iv);
        j0[15] = 1;
        let mut ctr = ctr::Ctr32BE::<Aes256>::new(key.into(), (&j0).into());
        let mut tag_mask = [0u8; 16];
        ctr.apply_keystream(&mut tag_mask);
        Self {
            ctr,
            ghash,
            tag_mask,
            pending: [0; 16],
            pending_len: 0,
            aad_len: aad.len() as u64,
            ct_len: 0,
        }
    }

    /// Encrypts `buf` in place and absorbs the ciphertext.
    pub(crate) fn encrypt(&mut self, buf: &mut [u8]) {
        self.ctr.apply_keystream(buf);
        self.absorb(buf);
    }

    /// Absorbs ciphertext into GHASH without decrypting it (the verify pass).
    pub(crate) fn absorb(&mut self, mut data: &[u8]) {
        self.ct_len += data.len() as u64;
        if self.pending_len > 0 {
            let n = (16 - self.pending_len).min(data.len());
            let (head, rest) = data.split_at(n);
            if let Some(dst) = self.pending.get_mut(self.pending_len..self.pending_len + n) {
                dst.copy_from_slice(head);
            }
            self.pending_len += n;
            data = rest;
            if self.pending_len < 16 {
                return;
            }
            self.ghash.update(&[self.pending.into()]);
            self.pending_len = 0;
        }
        let (blocks, tail) = ghash::Block::slice_as_chunks(data);
        self.ghash.update(blocks);
        if let Some(dst) = self.pending.get_mut(..tail.len()) {
            dst.copy_from_slice(tail);
        }
        self.pending_len = tail.len();
    }

    /// Applies the keystream (decrypts) without absorbing: use after [`Self::absorb`].
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "used by the fallback backend `RustCrypto`")
    )]
    pub(crate) fn apply_keystream(&mut self, buf: &mut [u8]) {
        self.ctr.apply_keystream(buf);
    }

    /// The 16-byte tag over everything absorbed.
    pub(crate) fn tag(mut self) -> [u8; 16] {
        let pending = self.pending;
        self.ghash
            .update_padded(pending.get(..self.pending_len).unwrap_or_default());
        let mut lens = [0u8; 16];
        let (a, c) = lens.split_at_mut(8);
        a.copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        c.copy_from_slice(&(self.ct_len * 8).to_be_bytes());
        self.ghash.update(&[lens.into()]);
        let mut tag: [u8; 16] = self.ghash.clone().finalize().into();
        for (t, m) in tag.iter_mut().zip(self.tag_mask) {
            *t ^= m;
        }
        tag
    }
}

impl Drop for Gcm {
    fn drop(&mut self) {
        self.tag_mask.zeroize();
        self.pending.zeroize();
    }
}

const TAG_LEN: usize = super::TAG_LEN;
/// NIST SP 800-38D: at most 2^39 − 256 bits of plaintext under one IV.
#[cfg_attr(
    not(test),
    allow(dead_code, reason = "used by the fallback backend `RustCrypto`")
)]
const MAX_LEN: u64 = (1 << 36) - 32;

#[cfg(test)]
mod tests {
    use aes_gcm::aead::{AeadInOut, KeyInit};

    use super::*;

    #[test]
    fn matches_aes_gcm_for_every_split() {
        let key = [7u8; 32];
        let iv = [9u8; 12];
        let aad = [3u8; 16];
        let reference = aes_gcm::Aes256Gcm::new((&key).into());
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut expect = msg.clone();
            let tag = reference
                .encrypt_inout_detached((&iv).into(), &aad, expect.as_mut_slice().into())
                .unwrap();
            for split in [1usize, 5, 16, 17, 64] {
                let mut g = Gcm::new(&key, &iv, &aad);
                let mut out = msg.clone();
                for chunk in out.chunks_mut(split) {
                    g.encrypt(chunk);
                }
                assert_eq!(out, expect, "len {len} split {split}");
                assert_eq!(g.tag(), tag.as_slice(), "len {len} split {split}");
            }
        }
    }

    fn sealed<B: OneShot>(msg: &[u8], key: &[u8; 32], iv: &[u8; 12], aad: &[u8; 16]) -> Vec<u8> {
        let mut out = b"header".to_vec();
        seal_with::<B>(key, iv, aad, msg, &mut out).unwrap();
        assert_eq!(out.drain(..6).as_slice(), b"header");
        out
    }

    #[test]
    fn backends_agree_byte_for_byte() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8 ^ 0x5a);
        let iv: [u8; 12] = core::array::from_fn(|i| 0xc0 + i as u8);
        let aad: [u8; 16] = core::array::from_fn(|i| 0x30 + i as u8);
        let reference = aes_gcm::Aes256Gcm::new((&key).into());
        for len in [0usize, 1, 15, 16, 17, 1000, 100_003] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let a = sealed::<AwsLc>(&msg, &key, &iv, &aad);
            let r = sealed::<RustCrypto>(&msg, &key, &iv, &aad);
            assert_eq!(a, r, "ciphertext and tag, len {len}");
            let mut expect = msg.clone();
            let tag = reference
                .encrypt_inout_detached((&iv).into(), &aad, expect.as_mut_slice().into())
                .unwrap();
            expect.extend_from_slice(&tag);
            assert_eq!(a, expect, "against aes-gcm, len {len}");
            let (ct, tag) = a.split_last_chunk::<TAG_LEN>().unwrap();
            // Seal with one, open with the other.
            let pt = open_with::<RustCrypto>(&key, &iv, &aad, ct, tag).unwrap();
            assert_eq!(pt.as_slice(), msg, "aws-lc → RustCrypto, len {len}");
            let pt = open_with::<AwsLc>(&key, &iv, &aad, ct, tag).unwrap();
            assert_eq!(pt.as_slice(), msg, "RustCrypto → aws-lc, len {len}");
            // The default path is one of them.
            let mut out = Vec::new();
            seal(&key, &iv, &aad, &msg, &mut out).unwrap();
            assert_eq!(out, a);
            assert_eq!(open(&key, &iv, &aad, ct, tag).unwrap().as_slice(), msg);
        }
    }

    #[test]
    fn both_backends_refuse_any_flipped_bit() {
        let (key, iv, aad) = ([1u8; 32], [2u8; 12], [3u8; 16]);
        for len in [0usize, 1, 17, 1000] {
            let msg = vec![0xa5u8; len];
            let good = sealed::<AwsLc>(&msg, &key, &iv, &aad);
            for bit in [0, 7, 8 * len.saturating_sub(1), 8 * len, 8 * len + 127] {
                let mut bad = good.clone();
                *bad.get_mut(bit / 8).unwrap() ^= 1 << (bit % 8);
                let (ct, tag) = bad.split_last_chunk::<TAG_LEN>().unwrap();
                assert!(open_with::<AwsLc>(&key, &iv, &aad, ct, tag).is_err());
                assert!(open_with::<RustCrypto>(&key, &iv, &aad, ct, tag).is_err());
            }
            let mut bad_aad = aad;
            bad_aad[0] ^= 0x80;
            let (ct, tag) = good.split_last_chunk::<TAG_LEN>().unwrap();
            assert!(open_with::<AwsLc>(&key, &iv, &bad_aad, ct, tag).is_err());
            assert!(open_with::<RustCrypto>(&key, &iv, &bad_aad, ct, tag).is_err());
        }
    }

    #[test]
    fn a_refused_open_writes_nothing_or_only_what_it_wipes() {
        let (key, iv, aad) = ([1u8; 32], [2u8; 12], [3u8; 16]);
        let good = sealed::<RustCrypto>(b"attack at dawn", &key, &iv, &aad);
        let (ct, tag) = good.split_last_chunk::<TAG_LEN>().unwrap();
        let mut bad_tag = *tag;
        bad_tag[15] ^= 1;
        // RustCrypto checks first and never writes the output.
        let mut pt = [0u8; 14];
        assert!(RustCrypto::open_into(&key, &iv, &aad, ct, &bad_tag, &mut pt).is_err());
        assert_eq!(pt, [0; 14]);
        // aws-lc may leave its decrypted attempt behind, which is why `open_with` wipes.
        let mut pt = [0u8; 14];
        assert!(AwsLc::open_into(&key, &iv, &aad, ct, &bad_tag, &mut pt).is_err());
        assert!(open_with::<AwsLc>(&key, &iv, &aad, ct, &bad_tag).is_err());
        // Mismatched lengths are refused, not a panic.
        let mut short = [0u8; 3];
        assert!(RustCrypto::open_into(&key, &iv, &aad, ct, tag, &mut short).is_err());
        assert!(AwsLc::open_into(&key, &iv, &aad, ct, tag, &mut short).is_err());
        assert!(RustCrypto::seal_into(&key, &iv, &aad, b"abcd", &mut short).is_err());
        assert!(AwsLc::seal_into(&key, &iv, &aad, b"abcd", &mut short).is_err());
    }
}
