//! `tresor mailbox verify`: every message of every folder opened (or, without the password,
//! its header checked against the keys), each failure listed with its reason.

use std::path::PathBuf;

use keys::{Keys, UnlockedUser};
use mailcrypt::{SealedFile, Wrap};
use store::account::Account;

use crate::error::LifecycleError;
use crate::messages::{self, read};
use crate::progress::Progress;

/// One message that did not open.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Failure {
    /// The mailbox.
    pub mailbox: String,
    /// The UID, when the uidlist has one.
    pub uid: Option<u32>,
    /// The file (or the folder, for a file the uidlist lists but that is missing).
    pub file: PathBuf,
    /// Why it did not open.
    pub reason: String,
}

impl Failure {
    pub(crate) fn new(mailbox: &str, m: &messages::Message, reason: String) -> Self {
        Self {
            mailbox: mailbox.to_string(),
            uid: m.uid,
            file: m.path.clone(),
            reason,
        }
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Report {
    /// Messages looked at.
    pub checked: usize,
    /// Of those, sealed files.
    pub sealed: usize,
    /// Of those, plaintext files.
    pub plaintext: usize,
    /// Every failure.
    pub failures: Vec<Failure>,
    /// True when messages were fully decrypted (a password was given), false when only their
    /// headers were checked against the keys.
    pub decrypted: bool,
}

/// Checks every message of `account`. With `user` (the unlocked user keys) each sealed message
/// is decrypted and its tag verified; without, each header must name a folder key the folder
/// holds, encrypted to a user key the user holds.
pub fn verify(
    account: &Account,
    user: Option<&UnlockedUser>,
    progress: &dyn Progress,
) -> Result<Report, LifecycleError> {
    let folders = messages::scan(account)?;
    let keys: Option<Keys> = match account.keystore() {
        Ok(ks) => Some(ks.load()?),
        Err(_) => None,
    };
    let total: usize = folders.iter().map(|f| f.messages.len()).sum();
    progress.start(total as u64);
    let mut report = Report {
        decrypted: user.is_some(),
        ..Report::default()
    };
    for f in &folders {
        for uid in &f.missing {
            report.failures.push(Failure {
                mailbox: f.folder.name.clone(),
                uid: Some(*uid),
                file: f.folder.dir.clone(),
                reason: "listed in dovecot-uidlist, but its file is missing".into(),
            });
        }
        for m in &f.messages {
            report.checked += 1;
            progress.advance(1);
            let fail = |reason: String| Failure {
                mailbox: f.folder.name.clone(),
                uid: m.uid,
                file: m.path.clone(),
                reason,
            };
            let data = match read(&m.path) {
                Ok(d) => d,
                Err(e) => {
                    report.failures.push(fail(e.to_string()));
                    continue;
                }
            };
            let maybe_sealed = !data.is_empty()
                && (mailcrypt::is_sealed(&data) || mailcrypt::MAGIC.starts_with(&data));
            if !maybe_sealed {
                report.plaintext += 1;
                continue;
            }
            report.sealed += 1;
            let result = match user {
                Some(u) => account
                    .read_file(&f.folder, &m.path, Some(u))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => check_header(&data, keys.as_ref(), f.guid.as_deref(), &f.folder.name),
            };
            if let Err(reason) = result {
                report.failures.push(fail(reason));
            }
        }
    }
    progress.finish();
    Ok(report)
}

/// Without a password: the header parses and names a key this folder has, whose own key is
/// a user key the user has.
fn check_header(
    data: &[u8],
    keys: Option<&Keys>,
    guid: Option<&str>,
    mailbox: &str,
) -> Result<(), String> {
    let sealed = SealedFile::parse(data).map_err(|e| e.to_string())?;
    let keys = keys.ok_or("the user has no key store (INBOX has no uidlist)")?;
    let guid = guid.ok_or("the folder has no dovecot-uidlist, so no GUID to find its keys")?;
    let recipients = sealed.recipients();
    let Some(r) = recipients.iter().find(|r| keys.has_folder_key(guid, &r.id)) else {
        let id = recipients
            .first()
            .map(|r| r.id.to_string())
            .unwrap_or_default();
        return Err(format!(
            "sealed to key {id}, which mailbox {mailbox} does not hold (no private key available)"
        ));
    };
    let by = keys
        .folder_keys()
        .into_iter()
        .find(|(g, id, _)| g == guid && *id == r.id)
        .and_then(|(_, _, by)| by);
    if let Some(by) = by {
        let has_user = keys
            .entries()
            .iter()
            .any(|e| e.owner == keys::Owner::User && e.id == by && !matches!(e.wrap, Wrap::Key(_)));
        if !has_user {
            return Err(format!(
                "folder key {} is encrypted to user key {by}, which is missing",
                r.id
            ));
        }
    }
    Ok(())
}
