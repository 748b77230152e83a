//! QR codes: the scan entry `/q/{slug}`, the images `/q/{slug}.png|.svg`, per-placement
//! counts for marketers, and the printable sheet.

use askama::Template;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::campaign::Campaign;
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::qr::{self, Style};
use crate::service::{campaigns, visits};
use crate::state::AppState;
use crate::templates::{QrCard, QrSheet};

/// `GET /q/{slug}`: count the scan, then send the visitor to the form with the QR tags.
pub async fn scan(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    state.check_rate(&request, Some(&campaign))?;
    let variant = variant_param(request.uri().query())?;
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A HEAD is a link preview or a check, a crawler is nobody at the booth: both are
    // sent on, neither is a scan.
    let counts =
        request.method() != hyper::Method::HEAD && !crate::scanner::is_crawler(Some(user_agent));
    if counts {
        let address = request.extensions().get::<http::ClientAddr>().copied();
        let viewer = visits::Viewer {
            address: address.map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |a| a.0),
            user_agent,
        };
        // The visitor is standing at the booth: an uncounted scan beats a dead end.
        if let Err(error) =
            visits::count_scan(&state.service, &campaign, variant.clone(), viewer).await
        {
            tracing::warn!("scan of {} not counted: {error}", campaign.slug);
        }
    }
    // Counted for this code whatever its target: the printed code never breaks.
    let target = match &variant {
        Some(variant) => state
            .service
            .store
            .qr_target(campaign.slug.as_str(), variant),
        None => crate::qr_target::Target::Form,
    };
    let location = target.location(campaign.slug.as_str(), variant.as_deref());
    let mut reply = http::with_type(StatusCode::FOUND, Vec::new(), "text/plain; charset=utf-8");
    let headers = reply.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|_| Error::internal("bad redirect"))?,
    );
    // Every scan must reach us to be counted.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(reply)
}

/// `GET /q/{slug}.png` and `.svg`.
pub async fn image(
    state: &AppState,
    request: Request<Incoming>,
    slug: &str,
    format: &str,
) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    state.check_rate(&request, Some(&campaign))?;
    let query = request.uri().query();
    let variant = variant_param(query)?;
    let style = Style::parse(|k| http::query_value(query, k).filter(|v| !v.is_empty()))?;
    let data = scan_url(&state.public_url, &campaign, variant.as_deref());
    let etag = format!("\"{}\"", etag_of(&data, &style, format));
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut reply = if fresh {
        http::with_type(StatusCode::NOT_MODIFIED, Vec::new(), "text/plain")
    } else {
        let format_owned = format.to_owned();
        let (body, content_type) =
            tokio::task::spawn_blocking(move || render(&data, &style, &format_owned))
                .await
                .map_err(|e| Error::internal(format!("QR task failed: {e}")))??;
        http::with_type(StatusCode::OK, body, content_type)
    };
    let headers = reply.headers_mut();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).map_err(|_| Error::internal("bad etag"))?,
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(reply)
}

fn render(data: &str, style: &Style, format: &str) -> Result<(Vec<u8>, &'static str)> {
    match format {
        "png" => Ok((qr::png(data, style)?, "image/png")),
        _ => Ok((qr::svg(data, style)?.into_bytes(), "image/svg+xml")),
    }
}

/// `GET /api/campaigns/{slug}/qr/{variant}`: where the printed code points, and since when.
pub async fn target(state: &AppState, slug: &str, variant: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let history = state
        .service
        .store
        .qr_target_history(campaign.slug.clone(), variant.to_owned())
        .await?;
    Ok(target_reply(&campaign, variant, &history))
}

/// `PUT /api/campaigns/{slug}/qr/{variant}` `{"target": …}`: points the printed code at its
/// form, another campaign's form or an outside https page.
pub async fn set_target(
    state: &AppState,
    request: Request<Incoming>,
    slug: &str,
    variant: &str,
) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let body = http::json_body(request).await?;
    crate::error::reject_unknown_keys(&body, &["target"], "QR target")?;
    let text = match body.get("target") {
        Some(serde_json::Value::String(text)) => text.as_str(),
        _ => {
            return Err(Error::invalid(
                "target",
                "invalid_target",
                "target is required: form, campaign:<slug> or an https:// address",
            ));
        }
    };
    let history = campaigns::point_code(&state.service, &campaign, variant, text).await?;
    Ok(target_reply(&campaign, variant, &history))
}

fn target_reply(
    campaign: &Campaign,
    variant: &str,
    history: &[crate::store::qr_targets::TargetChange],
) -> Reply {
    let targets: Vec<_> = history
        .iter()
        .map(|change| {
            json!({
                "target": change.target,
                "since": crate::lead::format_timestamp(change.since),
            })
        })
        .collect();
    let current = history
        .last()
        .map_or("form", |change| change.target.as_str());
    http::json(
        StatusCode::OK,
        &json!({
            "campaign": campaign.slug,
            "variant": variant,
            "target": current,
            "targets": targets,
        }),
    )
}

