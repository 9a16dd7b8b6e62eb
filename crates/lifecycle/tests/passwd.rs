//! The password change and the recovery reset against an in-memory userdb: a userdb that fails
//! half-way, a concurrent lifecycle command, and a recovery code that does not cover a key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use keys::KeyStore;
use lifecycle::passwd::{self, Changed};
use lifecycle::{LifecycleError, Login, LoginError, recovery};
use mailcrypt::Curve;

/// A userdb row in memory; `down` makes every write fail.
struct MemLogin {
    password: Vec<u8>,
    down: bool,
}

impl Login for MemLogin {
    fn verify(&mut self, password: &[u8]) -> Result<bool, LoginError> {
        Ok(password == self.password)
    }
    fn set_password(&mut self, password: &[u8]) -> Result<(), LoginError> {
        if self.down {
            return Err(LoginError("database is down".into()));
        }
        self.password = password.to_vec();
        Ok(())
    }
    fn set_crypt(&mut self, _crypt: u8) -> Result<(), LoginError> {
        Ok(())
    }
}

fn setup() -> (tempfile::TempDir, KeyStore, MemLogin) {
    let dir = tempfile::tempdir().unwrap();
    let ks = KeyStore::new(dir.path(), "0123456789abcdef0123456789abcdef");
    ks.generate_user_key(Curve::P256, Some(b"old"), false)
        .unwrap();
    let login = MemLogin {
        password: b"old".to_vec(),
        down: false,
    };
    (dir, ks, login)
}

fn opens(ks: &KeyStore, pw: &[u8]) -> bool {
    ks.load().unwrap().unlock_user(Some(pw)).is_ok()
}

#[test]
fn a_userdb_failure_half_way_leaves_the_old_password_and_a_rerun_finishes() {
    let (_d, ks, mut login) = setup();
    login.down = true;
    let err = passwd::change(&ks, &mut login, b"old", b"new").unwrap_err();
    assert!(matches!(err, LifecycleError::Login(_)), "{err}");
    assert!(login.verify(b"old").unwrap() && opens(&ks, b"old"));
    assert!(ks.load().unwrap().has_staged());
    login.down = false;
    assert_eq!(
        passwd::change(&ks, &mut login, b"old", b"new").unwrap(),
        Changed::Changed(1)
    );
    assert!(login.verify(b"new").unwrap() && opens(&ks, b"new") && !opens(&ks, b"old"));
    assert!(!ks.load().unwrap().has_staged());
}

#[test]
fn a_second_lifecycle_command_waits_for_none_and_changes_nothing() {
    let (d, ks, mut login) = setup();
    let before = std::fs::read(ks.path()).unwrap();
    let held = lifecycle::guard::exclusive(d.path(), None).unwrap();
    let err = passwd::change(&ks, &mut login, b"old", b"new").unwrap_err();
    assert!(matches!(err, LifecycleError::Busy), "{err}");
    assert_eq!(std::fs::read(ks.path()).unwrap(), before);
    drop(held);
    passwd::change(&ks, &mut login, b"old", b"new").unwrap();
}

#[test]
fn a_reset_names_the_user_keys_its_code_does_not_cover() {
    let (_d, ks, mut login) = setup();
    let code = recovery::create(&ks, &mut login, b"old").unwrap();
    // A key made after the code, as `key generate --force` does.
    ks.generate_user_key(Curve::P256, Some(b"old"), true)
        .unwrap();
    let wrong = recovery::reset(&ks, &mut login, b"0000000000", b"new").unwrap_err();
    assert!(matches!(wrong, LifecycleError::WrongRecoveryCode));
    let r = recovery::reset(&ks, &mut login, code.expose().as_bytes(), b"new").unwrap();
    assert_eq!(r.rewrapped, 1);
    assert_eq!(r.uncovered.len(), 1);
    assert!(login.verify(b"new").unwrap() && opens(&ks, b"new"));
}

#[test]
fn settle_commits_staged_wraps_only_for_the_password_that_logged_in() {
    let (_d, ks, mut login) = setup();
    // A change interrupted right after the hash switch (steps 1 and 2 done).
    let keys = ks.load().unwrap().unlock_user(Some(b"old")).unwrap();
    ks.stage_wraps(keys.keys(), b"new").unwrap();
    login.set_password(b"new").unwrap();
    assert!(
        !passwd::settle(&ks, b"old").unwrap(),
        "not for another password"
    );
    assert!(ks.load().unwrap().has_staged());
    assert!(passwd::settle(&ks, b"new").unwrap());
    assert!(!ks.load().unwrap().has_staged());
    assert!(opens(&ks, b"new") && !opens(&ks, b"old"));
    // Nothing staged: nothing to do.
    assert!(!passwd::settle(&ks, b"new").unwrap());
}
