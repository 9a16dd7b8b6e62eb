//! One result row, reduced to what the three databases have in common (integer, text, bytes,
//! NULL), and the Dovecot fields tresor reads from it. Column names are compared
//! case-insensitively; the crate docs list the columns and what each may hold.

use crate::{Address, User, UserDbError};

/// A column value, whatever its SQL type was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    Bytes(Vec<u8>),
    Int(i64),
    Null,
    Text(String),
}

/// A result row: lowercased column names and their values, in query order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) cols: Vec<(String, Cell)>,
}

impl Record {
    /// The first non-NULL column among `names`, with the name it was found under.
    pub(crate) fn get<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a Cell)> {
        names.iter().find_map(|name| {
            self.cols
                .iter()
                .find(|(col, cell)| col == name && *cell != Cell::Null)
                .map(|(_, cell)| (*name, cell))
        })
    }

    /// Whether any column is called `name`, NULL or not.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.cols.iter().any(|(col, _)| col == name)
    }

    /// Text of a column (numbers are written out; bytes must be UTF-8).
    pub(crate) fn text(&self, names: &[&str]) -> Result<Option<String>, UserDbError> {
        let Some((column, cell)) = self.get(names) else {
            return Ok(None);
        };
        match cell {
            Cell::Text(text) => Ok(Some(text.clone())),
            Cell::Int(n) => Ok(Some(n.to_string())),
            Cell::Bytes(bytes) => String::from_utf8(bytes.clone())
                .map(Some)
                .map_err(|_| bad(column, "is not valid UTF-8".to_owned())),
            Cell::Null => Ok(None),
        }
    }

    /// A non-negative integer column at most `max` (text holding digits is accepted).
    pub(crate) fn unsigned(&self, names: &[&str], max: u64) -> Result<Option<u64>, UserDbError> {
        let Some((column, cell)) = self.get(names) else {
            return Ok(None);
        };
        let value = match cell {
            Cell::Int(n) => {
                u64::try_from(*n).map_err(|_| bad(column, format!("{n} is negative")))?
            }
            Cell::Text(_) | Cell::Bytes(_) => {
                let text = self.text(&[column])?.unwrap_or_default();
                text.trim().parse::<u64>().map_err(|_| {
                    bad(
                        column,
                        format!("{:?} is not a non-negative number", clip(&text)),
                    )
                })?
            }
            Cell::Null => return Ok(None),
        };
        if value > max {
            return Err(bad(column, format!("{value} is larger than {max}")));
        }
        Ok(Some(value))
    }

    /// Fills the columns this record lacks from `other` (user query first, then what the
    /// password query returned, like Dovecot's prefetch).
    pub(crate) fn fill_from(&mut self, other: &Self) {
        for (name, cell) in &other.cols {
            if name != "password" && self.get(&[name.as_str()]).is_none() {
                self.cols.push((name.clone(), cell.clone()));
            }
        }
    }

    /// The [`User`] this row describes; `fallback` names the user when there is no `user`
    /// column, `default_crypt` applies when there is no crypt column.
    pub(crate) fn user(&self, fallback: &Address, default_crypt: u8) -> Result<User, UserDbError> {
        let email = match self.text(&["user"])? {
            Some(text) => Address::parse(&text)
                .map_err(|e| bad("user", e.to_string()))?
                .as_str()
                .to_owned(),
            None => fallback.as_str().to_owned(),
        };
        let quota = match self.unsigned(&["quota", "userdb_quota"], i64::MAX as u64)? {
            Some(bytes) => bytes,
            None => match self.text(&["quota_rule", "userdb_quota_rule"])? {
                Some(rule) => {
                    parse_quota_rule(&rule).map_err(|reason| bad("quota_rule", reason))?
                }
                None => 0,
            },
        };
        let crypt = match self.unsigned(
            &[
                "crypt",
                "mail_crypt_save_version",
                "userdb_mail_crypt_save_version",
            ],
            u64::from(u8::MAX),
        )? {
            Some(n) => u8::try_from(n).unwrap_or(u8::MAX),
            None => default_crypt,
        };
        let home = self
            .text(&["home", "userdb_home"])?
            .filter(|h| !h.is_empty());
        let id = |names: &[&str]| -> Result<Option<u32>, UserDbError> {
            match self.unsigned(names, u64::from(u32::MAX)) {
                Ok(n) => Ok(n.and_then(|n| u32::try_from(n).ok())),
                Err(UserDbError::BadColumn { column, reason }) => Err(UserDbError::BadColumn {
                    column,
                    reason: format!("{reason} (tresor needs a numeric id, not a user name)"),
                }),
                Err(e) => Err(e),
            }
        };
        Ok(User {
            email,
            quota,
            crypt,
            home,
            uid: id(&["uid", "userdb_uid"])?,
            gid: id(&["gid", "userdb_gid"])?,
        })
    }
}

