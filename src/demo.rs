//! `--demo`: the reference campaigns of `acceptance-examples.md` with their costs, leads,
//! statuses, deals and orders, so that a new user's first ROI table shows the published
//! figures; plus three campaigns whose visitors touch several of them before buying, so
//! the attribution models visibly differ. Loaded only into an empty store, through the
//! same import code paths as real data.

use std::collections::HashMap;

use serde_json::json;

use crate::campaign::Campaign;
use crate::conversion::ConversionInput;
use crate::cost::CostEntry;
use crate::error::{Error, Result};
use crate::forms::FormSet;
use crate::import::{Row, lead_from_row};
use crate::store::{NewLead, Store};

/// One reference campaign and its published results.
struct Reference {
    body: serde_json::Value,
    cost: &'static str,
    incurred_on: &'static str,
    /// First lead's time; the others follow a few minutes apart.
    first_lead_at: &'static str,
    leads: usize,
    mqls: usize,
    disqualified: usize,
    deals: usize,
    orders: usize,
    revenue_per_order: &'static str,
    deal_at: &'static str,
    won_at: &'static str,
}

fn references() -> Vec<Reference> {
    let r = |body,
             cost,
             incurred_on,
             first_lead_at,
             leads,
             mqls,
             disqualified,
             deals,
             orders,
             revenue_per_order,
             deal_at,
             won_at| Reference {
        body,
        cost,
        incurred_on,
        first_lead_at,
        leads,
        mqls,
        disqualified,
        deals,
        orders,
        revenue_per_order,
        deal_at,
        won_at,
    };
    vec![
        r(
            json!({"slug": "google-ads", "name": "Google 广告", "kind": "online_ad", "channel": "google_ads", "status": "ended"}),
            "50000",
            "2025-01-05",
            "2025-01-06T09:00:00+08:00",
            200,
            0,
            0,
            40,
            15,
            "20000",
            "2025-02-10T10:00:00+08:00",
            "2025-03-05T10:00:00+08:00",
        ),
        r(
            json!({"slug": "trade-show", "name": "行业展会", "kind": "trade_show", "channel": "trade_show", "status": "ended"}),
            "80000",
            "2025-01-15",
            "2025-01-16T09:00:00+08:00",
            150,
            0,
            0,
            60,
            25,
            "20000",
            "2025-02-12T10:00:00+08:00",
            "2025-03-10T10:00:00+08:00",
        ),
        r(
            json!({"slug": "email-marketing", "name": "邮件营销", "kind": "email", "channel": "email", "status": "ended"}),
            "10000",
            "2025-01-20",
            "2025-01-21T09:00:00+08:00",
            300,
            0,
            0,
            30,
            10,
            "8000",
            "2025-02-15T10:00:00+08:00",
            "2025-03-12T10:00:00+08:00",
        ),
        r(
            json!({"slug": "social-media", "name": "社交媒体", "kind": "social", "channel": "social", "status": "ended"}),
            "30000",
            "2025-01-25",
            "2025-01-26T09:00:00+08:00",
            500,
            0,
            0,
            25,
            8,
            "7500",
            "2025-02-20T10:00:00+08:00",
            "2025-03-15T10:00:00+08:00",
        ),
        r(
            json!({"slug": "expo-2025-shanghai", "name": "2025 上海工业自动化展", "kind": "trade_show", "channel": "expo",
                 "status": "reviewing", "budget": "200000", "target_leads": 300, "target_revenue": "1000000",
                 "starts_on": "2025-03-12", "ends_on": "2025-03-14"}),
            "200000",
            "2025-03-12",
            "2025-03-12T09:30:00+08:00",
            320,
            180,
            0,
            90,
            25,
            "50000",
            "2025-03-25T10:00:00+08:00",
            "2025-05-20T10:00:00+08:00",
        ),
        r(
            json!({"slug": "baidu-sem-2025q1", "name": "2025Q1 百度SEM品牌词", "kind": "online_ad", "channel": "baidu_sem",
                 "status": "ended", "starts_on": "2025-01-01", "ends_on": "2025-03-31"}),
            "100000",
            "2025-01-01",
            "2025-01-02T09:00:00+08:00",
            300,
            0,
            0,
            75,
            30,
            "30000",
            "2025-03-20T10:00:00+08:00",
            "2025-04-15T10:00:00+08:00",
        ),
        r(
            json!({"slug": "douyin-feed-2025q1", "name": "2025Q1 抖音信息流获客", "kind": "online_ad", "channel": "douyin_feed",
                 "status": "ended", "starts_on": "2025-01-01", "ends_on": "2025-03-31"}),
            "80000",
            "2025-01-01",
            "2025-01-03T09:00:00+08:00",
            500,
            0,
            0,
            60,
            20,
            "30000",
            "2025-03-22T10:00:00+08:00",
            "2025-04-18T10:00:00+08:00",
        ),
        r(
            json!({"slug": "douyin-live-2025-03", "name": "2025-03 抖音直播「新品发布专场」", "kind": "livestream",
                 "channel": "douyin_live", "status": "reviewing", "budget": "30000", "target_leads": 200,
                 "target_revenue": "300000", "form": "livestream", "starts_on": "2025-03-20", "ends_on": "2025-03-20"}),
            "30000",
            "2025-03-20",
            "2025-03-20T20:00:00+08:00",
            260,
            0,
            40,
            80,
            18,
            "20000",
            "2025-03-28T10:00:00+08:00",
            "2025-04-25T10:00:00+08:00",
        ),
    ]
}

