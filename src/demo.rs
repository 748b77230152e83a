//! `--demo`: the reference campaigns of `acceptance-examples.md` with their costs, leads,
//! statuses, deals and orders, so that a new user's first ROI table shows the published
//! figures; three campaigns whose visitors touch several of them before buying, so the
//! attribution models visibly differ; and two running campaigns with traffic every day of
//! the last four weeks, so the console's default period (this month) has a full table.
//! Loaded only into an empty store, through the same import code paths as real data.
//!
//! Everything is dated relative to the `now` it is given: the reference timeline is
//! written below as it happened (in 2025) and moved by whole days so that its last day is
//! yesterday, and the running campaigns' days count back from `now`. Moving every time by
//! the same amount keeps the spacing, so every figure (sales cycles, lookback windows and
//! time-decay credit included) is the same whatever the day the demo is loaded.

use std::collections::HashMap;

use serde_json::json;

use crate::campaign::Campaign;
use crate::conversion::ConversionInput;
use crate::cost::CostEntry;
use crate::domain::{Slug, Source};
use crate::error::{Error, Result};
use crate::forms::FormSet;
use crate::import::{Row, lead_from_row};
use crate::store::{NewLead, Store, Visit};

/// The last day of the reference timeline as written (the trade show's orders).
const WRITTEN_LAST_DAY: jiff::civil::Date = jiff::civil::date(2025, 5, 20);

/// The reference timeline's dates moved by a whole number of days.
struct Shift {
    days: i64,
}

impl Shift {
    /// The shift that puts `WRITTEN_LAST_DAY` on the day before `today`: every moved time
    /// is then in the past, whatever the time of day.
    fn ending_before(today: jiff::civil::Date) -> Shift {
        let yesterday = today.yesterday().unwrap_or(today);
        Shift {
            days: WRITTEN_LAST_DAY.duration_until(yesterday).as_hours() / 24,
        }
    }

    /// A written RFC 3339 time, moved. Whole 24-hour days keep the written UTC offset's
    /// time of day (the demo's times are China's, which has no daylight saving).
    fn at(&self, written: &str) -> Result<jiff::Timestamp> {
        let at: jiff::Timestamp = written
            .parse()
            .map_err(|_| Error::internal("bad demo time"))?;
        Ok(at + jiff::SignedDuration::from_hours(24 * self.days))
    }

    fn day(&self, written: &str) -> Result<jiff::civil::Date> {
        let day: jiff::civil::Date = written
            .parse()
            .map_err(|_| Error::internal("bad demo date"))?;
        day.checked_add(jiff::Span::new().days(self.days))
            .map_err(|_| Error::internal("demo date out of range"))
    }

    /// A campaign body with its dates moved, and `{year}` / `{month}` in its name filled
    /// from `named_by` (a written date), so that names say when the campaign ran.
    fn body(&self, written: &serde_json::Value, named_by: &str) -> Result<serde_json::Value> {
        let mut body = written.clone();
        for key in ["starts_on", "ends_on"] {
            if let Some(day) = body[key].as_str() {
                body[key] = self.day(day)?.to_string().into();
            }
        }
        let named_by = self.day(named_by)?;
        if let Some(name) = body["name"].as_str() {
            body["name"] = name
                .replace("{year}", &named_by.year().to_string())
                .replace("{month}", &named_by.strftime("%Y-%m").to_string())
                .into();
        }
        Ok(body)
    }
}

/// One reference campaign and its published results; times as written (see `Shift`).
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
    /// Form views per lead: the landing page's visits, including those who left.
    views_per_lead: usize,
    /// QR placements the visitors scanned at the venue, in turn; empty for online campaigns.
    placements: &'static [&'static str],
}

