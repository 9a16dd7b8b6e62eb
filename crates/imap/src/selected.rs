//! The selected state (RFC 3501 §6.4): the client's view of the mailbox (sequence numbers),
//! keeping it in step with the folder, and CHECK, CLOSE, UNSELECT, EXPUNGE, STORE, COPY, MOVE.
//! FETCH is in [`crate::fetch`], SEARCH and SORT in [`crate::search`].

use std::collections::{HashMap, HashSet};

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::flag::{StoreResponse, StoreType};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use store::flags::SystemFlag;
use store::mailbox::{MessageInfo, Stamp};

use crate::backend::{Mail, MailError};
use crate::commands::{mailbox_name, store_flags};
pub(crate) use crate::fetch::Fetching;
use crate::session::{Session, State};
use crate::wire;

/// The selected mailbox as the client knows it: message `i` has sequence number `i + 1`.
pub(crate) struct Selected {
    pub(crate) name: String,
    pub(crate) read_only: bool,
    pub(crate) uid_validity: u32,
    pub(crate) next_uid: u32,
    pub(crate) highest_modseq: u64,
    pub(crate) messages: Vec<MessageInfo>,
    pub(crate) keywords: Vec<String>,
    /// UIDs that are `\Recent` in this session: the first selecting session to see a message
    /// claims it (in `tresor-modseq`); EXAMINE shows unclaimed messages as recent without
    /// claiming them.
    pub(crate) recent: HashSet<u32>,
    stamp: Stamp,
}

impl Selected {
    /// Opens `name`.
    pub(crate) fn open(mail: &dyn Mail, name: &str, read_only: bool) -> Result<Self, MailError> {
        let stamp = mail.stamp(name);
        let mut snap = mail.snapshot(name)?;
        assign_modseqs(mail, name, &mut snap);
        let max = snap.messages.last().map_or(0, |m| m.uid);
        // A folder whose tresor-modseq cannot be written still opens (nothing claimed).
        let claimed = if read_only {
            snap.recent_claimed
        } else {
            mail.claim_recent(name, max).unwrap_or(snap.recent_claimed)
        };
        let recent = snap
            .messages
            .iter()
            .filter(|m| m.uid > claimed)
            .map(|m| m.uid)
            .collect();
        Ok(Self {
            recent,
            name: name.to_string(),
            read_only,
            uid_validity: snap.uid_validity,
            next_uid: snap.next_uid,
            highest_modseq: snap.highest_modseq,
            messages: snap.messages,
            keywords: snap.keywords,
            stamp,
        })
    }

    /// Indices (ascending, unique) of the messages a sequence or UID set names; `None` when a
    /// sequence number is out of range (RFC 3501: BAD).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Option<Vec<usize>> {
        if uid {
            let largest = self.messages.last().map_or(0, |m| m.uid);
            return Some(
                self.messages
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| set_contains(set, m.uid, largest))
                    .map(|(i, _)| i)
                    .collect(),
            );
        }
        let count = u32::try_from(self.messages.len()).unwrap_or(u32::MAX);
        let mut out = Vec::new();
        for seq in set.0.as_ref() {
            let (a, b) = match seq {
                Sequence::Single(v) => (value(v, count), value(v, count)),
                Sequence::Range(a, b) => (value(a, count), value(b, count)),
            };
            let (lo, hi) = (a.min(b), a.max(b));
            if lo == 0 || hi > count {
                return None;
            }
            out.extend((lo..=hi).map(|s| s as usize - 1));
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }
}

/// Gives messages seen for the first time (mod-sequence 0) a mod-sequence above every one
/// handed out before, so CONDSTORE clients notice them.
pub(crate) fn assign_modseqs(mail: &dyn Mail, name: &str, snap: &mut store::mailbox::Snapshot) {
    let fresh: Vec<u32> = snap
        .messages
        .iter()
        .filter(|m| m.modseq == 0)
        .map(|m| m.uid)
        .collect();
    if fresh.is_empty() {
        return;
    }
    let value = mail
        .bump_modseq(name, &fresh, &[])
        .unwrap_or(snap.highest_modseq.saturating_add(1));
    for m in snap.messages.iter_mut().filter(|m| m.modseq == 0) {
        m.modseq = value;
    }
    snap.highest_modseq = snap.highest_modseq.max(value);
}

