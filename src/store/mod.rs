//! Everything that touches redb. One writer thread owns every write transaction and
//! commits in groups; reads run on tokio's blocking pool. Nothing here runs redb on an
//! async worker thread, and nothing is acknowledged before its commit returns.

mod assignee_index;
pub mod audit_log;
mod backfill;
pub mod backup;
mod check;
pub mod copy;
pub mod destinations;
pub mod erasure;
mod follow_ups;
mod handle;
mod journeys;
mod open;
pub mod outbox;
pub mod qr_targets;
mod read;
pub mod restore;
pub mod roster;
pub mod schedules;
pub mod shared;
mod tables;
mod write;
mod writer;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use redb::ReadableDatabase;

use crate::activity::Activity;
use crate::campaign::Campaign;
use crate::conversion::{Conversion, ConversionInput, Matched, Upsert};
use crate::cost::CostEntry;
use crate::destination::{DeliveryRecord, Destination};
use crate::domain::{LeadId, LeadStatus, Slug};
use crate::error::{Error, Result};
use crate::lead::Lead;
use crate::roi::RoiInput;
use crate::salesperson::Salesperson;
use crate::schedule::Schedule;

pub use check::Report as CheckReport;
pub use follow_ups::Summary as FollowUpSummary;
pub use handle::Rewritten;
pub use read::{LeadQuery, SUMMARY_METRICS, ScanReport, add as add_counter};
pub use write::{LeadChange, LeadOutcome, NewLead};
pub use writer::Health;

use crate::faults::FaultSwitch;

/// Form views summed in memory: `views` renders of `slug`'s form on `day` (YYYYMMDD in
/// the reporting zone), by visitors who came by `qr_variant`'s code, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewCount {
    pub slug: Slug,
    pub day: u32,
    pub qr_variant: Option<String>,
    pub views: u64,
}

/// A scan or a form view for `Store::count_visits`.
#[derive(Debug, Clone)]
pub enum Visit {
    Scan {
        slug: Slug,
        variant: String,
        at: jiff::Timestamp,
        by: crate::scanner::Scanner,
    },
    FormView {
        slug: Slug,
        at: jiff::Timestamp,
        qr_variant: Option<String>,
    },
}

/// Handle to the store; cheap to clone. The writer thread stops when the last handle
/// is dropped, after committing what was queued.
#[derive(Clone)]
pub struct Store {
    db: Arc<handle::DbHandle>,
    writer: writer::WriterHandle,
    campaigns: Arc<CampaignCache>,
    journeys: Arc<journeys::JourneyCache>,
    path: std::path::PathBuf,
    tz: jiff::tz::TimeZone,
    /// Changes after each commit that appended outbox events.
    events: tokio::sync::watch::Receiver<u64>,
    roster: Arc<RosterCache>,
    qr_targets: Arc<qr_targets::TargetCache>,
    /// When the oldest erasure the file still holds traces of was committed: the file is
    /// to be rewritten (see `rewrite`).
    scrub: Arc<std::sync::Mutex<Option<jiff::Timestamp>>>,
}

/// The store holds every visitor's phone number: only its owner may read it.
mod private {
    use std::path::Path;

    /// Creates `dir` (and missing parents) readable by its owner only (`0700`). A data
    /// directory an older version made (it holds a store) is narrowed to `0700` too; any
    /// other existing directory is the operator's to set.
    pub fn create_dir(dir: &Path, store: &Path) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        #[cfg(unix)]
        if store.exists() {
            std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        Ok(())
    }

    /// Creates the store file `0600` before redb opens it, or makes an existing one so
    /// (a store written by an older version was readable by everyone).
    pub fn restrict_file(path: &Path) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        drop(file);
        Ok(())
    }
}

/// Jobs a command-line tool's store may queue: tools write one change at a time; the
/// server sizes its queue from its settings.
const TOOL_QUEUE_CAPACITY: usize = 64;

/// How a store is opened: a command-line tool's defaults, or the server's settings.
pub struct OpenOptions {
    /// Makes commits fail or stall on demand (tests).
    pub faults: FaultSwitch,
    /// Jobs that may wait for the writer.
    pub writer_queue: usize,
    /// The page cache in bytes; `None`: redb's default (tools are short-lived).
    pub cache_bytes: Option<usize>,
    /// Whether each commit also saves redb's allocator state, so that a restart after
    /// `kill -9` or a power cut takes milliseconds instead of a walk over the whole file
    /// (about a second at 1M leads), at the price of slower commits on a big store.
    pub quick_repair: bool,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            faults: FaultSwitch::default(),
            writer_queue: TOOL_QUEUE_CAPACITY,
            cache_bytes: None,
            quick_repair: true,
        }
    }
}

/// The writer's load (jobs waiting and committing) from which it counts as saturated. A
/// commit takes about a millisecond, so a load of 16 means some ten thousand writes a
/// second; 1,000 leads a second keep it near 1.
const SATURATED_LOAD: usize = 16;

impl Store {
    /// Opens (or creates) the store file, checks its schema and starts the writer, with
    /// the small queue of a command-line tool (the server uses `open_with` and its
    /// setting). Blocking: call it before serving, or from a blocking context.
    pub fn open(path: &Path, tz: jiff::tz::TimeZone) -> Result<Store> {
        Store::open_with(path, tz, OpenOptions::default())
    }

