//! How long a reply is held back after failed logins: counters per client and per username,
//! shared by all connections, with the clock passed in.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failed-login counters shared by every [`Session`](crate::Session) of a server.
///
/// # Policy
///
/// Failures are counted per **client** and per **username**:
///
/// - The client is the `rip=` address the auth client passes on (Postfix sends the SMTP
///   client's address), IPv6 cut to its /48 as Dovecot's `auth-penalty.c` does so one host
///   cannot spread over many addresses. A request without a usable `rip=` counts against its
///   connection instead (a counter kept in the [`Session`](crate::Session)).
/// - The username is the login name as typed, ASCII-lowercased.
///
/// A counter forgets its failures once [`PenaltyOptions::window`] has passed since its last
/// failure. With `n` failures counted, a reply waits [`PenaltyOptions::delay`]`(n)`: 0 s for
/// n ≤ 1, then 1 s, 2 s, 4 s, 8 s, capped at [`PenaltyOptions::max_delay`] (15 s).
///
/// - A **FAIL** for wrong credentials first counts the failure on both counters, then waits
///   for the larger of the two counts. The first failure is answered at once; the second after
///   1 s, and so on.
/// - An **OK** waits as long as a failure from the same client would have (`delay(client + 1)`),
///   so a client cannot learn that a guess was right by a reply coming early and drop the
///   connection as soon as the reply is late. It does not wait for the username's count, so
///   failures sent for someone else's address cannot slow that user's own logins. A success
///   clears the username's counter; the client's counter only runs out with the window, so one
///   valid account cannot wipe out a client's record of guessing at others.
/// - Malformed requests, refused authorization identities and temporary failures are answered
///   at once and not counted: they reveal nothing about a password.
///
/// The session never sleeps: it hands the delay to the driver with the reply
/// ([`Event::DelayedOutput`](crate::Event::DelayedOutput)), and the driver keeps serving other
/// requests meanwhile, as Dovecot's delayed-failure queue does.
///
/// Postfix waits at most 10 s for a reply (`AUTH_TIMEOUT` in `xsasl_dovecot_server.c`); a
/// reply held back longer makes that SMTP AUTH a temporary failure (454), which reveals no
/// more than a FAIL would. Lower [`PenaltyOptions::max_delay`] below 10 s to avoid that.
///
/// Each table keeps at most [`PenaltyOptions::max_tracked`] keys; when full, stale entries are
/// dropped, and if none are stale a new key is not tracked (its failures count as the first).
#[derive(Debug)]
pub struct Penalty {
    options: PenaltyOptions,
    tables: Mutex<Tables>,
}

impl Penalty {
    /// Empty counters with these settings.
    pub fn new(options: PenaltyOptions) -> Self {
        Self {
            options,
            tables: Mutex::new(Tables::default()),
        }
    }

    /// The settings.
    pub fn options(&self) -> &PenaltyOptions {
        &self.options
    }

    /// The failures counted now for the client at `ip`.
    pub fn client_failures(&self, ip: IpAddr, now: Instant) -> u32 {
        let tables = self.lock();
        tables
            .clients
            .get(&penalty_ip(ip))
            .map_or(0, |c| c.current(now, self.options.window))
    }

    /// The failures counted now for `username`.
    pub fn user_failures(&self, username: &str, now: Instant) -> u32 {
        let tables = self.lock();
        tables
            .users
            .get(&username.to_ascii_lowercase())
            .map_or(0, |c| c.current(now, self.options.window))
    }

    /// Counts a failure for the client at `ip`; returns its new count.
    pub(crate) fn fail_client(&self, ip: IpAddr, now: Instant) -> u32 {
        let window = self.options.window;
        let limit = self.options.max_tracked;
        let mut tables = self.lock();
        bump(&mut tables.clients, penalty_ip(ip), now, window, limit)
    }

    /// Counts a failure for `username`; returns its new count.
    pub(crate) fn fail_user(&self, username: &str, now: Instant) -> u32 {
        let window = self.options.window;
        let limit = self.options.max_tracked;
        let mut tables = self.lock();
        bump(
            &mut tables.users,
            username.to_ascii_lowercase(),
            now,
            window,
            limit,
        )
    }

