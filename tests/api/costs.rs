//! `POST/GET /api/campaigns/{slug}/costs` and `DELETE /api/campaigns/{slug}/costs/{id}`.

use serde_json::{Value, json};

use crate::helpers::{assert_error, json_body, spawn_app};

#[tokio::test]
async fn costs_are_added_listed_and_deleted() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;

    let first = app
        .admin_post(
            "/api/campaigns/expo/costs",
            &json!({"amount": 10000, "incurred_on": "2025-03-01", "note": "展位费"}),
        )
        .await;
    let (status, first) = json_body(first).await;
    assert_eq!(status, 201, "{first}");
    assert!(
        first["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{first}"
    );
    assert_eq!(first["campaign"], "expo", "{first}");
    assert_eq!(first["amount"], "10000.00", "{first}");
    assert_eq!(first["currency"], "CNY", "{first}");
    assert_eq!(first["incurred_on"], "2025-03-01", "{first}");
    assert_eq!(first["note"], "展位费", "{first}");
    let created_at = first["created_at"].as_str().expect("created_at");
    assert!(created_at.ends_with('Z'), "{created_at}");
    created_at
        .parse::<jiff::Timestamp>()
        .expect("created_at is RFC 3339");

    let second = app.add_cost("expo", json!("5000.50"), "2025-03-02").await;
    assert_eq!(second["amount"], "5000.50", "{second}");
    assert_ne!(first["id"], second["id"]);
    let third = app.add_cost("expo", json!(0.5), "2025-03-03").await;
    assert_eq!(third["amount"], "0.50", "{third}");

    let (status, list) = json_body(app.admin_get("/api/campaigns/expo/costs").await).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], "15001.00", "{list}");
    assert_eq!(list["currency"], "CNY", "{list}");
    let ids: Vec<&Value> = list["costs"]
        .as_array()
        .expect("costs")
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
    for entry in [&first, &second, &third] {
        assert!(ids.contains(&&entry["id"]), "{entry} listed");
    }

    let id = third["id"].as_str().unwrap();
    let path = format!("/api/campaigns/expo/costs/{id}");
    assert_eq!(app.admin_delete(&path).await.status(), 204);
    let (_, list) = json_body(app.admin_get("/api/campaigns/expo/costs").await).await;
    assert_eq!(list["total"], "15000.50", "{list}");
    assert_eq!(list["costs"].as_array().map(Vec::len), Some(2), "{list}");
    assert_error(app.admin_delete(&path).await, 404, None).await;
    assert_error(
        app.admin_delete("/api/campaigns/expo/costs/no-such-cost")
            .await,
        404,
        None,
    )
    .await;
    let other = format!(
        "/api/campaigns/nope/costs/{}",
        first["id"].as_str().unwrap()
    );
    assert_error(app.admin_delete(&other).await, 404, None).await;
    assert_error(app.admin_get("/api/campaigns/nope/costs").await, 404, None).await;
    let resp = app
        .admin_post(
            "/api/campaigns/nope/costs",
            &json!({"amount": 1, "incurred_on": "2025-03-01"}),
        )
        .await;
    assert_error(resp, 404, None).await;

    let (_, list) = json_body(app.admin_get("/api/campaigns/expo/costs").await).await;
    assert_eq!(list["total"], "15000.50", "{list}");
}

#[tokio::test]
async fn cost_validation() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    app.create_campaign("us", json!({"currency": "USD"})).await;
    app.create_campaign("jp", json!({"currency": "JPY"})).await;

    let good = json!({"amount": "100.00", "incurred_on": "2025-03-01", "note": "n"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("expo", json!({"amount": "10.001"}), "amount"),
        ("expo", json!({"amount": 10.001}), "amount"),
        ("expo", json!({"amount": -5}), "amount"),
        ("expo", json!({"amount": "-5.00"}), "amount"),
        ("expo", json!({"amount": "1e20"}), "amount"),
        ("expo", json!({"amount": 1e20}), "amount"),
        ("expo", json!({"amount": "abc"}), "amount"),
        ("expo", json!({"amount": true}), "amount"),
        ("expo", json!({"amount": null}), "amount"),
        ("expo", json!({"incurred_on": "2025-02-30"}), "incurred_on"),
        ("expo", json!({"incurred_on": "2025/03/01"}), "incurred_on"),
        (
            "expo",
            json!({"incurred_on": "2025-03-01T10:00:00Z"}),
            "incurred_on",
        ),
        ("expo", json!({"incurred_on": null}), "incurred_on"),
        ("expo", json!({"colour": "red"}), "colour"),
        ("us", json!({"amount": "10.001"}), "amount"),
        ("jp", json!({"amount": "10.5"}), "amount"),
    ];
    for (slug, change, field) in cases {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let resp = app
            .admin_post(&format!("/api/campaigns/{slug}/costs"), &body)
            .await;
        let err = assert_error(resp, 422, Some(field)).await;
        assert!(err["error"]["code"].is_string(), "{slug} {body}: {err}");
    }
    for slug in ["expo", "us", "jp"] {
        let (_, list) =
            json_body(app.admin_get(&format!("/api/campaigns/{slug}/costs")).await).await;
        assert_eq!(
            list["costs"],
            json!([]),
            "rejected costs stored in {slug}: {list}"
        );
    }
    let resp = app
        .admin_post_raw("/api/campaigns/expo/costs", "application/json", "{nope")
        .await;
    assert_eq!(resp.status(), 400);

    let us = app.add_cost("us", json!("10.01"), "2025-03-01").await;
    assert_eq!(us["amount"], "10.01", "{us}");
    assert_eq!(us["currency"], "USD", "{us}");
    let jp = app.add_cost("jp", json!(1500), "2025-03-01").await;
    assert_eq!(jp["currency"], "JPY", "{jp}");
}

#[tokio::test]
async fn currency_cannot_change_under_costs() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    app.add_cost("expo", json!(100), "2025-03-01").await;
    let resp = app
        .admin_patch("/api/campaigns/expo", &json!({"currency": "USD"}))
        .await;
    assert_error(resp, 409, Some("currency")).await;
    let (_, campaign) = json_body(app.admin_get("/api/campaigns/expo").await).await;
    assert_eq!(campaign["currency"], "CNY", "{campaign}");
    let (_, list) = json_body(app.admin_get("/api/campaigns/expo/costs").await).await;
    assert_eq!(list["total"], "100.00", "{list}");
    assert_eq!(list["currency"], "CNY", "{list}");
}