/// Placements of a booth's QR codes (the printable sheet has a card for each).
const BOOTH: &[&str] = &["booth-a", "booth-b", "poster"];

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
             won_at,
             views_per_lead,
             placements| Reference {
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
        views_per_lead,
        placements,
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
            6,
            &[],
        ),
        r(
            json!({"slug": "trade-show", "name": "行业展会", "kind": "trade_show", "channel": "trade_show", "status": "ended",
                 "qr_variants": BOOTH}),
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
            2,
            BOOTH,
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
            3,
            &[],
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
            4,
            &[],
        ),
        r(
            json!({"slug": "expo-shanghai", "name": "{year} 上海工业自动化展", "kind": "trade_show", "channel": "expo",
                 "status": "reviewing", "budget": "200000", "target_leads": 300, "target_revenue": "1000000",
                 "starts_on": "2025-03-12", "ends_on": "2025-03-14", "qr_variants": BOOTH}),
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
            2,
            BOOTH,
        ),
        r(
            json!({"slug": "baidu-sem-brand", "name": "百度SEM品牌词", "kind": "online_ad", "channel": "baidu_sem",
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
            5,
            &[],
        ),
        r(
            json!({"slug": "douyin-feed", "name": "抖音信息流获客", "kind": "online_ad", "channel": "douyin_feed",
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
            4,
            &[],
        ),
        r(
            json!({"slug": "douyin-live-launch", "name": "{month} 抖音直播「新品发布专场」", "kind": "livestream",
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
            3,
            &[],
        ),
    ]
}

/// Campaigns that share visitors: a booth scan, then a search ad, then an article.
fn journey_campaigns() -> Vec<serde_json::Value> {
    vec![
        json!({"slug": "expo-shenzhen", "name": "{year} 深圳电子展", "kind": "trade_show", "channel": "expo", "status": "ended",
               "qr_variants": ["booth-a"]}),
        json!({"slug": "baidu-sem-generic", "name": "百度SEM通用词", "kind": "online_ad", "channel": "baidu_sem", "status": "running"}),
        json!({"slug": "wechat-articles", "name": "公众号案例文章", "kind": "content", "channel": "wechat_mp", "status": "running"}),
    ]
}

/// A campaign that runs every day: its daily cost, leads and orders over the last
/// `RUNNING_DAYS` days, counted back from `now`.
struct Running {
    body: serde_json::Value,
    cost_per_day: &'static str,
    leads_per_day: usize,
    /// A lead in this many wins an order (the same night: a live-commerce or showroom sale).
    order_every: usize,
    revenue_per_order: &'static str,
    views_per_lead: usize,
    placements: &'static [&'static str],
}

const RUNNING_DAYS: i64 = 28;

fn running() -> Vec<Running> {
    vec![
        Running {
            body: json!({"slug": "showroom-qr", "name": "展厅扫码 · 常设展位", "kind": "offline_event", "channel": "showroom",
                         "status": "running", "budget": "30000", "target_leads": 120,
                         "qr_variants": ["entrance", "demo-line", "brochure"]}),
            cost_per_day: "800",
            leads_per_day: 4,
            order_every: 8,
            revenue_per_order: "12000",
            views_per_lead: 2,
            placements: &["entrance", "demo-line", "brochure"],
        },
        Running {
            body: json!({"slug": "douyin-live-daily", "name": "抖音直播 · 每日好物专场", "kind": "livestream",
                         "channel": "douyin_live", "status": "running", "budget": "60000", "target_leads": 200,
                         "form": "livestream"}),
            cost_per_day: "1500",
            leads_per_day: 6,
            order_every: 6,
            revenue_per_order: "3000",
            views_per_lead: 5,
            placements: &[],
        },
    ]
}

/// Loads the demo data into an empty store, dated relative to `now` (see the module
/// comment); returns how many campaigns were created.
pub async fn load(store: &Store, forms: &FormSet, now: jiff::Timestamp) -> Result<usize> {
    if !store.campaigns().await?.is_empty() {
        tracing::info!("--demo: the store already has campaigns; demo data not loaded");
        return Ok(0);
    }
    let shift = Shift::ending_before(now.to_zoned_datetime(store.tz().clone()).date());
    let references = references();
    let running = running();
    let mut bodies = Vec::new();
    for reference in &references {
        let named_by = reference.body["starts_on"]
            .as_str()
            .unwrap_or(reference.incurred_on);
        bodies.push(shift.body(&reference.body, named_by)?);
    }
    for body in journey_campaigns() {
        bodies.push(shift.body(&body, "2025-04-10")?);
    }
    bodies.extend(running.iter().map(|r| r.body.clone()));
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
    let mut demo = Demo::default();
    for reference in &references {
        let slug = reference.body["slug"].as_str().expect("demo slug");
        add_cost(
            store,
            &campaigns[slug],
            reference.cost,
            &shift.day(reference.incurred_on)?.to_string(),
            "演示数据",
            now,
        )
        .await?;
        let first = shift.at(reference.first_lead_at)?;
        let (deal_at, won_at) = (
            shift.at(reference.deal_at)?.to_string(),
            shift.at(reference.won_at)?.to_string(),
        );
        for i in 0..reference.leads {
            let phone = demo.next_phone();
            let status = if i < reference.mqls {
                "mql"
            } else if i >= reference.leads - reference.disqualified {
                "disqualified"
            } else {
                "new"
            };
            let received = first + jiff::SignedDuration::from_mins(3 * i as i64);
            let placement = (!reference.placements.is_empty())
                .then(|| reference.placements[i % reference.placements.len()]);
            demo.visit(slug, received, placement, reference.views_per_lead);
            let mut row = lead_row(
                slug,
                &received.to_string(),
                &phone,
                &format!("演示客户{}", &phone[7..]),
                status,
            );
            if let Some(placement) = placement {
                scanned(&mut row, placement);
            }
            demo.rows.push(row);
            if i < reference.deals {
                let id = format!("DEMO-{slug}-{i}");
                demo.conversions
                    .push(conversion(&id, &phone, "deal", None, &deal_at));
                if i < reference.orders {
                    demo.conversions.push(conversion(
                        &id,
                        &phone,
                        "won",
                        Some(reference.revenue_per_order),
                        &won_at,
                    ));
                }
            }
        }
    }
    add_journeys(store, &campaigns, &shift, &mut demo, now).await?;
    for campaign in &running {
        add_running(store, &campaigns, campaign, &mut demo, now).await?;
    }
    store.count_visits(demo.visits).await?;
    let leads = demo
        .rows
        .iter()
        .map(|row| {
            let capture = lead_from_row(row, &campaigns, forms, now)?;
            let mut lead = NewLead::from_capture(capture)?;
            // Booth visitors came by a QR code, as a live scan's lead would: the QR
            // sheet then counts them per placement.
            if row.get("utm_source") == Some("qr") {
                lead.lead.source = Source::Qr;
            }
            Ok((row.line, lead))
        })
        .collect::<Result<Vec<_>>>()?;
    let lead_count = leads.len();
    for (_, outcome) in store.import_leads(leads).await? {
        outcome?;
    }
    let conversions = demo
        .conversions
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

/// What the demo writes after its campaigns and costs.
#[derive(Default)]
struct Demo {
    rows: Vec<Row>,
    conversions: Vec<HashMap<String, String>>,
    visits: Vec<Visit>,
    phones: u32,
}

impl Demo {
    fn next_phone(&mut self) -> String {
        self.phones += 1;
        format!("1390{:07}", self.phones)
    }

    /// The visits before a lead received `at`: `views` form views (the first by the lead
    /// itself, the rest by visitors who left), each after a scan of `placement` when the
    /// visitor came by QR code, plus one more scan by someone who never opened the form.
    fn visit(&mut self, slug: &str, at: jiff::Timestamp, placement: Option<&str>, views: usize) {
        let slug = Slug::parse(slug).expect("demo slugs are valid");
        let before = at - jiff::SignedDuration::from_mins(1);
        for _ in 0..views {
            if let Some(placement) = placement {
                let by = self.scanner();
                self.visits.push(Visit::Scan {
                    slug: slug.clone(),
                    variant: placement.to_owned(),
                    at: before,
                    by,
                });
            }
            self.visits.push(Visit::FormView {
                slug: slug.clone(),
                at: before,
                qr_variant: placement.map(str::to_owned),
            });
        }
        if let Some(placement) = placement {
            let by = self.scanner();
            self.visits.push(Visit::Scan {
                slug,
                variant: placement.to_owned(),
                at: before,
                by,
            });
        }
    }

    /// Who scanned: mostly WeChat, as at a real booth, in a fixed rotation.
    fn scanner(&self) -> crate::scanner::Scanner {
        const SEEN: [(&str, &str); 8] = [
            ("wechat", "ios"),
            ("wechat", "android"),
            ("wechat", "android"),
            ("browser", "ios"),
            ("alipay", "android"),
            ("douyin", "android"),
            ("wechat", "harmonyos"),
            ("wecom", "ios"),
        ];
        let (app, os) = SEEN[self.visits.len() % SEEN.len()];
        crate::scanner::Scanner { app, os }
    }
}

/// A lead row as a booth scan's: the QR code's tracking parameters.
fn scanned(row: &mut Row, placement: &str) {
    row.extend([
        ("utm_source", "qr"),
        ("utm_medium", "offline"),
        ("utm_content", placement),
    ]);
}

/// Five visitors scan the Shenzhen booth, later click a Baidu ad and read an article
/// before they buy; five more only click the ad and buy.
async fn add_journeys(
    store: &Store,
    campaigns: &HashMap<String, Campaign>,
    shift: &Shift,
    demo: &mut Demo,
    now: jiff::Timestamp,
) -> Result<()> {
    for (slug, amount, day, note) in [
        ("expo-shenzhen", "60000", "2025-04-10", "展位与搭建"),
        ("baidu-sem-generic", "20000", "2025-04-15", "4月投放"),
        ("wechat-articles", "5000", "2025-04-20", "稿费"),
    ] {
        let day = shift.day(day)?.to_string();
        add_cost(store, &campaigns[slug], amount, &day, note, now).await?;
    }
    for i in 0..10 {
        let phone = demo.next_phone();
        let name = format!("旅程客户{}", i + 1);
        let minutes = jiff::SignedDuration::from_mins(7 * i64::from(i));
        let at = |text: &str| -> Result<jiff::Timestamp> { Ok(shift.at(text)? + minutes) };
        if i < 5 {
            let scanned_at = at("2025-04-10T10:00:00+08:00")?;
            demo.visit("expo-shenzhen", scanned_at, Some("booth-a"), 1);
            let mut scan = lead_row(
                "expo-shenzhen",
                &scanned_at.to_string(),
                &phone,
                &name,
                "mql",
            );
            scanned(&mut scan, "booth-a");
            demo.rows.push(scan);
        }
        let clicked_at = at("2025-04-20T21:00:00+08:00")?;
        demo.visit("baidu-sem-generic", clicked_at, None, 3);
        let mut click = lead_row(
            "baidu-sem-generic",
            &clicked_at.to_string(),
            &phone,
            &name,
            "new",
        );
        click.extend([
            ("utm_source", "baidu"),
            ("utm_medium", "cpc"),
            ("bd_vid", &format!("demo{i}")),
        ]);
        demo.rows.push(click);
        if i < 5 {
            let read_at = at("2025-04-25T12:00:00+08:00")?;
            demo.visit("wechat-articles", read_at, None, 2);
            demo.rows.push(lead_row(
                "wechat-articles",
                &read_at.to_string(),
                &phone,
                &name,
                "new",
            ));
        }
        let id = format!("DEMO-JOURNEY-{}", i + 1);
        demo.conversions.push(conversion(
            &id,
            &phone,
            "deal",
            None,
            &at("2025-04-28T10:00:00+08:00")?.to_string(),
        ));
        demo.conversions.push(conversion(
            &id,
            &phone,
            "won",
            Some("40000"),
            &at("2025-05-12T10:00:00+08:00")?.to_string(),
        ));
    }
    Ok(())
}

/// A running campaign's last `RUNNING_DAYS` days, counted back from `now` in whole days:
/// each day's cost, and leads 30, 50, 70… minutes before that day's `now`, an order
/// 20 minutes after some of them. Everything is in the past, and today has its share.
async fn add_running(
    store: &Store,
    campaigns: &HashMap<String, Campaign>,
    running: &Running,
    demo: &mut Demo,
    now: jiff::Timestamp,
) -> Result<()> {
    let slug = running.body["slug"].as_str().expect("demo slug");
    for day in 0..RUNNING_DAYS {
        let day_now = now - jiff::SignedDuration::from_hours(24 * day);
        let incurred = day_now
            .to_zoned_datetime(store.tz().clone())
            .date()
            .to_string();
        add_cost(
            store,
            &campaigns[slug],
            running.cost_per_day,
            &incurred,
            "日投放",
            now,
        )
        .await?;
        for i in 0..running.leads_per_day {
            let phone = demo.next_phone();
            let received = day_now - jiff::SignedDuration::from_mins(30 + 20 * i as i64);
            let placement = (!running.placements.is_empty())
                .then(|| running.placements[i % running.placements.len()]);
            demo.visit(slug, received, placement, running.views_per_lead);
            let mut row = lead_row(
                slug,
                &received.to_string(),
                &phone,
                &format!("演示客户{}", &phone[7..]),
                if i % 2 == 0 { "mql" } else { "new" },
            );
            if let Some(placement) = placement {
                scanned(&mut row, placement);
            }
            demo.rows.push(row);
            let sequence = day as usize * running.leads_per_day + i;
            if sequence.is_multiple_of(running.order_every) {
                let id = format!("DEMO-{slug}-{sequence}");
                let deal_at = received + jiff::SignedDuration::from_mins(5);
                let won_at = received + jiff::SignedDuration::from_mins(20);
                demo.conversions
                    .push(conversion(&id, &phone, "deal", None, &deal_at.to_string()));
                demo.conversions.push(conversion(
                    &id,
                    &phone,
                    "won",
                    Some(running.revenue_per_order),
                    &won_at.to_string(),
                ));
            }
        }
    }
    Ok(())
}

async fn add_cost(
    store: &Store,
    campaign: &Campaign,
    amount: &str,
    incurred_on: &str,
    note: &str,
    now: jiff::Timestamp,
) -> Result<()> {
    let body = json!({"amount": amount, "incurred_on": incurred_on, "note": note});
    let entry = CostEntry::from_json(body.as_object().expect("object"), campaign, now)?;
    store
        .add_cost(campaign.slug.clone(), entry, campaign.currency)
        .await?;
    Ok(())
}

fn lead_row(slug: &str, received_at: &str, phone: &str, name: &str, status: &str) -> Row {
    let external_id = format!("demo-{slug}-{phone}");
    lead_row_with_id(&external_id, slug, received_at, phone, name, status)
}

/// A lead row under the given external id: an import takes a second row with the same
/// campaign and external id for a replay of the first and stores it once.
fn lead_row_with_id(
    external_id: &str,
    slug: &str,
    received_at: &str,
    phone: &str,
    name: &str,
    status: &str,
) -> Row {
    let cells = [
        ("campaign", slug),
        ("received_at", received_at),
        ("phone", phone),
        ("name", name),
        ("status", status),
        ("external_id", external_id),
    ];
    Row::new(0, cells)
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
            now,
        )
        .await?;
        campaigns.insert(slug.clone(), campaign);
        slugs.push(slug);
    }
    // Drawn contact by contact (the same store every run), then written in the order
    // the leads were received, as a live store fills: lead ids follow the time received,
    // so written in draw order (contacts spread over the whole year) every batch would
    // split B-tree pages all over the leads table, and the store came out at ~1,000 bytes
    // per lead instead of ~500.
    let mut random = Sequence(0x9e37_79b9_7f4a_7c15);
    let (mut drawn, mut contact) = (0_usize, 0_u64);
    let mut touches = Vec::with_capacity(leads);
    let mut outcomes = Vec::new();
    while drawn < leads {
        contact += 1;
        let count = (1 + random.below(4) as usize).min(leads - drawn);
        let mut at = until
            - jiff::SignedDuration::from_mins(
                random.below(SCALE_DAYS as u64 * 24 * 60) as i64 + 60 * 24 * 10,
            );
        for _ in 0..count {
            touches.push(ScaleTouch {
                at,
                contact,
                campaign: random.below(SCALE_CAMPAIGNS as u64) as u16,
                mql: random.below(5) == 0,
            });
            at += jiff::SignedDuration::from_mins(random.below(60 * 24 * 3) as i64 + 1);
        }
        drawn += count;
        if random.below(10) == 0 {
            let won = (random.below(2) == 0).then(|| {
                (
                    (at + jiff::SignedDuration::from_hours(24 * 7)).min(until),
                    1_000 + random.below(99_000),
                )
            });
            outcomes.push(ScaleOutcome {
                contact,
                deal_at: at,
                won,
            });
        }
    }
    touches.sort_by_key(|touch| touch.at);
    let mut rows = Vec::with_capacity(SCALE_BATCH);
    for (n, touch) in touches.iter().enumerate() {
        let slug = &slugs[touch.campaign as usize];
        // One id per lead: a contact drawn twice for the same campaign is two visits,
        // where an id made of campaign and phone would store the second as a replay.
        let mut row = lead_row_with_id(
            &format!("scale-{n}"),
            slug,
            &touch.at.to_string(),
            &scale_phone(touch.contact),
            "规模客户",
            if touch.mql { "mql" } else { "new" },
        );
        row.extend([
            ("utm_source", "baidu"),
            ("utm_medium", "cpc"),
            ("utm_campaign", slug.as_str()),
            ("company", "上海某某自动化设备有限公司"),
        ]);
        rows.push(row);
        if rows.len() >= SCALE_BATCH {
            flush_leads(store, &campaigns, forms, &mut rows, now).await?;
        }
    }
    flush_leads(store, &campaigns, forms, &mut rows, now).await?;
    // The CRM's records come after the leads they match.
    let mut conversion_rows = 0;
    let mut conversions = Vec::new();
    for outcome in &outcomes {
        let (id, phone) = (
            format!("SCALE-{}", outcome.contact),
            scale_phone(outcome.contact),
        );
        conversions.push(conversion(
            &id,
            &phone,
            "deal",
            None,
            &outcome.deal_at.to_string(),
        ));
        if let Some((won_at, amount)) = outcome.won {
            conversions.push(conversion(
                &id,
                &phone,
                "won",
                Some(&amount.to_string()),
                &won_at.to_string(),
            ));
        }
        if conversions.len() >= SCALE_BATCH {
            conversion_rows += flush_conversions(store, &mut conversions, now).await?;
        }
    }
    conversion_rows += flush_conversions(store, &mut conversions, now).await?;
    Ok((touches.len(), conversion_rows))
}

/// One generated lead, before it is written: 32 bytes, so a million fit in memory.
struct ScaleTouch {
    at: jiff::Timestamp,
    contact: u64,
    campaign: u16,
    mql: bool,
}

/// A generated contact's deal, and its won order (when, how much) if it won.
struct ScaleOutcome {
    contact: u64,
    deal_at: jiff::Timestamp,
    won: Option<(jiff::Timestamp, u64)>,
}

fn scale_phone(contact: u64) -> String {
    format!("13{contact:09}")
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
        // Every generated lead has an id of its own: one taken for a replay would make the
        // store smaller than asked for, and the figures measured on it wrong.
        assert!(
            !outcome?.duplicate,
            "a generated lead was taken for a replay"
        );
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
