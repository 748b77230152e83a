//! Erasing a person from the console: "erase this person" on a lead leads to a page that
//! says what will happen and asks to confirm (a form post with the page's token); the
//! erasure is the API's, and its receipt is shown on the receipts page.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Button, Ui, page, read_form};
use crate::error::Result;
use crate::http::{self, Reply};
use crate::service::{erasures, leads};
use crate::state::AppState;
use crate::store::erasure::{Person, Receipt};

#[derive(askama::Template)]
#[template(path = "admin/erase.html")]
pub struct ConfirmPage {
    pub ui: Ui,
    pub name: String,
    pub contact: String,
    pub campaign: String,
    pub received_at: String,
    pub button: Button,
    pub back_href: String,
}

#[derive(askama::Template)]
#[template(path = "admin/erasures.html")]
pub struct ReceiptsPage {
    pub ui: Ui,
    /// The receipt of the erasure just made, shown on top.
    pub done: Option<ReceiptRow>,
    pub rows: Vec<ReceiptRow>,
}

pub struct ReceiptRow {
    pub id: String,
    pub contact: String,
    pub leads: u64,
    pub conversions: u64,
    pub erased_at: String,
    pub reason: &'static str,
}

/// `GET /admin/leads/{id}/erase`: whom the erasure concerns, and the button.
pub async fn confirm(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    let lead = leads::get(&state.service, leads::lead_id(id)?).await?;
    let path = format!("/admin/leads/{}/erase", lead.id);
    let tz = state.service.tz().clone();
    page(
        StatusCode::OK,
        &ConfirmPage {
            name: lead.name.clone().unwrap_or_default(),
            contact: lead.contact.clone(),
            campaign: lead.campaign.to_string(),
            received_at: lead
                .received_at
                .to_zoned_datetime(tz)
                .strftime("%Y-%m-%d %H:%M")
                .to_string(),
            button: Button::new(state, &ui, &path),
            back_href: ui.link("/admin/leads"),
            ui,
        },
    )
}

/// `POST /admin/leads/{id}/erase`: erases the lead's person, then their receipt.
pub async fn erase(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    read_form(state, request).await?;
    let lead = leads::get(&state.service, leads::lead_id(id)?).await?;
    let receipt = erasures::erase(&state.service, Person::Key(lead.contact)).await?;
    Ok(http::see_other(&ui.link_with(
        "/admin/erasures",
        &format!("done={}", receipt.id),
    )))
}

/// `GET /admin/erasures`: every receipt, newest first.
pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "leads");
    let done = http::query_value(request.uri().query(), "done");
    let tz = state.service.tz().clone();
    let row = |r: &Receipt| ReceiptRow {
        id: r.id.to_string(),
        contact: r.contact.clone(),
        leads: r.leads,
        conversions: r.conversions,
        erased_at: r
            .erased_at
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        reason: match r.reason {
            crate::store::erasure::Reason::Request => ui.t.erasure_requested,
            crate::store::erasure::Reason::Retention => ui.t.erasure_retention,
            crate::store::erasure::Reason::Replicated => ui.t.erasure_replicated,
        },
    };
    let receipts = erasures::list(&state.service).await?;
    let done = done.and_then(|id| receipts.iter().find(|r| r.id.to_string() == id).map(row));
    let rows = receipts.iter().rev().map(row).collect();
    page(StatusCode::OK, &ReceiptsPage { done, rows, ui })
}
