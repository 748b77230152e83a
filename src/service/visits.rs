//! What happens before a lead: QR scans and form views, counted per campaign, day and
//! placement, and the per-placement figures marketers compare.
//!
//! A scan is written before its redirect is answered (it is rate-limited, and creates at
//! most 64 placements a campaign). A form view is not worth a disk commit of its own: views
//! are de-duplicated per visitor and summed in memory, and `flush` writes the sums at least
//! once a second (the server's timer, and before every report that shows them). A crash
//! loses at most the last second of view counts.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Service;
use crate::campaign::Campaign;
use crate::domain::{Slug, day_number};
use crate::error::Result;
use crate::store::ViewCount;

/// Views of one form by one visitor within this window count once.
pub const VIEW_WINDOW: Duration = Duration::from_secs(30);
/// Visitors remembered at most; past that (a flood of distinct addresses), views count
/// without de-duplication rather than memory growing without end.
const MAX_REMEMBERED_VIEWERS: usize = 100_000;
/// Distinct (campaign, day, placement) sums held at most; past that, further placements'
/// views are summed under "no placement" (the store may be refusing writes for a while,
/// and placement names in links are the visitor's choice).
const MAX_PENDING_SUMS: usize = 10_000;
/// A full visitor table is searched for stale entries at most this often, so that a flood
/// does not cost every view a scan of the whole table.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Counts one scan of the campaign's code (`variant` is the placement asked for, if
/// any) unless it repeats: the same visitor (address and User-Agent) scanning the same
/// placement within `VIEW_WINDOW` (WeChat fetches a link more than once). Returns whether
/// it counted. The redirect still carries the name the code was printed with (API.md); a
/// name that is no placement then counts its views and leads as "no placement".
pub async fn count_scan(
    service: &Service,
    campaign: &Campaign,
    variant: Option<String>,
    viewer: Viewer<'_>,
) -> Result<bool> {
    let visitor = (
        viewer.address,
        viewer.user_agent,
        campaign.slug.as_str(),
        variant.as_deref(),
    );
    if !service.scanners.is_new(visitor, Instant::now()) {
        return Ok(false);
    }
    let user_agent = Some(viewer.user_agent).filter(|ua| !ua.is_empty());
    service
        .store
        .count_scan(
            campaign.slug.clone(),
            variant.unwrap_or_default(),
            service.clock.now(),
            crate::scanner::Scanner::of(user_agent),
        )
        .await?;
    Ok(true)
}

/// Who viewed a form, as far as the edge can tell.
#[derive(Debug, Clone, Copy)]
pub struct Viewer<'a> {
    pub address: IpAddr,
    pub user_agent: &'a str,
}

/// Counts one view of the campaign's form (`qr_variant` when a scan led to it), unless
/// the same visitor viewed it within `VIEW_WINDOW`. Returns at once: nothing waits for
/// the disk.
pub fn count_form_view(
    service: &Service,
    campaign: &Campaign,
    qr_variant: Option<String>,
    viewer: Viewer<'_>,
) {
    let now = jiff::Timestamp::now();
    let day = day_number(now, service.tz());
    service
        .views
        .count(&campaign.slug, day, qr_variant, viewer, Instant::now());
}

/// Writes the form views summed since the last flush. One flush at a time: a report's
/// flush waits for the timer's to commit, so it never reads before views it did not see.
pub async fn flush(service: &Service) -> Result<()> {
    let _one_at_a_time = service.views.flushing.lock().await;
    let counts = service.views.take();
    if counts.is_empty() {
        return Ok(());
    }
    let kept = counts.clone();
    let written = service.store.count_form_views(counts).await;
    if written.is_err() {
        // The disk failed: keep the sums for the next flush rather than lose them.
        service.views.put_back(kept);
    }
    written
}

/// `flush` before a read that shows view counts; a failure is logged, and the sums wait
/// for the next flush.
pub(crate) async fn flush_for_reading(service: &Service) {
    if let Err(error) = flush(service).await {
        tracing::warn!("form views not written before a report: {error}");
    }
}