fn value(v: &SeqOrUid, largest: u32) -> u32 {
    match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => largest,
    }
}

/// Whether `x` is in `set`, `*` being `largest`.
pub(crate) fn set_contains(set: &SequenceSet, x: u32, largest: u32) -> bool {
    set.0.as_ref().iter().any(|seq| match seq {
        Sequence::Single(v) => value(v, largest) == x,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a, largest), value(b, largest));
            (a.min(b)..=a.max(b)).contains(&x)
        }
    })
}

impl Session {
    /// Brings the client's view up to date: untagged EXPUNGE (only when `allow_expunge`, RFC
    /// 3501 §7.4.1), FETCH FLAGS for changed flags, EXISTS for new messages.
    pub(crate) fn refresh(&mut self, allow_expunge: bool) {
        let (Some(mail), Some(sel)) = (self.mail.as_deref(), self.selected.as_mut()) else {
            return;
        };
        let stamp = mail.stamp(&sel.name);
        if stamp == sel.stamp {
            return;
        }
        let Ok(mut snap) = mail.snapshot(&sel.name) else {
            return;
        };
        assign_modseqs(mail, &sel.name, &mut snap);
        let mut out = Vec::new();
        if snap.keywords.iter().any(|k| !sel.keywords.contains(k)) {
            sel.keywords = snap.keywords.clone();
            out.extend(flags_lines(&sel.keywords, sel.read_only));
        }
        let now: HashMap<u32, &MessageInfo> = snap.messages.iter().map(|m| (m.uid, m)).collect();
        let mut pending_expunge = false;
        if allow_expunge {
            for i in (0..sel.messages.len()).rev() {
                let gone = sel
                    .messages
                    .get(i)
                    .is_some_and(|m| !now.contains_key(&m.uid));
                if gone {
                    sel.messages.remove(i);
                    out.push(format!("* {} EXPUNGE", i + 1));
                }
            }
        }
        for (i, m) in sel.messages.iter_mut().enumerate() {
            match now.get(&m.uid) {
                Some(n) => {
                    if n.flags != m.flags {
                        let modseq = if self.condstore {
                            format!(" MODSEQ ({})", n.modseq)
                        } else {
                            String::new()
                        };
                        out.push(format!(
                            "* {} FETCH (FLAGS {}{modseq})",
                            i + 1,
                            wire::flag_list(&n.flags, sel.recent.contains(&n.uid))
                        ));
                    }
                    let path = n.path.clone();
                    m.flags = n.flags.clone();
                    m.modseq = n.modseq;
                    m.path = path;
                }
                None => pending_expunge = true,
            }
        }
        let max = sel.messages.last().map_or(0, |m| m.uid);
        let new: Vec<MessageInfo> = snap
            .messages
            .iter()
            .filter(|m| m.uid > max)
            .cloned()
            .collect();
        if !new.is_empty() {
            let before = sel.recent.len();
            let newest = new.last().map_or(0, |m| m.uid);
            let claimed = if sel.read_only {
                Ok(snap.recent_claimed)
            } else {
                mail.claim_recent(&sel.name, newest)
            };
            if let Ok(claimed) = claimed {
                sel.recent
                    .extend(new.iter().filter(|m| m.uid > claimed).map(|m| m.uid));
            }
            let recent_changed = sel.recent.len() != before;
            sel.messages.extend(new);
            out.push(format!("* {} EXISTS", sel.messages.len()));
            if recent_changed {
                out.push(format!("* {} RECENT", sel.recent.len()));
            }
        }
        sel.next_uid = snap.next_uid;
        sel.highest_modseq = snap.highest_modseq;
        if !pending_expunge {
            sel.stamp = stamp;
        }
        for line in out {
            self.line(&line);
        }
    }

