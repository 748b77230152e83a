//! The ROI summary as files: the Excel workbook (`/api/roi.xlsx`, the console's download)
//! read back with a spreadsheet reader, and the console's CSV, both against `/api/roi`.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::{Value, json};

use crate::helpers::{
    TOKEN, TestApp, assert_csv_matches_json, content_type, excel_csv, lead, spawn_app,
};

const PERIOD: &str = "from=2020-01-01&to=2035-12-31";

/// Two currencies, costs, leads, a won order and an open deal.
async fn app_with_figures() -> TestApp {
    let app = spawn_app().await;
    app.create_campaign(
        "expo",
        json!({"kind": "trade_show", "channel": "expo", "budget": "200000", "target_leads": 3}),
    )
    .await;
    app.create_campaign("sem", json!({"kind": "online_ad", "channel": "baidu_sem"}))
        .await;
    app.create_campaign("us-fair", json!({"currency": "USD", "kind": "trade_show"}))
        .await;
    for (slug, amount) in [("expo", "30000"), ("sem", "12000.50"), ("us-fair", "4000")] {
        let resp = app
            .admin_post(
                &format!("/api/campaigns/{slug}/costs"),
                &json!({"amount": amount, "incurred_on": "2025-03-01"}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let a = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    app.submit_json_ok("expo", &lead("13800138001", "李四"))
        .await;
    let b = app
        .submit_json_ok("sem", &lead("13800138002", "王五"))
        .await;
    app.submit_json_ok("us-fair", &lead("13800138003", "Ann"))
        .await;
    let now = jiff::Timestamp::now();
    for (id, lead_id, stage, amount) in [("D1", &a, "won", "48500.50"), ("D2", &b, "deal", "0")] {
        let resp = app
            .admin_post(
                "/api/conversions",
                &json!({"id": id, "lead_id": lead_id, "stage": stage, "amount": amount, "occurred_at": now.to_string()}),
            )
            .await;
        assert!(resp.status().is_success());
    }
    app
}

fn workbook(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("a valid xlsx workbook")
}

const MONEY: &[&str] = &[
    "budget",
    "cost",
    "revenue",
    "cpl",
    "cost_per_order",
    "target_revenue",
    "pipeline",
];

/// A sheet cell as the JSON field it came from should read.
fn assert_cell(cell: &Data, field: &str, json: &Value, what: &str) {
    match json {
        Value::Null => assert!(
            matches!(cell, Data::Empty),
            "{what}: {field} should be an empty cell, is {cell:?}"
        ),
        // Money is a string in JSON and must be a number in the sheet; text stays text.
        Value::String(text) => match (cell, text.parse::<f64>()) {
            (Data::Float(f), Ok(expected)) if MONEY.contains(&field) => {
                assert!((f - expected).abs() < 1e-9, "{what}: {field} {f} vs {text}");
            }
            (Data::String(s), _) if !MONEY.contains(&field) => {
                assert_eq!(s, text, "{what}: {field}")
            }
            (other, _) => panic!("{what}: {field} is {other:?}, JSON {text:?}"),
        },
        Value::Number(n) => {
            let mut expected = n.as_f64().unwrap();
            if field.ends_with("_pct") {
                expected /= 100.0;
            }
            let actual = match cell {
                Data::Float(f) => *f,
                Data::Int(i) => *i as f64,
                other => panic!("{what}: {field} is {other:?}, JSON {n}"),
            };
            assert!(
                (actual - expected).abs() < 1e-9,
                "{what}: {field} {actual} vs {expected}"
            );
        }
        other => panic!("unexpected JSON {other}"),
    }
}

#[tokio::test]
async fn the_workbook_holds_the_json_figures_one_sheet_per_currency() {
    let app = app_with_figures().await;
    let report = app.roi(PERIOD).await;
    let resp = app.admin_get(&format!("/api/roi.xlsx?{PERIOD}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        content_type(&resp),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let mut book = workbook(resp.bytes().await.unwrap().to_vec());
    assert_eq!(book.sheet_names(), ["CNY", "USD"]);
    for currency in ["CNY", "USD"] {
        let range = book.worksheet_range(currency).unwrap();
        let rows: Vec<&[Data]> = range.rows().collect();
        let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
        let fields: Vec<&str> = header.iter().map(String::as_str).collect();
        assert_eq!(fields[0], "key", "field names without lang");
        let json_rows: Vec<&Value> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["currency"] == currency)
            .collect();
        assert_eq!(
            rows.len(),
            json_rows.len() + 2,
            "{currency}: rows, then TOTAL"
        );
        for (line, json_row) in rows[1..].iter().zip(&json_rows) {
            for (cell, field) in line.iter().zip(&fields) {
                assert_cell(cell, field, &json_row[*field], currency);
            }
        }
        let total_line = rows.last().unwrap();
        assert_eq!(total_line[0], Data::String("TOTAL".into()));
        let totals = &report["totals"][currency];
        for (cell, field) in total_line.iter().zip(&fields).skip(4) {
            assert_cell(cell, field, &totals[*field], "total");
        }
        // Formats: money with two decimals, percentages as Excel percentages.
        let styles = book.worksheet_style(currency).unwrap();
        let format_of = |field: &str| {
            let col = fields.iter().position(|f| *f == field).unwrap() as u32;
            styles
                .get((1, col))
                .and_then(|s| s.number_format.as_ref())
                .map(|f| f.format_code.clone())
        };
        assert_eq!(format_of("cost").as_deref(), Some("#,##0.00"));
        assert_eq!(format_of("roi_pct").as_deref(), Some("0.00%"));
    }
    // The won order: ROI of expo is (48500.50 − 30000) / 30000 = 61.67 % → 0.6167.
    let expo = &book.worksheet_range("CNY").unwrap();
    let roi_col = report_field_index(expo, "roi_pct");
    let expo_row = expo
        .rows()
        .find(|r| r[0] == Data::String("expo".into()))
        .unwrap();
    assert_eq!(expo_row[roi_col], Data::Float(0.6167));
}

fn report_field_index(range: &calamine::Range<Data>, field: &str) -> usize {
    range
        .rows()
        .next()
        .unwrap()
        .iter()
        .position(|c| matches!(c, Data::String(s) if s == field))
        .unwrap()
}

#[tokio::test]
async fn console_downloads_have_chinese_titles_and_the_json_figures() {
    let app = app_with_figures().await;
    let report = app.roi(PERIOD).await;
    let xlsx = app
        .client
        .get(app.url(&format!("/admin/roi.xlsx?{PERIOD}")))
        .basic_auth("m", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(xlsx.status(), 200);
    let mut book = workbook(xlsx.bytes().await.unwrap().to_vec());
    let range = book.worksheet_range("CNY").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[0], "编号");
    assert_eq!(header[1], "活动");

    let csv = app
        .client
        .get(app.url(&format!("/admin/roi.csv?{PERIOD}")))
        .basic_auth("m", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let records = excel_csv(&csv.bytes().await.unwrap());
    assert_eq!(records[0][0], "编号");
    assert!(records[0].contains(&"成本".to_owned()) && records[0].contains(&"成交金额".to_owned()));
    assert_csv_matches_json(&records, &report, "合计");
    // English titles on request.
    let en = app
        .client
        .get(app.url(&format!("/admin/roi.csv?{PERIOD}&lang=en")))
        .basic_auth("m", Some(TOKEN))
        .send()
        .await
        .unwrap();
    let text = en.text().await.unwrap();
    assert!(
        text.trim_start_matches('\u{feff}')
            .starts_with("Key,Campaign"),
        "{text}"
    );
}

#[tokio::test]
async fn a_workbook_without_rows_still_opens() {
    let app = spawn_app().await;
    let resp = app.admin_get("/api/roi.xlsx?lang=zh").await;
    assert_eq!(resp.status(), 200);
    let mut book = workbook(resp.bytes().await.unwrap().to_vec());
    let name = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&name).unwrap();
    assert_eq!(range.rows().count(), 1, "the header only");
    let resp = app.admin_get("/api/roi.xlsx?lang=fr").await;
    assert_eq!(resp.status(), 422);
}
