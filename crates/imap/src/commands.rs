//! Commands of the authenticated state (RFC 3501 §6.3) and their extensions: SELECT, EXAMINE,
//! CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST (with LIST-EXTENDED, LIST-STATUS, SPECIAL-USE,
//! CHILDREN), LSUB, STATUS, APPEND, NAMESPACE, ENABLE, GETQUOTA(ROOT).

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::status::StatusDataItemName;
use store::flags::{Flags, SystemFlag};
use tracing::warn;

use crate::backend::{MailError, SpecialUse};
use crate::listext::ExtendedList;
use crate::selected::Selected;
use crate::session::{Session, State};
use crate::wire;

impl Session {
    pub(crate) fn mailbox_command(&mut self, tag: String, body: CommandBody<'static>) {
        match body {
            CommandBody::Select {
                mailbox,
                parameters,
            } => self.select(&tag, &mailbox, false, !parameters.is_empty()),
            CommandBody::Examine {
                mailbox,
                parameters,
            } => self.select(&tag, &mailbox, true, !parameters.is_empty()),
            CommandBody::Create { mailbox } => {
                let Some(name) = mailbox_name(&mailbox) else {
                    return self.fail(&tag, &MailError::InvalidName);
                };
                let name = name.trim_end_matches('.').to_string();
                if name == "INBOX" {
                    return self.fail(&tag, &MailError::Exists);
                }
                match self.mail_op(|m| m.create(&name)) {
                    Ok(()) => self.ok(&tag, "Create completed."),
                    Err(e) => self.fail(&tag, &e),
                }
            }
            CommandBody::Delete { mailbox } => {
                let Some(name) = mailbox_name(&mailbox) else {
                    return self.fail(&tag, &MailError::InvalidName);
                };
                if self.selected.as_ref().is_some_and(|s| s.name == name) {
                    self.selected = None;
                    self.state = State::Authenticated;
                    self.line("* OK [CLOSED] Mailbox deleted.");
                }
                match self.mail_op(|m| m.delete(&name)) {
                    Ok(()) => self.ok(&tag, "Delete completed."),
                    Err(e) => self.fail(&tag, &e),
                }
            }
            CommandBody::Rename { from, to } => {
                let (Some(from), Some(to)) = (mailbox_name(&from), mailbox_name(&to)) else {
                    return self.fail(&tag, &MailError::InvalidName);
                };
                match self.mail_op(|m| m.rename(&from, &to)) {
                    Ok(()) => self.ok(&tag, "Rename completed."),
                    Err(e) => self.fail(&tag, &e),
                }
            }
            CommandBody::Subscribe { mailbox } | CommandBody::Unsubscribe { mailbox }
                if mailbox_name(&mailbox).is_none() =>
            {
                self.fail(&tag, &MailError::InvalidName);
            }
            CommandBody::Subscribe { mailbox } => {
                let name = mailbox_name(&mailbox).unwrap_or_default();
                match self.mail_op(|m| m.subscribe(&name, true)) {
                    Ok(()) => self.ok(&tag, "Subscribe completed."),
                    Err(e) => self.fail(&tag, &e),
                }
            }
            CommandBody::Unsubscribe { mailbox } => {
                let name = mailbox_name(&mailbox).unwrap_or_default();
                match self.mail_op(|m| m.subscribe(&name, false)) {
                    Ok(()) => self.ok(&tag, "Unsubscribe completed."),
                    Err(e) => self.fail(&tag, &e),
                }
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => {
                let list = ExtendedList {
                    tag,
                    reference: raw_mailbox(&reference),
                    patterns: vec![list_pattern(&mailbox_wildcard)],
                    ..ExtendedList::default()
                };
                self.list_extended(&list);
            }
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => self.lsub(
                &tag,
                &raw_mailbox(&reference),
                &list_pattern(&mailbox_wildcard),
            ),
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                let Some(name) = mailbox_name(&mailbox) else {
                    return self.fail(&tag, &MailError::InvalidName);
                };
                let items: Vec<String> = item_names.iter().map(status_item_name).collect();
                match self.status_line(&name, &items) {
                    Ok(()) => self.ok(&tag, "Status completed."),
                    Err(e) => self.fail(&tag, &e),
                }
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(
                &tag,
                &mailbox,
                &flags,
                date.map(|d| d.as_ref().timestamp()),
                message,
            ),
            CommandBody::Namespace => {
                self.line("* NAMESPACE ((\"\" \".\")) NIL NIL");
                self.ok(&tag, "Namespace completed.");
            }
            CommandBody::Enable { capabilities } => {
                let mut enabled = Vec::new();
                for cap in capabilities.as_ref() {
                    if matches!(cap, CapabilityEnable::CondStore) && !self.condstore {
                        self.condstore = true;
                        enabled.push("CONDSTORE");
                    }
                }
                self.line(format!("* ENABLED {}", enabled.join(" ")).trim_end());
                self.ok(&tag, "Enabled.");
            }
            CommandBody::GetQuotaRoot { mailbox } => {
                let Some(name) = mailbox_name(&mailbox) else {
                    return self.fail(&tag, &MailError::InvalidName);
                };
                let mut line = b"* QUOTAROOT ".to_vec();
                wire::mailbox(&mut line, &name);
                line.extend_from_slice(b" \"User quota\"");
                match self.quota_line() {
                    Ok(quota) => {
                        self.line(&String::from_utf8_lossy(&line));
                        if let Some(q) = quota {
                            self.line(&q);
                        }
                        self.ok(&tag, "Getquotaroot completed.");
                    }
                    Err(e) => self.fail(&tag, &e),
                }
            }
            CommandBody::GetQuota { root } => {
                if root.as_ref() != b"User quota" {
                    return self.line(&format!("{tag} NO Quota root doesn't exist."));
                }
                match self.quota_line() {
                    Ok(quota) => {
                        if let Some(q) = quota {
                            self.line(&q);
                        }
                        self.ok(&tag, "Getquota completed.");
                    }
                    Err(e) => self.fail(&tag, &e),
                }
            }
            body if self.state == State::Selected => self.selected_command(tag, body),
            _ => self.line(&format!("{tag} BAD No mailbox selected.")),
        }
    }

    /// Runs a blocking mail operation (logged in, so a backend is present).
    pub(crate) fn mail_op<T>(
        &self,
        f: impl FnOnce(&dyn crate::backend::Mail) -> Result<T, MailError>,
    ) -> Result<T, MailError> {
        let mail = self
            .mail
            .as_deref()
            .ok_or_else(|| MailError::Internal("no mail backend".into()))?;
        let result = f(mail);
        if let Err(MailError::Unreadable(reason)) = &result {
            warn!(reason = %reason, "IMAP: a message could not be decrypted");
        } else if let Err(MailError::Internal(reason)) = &result {
            warn!(reason = %reason, "IMAP: mail operation failed");
        }
        result
    }

    fn select(&mut self, tag: &str, mailbox: &Mailbox<'_>, read_only: bool, condstore: bool) {
        self.selected = None;
        self.state = State::Authenticated;
        let Some(name) = mailbox_name(mailbox) else {
            return self.fail(tag, &MailError::InvalidName);
        };
        if condstore {
            self.condstore = true;
        }
        let opened = self.mail_op(|m| Selected::open(m, &name, read_only));
        let selected = match opened {
            Ok(s) => s,
            Err(e) => return self.fail(tag, &e),
        };
        let keywords: Vec<String> = selected.keywords.clone();
        let kw = if keywords.is_empty() {
            String::new()
        } else {
            format!(" {}", keywords.join(" "))
        };
        self.line(&format!(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw})"
        ));
        if read_only {
            self.line("* OK [PERMANENTFLAGS ()] Read-only mailbox.");
        } else {
            self.line(&format!(
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw} \\*)] Flags permitted."
            ));
        }
        self.line(&format!("* {} EXISTS", selected.messages.len()));
        self.line(&format!("* {} RECENT", selected.recent.len()));
        if let Some(pos) = selected
            .messages
            .iter()
            .position(|m| !m.flags.contains(SystemFlag::Seen))
        {
            self.line(&format!("* OK [UNSEEN {}] First unseen.", pos + 1));
        }
        self.line(&format!(
            "* OK [UIDVALIDITY {}] UIDs valid",
            selected.uid_validity
        ));
        self.line(&format!(
            "* OK [UIDNEXT {}] Predicted next UID",
            selected.next_uid
        ));
        if self.condstore {
            self.line(&format!(
                "* OK [HIGHESTMODSEQ {}] Highest",
                selected.highest_modseq
            ));
        }
        self.selected = Some(selected);
        self.state = State::Selected;
        let (code, what) = if read_only {
            ("READ-ONLY", "Examine")
        } else {
            ("READ-WRITE", "Select")
        };
        self.ok(tag, &format!("[{code}] {what} completed."));
    }

    /// LIST, plain or extended.
    pub(crate) fn list_extended(&mut self, list: &ExtendedList) {
        let tag = list.tag.clone();
        if list.patterns.iter().all(String::is_empty) {
            self.line("* LIST (\\Noselect) \".\" \"\"");
            return self.ok(&tag, "List completed.");
        }
        let names = match self.mail_op(|m| m.mailboxes()) {
            Ok(n) => n,
            Err(e) => return self.fail(&tag, &e),
        };
        let subscribed: BTreeSet<String> = if list.return_subscribed {
            match self.mail_op(|m| m.subscriptions()) {
                Ok(s) => s.into_iter().collect(),
                Err(e) => return self.fail(&tag, &e),
            }
        } else {
            BTreeSet::new()
        };
        let existing: BTreeSet<String> = names.iter().cloned().collect();
        // Every name plus its missing parents (shown as \Noselect / \NonExistent).
        let mut all: BTreeSet<String> = existing.clone();
        for name in &names {
            let mut parent = name.as_str();
            while let Some((p, _)) = parent.rsplit_once('.') {
                all.insert(p.to_string());
                parent = p;
            }
        }
        if list.select_subscribed {
            all.extend(subscribed.iter().cloned());
        }
        let mut ordered: Vec<&String> = all.iter().collect();
        ordered.sort_by_key(|n| (n.as_str() != "INBOX", n.as_str()));
        for name in ordered {
            let encoded = wire_name(name);
            let full_patterns = list
                .patterns
                .iter()
                .map(|p| format!("{}{p}", list.reference));
            if !full_patterns
                .into_iter()
                .any(|p| pattern_matches(&p, &encoded))
            {
                continue;
            }
            let is_sub = subscribed.contains(name);
            let prefix = format!("{name}.");
            // RFC 5258 §3.5: a parent is returned for a subscribed descendant that the
            // patterns do not return themselves.
            let childinfo = list.recursive_match
                && list.select_subscribed
                && subscribed.iter().any(|s| {
                    s.starts_with(&prefix)
                        && !list.patterns.iter().any(|p| {
                            pattern_matches(&format!("{}{p}", list.reference), &wire_name(s))
                        })
                });
            if list.select_subscribed && !is_sub && !childinfo {
                continue;
            }
            let special = self.special_use(name);
            if list.select_special_use && special.is_none() {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            let exists = existing.contains(name);
            if !exists && (is_sub || !list.select_subscribed) {
                attrs.push(if list.select_subscribed || list.return_status.is_some() {
                    "\\NonExistent"
                } else {
                    "\\Noselect"
                });
            }
            if all.iter().any(|n| n.starts_with(&prefix)) {
                attrs.push("\\HasChildren");
            } else {
                attrs.push("\\HasNoChildren");
            }
            if is_sub && list.return_subscribed {
                attrs.push("\\Subscribed");
            }
            if let Some(s) = special {
                attrs.push(s.attribute());
            }
            let mut line = format!("* LIST ({}) \".\" ", attrs.join(" ")).into_bytes();
            wire::mailbox(&mut line, name);
            if childinfo {
                line.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            self.out.extend_from_slice(&line);
            self.out.extend_from_slice(b"\r\n");
            if exists && let Some(items) = &list.return_status {
                let _ = self.status_line(name, items);
            }
        }
        self.ok(&tag, "List completed.");
    }

    fn lsub(&mut self, tag: &str, reference: &str, pattern: &str) {
        let subscribed = match self.mail_op(|m| m.subscriptions()) {
            Ok(s) => s,
            Err(e) => return self.fail(tag, &e),
        };
        let full = format!("{reference}{pattern}");
        let mut shown: BTreeSet<String> = BTreeSet::new();
        for name in &subscribed {
            if pattern_matches(&full, &wire_name(name)) {
                if shown.insert(name.clone()) {
                    self.lsub_line("", name);
                }
                continue;
            }
            // RFC 3501 §6.3.9: with `%`, an unsubscribed parent of a subscribed mailbox is
            // listed as \Noselect.
            let mut parent = name.as_str();
            while let Some((p, _)) = parent.rsplit_once('.') {
                parent = p;
                if !subscribed.iter().any(|s| s == p)
                    && pattern_matches(&full, &wire_name(p))
                    && shown.insert(p.to_string())
                {
                    self.lsub_line("\\Noselect", p);
                }
            }
        }
        self.ok(tag, "Lsub completed.");
    }

    fn lsub_line(&mut self, attrs: &str, name: &str) {
        let mut line = format!("* LSUB ({attrs}) \".\" ").into_bytes();
        wire::mailbox(&mut line, name);
        self.out.extend_from_slice(&line);
        self.out.extend_from_slice(b"\r\n");
    }

    fn special_use(&self, name: &str) -> Option<SpecialUse> {
        self.options
            .autocreate
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| *s)
    }

    /// `* STATUS name (...)` for upper-case item names.
    fn status_line(&mut self, name: &str, items: &[String]) -> Result<(), MailError> {
        let snap = self.mail_op(|m| m.snapshot(name))?;
        let mut parts = Vec::new();
        for item in items {
            let value = match item.as_str() {
                "MESSAGES" => snap.messages.len() as u64,
                "RECENT" => snap
                    .messages
                    .iter()
                    .filter(|m| m.uid > snap.recent_claimed)
                    .count() as u64,
                "UIDNEXT" => u64::from(snap.next_uid),
                "UIDVALIDITY" => u64::from(snap.uid_validity),
                "UNSEEN" => snap
                    .messages
                    .iter()
                    .filter(|m| !m.flags.contains(SystemFlag::Seen))
                    .count() as u64,
                "DELETED" => snap
                    .messages
                    .iter()
                    .filter(|m| m.flags.contains(SystemFlag::Deleted))
                    .count() as u64,
                "SIZE" => snap
                    .messages
                    .iter()
                    .map(|m| m.vsize.or(m.size).unwrap_or(0))
                    .sum(),
                // Messages not seen by any session yet get the next value when selected.
                "HIGHESTMODSEQ" => {
                    snap.highest_modseq + u64::from(snap.messages.iter().any(|m| m.modseq == 0))
                }
                _ => continue,
            };
            parts.push(format!("{item} {value}"));
        }
        let mut line = b"* STATUS ".to_vec();
        wire::mailbox(&mut line, name);
        line.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        self.out.extend_from_slice(&line);
        Ok(())
    }

    fn quota_line(&self) -> Result<Option<String>, MailError> {
        let (used, limit) = self.mail_op(|m| m.quota())?;
        Ok((limit > 0).then(|| {
            format!(
                "* QUOTA \"User quota\" (STORAGE {} {})",
                used.div_ceil(1024),
                limit / 1024
            )
        }))
    }

    fn append(
        &mut self,
        tag: &str,
        mailbox: &Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<i64>,
        message: LiteralOrLiteral8<'_>,
    ) {
        let Some(name) = mailbox_name(mailbox) else {
            return self.fail(tag, &MailError::InvalidName);
        };
        let data = match &message {
            LiteralOrLiteral8::Literal(l) => l.data(),
            LiteralOrLiteral8::Literal8(l) => l.data.as_ref(),
        };
        let flags = store_flags(flags);
        let date = date.map(|secs| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        });
        match self.mail_op(|m| m.append(&name, data, &flags, date)) {
            Ok(stored) => {
                self.refresh(false);
                self.ok(
                    tag,
                    &format!(
                        "[APPENDUID {} {}] Append completed.",
                        stored.uid_validity, stored.uid
                    ),
                );
            }
            Err(MailError::NoMailbox) => {
                self.line(&format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
            }
            Err(e) => self.fail(tag, &e),
        }
    }
}

