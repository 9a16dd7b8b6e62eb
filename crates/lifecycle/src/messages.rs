//! Every message file of an account, and the in-place replacement that encrypt, decrypt and
//! rotate share.
//!
//! [`replace`] writes the new content to `tmp/<base>.tresor-rewrite`, fsyncs it, then renames it
//! over the message's current name (looked up again just before, in case a client changed its
//! flags meanwhile) and fsyncs the directory. The base name, and with it the UID in
//! `dovecot-uidlist`, the `S=`/`W=` sizes (of the plaintext, unchanged) and the flags after
//! `:2,`, stay as they were; the uidlist is not touched. A crash leaves either the old file or
//! the new one under the name, and at worst a stale file in `tmp/` that [`clean_tmp`] removes.
//! A client changing the flags in the instant between the lookup and the rename would leave a
//! second file of the same base name with the old content; [`replace`] looks again after its
//! rename and moves the new content over that one.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use store::account::Account;
use store::folder::Folder;
use store::maildir::read_uidlist;
use store::uidlist::basename;

use crate::error::{LifecycleError, io_err};

/// One message file.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its base name (without `:2,flags`): the name the uidlist knows.
    pub base: String,
    /// Where it is now.
    pub path: PathBuf,
    /// Its UID, when the uidlist has it (a file in `new/` that no one synced yet has none).
    pub uid: Option<u32>,
}

/// A folder and its messages.
#[derive(Debug, Clone)]
pub struct FolderMessages {
    /// The folder.
    pub folder: Folder,
    /// Its mailbox GUID, when it has a uidlist.
    pub guid: Option<String>,
    /// Its messages, in UID order (files without a UID last).
    pub messages: Vec<Message>,
    /// UIDs the uidlist lists whose file is missing.
    pub missing: Vec<u32>,
}

/// Every folder of `account` with its message files.
pub fn scan(account: &Account) -> Result<Vec<FolderMessages>, LifecycleError> {
    let mut out = Vec::new();
    for folder in account.folders()? {
        let list = read_uidlist(&folder)?;
        let guid = store::uidlist::read_guid(&folder.dir)
            .ok()
            .map(|g| g.to_string());
        let uids: HashMap<String, u32> = list
            .iter()
            .flat_map(|l| l.records.iter())
            .map(|r| (r.basename().to_string(), r.uid))
            .collect();
        let mut messages = Vec::new();
        for sub in ["cur", "new"] {
            let dir = folder.dir.join(sub);
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("listing", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_err("listing", &dir, e))?;
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let base = basename(&name).to_string();
                messages.push(Message {
                    uid: uids.get(&base).copied(),
                    base,
                    path: entry.path(),
                });
            }
        }
        messages.sort_by_key(|m| (m.uid.is_none(), m.uid, m.base.clone()));
        let present: std::collections::HashSet<&str> =
            messages.iter().map(|m| m.base.as_str()).collect();
        let missing = list
            .iter()
            .flat_map(|l| l.records.iter())
            .filter(|r| !present.contains(r.basename()))
            .map(|r| r.uid)
            .collect();
        out.push(FolderMessages {
            folder,
            guid,
            messages,
            missing,
        });
    }
    Ok(out)
}

