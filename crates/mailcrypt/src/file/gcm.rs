//! AES-256-GCM as one incremental stream (SPEC §2.8: the whole message is one GCM message,
//! 12-byte IV, 16-byte AAD, tag at the end), composed from AES-CTR and GHASH because the
//! one-shot `aes-gcm` API cannot stream. Checked byte-for-byte against `aes-gcm` in tests.

use aes::Aes256;
use cipher::{BlockCipherEncrypt as _, KeyInit as _, KeyIvInit as _, StreamCipher as _};
use ghash::GHash;
use ghash::universal_hash::UniversalHash as _;
use zeroize::Zeroize as _;

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
}