    /// Forgets the failures of `username` after it logged in.
    pub(crate) fn forgive_user(&self, username: &str) {
        self.lock().users.remove(&username.to_ascii_lowercase());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave the maps inconsistent (each update is one
        // insert or remove), so a poisoned lock is still usable.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Penalty {
    fn default() -> Self {
        Self::new(PenaltyOptions::default())
    }
}

/// Settings of [`Penalty`]. Start from [`PenaltyOptions::default`] and change fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PenaltyOptions {
    /// How long a counter remembers failures after its last one (default 60 s). Keep it above
    /// `max_delay`, or a patient client is forgiven while it waits.
    pub window: Duration,
    /// The longest delay (default 15 s, Dovecot's `AUTH_PENALTY_MAX_SECS`).
    pub max_delay: Duration,
    /// How many clients, and how many usernames, are tracked at most (default 100 000).
    pub max_tracked: usize,
}

impl PenaltyOptions {
    /// The delay after `failures` counted failures: none for 0 or 1, then 1 s doubling with
    /// each further failure, capped at [`max_delay`](Self::max_delay).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(2).min(MAX_DOUBLINGS);
        let delay = match failures {
            0 | 1 => Duration::ZERO,
            _ => Duration::from_secs(1u64 << doublings),
        };
        delay.min(self.max_delay)
    }
}

impl Default for PenaltyOptions {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            max_delay: Duration::from_secs(15),
            max_tracked: 100_000,
        }
    }
}

/// Failures of one key: how many, and when the last one was.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counter {
    failures: u32,
    last: Option<Instant>,
}

impl Counter {
    /// The failures still remembered at `now`.
    pub(crate) fn current(&self, now: Instant, window: Duration) -> u32 {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < window => self.failures,
            _ => 0,
        }
    }

    /// Counts a failure at `now`; returns the new count.
    pub(crate) fn fail(&mut self, now: Instant, window: Duration) -> u32 {
        self.failures = self.current(now, window).saturating_add(1);
        self.last = Some(now);
        self.failures
    }
}

#[derive(Debug, Default)]
struct Tables {
    clients: HashMap<IpAddr, Counter>,
    users: HashMap<String, Counter>,
}

fn bump<K: std::hash::Hash + Eq>(
    table: &mut HashMap<K, Counter>,
    key: K,
    now: Instant,
    window: Duration,
    limit: usize,
) -> u32 {
    if table.len() >= limit && !table.contains_key(&key) {
        table.retain(|_, c| c.current(now, window) > 0);
        if table.len() >= limit {
            return 1;
        }
    }
    table.entry(key).or_default().fail(now, window)
}

/// The address failures are counted under: IPv4 as is (also when mapped into IPv6), IPv6 cut
/// to its first 48 bits (Dovecot's `PENALTY_IPV6_MASK_BITS`).
fn penalty_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & IPV6_MASK)),
        },
    }
}

/// The first 48 bits of an IPv6 address.
const IPV6_MASK: u128 = !0 << (128 - 48);

/// 2^4 s = 16 s is already above Dovecot's 15 s cap; a larger `max_delay` caps at 2^20 s.
const MAX_DOUBLINGS: u32 = 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule() {
        let options = PenaltyOptions::default();
        let secs: Vec<u64> = (0..9).map(|n| options.delay(n).as_secs()).collect();
        assert_eq!(secs, [0, 0, 1, 2, 4, 8, 15, 15, 15]);
        assert_eq!(options.delay(u32::MAX), Duration::from_secs(15));
    }

    #[test]
    fn counters_expire() {
        let penalty = Penalty::default();
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(penalty.fail_client(ip, t0), 1);
        assert_eq!(penalty.fail_client(ip, t0 + Duration::from_secs(59)), 2);
        assert_eq!(
            penalty.client_failures(ip, t0 + Duration::from_secs(118)),
            2
        );
        assert_eq!(
            penalty.client_failures(ip, t0 + Duration::from_secs(119)),
            0
        );
        assert_eq!(penalty.fail_client(ip, t0 + Duration::from_secs(119)), 1);
    }

    #[test]
    fn ipv6_counts_per_48() {
        let penalty = Penalty::default();
        let t0 = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:ffff::9".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        penalty.fail_client(a, t0);
        assert_eq!(penalty.client_failures(b, t0), 1);
        penalty.fail_client(mapped, t0);
        assert_eq!(penalty.client_failures(v4, t0), 1);
    }

    #[test]
    fn users_fold_case_and_are_forgiven() {
        let penalty = Penalty::default();
        let t0 = Instant::now();
        penalty.fail_user("Alice@Example.org", t0);
        assert_eq!(penalty.fail_user("alice@example.org", t0), 2);
        penalty.forgive_user("ALICE@example.org");
        assert_eq!(penalty.user_failures("alice@example.org", t0), 0);
    }

    #[test]
    fn tables_are_bounded() {
        let penalty = Penalty::new(PenaltyOptions {
            max_tracked: 2,
            ..PenaltyOptions::default()
        });
        let t0 = Instant::now();
        penalty.fail_user("a", t0);
        penalty.fail_user("b", t0);
        assert_eq!(penalty.fail_user("c", t0), 1);
        assert_eq!(penalty.user_failures("c", t0), 0);
        // Once the old entries are stale, new keys are tracked again.
        let later = t0 + Duration::from_secs(61);
        penalty.fail_user("c", later);
        assert_eq!(penalty.user_failures("c", later), 1);
    }
}
