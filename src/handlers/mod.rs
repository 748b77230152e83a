//! One file per area: request in, domain calls, response out. Thin on purpose.

pub mod calls;
pub mod campaigns;
pub mod conversions;
pub mod forms;
pub mod leads;
pub mod qr;
pub mod roi;

use crate::app::AppState;
use crate::campaign::Campaign;
use crate::domain::Slug;
use crate::error::{Error, Result};

/// The campaign named in the path, or 404.
pub(crate) async fn find_campaign(state: &AppState, slug: &str) -> Result<Campaign> {
    let unknown = || Error::not_found("unknown_campaign", format!("there is no campaign {slug:?}"));
    let slug = Slug::parse(slug).map_err(|_| unknown())?;
    state.store.campaign(slug).await?.ok_or_else(unknown)
}
