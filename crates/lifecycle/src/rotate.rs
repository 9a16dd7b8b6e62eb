//! `tresor key rotate`: a new user key pair and new folder keys, every message re-sealed to its
//! folder's new key, then the old keys retired.
//!
//! Resumable through a journal, `Maildir/tresor-rotate` (tresor's own file; Dovecot ignores
//! it), which names the user key being rotated away from. The steps (fault points `rotate:n`):
//!
//! 1. the journal is written (durably) — `rotate:1`;
//! 2. the new keys are made active in one atomic rewrite of `dovecot-attributes` — `rotate:2`
//!    (skipped on a rerun when the active user key is no longer the journal's);
//! 3. each message still sealed to an old key is re-sealed to its folder's active key and
//!    replaced atomically under its own name — two points per message (tmp written; renamed);
//! 4. keys that nothing needs any more are removed ([`crate::prune`]) — one point;
//! 5. the journal is removed — one point.
//!
//! At every point both the old and the new keys are in `dovecot-attributes`, so every message
//! opens (for Dovecot too: each folder key names its user key, and both unlock with the
//! password); running `tresor key rotate` again continues where it stopped.
//!
//! Deliveries go on meanwhile. One that fetched a folder key just before the switch seals to
//! the old key; before step 4 the rotation waits until [`DELIVERY_GRACE`] has passed since
//! the switch, and prune scans the messages again, so such a file keeps its key alive (a
//! later rotation or `key prune` retires it once it is re-sealed).

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use keys::KeysError;
use mailcrypt::{Curve, KeyId, SealedFile};
use store::account::Account;

use crate::error::{LifecycleError, io_err};
use crate::fault;
use crate::login::Login;
use crate::messages::{self, read};
use crate::progress::Progress;
use crate::prune::{self, Pruned};
use crate::verify::Failure;

/// What a rotation did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rotated {
    /// The new active user key.
    pub user_key: KeyId,
    /// True when this run continued an interrupted rotation.
    pub resumed: bool,
    /// Messages re-sealed by this run.
    pub resealed: usize,
    /// Keys retired.
    pub retired: Vec<Pruned>,
    /// Messages that did not open and so keep their old keys; when there are any, the journal
    /// stays and the rotation is unfinished: fix or remove them (`tresor mailbox verify` lists
    /// them too) and run the rotation again.
    pub failed: Vec<Failure>,
}

