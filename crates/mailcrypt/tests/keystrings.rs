//! Key strings against Dovecot's own vectors (SPEC §4.3, §4.6 — `test-crypto.c` at 2.3.19.1)
//! and the real mailbox of SPEC §10.1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use mailcrypt::{Curve, KeyError, PrivateKey, PrivateKeyString, PublicKey, Wrap, WrapWith};

const P256_CLEAR: &str = "2:1.2.840.10045.3.1.7:0:0000002100b6e40903eb9ba19595c201dc0dc8b255dae8bc03f094caac8432b7b3bf080c3b:ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";
const P256_PASSWORD: &str = "2:1.2.840.10045.3.1.7:2:aes-256-ctr:483bd74fd3d91763:sha256:2048:d44ae35d3af7a2febcb15cde0c3693e7ed98595665ed655a97fa918d346d5c661a6e2339f4:ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";
const P256_BY_KEY: &str = "2:1.2.840.10045.3.1.7:1:aes-256-ctr:2574c10be28a4c09:sha256:2048:a750ec9dea91999f108f943485a20f273f40f75c37fc9bcccdedda514c8243e550d69ce1bd:02237a199d7d945aa6492275a02881071eceec5749caf2485da8c64fb601229098:ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd:ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";
const P521_PUBLIC: &str = "2:3058301006072a8648ce3d020106052b810400230344000301c50954e734dd8b410a607764a7057065a45510da52f2c6e28e0cb353b9c389fa8cb786943ae991fce9befed78fb162fbbc615415f06af06c8cc80c37f4e94ff6c7:185a7212542782e239111f9c19d126ad55b18ddaf4883d66afe8d9627c3607d8";
const V1_USER: &str = "1\t716\t0\t048FD04FD3612B22D32790C592CF21CEF417EFD2EA34AE5F688FA5B51BED29E05A308B68DA78E16E90B47A11E133BD9A208A2894FD01B0BEE865CE339EA3FB17AC\td0cfaca5d335f9edc41c84bb47465184cb0e2ec3931bebfcea4dd433615e77a0";
const V1_BOX: &str = "1\t716\t1\t0567e6bf9579813ae967314423b0fceb14bda24749303923de9a9bb9370e0026f995901a57e63113eeb2baf0c940e978d00686cbb52bd5014bc318563375876255\t0300E46DA2125427BE968EB3B649910CDC4C405E5FFDE18D433A97CABFEE28CEEFAE9EE356C792004FFB80981D67E741B8CC036A34235A8D2E1F98D1658CFC963D07EB\td0cfaca5d335f9edc41c84bb47465184cb0e2ec3931bebfcea4dd433615e77a0\t7c9a1039ea2e4fed73e81dd3ffc3fa22ea4a28352939adde7bf8ea858b00fa4f";

#[test]
fn clear_key_round_trips_byte_exact() {
    let s = PrivateKeyString::parse(P256_CLEAR).unwrap();
    assert_eq!(s.wrap(), Wrap::None);
    let k = s.unlock().unwrap();
    assert_eq!(k.curve(), Curve::P256);
    assert_eq!(
        k.id().to_string(),
        "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd"
    );
    assert_eq!(&*k.to_key_string(WrapWith::None).unwrap(), P256_CLEAR);
}

#[test]
fn password_key_unlocks_and_wrong_password_is_named() {
    let s = PrivateKeyString::parse(P256_PASSWORD).unwrap();
    assert_eq!(s.wrap(), Wrap::Password);
    let k = s.unlock_with_password(b"This Is Sparta").unwrap();
    let clear = PrivateKeyString::parse(P256_CLEAR)
        .unwrap()
        .unlock()
        .unwrap();
    assert_eq!(*k.scalar(), *clear.scalar());
    assert!(matches!(
        s.unlock_with_password(b"This is Sparta"),
        Err(KeyError::WrongPassword(_))
    ));
    assert!(matches!(s.unlock(), Err(KeyError::PasswordRequired(_))));
}

#[test]
fn key_encrypted_to_key_unlocks_with_compressed_peer() {
    let s = PrivateKeyString::parse(P256_BY_KEY).unwrap();
    let dec = PrivateKeyString::parse(P256_CLEAR)
        .unwrap()
        .unlock()
        .unwrap();
    assert_eq!(s.wrap(), Wrap::Key(dec.id()));
    let k = s.unlock_with_key(&dec).unwrap();
    assert_eq!(k.id(), dec.id());
    let other = PrivateKey::generate(Curve::P256);
    assert!(matches!(
        s.unlock_with_key(&other),
        Err(KeyError::WrongKey { .. })
    ));
}

