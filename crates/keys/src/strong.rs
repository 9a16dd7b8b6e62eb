//! The strong wrap: user private keys wrapped under an argon2id derivation of the password
//! instead of the password itself.
//!
//! The key strings stay Dovecot v2 password-wrapped strings (enctype 2); what changes is the
//! secret fed to their PBKDF2-SHA256 × 2048: `hex(argon2id(password, salt))` with 64 MiB,
//! t=3, p=1 (the parameters of Dovecot's own `{ARGON2ID}` hashes). The salt and parameters are a
//! per-user record, `shared/<inbox>/<T>wrap` ([`crate::wraps::TRESOR_PREFIX`]), one for all the
//! user's key wraps; a password change keeps it. An attacker with `dovecot-attributes` then
//! pays 64 MiB of memory-hard work per password guess instead of 2048 SHA-256 rounds.
//!
//! The price: Dovecot knows nothing of the record and unlocks with the password itself, so it
//! can no longer open such keys ("private key not available") — the strong wrap is for
//! deployments where only tresor serves the mail. [`KeyStore::rewrap_with_mode`] converts in
//! either direction. Unlocking tries the derived secret and then the plain password, so a key
//! wrapped the other way (an old one, or one made by Dovecot) still opens.

use mailcrypt::{KeyError, PrivateKey, PrivateKeyString, WrapWith};
use zeroize::Zeroizing;

use crate::attributes::AttributeMap;
use crate::keystore::{KeyStore, Keys, KeysError, key_err, user_key_strings, user_prefix};
use crate::wraps::TRESOR_PREFIX;

/// How user private keys are wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapMode {
    /// Dovecot's own: PBKDF2-SHA256 × 2048 of the password. Dovecot can unlock.
    Dovecot,
    /// PBKDF2 over an argon2id derivation of the password. Only tresor can unlock.
    Argon2id,
}

impl WrapMode {
    /// From its config/CLI name (`dovecot`, `argon2id`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "dovecot" => Some(Self::Dovecot),
            "argon2id" => Some(Self::Argon2id),
            _ => None,
        }
    }

    /// Its config/CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dovecot => "dovecot",
            Self::Argon2id => "argon2id",
        }
    }
}

impl Keys {
    /// How this user's keys are wrapped (the presence of the argon2id record).
    pub fn wrap_mode(&self) -> WrapMode {
        if self.map.contains_key(record_key(&self.inbox)) {
            WrapMode::Argon2id
        } else {
            WrapMode::Dovecot
        }
    }
}

impl KeyStore {
    /// Re-wraps every user private key from password `old` to `new` in wrap mode `mode`, in one
    /// locked update (staged wraps of an interrupted password change are dropped). Nothing is
    /// written unless every user key opened with `old`. Returns how many keys were re-wrapped.
    pub fn rewrap_with_mode(
        &self,
        old: &[u8],
        new: &[u8],
        mode: WrapMode,
    ) -> Result<usize, KeysError> {
        let prefix = format!("priv/{}privkeys/", user_prefix(&self.inbox));
        let record = record_key(&self.inbox);
        self.file.update(|map| {
            let olds = candidates(map, &self.inbox, Some(old))?;
            let mut keys = Vec::new();
            for (k, parsed) in user_key_strings(map, &prefix)? {
                keys.push((k, unlock(&parsed, &olds)?));
            }
            if keys.is_empty() {
                return Err(KeysError::NoUserKey);
            }
            match mode {
                WrapMode::Dovecot => {
                    map.remove(&record);
                }
                WrapMode::Argon2id => {
                    if !map.contains_key(&record) {
                        map.set(record.clone(), new_record()?);
                    }
                }
            }
            let secret = wrap_secret(map, &self.inbox, new)?;
            for (k, key) in &keys {
                let s = key
                    .to_key_string(WrapWith::Password(&secret))
                    .map_err(|e| key_err(&key.id(), e))?;
                map.set(k.clone(), s.as_bytes());
            }
            let staged = format!("priv/{}/{TRESOR_PREFIX}staged/", self.inbox);
            let stale: Vec<Vec<u8>> = map.iter_prefix(&staged).map(|(k, _)| k.to_vec()).collect();
            for k in stale {
                map.remove(k);
            }
            Ok(keys.len())
        })
    }
}

/// The secrets to try for `password`: the argon2id derivation when the user has the record,
/// then the password itself. Empty for `None`.
pub(crate) fn candidates(
    map: &AttributeMap,
    inbox: &str,
    password: Option<&[u8]>,
) -> Result<Vec<Zeroizing<Vec<u8>>>, KeysError> {
    let Some(pw) = password else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if let Some(record) = map.get_str(record_key(inbox)) {
        out.push(derive(record, pw)?);
    }
    out.push(Zeroizing::new(pw.to_vec()));
    Ok(out)
}