/// Rotates the keys of `account` (see the module doc). `password` is the login password, which
/// wraps the new user key too; `curve` is the new keys' curve.
pub fn rotate(
    account: &Account,
    login: &mut dyn Login,
    password: &[u8],
    curve: Curve,
    progress: &dyn Progress,
) -> Result<Rotated, LifecycleError> {
    if !account.encrypted {
        return Err(LifecycleError::NotEncrypted);
    }
    if !login.verify(password)? {
        return Err(LifecycleError::WrongPassword);
    }
    let _guard = crate::guard::exclusive(&account.maildir, account.owner)?;
    let ks = account.keystore()?;
    let keys = ks.load()?;
    // Every key must open now: the messages sealed to old keys are about to be re-sealed.
    crate::passwd::all_user_keys(&ks, password)?;
    let active = keys.active_user_key_id().ok_or(KeysError::NoUserKey)?;
    messages::clean_tmp(account)?;
    let journal = journal_path(account);
    let (from, resumed) = match read_journal(&journal)? {
        Some(from) => (from, true),
        None => {
            write_journal(account, &journal, &active)?;
            (active, false)
        }
    };
    fault::point("rotate");
    let mut switched = None;
    if keys.active_user_key_id() == Some(from) {
        ks.rotate_keys(curve, password)?;
        switched = Some(std::time::Instant::now());
        crate::convert::chown(account, &ks.path());
    }
    fault::point("rotate");
    let keys = ks.load()?;
    let user = keys.unlock_user(Some(password))?;
    let user_key = keys.active_user_key_id().ok_or(KeysError::NoUserKey)?;
    let folders = messages::scan(account)?;
    progress.start(folders.iter().map(|f| f.messages.len() as u64).sum());
    let mut resealed = 0;
    let mut failed = Vec::new();
    for f in &folders {
        let Some(guid) = &f.guid else {
            progress.advance(f.messages.len() as u64);
            continue;
        };
        let mut target = None;
        for m in &f.messages {
            progress.advance(1);
            let data = read(&m.path)?;
            if !mailcrypt::is_sealed(&data) {
                continue;
            }
            let on_active = SealedFile::parse(&data).is_ok_and(|s| {
                s.recipients()
                    .iter()
                    .any(|r| keys.active_folder_key_id(guid) == Some(r.id))
            });
            if on_active {
                continue;
            }
            let key = match &target {
                Some(k) => k,
                None => {
                    let k = ks.ensure_folder_key(guid)?;
                    crate::convert::chown(account, &ks.path());
                    target.insert(k)
                }
            };
            let plain = match account.read_file(&f.folder, &m.path, Some(&user)) {
                Ok(p) => p,
                Err(e) => {
                    // It keeps the key it is sealed to (prune keeps every key a header names).
                    failed.push(Failure::new(&f.folder.name, m, e.to_string()));
                    continue;
                }
            };
            let (sealed, file_key) = mailcrypt::seal_keyed(&plain, key)?;
            messages::replace(&f.folder, m, &sealed, account.owner, "rotate")?;
            messages::index_file_key(&f.folder, key, m, &file_key, account.owner);
            fault::point("rotate");
            resealed += 1;
        }
    }
    progress.finish();
    // A delivery that fetched the old folder key just before the switch may still be writing
    // its file; give it time to land, so the scan in prune sees it and keeps that key.
    if let Some(t) = switched {
        std::thread::sleep(DELIVERY_GRACE.saturating_sub(t.elapsed()));
    }
    let retired = prune::prune_locked(account, &[])?;
    fault::point("rotate");
    if failed.is_empty() {
        match std::fs::remove_file(&journal) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing", &journal, e)),
        }
    }
    fault::point("rotate");
    Ok(Rotated {
        user_key,
        resumed,
        resealed,
        retired,
        failed,
    })
}

/// True while a rotation of `account` is unfinished.
pub fn in_progress(account: &Account) -> bool {
    journal_path(account).exists()
}

fn journal_path(account: &Account) -> PathBuf {
    account.maildir.join(JOURNAL)
}

fn read_journal(path: &Path) -> Result<Option<KeyId>, LifecycleError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("reading", path, e)),
    };
    let bad = |reason| LifecycleError::Journal {
        path: path.to_path_buf(),
        reason,
    };
    let mut lines = text.lines();
    if lines.next() != Some(JOURNAL_MAGIC) {
        return Err(bad("unknown format"));
    }
    let from = lines
        .next()
        .and_then(|l| l.strip_prefix("from "))
        .ok_or_else(|| bad("no `from` line"))?;
    from.parse().map(Some).map_err(|_| bad("bad key id"))
}

/// Writes the journal durably: a temp file, fsync, rename, fsync of the directory.
fn write_journal(account: &Account, path: &Path, from: &KeyId) -> Result<(), LifecycleError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err("creating", &tmp, e))?;
    f.write_all(format!("{JOURNAL_MAGIC}\nfrom {from}\n").as_bytes())
        .map_err(|e| io_err("writing", &tmp, e))?;
    f.sync_all().map_err(|e| io_err("syncing", &tmp, e))?;
    drop(f);
    crate::convert::chown(account, &tmp);
    std::fs::rename(&tmp, path).map_err(|e| io_err("renaming", path, e))?;
    File::open(&account.maildir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing", &account.maildir, e))
}

const JOURNAL: &str = "tresor-rotate";
/// How long a delivery may take from fetching the folder key to its file being in `new/`
/// (sealing and writing a message that is already in memory: milliseconds, even at 50 MB).
pub const DELIVERY_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
const JOURNAL_MAGIC: &str = "tresor-rotate 1";
