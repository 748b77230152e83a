//! The single writer: one thread owns every write transaction. It takes whatever jobs
//! are queued (group commit), applies them in one transaction with immediate
//! durability, commits, and only then answers each waiting request.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{Database, Durability, WriteTransaction};

use super::handle::DbHandle;
use super::open::Tables;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::{mpsc, oneshot};

use super::storage;
use crate::error::{Error, ErrorKind, Result};
use crate::faults::FaultSwitch;

/// Jobs per transaction at most, so one commit never holds the queue too long.
const MAX_BATCH: usize = 1024;

/// What a job needs besides the transaction.
pub struct WriteContext {
    pub tz: jiff::tz::TimeZone,
    /// Each commit saves redb's allocator state (see `OpenOptions::quick_repair`).
    quick_repair: bool,
    /// Counter changes of the batch being applied, written just before its commit.
    pub counters: super::write::PendingCounters,
    /// Round-robin turns the batch moved, written just before its commit.
    pub(super) turns: super::roster::PendingTurns,
    /// Bumped after each commit that appended outbox events, to wake the relays.
    pub events: tokio::sync::watch::Sender<u64>,
    /// Every campaign, as committed: a lead's assignment rule without decoding its
    /// campaign in every write.
    pub(super) campaigns: Arc<super::CampaignCache>,
    /// The sales roster, as committed: whether a salesperson is active, without reading
    /// and decoding their record for every lead.
    pub(super) roster: Arc<super::RosterCache>,
}

/// Runs inside the transaction, on its tables; returns how to answer once the commit's
/// fate is known.
type Job = Box<dyn FnOnce(&mut Tables<'_>, &WriteContext) -> Applied + Send>;

/// Work that needs the store to itself, with no transaction open: run on the writer
/// thread between two commits, while later jobs wait in the queue (rewriting the file).
type Exclusive = Box<dyn FnOnce(&DbHandle) + Send>;

/// What the writer thread is sent.
enum Work {
    Job(Job),
    Exclusive(Exclusive),
}

struct Applied {
    /// The store itself failed (not the request): the whole batch must be rolled back.
    storage_failed: bool,
    answer: Box<dyn FnOnce(Result<()>) + Send>,
}

/// Whether the last commit worked, for `/healthz`, and how deep the queue is.
#[derive(Debug)]
pub struct Health {
    failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    pub queued: AtomicUsize,
    /// Jobs in the transaction being applied and committed now (0 while idle).
    committing: AtomicUsize,
    /// Seconds from the first write of a batch to the end of its commit.
    pub commit_seconds: Histogram,
    /// Writes per committed transaction: how well group commit amortises each fsync.
    pub batch_size: Histogram,
    pub failures: Counter,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            failing: AtomicBool::new(false),
            last_error: Mutex::new(None),
            queued: AtomicUsize::new(0),
            committing: AtomicUsize::new(0),
            commit_seconds: Histogram::new(exponential_buckets(0.0002, 2.0, 14)),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            failures: Counter::default(),
        }
    }
}

impl Health {
    pub fn is_writable(&self) -> bool {
        !self.failing.load(Ordering::Relaxed)
    }

