//! EC keys as Dovecot's dcrypt sees them: curves, compressed-point SPKI, key ids, ECDH.
//!
//! SPEC §1.1–1.4. Dovecot 2.3 mail-crypt makes only EC keys; we support the three NIST curves
//! it is used with (P-256, P-384, P-521).

use std::fmt;
use std::str::FromStr;

use elliptic_curve::Generate as _;
use elliptic_curve::sec1::ToSec1Point as _;
use zeroize::Zeroizing;

use crate::KeyError;
use crate::digest::sha256;

/// A named curve that mail-crypt keys can live on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (`prime256v1`, OID 1.2.840.10045.3.1.7).
    P256,
    /// NIST P-384 (`secp384r1`, OID 1.3.132.0.34).
    P384,
    /// NIST P-521 (`secp521r1`, OID 1.3.132.0.35), Dovecot's usual `mail_crypt_curve`.
    P521,
}

impl Curve {
    /// All supported curves.
    pub const ALL: [Self; 3] = [Self::P256, Self::P384, Self::P521];

    /// OpenSSL short name, the form `mail_crypt_curve` takes (SPEC §6).
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "prime256v1",
            Self::P384 => "secp384r1",
            Self::P521 => "secp521r1",
        }
    }

    /// Parses an OpenSSL short name (`prime256v1`, `secp384r1`, `secp521r1`); also accepts
    /// `secp256r1` and the dotted OIDs.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "prime256v1" | "secp256r1" => Some(Self::P256),
            "secp384r1" => Some(Self::P384),
            "secp521r1" => Some(Self::P521),
            other => Self::from_oid(other),
        }
    }

    /// Dotted OID, as written in v2 private key strings (SPEC §4.3).
    pub fn oid(self) -> &'static str {
        match self {
            Self::P256 => "1.2.840.10045.3.1.7",
            Self::P384 => "1.3.132.0.34",
            Self::P521 => "1.3.132.0.35",
        }
    }

    /// Parses a dotted OID.
    pub fn from_oid(oid: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.oid() == oid)
    }

    /// OpenSSL NID, as written in legacy v1 key strings (SPEC §1.1, §4.6).
    pub fn v1_nid(self) -> u32 {
        match self {
            Self::P256 => 415,
            Self::P384 => 715,
            Self::P521 => 716,
        }
    }

    pub(crate) fn from_v1_nid(nid: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.v1_nid() == nid)
    }

    /// Field size in bytes (the length of an ECDH secret and of a scalar).
    pub fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The DER bytes of a compressed-point SPKI up to the point (SPEC §1.2).
    fn spki_prefix(self) -> &'static [u8] {
        match self {
            Self::P256 => &SPKI_P256,
            Self::P384 => &SPKI_P384,
            Self::P521 => &SPKI_P521,
        }
    }

    fn der_oid(self) -> der::asn1::ObjectIdentifier {
        match self {
            Self::P256 => der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
            Self::P384 => der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34"),
            Self::P521 => der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.35"),
        }
    }

    pub(crate) fn from_der_oid(oid: &der::asn1::ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|c| &c.der_oid() == oid)
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key id: SHA-256 of the compressed-point SPKI (v2), or of the upper-case hex of the
/// compressed point ("old" v1 id). Displayed as 64 lowercase hex digits (SPEC §1.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 32]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = KeyError;

    /// Parses 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| KeyError::Malformed("key id"))?;
        Ok(Self(out))
    }
}

#[derive(Clone, Copy)]
enum Pub {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
}

/// An EC public key on a supported curve.
#[derive(Clone, Copy)]
pub struct PublicKey(Pub);

macro_rules! on_pub {
    ($self:expr, $k:ident => $e:expr) => {
        match $self {
            Pub::P256($k) => $e,
            Pub::P384($k) => $e,
            Pub::P521($k) => $e,
        }
    };
}

