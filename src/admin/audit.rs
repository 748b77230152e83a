//! `/admin/audit`: the latest admin changes, newest first: when, from which address, with
//! which credential, what and on what. Programs read the whole log from `/api/audit`.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::{Ui, page};
use crate::error::Result;
use crate::http::Reply;
use crate::state::AppState;
use crate::store::audit_log::Order;

/// Entries on the page: a day of busy console work; older ones are in the API.
const SHOWN: usize = 200;

#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    pub ui: Ui,
    pub rows: Vec<Row>,
    /// More entries exist than the page shows.
    pub more: bool,
    pub zone: String,
}

pub struct Row {
    pub at: String,
    pub client: String,
    pub credential: String,
    pub action: String,
    pub target: String,
}

pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "audit");
    let (entries, more) = state
        .service
        .store
        .audit_entries(Order::Newest, SHOWN)
        .await?;
    let tz = state.service.tz().clone();
    let rows = entries
        .into_iter()
        .map(|entry| Row {
            at: entry
                .at
                .to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string(),
            client: entry.client,
            credential: entry.credential,
            action: entry.action,
            target: entry.target,
        })
        .collect();
    let zone = tz.iana_name().unwrap_or("UTC").to_owned();
    page(
        StatusCode::OK,
        &AuditPage {
            ui,
            rows,
            more,
            zone,
        },
    )
}
