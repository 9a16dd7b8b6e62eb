//! `tresor deliver`, `tresor fetch`, `tresor mailbox list`.

use std::io::{Read as _, Write as _};

use clap::Subcommand;

use crate::context::Ctx;
use crate::privilege::as_mail_user;
use crate::secret;

/// `tresor deliver EMAIL [--mailbox NAME] < message` (like dovecot-lda).
pub(crate) fn deliver(ctx: &mut Ctx, email: &str, mailbox: &str) -> anyhow::Result<()> {
    let user = ctx.user(email)?;
    let account = ctx.account(&user)?;
    let mut raw = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin().lock().read_to_end(&mut raw)?;
    let owner = ctx.owner(&user);
    if !account.maildir.is_dir() {
        crate::cli::user::create_home(&ctx.home(&user)?, owner)?;
    }
    let delivered = as_mail_user(owner, || Ok(account.deliver(mailbox, &raw)?))?;
    println!("{}", delivered.uid);
    Ok(())
}

/// `tresor fetch EMAIL --password-stdin --mailbox NAME --uid N`: the stored bytes.
pub(crate) fn fetch(
    ctx: &mut Ctx,
    email: &str,
    password_stdin: bool,
    mailbox: &str,
    uid: u32,
) -> anyhow::Result<()> {
    let password = if password_stdin {
        Some(secret::read_line("password")?)
    } else {
        None
    };
    let user = ctx.user(email)?;
    let account = ctx.account(&user)?;
    let owner = ctx.owner(&user);
    let bytes = as_mail_user(owner, || {
        let unlocked = if account.encrypted {
            let keys = account.keystore()?.load()?;
            Some(keys.unlock_user(password.as_deref().map(|p| p.as_slice()))?)
        } else {
            None
        };
        Ok(account.fetch(mailbox, uid, unlocked.as_ref())?)
    })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    Ok(out.flush()?)
}

/// `tresor mailbox …`
#[derive(Subcommand)]
pub(crate) enum MailboxCommand {
    /// List a user's mailboxes with their message counts and key ids.
    List {
        /// The address.
        email: String,
    },
    /// Create a mailbox (Maildir++ folder with its own GUID, as Dovecot lays it out).
    Create {
        /// The address.
        email: String,
        /// The mailbox name (UTF-8; `.` separates hierarchy levels).
        name: String,
    },
    /// Open every message of every folder; list those that do not open, and why.
    Verify {
        /// The address.
        email: String,
        /// Read the user's password from standard input and decrypt every message (otherwise
        /// only headers and keys are checked).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Seal every plaintext message in place and set crypt=2 (resumable).
    Encrypt {
        /// The address.
        email: String,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Replace every sealed message by its plaintext in place and set crypt=0 (resumable).
    Decrypt {
        /// The address.
        email: String,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
}

pub(crate) fn mailbox(ctx: &mut Ctx, cmd: MailboxCommand) -> anyhow::Result<()> {
    let email = match cmd {
        MailboxCommand::List { email } => email,
        MailboxCommand::Verify {
            email,
            password_stdin,
        } => return crate::cli::lifecycle::verify(ctx, &email, password_stdin),
        MailboxCommand::Encrypt {
            email,
            password_stdin,
        } => return crate::cli::lifecycle::encrypt(ctx, &email, password_stdin),
        MailboxCommand::Decrypt {
            email,
            password_stdin,
        } => return crate::cli::lifecycle::decrypt(ctx, &email, password_stdin),
        MailboxCommand::Create { email, name } => {
            let user = ctx.user(&email)?;
            let account = ctx.account(&user)?;
            let owner = ctx.owner(&user);
            if !account.maildir.is_dir() {
                crate::cli::user::create_home(&ctx.home(&user)?, owner)?;
            }
            let f = as_mail_user(owner, || Ok(account.create_mailbox(&name)?))?;
            println!("created {} ({})", f.name, f.dir.display());
            return Ok(());
        }
    };
    let user = ctx.user(&email)?;
    let account = ctx.account(&user)?;
    as_mail_user(ctx.owner(&user), || {
        let keys = account.keystore().ok().and_then(|ks| ks.load().ok());
        println!(
            "{:<24}  {:>8}  {:>12}  ACTIVE KEY",
            "MAILBOX", "MESSAGES", "NEXT UID"
        );
        for folder in account.folders()? {
            let list = store::maildir::read_uidlist(&folder)?;
            let guid = store::uidlist::read_guid(&folder.dir)
                .ok()
                .map(|g| g.to_string());
            let key = match (&keys, &guid) {
                (Some(k), Some(g)) => k.active_folder_key_id(g).map(|id| id.to_string()),
                _ => None,
            };
            println!(
                "{:<24}  {:>8}  {:>12}  {}",
                folder.name,
                list.as_ref().map_or(0, |l| l.records.len()),
                list.as_ref()
                    .and_then(|l| l.next_uid_for_append())
                    .unwrap_or(1),
                key.unwrap_or_else(|| "-".into())
            );
        }
        Ok(())
    })
}
