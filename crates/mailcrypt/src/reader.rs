//! A checked cursor over untrusted bytes (the shape of rustls's `codec::Reader`).
//!
//! Every read returns `None` instead of panicking when the input is too short, so the format
//! parsers never index into input directly.

/// Cursor over a byte slice; reads advance it.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    pub(crate) fn u16be(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes(b.try_into().ok()?))
    }

    pub(crate) fn u32be(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes(b.try_into().ok()?))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A `u32be` length followed by that many bytes.
    pub(crate) fn u32_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32be()?).ok()?;
        self.take(n)
    }

    /// A `u16be` length followed by that many bytes.
    pub(crate) fn u16_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16be()?);
        self.take(n)
    }
}
