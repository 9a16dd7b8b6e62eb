//! `tresor key list|export|generate` for one home.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use keys::{KeysError, Owner};
use mailcrypt::{Curve, Wrap};

use crate::context::Ctx;
use crate::home::Home;
use crate::privilege::as_mail_user;
use crate::secret;

/// `tresor key …`
#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// List the user's and the folders' private keys: id, curve, owner, active, protection.
    List {
        /// The user (looked up in the userdb).
        #[arg(required_unless_present = "home", conflicts_with = "home")]
        email: Option<String>,
        /// Or: the user's home (holding Maildir/), without the userdb.
        #[arg(long)]
        home: Option<PathBuf>,
    },
    /// Print every private key as unencrypted PKCS#8 PEM (like `doveadm mailbox cryptokey
    /// export`). Needs the password.
    Export {
        /// The user's home (holding Maildir/).
        #[arg(long)]
        home: PathBuf,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Make a user key pair wrapped with the password (or, with --mailbox, a folder key pair
    /// encrypted to the user's active key; no password needed). Dovecot reads both.
    Generate {
        /// The user (looked up in the userdb; the password must be the login password).
        #[arg(required_unless_present = "home", conflicts_with = "home")]
        email: Option<String>,
        /// Or: the user's home (holding or to hold Maildir/), without the userdb.
        #[arg(long)]
        home: Option<PathBuf>,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Curve for a new user key (OpenSSL name); default `[mail] curve` (secp521r1).
        #[arg(long)]
        curve: Option<String>,
        /// Make a new active user key even if one exists (old keys are kept).
        #[arg(long)]
        force: bool,
        /// Make the folder key of this mailbox instead (if it has none).
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// Re-wrap the user's private keys from an old to a new key password ("OLD\nNEW\n" on
    /// stdin). Unlike `doveadm cryptokey password` it never removes protection. It does not
    /// change the login password. With --wrap, converts between Dovecot's wrap and the
    /// argon2id wrap ("PASSWORD\n" alone on stdin keeps the password).
    Password {
        /// The user.
        email: String,
        /// Wrap the keys `dovecot` (PBKDF2; Dovecot can unlock) or `argon2id` (only tresor
        /// can unlock). Default: as they are.
        #[arg(long)]
        wrap: Option<String>,
    },
    /// Make a recovery code (printed once on stdout) that can reset the password
    /// (`tresor user reset`). Needs the password.
    Recovery {
        /// The user.
        email: String,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove keys that no message and no folder key needs (or only the keys given; refused if
    /// any of them is needed).
    Prune {
        /// The user.
        email: String,
        /// Key ids to remove; default: every unneeded key.
        ids: Vec<String>,
    },
    /// New user and folder keys, every message re-sealed, old keys retired; resumable.
    Rotate {
        /// The user.
        email: String,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
}

pub(crate) fn run(ctx: &mut Ctx, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::List { email, home } => {
            let (home, owner) = resolve(ctx, email.as_deref(), home)?;
            as_mail_user(owner, || list(&home))
        }
        KeyCommand::Export {
            home,
            password_stdin,
        } => export(&home, password_stdin),
        KeyCommand::Generate {
            email,
            home,
            password_stdin,
            curve,
            force,
            mailbox,
        } => {
            let curve = curve.unwrap_or_else(|| ctx.config.mail.curve.clone());
            let password = if password_stdin {
                Some(secret::read_line("password")?)
            } else {
                None
            };
            if let (Some(email), Some(pw)) = (&email, &password) {
                // Wrap with the login password, not with a typo of it.
                ctx.with_db(|db| db.authenticate(email, pw))?
                    .map_err(|_| KeysError::WrongPassword)?;
            }
            let (home, owner) = resolve(ctx, email.as_deref(), home)?;
            as_mail_user(owner, || {
                generate(&home, password, &curve, force, mailbox.as_deref())
            })
        }
        KeyCommand::Recovery {
            email,
            password_stdin,
        } => crate::cli::lifecycle::recovery(ctx, &email, password_stdin),
        KeyCommand::Prune { email, ids } => crate::cli::lifecycle::prune(ctx, &email, &ids),
        KeyCommand::Rotate {
            email,
            password_stdin,
        } => crate::cli::lifecycle::rotate(ctx, &email, password_stdin),
        KeyCommand::Password { email, wrap } => {
            let (home, owner) = resolve(ctx, Some(&email), None)?;
            crate::cli::lifecycle::key_password(&home, owner, wrap.as_deref())
        }
    }
}

/// The home and file owner of `--home DIR` or of a userdb user.
fn resolve(
    ctx: &mut Ctx,
    email: Option<&str>,
    home: Option<PathBuf>,
) -> anyhow::Result<(PathBuf, (u32, u32))> {
    use std::os::unix::fs::MetadataExt as _;
    match (email, home) {
        (_, Some(home)) => {
            let owner = std::fs::metadata(&home)
                .map(|m| (m.uid(), m.gid()))
                .unwrap_or((ctx.config.mail.uid, ctx.config.mail.gid));
            Ok((home, owner))
        }
        (Some(email), None) => {
            let user = ctx.user(email)?;
            let home = ctx.home(&user)?;
            let owner = ctx.owner(&user);
            if !home.is_dir() {
                crate::cli::user::create_home(&home, owner)?;
            }
            Ok((home, owner))
        }
        (None, None) => anyhow::bail!("give an address or --home"),
    }
}

/// GUID → mailbox name for every folder of the home.
fn folder_names(home: &Home) -> HashMap<String, String> {
    store::folder::list(&home.maildir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| Some((home.guid(&f).ok()?, f.name)))
        .collect()
}

fn owner_name(owner: &Owner, names: &HashMap<String, String>) -> String {
    match owner {
        Owner::User => "user".into(),
        Owner::Folder(g) => format!(
            "folder {}",
            names.get(g).cloned().unwrap_or_else(|| g.clone())
        ),
    }
}

fn list(home: &Path) -> anyhow::Result<()> {
    let home = Home::new(home)?;
    let keys = home.keystore()?.load()?;
    let names = folder_names(&home);
    println!(
        "{:<64}  {:<10}  {:<6}  {:<24}  WRAP",
        "ID", "CURVE", "ACTIVE", "OWNER"
    );
    for e in keys.entries() {
        let wrap = match e.wrap {
            Wrap::None => "none".to_string(),
            Wrap::Password => "password".to_string(),
            Wrap::Key(by) => format!("key:{by}"),
            _ => "unknown".to_string(),
        };
        println!(
            "{:<64}  {:<10}  {:<6}  {:<24}  {wrap}",
            e.id.to_string(),
            e.curve.name(),
            if e.active { "yes" } else { "no" },
            owner_name(&e.owner, &names),
        );
    }
    Ok(())
}

fn export(home: &Path, password_stdin: bool) -> anyhow::Result<()> {
    let password = if password_stdin {
        Some(secret::read_line("password")?)
    } else {
        None
    };
    let home = Home::new(home)?;
    let keys = home.keystore()?.load()?;
    let names = folder_names(&home);
    let user = keys.unlock_user(password.as_deref().map(|p| p.as_slice()))?;
    for e in keys.entries() {
        let pem = match &e.owner {
            Owner::User => match user.key(&e.id) {
                Some(k) => k.to_pkcs8_pem()?,
                None => {
                    eprintln!(
                        "tresor: user key {} did not unlock with this password",
                        e.id
                    );
                    continue;
                }
            },
            Owner::Folder(guid) => {
                let label = owner_name(&e.owner, &names);
                keys.folder_private_key(guid, &e.id, &user, &label)?
                    .to_pkcs8_pem()?
            }
        };
        let folder = match &e.owner {
            Owner::User => String::new(),
            Owner::Folder(g) => names.get(g).cloned().unwrap_or_else(|| g.clone()),
        };
        println!("Folder: {folder}\nPublic ID: {}\n{}", e.id, pem.as_str());
    }
    Ok(())
}

fn generate(
    home: &Path,
    password: Option<zeroize::Zeroizing<Vec<u8>>>,
    curve: &str,
    force: bool,
    mailbox: Option<&str>,
) -> anyhow::Result<()> {
    let home = Home::new(home)?;
    if let Some(name) = mailbox {
        let folder = home.folder(name)?;
        let ks = home.keystore()?;
        let guid = store::folder::create(&folder, home.owner())?;
        let key = ks.ensure_folder_key(&guid.to_string())?;
        chown_attributes(&home, &ks);
        println!("{}", key.id());
        return Ok(());
    }
    let curve = Curve::from_name(curve).ok_or_else(|| {
        anyhow::anyhow!("unknown curve {curve}; use prime256v1, secp384r1 or secp521r1")
    })?;
    let password = password.ok_or_else(|| {
        anyhow::anyhow!(
            "a user key is always wrapped with the user's password: pass --password-stdin"
        )
    })?;
    let ks = home.keystore_create()?;
    let id = ks
        .generate_user_key(curve, Some(&password), force)
        .map_err(|e| match e {
            KeysError::UserKeyExists(id) => anyhow::anyhow!(
                "the user already has key {id}; use --force to make a new active key"
            ),
            other => other.into(),
        })?;
    chown_attributes(&home, &ks);
    println!("{id}");
    Ok(())
}

/// A key file created by root must stay usable by the mail user (Dovecot runs as vmail).
fn chown_attributes(home: &Home, ks: &keys::KeyStore) {
    if let Some((u, g)) = home.owner() {
        let _ = std::os::unix::fs::chown(ks.path(), Some(u), Some(g));
    }
}