/// Campaigns that share visitors: a booth scan, then a search ad, then an article.
fn journey_campaigns() -> Vec<serde_json::Value> {
    vec![
        json!({"slug": "expo-2025-shenzhen", "name": "2025 深圳电子展", "kind": "trade_show", "channel": "expo", "status": "ended"}),
        json!({"slug": "baidu-sem-2025q2", "name": "2025Q2 百度SEM通用词", "kind": "online_ad", "channel": "baidu_sem", "status": "running"}),
        json!({"slug": "wechat-articles", "name": "公众号案例文章", "kind": "content", "channel": "wechat_mp", "status": "running"}),
    ]
}

/// Loads the demo data into an empty store; returns how many campaigns were created.
pub async fn load(store: &Store, forms: &FormSet) -> Result<usize> {
    if !store.campaigns().await?.is_empty() {
        tracing::info!("--demo: the store already has campaigns; demo data not loaded");
        return Ok(0);
    }
    let now = jiff::Timestamp::now();
    let references = references();
    let mut bodies: Vec<serde_json::Value> = references.iter().map(|r| r.body.clone()).collect();
    bodies.extend(journey_campaigns());
    let mut campaigns = HashMap::new();
    for body in &bodies {
        let campaign = Campaign::create(
            body.as_object().expect("demo bodies are objects"),
            forms,
            now,
        )?;
        let campaign = store.create_campaign(campaign).await?;
        campaigns.insert(campaign.slug.to_string(), campaign);
    }
    let mut rows = Vec::new();
    let mut conversions = Vec::new();
    let mut phone_seq = 0_u32;
    let mut next_phone = || {
        phone_seq += 1;
        format!("1390{phone_seq:07}")
    };
    for reference in &references {
        let slug = reference.body["slug"].as_str().expect("demo slug");
        add_cost(
            store,
            &campaigns[slug],
            reference.cost,
            reference.incurred_on,
            "演示数据",
        )
        .await?;
        let first: jiff::Timestamp = reference
            .first_lead_at
            .parse()
            .map_err(|_| Error::internal("bad demo time"))?;
        for i in 0..reference.leads {
            let phone = next_phone();
            let status = if i < reference.mqls {
                "mql"
            } else if i >= reference.leads - reference.disqualified {
                "disqualified"
            } else {
                "new"
            };
            let received = first + jiff::SignedDuration::from_mins(3 * i as i64);
            rows.push(lead_row(
                slug,
                &received.to_string(),
                &phone,
                &format!("演示客户{}", &phone[7..]),
                status,
            ));
            if i < reference.deals {
                let id = format!("DEMO-{slug}-{i}");
                conversions.push(conversion(&id, &phone, "deal", None, reference.deal_at));
                if i < reference.orders {
                    conversions.push(conversion(
                        &id,
                        &phone,
                        "won",
                        Some(reference.revenue_per_order),
                        reference.won_at,
                    ));
                }
            }
        }
    }
    add_journeys(
        store,
        &campaigns,
        &mut rows,
        &mut conversions,
        &mut next_phone,
    )
    .await?;
    let leads = rows
        .iter()
        .map(|row| {
            lead_from_row(row, &campaigns, forms, now)
                .and_then(NewLead::from_capture)
                .map(|lead| (row.line, lead))
        })
        .collect::<Result<Vec<_>>>()?;
    let lead_count = leads.len();
    for (_, outcome) in store.import_leads(leads).await? {
        outcome?;
    }
    let conversions = conversions
        .into_iter()
        .enumerate()
        .map(|(i, get)| ConversionInput::parse(|k| get.get(k).cloned(), now).map(|c| (i + 1, c)))
        .collect::<Result<Vec<_>>>()?;
    let conversion_count = conversions.len();
    for (_, outcome) in store.import_conversions(conversions, now).await? {
        outcome?;
    }
    tracing::info!(
        "--demo: loaded {} campaigns, {lead_count} leads and {conversion_count} conversion records",
        campaigns.len()
    );
    Ok(campaigns.len())
}

