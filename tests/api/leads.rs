//! What a stored lead looks like (normalisation, source, UTM and click ids), `GET /api/leads`
//! with filters, pagination and CSV, and `PATCH /api/leads/{id}`.

use serde_json::{Value, json};

use crate::helpers::{
    CLICK_IDS, TestApp, assert_error, content_type, json_body, lead, merge, spawn_app, utm,
};

const XSS: &str = "<script>alert(1)</script>";

async fn app_with_campaign(slug: &str) -> TestApp {
    let app = spawn_app().await;
    app.create_campaign(slug, json!({})).await;
    app
}

// ---------------------------------------------------------------------------------------------
// The stored lead

#[tokio::test]
async fn listed_lead_has_every_documented_field() {
    let app = app_with_campaign("expo").await;
    let id = app
        .submit_json_ok(
            "expo",
            &json!({
                "name": "张三",
                "phone": "13800138000",
                "email": "zhangsan@example.com",
                "company": "上海某某科技有限公司",
                "title": "市场总监",
                "message": "请联系我",
                "consent": true,
            }),
        )
        .await;
    let page = app.list_leads("").await;
    assert!(
        page.get("next_cursor").is_some(),
        "next_cursor present: {page}"
    );
    let lead = &page["leads"][0];
    assert_eq!(lead["id"], json!(id));
    assert_eq!(lead["campaign"], "expo");
    assert_eq!(lead["name"], "张三");
    assert_eq!(lead["phone"], "+8613800138000");
    assert_eq!(lead["email"], "zhangsan@example.com");
    assert_eq!(lead["company"], "上海某某科技有限公司");
    assert_eq!(lead["fields"]["title"], "市场总监");
    assert_eq!(lead["fields"]["message"], "请联系我");
    assert!(lead["utm"].is_object(), "utm object: {lead}");
    assert!(lead["click_ids"].is_object(), "click_ids object: {lead}");
    assert_eq!(lead["source"], "api");
    assert_eq!(lead["status"], "new");

    let received_at = lead["received_at"].as_str().expect("received_at");
    assert!(received_at.ends_with('Z'), "UTC timestamp: {received_at}");
    let received: jiff::Timestamp = received_at.parse().expect("RFC 3339 received_at");
    let age = jiff::Timestamp::now().duration_since(received);
    assert!(
        age.as_secs().abs() < 300,
        "received_at {received_at} is not now"
    );
}

#[tokio::test]
async fn mainland_phone_formats_normalise_to_e164() {
    let app = app_with_campaign("expo").await;
    for phone in [
        "138 0013 8000",
        "138-0013-8000",
        "+86 13800138000",
        "008613800138000",
    ] {
        let id = app.submit_json_ok("expo", &lead(phone, "张三")).await;
        let page = app.list_leads("campaign=expo&limit=1").await;
        assert_eq!(page["leads"][0]["id"], json!(id));
        assert_eq!(
            page["leads"][0]["phone"], "+8613800138000",
            "from {phone:?}"
        );
    }
}

#[tokio::test]
async fn email_is_trimmed_and_its_domain_lowercased() {
    let app = app_with_campaign("expo").await;
    app.submit_json_ok(
        "expo",
        &json!({"email": "  Foo@Example.COM ", "consent": true}),
    )
    .await;
    let lead = app.single_lead("expo").await;
    assert_eq!(lead["email"], "Foo@example.com");
}

