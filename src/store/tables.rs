//! Every redb table in one place. Keys are chosen so that the hot queries are range
//! scans: a campaign's leads, a contact's touches, a campaign's counters by day.

use redb::TableDefinition;

/// Bumped whenever a table's key or value layout changes; `open` refuses other versions.
pub const SCHEMA_VERSION: u64 = 6;

/// name -> value: `schema_version` (u64 LE), `admin_token_sha256`, `tz`.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// slug -> Campaign (JSON).
pub const CAMPAIGNS: TableDefinition<&str, &[u8]> = TableDefinition::new("campaigns");
/// LeadId -> Lead (postcard).
pub const LEADS: TableDefinition<u128, &[u8]> = TableDefinition::new("leads");
/// (slug, LeadId) -> (): a campaign's leads in time order.
pub const LEADS_BY_CAMPAIGN: TableDefinition<(&str, u128), ()> =
    TableDefinition::new("leads_by_campaign");
/// contact key -> Contact (postcard).
pub const CONTACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("contacts");
/// lower-cased e-mail -> (received_at ms, contact key) of the latest lead with that
/// address: how a CRM that only knows the e-mail finds a contact keyed by phone.
pub const EMAILS: TableDefinition<&str, (i64, &str)> = TableDefinition::new("emails");
/// (contact key, received_at ms, LeadId) -> campaign slug: a contact's journey.
pub const TOUCHES: TableDefinition<(&str, i64, u128), &str> = TableDefinition::new("touches");
/// `write::token_key` of an idempotency key (`form:{slug}:{token}`, `call:{call_id}`,
/// `import:{external_id}`; a digest since schema 6, in clear before) -> LeadId.
pub const TOKENS: TableDefinition<&str, u128> = TableDefinition::new("tokens");
/// (slug, day YYYYMMDD in the reporting zone, metric) -> count.
pub const COUNTERS: TableDefinition<(&str, u32, &str), u64> = TableDefinition::new("counters");
/// (slug, month YYYYMM, metric) -> count: the daily counters summed by month.
pub const MONTHLY_COUNTERS: TableDefinition<(&str, u32, &str), u64> =
    TableDefinition::new("monthly_counters");
/// (slug, metric) -> count: the daily counters summed over all time.
pub const TOTAL_COUNTERS: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("total_counters");
/// E.164 tracking number -> slug of the campaign that prints it.
pub const TRACKING_NUMBERS: TableDefinition<&str, &str> = TableDefinition::new("tracking_numbers");
/// (slug, day YYYYMMDD incurred, entry id) -> CostEntry (JSON).
pub const COSTS: TableDefinition<(&str, u32, &str), &[u8]> = TableDefinition::new("costs");
/// CRM id -> Conversion (postcard; JSON up to schema 3).
pub const CONVERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("conversions");
/// (slug, placement) -> how it came to exist: `DECLARED` (in the campaign's `qr_variants`)
/// or `SCANNED` (created by a counted scan, at most `MAX_SCANNED_PLACEMENTS` a campaign).
/// Form views and leads count for a placement only when it is here.
pub const PLACEMENTS: TableDefinition<(&str, &str), u8> = TableDefinition::new("placements");
pub const DECLARED: u8 = 1;
pub const SCANNED: u8 = 0;
/// Placements anonymous scans may create per campaign, beyond its declared ones.
pub const MAX_SCANNED_PLACEMENTS: usize = 64;
/// seq -> outbox::Event (postcard): changes other systems care about, written in the
/// change's own transaction while any consumer is registered.
pub const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// consumer name -> the last seq it has handled.
pub const OUTBOX_CURSORS: TableDefinition<&str, u64> = TableDefinition::new("outbox_cursors");
/// destination id -> Destination (postcard): where events go, as the marketer set it.
pub const DESTINATIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("destinations");
/// destination id -> DeliveryRecord (postcard): how delivery there is going, written by
/// its worker with the cursor it moves.
pub const DELIVERIES: TableDefinition<u128, &[u8]> = TableDefinition::new("deliveries");

/// salesperson id -> Salesperson (postcard): the sales roster.
pub const SALESPEOPLE: TableDefinition<u128, &[u8]> = TableDefinition::new("salespeople");
/// (salesperson id, chunk key) -> lead ids: a salesperson's leads, in chunks (see
/// `assignee_index`). A salesperson with leads is deactivated, never deleted; the console
/// filters by it.
pub const LEADS_BY_ASSIGNEE: TableDefinition<(u128, u128), &[u8]> =
    TableDefinition::new("leads_by_assignee_chunks");
/// Read only to move it: (salesperson id, LeadId) -> (), one entry per lead, as the
/// first builds with assignment kept a salesperson's leads.
pub const LEADS_BY_ASSIGNEE_ENTRIES: TableDefinition<(u128, u128), ()> =
    TableDefinition::new("leads_by_assignee");
