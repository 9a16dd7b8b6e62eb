//! Maildir++ folders as Dovecot lays them out with the default namespace (separator `.`, no
//! prefix): INBOX is `~/Maildir` itself, folder `A.B` is `~/Maildir/.A.B`, names in modified
//! UTF-7. Mailbox names are checked so that no name can reach outside the Maildir.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};

use crate::mutf7;
use crate::uidlist::{MailboxGuid, NoGuidReason, UIDLIST_NAME, UidlistError, read_guid};

/// A folder of a user's Maildir: its IMAP name and its directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// The mailbox name in UTF-8 (`INBOX`, `Archive`, `Lists.Dovecot`, `Entwürfe`).
    pub name: String,
    /// The Maildir directory holding `cur/`, `new/`, `tmp/` and `dovecot-uidlist`.
    pub dir: PathBuf,
}

/// Why a mailbox name or a mail file path was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// The name is empty, has control characters, `/`, a leading or doubled `.`, or `..`.
    #[error(
        "invalid mailbox name {0:?}: names may not be empty or contain '/', '..', control characters or empty hierarchy levels"
    )]
    InvalidName(String),
    /// The file is not inside `HOME/Maildir/{cur,new}` or `HOME/Maildir/.Folder/{cur,new}`.
    #[error(
        "{0} is not a mail file of this home's Maildir (expected Maildir/cur|new/FILE or Maildir/.Folder/cur|new/FILE)"
    )]
    NotInMaildir(PathBuf),
    /// The folder's `dovecot-uidlist` is unreadable.
    #[error(transparent)]
    Uidlist(#[from] UidlistError),
    /// Listing or creating the Maildir failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The folder `name` of `maildir` (`~/Maildir`). `INBOX` (any case) is the Maildir itself.
pub fn folder(maildir: &Path, name: &str) -> Result<Folder, FolderError> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok(Folder {
            name: "INBOX".into(),
            dir: maildir.to_path_buf(),
        });
    }
    let bad = || FolderError::InvalidName(name.to_string());
    if name.is_empty()
        || name.chars().any(|c| c.is_control() || c == '/')
        || name.split('.').any(str::is_empty)
    {
        return Err(bad());
    }
    let dir_name = format!(".{}", mutf7::encode(name));
    let dir = maildir.join(&dir_name);
    // Defence in depth: the joined path must be exactly one normal component below maildir.
    match Path::new(&dir_name)
        .components()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [Component::Normal(_)] => Ok(Folder {
            name: name.to_string(),
            dir,
        }),
        _ => Err(bad()),
    }
}

/// Every folder of `maildir`: INBOX first, then `.Name` directories in name order.
pub fn list(maildir: &Path) -> Result<Vec<Folder>, FolderError> {
    let io = |source| FolderError::Io {
        path: maildir.to_path_buf(),
        source,
    };
    let mut out = vec![Folder {
        name: "INBOX".into(),
        dir: maildir.to_path_buf(),
    }];
    let mut names = Vec::new();
    for entry in std::fs::read_dir(maildir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Some(file) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some(encoded) = file.strip_prefix('.') else {
            continue;
        };
        if encoded.is_empty() || encoded == "." || !entry.path().is_dir() {
            continue;
        }
        if let Some(name) = mutf7::decode(encoded) {
            names.push(Folder {
                name,
                dir: entry.path(),
            });
        }
    }
    names.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(names);
    Ok(out)
}

/// The folder a mail file belongs to, from its place under `home`: `Maildir/cur|new|tmp/F` is
/// INBOX, `Maildir/.Name/cur|new|tmp/F` is `Name`. The file need not be in `dovecot-uidlist`.
pub fn locate(home: &Path, file: &Path) -> Result<Folder, FolderError> {
    let not = || FolderError::NotInMaildir(file.to_path_buf());
    let abs = |p: &Path| std::path::absolute(p).map(|p| normalize(&p));
    let home = abs(home).map_err(|_| not())?;
    let file_abs = abs(file).map_err(|_| not())?;
    let maildir = home.join("Maildir");
    let rel = file_abs.strip_prefix(&maildir).map_err(|_| not())?;
    let parts: Vec<&str> = rel.iter().filter_map(|c| c.to_str()).collect();
    match parts.as_slice() {
        [sub, _] if is_mail_subdir(sub) => Ok(Folder {
            name: "INBOX".into(),
            dir: maildir,
        }),
        [dot, sub, _] if is_mail_subdir(sub) => {
            let name = dot
                .strip_prefix('.')
                .and_then(mutf7::decode)
                .filter(|n| !n.is_empty())
                .ok_or_else(not)?;
            Ok(Folder {
                name,
                dir: maildir.join(dot),
            })
        }
        _ => Err(not()),
    }
}

