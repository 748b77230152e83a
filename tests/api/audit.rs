//! The audit log: every admin change through the API (Bearer) and the console (Basic),
//! with its client, credential, action and target, written with the change itself; reads
//! and refused changes leave no entry, and no entry holds a lead's personal data.

use serde_json::{Value, json};

use crate::console::{form_token, page, post_form};
use crate::helpers::*;

async fn audit_log(app: &TestApp, query: &str) -> Value {
    let (status, log) = json_body(app.admin_get(&format!("/api/audit{query}")).await).await;
    assert_eq!(status, 200, "{log}");
    log
}

fn column(log: &Value, field: &str) -> Vec<String> {
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn api_and_console_changes_are_recorded_and_reads_and_refusals_are_not() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({"kind": "trade_show"}))
        .await;
    // Refused: nothing changed, nothing recorded.
    let refused = app
        .admin_post(
            "/api/campaigns",
            &json!({"slug": "Not A Slug", "name": "x"}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let missing = app
        .admin_patch(
            "/api/leads/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            &json!({"status": "mql"}),
        )
        .await;
    assert_eq!(missing.status(), 404);

    let id = app
        .submit_json_ok(
            "expo",
            &merge(
                lead("13800138000", "张三"),
                json!({"email": "zhangsan@example.com", "company": "三联贸易"}),
            ),
        )
        .await;
    let (status, _) = json_body(
        app.admin_patch(&format!("/api/leads/{id}"), &json!({"status": "mql"}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    // An import of many rows is one change.
    let rows: String = (0..300)
        .map(|n| format!("expo,1390000{n:04},导入{n}\n"))
        .collect();
    let import = app
        .import_leads_csv(&format!("campaign,phone,name\n{rows}"))
        .await;
    let import_id = import["id"].as_str().expect("the import's id").to_owned();
    assert_ulid(&import_id);

    // Through the console, logged in as "marketing".
    let html = page(&app, "/admin/campaigns/expo").await;
    let token = form_token(&html, "/admin/campaigns/expo/costs");
    let added = post_form(
        &app,
        "/admin/campaigns/expo/costs",
        &[
            ("_csrf", &token),
            ("amount", "1200"),
            ("incurred_on", "2025-03-01"),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    let (_, costs) = json_body(app.admin_get("/api/campaigns/expo/costs").await).await;
    let cost_id = costs["costs"][0]["id"].as_str().unwrap().to_owned();

    let log = audit_log(&app, "").await;
    assert_eq!(
        column(&log, "action"),
        ["campaign.create", "lead.update", "leads.import", "cost.add"]
    );
    assert_eq!(
        column(&log, "target"),
        [
            "expo".to_owned(),
            id.clone(),
            import_id,
            format!("expo/{cost_id}")
        ]
    );
    assert_eq!(
        column(&log, "credential"),
        ["bearer", "bearer", "bearer", "basic:marketing"]
    );
    assert!(
        column(&log, "client").iter().all(|c| c == "127.0.0.1"),
        "{log}"
    );
    assert_eq!(log["more"], false);
    for entry in log["entries"].as_array().unwrap() {
        assert_ulid(entry["id"].as_str().unwrap());
        assert!(
            entry["at"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .is_ok()
        );
    }
    let text = log.to_string();
    for personal in ["13800138000", "张三", "zhangsan", "三联贸易", "导入"] {
        assert!(
            !text.contains(personal),
            "{personal} in the audit log: {text}"
        );
    }

    // The console page: newest first, in the reporting zone.
    let html = page(&app, "/admin/audit").await;
    let cost = html
        .find("cost.add")
        .expect("the console's change is listed");
    let create = html
        .find("campaign.create")
        .expect("the API's change is listed");
    assert!(cost < create, "newest first");
    assert!(html.contains("basic:marketing"));
    let english = page(&app, "/admin/audit?lang=en").await;
    assert!(english.contains("Audit log"));
}

/// A change that makes something without an address of its own (an erasure, an import)
/// is named by the id its answer gives, so the entry leads to the receipt or the report.
#[tokio::test]
async fn erasures_and_imports_are_named_by_the_id_they_answer_with() {
    use crate::console::{form_token, location, post_form};
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    for phone in ["13800138000", "13900139000"] {
        app.submit_json_ok("expo", &lead(phone, "张三")).await;
    }
    let (status, receipt) = json_body(
        app.admin_post("/api/erasures", &json!({"phone": "13800138000"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    let receipt_id = receipt["id"].as_str().unwrap().to_owned();

    // The console erases the other person from their lead's page.
    let lead_id = app.all_leads("expo").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/admin/leads/{lead_id}/erase");
    let token = form_token(&page(&app, &path).await, &path);
    let resp = post_form(&app, &path, &[("_csrf", &token)]).await;
    assert_eq!(resp.status(), 303);
    let done = location(&resp);
    let console_receipt = done
        .split("done=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .expect("the receipt's id in the address")
        .to_owned();

    let report = app
        .import_conversions_csv("id,email,stage,amount\no-1,nobody@example.com,won,100\n")
        .await;
    assert_eq!(report["errors"].as_array().unwrap().len(), 1, "{report}");
    let conversions_import = report["id"].as_str().expect("the import's id").to_owned();
    assert_ulid(&conversions_import);

    let log = audit_log(&app, "").await;
    assert_eq!(
        column(&log, "action"),
        [
            "campaign.create",
            "erasure.create",
            "erasure.create",
            "conversions.import"
        ]
    );
    assert_eq!(
        column(&log, "target"),
        [
            "expo".to_owned(),
            receipt_id,
            console_receipt,
            conversions_import
        ]
    );
}

#[tokio::test]
async fn the_log_is_read_from_a_time_in_pages_and_its_parameters_are_checked() {
    let app = spawn_app().await;
    for slug in ["a1", "a2", "a3"] {
        app.create_campaign(slug, json!({})).await;
    }
    let first_two = audit_log(&app, "?limit=2").await;
    assert_eq!(column(&first_two, "target"), ["a1", "a2"]);
    assert_eq!(first_two["more"], true);
    let from = first_two["entries"][1]["at"].as_str().unwrap().to_owned();
    let rest = audit_log(&app, &format!("?since={}", encode(&from))).await;
    assert_eq!(column(&rest, "target").last().unwrap(), "a3");
    assert_eq!(rest["more"], false);
    let future = audit_log(&app, "?since=2999-01-01").await;
    assert_eq!(future["entries"], json!([]));

    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=x", "limit"),
        ("?since=yesterday", "since"),
    ] {
        let resp = app.admin_get(&format!("/api/audit{query}")).await;
        assert_error(resp, 422, Some(field)).await;
    }
    let resp = app.admin_get("/api/audit?campaign=a1").await;
    assert_eq!(resp.status(), 422, "unknown parameters are refused");
    let resp = app.get("/api/audit").await;
    assert_eq!(resp.status(), 401);
}
