//! The two SHA-256 loops every sealed file costs, run on the bare compression function.
//!
//! Sealing one file runs PBKDF2-HMAC-SHA-256 with 2048 rounds to 48 bytes (SPEC §2.6: 8192
//! compressions) and the 2048-step key-data hash (SPEC §2.7: 2049 compressions). Through a
//! generic HMAC or digest API every step also pays for buffering, padding and context copies,
//! which cost as much as the compressions themselves. Both loops hash inputs of a fixed
//! length, so their padded blocks can be built once and only the chaining value rewritten:
//! each PBKDF2 round is then exactly two calls of `sha2`'s compression function (SHA-NI where
//! the CPU has it) and each key-data step one.
//!
//! Only the loops are ours; the compression function and the digest of the first PBKDF2 round
//! (which hashes the salt) are `sha2`'s. The tests hold both functions to RFC 7914's vector,
//! RustCrypto's `pbkdf2` and the plain digest definition for every length that matters.

use sha2::block_api::compress256;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

const BLOCK: usize = 64;
const OUT: usize = 32;
/// SHA-256's initial chaining value (FIPS 180-4 §5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Copies `src` over the start of `dst` (as much as fits).
fn put(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// Writes the chaining value as the big-endian digest bytes over the start of `dst`.
fn put_state(dst: &mut [u8], state: &[u32; 8]) {
    for (d, w) in dst.chunks_exact_mut(4).zip(state) {
        put(d, &w.to_be_bytes());
    }
}

/// A block with a `len`-byte message slot at its start, followed by SHA-256's padding for a
/// message of `total` bytes: `0x80`, zeros, the bit length in the last 8 bytes.
fn padded_block(len: usize, total: usize) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    if let Some(x) = b.get_mut(len) {
        *x = 0x80;
    }
    let bits = ((total as u64) * 8).to_be_bytes();
    if let Some(tail) = b.get_mut(BLOCK - 8..) {
        put(tail, &bits);
    }
    b
}

/// `PBKDF2(HMAC-SHA-256, password, salt, rounds, out.len())` (RFC 8018 §5.2).
///
/// `rounds` of 0 is treated as 1 (PBKDF2 is undefined for 0; callers route it elsewhere).
pub(crate) fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    // HMAC key block K0 (RFC 2104): the key, or its hash when longer than a block, zero padded.
    let mut k0 = Zeroizing::new([0u8; BLOCK]);
    if password.len() > BLOCK {
        put(k0.as_mut_slice(), &Sha256::digest(password));
    } else {
        put(k0.as_mut_slice(), password);
    }
    // K0 ^ ipad and K0 ^ opad, and the chaining values after them: every round resumes there.
    let mut ipad = Zeroizing::new([0u8; BLOCK]);
    let mut opad = Zeroizing::new([0u8; BLOCK]);
    for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(k0.iter()) {
        *i = k ^ 0x36;
        *o = k ^ 0x5c;
    }
    k0.zeroize();
    let mut inner0 = Zeroizing::new(IV);
    let mut outer0 = Zeroizing::new(IV);
    compress256(&mut inner0, &[*ipad]);
    compress256(&mut outer0, &[*opad]);

    let u1 = |i: u32| {
        // U1 = HMAC(P, S ‖ INT(i)): the one round whose message is not 32 bytes.
        let mut inner = Sha256::new();
        inner.update(ipad.as_slice());
        inner.update(salt);
        inner.update(i.to_be_bytes());
        let mut outer = Sha256::new();
        outer.update(opad.as_slice());
        outer.update(inner.finalize());
        let mut u = outer.finalize();
        let mut bytes = Zeroizing::new([0u8; OUT]);
        put(bytes.as_mut_slice(), &u);
        u.zeroize();
        bytes
    };
    // Output blocks are independent chains: two at a time where the CPU overlaps them.
    let two_lanes = sha256x2::accelerated();
    let mut rest = out;
    let mut i = 1u32;
    while !rest.is_empty() {
        let taken = std::mem::take(&mut rest);
        let (a, tail) = taken.split_at_mut(taken.len().min(OUT));
        if two_lanes && !tail.is_empty() {
            let (b, tail) = tail.split_at_mut(tail.len().min(OUT));
            let (ta, tb) = iterate_two(&inner0, &outer0, &u1(i), &u1(i + 1), rounds);
            put(a, ta.as_slice());
            put(b, tb.as_slice());
            rest = tail;
            i += 2;
        } else {
            put(a, iterate_one(&inner0, &outer0, &u1(i), rounds).as_slice());
            rest = tail;
            i += 1;
        }
    }
}

/// `T = U1 ^ U2 ^ … ^ U_rounds` for one output block, from the chaining values after the
/// HMAC key blocks.
fn iterate_one(
    inner0: &[u32; 8],
    outer0: &[u32; 8],
    u1: &[u8; OUT],
    rounds: u32,
) -> Zeroizing<[u8; OUT]> {
    // Both hashes of a round see one block after the key block: a 32-byte value, padded for
    // a 96-byte message.
    let mut ublock = Zeroizing::new(padded_block(OUT, BLOCK + OUT));
    let mut hblock = Zeroizing::new(padded_block(OUT, BLOCK + OUT));
    let mut t = Zeroizing::new(*u1);
    let mut state = Zeroizing::new([0u32; 8]);
    put(ublock.as_mut_slice(), u1);
    for _ in 1..rounds {
        // U_j = H(K0^opad ‖ H(K0^ipad ‖ U_{j-1})), resumed from the saved chaining values.
        *state = *inner0;
        compress256(&mut state, &[*ublock]);
        put_state(hblock.as_mut_slice(), &state);
        *state = *outer0;
        compress256(&mut state, &[*hblock]);
        put_state(ublock.as_mut_slice(), &state);
        for (x, u) in t.iter_mut().zip(ublock.iter()) {
            *x ^= u;
        }
    }
    t
}

