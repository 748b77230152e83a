//! One destination's worker: reads the events after its position, keeps those the
//! destination wants, sends them one by one (a webhook) or paced with digests (a chat
//! robot), retries on the contract's schedule, and stores its position and record now
//! and then. Everything it waits for (a retry delay, new events, the pacing window) it
//! waits for together with its commands, so an edit, a retry or a shutdown is obeyed at
//! once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{Attempt, Shared, attempt};
use crate::delivery::{self, ChatMessage, Kind, OutgoingRequest, Pacer, Plan};
use crate::destination::{DeliveryRecord, Destination, State};

/// Events read ahead at most: enough for a digest to fold a burst, small enough that a
/// long backlog does not sit in memory.
const READ_AHEAD: usize = 256;

/// The position is stored at most this often while events flow, and this long at the
/// latest after the worker runs out of events (at once when it fails or stops): a crash
/// re-sends at most this much. Storing each time the worker runs out would be a commit
/// per destination per lead at a steady rate of leads.
const STORE_EVERY: Duration = Duration::from_millis(250);

/// When storing progress failed (the disk is full), how long until the next try.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What the API sees of a running worker.
#[derive(Debug, Clone)]
pub struct Live {
    pub kind: Kind,
    pub record: DeliveryRecord,
    /// The last event handled (sent or not wanted).
    pub position: u64,
    pub state: State,
    pub next_attempt_at: Option<jiff::Timestamp>,
}

enum Command {
    Reconfigure(Box<Destination>),
    RetryNow,
    Stop(oneshot::Sender<()>),
}

pub struct Handle {
    commands: mpsc::UnboundedSender<Command>,
    live: Arc<Mutex<Live>>,
    task: tokio::task::JoinHandle<()>,
}

