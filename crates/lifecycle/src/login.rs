//! The userdb as the lifecycle operations need it: check a login password, switch the login
//! hash, switch crypt. The CLI implements it over `userdb`; tests over memory.

/// One user's login record.
pub trait Login {
    /// True when `password` is the user's login password.
    fn verify(&mut self, password: &[u8]) -> Result<bool, LoginError>;
    /// Stores a new login hash for `password` (durable when this returns).
    fn set_password(&mut self, password: &[u8]) -> Result<(), LoginError>;
    /// Sets the user's crypt value (0 plaintext, 2 encrypted).
    fn set_crypt(&mut self, crypt: u8) -> Result<(), LoginError>;
}

/// The userdb failed; the message says why (database down, hash scheme, …).
#[derive(Debug, thiserror::Error)]
#[error("userdb: {0}")]
pub struct LoginError(pub Box<dyn std::error::Error + Send + Sync>);
