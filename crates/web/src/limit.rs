//! Failed password and recovery-code checks, counted per mail address and per client address.
//! Each failure is answered after a delay that doubles with every earlier failure; past the
//! limit a key is refused without a check until the window since its last failure has passed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The failure counts.
pub(crate) struct Limiter {
    map: Mutex<HashMap<String, Entry>>,
    max_failures: u32,
    window: Duration,
    delay: Duration,
    max_delay: Duration,
}

struct Entry {
    failures: u32,
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

    /// `Err(wait)` when one of `keys` is over the limit: refuse without checking, and say when
    /// to come back.
    pub(crate) fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let map = self.lock();
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(e) = map.get(key) {
                let since = now.saturating_duration_since(e.last);
                if e.failures >= self.max_failures && since < self.window {
                    wait = wait.max(self.window.saturating_sub(since));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Records a failure for every key; returns how long to wait before answering.
    pub(crate) fn failed(&self, keys: &[String], now: Instant) -> Duration {
        let mut map = self.lock();
        if map.len() > 100_000 {
            map.retain(|_, e| now.saturating_duration_since(e.last) < self.window);
        }
        let mut most = 0;
        for key in keys {
            let e = map.entry(key.clone()).or_insert(Entry {
                failures: 0,
                last: now,
            });
            if now.saturating_duration_since(e.last) >= self.window {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            most = most.max(e.failures);
        }
        let doublings = most.saturating_sub(1).min(20);
        self.delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }

    /// Forgets the failures of `key` (a successful login for that address).
    pub(crate) fn succeeded(&self, key: &str) {
        self.lock().remove(key);
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
        assert!(l.check(&keys, t0).is_ok());
        assert_eq!(l.failed(&keys, t0), Duration::from_millis(100));
        assert_eq!(l.failed(&keys, t0), Duration::from_millis(200));
        assert!(l.check(&keys, t0).is_ok());
        assert_eq!(l.failed(&keys, t0), Duration::from_millis(250));
        let wait = l.check(&keys, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // The same address from elsewhere is refused too, and so is this client for another
        // address.
        assert!(l.check(&[address_key("a@EXAMPLE.org")], t0).is_err());
        assert!(l.check(&[client_key([127, 0, 0, 1].into())], t0).is_err());
        assert!(l.check(&[address_key("b@example.org")], t0).is_ok());
        assert!(l.check(&keys, t0 + Duration::from_secs(61)).is_ok());
        // After the window the count starts again.
        assert_eq!(
            l.failed(&keys, t0 + Duration::from_secs(61)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn success_forgets_the_address_only() {
        let l = limiter();
        let t0 = Instant::now();
        let keys = [
            address_key("a@example.org"),
            client_key([10, 0, 0, 1].into()),
        ];
        for _ in 0..3 {
            l.failed(&keys, t0);
        }
        l.succeeded(&address_key("a@example.org"));
        assert!(l.check(&[address_key("a@example.org")], t0).is_ok());
        assert!(l.check(&keys, t0).is_err());
    }
}
