//! Two independent SHA-256 compressions at once.
//!
//! A SHA-256 compression is one long dependency chain: on x86 CPUs with the SHA extensions
//! each `sha256rnds2` waits for the previous one, so a single chain leaves the unit idle
//! most of the time. Two unrelated chains issued side by side fill those gaps and run in
//! little more than the time of one. PBKDF2 with a 48-byte output (what every Dovecot
//! mail-crypt file header costs to write and to open) is exactly two such chains.
//!
//! [`compress2`] runs both on the SHA extensions when the CPU has them, and otherwise falls
//! back to `sha2`'s [`compress256`] twice, so results never depend on the CPU. Blocks come as
//! sixteen big-endian message words, which is what a caller iterating a hash over hash
//! outputs holds anyway. The tests hold it to `sha2` on random states and blocks.

use sha2::block_api::compress256;

/// Compresses one 64-byte block given as 16 big-endian words into each of two states:
/// `a = compress(a, wa)` and `b = compress(b, wb)`, as FIPS 180-4 §6.2.2 defines it.
pub fn compress2(a: &mut [u32; 8], wa: &[u32; 16], b: &mut [u32; 8], wb: &[u32; 16]) {
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        // SAFETY: `shani::compress2` is safe code compiled with the `sha` and `sse4.1`
        // target features; the only requirement for calling it is that this CPU implements
        // them, which `available()` has just checked at run time (CPUID, via std's cached
        // `is_x86_feature_detected!`). It takes only references and dereferences no raw
        // pointer, so there is no other precondition.
        #[allow(unsafe_code)]
        unsafe {
            shani::compress2(a, wa, b, wb)
        };
        return;
    }
    compress256(a, &[to_bytes(wa)]);
    compress256(b, &[to_bytes(wb)]);
}

