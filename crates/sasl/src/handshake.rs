//! The server's half of the handshake.

use crate::{mech, wire};

/// What the server says about itself in the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// `SPID`: the server's process id.
    pub server_pid: u32,
    /// `CUID`: a number unique to this connection within the server.
    pub connection_id: u32,
    /// `COOKIE`: 16 random bytes, sent as 32 hex digits. Dovecot's login processes use it
    /// with the auth-master socket; Postfix ignores it.
    pub cookie: [u8; 16],
}

impl Handshake {
    /// The handshake as Dovecot 2.3 writes it in `auth_client_connection_create`:
    /// `VERSION 1 2`, one `MECH` line per mechanism with its flags, `SPID`, `CUID`, `COOKIE`,
    /// `DONE`. The `MECH` lines must come before `SPID`: Postfix takes a `SPID` without an
    /// earlier `MECH` to mean it reached the auth-master socket by mistake.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("VERSION\t{PROTOCOL_MAJOR}\t{PROTOCOL_MINOR}\n").into_bytes();
        for mechanism in mech::MECHANISMS {
            out.extend_from_slice(format!("MECH\t{mechanism}\tplaintext\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "SPID\t{}\nCUID\t{}\nCOOKIE\t",
                self.server_pid, self.connection_id
            )
            .as_bytes(),
        );
        wire::push_hex(&mut out, &self.cookie);
        out.extend_from_slice(b"\nDONE\n");
        out
    }
}

/// The protocol version tresor speaks: Dovecot 2.3's `AUTH_CLIENT_PROTOCOL_MAJOR_VERSION`.
pub(crate) const PROTOCOL_MAJOR: u32 = 1;
/// Dovecot 2.3's `AUTH_CLIENT_PROTOCOL_MINOR_VERSION`.
const PROTOCOL_MINOR: u32 = 2;
