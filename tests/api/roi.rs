//! `GET /api/roi` and `GET /api/roi.csv`: the reference campaigns of acceptance-examples.md
//! fed through the API, reporting-day boundaries, currencies, query validation, the CSV file,
//! and the token on every route of the costs / imports / conversions / ROI features.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::helpers::{
    ROI_FIELDS as FIELDS, TestApp, assert_csv_matches_json, assert_error, assert_money,
    assert_null, assert_num, excel_csv, json_body, num, roi_row, spawn_app,
};

/// Every attribution model, for tests that must hold under each.
pub(crate) const MODELS: [&str; 6] = [
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
];

// ---------------------------------------------------------------------------------------------
// acceptance-examples.md, end to end

/// How one reference campaign is set up and fed.
pub(crate) struct Reference {
    slug: &'static str,
    name: &'static str,
    kind: &'static str,
    channel: &'static str,
    form: &'static str,
    /// `budget`, `target_leads`, `target_revenue` where the document gives them.
    extra: Option<(u64, u64, u64)>,
    /// The campaign's cost in yuan (entered as two entries).
    cost: u64,
    leads: usize,
    /// Leads marked `mql` (or `sql`): indexes `0..mqls`.
    mqls: usize,
    /// Leads marked `disqualified`: the last `disqualified` indexes.
    disqualified: usize,
    /// The last `form_leads` leads are submitted through `POST /f/{slug}` (received now).
    form_leads: usize,
    /// Conversions opened (`deal`): indexes `0..deals`; of those `0..orders` are won, the
    /// next `lost` lost.
    deals: usize,
    orders: usize,
    lost: usize,
    order_amount: u64,
}

/// The figures acceptance-examples.md gives (and, where it gives no deals count, what follows
/// from the count chosen in [`Reference::deals`]).
pub(crate) struct Expected {
    cost: &'static str,
    leads: f64,
    valid_leads: f64,
    mqls: f64,
    deals: f64,
    orders: f64,
    revenue: &'static str,
    cpl: &'static str,
    cost_per_order: &'static str,
    lead_to_deal_pct: f64,
    deal_to_order_pct: f64,
    roi_pct: f64,
    roas: f64,
    leads_attainment_pct: Option<f64>,
    revenue_attainment_pct: Option<f64>,
}

/// The fields every reference campaign shares unless it says otherwise.
const BASE: Reference = Reference {
    slug: "",
    name: "",
    kind: "",
    channel: "",
    form: "default",
    extra: None,
    cost: 0,
    leads: 0,
    mqls: 0,
    disqualified: 0,
    form_leads: 0,
    deals: 0,
    orders: 0,
    lost: 0,
    order_amount: 0,
};

pub(crate) fn references() -> Vec<(Reference, Expected)> {
    vec![
        // "Four channels compared"
        (
            Reference {
                slug: "google-ads",
                name: "Google 广告",
                kind: "online_ad",
                channel: "google_ads",
                cost: 50_000,
                leads: 200,
                deals: 40,
                orders: 15,
                lost: 5,
                order_amount: 20_000,
                ..BASE
            },
            Expected {
                cost: "50000.00",
                leads: 200.0,
                valid_leads: 200.0,
                mqls: 0.0,
                deals: 40.0,
                orders: 15.0,
                revenue: "300000.00",
                cpl: "250.00",
                cost_per_order: "3333.33",
                lead_to_deal_pct: 20.0,
                deal_to_order_pct: 37.5,
                roi_pct: 500.00,
                roas: 6.0,
                leads_attainment_pct: None,
                revenue_attainment_pct: None,
            },
        ),
        (
            Reference {
                slug: "trade-show",
                name: "行业展会",
                kind: "trade_show",
                channel: "exhibition",
                cost: 80_000,
                leads: 150,
                deals: 50,
                orders: 25,
                lost: 5,
                order_amount: 20_000,
                ..BASE
            },
            Expected {
                cost: "80000.00",
                leads: 150.0,
                valid_leads: 150.0,
                mqls: 0.0,
                deals: 50.0,
                orders: 25.0,
                revenue: "500000.00",
                cpl: "533.33",
                cost_per_order: "3200.00",
                lead_to_deal_pct: 33.33,
                deal_to_order_pct: 50.0,
                roi_pct: 525.00,
                roas: 6.25,
                leads_attainment_pct: None,
                revenue_attainment_pct: None,
            },
        ),
        (
            Reference {
                slug: "email-mkt",
                name: "邮件营销",
                kind: "email",
                channel: "edm",
                cost: 10_000,
                leads: 300,
                deals: 30,
                orders: 10,
                lost: 0,
                order_amount: 8_000,
                ..BASE
            },
            Expected {
                cost: "10000.00",
                leads: 300.0,
                valid_leads: 300.0,
                mqls: 0.0,
                deals: 30.0,
                orders: 10.0,
                revenue: "80000.00",
                cpl: "33.33",
                cost_per_order: "1000.00",
                lead_to_deal_pct: 10.0,
                deal_to_order_pct: 33.33,
                roi_pct: 700.00,
                roas: 8.0,
                leads_attainment_pct: None,
                revenue_attainment_pct: None,
            },
        ),
        (
            Reference {
                slug: "social",
                name: "社交媒体",
                kind: "social",
                channel: "wechat",
                cost: 30_000,
                leads: 500,
                deals: 20,
                orders: 8,
                lost: 2,
                order_amount: 7_500,
                ..BASE
            },
            Expected {
                cost: "30000.00",
                leads: 500.0,
                valid_leads: 500.0,
                mqls: 0.0,
                deals: 20.0,
                orders: 8.0,
                revenue: "60000.00",
                cpl: "60.00",
                cost_per_order: "3750.00",
                lead_to_deal_pct: 4.0,
                deal_to_order_pct: 40.0,
                roi_pct: 100.00,
                roas: 2.0,
                leads_attainment_pct: None,
                revenue_attainment_pct: None,
            },
        ),
        // "A trade show, two ad campaigns and a livestream"
        (
            Reference {
                extra: Some((200_000, 300, 1_000_000)),
                mqls: 180,
                slug: "expo-2025",
                name: "2025 上海工业自动化展",
                kind: "trade_show",
                channel: "exhibition",
                cost: 200_000,
                leads: 320,
                deals: 90,
                orders: 25,
                lost: 10,
                order_amount: 50_000,
                ..BASE
            },
            Expected {
                cost: "200000.00",
                leads: 320.0,
                valid_leads: 320.0,
                mqls: 180.0,
                deals: 90.0,
                orders: 25.0,
                revenue: "1250000.00",
                cpl: "625.00",
                cost_per_order: "8000.00",
                lead_to_deal_pct: 28.13,
                deal_to_order_pct: 27.78,
                roi_pct: 525.00,
                roas: 6.25,
                leads_attainment_pct: Some(106.67),
                revenue_attainment_pct: Some(125.00),
            },
        ),
        (
            Reference {
                slug: "baidu-sem",
                name: "2025Q1 百度SEM品牌词",
                kind: "online_ad",
                channel: "baidu_sem",
                cost: 100_000,
                leads: 300,
                deals: 60,
                orders: 30,
                lost: 0,
                order_amount: 30_000,
                ..BASE
            },
            Expected {
                cost: "100000.00",
                leads: 300.0,
                valid_leads: 300.0,
                mqls: 0.0,
                deals: 60.0,
                orders: 30.0,
                revenue: "900000.00",
                cpl: "333.33",
                cost_per_order: "3333.33",
                lead_to_deal_pct: 20.0,
                deal_to_order_pct: 50.0,
                roi_pct: 800.00,
                roas: 9.0,
                leads_attainment_pct: None,
                revenue_attainment_pct: None,
            },
        ),
        (
            Reference {
                slug: "douyin-feed",
                name: "2025Q1 抖音信息流获客",
                kind: "online_ad",
                channel: "douyin_feed",
                cost: 80_000,
                leads: 500,
                deals: 50,
                orders: 20,
                lost: 3,
                order_amount: 30_000,
                ..BASE
            },
            Expected {
                cost: "80000.00",
                leads: 500.0,
                valid_leads: 500.0,
                mqls: 0.0,
                deals: 50.0,
                orders: 20.0,
                revenue: "600000.00",
                cpl: "160.00",
                cost_per_order: "4000.00",
                lead_to_deal_pct: 10.0,
                deal_to_order_pct: 40.0,
                roi_pct: 650.00,
                roas: 7.5,
                leads_attainment_pct: None,
                revenue_attainment_pct: None,
            },
        ),
        (
            Reference {
                form: "livestream",
                extra: Some((30_000, 200, 300_000)),
                disqualified: 40,
                form_leads: 5,
                slug: "douyin-live",
                name: "2025-03 抖音直播「新品发布专场」",
                kind: "livestream",
                channel: "douyin_live",
                cost: 30_000,
                leads: 260,
                deals: 80,
                orders: 18,
                lost: 6,
                order_amount: 20_000,
                ..BASE
            },
            Expected {
                cost: "30000.00",
                leads: 260.0,
                valid_leads: 220.0,
                mqls: 0.0,
                deals: 80.0,
                orders: 18.0,
                revenue: "360000.00",
                cpl: "115.38",
                cost_per_order: "1666.67",
                lead_to_deal_pct: 30.77,
                deal_to_order_pct: 22.50,
                roi_pct: 1100.00,
                roas: 12.0,
                leads_attainment_pct: Some(130.00),
                revenue_attainment_pct: Some(120.00),
            },
        ),
    ]
}

