//! A conversion's contact among every node's leads in PostgreSQL (API.md: a replicating
//! node matches a conversion against every node's leads as well as its own, so the CRM
//! can post all conversions to one node). Asked only when no lead here matches.

use tokio_postgres::Client;

use crate::conversion::{ContactRef, Matched};
use crate::domain::Currency;

/// The contact `reference` names on any node, with the currency its amount is read in by
/// default (that of the campaign of the lead it names, else of the contact's first lead
/// anywhere); `None` when no node has such a lead.
pub async fn find_contact(
    client: &Client,
    reference: &ContactRef,
) -> Result<Option<Matched>, tokio_postgres::Error> {
    const COLUMNS: &str = "SELECT phone, email, campaign FROM leadgate.leads";
    let row = match reference {
        ContactRef::Lead(id) => {
            let sql = format!("{COLUMNS} WHERE id = $1 AND NOT erased");
            client.query_opt(&sql, &[&id.to_string()]).await?
        }
        ContactRef::Phone(phone) => {
            let sql = format!(
                "{COLUMNS} WHERE contact = $1 AND NOT erased ORDER BY received_at, id LIMIT 1"
            );
            let hash = super::contact_hash(phone.as_str());
            client.query_opt(&sql, &[&hash]).await?
        }
        ContactRef::Email(email) => {
            let sql = format!(
                "{COLUMNS} WHERE lower(email) = $1 AND NOT erased ORDER BY received_at, id LIMIT 1"
            );
            client
                .query_opt(&sql, &[&email.as_str().to_lowercase()])
                .await?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let phone: Option<String> = row.get(0);
    let email: Option<String> = row.get(1);
    let campaign: Option<String> = row.get(2);
    // The contact key, as a node makes it: the E.164 phone, else the lower-cased e-mail.
    let Some(contact) = phone.or(email.map(|e| e.to_lowercase())) else {
        return Ok(None);
    };
    let currency = client
        .query_opt(
            "SELECT record->>'currency' FROM leadgate.campaigns WHERE slug = $1",
            &[&campaign],
        )
        .await?
        .and_then(|row| row.get::<_, Option<String>>(0))
        .and_then(|code| Currency::parse(&code).ok())
        .unwrap_or(Currency::CNY);
    Ok(Some(Matched {
        contact,
        lead_id: match reference {
            ContactRef::Lead(id) => Some(*id),
            _ => None,
        },
        currency,
    }))
}
