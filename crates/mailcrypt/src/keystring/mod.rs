//! Dovecot key strings: v2 (colon-separated) read and write, v1 (tab-separated) read.
//!
//! SPEC §4.1–4.6; `dcrypt_openssl_load_private_key_dovecot_v2`,
//! `dcrypt_openssl_store_private_key_dovecot`, `dcrypt_openssl_encrypt_private_key_dovecot`.

mod v1;

use zeroize::Zeroizing;

use crate::digest::{HashAlg, pbkdf2_key_iv};
use crate::{Curve, KeyError, KeyId, PrivateKey, PublicKey, aes, mpi};

/// How a private key string is protected, as `tresor key list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wrap {
    /// Stored in the clear (enctype 0).
    None,
    /// Encrypted with a password (enctype 2): user keys.
    Password,
    /// Encrypted to another key (enctype 1): folder keys, encrypted to a user key.
    Key(KeyId),
}

/// What to protect a private key string with when writing it.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum WrapWith<'a> {
    /// No protection (enctype 0). Only for keys that are protected some other way.
    None,
    /// A password (enctype 2): the exact bytes, no normalisation (SPEC §4.3).
    Password(&'a [u8]),
    /// Another key's public half (enctype 1), as folder keys are encrypted to the user key.
    Key(&'a PublicKey),
}

/// A parsed private key string, not yet decrypted.
pub struct PrivateKeyString {
    curve: Curve,
    id: KeyId,
    body: Body,
}

enum Body {
    Clear(Zeroizing<Vec<u8>>),
    Password(Encrypted),
    Key(Encrypted, Vec<u8>, KeyId),
    V1(v1::Private),
}

struct Encrypted {
    hash: HashAlg,
    rounds: u32,
    salt: Vec<u8>,
    ct: Vec<u8>,
}

impl PrivateKeyString {
    /// Parses a v2 or v1 private key string. Nothing is decrypted yet.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let s = s.trim_end_matches(['\r', '\n']);
        if s.starts_with("1\t") {
            return v1::parse_private(s);
        }
        if s.starts_with("1:") {
            return Err(KeyError::Malformed(
                "v1 key string (v1 separates fields with tabs)",
            ));
        }
        if s.starts_with("2\t") {
            return Err(KeyError::Malformed(
                "v2 key string (v2 separates fields with colons)",
            ));
        }
        let f: Vec<&str> = s.split(':').collect();
        let field = |i: usize| f.get(i).copied().ok_or(KeyError::Malformed("field count"));
        if field(0)? != "2" {
            return Err(KeyError::Malformed("version field"));
        }
        let curve = Curve::from_name(field(1)?)
            .ok_or_else(|| KeyError::Unsupported(format!("curve {}", field(1).unwrap_or(""))))?;
        let id: KeyId = f.last().copied().unwrap_or_default().parse()?;
        let body = match (field(2)?, f.len()) {
            ("0", 5) => Body::Clear(Zeroizing::new(unhex(field(3)?, "key data")?)),
            ("2", 9) => Body::Password(encrypted(&f)?),
            ("1", 11) => Body::Key(
                encrypted(&f)?,
                unhex(field(8)?, "ephemeral key")?,
                field(9)?.parse()?,
            ),
            ("0" | "1" | "2", _) => return Err(KeyError::Malformed("field count")),
            _ => return Err(KeyError::Malformed("encryption type")),
        };
        Ok(Self { curve, id, body })
    }

    /// The key's id as stored (the last field): v2 id, or old id for v1 strings.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// How the key is protected.
    pub fn wrap(&self) -> Wrap {
        match &self.body {
            Body::Clear(_) => Wrap::None,
            Body::Password(_) => Wrap::Password,
            Body::Key(_, _, by) => Wrap::Key(*by),
            Body::V1(p) => p.wrap(),
        }
    }

    /// True for legacy v1 strings (ids are old ids).
    pub fn is_v1(&self) -> bool {
        matches!(self.body, Body::V1(_))
    }

    /// Loads an unprotected key (enctype 0).
    pub fn unlock(&self) -> Result<PrivateKey, KeyError> {
        match &self.body {
            Body::Clear(raw) => self.finish(raw, || KeyError::Corrupted(self.id)),
            Body::V1(p) => p.unlock(self),
            Body::Password(_) => Err(KeyError::PasswordRequired(self.id)),
            Body::Key(_, _, by) => Err(KeyError::KeyRequired {
                id: self.id,
                by: *by,
            }),
        }
    }

    /// Loads a key with its password (enctype 2); an unprotected key loads too.
    pub fn unlock_with_password(&self, password: &[u8]) -> Result<PrivateKey, KeyError> {
        match &self.body {
            Body::Password(e) => {
                let k = pbkdf2_key_iv(e.hash, password, &e.salt, e.rounds);
                let mut raw = Zeroizing::new(e.ct.clone());
                aes::ctr256(&k.key, &k.iv, &mut raw);
                self.finish(&raw, || KeyError::WrongPassword(self.id))
            }
            Body::V1(p) => p.unlock_with_password(self, password),
            _ => self.unlock(),
        }
    }

    /// Loads a key encrypted to `by` (enctype 1); an unprotected key loads too.
    pub fn unlock_with_key(&self, key: &PrivateKey) -> Result<PrivateKey, KeyError> {
        match &self.body {
            Body::Key(e, peer, by) => {
                if key.id() != *by {
                    return Err(KeyError::WrongKey {
                        id: self.id,
                        by: *by,
                        given: key.id(),
                    });
                }
                let peer = PublicKey::from_sec1(key.curve(), peer)?;
                let secret = key.ecdh(&peer)?;
                let k = pbkdf2_key_iv(e.hash, &secret, &e.salt, e.rounds);
                let mut raw = Zeroizing::new(e.ct.clone());
                aes::ctr256(&k.key, &k.iv, &mut raw);
                self.finish(&raw, || KeyError::Corrupted(self.id))
            }
            Body::V1(p) => p.unlock_with_key(self, key),
            _ => self.unlock(),
        }
    }

    /// MPI check, key check, id check (SPEC §4.4 steps 4–5).
    pub(crate) fn finish(
        &self,
        mpi_bytes: &[u8],
        wrong: impl Fn() -> KeyError,
    ) -> Result<PrivateKey, KeyError> {
        let scalar = mpi::decode(mpi_bytes).ok_or_else(&wrong)?;
        let key = PrivateKey::from_scalar(self.curve, scalar).map_err(|_| wrong())?;
        if key.id() != self.id {
            return Err(wrong());
        }
        Ok(key)
    }
}