/// The secret a new wrap for `password` uses: derived when the user has the record.
pub(crate) fn wrap_secret(
    map: &AttributeMap,
    inbox: &str,
    password: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeysError> {
    match map.get_str(record_key(inbox)) {
        Some(record) => derive(record, password),
        None => Ok(Zeroizing::new(password.to_vec())),
    }
}

/// Unlocks a key with the first of `secrets` that opens it; the last error otherwise.
pub(crate) fn unlock_any(
    parsed: &PrivateKeyString,
    secrets: &[Zeroizing<Vec<u8>>],
) -> Result<PrivateKey, KeyError> {
    let mut last = KeyError::WrongPassword(parsed.id());
    for s in secrets {
        match parsed.unlock_with_password(s) {
            Ok(k) => return Ok(k),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Unlocks a password-wrapped key with the first secret that opens it.
pub(crate) fn unlock(
    parsed: &PrivateKeyString,
    secrets: &[Zeroizing<Vec<u8>>],
) -> Result<PrivateKey, KeysError> {
    let mut last = KeysError::WrongPassword;
    for s in secrets {
        match parsed.unlock_with_password(s) {
            Ok(k) => return Ok(k),
            Err(KeyError::WrongPassword(_)) => last = KeysError::WrongPassword,
            Err(e) => last = key_err(&parsed.id(), e),
        }
    }
    Err(last)
}

/// `hex(argon2id(password, salt))` for a record `argon2id m=<KiB> t=<passes> p=<lanes>
/// salt=<hex>`.
fn derive(record: &str, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeysError> {
    let bad = |what| KeysError::Key {
        id: "argon2id wrap record".into(),
        source: Box::new(KeyError::Malformed(what)),
    };
    let mut fields = record.split(' ');
    if fields.next() != Some("argon2id") {
        return Err(bad("not argon2id"));
    }
    let (mut m, mut t, mut p, mut salt) = (None, None, None, None);
    for f in fields {
        match f.split_once('=') {
            Some(("m", v)) => m = v.parse::<u32>().ok(),
            Some(("t", v)) => t = v.parse::<u32>().ok(),
            Some(("p", v)) => p = v.parse::<u32>().ok(),
            Some(("salt", v)) => salt = hex_decode(v),
            _ => return Err(bad("unknown field")),
        }
    }
    let (Some(m), Some(t), Some(p), Some(salt)) = (m, t, p, salt) else {
        return Err(bad("missing field"));
    };
    let params =
        argon2::Params::new(m, t, p, Some(OUT_LEN)).map_err(|_| bad("parameters out of range"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; OUT_LEN]);
    argon
        .hash_password_into(password, &salt, out.as_mut())
        .map_err(|_| bad("derivation failed"))?;
    let mut hex = Zeroizing::new(Vec::with_capacity(OUT_LEN * 2));
    for b in out.iter() {
        for nibble in [b >> 4, b & 0x0f] {
            hex.push(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
        }
    }
    Ok(hex)
}

fn new_record() -> Result<String, KeysError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| KeysError::Key {
        id: "argon2id wrap record".into(),
        source: Box::new(KeyError::Malformed("no randomness for the salt")),
    })?;
    let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "argon2id m={M_COST} t={T_COST} p={P_COST} salt={hex}"
    ))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn record_key(inbox: &str) -> String {
    format!("shared/{inbox}/{TRESOR_PREFIX}wrap")
}

/// 64 MiB, as Dovecot's `{ARGON2ID}` (`m=65536,t=3,p=1`).
const M_COST: u32 = 65_536;
const T_COST: u32 = 3;
const P_COST: u32 = 1;
const OUT_LEN: usize = 32;
const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use mailcrypt::Curve;

    use super::*;

    #[test]
    fn argon2id_wrap_opens_only_through_the_derivation_and_converts_back() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KeyStore::new(dir.path(), "00112233445566778899aabbccddeeff");
        ks.generate_user_key(Curve::P256, Some(b"pw"), false)
            .unwrap();
        assert_eq!(ks.load().unwrap().wrap_mode(), WrapMode::Dovecot);
        ks.rewrap_with_mode(b"pw", b"pw", WrapMode::Argon2id)
            .unwrap();
        let keys = ks.load().unwrap();
        assert_eq!(keys.wrap_mode(), WrapMode::Argon2id);
        assert!(keys.unlock_user(Some(b"pw")).is_ok());
        assert!(keys.unlock_user(Some(b"other")).is_err());
        // What Dovecot does: the key string with the password itself does not open.
        let (_, parsed) = user_key_strings(
            &keys.map,
            &format!("priv/{}privkeys/", user_prefix(&keys.inbox)),
        )
        .unwrap()
        .pop()
        .unwrap();
        assert!(parsed.unlock_with_password(b"pw").is_err());
        assert!(
            ks.rewrap_with_mode(b"wrong", b"x", WrapMode::Dovecot)
                .is_err()
        );
        ks.rewrap_with_mode(b"pw", b"new", WrapMode::Dovecot)
            .unwrap();
        let keys = ks.load().unwrap();
        assert_eq!(keys.wrap_mode(), WrapMode::Dovecot);
        let (_, parsed) = user_key_strings(
            &keys.map,
            &format!("priv/{}privkeys/", user_prefix(&keys.inbox)),
        )
        .unwrap()
        .pop()
        .unwrap();
        assert!(parsed.unlock_with_password(b"new").is_ok());
    }
}