/// A distinct mainland mobile number for lead `i` of campaign `c`.
fn phone(c: usize, i: usize) -> String {
    format!("139{c:02}{i:06}")
}

/// A Shanghai-time instant in `month` of 2025 for lead `i`: day 1–28, 10:00–10:59. The lead
/// is received in March, its deal opens in April and is won or lost in May (61 days after).
fn at(month: u32, i: usize) -> String {
    format!(
        "2025-{month:02}-{:02}T10:{:02}:00+08:00",
        1 + i % 28,
        i % 60
    )
}

/// Google leads 0–2 get their conversions through `POST /api/conversions` (by phone, lead id
/// and differently written phone); lead 0–2 also carry an e-mail.
const JSON_CONVERSIONS: usize = 3;
/// How many of the MQLs, and of the disqualified imported leads, are marked by `PATCH`.
const PATCHED_MQLS: usize = 5;
const PATCHED_DISQUALIFIED: usize = 2;

fn import_status(r: &Reference, i: usize) -> &'static str {
    if i < r.mqls.saturating_sub(PATCHED_MQLS) {
        if i.is_multiple_of(10) { "sql" } else { "mql" }
    } else if i >= r.leads - r.disqualified + PATCHED_DISQUALIFIED && i < r.leads - r.form_leads {
        "disqualified"
    } else {
        ""
    }
}

/// Which of `nodes` nodes holds contact `i` of campaign `c` (its leads, statuses and
/// conversions): spread over them, all on one when there is one.
fn node_of(nodes: usize, c: usize, i: usize) -> usize {
    (c + i) % nodes
}

/// The leads of `refs` that `keep(c, i)` accepts.
fn leads_csv_where(
    refs: &[(usize, &Reference)],
    bom: bool,
    keep: impl Fn(usize, usize) -> bool,
) -> (String, usize) {
    let mut csv = String::new();
    if bom {
        csv.push('\u{feff}');
    }
    csv.push_str("campaign,received_at,name,phone,email,status,external_id,utm_source\r\n");
    let mut rows = 0;
    for &(c, r) in refs {
        for i in (0..r.leads - r.form_leads).filter(|&i| keep(c, i)) {
            let email = if r.slug == "google-ads" && i < JSON_CONVERSIONS {
                format!("g{i}@Example.COM")
            } else {
                String::new()
            };
            csv.push_str(&format!(
                "{},{},客户{c}-{i},{},{email},{},{}-{i},{}\r\n",
                r.slug,
                at(3, i),
                phone(c, i),
                import_status(r, i),
                r.slug,
                r.channel,
            ));
            rows += 1;
        }
    }
    (csv, rows)
}

async fn patch_status(app: &TestApp, id: &str, status: &str) {
    let (code, body) = json_body(
        app.admin_patch(&format!("/api/leads/{id}"), &json!({ "status": status }))
            .await,
    )
    .await;
    assert_eq!(code, 200, "PATCH lead {id} to {status}: {body}");
}

/// Loads campaigns, costs, leads, statuses and conversions of acceptance-examples.md.
pub(crate) async fn load_references(app: &TestApp, refs: &[(Reference, Expected)]) {
    load_references_on(&[app], refs).await;
}

