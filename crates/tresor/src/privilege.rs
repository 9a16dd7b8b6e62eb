//! Mail files are touched as the mail user (ISPmail's vmail, 5000:5000), so they get the owner
//! Dovecot expects. Started as root, tresor switches its *effective* ids around file work and
//! back afterwards (the userdb file may be root's).

use nix::unistd::{Gid, Uid, getegid, geteuid, setegid, seteuid};

/// Runs `f` with effective uid/gid `owner` when running as root; otherwise just runs it.
pub(crate) fn as_mail_user<T>(
    owner: (u32, u32),
    f: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if !geteuid().is_root() {
        return f();
    }
    let (old_uid, old_gid) = (geteuid(), getegid());
    setegid(Gid::from_raw(owner.1))?;
    if let Err(e) = seteuid(Uid::from_raw(owner.0)) {
        let _ = setegid(old_gid);
        return Err(e.into());
    }
    let out = f();
    // Back to root: uid first (only root may change the gid).
    seteuid(old_uid)?;
    setegid(old_gid)?;
    out
}
