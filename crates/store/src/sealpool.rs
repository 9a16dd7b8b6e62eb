//! Wraps prepared ahead ([`mailcrypt::PreparedWrap`]) for the folder keys mail is being
//! delivered to: a background thread keeps a few per recently used key, so a delivery's
//! critical path does AES and the fsyncs, not the ephemeral key, ECDH and PBKDF2.
//!
//! Off unless a long-running process calls [`enable`] (`tresor serve` does); a one-shot CLI
//! delivery would only waste the work. Each wrap is used once and zeroized on drop; the pool
//! forgets a key nobody delivered to for a minute.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mailcrypt::{KeyId, PreparedWrap, PublicKey};

/// Wraps kept ready per key.
const DEPTH: usize = 8;
/// A key not delivered to for this long is dropped from the pool.
const IDLE: Duration = Duration::from_secs(60);

struct Slot {
    key: PublicKey,
    ready: Vec<PreparedWrap>,
    last_used: Instant,
}

#[derive(Default)]
struct Pool {
    enabled: bool,
    started: bool,
    slots: HashMap<KeyId, Slot>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
static WAKE: Condvar = Condvar::new();

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(Pool::default))
}

/// Turns the pool on for this process.
pub fn enable() {
    with_pool(|p| p.enabled = true);
}

/// A prepared wrap for `key`, if one is ready; either way the key counts as in use and the
/// background thread (started on first use) refills its slot.
pub fn take(key: &PublicKey) -> Option<PreparedWrap> {
    let (wrap, start) = with_pool(|p| {
        if !p.enabled {
            return (None, false);
        }
        let slot = p.slots.entry(key.id()).or_insert_with(|| Slot {
            key: *key,
            ready: Vec::new(),
            last_used: Instant::now(),
        });
        slot.last_used = Instant::now();
        let wrap = slot.ready.pop();
        let start = !p.started;
        p.started = true;
        (wrap, start)
    });
    if start
        && std::thread::Builder::new()
            .name("tresor-sealpool".into())
            .spawn(refill)
            .is_err()
    {
        with_pool(|p| p.started = false);
    }
    WAKE.notify_one();
    wrap
}

/// The background thread: makes wraps for keys short of [`DEPTH`], sleeps otherwise.
fn refill() {
    loop {
        let next = {
            let mut guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                let pool = guard.get_or_insert_with(Pool::default);
                pool.slots.retain(|_, s| s.last_used.elapsed() < IDLE);
                if let Some(slot) = pool.slots.values().find(|s| s.ready.len() < DEPTH) {
                    break slot.key;
                }
                guard = WAKE
                    .wait_timeout(guard, IDLE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        let Ok(wrap) = PreparedWrap::new(&next) else {
            // An unusable key: forget it rather than spin on it.
            with_pool(|p| p.slots.remove(&next.id()));
            continue;
        };
        with_pool(|p| {
            if let Some(slot) = p.slots.get_mut(&next.id())
                && slot.ready.len() < DEPTH
            {
                slot.ready.push(wrap);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailcrypt::{Curve, PrivateKey, SealedFile, seal_prepared};

    #[test]
    fn refills_in_the_background_and_wraps_seal_openable_files() {
        let key = PrivateKey::generate(Curve::P256);
        assert!(take(key.public_key()).is_none(), "off until enabled");
        enable();
        let _ = take(key.public_key());
        let deadline = Instant::now() + Duration::from_secs(20);
        let wrap = loop {
            if let Some(w) = take(key.public_key()) {
                break w;
            }
            assert!(Instant::now() < deadline, "the pool never filled");
            std::thread::sleep(Duration::from_millis(5));
        };
        let (file, _) = seal_prepared(b"pooled", key.public_key(), Some(wrap)).unwrap();
        let sf = SealedFile::parse(&file).unwrap();
        let fk = sf.unwrap_key(&key).unwrap();
        assert_eq!(sf.decrypt(&fk).unwrap().as_bytes(), b"pooled");
    }
}
