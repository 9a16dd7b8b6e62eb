//! The v2 writer (SPEC §2.9): exactly what Dovecot 2.3 writes — flags AEAD, aes-256-gcm,
//! sha256, 2048 rounds, one EC recipient, uncompressed ephemeral point — and nothing at all
//! for an empty message.

use std::io::{self, Write};

use zeroize::Zeroizing;

use super::gcm::{self, Gcm};
use super::{
    FLAG_AEAD, FileKey, KEY_MATERIAL_LEN, KEY_TYPE_EC, MAGIC, OID_AES_256_GCM, split_key_material,
};
use crate::digest::{HashAlg, KeyIv, pbkdf2_key_iv};
use crate::keystring::random;
use crate::{KeyError, PublicKey, aes};

/// Seals `plaintext` to `recipient` in one call.
pub fn seal(plaintext: &[u8], recipient: &PublicKey) -> Result<Vec<u8>, KeyError> {
    seal_keyed(plaintext, recipient).map(|(file, _)| file)
}

/// [`seal`], also returning the file's key material, so that the writer can file it in a
/// key index (see [`crate::index`]) and a reader can skip the ECDH and PBKDF2 of
/// [`SealedFile::unwrap_key`](crate::SealedFile::unwrap_key). An empty message has no key:
/// its file is empty and the key returned is unused.
pub fn seal_keyed(plaintext: &[u8], recipient: &PublicKey) -> Result<(Vec<u8>, FileKey), KeyError> {
    seal_prepared(plaintext, recipient, None)
}

/// The part of a file's header that does not depend on the message: a fresh ephemeral key,
/// its ECDH with the recipient and the PBKDF2 over the secret (SPEC §2.6) — nearly all the
/// cost of sealing a small message. Made ahead of time (on an idle core) it takes that work
/// off the delivery's critical path. Used once: [`seal_prepared`] consumes it. Zeroized on
/// drop; `Debug` shows only the recipient.
pub struct PreparedWrap {
    recipient: PublicKey,
    eph: Vec<u8>,
    kiv: KeyIv,
}

impl std::fmt::Debug for PreparedWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedWrap(for {})", self.recipient.id())
    }
}

impl PreparedWrap {
    /// Prepares one wrap for `recipient`.
    ///
    /// # Errors
    ///
    /// [`KeyError`] when the ECDH fails.
    pub fn new(recipient: &PublicKey) -> Result<Self, KeyError> {
        let (eph, secret) = crate::ecdh::ephemeral(recipient)?;
        let kiv = pbkdf2_key_iv(HashAlg::Sha256, &secret, &eph, ROUNDS);
        Ok(Self {
            recipient: *recipient,
            eph,
            kiv,
        })
    }

    /// The public key this wrap seals to.
    pub fn recipient(&self) -> &PublicKey {
        &self.recipient
    }
}

/// [`seal_keyed`] with a wrap made ahead by [`PreparedWrap::new`] (for the same recipient;
/// a wrap for another key is refused, `None` makes one now).
///
/// # Errors
///
/// As [`seal`]; [`KeyError::CurveMismatch`] for a wrap made for another recipient.
pub fn seal_prepared(
    plaintext: &[u8],
    recipient: &PublicKey,
    wrap: Option<PreparedWrap>,
) -> Result<(Vec<u8>, FileKey), KeyError> {
    let km = Zeroizing::new(random::<KEY_MATERIAL_LEN>());
    let fk = FileKey::from_bytes(km.as_slice());
    if plaintext.is_empty() {
        return Ok((Vec::new(), fk));
    }
    let wrap = match wrap {
        Some(w) if w.recipient == *recipient => w,
        Some(_) => return Err(KeyError::CurveMismatch),
        None => PreparedWrap::new(recipient)?,
    };
    let mut out = header_with(recipient, &km, &wrap)?;
    let (key, iv, aad) = split_key_material(km.as_slice()).ok_or(KeyError::InvalidKey)?;
    gcm::seal(key, iv, aad, plaintext, &mut out).map_err(|_| {
        KeyError::Unsupported("message longer than one AES-GCM message allows (64 GiB)".into())
    })?;
    Ok((out, fk))
}