/// [`load_references`] spread over `nodes`: every node has the campaigns, each contact's
/// leads, statuses and conversions are on one node ([`node_of`]), the cost entries
/// alternate.
async fn load_references_on(nodes: &[&TestApp], refs: &[(Reference, Expected)]) {
    let n = nodes.len();
    for (k, (r, _)) in refs.iter().enumerate() {
        let mut body =
            json!({"name": r.name, "kind": r.kind, "channel": r.channel, "form": r.form});
        if let Some((budget, target_leads, target_revenue)) = r.extra {
            body["budget"] = json!(budget);
            body["target_leads"] = json!(target_leads);
            body["target_revenue"] = json!(target_revenue.to_string());
        }
        for app in nodes {
            app.create_campaign(r.slug, body.clone()).await;
        }
        // The cost in two entries: a JSON number and a decimal string.
        let first = r.cost * 3 / 5;
        nodes[k % n]
            .add_cost(r.slug, json!(first), "2025-02-15")
            .await;
        nodes[(k + 1) % n]
            .add_cost(
                r.slug,
                json!(format!("{}.00", r.cost - first)),
                "2025-03-15",
            )
            .await;
    }
    // A mistaken entry, removed again.
    let app = nodes[n - 1];
    let wrong = app
        .add_cost("google-ads", json!("99999.99"), "2025-03-20")
        .await;
    let id = wrong["id"].as_str().expect("cost id").to_owned();
    let resp = app
        .admin_delete(&format!("/api/campaigns/google-ads/costs/{id}"))
        .await;
    assert_eq!(resp.status(), 204, "DELETE cost");

    // Leads: two big CSV bodies (the second with a BOM), then the livestream's form leads.
    let indexed: Vec<(usize, &Reference)> = refs.iter().map(|(r, _)| r).enumerate().collect();
    for (node, app) in nodes.iter().enumerate() {
        for (part, bom) in [(&indexed[..4], false), (&indexed[4..], true)] {
            let (csv, rows) = leads_csv_where(part, bom, |c, i| node_of(n, c, i) == node);
            let summary = app.import_leads_csv(&csv).await;
            assert_eq!(summary["imported"], json!(rows), "{summary}");
            assert_eq!(summary["skipped"], json!(0), "{summary}");
            assert_eq!(summary["errors"], json!([]), "{summary}");
        }
    }
    for &(c, r) in &indexed {
        for i in r.leads - r.form_leads..r.leads {
            let app = nodes[node_of(n, c, i)];
            let id = app
                .submit_json_ok(r.slug, &json!({"phone": phone(c, i), "name": "观众"}))
                .await;
            patch_status(app, &id, "disqualified").await;
        }
    }

    // Statuses set by PATCH on imported leads.
    for &(c, r) in &indexed {
        if r.mqls == 0 && r.disqualified == 0 {
            continue;
        }
        let mut ids: HashMap<String, String> = HashMap::new();
        for app in nodes {
            ids.extend(app.all_leads(r.slug).await.iter().map(|l| {
                (
                    l["phone"].as_str().expect("phone").to_owned(),
                    l["id"].as_str().expect("id").to_owned(),
                )
            }));
        }
        let id_of = |i: usize| ids[&format!("+86{}", phone(c, i))].clone();
        for i in r.mqls.saturating_sub(PATCHED_MQLS)..r.mqls {
            patch_status(nodes[node_of(n, c, i)], &id_of(i), "mql").await;
        }
        if r.disqualified > 0 {
            let first = r.leads - r.disqualified;
            for i in first..first + PATCHED_DISQUALIFIED {
                patch_status(nodes[node_of(n, c, i)], &id_of(i), "disqualified").await;
            }
        }
    }

    // Conversions: Google's first three through POST /api/conversions (by e-mail, lead id and
    // phone), the rest as CSV: every deal first, then the won and lost records.
    let mut google_ids: HashMap<String, String> = HashMap::new();
    for app in nodes {
        google_ids.extend(app.all_leads("google-ads").await.iter().map(|l| {
            (
                l["phone"].as_str().unwrap().to_owned(),
                l["id"].as_str().unwrap().to_owned(),
            )
        }));
    }
    let google = &refs[0].0;
    let contact = |i: usize| -> Value {
        match i {
            0 => json!({"phone": phone(0, 0)}),
            1 => json!({"lead_id": google_ids[&format!("+86{}", phone(0, 1))]}),
            _ => json!({"phone": format!("+86 {}", phone(0, i))}),
        }
    };
    for i in 0..JSON_CONVERSIONS {
        let mut body = contact(i);
        body["id"] = json!(format!("google-ads-d{i}"));
        body["stage"] = json!("deal");
        body["occurred_at"] = json!(at(4, i));
        let created = nodes[node_of(n, 0, i)].post_conversion(&body, 201).await;
        assert_eq!(created["result"], "created", "{created}");
        assert_eq!(created["contact"], json!(format!("+86{}", phone(0, i))));
    }

    for (node, app) in nodes.iter().enumerate() {
        let mut deals = String::from("id,phone,stage,amount,occurred_at,currency\r\n");
        let mut closes = deals.clone();
        let (mut deal_rows, mut close_rows) = (0, 0);
        for &(c, r) in &indexed {
            let skip = if r.slug == "google-ads" {
                JSON_CONVERSIONS
            } else {
                0
            };
            for i in (skip..r.deals).filter(|&i| node_of(n, c, i) == node) {
                let id = format!("{}-d{i}", r.slug);
                deals.push_str(&format!("{id},{},deal,,{},CNY\r\n", phone(c, i), at(4, i)));
                deal_rows += 1;
                if i < r.orders {
                    closes.push_str(&format!(
                        "{id},{},won,{},{},\r\n",
                        phone(c, i),
                        r.order_amount,
                        at(5, i)
                    ));
                    close_rows += 1;
                } else if i < r.orders + r.lost {
                    closes.push_str(&format!("{id},{},lost,,{},\r\n", phone(c, i), at(5, i)));
                    close_rows += 1;
                }
            }
        }
        let summary = app.import_conversions_csv(&deals).await;
        assert_eq!(summary["imported"], json!(deal_rows), "{summary}");
        assert_eq!(summary["updated"], json!(0), "{summary}");
        assert_eq!(summary["errors"], json!([]), "{summary}");
        let summary = app.import_conversions_csv(&closes).await;
        assert_eq!(summary["imported"], json!(0), "{summary}");
        assert_eq!(summary["updated"], json!(close_rows), "{summary}");
        assert_eq!(summary["errors"], json!([]), "{summary}");
        // The same file again changes nothing.
        let summary = app.import_conversions_csv(&closes).await;
        assert_eq!(summary["imported"], json!(0), "{summary}");
        assert_eq!(summary["updated"], json!(0), "{summary}");
        assert_eq!(summary["unchanged"], json!(close_rows), "{summary}");
    }

    for i in 0..JSON_CONVERSIONS.min(google.orders) {
        let mut body = contact(i);
        body["id"] = json!(format!("google-ads-d{i}"));
        body["stage"] = json!("won");
        body["amount"] = json!(google.order_amount);
        body["occurred_at"] = json!(at(5, i));
        let updated = nodes[node_of(n, 0, i)].post_conversion(&body, 200).await;
        assert_eq!(updated["result"], "updated", "{updated}");
        assert_eq!(updated["stage"], "won", "{updated}");
        assert_eq!(
            updated["amount"],
            json!(format!("{}.00", google.order_amount))
        );
    }
}

