//! A test seam shared by the settings and the store: commits that fail or stall on
//! demand, as they would on a full, broken or stalled disk. Off unless a test turns it on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Test seam: while on, every commit fails as it would on a full or broken disk (the
/// transaction is aborted and its requests are answered 503).
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch(Arc<Faults>);

#[derive(Debug, Default)]
struct Faults {
    fail: AtomicBool,
    stall: AtomicBool,
}

impl FaultSwitch {
    pub fn fail_commits(&self, on: bool) {
        self.0.fail.store(on, Ordering::SeqCst);
    }

    /// While on, the writer holds its next batch uncommitted, as a stalled disk would.
    pub fn stall_commits(&self, on: bool) {
        self.0.stall.store(on, Ordering::SeqCst);
    }

    pub(crate) fn is_on(&self) -> bool {
        self.0.fail.load(Ordering::SeqCst)
    }

    pub(crate) fn wait_while_stalled(&self) {
        while self.0.stall.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