    /// `open` as `options` say (the server's settings; faults for tests).
    pub fn open_with(path: &Path, tz: jiff::tz::TimeZone, options: OpenOptions) -> Result<Store> {
        if let Some(dir) = path.parent() {
            private::create_dir(dir, path).map_err(|e| {
                Error::internal(format!(
                    "cannot create data directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        private::restrict_file(path).map_err(|e| {
            Error::internal(format!("cannot create the store {}: {e}", path.display()))
        })?;
        // A rewrite cut short by a crash leaves its copy: the store file is whole.
        let _ = std::fs::remove_file(handle::DbHandle::rewrite_path(path));
        let db = Arc::new(handle::DbHandle::open(path, options.cache_bytes)?);
        write::initialise(&*db.get()?, &tz)?;
        let campaigns = {
            let database = db.get()?;
            let txn = database.begin_read().map_err(storage)?;
            Arc::new(CampaignCache::new(read::campaigns(&txn)?))
        };
        let (events_sender, events) = tokio::sync::watch::channel(0);
        let roster = {
            let database = db.get()?;
            let txn = database.begin_read().map_err(storage)?;
            Arc::new(RosterCache::new(roster::list(&txn)?))
        };
        let writer = writer::spawn(
            db.clone(),
            tz.clone(),
            options,
            events_sender,
            campaigns.clone(),
            roster.clone(),
        )?;
        let (qr_targets, scrub) = {
            let database = db.get()?;
            let txn = database.begin_read().map_err(storage)?;
            (
                Arc::new(qr_targets::TargetCache::new(qr_targets::all(&txn)?)),
                // Erased before a stop or a crash, not yet rewritten: still to do.
                Arc::new(std::sync::Mutex::new(erasure::rewrite_pending(&txn)?)),
            )
        };
        Ok(Store {
            db,
            writer,
            campaigns,
            journeys: Arc::default(),
            tz,
            path: path.to_owned(),
            events,
            roster,
            qr_targets,
            scrub,
        })
    }

    pub fn health(&self) -> Arc<Health> {
        self.writer.health()
    }

    /// Whether writes arrive faster than the writer commits them (a burst of leads):
    /// then work that can wait, such as deliveries, should.
    pub fn writer_saturated(&self) -> bool {
        self.writer.load() >= SATURATED_LOAD
    }

    /// The redb file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// Waits until every queued write is committed and the writer thread has exited.
    /// Other clones of this handle must be dropped first, or this waits for them.
    pub async fn close(self) {
        let Store { db, writer, .. } = self;
        drop(db);
        writer.close().await;
    }

    /// `close` for command-line tools: the file is closed cleanly, so the next open needs
    /// no repair.
    pub fn close_blocking(self) {
        let Store { db, writer, .. } = self;
        drop(db);
        writer.close_blocking();
    }

    /// Rewrites the file without free space (server stopped). Returns the size before
    /// and after, in bytes.
    pub fn compact_file(path: &Path) -> Result<(u64, u64)> {
        let before = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut db = handle::open_database(path, None)?;
        let mut rounds = 0;
        // Each call moves pages towards the start; repeat until nothing moves.
        while db.compact().map_err(storage)? && rounds < 32 {
            rounds += 1;
        }
        drop(db);
        let after = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok((before, after))
    }

    // ---- writes -------------------------------------------------------------------

    pub async fn insert_lead(&self, lead: NewLead) -> Result<LeadOutcome> {
        let contact = lead.lead.contact.clone();
        let outcome = self
            .writer
            .run(move |t, ctx| write::insert_lead(t, ctx, lead))
            .await;
        // After the commit and before the answer: whoever learns of the lead sees its effect.
        self.journeys.leads_written([contact.as_str()]);
        outcome
    }

    /// Writes form views summed in memory, in one job.
    pub async fn count_form_views(&self, counts: Vec<ViewCount>) -> Result<()> {
        self.writer
            .run(move |t, ctx| {
                for c in &counts {
                    write::count_form_views(
                        t,
                        ctx,
                        &c.slug,
                        c.day,
                        c.qr_variant.as_deref(),
                        c.views,
                    )?;
                }
                Ok(())
            })
            .await
    }

    pub async fn count_scan(
        &self,
        slug: Slug,
        variant: String,
        at: jiff::Timestamp,
        by: crate::scanner::Scanner,
    ) -> Result<()> {
        self.writer
            .run(move |t, ctx| write::count_scan(t, ctx, &slug, &variant, at, by))
            .await
    }

    /// Points the code `(slug, variant)` at `target`; returns its history, oldest first.
    pub async fn set_qr_target(
        &self,
        slug: Slug,
        variant: String,
        target: crate::qr_target::Target,
        now: jiff::Timestamp,
    ) -> Result<Vec<qr_targets::TargetChange>> {
        let cache = self.qr_targets.clone();
        let (key_slug, key_variant, committed) = (slug.clone(), variant.clone(), target.clone());
        self.writer
            .run_then(
                move |t, _| qr_targets::set(t, slug.as_str(), &variant, &target, now),
                move |_| cache.put(key_slug.as_str(), &key_variant, committed),
            )
            .await
    }

    /// A code's targets, oldest first (empty: it has always gone to its form).
    pub async fn qr_target_history(
        &self,
        slug: Slug,
        variant: String,
    ) -> Result<Vec<qr_targets::TargetChange>> {
        self.read(move |txn| qr_targets::history(txn, slug.as_str(), &variant))
            .await
    }

    /// Audit log entries, and whether more follow.
    pub async fn audit_entries(
        &self,
        order: audit_log::Order,
        limit: usize,
    ) -> Result<(Vec<crate::audit::Entry>, bool)> {
        self.read(move |txn| audit_log::entries(txn, order, limit))
            .await
    }

    /// Where a scan of the code goes now (its form unless it was pointed elsewhere).
    pub fn qr_target(&self, slug: &str, variant: &str) -> crate::qr_target::Target {
        self.qr_targets.get(slug, variant)
    }

    /// A campaign's scans over the days `from..=to` (`YYYYMMDD`).
    pub async fn scan_report(&self, slug: Slug, from: u32, to: u32) -> Result<read::ScanReport> {
        self.read(move |txn| read::scan_report(txn, slug.as_str(), from, to))
            .await
    }

    /// Counts many scans and form views in one job (the demo's traffic): one by one, each
    /// would wait for a commit of its own.
    pub async fn count_visits(&self, visits: Vec<Visit>) -> Result<()> {
        self.writer
            .run(move |t, ctx| {
                for visit in &visits {
                    match visit {
                        Visit::Scan {
                            slug,
                            variant,
                            at,
                            by,
                        } => {
                            write::count_scan(t, ctx, slug, variant, *at, *by)?;
                        }
                        Visit::FormView {
                            slug,
                            at,
                            qr_variant,
                        } => {
                            let day = crate::domain::day_number(*at, &ctx.tz);
                            write::count_form_views(t, ctx, slug, day, qr_variant.as_deref(), 1)?
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    pub async fn create_campaign(&self, campaign: Campaign) -> Result<Campaign> {
        let cache = self.campaigns.clone();
        let created = self
            .writer
            .run_then(
                move |t, _| write::create_campaign(t, campaign),
                move |c| cache.put(c),
            )
            .await;
        // Journeys name campaigns by their position in the sorted list, which just moved.
        self.journeys.campaigns_written();
        created
    }

    /// Applies `change` to the stored campaign inside the write transaction, so that
    /// two concurrent patches never overwrite each other.
    pub async fn update_campaign<F>(&self, slug: Slug, change: F) -> Result<Campaign>
    where
        F: FnOnce(&mut Campaign) -> Result<()> + Send + 'static,
    {
        let cache = self.campaigns.clone();
        self.writer
            .run_then(
                move |t, _| write::update_campaign(t, &slug, change),
                move |c| cache.put(c),
            )
            .await
    }

    // ---- erasure (see `erasure`) -------------------------------------------------

    /// Erases the person a phone (E.164) or an e-mail names, in one transaction: their
    /// leads and contact go, the counters and the journeys the reports credit stay under
    /// an anonymous key. `unknown_contact` (404) if nothing of them is stored. `receipt`
    /// is the receipt's id, chosen by the caller so that it can name the erasure (in its
    /// audit entry) before the writer runs it.
    pub async fn erase(
        &self,
        person: erasure::Person,
        receipt: LeadId,
        now: jiff::Timestamp,
    ) -> Result<erasure::Receipt> {
        let scrub = self.scrub.clone();
        let receipt = self
            .writer
            .run_then(
                move |t, _| {
                    let keys = match &person {
                        erasure::Person::Phone(key) | erasure::Person::Key(key) => {
                            vec![key.clone()]
                        }
                        erasure::Person::Email(email) => erasure::contacts_of_email(t, email)?,
                    };
                    erasure::erase_contacts(t, &keys, erasure::Reason::Request, receipt, now)
                        .map(|receipt| (receipt, keys))
                },
                move |_| mark_scrub(&scrub, now),
            )
            .await;
        let (receipt, keys) = receipt?;
        self.journeys.contacts_changed(keys);
        Ok(receipt)
    }

    /// Applies another node's erasure of a person (see [`erasure::erase_from_elsewhere`]).
    pub async fn erase_from_elsewhere(
        &self,
        erasure: erasure::FromElsewhere,
        now: jiff::Timestamp,
    ) -> Result<erasure::AppliedElsewhere> {
        let scrub = self.scrub.clone();
        let applied = self
            .writer
            .run_then(
                move |t, _| erasure::erase_from_elsewhere(t, &erasure, now),
                move |applied: &erasure::AppliedElsewhere| {
                    if applied.receipt.is_some() || !applied.conversions.is_empty() {
                        mark_scrub(&scrub, now);
                    }
                },
            )
            .await?;
        self.journeys.contacts_changed(applied.contacts.clone());
        self.journeys
            .conversions_written(applied.conversions.clone());
        Ok(applied)
    }

    /// Erases the leads received before `cutoff` (the retention rule), in transactions of
    /// at most `RETENTION_BATCH` leads. Returns the receipts.
    pub async fn erase_older_than(
        &self,
        cutoff: jiff::Timestamp,
        now: jiff::Timestamp,
    ) -> Result<Vec<erasure::Receipt>> {
        let mut all = Vec::new();
        loop {
            let scrub = self.scrub.clone();
            let receipts = self
                .writer
                .run_then(
                    move |t, _| erasure::erase_older_than(t, cutoff, RETENTION_BATCH, now),
                    move |(receipts, _)| {
                        if !receipts.is_empty() {
                            mark_scrub(&scrub, now);
                        }
                    },
                )
                .await;
            let (receipts, contacts) = receipts?;
            self.journeys.contacts_changed(contacts);
            if receipts.is_empty() {
                return Ok(all);
            }
            all.extend(receipts);
        }
    }

    /// When the oldest erasure not yet rewritten out of the file was committed.
    pub fn rewrite_pending_since(&self) -> Option<jiff::Timestamp> {
        *self.scrub.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rewrites the store into a fresh file and serves from it (see `DbHandle::rewrite`):
    /// the values erasures deleted leave the disk with the old file. Runs on the writer
    /// thread between two commits, so no write is lost or lands in the old file; writes
    /// queue meanwhile. If it fails, the erasures stay pending for the next try.
    pub async fn rewrite(&self) -> Result<Rewritten> {
        let scrub = self.scrub.clone();
        self.writer
            .exclusive(move |db| {
                // Taken on the writer thread: every erasure committed so far is in the
                // snapshot; one committed later marks the store again.
                let pending = scrub.lock().unwrap_or_else(|e| e.into_inner()).take();
                let rewritten = db.rewrite();
                if rewritten.is_err() {
                    *scrub.lock().unwrap_or_else(|e| e.into_inner()) = pending;
                }
                rewritten
            })
            .await?
    }

    /// Every erasure receipt, oldest first.
    pub async fn erasures(&self) -> Result<Vec<erasure::Receipt>> {
        self.read(erasure::receipts).await
    }

    /// Whether `id` names a lead that was erased (it answers 410).
    pub async fn is_erased(&self, id: LeadId) -> Result<bool> {
        self.read(move |txn| erasure::is_erased(txn, id)).await
    }

    // ---- backups (see `backup`) ---------------------------------------------------

    /// A read snapshot for a backup, taken on the blocking pool: every write committed
    /// before this call is in it, and the writer goes on meanwhile. It holds the
    /// database, not the store, so a stop is not kept waiting by a slow download.
    pub async fn backup_snapshot(&self) -> Result<backup::Snapshot> {
        let handle = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = handle.get()?.begin_read().map_err(storage)?;
            Ok(backup::Snapshot(txn))
        })
        .await
        .map_err(|e| Error::internal(format!("read task failed: {e}")))?
    }

    /// A whole backup for a command-line tool, blocking.
    pub fn backup_blocking(
        &self,
        taken_at: jiff::Timestamp,
        out: impl std::io::Write,
    ) -> Result<backup::Summary> {
        let snapshot = self.db.get()?.begin_read().map_err(storage)?;
        backup::write(&snapshot, taken_at, out)
    }

    /// Commits the audit entry of the request being served by itself: for an audited
    /// action that writes nothing else (a backup reads the whole store).
    pub async fn commit_audit_entry(&self) -> Result<()> {
        self.writer.run(|_, _| Ok(())).await
    }

    // ---- outbox (see `outbox`) ----------------------------------------------------

    /// Registers an outbox consumer (a destination, replication); it receives the events
    /// written from now on.
    pub async fn register_consumer(&self, consumer: String) -> Result<()> {
        self.writer
            .run(move |t, _| outbox::register(t, &consumer).map(|_| ()))
            .await
    }

    /// Registers replication's consumer; the first time, on a store that holds data
    /// already, the store's history is queued for it too (see `backfill`).
    pub async fn register_replica(&self) -> Result<()> {
        self.writer
            .run(|t, _| {
                if outbox::register(t, crate::replica::CONSUMER)? {
                    backfill::begin(t)?;
                }
                Ok(())
            })
            .await
    }

    /// Appends about `budget` rows more of the history for replication; `true` once
    /// nothing is left.
    pub async fn backfill_replica(&self, budget: usize) -> Result<bool> {
        self.writer.run(move |t, _| backfill::step(t, budget)).await
    }

    pub async fn unregister_consumer(&self, consumer: String) -> Result<()> {
        self.writer
            .run(move |t, _| outbox::unregister(t, &consumer))
            .await
    }

    /// `consumer` has handled every event up to `seq`.
    pub async fn acknowledge_events(&self, consumer: String, seq: u64) -> Result<()> {
        self.writer
            .run(move |t, _| outbox::acknowledge(t, &consumer, seq))
            .await
    }

    /// Up to `limit` events `consumer` has not handled yet, in order.
    pub async fn pending_events(
        &self,
        consumer: String,
        limit: usize,
    ) -> Result<Vec<(u64, outbox::Event)>> {
        self.read(move |txn| outbox::pending(txn, &consumer, limit))
            .await
    }

    /// `consumer`'s cursor (`None` if it is not registered).
    pub async fn event_cursor(&self, consumer: String) -> Result<Option<u64>> {
        self.read(move |txn| outbox::cursor(txn, &consumer)).await
    }

    pub async fn event_backlog(&self, consumer: String) -> Result<u64> {
        self.read(move |txn| outbox::backlog(txn, &consumer)).await
    }

    /// Up to `limit` events after `seq`, in order.
    pub async fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<(u64, outbox::Event)>> {
        self.read(move |txn| outbox::after(txn, seq, limit)).await
    }

    /// The sequence number of the latest event (0 before the first).
    pub async fn latest_event(&self) -> Result<u64> {
        self.read(outbox::latest).await
    }

    /// Changes after every commit that appended outbox events: relays wait on it.
    pub fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.clone()
    }

    // ---- destinations (see `destinations`) -----------------------------------------

    /// Stores a new destination; it receives the events written from now on, after the
    /// returned cursor.
    pub async fn create_destination(&self, destination: Destination) -> Result<u64> {
        self.writer
            .run(move |t, _| destinations::create(t, &destination))
            .await
    }

    pub async fn update_destination<F>(&self, id: LeadId, change: F) -> Result<Destination>
    where
        F: FnOnce(&mut Destination) -> Result<()> + Send + 'static,
    {
        self.writer
            .run(move |t, _| destinations::update(t, id, change))
            .await
    }

    pub async fn delete_destination(&self, id: LeadId) -> Result<Destination> {
        self.writer
            .run(move |t, _| destinations::delete(t, id))
            .await
    }

    /// A worker's progress: its record, and every event up to `seq` handled.
    pub async fn record_delivery(
        &self,
        id: LeadId,
        seq: u64,
        record: DeliveryRecord,
    ) -> Result<()> {
        self.writer
            .run(move |t, _| destinations::record_progress(t, id, seq, &record))
            .await
    }

    pub async fn destinations(&self) -> Result<Vec<destinations::Stored>> {
        self.read(destinations::list).await
    }

    pub async fn destination(&self, id: LeadId) -> Result<destinations::Stored> {
        self.read(move |txn| destinations::get(txn, id)).await
    }

    // ---- report schedules (see `schedules`) -----------------------------------------

    /// Stores a new schedule; `422 unknown_destination` if its destination is gone.
    pub async fn create_schedule(&self, schedule: Schedule) -> Result<Schedule> {
        self.writer
            .run(move |t, _| schedules::create(t, &schedule).map(|()| schedule))
            .await
    }

    pub async fn delete_schedule(&self, id: LeadId) -> Result<()> {
        self.writer.run(move |t, _| schedules::delete(t, id)).await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.read(schedules::list).await
    }

    pub async fn schedule(&self, id: LeadId) -> Result<Schedule> {
        self.read(move |txn| schedules::get(txn, id)).await
    }

    /// Writes a report's event (and, when scheduled, its period as the schedule's last).
    pub async fn send_report(&self, report: schedules::Report) -> Result<Option<schedules::Sent>> {
        self.writer
            .run(move |t, _| schedules::send(t, report))
            .await
    }

    pub async fn set_lead_status(
        &self,
        id: LeadId,
        status: LeadStatus,
        now: jiff::Timestamp,
    ) -> Result<Lead> {
        let change = LeadChange {
            status: Some(status),
            assigned_to: None,
        };
        self.update_lead(id, change, now).await
    }

    /// Changes a lead's status or salesperson; `now` is when (a status change away from
    /// `new` is the lead's follow-up then).
    pub async fn update_lead(
        &self,
        id: LeadId,
        change: LeadChange,
        now: jiff::Timestamp,
    ) -> Result<Lead> {
        self.writer
            .run(move |t, ctx| write::update_lead(t, ctx, id, change, now))
            .await
    }

    // ---- follow-ups (see `follow_ups`) -----------------------------------------------

    /// Records a follow-up on its lead; `unknown_lead` (404) if the lead is gone.
    pub async fn add_activity(&self, activity: Activity) -> Result<Activity> {
        self.writer
            .run(move |t, ctx| follow_ups::add_activity(t, ctx, &activity).map(|()| activity))
            .await
    }

    pub async fn activities(&self, lead: LeadId) -> Result<Vec<Activity>> {
        self.read(move |txn| follow_ups::activities(txn, lead))
            .await
    }

    /// The follow-up of each of `leads`, in their order (the console's leads page).
    pub async fn follow_up_summaries(&self, leads: Vec<LeadId>) -> Result<Vec<FollowUpSummary>> {
        self.read(move |txn| follow_ups::summaries(txn, &leads))
            .await
    }

    /// Counts the leads whose follow-up deadline passed by `now` unanswered as overdue,
    /// and emits one `lead.overdue` for each (at most `limit` a call). Returns how many.
    /// Whether a follow-up deadline passed by `now` waits for the check to fire it.
    pub async fn overdue_waiting(&self, now: jiff::Timestamp) -> Result<bool> {
        self.read(move |txn| follow_ups::any_due(txn, now)).await
    }

    pub async fn fire_overdue(&self, now: jiff::Timestamp, limit: usize) -> Result<usize> {
        self.writer
            .run(move |t, ctx| follow_ups::fire_due(t, ctx, now, limit))
            .await
    }

    // ---- the sales roster (see `roster`) --------------------------------------------

    pub async fn create_salesperson(&self, person: Salesperson) -> Result<Salesperson> {
        let cache = self.roster.clone();
        self.writer
            .run_then(
                move |t, _| roster::create(t, &person).map(|()| person),
                move |p| cache.put(p),
            )
            .await
    }

    pub async fn update_salesperson<F>(&self, id: LeadId, change: F) -> Result<Salesperson>
    where
        F: FnOnce(&mut Salesperson) -> Result<()> + Send + 'static,
    {
        let cache = self.roster.clone();
        self.writer
            .run_then(
                move |t, _| roster::update(t, id, change),
                move |p| cache.put(p),
            )
            .await
    }

    /// Deletes a salesperson without leads; one with leads is deactivated instead.
    pub async fn remove_salesperson(
        &self,
        id: LeadId,
        now: jiff::Timestamp,
    ) -> Result<roster::Removal> {
        let cache = self.roster.clone();
        self.writer
            .run_then(
                move |t, _| roster::remove(t, id, now),
                move |removal| match removal {
                    roster::Removal::Deleted => cache.remove(id),
                    roster::Removal::Deactivated(p) => cache.put(p),
                },
            )
            .await
    }

    /// Each salesperson's number of leads, counted up to `cap` (the roster page).
    pub async fn salesperson_lead_counts(&self, cap: usize) -> Result<HashMap<LeadId, usize>> {
        self.read(move |txn| roster::lead_counts(txn, cap)).await
    }

    /// From memory: the roster is small and read by every lead view.
    pub fn salespeople(&self) -> Vec<Salesperson> {
        self.roster.all()
    }

    pub fn salesperson(&self, id: LeadId) -> Option<Salesperson> {
        self.roster.get(id)
    }

    /// The name lead views show for `id`.
    pub fn salesperson_name(&self, id: LeadId) -> Option<String> {
        self.roster.get(id).map(|p| p.name)
    }

    /// Stores leads from an import in one transaction; each row's outcome by line.
    pub async fn import_leads(
        &self,
        rows: Vec<(usize, NewLead)>,
    ) -> Result<Vec<(usize, Result<LeadOutcome>)>> {
        self.import_leads_from(rows, |(line, lead)| (line, Ok(lead)))
            .await
    }

    /// `import_leads` of rows that `make` turns into leads (with their line numbers) one at
    /// a time on the writer, so that memory holds the rows (about the size of the file),
    /// not every lead at once.
    /// The writer spends the conversion's CPU too: other writes wait for the import, as
    /// they wait for its transaction anyway.
    pub async fn import_leads_from<T: Send + 'static>(
        &self,
        rows: Vec<T>,
        make: impl FnMut(T) -> (usize, Result<NewLead>) + Send + 'static,
    ) -> Result<Vec<(usize, Result<LeadOutcome>)>> {
        let (outcomes, contacts) = self
            .writer
            .run(move |t, ctx| write::import_leads(t, ctx, rows, make))
            .await?;
        self.journeys
            .leads_written(contacts.iter().map(String::as_str));
        Ok(outcomes)
    }

    /// `currency` is the campaign currency the amount was read in.
    pub async fn add_cost(
        &self,
        slug: Slug,
        entry: CostEntry,
        currency: crate::domain::Currency,
    ) -> Result<CostEntry> {
        self.writer
            .run(move |t, _| write::add_cost(t, &slug, entry, currency))
            .await
    }

    pub async fn delete_cost(&self, slug: Slug, id: String) -> Result<()> {
        self.writer
            .run(move |t, _| write::delete_cost(t, &slug, &id))
            .await
    }

    pub async fn upsert_conversion(
        &self,
        input: ConversionInput,
        now: jiff::Timestamp,
    ) -> Result<(Conversion, Upsert)> {
        self.upsert_conversion_as(input, now, None).await
    }

    /// `upsert_conversion`, with the contact other nodes' leads name for when no lead
    /// here matches it.
    pub async fn upsert_conversion_as(
        &self,
        input: ConversionInput,
        now: jiff::Timestamp,
        elsewhere: Option<Matched>,
    ) -> Result<(Conversion, Upsert)> {
        let id = input.id.clone();
        let upserted = self
            .writer
            .run(move |t, _| write::upsert_conversion_as(t, &input, now, elsewhere.as_ref()))
            .await;
        self.journeys.conversions_written([id]);
        upserted
    }

    pub async fn import_conversions(
        &self,
        rows: Vec<(usize, ConversionInput)>,
        now: jiff::Timestamp,
    ) -> Result<Vec<(usize, Result<Upsert>)>> {
        let rows = rows
            .into_iter()
            .map(|(line, input)| (line, input, None))
            .collect();
        self.import_conversions_as(rows, now).await
    }

    /// `import_conversions`, each row with the contact other nodes' leads name, for when
    /// no lead here matches it (see [`write::upsert_conversion_as`]).
    pub async fn import_conversions_as(
        &self,
        rows: Vec<(usize, ConversionInput, Option<Matched>)>,
        now: jiff::Timestamp,
    ) -> Result<Vec<(usize, Result<Upsert>)>> {
        let ids: Vec<String> = rows.iter().map(|(_, input, _)| input.id.clone()).collect();
        let imported = self
            .writer
            .run(move |t, _| write::import_conversions(t, rows, now))
            .await;
        self.journeys.conversions_written(ids);
        imported
    }

    /// Applies campaigns, cost entries and conversions made on other nodes (see
    /// [`shared`]); `this_node` breaks ties of `updated_at`.
    pub async fn apply_shared(
        &self,
        changes: shared::Changes,
        this_node: String,
    ) -> Result<shared::Applied> {
        let cache = self.campaigns.clone();
        let conversions: Vec<String> = changes
            .conversions
            .iter()
            .map(|(conversion, _)| conversion.id.clone())
            .collect();
        let applied = self
            .writer
            .run_then(
                move |t, _| shared::apply(t, changes, &this_node),
                move |applied: &shared::Applied| {
                    for campaign in &applied.campaigns {
                        cache.put(campaign);
                    }
                },
            )
            .await;
        // Journeys name campaigns by position (a request notices when that moved).
        self.journeys.campaigns_written();
        self.journeys.conversions_written(conversions);
        applied
    }

    /// After a failure: can the store take a burst of requests again? Writes
    /// `PROBE_BYTES`, then removes them. (A tiny write fits in the pages a failed
    /// transaction freed even while the disk is still full.)
    pub async fn probe(&self) -> Result<()> {
        // Two commits: written and removed in one transaction, the bytes never reach disk.
        self.writer
            .run(|t, _| write::set_meta(t, "health_probe", &vec![0u8; PROBE_BYTES]))
            .await?;
        self.writer
            .run(|t, _| write::remove_meta(t, "health_probe"))
            .await
    }

    pub async fn set_admin_token_hash(&self, hash: [u8; 32]) -> Result<()> {
        self.writer
            .run(move |t, _| write::set_meta(t, write::ADMIN_TOKEN_KEY, &hash))
            .await
    }

    // ---- reads --------------------------------------------------------------------

    async fn read<T, F>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T> + Send + 'static,
    {
        let handle = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let db = handle.get()?;
            let txn = db.begin_read().map_err(storage)?;
            query(&txn)
        })
        .await
        .map_err(|e| Error::internal(format!("read task failed: {e}")))?
    }

    /// From memory: every form post and scan looks its campaign up.
    pub async fn campaign(&self, slug: Slug) -> Result<Option<Campaign>> {
        Ok(self.campaigns.get(slug.as_str()).map(|c| (*c).clone()))
    }

    /// A campaign's name, from memory (chat messages name the campaign).
    pub fn campaign_name(&self, slug: &str) -> Option<String> {
        self.campaigns.get(slug).map(|c| c.name.clone())
    }

    pub async fn campaigns(&self) -> Result<Vec<Campaign>> {
        Ok(self.campaigns.all())
    }

    pub async fn lead(&self, id: LeadId) -> Result<Option<Lead>> {
        self.read(move |txn| read::lead(txn, id)).await
    }

    /// A page of leads, newest first, plus whether more follow.
    pub async fn leads(&self, query: LeadQuery) -> Result<(Vec<Lead>, bool)> {
        self.read(move |txn| read::leads(txn, &query)).await
    }

    pub async fn costs(&self, slug: Slug) -> Result<Vec<CostEntry>> {
        self.read(move |txn| read::costs(txn, slug.as_str())).await
    }

    pub async fn conversion(&self, id: String) -> Result<Option<Conversion>> {
        self.read(move |txn| read::conversion(txn, &id)).await
    }

    /// What the ROI summary needs for the days `from..=to` (`YYYYMMDD`).
    /// The journeys come from memory, brought up to date with the writes reported since
    /// (see `journeys`); the counters and costs are always read (they take
    /// O(campaigns × days)).
    ///
    /// `markov` (the report's window, for `model=markov` only) also reads the journeys of
    /// the contacts without a conversion. They are not kept: every lead of such a contact
    /// would change them, so under steady ingest a kept copy would rarely be usable, and
    /// the other models do not pay for them at all.
    pub async fn roi_input(
        &self,
        from: u32,
        to: u32,
        markov: Option<crate::roi::Window>,
    ) -> Result<RoiInput> {
        let cache = self.journeys.clone();
        let handle = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let db = handle.get()?;
            // Taken before the snapshot: whatever is reported later is read next time.
            if let Some(kept) = cache.warm() {
                let txn = db.begin_read().map_err(storage)?;
                let mut input = read::roi_totals(&txn, from, to)?;
                if kept.numbers(&input.campaigns) {
                    input.journeys = kept.journeys;
                    return with_markov(&txn, input, markov);
                }
            }
            let refresh = cache.refresh();
            let txn = db.begin_read().map_err(storage)?;
            let mut input = read::roi_totals(&txn, from, to)?;
            input.journeys = refresh.journeys(&txn, &input.campaigns)?.journeys;
            with_markov(&txn, input, markov)
        })
        .await
        .map_err(|e| Error::internal(format!("read task failed: {e}")))?
    }

    /// The journeys as the store holds them now, read in full (not kept): what the kept
    /// ones must always equal.
    #[cfg(test)]
    pub(crate) async fn journeys_read_in_full(&self) -> Result<Vec<crate::roi::Journey>> {
        self.read(|txn| {
            let campaigns = read::campaigns(txn)?;
            read::journeys(txn, &campaigns)
        })
        .await
    }

    /// Verifies every derived table against the rows (`leadgate check`). Blocking.
    pub fn check_blocking(&self) -> Result<CheckReport> {
        let txn = self.db.get()?.begin_read().map_err(storage)?;
        check::check(&txn, &self.tz)
    }

    /// Blocking variant for the `leadgate roi` command, which runs without a server.
    pub fn roi_input_blocking(
        &self,
        from: u32,
        to: u32,
        markov: Option<crate::roi::Window>,
    ) -> Result<RoiInput> {
        let txn = self.db.get()?.begin_read().map_err(storage)?;
        read::roi_input(&txn, from, to, markov)
    }

    /// Per-placement QR counts: variant -> [scans, form views, leads].
    pub async fn qr_stats(
        &self,
        slug: Slug,
    ) -> Result<std::collections::BTreeMap<String, [u64; 3]>> {
        self.read(move |txn| read::qr_stats(txn, slug.as_str()))
            .await
    }

    /// The campaign that prints `number` (E.164) as its tracking number.
    pub async fn campaign_by_tracking_number(&self, number: String) -> Result<Option<Campaign>> {
        self.read(move |txn| read::campaign_by_tracking_number(txn, &number))
            .await
    }

    pub async fn admin_token_hash(&self) -> Result<Option<[u8; 32]>> {
        self.read(|txn| {
            read::meta(txn, write::ADMIN_TOKEN_KEY).map(|v| v.and_then(|b| b.try_into().ok()))
        })
        .await
    }
}

/// The sales roster in memory, kept like the campaigns: updated on the writer thread right
/// after each commit.
struct RosterCache(std::sync::RwLock<std::collections::BTreeMap<LeadId, Salesperson>>);

impl RosterCache {
    fn new(people: Vec<Salesperson>) -> RosterCache {
        RosterCache(std::sync::RwLock::new(
            people.into_iter().map(|p| (p.id, p)).collect(),
        ))
    }

    fn get(&self, id: LeadId) -> Option<Salesperson> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn is_active(&self, id: LeadId) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .is_some_and(|p| p.active)
    }

    /// In creation order (ids are ULIDs).
    fn all(&self) -> Vec<Salesperson> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn put(&self, person: &Salesperson) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(person.id, person.clone());
    }

