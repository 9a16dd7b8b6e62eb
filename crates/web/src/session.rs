//! Server-side sessions in memory: a random id in the cookie, everything else here. A session
//! exists before login too, so the login and reset forms carry a CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// Every session, by id.
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    max: usize,
}

/// One visitor's state.
struct Session {
    csrf: String,
    user: Option<String>,
    last_seen: Instant,
    /// A recovery code just made, kept for one download.
    code: Option<Zeroizing<String>>,
}

/// What a handler sees of a live session.
#[derive(Clone, Debug)]
pub(crate) struct View {
    /// The session id (the cookie value).
    pub(crate) id: String,
    /// The CSRF token of its forms.
    pub(crate) csrf: String,
    /// The logged-in address, if any.
    pub(crate) user: Option<String>,
}

/// The outcome of looking up a request's cookie.
pub(crate) enum Lookup {
    /// A live session.
    Live(View),
    /// A cookie was sent, but its session ended (idle too long, logged out, server restarted).
    Ended,
    /// No cookie.
    Missing,
}

impl Sessions {
    pub(crate) fn new(idle: Duration, max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
            max: max.max(1),
        }
    }

    /// The session `id` names, touched (its idle time starts again).
    pub(crate) fn lookup(&self, id: Option<&str>, now: Instant) -> Lookup {
        let Some(id) = id else {
            return Lookup::Missing;
        };
        let mut map = self.lock();
        let live = map
            .get(id)
            .is_some_and(|s| now.saturating_duration_since(s.last_seen) < self.idle);
        if !live {
            map.remove(id);
            return Lookup::Ended;
        }
        match map.get_mut(id) {
            Some(s) => {
                s.last_seen = now;
                Lookup::Live(View {
                    id: id.to_string(),
                    csrf: s.csrf.clone(),
                    user: s.user.clone(),
                })
            }
            None => Lookup::Ended,
        }
    }

    /// A new session (for `user`, or anonymous); `None` only when the system has no randomness.
    /// When full, expired sessions go, then the least recently used anonymous ones, then the
    /// least recently used of all.
    pub(crate) fn create(&self, user: Option<String>, now: Instant) -> Option<View> {
        let id = random_token()?;
        let csrf = random_token()?;
        let mut map = self.lock();
        if map.len() >= self.max {
            map.retain(|_, s| now.saturating_duration_since(s.last_seen) < self.idle);
        }
        while map.len() >= self.max {
            // Anonymous sessions go first: a flood of visits must not log users out.
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| (s.user.is_some(), s.last_seen))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                user: user.clone(),
                last_seen: now,
                code: None,
            },
        );
        Some(View { id, csrf, user })
    }

    /// Ends a session (log out, or replaced at login).
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends every session of `user` (compared without case) but `keep`: after a password
    /// change or reset, a session opened with the old password does not live on.
    pub(crate) fn end_user(&self, user: &str, keep: Option<&str>) {
        self.lock().retain(|id, s| {
            Some(id.as_str()) == keep
                || !s
                    .user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user))
        });
    }

    /// Keeps a just-made recovery code for one download.
    pub(crate) fn keep_code(&self, id: &str, code: Zeroizing<String>) {
        if let Some(s) = self.lock().get_mut(id) {
            s.code = Some(code);
        }
    }

    /// The kept recovery code, removed.
    pub(crate) fn take_code(&self, id: &str) -> Option<Zeroizing<String>> {
        self.lock().get_mut(id).and_then(|s| s.code.take())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A poisoned map is taken over: every entry is checked before use.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// True when `sent` is the session's CSRF token (constant time).
pub(crate) fn csrf_matches(view: &View, sent: &str) -> bool {
    !sent.is_empty() && bool::from(view.csrf.as_bytes().ct_eq(sent.as_bytes()))
}

/// 32 random bytes in hex.
fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_and_are_touched_by_use() {
        let s = Sessions::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        let v = s.create(Some("a@example.org".into()), t0).unwrap();
        assert!(matches!(
            s.lookup(Some(&v.id), t0 + Duration::from_secs(9)),
            Lookup::Live(_)
        ));
        // Touched at 9 s: still live at 18 s, ended at 30 s.
        assert!(matches!(
            s.lookup(Some(&v.id), t0 + Duration::from_secs(18)),
            Lookup::Live(_)
        ));
        assert!(matches!(
            s.lookup(Some(&v.id), t0 + Duration::from_secs(30)),
            Lookup::Ended
        ));
        assert!(matches!(s.lookup(Some(&v.id), t0), Lookup::Ended));
        assert!(matches!(s.lookup(None, t0), Lookup::Missing));
        assert!(matches!(s.lookup(Some("forged"), t0), Lookup::Ended));
    }

    #[test]
    fn the_least_recently_used_session_goes_when_full() {
        let s = Sessions::new(Duration::from_secs(100), 2);
        let t0 = Instant::now();
        let a = s.create(None, t0).unwrap();
        let b = s.create(None, t0 + Duration::from_secs(1)).unwrap();
        let c = s.create(None, t0 + Duration::from_secs(2)).unwrap();
        assert!(matches!(s.lookup(Some(&a.id), t0), Lookup::Ended));
        assert!(matches!(s.lookup(Some(&b.id), t0), Lookup::Live(_)));
        assert!(matches!(s.lookup(Some(&c.id), t0), Lookup::Live(_)));
    }

    #[test]
    fn a_flood_of_anonymous_visits_does_not_evict_logged_in_users() {
        let s = Sessions::new(Duration::from_secs(100), 3);
        let t0 = Instant::now();
        let user = s.create(Some("a@example.org".into()), t0).unwrap();
        for i in 1..10 {
            s.create(None, t0 + Duration::from_secs(i)).unwrap();
        }
        assert!(matches!(s.lookup(Some(&user.id), t0), Lookup::Live(_)));
    }

    #[test]
    fn a_password_change_ends_the_users_other_sessions() {
        let s = Sessions::new(Duration::from_secs(100), 10);
        let t0 = Instant::now();
        let here = s.create(Some("a@example.org".into()), t0).unwrap();
        let there = s.create(Some("A@example.org".into()), t0).unwrap();
        let other = s.create(Some("b@example.org".into()), t0).unwrap();
        s.end_user("a@example.org", Some(&here.id));
        assert!(matches!(s.lookup(Some(&here.id), t0), Lookup::Live(_)));
        assert!(matches!(s.lookup(Some(&there.id), t0), Lookup::Ended));
        assert!(matches!(s.lookup(Some(&other.id), t0), Lookup::Live(_)));
        s.end_user("A@EXAMPLE.ORG", None);
        assert!(matches!(s.lookup(Some(&here.id), t0), Lookup::Ended));
    }

    #[test]
    fn csrf_tokens_are_per_session_and_never_empty() {
        let s = Sessions::new(Duration::from_secs(100), 10);
        let t0 = Instant::now();
        let a = s.create(None, t0).unwrap();
        let b = s.create(None, t0).unwrap();
        assert!(csrf_matches(&a, &a.csrf.clone()));
        assert!(!csrf_matches(&a, &b.csrf));
        assert!(!csrf_matches(&a, ""));
        assert_eq!(a.csrf.len(), 64);
    }

    #[test]
    fn a_recovery_code_is_downloaded_once() {
        let s = Sessions::new(Duration::from_secs(100), 10);
        let a = s.create(None, Instant::now()).unwrap();
        s.keep_code(&a.id, Zeroizing::new("CODE".into()));
        assert_eq!(s.take_code(&a.id).unwrap().as_str(), "CODE");
        assert!(s.take_code(&a.id).is_none());
    }
}
