//! Destinations: where leads, status changes and conversions are sent (API.md,
//! "Destinations"). Saving one checks where its address leads; delivery is the relays'.

use super::Service;
use super::campaigns::Changes;
use crate::destination::{Destination, Status};
use crate::domain::LeadId;
use crate::error::{Error, Result};
use crate::outbound::address::{UrlProblem, check_url};
use crate::relay::TestAnswer;

/// A destination with its delivery as it stands.
pub struct Shown {
    pub destination: Destination,
    pub status: Status,
}

impl Shown {
    pub fn to_json(&self) -> serde_json::Value {
        self.destination.to_json(&self.status)
    }
}

fn id(text: &str) -> Result<LeadId> {
    LeadId::parse(text).ok_or_else(|| {
        Error::not_found(
            "unknown_destination",
            format!("there is no destination {text:?}"),
        )
    })
}

fn campaign_exists(service: &Service) -> impl Fn(&crate::domain::Slug) -> bool + Send + 'static {
    let store = service.store.clone();
    move |slug| store.campaign_name(slug.as_str()).is_some()
}

/// Refuses an address whose host resolves to this network (a stolen admin token must not
/// turn leadgate into a probe of the internal network), unless the server allows it.
async fn check_address(service: &Service, url: &str) -> Result<()> {
    check_url(url, service.relays.allows_private()).await.map_err(|problem| match problem {
        UrlProblem::Invalid(why) => Error::invalid("url", "invalid_url", why),
        UrlProblem::Unresolvable(why) => Error::invalid("url", "unresolvable_host", why),
        UrlProblem::Private(why) => Error::invalid(
            "url",
            "private_address",
            format!(
                "{why}; start the server with --allow-private-destinations to send to this network"
            ),
        ),
    })
}

pub async fn create(service: &Service, changes: &Changes) -> Result<Shown> {
    let destination =
        Destination::create(changes, campaign_exists(service), jiff::Timestamp::now())?;
    check_address(service, &destination.url).await?;
    crate::audit::name_target(destination.id);
    let cursor = service
        .store
        .create_destination(destination.clone())
        .await?;
    service.relays.added(destination.clone(), cursor);
    shown(service, destination.id).await
}

pub async fn list(service: &Service) -> Result<Vec<Shown>> {
    let latest = service.store.latest_event().await?;
    let stored = service.store.destinations().await?;
    Ok(stored
        .into_iter()
        .map(|s| Shown {
            status: service
                .relays
                .status(&s.destination, s.record, s.cursor, latest),
            destination: s.destination,
        })
        .collect())
}

pub async fn get(service: &Service, id: &str) -> Result<Shown> {
    shown(service, self::id(id)?).await
}

async fn shown(service: &Service, id: LeadId) -> Result<Shown> {
    let latest = service.store.latest_event().await?;
    let stored = service.store.destination(id).await?;
    Ok(Shown {
        status: service
            .relays
            .status(&stored.destination, stored.record, stored.cursor, latest),
        destination: stored.destination,
    })
}

/// Applies `changes` inside the writer's transaction; a new address is checked first.
pub async fn patch(service: &Service, id: &str, changes: Changes) -> Result<Shown> {
    let id = self::id(id)?;
    // Checked on a copy first, so a bad address is refused before anything is written.
    let mut preview = service.store.destination(id).await?.destination;
    let now = jiff::Timestamp::now();
    preview.patch(&changes, campaign_exists(service), now)?;
    if changes.contains_key("url") {
        check_address(service, &preview.url).await?;
    }
    let exists = campaign_exists(service);
    let destination = service
        .store
        .update_destination(id, move |d| d.patch(&changes, exists, now))
        .await?;
    service.relays.changed(destination.clone());
    shown(service, id).await
}

/// Deletes the destination and drops its backlog.
pub async fn delete(service: &Service, id: &str) -> Result<()> {
    let id = self::id(id)?;
    service.store.delete_destination(id).await?;
    service.relays.removed(id);
    Ok(())
}

/// A dead or waiting destination tries again now.
pub async fn retry(service: &Service, id: &str) -> Result<Shown> {
    let id = self::id(id)?;
    service.store.destination(id).await?;
    service.relays.retry_now(id);
    shown(service, id).await
}

/// Sends one `test` event now and reports the receiver's answer.
pub async fn test(service: &Service, id: &str) -> Result<TestAnswer> {
    let stored = service.store.destination(self::id(id)?).await?;
    Ok(service.relays.send_test(&stored.destination).await)
}