/// Read only to move it: contact key -> (salesperson id, received_at ms of the contact's
/// latest assigned lead). Contacts' records keep this now (`Contact::assignee`).
pub const CONTACT_ASSIGNEES: TableDefinition<&str, (u128, i64)> =
    TableDefinition::new("contact_assignees");
/// campaign slug -> the salesperson its round robin gave the last lead to.
pub const ROUND_ROBIN: TableDefinition<&str, u128> = TableDefinition::new("round_robin");
/// schedule id -> report schedule (postcard), with the last period it sent.
pub const REPORT_SCHEDULES: TableDefinition<u128, &[u8]> = TableDefinition::new("report_schedules");
/// (slug, placement) -> JSON `[{"target", "since"}]`: where a printed code has pointed,
/// oldest first; absent while it goes to its campaign's form.
pub const QR_TARGETS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("qr_targets");
/// (at ms, entry id) -> audit Entry (JSON): every admin change, in time order.
pub const AUDIT_LOG: TableDefinition<(i64, u128), &[u8]> = TableDefinition::new("audit_log");

/// (LeadId, at ms, activity id) -> Activity (postcard): a lead's follow-ups in time order.
pub const ACTIVITIES: TableDefinition<(u128, i64, u128), &[u8]> =
    TableDefinition::new("activities");
/// LeadId -> ms of its first follow-up (the earlier of its first activity and its first
/// status change away from `new`).
pub const FOLLOW_UPS: TableDefinition<u128, i64> = TableDefinition::new("follow_ups");
/// LeadId -> (ms by which it should be followed up (its campaign's `follow_up_hours`),
/// whether it is counted overdue now). Kept after the deadline: a follow-up recorded
/// late with an earlier `at` can still show the lead was followed up in time.
pub const LEAD_DEADLINES: TableDefinition<u128, (i64, bool)> =
    TableDefinition::new("lead_deadlines");
/// (deadline ms, LeadId) -> (): deadlines not yet met nor checked, in order, for the
/// overdue check.
pub const DEADLINES: TableDefinition<(i64, u128), ()> = TableDefinition::new("deadlines");

/// LeadId -> erasure::ErasedLead (postcard): what is left of an erased lead (campaign,
/// time, status, anonymous contact key), so the counters can still be recounted and its id
/// answers 410.
pub const ERASED_LEADS: TableDefinition<u128, &[u8]> = TableDefinition::new("erased_leads");
/// receipt id -> erasure::Receipt (postcard): who asked for what, with no personal data.
pub const ERASURES: TableDefinition<u128, &[u8]> = TableDefinition::new("erasures");

/// Names of the daily counters.
pub mod metric {
    pub const FORM_VIEWS: &str = "form_views";
    pub const LEADS: &str = "leads";
    pub const NEW_CONTACTS: &str = "new_contacts";
    /// Leads whose status is `mql` or `sql`.
    pub const MQLS: &str = "mqls";
    pub const DISQUALIFIED: &str = "disqualified";
    pub const SCANS: &str = "scans";
    /// Leads (by received day) with a first follow-up, the milliseconds from received to
    /// it summed over them, their activities, and those followed up late or not at all
    /// by their deadline.
    pub const FOLLOWED_UP: &str = "followed_up";
    pub const RESPONSE_MS: &str = "response_ms";
    pub const ACTIVITIES: &str = "activities";
    pub const OVERDUE: &str = "overdue";

    /// Per-placement QR counters: `qr_scans:booth-a`, `qr_form_views:booth-a`,
    /// `qr_leads:booth-a` (`qr_scans:` alone for a code without a variant).
    pub const QR_SCANS: &str = "qr_scans";
    /// Scans by the app that opened them, the phone's OS, and the hour of the day
    /// (`scan_app:wechat`, `scan_os:ios`, `scan_hour:09`).
    pub const SCAN_APP: &str = "scan_app";
    pub const SCAN_OS: &str = "scan_os";
    pub const SCAN_HOUR: &str = "scan_hour";
    pub const QR_FORM_VIEWS: &str = "qr_form_views";
    pub const QR_LEADS: &str = "qr_leads";

    /// Metrics kept in the day table only: nothing sums them by month or over all time
    /// (the scans report reads days), so a scan costs three fewer counter rows a tier.
    pub fn is_daily_only(metric: &str) -> bool {
        metric
            .split_once(':')
            .is_some_and(|(kind, _)| [SCAN_APP, SCAN_OS, SCAN_HOUR].contains(&kind))
    }

    pub fn per_variant(kind: &str, variant: &str) -> String {
        format!("{kind}:{variant}")
    }
}