/// The UTF-8 mailbox name of a command argument (modified UTF-7 on the wire); `None` when it
/// is not valid modified UTF-7.
pub(crate) fn mailbox_name(mailbox: &Mailbox<'_>) -> Option<String> {
    match mailbox {
        Mailbox::Inbox => Some("INBOX".into()),
        Mailbox::Other(other) => {
            let raw = std::str::from_utf8(other.as_ref()).ok()?;
            if raw.eq_ignore_ascii_case("INBOX") {
                return Some("INBOX".into());
            }
            let name = store::mutf7::decode(raw)?;
            if name.is_empty() || name.contains('/') || name.contains("..") {
                return None;
            }
            Some(name)
        }
    }
}

fn raw_mailbox(mailbox: &Mailbox<'_>) -> String {
    match mailbox {
        Mailbox::Inbox => "INBOX".into(),
        Mailbox::Other(o) => String::from_utf8_lossy(o.as_ref()).into_owned(),
    }
}

fn list_pattern(pattern: &ListMailbox<'_>) -> String {
    match pattern {
        ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
        ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
    }
}

fn wire_name(name: &str) -> String {
    if name == "INBOX" {
        name.into()
    } else {
        store::mutf7::encode(name)
    }
}

/// RFC 3501 LIST matching: `*` matches anything, `%` anything but the separator `.`; INBOX
/// matches in any case.
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| n.get(i..).is_some_and(|t| go(rest, t))),
            Some((b'%', rest)) => {
                let stop = n.iter().position(|&c| c == b'.').unwrap_or(n.len());
                (0..=stop).any(|i| n.get(i..).is_some_and(|t| go(rest, t)))
            }
            Some((c, rest)) => n.split_first().is_some_and(|(d, t)| c == d && go(rest, t)),
        }
    }
    if name == "INBOX" {
        let upper = pattern
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("INBOX"))
            .map(|_| format!("INBOX{}", pattern.get(5..).unwrap_or_default()));
        if let Some(up) = upper {
            return go(up.as_bytes(), name.as_bytes());
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

fn status_item_name(item: &StatusDataItemName) -> String {
    match item {
        StatusDataItemName::Messages => "MESSAGES",
        StatusDataItemName::Recent => "RECENT",
        StatusDataItemName::UidNext => "UIDNEXT",
        StatusDataItemName::UidValidity => "UIDVALIDITY",
        StatusDataItemName::Unseen => "UNSEEN",
        StatusDataItemName::Deleted => "DELETED",
        StatusDataItemName::Size => "SIZE",
        StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
        _ => "",
    }
    .to_string()
}

/// IMAP flags of a command as store flags (`\Recent` and unknown `\X` flags are dropped).
pub(crate) fn store_flags(flags: &[Flag<'_>]) -> Flags {
    let mut out = Flags::new();
    for flag in flags {
        match flag {
            Flag::Answered => out.insert(SystemFlag::Answered),
            Flag::Deleted => out.insert(SystemFlag::Deleted),
            Flag::Draft => out.insert(SystemFlag::Draft),
            Flag::Flagged => out.insert(SystemFlag::Flagged),
            Flag::Seen => out.insert(SystemFlag::Seen),
            Flag::Keyword(k) => out.insert_keyword(k.inner()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_list_wildcards() {
        assert!(pattern_matches("*", "A.B"));
        assert!(!pattern_matches("%", "A.B"));
        assert!(pattern_matches("A.%", "A.B"));
        assert!(pattern_matches("inbox", "INBOX"));
        assert!(!pattern_matches("Sent", "Sent.x"));
    }
}
