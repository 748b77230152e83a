//! `POST /api/conversions` and `GET /api/conversions/{id}`: upserts by id, the contact a
//! conversion belongs to, and validation.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_instant, json_body, spawn_app};

/// A campaign with three imported leads: one with a phone and an e-mail, one with only an
/// e-mail, one with only a phone. Returns the app and the lead ids in that order.
async fn app_with_leads() -> (TestApp, [String; 3]) {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({"kind": "trade_show"}))
        .await;
    let summary = app
        .import_leads_csv(
            "campaign,received_at,phone,email\n\
             expo,2025-03-01T10:00:00+08:00,13900000041,wang@Example.com\n\
             expo,2025-03-02T10:00:00+08:00,,Zhao@Example.COM\n\
             expo,2025-03-03T10:00:00+08:00,13900000043,\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(3), "{summary}");
    let leads = app.all_leads("expo").await;
    let id_of = |pred: &dyn Fn(&Value) -> bool| -> String {
        leads
            .iter()
            .find(|l| pred(l))
            .and_then(|l| l["id"].as_str())
            .expect("lead")
            .to_owned()
    };
    let ids = [
        id_of(&|l| l["phone"] == "+8613900000041"),
        id_of(&|l| l["email"] == "Zhao@example.com"),
        id_of(&|l| l["phone"] == "+8613900000043"),
    ];
    (app, ids)
}

#[tokio::test]
async fn conversion_is_upserted_by_id() {
    let (app, _) = app_with_leads().await;
    let deal = json!({"id": "O-1", "phone": "139 0000 0041", "stage": "deal",
                      "occurred_at": "2025-03-21T10:00:00+08:00"});
    let created = app.post_conversion(&deal, 201).await;
    assert_eq!(created["result"], "created", "{created}");
    assert_eq!(created["id"], "O-1", "{created}");
    assert_eq!(created["contact"], "+8613900000041", "{created}");
    assert_eq!(created["stage"], "deal", "{created}");
    assert_eq!(created["currency"], "CNY", "{created}");
    assert_instant(&created["moment"], "2025-03-21T02:00:00Z");
    assert!(created["won_at"].is_null(), "{created}");
    assert!(created["lost_at"].is_null(), "{created}");
    assert!(created["updated_at"].is_string(), "{created}");
    for field in ["lead_id", "amount"] {
        assert!(created.get(field).is_some(), "{field} missing: {created}");
    }

    let same = app.post_conversion(&deal, 200).await;
    assert_eq!(same["result"], "unchanged", "{same}");
    assert_eq!(same["stage"], "deal", "{same}");

    let won = app
        .post_conversion(
            &json!({"id": "O-1", "phone": "13900000041", "stage": "won", "amount": "48500.50",
                    "occurred_at": "2025-04-01T10:00:00+08:00"}),
            200,
        )
        .await;
    assert_eq!(won["result"], "updated", "{won}");
    assert_eq!(won["stage"], "won", "{won}");
    assert_eq!(won["amount"], "48500.50", "{won}");
    assert_instant(&won["moment"], "2025-03-21T02:00:00Z");
    assert_instant(&won["won_at"], "2025-04-01T02:00:00Z");

    let (status, got) = json_body(app.admin_get("/api/conversions/O-1").await).await;
    assert_eq!(status, 200, "{got}");
    for field in [
        "id", "contact", "lead_id", "stage", "amount", "currency", "moment", "won_at", "lost_at",
    ] {
        assert_eq!(got[field], won[field], "{field}: {got} vs {won}");
    }

    // The won record again: unchanged.
    let again = app
        .post_conversion(
            &json!({"id": "O-1", "phone": "13900000041", "stage": "won", "amount": 48500.5,
                    "occurred_at": "2025-04-01T10:00:00+08:00"}),
            200,
        )
        .await;
    assert_eq!(again["result"], "unchanged", "{again}");

    // Arriving already lost: the moment is that record's.
    let lost = app
        .post_conversion(
            &json!({"id": "O-2", "phone": "13900000043", "stage": "lost",
                    "occurred_at": "2025-03-25T18:30:00+08:00"}),
            201,
        )
        .await;
    assert_eq!(lost["stage"], "lost", "{lost}");
    assert_instant(&lost["moment"], "2025-03-25T10:30:00Z");
    assert_instant(&lost["lost_at"], "2025-03-25T10:30:00Z");
    assert!(lost["won_at"].is_null(), "{lost}");

    let report = app.roi("").await;
    let row = crate::helpers::roi_row(&report, "expo");
    crate::helpers::assert_num(row, "deals", 2.0);
    crate::helpers::assert_num(row, "orders", 1.0);
    crate::helpers::assert_money(row, "revenue", "48500.50");
}

