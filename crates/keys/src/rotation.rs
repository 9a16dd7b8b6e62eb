//! A rotation's new keys: a user key pair and a new key pair for every folder that has one,
//! made active together in one atomic rewrite of `dovecot-attributes`.

use mailcrypt::{Curve, KeyId, PrivateKey, WrapWith};

use crate::keystore::{BOX_CRYPT_PREFIX, KeyStore, KeysError, folder_prefix, key_err, user_prefix};
use crate::strong::wrap_secret;
use crate::wraps::add_to_recovery_slots;

impl KeyStore {
    /// Makes a new user key pair on `curve`, wrapped under `password`, and for every folder with
    /// an active key a new folder key pair encrypted to it; all become active in one locked
    /// update, and the new user key joins every recovery slot. Old keys stay (messages are still
    /// sealed to them until re-sealed). Returns the new user key id.
    pub fn rotate_keys(&self, curve: Curve, password: &[u8]) -> Result<KeyId, KeysError> {
        let user = PrivateKey::generate(curve);
        let uid = user.id();
        self.file.update(|map| {
            // In the user's wrap mode (`strong`).
            let secret = wrap_secret(map, &self.inbox, password)?;
            let private = user
                .to_key_string(WrapWith::Password(&secret))
                .map_err(|e| key_err(&uid, e))?;
            let up = user_prefix(&self.inbox);
            map.set(format!("priv/{up}privkeys/{uid}"), private.as_bytes());
            map.set(
                format!("shared/{up}pubkeys/{uid}"),
                user.public_key().to_key_string(),
            );
            map.set(format!("shared/{up}active"), uid.to_string());
            let active_suffix = format!("{BOX_CRYPT_PREFIX}active");
            let guids: Vec<String> = map
                .iter_prefix("shared/")
                .filter_map(|(k, _)| {
                    let rest = std::str::from_utf8(k).ok()?.strip_prefix("shared/")?;
                    let (guid, attr) = rest.split_once('/')?;
                    (attr == active_suffix).then(|| guid.to_string())
                })
                .collect();
            for guid in guids {
                let folder = PrivateKey::generate(curve);
                let fid = folder.id();
                let s = folder
                    .to_key_string(WrapWith::Key(user.public_key()))
                    .map_err(|e| key_err(&fid, e))?;
                let fp = folder_prefix(&guid);
                map.set(format!("priv/{fp}privkeys/{fid}"), s.as_bytes());
                map.set(
                    format!("shared/{fp}pubkeys/{fid}"),
                    folder.public_key().to_key_string(),
                );
                map.set(format!("shared/{fp}active"), fid.to_string());
            }
            add_to_recovery_slots(map, &self.inbox, &user)?;
            Ok(uid)
        })
    }
}
