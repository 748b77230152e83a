//! `model=markov` end to end on multi-touch journeys small enough to solve by hand: the
//! removal effects in the JSON, the credit they give, which journeys the chain is built
//! from (the period's conversions, the non-converting contacts' touches in the period), and
//! the same model in the CSV, the workbook, the console and `leadgate roi`.
//! (The acceptance examples under `markov` are in `roi.rs`, with the other models.)

use std::process::Command;

use serde_json::{Value, json};

use crate::console::page;
use crate::helpers::{
    TestApp, assert_csv_matches_json, assert_error, assert_money, assert_num, excel_csv, roi_row,
    spawn_app,
};

const MARCH: &str = "from=2025-03-01&to=2025-03-31";

/// Campaigns a, b, c and six contacts (Shanghai time):
///
/// | contact | touches | conversion |
/// |---|---|---|
/// | X | a 03-01, b 03-02 | x1 won 03-10, 900.00 |
/// | Y | a 03-03 | — |
/// | Z | b 03-04 | z1 won 03-10, 300.00 |
/// | W | c 03-05 | — |
/// | V | a 02-20, c 03-06 | — |
/// | U | b 02-10 | u1 won 02-15, 500.00 |
/// | T | b 03-07 | t1 won 01-05, 100.00 (before its touch: credited to nobody) |
async fn journeys_app() -> TestApp {
    let app = spawn_app().await;
    for (slug, channel) in [("a", "search"), ("b", "search"), ("c", "social")] {
        app.create_campaign(slug, json!({"kind": "online_ad", "channel": channel}))
            .await;
    }
    let leads = [
        ("a", "2025-03-01", "13900000001"),
        ("b", "2025-03-02", "13900000001"),
        ("a", "2025-03-03", "13900000002"),
        ("b", "2025-03-04", "13900000003"),
        ("c", "2025-03-05", "13900000004"),
        ("a", "2025-02-20", "13900000005"),
        ("c", "2025-03-06", "13900000005"),
        ("b", "2025-02-10", "13900000006"),
        ("b", "2025-03-07", "13900000007"),
    ];
    let mut csv = String::from("campaign,received_at,name,phone\r\n");
    for (slug, day, phone) in leads {
        csv.push_str(&format!("{slug},{day}T10:00:00+08:00,客户,{phone}\r\n"));
    }
    let summary = app.import_leads_csv(&csv).await;
    assert_eq!(summary["imported"], json!(leads.len()), "{summary}");
    let conversions = "id,phone,stage,amount,occurred_at,currency\r\n\
        x1,13900000001,won,900,2025-03-10T10:00:00+08:00,CNY\r\n\
        z1,13900000003,won,300,2025-03-10T11:00:00+08:00,CNY\r\n\
        u1,13900000006,won,500,2025-02-15T10:00:00+08:00,CNY\r\n\
        t1,13900000007,won,100,2025-01-05T10:00:00+08:00,CNY\r\n";
    let summary = app.import_conversions_csv(conversions).await;
    assert_eq!(summary["imported"], json!(4), "{summary}");
    app
}

fn effects(report: &Value) -> &serde_json::Map<String, Value> {
    report["removal_effects"]
        .as_object()
        .unwrap_or_else(|| panic!("removal_effects object: {report}"))
}