    /// Jobs the writer has: waiting, and in the commit under way. Under a steady trickle
    /// this stays near 1; when requests arrive faster than commits take, it stays at
    /// about a batch and a half.
    pub fn load(&self) -> usize {
        self.queued.load(Ordering::Relaxed) + self.committing.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn record(&self, result: &Result<()>) {
        if result.is_err() {
            self.failures.inc();
        }
        self.failing.store(result.is_err(), Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
            result.as_ref().err().map(|e| e.message.clone());
    }
}

#[derive(Clone)]
pub struct WriterHandle {
    jobs: mpsc::Sender<Work>,
    health: Arc<Health>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

pub fn spawn(
    db: Arc<DbHandle>,
    tz: jiff::tz::TimeZone,
    options: super::OpenOptions,
    events: tokio::sync::watch::Sender<u64>,
    campaigns: Arc<super::CampaignCache>,
    roster: Arc<super::RosterCache>,
) -> Result<WriterHandle> {
    let (sender, receiver) = mpsc::channel(options.writer_queue.max(1));
    let health = Arc::new(Health::default());
    let thread_health = health.clone();
    let thread = std::thread::Builder::new()
        .name("leadgate-writer".into())
        .spawn(move || {
            write_loop(
                &db,
                receiver,
                &WriteContext {
                    tz,
                    quick_repair: options.quick_repair,
                    counters: Default::default(),
                    turns: Default::default(),
                    events,
                    campaigns,
                    roster,
                },
                &thread_health,
                &options.faults,
            )
        })
        .map_err(|e| Error::internal(format!("cannot start the writer thread: {e}")))?;
    Ok(WriterHandle {
        jobs: sender,
        health,
        thread: Arc::new(Mutex::new(Some(thread))),
    })
}

impl WriterHandle {
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    pub fn load(&self) -> usize {
        self.health.load()
    }

    /// Queues `apply` for the next transaction and waits until that transaction is
    /// committed. `apply` must check everything before it writes anything: a domain
    /// error returned after a write would leave that write in the shared transaction.
    pub async fn run<T, F>(&self, apply: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tables<'_>, &WriteContext) -> Result<T> + Send + 'static,
    {
        self.run_then(apply, |_| {}).await
    }

    /// `run`, and `committed` is called with the result on the writer thread right after
    /// the commit, in commit order — how in-memory copies of stored data stay in step.
    pub async fn run_then<T, F, C>(&self, apply: F, committed: C) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tables<'_>, &WriteContext) -> Result<T> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        // Asked here, in the request's task: an audited change's first write records it.
        let audit = crate::audit::current();
        let job: Job = Box::new(move |tables, ctx| {
            let mut outcome = apply(tables, ctx);
            if outcome.is_ok()
                && let Some(entry) = audit.as_ref().and_then(|scope| scope.take())
                && let Err(error) = super::audit_log::append(tables, &entry)
            {
                outcome = Err(error);
            }
            // A storage failure, or a stored record that cannot be read, may strike after
            // the job has written part of its rows: the whole batch must roll back.
            let storage_failed = matches!(&outcome, Err(e) if matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Internal));
            Applied {
                storage_failed,
                answer: Box::new(move |commit: Result<()>| {
                    let result = commit.and(outcome);
                    if let Ok(value) = &result {
                        committed(value);
                    }
                    // The requester may have gone away; its answer is simply dropped.
                    let _ = reply.send(result);
                }),
            }
        });
        // Counted before the send: the writer may take the job before `try_send` returns.
        self.health.queued.fetch_add(1, Ordering::Relaxed);
        let sent = self.jobs.try_send(Work::Job(job));
        if sent.is_err() {
            self.health.queued.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    "busy",
                    "the server is busy; please retry in a moment",
                ));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(Error::unavailable("the store is shutting down"));
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::unavailable(
                "the store stopped before this write was committed",
            ))
        })
    }

    /// Runs `work` on the writer thread with the store to itself: after the jobs queued
    /// before it are committed, before any queued after it is applied. Waits for room in
    /// the queue rather than failing (this is not a request a client waits on).
    pub async fn exclusive<T: Send + 'static>(
        &self,
        work: impl FnOnce(&DbHandle) -> T + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let work: Exclusive = Box::new(move |db| {
            let _ = reply.send(work(db));
        });
        self.health.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(Work::Exclusive(work)).await.is_err() {
            self.health.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::unavailable("the store is shutting down"));
        }
        answer
            .await
            .map_err(|_| Error::unavailable("the store stopped before this work ran"))
    }

    /// `close` for code that runs without an async runtime (command-line tools).
    pub fn close_blocking(self) {
        let WriterHandle { jobs, thread, .. } = self;
        drop(jobs);
        let handle = thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Drops this handle's sender and waits for the writer thread to drain and exit.
    pub async fn close(self) {
        let WriterHandle { jobs, thread, .. } = self;
        drop(jobs);
        let handle = thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// After a failed commit, how long before the writer tries to reopen the store.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn write_loop(
    db: &DbHandle,
    mut jobs: mpsc::Receiver<Work>,
    ctx: &WriteContext,
    health: &Health,
    faults: &FaultSwitch,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut broken_since: Option<std::time::Instant> = None;
    let mut last_reopen: Option<std::time::Instant> = None;
    // Exclusive work found while filling a batch: it runs once that batch is committed.
    let mut held: Option<Exclusive> = None;
    loop {
        let first = match held.take() {
            Some(work) => Work::Exclusive(work),
            None => match jobs.blocking_recv() {
                Some(work) => work,
                None => break,
            },
        };
        match first {
            Work::Exclusive(work) => {
                health.queued.fetch_sub(1, Ordering::Relaxed);
                health.committing.store(1, Ordering::Relaxed);
                work(db);
                health.committing.store(0, Ordering::Relaxed);
                continue;
            }
            Work::Job(job) => batch.push(job),
        }
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(Work::Job(job)) => batch.push(job),
                Ok(Work::Exclusive(work)) => {
                    held = Some(work);
                    break;
                }
                Err(_) => break,
            }
        }
        health.committing.store(batch.len(), Ordering::Relaxed);
        health.queued.fetch_sub(batch.len(), Ordering::Relaxed);
        // redb refuses all work after an I/O error until reopened: try that, not too often.
        if broken_since.is_some() && last_reopen.is_none_or(|at| at.elapsed() >= REOPEN_EVERY) {
            last_reopen = Some(std::time::Instant::now());
            match db.reopen() {
                Ok(()) => broken_since = None,
                Err(error) => tracing::warn!("store still unavailable: {error}"),
            }
        }
        let disk_failed = match db.get() {
            Ok(database) => commit_batch(&database, batch.drain(..), ctx, health, faults),
            Err(error) => {
                health.record(&Err(error));
                // Dropping a job drops its reply sender: the request is answered 503.
                batch.clear();
                true
            }
        };
        health.committing.store(0, Ordering::Relaxed);
        if disk_failed && broken_since.is_none() {
            broken_since = Some(std::time::Instant::now());
        }
    }
}

