//! The replication task: reads the outbox after its position (on the blocking pool,
//! through the store), ships batches to PostgreSQL, and acknowledges what PostgreSQL has
//! through the store's writer, at most every [`ACK_EVERY`] while events flow. A crash
//! between a PostgreSQL commit and the acknowledgement is harmless: at start the task
//! resumes from the higher of its cursor and the node's `seq` in PostgreSQL, and a batch
//! shipped twice changes nothing there anyway.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::ship::{self, Outgoing};
use super::{CONSUMER, Shared, State, schema};

/// The cursor is stored at most this often while events flow (and at once when the
/// task runs out of events, fails or stops): each store is a write of the writer's.
const ACK_EVERY: Duration = Duration::from_millis(250);

/// While leads arrive faster than the writer commits them, the task waits this long
/// before each batch: a burst's visitors get the CPU, and its batches grow larger.
const YIELD_PAUSE: Duration = Duration::from_millis(50);

/// One attempt (connect, migrate, ship a batch) that takes longer than this counts as
/// failed: a database that stopped answering must not hold the task for ever.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections kept to PostgreSQL: the task uses one, two while catching up.
const POOL_SIZE: usize = 2;

/// A task of replication's (the shipping task, the puller), and how to end it.
pub struct Handle {
    pub(super) stop: oneshot::Sender<()>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Handle {
    /// Asks the task to end (the shipping task first acknowledges what PostgreSQL has);
    /// waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

pub fn spawn(shared: Arc<Shared>, cursor: u64) -> Handle {
    let (stop, stopped) = oneshot::channel();
    let worker = Worker {
        events: shared.store.event_signal(),
        pool: new_pool(&shared.settings.target),
        shared,
        position: cursor,
        acknowledged: cursor,
        last_ack: Instant::now(),
        connected: false,
        probe: false,
        failures: 0,
        ahead: None,
    };
    let task = tokio::spawn(worker.run(stopped));
    Handle { stop, task }
}

pub(super) fn new_pool(target: &super::Target) -> Pool {
    let manager = Manager::from_config(
        target.config().clone(),
        target.tls(),
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .build()
        .expect("a pool without timeouts needs no runtime setting")
}

struct Worker {
    shared: Arc<Shared>,
    pool: Pool,
    events: watch::Receiver<u64>,
    /// The highest sequence number PostgreSQL has.
    position: u64,
    /// The highest acknowledged in the store (the outbox keeps what is above it).
    acknowledged: u64,
    last_ack: Instant,
    /// Migrated and resumed on this connection series; reset after any failure, so a
    /// PostgreSQL that came back empty gets its schema again.
    connected: bool,
    /// Set by the heartbeat: the next idle attempt asks PostgreSQL to answer.
    probe: bool,
    failures: usize,
    /// The next batches, read while PostgreSQL committed the previous ones: the events
    /// after the given sequence number.
    ahead: Option<(u64, Batches)>,
}

/// Up to two batches to ship at once: `second` (maybe empty) follows `first`.
struct Batches {
    first: Vec<Outgoing>,
    second: Vec<Outgoing>,
    /// `ship::apart(second, first)`: the rows `second` may write before `first` commits.
    apart: ship::Apart,
}

/// What one attempt did.
enum Progress {
    /// Shipped a batch; `more` if it was full (more are probably waiting).
    Shipped { more: bool },
    /// Nothing to ship.
    Idle,
}

impl Worker {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        loop {
            if self.shared.store.writer_saturated() && pause(&mut stop, YIELD_PAUSE).await {
                break;
            }
            let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt());
            let outcome = tokio::select! {
                outcome = attempt => outcome.unwrap_or_else(|_| {
                    Err(format!("PostgreSQL did not answer within {ATTEMPT_TIMEOUT:?}"))
                }),
                _ = &mut stop => break,
            };
            match outcome {
                Ok(Progress::Shipped { more }) => {
                    self.succeeded(if more { State::CatchingUp } else { State::Ok });
                    if self.last_ack.elapsed() >= ACK_EVERY {
                        self.acknowledge().await;
                    }
                }
                Ok(Progress::Idle) => {
                    self.succeeded(State::Ok);
                    self.acknowledge().await;
                    let events = &mut self.events;
                    let heartbeat = self.shared.settings.heartbeat;
                    tokio::select! {
                        () = tokio::time::sleep(heartbeat) => self.probe = true,
                        changed = events.changed() => {
                            if changed.is_err() {
                                // The store is closing: nothing more will come.
                                let _ = (&mut stop).await;
                                break;
                            }
                        }
                        _ = &mut stop => break,
                    }
                }
                Err(error) => {
                    self.failed(error);
                    self.acknowledge().await;
                    let delays = &self.shared.settings.retry_delays;
                    let delay = delays
                        .get(self.failures - 1)
                        .or(delays.last())
                        .copied()
                        .unwrap_or(Duration::from_secs(1));
                    if pause(&mut stop, delay).await {
                        break;
                    }
                }
            }
        }
        self.acknowledge().await;
    }

    /// Connects (and migrates and resumes, the first time), then ships the next batch.
    async fn attempt(&mut self) -> Result<Progress, String> {
        let node = self.shared.settings.node.clone();
        let mut pooled = self.pool.get().await.map_err(describe_pool)?;
        let client: &mut tokio_postgres::Client = &mut pooled;
        if !self.connected {
            let applied = schema::migrate(client).await.map_err(describe)?;
            if applied > 0 {
                tracing::info!(
                    "PostgreSQL schema leadgate migrated to version {}",
                    schema::VERSION
                );
            }
            self.resume(client, &node).await?;
            self.connected = true;
        }
        let started = std::time::Instant::now();
        let size = self.shared.settings.batch;
        // Up to two batches: while catching up, the second ships on a second connection
        // while PostgreSQL works on the first (`ship::ship_next`), so that PostgreSQL
        // copies and indexes one batch while it indexes the other.
        let Batches {
            first,
            second,
            apart,
        } = match self.ahead.take() {
            Some((after, batches)) if after == self.position => batches,
            _ => self.read_batches(self.position, size).await?,
        };
        if first.is_empty() {
            // A pooled connection whose server went away may still look open (a booth
            // whose internet is gone): only a round trip tells.
            if std::mem::take(&mut self.probe) {
                client.simple_query("SELECT 1").await.map_err(describe)?;
            }
            return Ok(Progress::Idle);
        }
        let more = first.len() + second.len() == 2 * size;
        let first_last = first.last().map_or(self.position, |e| e.seq);
        let last = second.last().map_or(first_last, |e| e.seq);
        let before = self.position;
        let prepared = started.elapsed();
        let (shipped, shipped_next, ahead) = if second.is_empty() {
            (ship::ship(&mut pooled, &node, &first).await, Ok(None), None)
        } else {
            // Catching up, the next batches are read and made ready while PostgreSQL works
            // on these (their events are in the outbox whatever happens to these).
            let read_ahead = async {
                match more {
                    true => self.read_batches(last, size).await.ok(),
                    false => None,
                }
            };
            let mut other = self.pool.get().await.map_err(describe_pool)?;
            tokio::join!(
                ship::ship(&mut pooled, &node, &first),
                ship::ship_next(&mut other, &node, &second, &first, apart),
                read_ahead
            )
        };
        self.position = self.position.max(shipped.map_err(describe)?);
        // The second batch failing after the first committed: the first counts.
        let shipped_next = shipped_next.map_err(describe);
        if let Ok(Some(shipped)) = shipped_next {
            self.position = self.position.max(shipped);
        }
        self.ahead = ahead.map(|next| (last, next));
        tracing::debug!(
            "shipped {} events: read and made ready in {prepared:?}, committed in {:?}",
            self.position - before,
            started.elapsed() - prepared
        );
        let count = first
            .iter()
            .chain(&second)
            .filter(|e| e.seq > before && e.seq <= self.position)
            .count();
        self.shared.metrics.replication_shipped(count as u64);
        shipped_next?;
        Ok(Progress::Shipped { more })
    }

    /// The outbox's events after `after` (at most two batches of `size`), ready to ship.
    /// Made ready on the blocking pool, like the read: a batch's JSON is milliseconds of
    /// CPU that the async workers serving visitors should not spend.
    async fn read_batches(&self, after: u64, size: usize) -> Result<Batches, String> {
        let store = self.shared.store.clone();
        let events = store
            .events_after(after, 2 * size)
            .await
            .map_err(|e| format!("the outbox cannot be read: {e}"))?;
        tokio::task::spawn_blocking(move || {
            let mut first: Vec<Outgoing> = events
                .into_iter()
                .map(|(seq, event)| Outgoing::new(seq, event, &|id| store.salesperson_name(id)))
                .collect();
            let second = first.split_off(first.len().min(size));
            let apart = ship::apart(&second, &first);
            Batches {
                first,
                second,
                apart,
            }
        })
        .await
        .map_err(|e| format!("the outbox's events could not be made ready: {e}"))
    }

    /// Goes on from what PostgreSQL has, if it is ahead of the store's cursor (a crash
    /// after a commit, before its acknowledgement).
    async fn resume(&mut self, client: &tokio_postgres::Client, node: &str) -> Result<(), String> {
        let there = ship::shipped_seq(client, node).await.map_err(describe)?;
        let latest = self
            .shared
            .store
            .latest_event()
            .await
            .map_err(|e| format!("the outbox cannot be read: {e}"))?;
        if there > latest {
            // Shipping on would skip this store's next events, or number two stores'
            // events alike: stop and say why.
            return Err(format!(
                "PostgreSQL already has events 1 to {there} of node {node:?}, but this node's \
                 outbox ends at {latest}: is another data directory running as node {node:?}? \
                 Give each node its own --node-id"
            ));
        }
        if there > self.position {
            tracing::info!(
                "resuming after event {there}, which PostgreSQL has (the stored cursor was {})",
                self.position
            );
            self.position = there;
            self.shared.live().position = there;
        }
        Ok(())
    }

    fn succeeded(&mut self, state: State) {
        self.failures = 0;
        let mut live = self.shared.live();
        if self.position > live.position {
            live.last_shipped_at = Some(jiff::Timestamp::now());
        }
        live.position = self.position;
        live.state = state;
        live.last_error = None;
    }

    fn failed(&mut self, error: String) {
        if self.failures == 0 {
            tracing::warn!("replication to PostgreSQL paused: {error}");
        }
        self.failures += 1;
        self.connected = false;
        self.ahead = None;
        // A fresh pool: a connection that failed mid-transaction is not handed out again.
        self.pool = new_pool(&self.shared.settings.target);
        self.shared.metrics.replication_error();
        let mut live = self.shared.live();
        live.position = self.position;
        live.state = State::Offline;
        live.last_error = Some(error);
    }

    /// Stores the position as the outbox cursor, so the store drops what PostgreSQL has.
    /// On failure (the disk is full) it is tried again later; nothing is lost meanwhile.
    async fn acknowledge(&mut self) {
        if self.position <= self.acknowledged {
            return;
        }
        let stored = self
            .shared
            .store
            .acknowledge_events(CONSUMER.into(), self.position)
            .await;
        match stored {
            Ok(()) => self.acknowledged = self.position,
            Err(error) => tracing::warn!("replication progress not stored yet: {error}"),
        }
        self.last_ack = Instant::now();
    }
}

/// Waits `delay`; true if the task was told to stop meanwhile.
async fn pause(stop: &mut oneshot::Receiver<()>, delay: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        _ = stop => true,
    }
}

/// A PostgreSQL error as `last_error` shows it: the server's message when it sent one.
pub(super) fn describe(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
        // "error connecting to server" alone does not say why: add the causes.
        None => {
            let mut text = error.to_string();
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                text = format!("{text}: {inner}");
                cause = inner.source();
            }
            text
        }
    }
}

fn describe_pool(error: deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(error) => describe(error),
        other => other.to_string(),
    }
}