/// Five visitors scan the Shenzhen booth, later click a Baidu ad and read an article
/// before they buy; five more only click the ad and buy.
async fn add_journeys(
    store: &Store,
    campaigns: &HashMap<String, Campaign>,
    rows: &mut Vec<Row>,
    conversions: &mut Vec<HashMap<String, String>>,
    next_phone: &mut impl FnMut() -> String,
) -> Result<()> {
    add_cost(
        store,
        &campaigns["expo-2025-shenzhen"],
        "60000",
        "2025-04-10",
        "展位与搭建",
    )
    .await?;
    add_cost(
        store,
        &campaigns["baidu-sem-2025q2"],
        "20000",
        "2025-04-15",
        "4月投放",
    )
    .await?;
    add_cost(
        store,
        &campaigns["wechat-articles"],
        "5000",
        "2025-04-20",
        "稿费",
    )
    .await?;
    for i in 0..10 {
        let phone = next_phone();
        let name = format!("旅程客户{}", i + 1);
        let minutes = jiff::SignedDuration::from_mins(7 * i64::from(i));
        let at = |text: &str| -> Result<String> {
            let ts: jiff::Timestamp = text.parse().map_err(|_| Error::internal("bad demo time"))?;
            Ok((ts + minutes).to_string())
        };
        if i < 5 {
            let mut scan = lead_row(
                "expo-2025-shenzhen",
                &at("2025-04-10T10:00:00+08:00")?,
                &phone,
                &name,
                "mql",
            );
            scan.cells.extend([
                ("utm_source".into(), "qr".into()),
                ("utm_medium".into(), "offline".into()),
                ("utm_content".into(), "booth-a".into()),
            ]);
            rows.push(scan);
        }
        let mut click = lead_row(
            "baidu-sem-2025q2",
            &at("2025-04-20T21:00:00+08:00")?,
            &phone,
            &name,
            "new",
        );
        click.cells.extend([
            ("utm_source".into(), "baidu".into()),
            ("utm_medium".into(), "cpc".into()),
            ("bd_vid".into(), format!("demo{i}")),
        ]);
        rows.push(click);
        if i < 5 {
            rows.push(lead_row(
                "wechat-articles",
                &at("2025-04-25T12:00:00+08:00")?,
                &phone,
                &name,
                "new",
            ));
        }
        let id = format!("DEMO-JOURNEY-{}", i + 1);
        conversions.push(conversion(
            &id,
            &phone,
            "deal",
            None,
            &at("2025-04-28T10:00:00+08:00")?,
        ));
        conversions.push(conversion(
            &id,
            &phone,
            "won",
            Some("40000"),
            &at("2025-05-12T10:00:00+08:00")?,
        ));
    }
    Ok(())
}

async fn add_cost(
    store: &Store,
    campaign: &Campaign,
    amount: &str,
    incurred_on: &str,
    note: &str,
) -> Result<()> {
    let body = json!({"amount": amount, "incurred_on": incurred_on, "note": note});
    let entry = CostEntry::from_json(
        body.as_object().expect("object"),
        campaign,
        jiff::Timestamp::now(),
    )?;
    store
        .add_cost(campaign.slug.clone(), entry, campaign.currency)
        .await?;
    Ok(())
}