fn commit_batch(
    db: &Database,
    batch: impl Iterator<Item = Job>,
    ctx: &WriteContext,
    health: &Health,
    faults: &FaultSwitch,
) -> bool {
    let txn = match begin(db, ctx.quick_repair) {
        Ok(txn) => txn,
        Err(error) => {
            health.record(&Err(error.clone()));
            // Dropping a job drops its reply sender: the request is answered 503.
            drop(batch.collect::<Vec<_>>());
            tracing::error!("cannot start a write transaction: {error}");
            return true;
        }
    };
    let started = std::time::Instant::now();
    let applied = apply_batch(&txn, batch, ctx);
    faults.wait_while_stalled();
    let (applied, storage_failed, events_appended) = match applied {
        Ok((applied, events_appended)) => (applied, false, events_appended),
        Err(applied) => (applied, true, false),
    };
    let result = if storage_failed {
        let _ = txn.abort();
        Err(Error::unavailable(
            "the store failed while writing; nothing in this batch was saved",
        ))
    } else if faults.is_on() {
        let _ = txn.abort();
        Err(Error::unavailable(
            "commit failed (injected fault); nothing in this batch was saved",
        ))
    } else {
        txn.commit().map_err(storage)
    };
    let disk_failed = storage_failed || (result.is_err() && !faults.is_on());
    if result.is_ok() && events_appended {
        ctx.events
            .send_modify(|commits| *commits = commits.wrapping_add(1));
    }
    if result.is_ok() {
        health
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        health.batch_size.observe(applied.len() as f64);
    }
    if let Err(error) = &result {
        tracing::error!("commit failed: {error}");
    }
    health.record(&result);
    for Applied { answer, .. } in applied {
        answer(result.clone());
    }
    disk_failed
}

/// Runs every job of the batch on tables opened once, then writes the batch's counter
/// changes; also says whether any job appended an outbox event. `Err` (with the answers
/// still to give) when the batch must be rolled back: a job panicked, or the store failed
/// under a job or the counters.
fn apply_batch(
    txn: &WriteTransaction,
    batch: impl Iterator<Item = Job>,
    ctx: &WriteContext,
) -> std::result::Result<(Vec<Applied>, bool), Vec<Applied>> {
    let mut tables = match Tables::open(txn) {
        Ok(tables) => tables,
        Err(error) => {
            tracing::error!("cannot open the tables: {error}");
            // Dropping a job drops its reply sender: the request is answered 503.
            drop(batch.collect::<Vec<_>>());
            return Err(Vec::new());
        }
    };
    // A panicking job must not take the only writer thread with it: its batch is rolled
    // back and its request answered 503 (its reply sender is dropped with it).
    let mut panicked = false;
    let applied: Vec<Applied> = batch
        .filter_map(|job| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut tables, ctx))) {
                Ok(applied) => Some(applied),
                Err(_) => {
                    panicked = true;
                    None
                }
            }
        })
        .collect();
    if panicked {
        tracing::error!("a write panicked; its batch is rolled back");
    }
    if panicked || applied.iter().any(|a| a.storage_failed) {
        ctx.counters.discard();
        ctx.turns.discard();
        return Err(applied);
    }
    if let Err(error) = ctx.counters.flush(&mut tables) {
        tracing::error!("counter update failed: {error}");
        ctx.turns.discard();
        return Err(applied);
    }
    if let Err(error) = ctx.turns.flush(&mut tables) {
        tracing::error!("round-robin update failed: {error}");
        return Err(applied);
    }
    if let Err(error) = tables.leads_by_assignee.flush() {
        tracing::error!("salespeople's lead lists update failed: {error}");
        return Err(applied);
    }
    Ok((applied, tables.events_appended))
}

pub(super) fn begin(db: &Database, quick_repair: bool) -> Result<WriteTransaction> {
    let mut txn = db.begin_write().map_err(storage)?;
    txn.set_durability(Durability::Immediate).map_err(storage)?;
    // After kill -9, redb rebuilds its allocator state on open; quick repair keeps the
    // data needed for that in each commit, so restart time does not grow with the file
    // (see `OpenOptions::quick_repair` for its price).
    txn.set_quick_repair(quick_repair);
    Ok(txn)
}
