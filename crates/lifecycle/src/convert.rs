//! `tresor mailbox encrypt|decrypt`: a whole mailbox sealed or opened in place.
//!
//! Each message is replaced on its own ([`crate::messages::replace`]: new file complete and
//! fsynced, then renamed over the old name), so a crash leaves every message either as it was
//! or converted, and both kinds read fine (tresor and Dovecot serve a plaintext file in an
//! encrypted mailbox as it is). Running the command again converts what is left: that is the
//! resume. crypt is switched first, so that mail delivered meanwhile already arrives in the
//! target form.
//!
//! Fault points: `encrypt:1` after the keys exist, `encrypt:2` after crypt=2, then two per
//! message (tmp file written; renamed); `decrypt` the same with crypt=0.

use keys::KeysError;
use keys::strong::WrapMode;
use mailcrypt::Curve;
use store::account::Account;
use zeroize::Zeroizing;

use crate::error::LifecycleError;
use crate::fault;
use crate::login::Login;
use crate::messages::{self, read};
use crate::progress::Progress;
use crate::verify::Failure;

/// How many messages an encrypt or decrypt changed.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Converted {
    /// Messages rewritten now.
    pub converted: usize,
    /// Messages already in the target form.
    pub unchanged: usize,
    /// Messages that did not open (decrypt only); they stay sealed. Fix or remove them
    /// (`tresor mailbox verify` lists them too) and run the command again.
    pub failed: Vec<Failure>,
}

/// Seals every plaintext message of `account` to its folder's key, making the user key pair
/// (on `curve`, wrapped under `password` in mode `wrap`) and folder keys as needed, and sets
/// crypt=2. Only ciphertext is written; the plaintext exists in memory only.
pub fn encrypt(
    account: &Account,
    login: &mut dyn Login,
    password: &[u8],
    (curve, wrap): (Curve, WrapMode),
    progress: &dyn Progress,
) -> Result<Converted, LifecycleError> {
    if !login.verify(password)? {
        return Err(LifecycleError::WrongPassword);
    }
    if !account.maildir.join("cur").is_dir() {
        account.create()?;
    }
    let _guard = crate::guard::exclusive(&account.maildir, account.owner)?;
    messages::clean_tmp(account)?;
    let ks = account.keystore()?;
    match ks.load()?.unlock_user(Some(password)) {
        Ok(_) => {}
        Err(KeysError::NoUserKey) => {
            ks.generate_user_key(curve, Some(password), false)?;
            if wrap == WrapMode::Argon2id {
                ks.rewrap_with_mode(password, password, wrap)?;
            }
        }
        Err(KeysError::WrongPassword | KeysError::PasswordRequired) => {
            return Err(LifecycleError::KeysDoNotOpen {
                ids: ks
                    .load()?
                    .entries()
                    .into_iter()
                    .filter(|e| e.owner == keys::Owner::User)
                    .map(|e| e.id.to_string())
                    .collect(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    chown(account, &ks.path());
    fault::point("encrypt");
    login.set_crypt(2)?;
    fault::point("encrypt");
    let folders = messages::scan(account)?;
    progress.start(folders.iter().map(|f| f.messages.len() as u64).sum());
    let mut done = Converted::default();
    for f in &folders {
        let guid = store::folder::create(&f.folder, account.owner)
            .map_err(store::account::AccountError::from)?
            .to_string();
        let key = ks.ensure_folder_key(&guid)?;
        chown(account, &ks.path());
        for m in &f.messages {
            progress.advance(1);
            let data = read(&m.path)?;
            if data.is_empty() || mailcrypt::is_sealed(&data) {
                done.unchanged += 1;
                continue;
            }
            let (sealed, file_key) = mailcrypt::seal_keyed(&data, &key)?;
            messages::replace(&f.folder, m, &sealed, account.owner, "encrypt")?;
            messages::index_file_key(&f.folder, &key, m, &file_key, account.owner);
            fault::point("encrypt");
            done.converted += 1;
        }
    }
    progress.finish();
    Ok(done)
}

/// Replaces every sealed message of `account` by its verified plaintext and sets crypt=0.
/// The keys stay (`tresor key prune` removes those no message needs any more).
pub fn decrypt(
    account: &Account,
    login: &mut dyn Login,
    password: &[u8],
    progress: &dyn Progress,
) -> Result<Converted, LifecycleError> {
    if !login.verify(password)? {
        return Err(LifecycleError::WrongPassword);
    }
    let _guard = crate::guard::exclusive(&account.maildir, account.owner)?;
    messages::clean_tmp(account)?;
    let ks = account.keystore()?;
    let user = match ks.load()?.unlock_user(Some(password)) {
        Ok(u) => Some(u),
        Err(KeysError::NoUserKey) => None,
        Err(KeysError::WrongPassword | KeysError::PasswordRequired) => {
            return Err(LifecycleError::WrongPassword);
        }
        Err(e) => return Err(e.into()),
    };
    fault::point("decrypt");
    login.set_crypt(0)?;
    fault::point("decrypt");
    let folders = messages::scan(account)?;
    progress.start(folders.iter().map(|f| f.messages.len() as u64).sum());
    let mut done = Converted::default();
    for f in &folders {
        for m in &f.messages {
            progress.advance(1);
            let data = read(&m.path)?;
            if !mailcrypt::is_sealed(&data) {
                done.unchanged += 1;
                continue;
            }
            let plain: Zeroizing<Vec<u8>> =
                match account.read_file(&f.folder, &m.path, user.as_ref()) {
                    Ok(p) => p,
                    Err(e) => {
                        done.failed
                            .push(Failure::new(&f.folder.name, m, e.to_string()));
                        continue;
                    }
                };
            messages::replace(&f.folder, m, &plain, account.owner, "decrypt")?;
            fault::point("decrypt");
            done.converted += 1;
        }
    }
    progress.finish();
    Ok(done)
}

/// Gives a file the account's owner (a key file made by root stays usable by Dovecot).
pub(crate) fn chown(account: &Account, path: &std::path::Path) {
    if let Some((u, g)) = account.owner {
        let _ = std::os::unix::fs::chown(path, Some(u), Some(g));
    }
}
