//! Replication to PostgreSQL (API.md, "Several nodes: PostgreSQL"). Each node keeps its
//! own redb file as the source of truth and ships its outbox, in order, to one shared
//! database that other nodes and BI tools read.
//!
//! - [`target`]: the `--replicate` URL, checked at start, shown without its password.
//! - [`tls`]: libpq's `sslmode` and `sslrootcert` over rustls.
//! - [`schema`]: the `leadgate` schema and its versioned migrations.
//! - [`ship`]: one batch of events in one PostgreSQL transaction, exactly once in effect.
//! - [`pull`]: the campaigns, costs and conversions other nodes made, brought here.
//! - [`elsewhere`]: a conversion's contact among every node's leads.
//! - [`erasures`]: a person's erasure carried to every node's rows and to the other nodes.
//! - [`report`]: the ROI summary's input read from every node's rows.
//! - [`worker`]: the task that reads the outbox after its position, ships, acknowledges
//!   through the store's writer, and retries while PostgreSQL is away.
//!
//! The replica is an outbox consumer like a destination: events wait in the store until
//! PostgreSQL has them, however long it is away.

mod elsewhere;
mod erasures;
mod pull;
pub mod report;
mod schema;
mod ship;
pub mod target;
mod tls;
mod worker;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

pub use schema::VERSION as SCHEMA_VERSION;
pub use target::Target;

use crate::error::Result;
use crate::metrics::Metrics;
use crate::store::Store;

/// The outbox consumer that keeps events until PostgreSQL has them.
pub const CONSUMER: &str = "replica:postgres";

/// Waits after each failed attempt, the last one repeated: a restarting PostgreSQL is
/// caught soon, an absent one is not hammered.
pub const RETRY_DELAYS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// How often an idle node checks that PostgreSQL is still there, so that
/// `/api/replication` says `offline` before the next lead has to find out.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// How often a node reads the campaigns, costs and conversions other nodes made: well
/// within the 5 s API.md allows.
pub const PULL_EVERY: Duration = Duration::from_secs(1);

/// Events shipped per PostgreSQL transaction at most: a larger batch spreads each
/// transaction's fixed costs (its statements, the commit's flush) over more events
/// (2000 events hold about 3 MB of JSON).
pub const BATCH: usize = 2000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub node: String,
    pub target: Target,
    /// Waits between attempts while PostgreSQL is away (tests shorten them).
    pub retry_delays: Vec<Duration>,
    /// How often an idle node checks that PostgreSQL answers.
    pub heartbeat: Duration,
    /// How often it reads what other nodes made ([`PULL_EVERY`]; tests shorten it).
    pub pull_every: Duration,
    /// Events per PostgreSQL transaction at most ([`BATCH`]; tests shorten it).
    pub batch: usize,
    /// The time an erasure pulled from another node is applied at (the service's clock).
    pub clock: crate::clock::Clock,
}

/// `state` in `GET /api/replication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Reachable and at most a batch behind.
    Ok,
    /// Reachable, working through a backlog (after start, or after being away).
    CatchingUp,
    /// The last attempt failed: PostgreSQL is unreachable or refused the batch.
    Offline,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::CatchingUp => "catching_up",
            State::Offline => "offline",
        }
    }
}

/// What the worker shares with the API.
#[derive(Debug, Clone)]
struct Live {
    state: State,
    /// The highest sequence number PostgreSQL has (as far as this node knows).
    position: u64,
    last_shipped_at: Option<jiff::Timestamp>,
    last_error: Option<String>,
}

/// The replication task's handle. Cheap to clone.
#[derive(Clone)]
pub struct Replica {
    shared: Arc<Shared>,
}

struct Shared {
    store: Store,
    settings: Settings,
    metrics: Arc<Metrics>,
    live: Mutex<Live>,
    task: Mutex<Option<worker::Handle>>,
    puller: Mutex<Option<worker::Handle>>,
    /// Queues the node's history for shipping (see `store::backfill`), once.
    backfill: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Connections for reports over every node, apart from the shipping task's.
    reports: deadpool_postgres::Pool,
    /// The destinations, told when an erasure from another node redacted waiting events.
    relays: std::sync::OnceLock<crate::relay::Relays>,
}

/// `GET /api/replication`.
#[derive(Debug, Clone)]
pub struct Status {
    pub node: String,
    pub state: State,
    pub lag_events: u64,
    pub shipped_seq: u64,
    pub last_shipped_at: Option<jiff::Timestamp>,
    pub last_error: Option<String>,
}

impl Status {
    pub fn to_json(&self) -> Value {
        json!({
            "node": self.node,
            "target": "postgres",
            "state": self.state.as_str(),
            "lag_events": self.lag_events,
            "shipped_seq": self.shipped_seq,
            "last_shipped_at": self.last_shipped_at.map(crate::lead::format_timestamp),
            "last_error": self.last_error,
        })
    }
}

