//! Input bytes waiting to be parsed into lines.

use zeroize::{Zeroize, Zeroizing};

use crate::error::ProtocolError;

/// Input bytes not parsed yet. Consumed bytes are zeroed (lines carry passwords), and the
/// buffer is only ever compacted in place, so no stray copy stays behind in spare capacity.
#[derive(Default)]
pub(crate) struct Input {
    buf: Zeroizing<Vec<u8>>,
    start: usize,
}

impl Input {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            let len = self.buf.len();
            self.buf.copy_within(self.start..len, 0);
            let kept = len - self.start;
            if let Some(stale) = self.buf.get_mut(kept..) {
                stale.zeroize();
            }
            self.buf.truncate(kept);
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < bytes.len() {
            // Grow by hand: `Vec`'s own growth would free the old allocation unwiped.
            let wanted = (self.buf.len() + bytes.len()).max(self.buf.capacity() * 2);
            let mut bigger = Vec::with_capacity(wanted);
            bigger.extend_from_slice(&self.buf);
            self.buf.zeroize();
            *self.buf = bigger;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next line without its LF (and a CR before it, as Dovecot's `i_stream_next_line`).
    pub(crate) fn next_line(
        &mut self,
        max: usize,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, ProtocolError> {
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let Some(lf) = pending.iter().position(|&b| b == b'\n') else {
            return if pending.len() >= max {
                Err(ProtocolError::LineTooLong { limit: max })
            } else {
                Ok(None)
            };
        };
        if lf >= max {
            return Err(ProtocolError::LineTooLong { limit: max });
        }
        let mut line = pending.get(..lf).unwrap_or_default();
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        let line = Zeroizing::new(line.to_vec());
        let end = self.start + lf + 1;
        if let Some(used) = self.buf.get_mut(self.start..end) {
            used.zeroize();
        }
        self.start = end;
        Ok(Some(line))
    }

    pub(crate) fn clear(&mut self) {
        self.buf.zeroize();
        self.start = 0;
    }
}
