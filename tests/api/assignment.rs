//! Salespeople and assignment: the roster API, round robin, owners, returning contacts,
//! reassignment, and chat mentions.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::Receiver;

async fn spawn() -> TestApp {
    spawn_app_with(|c| {
        c.allow_private_destinations = true;
        c.delivery_retry_delays = vec![Duration::from_millis(50); 9];
    })
    .await
}

impl TestApp {
    /// Adds a salesperson (asserting 201); returns their id.
    pub async fn add_salesperson(&self, body: Value) -> String {
        let (status, person) = json_body(self.admin_post("/api/salespeople", &body).await).await;
        assert_eq!(status, 201, "{person}");
        person["id"].as_str().unwrap().to_owned()
    }

    async fn assignee_of(&self, lead_id: &str) -> Value {
        let (status, lead) =
            json_body(self.admin_get(&format!("/api/leads/{lead_id}")).await).await;
        assert_eq!(status, 200, "{lead}");
        lead["assigned_to"].clone()
    }
}

#[tokio::test]
async fn round_robin_skips_inactive_people_and_returning_contacts_take_no_turn() {
    let app = spawn().await;
    let a = app.add_salesperson(json!({"name": "王芳"})).await;
    let b = app
        .add_salesperson(json!({"name": "李强", "active": false}))
        .await;
    let c = app.add_salesperson(json!({"name": "赵敏"})).await;
    app.create_campaign(
        "expo",
        json!({"assign": {"mode": "round_robin", "salespeople": [a, b, c]}}),
    )
    .await;
    let campaign = app.admin_get("/api/campaigns/expo").await;
    let (_, campaign) = json_body(campaign).await;
    assert_eq!(campaign["assign"]["mode"], "round_robin");
    assert_eq!(campaign["assign"]["salespeople"], json!([a, b, c]));

    let mut got = Vec::new();
    for n in 0..4 {
        let id = app.submit_json_ok("expo", &lead(&mobile(n), "客户")).await;
        got.push(app.assignee_of(&id).await);
    }
    assert_eq!(got, [json!(a), json!(c), json!(a), json!(c)]);

    // Contact 0 comes back, on another campaign without a rule: it keeps 王芳 …
    app.create_campaign("live", json!({})).await;
    let again = app.submit_json_ok("live", &lead(&mobile(0), "客户")).await;
    assert_eq!(app.assignee_of(&again).await, json!(a));
    let (_, shown) = json_body(app.admin_get(&format!("/api/leads/{again}")).await).await;
    assert_eq!(shown["assigned_to_name"], "王芳");
    // … and on expo too, without taking a turn: the next new contact is 王芳's turn.
    let back = app.submit_json_ok("expo", &lead(&mobile(1), "客户")).await;
    assert_eq!(app.assignee_of(&back).await, json!(c));
    let next = app.submit_json_ok("expo", &lead(&mobile(9), "客户")).await;
    assert_eq!(app.assignee_of(&next).await, json!(a));

    // An inactive salesperson's returning contact goes round again.
    let resp = app
        .admin_patch(&format!("/api/salespeople/{a}"), &json!({"active": false}))
        .await;
    assert_eq!(resp.status(), 200);
    let moved = app.submit_json_ok("expo", &lead(&mobile(0), "客户")).await;
    assert_eq!(app.assignee_of(&moved).await, json!(c));

    // Imported leads are assigned like submitted ones.
    let summary = app
        .import_leads_csv(&format!("campaign,phone,name\nexpo,{},客户\n", mobile(20)))
        .await;
    assert_eq!(summary["imported"], 1, "{summary}");
    let imported = app.list_leads("campaign=expo&limit=1").await;
    assert_eq!(imported["leads"][0]["assigned_to"], json!(c), "{imported}");
}