fn assert_reference_row(row: &Value, r: &Reference, e: &Expected) {
    for field in FIELDS {
        assert!(row.get(field).is_some(), "row lacks {field}: {row}");
    }
    assert_eq!(row["name"], r.name, "{row}");
    assert_eq!(row["kind"], r.kind, "{row}");
    assert_eq!(row["channel"], r.channel, "{row}");
    assert_eq!(row["currency"], "CNY", "{row}");
    assert_money(row, "cost", e.cost);
    assert_num(row, "leads", e.leads);
    assert_num(row, "valid_leads", e.valid_leads);
    assert_num(row, "new_contacts", e.leads);
    assert_num(row, "mqls", e.mqls);
    assert_num(row, "deals", e.deals);
    assert_num(row, "orders", e.orders);
    assert_money(row, "revenue", e.revenue);
    assert_money(row, "cpl", e.cpl);
    assert_money(row, "cost_per_order", e.cost_per_order);
    assert_num(row, "lead_to_deal_pct", e.lead_to_deal_pct);
    assert_num(row, "deal_to_order_pct", e.deal_to_order_pct);
    assert_num(row, "roi_pct", e.roi_pct);
    assert_num(row, "roas", e.roas);
    // Every won contact's only lead came 61 days before the win.
    assert_num(row, "avg_sales_cycle_days", 61.0);
    match e.leads_attainment_pct {
        Some(pct) => assert_num(row, "leads_attainment_pct", pct),
        None => assert_null(row, "leads_attainment_pct"),
    }
    match e.revenue_attainment_pct {
        Some(pct) => assert_num(row, "revenue_attainment_pct", pct),
        None => assert_null(row, "revenue_attainment_pct"),
    }
    if let Some((budget, target_leads, target_revenue)) = r.extra {
        assert_money(row, "budget", &format!("{budget}.00"));
        assert_num(row, "target_leads", target_leads as f64);
        assert_money(row, "target_revenue", &format!("{target_revenue}.00"));
    }
}

#[tokio::test]
async fn acceptance_examples() {
    let app = spawn_app().await;
    let refs = references();
    load_references(&app, &refs).await;

    let report = app.roi("").await;
    assert_eq!(report["model"], "last_touch", "default model: {report}");
    assert_eq!(report["currency"], "CNY", "{report}");
    assert_eq!(report["warnings"], json!([]), "{report}");
    let keys: Vec<&str> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["key"].as_str().expect("key"))
        .collect();
    let mut sorted: Vec<&str> = refs.iter().map(|(r, _)| r.slug).collect();
    sorted.sort_unstable();
    assert_eq!(keys, sorted, "one row per campaign, sorted by key");
    for (r, e) in &refs {
        assert_reference_row(roi_row(&report, r.slug), r, e);
    }

    // Totals: the sums, and the ratios recomputed from them.
    let totals = report["totals"].as_object().expect("totals object");
    assert_eq!(totals.len(), 1, "one currency: {totals:?}");
    let cny = &report["totals"]["CNY"];
    assert_money(cny, "cost", "580000.00");
    assert_num(cny, "leads", 2530.0);
    assert_num(cny, "valid_leads", 2490.0);
    assert_num(cny, "new_contacts", 2530.0);
    assert_num(cny, "mqls", 180.0);
    assert_num(cny, "deals", 420.0);
    assert_num(cny, "orders", 151.0);
    assert_money(cny, "revenue", "4050000.00");
    assert_money(cny, "cpl", "229.25");
    assert_money(cny, "cost_per_order", "3841.06");
    assert_num(cny, "lead_to_deal_pct", 16.60);
    assert_num(cny, "deal_to_order_pct", 35.95);
    assert_num(cny, "roi_pct", 598.28);
    assert_num(cny, "roas", 6.98);
    assert_num(cny, "avg_sales_cycle_days", 61.0);

    // Every contact has one lead: all six models agree on every figure (under markov each
    // conversion's journey is its one campaign, which gets all of it whatever its effect).
    for model in MODELS {
        let other = app.roi(&format!("model={model}")).await;
        assert_eq!(other["model"], model, "{other}");
        assert_eq!(other["rows"], report["rows"], "rows under {model}");
        assert_eq!(other["totals"], report["totals"], "totals under {model}");
    }
    // The Markov chain of these journeys: each of the 2530 contacts has one lead, so
    // start → c (leads of c), c → conv (its deals, whatever their stage), c → null (the
    // rest); h(c) = deals/leads, P = 420/2530, and removing c loses exactly its deals:
    // P₋c = (420 − deals(c))/2530, RE(c) = deals(c)/420.
    let markov = app.roi("model=markov").await;
    let effects = markov["removal_effects"]
        .as_object()
        .expect("removal_effects");
    assert_eq!(effects.len(), refs.len(), "{markov}");
    for (r, _) in &refs {
        let expected = (r.deals as f64 / 420.0 * 1e6).round() / 1e6;
        assert_num(&markov["removal_effects"], r.slug, expected);
    }
    assert_num(&markov["removal_effects"], "expo-2025", 0.214286); // 90/420
    assert_num(&markov["removal_effects"], "social", 0.047619); // 20/420

    // Grouped by kind and by channel.
    let by_kind = app.roi("group_by=kind").await;
    let keys: Vec<&str> = by_kind["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        ["email", "livestream", "online_ad", "social", "trade_show"],
        "{by_kind}"
    );
    let trade = roi_row(&by_kind, "trade_show");
    assert_money(trade, "cost", "280000.00");
    assert_num(trade, "leads", 470.0);
    assert_num(trade, "mqls", 180.0);
    assert_num(trade, "deals", 140.0);
    assert_num(trade, "orders", 50.0);
    assert_money(trade, "revenue", "1750000.00");
    assert_money(trade, "cpl", "595.74");
    assert_num(trade, "roi_pct", 525.0);
    let online = roi_row(&by_kind, "online_ad");
    assert_money(online, "cost", "230000.00");
    assert_num(online, "leads", 1000.0);
    assert_num(online, "orders", 65.0);
    assert_money(online, "revenue", "1800000.00");
    assert_eq!(by_kind["totals"], report["totals"], "grouping keeps totals");

    let by_channel = app.roi("group_by=channel").await;
    let live = roi_row(&by_channel, "douyin_live");
    assert_num(live, "valid_leads", 220.0);
    assert_num(live, "roi_pct", 1100.0);
    let exhibition = roi_row(&by_channel, "exhibition");
    assert_num(exhibition, "leads", 470.0);
    assert_money(exhibition, "revenue", "1750000.00");

    // The CSV says the same as the JSON.
    let records = excel_csv(&app.roi_csv("").await);
    assert_eq!(records[0], FIELDS, "CSV header");
    assert_csv_matches_json(&records, &report, "TOTAL");
}