fn lead_row(slug: &str, received_at: &str, phone: &str, name: &str, status: &str) -> Row {
    let cells = [
        ("campaign", slug),
        ("received_at", received_at),
        ("phone", phone),
        ("name", name),
        ("status", status),
        ("external_id", &format!("demo-{slug}-{phone}")),
    ];
    Row {
        line: 0,
        cells: cells
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn conversion(
    id: &str,
    phone: &str,
    stage: &str,
    amount: Option<&str>,
    at: &str,
) -> HashMap<String, String> {
    let mut fields: HashMap<String, String> = [
        ("id", id),
        ("phone", phone),
        ("stage", stage),
        ("occurred_at", at),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if let Some(amount) = amount {
        fields.insert("amount".into(), amount.into());
    }
    fields
}

/// A small, fixed pseudo-random sequence (xorshift64*): the same store every run.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Campaigns a generated store spreads its leads over.
pub const SCALE_CAMPAIGNS: usize = 1000;
const SCALE_DAYS: i64 = 365;
/// Rows per transaction while generating: big enough to amortise the commit.
const SCALE_BATCH: usize = 5000;

/// `leadgate demo --scale N`: fills an empty store with `leads` leads over 1,000 campaigns
/// and the year before `until`, through the same import paths as real data. Contacts come
/// back up to four times over different campaigns; one contact in ten opens a deal, half
/// of those win. Returns (leads, conversion records) written.
pub async fn generate(
    store: &Store,
    forms: &FormSet,
    leads: usize,
    until: jiff::Timestamp,
) -> Result<(usize, usize)> {
    if !store.campaigns().await?.is_empty() {
        return Err(Error::new(
            crate::error::ErrorKind::Conflict,
            "store_not_empty",
            "--scale fills only an empty store",
        ));
    }
    let kinds = [
        "trade_show",
        "online_ad",
        "livestream",
        "content",
        "offline_event",
        "email",
        "social",
        "referral",
    ];
    let channels = [
        "expo",
        "baidu_sem",
        "douyin_feed",
        "douyin_live",
        "wechat_mp",
        "email",
        "xiaohongshu",
        "partner",
    ];
    let mut campaigns = HashMap::new();
    let mut slugs = Vec::with_capacity(SCALE_CAMPAIGNS);
    let now = jiff::Timestamp::now();
    for i in 0..SCALE_CAMPAIGNS {
        let slug = format!("c{i:04}");
        let body = json!({"slug": slug, "name": format!("规模测试活动 {i}"), "kind": kinds[i % kinds.len()],
            "channel": channels[i % channels.len()], "budget": (10_000 + i * 37) as u64});
        let campaign = store
            .create_campaign(Campaign::create(
                body.as_object().expect("object"),
                forms,
                now,
            )?)
            .await?;
        let incurred = (until - jiff::SignedDuration::from_hours(24 * (i as i64 % SCALE_DAYS)))
            .to_zoned_datetime(store.tz().clone())
            .date();
        add_cost(
            store,
            &campaign,
            &format!("{}", 5_000 + i * 13),
            &incurred.to_string(),
            "scale",
        )
        .await?;
        campaigns.insert(slug.clone(), campaign);
        slugs.push(slug);
    }
    let mut random = Sequence(0x9e37_79b9_7f4a_7c15);
    let (mut written, mut conversion_rows, mut contact) = (0_usize, 0_usize, 0_u64);
    let mut rows = Vec::with_capacity(SCALE_BATCH);
    let mut conversions = Vec::new();
    while written < leads {
        contact += 1;
        let phone = format!("13{:09}", contact);
        let touches = (1 + random.below(4) as usize).min(leads - written);
        let mut at = until
            - jiff::SignedDuration::from_mins(
                random.below(SCALE_DAYS as u64 * 24 * 60) as i64 + 60 * 24 * 10,
            );
        for _ in 0..touches {
            let slug = &slugs[random.below(SCALE_CAMPAIGNS as u64) as usize];
            let mut row = lead_row(
                slug,
                &at.to_string(),
                &phone,
                "规模客户",
                if random.below(5) == 0 { "mql" } else { "new" },
            );
            row.cells.extend([
                ("utm_source".into(), "baidu".into()),
                ("utm_medium".into(), "cpc".into()),
                ("utm_campaign".into(), slug.clone()),
                ("company".into(), "上海某某自动化设备有限公司".into()),
            ]);
            rows.push(row);
            at += jiff::SignedDuration::from_mins(random.below(60 * 24 * 3) as i64 + 1);
        }
        written += touches;
        if random.below(10) == 0 {
            let id = format!("SCALE-{contact}");
            conversions.push(conversion(&id, &phone, "deal", None, &at.to_string()));
            if random.below(2) == 0 {
                let won = (at + jiff::SignedDuration::from_hours(24 * 7)).min(until);
                conversions.push(conversion(
                    &id,
                    &phone,
                    "won",
                    Some(&format!("{}", 1_000 + random.below(99_000))),
                    &won.to_string(),
                ));
            }
        }
        if rows.len() >= SCALE_BATCH || written >= leads {
            flush_leads(store, &campaigns, forms, &mut rows, now).await?;
            conversion_rows += flush_conversions(store, &mut conversions, now).await?;
        }
    }
    Ok((written, conversion_rows))
}

async fn flush_leads(
    store: &Store,
    campaigns: &HashMap<String, Campaign>,
    forms: &FormSet,
    rows: &mut Vec<Row>,
    now: jiff::Timestamp,
) -> Result<()> {
    let leads = rows
        .drain(..)
        .map(|row| {
            lead_from_row(&row, campaigns, forms, now)
                .and_then(NewLead::from_capture)
                .map(|lead| (0, lead))
        })
        .collect::<Result<Vec<_>>>()?;
    for (_, outcome) in store.import_leads(leads).await? {
        outcome?;
    }
    Ok(())
}

async fn flush_conversions(
    store: &Store,
    conversions: &mut Vec<HashMap<String, String>>,
    now: jiff::Timestamp,
) -> Result<usize> {
    if conversions.is_empty() {
        return Ok(0);
    }
    let inputs = conversions
        .drain(..)
        .map(|get| ConversionInput::parse(|k| get.get(k).cloned(), now).map(|c| (0, c)))
        .collect::<Result<Vec<_>>>()?;
    let count = inputs.len();
    for (_, outcome) in store.import_conversions(inputs, now).await? {
        outcome?;
    }
    Ok(count)
}
