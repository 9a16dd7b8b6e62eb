//! Recovery codes: a second way into the user's keys when the password is lost.
//!
//! [`create`] makes a random code of [`CODE_CHARS`] characters from a 32-letter alphabet
//! (Crockford's base 32: digits and capitals without I, L, O, U), so [`CODE_CHARS`] × 5 = 150
//! bits, shown as groups of five joined by `-`. A fresh recovery key pair gets its private key
//! wrapped under the code (Dovecot's own PBKDF2 wrap; with 150 random bits the 2048 rounds are
//! not what protects it) and every user private key is encrypted to its public key
//! (`keys::wraps`). The code itself is stored nowhere.
//!
//! [`reset`] opens the slot with the code and then runs the crash-safe switch of
//! [`crate::passwd`] (fault points `reset:1…4`), removing the slot in the same atomic rewrite
//! that activates the new wraps: a code is good for one reset, and a crash before that rewrite
//! leaves it valid for the rerun.

use keys::KeyStore;
use mailcrypt::KeyId;
use zeroize::Zeroizing;

use crate::error::LifecycleError;
use crate::login::Login;
use crate::passwd::{self, clone_key};

/// Characters in a code (without dashes).
pub const CODE_CHARS: usize = 30;

/// A code as shown to the admin once (`XXXXX-XXXXX-…`). Zeroized on drop.
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    /// The code with its dashes, for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Makes a recovery code for the user whose login password is `password` and stores its slot.
/// The code is returned once and stored nowhere.
pub fn create(
    ks: &KeyStore,
    login: &mut dyn Login,
    password: &[u8],
) -> Result<RecoveryCode, LifecycleError> {
    let _guard = passwd::lock(ks)?;
    if !login.verify(password)? {
        return Err(LifecycleError::WrongPassword);
    }
    let keys = passwd::all_user_keys(ks, password)?;
    if keys.is_empty() {
        return Err(keys::KeysError::NoUserKey.into());
    }
    let code = generate()?;
    let canonical = normalize(code.expose()).ok_or(LifecycleError::Random)?;
    ks.add_recovery(&keys, canonical.as_bytes())?;
    Ok(code)
}

/// What a reset did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reset {
    /// User keys now wrapped under the new password.
    pub rewrapped: usize,
    /// User keys the code did not cover (made after it by `key generate --force`): they stay
    /// under the lost password, and mail whose folder keys need them stays locked.
    pub uncovered: Vec<KeyId>,
}

/// Sets the new password `new` with recovery code `code` (with or without dashes, any case),
/// then invalidates the code. A wrong code changes nothing.
pub fn reset(
    ks: &KeyStore,
    login: &mut dyn Login,
    code: &[u8],
    new: &[u8],
) -> Result<Reset, LifecycleError> {
    if new.is_empty() {
        return Err(LifecycleError::EmptyPassword);
    }
    let canonical = std::str::from_utf8(code)
        .ok()
        .and_then(normalize)
        .ok_or(LifecycleError::WrongRecoveryCode)?;
    let _guard = passwd::lock(ks)?;
    let snapshot = ks.load()?;
    let recovered = snapshot
        .unlock_recovery(canonical.as_bytes())
        .ok_or(LifecycleError::WrongRecoveryCode)?;
    let uncovered = snapshot
        .entries()
        .into_iter()
        .filter(|e| e.owner == keys::Owner::User)
        .map(|e| e.id)
        .filter(|id| !recovered.keys.iter().any(|k| k.public_key().matches_id(id)))
        .collect();
    let keys = recovered
        .keys
        .iter()
        .map(clone_key)
        .collect::<Result<Vec<_>, _>>()?;
    let rewrapped = passwd::switch(ks, login, &keys, new, Some(&recovered.slot), "reset")?;
    Ok(Reset {
        rewrapped,
        uncovered,
    })
}

/// Sets the new password of a user who has no user keys at all (crypt=0, never encrypted):
/// there is nothing a recovery code would unlock, so none is needed. Refused with
/// [`LifecycleError::RecoveryCodeRequired`] as soon as the user has a user key.
pub fn reset_without_keys(
    ks: &KeyStore,
    login: &mut dyn Login,
    new: &[u8],
) -> Result<(), LifecycleError> {
    if new.is_empty() {
        return Err(LifecycleError::EmptyPassword);
    }
    let _guard = passwd::lock(ks)?;
    if ks.load()?.has_user_key() {
        return Err(LifecycleError::RecoveryCodeRequired);
    }
    login.set_password(new)?;
    Ok(())
}

/// The canonical form of a typed code: dashes and blanks dropped, upper case, `O` read as `0`
/// and `I`/`L` as `1`; `None` when it cannot be a code.
pub fn normalize(typed: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS));
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' | '\t' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if u8::try_from(c).is_ok_and(|b| ALPHABET.contains(&b)) => c,
            _ => return None,
        };
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

fn generate() -> Result<RecoveryCode, LifecycleError> {
    let mut random = Zeroizing::new([0u8; CODE_CHARS]);
    getrandom::fill(random.as_mut()).map_err(|_| LifecycleError::Random)?;
    let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS + CODE_CHARS / GROUP));
    for (i, byte) in random.iter().enumerate() {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        // 256 is a multiple of 32: taking the low five bits is uniform.
        let c = ALPHABET
            .get(usize::from(byte & 0x1f))
            .copied()
            .unwrap_or(b'0');
        out.push(char::from(c));
    }
    Ok(RecoveryCode(out))
}

/// Crockford's base-32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters per dash-separated group.
const GROUP: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_grouped_and_normalize() {
        let code = generate().unwrap();
        let s = code.expose();
        assert_eq!(s.len(), CODE_CHARS + CODE_CHARS / GROUP - 1);
        assert!(s.split('-').all(|g| g.len() == GROUP));
        let plain = normalize(s).unwrap();
        assert_eq!(normalize(&plain.to_lowercase()).unwrap(), plain);
        assert_eq!(plain.len(), CODE_CHARS);
        assert!(normalize("short").is_none());
        assert!(normalize(&format!("{}U", &plain[1..])).is_none());
        assert_ne!(generate().unwrap().expose(), s);
    }
}
