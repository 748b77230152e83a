//! Erasure at a person's request and by the retention rule (see `store::erasure`).

use crate::domain::{Email, LeadId, Phone};
use crate::error::{Error, Result};
use crate::store::erasure::{Person, Receipt};

use super::Service;

/// Whom a request names: `{"phone": ...}` or `{"email": ...}` (exactly one). A phone is
/// read as the forms read it (to E.164), an e-mail as any e-mail field.
pub fn person(body: &serde_json::Map<String, serde_json::Value>) -> Result<Person> {
    let text = |field: &str| -> Result<Option<String>> {
        match body.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::invalid(
                field,
                "invalid_value",
                format!("{field} must be a string"),
            )),
        }
    };
    if let Some(unknown) = body
        .keys()
        .find(|k| !["phone", "email"].contains(&k.as_str()))
    {
        return Err(Error::invalid(
            unknown.as_str(),
            "unknown_field",
            "an erasure names the person by phone or email only",
        ));
    }
    match (text("phone")?, text("email")?) {
        (Some(phone), None) => Ok(Person::Phone(Phone::parse(&phone)?.as_str().to_owned())),
        (None, Some(email)) => Ok(Person::Email(Email::parse(&email)?.as_str().to_owned())),
        (Some(_), Some(_)) => Err(Error::invalid(
            "email",
            "ambiguous",
            "name the person by phone or by email, not both",
        )),
        (None, None) => Err(Error::invalid(
            "phone",
            "required",
            "name the person to erase by phone or email",
        )),
    }
}

/// Erases the person now; the receipt holds no personal data. The audit entry names the
/// receipt: an erasure has no address of its own, and its receipt is what it made.
pub async fn erase(service: &Service, person: Person) -> Result<Receipt> {
    let id = LeadId::generate();
    crate::audit::name_target(id);
    let receipt = service.store.erase(person, id, service.clock.now()).await?;
    service.relays.erased();
    tracing::info!(
        "erased contact {} ({} leads, {} conversions unlinked)",
        receipt.contact,
        receipt.leads,
        receipt.conversions
    );
    Ok(receipt)
}

pub async fn list(service: &Service) -> Result<Vec<Receipt>> {
    service.store.erasures().await
}

/// Erases every lead older than `days` days (the retention rule); returns how many.
pub async fn apply_retention(service: &Service, days: u32) -> Result<u64> {
    let now = service.clock.now();
    let cutoff = now
        .checked_sub(jiff::SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(jiff::Timestamp::MIN);
    let receipts = service.store.erase_older_than(cutoff, now).await?;
    let leads = receipts.iter().map(|r| r.leads).sum();
    if !receipts.is_empty() {
        service.relays.erased();
    }
    if leads > 0 {
        tracing::info!("retention: erased {leads} leads older than {days} days");
    }
    Ok(leads)
}

/// The background work erasure needs, one round per tick: the retention rule once a day
/// (the first round runs it at start-up), and the rewrite of the store file once the
/// oldest pending erasure is `rewrite_delay` old, so that erasures close together share
/// one rewrite. Time is the service's clock.
pub struct Upkeep {
    pub retain_days: Option<u32>,
    pub rewrite_delay: std::time::Duration,
    last_retention: Option<jiff::Timestamp>,
}

impl Upkeep {
    pub fn new(retain_days: Option<u32>, rewrite_delay: std::time::Duration) -> Upkeep {
        Upkeep {
            retain_days,
            rewrite_delay,
            last_retention: None,
        }
    }

    pub async fn round(&mut self, service: &Service) {
        let now = service.clock.now();
        if let Some(days) = self.retain_days
            && self
                .last_retention
                .is_none_or(|last| now.duration_since(last) >= jiff::SignedDuration::from_hours(24))
        {
            match apply_retention(service, days).await {
                Ok(_) => self.last_retention = Some(now),
                Err(error) => tracing::warn!("retention not applied yet: {error}"),
            }
        }
        let delay =
            jiff::SignedDuration::try_from(self.rewrite_delay).unwrap_or(jiff::SignedDuration::MAX);
        let due = service
            .store
            .rewrite_pending_since()
            .is_some_and(|since| service.clock.now().duration_since(since) >= delay);
        if due {
            match service.store.rewrite().await {
                Ok(done) => tracing::info!(
                    "store rewritten without erased data: {} rows in {:.2} s ({} -> {} bytes)",
                    done.copied.rows,
                    done.seconds,
                    done.bytes_before,
                    done.bytes_after
                ),
                Err(error) => tracing::error!("store not rewritten yet after an erasure: {error}"),
            }
        }
    }
}
