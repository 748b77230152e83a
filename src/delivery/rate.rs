//! Pacing for one chat robot: at most 20 messages in any minute (WeCom and DingTalk refuse
//! more, and a group flooded with cards is read by no one). When the quota would run out
//! with leads still waiting, the last message of the minute is a digest of all of them, so
//! a burst reaches the group at once rather than a minute later, and no lead waits longer
//! than the minute for a free slot.
//!
//! The clock is a parameter: the worker passes `Instant::now()`, tests move time by hand.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Messages one robot may get in any [`WINDOW`].
pub const MAX_PER_WINDOW: usize = 20;
pub const WINDOW: Duration = Duration::from_secs(60);

/// What to do now for a robot with waiting messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Nothing is waiting.
    Idle,
    /// Send the oldest waiting message on its own.
    SendOne,
    /// Send the oldest `n` waiting messages as one digest (`n` ≥ 2).
    SendDigest(usize),
    /// The quota is spent; ask again at this instant.
    WaitUntil(Instant),
}

/// The sends of one robot in the last window. Every send counts, delivered or not: the
/// platforms count requests, and a retry storm must not get the robot throttled too.
#[derive(Debug, Clone)]
pub struct Pacer {
    limit: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new(MAX_PER_WINDOW, WINDOW)
    }
}

impl Pacer {
    /// At most `limit` (at least 1) sends in any `window`.
    pub fn new(limit: usize, window: Duration) -> Pacer {
        Pacer {
            limit: limit.max(1),
            window,
            sent: VecDeque::with_capacity(limit),
        }
    }

    /// The plan for `waiting` messages at `now`. A `SendOne` or `SendDigest` takes a slot
    /// at `now`, so call this once per send and send what it says.
    pub fn next(&mut self, now: Instant, waiting: usize) -> Plan {
        if waiting == 0 {
            return Plan::Idle;
        }
        while self.sent.front().is_some_and(|&at| at + self.window <= now) {
            self.sent.pop_front();
        }
        if let Some(&oldest) = self.sent.front().filter(|_| self.sent.len() >= self.limit) {
            return Plan::WaitUntil(oldest + self.window);
        }
        let last_slot = self.sent.len() + 1 == self.limit;
        self.sent.push_back(now);
        if last_slot && waiting > 1 {
            Plan::SendDigest(waiting)
        } else {
            Plan::SendOne
        }
    }
}
