//! `--demo`: the reference campaigns of the published reviews, so a new user sees a
//! real campaign list at once. Loaded only into an empty store.

use serde_json::json;

use crate::campaign::Campaign;
use crate::error::Result;
use crate::forms::FormSet;
use crate::store::Store;

/// The campaigns of `acceptance-examples.md`.
pub fn campaigns() -> Vec<serde_json::Value> {
    vec![
        json!({"slug": "google-ads", "name": "Google 广告", "kind": "online_ad", "channel": "google_ads", "status": "ended"}),
        json!({"slug": "trade-show", "name": "行业展会", "kind": "trade_show", "channel": "trade_show", "status": "ended"}),
        json!({"slug": "email-marketing", "name": "邮件营销", "kind": "email", "channel": "email", "status": "ended"}),
        json!({"slug": "social-media", "name": "社交媒体", "kind": "social", "channel": "social", "status": "ended"}),
        json!({"slug": "expo-2025-shanghai", "name": "2025 上海工业自动化展", "kind": "trade_show", "channel": "expo",
               "status": "reviewing", "budget": "200000", "target_leads": 300, "target_revenue": "1000000",
               "starts_on": "2025-03-12", "ends_on": "2025-03-14"}),
        json!({"slug": "baidu-sem-2025q1", "name": "2025Q1 百度SEM品牌词", "kind": "online_ad", "channel": "baidu_sem",
               "status": "ended", "starts_on": "2025-01-01", "ends_on": "2025-03-31"}),
        json!({"slug": "douyin-feed-2025q1", "name": "2025Q1 抖音信息流获客", "kind": "online_ad", "channel": "douyin_feed",
               "status": "ended", "starts_on": "2025-01-01", "ends_on": "2025-03-31"}),
        json!({"slug": "douyin-live-2025-03", "name": "2025-03 抖音直播「新品发布专场」", "kind": "livestream",
               "channel": "douyin_live", "status": "reviewing", "budget": "30000", "target_leads": 200,
               "target_revenue": "300000", "form": "livestream", "starts_on": "2025-03-20", "ends_on": "2025-03-20"}),
    ]
}

/// Creates the demo campaigns when the store has none; returns how many were created.
pub async fn load(store: &Store, forms: &FormSet) -> Result<usize> {
    if !store.campaigns().await?.is_empty() {
        tracing::info!("--demo: the store already has campaigns; demo data not loaded");
        return Ok(0);
    }
    let now = jiff::Timestamp::now();
    let all = campaigns();
    for body in &all {
        let campaign = Campaign::create(
            body.as_object().expect("demo bodies are objects"),
            forms,
            now,
        )?;
        store.create_campaign(campaign).await?;
    }
    tracing::info!("--demo: loaded {} sample campaigns", all.len());
    Ok(all.len())
}
