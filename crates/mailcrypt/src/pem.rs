//! PEM and DER key import (SPEC §4.7): PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` and SPKI
//! `PUBLIC KEY`, parsed leniently — OpenSSL writes P-521 scalars without their leading zero
//! byte, which strict parsers reject.

use der::Decode as _;

use crate::{Curve, KeyError, PrivateKey, PublicKey};

/// A key read from PEM.
#[derive(Debug)]
#[non_exhaustive]
pub enum PemKey {
    /// A private key (`PRIVATE KEY` or `EC PRIVATE KEY`).
    Private(PrivateKey),
    /// A public key (`PUBLIC KEY`).
    Public(PublicKey),
}

/// Parses one PEM document.
pub fn parse_pem(text: &str) -> Result<PemKey, KeyError> {
    let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
        .map_err(|_| KeyError::Malformed("PEM document"))?;
    let der = zeroize::Zeroizing::new(der);
    match label {
        "PRIVATE KEY" => private_from_pkcs8_der(&der).map(PemKey::Private),
        "EC PRIVATE KEY" => private_from_sec1_der(&der, None).map(PemKey::Private),
        "PUBLIC KEY" => PublicKey::from_spki_der(&der).map(PemKey::Public),
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::Unsupported(
            "encrypted PEM; decrypt it first with `openssl pkcs8`".into(),
        )),
        other => Err(KeyError::Unsupported(format!("PEM type {other}"))),
    }
}

/// Parses a DER PKCS#8 `PrivateKeyInfo` holding an EC key.
pub fn private_from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|_| KeyError::Malformed("PKCS#8 PrivateKeyInfo"))?;
    if info.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(KeyError::Unsupported(format!(
            "private key algorithm {} (only EC keys)",
            info.algorithm.oid
        )));
    }
    let curve = info
        .algorithm
        .parameters_oid()
        .ok()
        .and_then(|oid| Curve::from_der_oid(&oid));
    private_from_sec1_der(info.private_key.as_bytes(), curve)
}

fn private_from_sec1_der(der: &[u8], curve: Option<Curve>) -> Result<PrivateKey, KeyError> {
    let ec = sec1::EcPrivateKey::from_der(der).map_err(|_| KeyError::Malformed("ECPrivateKey"))?;
    let curve = match (curve, ec.parameters.and_then(|p| p.named_curve())) {
        (Some(c), _) => c,
        (None, Some(oid)) => Curve::from_der_oid(&oid)
            .ok_or_else(|| KeyError::Unsupported(format!("curve {oid}")))?,
        (None, None) => return Err(KeyError::Malformed("EC curve parameters")),
    };
    let key = PrivateKey::from_scalar(curve, ec.private_key)?;
    if let Some(public) = ec.public_key
        && PublicKey::from_sec1(curve, public)? != *key.public_key()
    {
        return Err(KeyError::Malformed("public key does not match private key"));
    }
    Ok(key)
}

const ID_EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
