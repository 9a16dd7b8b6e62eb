//! `tresor file open|seal`: single mail files of a Maildir.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use keys::KeysError;
use mailcrypt::{Integrity, MAGIC, OpenError, SealedFile, Sealer};

use crate::home::Home;
use crate::secret;

/// `tresor file …`
#[derive(Subcommand)]
pub(crate) enum FileCommand {
    /// Print a mail file's stored bytes, decrypted (what `doveadm fetch text` returns).
    /// A plaintext Maildir file is printed unchanged.
    Open {
        /// The user's home (holding Maildir/).
        #[arg(long)]
        home: PathBuf,
        /// Read the user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// The mail file, under HOME/Maildir/{cur,new} or HOME/Maildir/.Folder/{cur,new}.
        file: PathBuf,
    },
    /// Seal a message (stdin or FILE) to a folder's active public key; the sealed bytes go to
    /// stdout. No password is needed. Empty input gives an empty output (as Dovecot writes).
    Seal {
        /// The user's home (holding Maildir/).
        #[arg(long)]
        home: PathBuf,
        /// The mailbox whose key to seal to (INBOX, Archive, Lists.Dovecot, …).
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// The message; standard input when absent.
        file: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: FileCommand) -> anyhow::Result<()> {
    match cmd {
        FileCommand::Open {
            home,
            password_stdin,
            file,
        } => open(&home, password_stdin, &file),
        FileCommand::Seal {
            home,
            mailbox,
            file,
        } => seal(&home, &mailbox, file.as_deref()),
    }
}

fn open(home: &Path, password_stdin: bool, file: &Path) -> anyhow::Result<()> {
    let password = if password_stdin {
        Some(secret::read_line("password")?)
    } else {
        None
    };
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut out = std::io::stdout().lock();
    let maybe_sealed =
        !data.is_empty() && (mailcrypt::is_sealed(&data) || MAGIC.starts_with(&data));
    if !maybe_sealed {
        out.write_all(&data)?;
        return Ok(out.flush()?);
    }
    let sealed = SealedFile::parse(&data)?;
    if let Some(size) = stored_size(file)
        && sealed.plaintext_len() < size
    {
        return Err(OpenError::Truncated("message (shorter than the S= size in its name)").into());
    }
    let home = Home::new(home)?;
    let folder = store::folder::locate(&home.dir, file)?;
    let guid = home.guid(&folder)?;
    let keys = home.keystore()?.load()?;
    let recipients = sealed.recipients();
    let recipient = recipients
        .iter()
        .find(|r| keys.has_folder_key(&guid, &r.id))
        .or(recipients.first())
        .context("the file names no recipient")?;
    if !keys.has_folder_key(&guid, &recipient.id) {
        return Err(KeysError::NoFolderKey {
            id: recipient.id,
            mailbox: folder.name,
        }
        .into());
    }
    let user = keys.unlock_user(password.as_deref().map(|p| p.as_slice()))?;
    let key = keys.folder_private_key(&guid, &recipient.id, &user, &folder.name)?;
    let plaintext = sealed.decrypt(&sealed.unwrap_key(&key)?)?;
    if plaintext.integrity() == Integrity::Unauthenticated {
        eprintln!("tresor: warning: legacy v1 file; its content cannot be authenticated");
    }
    out.write_all(plaintext.as_bytes())?;
    Ok(out.flush()?)
}

/// `S=<size>` from a Maildir file name: the size of the stored (decrypted) message.
fn stored_size(file: &Path) -> Option<usize> {
    let name = file.file_name()?.to_str()?;
    let base = name.split(':').next()?;
    base.split(',')
        .find_map(|f| f.strip_prefix("S=")?.parse().ok())
}

fn seal(home: &Path, mailbox: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let home = Home::new(home)?;
    let folder = home.folder(mailbox)?;
    anyhow::ensure!(folder.dir.is_dir(), "mailbox {mailbox} does not exist");
    let guid = home.guid(&folder)?;
    let key = home
        .keystore()?
        .load()?
        .active_folder_public_key(&guid)?
        .ok_or_else(|| KeysError::NoActiveFolderKey(folder.name.clone()))?;
    let mut input: Box<dyn Read> = match file {
        Some(p) => Box::new(
            std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut sealer = Sealer::new(&key, std::io::BufWriter::new(std::io::stdout().lock()));
    std::io::copy(&mut input, &mut sealer)?;
    sealer.finish()?.flush()?;
    Ok(())
}
