//! `serve --demo`: the sample data is dated relative to the day it is loaded, shows the
//! published figures of `acceptance-examples.md` whatever that day is, and fills the
//! console's default period (this month) with campaigns that have leads, cost, revenue
//! and scans. The demo is loaded with a fixed `now`, never the clock.

use jiff::civil::Date;
use leadgate::forms::FormSet;
use leadgate::store::Store;
use serde_json::Value;

use crate::helpers::{TestApp, json_body, spawn_app_with};

/// An empty store in a temporary data directory, reporting in China's time, as the demo
/// loaders get it.
async fn empty_store() -> (tempfile::TempDir, Store) {
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(leadgate::config::STORE_FILE);
    let store = tokio::task::spawn_blocking(move || Store::open(&path, tz))
        .await
        .unwrap()
        .unwrap();
    (dir, store)
}

/// A server over a store holding the demo as loaded at `now` (given in China's time).
async fn demo_at(now: &str) -> (TestApp, tempfile::TempDir, Date) {
    let now: jiff::Timestamp = now.parse().expect("a test time");
    let (dir, store) = empty_store().await;
    let today = now.to_zoned_datetime(store.tz().clone()).date();
    let created = leadgate::demo::load(&store, &FormSet::builtin(), now)
        .await
        .expect("the demo loads");
    assert_eq!(created, 13, "campaigns created");
    store.close().await;
    let data = dir.path().to_owned();
    let app = spawn_app_with(move |c| c.data_dir = data).await;
    (app, dir, today)
}

async fn roi(app: &TestApp, query: &str) -> Value {
    let (status, body) = json_body(app.admin_get(&format!("/api/roi?{query}")).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn row<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key}: {report}"))
}

/// Every row without its name (names say the year the campaign ran).
fn without_names(report: &Value) -> Vec<Value> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.as_object_mut().unwrap().remove("name");
            r
        })
        .collect()
}

#[tokio::test]
async fn the_demo_shows_the_published_figures_whatever_the_day_it_is_loaded() {
    // The first of a month early in the morning, and the middle of a month a year later.
    let (early, _early_dir, early_today) = demo_at("2026-03-01T09:00:00+08:00").await;
    let (later, _later_dir, later_today) = demo_at("2027-08-17T15:30:00+08:00").await;
    for model in [
        "last_touch",
        "first_touch",
        "linear",
        "time_decay",
        "position_based",
    ] {
        let all_time = |today: Date| format!("model={model}&from=1970-01-01&to={today}");
        let a = roi(&early, &all_time(early_today)).await;
        let b = roi(&later, &all_time(later_today)).await;
        assert_eq!(
            without_names(&a),
            without_names(&b),
            "{model}: the same figures on both days"
        );
        assert_eq!(a["totals"], b["totals"], "{model}");
    }

    let report = roi(&early, &format!("from=1970-01-01&to={early_today}")).await;
    // acceptance-examples.md, "Four channels compared".
    for (key, leads, orders, revenue, cpl, cost_per_order, roi_pct) in [
        (
            "google-ads",
            200,
            15,
            "300000.00",
            "250.00",
            "3333.33",
            500.0,
        ),
        (
            "trade-show",
            150,
            25,
            "500000.00",
            "533.33",
            "3200.00",
            525.0,
        ),
        (
            "email-marketing",
            300,
            10,
            "80000.00",
            "33.33",
            "1000.00",
            700.0,
        ),
        (
            "social-media",
            500,
            8,
            "60000.00",
            "60.00",
            "3750.00",
            100.0,
        ),
        (
            "baidu-sem-brand",
            300,
            30,
            "900000.00",
            "333.33",
            "3333.33",
            800.0,
        ),
        (
            "douyin-feed",
            500,
            20,
            "600000.00",
            "160.00",
            "4000.00",
            650.0,
        ),
    ] {
        let r = row(&report, key);
        assert_eq!(r["leads"], leads, "{key}: {r}");
        assert_eq!(r["orders"], orders as f64, "{key}: {r}");
        assert_eq!(r["revenue"], revenue, "{key}: {r}");
        assert_eq!(r["cpl"], cpl, "{key}: {r}");
        assert_eq!(r["cost_per_order"], cost_per_order, "{key}: {r}");
        assert_eq!(r["roi_pct"], roi_pct, "{key}: {r}");
    }
    // The trade show and the livestream of the second section.
    let expo = row(&report, "expo-shanghai");
    assert_eq!(
        expo["name"], "2025 上海工业自动化展",
        "named by the year it ran"
    );
    for (field, value) in [
        ("leads", 320.0),
        ("mqls", 180.0),
        ("deals", 90.0),
        ("orders", 25.0),
        ("lead_to_deal_pct", 28.13),
        ("deal_to_order_pct", 27.78),
        ("roi_pct", 525.0),
        ("roas", 6.25),
        ("leads_attainment_pct", 106.67),
        ("revenue_attainment_pct", 125.0),
    ] {
        assert_eq!(expo[field].as_f64(), Some(value), "{field}: {expo}");
    }
    assert_eq!(expo["cpl"], "625.00");
    assert_eq!(expo["cost_per_order"], "8000.00");
    assert_eq!(expo["revenue"], "1250000.00");
    let live = row(&report, "douyin-live-launch");
    assert_eq!(live["roi_pct"], 1100.0, "{live}");
    assert_eq!(live["cpl"], "115.38");
    assert_eq!(live["cost_per_order"], "1666.67");
    assert_eq!(live["valid_leads"], 220);
    assert_eq!(live["revenue_attainment_pct"], 120.0);
    // The booths' visitors scanned before they opened the form.
    assert!(expo["scans"].as_u64().unwrap() > expo["form_views"].as_u64().unwrap());
    assert!(expo["form_views"].as_u64().unwrap() >= 320);

    // Journeys: five visitors scan the booth, click the ad, read the article and buy; five
    // only click the ad. Each model credits the three campaigns differently.
    let journeys = |report: &Value| {
        ["expo-shenzhen", "baidu-sem-generic", "wechat-articles"]
            .map(|key| row(report, key)["revenue"].as_str().unwrap().to_owned())
    };
    let by_model = |model: &'static str| {
        let early = &early;
        async move {
            journeys(
                &roi(
                    early,
                    &format!("model={model}&from=1970-01-01&to={early_today}"),
                )
                .await,
            )
        }
    };
    assert_eq!(
        by_model("last_touch").await,
        ["0.00", "200000.00", "200000.00"]
    );
    assert_eq!(
        by_model("first_touch").await,
        ["200000.00", "200000.00", "0.00"]
    );
    assert_eq!(
        by_model("linear").await,
        // Each order's 40,000.00 split in thirds by the largest remainder: 13,333.34 to one
        // touch, so the five three-touch orders give the booth 66,666.70.
        ["66666.70", "266666.65", "66666.65"]
    );
}

