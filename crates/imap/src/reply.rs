//! The one place that decides what a failed mail operation looks like on the wire.

use crate::backend::MailError;

/// `NO [CODE] text` (without tag) for `error`. Internal details stay in the logs.
pub fn reply_for_mail(error: &MailError) -> &'static str {
    match error {
        MailError::NoMailbox => "NO [NONEXISTENT] Mailbox doesn't exist.",
        MailError::Exists => "NO [ALREADYEXISTS] Mailbox already exists.",
        MailError::InvalidName => "NO [CANNOT] Invalid mailbox name.",
        MailError::Inbox => "NO [CANNOT] INBOX can't be deleted or renamed.",
        MailError::Expunged => "NO [EXPUNGEISSUED] Some of the requested messages no longer exist.",
        MailError::OverQuota => "NO [OVERQUOTA] Quota exceeded (mailbox for user is full).",
        MailError::Unreadable(_) => {
            "NO [UNAVAILABLE] A message could not be decrypted; the administrator has been told."
        }
        MailError::Internal(_) => {
            "NO [SERVERBUG] Internal error occurred. Refer to server log for more information."
        }
    }
}