#[test]
fn public_key_round_trips_and_checks_id() {
    let k = PublicKey::from_key_string(P521_PUBLIC).unwrap();
    assert_eq!(k.to_key_string(), P521_PUBLIC);
    let mut bad = P521_PUBLIC.to_string();
    bad.replace_range(bad.len() - 1.., "9");
    assert!(matches!(
        PublicKey::from_key_string(&bad),
        Err(KeyError::IdMismatch { .. })
    ));
    // An uncompressed SPKI loads too and yields the same (compressed-SPKI) id.
    let uncompressed = format!("2:{}:{}", hex_spki_uncompressed(&k), k.id());
    assert_eq!(PublicKey::from_key_string(&uncompressed).unwrap(), k);
}

fn hex_spki_uncompressed(k: &PublicKey) -> String {
    // P-521 SPKI prefix with a 133-byte point: BIT STRING length 0x86.
    let point = k.to_sec1(false);
    let mut der = vec![
        0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    ];
    der.extend_from_slice(&[
        0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00,
    ]);
    der.extend_from_slice(&point);
    let s: String = der.iter().map(|b| format!("{b:02x}")).collect();
    s
}

#[test]
fn v1_keys_load_with_old_ids() {
    let user = PrivateKeyString::parse(V1_USER).unwrap();
    assert!(user.is_v1());
    let u = user.unlock().unwrap();
    assert_eq!(
        u.id().to_string(),
        "792caad4d38c9eb2134a0cbc844eae386116de096a0ccafc98479825fc99b6a1"
    );
    assert_eq!(u.public_key().old_id(), user.id());
    let boxk = PrivateKeyString::parse(V1_BOX).unwrap();
    let b = boxk.unlock_with_key(&u).unwrap();
    assert_eq!(
        b.public_key().old_id().to_string(),
        "7c9a1039ea2e4fed73e81dd3ffc3fa22ea4a28352939adde7bf8ea858b00fa4f"
    );
}

#[test]
fn separators_are_checked() {
    assert!(matches!(
        PrivateKeyString::parse("1:716:0:00:00"),
        Err(KeyError::Malformed(_))
    ));
    assert!(matches!(
        PrivateKeyString::parse("2\t1.3.132.0.35\t0\t00\t00"),
        Err(KeyError::Malformed(_))
    ));
    assert!(PrivateKeyString::parse("2:1.3.132.0.35:3:00:00").is_err());
    assert!(PrivateKeyString::parse("2:1.3.132.0.35:0:00").is_err());
    assert!(PrivateKeyString::parse("").is_err());
}

#[test]
fn every_curve_and_wrap_round_trips() {
    for curve in Curve::ALL {
        let user = PrivateKey::generate(curve);
        let folder = PrivateKey::generate(curve);
        for wrap in [
            WrapWith::None,
            WrapWith::Password("pä55 word:\t\"x".as_bytes()),
            WrapWith::Key(user.public_key()),
        ] {
            let s = folder.to_key_string(wrap).unwrap();
            let parsed = PrivateKeyString::parse(&s).unwrap();
            assert_eq!(parsed.id(), folder.id());
            let back = match wrap {
                WrapWith::None => parsed.unlock().unwrap(),
                WrapWith::Password(pw) => parsed.unlock_with_password(pw).unwrap(),
                WrapWith::Key(_) => parsed.unlock_with_key(&user).unwrap(),
                _ => unreachable!(),
            };
            assert_eq!(*back.scalar(), *folder.scalar(), "{curve}");
        }
        let p = folder.public_key().to_key_string();
        assert_eq!(
            PublicKey::from_key_string(&p).unwrap(),
            *folder.public_key()
        );
        // Password strings look exactly like Dovecot's (SPEC §8).
        let s = user.to_key_string(WrapWith::Password(b"pw")).unwrap();
        let f: Vec<&str> = s.split(':').collect();
        assert_eq!(&f[..4], &["2", curve.oid(), "2", "aes-256-ctr"]);
        assert_eq!(f[4].len(), 16);
        assert_eq!(&f[5..7], &["sha256", "2048"]);
    }
}
