//! tresor's message-key index: a per-folder file of the key material of sealed mail, itself
//! sealed to the folder's public key, so that reading a message after login costs AES only,
//! not the ECDH + PBKDF2 of [`SealedFile::unwrap_key`](crate::SealedFile::unwrap_key).
//!
//! This is tresor's own format (Dovecot never reads it; deleting the file loses nothing but
//! speed). It is text, one record per line, so a torn append damages at most one line:
//!
//! ```text
//! B <base64(batch id[16] ‖ folder key id[32] ‖ ephemeral public key, SEC1 uncompressed)>
//! E <base64(batch id[16] ‖ nonce[12] ‖ AES-256-GCM(batch key, nonce, aad = batch id,
//!            u16be name length ‖ file name ‖ file key material) ‖ tag[16])>
//! ```
//!
//! A batch is one ECDH between a fresh ephemeral key and the folder's public key; its key is
//! `HMAC-SHA256(shared secret, "tresor key index v1" ‖ batch id)`. A writer (the delivery
//! path, which needs no password) keeps one batch open for many messages; a reader with the
//! unlocked folder key does one ECDH per batch and AES-GCM per entry. Only what the writer
//! itself sealed is filed, so holding a batch key reveals nothing the writer did not see.
//! An entry names the Maildir base file name; the reader checks each key against the file's
//! own check value ([`SealedFile::key_matches`](crate::SealedFile::key_matches)) before use.

use std::borrow::Borrow;
use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::file::{FileKey, TAG_LEN, gcm};
use crate::key::{KeyId, PrivateKey, PublicKey};
use crate::keystring::random;
use crate::{KeyError, ecdh};

const BATCH_ID_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const LABEL: &[u8] = b"tresor key index v1";

/// An open batch: what a writer needs to file keys without any secret of the user's.
/// The batch key is zeroized on drop; `Debug` never shows it.
pub struct Batch {
    id: [u8; BATCH_ID_LEN],
    key: Zeroizing<[u8; 32]>,
    folder_key: KeyId,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Batch({}, folder key {})",
            hex::encode(self.id),
            self.folder_key
        )
    }
}

impl Batch {
    /// Starts a batch for `folder` (the folder's public key): returns it and its `B` line.
    ///
    /// # Errors
    ///
    /// [`KeyError`] when the ECDH fails (an invalid public key).
    pub fn start(folder: &PublicKey) -> Result<(Self, String), KeyError> {
        let id = random::<BATCH_ID_LEN>();
        let (eph, secret) = ecdh::ephemeral(folder)?;
        let folder_key = folder.id();
        let mut body = Vec::with_capacity(BATCH_ID_LEN + 32 + eph.len());
        body.extend_from_slice(&id);
        body.extend_from_slice(&folder_key.0);
        body.extend_from_slice(&eph);
        let batch = Self {
            id,
            key: batch_key(&secret, &id),
            folder_key,
        };
        Ok((batch, format!("B {}\n", B64.encode(body))))
    }

    /// The folder key this batch was agreed with.
    pub fn folder_key(&self) -> &KeyId {
        &self.folder_key
    }

    /// The `E` line filing `key` for the mail file with base name `name`.
    ///
    /// # Errors
    ///
    /// [`KeyError::Unsupported`] for a name longer than 65535 bytes.
    pub fn entry(&self, name: &str, key: &FileKey) -> Result<String, KeyError> {
        let name_len = u16::try_from(name.len())
            .map_err(|_| KeyError::Unsupported("file name too long for the key index".into()))?;
        let mut plain = Zeroizing::new(Vec::with_capacity(2 + name.len() + key.expose().len()));
        plain.extend_from_slice(&name_len.to_be_bytes());
        plain.extend_from_slice(name.as_bytes());
        plain.extend_from_slice(key.expose());
        let nonce = random::<NONCE_LEN>();
        let mut body = Vec::with_capacity(BATCH_ID_LEN + NONCE_LEN + plain.len() + TAG_LEN);
        body.extend_from_slice(&self.id);
        body.extend_from_slice(&nonce);
        gcm::seal(&self.key, &nonce, &self.id, &plain, &mut body)
            .map_err(|_| KeyError::Unsupported("key index entry too long".into()))?;
        Ok(format!("E {}\n", B64.encode(body)))
    }
}

