//! Throughput and per-message cost of mail-crypt files.
//!
//! Groups (results land in `target/criterion/<group>/<name>/`; `scripts/bench-crypto.sh`
//! runs this and compares the bulk figures with `openssl speed -evp aes-256-gcm`):
//!
//! * `seal/{10KB,10MB}`: [`mailcrypt::seal`] to a P-521 key, header included (ephemeral
//!   keygen + ECDH + PBKDF2 + CBC wrap + key-data hash, then AES-256-GCM over the body).
//!   `seal/stream_10MB` is the same through the streaming [`Sealer`] into a `Vec`.
//! * `open/{10KB,10MB}`: [`mailcrypt::open`] of a file sealed to a P-521 key, per-file key
//!   unwrap included. `open/decrypt_{10KB,10MB}` is [`SealedFile::decrypt`] with a key
//!   unwrapped beforehand: the bulk AES-GCM figure (verify, then decrypt).
//! * `unlock/<curve>`: [`SealedFile::unwrap_key`] (ECDH + PBKDF2 + CBC + key-data hash), the
//!   per-message cost of a read.
//! * `seal_header/<curve>`: a 1-byte [`mailcrypt::seal`] (ephemeral keygen + ECDH + PBKDF2),
//!   the per-message cost of a delivery.
//!
//! Sizes: 10KB = 10,240 bytes, 10MB = 10,485,760 bytes; throughput is reported per byte of
//! plaintext.
#![allow(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Write as _;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailcrypt::{Curve, KeyId, PrivateKey, SealedFile, Sealer, open, seal};

const SIZES: [(&str, usize); 2] = [("10KB", 10 * 1024), ("10MB", 10 * 1024 * 1024)];
const CURVES: [(&str, Curve); 3] = [
    ("P-256", Curve::P256),
    ("P-384", Curve::P384),
    ("P-521", Curve::P521),
];

fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn bulk(c: &mut Criterion) {
    let key = PrivateKey::generate(Curve::P521);

    let mut g = c.benchmark_group("seal");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, len) in SIZES {
        let msg = message(len);
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(name, |b| {
            b.iter(|| seal(black_box(&msg), key.public_key()).unwrap());
        });
        if len > 1 << 20 {
            g.bench_function(format!("stream_{name}"), |b| {
                b.iter(|| {
                    let mut s = Sealer::new(key.public_key(), Vec::with_capacity(len + 512));
                    s.write_all(black_box(&msg)).unwrap();
                    s.finish().unwrap()
                });
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("open");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, len) in SIZES {
        let sealed = seal(&message(len), key.public_key()).unwrap();
        let file = SealedFile::parse(&sealed).unwrap();
        let fk = file.unwrap_key(&key).unwrap();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(name, |b| {
            b.iter(|| open(black_box(&sealed), |_: &KeyId| Some(&key)).unwrap());
        });
        g.bench_function(format!("decrypt_{name}"), |b| {
            b.iter(|| file.decrypt(black_box(&fk)).unwrap());
        });
    }
    g.finish();
}

fn per_message(c: &mut Criterion) {
    let mut g = c.benchmark_group("unlock");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (name, curve) in CURVES {
        let key = PrivateKey::generate(curve);
        let sealed = seal(b"x", key.public_key()).unwrap();
        let file = SealedFile::parse(&sealed).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| file.unwrap_key(black_box(&key)).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("seal_header");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (name, curve) in CURVES {
        let key = PrivateKey::generate(curve);
        g.bench_function(name, |b| {
            b.iter(|| seal(black_box(b"x"), key.public_key()).unwrap());
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bulk, per_message
}
criterion_main!(benches);