#[tokio::test]
async fn source_is_qr_for_offline_qr_utm() {
    let app = app_with_campaign("expo").await;
    let token = app.form_token("expo").await;
    let resp = app
        .submit_form(
            "expo",
            &[
                ("_token", &token),
                ("phone", "13800138000"),
                ("consent", "on"),
                ("utm_source", "qr"),
                ("utm_medium", "offline"),
                ("utm_campaign", "expo"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.single_lead("expo").await["source"], "qr");
}

#[tokio::test]
async fn source_is_form_for_browser_submission() {
    let app = app_with_campaign("expo").await;
    let token = app.form_token("expo").await;
    let resp = app
        .submit_form(
            "expo",
            &[
                ("_token", &token),
                ("phone", "13800138000"),
                ("consent", "on"),
                ("utm_source", "qr"),
                ("utm_medium", "cpc"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.single_lead("expo").await["source"], "form");
}

#[tokio::test]
async fn source_is_form_for_json_with_form_token() {
    let app = app_with_campaign("expo").await;
    let token = app.form_token("expo").await;
    let body = merge(lead("13800138000", "张三"), json!({"_token": token}));
    app.submit_json_ok("expo", &body).await;
    assert_eq!(app.single_lead("expo").await["source"], "form");
}

#[tokio::test]
async fn source_is_api_for_json_without_token() {
    let app = app_with_campaign("expo").await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    assert_eq!(app.single_lead("expo").await["source"], "api");
}

#[tokio::test]
async fn utm_values_are_taken_from_the_body() {
    let app = app_with_campaign("expo").await;
    let utm_values = json!({
        "utm_source": "baidu",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "utm_term": "crm 软件",
        "utm_content": "ad-1",
        "utm_id": "42",
    });
    app.submit_json_ok(
        "expo",
        &merge(lead("13800138000", "张三"), utm_values.clone()),
    )
    .await;
    let stored = app.single_lead("expo").await;
    for (param, value) in utm_values.as_object().unwrap() {
        assert_eq!(utm(&stored, param), value.as_str(), "{param} in {stored}");
    }
}

#[tokio::test]
async fn utm_and_click_id_fall_back_to_referer_query() {
    let app = app_with_campaign("expo").await;
    let resp = app
        .client
        .post(app.url("/f/expo"))
        .header(
            "referer",
            "http://x/f/expo?utm_source=baidu&utm_medium=cpc&bd_vid=abc",
        )
        .json(&lead("13800138000", "张三"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let stored = app.single_lead("expo").await;
    assert_eq!(utm(&stored, "utm_source"), Some("baidu"), "{stored}");
    assert_eq!(utm(&stored, "utm_medium"), Some("cpc"), "{stored}");
    assert_eq!(stored["click_ids"]["bd_vid"], "abc", "{stored}");
}

#[tokio::test]
async fn browser_submission_falls_back_to_referer_query() {
    let app = app_with_campaign("expo").await;
    let token = app.form_token("expo").await;
    let body = crate::helpers::urlencode(&[
        ("_token", &token),
        ("phone", "13800138000"),
        ("consent", "on"),
    ]);
    let resp = app
        .client
        .post(app.url("/f/expo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "referer",
            format!(
                "{}/f/expo?utm_source=douyin&utm_campaign=live0301",
                app.base
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let stored = app.single_lead("expo").await;
    assert_eq!(utm(&stored, "utm_source"), Some("douyin"), "{stored}");
    assert_eq!(utm(&stored, "utm_campaign"), Some("live0301"), "{stored}");
}

#[tokio::test]
async fn body_utm_wins_over_referer() {
    let app = app_with_campaign("expo").await;
    let resp = app
        .client
        .post(app.url("/f/expo"))
        .header("referer", "http://x/f/expo?utm_source=baidu")
        .json(&merge(
            lead("13800138000", "张三"),
            json!({"utm_source": "wechat"}),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let stored = app.single_lead("expo").await;
    assert_eq!(utm(&stored, "utm_source"), Some("wechat"), "{stored}");
}

#[tokio::test]
async fn every_click_id_is_kept() {
    let app = app_with_campaign("expo").await;
    let mut body = lead("13800138000", "张三");
    for click_id in CLICK_IDS {
        body[click_id] = json!(format!("{click_id}-value-123"));
    }
    app.submit_json_ok("expo", &body).await;
    let stored = app.single_lead("expo").await;
    for click_id in CLICK_IDS {
        assert_eq!(
            stored["click_ids"][click_id],
            json!(format!("{click_id}-value-123")),
            "{click_id} in {stored}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Listing

/// Submits `n` leads to `slug` one after another; returns their ids in submission order.
async fn submit_n(app: &TestApp, slug: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let phone = format!("1380013{:04}", 8000 + i);
        ids.push(
            app.submit_json_ok(slug, &lead(&phone, &format!("客户{i}")))
                .await,
        );
    }
    ids
}

fn ids_of(page: &Value) -> Vec<String> {
    page["leads"]
        .as_array()
        .unwrap_or_else(|| panic!("leads array: {page}"))
        .iter()
        .map(|l| l["id"].as_str().expect("lead id").to_owned())
        .collect()
}

#[tokio::test]
async fn leads_are_listed_newest_first() {
    let app = app_with_campaign("expo").await;
    let mut ids = submit_n(&app, "expo", 5).await;
    ids.reverse();
    let page = app.list_leads("campaign=expo").await;
    assert_eq!(ids_of(&page), ids);
    assert!(page["next_cursor"].is_null(), "one page only: {page}");
}

#[tokio::test]
async fn limit_2_over_5_leads_walks_3_pages() {
    let app = app_with_campaign("expo").await;
    let mut ids = submit_n(&app, "expo", 5).await;
    ids.reverse();

    let mut seen = Vec::new();
    let mut query = "campaign=expo&limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = app.list_leads(&query).await;
        pages += 1;
        let got = ids_of(&page);
        assert!(got.len() <= 2, "page {pages} over the limit: {got:?}");
        seen.extend(got);
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(pages < 3, "a cursor after the last page");
                query = format!(
                    "campaign=expo&limit=2&cursor={}",
                    crate::helpers::encode(cursor)
                );
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every lead exactly once, newest first");
}

#[tokio::test]
async fn campaign_filter_lists_only_that_campaign() {
    let app = app_with_campaign("expo").await;
    app.create_campaign("sem", json!({"kind": "online_ad"}))
        .await;
    let expo = submit_n(&app, "expo", 2).await;
    let sem = submit_n(&app, "sem", 1).await;

    let page = app.list_leads("campaign=sem").await;
    assert_eq!(ids_of(&page), sem);
    let page = app.list_leads("campaign=expo").await;
    assert_eq!(ids_of(&page).len(), expo.len());
    let page = app.list_leads("").await;
    assert_eq!(ids_of(&page).len(), 3, "no filter lists every campaign");
}

#[tokio::test]
async fn since_and_until_bound_the_listing() {
    let app = app_with_campaign("expo").await;
    submit_n(&app, "expo", 2).await;
    let all = app
        .list_leads("since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(ids_of(&all).len(), 2);
    let future = app.list_leads("since=2999-01-01T00:00:00Z").await;
    assert!(ids_of(&future).is_empty(), "{future}");
    let past = app.list_leads("until=2000-01-01T00:00:00Z").await;
    assert!(ids_of(&past).is_empty(), "{past}");
    // The first day of 1970 in the reporting zone (Asia/Shanghai) begins in 1969 UTC,
    // before any lead can be: a valid bound, not an invalid time.
    let since_1970 = app.list_leads("since=1970-01-01").await;
    assert_eq!(ids_of(&since_1970).len(), 2);
    let until_1970 = app.list_leads("until=1970-01-01").await;
    assert!(ids_of(&until_1970).is_empty(), "{until_1970}");
}

#[tokio::test]
async fn bad_limit_is_rejected_not_500() {
    let app = app_with_campaign("expo").await;
    let resp = app.admin_get("/api/leads?limit=abc").await;
    assert!(
        resp.status().is_client_error(),
        "bad limit gives 4xx, got {}",
        resp.status()
    );
}

// ---------------------------------------------------------------------------------------------
// CSV export

#[tokio::test]
async fn csv_export_has_bom_header_and_neutralised_cells() {
    let app = app_with_campaign("expo").await;
    let names = ["=1+1", "@SUM(A1)", "-2+3", "+cmd", XSS, "张三"];
    for (i, name) in names.iter().enumerate() {
        let phone = format!("1380013{:04}", 8000 + i);
        app.submit_json_ok("expo", &lead(&phone, name)).await;
    }

    let resp = app.admin_get("/api/leads?format=csv&campaign=expo").await;
    assert_eq!(resp.status(), 200);
    assert!(
        content_type(&resp).starts_with("text/csv"),
        "content type {}",
        content_type(&resp)
    );
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM first");

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[3..]);
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
        .collect();
    let header = &records[0];
    assert!(
        header.iter().any(|h| h == "id") && header.iter().any(|h| h == "phone"),
        "header row names the fields: {header:?}"
    );
    let rows = &records[1..];
    assert_eq!(rows.len(), names.len(), "one row per lead");
    for row in rows {
        assert_eq!(row.len(), header.len(), "row width: {row:?}");
    }

    let cells: Vec<&str> = rows.iter().flatten().map(String::as_str).collect();
    for cell in &cells {
        assert!(
            !cell.starts_with(['=', '+', '-', '@']),
            "cell {cell:?} could run as a formula"
        );
    }
    for neutralised in ["'=1+1", "'@SUM(A1)", "'-2+3", "'+cmd"] {
        assert!(
            cells.contains(&neutralised),
            "{neutralised} missing: {cells:?}"
        );
    }
    assert!(cells.contains(&XSS), "markup is plain data in CSV");
    assert!(cells.contains(&"张三"), "UTF-8 text kept");
}

// ---------------------------------------------------------------------------------------------
// PATCH /api/leads/{id}

#[tokio::test]
async fn patch_lead_status_to_mql() {
    let app = app_with_campaign("expo").await;
    let id = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let (status, body) = json_body(
        app.admin_patch(&format!("/api/leads/{id}"), &json!({"status": "mql"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["status"], "mql");
    assert_eq!(body["phone"], "+8613800138000", "other fields unchanged");
    assert_eq!(app.single_lead("expo").await["status"], "mql", "persisted");
}

#[tokio::test]
async fn patch_lead_with_unknown_status_is_422() {
    let app = app_with_campaign("expo").await;
    let id = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let resp = app
        .admin_patch(&format!("/api/leads/{id}"), &json!({"status": "hot"}))
        .await;
    assert_error(resp, 422, Some("status")).await;
    assert_eq!(app.single_lead("expo").await["status"], "new");
}

#[tokio::test]
async fn patch_unknown_lead_is_404() {
    let app = app_with_campaign("expo").await;
    let resp = app
        .admin_patch(
            "/api/leads/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            &json!({"status": "mql"}),
        )
        .await;
    assert_eq!(resp.status(), 404);
}