/// An incremental reader of an index file: feed it the file's bytes from where it stopped
/// ([`Reader::consumed`]); it remembers the batches it has agreed, so a growing file is read
/// once, not once per lookup.
#[derive(Default)]
pub struct Reader {
    batches: HashMap<[u8; BATCH_ID_LEN], Option<Zeroizing<[u8; 32]>>>,
    consumed: u64,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Reader({} batches, {} bytes)",
            self.batches.len(),
            self.consumed
        )
    }
}

impl Reader {
    /// A reader at the start of the file.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many bytes of the file have been read (complete lines only).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Reads `data`, the file's bytes from offset [`Reader::consumed`] on: for every new batch
    /// whose folder key `keys` can give (by id), one ECDH; then every entry of a known batch
    /// that authenticates. Damaged lines, unknown batches and entries that fail their tag are
    /// skipped (the caller falls back to unwrapping); an unterminated last line is left for
    /// the next call. Returns (file name, key) in file order: later entries win.
    pub fn read<K: Borrow<PrivateKey>>(
        &mut self,
        data: &[u8],
        mut keys: impl FnMut(&KeyId) -> Option<K>,
    ) -> Vec<(String, FileKey)> {
        let mut out = Vec::new();
        let complete = data
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |last| last + 1);
        self.consumed += complete as u64;
        for line in data
            .get(..complete)
            .unwrap_or_default()
            .split(|b| *b == b'\n')
        {
            if let Some(entry) = self.line(line, &mut keys) {
                out.push(entry);
            }
        }
        out
    }

    fn line<K: Borrow<PrivateKey>>(
        &mut self,
        line: &[u8],
        keys: &mut impl FnMut(&KeyId) -> Option<K>,
    ) -> Option<(String, FileKey)> {
        let (kind, body) = match line {
            [kind @ (b'B' | b'E'), b' ', rest @ ..] => (*kind, rest),
            _ => return None,
        };
        let body = B64.decode(body).ok()?;
        let (id, rest) = body.split_first_chunk::<BATCH_ID_LEN>()?;
        if kind == b'B' {
            if !self.batches.contains_key(id) {
                let key = rest.split_first_chunk::<32>().and_then(|(kid, eph)| {
                    let private = keys(&KeyId(*kid))?;
                    let private = private.borrow();
                    let eph = PublicKey::from_sec1(private.curve(), eph).ok()?;
                    let secret = private.ecdh(&eph).ok()?;
                    Some(batch_key(&secret, id))
                });
                self.batches.insert(*id, key);
            }
            return None;
        }
        let key = self.batches.get(id)?.as_ref()?;
        let (nonce, sealed) = rest.split_first_chunk::<NONCE_LEN>()?;
        let (ct, tag) = sealed.split_last_chunk::<TAG_LEN>()?;
        let plain = gcm::open(key, nonce, id, ct, tag).ok()?;
        let (len, rest) = plain.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let name = std::str::from_utf8(rest.get(..len)?).ok()?;
        Some((name.to_owned(), FileKey::from_bytes(rest.get(len..)?)))
    }
}

/// Reads a whole index file at once (see [`Reader::read`]); later entries for a name win.
pub fn read<K: Borrow<PrivateKey>>(
    data: &[u8],
    keys: impl FnMut(&KeyId) -> Option<K>,
) -> HashMap<String, FileKey> {
    Reader::new().read(data, keys).into_iter().collect()
}