#[tokio::test]
async fn a_round_robin_moves_on_within_one_import_and_after_it() {
    let app = spawn().await;
    let a = app.add_salesperson(json!({"name": "王芳"})).await;
    let b = app.add_salesperson(json!({"name": "李强"})).await;
    let c = app.add_salesperson(json!({"name": "赵敏"})).await;
    app.create_campaign(
        "expo",
        json!({"assign": {"mode": "round_robin", "salespeople": [a, b, c]}}),
    )
    .await;
    // One import is one transaction: four turns within it.
    let mut csv = String::from("campaign,phone,name\n");
    for n in 0..4 {
        csv.push_str(&format!("expo,{},客户\n", mobile(n)));
    }
    assert_eq!(app.import_leads_csv(&csv).await["imported"], 4);
    let listed = app.list_leads("campaign=expo&limit=10").await;
    let mut counts = std::collections::HashMap::new();
    for lead in listed["leads"].as_array().unwrap() {
        *counts
            .entry(lead["assigned_to"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(
        (counts.get(&a), counts.get(&b), counts.get(&c)),
        (Some(&2), Some(&1), Some(&1)),
        "{listed}"
    );
    // The turn after the import's last (王芳) is 李强's.
    let next = app.submit_json_ok("expo", &lead(&mobile(9), "客户")).await;
    assert_eq!(app.assignee_of(&next).await, json!(b));
}

#[tokio::test]
async fn owner_mode_gives_every_lead_to_the_owner() {
    let app = spawn().await;
    let owner = app.add_salesperson(json!({"name": "王芳"})).await;
    app.create_campaign("expo", json!({"owner": owner, "assign": {"mode": "owner"}}))
        .await;
    for n in 0..2 {
        let id = app.submit_json_ok("expo", &lead(&mobile(n), "客户")).await;
        assert_eq!(app.assignee_of(&id).await, json!(owner));
    }
    // No rule: nobody.
    app.create_campaign("plain", json!({})).await;
    let id = app.submit_json_ok("plain", &lead(&mobile(5), "客户")).await;
    assert_eq!(app.assignee_of(&id).await, Value::Null);
}

#[tokio::test]
async fn reassignment_is_a_lead_update_and_shows_in_json_and_csv() {
    let app = spawn().await;
    let a = app.add_salesperson(json!({"name": "王芳"})).await;
    let b = app.add_salesperson(json!({"name": "李强"})).await;
    app.create_campaign(
        "expo",
        json!({"assign": {"mode": "round_robin", "salespeople": [a]}}),
    )
    .await;
    let receiver = Receiver::answering(200, "").await;
    let resp = app
        .admin_post(
            "/api/destinations",
            &json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/"),
                "events": ["lead.updated"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let id = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let (status, patched) = json_body(
        app.admin_patch(&format!("/api/leads/{id}"), &json!({"assigned_to": b}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["assigned_to"], json!(b));
    assert_eq!(patched["assigned_to_name"], "李强");
    let event = receiver.wait_for(1).await[0].json();
    assert_eq!(event["type"], "lead.updated");
    assert_eq!(event["data"]["assigned_to"], json!(b));
    assert_eq!(event["data"]["assigned_to_name"], "李强");

    // The CSV names the salesperson too.
    let csv = app.admin_get("/api/leads?format=csv&campaign=expo").await;
    let rows = excel_csv(&csv.bytes().await.unwrap());
    let column = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    assert_eq!(rows[1][column("assigned_to")], b);
    assert_eq!(rows[1][column("assigned_to_name")], "李强");

    // The contact now belongs to 李强.
    let again = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    assert_eq!(app.assignee_of(&again).await, json!(b));

    // Unassign; unknown people are refused.
    let (_, cleared) = json_body(
        app.admin_patch(&format!("/api/leads/{id}"), &json!({"assigned_to": null}))
            .await,
    )
    .await;
    assert_eq!(cleared["assigned_to"], Value::Null);
    assert_eq!(cleared["assigned_to_name"], Value::Null);
    for body in [
        json!({"assigned_to": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
        json!({"assigned_to": "nobody"}),
    ] {
        let resp = app.admin_patch(&format!("/api/leads/{id}"), &body).await;
        let error = assert_error(resp, 422, Some("assigned_to")).await;
        assert_eq!(error["error"]["code"], "unknown_salesperson");
    }
    let resp = app
        .admin_patch(&format!("/api/leads/{id}"), &json!({}))
        .await;
    assert_error(resp, 422, Some("status")).await;

    // The salespeople's lead lists agree with the leads after all that.
    assert_eq!(app.stop_and_check().await, Vec::<String>::new());
}

#[tokio::test]
async fn the_roster_api_checks_its_input_and_keeps_people_with_leads() {
    let app = spawn().await;
    for (body, field, code) in [
        (json!({}), "name", "required"),
        (
            json!({"name": "x", "wecom_userid": "a b"}),
            "wecom_userid",
            "invalid_value",
        ),
        (
            json!({"name": "x", "mobile": "12"}),
            "mobile",
            "invalid_phone",
        ),
        (json!({"name": "x", "team": 1}), "team", "unknown_field"),
    ] {
        let resp = app.admin_post("/api/salespeople", &body).await;
        let error = assert_error(resp, 422, Some(field)).await;
        if field != "mobile" {
            assert_eq!(error["error"]["code"], code, "{error}");
        }
    }
    let busy = app.add_salesperson(json!({"name": "王芳"})).await;
    let idle = app.add_salesperson(json!({"name": "李强"})).await;
    let (_, list) = json_body(app.admin_get("/api/salespeople").await).await;
    let names: Vec<&str> = list["salespeople"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["王芳", "李强"]);

    // A campaign may only name people on the roster.
    let resp = app
        .admin_post(
            "/api/campaigns",
            &json!({"slug": "bad", "name": "x",
                "assign": {"mode": "round_robin", "salespeople": ["01ARZ3NDEKTSV4RRFFQ69G5FAV"]}}),
        )
        .await;
    assert_error(resp, 422, Some("assign")).await;

    app.create_campaign("expo", json!({"owner": busy, "assign": {"mode": "owner"}}))
        .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let resp = app.admin_delete(&format!("/api/salespeople/{busy}")).await;
    let error = assert_error(resp, 409, None).await;
    assert_eq!(error["error"]["code"], "salesperson_has_leads");
    let (_, kept) = json_body(app.admin_get(&format!("/api/salespeople/{busy}")).await).await;
    assert_eq!(kept["active"], false);
    let resp = app.admin_delete(&format!("/api/salespeople/{idle}")).await;
    assert_eq!(resp.status(), 204);
    assert_error(
        app.admin_get(&format!("/api/salespeople/{idle}")).await,
        404,
        None,
    )
    .await;
}

#[tokio::test]
async fn chat_alerts_mention_the_assignee_the_way_each_platform_does() {
    let app = spawn().await;
    let person = app
        .add_salesperson(json!({"name": "王芳", "mobile": "139 1234 0001",
            "wecom_userid": "wangfang", "feishu_open_id": "ou_7d8a6e6df7621556ce0d21922b676706"}))
        .await;
    app.create_campaign(
        "expo",
        json!({"owner": person, "assign": {"mode": "owner"}}),
    )
    .await;
    let wecom = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let dingtalk = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let feishu = Receiver::answering(200, r#"{"code":0}"#).await;
    for (kind, receiver) in [
        ("wecom", &wecom),
        ("dingtalk", &dingtalk),
        ("feishu", &feishu),
    ] {
        let resp = app
            .admin_post(
                "/api/destinations",
                &json!({"name": kind, "kind": kind, "url": receiver.url("/robot")}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;

    let body = wecom.wait_for(1).await[0].json();
    let content = body["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("<@wangfang>"), "{content}");
    assert!(content.contains("王芳"), "the assignee is named: {content}");

    let body = dingtalk.wait_for(1).await[0].json();
    assert_eq!(body["at"]["atMobiles"], json!(["13912340001"]));
    assert!(
        body["markdown"]["text"]
            .as_str()
            .unwrap()
            .contains("@13912340001"),
        "{body}"
    );

    let body = feishu.wait_for(1).await[0].json();
    let text = body["content"]["text"].as_str().unwrap();
    assert!(
        text.contains(r#"<at user_id="ou_7d8a6e6df7621556ce0d21922b676706">王芳</at>"#),
        "{text}"
    );
    // The lead's own number stays masked whatever else the message holds.
    for request in [
        &wecom.received()[0],
        &dingtalk.received()[0],
        &feishu.received()[0],
    ] {
        assert!(
            !request.text().contains("13800138000"),
            "{}",
            request.text()
        );
    }
}
