//! Relays: one task per destination delivers the outbox's events to it, in order, with
//! retries, never holding up another destination (API.md, "Delivery to other systems").
//!
//! The worker of a destination ([`worker`]) reads events after its own position, sends
//! them, and now and then stores its position as the destination's outbox cursor
//! together with its delivery record. A crash between a send and that store sends the
//! event again after the restart (at least once; the repeat carries the same id).
//! Reading runs on the blocking pool and writing through the store's writer, so no async
//! worker waits on redb.

mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::delivery::{self, Kind, OutgoingRequest};
use crate::destination::{DeliveryRecord, Destination, State, Status};
use crate::domain::LeadId;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::store::Store;

/// After each failed attempt, the wait before the next (API.md); after the last, the
/// destination is dead.
pub const RETRY_DELAYS: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// How much of a test's answer the API shows.
const TEST_BODY_BYTES: usize = 1024;

/// What every worker needs to know about this server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This node's id: the `node` of every event.
    pub node: String,
    /// Where console links in chat messages point.
    pub public_url: String,
    /// Waits between attempts (the contract's schedule; tests shorten it).
    pub retry_delays: Vec<Duration>,
    /// Chat robots get at most this many messages in any `chat_window`.
    pub chat_limit: usize,
    pub chat_window: Duration,
    /// Whether destinations may be on loopback or private networks (on-premises CRMs).
    pub allow_private: bool,
}

impl Settings {
    pub fn new(node: String, public_url: String, allow_private: bool) -> Settings {
        Settings {
            node,
            public_url,
            allow_private,
            retry_delays: RETRY_DELAYS.to_vec(),
            chat_limit: delivery::rate::MAX_PER_WINDOW,
            chat_window: delivery::rate::WINDOW,
        }
    }
}

/// The destinations' workers. Cheap to clone.
#[derive(Clone)]
pub struct Relays {
    shared: Arc<Shared>,
}

/// What the workers share with the API.
struct Shared {
    store: Store,
    settings: Settings,
    outbound: Outbound,
    metrics: Arc<Metrics>,
    workers: Mutex<HashMap<LeadId, worker::Handle>>,
    /// Set once `start` ran: before that (command-line tools), nothing is delivered.
    started: std::sync::atomic::AtomicBool,
}

/// What a test send got back.
#[derive(Debug, Clone, PartialEq)]
pub struct TestAnswer {
    pub status: Option<u16>,
    pub body: Option<String>,
    pub delivered: bool,
    pub error: Option<String>,
}

impl Relays {
    pub fn new(
        store: Store,
        settings: Settings,
        outbound: Outbound,
        metrics: Arc<Metrics>,
    ) -> Relays {
        Relays {
            shared: Arc::new(Shared {
                store,
                settings,
                outbound,
                metrics,
                workers: Mutex::new(HashMap::new()),
                started: Default::default(),
            }),
        }
    }

    pub fn allows_private(&self) -> bool {
        self.shared.settings.allow_private
    }

    /// Starts a worker for every stored destination. Their backlogs left by a crash are
    /// delivered from the stored cursors on.
    pub async fn start(&self) -> Result<()> {
        self.shared
            .started
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for stored in self.shared.store.destinations().await? {
            self.spawn(stored.destination, stored.record, stored.cursor);
        }
        Ok(())
    }