/// Visitors seen within `VIEW_WINDOW`, so that a repeat counts once. Bounded: past
/// `MAX_REMEMBERED_VIEWERS` (a flood of distinct addresses), further visitors count without
/// de-duplication rather than memory growing without end.
#[derive(Default)]
pub struct RecentVisitors {
    state: Mutex<Recent>,
    hasher: RandomState,
}

#[derive(Default)]
struct Recent {
    /// Hash of the visitor -> when it last counted. Hashed with a per-process random key,
    /// so that nobody can aim at collisions.
    seen: HashMap<u64, Instant>,
    /// When a full `seen` may next be searched for stale entries.
    next_prune: Option<Instant>,
}

impl RecentVisitors {
    /// Whether `visitor` was not seen within the window (and notes it now); `now` is
    /// passed in so tests can move time.
    pub fn is_new(&self, visitor: impl std::hash::Hash, now: Instant) -> bool {
        let visitor = self.hasher.hash_one(visitor);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = state.seen.get(&visitor)
            && now.saturating_duration_since(*last) < VIEW_WINDOW
        {
            return false;
        }
        if state.seen.len() >= MAX_REMEMBERED_VIEWERS && state.next_prune.is_none_or(|at| now >= at)
        {
            state
                .seen
                .retain(|_, last| now.saturating_duration_since(*last) < VIEW_WINDOW);
            state.next_prune = Some(now + PRUNE_EVERY);
        }
        if state.seen.len() < MAX_REMEMBERED_VIEWERS {
            state.seen.insert(visitor, now);
        }
        true
    }

    /// Forgets visitors whose window has passed.
    fn forget_stale(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .seen
            .retain(|_, last| now.saturating_duration_since(*last) < VIEW_WINDOW);
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }
}