/// Whether [`compress2`] runs on the SHA extensions here (for benchmarks and logs).
pub fn accelerated() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        shani::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The block as bytes, for `sha2`'s byte-oriented compression.
fn to_bytes(w: &[u32; 16]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (d, w) in out.chunks_exact_mut(4).zip(w) {
        for (d, s) in d.iter_mut().zip(w.to_be_bytes()) {
            *d = s;
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_extract_epi32, _mm_set_epi32,
        _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
    };

    /// The round constants K (FIPS 180-4 §4.2.2), four rounds to a row.
    const K: [[u32; 4]; 16] = [
        [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5],
        [0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5],
        [0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3],
        [0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174],
        [0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc],
        [0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da],
        [0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7],
        [0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967],
        [0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13],
        [0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85],
        [0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3],
        [0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070],
        [0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5],
        [0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3],
        [0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208],
        [0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2],
    ];

    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("sha") && std::arch::is_x86_feature_detected!("sse4.1")
    }

    /// Four words as a vector, the first in the lowest lane.
    #[target_feature(enable = "sse2")]
    fn v(w: [u32; 4]) -> __m128i {
        let [w0, w1, w2, w3] = w.map(|x| x as i32);
        _mm_set_epi32(w3, w2, w1, w0)
    }

    /// One lane's working state: the `ABEF` and `CDGH` halves the SHA instructions use and
    /// the last four message-word vectors of the schedule.
    #[derive(Clone, Copy)]
    struct Lane {
        abef: __m128i,
        cdgh: __m128i,
        m: [__m128i; 4],
    }

    #[target_feature(enable = "sha,sse4.1")]
    fn load(state: &[u32; 8], w: &[u32; 16]) -> Lane {
        let [a, b, c, d, e, f, g, h] = *state;
        let [
            w0,
            w1,
            w2,
            w3,
            w4,
            w5,
            w6,
            w7,
            w8,
            w9,
            w10,
            w11,
            w12,
            w13,
            w14,
            w15,
        ] = *w;
        Lane {
            abef: v([f, e, b, a]),
            cdgh: v([h, g, d, c]),
            m: [
                v([w0, w1, w2, w3]),
                v([w4, w5, w6, w7]),
                v([w8, w9, w10, w11]),
                v([w12, w13, w14, w15]),
            ],
        }
    }

    /// Four rounds: the next four message words (computed from the last sixteen once the
    /// block's own are used up, FIPS 180-4 §6.2.2 step 1), plus K, into the state.
    #[target_feature(enable = "sha,sse4.1")]
    fn rounds4(l: &mut Lane, k: [u32; 4], schedule: bool) {
        let [m0, m1, m2, m3] = l.m;
        let msg = if schedule {
            // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four at a time.
            let t = _mm_add_epi32(_mm_sha256msg1_epu32(m0, m1), _mm_alignr_epi8::<4>(m3, m2));
            _mm_sha256msg2_epu32(t, m3)
        } else {
            m0
        };
        l.m = [m1, m2, m3, msg];
        let wk = _mm_add_epi32(msg, v(k));
        l.cdgh = _mm_sha256rnds2_epu32(l.cdgh, l.abef, wk);
        l.abef = _mm_sha256rnds2_epu32(l.abef, l.cdgh, _mm_shuffle_epi32::<0x0E>(wk));
    }

    #[target_feature(enable = "sha,sse4.1")]
    fn store(state: &mut [u32; 8], l: &Lane) {
        let start = *state;
        let abef = _mm_add_epi32(l.abef, v([start[5], start[4], start[1], start[0]]));
        let cdgh = _mm_add_epi32(l.cdgh, v([start[7], start[6], start[3], start[2]]));
        *state = [
            _mm_extract_epi32::<3>(abef),
            _mm_extract_epi32::<2>(abef),
            _mm_extract_epi32::<3>(cdgh),
            _mm_extract_epi32::<2>(cdgh),
            _mm_extract_epi32::<1>(abef),
            _mm_extract_epi32::<0>(abef),
            _mm_extract_epi32::<1>(cdgh),
            _mm_extract_epi32::<0>(cdgh),
        ]
        .map(|x| x as u32);
    }

    /// Both compressions, their rounds interleaved so the two chains overlap.
    #[target_feature(enable = "sha,sse4.1")]
    pub(super) fn compress2(a: &mut [u32; 8], wa: &[u32; 16], b: &mut [u32; 8], wb: &[u32; 16]) {
        let mut la = load(a, wa);
        let mut lb = load(b, wb);
        for (i, k) in K.into_iter().enumerate() {
            rounds4(&mut la, k, i >= 4);
            rounds4(&mut lb, k, i >= 4);
        }
        store(a, &la);
        store(b, &lb);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(state: [u32; 8], w: &[u32; 16]) -> [u32; 8] {
        let mut s = state;
        compress256(&mut s, &[to_bytes(w)]);
        s
    }

    /// SHA-256("abc") from FIPS 180-2 appendix B.1: one padded block from the initial value.
    #[test]
    fn abc() {
        let iv = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut w = [0u32; 16];
        w[0] = 0x61626380;
        w[15] = 24;
        let (mut a, mut b) = (iv, iv);
        compress2(&mut a, &w, &mut b, &[0; 16]);
        assert_eq!(
            a,
            [
                0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223, 0xb00361a3, 0x96177a9c, 0xb410ff61,
                0xf20015ad
            ]
        );
        assert_eq!(b, reference(iv, &[0; 16]));
    }

    proptest! {
        /// Both lanes equal `sha2`'s compression, whatever the states and blocks.
        #[test]
        fn matches_sha2(sa in any::<[u32; 8]>(), wa in any::<[u32; 16]>(),
                        sb in any::<[u32; 8]>(), wb in any::<[u32; 16]>()) {
            let (mut a, mut b) = (sa, sb);
            compress2(&mut a, &wa, &mut b, &wb);
            prop_assert_eq!(a, reference(sa, &wa));
            prop_assert_eq!(b, reference(sb, &wb));
        }
    }
}
