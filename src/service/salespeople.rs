//! The sales roster (API.md, "Sales follow-through"): who leads are assigned to.

use super::Service;
use super::campaigns::Changes;
use crate::domain::LeadId;
use crate::error::{Error, Result};
use crate::salesperson::Salesperson;
use crate::store::roster::Removal;

fn id(text: &str) -> Result<LeadId> {
    LeadId::parse(text).ok_or_else(|| unknown(text))
}

fn unknown(text: &str) -> Error {
    Error::not_found(
        "unknown_salesperson",
        format!("there is no salesperson {text:?}"),
    )
}

pub async fn create(service: &Service, changes: &Changes) -> Result<Salesperson> {
    let person = Salesperson::create(changes, jiff::Timestamp::now())?;
    crate::audit::name_target(person.id);
    service.store.create_salesperson(person).await
}

/// Everyone on the roster, in the order they were added.
pub fn list(service: &Service) -> Vec<Salesperson> {
    service.store.salespeople()
}

/// How many leads each salesperson has, counting at most `cap` of each.
pub async fn lead_counts(
    service: &Service,
    cap: usize,
) -> Result<std::collections::HashMap<LeadId, usize>> {
    service.store.salesperson_lead_counts(cap).await
}

pub fn get(service: &Service, id: &str) -> Result<Salesperson> {
    service
        .store
        .salesperson(self::id(id)?)
        .ok_or_else(|| unknown(id))
}

pub async fn patch(service: &Service, id: &str, changes: Changes) -> Result<Salesperson> {
    let id = self::id(id)?;
    let now = jiff::Timestamp::now();
    service
        .store
        .update_salesperson(id, move |p| p.patch(&changes, now))
        .await
}

/// Deletes someone without leads. Someone with leads is deactivated and the answer is a
/// `409` that says so: their leads keep naming them.
pub async fn delete(service: &Service, id: &str) -> Result<()> {
    let id = self::id(id)?;
    match service
        .store
        .remove_salesperson(id, jiff::Timestamp::now())
        .await?
    {
        Removal::Deleted => Ok(()),
        Removal::Deactivated(person) => Err(Error::conflict(
            "salesperson_has_leads",
            format!(
                "{} has leads, so they were deactivated instead of deleted: they get no new leads, and their leads still name them",
                person.name
            ),
        )),
    }
}

/// Refuses an assignment rule that names someone not on the roster (a typo would
/// silently leave leads unassigned).
pub fn check_assign_rule(service: &Service, changes: &Changes) -> Result<()> {
    let Some(ids) = changes
        .get("assign")
        .and_then(|a| a.get("salespeople"))
        .and_then(|s| s.as_array())
    else {
        return Ok(());
    };
    for id in ids.iter().filter_map(|v| v.as_str()) {
        if LeadId::parse(id)
            .and_then(|id| service.store.salesperson(id))
            .is_none()
        {
            return Err(Error::invalid(
                "assign",
                "unknown_salesperson",
                format!("assign.salespeople names {id:?}, who is not on the roster"),
            ));
        }
    }
    Ok(())
}