/// Form views waiting to be written, and the visitors seen within the window.
#[derive(Default)]
pub struct FormViews {
    state: Mutex<ViewState>,
    visitors: RecentVisitors,
    /// Held from taking the sums until they are written.
    flushing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct ViewState {
    /// (slug, day, placement) -> views not yet written.
    pending: HashMap<(Slug, u32, Option<String>), u64>,
}

impl FormViews {
    /// Counts a view unless its visitor was seen within the window; `now` is passed in so
    /// tests can move time.
    pub fn count(
        &self,
        slug: &Slug,
        day: u32,
        qr_variant: Option<String>,
        viewer: Viewer<'_>,
        now: Instant,
    ) -> bool {
        let visitor = (viewer.address, viewer.user_agent, slug.as_str());
        if !self.visitors.is_new(visitor, now) {
            return false;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.add((slug.clone(), day, qr_variant), 1);
        true
    }

    /// The sums to write; forgets visitors whose window has passed.
    fn take(&self) -> Vec<ViewCount> {
        self.visitors.forget_stale(Instant::now());
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .pending
            .drain()
            .map(|((slug, day, qr_variant), views)| ViewCount {
                slug,
                day,
                qr_variant,
                views,
            })
            .collect()
    }

    fn put_back(&self, counts: Vec<ViewCount>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for c in counts {
            state.add((c.slug, c.day, c.qr_variant), c.views);
        }
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.visitors.remembered()
    }
}

impl ViewState {
    fn add(&mut self, key: (Slug, u32, Option<String>), views: u64) {
        let key = if self.pending.len() >= MAX_PENDING_SUMS && !self.pending.contains_key(&key) {
            (key.0, key.1, None)
        } else {
            key
        };
        *self.pending.entry(key).or_default() += views;
    }
}

/// One placement's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    pub scans: u64,
    pub form_views: u64,
    pub leads: u64,
}

/// Figures per placement (`""` = the code without a variant), including every printed
/// variant of the campaign, even those nobody has scanned yet.
pub async fn placements(
    service: &Service,
    campaign: &Campaign,
) -> Result<BTreeMap<String, Placement>> {
    flush_for_reading(service).await;
    let mut placements: BTreeMap<String, Placement> = service
        .store
        .qr_stats(campaign.slug.clone())
        .await?
        .into_iter()
        .map(|(variant, [scans, form_views, leads])| {
            let placement = Placement {
                scans,
                form_views,
                leads,
            };
            (variant, placement)
        })
        .collect();
    for variant in &campaign.qr_variants {
        placements.entry(variant.clone()).or_default();
    }
    Ok(placements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(address: &str, user_agent: &'static str) -> Viewer<'static> {
        Viewer {
            address: address.parse().unwrap(),
            user_agent,
        }
    }

    #[test]
    fn a_visitor_counts_once_per_window() {
        let views = FormViews::default();
        let slug = Slug::parse("expo").unwrap();
        let start = Instant::now();
        let phone = viewer("10.0.0.1", "WeChat");
        for second in 0..30 {
            let at = start + Duration::from_secs(second);
            assert_eq!(views.count(&slug, 1, None, phone, at), second == 0);
        }
        assert!(views.count(&slug, 1, None, phone, start + VIEW_WINDOW));
        assert!(views.count(&slug, 1, None, viewer("10.0.0.1", "Safari"), start));
        assert!(views.count(&slug, 1, None, viewer("10.0.0.2", "WeChat"), start));
        let other = Slug::parse("live").unwrap();
        assert!(views.count(&other, 1, None, phone, start));
        let mut counts = views.take();
        counts.sort_by(|a, b| a.slug.as_str().cmp(b.slug.as_str()));
        let sums: Vec<(&str, u64)> = counts.iter().map(|c| (c.slug.as_str(), c.views)).collect();
        assert_eq!(sums, [("expo", 4), ("live", 1)]);
        assert!(views.take().is_empty(), "taken once");
    }

    #[test]
    fn sums_are_kept_per_day_and_placement_and_survive_a_failed_write() {
        let views = FormViews::default();
        let slug = Slug::parse("expo").unwrap();
        let now = Instant::now();
        views.count(
            &slug,
            1,
            Some("booth-a".into()),
            viewer("10.0.0.1", "a"),
            now,
        );
        views.count(
            &slug,
            1,
            Some("booth-a".into()),
            viewer("10.0.0.2", "a"),
            now,
        );
        views.count(&slug, 2, None, viewer("10.0.0.3", "a"), now);
        let counts = views.take();
        assert_eq!(counts.len(), 2);
        views.put_back(counts.clone());
        let mut again = views.take();
        again.sort_by_key(|c| c.day);
        let mut counts = counts;
        counts.sort_by_key(|c| c.day);
        assert_eq!(again, counts);
        assert_eq!(again[0].views, 2);
    }

    #[test]
    fn memory_of_visitors_is_bounded() {
        let views = FormViews::default();
        let slug = Slug::parse("expo").unwrap();
        let now = Instant::now();
        for n in 0..(MAX_REMEMBERED_VIEWERS as u32 + 500) {
            let address = IpAddr::from(n.to_be_bytes());
            views.count(
                &slug,
                1,
                None,
                Viewer {
                    address,
                    user_agent: "x",
                },
                now,
            );
        }
        assert_eq!(views.remembered(), MAX_REMEMBERED_VIEWERS);
        let total: u64 = views.take().iter().map(|c| c.views).sum();
        assert_eq!(
            total,
            MAX_REMEMBERED_VIEWERS as u64 + 500,
            "every view counted"
        );
        views.count(&slug, 1, None, viewer("10.9.9.9", "x"), now + VIEW_WINDOW);
        assert_eq!(views.remembered(), 1, "the stale ones were forgotten");
    }

    #[test]
    fn made_up_placements_cannot_grow_the_sums_without_end() {
        let views = FormViews::default();
        let slug = Slug::parse("expo").unwrap();
        let now = Instant::now();
        for n in 0..(MAX_PENDING_SUMS as u32 + 1_000) {
            let address = IpAddr::from(n.to_be_bytes());
            let viewer = Viewer {
                address,
                user_agent: "x",
            };
            views.count(&slug, 1, Some(format!("x{n}")), viewer, now);
        }
        let counts = views.take();
        assert!(counts.len() <= MAX_PENDING_SUMS + 1, "{}", counts.len());
        let total: u64 = counts.iter().map(|c| c.views).sum();
        assert_eq!(
            total,
            MAX_PENDING_SUMS as u64 + 1_000,
            "every view still counted"
        );
    }
}
