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
use crate::store::outbox::Event;

/// Events read ahead at most: enough for a digest to fold a burst, small enough that a
/// long backlog does not sit in memory.
const READ_AHEAD: usize = 256;

/// The position is stored at most this often while events flow (and at once when the
/// worker runs out of events, fails, or stops): a crash re-sends at most this much.
const STORE_EVERY: Duration = Duration::from_millis(250);

/// When storing progress failed (the disk is full), how long until the next try.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// While leads arrive faster than the writer commits them, a worker sends one request per
/// this pause (100 a second): a burst's visitors get the CPU, and its deliveries follow
/// at full speed once it eases. Every lead of the burst is in the outbox already.
const YIELD_PAUSE: Duration = Duration::from_millis(10);

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
    /// Events were rewritten in the outbox (an erasure redacted them): what was read
    /// ahead is stale.
    Reread,
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

    pub fn reread(&self) {
        let _ = self.commands.send(Command::Reread);
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
        retry_at: None,
        reread_after_attempt: false,
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

impl Item {
    fn is_report(&self) -> bool {
        self.chat
            .as_ref()
            .is_some_and(|m| m.topic == delivery::chat::Topic::Report)
    }
}

/// How many of the waiting items (given as "is it a report") a digest of up to `n`
/// folds. A report is never folded (it would shrink to its title): the digest stops
/// before it, and it goes on its own. Below 2, send the first item alone.
fn digest_len(reports: impl Iterator<Item = bool>, n: usize) -> usize {
    reports.take(n).take_while(|report| !report).count()
}

/// What a digest folded beyond the queue: the events up to `to`, `events` of them in
/// its count.
#[derive(Debug, Clone, Copy)]
struct Beyond {
    to: u64,
    events: u64,
}

/// How a digest may fold the events after the queue at most: a robot a million events
/// behind catches up over a few minutes, each reading a bounded share.
const MAX_FOLD: usize = 50_000;

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
    /// When the next attempt is due after a failed one (and that moment's clock time, for
    /// the status). Kept apart from the wait itself, so that a wait broken off to read the
    /// queue again (an erasure redacted it) still waits out the retry schedule.
    retry_at: Option<(Instant, Option<jiff::Timestamp>)>,
    /// The queue must be read again once the attempt in flight ends.
    reread_after_attempt: bool,
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
            // Caught up: store where it is, but not more often than STORE_EVERY: under a
            // steady flow a worker catches up after every commit, and each store is a
            // write of its own.
            let store_at = self.last_stored + STORE_EVERY;
            if self.dirty && Instant::now() >= store_at {
                self.store_progress().await;
            }
            let wake = match self.dirty {
                false => None,
                true if Instant::now() < store_at => Some(store_at),
                true => Some(Instant::now() + STORE_RETRY),
            };
            return self.wait(wake, true).await;
        }
        // Waiting out a failed attempt's retry: before the pacer, which a send takes a
        // slot of.
        if let Some((at, next)) = self.retry_at
            && Instant::now() < at
        {
            self.set_live(State::Retrying, next);
            return self.wait(Some(at), false).await;
        }
        let (count, message) = if self.destination.kind.is_chat() {
            match self.pacer.next(std::time::Instant::now(), self.queue.len()) {
                Plan::Idle | Plan::SendOne => (1, self.queue[0].chat.clone()),
                Plan::SendDigest(n) => {
                    let n = digest_len(self.queue.iter().map(Item::is_report), n);
                    if n < 2 {
                        return self.deliver(1, self.queue[0].chat.clone(), None).await;
                    }
                    return self.deliver_digest(n).await;
                }
                Plan::WaitUntil(at) => {
                    // More events may arrive meanwhile: they join the digest.
                    return self.wait(Some(Instant::from_std(at)), true).await;
                }
            }
        } else {
            (1, None)
        };
        self.deliver(count, message, None).await
    }

    /// Sends the first `n` items as one digest, with every later event the robot wants up
    /// to the end of the outbox (or the next report) folded in.
    async fn deliver_digest(&mut self, n: usize) -> Woke {
        let mut digest = delivery::chat::Digest::default();
        for chat in self
            .queue
            .iter()
            .take(n)
            .filter_map(|item| item.chat.as_ref())
        {
            digest.fold(chat);
        }
        let (queued, read_up_to) = (self.queue.len(), self.read_up_to);
        let in_queue = digest.len();
        let folded_to = match n == queued {
            true => self.fold_rest(&mut digest).await,
            false => None,
        };
        let beyond = folded_to.map(|to| Beyond {
            to,
            events: (digest.len() - in_queue) as u64,
        });
        let message = digest.message(&self.shared.settings.public_url);
        let woke = self.deliver(n, Some(message), beyond).await;
        if folded_to.is_some_and(|to| self.position < to) {
            self.unfold(queued, read_up_to);
        }
        woke
    }

    /// Sends the first `count` items (one webhook event, or a robot's message or digest)
    /// until delivered, or until the destination gives up.
    async fn deliver(
        &mut self,
        count: usize,
        message: Option<ChatMessage>,
        beyond: Option<Beyond>,
    ) -> Woke {
        if self.shared.store.writer_saturated() {
            match self.wait(Some(Instant::now() + YIELD_PAUSE), false).await {
                Woke::Ready => {}
                other => return other,
            }
        }
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
        self.settle(count, beyond, outcome, now).await;
        if std::mem::take(&mut self.reread_after_attempt) {
            self.reread();
        }
        // After a failure, the next call waits until `retry_at`.
        Woke::Ready
    }

    /// Books an attempt's outcome: the items it delivered leave the queue; a failure sets
    /// when to try again, or makes the destination dead.
    async fn settle(
        &mut self,
        count: usize,
        beyond: Option<Beyond>,
        outcome: Attempt,
        now: jiff::Timestamp,
    ) {
        let kind = self.destination.kind.as_str();
        match outcome {
            Attempt::Delivered => {
                self.shared.metrics.delivery(kind, "delivered");
                let last = self.queue.drain(..count).next_back().map(|item| item.seq);
                let last = beyond.as_ref().map(|b| b.to).or(last);
                self.position = last.unwrap_or(self.position);
                self.record.delivered += count as u64 + beyond.map_or(0, |b| b.events);
                self.record.last_delivered_at = Some(now);
                self.record.last_error = None;
                self.failed_attempts = 0;
                self.retry_at = None;
                self.dirty = true;
                self.set_live(State::Ok, None);
                if self.last_stored.elapsed() >= STORE_EVERY {
                    self.store_progress().await;
                }
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
                    self.retry_at = None;
                    self.store_progress().await;
                    return;
                }
                let delay = delays[self.failed_attempts - 1];
                let next = now
                    .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                    .ok();
                let at = Instant::now() + delay;
                self.retry_at = Some((at, next));
                self.set_live(State::Retrying, next);
                self.store_progress().await;
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
                        // The request is on its way already, and breaking it off would
                        // send the same event again: the queue is read again after it.
                        Woke::Reread => self.reread_after_attempt = true,
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
                self.retry_at = None;
                self.live.lock().unwrap_or_else(|e| e.into_inner()).kind = self.destination.kind;
                Woke::Reread
            }
            Some(Command::Reread) => Woke::Reread,
            Some(Command::RetryNow) => {
                self.record.dead = false;
                self.failed_attempts = 0;
                self.retry_at = None;
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

    /// Appends the next events the destination wants to the queue. A read-ahead's worth
    /// of events it does not want (other campaigns', another destination's report, the
    /// history queued for PostgreSQL) is read past: stopping there would look caught up
    /// and wait for the next commit with events still unread.
    async fn read_more(&mut self) -> crate::error::Result<()> {
        loop {
            let events = self
                .shared
                .store
                .events_after(self.read_up_to, READ_AHEAD)
                .await?;
            let read_all = events.len() < READ_AHEAD;
            for (seq, event) in events {
                self.read_up_to = seq;
                if let Some(item) = self.item_for(seq, &event) {
                    self.queue.push_back(item);
                }
            }
            if read_all || !self.queue.is_empty() {
                return Ok(());
            }
        }
    }

    /// The event ready to send, if the destination wants it.
    fn item_for(&self, seq: u64, event: &Event) -> Option<Item> {
        if !self
            .destination
            .wants(event.kind, event.campaign.as_deref(), event.target)
        {
            return None;
        }
        let store = &self.shared.store;
        let json = event.to_json(&self.shared.settings.node, &|id| store.salesperson_name(id));
        let chat = if self.destination.kind.is_chat() {
            let name = event
                .campaign
                .as_deref()
                .and_then(|slug| store.campaign_name(slug));
            // Robots are not told about some types (an erasure).
            let mut message = delivery::chat::for_event(
                &json,
                name.as_deref(),
                &self.shared.settings.public_url,
            )?;
            message.mentions.extend(self.assignee(&json));
            Some(message)
        } else {
            None
        };
        Some(Item {
            seq,
            event: json,
            chat,
        })
    }

    /// Folds the events after the queue into `digest`, reading on to the end of the outbox
    /// (at most [`MAX_FOLD`] events): a robot far behind catches up in one digest, not
    /// a read-ahead's worth a minute. A report ends the fold and waits in the queue, to go
    /// on its own. Returns the last event folded. Nothing read here is kept but the
    /// report: if the digest is not delivered, [`Worker::unfold`] reads it all again.
    async fn fold_rest(&mut self, digest: &mut delivery::chat::Digest) -> Option<u64> {
        let mut folded_to = None;
        let mut read = 0;
        while read < MAX_FOLD {
            let events = match self
                .shared
                .store
                .events_after(self.read_up_to, READ_AHEAD)
                .await
            {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(
                        "destination {}: cannot read the outbox: {error}",
                        self.destination.id
                    );
                    break;
                }
            };
            let more = events.len() == READ_AHEAD;
            for (seq, event) in events {
                read += 1;
                let item = self.item_for(seq, &event);
                self.read_up_to = seq;
                match item {
                    Some(item) if item.is_report() => {
                        self.queue.push_back(item);
                        return folded_to;
                    }
                    Some(Item {
                        chat: Some(chat), ..
                    }) => {
                        digest.fold(&chat);
                        folded_to = Some(seq);
                    }
                    // Not wanted: passed over, as when read into the queue.
                    _ => folded_to = Some(seq),
                }
            }
            if !more {
                break;
            }
        }
        folded_to
    }

    /// A digest that folded events beyond the queue was not delivered: forget them (and
    /// a report the fold queued), to be read again for the next message.
    fn unfold(&mut self, queued: usize, read_up_to: u64) {
        self.queue.truncate(queued);
        self.read_up_to = self.read_up_to.min(read_up_to);
    }

    /// The salesperson an event's lead is assigned to, as chat platforms mention them.
    fn assignee(&self, event: &Value) -> Option<delivery::chat::Mention> {
        let id = event["data"]["assigned_to"]
            .as_str()
            .and_then(crate::domain::LeadId::parse)?;
        let person = self.shared.store.salesperson(id)?;
        Some(delivery::chat::Mention {
            mobile: person.mobile_for_mentions(),
            name: person.name,
            wecom_userid: person.wecom_userid,
            feishu_open_id: person.feishu_open_id,
        })
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

#[cfg(test)]
mod tests {
    use super::digest_len;

    #[test]
    fn a_digest_never_folds_a_report() {
        let queue = |reports: &'static [bool]| reports.iter().copied();
        assert_eq!(digest_len(queue(&[false; 5]), 5), 5);
        assert_eq!(digest_len(queue(&[false; 5]), 3), 3);
        assert_eq!(digest_len(queue(&[false, false, true, false]), 4), 2);
        // A report first, or right after the first: each goes alone.
        assert_eq!(digest_len(queue(&[true, false, false]), 3), 0);
        assert_eq!(digest_len(queue(&[false, true, false]), 3), 1);
    }
}