    /// Stops every worker after it has stored its progress.
    pub async fn stop(&self) {
        let handles: Vec<worker::Handle> = self.lock().drain().map(|(_, handle)| handle).collect();
        for handle in handles {
            handle.stop().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LeadId, worker::Handle>> {
        self.shared
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self, destination: Destination, record: DeliveryRecord, cursor: u64) {
        let id = destination.id;
        let handle = worker::spawn(self.shared.clone(), destination, record, cursor);
        if let Some(old) = self.lock().insert(id, handle) {
            old.abort();
        }
    }

    /// A destination was created: its worker starts at the current end of the outbox.
    pub fn added(&self, destination: Destination, cursor: u64) {
        if self.is_started() {
            self.spawn(destination, DeliveryRecord::default(), cursor);
        }
    }

    /// A destination was edited: its worker goes on with the new settings (and tries a
    /// waiting retry at once, since the edit may be the fix).
    pub fn changed(&self, destination: Destination) {
        if let Some(handle) = self.lock().get(&destination.id) {
            handle.reconfigure(destination);
        }
    }

    /// A destination was deleted: its worker stops without storing anything.
    pub fn removed(&self, id: LeadId) {
        if let Some(handle) = self.lock().remove(&id) {
            handle.abort();
        }
    }

    /// An erasure redacted waiting events: every worker drops what it read ahead (it may
    /// hold the person's details) and reads the events again.
    pub fn erased(&self) {
        for handle in self.lock().values() {
            handle.reread();
        }
    }

    /// `POST /api/destinations/{id}/retry`: a dead or waiting destination tries now.
    pub fn retry_now(&self, id: LeadId) {
        if let Some(handle) = self.lock().get(&id) {
            handle.retry_now();
        }
    }

    fn is_started(&self) -> bool {
        self.shared
            .started
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The destination's delivery now: the worker's live view when it runs, the stored
    /// one otherwise. `latest` is the outbox's latest sequence number.
    pub fn status(
        &self,
        destination: &Destination,
        stored: DeliveryRecord,
        cursor: u64,
        latest: u64,
    ) -> Status {
        let live = self.lock().get(&destination.id).map(worker::Handle::live);
        let (record, position, state, next_attempt_at) = match live {
            Some(live) => (live.record, live.position, live.state, live.next_attempt_at),
            None => {
                let state = if !destination.enabled {
                    State::Disabled
                } else if stored.dead {
                    State::Dead
                } else {
                    State::Ok
                };
                (stored, cursor, state, None)
            }
        };
        Status {
            record,
            state,
            backlog: latest.saturating_sub(position),
            next_attempt_at,
        }
    }

    /// Events not yet delivered, summed by kind, for `/metrics`.
    pub async fn backlog_by_kind(&self) -> Result<Vec<(Kind, u64)>> {
        let latest = self.shared.store.latest_event().await?;
        let mut sums: Vec<(Kind, u64)> = Kind::ALL.iter().map(|&k| (k, 0)).collect();
        for handle in self.lock().values() {
            let live = handle.live();
            if let Some(sum) = sums.iter_mut().find(|(k, _)| *k == live.kind) {
                sum.1 += latest.saturating_sub(live.position);
            }
        }
        Ok(sums)
    }

    /// Sends one `test` event to `destination` at once, outside its queue and pacing.
    pub async fn send_test(&self, destination: &Destination) -> TestAnswer {
        let now = jiff::Timestamp::now();
        let event = json!({
            "id": LeadId::generate(),
            "type": "test",
            "occurred_at": crate::lead::format_timestamp(now),
            "node": self.shared.settings.node,
            "data": {"message": "leadgate test"},
        });
        let chat = destination
            .kind
            .is_chat()
            .then(delivery::chat::test_message);
        let request = match delivery::request(
            destination.kind,
            &destination.url,
            destination.secret.as_deref(),
            &event,
            chat.as_ref(),
            now,
        ) {
            Ok(request) => request,
            Err(error) => return failed_test(error),
        };
        match self.shared.outbound.post(&request).await {
            Ok(answer) => {
                let verdict = delivery::delivered(destination.kind, answer.status, &answer.body);
                TestAnswer {
                    status: Some(answer.status),
                    body: Some(quote(&answer.body)),
                    delivered: verdict.is_ok(),
                    error: verdict.err(),
                }
            }
            Err(error) => failed_test(error),
        }
    }
}

/// The first [`TEST_BODY_BYTES`] of an answer as text. A character cut in two (or any byte
/// that is not UTF-8) becomes a three-byte replacement character, so the text is cut
/// again until it fits.
fn quote(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(&body[..body.len().min(TEST_BODY_BYTES)]).into_owned();
    while text.len() > TEST_BODY_BYTES {
        text.pop();
    }
    text
}

fn failed_test(error: String) -> TestAnswer {
    TestAnswer {
        status: None,
        body: None,
        delivered: false,
        error: Some(error),
    }
}

impl TestAnswer {
    pub fn to_json(&self) -> Value {
        json!({
            "status": self.status,
            "body": self.body,
            "delivered": self.delivered,
            "error": self.error,
        })
    }
}

/// Sends `request` and judges the answer for `kind`; the error is what `last_error`
/// shows, and `gone` is true for an HTTP 410 (the receiver says it will never take more).
async fn attempt(outbound: &Outbound, kind: Kind, request: &OutgoingRequest) -> Attempt {
    match outbound.post(request).await {
        Ok(answer) => match delivery::delivered(kind, answer.status, &answer.body) {
            Ok(()) => Attempt::Delivered,
            Err(error) => Attempt::Failed {
                error,
                gone: answer.status == 410,
            },
        },
        Err(error) => Attempt::Failed { error, gone: false },
    }
}

enum Attempt {
    Delivered,
    Failed { error: String, gone: bool },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_answer_is_quoted_to_its_first_kib_whatever_its_bytes() {
        // 3000 × 中 (3 bytes each): 1024 bytes end inside the 342nd.
        let chinese = "中".repeat(3000);
        let quoted = quote(chinese.as_bytes());
        assert_eq!(quoted, "中".repeat(341));
        assert_eq!(quote(b"ok"), "ok");
        let invalid = vec![0xff_u8; 2000];
        assert!(quote(&invalid).len() <= TEST_BODY_BYTES);
        assert_eq!(quote(&[b'a'; 1500]).len(), TEST_BODY_BYTES);
    }
}
