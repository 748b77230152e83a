//! `GET /metrics`: Prometheus text for operators. Every label value comes from a fixed
//! set chosen here (route names, status classes, sources, reasons) — never from the wire,
//! so a scanner probing random paths cannot blow up the series count.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::domain::Source;
use crate::store::Store;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// Destination kinds and delivery results, listed at 0 from the start.
const DELIVERY_KINDS: [&str; 4] = ["webhook", "wecom", "dingtalk", "feishu"];
const DELIVERY_RESULTS: [&str; 3] = ["delivered", "failed", "dead"];

/// Why a request stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    Honeypot,
    RateLimited,
    InvalidInput,
    TooLarge,
    Unauthorized,
    StoreUnavailable,
}

impl Reject {
    fn label(self) -> &'static str {
        match self {
            Reject::Honeypot => "honeypot",
            Reject::RateLimited => "rate_limited",
            Reject::InvalidInput => "invalid_input",
            Reject::TooLarge => "too_large",
            Reject::Unauthorized => "unauthorized",
            Reject::StoreUnavailable => "store_unavailable",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    leads: Family<SourceLabels, Counter>,
    rejects: Family<ReasonLabels, Counter>,
    queue_depth: Gauge,
    store_bytes: Gauge,
    deliveries: Family<DeliveryLabels, Counter>,
    delivery_backlog: Family<KindLabels, Gauge>,
    replication_shipped: Counter,
    replication_errors: Counter,
    replication_lag: Gauge,
    store: Store,
}

impl Metrics {
    pub fn new(store: Store) -> Metrics {
        let mut registry = Registry::with_prefix("leadgate");
        let requests = Family::<RequestLabels, Counter>::default();
        let leads = Family::<SourceLabels, Counter>::default();
        let rejects = Family::<ReasonLabels, Counter>::default();
        let queue_depth = Gauge::default();
        let store_bytes = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status class",
            requests.clone(),
        );
        registry.register(
            "leads_stored",
            "Leads committed to the store, by source",
            leads.clone(),
        );
        registry.register(
            "rejects",
            "Requests refused without storing anything, by reason",
            rejects.clone(),
        );
        registry.register(
            "writer_queue_depth",
            "Writes waiting for the single writer",
            queue_depth.clone(),
        );
        registry.register(
            "store_file_bytes",
            "Size of the redb file",
            store_bytes.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let delivery_backlog = Family::<KindLabels, Gauge>::default();
        registry.register(
            "deliveries",
            "Delivery attempts to destinations by kind and result (dead: the destination gave up)",
            deliveries.clone(),
        );
        registry.register(
            "delivery_backlog",
            "Events not yet delivered to destinations, by kind",
            delivery_backlog.clone(),
        );
        for kind in DELIVERY_KINDS {
            drop(delivery_backlog.get_or_create(&KindLabels { kind }));
            for result in DELIVERY_RESULTS {
                drop(deliveries.get_or_create(&DeliveryLabels { kind, result }));
            }
        }
        let replication_shipped = Counter::default();
        let replication_errors = Counter::default();
        let replication_lag = Gauge::default();
        registry.register(
            "replication_shipped",
            "Outbox events committed to PostgreSQL",
            replication_shipped.clone(),
        );
        registry.register(
            "replication_errors",
            "Failed attempts to reach PostgreSQL or ship a batch to it",
            replication_errors.clone(),
        );
        registry.register(
            "replication_lag_events",
            "Events written on this node that PostgreSQL does not have yet",
            replication_lag.clone(),
        );
        let health = store.health();
        registry.register(
            "commit_duration_seconds",
            "Time from the first write of a batch to the end of its durable commit",
            health.commit_seconds.clone(),
        );
        registry.register(
            "commit_batch_size",
            "Writes committed together in one transaction",
            health.batch_size.clone(),
        );
        registry.register(
            "commit_failures",
            "Commits that failed (disk full, I/O error)",
            health.failures.clone(),
        );
        // Every source is listed from the start, at 0: a rate() over a series that appears
        // later misses its first increments.
        for source in Source::ALL {
            drop(leads.get_or_create(&SourceLabels {
                source: source.as_str(),
            }));
        }
        Metrics {
            registry,
            requests,
            leads,
            rejects,
            queue_depth,
            store_bytes,
            deliveries,
            delivery_backlog,
            replication_shipped,
            replication_errors,
            replication_lag,
            store,
        }
    }

    /// One delivery attempt's result (`delivered`, `failed`, or `dead` when the
    /// destination gave up) for a destination of `kind`.
    pub fn delivery(&self, kind: &'static str, result: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels { kind, result })
            .inc();
    }

    pub fn set_delivery_backlog(&self, kind: &'static str, events: u64) {
        self.delivery_backlog
            .get_or_create(&KindLabels { kind })
            .set(i64::try_from(events).unwrap_or(i64::MAX));
    }

    /// `events` more are in PostgreSQL.
    pub fn replication_shipped(&self, events: u64) {
        self.replication_shipped.inc_by(events);
    }

    /// An attempt to reach PostgreSQL or ship to it failed.
    pub fn replication_error(&self) {
        self.replication_errors.inc();
    }

    pub fn set_replication_lag(&self, events: u64) {
        self.replication_lag
            .set(i64::try_from(events).unwrap_or(i64::MAX));
    }

    pub fn request(&self, route: &'static str, status: u16) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }

    pub fn lead_stored(&self, source: Source) {
        self.leads
            .get_or_create(&SourceLabels {
                source: source.as_str(),
            })
            .inc();
    }

    pub fn leads_stored(&self, source: Source, count: u64) {
        self.leads
            .get_or_create(&SourceLabels {
                source: source.as_str(),
            })
            .inc_by(count);
    }

    pub fn reject(&self, reason: Reject) {
        self.rejects
            .get_or_create(&ReasonLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// The text exposition, with the gauges read now. The file size is read on the
    /// blocking pool: even a `stat` is disk I/O, which stays off the async workers.
    pub async fn render(&self) -> String {
        let health = self.store.health();
        self.queue_depth
            .set(health.queued.load(std::sync::atomic::Ordering::Relaxed) as i64);
        let path = self.store.path().to_owned();
        let bytes = tokio::task::spawn_blocking(move || std::fs::metadata(path).map(|m| m.len()))
            .await
            .ok()
            .and_then(|size| size.ok())
            .unwrap_or(0);
        self.store_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
