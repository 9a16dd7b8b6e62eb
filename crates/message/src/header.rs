//! Header blocks: split into fields, find fields by name, unfold values.

/// One header field inside a header block, as byte offsets into the whole message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// Offset of the first byte of the field name.
    pub(crate) start: usize,
    /// Offset just past the colon (or `end` when the line has no colon).
    pub(crate) value_start: usize,
    /// Offset just past the field's last line end (its terminating LF included).
    pub(crate) end: usize,
    /// Offset of the end of the field name (before any whitespace and the colon).
    pub(crate) name_end: usize,
}

impl Field {
    /// The field name.
    pub(crate) fn name<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        raw.get(self.start..self.name_end).unwrap_or_default()
    }

    /// True when the name equals `name`, ignoring ASCII case.
    pub(crate) fn is(&self, raw: &[u8], name: &str) -> bool {
        self.name(raw).eq_ignore_ascii_case(name.as_bytes())
    }

    /// The raw value: after the colon, without the final line end, folds kept.
    pub(crate) fn raw_value<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        let mut end = self.end;
        if end > self.value_start && raw.get(end - 1) == Some(&b'\n') {
            end -= 1;
            if end > self.value_start && raw.get(end - 1) == Some(&b'\r') {
                end -= 1;
            }
        }
        raw.get(self.value_start..end).unwrap_or_default()
    }
}

/// Iterates over the fields of `raw[start..end]` (a header block, blank line included or not).
pub(crate) fn fields(raw: &[u8], start: usize, end: usize) -> Fields<'_> {
    Fields {
        raw,
        pos: start,
        end: end.min(raw.len()),
    }
}

/// Iterator returned by [`fields`].
pub(crate) struct Fields<'a> {
    raw: &'a [u8],
    pos: usize,
    end: usize,
}

impl Iterator for Fields<'_> {
    type Item = Field;

    fn next(&mut self) -> Option<Field> {
        let raw = self.raw;
        loop {
            if self.pos >= self.end {
                return None;
            }
            let start = self.pos;
            let line_end = line_end_of(raw, start, self.end);
            // The blank line ends the block.
            let line = raw.get(start..line_end).unwrap_or_default();
            if line == b"\n" || line == b"\r\n" {
                self.pos = self.end;
                return None;
            }
            // Continuation lines: take them as long as they start with SP or HTAB.
            let mut end = line_end;
            while end < self.end && matches!(raw.get(end), Some(b' ' | b'\t')) {
                end = line_end_of(raw, end, self.end);
            }
            self.pos = end;
            // A stray continuation line at the start of the block: skip it.
            if matches!(raw.get(start), Some(b' ' | b'\t')) {
                continue;
            }
            let colon = raw
                .get(start..end)
                .and_then(|s| s.iter().position(|b| *b == b':'))
                .map(|p| start + p);
            let (name_end, value_start) = match colon {
                Some(c) => {
                    let mut n = c;
                    while n > start && matches!(raw.get(n - 1), Some(b' ' | b'\t')) {
                        n -= 1;
                    }
                    (n, c + 1)
                }
                None => (start, end),
            };
            return Some(Field {
                start,
                value_start,
                end,
                name_end,
            });
        }
    }
}

/// Offset just past the next LF at or after `pos`, bounded by `end`.
pub(crate) fn line_end_of(raw: &[u8], pos: usize, end: usize) -> usize {
    raw.get(pos..end)
        .and_then(|s| s.iter().position(|b| *b == b'\n'))
        .map_or(end, |p| pos + p + 1)
}

/// Dovecot's value clean-up for ENVELOPE/BODYSTRUCTURE strings: leading whitespace
/// dropped, CR and LF removed (a space put in when the next line does not start with
/// whitespace), NUL turned into U+FFFD (`message_header_strdup`).
pub(crate) fn clean_value(value: &[u8]) -> Vec<u8> {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let v = value.get(start..).unwrap_or_default();
    let mut out = Vec::with_capacity(v.len());
    for (i, b) in v.iter().enumerate() {
        match *b {
            b'\r' | b'\n' => {
                let next = v.get(i + 1).copied();
                if !matches!(next, Some(b' ' | b'\t' | b'\r' | b'\n') | None) {
                    out.push(b' ');
                }
            }
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            other => out.push(other),
        }
    }
    out
}

/// Unfolds a raw value for searching: CR/LF removed, leading whitespace dropped.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = value
        .iter()
        .copied()
        .filter(|b| *b != b'\r' && *b != b'\n')
        .collect();
    let lead = out
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(out.len());
    out.drain(..lead);
    out
}