    fn remove(&self, id: LeadId) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Every campaign, in memory. This process is the store's only writer, and the cache is
/// updated on the writer thread right after each commit, in commit order, so it is never
/// behind what a reader could see. Campaigns are few; reading one must not cost a
/// transaction on every form post.
struct CampaignCache(std::sync::RwLock<std::collections::HashMap<String, Arc<Campaign>>>);

impl CampaignCache {
    fn new(campaigns: Vec<Campaign>) -> CampaignCache {
        CampaignCache(std::sync::RwLock::new(
            campaigns
                .into_iter()
                .map(|c| (c.slug.to_string(), Arc::new(c)))
                .collect(),
        ))
    }

    fn get(&self, slug: &str) -> Option<Arc<Campaign>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(slug)
            .cloned()
    }

    fn all(&self) -> Vec<Campaign> {
        let mut all: Vec<Campaign> = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|c| (**c).clone())
            .collect();
        all.sort_by(|a, b| a.slug.cmp(&b.slug));
        all
    }

    fn put(&self, campaign: &Campaign) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(campaign.slug.to_string(), Arc::new(campaign.clone()));
    }
}

/// `input` with the Markov model's non-converting journeys when `markov` gives a window.
fn with_markov(
    txn: &redb::ReadTransaction,
    mut input: RoiInput,
    markov: Option<crate::roi::Window>,
) -> Result<RoiInput> {
    if let Some(window) = markov {
        let window_leads = input.counters.iter().map(|c| c.leads).sum();
        input.non_converting =
            read::non_converting(txn, &input.campaigns, &input.journeys, window, window_leads)?;
    }
    Ok(input)
}

/// Notes that an erasure committed at `now` awaits a rewrite of the file (the earliest
/// such moment is kept).
fn mark_scrub(scrub: &std::sync::Mutex<Option<jiff::Timestamp>>, now: jiff::Timestamp) {
    let mut pending = scrub.lock().unwrap_or_else(|e| e.into_inner());
    if pending.is_none() {
        *pending = Some(now);
    }
}

/// Leads one retention transaction erases at most: the writer's other jobs wait for it.
const RETENTION_BATCH: usize = 2_000;

/// Headroom a health probe asks for: a megabyte, more than a batch of the largest form
/// posts needs.
const PROBE_BYTES: usize = 1024 * 1024;

/// Any redb failure: the store cannot serve this request, the client may retry.
/// The detail (paths, OS errors) goes to the log, not to anonymous clients.
pub(crate) fn storage(error: impl std::fmt::Display) -> Error {
    tracing::error!("store error: {error}");
    Error::unavailable("the store cannot take this request right now; please retry shortly")
}

/// The outbox consumer of a destination.
fn destination_consumer(id: LeadId) -> String {
    crate::destination::consumer_name(id)
}
