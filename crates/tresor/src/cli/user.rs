//! `tresor user add|list|show|del`.

use std::path::Path;

use anyhow::Context as _;
use clap::Subcommand;
use mailcrypt::Curve;
use userdb::Scheme;

use crate::context::Ctx;
use crate::privilege::as_mail_user;
use crate::secret;

/// `tresor user …`
#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user: the userdb row (created with its domain; the SQLite file and schema are
    /// made if missing), the home, and — unless --no-crypt — the user's key pair wrapped with
    /// the password, so delivery never meets an encrypted user without a key.
    Add {
        /// The address.
        email: String,
        /// Read the password from standard input (one line); otherwise it is prompted for.
        #[arg(long)]
        password_stdin: bool,
        /// Store this user's mail in plaintext (crypt=0).
        #[arg(long)]
        no_crypt: bool,
        /// Quota in bytes (0 = unlimited).
        #[arg(long, default_value_t = 0)]
        quota: u64,
    },
    /// List every user.
    List,
    /// Show one user: crypt, quota, usage, home, active key.
    Show {
        /// The address.
        email: String,
    },
    /// Change the login password and re-wrap the user's keys with it, as one crash-safe
    /// operation ("OLD\nNEW\n" on stdin, or prompted on a terminal).
    Passwd {
        /// The address.
        email: String,
    },
    /// Set a new password without the old one, with a recovery code ("CODE\nNEW\n" on
    /// stdin); the code is used up.
    Reset {
        /// The address.
        email: String,
        /// Read the recovery code, then the new password, from standard input.
        #[arg(long)]
        recovery_code_stdin: bool,
        /// Only for a user without mail keys: read the new password from standard input.
        #[arg(long, conflicts_with = "recovery_code_stdin")]
        password_stdin: bool,
    },
    /// Delete a user's row; with --purge also the home and all mail.
    Del {
        /// The address.
        email: String,
        /// Also delete the home directory with all mail and keys.
        #[arg(long)]
        purge: bool,
    },
}

pub(crate) fn run(ctx: &mut Ctx, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            email,
            password_stdin,
            no_crypt,
            quota,
        } => add(ctx, &email, password_stdin, !no_crypt, quota),
        UserCommand::List => {
            ctx.db()?;
            for email in ctx.list_users()? {
                println!("{email}");
            }
            Ok(())
        }
        UserCommand::Show { email } => show(ctx, &email),
        UserCommand::Del { email, purge } => del(ctx, &email, purge),
        UserCommand::Passwd { email } => crate::cli::lifecycle::passwd(ctx, &email),
        UserCommand::Reset {
            email,
            recovery_code_stdin,
            password_stdin,
        } => crate::cli::lifecycle::reset(ctx, &email, recovery_code_stdin, password_stdin),
    }
}

fn add(
    ctx: &mut Ctx,
    email: &str,
    password_stdin: bool,
    crypt: bool,
    quota: u64,
) -> anyhow::Result<()> {
    if ctx.with_db(|db| db.user_row(email))??.is_some() {
        anyhow::bail!("user {email} already exists");
    }
    let password = if password_stdin {
        secret::read_line("password")?
    } else {
        secret::prompt_new("Password for {email}: ".replace("{email}", email).as_str())?
    };
    anyhow::ensure!(!password.is_empty(), "the password may not be empty");
    let curve = Curve::from_name(&ctx.config.mail.curve)
        .with_context(|| format!("[mail] curve: unknown curve {}", ctx.config.mail.curve))?;
    let wrap = crate::cli::lifecycle::wrap_mode(ctx)?;
    let owner = (ctx.config.mail.uid, ctx.config.mail.gid);
    let home = ctx.config.home_for(email)?;
    create_home(&home, owner)?;
    // Keys first, row last: a user row with crypt=2 always has a key.
    let account = store::account::Account::new(&home, crypt).with_owner(Some(owner));
    as_mail_user(owner, || {
        account.create()?;
        if crypt {
            let ks = account.keystore()?;
            let keys = ks.load()?;
            let usable = keys.has_user_key() && keys.unlock_user(Some(&password)).is_ok();
            if !usable {
                ks.generate_user_key(curve, Some(&password), false)?;
                if wrap == keys::strong::WrapMode::Argon2id {
                    ks.rewrap_with_mode(&password, &password, wrap)?;
                }
            }
        }
        Ok(())
    })?;
    let hash = userdb::scheme::hash(Scheme::BlfCrypt, &password)?;
    let crypt_value = if crypt { 2 } else { 0 };
    ctx.with_db(|db| db.add_user(email, &hash, quota, crypt_value))??;
    println!(
        "added {email} (crypt={}, home {})",
        if crypt { 2 } else { 0 },
        home.display()
    );
    Ok(())
}

/// Creates the home (and missing parents) as root if need be, owned by the mail user.
pub(crate) fn create_home(home: &Path, owner: (u32, u32)) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    let mut p = home;
    while !p.exists() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => break,
        }
    }
    for dir in missing.iter().rev() {
        std::fs::create_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(dir, Some(owner.0), Some(owner.1))?;
        }
    }
    Ok(())
}

fn show(ctx: &mut Ctx, email: &str) -> anyhow::Result<()> {
    let user = ctx.user(email)?;
    let account = ctx.account(&user)?;
    let home = ctx.home(&user)?;
    println!("email: {}", user.email);
    println!("crypt: {}", user.crypt);
    println!(
        "quota: {}",
        if user.quota == 0 {
            "unlimited".to_string()
        } else {
            user.quota.to_string()
        }
    );
    println!("home: {}", home.display());
    let owner = ctx.owner(&user);
    as_mail_user(owner, || {
        if account.maildir.is_dir() {
            println!("used: {}", store::maildir::usage(&account.maildir)?);
            if let Ok(ks) = account.keystore() {
                let keys = ks.load()?;
                match keys.active_user_key_id() {
                    Some(id) => println!("active user key: {id}"),
                    None => println!("active user key: none"),
                }
            }
        } else {
            println!("used: 0 (no Maildir yet)");
        }
        Ok(())
    })
}

fn del(ctx: &mut Ctx, email: &str, purge: bool) -> anyhow::Result<()> {
    let user = ctx.user(email)?;
    let home = ctx.home(&user)?;
    ctx.with_db(|db| db.delete_user(email))??;
    if purge && home.exists() {
        anyhow::ensure!(
            home.join("Maildir").is_dir() || std::fs::read_dir(&home)?.next().is_none(),
            "{} does not look like a mail home; not deleting it",
            home.display()
        );
        std::fs::remove_dir_all(&home)
            .with_context(|| format!("cannot delete {}", home.display()))?;
        println!("deleted {email} and {}", home.display());
    } else {
        println!(
            "deleted {email} (home {} kept; --purge deletes it)",
            home.display()
        );
    }
    Ok(())
}