/// Replaces message `msg` of `folder` by `content` atomically, keeping its name (see the module
/// doc). New files get `owner` when given. `op` names the fault point between the fsync and
/// the rename.
pub fn replace(
    folder: &Folder,
    msg: &Message,
    content: &[u8],
    owner: Option<(u32, u32)>,
    op: &str,
) -> Result<(), LifecycleError> {
    let tmp_dir = folder.dir.join("tmp");
    if !tmp_dir.is_dir() {
        std::fs::create_dir(&tmp_dir).map_err(|e| io_err("creating", &tmp_dir, e))?;
        if let Some((u, g)) = owner {
            let _ = std::os::unix::fs::chown(&tmp_dir, Some(u), Some(g));
        }
    }
    let tmp = tmp_dir.join(format!("{}{TMP_SUFFIX}", msg.base));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err("creating", &tmp, e))?;
    if let Some((u, g)) = owner {
        std::os::unix::fs::fchown(&file, Some(u), Some(g))
            .map_err(|e| io_err("changing the owner of", &tmp, e))?;
    }
    file.write_all(content)
        .map_err(|e| io_err("writing", &tmp, e))?;
    file.sync_all().map_err(|e| io_err("syncing", &tmp, e))?;
    drop(file);
    crate::fault::point(op);
    let Some(target) = current_path(folder, msg)? else {
        // Expunged meanwhile: nothing to replace.
        let _ = std::fs::remove_file(&tmp);
        return Ok(());
    };
    std::fs::rename(&tmp, &target).map_err(|e| io_err("renaming over", &target, e))?;
    // A client that changed the flags (renamed the file) between the lookup and the rename
    // left the old content under the new name beside ours: move ours over it, so the newest
    // flags stay and there is one file again.
    let mut last = target;
    if let Some(other) = current_path_other_than(folder, msg, &last)? {
        std::fs::rename(&last, &other).map_err(|e| io_err("renaming over", &other, e))?;
        if let Some(dir) = last.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err("syncing", dir, e))?;
        }
        last = other;
    }
    if let Some(dir) = last.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("syncing", dir, e))?;
    }
    Ok(())
}

/// Files the key material of a message just re-sealed in the folder's key index (`store`'s
/// per-folder cache, itself sealed to the folder key), as delivery does, so later reads skip
/// the ECDH and PBKDF2. Called after the rename; a failure only makes reads slower.
pub fn index_file_key(
    folder: &Folder,
    key: &mailcrypt::PublicKey,
    msg: &Message,
    file_key: &mailcrypt::FileKey,
    owner: Option<(u32, u32)>,
) {
    let _ = store::keyindex::file_key(&folder.dir, key, &msg.base, file_key, owner);
}

/// Removes stale `tmp/*.tresor-rewrite` files of every folder (left by a crash in
/// [`replace`]).
pub fn clean_tmp(account: &Account) -> Result<(), LifecycleError> {
    for folder in account.folders()? {
        let dir = folder.dir.join("tmp");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(TMP_SUFFIX))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// Where the message is now: its old path, or the same base name with other flags.
fn current_path(folder: &Folder, msg: &Message) -> Result<Option<PathBuf>, LifecycleError> {
    if msg.path.exists() {
        return Ok(Some(msg.path.clone()));
    }
    current_path_other_than(folder, msg, &msg.path)
}

/// A file of the message's base name other than `not`.
fn current_path_other_than(
    folder: &Folder,
    msg: &Message,
    not: &Path,
) -> Result<Option<PathBuf>, LifecycleError> {
    for sub in ["cur", "new"] {
        let dir = folder.dir.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(|e| io_err("listing", &dir, e))?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| basename(n) == msg.base)
                && entry.path() != not
            {
                return Ok(Some(entry.path()));
            }
        }
    }
    Ok(None)
}

/// Reads a whole file.
pub(crate) fn read(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, LifecycleError> {
    std::fs::read(path)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| io_err("reading", path, e))
}

const TMP_SUFFIX: &str = ".tresor-rewrite";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_the_name_and_settles_a_flag_change_race_on_one_file() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let folder = Folder {
            name: "INBOX".into(),
            dir: dir.path().to_path_buf(),
        };
        let base = "1700000000.M1P1.host,S=3,W=3";
        let path = dir.path().join("cur").join(format!("{base}:2,S"));
        std::fs::write(&path, b"old").unwrap();
        let msg = Message {
            base: base.into(),
            path: path.clone(),
            uid: Some(1),
        };
        replace(&folder, &msg, b"new", None, "test").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );

        // The state a client's rename to :2,FS in the race window leaves: both names exist.
        let flagged = dir.path().join("cur").join(format!("{base}:2,FS"));
        std::fs::write(&flagged, b"new").unwrap();
        replace(&folder, &msg, b"newer", None, "test").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path().join("cur"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(names, vec![flagged.clone()]);
        assert_eq!(std::fs::read(&flagged).unwrap(), b"newer");
    }
}
