//! What happens before a lead: QR scans and form views, counted per campaign, day and
//! placement, and the per-placement figures marketers compare.

use std::collections::BTreeMap;

use super::Service;
use crate::campaign::Campaign;
use crate::error::Result;

/// Counts one scan of the campaign's code (`variant` is the placement, if any).
pub async fn count_scan(
    service: &Service,
    campaign: &Campaign,
    variant: Option<String>,
) -> Result<()> {
    service
        .store
        .count_scan(
            campaign.slug.clone(),
            variant.unwrap_or_default(),
            jiff::Timestamp::now(),
        )
        .await
}

/// Counts one view of the campaign's form (`qr_variant` when a scan led to it).
pub async fn count_form_view(
    service: &Service,
    campaign: &Campaign,
    qr_variant: Option<String>,
) -> Result<()> {
    service
        .store
        .count_form_view(campaign.slug.clone(), jiff::Timestamp::now(), qr_variant)
        .await
}

/// One placement's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    pub scans: u64,
    pub form_views: u64,
    pub leads: u64,
}

/// Figures per placement (`""` = the code without a variant), including every printed
/// variant of the campaign, even those nobody has scanned yet.
pub async fn placements(
    service: &Service,
    campaign: &Campaign,
) -> Result<BTreeMap<String, Placement>> {
    let mut placements: BTreeMap<String, Placement> = service
        .store
        .qr_stats(campaign.slug.clone())
        .await?
        .into_iter()
        .map(|(variant, [scans, form_views, leads])| {
            let placement = Placement {
                scans,
                form_views,
                leads,
            };
            (variant, placement)
        })
        .collect();
    for variant in &campaign.qr_variants {
        placements.entry(variant.clone()).or_default();
    }
    Ok(placements)
}