impl std::fmt::Debug for PrivateKeyString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PrivateKeyString({}, {}, {:?})",
            self.curve,
            self.id,
            self.wrap()
        )
    }
}

impl PublicKey {
    /// Parses a v2 (`2:<spki hex>:<id>`) or v1 public key string and checks its id.
    pub fn from_key_string(s: &str) -> Result<Self, KeyError> {
        let s = s.trim_end_matches(['\r', '\n']);
        if s.starts_with("1\t") {
            return v1::parse_public(s);
        }
        let f: Vec<&str> = s.split(':').collect();
        let [version, spki, id] = f.as_slice() else {
            return Err(KeyError::Malformed("public key field count"));
        };
        if *version != "2" {
            return Err(KeyError::Malformed("version field"));
        }
        let key = Self::from_spki_der(&unhex(spki, "public key")?)?;
        let stored: KeyId = id.parse()?;
        if key.id() != stored {
            return Err(KeyError::IdMismatch {
                stored,
                actual: key.id(),
            });
        }
        Ok(key)
    }

    /// The v2 public key string, `2:<hex(compressed SPKI)>:<id>` (SPEC §4.2).
    pub fn to_key_string(&self) -> String {
        format!("2:{}:{}", hex::encode(self.to_spki_der()), self.id())
    }
}

impl PrivateKey {
    /// The v2 private key string, protected as asked (SPEC §4.3): `aes-256-ctr`, a random
    /// 8-byte salt, `sha256`, 2048 rounds — exactly what Dovecot writes.
    pub fn to_key_string(&self, wrap: WrapWith<'_>) -> Result<Zeroizing<String>, KeyError> {
        let raw = mpi::encode(&self.scalar());
        let oid = self.curve().oid();
        let id = self.id();
        Ok(Zeroizing::new(match wrap {
            WrapWith::None => format!("2:{oid}:0:{}:{id}", hex::encode(&raw[..])),
            WrapWith::Password(pw) => {
                let salt = random::<8>();
                let ct = encrypt_mpi(&raw, pw, &salt);
                format!(
                    "2:{oid}:2:aes-256-ctr:{}:sha256:{ROUNDS}:{}:{id}",
                    hex::encode(salt),
                    hex::encode(ct)
                )
            }
            WrapWith::Key(to) => {
                let eph = Self::generate(to.curve());
                let secret = eph.ecdh(to)?;
                let salt = random::<8>();
                let ct = encrypt_mpi(&raw, &secret, &salt);
                format!(
                    "2:{oid}:1:aes-256-ctr:{}:sha256:{ROUNDS}:{}:{}:{}:{id}",
                    hex::encode(salt),
                    hex::encode(ct),
                    hex::encode(eph.public_key().to_sec1(false)),
                    to.id(),
                )
            }
        }))
    }
}

fn encrypt_mpi(raw: &[u8], password: &[u8], salt: &[u8]) -> Vec<u8> {
    let k = pbkdf2_key_iv(HashAlg::Sha256, password, salt, ROUNDS);
    let mut ct = raw.to_vec();
    aes::ctr256(&k.key, &k.iv, &mut ct);
    ct
}

fn encrypted(f: &[&str]) -> Result<Encrypted, KeyError> {
    let get = |i: usize| f.get(i).copied().ok_or(KeyError::Malformed("field count"));
    let cipher = get(3)?;
    if !cipher.eq_ignore_ascii_case("aes-256-ctr") {
        return Err(KeyError::Unsupported(format!("key cipher {cipher}")));
    }
    let hash = HashAlg::from_name(get(5)?)
        .ok_or_else(|| KeyError::Unsupported(format!("key hash {}", get(5).unwrap_or(""))))?;
    let rounds: u32 = get(6)?.parse().map_err(|_| KeyError::Malformed("rounds"))?;
    if rounds == 0 || rounds > crate::digest::MAX_ROUNDS {
        return Err(KeyError::Malformed("rounds (0, or over the limit)"));
    }
    Ok(Encrypted {
        hash,
        rounds,
        salt: unhex(get(4)?, "salt")?,
        ct: unhex(get(7)?, "key data")?,
    })
}

pub(crate) fn unhex(s: &str, what: &'static str) -> Result<Vec<u8>, KeyError> {
    hex::decode(s).map_err(|_| KeyError::Malformed(what))
}

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS RNG failing is not recoverable; getrandom documents it as essentially never
    // happening on Linux after boot.
    if getrandom::fill(&mut out).is_err() {
        std::process::abort();
    }
    out
}

const ROUNDS: u32 = 2048;
