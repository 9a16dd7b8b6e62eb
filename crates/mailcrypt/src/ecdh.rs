//! ECDH on aws-lc (its P-256/P-384/P-521 code is 3-4x RustCrypto's): the shared secret is
//! the fixed-length X coordinate, as RustCrypto's `raw_secret_bytes` and OpenSSL's
//! `EVP_PKEY_derive` give it (SPEC §1.4). Cross-checked against RustCrypto in the tests.

use aws_lc_rs::agreement::{self, Algorithm, ECDH_P256, ECDH_P384, ECDH_P521, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::KeyError;
use crate::key::{Curve, PublicKey};

/// aws-lc's ECDH algorithm for `curve`.
pub(crate) fn algorithm(curve: Curve) -> &'static Algorithm {
    match curve {
        Curve::P256 => &ECDH_P256,
        Curve::P384 => &ECDH_P384,
        Curve::P521 => &ECDH_P521,
    }
}

/// `key · peer`, X coordinate.
pub(crate) fn agree(
    key: &agreement::PrivateKey,
    peer: &PublicKey,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let point = peer.to_sec1(false);
    agreement::agree(
        key,
        UnparsedPublicKey::new(algorithm(peer.curve()), point.as_slice()),
        KeyError::InvalidKey,
        |secret| Ok(Zeroizing::new(secret.to_vec())),
    )
}

/// A fresh ephemeral key agreed with `peer`: (ephemeral public key, uncompressed SEC1;
/// shared secret). The ephemeral scalar never leaves aws-lc and is freed (cleared) here.
pub(crate) fn ephemeral(peer: &PublicKey) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>), KeyError> {
    let alg = algorithm(peer.curve());
    let eph = agreement::PrivateKey::generate(alg).map_err(|_| KeyError::InvalidKey)?;
    let public = eph
        .compute_public_key()
        .map_err(|_| KeyError::InvalidKey)?
        .as_ref()
        .to_vec();
    let secret = agree(&eph, peer)?;
    Ok((public, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::PrivateKey;

    /// aws-lc and RustCrypto agree on the shared secret for every curve, both directions.
    #[test]
    fn matches_rustcrypto() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            for _ in 0..8 {
                let a = PrivateKey::generate(curve);
                let b = PrivateKey::generate(curve);
                let fast = a.ecdh(b.public_key()).unwrap();
                let slow = a.ecdh_rustcrypto(b.public_key()).unwrap();
                assert_eq!(*fast, *slow, "{curve}");
                assert_eq!(fast.len(), curve.field_len());
                let back = b.ecdh(a.public_key()).unwrap();
                assert_eq!(*fast, *back);
            }
        }
    }

    /// The ephemeral path: the recipient's ECDH with the ephemeral public key gets the same
    /// secret.
    #[test]
    fn ephemeral_agrees() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let r = PrivateKey::generate(curve);
            let (eph_pub, secret) = ephemeral(r.public_key()).unwrap();
            let eph_pub = PublicKey::from_sec1(curve, &eph_pub).unwrap();
            assert_eq!(*r.ecdh_rustcrypto(&eph_pub).unwrap(), *secret);
        }
    }

    #[test]
    fn curve_mismatch_is_refused() {
        let a = PrivateKey::generate(Curve::P256);
        let b = PrivateKey::generate(Curve::P521);
        assert!(matches!(
            a.ecdh(b.public_key()),
            Err(KeyError::CurveMismatch)
        ));
    }
}
