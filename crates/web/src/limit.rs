//! Password and recovery-code checks, counted per mail address and per client address.
//!
//! An attempt is counted when it starts ([`Limiter::begin`]), not when it fails, so parallel
//! requests cannot run more checks than the limit allows; a success takes the count back (and
//! clears the address), as does an attempt that ended without a verdict (database down). Each
//! failure is answered after a delay that doubles with every earlier attempt; past the limit a
//! key is refused without a check until the window since its last attempt has passed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The attempt counts.
pub(crate) struct Limiter {
    map: Mutex<HashMap<String, Entry>>,
    max_failures: u32,
    window: Duration,
    delay: Duration,
    max_delay: Duration,
}

struct Entry {
    attempts: u32,
    last: Instant,
}

impl Limiter {
    pub(crate) fn new(options: &crate::Options) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            max_failures: options.max_failures.max(1),
            window: options.failure_window,
            delay: options.failure_delay,
            max_delay: options.max_failure_delay,
        }
    }

    /// Counts an attempt for every key and returns the highest count; `Err(wait)` (and
    /// nothing counted) when one of `keys` is over the limit: refuse without checking, and
    /// say when to come back.
    pub(crate) fn begin(&self, keys: &[String], now: Instant) -> Result<u32, Duration> {
        let mut map = self.lock();
        if map.len() > 100_000 {
            map.retain(|_, e| now.saturating_duration_since(e.last) < self.window);
        }
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(e) = map.get(key) {
                let since = now.saturating_duration_since(e.last);
                if e.attempts >= self.max_failures && since < self.window {
                    wait = wait.max(self.window.saturating_sub(since));
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        let mut most = 0;
        for key in keys {
            let e = map.entry(key.clone()).or_insert(Entry {
                attempts: 0,
                last: now,
            });
            if now.saturating_duration_since(e.last) >= self.window {
                e.attempts = 0;
            }
            e.attempts = e.attempts.saturating_add(1);
            e.last = now;
            most = most.max(e.attempts);
        }
        Ok(most)
    }

    /// How long to wait before answering a failed attempt that [`Limiter::begin`] counted as
    /// number `count`.
    pub(crate) fn delay(&self, count: u32) -> Duration {
        let doublings = count.saturating_sub(1).min(20);
        self.delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// Takes an attempt back from every key (it ended without a verdict).
    pub(crate) fn undo(&self, keys: &[String]) {
        let mut map = self.lock();
        for key in keys {
            if let Some(e) = map.get_mut(key) {
                e.attempts = e.attempts.saturating_sub(1);
                if e.attempts == 0 {
                    map.remove(key);
                }
            }
        }
    }

    /// A successful attempt: the address's count is cleared, the client's taken back by one.
    pub(crate) fn succeeded(&self, address: &str, client: &str) {
        self.lock().remove(address);
        self.undo(&[client.to_string()]);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned map is taken over: it holds only counters.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The limiter key of a mail address (case-folded).
pub(crate) fn address_key(address: &str) -> String {
    format!("address:{}", address.trim().to_lowercase())
}

/// The limiter key of a client address.
pub(crate) fn client_key(ip: std::net::IpAddr) -> String {
    format!("client:{ip}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Limiter {
        Limiter::new(&crate::Options {
            max_failures: 3,
            failure_window: Duration::from_secs(60),
            failure_delay: Duration::from_millis(100),
            max_failure_delay: Duration::from_millis(250),
            ..Default::default()
        })
    }

    #[test]
    fn delays_grow_then_the_key_is_refused_until_the_window_passes() {
        let l = limiter();
        let t0 = Instant::now();
        let keys = [
            address_key("A@example.org"),
            client_key([127, 0, 0, 1].into()),
        ];
        let delays: Vec<_> = (0..3)
            .map(|_| l.delay(l.begin(&keys, t0).unwrap()))
            .collect();
        assert_eq!(delays, [100, 200, 250].map(Duration::from_millis).to_vec());
        let wait = l.begin(&keys, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // The same address from elsewhere is refused too, and so is this client for another
        // address.
        assert!(l.begin(&[address_key("a@EXAMPLE.org")], t0).is_err());
        assert!(l.begin(&[client_key([127, 0, 0, 1].into())], t0).is_err());
        assert!(l.begin(&[address_key("b@example.org")], t0).is_ok());
        // After the window the count starts again.
        assert_eq!(l.begin(&keys, t0 + Duration::from_secs(61)), Ok(1));
    }

    #[test]
    fn parallel_attempts_are_counted_before_their_verdict() {
        let l = limiter();
        let t0 = Instant::now();
        let keys = [
            address_key("a@example.org"),
            client_key([10, 0, 0, 9].into()),
        ];
        // Three checks in flight at once: the fourth is refused before any has failed.
        for _ in 0..3 {
            l.begin(&keys, t0).unwrap();
        }
        assert!(l.begin(&keys, t0).is_err());
    }

    #[test]
    fn success_clears_the_address_and_takes_back_the_client_attempt() {
        let l = limiter();
        let t0 = Instant::now();
        let (address, client) = (
            address_key("a@example.org"),
            client_key([10, 0, 0, 1].into()),
        );
        let keys = [address.clone(), client.clone()];
        for _ in 0..2 {
            l.begin(&keys, t0).unwrap();
        }
        l.begin(&keys, t0).unwrap();
        l.succeeded(&address, &client);
        assert!(l.begin(std::slice::from_ref(&address), t0).is_ok());
        // The client had two failures, one more is allowed.
        assert_eq!(l.begin(std::slice::from_ref(&client), t0), Ok(3));
        assert!(l.begin(&[client], t0).is_err());
    }

    #[test]
    fn undone_attempts_do_not_count() {
        let l = limiter();
        let t0 = Instant::now();
        let keys = [address_key("a@example.org")];
        for _ in 0..10 {
            l.begin(&keys, t0).unwrap();
            l.undo(&keys);
        }
        assert_eq!(l.begin(&keys, t0), Ok(1));
    }
}
