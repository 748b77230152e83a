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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    /// Feeds leads arriving at `arrivals` (offsets, sorted) to a default pacer the way the
    /// worker would, moving time by hand. Returns each send as (time, leads in it), and
    /// checks on the way that no lead waited longer than the window.
    fn simulate(arrivals: &[Duration]) -> Vec<(Duration, usize)> {
        let start = Instant::now();
        let mut pacer = Pacer::default();
        let mut upcoming: VecDeque<Duration> = arrivals.iter().copied().collect();
        let mut waiting: VecDeque<Duration> = VecDeque::new();
        let mut sends = Vec::new();
        let mut now = Duration::ZERO;
        loop {
            while upcoming.front().is_some_and(|&a| a <= now) {
                waiting.extend(upcoming.pop_front());
            }
            let taken = match pacer.next(start + now, waiting.len()) {
                Plan::Idle => match upcoming.front() {
                    Some(&next) => {
                        now = next;
                        continue;
                    }
                    None => break,
                },
                Plan::SendOne => 1,
                Plan::SendDigest(n) => {
                    assert!(n >= 2 && n <= waiting.len(), "digest of {n}");
                    n
                }
                Plan::WaitUntil(at) => {
                    let at = at - start;
                    assert!(at > now, "waits for a moment already past");
                    now = upcoming.front().map_or(at, |&next| next.min(at));
                    continue;
                }
            };
            for arrived in waiting.drain(..taken) {
                assert!(now - arrived <= WINDOW, "a lead waited {:?}", now - arrived);
            }
            sends.push((now, taken));
        }
        assert!(waiting.is_empty());
        sends
    }

    fn most_in_any_window(sends: &[(Duration, usize)]) -> usize {
        sends
            .iter()
            .map(|&(from, _)| {
                sends
                    .iter()
                    .filter(|&&(at, _)| at >= from && at < from + WINDOW)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_burst_of_30_is_19_messages_and_a_digest_of_11() {
        let sends = simulate(&[Duration::ZERO; 30]);
        assert_eq!(sends.len(), 20);
        assert!(
            sends[..19]
                .iter()
                .all(|&(at, n)| at == Duration::ZERO && n == 1)
        );
        assert_eq!(sends[19], (Duration::ZERO, 11));
        assert_eq!(sends.iter().map(|s| s.1).sum::<usize>(), 30);
        assert_eq!(most_in_any_window(&sends), MAX_PER_WINDOW);
    }

    #[test]
    fn twenty_leads_are_twenty_messages() {
        let sends = simulate(&[Duration::ZERO; 20]);
        assert_eq!(sends.len(), 20);
        assert!(sends.iter().all(|&(_, n)| n == 1));
    }

    #[test]
    fn after_a_spent_minute_the_next_leads_wait_for_the_first_slot_to_free() {
        let mut pacer = Pacer::default();
        let start = Instant::now();
        for _ in 0..20 {
            assert_eq!(pacer.next(start, 1), Plan::SendOne);
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(pacer.next(later, 3), Plan::WaitUntil(start + WINDOW));
        assert_eq!(pacer.next(later, 0), Plan::Idle);
        // All 20 slots free at once: the three waiting go one by one.
        for _ in 0..3 {
            assert_eq!(pacer.next(start + WINDOW, 3), Plan::SendOne);
        }
    }

    #[test]
    fn a_steady_stream_over_the_limit_is_folded_as_slots_free() {
        // One lead every 2 s for 5 minutes: 30 a minute against a limit of 20.
        let arrivals: Vec<Duration> = (0..150).map(|i| Duration::from_secs(2 * i)).collect();
        let sends = simulate(&arrivals);
        assert!(most_in_any_window(&sends) <= MAX_PER_WINDOW);
        assert!(sends.iter().any(|&(_, n)| n > 1));
        assert_eq!(sends.iter().map(|s| s.1).sum::<usize>(), 150);
    }

    #[test]
    fn a_limit_of_one_digests_everything_waiting() {
        let mut pacer = Pacer::new(1, WINDOW);
        let start = Instant::now();
        assert_eq!(pacer.next(start, 5), Plan::SendDigest(5));
        assert_eq!(pacer.next(start, 1), Plan::WaitUntil(start + WINDOW));
        assert_eq!(pacer.next(start + WINDOW, 1), Plan::SendOne);
    }

    proptest! {
        /// Whatever the arrivals: never more than 20 sends in any 60 s, every lead in
        /// exactly one send, none waiting more than the window (checked in `simulate`).
        #[test]
        fn any_arrivals_respect_the_limit(mut offsets in prop::collection::vec(0u64..300_000, 0..200)) {
            offsets.sort_unstable();
            let arrivals: Vec<Duration> = offsets.iter().map(|&ms| Duration::from_millis(ms)).collect();
            let sends = simulate(&arrivals);
            prop_assert!(most_in_any_window(&sends) <= MAX_PER_WINDOW);
            prop_assert_eq!(sends.iter().map(|s| s.1).sum::<usize>(), arrivals.len());
        }
    }
}
