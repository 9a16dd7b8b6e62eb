//! Small writers for the parts of responses the session formats itself: strings, mailbox
//! names, flag lists, dates, sets.

use std::time::{SystemTime, UNIX_EPOCH};

use store::flags::{Flags, SystemFlag};

/// An IMAP string: quoted when every byte is printable ASCII, else a literal.
pub(crate) fn string(out: &mut Vec<u8>, value: &[u8]) {
    let quotable = value.len() < 1024 && value.iter().all(|&b| (0x20..0x7f).contains(&b));
    if quotable {
        out.push(b'"');
        for &b in value {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, value);
    }
}

/// A literal `{n}\r\n<bytes>`.
pub(crate) fn literal(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", value.len()).as_bytes());
    out.extend_from_slice(value);
}

/// A mailbox name as sent on the wire (modified UTF-7; an atom when it can be, else quoted).
pub(crate) fn mailbox(out: &mut Vec<u8>, name: &str) {
    let encoded = if name == "INBOX" {
        name.to_string()
    } else {
        store::mutf7::encode(name)
    };
    let atom = !encoded.is_empty()
        && encoded.bytes().all(|b| {
            (0x21..0x7f).contains(&b)
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        });
    if atom {
        out.extend_from_slice(encoded.as_bytes());
    } else {
        string(out, encoded.as_bytes());
    }
}

/// `(\Seen \Flagged kw)`.
pub(crate) fn flag_list(flags: &Flags, recent: bool) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for flag in [
        SystemFlag::Answered,
        SystemFlag::Flagged,
        SystemFlag::Deleted,
        SystemFlag::Seen,
        SystemFlag::Draft,
    ] {
        if flags.contains(flag) {
            parts.push(flag.imap_name());
        }
    }
    if recent {
        parts.push("\\Recent");
    }
    for k in flags.keywords() {
        parts.push(k);
    }
    format!("({})", parts.join(" "))
}

/// `"17-Jul-1996 02:44:25 +0000"` (INTERNALDATE, in UTC).
pub(crate) fn internal_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    let month = MONTHS
        .get(usize::try_from(m.saturating_sub(1)).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "\"{d:02}-{month}-{y:04} {:02}:{:02}:{:02} +0000\"",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31) (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A compact UID set `1:3,7` of ascending-or-not values (order kept, runs merged).
pub(crate) fn uid_set(values: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while let Some(&start) = values.get(i) {
        let mut end = start;
        while values.get(i + 1) == Some(&(end + 1)) {
            end += 1;
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(837_571_465);
        assert_eq!(internal_date(t), "\"17-Jul-1996 02:44:25 +0000\"");
        assert_eq!(days_from_civil(1996, 7, 17), 837_571_465 / 86_400);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn sets_and_strings() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        let mut out = Vec::new();
        string(&mut out, b"a\"b");
        assert_eq!(out, b"\"a\\\"b\"");
        out.clear();
        string(&mut out, "ü".as_bytes());
        assert_eq!(out, b"{2}\r\n\xc3\xbc");
    }
}