#[tokio::test]
async fn conversion_belongs_to_the_contact_of_the_named_lead() {
    let (app, ids) = app_with_leads().await;
    // By lead id.
    let by_id = app
        .post_conversion(
            &json!({"id": "E-2", "lead_id": ids[0], "stage": "deal",
                    "occurred_at": "2025-03-21T10:00:00+08:00"}),
            201,
        )
        .await;
    assert_eq!(by_id["contact"], "+8613900000041", "{by_id}");
    assert_eq!(by_id["lead_id"], json!(ids[0]), "{by_id}");
    // A lead with only an e-mail: the contact is the lower-cased e-mail.
    for (id, contact) in [
        ("E-3", json!({"lead_id": ids[1]})),
        ("E-4", json!({"email": "Zhao@example.com"})),
    ] {
        let mut body = contact;
        body["id"] = json!(id);
        body["stage"] = json!("won");
        body["amount"] = json!(100);
        body["occurred_at"] = json!("2025-03-21T10:00:00+08:00");
        let conversion = app.post_conversion(&body, 201).await;
        assert_eq!(conversion["contact"], "zhao@example.com", "{conversion}");
        assert_instant(&conversion["won_at"], "2025-03-21T02:00:00Z");
    }
    // By e-mail, of a lead that also has a phone: the e-mail names that lead, and the
    // conversion belongs to its contact, the phone.
    for (id, email) in [("E-1", "wang@example.com"), ("E-5", " wang@EXAMPLE.com ")] {
        let by_email = app
            .post_conversion(
                &json!({"id": id, "email": email, "stage": "deal",
                        "occurred_at": "2025-03-21T10:00:00+08:00"}),
                201,
            )
            .await;
        assert_eq!(by_email["contact"], "+8613900000041", "{by_email}");
    }
    // The same through the CSV import.
    let summary = app
        .import_conversions_csv(
            "id,email,stage,occurred_at\nE-6,wang@example.com,deal,2025-03-21T10:00:00+08:00\n",
        )
        .await;
    assert_eq!(summary["imported"], json!(1), "{summary}");
    assert_eq!(summary["errors"], json!([]), "{summary}");
}

#[tokio::test]
async fn conversion_validation() {
    let (app, _) = app_with_leads().await;
    let at = "2025-03-21T10:00:00+08:00";
    for contact in [
        json!({"phone": "13900009999"}),
        json!({"email": "nobody@example.com"}),
        json!({"lead_id": "01JN0000000000000000000000"}),
    ] {
        let mut body = contact.clone();
        body["id"] = json!("U-1");
        body["stage"] = json!("deal");
        body["occurred_at"] = json!(at);
        let resp = app.admin_post("/api/conversions", &body).await;
        let (status, err) = json_body(resp).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["code"], "unknown_contact", "{body}: {err}");
    }

    let ok = json!({"id": "V-1", "phone": "13900000041", "stage": "won", "amount": 10,
                    "occurred_at": at});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"amount": null}), "amount"),
        (json!({"amount": "12.345"}), "amount"),
        (json!({"amount": -5}), "amount"),
        (json!({"amount": "1e20"}), "amount"),
        (json!({"amount": "abc"}), "amount"),
        (json!({"stage": "maybe"}), "stage"),
        (json!({"stage": "WON"}), "stage"),
        (
            json!({"occurred_at": "2025-13-01T10:00:00+08:00"}),
            "occurred_at",
        ),
        (json!({"occurred_at": "yesterday"}), "occurred_at"),
        (json!({"id": ""}), "id"),
        (json!({"currency": "XYZ"}), "currency"),
    ];
    for (change, field) in cases {
        let mut body = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let resp = app.admin_post("/api/conversions", &body).await;
        assert_error(resp, 422, Some(field)).await;
    }
    let mut no_id = ok.clone();
    no_id.as_object_mut().unwrap().remove("id");
    assert_error(
        app.admin_post("/api/conversions", &no_id).await,
        422,
        Some("id"),
    )
    .await;

    let resp = app.admin_get("/api/conversions/V-1").await;
    assert_eq!(resp.status(), 404, "rejected conversion stored");
    let resp = app.admin_get("/api/conversions/U-1").await;
    assert_eq!(resp.status(), 404, "unknown-contact conversion stored");
    assert_error(app.admin_get("/api/conversions/nope").await, 404, None).await;

    // Malformed JSON is 400.
    let resp = app
        .admin_post_raw("/api/conversions", "application/json", "{not json")
        .await;
    assert_eq!(resp.status(), 400);

    // The valid body is accepted.
    let created = app.post_conversion(&ok, 201).await;
    assert_eq!(created["amount"], "10.00", "{created}");
}