/// Creates the folder's `cur/`, `new/`, `tmp/` and, only if it has none, a `dovecot-uidlist`
/// with a fresh mailbox GUID (an existing GUID is never replaced: keys are filed under it).
/// New directories and files get `owner` (uid, gid) when given. Returns the folder's GUID.
pub fn create(folder: &Folder, owner: Option<(u32, u32)>) -> Result<MailboxGuid, FolderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FolderError::Io { path, source }
    };
    let chown = |p: &Path| match owner {
        Some((u, g)) => std::os::unix::fs::chown(p, Some(u), Some(g)).map_err(io(p)),
        None => Ok(()),
    };
    for dir in [
        folder.dir.clone(),
        folder.dir.join("cur"),
        folder.dir.join("new"),
        folder.dir.join("tmp"),
    ] {
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(io(&dir))?;
            chown(&dir)?;
        }
    }
    let path = folder.dir.join(UIDLIST_NAME);
    match read_guid(&folder.dir) {
        Ok(guid) => return Ok(guid),
        Err(UidlistError::NoGuid {
            reason: NoGuidReason::FileMissing,
            ..
        }) => {}
        Err(e) => return Err(FolderError::Uidlist(e)),
    }
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| FolderError::Io {
        path: path.clone(),
        source: std::io::Error::other(e),
    })?;
    let guid = MailboxGuid::from_bytes(raw);
    let validity = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(1);
    let tmp = folder.dir.join(format!("{UIDLIST_NAME}.tresor-new"));
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(format!("3 V{validity} N1 G{guid}\n").as_bytes())
            .map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    chown(&tmp)?;
    // link() rather than rename(): if another process created a uidlist meanwhile, keep it.
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            std::fs::File::open(&folder.dir)
                .and_then(|d| d.sync_all())
                .map_err(io(&folder.dir))?;
            Ok(guid)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_guid(&folder.dir).map_err(FolderError::Uidlist)
        }
        Err(e) => Err(FolderError::Io { path, source: e }),
    }
}

fn is_mail_subdir(s: &str) -> bool {
    matches!(s, "cur" | "new" | "tmp")
}

/// Removes `.` and resolves `..` lexically (no symlinks followed).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_dovecot_directories() {
        let m = Path::new("/h/Maildir");
        assert_eq!(folder(m, "inbox").unwrap().dir, m);
        assert_eq!(
            folder(m, "Lists.Dovecot").unwrap().dir,
            m.join(".Lists.Dovecot")
        );
        assert_eq!(folder(m, "Entwürfe").unwrap().dir, m.join(".Entw&APw-rfe"));
        for bad in [
            "",
            "..",
            "a/b",
            ".x",
            "x.",
            "a..b",
            "a\nb",
            "../../etc",
            "a\u{7f}",
        ] {
            assert!(
                matches!(folder(m, bad), Err(FolderError::InvalidName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn files_locate_their_folder() {
        let h = Path::new("/h");
        assert_eq!(
            locate(h, Path::new("/h/Maildir/cur/1.x:2,S")).unwrap().name,
            "INBOX"
        );
        let f = locate(h, Path::new("/h/Maildir/.Entw&APw-rfe/new/1.x")).unwrap();
        assert_eq!(
            (f.name.as_str(), f.dir.as_path()),
            ("Entwürfe", Path::new("/h/Maildir/.Entw&APw-rfe"))
        );
        assert!(locate(h, Path::new("/h/Maildir/dovecot-uidlist")).is_err());
        assert!(locate(h, Path::new("/other/Maildir/cur/1")).is_err());
        assert!(locate(h, Path::new("/h/Maildir/.A/x/1")).is_err());
        assert_eq!(
            locate(h, Path::new("/h/Maildir/.A/../cur/1")).unwrap().name,
            "INBOX"
        );
    }
}