impl PublicKey {
    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match self.0 {
            Pub::P256(_) => Curve::P256,
            Pub::P384(_) => Curve::P384,
            Pub::P521(_) => Curve::P521,
        }
    }

    /// Parses a SEC1 point (compressed or uncompressed) on `curve`; the point is validated.
    pub fn from_sec1(curve: Curve, bytes: &[u8]) -> Result<Self, KeyError> {
        let bad = |_| KeyError::InvalidKey;
        Ok(Self(match curve {
            Curve::P256 => Pub::P256(p256::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
            Curve::P384 => Pub::P384(p384::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
            Curve::P521 => Pub::P521(p521::PublicKey::from_sec1_bytes(bytes).map_err(bad)?),
        }))
    }

    /// SEC1 encoding: `02|03 ‖ X` when `compressed`, else `04 ‖ X ‖ Y`.
    pub fn to_sec1(&self, compressed: bool) -> Vec<u8> {
        on_pub!(&self.0, k => k.to_sec1_point(compressed).as_bytes().to_vec())
    }

    /// DER `SubjectPublicKeyInfo` with the compressed point, as dcrypt stores and hashes it
    /// (SPEC §1.2; `dcrypt_openssl_store_public_key_dovecot`).
    pub fn to_spki_der(&self) -> Vec<u8> {
        let mut out = self.curve().spki_prefix().to_vec();
        out.extend_from_slice(&self.to_sec1(true));
        out
    }

    /// Parses a DER `SubjectPublicKeyInfo` for an EC key (compressed or uncompressed point).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        use der::Decode as _;
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| KeyError::Malformed("SubjectPublicKeyInfo"))?;
        if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
            return Err(KeyError::Unsupported(format!(
                "public key algorithm {} (only EC keys are supported)",
                spki.algorithm.oid
            )));
        }
        let params = spki
            .algorithm
            .parameters_oid()
            .map_err(|_| KeyError::Malformed("EC curve parameters"))?;
        let curve = Curve::from_der_oid(&params)
            .ok_or_else(|| KeyError::Unsupported(format!("curve {params}")))?;
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or(KeyError::Malformed("public key bit string"))?;
        Self::from_sec1(curve, point)
    }

    /// The v2 key id: SHA-256 of [`Self::to_spki_der`] (SPEC §1.3).
    pub fn id(&self) -> KeyId {
        KeyId(sha256(&self.to_spki_der()))
    }

    /// The legacy v1 ("old") key id: SHA-256 of the upper-case hex of the compressed point.
    pub fn old_id(&self) -> KeyId {
        KeyId(sha256(hex::encode_upper(self.to_sec1(true)).as_bytes()))
    }

    /// True when `id` is this key's v2 id or its old id (Dovecot accepts either, SPEC §1.3).
    pub fn matches_id(&self, id: &KeyId) -> bool {
        self.id() == *id || self.old_id() == *id
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.to_sec1(true) == other.to_sec1(true)
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.curve(), self.id())
    }
}

enum Priv {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
}

/// An EC private key. The scalar is zeroized on drop; `Debug` never shows it.
pub struct PrivateKey {
    secret: Priv,
    public: PublicKey,
    /// The same scalar in aws-lc's form, made on first ECDH (3-4x RustCrypto's speed there).
    /// aws-lc clears the scalar when it frees the key.
    fast: std::sync::OnceLock<Option<aws_lc_rs::agreement::PrivateKey>>,
}

impl PrivateKey {
    /// A fresh random key on `curve` (OS randomness).
    pub fn generate(curve: Curve) -> Self {
        let secret = match curve {
            Curve::P256 => Priv::P256(p256::SecretKey::generate()),
            Curve::P384 => Priv::P384(p384::SecretKey::generate()),
            Curve::P521 => Priv::P521(p521::SecretKey::generate()),
        };
        Self::from_secret(secret)
    }

