//! What leadgate does, written once: record a lead from any channel, import files, record
//! conversions and status changes, change campaigns and costs, build the ROI report.
//!
//! Every adapter calls these: the JSON API (`handlers`), the console (`admin`), the
//! command line, and the relays and replication that come next. Input is typed, results
//! are typed, failures are domain [`Error`]s; nothing here knows HTTP. Blocking work (the
//! store, parsing big files, the roll-up) runs off the async workers inside these
//! functions, so an adapter can simply await them.

pub mod campaigns;
pub mod conversions;
pub mod destinations;
pub mod erasures;
pub mod leads;
pub mod reports;
pub mod salespeople;
pub mod schedules;
pub mod visits;

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::forms::FormSet;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::relay::{self, Relays};
use crate::store::Store;

/// The store, the form definitions, the counters and the relays every operation may need.
pub struct Service {
    pub store: Store,
    pub forms: FormSet,
    pub metrics: Arc<Metrics>,
    /// Form views summed in memory until `visits::flush` writes them.
    pub views: visits::FormViews,
    /// Who scanned which code lately: a repeat within the window is not a scan.
    pub scanners: visits::RecentVisitors,
    /// The destinations' workers (idle until `relays.start()`: command-line tools send
    /// nothing).
    pub relays: Relays,
    /// What time it is for report schedules and scans (the system clock, unless a test
    /// sets one).
    pub clock: Clock,
    /// Replication to PostgreSQL, when this node runs with `--replicate`.
    pub replica: Option<crate::replica::Replica>,
}

impl Service {
    pub fn new(store: Store, forms: FormSet, relay_settings: relay::Settings) -> Result<Service> {
        let metrics = Arc::new(Metrics::new(store.clone()));
        let outbound = Outbound::new(relay_settings.allow_private).map_err(Error::internal)?;
        let relays = Relays::new(store.clone(), relay_settings, outbound, metrics.clone());
        Ok(Service {
            store,
            forms,
            metrics,
            views: visits::FormViews::default(),
            scanners: visits::RecentVisitors::default(),
            relays,
            clock: Clock::default(),
            replica: None,
        })
    }

    /// The reporting time zone: dates in filters and reports are days in it.
    pub fn tz(&self) -> &jiff::tz::TimeZone {
        self.store.tz()
    }
}

/// Runs CPU-heavy work (parsing a file of 200,000 rows, rolling up every conversion) on
/// the blocking pool, so that no async worker waits on it.
async fn off_the_workers<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::internal(format!("{what} task failed: {e}")))
}