// ---------------------------------------------------------------------------------------------
// Reporting days, currencies

#[tokio::test]
async fn reporting_day_boundaries() {
    let app = spawn_app().await;
    app.create_campaign("night", json!({"kind": "online_ad"}))
        .await;
    let summary = app
        .import_leads_csv(
            "campaign,received_at,phone\n\
             night,2025-03-01T23:30:00+08:00,13911110001\n\
             night,2025-03-02T00:30:00+08:00,13911110002\n\
             night,2025-03-01T15:59:59Z,13911110003\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(3), "{summary}");
    app.add_cost("night", json!(700), "2025-03-02").await;
    // Deal opened just after midnight on 03-02, won just before midnight on 03-03.
    app.post_conversion(
        &json!({"id": "N-1", "phone": "13911110001", "stage": "deal",
                "occurred_at": "2025-03-02T00:15:00+08:00"}),
        201,
    )
    .await;
    app.post_conversion(
        &json!({"id": "N-1", "phone": "13911110001", "stage": "won", "amount": "5000",
                "occurred_at": "2025-03-03T23:45:00+08:00"}),
        200,
    )
    .await;

    let day = |d: &str| format!("from={d}&to={d}");
    let first = app.roi(&day("2025-03-01")).await;
    let row = roi_row(&first, "night");
    assert_num(row, "leads", 2.0);
    assert_money(row, "cost", "0.00");
    assert_money(row, "cpl", "0.00");
    assert_num(row, "deals", 0.0);
    assert_num(row, "orders", 0.0);
    assert_num(row, "lead_to_deal_pct", 0.0);
    assert_null(row, "roi_pct");
    assert_null(row, "roas");

    let second = app.roi(&day("2025-03-02")).await;
    let row = roi_row(&second, "night");
    assert_num(row, "leads", 1.0);
    assert_money(row, "cost", "700.00");
    assert_money(row, "cpl", "700.00");
    assert_num(row, "deals", 1.0);
    assert_num(row, "orders", 0.0);
    assert_money(row, "revenue", "0.00");
    assert_null(row, "cost_per_order");
    assert_num(row, "roi_pct", -100.0);

    let third = app.roi(&day("2025-03-03")).await;
    let row = roi_row(&third, "night");
    assert_num(row, "leads", 0.0);
    assert_money(row, "cost", "0.00");
    assert_num(row, "deals", 0.0);
    assert_num(row, "orders", 1.0);
    assert_money(row, "revenue", "5000.00");
    assert_null(row, "lead_to_deal_pct");
    assert_null(row, "deal_to_order_pct");

    let all = app.roi("from=2025-03-01&to=2025-03-03").await;
    let row = roi_row(&all, "night");
    assert_num(row, "leads", 3.0);
    assert_money(row, "cost", "700.00");
    assert_num(row, "orders", 1.0);
    assert_num(row, "roi_pct", 614.29);
    // Only `from`, only `to`.
    assert_num(
        roi_row(&app.roi("from=2025-03-02").await, "night"),
        "leads",
        1.0,
    );
    assert_num(
        roi_row(&app.roi("to=2025-03-01").await, "night"),
        "leads",
        2.0,
    );
}

#[tokio::test]
async fn currencies_never_mix() {
    let app = spawn_app().await;
    app.create_campaign("cn-expo", json!({"kind": "trade_show"}))
        .await;
    let us = app
        .create_campaign("us-expo", json!({"kind": "trade_show", "currency": "USD"}))
        .await;
    assert_eq!(us["currency"], "USD", "{us}");
    app.add_cost("cn-expo", json!(1000), "2025-03-01").await;
    app.add_cost("cn-expo", json!("234.56"), "2025-03-02").await;
    let cost = app.add_cost("us-expo", json!("200.50"), "2025-03-01").await;
    assert_eq!(cost["currency"], "USD", "{cost}");
    app.import_leads_csv(
        "campaign,received_at,phone\n\
         cn-expo,2025-03-01T10:00:00+08:00,13922220001\n\
         cn-expo,2025-03-01T10:00:00+08:00,13922220002\n\
         us-expo,2025-03-01T10:00:00-05:00,+12015550123\n",
    )
    .await;
    app.import_conversions_csv(
        "id,phone,stage,amount,occurred_at,currency\n\
         CN-1,13922220001,won,5000,2025-03-10T10:00:00+08:00,CNY\n\
         US-1,+12015550123,won,800.25,2025-03-10T10:00:00-05:00,USD\n",
    )
    .await;

    let report = app.roi("").await;
    assert!(report["currency"].is_null(), "mixed currencies: {report}");
    let cn = roi_row(&report, "cn-expo");
    assert_eq!(cn["currency"], "CNY");
    assert_money(cn, "cost", "1234.56");
    assert_money(cn, "revenue", "5000.00");
    let us = roi_row(&report, "us-expo");
    assert_eq!(us["currency"], "USD");
    assert_money(us, "cost", "200.50");
    assert_money(us, "revenue", "800.25");
    assert_num(us, "roas", 3.99);

    let totals = report["totals"].as_object().expect("totals");
    let mut codes: Vec<&String> = totals.keys().collect();
    codes.sort();
    assert_eq!(codes, ["CNY", "USD"], "{report}");
    let cny = &report["totals"]["CNY"];
    assert_money(cny, "cost", "1234.56");
    assert_money(cny, "revenue", "5000.00");
    assert_num(cny, "leads", 2.0);
    assert_num(cny, "orders", 1.0);
    assert_money(cny, "cpl", "617.28");
    let usd = &report["totals"]["USD"];
    assert_money(usd, "cost", "200.50");
    assert_money(usd, "revenue", "800.25");
    assert_num(usd, "leads", 1.0);
    assert_num(usd, "orders", 1.0);
    assert_num(usd, "roi_pct", 299.13);

    // Grouped by kind, the two trade shows still make two rows, one per currency.
    let by_kind = app.roi("group_by=kind").await;
    let rows = by_kind["rows"].as_array().expect("rows");
    let mut currencies: Vec<&str> = rows
        .iter()
        .filter(|r| r["key"] == "trade_show")
        .map(|r| r["currency"].as_str().expect("currency"))
        .collect();
    currencies.sort_unstable();
    assert_eq!(currencies, ["CNY", "USD"], "{by_kind}");
    assert_eq!(by_kind["totals"], report["totals"]);

    // Costs of one day only.
    let only_cn = app.roi("from=2025-03-02&to=2025-03-02").await;
    let cn = roi_row(&only_cn, "cn-expo");
    assert_money(cn, "cost", "234.56");

    // The CSV has one total line per currency.
    let records = excel_csv(&app.roi_csv("").await);
    assert_csv_matches_json(&records, &report, "TOTAL");
}

// ---------------------------------------------------------------------------------------------
// The CSV file

/// Two campaigns with costs, leads and a won order.
async fn small_report_app() -> TestApp {
    let app = spawn_app().await;
    app.create_campaign(
        "alpha",
        json!({"name": "阿尔法展会", "kind": "trade_show", "channel": "expo",
               "budget": 5000, "target_leads": 4, "target_revenue": "30000"}),
    )
    .await;
    app.create_campaign(
        "beta",
        json!({"name": "Beta, \"quoted\" ads", "kind": "online_ad", "channel": "baidu_sem"}),
    )
    .await;
    app.add_cost("alpha", json!("3000.00"), "2025-03-01").await;
    app.add_cost("beta", json!(1000), "2025-03-01").await;
    let summary = app
        .import_leads_csv(
            "campaign,received_at,phone,status\n\
         alpha,2025-03-01T10:00:00+08:00,13933330001,mql\n\
         alpha,2025-03-01T11:00:00+08:00,13933330002,\n\
         alpha,2025-03-01T12:00:00+08:00,13933330003,disqualified\n\
         beta,2025-03-02T10:00:00+08:00,13933330004,\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(4), "{summary}");
    let summary = app
        .import_conversions_csv(
            "id,phone,stage,amount,occurred_at\n\
         A-1,13933330001,deal,,2025-03-05T10:00:00+08:00\n\
         A-1,13933330001,won,12000.50,2025-03-08T22:00:00+08:00\n\
         B-1,13933330004,deal,,2025-03-05T10:00:00+08:00\n",
        )
        .await;
    // A-1 appears twice: created by its deal row, then updated by its won row.
    assert_eq!(summary["errors"], json!([]), "{summary}");
    assert_eq!(
        num(&summary["imported"]) + num(&summary["updated"]),
        3.0,
        "{summary}"
    );
    app
}

#[tokio::test]
async fn roi_csv_has_bom_crlf_field_names_and_json_values() {
    let app = small_report_app().await;
    let report = app.roi("").await;
    let alpha = roi_row(&report, "alpha");
    assert_money(alpha, "cost", "3000.00");
    assert_num(alpha, "leads", 3.0);
    assert_num(alpha, "valid_leads", 2.0);
    assert_num(alpha, "mqls", 1.0);
    assert_num(alpha, "orders", 1.0);
    assert_money(alpha, "revenue", "12000.50");
    assert_money(alpha, "cpl", "1000.00");
    assert_num(alpha, "roi_pct", 300.02);
    assert_num(alpha, "roas", 4.0);
    assert_num(alpha, "avg_sales_cycle_days", 7.5);
    assert_num(alpha, "leads_attainment_pct", 75.0);
    assert_num(alpha, "revenue_attainment_pct", 40.0);
    let beta = roi_row(&report, "beta");
    assert_num(beta, "deals", 1.0);
    assert_num(beta, "orders", 0.0);
    assert_null(beta, "cost_per_order");
    assert_num(beta, "deal_to_order_pct", 0.0);
    assert_num(beta, "roi_pct", -100.0);
    assert_null(beta, "avg_sales_cycle_days");

    let records = excel_csv(&app.roi_csv("").await);
    assert_eq!(records[0], FIELDS, "header is the field names");
    assert_eq!(records[1][0], "alpha");
    assert_eq!(records[2][0], "beta");
    assert_eq!(
        records[2][1], "Beta, \"quoted\" ads",
        "quoted cell survives"
    );
    assert_csv_matches_json(&records, &report, "TOTAL");

    // The same query parameters as the JSON.
    let report = app
        .roi("model=first_touch&from=2025-03-02&to=2025-03-31")
        .await;
    let records = excel_csv(
        &app.roi_csv("model=first_touch&from=2025-03-02&to=2025-03-31")
            .await,
    );
    assert_csv_matches_json(&records, &report, "TOTAL");
    assert_eq!(
        records[1][9], "0",
        "alpha has no leads after 03-01: {records:?}"
    );
}

#[tokio::test]
async fn roi_csv_lang_zh_has_chinese_titles_and_total() {
    let app = small_report_app().await;
    let report = app.roi("").await;
    let records = excel_csv(&app.roi_csv("lang=zh").await);
    let header = &records[0];
    assert_eq!(header.len(), FIELDS.len(), "{header:?}");
    assert_eq!(
        header[..7],
        ["编号", "活动", "类型", "渠道", "币种", "预算", "成本"],
        "{header:?}"
    );
    assert_eq!(header[9], "线索数", "{header:?}");
    assert_eq!(header[16], "单线索成本", "{header:?}");
    for title in header {
        assert!(
            !FIELDS.contains(&title.as_str()),
            "title {title} is a field name"
        );
    }
    assert_eq!(records[1][1], "阿尔法展会");
    assert_csv_matches_json(&records, &report, "合计");

    let en = excel_csv(&app.roi_csv("lang=en").await);
    assert_eq!(en[0].len(), FIELDS.len());
    assert_ne!(en[0], FIELDS, "lang=en asks for titles");
    assert_csv_matches_json(&en, &report, "TOTAL");
}

// ---------------------------------------------------------------------------------------------
// Query validation

#[tokio::test]
async fn roi_rejects_bad_parameters() {
    let app = small_report_app().await;
    let cases = [
        ("foo=1", "foo"),
        ("model=last_click", "model"),
        ("from=2025-03-10&to=2025-03-01", "to"),
        ("from=2025-02-30", "from"),
        ("from=yesterday", "from"),
        ("to=2025-13-01", "to"),
        ("group_by=owner", "group_by"),
        ("lookback_days=-1", "lookback_days"),
        ("lookback_days=abc", "lookback_days"),
        ("model=time_decay&half_life_days=0", "half_life_days"),
        ("model=time_decay&half_life_days=x", "half_life_days"),
    ];
    for (query, field) in cases {
        for path in ["/api/roi", "/api/roi.csv"] {
            let resp = app.admin_get(&format!("{path}?{query}")).await;
            let (status, body) = json_body(resp).await;
            assert_eq!(status, 422, "{path}?{query}: {body}");
            assert_eq!(
                body["error"]["field"],
                json!(field),
                "{path}?{query}: {body}"
            );
        }
    }
    let resp = app.admin_get("/api/roi.csv?lang=fr").await;
    assert_error(resp, 422, Some("lang")).await;
    // A single day (to == from) is fine.
    app.roi("from=2025-03-01&to=2025-03-01").await;
    for model in MODELS {
        app.roi(&format!("model={model}&group_by=channel&lookback_days=30"))
            .await;
    }
    let resp = app.admin_get("/api/roi?bogus=1").await;
    assert_error(resp, 422, Some("bogus")).await;
}

// ---------------------------------------------------------------------------------------------
// Authorisation

#[tokio::test]
async fn every_new_route_needs_the_token() {
    let app = small_report_app().await;
    let cost = app.add_cost("alpha", json!(1), "2025-03-01").await;
    let cost_id = cost["id"].as_str().expect("cost id");
    let routes: Vec<(reqwest::Method, String, &str, &str)> = vec![
        (
            reqwest::Method::GET,
            "/api/campaigns/alpha/costs".into(),
            "",
            "",
        ),
        (
            reqwest::Method::POST,
            "/api/campaigns/alpha/costs".into(),
            "application/json",
            r#"{"amount": 1, "incurred_on": "2025-03-01"}"#,
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/campaigns/alpha/costs/{cost_id}"),
            "",
            "",
        ),
        (
            reqwest::Method::POST,
            "/api/leads/import".into(),
            "text/csv",
            "campaign,phone\nalpha,13944440001\n",
        ),
        (
            reqwest::Method::POST,
            "/api/leads/import".into(),
            "application/json",
            r#"[{"campaign": "alpha", "phone": "13944440001"}]"#,
        ),
        (
            reqwest::Method::POST,
            "/api/conversions".into(),
            "application/json",
            r#"{"id": "X-1", "phone": "13933330002", "stage": "deal", "occurred_at": "2025-03-05T10:00:00+08:00"}"#,
        ),
        (reqwest::Method::GET, "/api/conversions/A-1".into(), "", ""),
        (
            reqwest::Method::POST,
            "/api/conversions/import".into(),
            "text/csv",
            "id,phone,stage,occurred_at\nX-2,13933330002,deal,2025-03-05T10:00:00+08:00\n",
        ),
        (reqwest::Method::GET, "/api/roi".into(), "", ""),
        (reqwest::Method::GET, "/api/roi?model=linear".into(), "", ""),
        (reqwest::Method::GET, "/api/roi.csv".into(), "", ""),
        (reqwest::Method::GET, "/api/roi.csv?lang=zh".into(), "", ""),
    ];
    for (method, path, ctype, body) in &routes {
        for auth in [None, Some("Bearer wrong-token"), Some("Basic Og==")] {
            let mut req = app.client.request(method.clone(), app.url(path));
            if !ctype.is_empty() {
                req = req.header("content-type", *ctype).body(body.to_string());
            }
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status, 401, "{method} {path} with {auth:?}: {text}");
        }
    }

    // Nothing the rejected requests asked for happened.
    let (_, costs) = json_body(app.admin_get("/api/campaigns/alpha/costs").await).await;
    assert_eq!(costs["costs"].as_array().map(Vec::len), Some(2), "{costs}");
    assert_eq!(app.all_leads("alpha").await.len(), 3);
    for id in ["X-1", "X-2"] {
        let resp = app.admin_get(&format!("/api/conversions/{id}")).await;
        assert_eq!(resp.status(), 404, "conversion {id} stored without a token");
    }
}

/// The summary keeps converted contacts' journeys between requests: every write that can
/// change one must show in the next answer.
#[tokio::test]
async fn repeated_summaries_see_every_change_to_a_journey() {
    let app = spawn_app().await;
    app.create_campaign("b-sem", json!({})).await;
    app.create_campaign("c-expo", json!({})).await;
    let import = |rows: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .client
                .post(app.url("/api/leads/import"))
                .bearer_auth(&app.token)
                .header("content-type", "text/csv")
                .body(format!("campaign,phone,received_at\n{rows}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
        }
    };
    let orders = |report: &Value, key: &str| roi_row(report, key)["orders"].as_f64().unwrap();
    import("c-expo,13800138000,2025-03-01T10:00:00+08:00\n").await;
    let resp = app
        .admin_post(
            "/api/conversions",
            &json!({"id": "o1", "phone": "13800138000", "stage": "won", "amount": "100",
                    "occurred_at": "2025-03-10T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let report = app.roi("from=2025-01-01&to=2025-12-31").await;
    assert_eq!(orders(&report, "c-expo"), 1.0);
    assert_eq!(
        app.roi("from=2025-01-01&to=2025-12-31").await,
        report,
        "asked twice"
    );

    // A new, later touch of the converted contact takes the last-touch credit.
    import("b-sem,13800138000,2025-03-05T10:00:00+08:00\n").await;
    let report = app.roi("from=2025-01-01&to=2025-12-31").await;
    assert_eq!(orders(&report, "b-sem"), 1.0);
    assert_eq!(orders(&report, "c-expo"), 0.0);

    // A lead of a contact without a conversion changes no credit.
    import("c-expo,13900139000,2025-03-06T10:00:00+08:00\n").await;
    let report = app.roi("from=2025-01-01&to=2025-12-31").await;
    assert_eq!(orders(&report, "b-sem"), 1.0);

    // A campaign that sorts first moves every position: credit stays with b-sem.
    app.create_campaign("a-first", json!({})).await;
    let report = app.roi("from=2025-01-01&to=2025-12-31").await;
    assert_eq!(orders(&report, "b-sem"), 1.0);
    assert_eq!(orders(&report, "a-first"), 0.0);

    // That other contact converts: its campaign gets the order.
    let resp = app
        .admin_post(
            "/api/conversions",
            &json!({"id": "o2", "phone": "13900139000", "stage": "won", "amount": "50",
                    "occurred_at": "2025-03-11T10:00:00+08:00"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let report = app.roi("from=2025-01-01&to=2025-12-31").await;
    assert_eq!(orders(&report, "c-expo"), 1.0);
    // And a live form lead of the first contact, after its order, changes nothing.
    app.submit_json_ok("a-first", &crate::helpers::lead("13800138000", "张三"))
        .await;
    let report = app.roi("from=2025-01-01&to=2025-12-31").await;
    assert_eq!(orders(&report, "b-sem"), 1.0);
    assert_eq!(orders(&report, "a-first"), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Several nodes: scope=all and `leadgate roi --postgres` (API.md, "Several nodes")

/// The acceptance examples split over two replicating nodes report, over every node, what
/// one node holding all of it reports: field for field, under every model, as JSON, CSV
/// and from the command line. Three contacts also leave a later lead on the other node:
/// one contact still, counted new once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_all_over_two_nodes_equals_one_node() {
    let Some(cluster) = crate::postgres::cluster_or_skip("scope=all equals one node") else {
        return;
    };
    let refs = references();
    // One clock for the three servers: a status change follows a lead up at the server's
    // now, and the response times must not differ by the milliseconds between the posts.
    let now = || {
        let at: jiff::Timestamp = "2026-01-05T02:00:00Z".parse().unwrap();
        move |config: &mut leadgate::config::Config| {
            config.clock = leadgate::clock::Clock::new(move || at)
        }
    };
    let single = crate::helpers::spawn_app_with(now()).await;
    load_references(&single, &refs).await;
    let on = |node: &'static str| {
        let replicating = crate::replication::replicating(&cluster, node);
        let now = now();
        move |config: &mut leadgate::config::Config| {
            replicating(config);
            now(config);
        }
    };
    let a = crate::helpers::spawn_app_with(on("a")).await;
    let b = crate::helpers::spawn_app_with(on("b")).await;
    load_references_on(&[&a, &b], &refs).await;
    for i in 0..3 {
        let again = format!(
            "campaign,received_at,name,phone\r\ngoogle-ads,{},回访,{}\r\n",
            at(6, i),
            phone(0, i)
        );
        single.import_leads_csv(&again).await;
        [&a, &b][1 - node_of(2, 0, i)]
            .import_leads_csv(&again)
            .await;
    }
    for node in [&a, &b] {
        crate::replication::wait_for_state(node, "ok").await;
    }

    let own = a.roi("").await;
    assert_ne!(
        own["totals"],
        single.roi("").await["totals"],
        "without scope a node reports its own data"
    );
    for model in MODELS {
        let one = single.roi(&format!("model={model}")).await;
        for node in [&a, &b] {
            // Both nodes have shipped everything, but a node may still be applying what
            // the other shared (each reads PostgreSQL every second) and shipping the
            // counters that moves: the report converges within seconds, as API.md gives.
            let all = crate::postgres::eventually(
                std::time::Duration::from_secs(20),
                &format!("scope=all under {model} equals the one-node summary"),
                || async {
                    let all = node.roi(&format!("model={model}&scope=all")).await;
                    (all == one).then_some(all)
                },
            )
            .await;
            assert_eq!(all, one, "scope=all under {model}");
        }
        let cli = std::process::Command::new(env!("CARGO_BIN_EXE_leadgate"))
            .args(["roi", "--format", "json", "--model", model, "--postgres"])
            .arg(cluster.url())
            .env_remove("LEADGATE_DATA")
            .output()
            .expect("run leadgate roi --postgres");
        assert!(
            cli.status.success(),
            "{}",
            String::from_utf8_lossy(&cli.stderr)
        );
        let printed: Value = serde_json::from_slice(&cli.stdout).expect("JSON on stdout");
        assert_eq!(printed, one, "leadgate roi --postgres under {model}");
    }
    assert_num(
        &single.roi("").await["totals"]["CNY"],
        "new_contacts",
        2530.0,
    );
    // Markov's chain reads the journeys without a conversion, within the dates asked.
    let march = single
        .roi("model=markov&from=2025-03-01&to=2025-03-31")
        .await;
    assert_eq!(
        a.roi("model=markov&from=2025-03-01&to=2025-03-31&scope=all")
            .await,
        march
    );
    let grouped = single
        .roi("group_by=channel&from=2025-03-01&to=2025-03-31")
        .await;
    assert_eq!(
        a.roi("group_by=channel&from=2025-03-01&to=2025-03-31&scope=all")
            .await,
        grouped
    );
    assert_eq!(
        a.roi_csv("scope=all&lang=zh").await,
        single.roi_csv("lang=zh").await,
        "the CSV file too"
    );
    // The console's overview: a scope picker on a replicating node, the same table.
    let table = |html: &str| {
        let start = html.find("<table id=\"roi\"").expect("the ROI table");
        html[start..start + html[start..].find("</table>").unwrap()].to_owned()
    };
    let period = "from=2025-01-01&to=2025-12-31";
    let all = crate::console::page(&b, &format!("/admin?{period}&scope=all")).await;
    let one = crate::console::page(&single, &format!("/admin?{period}")).await;
    assert!(all.contains("<select name=\"scope\">"), "the picker");
    assert!(
        !one.contains("name=\"scope\""),
        "no picker without replication"
    );
    assert_eq!(table(&all), table(&one), "the console's table");
    let xlsx = a.admin_get("/api/roi.xlsx?scope=all").await;
    assert_eq!(xlsx.status(), 200);
    assert!(!xlsx.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn scope_all_needs_replication_and_a_known_scope() {
    let app = crate::helpers::spawn_app().await;
    for path in [
        "/api/roi?scope=everything",
        "/api/roi.csv?scope=nodes",
        "/api/roi.xlsx?scope=ALL",
    ] {
        let resp = app.admin_get(path).await;
        let body = assert_error(resp, 422, Some("scope")).await;
        assert_eq!(body["error"]["code"], "invalid_scope", "{path}: {body}");
    }
    let resp = app.admin_get("/api/roi?scope=all").await;
    let body = assert_error(resp, 503, Some("scope")).await;
    assert_eq!(body["error"]["code"], "not_configured", "{body}");
    assert_eq!(app.roi("scope=node").await, app.roi("").await);
}

#[tokio::test]
async fn scope_all_says_when_postgresql_is_away() {
    let Some(cluster) = crate::postgres::cluster_or_skip("scope=all, PostgreSQL away") else {
        return;
    };
    let app = crate::helpers::spawn_app_with(crate::replication::replicating(&cluster, "a")).await;
    app.create_campaign("expo", json!({})).await;
    crate::replication::wait_for_state(&app, "ok").await;
    assert_eq!(
        app.roi("scope=all").await["rows"].as_array().unwrap().len(),
        1
    );
    cluster.crash();
    let resp = app.admin_get("/api/roi?scope=all").await;
    assert_eq!(
        crate::helpers::header(&resp, "retry-after").as_deref(),
        Some("5")
    );
    let body = assert_error(resp, 503, None).await;
    assert_eq!(body["error"]["code"], "postgres_unavailable", "{body}");
    assert_eq!(
        app.roi("").await["rows"].as_array().unwrap().len(),
        1,
        "its own still"
    );
}
