//! Numbered fault points for crash tests.
//!
//! Each operation calls [`point`] between its durable steps (and around each message it
//! rewrites). Built with the `fault-injection` feature, `TRESOR_FAULT_AT=<op>:<n>` makes the
//! n-th call for `<op>` abort the process on the spot (SIGABRT: no destructors, no flushing),
//! which is what a crash or a SIGKILL does to the files. Without the feature [`point`] does
//! nothing and the environment is never read.

#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicU32, Ordering};

#[cfg(feature = "fault-injection")]
static STEPS: AtomicU32 = AtomicU32::new(0);

/// A fault point of operation `op` (`passwd`, `reset`, `rotate`, `encrypt`, `decrypt`, …).
pub fn point(op: &str) {
    #[cfg(feature = "fault-injection")]
    {
        let Ok(spec) = std::env::var("TRESOR_FAULT_AT") else {
            return;
        };
        let Some((target, n)) = spec.split_once(':') else {
            return;
        };
        if target != op {
            return;
        }
        let step = STEPS.fetch_add(1, Ordering::SeqCst).saturating_add(1);
        if n.parse::<u32>().ok() == Some(step) {
            eprintln!("tresor: fault injected at {op}:{step}");
            std::process::abort();
        }
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = op;
}