/// Reads a Dovecot `quota_rule` for all mailboxes (`*:bytes=N`, `*:storage=N` in KiB, either
/// with an optional `B`/`K`/`M`/`G`/`T` suffix) as a byte limit; 0 means unlimited. Message
/// limits and `ignore`/`noenforcing` flags are skipped; per-mailbox, relative and percentage
/// rules are refused.
pub fn parse_quota_rule(rule: &str) -> Result<u64, String> {
    let rule = rule.trim();
    let Some((mailbox, limits)) = rule.split_once(':') else {
        return Err(format!(
            "{:?} is not a quota rule; expected *:bytes=N or *:storage=N",
            clip(rule)
        ));
    };
    if mailbox != "*" {
        return Err(format!(
            "per-mailbox rule {:?}: tresor only reads '*' rules",
            clip(rule)
        ));
    }
    let mut bytes = None;
    for limit in limits.split(':').filter(|l| !l.is_empty()) {
        let (key, value) = limit.split_once('=').unwrap_or((limit, ""));
        let unit = match key.to_ascii_lowercase().as_str() {
            "bytes" => 1,
            "storage" => 1024,
            "messages" | "ignore" | "noenforcing" | "backend" => continue,
            _ => return Err(format!("unknown quota limit {:?}", clip(limit))),
        };
        bytes = Some(parse_size(value, unit)?);
    }
    bytes.ok_or_else(|| format!("{:?} sets no bytes= or storage= limit", clip(rule)))
}

/// `N` times `default_unit`, or `N` with a `B`/`K`/`M`/`G`/`T` suffix (Dovecot's
/// `quota_limit_parse()`).
fn parse_size(value: &str, default_unit: u64) -> Result<u64, String> {
    let value = value.trim();
    if value.starts_with(['+', '-']) || value.ends_with('%') {
        return Err(format!(
            "relative or percentage limit {:?} is not supported",
            clip(value)
        ));
    }
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(digits_end);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{:?} is not a size", clip(value)))?;
    let unit: u64 = match suffix.to_ascii_uppercase().as_str() {
        "" => default_unit,
        "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(format!("unknown size unit in {:?}", clip(value))),
    };
    n.checked_mul(unit)
        .filter(|b| i64::try_from(*b).is_ok())
        .ok_or_else(|| format!("{:?} is too large", clip(value)))
}

fn bad(column: &str, reason: String) -> UserDbError {
    UserDbError::BadColumn {
        column: column.to_owned(),
        reason,
    }
}

