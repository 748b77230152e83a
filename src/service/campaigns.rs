//! Campaigns and their costs: create, change, look up; record and remove cost entries.

use serde_json::{Map, Value};

use super::Service;
use crate::campaign::Campaign;
use crate::cost::CostEntry;
use crate::domain::{Phone, Slug};
use crate::error::{Error, Result};

/// A create or patch document: the API's JSON body, or the console's form turned into one.
pub type Changes = Map<String, Value>;

/// The campaign called `slug`, or `unknown_campaign` (404).
pub async fn find(service: &Service, slug: &str) -> Result<Campaign> {
    let unknown = || unknown_campaign(slug);
    service
        .store
        .campaign(self::slug(slug)?)
        .await?
        .ok_or_else(unknown)
}

/// A slug from an address: one that cannot be a campaign's is an unknown campaign (404).
pub fn slug(text: &str) -> Result<Slug> {
    Slug::parse(text).map_err(|_| unknown_campaign(text))
}

fn unknown_campaign(slug: &str) -> Error {
    Error::not_found("unknown_campaign", format!("there is no campaign {slug:?}"))
}

pub async fn list(service: &Service) -> Result<Vec<Campaign>> {
    service.store.campaigns().await
}

/// The campaign that prints `number` on its ads, if any.
pub async fn by_tracking_number(service: &Service, number: &Phone) -> Result<Option<Campaign>> {
    service
        .store
        .campaign_by_tracking_number(number.as_str().to_owned())
        .await
}

/// A new campaign; `conflict` (409) when the slug is taken.
pub async fn create(service: &Service, changes: &Changes) -> Result<Campaign> {
    super::salespeople::check_assign_rule(service, changes)?;
    let campaign = Campaign::create(changes, &service.forms, service.clock.now())?;
    crate::audit::name_target(&campaign.slug);
    service.store.create_campaign(campaign).await
}

/// Applies `changes` to the stored campaign inside the writer's transaction, so two
/// patches never lose each other's fields.
pub async fn patch(service: &Service, slug: Slug, changes: Changes) -> Result<Campaign> {
    super::salespeople::check_assign_rule(service, &changes)?;
    let forms = service.forms.clone();
    let now = service.clock.now();
    service
        .store
        .update_campaign(slug, move |campaign| campaign.patch(&changes, &forms, now))
        .await
}

/// A campaign's cost entries and their sum in minor units.
pub struct Costs {
    pub entries: Vec<CostEntry>,
    pub total: i64,
}

pub async fn costs(service: &Service, campaign: &Campaign) -> Result<Costs> {
    let entries = service.store.costs(campaign.slug.clone()).await?;
    let total = entries
        .iter()
        .map(|e| e.amount)
        .fold(0, i64::saturating_add);
    Ok(Costs { entries, total })
}

/// Records a cost entry (`amount`, `incurred_on`, `note`) in the campaign's currency.
pub async fn add_cost(
    service: &Service,
    campaign: &Campaign,
    entry: &Changes,
) -> Result<CostEntry> {
    let entry = CostEntry::from_json(entry, campaign, service.clock.now())?;
    crate::audit::name_target(format_args!("{}/{}", campaign.slug, entry.id));
    service
        .store
        .add_cost(campaign.slug.clone(), entry, campaign.currency)
        .await
}

pub async fn delete_cost(service: &Service, campaign: &Campaign, id: &str) -> Result<()> {
    service
        .store
        .delete_cost(campaign.slug.clone(), id.to_owned())
        .await
}

/// Points the campaign's printed code for `variant` at `target` (`form`, `campaign:<slug>`
/// or an https address), from now on; returns the code's history, oldest first.
pub async fn point_code(
    service: &Service,
    campaign: &Campaign,
    variant: &str,
    target: &str,
) -> Result<Vec<crate::store::qr_targets::TargetChange>> {
    let target = crate::qr_target::Target::parse(target)?;
    service
        .store
        .set_qr_target(
            campaign.slug.clone(),
            variant.to_owned(),
            target,
            service.clock.now(),
        )
        .await
}