/// [`iterate_one`] for two output blocks at once, each round's hashes of both run side by
/// side ([`sha256x2::compress2`]). Blocks stay as words: a round's output is the next
/// block's first half, and the padding after it is the same for the inner and outer hash.
fn iterate_two(
    inner0: &[u32; 8],
    outer0: &[u32; 8],
    u1a: &[u8; OUT],
    u1b: &[u8; OUT],
    rounds: u32,
) -> (Zeroizing<[u8; OUT]>, Zeroizing<[u8; OUT]>) {
    fn words(bytes: &[u8; OUT]) -> Zeroizing<[u32; 8]> {
        let mut w = Zeroizing::new([0u32; 8]);
        for (d, c) in w.iter_mut().zip(bytes.chunks_exact(4)) {
            *d = c.try_into().map(u32::from_be_bytes).unwrap_or(0);
        }
        w
    }
    fn set(block: &mut [u32; 16], state: &[u32; 8]) {
        for (d, s) in block.iter_mut().zip(state) {
            *d = *s;
        }
    }
    // A 32-byte value, then padding for a 96-byte message: 0x80, zeros, 768 bits.
    let mut padded = [0u32; 16];
    padded[8] = 0x8000_0000;
    padded[15] = ((BLOCK + OUT) * 8) as u32;
    let (mut wa, mut wb) = (Zeroizing::new(padded), Zeroizing::new(padded));
    let (mut ta, mut tb) = (words(u1a), words(u1b));
    set(&mut wa, &ta);
    set(&mut wb, &tb);
    let (mut sa, mut sb) = (Zeroizing::new([0u32; 8]), Zeroizing::new([0u32; 8]));
    for _ in 1..rounds {
        (*sa, *sb) = (*inner0, *inner0);
        sha256x2::compress2(&mut sa, &wa, &mut sb, &wb);
        set(&mut wa, &sa);
        set(&mut wb, &sb);
        (*sa, *sb) = (*outer0, *outer0);
        sha256x2::compress2(&mut sa, &wa, &mut sb, &wb);
        set(&mut wa, &sa);
        set(&mut wb, &sb);
        for ((x, y), (u, v)) in ta
            .iter_mut()
            .zip(tb.iter_mut())
            .zip(sa.iter().zip(sb.iter()))
        {
            *x ^= u;
            *y ^= v;
        }
    }
    let (mut a, mut b) = (Zeroizing::new([0u8; OUT]), Zeroizing::new([0u8; OUT]));
    put_state(a.as_mut_slice(), &ta);
    put_state(b.as_mut_slice(), &tb);
    (a, b)
}

/// The SHA-256 key-data check value of SPEC §2.7: `h = H(km)`, then `h = H(h ‖ u32be(i))`
/// for `i` in `1..=steps`.
pub(crate) fn key_data_hash_sha256(km: &[u8], steps: u32) -> [u8; OUT] {
    // Every step hashes 36 bytes: one block, the counter after the chaining value.
    let mut block = Zeroizing::new(padded_block(OUT + 4, OUT + 4));
    put(block.as_mut_slice(), &Sha256::digest(km));
    let mut state = Zeroizing::new([0u32; 8]);
    for i in 1..=steps {
        if let Some(counter) = block.get_mut(OUT..) {
            put(counter, &i.to_be_bytes());
        }
        *state = IV;
        compress256(&mut state, &[*block]);
        put_state(block.as_mut_slice(), &state);
    }
    let mut h = [0u8; OUT];
    put(&mut h, block.as_slice());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7914 §11, the published PBKDF2-HMAC-SHA-256 vector.
    #[test]
    fn rfc7914_vector() {
        let mut out = [0u8; 64];
        pbkdf2_hmac_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            hex::encode(out),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
    }

    /// Equal to RustCrypto's generic PBKDF2 for passwords around the block size (the P-521
    /// ECDH secret is 66 bytes, over it), salts of every shape, partial output blocks and
    /// the round counts files and key strings use.
    #[test]
    fn pbkdf2_matches_rustcrypto() {
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for plen in [0, 1, 32, 63, 64, 65, 66, 133] {
            for slen in [0, 8, 33, 133] {
                for rounds in [1, 2, 3, 2048] {
                    for len in [1, 31, 32, 33, 48, 64, 100] {
                        let (p, s) = (&bytes[..plen], &bytes[50..50 + slen]);
                        let mut ours = vec![0u8; len];
                        let mut theirs = vec![0u8; len];
                        pbkdf2_hmac_sha256(p, s, rounds, &mut ours);
                        pbkdf2::pbkdf2_hmac::<Sha256>(p, s, rounds, &mut theirs);
                        assert_eq!(ours, theirs, "p {plen} s {slen} r {rounds} len {len}");
                    }
                }
            }
        }
    }

    /// Equal to the definition written with the plain digest API.
    #[test]
    fn key_data_hash_matches_definition() {
        for km in [&b""[..], b"k", &[7u8; 32], &[9u8; 133]] {
            for steps in [0u32, 1, 2, 2048] {
                let mut h = Sha256::digest(km);
                for i in 1..=steps {
                    let mut d = Sha256::new();
                    d.update(h);
                    d.update(i.to_be_bytes());
                    h = d.finalize();
                }
                assert_eq!(key_data_hash_sha256(km, steps), h[..], "steps {steps}");
            }
        }
    }
}
