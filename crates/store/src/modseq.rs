//! CONDSTORE mod-sequences (RFC 7162) for one folder, in a small file tresor owns and Dovecot
//! ignores: `tresor-modseq` beside `dovecot-uidlist`.
//!
//! The file is text: a first line `highest <n>`, then one `<uid> <modseq>` line per message
//! whose flags tresor changed. A message without a line has mod-sequence 1 (never changed
//! through tresor). Updates happen under the file's own dotlock with an atomic rewrite, so two
//! sessions never hand out the same value. It holds only numbers, never message content.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dotlock::{DotlockError, LockedFile};

use crate::folder::Folder;

/// The folder's mod-sequences.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModSeqs {
    /// The highest mod-sequence handed out (at least 1).
    pub highest: u64,
    /// Per-UID mod-sequences of messages changed through tresor.
    pub by_uid: BTreeMap<u32, u64>,
    /// Messages up to this UID have been seen by a session that selected the folder: only
    /// higher UIDs are `\Recent` (IMAP's "first session to see it" rule).
    pub recent_claimed: u32,
}

/// Why the mod-sequence file could not be read or updated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModSeqError {
    /// Reading the file failed (permissions).
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Locking or rewriting the file failed.
    #[error(transparent)]
    Lock(#[from] DotlockError),
}

impl ModSeqs {
    /// Parses the file's bytes; unreadable lines are skipped (the file is only a cache of
    /// change counters, so damage costs clients a resync, never mail).
    pub fn parse(data: &[u8]) -> Self {
        let mut out = Self {
            highest: 1,
            by_uid: BTreeMap::new(),
            recent_claimed: 0,
        };
        for line in String::from_utf8_lossy(data).lines() {
            let mut words = line.split(' ');
            match (words.next(), words.next()) {
                (Some("recent"), Some(n)) => {
                    if let Ok(n) = n.parse::<u32>() {
                        out.recent_claimed = out.recent_claimed.max(n);
                    }
                }
                (Some("highest"), Some(n)) => {
                    if let Ok(n) = n.parse::<u64>() {
                        out.highest = out.highest.max(n);
                    }
                }
                (Some(uid), Some(seq)) => {
                    if let (Ok(uid), Ok(seq)) = (uid.parse::<u32>(), seq.parse::<u64>()) {
                        out.by_uid.insert(uid, seq);
                        out.highest = out.highest.max(seq);
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("highest {}\n", self.highest);
        if self.recent_claimed > 0 {
            out.push_str(&format!("recent {}\n", self.recent_claimed));
        }
        for (uid, seq) in &self.by_uid {
            out.push_str(&format!("{uid} {seq}\n"));
        }
        out.into_bytes()
    }

    /// The mod-sequence of `uid`.
    pub fn of(&self, uid: u32) -> u64 {
        self.by_uid.get(&uid).copied().unwrap_or(1)
    }
}

/// The folder's mod-sequences (defaults when the file does not exist).
pub fn load(folder: &Folder) -> Result<ModSeqs, ModSeqError> {
    let path = folder.dir.join(MODSEQ_NAME);
    match std::fs::read(&path) {
        Ok(data) => Ok(ModSeqs::parse(&data)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ModSeqs::parse(b"")),
        Err(source) => Err(ModSeqError::Io { path, source }),
    }
}

/// Gives every UID of `uids` one new mod-sequence (the same one) and returns it; expunged
/// `forget` UIDs are dropped from the file.
pub fn bump(folder: &Folder, uids: &[u32], forget: &[u32]) -> Result<u64, ModSeqError> {
    LockedFile::new(folder.dir.join(MODSEQ_NAME)).update(|current| {
        let mut seqs = ModSeqs::parse(current.unwrap_or_default());
        seqs.highest = seqs.highest.saturating_add(1);
        let next = seqs.highest;
        for uid in uids {
            seqs.by_uid.insert(*uid, next);
        }
        for uid in forget {
            seqs.by_uid.remove(uid);
        }
        Ok::<_, ModSeqError>((Some(seqs.encode()), next))
    })
}

/// Claims every message up to `upto` as seen by a selecting session and returns the UID up
/// to which messages had been claimed before (higher UIDs are `\Recent` for the caller).
pub fn claim_recent(folder: &Folder, upto: u32) -> Result<u32, ModSeqError> {
    LockedFile::new(folder.dir.join(MODSEQ_NAME)).update(|current| {
        let mut seqs = ModSeqs::parse(current.unwrap_or_default());
        let before = seqs.recent_claimed;
        if upto <= before {
            return Ok::<_, ModSeqError>((None, before));
        }
        seqs.recent_claimed = upto;
        Ok((Some(seqs.encode()), before))
    })
}

/// The file name, in the folder's directory.
pub const MODSEQ_NAME: &str = "tresor-modseq";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_default() {
        let empty = ModSeqs::parse(b"");
        assert_eq!(empty.highest, 1);
        assert_eq!(empty.of(7), 1);
        let mut s = ModSeqs::parse(b"highest 9\n3 9\n2 5\ngarbage\n");
        assert_eq!(s.of(3), 9);
        assert_eq!(s.of(2), 5);
        s.by_uid.insert(4, 10);
        s.highest = 10;
        assert_eq!(ModSeqs::parse(&s.encode()), s);
    }

    #[test]
    fn bump_is_monotonic() {
        let dir = tempfile::tempdir().unwrap();
        let folder = Folder {
            name: "INBOX".into(),
            dir: dir.path().to_path_buf(),
        };
        let a = bump(&folder, &[1, 2], &[]).unwrap();
        let b = bump(&folder, &[2], &[1]).unwrap();
        assert!(b > a);
        let s = load(&folder).unwrap();
        assert_eq!(s.of(2), b);
        assert_eq!(s.of(1), 1);
        assert_eq!(s.highest, b);
        assert_eq!(claim_recent(&folder, 5).unwrap(), 0);
        assert_eq!(claim_recent(&folder, 3).unwrap(), 5);
        assert_eq!(claim_recent(&folder, 9).unwrap(), 5);
        let s = load(&folder).unwrap();
        assert_eq!((s.recent_claimed, s.of(2)), (9, b));
    }
}
