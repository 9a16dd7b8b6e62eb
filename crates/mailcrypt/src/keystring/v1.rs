//! Legacy v1 key strings (tab-separated), read only. SPEC §4.6;
//! `dcrypt_openssl_load_private_key_dovecot_v1`, `…load_public_key_dovecot_v1`.
//!
//! v1 ids are "old" ids (SHA-256 of the upper-case hex compressed point), and scalars are
//! plain big-endian hex, not MPI.

use zeroize::Zeroizing;

use super::{Body, PrivateKeyString, Wrap, unhex};
use crate::digest::{HashAlg, sha256};
use crate::{Curve, KeyError, KeyId, PrivateKey, PublicKey, aes};

pub(super) enum Private {
    Clear(Zeroizing<Vec<u8>>),
    Key {
        ct: Vec<u8>,
        peer: Vec<u8>,
        by: KeyId,
    },
    Password {
        ct: Vec<u8>,
        salt: Vec<u8>,
    },
}

pub(super) fn parse_public(s: &str) -> Result<PublicKey, KeyError> {
    let f: Vec<&str> = s.split('\t').collect();
    let [_, nid, point, id] = f.as_slice() else {
        return Err(KeyError::Malformed("v1 public key field count"));
    };
    let curve = curve(nid)?;
    let key = PublicKey::from_sec1(curve, &unhex(point, "v1 public point")?)?;
    let stored: KeyId = id.parse()?;
    if key.old_id() != stored {
        return Err(KeyError::IdMismatch {
            stored,
            actual: key.old_id(),
        });
    }
    Ok(key)
}

pub(super) fn parse_private(s: &str) -> Result<PrivateKeyString, KeyError> {
    let f: Vec<&str> = s.split('\t').collect();
    let get = |i: usize| {
        f.get(i)
            .copied()
            .ok_or(KeyError::Malformed("v1 field count"))
    };
    let curve = curve(get(1)?)?;
    let id: KeyId = f.last().copied().unwrap_or_default().parse()?;
    let body = match (get(2)?, f.len()) {
        ("0", 5) => Private::Clear(Zeroizing::new(unhex_odd(get(3)?)?)),
        ("1", 7) => Private::Key {
            ct: unhex(get(3)?, "v1 key data")?,
            peer: unhex(get(4)?, "v1 ephemeral key")?,
            by: get(5)?.parse()?,
        },
        ("2", 6) => Private::Password {
            ct: unhex(get(3)?, "v1 key data")?,
            salt: unhex(get(4)?, "v1 salt")?,
        },
        _ => return Err(KeyError::Malformed("v1 encryption type or field count")),
    };
    Ok(PrivateKeyString {
        curve,
        id,
        body: Body::V1(body),
    })
}

impl Private {
    pub(super) fn wrap(&self) -> Wrap {
        match self {
            Self::Clear(_) => Wrap::None,
            Self::Key { by, .. } => Wrap::Key(*by),
            Self::Password { .. } => Wrap::Password,
        }
    }

    pub(super) fn unlock(&self, s: &PrivateKeyString) -> Result<PrivateKey, KeyError> {
        match self {
            Self::Clear(raw) => finish(s, raw, KeyError::Corrupted(s.id)),
            Self::Key { by, .. } => Err(KeyError::KeyRequired { id: s.id, by: *by }),
            Self::Password { .. } => Err(KeyError::PasswordRequired(s.id)),
        }
    }

    /// v1 password keys hex-decode the password before PBKDF2 (16 rounds, 32 bytes, zero IV).
    pub(super) fn unlock_with_password(
        &self,
        s: &PrivateKeyString,
        password: &[u8],
    ) -> Result<PrivateKey, KeyError> {
        let Self::Password { ct, salt } = self else {
            return self.unlock(s);
        };
        let pw = hex::decode(password).map_err(|_| KeyError::WrongPassword(s.id))?;
        let mut key = Zeroizing::new([0u8; 32]);
        HashAlg::Sha256.pbkdf2(&pw, salt, V1_PASSWORD_ROUNDS, key.as_mut_slice());
        let mut raw = Zeroizing::new(ct.clone());
        aes::ctr256(&key, &[0; 16], &mut raw);
        finish(s, &raw, KeyError::WrongPassword(s.id))
    }

    /// `d = AES-256-CTR(SHA-256(ECDH-X(key, peer)), IV 0)(ct)`.
    pub(super) fn unlock_with_key(
        &self,
        s: &PrivateKeyString,
        key: &PrivateKey,
    ) -> Result<PrivateKey, KeyError> {
        let Self::Key { ct, peer, by } = self else {
            return self.unlock(s);
        };
        let kid = key.public_key().old_id();
        if kid != *by && key.id() != *by {
            return Err(KeyError::WrongKey {
                id: s.id,
                by: *by,
                given: kid,
            });
        }
        let peer = PublicKey::from_sec1(key.curve(), peer)?;
        let k = Zeroizing::new(sha256(&key.ecdh(&peer)?));
        let mut raw = Zeroizing::new(ct.clone());
        aes::ctr256(&k, &[0; 16], &mut raw);
        finish(s, &raw, KeyError::Corrupted(s.id))
    }
}

fn finish(s: &PrivateKeyString, scalar: &[u8], wrong: KeyError) -> Result<PrivateKey, KeyError> {
    let Ok(key) = PrivateKey::from_scalar(s.curve, scalar) else {
        return Err(wrong);
    };
    if key.public_key().old_id() != s.id {
        return Err(wrong);
    }
    Ok(key)
}

fn curve(nid: &str) -> Result<Curve, KeyError> {
    let n: u32 = nid
        .parse()
        .map_err(|_| KeyError::Malformed("v1 curve NID"))?;
    Curve::from_v1_nid(n).ok_or_else(|| KeyError::Unsupported(format!("v1 curve NID {n}")))
}

/// `BN_bn2hex` output may have an odd digit count in principle; pad it.
fn unhex_odd(s: &str) -> Result<Vec<u8>, KeyError> {
    if s.len() % 2 == 1 {
        unhex(&format!("0{s}"), "v1 key data")
    } else {
        unhex(s, "v1 key data")
    }
}

const V1_PASSWORD_ROUNDS: u32 = 16;
