//! Progress of long operations, reported to whoever drives them (a terminal bar in the CLI).

/// Receives progress: a total, then steps. Implementations must be cheap.
pub trait Progress {
    /// The number of messages the operation will look at.
    fn start(&self, total: u64);
    /// `n` more messages done.
    fn advance(&self, n: u64);
    /// The operation ended (successfully or not).
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total: u64) {}
    fn advance(&self, _n: u64) {}
}