    /// A key from its big-endian scalar, which may be shorter than the field (leading zeros
    /// are implied) but not longer. Fails for zero or a scalar outside the group order.
    pub fn from_scalar(curve: Curve, scalar: &[u8]) -> Result<Self, KeyError> {
        let n = curve.field_len();
        // Strip leading zeros beyond the field size (an MPI pad byte), then left-pad.
        let first = scalar.iter().position(|b| *b != 0).unwrap_or(scalar.len());
        let digits = scalar.get(first..).unwrap_or_default();
        if digits.len() > n {
            return Err(KeyError::InvalidKey);
        }
        let mut padded = Zeroizing::new(vec![0u8; n]);
        padded
            .get_mut(n - digits.len()..)
            .ok_or(KeyError::InvalidKey)?
            .copy_from_slice(digits);
        let bad = |_| KeyError::InvalidKey;
        let secret = match curve {
            Curve::P256 => Priv::P256(p256::SecretKey::from_slice(&padded).map_err(bad)?),
            Curve::P384 => Priv::P384(p384::SecretKey::from_slice(&padded).map_err(bad)?),
            Curve::P521 => Priv::P521(p521::SecretKey::from_slice(&padded).map_err(bad)?),
        };
        Ok(Self::from_secret(secret))
    }

    fn from_secret(secret: Priv) -> Self {
        let public = PublicKey(match &secret {
            Priv::P256(k) => Pub::P256(k.public_key()),
            Priv::P384(k) => Pub::P384(k.public_key()),
            Priv::P521(k) => Pub::P521(k.public_key()),
        });
        Self {
            secret,
            public,
            fast: std::sync::OnceLock::new(),
        }
    }

    /// The scalar as big-endian bytes of exactly the field size.
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match &self.secret {
            Priv::P256(k) => k.to_bytes().to_vec(),
            Priv::P384(k) => k.to_bytes().to_vec(),
            Priv::P521(k) => k.to_bytes().to_vec(),
        })
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.public.curve()
    }

    /// The v2 id of the public key.
    pub fn id(&self) -> KeyId {
        self.public.id()
    }

    /// ECDH: the X coordinate of `self · peer`, fixed length (leading zeros kept, SPEC §1.4).
    pub(crate) fn ecdh(&self, peer: &PublicKey) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if self.curve() != peer.curve() {
            return Err(KeyError::CurveMismatch);
        }
        let fast = self.fast.get_or_init(|| {
            aws_lc_rs::agreement::PrivateKey::from_private_key(
                crate::ecdh::algorithm(self.curve()),
                &self.scalar(),
            )
            .ok()
        });
        if let Some(fast) = fast {
            return crate::ecdh::agree(fast, peer);
        }
        self.ecdh_rustcrypto(peer)
    }

    /// ECDH in RustCrypto: the fallback, and the cross-check for aws-lc in the tests.
    pub(crate) fn ecdh_rustcrypto(&self, peer: &PublicKey) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let secret = match (&self.secret, &peer.0) {
            (Priv::P256(s), Pub::P256(p)) => s.diffie_hellman(p).raw_secret_bytes().to_vec(),
            (Priv::P384(s), Pub::P384(p)) => s.diffie_hellman(p).raw_secret_bytes().to_vec(),
            (Priv::P521(s), Pub::P521(p)) => s.diffie_hellman(p).raw_secret_bytes().to_vec(),
            _ => return Err(KeyError::CurveMismatch),
        };
        Ok(Zeroizing::new(secret))
    }

    /// Unencrypted PKCS#8 PEM, what `doveadm mailbox cryptokey export` prints (SPEC §4.7).
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        use pkcs8::EncodePrivateKey as _;
        let le = pkcs8::LineEnding::LF;
        match &self.secret {
            Priv::P256(k) => k.to_pkcs8_pem(le),
            Priv::P384(k) => k.to_pkcs8_pem(le),
            Priv::P521(k) => k.to_pkcs8_pem(le),
        }
        .map_err(|_| KeyError::Unsupported("PKCS#8 encoding failed".into()))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, {})", self.curve(), self.id())
    }
}

const ID_EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SPKI_P256: [u8; 26] = [
    0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00,
];
const SPKI_P384: [u8; 23] = [
    0x30, 0x46, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x32, 0x00,
];
const SPKI_P521: [u8; 23] = [
    0x30, 0x58, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x23, 0x03, 0x44, 0x00,
];
