//! The per-folder message-key index on disk (`tresor-keyindex`, format in
//! [`mailcrypt::index`]): the delivery path files each sealed message's key with one ECDH per
//! batch, readers load it once per session, so opening mail after login costs AES only.
//!
//! The file is a cache. Dovecot ignores it; losing it, or a stale or damaged line, costs only
//! speed: every key is checked against the mail file's own check value before use, and a
//! miss falls back to unwrapping the file's key the Dovecot way. Appends are single
//! `write(2)`s with `O_APPEND` and are not fsynced (a lost entry is a cache miss).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use keys::FolderKeys;
use mailcrypt::index::Batch;
use mailcrypt::{FileKey, KeyId, PrivateKey, PublicKey};

/// The index file's name in a folder directory.
pub const KEYINDEX_NAME: &str = "tresor-keyindex";

/// A batch is closed after this long or this many entries, bounding what one batch key
/// (held in the writer's memory) can open.
const BATCH_MAX_AGE: Duration = Duration::from_secs(3600);
const BATCH_MAX_ENTRIES: u32 = 50_000;

struct OpenBatch {
    batch: Batch,
    started: Instant,
    entries: u32,
}

/// Open batches of this process, by folder directory and folder key.
static WRITERS: Mutex<Option<HashMap<(PathBuf, KeyId), OpenBatch>>> = Mutex::new(None);

/// Files `key` for the mail file `name` in the folder at `dir`, sealed to `folder` (the
/// folder's public key, the one the mail was sealed to). Failures are returned for logging;
/// callers carry on, since the index is only a cache.
///
/// # Errors
///
/// The IO error when the index cannot be appended to.
pub fn file_key(
    dir: &Path,
    folder: &PublicKey,
    name: &str,
    key: &FileKey,
    owner: Option<(u32, u32)>,
) -> std::io::Result<()> {
    let mut line = String::new();
    {
        let mut writers = WRITERS.lock().unwrap_or_else(PoisonError::into_inner);
        let writers = writers.get_or_insert_with(HashMap::new);
        let slot = (dir.to_path_buf(), folder.id());
        let fresh = writers.get(&slot).is_none_or(|open| {
            open.started.elapsed() > BATCH_MAX_AGE || open.entries >= BATCH_MAX_ENTRIES
        });
        if fresh {
            let (batch, b_line) = Batch::start(folder).map_err(std::io::Error::other)?;
            line.push_str(&b_line);
            writers.insert(
                slot.clone(),
                OpenBatch {
                    batch,
                    started: Instant::now(),
                    entries: 0,
                },
            );
        }
        let Some(open) = writers.get_mut(&slot) else {
            return Ok(());
        };
        line.push_str(&open.batch.entry(name, key).map_err(std::io::Error::other)?);
        open.entries += 1;
    }
    let path = dir.join(KEYINDEX_NAME);
    let created = !path.exists();
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(&path)?;
    if created && let Some((uid, gid)) = owner {
        let _ = std::os::unix::fs::fchown(&file, Some(uid), Some(gid));
    }
    // One write: with O_APPEND, concurrent writers' lines do not interleave.
    file.write_all(line.as_bytes())
}

/// Brings `ring` up to date with the index file in `dir` (reads only what was appended since
/// the last call) using the folder private keys `keys` can unlock by id.
pub fn refresh(
    dir: &Path,
    ring: &mut FolderKeys,
    mut keys: impl FnMut(&KeyId) -> Option<std::sync::Arc<PrivateKey>>,
) {
    let Ok(mut file) = File::open(dir.join(KEYINDEX_NAME)) else {
        return;
    };
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    if len < ring.index.consumed() {
        // Replaced or truncated: start over.
        ring.index = mailcrypt::index::Reader::new();
    }
    if len == ring.index.consumed() || file.seek(SeekFrom::Start(ring.index.consumed())).is_err() {
        return;
    }
    let mut data = Vec::new();
    if file.read_to_end(&mut data).is_err() {
        return;
    }
    let entries = ring.index.read(&data, &mut keys);
    ring.files.extend(entries);
}
