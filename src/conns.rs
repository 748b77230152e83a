//! Per-connection bookkeeping for the accept loop: how many connections each client
//! address holds open, and whether a connection has a request in flight (for the idle close).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Open connections per client address, with a cap. Only addresses with at least one open
/// connection have an entry, so memory is bounded by the connection cap, not by how many
/// addresses ever connected.
#[derive(Debug)]
pub struct PerAddress {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    pub fn new(cap: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            cap,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it already holds `cap`.
    /// The slot is given back when dropped.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        // An IPv4 client reaching a dual-stack listener appears as ::ffff:a.b.c.d; it is the
        // same client as a.b.c.d.
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Addresses with an entry (for tests of the memory bound).
    pub fn tracked(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One open connection counted against its address.
#[derive(Debug)]
pub struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Whether a connection is in use: requests in flight, and since when it has had none.
/// hyper has no idle timeout for HTTP/2 (its keep-alive PINGs only detect dead peers, and a
/// peer that answers them stays open for ever), so the accept loop closes a connection
/// itself once it has had no request for the idle timeout.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<ActivityState>,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    idle_since: Instant,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
            }),
        })
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.lock().in_flight += 1;
        InFlight {
            activity: self.clone(),
        }
    }

    /// When the connection becomes idle for `timeout`, or `None` while a request is in
    /// flight (the time then starts again when the last one ends).
    pub fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        let state = self.lock();
        (state.in_flight == 0).then(|| state.idle_since + timeout)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request in flight on a connection.
#[derive(Debug)]
pub struct InFlight {
    activity: Arc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.activity.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_per_address_and_entries_go_at_zero() {
        let table = PerAddress::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = table.try_acquire(a).unwrap();
        let second = table.try_acquire(a).unwrap();
        assert!(table.try_acquire(a).is_none(), "a third from one address");
        // The IPv4-mapped form is the same client.
        assert!(
            table
                .try_acquire("::ffff:192.0.2.1".parse().unwrap())
                .is_none()
        );
        let other = table.try_acquire(b).unwrap();
        assert_eq!(table.tracked(), 2);
        drop(first);
        let again = table.try_acquire(a).expect("a slot given back is usable");
        drop((second, again, other));
        assert_eq!(
            table.tracked(),
            0,
            "no entry is kept for an address at zero"
        );
    }

    #[test]
    fn idle_time_counts_from_the_last_request() {
        let timeout = Duration::from_secs(60);
        let before = Instant::now();
        let activity = Activity::new();
        let opened = activity.idle_deadline(timeout).expect("idle when opened");
        assert!(opened >= before + timeout && opened <= Instant::now() + timeout);
        let one = activity.begin();
        let two = activity.begin();
        assert_eq!(activity.idle_deadline(timeout), None);
        drop(one);
        assert_eq!(activity.idle_deadline(timeout), None, "one still in flight");
        std::thread::sleep(Duration::from_millis(20));
        let ending = Instant::now();
        drop(two);
        let after = activity.idle_deadline(timeout).expect("idle again");
        assert!(
            after >= ending + timeout && after <= Instant::now() + timeout,
            "the idle time restarts when the last request ends"
        );
        assert!(after > opened);
    }
}
