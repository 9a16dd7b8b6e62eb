//! The admin CLI, one file per area. Each command parses its arguments, calls the library
//! crates, prints, and returns an error for `main` to map to an exit code.

pub(crate) mod file;
pub(crate) mod key;
pub(crate) mod lifecycle;
pub(crate) mod mail;
pub(crate) mod status;
pub(crate) mod user;