/// Rows of the node's history queued per writer turn: small enough that a turn costs the
/// visitors waiting behind it a few milliseconds.
const HISTORY_STEP: usize = 1000;

/// Queues the history a node held before it replicated, a step at a time between the
/// writer's other work, until none is left (at once, for a node that replicated from
/// the start).
async fn queue_history(store: Store) {
    loop {
        match store.backfill_replica(HISTORY_STEP).await {
            Ok(true) => return,
            Ok(false) => tokio::task::yield_now().await,
            Err(error) => {
                tracing::warn!("the node's history is not queued for PostgreSQL: {error}");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Keeps a started task's handle for [`Replica::stop`].
fn put<T>(slot: &Mutex<Option<T>>, handle: T) {
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
}

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

impl Replica {
    pub fn new(store: Store, settings: Settings, metrics: Arc<Metrics>) -> Replica {
        Replica {
            shared: Arc::new(Shared {
                store,
                metrics,
                live: Mutex::new(Live {
                    state: State::CatchingUp,
                    position: 0,
                    last_shipped_at: None,
                    last_error: None,
                }),
                task: Mutex::new(None),
                puller: Mutex::new(None),
                backfill: Mutex::new(None),
                reports: worker::new_pool(&settings.target),
                relays: std::sync::OnceLock::new(),
                settings,
            }),
        }
    }

    /// Tells `relays` when an erasure made on another node is applied here, so that their
    /// workers drop events they read ahead with the person's details (as after any erasure).
    pub fn telling(self, relays: crate::relay::Relays) -> Replica {
        // Set once, at construction: a second call changes nothing.
        let _ = self.shared.relays.set(relays);
        self
    }

    /// Starts shipping from the stored cursor (or further, if PostgreSQL already has
    /// more). Never fails for PostgreSQL being away: the task keeps trying.
    pub async fn start(&self) -> Result<()> {
        let cursor = self
            .shared
            .store
            .event_cursor(CONSUMER.into())
            .await?
            .unwrap_or(0);
        self.live().position = cursor;
        tracing::info!(
            "replicating node {} to {}",
            self.shared.settings.node,
            self.shared.settings.target
        );
        let handle = worker::spawn(self.shared.clone(), cursor);
        put(&self.shared.task, handle);
        put(&self.shared.puller, pull::spawn(self.shared.clone()));
        let backfill = tokio::spawn(queue_history(self.shared.store.clone()));
        put(&self.shared.backfill, backfill);
        Ok(())
    }

    /// Stops the task after it has acknowledged what PostgreSQL has.
    pub async fn stop(&self) {
        if let Some(handle) = take(&self.shared.task) {
            handle.stop().await;
        }
        if let Some(puller) = take(&self.shared.puller) {
            puller.stop().await;
        }
        if let Some(backfill) = take(&self.shared.backfill) {
            // Its position is stored with each step: the next start goes on from there.
            backfill.abort();
        }
    }

    /// The contact a conversion names among every node's leads in PostgreSQL, when no
    /// lead here matches; `None` when none does there either, or PostgreSQL cannot say.
    pub async fn find_contact(
        &self,
        reference: &crate::conversion::ContactRef,
    ) -> Option<crate::conversion::Matched> {
        let client = self.shared.reports.get().await.ok()?;
        match elsewhere::find_contact(&client, reference).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(
                    "a conversion's contact not looked up among other nodes' leads: {}",
                    worker::describe(error)
                );
                None
            }
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.shared.live()
    }

    /// The ROI summary's input over every node's data in PostgreSQL (`scope=all`); the
    /// non-converting journeys in `markov` too, when given (only Markov's chain reads them).
    pub async fn roi_input(
        &self,
        days: crate::roi::DayRange,
        markov: Option<crate::roi::Window>,
    ) -> Result<crate::roi::RoiInput> {
        let mut client = self.shared.reports.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => report::unreachable(e),
            other => crate::error::Error::unavailable(format!(
                "the report over every node reads PostgreSQL, which cannot answer now ({other})"
            )),
        })?;
        report::roi_input(&mut client, days, self.shared.store.tz(), markov).await
    }

    pub async fn status(&self) -> Result<Status> {
        let latest = self.shared.store.latest_event().await?;
        let live = self.live().clone();
        let lag_events = latest.saturating_sub(live.position);
        self.shared.metrics.set_replication_lag(lag_events);
        Ok(Status {
            node: self.shared.settings.node.clone(),
            state: live.state,
            lag_events,
            shipped_seq: live.position,
            last_shipped_at: live.last_shipped_at,
            last_error: live.last_error,
        })
    }
}

/// How `leadgate.leads.contact` names a contact: the SHA-256 (lower-case hex) of its key
/// (E.164 phone, else the lower-cased e-mail). Reports over every node join a contact's
/// leads and conversions by it; it names nobody, so an erasure may leave it.
pub fn contact_hash(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Shared {
    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}