/// `GET /api/campaigns/{slug}/scans?from=&to=`: who scanned the campaign's codes (by app,
/// OS, hour of the day in the reporting zone, day and placement). Dates are optional and
/// inclusive, like the ROI summary's.
pub async fn scans(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let pairs = crate::submission::query_pairs(request.uri().query().unwrap_or(""));
    let (from, to) = crate::roi::date_range(|key| {
        crate::submission::first_value(&pairs, key)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    })?;
    let from = from.map_or(0, crate::domain::date_number);
    let to = to.map_or(u32::MAX, crate::domain::date_number);
    let report = state
        .service
        .store
        .scan_report(campaign.slug.clone(), from, to)
        .await?;
    let every = |names: &[&str], sums: &std::collections::BTreeMap<String, u64>| {
        let mut shown: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .map(|name| ((*name).to_owned(), json!(0)))
            .collect();
        for (name, count) in sums {
            shown.insert(name.clone(), json!(count));
        }
        shown
    };
    let by_day: Vec<_> = report
        .by_day
        .iter()
        .map(|(day, scans)| {
            json!({
                "day": format!("{:04}-{:02}-{:02}", day / 10_000, day / 100 % 100, day % 100),
                "scans": scans,
            })
        })
        .collect();
    let by_variant: serde_json::Map<String, serde_json::Value> = report
        .by_variant
        .iter()
        .map(|(variant, scans)| (variant.clone(), json!(scans)))
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({
            "campaign": campaign.slug,
            "scans": report.scans,
            "by_app": every(&crate::scanner::APPS, &report.by_app),
            "by_os": every(&crate::scanner::OSES, &report.by_os),
            "by_hour": report.by_hour,
            "by_day": by_day,
            "by_variant": by_variant,
        }),
    ))
}

/// `GET /api/campaigns/{slug}/qr`: scans, form views and leads per placement.
pub async fn stats(state: &AppState, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let placements = visits::placements(&state.service, &campaign).await?;
    let rows: Vec<_> = placements
        .iter()
        .map(|(variant, p)| {
            let variant = (!variant.is_empty()).then_some(variant.as_str());
            json!({
                "variant": variant,
                "scans": p.scans,
                "form_views": p.form_views,
                "leads": p.leads,
                "scan_to_lead_pct": (p.scans > 0).then(|| {
                    crate::domain::div_round_half_away(i128::from(p.leads) * 10_000, i128::from(p.scans)) as f64 / 100.0
                }),
                "scan_url": scan_url(&state.public_url, &campaign, variant),
            })
        })
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({ "campaign": campaign.slug, "variants": rows }),
    ))
}

/// `GET /admin/campaigns/{slug}/qr`: one card per placement, laid out for A4.
pub async fn sheet(state: &AppState, slug: &str) -> Result<Reply> {
    let campaign = campaigns::find(&state.service, slug).await?;
    let mut variants: Vec<String> = campaign.qr_variants.clone();
    for variant in visits::placements(&state.service, &campaign)
        .await?
        .into_keys()
    {
        if !variant.is_empty() && !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    let variants: Vec<Option<String>> = if variants.is_empty() {
        vec![None]
    } else {
        variants.into_iter().map(Some).collect()
    };
    let style = Style {
        size: 240,
        ecc: qrcode::EcLevel::Q,
        ..Style::default()
    };
    let mut cards = Vec::new();
    for variant in variants {
        let url = scan_url(&state.public_url, &campaign, variant.as_deref());
        cards.push(QrCard {
            svg: qr::svg(&url, &style)?,
            variant,
            url,
        });
    }
    let page = QrSheet {
        campaign_name: campaign.name.clone(),
        cards,
    };
    let body = page
        .render()
        .map_err(|e| Error::internal(format!("template failed: {e}")))?;
    Ok(http::html(StatusCode::OK, body))
}

/// What a code encodes: `{public_url}/q/{slug}`, plus `?v=` for a placement.
pub fn scan_url(public_url: &str, campaign: &Campaign, variant: Option<&str>) -> String {
    match variant {
        Some(v) => format!("{public_url}/q/{}?v={v}", campaign.slug),
        None => format!("{public_url}/q/{}", campaign.slug),
    }
}

fn variant_param(query: Option<&str>) -> Result<Option<String>> {
    match http::query_value(query, "v").filter(|v| !v.is_empty()) {
        Some(v) if qr::is_variant(&v) => Ok(Some(v)),
        Some(_) => Err(Error::invalid(
            "v",
            "invalid_variant",
            "v (the placement) must be 1 to 32 characters of a-z, 0-9, _ and -",
        )),
        None => Ok(None),
    }
}

fn etag_of(data: &str, style: &Style, format: &str) -> String {
    let key = format!("{data}|{style:?}|{format}");
    Sha256::digest(key.as_bytes())
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}