/// At most 64 characters of a database value for an error message.
fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cols: &[(&str, Cell)]) -> Record {
        Record {
            cols: cols
                .iter()
                .map(|(n, c)| ((*n).to_owned(), c.clone()))
                .collect(),
        }
    }

    #[test]
    fn quota_rules_in_dovecot_syntax() {
        for (rule, bytes) in [
            ("*:bytes=0", 0),
            ("*:bytes=1073741824", 1 << 30),
            ("*:storage=1024", 1 << 20),
            ("*:storage=1G", 1 << 30),
            ("*:bytes=10M", 10 << 20),
            ("*:storage=512k:messages=1000", 512 << 10),
            ("*:messages=10:bytes=2T", 2 << 40),
            ("*:bytes=100b", 100),
            (" *:bytes=5 ", 5),
        ] {
            assert_eq!(parse_quota_rule(rule), Ok(bytes), "{rule}");
        }
        for (rule, needle) in [
            ("bytes=5", "not a quota rule"),
            ("Trash:storage=+100M", "per-mailbox"),
            ("*:storage=+100M", "relative"),
            ("*:storage=10%", "percentage"),
            ("*:bytes=ten", "not a size"),
            ("*:bytes=5Q", "unit"),
            ("*:bytes=99999999999T", "too large"),
            ("*:messages=10", "no bytes="),
            ("*:frobs=1", "unknown quota limit"),
        ] {
            let err = parse_quota_rule(rule).unwrap_err();
            assert!(err.contains(needle), "{rule}: {err}");
        }
    }

    #[test]
    fn user_fields_from_dovecot_style_columns() {
        let fallback = Address::parse("p521@example.org").unwrap();
        let rec = record(&[
            ("user", Cell::Text("p521@example.org".into())),
            ("quota_rule", Cell::Text("*:bytes=4096".into())),
            ("home", Cell::Text("/var/vmail/example.org/p521".into())),
            ("uid", Cell::Int(5000)),
            ("gid", Cell::Text("5000".into())),
            ("mail_crypt_save_version", Cell::Int(2)),
        ]);
        let user = rec.user(&fallback, 0).unwrap();
        assert_eq!(
            user,
            User {
                email: "p521@example.org".into(),
                quota: 4096,
                crypt: 2,
                home: Some("/var/vmail/example.org/p521".into()),
                uid: Some(5000),
                gid: Some(5000),
            }
        );
        // `quota` wins over `quota_rule`; absent fields take the defaults.
        let rec = record(&[
            ("quota", Cell::Int(7)),
            ("quota_rule", Cell::Text("*:bytes=9".into())),
            ("home", Cell::Null),
        ]);
        let user = rec.user(&fallback, 2).unwrap();
        assert_eq!(
            (user.email.as_str(), user.quota, user.crypt),
            ("p521@example.org", 7, 2)
        );
        assert_eq!((user.home, user.uid, user.gid), (None, None, None));
    }

    #[test]
    fn unusable_values_name_their_column() {
        let fallback = Address::parse("a@b.c").unwrap();
        for (col, cell, needle) in [
            ("quota", Cell::Int(-1), "negative"),
            ("crypt", Cell::Int(300), "larger"),
            ("uid", Cell::Text("vmail".into()), "numeric id"),
            ("gid", Cell::Int(1 << 40), "larger"),
            (
                "user",
                Cell::Text("not an address".into()),
                "invalid mail address",
            ),
            ("quota_rule", Cell::Text("*:storage=+1G".into()), "relative"),
            ("home", Cell::Bytes(vec![0xff]), "UTF-8"),
        ] {
            let err = record(&[(col, cell)]).user(&fallback, 2).unwrap_err();
            let UserDbError::BadColumn { column, reason } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(column, col);
            assert!(reason.contains(needle), "{col}: {reason}");
        }
    }

    #[test]
    fn fill_from_keeps_existing_and_skips_password() {
        let mut user_row = record(&[("quota", Cell::Int(1)), ("crypt", Cell::Null)]);
        let pass_row = record(&[
            ("password", Cell::Text("{PLAIN}x".into())),
            ("quota", Cell::Int(2)),
            ("crypt", Cell::Int(0)),
        ]);
        user_row.fill_from(&pass_row);
        assert_eq!(user_row.get(&["quota"]).unwrap().1, &Cell::Int(1));
        assert_eq!(user_row.get(&["crypt"]).unwrap().1, &Cell::Int(0));
        assert!(user_row.get(&["password"]).is_none());
        assert!(user_row.has("crypt"));
    }
}