#[tokio::test]
async fn markov_credit_follows_the_removal_effects_of_the_period() {
    let app = journeys_app().await;

    // March. Converting journeys: x1 (a, b) and z1 (b); u1 and t1 are not in March. The
    // contacts without a conversion, their March touches only: Y (a), W (c), V (c — its
    // February touch of a is outside the period). T has a conversion, so no journey.
    // Chain: start → a 2/5, b 1/5, c 2/5; a → b 1/2, → null 1/2; b → conv 1; c → null 1.
    // h(b) = 1, h(a) = 1/2, h(c) = 0; P = 2/5 · 1/2 + 1/5 · 1 = 2/5.
    // Without a: P₋a = 1/5, RE(a) = 1 − (1/5)/(2/5) = 1/2. Without b: P₋b = 0, RE(b) = 1.
    // RE(c) = 0 (P₋c = P).
    // x1 splits 1/2 : 1 over a, b: a 1/3 (0.33 orders, 300.00), b 2/3 (600.00); z1 all b.
    let march = app.roi(&format!("model=markov&{MARCH}")).await;
    assert_eq!(march["model"], "markov");
    assert_eq!(
        Value::Object(effects(&march).clone()),
        json!({"a": 0.5, "b": 1.0, "c": 0.0}),
        "{march}"
    );
    let a = roi_row(&march, "a");
    assert_num(a, "orders", 0.33);
    assert_num(a, "deals", 0.33);
    assert_money(a, "revenue", "300.00");
    let b = roi_row(&march, "b");
    assert_num(b, "orders", 1.67);
    assert_money(b, "revenue", "900.00");
    let c = roi_row(&march, "c");
    assert_num(c, "orders", 0.0);
    assert_money(c, "revenue", "0.00");
    assert_money(&march["totals"]["CNY"], "revenue", "1200.00");

    // All time. Converting: x1 (a, b), z1 (b), u1 (b); t1 has no touch at or before its
    // moment, so no journey (and no credit). Not converting: Y (a), W (c), V (a, c).
    // Chain: start → a 3/6, b 2/6, c 1/6; a → b 1/3, → c 1/3, → null 1/3; b → conv 1;
    // c → null 1. h(a) = 1/3, P = 3/6 · 1/3 + 2/6 · 1 = 1/2.
    // Without a: P₋a = 2/6, RE(a) = 1 − (1/3)/(1/2) = 1/3. Without b: RE(b) = 1. RE(c) = 0.
    // x1 splits 1/3 : 1: a 1/4 (225.00), b 3/4 (675.00); b also gets z1 and u1.
    let all = app.roi("model=markov").await;
    assert_eq!(
        Value::Object(effects(&all).clone()),
        json!({"a": 0.333333, "b": 1.0, "c": 0.0}),
        "{all}"
    );
    assert_num(roi_row(&all, "a"), "orders", 0.25);
    assert_money(roi_row(&all, "a"), "revenue", "225.00");
    assert_num(roi_row(&all, "b"), "orders", 2.75);
    assert_money(roi_row(&all, "b"), "revenue", "1475.00");
    assert_money(&all["totals"]["CNY"], "revenue", "1700.00");

    // Linear gives x1 half and half, and shows no removal effects.
    let linear = app.roi(&format!("model=linear&{MARCH}")).await;
    assert_money(roi_row(&linear, "a"), "revenue", "450.00");
    assert!(linear.get("removal_effects").is_none(), "{linear}");

    // Grouped by channel, the effects are still per campaign.
    let by_channel = app
        .roi(&format!("model=markov&group_by=channel&{MARCH}"))
        .await;
    assert_eq!(by_channel["removal_effects"], march["removal_effects"]);
    assert_money(roi_row(&by_channel, "search"), "revenue", "1200.00");

    // The same report asked twice is the same to the last digit.
    assert_eq!(app.roi(&format!("model=markov&{MARCH}")).await, march);

    // The same periods read from the leads table instead of the touch table: once the
    // period's leads are few against all of them, the store reads the period's leads by
    // time. 120 January leads of new contacts (c, no conversion), and a contact Q who
    // touched a on 03-08 and b on 03-09 without converting: March has 9 leads of 131.
    let mut csv = String::from("campaign,received_at,name,phone\r\n");
    for i in 0..120 {
        csv.push_str(&format!(
            "c,2025-01-{:02}T09:00:00+08:00,新客户,13800{i:06}\r\n",
            1 + i % 28
        ));
    }
    csv.push_str("a,2025-03-08T10:00:00+08:00,Q,13900000008\r\n");
    csv.push_str("b,2025-03-09T10:00:00+08:00,Q,13900000008\r\n");
    assert_eq!(app.import_leads_csv(&csv).await["imported"], json!(122));
    // March now: start → a 3/6 (X, Y, Q), b 1/6, c 2/6; a → b 2/3, → null 1/3;
    // b → conv 2/3, → null 1/3 (Q); c → null. h(b) = 2/3, h(a) = 2/3 · 2/3 = 4/9,
    // P = 3/6 · 4/9 + 1/6 · 2/3 = 1/3. f(a) = 1/2: RE(a) = (1/2 · 4/9) / (1/3) = 2/3;
    // f(b) = 1/6 + 1/2 · 2/3 = 1/2: RE(b) = (1/2 · 2/3) / (1/3) = 1. (Without the
    // non-converting journeys RE(a) would be 1/2.) x1 splits 2/3 : 1: a 2/5 (360.00).
    let march = app.roi(&format!("model=markov&{MARCH}")).await;
    assert_eq!(
        march["removal_effects"],
        json!({"a": 0.666667, "b": 1.0, "c": 0.0}),
        "{march}"
    );
    assert_num(roi_row(&march, "a"), "orders", 0.4);
    assert_money(roi_row(&march, "a"), "revenue", "360.00");
    assert_money(roi_row(&march, "b"), "revenue", "840.00");
    // February: u1 (U: b) converts; V touched a and has no conversion.
    // start → a 1/2, b 1/2; a → null; b → conv: P = 1/2, RE(b) = 1, RE(a) = 0.
    let february = app.roi("model=markov&from=2025-02-01&to=2025-02-28").await;
    assert_eq!(
        february["removal_effects"],
        json!({"a": 0.0, "b": 1.0, "c": 0.0}),
        "{february}"
    );
    assert_money(roi_row(&february, "b"), "revenue", "500.00");
    // All time, from the touch table: Q's journey enters too (a → b 2/4, → c 1/4,
    // → null 1/4; b → conv 3/4, → null 1/4; start: a 4/127, b 2/127, c 121/127):
    // h(b) = 3/4, h(a) = 2/4 · 3/4 = 3/8, P = (4 · 3/8 + 2 · 3/4)/127 = 3/127;
    // RE(a) = (4/127 · 3/8) / (3/127) = 1/2,
    // RE(b) = ((2/127 + 4/127 · 2/4) · 3/4) / (3/127) = 1.
    let all_again = app.roi("model=markov").await;
    assert_eq!(
        all_again["removal_effects"],
        json!({"a": 0.5, "b": 1.0, "c": 0.0}),
        "{all_again}"
    );

    // Q asks to be erased: its journey stays under an anonymous contact, read by time as
    // well as from the touch table, so no report changes. (Without Q's journey, March
    // would be the first chain again with X, Y: RE(a) = 1/2, not 2/3.)
    let (status, receipt) = crate::helpers::json_body(
        app.admin_post("/api/erasures", &json!({"phone": "13900000008"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(app.roi(&format!("model=markov&{MARCH}")).await, march);
    assert_eq!(app.roi("model=markov").await, all_again);

    // A model name that is not one: still refused, naming the parameter.
    for bad in ["Markov", "markov_chain", "data_driven"] {
        let resp = app.admin_get(&format!("/api/roi?model={bad}")).await;
        assert_error(resp, 422, Some("model")).await;
    }
}

#[tokio::test]
async fn markov_in_the_files_the_console_and_the_command_line() {
    let app = journeys_app().await;
    let report = app.roi(&format!("model=markov&{MARCH}")).await;

    let records = excel_csv(&app.roi_csv(&format!("model=markov&{MARCH}")).await);
    assert_csv_matches_json(&records, &report, "TOTAL");

    let resp = app
        .admin_get(&format!("/api/roi.xlsx?model=markov&{MARCH}"))
        .await;
    assert_eq!(resp.status(), 200);

    let html = page(&app, &format!("/admin?model=markov&{MARCH}&lang=en")).await;
    assert!(
        html.contains(r#"<option value="markov" selected>Data-driven (Markov)</option>"#),
        "the overview's model picker offers and keeps markov"
    );

    // `leadgate roi` on the stopped server's store says what the API said.
    let dir = app.stop().await;
    let output = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args(["roi", "--model", "markov", "--format", "json"])
        .args(["--from", "2025-03-01", "--to", "2025-03-31"])
        .arg("--data")
        .arg(dir.path())
        .env_remove("LEADGATE_DATA")
        .env_remove("LEADGATE_TZ")
        .output()
        .expect("run leadgate roi");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(printed["removal_effects"], report["removal_effects"]);
    assert_eq!(printed["rows"], report["rows"]);
    // The terminal table lists them under the rows.
    let output = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args([
            "roi",
            "--model",
            "markov",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-31",
        ])
        .arg("--data")
        .arg(dir.path())
        .env_remove("LEADGATE_DATA")
        .env_remove("LEADGATE_TZ")
        .output()
        .expect("run leadgate roi");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.starts_with("model: markov\n"), "{table}");
    assert!(
        table.contains("removal effects:\n  a  0.500000\n  b  1.000000\n  c  0.000000\n"),
        "{table}"
    );
}
