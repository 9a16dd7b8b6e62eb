//! The key lifecycle commands: a thin layer over the `lifecycle` crate. Each parses its secrets
//! from stdin (or the terminal), drives one operation, prints its outcome.
//!
//! The operations run with the CLI's own privileges (root on a server): they give every file
//! they create the mail user's owner, and reach the userdb through [`DbLogin`].

use std::io::IsTerminal as _;

use anyhow::Context as _;
use keys::strong::WrapMode;
use lifecycle::{Login, LoginError, Progress};
use mailcrypt::{Curve, KeyId};
use store::account::Account;
use userdb::{AuthError, Scheme};
use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::secret;

/// The userdb row of one user, as `lifecycle` needs it.
pub(crate) struct DbLogin<'a> {
    ctx: &'a mut Ctx,
    email: String,
}

impl Login for DbLogin<'_> {
    fn verify(&mut self, password: &[u8]) -> Result<bool, LoginError> {
        let email = self.email.clone();
        match self
            .ctx
            .with_db(|db| db.authenticate(&email, password))
            .map_err(boxed)?
        {
            Ok(_) => Ok(true),
            Err(AuthError::Failed(_)) => Ok(false),
            Err(e) => Err(LoginError(Box::new(e))),
        }
    }

    fn set_password(&mut self, password: &[u8]) -> Result<(), LoginError> {
        let hash = userdb::scheme::hash(Scheme::BlfCrypt, password)
            .map_err(|e| LoginError(Box::new(e)))?;
        let email = self.email.clone();
        self.ctx
            .with_db(|db| db.set_password(&email, &hash))
            .map_err(boxed)?
            .map_err(|e| LoginError(Box::new(e)))
    }

    fn set_crypt(&mut self, crypt: u8) -> Result<(), LoginError> {
        let email = self.email.clone();
        self.ctx
            .with_db(|db| db.set_crypt(&email, crypt))
            .map_err(boxed)?
            .map_err(|e| LoginError(Box::new(e)))
    }
}

fn boxed(e: anyhow::Error) -> LoginError {
    LoginError(e.into())
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    fn new(what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let style = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} messages ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bar = indicatif::ProgressBar::new(0).with_style(style);
        bar.set_message(what.to_string());
        Self(Some(bar))
    }
}