#[tokio::test]
async fn the_consoles_default_period_has_campaigns_with_leads_cost_revenue_and_scans() {
    // The first of the month is the hardest case: this month is a few hours long.
    for now in ["2026-03-01T09:00:00+08:00", "2027-08-17T15:30:00+08:00"] {
        let (app, _dir, today) = demo_at(now).await;
        let report = roi(&app, &format!("from={}&to={today}", today.first_of_month())).await;
        let complete: Vec<&Value> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["leads"].as_u64() > Some(0)
                    && r["cost"] != "0.00"
                    && r["revenue"] != "0.00"
                    && r["roi_pct"].is_number()
            })
            .collect();
        assert!(
            complete.len() >= 2,
            "{now}: campaigns with leads, cost, revenue and ROI this month: {report}"
        );
        let totals = &report["totals"]["CNY"];
        assert!(
            totals["scans"].as_u64() > Some(0),
            "{now}: the funnel starts at scans: {totals}"
        );
        // Nothing the demo wrote lies after the moment it was loaded.
        let tomorrow = today.tomorrow().unwrap();
        let after = roi(&app, &format!("from={tomorrow}&to=2099-12-31")).await;
        for r in after["rows"].as_array().unwrap() {
            for field in ["leads", "scans", "form_views"] {
                assert_eq!(r[field], 0, "{now}: {field} after today: {r}");
            }
            assert_eq!(r["cost"], "0.00", "{now}: cost after today: {r}");
            assert_eq!(r["revenue"], "0.00", "{now}: revenue after today: {r}");
        }
    }
}

/// `leadgate demo --scale N` stores N leads: a contact drawn twice for one campaign is two
/// leads, not a replay of one (the generator once gave each such pair one external id, and a
/// "1M-lead" store held 999,003).
#[tokio::test]
async fn a_generated_store_holds_as_many_leads_as_asked_for() {
    const LEADS: usize = 5_000;
    let (dir, store) = empty_store().await;
    let until: jiff::Timestamp = "2026-06-30T12:00:00+08:00".parse().unwrap();
    let (leads, _) = leadgate::demo::generate(&store, &FormSet::builtin(), LEADS, until)
        .await
        .expect("the generator fills an empty store");
    assert_eq!(leads, LEADS);
    store.close().await;
    let data = dir.path().to_owned();
    let app = spawn_app_with(move |c| c.data_dir = data).await;
    let report = roi(&app, "from=2000-01-01&to=2099-12-31").await;
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), leadgate::demo::SCALE_CAMPAIGNS);
    let stored: u64 = rows.iter().map(|r| r["leads"].as_u64().unwrap()).sum();
    assert_eq!(stored, LEADS as u64, "leads in the summary");
}