fn batch_key(secret: &[u8], id: &[u8; BATCH_ID_LEN]) -> Zeroizing<[u8; 32]> {
    use aws_lc_rs::hmac;
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, secret));
    ctx.update(LABEL);
    ctx.update(id);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Curve, SealedFile, seal_keyed};

    #[test]
    fn round_trip_and_key_checks() {
        let folder = PrivateKey::generate(Curve::P521);
        let (batch, b_line) = Batch::start(folder.public_key()).unwrap();
        let mut file = b_line.clone();
        let mut sealed = Vec::new();
        for i in 0..5 {
            let (bytes, fk) =
                seal_keyed(format!("message {i}").as_bytes(), folder.public_key()).unwrap();
            file.push_str(&batch.entry(&format!("name{i}"), &fk).unwrap());
            sealed.push(bytes);
        }
        let keys = read(file.as_bytes(), |id| {
            (id == &folder.id()).then_some(&folder)
        });
        assert_eq!(keys.len(), 5);
        for (i, bytes) in sealed.iter().enumerate() {
            let sf = SealedFile::parse(bytes).unwrap();
            let fk = &keys[&format!("name{i}")];
            assert!(sf.key_matches(fk));
            let other = &keys[&format!("name{}", (i + 1) % 5)];
            assert!(!sf.key_matches(other));
            assert_eq!(
                sf.decrypt(fk).unwrap().as_bytes(),
                format!("message {i}").as_bytes()
            );
        }
        // Without the folder key nothing is readable.
        let stranger = PrivateKey::generate(Curve::P521);
        assert!(read(file.as_bytes(), |_| Some(&stranger)).is_empty());
        assert!(read(file.as_bytes(), |_| None::<&PrivateKey>).is_empty());
    }

    /// Torn and tampered lines are skipped; the rest still reads.
    #[test]
    fn damage_loses_only_the_damaged_lines() {
        let folder = PrivateKey::generate(Curve::P256);
        let (batch, b_line) = Batch::start(folder.public_key()).unwrap();
        let fk = FileKey::from_bytes(&[7u8; 60]);
        let e1 = batch.entry("one", &fk).unwrap();
        let e2 = batch.entry("two", &fk).unwrap();
        let e3 = batch.entry("three", &fk).unwrap();
        let torn = &e2[..e2.len() / 2];
        let mut flipped = e3.clone().into_bytes();
        let mid = flipped.len() / 2;
        flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
        let mut file = b_line.into_bytes();
        file.extend_from_slice(e1.as_bytes());
        file.extend_from_slice(torn.as_bytes());
        file.extend_from_slice(&flipped);
        file.extend_from_slice(b"garbage\n\xff\xfe\n");
        let keys = read(&file, |_| Some(&folder));
        assert_eq!(keys.len(), 1, "{:?}", keys.keys());
        assert_eq!(keys["one"].expose(), &[7u8; 60]);
    }

    /// Fed in pieces (a file growing under a reader), the reader sees every entry once and
    /// keeps an unterminated line for later.
    #[test]
    fn incremental_reads() {
        let folder = PrivateKey::generate(Curve::P256);
        let (batch, b_line) = Batch::start(folder.public_key()).unwrap();
        let fk = FileKey::from_bytes(&[1u8; 60]);
        let e1 = batch.entry("one", &fk).unwrap();
        let e2 = batch.entry("two", &fk).unwrap();
        let whole = format!("{b_line}{e1}{e2}");
        let cut = b_line.len() + e1.len() + 5;
        let mut reader = Reader::new();
        let first = reader.read(&whole.as_bytes()[..cut], |_| Some(&folder));
        assert_eq!(first.len(), 1);
        assert_eq!(reader.consumed(), (b_line.len() + e1.len()) as u64);
        let rest = &whole.as_bytes()[reader.consumed() as usize..];
        let second = reader.read(rest, |_| Some(&folder));
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].0, "two");
        assert_eq!(reader.consumed(), whole.len() as u64);
    }
}