    pub(crate) fn selected_command(&mut self, tag: String, body: CommandBody<'static>) {
        match body {
            CommandBody::Check => {
                self.refresh(true);
                self.ok(&tag, "Check completed.");
            }
            CommandBody::Close => {
                if self.selected.as_ref().is_some_and(|s| !s.read_only) {
                    let _ = self.expunge_deleted(None, false);
                }
                self.selected = None;
                self.state = State::Authenticated;
                self.ok(&tag, "Close completed.");
            }
            CommandBody::Unselect => {
                self.selected = None;
                self.state = State::Authenticated;
                self.ok(&tag, "Unselect completed.");
            }
            CommandBody::Expunge => self.expunge(&tag, None),
            CommandBody::ExpungeUid { sequence_set } => self.expunge(&tag, Some(&sequence_set)),
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => self.fetch(tag, &sequence_set, macro_or_item_names, uid, &modifiers),
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                let flags = store_flags(&flags);
                let unchanged_since = modifiers
                    .iter()
                    .map(|StoreModifier::UnchangedSince(n)| *n)
                    .next();
                self.store(
                    &tag,
                    &sequence_set,
                    &kind,
                    &response,
                    &flags,
                    uid,
                    unchanged_since,
                );
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.copy_move(&tag, &sequence_set, &mailbox, uid, false),
            CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.copy_move(&tag, &sequence_set, &mailbox, uid, true),
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => self.search(&tag, charset.as_ref(), criteria.as_ref(), uid),
            CommandBody::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } => self.sort(
                &tag,
                sort_criteria.as_ref(),
                &charset,
                search_criteria.as_ref(),
                uid,
            ),
            _ => self.line(&format!("{tag} BAD Command not supported.")),
        }
    }

    fn expunge(&mut self, tag: &str, uids: Option<&SequenceSet>) {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return self.line(&format!("{tag} NO [READ-ONLY] Mailbox is read-only."));
        }
        match self.expunge_deleted(uids, true) {
            Ok(()) => {
                self.refresh(true);
                self.ok(tag, "Expunge completed.");
            }
            Err(e) => self.fail(tag, &e),
        }
    }

    /// Removes the \Deleted messages (within `uids` when given), reporting each when `report`.
    fn expunge_deleted(
        &mut self,
        uids: Option<&SequenceSet>,
        report: bool,
    ) -> Result<(), MailError> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let largest = sel.messages.last().map_or(0, |m| m.uid);
        let doomed: Vec<(usize, u32)> = sel
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| m.flags.contains(SystemFlag::Deleted))
            .filter(|(_, m)| uids.is_none_or(|s| set_contains(s, m.uid, largest)))
            .map(|(i, m)| (i, m.uid))
            .collect();
        let name = sel.name.clone();
        let mut done = Vec::new();
        let mut failure = None;
        for (i, uid) in &doomed {
            match self.mail_op(|m| m.expunge(&name, *uid)) {
                Ok(()) => done.push((*i, *uid)),
                Err(e) => failure = Some(e),
            }
        }
        if !done.is_empty() {
            let uids: Vec<u32> = done.iter().map(|(_, u)| *u).collect();
            let _ = self.mail_op(|m| m.bump_modseq(&name, &[], &uids));
        }
        self.remove_reported(&done, report);
        failure.map_or(Ok(()), Err)
    }

    /// Drops messages (by index) from the view, highest first, with `* n EXPUNGE` lines.
    fn remove_reported(&mut self, done: &[(usize, u32)], report: bool) {
        let mut lines = Vec::new();
        if let Some(sel) = self.selected.as_mut() {
            let mut indices: Vec<usize> = done.iter().map(|(i, _)| *i).collect();
            indices.sort_unstable();
            for i in indices.into_iter().rev() {
                if i < sel.messages.len() {
                    sel.messages.remove(i);
                    lines.push(format!("* {} EXPUNGE", i + 1));
                }
            }
        }
        if report {
            for l in lines {
                self.line(&l);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        kind: &StoreType,
        response: &StoreResponse,
        flags: &store::flags::Flags,
        uid: bool,
        unchanged_since: Option<u64>,
    ) {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return self.line(&format!("{tag} NO [READ-ONLY] Mailbox is read-only."));
        }
        if unchanged_since.is_some() {
            self.enable_condstore_implicitly();
        }
        // Flags another session changed meanwhile are the base for +FLAGS/-FLAGS.
        self.refresh(uid);
        let new_keywords: Vec<String> = match self.selected.as_ref() {
            Some(sel) => flags
                .keywords()
                .iter()
                .filter(|k| !matches!(kind, StoreType::Remove) && !sel.keywords.contains(k))
                .cloned()
                .collect(),
            None => return,
        };
        if let Some(sel) = self.selected.as_mut()
            && !new_keywords.is_empty()
        {
            sel.keywords.extend(new_keywords);
            let lines = flags_lines(&sel.keywords, sel.read_only);
            for l in lines {
                self.line(&l);
            }
        }
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let Some(indices) = sel.resolve(set, uid) else {
            return self.line(&format!(
                "{tag} BAD Error in IMAP command STORE: Invalid messageset"
            ));
        };
        let name = sel.name.clone();
        let mut changed: Vec<(usize, store::flags::Flags)> = Vec::new();
        let mut unchanged: Vec<usize> = Vec::new();
        let mut modified = Vec::new();
        for &i in &indices {
            let Some(m) = sel.messages.get(i) else {
                continue;
            };
            if unchanged_since.is_some_and(|n| m.modseq > n) {
                modified.push(if uid { m.uid } else { (i + 1) as u32 });
                continue;
            }
            let mut next = match kind {
                StoreType::Replace => flags.clone(),
                StoreType::Add | StoreType::Remove => m.flags.clone(),
            };
            for f in flags.system() {
                match kind {
                    StoreType::Add => next.insert(f),
                    StoreType::Remove => next.remove(f),
                    StoreType::Replace => {}
                }
            }
            for k in flags.keywords() {
                match kind {
                    StoreType::Add => next.insert_keyword(k),
                    StoreType::Remove => {
                        next.remove_keyword(k);
                    }
                    StoreType::Replace => {}
                }
            }
            if next == m.flags {
                unchanged.push(i);
            } else {
                changed.push((i, next));
            }
        }
        let mut stored = Vec::new();
        let mut failure = None;
        for (i, next) in &changed {
            let Some(uid_of) = sel.messages.get(*i).map(|m| m.uid) else {
                continue;
            };
            match self.mail_op(|m| m.set_flags(&name, uid_of, next)) {
                Ok(()) => stored.push((*i, uid_of, next.clone())),
                Err(MailError::Expunged) => {}
                Err(e) => failure = Some(e),
            }
        }
        let stored_uids: Vec<u32> = stored.iter().map(|(_, u, _)| *u).collect();
        let modseq = if stored_uids.is_empty() {
            None
        } else {
            self.mail_op(|m| m.bump_modseq(&name, &stored_uids, &[]))
                .ok()
        };
        let report_modseq = self.condstore || unchanged_since.is_some();
        let mut lines = Vec::new();
        if let Some(sel) = self.selected.as_mut() {
            for (i, _, next) in &stored {
                if let Some(m) = sel.messages.get_mut(*i) {
                    m.flags = next.clone();
                    if let Some(s) = modseq {
                        m.modseq = s;
                    }
                }
            }
            let mut shown: Vec<usize> = stored.iter().map(|(i, _, _)| *i).collect();
            shown.extend(&unchanged);
            shown.sort_unstable();
            for i in shown {
                let Some(m) = sel.messages.get(i) else {
                    continue;
                };
                if *response == StoreResponse::Silent
                    && !(report_modseq && unchanged_since.is_some())
                {
                    continue;
                }
                let mut items = Vec::new();
                if uid {
                    items.push(format!("UID {}", m.uid));
                }
                items.push(format!(
                    "FLAGS {}",
                    wire::flag_list(&m.flags, sel.recent.contains(&m.uid))
                ));
                if report_modseq {
                    items.push(format!("MODSEQ ({})", m.modseq));
                }
                lines.push(format!("* {} FETCH ({})", i + 1, items.join(" ")));
            }
        }
        for l in lines {
            self.line(&l);
        }
        if let Some(e) = failure {
            return self.fail(tag, &e);
        }
        if modified.is_empty() {
            self.ok(tag, "Store completed.");
        } else {
            self.ok(
                tag,
                &format!(
                    "[MODIFIED {}] Conditional STORE failed",
                    wire::uid_set(&modified)
                ),
            );
        }
    }

    fn copy_move(
        &mut self,
        tag: &str,
        set: &SequenceSet,
        target: &imap_codec::imap_types::mailbox::Mailbox<'_>,
        uid: bool,
        moving: bool,
    ) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let Some(to) = mailbox_name(target) else {
            return self.fail(tag, &MailError::InvalidName);
        };
        if moving && sel.read_only {
            return self.line(&format!("{tag} NO [READ-ONLY] Mailbox is read-only."));
        }
        let Some(indices) = sel.resolve(set, uid) else {
            return self.line(&format!(
                "{tag} BAD Error in IMAP command: Invalid messageset"
            ));
        };
        let from = sel.name.clone();
        let items: Vec<(usize, u32, store::flags::Flags, std::time::SystemTime)> = indices
            .iter()
            .filter_map(|&i| {
                sel.messages
                    .get(i)
                    .map(|m| (i, m.uid, m.flags.clone(), m.internal_date))
            })
            .collect();
        match self.mail_op(|m| m.snapshot(&to)) {
            Ok(_) => {}
            Err(MailError::NoMailbox) => {
                return self.line(&format!("{tag} NO [TRYCREATE] Mailbox doesn't exist."));
            }
            Err(e) => return self.fail(tag, &e),
        }
        let mut src = Vec::new();
        let mut dst = Vec::new();
        let mut validity = 0;
        let mut moved = Vec::new();
        for (i, u, flags, date) in &items {
            match self.mail_op(|m| m.copy(&from, *u, &to, flags, *date)) {
                Ok(stored) => {
                    src.push(*u);
                    dst.push(stored.uid);
                    validity = stored.uid_validity;
                    moved.push((*i, *u));
                }
                Err(MailError::Expunged) => {}
                Err(e) => return self.fail(tag, &e),
            }
        }
        let code = if src.is_empty() {
            String::new()
        } else {
            format!(
                "[COPYUID {validity} {} {}] ",
                wire::uid_set(&src),
                wire::uid_set(&dst)
            )
        };
        if !moving {
            self.refresh(uid);
            return self.ok(tag, &format!("{code}Copy completed."));
        }
        for (_, u) in &moved {
            let _ = self.mail_op(|m| m.expunge(&from, *u));
        }
        if !moved.is_empty() {
            let uids: Vec<u32> = moved.iter().map(|(_, u)| *u).collect();
            let _ = self.mail_op(|m| m.bump_modseq(&from, &[], &uids));
            self.line(&format!("* OK {code}Moved UIDs."));
        }
        self.remove_reported(&moved, true);
        self.refresh(true);
        self.ok(tag, "Move completed.");
    }
}

/// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` for the mailbox's keywords.
pub(crate) fn flags_lines(keywords: &[String], read_only: bool) -> Vec<String> {
    let kw = if keywords.is_empty() {
        String::new()
    } else {
        format!(" {}", keywords.join(" "))
    };
    let permanent = if read_only {
        "* OK [PERMANENTFLAGS ()] Read-only mailbox.".to_string()
    } else {
        format!(
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw} \\*)] Flags permitted."
        )
    };
    vec![
        format!("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft{kw})"),
        permanent,
    ]
}