impl Handle {
    pub fn live(&self) -> Live {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reconfigure(&self, destination: Destination) {
        let _ = self
            .commands
            .send(Command::Reconfigure(Box::new(destination)));
    }

    pub fn retry_now(&self) {
        let _ = self.commands.send(Command::RetryNow);
    }

    /// Asks the worker to store its progress and end, and waits until it has.
    pub async fn stop(self) {
        let (done, stopped) = oneshot::channel();
        if self.commands.send(Command::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
        let _ = self.task.await;
    }

    /// Ends the worker at once, storing nothing (its destination is gone).
    pub fn abort(self) {
        self.task.abort();
    }
}

pub fn spawn(
    shared: Arc<Shared>,
    destination: Destination,
    record: DeliveryRecord,
    cursor: u64,
) -> Handle {
    let (commands, receiver) = mpsc::unbounded_channel();
    let live = Arc::new(Mutex::new(Live {
        kind: destination.kind,
        record: record.clone(),
        position: cursor,
        state: State::Ok,
        next_attempt_at: None,
    }));
    let events = shared.store.event_signal();
    let pacer = Pacer::new(shared.settings.chat_limit, shared.settings.chat_window);
    let worker = Worker {
        shared,
        destination,
        record,
        live: live.clone(),
        commands: receiver,
        events,
        queue: VecDeque::new(),
        read_up_to: cursor,
        position: cursor,
        stored_position: cursor,
        dirty: false,
        last_stored: Instant::now(),
        pacer,
        failed_attempts: 0,
    };
    let task = tokio::spawn(worker.run());
    Handle {
        commands,
        live,
        task,
    }
}

/// An event the destination wants, ready to send.
struct Item {
    seq: u64,
    event: Value,
    /// A robot's text for it (robots only).
    chat: Option<ChatMessage>,
}

/// How a wait ended.
enum Woke {
    /// The time ran out, or events arrived.
    Ready,
    /// Try again at once (an edit, or the retry button).
    Retry,
    /// The queue no longer matches the settings: read again from the position.
    Reread,
    Stop(oneshot::Sender<()>),
}

struct Worker {
    shared: Arc<Shared>,
    destination: Destination,
    record: DeliveryRecord,
    live: Arc<Mutex<Live>>,
    commands: mpsc::UnboundedReceiver<Command>,
    events: watch::Receiver<u64>,
    queue: VecDeque<Item>,
    /// The last event read (into the queue, or passed over as not wanted).
    read_up_to: u64,
    /// The last event handled: everything up to it is sent or not wanted.
    position: u64,
    stored_position: u64,
    /// The record or position changed since they were stored.
    dirty: bool,
    last_stored: Instant,
    pacer: Pacer,
    /// Failed attempts at the message now at the head of the queue.
    failed_attempts: usize,
}

impl Worker {
    async fn run(mut self) {
        loop {
            let woke = if !self.destination.enabled {
                self.idle(State::Disabled).await
            } else if self.record.dead {
                self.idle(State::Dead).await
            } else {
                self.step().await
            };
            match woke {
                Woke::Ready | Woke::Retry => {}
                Woke::Reread => self.reread(),
                Woke::Stop(done) => {
                    self.store_progress().await;
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    /// Waits, doing nothing, for a command (a disabled or dead destination).
    async fn idle(&mut self, state: State) -> Woke {
        self.set_live(state, None);
        if self.dirty {
            self.store_progress().await;
        }
        self.wait(None, false).await
    }

    /// Reads on, then sends what is due, or waits for more.
    async fn step(&mut self) -> Woke {
        if self.queue.len() < READ_AHEAD / 2
            && let Err(error) = self.read_more().await
        {
            tracing::warn!(
                "destination {}: cannot read the outbox: {error}",
                self.destination.id
            );
            return self.wait(Some(Instant::now() + STORE_RETRY), false).await;
        }
        if self.queue.is_empty() {
            self.position = self.read_up_to;
            self.dirty |= self.position != self.stored_position;
            self.set_live(State::Ok, None);
            let mut store_at = None;
            if self.dirty {
                let due = self.last_stored + STORE_EVERY;
                if Instant::now() >= due {
                    self.store_progress().await;
                    store_at = self.dirty.then(|| Instant::now() + STORE_RETRY);
                } else {
                    store_at = Some(due);
                }
            }
            return self.wait(store_at, true).await;
        }
        let (count, message) = if self.destination.kind.is_chat() {
            match self.pacer.next(std::time::Instant::now(), self.queue.len()) {
                Plan::Idle | Plan::SendOne => (1, self.queue[0].chat.clone()),
                Plan::SendDigest(n) => {
                    let n = n.min(self.queue.len());
                    let messages: Vec<ChatMessage> = self
                        .queue
                        .iter()
                        .take(n)
                        .filter_map(|item| item.chat.clone())
                        .collect();
                    let digest =
                        delivery::chat::digest(&messages, &self.shared.settings.public_url);
                    (n, Some(digest))
                }
                Plan::WaitUntil(at) => {
                    // More events may arrive meanwhile: they join the digest.
                    return self.wait(Some(Instant::from_std(at)), true).await;
                }
            }
        } else {
            (1, None)
        };
        self.deliver(count, message).await
    }

    /// Sends the first `count` items (one webhook event, or a robot's message or digest)
    /// until delivered, or until the destination gives up.
    async fn deliver(&mut self, count: usize, message: Option<ChatMessage>) -> Woke {
        let now = jiff::Timestamp::now();
        let request = delivery::request(
            self.destination.kind,
            &self.destination.url,
            self.destination.secret.as_deref(),
            &self.queue[0].event,
            message.as_ref(),
            now,
        );
        let state = if self.failed_attempts > 0 {
            State::Retrying
        } else {
            State::Ok
        };
        self.set_live(state, None);
        let outcome = match request {
            Ok(request) => match self.attempt_or_command(&request).await {
                Ok(outcome) => outcome,
                Err(woke) => return woke,
            },
            Err(error) => Attempt::Failed { error, gone: false },
        };
        let kind = self.destination.kind.as_str();
        match outcome {
            Attempt::Delivered => {
                self.shared.metrics.delivery(kind, "delivered");
                let last = self.queue.drain(..count).next_back().map(|item| item.seq);
                self.position = last.unwrap_or(self.position);
                self.record.delivered += count as u64;
                self.record.last_delivered_at = Some(now);
                self.record.last_error = None;
                self.failed_attempts = 0;
                self.dirty = true;
                self.set_live(State::Ok, None);
                if self.last_stored.elapsed() >= STORE_EVERY {
                    self.store_progress().await;
                }
                Woke::Ready
            }
            Attempt::Failed { error, gone } => {
                self.shared.metrics.delivery(kind, "failed");
                self.record.failed += 1;
                self.record.last_error = Some(error);
                self.failed_attempts += 1;
                self.dirty = true;
                let delays = &self.shared.settings.retry_delays;
                if gone || self.failed_attempts > delays.len() {
                    self.shared.metrics.delivery(kind, "dead");
                    self.record.dead = true;
                    self.failed_attempts = 0;
                    self.store_progress().await;
                    return Woke::Ready;
                }
                let delay = delays[self.failed_attempts - 1];
                let next = now
                    .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                    .ok();
                self.set_live(State::Retrying, next);
                self.store_progress().await;
                self.wait(Some(Instant::now() + delay), false).await
            }
        }
    }

    /// One attempt, unless a command comes first (a shutdown must not wait 15 s for a
    /// receiver that hangs; the event is simply sent again later).
    async fn attempt_or_command(&mut self, request: &OutgoingRequest) -> Result<Attempt, Woke> {
        let shared = self.shared.clone();
        let kind = self.destination.kind;
        let sending = attempt(&shared.outbound, kind, request);
        tokio::pin!(sending);
        loop {
            tokio::select! {
                outcome = &mut sending => return Ok(outcome),
                command = self.commands.recv() => {
                    match self.obey(command) {
                        // A retry request during an attempt: the attempt is the retry.
                        Woke::Ready | Woke::Retry => {}
                        other => return Err(other),
                    }
                }
            }
        }
    }

    /// Waits until `until` (if any), for new events (if `for_events`), or a command.
    async fn wait(&mut self, until: Option<Instant>, for_events: bool) -> Woke {
        let sleep = async {
            match until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        let events = &mut self.events;
        tokio::select! {
            () = &mut sleep => Woke::Ready,
            changed = events.changed(), if for_events => {
                if changed.is_err() {
                    // The store is closing: nothing more will come.
                    std::future::pending::<()>().await;
                }
                Woke::Ready
            }
            command = self.commands.recv() => self.obey(command),
        }
    }

    fn obey(&mut self, command: Option<Command>) -> Woke {
        match command {
            Some(Command::Reconfigure(destination)) => {
                self.destination = *destination;
                // An edit is often the fix (a new URL or secret): a waiting retry goes at
                // once. A dead destination stays dead until it is told to retry.
                self.failed_attempts = 0;
                self.live.lock().unwrap_or_else(|e| e.into_inner()).kind = self.destination.kind;
                Woke::Reread
            }
            Some(Command::RetryNow) => {
                self.record.dead = false;
                self.failed_attempts = 0;
                self.dirty = true;
                self.set_live(State::Retrying, None);
                Woke::Retry
            }
            Some(Command::Stop(done)) => Woke::Stop(done),
            // Every handle is gone: the relays are being dropped.
            None => {
                let (done, _) = oneshot::channel();
                Woke::Stop(done)
            }
        }
    }

    /// The filters changed: forget what was read and read again from the position.
    fn reread(&mut self) {
        self.queue.clear();
        self.read_up_to = self.position;
    }

    /// Appends the next events the destination wants to the queue.
    async fn read_more(&mut self) -> crate::error::Result<()> {
        let events = self
            .shared
            .store
            .events_after(self.read_up_to, READ_AHEAD)
            .await?;
        for (seq, event) in events {
            self.read_up_to = seq;
            if !self
                .destination
                .wants(event.kind, event.campaign.as_deref())
            {
                continue;
            }
            let json = event.to_json(&self.shared.settings.node);
            let chat = if self.destination.kind.is_chat() {
                let name = event
                    .campaign
                    .as_deref()
                    .and_then(|slug| self.shared.store.campaign_name(slug));
                match delivery::chat::for_event(
                    &json,
                    name.as_deref(),
                    &self.shared.settings.public_url,
                ) {
                    Some(message) => Some(message),
                    // Robots are not told about this type (an erasure).
                    None => continue,
                }
            } else {
                None
            };
            self.queue.push_back(Item {
                seq,
                event: json,
                chat,
            });
        }
        Ok(())
    }

    /// Stores the position and record; on failure they stay dirty and are stored later.
    async fn store_progress(&mut self) {
        let result = self
            .shared
            .store
            .record_delivery(self.destination.id, self.position, self.record.clone())
            .await;
        match result {
            Ok(()) => {
                self.stored_position = self.position;
                self.dirty = false;
            }
            Err(error) => {
                tracing::warn!(
                    "destination {}: progress not stored yet: {error}",
                    self.destination.id
                );
            }
        }
        self.last_stored = Instant::now();
    }

    fn set_live(&self, state: State, next_attempt_at: Option<jiff::Timestamp>) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.record = self.record.clone();
        live.position = self.position;
        live.state = state;
        live.next_attempt_at = next_attempt_at;
    }
}
