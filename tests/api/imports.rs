//! `POST /api/leads/import` and `POST /api/conversions/import`: back-dated journeys credited by
//! every attribution model, re-imports that change nothing, bad rows named by line and field.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_instant, assert_money, assert_null, assert_num, json_body, num, roi_row,
    spawn_app,
};

/// The cents of a money string (`"9999.29"` → 999929).
fn cents(money: &Value) -> i64 {
    let text = money
        .as_str()
        .unwrap_or_else(|| panic!("not a money string: {money}"));
    let (whole, frac) = text.split_once('.').expect("two decimals");
    assert_eq!(frac.len(), 2, "two decimals: {text}");
    whole.parse::<i64>().expect("whole part") * 100 + frac.parse::<i64>().expect("decimals")
}

// ---------------------------------------------------------------------------------------------
// One contact, three campaigns, one order

const JOURNEY: &str = "campaign,received_at,name,phone,external_id,utm_source\n\
    camp-a,2025-03-01T10:00:00+08:00,李雷,13912345678,J-1,baidu\n\
    camp-b,2025-03-10T10:00:00+08:00,李雷,139 1234 5678,J-2,\n\
    camp-c,2025-03-20T10:00:00+08:00,李雷,+86 139-1234-5678,J-3,douyin\n";

/// Expected credit per campaign (a, b, c): orders (= deals) and revenue.
type Credits = [(f64, &'static str); 3];

fn assert_credits(report: &Value, model: &str, expected: Credits) {
    let mut total_cents = 0;
    for ((slug, (orders, revenue)), first) in ["camp-a", "camp-b", "camp-c"]
        .into_iter()
        .zip(expected)
        .zip([true, false, false])
    {
        let row = roi_row(report, slug);
        assert_num(row, "leads", 1.0);
        assert_num(row, "new_contacts", if first { 1.0 } else { 0.0 });
        assert_money(row, "cost", "10000.00");
        assert_num(row, "deals", orders);
        assert_num(row, "orders", orders);
        assert_money(row, "revenue", revenue);
        if orders > 0.0 {
            // From the earliest touch that counts to the won date.
            assert_num(row, "avg_sales_cycle_days", 31.0);
        } else {
            assert_null(row, "avg_sales_cycle_days");
            assert_null(row, "cost_per_order");
            assert_num(row, "roi_pct", -100.0);
        }
        total_cents += cents(&row["revenue"]);
    }
    assert_eq!(
        total_cents, 10_000_000,
        "{model}: revenue parts sum to the order"
    );
    let cny = &report["totals"]["CNY"];
    assert_money(cny, "revenue", "100000.00");
    assert_money(cny, "cost", "30000.00");
    assert_num(cny, "orders", 1.0);
    assert_num(cny, "deals", 1.0);
    assert_num(cny, "leads", 3.0);
    assert_num(cny, "new_contacts", 1.0);
    assert_num(cny, "roi_pct", 233.33);
    assert_money(cny, "cost_per_order", "30000.00");
    assert_num(cny, "avg_sales_cycle_days", 31.0);
}

#[tokio::test]
async fn time_decay_from_imported_journey() {
    let app = spawn_app().await;
    app.create_campaign(
        "camp-a",
        json!({"kind": "online_ad", "channel": "baidu_sem"}),
    )
    .await;
    app.create_campaign("camp-b", json!({"kind": "trade_show"}))
        .await;
    app.create_campaign(
        "camp-c",
        json!({"kind": "livestream", "channel": "douyin_live", "form": "livestream"}),
    )
    .await;
    for slug in ["camp-a", "camp-b", "camp-c"] {
        app.add_cost(slug, json!(10000), "2025-03-01").await;
    }

    let summary = app.import_leads_csv(JOURNEY).await;
    assert_eq!(summary["imported"], json!(3), "{summary}");
    assert_eq!(summary["skipped"], json!(0), "{summary}");
    assert_eq!(summary["errors"], json!([]), "{summary}");
    let lead = app.single_lead("camp-a").await;
    assert_eq!(lead["source"], "import", "{lead}");
    assert_eq!(lead["phone"], "+8613912345678", "{lead}");
    assert_eq!(lead["name"], "李雷", "{lead}");
    assert_instant(&lead["received_at"], "2025-03-01T02:00:00Z");
    assert_eq!(crate::helpers::utm(&lead, "utm_source"), Some("baidu"));
    let lead_c = app.single_lead("camp-c").await;
    assert_eq!(lead_c["phone"], "+8613912345678", "{lead_c}");
    assert_instant(&lead_c["received_at"], "2025-03-20T02:00:00Z");

    let deal = app
        .post_conversion(
            &json!({"id": "J-DEAL", "phone": "13912345678", "stage": "deal",
                    "occurred_at": "2025-03-21T10:00:00+08:00"}),
            201,
        )
        .await;
    assert_eq!(deal["result"], "created", "{deal}");
    assert_eq!(deal["contact"], "+8613912345678", "{deal}");
    assert_instant(&deal["moment"], "2025-03-21T02:00:00Z");
    let won = app
        .post_conversion(
            &json!({"id": "J-DEAL", "phone": "13912345678", "stage": "won", "amount": 100000,
                    "occurred_at": "2025-04-01T10:00:00+08:00"}),
            200,
        )
        .await;
    assert_eq!(won["result"], "updated", "{won}");
    assert_eq!(won["stage"], "won", "{won}");
    assert_eq!(won["amount"], "100000.00", "{won}");
    assert_instant(&won["moment"], "2025-03-21T02:00:00Z");
    assert_instant(&won["won_at"], "2025-04-01T02:00:00Z");

    // Another order of the same contact, before any of its leads: no touch counts.
    app.post_conversion(
        &json!({"id": "J-EARLY", "phone": "13912345678", "stage": "won", "amount": 500,
                "occurred_at": "2025-02-20T10:00:00+08:00"}),
        201,
    )
    .await;

    // Ages 20, 11 and 1 days; w = 2^(-age/7), normalised (computed with python3).
    let time_decay = app.roi("model=time_decay").await;
    assert_eq!(time_decay["model"], "time_decay");
    assert_credits(
        &time_decay,
        "time_decay",
        [(0.10, "9999.29"), (0.24, "24378.54"), (0.66, "65622.17")],
    );
    let a = roi_row(&time_decay, "camp-a");
    assert_num(a, "roi_pct", -0.01);
    assert_num(a, "roas", 1.00);
    let b = roi_row(&time_decay, "camp-b");
    assert_num(b, "roi_pct", 143.79);
    assert_num(b, "roas", 2.44);
    let c = roi_row(&time_decay, "camp-c");
    assert_num(c, "roi_pct", 556.22);
    assert_num(c, "roas", 6.56);
    // half_life_days=14: w = 2^(-age/14).
    assert_credits(
        &app.roi("model=time_decay&half_life_days=14").await,
        "time_decay/14",
        [(0.20, "19519.08"), (0.30, "30477.45"), (0.50, "50003.47")],
    );

    let last = app.roi("model=last_touch").await;
    assert_credits(
        &last,
        "last_touch",
        [(0.0, "0.00"), (0.0, "0.00"), (1.0, "100000.00")],
    );
    let c = roi_row(&last, "camp-c");
    assert_money(c, "cost_per_order", "10000.00");
    assert_num(c, "roi_pct", 900.0);
    assert_num(c, "roas", 10.0);
    assert_num(c, "deal_to_order_pct", 100.0);
    assert_num(c, "lead_to_deal_pct", 100.0);
    assert_eq!(app.roi("").await, last, "last_touch is the default model");
    assert_credits(
        &app.roi("model=first_touch").await,
        "first_touch",
        [(1.0, "100000.00"), (0.0, "0.00"), (0.0, "0.00")],
    );
    assert_credits(
        &app.roi("model=position_based").await,
        "position_based",
        [(0.4, "40000.00"), (0.2, "20000.00"), (0.4, "40000.00")],
    );
    // Linear: a third each; the odd cent goes to one of them.
    let linear = app.roi("model=linear").await;
    let mut parts = Vec::new();
    for slug in ["camp-a", "camp-b", "camp-c"] {
        let row = roi_row(&linear, slug);
        assert_num(row, "orders", 0.33);
        assert_num(row, "deals", 0.33);
        parts.push(row["revenue"].as_str().expect("revenue").to_owned());
    }
    parts.sort();
    assert_eq!(parts, ["33333.33", "33333.33", "33333.34"], "{linear}");
    let cny = &linear["totals"]["CNY"];
    assert_money(cny, "revenue", "100000.00");
    assert_num(cny, "orders", 1.0);

    // The lookback: a touch exactly `lookback_days` back counts, one day more does not.
    let first = |report: &Value| -> Vec<f64> {
        ["camp-a", "camp-b", "camp-c"]
            .iter()
            .map(|slug| num(&roi_row(report, slug)["orders"]))
            .collect()
    };
    assert_eq!(
        first(&app.roi("model=first_touch&lookback_days=20").await),
        [1.0, 0.0, 0.0]
    );
    assert_eq!(
        first(&app.roi("model=first_touch&lookback_days=19").await),
        [0.0, 1.0, 0.0]
    );
    assert_eq!(
        first(&app.roi("model=first_touch&lookback_days=1").await),
        [0.0, 0.0, 1.0]
    );
    // Two touches left under time decay: ages 11 and 1.
    let short = app.roi("model=time_decay&lookback_days=15").await;
    for (slug, orders, revenue) in [
        ("camp-a", 0.0, "0.00"),
        ("camp-b", 0.27, "27087.05"),
        ("camp-c", 0.73, "72912.95"),
    ] {
        let row = roi_row(&short, slug);
        assert_num(row, "orders", orders);
        assert_num(row, "deals", orders);
        assert_money(row, "revenue", revenue);
    }
    assert_money(&short["totals"]["CNY"], "revenue", "100000.00");
    // The conversion that came before every touch is credited to no row.
    let february = app.roi("model=linear&from=2025-02-01&to=2025-02-28").await;
    assert_num(&february["totals"]["CNY"], "deals", 0.0);
    assert_num(&february["totals"]["CNY"], "orders", 0.0);
    assert_money(&february["totals"]["CNY"], "revenue", "0.00");

    // Date filters: orders by won date, deals by the moment.
    let march = app
        .roi("model=time_decay&from=2025-03-01&to=2025-03-31")
        .await;
    assert_num(&march["totals"]["CNY"], "deals", 1.0);
    assert_num(&march["totals"]["CNY"], "orders", 0.0);
    let april = app
        .roi("model=time_decay&from=2025-04-01&to=2025-04-30")
        .await;
    assert_num(&april["totals"]["CNY"], "deals", 0.0);
    assert_num(&april["totals"]["CNY"], "orders", 1.0);
    assert_num(&april["totals"]["CNY"], "leads", 0.0);
    assert_money(roi_row(&april, "camp-c"), "revenue", "65622.17");

    // Re-importing the same file changes nothing.
    let summary = app.import_leads_csv(JOURNEY).await;
    assert_eq!(summary["imported"], json!(0), "{summary}");
    assert_eq!(summary["skipped"], json!(3), "{summary}");
    assert_eq!(summary["errors"], json!([]), "{summary}");
    for slug in ["camp-a", "camp-b", "camp-c"] {
        app.single_lead(slug).await;
    }
    assert_eq!(app.roi("model=time_decay").await, time_decay);
    assert_eq!(app.roi("model=last_touch").await, last);
}

// ---------------------------------------------------------------------------------------------
// Leads import

async fn app_with_expo() -> TestApp {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({"kind": "trade_show"}))
        .await;
    app
}

/// `(line, field)` of every error of an import summary, each with a message.
fn error_lines(summary: &Value) -> Vec<(u64, String)> {
    summary["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("errors array: {summary}"))
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "error without a message: {e}"
            );
            (
                e["line"].as_u64().unwrap_or_else(|| panic!("line: {e}")),
                e["field"].as_str().unwrap_or("<null>").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn lead_import_keeps_good_rows_and_names_bad_ones() {
    let app = app_with_expo().await;
    let csv = "campaign,received_at,name,phone,email,status,external_id,favourite_colour\n\
        expo,2025-03-01T10:00:00+08:00,好客户,13900000001,,,,blue\n\
        nope,2025-03-01T10:00:00+08:00,x,13900000002,,,,\n\
        expo,2025-03-01T10:00:00+08:00,x,12345,,,,\n\
        expo,2025-03-32T10:00:00+08:00,x,13900000004,,,,\n\
        expo,2999-01-01T10:00:00+08:00,x,13900000005,,,,\n\
        expo,2025-03-01T10:00:00+08:00,x,13900000006,,won,,\n\
        expo,2025-03-01T10:00:00+08:00,x,,,,,\n\
        expo,2025-03-01T10:00:00,x,13900000008,,,,\n\
        expo,2025-03-01T10:00:00+08:00,x,,not-an-email,,,\n\
        expo,,y,,y@EXAMPLE.COM,mql,,\n\
        ,2025-03-01T10:00:00+08:00,x,13900000009,,,,\n";
    let summary = app.import_leads_csv(csv).await;
    assert_eq!(summary["imported"], json!(2), "{summary}");
    assert_eq!(summary["skipped"], json!(0), "{summary}");
    let expected: Vec<(u64, String)> = [
        (3, "campaign"),
        (4, "phone"),
        (5, "received_at"),
        (6, "received_at"),
        (7, "status"),
        (8, "phone"),
        (9, "received_at"),
        (10, "email"),
        (12, "campaign"),
    ]
    .into_iter()
    .map(|(l, f)| (l, f.to_owned()))
    .collect();
    assert_eq!(error_lines(&summary), expected, "{summary}");
    assert_eq!(
        summary["ignored_columns"],
        json!(["favourite_colour"]),
        "{summary}"
    );

    let leads = app.all_leads("expo").await;
    assert_eq!(leads.len(), 2, "{leads:?}");
    let first = leads
        .iter()
        .find(|l| l["phone"] == "+8613900000001")
        .expect("line 2 kept");
    assert_eq!(first["name"], "好客户");
    assert_eq!(first["source"], "import");
    assert_eq!(first["status"], "new");
    assert_instant(&first["received_at"], "2025-03-01T02:00:00Z");
    let second = leads
        .iter()
        .find(|l| l["email"] == "y@example.com")
        .expect("line 11 kept");
    assert_eq!(second["status"], "mql");
    assert_eq!(second["source"], "import");
    let received: jiff::Timestamp = second["received_at"]
        .as_str()
        .expect("received_at")
        .parse()
        .expect("RFC 3339");
    let age = jiff::Timestamp::now().duration_since(received);
    assert!(age.as_secs().abs() < 300, "received_at defaults to now");
}

#[tokio::test]
async fn lead_import_accepts_a_json_array() {
    let app = app_with_expo().await;
    let body = json!([
        {"campaign": "expo", "received_at": "2025-03-05T09:00:00+08:00", "name": "王五",
         "phone": "13900000011", "company": "某某科技", "title": "经理", "utm_source": "baidu",
         "utm_medium": "cpc", "gclid": "abc123", "status": "sql", "external_id": "W-1",
         "shoe_size": "42"},
        {"campaign": "expo", "name": "no contact"},
        {"campaign": "expo", "email": "Zhao@Example.COM", "received_at": "2025-03-06T09:00:00Z"},
        {"campaign": "expo", "phone": "13900000012", "status": "closed"},
    ]);
    let (status, summary) = json_body(
        app.admin_post_raw("/api/leads/import", "application/json", body.to_string())
            .await,
    )
    .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["imported"], json!(2), "{summary}");
    assert_eq!(
        error_lines(&summary),
        [(2, "phone".to_owned()), (4, "status".to_owned())],
        "JSON rows are numbered from 1: {summary}"
    );
    assert_eq!(
        summary["ignored_columns"],
        json!(["shoe_size"]),
        "{summary}"
    );

    let leads = app.all_leads("expo").await;
    assert_eq!(leads.len(), 2);
    let wang = leads
        .iter()
        .find(|l| l["phone"] == "+8613900000011")
        .expect("row 1");
    assert_eq!(wang["company"], "某某科技");
    assert_eq!(wang["fields"]["title"], "经理");
    assert_eq!(crate::helpers::utm(wang, "utm_source"), Some("baidu"));
    assert_eq!(crate::helpers::utm(wang, "utm_medium"), Some("cpc"));
    assert_eq!(wang["click_ids"]["gclid"], "abc123");
    assert_eq!(wang["status"], "sql");
    assert_eq!(wang["source"], "import");
    assert_instant(&wang["received_at"], "2025-03-05T01:00:00Z");
    let zhao = leads
        .iter()
        .find(|l| l["email"] == "Zhao@example.com")
        .unwrap_or_else(|| panic!("row 3, domain lower-cased: {leads:?}"));
    assert_instant(&zhao["received_at"], "2025-03-06T09:00:00Z");

    // Counted in the ROI like live leads, on their received date.
    let report = app.roi("from=2025-03-05&to=2025-03-05").await;
    let row = roi_row(&report, "expo");
    assert_num(row, "leads", 1.0);
    assert_num(row, "mqls", 1.0);
}

#[tokio::test]
async fn lead_import_with_bom_and_external_ids() {
    let app = app_with_expo().await;
    let summary = app
        .import_leads_csv(
            "\u{feff}campaign,phone,external_id,name\r\n\
             expo,13900000021,E-1,甲\r\n\
             expo,13900000022,E-2,乙\r\n",
        )
        .await;
    assert_eq!(
        summary["imported"],
        json!(2),
        "BOM is not part of the header: {summary}"
    );
    assert_eq!(summary["errors"], json!([]), "{summary}");
    let before = app.all_leads("expo").await;

    let summary = app
        .import_leads_csv(
            "campaign,phone,external_id,name,status\n\
             expo,13900000021,E-1,改名,disqualified\n\
             expo,13900000023,E-3,丙,\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(1), "{summary}");
    assert_eq!(summary["skipped"], json!(1), "{summary}");
    let after = app.all_leads("expo").await;
    assert_eq!(after.len(), 3);
    for lead in &before {
        assert!(after.contains(lead), "{lead} changed by a re-import");
    }
}

#[tokio::test]
async fn imports_reject_other_content_types() {
    let app = app_with_expo().await;
    for path in ["/api/leads/import", "/api/conversions/import"] {
        let resp = app
            .admin_post_raw(path, "text/plain", "campaign,phone\nexpo,13900000031\n")
            .await;
        let (status, body) = json_body(resp).await;
        assert_eq!(status, 415, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    assert!(app.all_leads("expo").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Conversions import

#[tokio::test]
async fn conversion_import_keeps_good_rows_and_names_bad_ones() {
    let app = app_with_expo().await;
    app.import_leads_csv(
        "campaign,received_at,phone,email\n\
         expo,2025-03-01T10:00:00+08:00,13900000031,\n\
         expo,2025-03-01T10:00:00+08:00,,li@example.com\n\
         expo,2025-03-01T10:00:00+08:00,13900000033,\n",
    )
    .await;
    let lead3 = app
        .all_leads("expo")
        .await
        .into_iter()
        .find(|l| l["phone"] == "+8613900000033")
        .expect("lead 3");
    let lead3 = lead3["id"].as_str().expect("id").to_owned();

    let csv = format!(
        "id,lead_id,phone,email,stage,amount,occurred_at,currency,crm_owner\n\
         C-1,,13900000031,,deal,,2025-03-10T10:00:00+08:00,,张\n\
         C-2,,,li@EXAMPLE.com,deal,5000,2025-03-10T10:00:00+08:00,CNY,\n\
         C-3,{lead3},,,won,12000,2025-03-12T10:00:00+08:00,,\n\
         C-4,,13900009999,,deal,,2025-03-10T10:00:00+08:00,,\n\
         C-5,,13900000031,,won,,2025-03-10T10:00:00+08:00,,\n\
         C-6,,13900000031,,maybe,,2025-03-10T10:00:00+08:00,,\n\
         C-7,,13900000031,,deal,,2025-03-40T10:00:00+08:00,,\n\
         C-8,,13900000031,,won,12.345,2025-03-10T10:00:00+08:00,,\n\
         ,,13900000031,,deal,,2025-03-10T10:00:00+08:00,,\n\
         C-9,,13900000031,,deal,,2025-03-10T10:00:00+08:00,XYZ,\n"
    );
    let expected: Vec<(u64, String)> = [
        (5, "phone"),
        (6, "amount"),
        (7, "stage"),
        (8, "occurred_at"),
        (9, "amount"),
        (10, "id"),
        (11, "currency"),
    ]
    .into_iter()
    .map(|(l, f)| (l, f.to_owned()))
    .collect();

    let summary = app.import_conversions_csv(&csv).await;
    assert_eq!(summary["imported"], json!(3), "{summary}");
    assert_eq!(summary["updated"], json!(0), "{summary}");
    assert_eq!(error_lines(&summary), expected, "{summary}");
    assert_eq!(
        summary["ignored_columns"],
        json!(["crm_owner"]),
        "{summary}"
    );

    // The same file again: nothing new, nothing changed, the same errors.
    let again = app.import_conversions_csv(&csv).await;
    assert_eq!(again["imported"], json!(0), "{again}");
    assert_eq!(again["updated"], json!(0), "{again}");
    assert_eq!(again["unchanged"], json!(3), "{again}");
    assert_eq!(error_lines(&again), expected, "{again}");

    for id in ["C-4", "C-5", "C-6", "C-7", "C-8", "C-9"] {
        let resp = app.admin_get(&format!("/api/conversions/{id}")).await;
        assert_eq!(resp.status(), 404, "bad row {id} stored");
    }
    let (status, c2) = json_body(app.admin_get("/api/conversions/C-2").await).await;
    assert_eq!(status, 200, "{c2}");
    assert_eq!(c2["contact"], "li@example.com", "{c2}");
    assert_eq!(c2["stage"], "deal", "{c2}");
    assert_eq!(c2["amount"], "5000.00", "{c2}");
    let (_, c3) = json_body(app.admin_get("/api/conversions/C-3").await).await;
    assert_eq!(c3["lead_id"], json!(lead3), "{c3}");
    assert_eq!(c3["contact"], "+8613900000033", "{c3}");
    assert_eq!(c3["stage"], "won", "{c3}");
    assert_instant(&c3["moment"], "2025-03-12T02:00:00Z");
    assert_instant(&c3["won_at"], "2025-03-12T02:00:00Z");

    // A later stage updates the conversion; its moment stays the deal's.
    let summary = app
        .import_conversions_csv(
            "id,phone,email,stage,amount,occurred_at\n\
             C-1,13900000031,,won,8000,2025-03-20T10:00:00+08:00\n\
             C-2,,li@example.com,lost,,2025-03-21T10:00:00+08:00\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(0), "{summary}");
    assert_eq!(summary["updated"], json!(2), "{summary}");
    assert_eq!(summary["errors"], json!([]), "{summary}");
    let (_, c1) = json_body(app.admin_get("/api/conversions/C-1").await).await;
    assert_eq!(c1["stage"], "won", "{c1}");
    assert_eq!(c1["amount"], "8000.00", "{c1}");
    assert_instant(&c1["moment"], "2025-03-10T02:00:00Z");
    assert_instant(&c1["won_at"], "2025-03-20T02:00:00Z");
    let (_, c2) = json_body(app.admin_get("/api/conversions/C-2").await).await;
    assert_eq!(c2["stage"], "lost", "{c2}");
    assert_instant(&c2["moment"], "2025-03-10T02:00:00Z");
    assert_instant(&c2["lost_at"], "2025-03-21T02:00:00Z");

    let report = app.roi("").await;
    let row = roi_row(&report, "expo");
    assert_num(row, "deals", 3.0);
    assert_num(row, "orders", 2.0);
    assert_money(row, "revenue", "20000.00");
}

#[tokio::test]
async fn split_models_ties_and_sales_cycles() {
    let app = spawn_app().await;
    for slug in ["s1", "s2", "s3", "s4", "t1", "t2", "cyc", "u1"] {
        app.create_campaign(slug, json!({"kind": "other"})).await;
    }
    let summary = app
        .import_leads_csv(
            "campaign,received_at,phone\n\
             s1,2025-03-01T10:00:00+08:00,13955550001\n\
             s2,2025-03-02T10:00:00+08:00,13955550001\n\
             s3,2025-03-03T10:00:00+08:00,13955550001\n\
             s4,2025-03-04T10:00:00+08:00,13955550001\n\
             t1,2025-03-10T10:00:00+08:00,13955550002\n\
             t2,2025-03-10T10:00:00+08:00,13955550002\n\
             cyc,2025-03-01T10:00:00+08:00,13955550003\n\
             cyc,2025-03-01T10:00:00+08:00,13955550004\n\
             u1,2025-03-15T10:00:00+08:00,13955550005\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(9), "{summary}");
    let summary = app
        .import_conversions_csv(
            "id,phone,stage,amount,occurred_at\n\
             X-1,13955550001,won,1000,2025-03-05T10:00:00+08:00\n\
             Y-1,13955550002,won,999.99,2025-03-11T10:00:00+08:00\n\
             Z-1,13955550003,won,100,2025-03-11T10:00:00+08:00\n\
             Z-2,13955550004,won,100,2025-03-21T10:00:00+08:00\n\
             W-1,13955550005,won,50,2025-03-15T10:00:00+08:00\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(5), "{summary}");
    assert_eq!(summary["errors"], json!([]), "{summary}");

    let orders_and_revenue = |report: &Value, slugs: &[&str]| -> Vec<(f64, String)> {
        slugs
            .iter()
            .map(|slug| {
                let row = roi_row(report, slug);
                (
                    num(&row["orders"]),
                    row["revenue"].as_str().expect("revenue").to_owned(),
                )
            })
            .collect()
    };
    let s = ["s1", "s2", "s3", "s4"];
    let pairs = |v: &[(f64, &str)]| -> Vec<(f64, String)> {
        v.iter().map(|(o, r)| (*o, (*r).to_owned())).collect()
    };

    // Four touches: 40 / 10 / 10 / 40 and 25 each.
    let position = app.roi("model=position_based").await;
    assert_eq!(
        orders_and_revenue(&position, &s),
        pairs(&[
            (0.4, "400.00"),
            (0.1, "100.00"),
            (0.1, "100.00"),
            (0.4, "400.00")
        ])
    );
    let linear = app.roi("model=linear").await;
    assert_eq!(
        orders_and_revenue(&linear, &s),
        pairs(&[
            (0.25, "250.00"),
            (0.25, "250.00"),
            (0.25, "250.00"),
            (0.25, "250.00")
        ])
    );

    // Two touches at the same instant: ordered by lead id; 50/50 under position_based, the
    // odd cent to one of them.
    let leads_t: Vec<String> = [app.single_lead("t1").await, app.single_lead("t2").await]
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect();
    let (earlier, later) = if leads_t[0] < leads_t[1] {
        ("t1", "t2")
    } else {
        ("t2", "t1")
    };
    let last = app.roi("model=last_touch").await;
    assert_num(roi_row(&last, later), "orders", 1.0);
    assert_money(roi_row(&last, later), "revenue", "999.99");
    assert_num(roi_row(&last, earlier), "orders", 0.0);
    let first = app.roi("model=first_touch").await;
    assert_num(roi_row(&first, earlier), "orders", 1.0);
    assert_num(roi_row(&first, later), "orders", 0.0);
    let mut halves: Vec<String> = orders_and_revenue(&position, &["t1", "t2"])
        .into_iter()
        .map(|(orders, revenue)| {
            assert_eq!(orders, 0.5);
            revenue
        })
        .collect();
    halves.sort();
    assert_eq!(halves, ["499.99", "500.00"], "{position}");
    // Time decay, same age: equal weights.
    let decay = app.roi("model=time_decay").await;
    assert_num(roi_row(&decay, "t1"), "orders", 0.5);
    // The default half-life is 7 days.
    assert_eq!(app.roi("model=time_decay&half_life_days=7").await, decay);

    // A touch received at the very moment of the conversion counts.
    for report in [&last, &first, &linear, &position, &decay] {
        let row = roi_row(report, "u1");
        assert_num(row, "orders", 1.0);
        assert_money(row, "revenue", "50.00");
        assert_num(row, "avg_sales_cycle_days", 0.0);
    }

    // Two orders of 10 and 20 days: the mean cycle is 15.
    let cyc = roi_row(&last, "cyc");
    assert_num(cyc, "orders", 2.0);
    assert_num(cyc, "deals", 2.0);
    assert_num(cyc, "avg_sales_cycle_days", 15.0);
    assert_money(cyc, "revenue", "200.00");
    // four days from the first touch to the win, whatever the model.
    assert_num(roi_row(&last, "s4"), "avg_sales_cycle_days", 4.0);
    assert_null(roi_row(&last, "s1"), "avg_sales_cycle_days");
    for report in [&first, &linear, &position, &decay] {
        assert_num(roi_row(report, "s1"), "avg_sales_cycle_days", 4.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Memory: an import costs memory in proportion to its body

/// `VmRSS` or `VmHWM` (peak) of a process, in bytes, from `/proc/<pid>/status`.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status:\n{status}"));
    let kib: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kib * 1024
}

/// Issue 14, finding 3: a 202 KB CSV (one 200,000-character header name, then 1,000
/// one-character rows) took the server from 35 MB to 374 MB, as every cell kept its own copy
/// of the header name. Measured on the real binary, peak against resident before, for that
/// file and for the same header line split into 800 names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_header_is_not_copied_into_every_row() {
    use crate::process::{TOKEN, start_server};

    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let http = crate::helpers::client();
    let import = |body: String| {
        http.post(format!("{}/api/leads/import", server.base))
            .bearer_auth(TOKEN)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    // One small import first, so the threads and pools an import uses exist before the
    // measurement.
    let (status, warm) = json_body(import("campaign\nnone\n".to_owned()).await.unwrap()).await;
    assert_eq!(status, 200, "{warm}");

    let rows = "x\n".repeat(1000);
    let rise_of = |before: u64| proc_status_bytes(server.pid(), "VmHWM").saturating_sub(before);

    // The file of the finding: one 200,000-character column name. A name that long is
    // refused outright (at most 256 characters).
    let body = format!("{}\n{rows}", "h".repeat(200_000));
    let before = proc_status_bytes(server.pid(), "VmRSS");
    let refused = import(body).await.unwrap();
    let rise = rise_of(before);
    crate::helpers::assert_error(refused, 400, None).await;
    assert!(
        rise < 20 * 1024 * 1024,
        "the refused import raised the peak by {} MiB",
        rise >> 20
    );

    // The same 200,000-character header line as 800 names of 250 characters: accepted, and
    // the rows still share the names.
    let names: Vec<String> = (0..800)
        .map(|n| format!("{n:03}{}", "h".repeat(247)))
        .collect();
    let body = format!("{}\n{rows}", names.join(","));
    assert_eq!(body.len(), 800 * 251 + 2000);
    let before = proc_status_bytes(server.pid(), "VmRSS");
    let (status, report) = json_body(import(body).await.unwrap()).await;
    let rise = rise_of(before);
    assert_eq!(status, 200, "{report}");
    // Every row lacks a campaign; the one column with values is reported once.
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(1000));
    assert_eq!(report["ignored_columns"], json!([names[0]]));
    assert!(
        rise < 20 * 1024 * 1024,
        "a 202 KB import raised the peak resident memory by {} MiB (from {} MiB)",
        rise >> 20,
        before >> 20
    );
}
