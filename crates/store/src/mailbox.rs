//! What an IMAP session needs to know about one folder at a point in time: every message's UID,
//! file, flags, keywords, internal date (the file's mtime, as Dovecot's Maildir uses it), sizes
//! from the file name (`S=` stored, `W=` with CRLF line ends, Dovecot's RFC822.SIZE) and
//! CONDSTORE mod-sequence — read from the directory listing, `dovecot-uidlist`,
//! `dovecot-keywords` and `tresor-modseq`, never from message content.
//!
//! Also the folder operations IMAP adds to the store: delete, rename, and a cheap change
//! [`Stamp`] so an idling session rescans only when something changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::flags::{FileFlags, Flags, FlagsError, Keywords};
use crate::folder::{self, Folder, FolderError};
use crate::maildir::{self, DeliverError};
use crate::modseq::{self, MODSEQ_NAME, ModSeqError};
use crate::uidlist::{UIDLIST_NAME, basename};

/// One message of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageInfo {
    /// Its UID.
    pub uid: u32,
    /// Its file (in `cur/` or `new/`).
    pub path: PathBuf,
    /// Flags and keywords.
    pub flags: Flags,
    /// The file's mtime (IMAP INTERNALDATE).
    pub internal_date: SystemTime,
    /// `S=` of the name: stored size (LF line ends), if present.
    pub size: Option<u64>,
    /// `W=` of the name: size with CRLF line ends (RFC822.SIZE), if present.
    pub vsize: Option<u64>,
    /// CONDSTORE mod-sequence; 0 until a session first sees the message and gives it one
    /// above every value handed out before (RFC 7162: new messages get a new mod-sequence).
    pub modseq: u64,
    /// Whether the file is still in `new/` (not yet seen by any IMAP session).
    pub in_new: bool,
}

/// A folder's messages in UID order, with its UIDVALIDITY and next UID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub next_uid: u32,
    /// Highest mod-sequence of the folder.
    pub highest_modseq: u64,
    /// Messages by ascending UID.
    pub messages: Vec<MessageInfo>,
    /// Keyword names the folder defines (`dovecot-keywords`).
    pub keywords: Vec<String>,
    /// UIDs up to this one were seen by a selecting session (see [`modseq::claim_recent`]).
    pub recent_claimed: u32,
}

/// A cheap fingerprint of a folder's state: mtimes of `new/`, `cur/`, `dovecot-uidlist` and
/// `tresor-modseq`. Equal stamps mean no rescan is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamp(Vec<Option<SystemTime>>);

