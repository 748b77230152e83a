//! The audit log: who changed what with the admin token, from where, and when (PIPL asks
//! an operator to be able to show it). Every change request on `/api` and `/admin` runs
//! inside a scope holding its entry; the request's first successful write stores the
//! entry in that write's own transaction, so a change and its entry are committed
//! together or not at all, and a refused request (a 422, a 404) leaves none.
//!
//! An entry names the action and its target (a slug or an id) and never a lead's
//! personal data: a lead is named by its id, an erasure by its receipt.

use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::domain::LeadId;
use crate::routes::Route;

/// Longest user name kept from a console login: the name is the browser user's free
/// choice, not something to store unbounded.
const MAX_USER_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: LeadId,
    /// Whole milliseconds, written with three decimals like every other time in the API.
    #[serde(serialize_with = "millisecond_text")]
    pub at: jiff::Timestamp,
    /// The client's address (after trusted proxies), as the rate limits see it.
    pub client: String,
    /// `bearer`, `basic:<user name>`, or `cli` for the command line.
    pub credential: String,
    pub action: String,
    pub target: String,
}

/// JSON shows `2026-11-30T06:22:14.660Z`, not jiff's shortest `…14.66Z`; a stored entry
/// (postcard) keeps jiff's own form, which reads back either way.
fn millisecond_text<S: serde::Serializer>(at: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&crate::lead::format_timestamp(*at))
    } else {
        at.serialize(s)
    }
}

/// How a change request proved it holds the admin token.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    Bearer,
    Basic(String),
    CommandLine,
}

impl Credential {
    pub fn label(&self) -> String {
        match self {
            Credential::Bearer => "bearer".into(),
            Credential::Basic(user) => {
                format!(
                    "basic:{}",
                    user.chars().take(MAX_USER_CHARS).collect::<String>()
                )
            }
            Credential::CommandLine => "cli".into(),
        }
    }
}

impl Entry {
    pub fn new(
        at: jiff::Timestamp,
        client: String,
        credential: &Credential,
        action: &str,
        target: String,
    ) -> Entry {
        Entry {
            id: LeadId::generate(),
            // Milliseconds, like every other time the API gives.
            at: jiff::Timestamp::from_millisecond(at.as_millisecond()).unwrap_or(at),
            client,
            credential: credential.label(),
            action: action.to_owned(),
            target,
        }
    }
}

/// The entry of the request being served, until its first write takes it.
pub struct Scope(Mutex<Option<Entry>>);

impl Scope {
    /// The entry, once: later writes of the same request (an import's next batch) add
    /// none.
    pub fn take(&self) -> Option<Entry> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

tokio::task_local! {
    static SCOPE: Arc<Scope>;
}

/// Runs `change` with `entry` as its audit entry.
pub async fn within<F: Future>(entry: Entry, change: F) -> F::Output {
    SCOPE
        .scope(Arc::new(Scope(Mutex::new(Some(entry)))), change)
        .await
}

/// The scope of the request being served, if it is an audited change; the store's writer
/// asks when a write is queued.
pub fn current() -> Option<Arc<Scope>> {
    SCOPE.try_with(Arc::clone).ok()
}

/// Names what a change made when its address does not (a create: the new slug or id).
pub fn name_target(target: impl std::fmt::Display) {
    let _ = SCOPE.try_with(|scope| {
        if let Some(entry) = scope.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            entry.target = target.to_string();
        }
    });
}

/// What a change request does, named the same whether it came from the API or the
/// console, so one filter finds both.
pub fn action(route: Route, verb: &str, metric: &'static str) -> &'static str {
    use Route::*;
    match (route, verb) {
        (ApiSalesperson, "DELETE") => "salesperson.delete",
        (ApiDestination, "DELETE") => "destination.delete",
        _ => action_of(route, metric),
    }
}

fn action_of(route: Route, metric: &'static str) -> &'static str {
    use Route::*;
    match route {
        ApiCampaigns | AdminCampaigns => "campaign.create",
        ApiCampaign | AdminCampaign => "campaign.update",
        ApiCosts | AdminCosts => "cost.add",
        ApiCost | AdminCostDelete => "cost.delete",
        ApiCampaignQrTarget | AdminQrTarget => "qr_target.set",
        ApiLeadsImport | AdminLeadsImport => "leads.import",
        ApiLead | AdminLeadStatus => "lead.update",
        AdminLeadAssign => "lead.assign",
        ApiLeadActivities | AdminLeadActivities => "activity.add",
        ApiErasures | AdminLeadErase => "erasure.create",
        ApiConversions => "conversion.upsert",
        ApiConversionsImport | AdminConversionsImport => "conversions.import",
        ApiSalespeople | AdminSalespeople => "salesperson.create",
        ApiSalesperson | AdminSalesperson => "salesperson.update",
        AdminSalespersonDelete => "salesperson.delete",
        ApiDestinations | AdminDestinations => "destination.create",
        ApiDestination | AdminDestination => "destination.update",
        AdminDestinationDelete => "destination.delete",
        ApiDestinationRetry | AdminDestinationRetry => "destination.retry",
        ApiDestinationTest | AdminDestinationTest => "destination.test",
        ApiReportSchedules | AdminSchedules => "schedule.create",
        ApiReportSchedule | AdminScheduleDelete => "schedule.delete",
        ApiReportScheduleRun | AdminScheduleRun => "schedule.run",
        ApiBackup => "backup",
        // A route added later is still recorded, under its metrics name.
        _ => metric,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_shows_three_decimals_and_reads_back() {
        let entry = Entry {
            id: LeadId::generate(),
            at: "2026-11-30T06:22:14.66Z".parse().unwrap(),
            client: "127.0.0.1".into(),
            credential: "bearer".into(),
            action: "campaign.create".into(),
            target: "expo".into(),
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["at"], "2026-11-30T06:22:14.660Z");
        let back: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn a_console_user_name_is_kept_short() {
        let long = "名".repeat(100);
        let label = Credential::Basic(long).label();
        assert_eq!(label.chars().count(), "basic:".len() + MAX_USER_CHARS);
        assert_eq!(Credential::Bearer.label(), "bearer");
    }

    #[tokio::test]
    async fn the_first_write_takes_the_entry_and_a_later_one_finds_none() {
        let entry = Entry::new(
            jiff::Timestamp::UNIX_EPOCH,
            "127.0.0.1".into(),
            &Credential::Bearer,
            "campaign.create",
            String::new(),
        );
        within(entry, async {
            name_target("expo");
            let scope = current().expect("inside the scope");
            assert_eq!(scope.take().map(|e| e.target), Some("expo".into()));
            assert!(scope.take().is_none());
        })
        .await;
        assert!(current().is_none(), "outside the scope");
    }
}
