//! SEARCH and UID SEARCH (RFC 3501 §6.4.4, CONDSTORE's MODSEQ key) and SORT (RFC 5256).
//! Message content is read (and decrypted) only when a key needs it.

use std::time::UNIX_EPOCH;

use imap_codec::imap_types::core::Charset;
use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};
use imap_codec::imap_types::search::SearchKey;
use store::flags::SystemFlag;
use store::mailbox::MessageInfo;

use crate::backend::MailError;
use crate::esearch::Returns;
use crate::selected::set_contains;
use crate::session::Session;
use message::{Message, SortField};
use zeroize::Zeroizing;

use crate::wire;

/// One message under evaluation, its content loaded on first need.
struct Candidate<'a> {
    index: usize,
    msg: &'a MessageInfo,
    content: Option<Zeroizing<Vec<u8>>>,
}

impl Session {
    pub(crate) fn search(
        &mut self,
        tag: &str,
        charset: Option<&Charset<'_>>,
        criteria: &[SearchKey<'_>],
        uid: bool,
    ) {
        self.search_returning(tag, charset, criteria, uid, None);
    }

    /// SEARCH, answered as `* SEARCH` or, with `returns`, as `* ESEARCH` (RFC 4731).
    pub(crate) fn search_returning(
        &mut self,
        tag: &str,
        charset: Option<&Charset<'_>>,
        criteria: &[SearchKey<'_>],
        uid: bool,
        returns: Option<&Returns>,
    ) {
        if let Some(c) = charset
            && !is_known_charset(c)
        {
            return self.line(&format!(
                "{tag} NO [BADCHARSET (US-ASCII UTF-8)] Unknown charset."
            ));
        }
        let matched = match self.matching(criteria) {
            Ok(m) => m,
            Err(e) => return self.fail(tag, &e),
        };
        let with_modseq = criteria.iter().any(has_modseq);
        if with_modseq {
            self.enable_condstore_implicitly();
        }
        let (ids, max_modseq) = self.ids(&matched, uid);
        if let Some(r) = returns {
            let mut line = format!("* ESEARCH (TAG \"{tag}\")");
            if uid {
                line.push_str(" UID");
            }
            if let (true, Some(min)) = (r.min, ids.iter().min()) {
                line.push_str(&format!(" MIN {min}"));
            }
            if let (true, Some(max)) = (r.max, ids.iter().max()) {
                line.push_str(&format!(" MAX {max}"));
            }
            if r.count {
                line.push_str(&format!(" COUNT {}", ids.len()));
            }
            if r.all && !ids.is_empty() {
                let mut sorted = ids.clone();
                sorted.sort_unstable();
                line.push_str(&format!(" ALL {}", wire::uid_set(&sorted)));
            }
            if with_modseq && !ids.is_empty() {
                // RFC 7162 §3.1.5: with only MIN and/or MAX, the mod-sequence of those.
                let modseq = if r.all || r.count {
                    max_modseq
                } else {
                    self.modseq_of_ids(&matched, &ids, r)
                };
                line.push_str(&format!(" MODSEQ {modseq}"));
            }
            self.line(&line);
            if uid {
                self.refresh(true);
            }
            return self.ok(tag, "Search completed.");
        }
        let mut line = String::from("* SEARCH");
        for id in &ids {
            line.push_str(&format!(" {id}"));
        }
        if with_modseq && !ids.is_empty() {
            line.push_str(&format!(" (MODSEQ {max_modseq})"));
        }
        self.line(&line);
        if uid {
            self.refresh(true);
        }
        self.ok(tag, "Search completed.");
    }

    pub(crate) fn sort(
        &mut self,
        tag: &str,
        keys: &[SortCriterion],
        charset: &Charset<'_>,
        criteria: &[SearchKey<'_>],
        uid: bool,
    ) {
        if !is_known_charset(charset) {
            return self.line(&format!(
                "{tag} NO [BADCHARSET (US-ASCII UTF-8)] Unknown charset."
            ));
        }
        let matched = match self.matching(criteria) {
            Ok(m) => m,
            Err(e) => return self.fail(tag, &e),
        };
        let needs_content = keys
            .iter()
            .any(|k| !matches!(k.key, SortKey::Arrival | SortKey::Size));
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let name = sel.name.clone();
        let mut rows: Vec<(usize, Vec<SortValue>)> = Vec::new();
        for &i in &matched {
            let Some(msg) = sel.messages.get(i) else {
                continue;
            };
            let content = if needs_content {
                self.mail_op(|m| m.read(&name, msg.uid, Some(&msg.path)))
                    .unwrap_or_default()
            } else {
                Zeroizing::default()
            };
            let parsed = Message::parse(&content);
            let values = keys
                .iter()
                .map(|k| sort_value(&k.key, msg, &parsed))
                .collect();
            rows.push((i, values));
        }
        rows.sort_by(|(ia, a), (ib, b)| {
            for (k, (x, y)) in keys.iter().zip(a.iter().zip(b.iter())) {
                let ord = x.cmp(y);
                let ord = if k.reverse { ord.reverse() } else { ord };
                if ord.is_ne() {
                    return ord;
                }
            }
            ia.cmp(ib)
        });
        let indices: Vec<usize> = rows.into_iter().map(|(i, _)| i).collect();
        let (ids, _) = self.ids(&indices, uid);
        let mut line = String::from("* SORT");
        for id in ids {
            line.push_str(&format!(" {id}"));
        }
        self.line(&line);
        if uid {
            self.refresh(true);
        }
        self.ok(tag, "Sort completed.");
    }

    /// The highest mod-sequence of the MIN and/or MAX message of an ESEARCH result.
    fn modseq_of_ids(&self, indices: &[usize], ids: &[u32], r: &Returns) -> u64 {
        let Some(sel) = self.selected.as_ref() else {
            return 0;
        };
        let (min, max) = (ids.iter().min(), ids.iter().max());
        indices
            .iter()
            .zip(ids)
            .filter(|(_, id)| (r.min && Some(*id) == min) || (r.max && Some(*id) == max))
            .filter_map(|(&i, _)| sel.messages.get(i).map(|m| m.modseq))
            .max()
            .unwrap_or(0)
    }

    /// Sequence numbers or UIDs of `indices`, and the highest mod-sequence among them.
    fn ids(&self, indices: &[usize], uid: bool) -> (Vec<u32>, u64) {
        let Some(sel) = self.selected.as_ref() else {
            return (Vec::new(), 0);
        };
        let mut max = 0;
        let ids = indices
            .iter()
            .filter_map(|&i| {
                let m = sel.messages.get(i)?;
                max = max.max(m.modseq);
                Some(if uid {
                    m.uid
                } else {
                    u32::try_from(i + 1).unwrap_or(u32::MAX)
                })
            })
            .collect();
        (ids, max)
    }

    /// Indices of the messages matching every key of `criteria`.
    fn matching(&self, criteria: &[SearchKey<'_>]) -> Result<Vec<usize>, MailError> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (index, msg) in sel.messages.iter().enumerate() {
            let mut c = Candidate {
                index,
                msg,
                content: None,
            };
            let mut all = true;
            for key in criteria {
                if !self.eval(key, &mut c)? {
                    all = false;
                    break;
                }
            }
            if all {
                out.push(index);
            }
        }
        Ok(out)
    }

    fn content<'c>(&self, c: &'c mut Candidate<'_>) -> Result<&'c [u8], MailError> {
        if c.content.is_none() {
            let name = self
                .selected
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            let stored = match self.mail_op(|m| m.read(&name, c.msg.uid, Some(&c.msg.path))) {
                Ok(s) => s,
                Err(MailError::Expunged) => Default::default(),
                Err(e) => return Err(e),
            };
            c.content = Some(stored);
        }
        Ok(c.content.as_ref().map_or(&[][..], |c| c.as_slice()))
    }

    fn eval(&self, key: &SearchKey<'_>, c: &mut Candidate<'_>) -> Result<bool, MailError> {
        let flags = &c.msg.flags;
        let header_has = |s: &Self, c: &mut Candidate<'_>, name: &str, value: &[u8]| {
            let content = s.content(c)?;
            Ok::<_, MailError>(
                Message::parse(content).matches_header(name, &String::from_utf8_lossy(value)),
            )
        };
        Ok(match key {
            SearchKey::And(keys) => {
                for k in keys.as_ref() {
                    if !self.eval(k, c)? {
                        return Ok(false);
                    }
                }
                true
            }
            SearchKey::Or(a, b) => self.eval(a, c)? || self.eval(b, c)?,
            SearchKey::Not(k) => !self.eval(k, c)?,
            SearchKey::All => true,
            SearchKey::Recent => self.is_recent(c.msg.uid),
            SearchKey::Old => !self.is_recent(c.msg.uid),
            SearchKey::New => self.is_recent(c.msg.uid) && !flags.contains(SystemFlag::Seen),
            SearchKey::SequenceSet(set) => {
                let count = self
                    .selected
                    .as_ref()
                    .map_or(0, |s| u32::try_from(s.messages.len()).unwrap_or(u32::MAX));
                set_contains(set, u32::try_from(c.index + 1).unwrap_or(u32::MAX), count)
            }
            SearchKey::Uid(set) => {
                let largest = self
                    .selected
                    .as_ref()
                    .and_then(|s| s.messages.last())
                    .map_or(0, |m| m.uid);
                set_contains(set, c.msg.uid, largest)
            }
            SearchKey::Answered => flags.contains(SystemFlag::Answered),
            SearchKey::Deleted => flags.contains(SystemFlag::Deleted),
            SearchKey::Draft => flags.contains(SystemFlag::Draft),
            SearchKey::Flagged => flags.contains(SystemFlag::Flagged),
            SearchKey::Seen => flags.contains(SystemFlag::Seen),
            SearchKey::Unanswered => !flags.contains(SystemFlag::Answered),
            SearchKey::Undeleted => !flags.contains(SystemFlag::Deleted),
            SearchKey::Undraft => !flags.contains(SystemFlag::Draft),
            SearchKey::Unflagged => !flags.contains(SystemFlag::Flagged),
            SearchKey::Unseen => !flags.contains(SystemFlag::Seen),
            SearchKey::Keyword(k) => flags.has_keyword(k.inner()),
            SearchKey::Unkeyword(k) => !flags.has_keyword(k.inner()),
            SearchKey::Larger(n) => self.size(c)? > u64::from(*n),
            SearchKey::Smaller(n) => self.size(c)? < u64::from(*n),
            SearchKey::Before(d) => internal_day(c.msg) < day_of(d),
            SearchKey::On(d) => internal_day(c.msg) == day_of(d),
            SearchKey::Since(d) => internal_day(c.msg) >= day_of(d),
            SearchKey::SentBefore(d) => self.sent_day(c)?.is_some_and(|x| x < day_of(d)),
            SearchKey::SentOn(d) => self.sent_day(c)?.is_some_and(|x| x == day_of(d)),
            SearchKey::SentSince(d) => self.sent_day(c)?.is_some_and(|x| x >= day_of(d)),
            SearchKey::Bcc(v) => header_has(self, c, "Bcc", v.as_ref())?,
            SearchKey::Cc(v) => header_has(self, c, "Cc", v.as_ref())?,
            SearchKey::From(v) => header_has(self, c, "From", v.as_ref())?,
            SearchKey::To(v) => header_has(self, c, "To", v.as_ref())?,
            SearchKey::Subject(v) => header_has(self, c, "Subject", v.as_ref())?,
            SearchKey::Header(name, v) => {
                let name = String::from_utf8_lossy(name.as_ref()).into_owned();
                header_has(self, c, &name, v.as_ref())?
            }
            SearchKey::Body(v) => {
                Message::parse(self.content(c)?).matches_body(&String::from_utf8_lossy(v.as_ref()))
            }
            SearchKey::Text(v) => {
                Message::parse(self.content(c)?).matches_text(&String::from_utf8_lossy(v.as_ref()))
            }
            SearchKey::ModSequence { modseq, .. } => c.msg.modseq >= *modseq,
        })
    }

    fn is_recent(&self, uid: u32) -> bool {
        self.selected
            .as_ref()
            .is_some_and(|s| s.recent.contains(&uid))
    }

    fn size(&self, c: &mut Candidate<'_>) -> Result<u64, MailError> {
        match c.msg.vsize {
            Some(v) => Ok(v),
            None => Ok(u64::from(
                Message::parse(self.content(c)?)
                    .rfc822_size()
                    .unwrap_or(u32::MAX),
            )),
        }
    }

    fn sent_day(&self, c: &mut Candidate<'_>) -> Result<Option<i64>, MailError> {
        let content = self.content(c)?;
        Ok(Message::parse(content).sent_date().map(|d| {
            let (y, m, day) = d.date();
            wire::days_from_civil(i64::from(y), u32::from(m), u32::from(day))
        }))
    }
}

fn has_modseq(key: &SearchKey<'_>) -> bool {
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(has_modseq),
        SearchKey::Or(a, b) => has_modseq(a) || has_modseq(b),
        SearchKey::Not(k) => has_modseq(k),
        _ => false,
    }
}

fn is_known_charset(c: &Charset<'_>) -> bool {
    let name = c.as_ref();
    ["UTF-8", "US-ASCII", "UTF8"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// Days since 1970-01-01 of the internal date (UTC).
fn internal_day(m: &MessageInfo) -> i64 {
    m.internal_date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs() / 86_400).unwrap_or(0))
}

/// Days since 1970-01-01 of a search date (its Debug form is `YYYY-MM-DD`).
fn day_of(date: &imap_codec::imap_types::datetime::NaiveDate) -> i64 {
    let text = format!("{date:?}");
    let mut parts = text.split('-').map(|p| p.parse::<i64>().unwrap_or(1));
    let (y, m, d) = (
        parts.next().unwrap_or(1970),
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(1),
    );
    wire::days_from_civil(
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Number(i64),
    Text(String),
}

fn sort_value(key: &SortKey, msg: &MessageInfo, parsed: &Message<'_>) -> SortValue {
    match key {
        SortKey::Arrival => SortValue::Number(arrival(msg)),
        SortKey::Size => SortValue::Number(i64::from(
            msg.vsize
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or_else(|| parsed.rfc822_size().unwrap_or(u32::MAX)),
        )),
        // RFC 5256: a missing or unparsable Date sorts by the internal date.
        SortKey::Date => SortValue::Number(
            parsed
                .sent_date()
                .map_or_else(|| arrival(msg), |d| d.timestamp()),
        ),
        // The keys Dovecot builds (checked against Dovecot's SORT replies in the message
        // crate): base subject and addresses in its folded form, DISPLAYFROM/DISPLAYTO on
        // the display name.
        SortKey::Subject => SortValue::Text(parsed.sort_key(SortField::Subject)),
        SortKey::From => SortValue::Text(parsed.sort_key(SortField::From)),
        SortKey::DisplayFrom => SortValue::Text(parsed.sort_key(SortField::DisplayFrom)),
        SortKey::To => SortValue::Text(parsed.sort_key(SortField::To)),
        SortKey::DisplayTo => SortValue::Text(parsed.sort_key(SortField::DisplayTo)),
        SortKey::Cc => SortValue::Text(parsed.sort_key(SortField::Cc)),
    }
}

fn arrival(msg: &MessageInfo) -> i64 {
    msg.internal_date
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}