/// Why a folder could not be scanned or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// The uidlist or a file lookup failed.
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    /// `dovecot-keywords` or a flag rename failed.
    #[error(transparent)]
    Flags(#[from] FlagsError),
    /// The mod-sequence file failed.
    #[error(transparent)]
    ModSeq(#[from] ModSeqError),
    /// The folder name or layout is invalid.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The mailbox does not exist.
    #[error("mailbox {0} does not exist")]
    NoMailbox(String),
    /// The mailbox exists already (rename target).
    #[error("mailbox {0} exists already")]
    Exists(String),
    /// INBOX cannot be deleted or renamed here.
    #[error("INBOX cannot be deleted or renamed")]
    Inbox,
    /// A lock could not be taken or a file rewritten.
    #[error(transparent)]
    Lock(#[from] dotlock::DotlockError),
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Reads the folder's current state.
pub fn scan(folder: &Folder) -> Result<Snapshot, MailboxError> {
    if !folder.dir.join("cur").is_dir() {
        return Err(MailboxError::NoMailbox(folder.name.clone()));
    }
    let Some(list) = maildir::read_uidlist(folder)? else {
        return Ok(Snapshot {
            uid_validity: 1,
            next_uid: 1,
            highest_modseq: 1,
            ..Snapshot::default()
        });
    };
    let mut files: HashMap<String, (PathBuf, bool)> = HashMap::new();
    for sub in ["new", "cur"] {
        let dir = folder.dir.join(sub);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(MailboxError::Io {
                    action: "listing",
                    path: dir,
                    source,
                });
            }
        };
        for entry in entries.flatten() {
            if let Ok(name) = entry.file_name().into_string() {
                files.insert(basename(&name).to_string(), (entry.path(), sub == "new"));
            }
        }
    }
    let keywords = Keywords::read(folder)?;
    let seqs = modseq::load(folder)?;
    let mut messages = Vec::with_capacity(list.records.len());
    let mut records: Vec<_> = list.records.iter().collect();
    records.sort_by_key(|r| r.uid);
    for record in records {
        let Some((path, in_new)) = files.remove(record.basename()) else {
            continue; // expunged by someone else since the uidlist was written
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let (_, file_flags) = FileFlags::parse(&name);
        let internal_date = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        messages.push(MessageInfo {
            uid: record.uid,
            flags: Flags::from_file_flags(&file_flags, &keywords),
            internal_date,
            size: maildir::size_from_name(&name),
            vsize: vsize_from_name(&name),
            modseq: seqs.by_uid.get(&record.uid).copied().unwrap_or(0),
            in_new,
            path,
        });
    }
    Ok(Snapshot {
        uid_validity: list.uid_validity,
        // The header's N can lag behind appended records (Dovecot and tresor append).
        next_uid: list.next_uid_for_append().unwrap_or(u32::MAX),
        highest_modseq: seqs.highest,
        messages,
        keywords: keywords.iter().map(|(_, n)| n.to_string()).collect(),
        recent_claimed: seqs.recent_claimed,
    })
}

/// The folder's change [`Stamp`] (a handful of `stat` calls).
pub fn stamp(folder: &Folder) -> Stamp {
    let mtime = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Stamp(vec![
        mtime(folder.dir.join("new")),
        mtime(folder.dir.join("cur")),
        mtime(folder.dir.join(UIDLIST_NAME)),
        mtime(folder.dir.join(MODSEQ_NAME)),
    ])
}

/// tresor's record of the highest UIDVALIDITY handed out in a Maildir (Dovecot ignores it).
pub const UIDVALIDITY_NAME: &str = "tresor-uidvalidity";

/// `W=<n>` of a Maildir file name.
pub fn vsize_from_name(name: &str) -> Option<u64> {
    basename(name)
        .split(',')
        .find_map(|f| f.strip_prefix("W=")?.parse().ok())
}

/// Sets a message file's mtime (APPEND with a date: IMAP INTERNALDATE).
pub fn set_internal_date(path: &Path, date: SystemTime) -> Result<(), MailboxError> {
    let io = |source| MailboxError::Io {
        action: "setting the date of",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::options()
        .append(true)
        .open(path)
        .map_err(io)?;
    file.set_modified(date).map_err(io)
}

/// Makes sure the new, still empty folder `folder` has a UIDVALIDITY above every value this
/// Maildir handed out before (kept in `tresor-uidvalidity` at the Maildir root), so a mailbox
/// deleted and created again within the same second never reuses one (RFC 3501 §2.3.1.1).
/// Returns the folder's UIDVALIDITY.
pub fn fresh_uid_validity(maildir: &Path, folder: &Folder) -> Result<u32, MailboxError> {
    let last_file = dotlock::LockedFile::new(maildir.join(UIDVALIDITY_NAME));
    last_file.update(|last| {
        let last: u32 = last
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        let uidlist = dotlock::LockedFile::new(folder.dir.join(UIDLIST_NAME));
        let validity = uidlist.update(|current| {
            let Some(data) = current else {
                return Ok::<_, MailboxError>((None, last));
            };
            let mut list = crate::uidlist::Uidlist::parse(data)
                .map_err(|e| MailboxError::Deliver(DeliverError::Uidlist(e)))?;
            if list.uid_validity > last || !list.records.is_empty() {
                return Ok((None, list.uid_validity));
            }
            list.uid_validity = last.saturating_add(1);
            Ok((Some(list.encode()), list.uid_validity))
        })?;
        Ok::<_, MailboxError>((
            Some(format!("{}\n", validity.max(last)).into_bytes()),
            validity,
        ))
    })
}

/// Deletes mailbox `name` (its directory; sub-folders stay, as in Dovecot's Maildir++).
pub fn delete(maildir: &Path, name: &str) -> Result<(), MailboxError> {
    let f = folder::folder(maildir, name)?;
    if f.name == "INBOX" {
        return Err(MailboxError::Inbox);
    }
    if !f.dir.join("cur").is_dir() {
        return Err(MailboxError::NoMailbox(f.name));
    }
    std::fs::remove_dir_all(&f.dir).map_err(|source| MailboxError::Io {
        action: "deleting",
        path: f.dir.clone(),
        source,
    })
}

/// Renames mailbox `from` to `to`, with its sub-folders. Keys stay valid: they are filed under
/// the folder GUID in `dovecot-uidlist`, which moves with the directory.
pub fn rename(maildir: &Path, from: &str, to: &str) -> Result<(), MailboxError> {
    let src = folder::folder(maildir, from)?;
    let dst = folder::folder(maildir, to)?;
    if src.name == "INBOX" || dst.name == "INBOX" {
        return Err(MailboxError::Inbox);
    }
    if !src.dir.join("cur").is_dir() {
        return Err(MailboxError::NoMailbox(src.name));
    }
    if dst.dir.exists() {
        return Err(MailboxError::Exists(dst.name));
    }
    let mut moves = vec![(src.dir.clone(), dst.dir.clone())];
    let prefix = format!("{}.", src.name);
    for f in folder::list(maildir)? {
        if let Some(rest) = f.name.strip_prefix(&prefix) {
            let target = folder::folder(maildir, &format!("{}.{rest}", dst.name))?;
            moves.push((f.dir, target.dir));
        }
    }
    for (a, b) in moves {
        std::fs::rename(&a, &b).map_err(|source| MailboxError::Io {
            action: "renaming",
            path: a.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::flags::SystemFlag;

    #[test]
    fn scan_sees_deliveries_flags_and_sizes() {
        let home = tempfile::tempdir().unwrap();
        let account = Account::new(home.path(), false);
        account.create().unwrap();
        let a = account
            .deliver("INBOX", b"Subject: a\r\n\r\nhi\r\n")
            .unwrap();
        account
            .deliver("INBOX", b"Subject: b\r\n\r\nho\r\n")
            .unwrap();
        let inbox = account.folder("INBOX").unwrap();
        let before = stamp(&inbox);
        crate::flags::set_flags(&inbox, a.uid, &Flags::new().with(SystemFlag::Seen)).unwrap();
        let snap = scan(&inbox).unwrap();
        assert_eq!(snap.messages.len(), 2);
        let first = snap.messages.first().unwrap();
        assert_eq!(first.uid, a.uid);
        assert!(first.flags.contains(SystemFlag::Seen));
        assert_eq!(first.vsize, Some(a.vsize));
        assert_eq!(first.size, Some(a.size));
        assert!(!first.in_new);
        assert_ne!(stamp(&inbox), before);
        assert!(snap.next_uid > a.uid);
    }

    #[test]
    fn expunging_the_newest_message_never_frees_its_uid() {
        let home = tempfile::tempdir().unwrap();
        let account = Account::new(home.path(), false);
        account.create().unwrap();
        account.deliver("INBOX", b"Subject: a\n\na\n").unwrap();
        let b = account.deliver("INBOX", b"Subject: b\n\nb\n").unwrap();
        account.expunge("INBOX", b.uid).unwrap();
        let c = account.deliver("INBOX", b"Subject: c\n\nc\n").unwrap();
        assert!(c.uid > b.uid, "UID {} given out again", b.uid);
    }

    #[test]
    fn rename_and_delete() {
        let home = tempfile::tempdir().unwrap();
        let account = Account::new(home.path(), false);
        account.create().unwrap();
        account.create_mailbox("A").unwrap();
        account.create_mailbox("A.B").unwrap();
        rename(&account.maildir, "A", "C").unwrap();
        assert!(account.folder("C.B").is_ok());
        assert!(account.folder("A").is_err());
        assert!(matches!(
            rename(&account.maildir, "INBOX", "X"),
            Err(MailboxError::Inbox)
        ));
        delete(&account.maildir, "C").unwrap();
        assert!(account.folder("C").is_err());
        assert!(account.folder("C.B").is_ok());
        assert!(matches!(
            delete(&account.maildir, "Nope"),
            Err(MailboxError::NoMailbox(_))
        ));
        // Created again at once: a new UIDVALIDITY all the same.
        let first = account.create_mailbox("Again").unwrap();
        let v1 = fresh_uid_validity(&account.maildir, &first).unwrap();
        delete(&account.maildir, "Again").unwrap();
        let second = account.create_mailbox("Again").unwrap();
        let v2 = fresh_uid_validity(&account.maildir, &second).unwrap();
        assert!(v2 > v1, "{v2} > {v1}");
        let snap = scan(&second).unwrap();
        assert_eq!(snap.uid_validity, v2);
    }
}