/// A streaming writer of one sealed file. The header goes out with the first non-empty
/// write; [`Sealer::finish`] appends the tag. Dropping a `Sealer` without `finish` leaves an
/// incomplete file that no reader accepts.
pub struct Sealer<W: Write> {
    out: W,
    recipient: PublicKey,
    gcm: Option<Gcm>,
    scratch: Zeroizing<Vec<u8>>,
}

impl<W: Write> Sealer<W> {
    /// A sealer that writes to `out` for `recipient` (normally a folder's active public key).
    pub fn new(recipient: &PublicKey, out: W) -> Self {
        Self {
            out,
            recipient: *recipient,
            gcm: None,
            scratch: Zeroizing::new(Vec::new()),
        }
    }

    /// Writes the tag (if anything was written) and returns the inner writer, flushed.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(gcm) = self.gcm.take() {
            self.out.write_all(&gcm.tag())?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn start(&mut self) -> io::Result<Gcm> {
        let km = Zeroizing::new(random::<KEY_MATERIAL_LEN>());
        let header = header(&self.recipient, &km).map_err(io::Error::other)?;
        self.out.write_all(&header)?;
        let (key, iv, aad) = split_key_material(km.as_slice())
            .ok_or_else(|| io::Error::other("key material length"))?;
        Ok(Gcm::new(key, iv, aad))
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut gcm = match self.gcm.take() {
            Some(g) => g,
            None => self.start()?,
        };
        for chunk in buf.chunks(CHUNK) {
            self.scratch.clear();
            self.scratch.extend_from_slice(chunk);
            gcm.encrypt(&mut self.scratch);
            if let Err(e) = self.out.write_all(&self.scratch) {
                self.gcm = Some(gcm);
                return Err(e);
            }
        }
        self.gcm = Some(gcm);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The v2 header for key material `km`, wrapped for `recipient` with a fresh ephemeral key
/// (SPEC §2.1, §2.5, §2.6).
pub(crate) fn header(
    recipient: &PublicKey,
    km: &[u8; KEY_MATERIAL_LEN],
) -> Result<Vec<u8>, KeyError> {
    header_with(recipient, km, &PreparedWrap::new(recipient)?)
}

fn header_with(
    recipient: &PublicKey,
    km: &[u8; KEY_MATERIAL_LEN],
    wrap: &PreparedWrap,
) -> Result<Vec<u8>, KeyError> {
    let hash = HashAlg::Sha256;
    let (r, kiv) = (&wrap.eph, &wrap.kiv);
    let wrapped = aes::cbc256_encrypt(&kiv.key, &kiv.iv, km);
    let kd_hash = hash.key_data_hash(km);

    let mut kd = Vec::with_capacity(1 + 1 + 32 + 4 + r.len() + 4 + wrapped.len() + 4 + 32);
    kd.push(1);
    kd.push(KEY_TYPE_EC);
    kd.extend_from_slice(&recipient.id().0);
    put_prefixed(&mut kd, r);
    put_prefixed(&mut kd, &wrapped);
    put_prefixed(&mut kd, &kd_hash);

    let hdr_len = MAGIC.len() + 1 + 4 + 4 + OID_AES_256_GCM.len() + hash.oid_der().len() + 4 + 4;
    let hdr_len = hdr_len + kd.len();
    let mut out = Vec::with_capacity(hdr_len);
    out.extend_from_slice(&MAGIC);
    out.push(2);
    out.extend_from_slice(&FLAG_AEAD.to_be_bytes());
    out.extend_from_slice(&len32(hdr_len).to_be_bytes());
    out.extend_from_slice(&OID_AES_256_GCM);
    out.extend_from_slice(hash.oid_der());
    out.extend_from_slice(&ROUNDS.to_be_bytes());
    put_prefixed(&mut out, &kd);
    Ok(out)
}

fn put_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&len32(data.len()).to_be_bytes());
    out.extend_from_slice(data);
}

/// Header pieces are a few hundred bytes; they always fit.
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

const ROUNDS: u32 = 2048;
const CHUNK: usize = 64 * 1024;