impl Progress for Bar {
    fn start(&self, total: u64) {
        if let Some(b) = &self.0 {
            b.set_length(total);
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// An account and a userdb handle for `email`.
fn open(ctx: &mut Ctx, email: &str) -> anyhow::Result<Account> {
    let user = ctx.user(email)?;
    ctx.account(&user)
}

/// The account of `email`, its home and Maildir made if missing (a user added by other tools
/// may have none until the first delivery; the key store needs INBOX's uidlist).
fn ensure_maildir(ctx: &mut Ctx, email: &str) -> anyhow::Result<Account> {
    let user = ctx.user(email)?;
    let account = ctx.account(&user)?;
    if !account.maildir.join("dovecot-uidlist").is_file() {
        crate::cli::user::create_home(&ctx.home(&user)?, ctx.owner(&user))?;
        account.create()?;
    }
    Ok(account)
}

/// `tresor user passwd EMAIL`: "OLD\nNEW\n" on stdin, or prompted on a terminal.
pub(crate) fn passwd(ctx: &mut Ctx, email: &str) -> anyhow::Result<()> {
    let (old, new) = if std::io::stdin().is_terminal() {
        let old = Zeroizing::new(
            rpassword::prompt_password(format!("Current password for {email}: "))?.into_bytes(),
        );
        (old, secret::prompt_new("New password: ")?)
    } else {
        (
            secret::read_line("old password")?,
            secret::read_line("new password")?,
        )
    };
    let account = ensure_maildir(ctx, email)?;
    let ks = keystore(&account)?;
    let mut login = DbLogin {
        ctx,
        email: email.to_string(),
    };
    match lifecycle::passwd::change(&ks, &mut login, &old, &new)? {
        lifecycle::passwd::Changed::Changed(n) => {
            println!("password of {email} changed; {n} user key(s) re-wrapped")
        }
        lifecycle::passwd::Changed::Resumed(n) => {
            println!("finished an interrupted password change of {email}; {n} user key(s) switched")
        }
        lifecycle::passwd::Changed::AlreadyDone => {
            println!("the new password of {email} is already in place; nothing to do")
        }
        _ => {}
    }
    Ok(())
}

/// `tresor user reset EMAIL --recovery-code-stdin`: "CODE\nNEW\n"; or, for a user without
/// mail keys only, `--password-stdin`: "NEW\n".
pub(crate) fn reset(
    ctx: &mut Ctx,
    email: &str,
    code_stdin: bool,
    password_stdin: bool,
) -> anyhow::Result<()> {
    if !code_stdin {
        if !password_stdin {
            return Err(lifecycle::LifecycleError::RecoveryCodeRequired.into());
        }
        let new = secret::read_line("new password")?;
        let account = ensure_maildir(ctx, email)?;
        let ks = keystore(&account)?;
        let mut login = DbLogin {
            ctx,
            email: email.to_string(),
        };
        lifecycle::recovery::reset_without_keys(&ks, &mut login, &new)?;
        println!("password of {email} reset (the user has no mail keys)");
        return Ok(());
    }
    let code = secret::read_line("recovery code")?;
    let new = secret::read_line("new password")?;
    let account = open(ctx, email)?;
    let ks = keystore(&account)?;
    let mut login = DbLogin {
        ctx,
        email: email.to_string(),
    };
    let r = lifecycle::recovery::reset(&ks, &mut login, &code, &new)?;
    println!(
        "password of {email} reset; {} user key(s) re-wrapped; that recovery code is used up",
        r.rewrapped
    );
    if !r.uncovered.is_empty() {
        let ids: Vec<String> = r.uncovered.iter().map(ToString::to_string).collect();
        eprintln!(
            "tresor: warning: user key(s) {} were made after this recovery code and stay under the old password; mail that needs them stays locked",
            ids.join(", ")
        );
    }
    Ok(())
}

/// `tresor key recovery EMAIL --password-stdin`: prints the code once, alone on its line.
pub(crate) fn recovery(ctx: &mut Ctx, email: &str, password_stdin: bool) -> anyhow::Result<()> {
    let password = password(password_stdin)?;
    let account = open(ctx, email)?;
    let ks = keystore(&account)?;
    let mut login = DbLogin {
        ctx,
        email: email.to_string(),
    };
    let code = lifecycle::recovery::create(&ks, &mut login, &password)?;
    chown(&account, &ks.path());
    eprintln!("tresor: recovery code for {email} (shown once; store it offline):");
    println!("{}", code.expose());
    Ok(())
}

/// `tresor mailbox verify EMAIL [--password-stdin]`.
pub(crate) fn verify(ctx: &mut Ctx, email: &str, password_stdin: bool) -> anyhow::Result<()> {
    let account = open(ctx, email)?;
    let password = if password_stdin {
        let pw = secret::read_line("password")?;
        let mut login = DbLogin {
            ctx,
            email: email.to_string(),
        };
        if !login.verify(&pw)? {
            return Err(lifecycle::LifecycleError::WrongPassword.into());
        }
        Some(pw)
    } else {
        None
    };
    let user = match (&password, account.keystore()) {
        (Some(pw), Ok(ks)) => match ks.load()?.unlock_user(Some(pw)) {
            Ok(u) => Some(u),
            Err(keys::KeysError::NoUserKey) => None,
            Err(e) => return Err(e.into()),
        },
        _ => None,
    };
    let report = lifecycle::verify::verify(&account, user.as_ref(), &Bar::new("verifying"))?;
    for f in &report.failures {
        let uid = f.uid.map_or_else(|| "-".to_string(), |u| u.to_string());
        println!(
            "FAIL {} uid {uid} {}: {}",
            f.mailbox,
            f.file.display(),
            f.reason
        );
    }
    println!(
        "{} message(s) checked ({} sealed, {} plaintext){}: {} failure(s)",
        report.checked,
        report.sealed,
        report.plaintext,
        if report.decrypted {
            ", every sealed one decrypted"
        } else {
            ", headers only (no password)"
        },
        report.failures.len()
    );
    if !report.failures.is_empty() {
        return Err(VerifyFailed(report.failures.len()).into());
    }
    Ok(())
}

/// `tresor key prune EMAIL [ID…]`.
pub(crate) fn prune(ctx: &mut Ctx, email: &str, ids: &[String]) -> anyhow::Result<()> {
    let ids = ids
        .iter()
        .map(|s| {
            s.parse::<KeyId>()
                .map_err(|_| anyhow::anyhow!("{s} is not a key id"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let account = open(ctx, email)?;
    let removed = lifecycle::prune::prune(&account, &ids)?;
    for p in &removed {
        match &p.folder {
            Some(g) => println!("removed folder key {} (folder {g})", p.id),
            None => println!("removed user key {}", p.id),
        }
    }
    println!("{} key(s) removed", removed.len());
    Ok(())
}

/// `tresor mailbox encrypt EMAIL --password-stdin`.
pub(crate) fn encrypt(ctx: &mut Ctx, email: &str, password_stdin: bool) -> anyhow::Result<()> {
    let password = password(password_stdin)?;
    let curve = curve(ctx)?;
    let wrap = wrap_mode(ctx)?;
    let account = open(ctx, email)?;
    let mut login = DbLogin {
        ctx,
        email: email.to_string(),
    };
    let done = lifecycle::convert::encrypt(
        &account,
        &mut login,
        &password,
        (curve, wrap),
        &Bar::new("encrypting"),
    )?;
    println!(
        "encrypted {} message(s) of {email} ({} already sealed or empty); crypt=2",
        done.converted, done.unchanged
    );
    Ok(())
}

/// `tresor mailbox decrypt EMAIL --password-stdin`.
pub(crate) fn decrypt(ctx: &mut Ctx, email: &str, password_stdin: bool) -> anyhow::Result<()> {
    let password = password(password_stdin)?;
    let account = open(ctx, email)?;
    let mut login = DbLogin {
        ctx,
        email: email.to_string(),
    };
    let done =
        lifecycle::convert::decrypt(&account, &mut login, &password, &Bar::new("decrypting"))?;
    println!(
        "decrypted {} message(s) of {email} ({} already plaintext); crypt=0",
        done.converted, done.unchanged
    );
    unfinished(&done.failed, "they stay sealed")
}

/// `tresor key rotate EMAIL --password-stdin`.
pub(crate) fn rotate(ctx: &mut Ctx, email: &str, password_stdin: bool) -> anyhow::Result<()> {
    let password = password(password_stdin)?;
    let curve = curve(ctx)?;
    let account = open(ctx, email)?;
    let mut login = DbLogin {
        ctx,
        email: email.to_string(),
    };
    let r = lifecycle::rotate::rotate(
        &account,
        &mut login,
        &password,
        curve,
        &Bar::new("re-sealing"),
    )?;
    println!(
        "{} {email}: new user key {}; {} message(s) re-sealed; {} old key(s) retired",
        if r.resumed {
            "finished the interrupted rotation of"
        } else {
            "rotated the keys of"
        },
        r.user_key,
        r.resealed,
        r.retired.len()
    );
    unfinished(
        &r.failed,
        "they keep their old keys and the rotation stays unfinished",
    )
}

/// Lists messages an operation skipped because they did not open; exit 8 if there are any.
fn unfinished(failed: &[lifecycle::verify::Failure], what: &str) -> anyhow::Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    for f in failed {
        let uid = f.uid.map_or_else(|| "-".to_string(), |u| u.to_string());
        println!(
            "FAIL {} uid {uid} {}: {}",
            f.mailbox,
            f.file.display(),
            f.reason
        );
    }
    eprintln!(
        "tresor: {} message(s) did not open; {what}. Fix or remove them, then run the command again",
        failed.len()
    );
    Err(VerifyFailed(failed.len()).into())
}

/// Some messages did not open (`mailbox verify`).
#[derive(Debug, thiserror::Error)]
#[error("{0} message(s) do not open")]
pub(crate) struct VerifyFailed(pub(crate) usize);

fn password(password_stdin: bool) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if password_stdin {
        secret::read_line("password")
    } else if std::io::stdin().is_terminal() {
        Ok(Zeroizing::new(
            rpassword::prompt_password("Password: ")?.into_bytes(),
        ))
    } else {
        anyhow::bail!("this command needs the user's password: pass --password-stdin")
    }
}

fn curve(ctx: &Ctx) -> anyhow::Result<Curve> {
    Curve::from_name(&ctx.config.mail.curve)
        .with_context(|| format!("[mail] curve: unknown curve {}", ctx.config.mail.curve))
}

/// `[mail] key_wrap` as a [`WrapMode`].
pub(crate) fn wrap_mode(ctx: &Ctx) -> anyhow::Result<WrapMode> {
    WrapMode::from_name(&ctx.config.mail.key_wrap).with_context(|| {
        format!(
            "[mail] key_wrap: unknown wrap {}; use dovecot or argon2id",
            ctx.config.mail.key_wrap
        )
    })
}

/// `tresor key password EMAIL [--wrap dovecot|argon2id]`: "OLD\nNEW\n" (with --wrap, a
/// single line keeps the password). Only the key wraps change, not the login hash.
pub(crate) fn key_password(
    home: &std::path::Path,
    owner: (u32, u32),
    wrap: Option<&str>,
) -> anyhow::Result<()> {
    let wrap = wrap
        .map(|w| {
            WrapMode::from_name(w)
                .with_context(|| format!("unknown wrap {w}; use dovecot or argon2id"))
        })
        .transpose()?;
    let old = secret::read_line("old password")?;
    let new = match (secret::read_line("new password"), wrap) {
        (Ok(new), _) => new,
        (Err(_), Some(_)) => old.clone(),
        (Err(e), None) => return Err(e),
    };
    anyhow::ensure!(!new.is_empty(), "the new password may not be empty");
    let maildir = home.join("Maildir");
    let _guard = lifecycle::guard::exclusive(&maildir, Some(owner))?;
    let guid = store::uidlist::read_guid(&maildir)
        .with_context(|| format!("cannot find the INBOX GUID of {}", home.display()))?;
    let ks = keys::KeyStore::new(&maildir, &guid.to_string());
    let mode = match wrap {
        Some(w) => w,
        None => ks.load()?.wrap_mode(),
    };
    let n = ks.rewrap_with_mode(&old, &new, mode)?;
    let _ = std::os::unix::fs::chown(ks.path(), Some(owner.0), Some(owner.1));
    println!("re-wrapped {n} user key(s) ({} wrap)", mode.name());
    if mode == WrapMode::Argon2id {
        eprintln!("tresor: note: Dovecot cannot unlock argon2id-wrapped keys; only tresor can");
    }
    Ok(())
}

fn keystore(account: &Account) -> anyhow::Result<keys::KeyStore> {
    account
        .keystore()
        .context("the user has no Maildir with an INBOX uidlist yet, so no keys")
}

fn chown(account: &Account, path: &std::path::Path) {
    if let Some((u, g)) = account.owner {
        let _ = std::os::unix::fs::chown(path, Some(u), Some(g));
    }
}
