//! Delivery to other systems: destinations, each kind's wire format and signature (checked
//! here from the platforms' documented formulas, not with the server's signer), masking,
//! order, filters, retries, dead destinations, pacing, metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::*;
use crate::receiver::{Received, Receiver};

const NODE: &str = "booth-1";

/// A server that may send to 127.0.0.1 (the test receivers), retrying after 50 ms.
async fn spawn() -> TestApp {
    spawn_app_with(|c| {
        c.allow_private_destinations = true;
        c.delivery_retry_delays = vec![Duration::from_millis(50); 9];
        c.node_id = NODE.into();
    })
    .await
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

impl TestApp {
    /// Creates a destination, asserting 201; returns its JSON.
    pub(crate) async fn add_destination(&self, body: Value) -> Value {
        let (status, value) = json_body(self.admin_post("/api/destinations", &body).await).await;
        assert_eq!(status, 201, "create destination: {value}");
        value
    }

    async fn destination(&self, id: &Value) -> Value {
        let (status, value) = json_body(
            self.admin_get(&format!("/api/destinations/{}", id.as_str().unwrap()))
                .await,
        )
        .await;
        assert_eq!(status, 200, "{value}");
        value
    }

    /// Waits (at most 10 s) until the destination's JSON satisfies `done`.
    pub(crate) async fn wait_destination(
        &self,
        id: &Value,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let shown = self.destination(id).await;
            if done(&shown) {
                return shown;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "destination never got there: {shown}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn a_webhook_gets_each_event_signed_as_standard_webhooks_say() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::answering(200, "{}").await;
    let key = b"0123456789abcdef-secret-key";
    let secret = format!("whsec_{}", BASE64.encode(key));
    let created = app
        .add_destination(json!({"name": "CRM", "kind": "webhook",
            "url": receiver.url("/hooks/leadgate"), "secret": secret}))
        .await;
    assert_eq!(created["secret_set"], true);
    assert!(
        !created.to_string().contains(&secret[6..]),
        "the secret is never shown: {created}"
    );
    assert_eq!(created["state"], "ok");

    let lead_id = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let got = receiver.wait_for(1).await;
    let request = &got[0];
    assert_eq!(request.target, "/hooks/leadgate");
    let event = request.json();
    assert_eq!(event["type"], "lead.created");
    assert_eq!(event["node"], NODE);
    assert_eq!(event["data"]["id"], lead_id.as_str());
    assert_eq!(event["data"]["campaign"], "expo");
    let id = request.header("webhook-id").unwrap();
    assert_eq!(event["id"], id);
    assert_ulid(id);
    let timestamp = request.header("webhook-timestamp").unwrap();
    let sent_at: i64 = timestamp.parse().unwrap();
    assert!((jiff::Timestamp::now().as_second() - sent_at).abs() < 60);
    // The receiver's check: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the decoded key.
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let expected = format!("v1,{}", BASE64.encode(hmac_sha256(key, &signed)));
    assert_eq!(request.header("webhook-signature"), Some(expected.as_str()));

    // The lead as GET /api/leads/{id} shows it.
    let (_, shown) = json_body(app.admin_get(&format!("/api/leads/{lead_id}")).await).await;
    assert_eq!(event["data"], shown);
    let after = app
        .wait_destination(&created["id"], |d| d["delivered"] == 1)
        .await;
    assert_eq!(after["backlog"], 0);
    assert_eq!(after["failed"], 0);
    assert!(after["last_delivered_at"].is_string());
}

#[tokio::test]
async fn a_secret_without_the_prefix_is_used_as_raw_bytes() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::answering(204, "").await;
    app.add_destination(json!({"name": "CRM", "kind": "webhook",
        "url": receiver.url("/"), "secret": "plain-secret"}))
        .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let request = &receiver.wait_for(1).await[0];
    let id = request.header("webhook-id").unwrap();
    let timestamp = request.header("webhook-timestamp").unwrap();
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let expected = format!(
        "v1,{}",
        BASE64.encode(hmac_sha256(b"plain-secret", &signed))
    );
    assert_eq!(request.header("webhook-signature"), Some(expected.as_str()));
}

/// A lead with every kind of personal detail a chat must not show in full.
fn personal_lead() -> Value {
    json!({"phone": "13800138000", "name": "张三", "email": "zhang.san@example.com",
        "consent": true, "utm_source": "douyin", "utm_medium": "live"})
}

fn assert_masked(text: &str) {
    for secret in [
        "13800138000",
        "8613800138000",
        "zhang.san@example.com",
        "zhang.san",
    ] {
        assert!(!text.contains(secret), "{secret} in a chat body: {text}");
    }
    assert!(text.contains("138****8000"), "masked phone missing: {text}");
    assert!(
        text.contains("z***@example.com"),
        "masked e-mail missing: {text}"
    );
}

#[tokio::test]
async fn wecom_gets_masked_markdown() {
    let app = spawn().await;
    app.create_campaign("expo", json!({"name": "上海车展"}))
        .await;
    let receiver = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    app.add_destination(json!({"name": "销售群", "kind": "wecom",
        "url": receiver.url("/cgi-bin/webhook/send?key=abc")}))
        .await;
    let lead_id = app.submit_json_ok("expo", &personal_lead()).await;
    let request = &receiver.wait_for(1).await[0];
    assert_eq!(request.target, "/cgi-bin/webhook/send?key=abc");
    let body = request.json();
    assert_eq!(body["msgtype"], "markdown");
    let content = body["markdown"]["content"].as_str().unwrap();
    assert_masked(&request.text());
    assert!(content.contains("上海车展"), "{content}");
    assert!(content.contains("张三"), "{content}");
    assert!(content.contains("douyin"), "{content}");
    assert!(
        content.contains(&format!("{}/admin/leads", app.base)),
        "{content}"
    );
    assert!(content.contains(&lead_id), "{content}");
}

#[tokio::test]
async fn dingtalk_is_signed_in_the_address_and_masked() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let secret = "SEC0123456789abcdef";
    app.add_destination(json!({"name": "钉钉群", "kind": "dingtalk",
        "url": receiver.url("/robot/send?access_token=tok"), "secret": secret}))
        .await;
    app.submit_json_ok("expo", &personal_lead()).await;
    let request = &receiver.wait_for(1).await[0];
    assert_eq!(request.query("access_token").as_deref(), Some("tok"));
    let timestamp = request.query("timestamp").expect("timestamp");
    let ms: i64 = timestamp.parse().unwrap();
    assert!((jiff::Timestamp::now().as_millisecond() - ms).abs() < 60_000);
    // DingTalk's check: base64 HMAC-SHA256 with the secret as key over "{timestamp}\n{secret}".
    let expected = BASE64.encode(hmac_sha256(
        secret.as_bytes(),
        format!("{timestamp}\n{secret}").as_bytes(),
    ));
    assert_eq!(request.query("sign"), Some(expected));
    let body = request.json();
    assert_eq!(body["msgtype"], "markdown");
    assert!(body["markdown"]["title"].is_string());
    assert_masked(&request.text());
}

#[tokio::test]
async fn feishu_is_signed_in_the_body_and_masked() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::answering(200, r#"{"code":0,"msg":"success"}"#).await;
    let secret = "feishu-secret";
    app.add_destination(json!({"name": "飞书群", "kind": "feishu",
        "url": receiver.url("/open-apis/bot/v2/hook/x"), "secret": secret}))
        .await;
    app.submit_json_ok("expo", &personal_lead()).await;
    let request = &receiver.wait_for(1).await[0];
    let body = request.json();
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    // Feishu's check: base64 HMAC-SHA256 keyed with "{timestamp}\n{secret}" over nothing.
    let expected = BASE64.encode(hmac_sha256(
        format!("{timestamp}\n{secret}").as_bytes(),
        b"",
    ));
    assert_eq!(body["sign"], expected);
    assert_eq!(body["msg_type"], "text");
    assert!(body["content"]["text"].as_str().unwrap().contains("张三"));
    assert_masked(&request.text());
}

#[tokio::test]
async fn events_arrive_in_order_and_only_those_asked_for() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    app.create_campaign("live", json!({})).await;
    let all = Receiver::answering(200, "").await;
    let picky = Receiver::answering(200, "").await;
    app.add_destination(json!({"name": "all", "kind": "webhook", "url": all.url("/")}))
        .await;
    app.add_destination(
        json!({"name": "picky", "kind": "webhook", "url": picky.url("/"),
        "events": ["lead.updated", "conversion.recorded"], "campaigns": ["expo"]}),
    )
    .await;
    let mut expo_leads = Vec::new();
    for n in 0..5 {
        let slug = if n % 2 == 0 { "expo" } else { "live" };
        let id = app
            .submit_json_ok(slug, &lead(&mobile(n), &format!("客户{n}")))
            .await;
        if slug == "expo" {
            expo_leads.push(id);
        }
    }
    for id in &expo_leads {
        let resp = app
            .admin_patch(&format!("/api/leads/{id}"), &json!({"status": "mql"}))
            .await;
        assert_eq!(resp.status(), 200);
    }
    app.post_conversion(
        &json!({"id": "order-1", "lead_id": expo_leads[0], "stage": "won", "amount": "100.00"}),
        201,
    )
    .await;

    let everything = all.wait_for(5 + 3 + 1).await;
    let types: Vec<String> = everything
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        ["lead.created"; 5]
            .into_iter()
            .chain(["lead.updated"; 3])
            .chain(["conversion.recorded"])
            .collect::<Vec<_>>()
    );
    // In the order they happened: event ids are ULIDs, rising.
    let ids: Vec<String> = everything
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let wanted = picky.wait_for(3 + 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let wanted_now = picky.received();
    assert_eq!(
        wanted_now.len(),
        4,
        "only expo's updates and the conversion"
    );
    let events: Vec<Value> = wanted.iter().map(Received::json).collect();
    for (event, id) in events.iter().zip(&expo_leads) {
        assert_eq!(event["type"], "lead.updated");
        assert_eq!(event["data"]["id"], id.as_str());
    }
    assert_eq!(events[3]["type"], "conversion.recorded");
    assert_eq!(events[3]["data"]["id"], "order-1");
}

/// Many more events than a read-ahead (256) that a destination does not want, written in one
/// commit before one it does: it reads on through them instead of waiting for the next
/// commit to wake it, and its backlog empties.
#[tokio::test]
async fn a_long_run_of_unwanted_events_does_not_hold_up_a_wanted_one() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    app.create_campaign("live", json!({})).await;
    let picky = Receiver::answering(200, "").await;
    let destination = app
        .add_destination(
            json!({"name": "picky", "kind": "webhook", "url": picky.url("/"), "campaigns": ["expo"]}),
        )
        .await;
    let mut csv = String::from("campaign,name,phone\r\n");
    for n in 0..2000 {
        csv += &format!("live,观众,{}\r\n", mobile(n));
    }
    csv += &format!("expo,展会客户,{}\r\n", mobile(999));
    let imported = app.import_leads_csv(&csv).await;
    assert_eq!(imported["imported"], 2001, "{imported}");
    let wanted = picky.wait_for(1).await;
    assert_eq!(wanted[0].json()["data"]["campaign"], "expo");
    app.wait_destination(&destination["id"], |d| d["backlog"] == 0)
        .await;
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_the_same_event() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::scripted(Arc::new(|n| {
        if n < 2 {
            (500, "down".into())
        } else {
            (200, "".into())
        }
    }))
    .await;
    let created = app
        .add_destination(json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/")}))
        .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let got = receiver.wait_for(3).await;
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    let shown = app
        .wait_destination(&created["id"], |d| d["delivered"] == 1)
        .await;
    assert_eq!(shown["failed"], 2);
    assert_eq!(shown["state"], "ok");
    assert_eq!(shown["last_error"], Value::Null, "cleared by the delivery");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"leadgate_deliveries_total{kind="webhook",result="failed"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"leadgate_deliveries_total{kind="webhook",result="delivered"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"leadgate_delivery_backlog{kind="webhook"} 0"#),
        "{metrics}"
    );
}

/// An erasure makes every destination read its queue again (waiting events may hold the
/// person's details). A destination waiting to retry keeps waiting: once each erasure counted
/// as an attempt, and four erasures in a row made it dead within seconds.
#[tokio::test]
async fn erasures_do_not_hurry_a_waiting_retry() {
    let app = spawn_app_with(|c| {
        c.allow_private_destinations = true;
        c.delivery_retry_delays = vec![Duration::from_secs(3600); 3];
    })
    .await;
    app.create_campaign("expo", json!({})).await;
    let down = Receiver::answering(500, "down").await;
    let failing = app
        .add_destination(json!({"name": "CRM", "kind": "webhook", "url": down.url("/")}))
        .await;
    let up = Receiver::answering(200, "").await;
    app.add_destination(json!({"name": "BI", "kind": "webhook", "url": up.url("/")}))
        .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    app.wait_destination(&failing["id"], |d| d["failed"] == 1)
        .await;
    let phones = ["13800138001", "13800138002", "13800138003", "13800138004"];
    for phone in phones {
        app.submit_json_ok("expo", &lead(phone, "李四")).await;
        let response = app
            .admin_post("/api/erasures", &json!({"phone": phone}))
            .await;
        assert_eq!(response.status(), 200);
    }
    // The other destination got every lead and every erasure, each once.
    let got = up.wait_for(1 + 2 * phones.len()).await;
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "an event delivered twice");
    let shown = app
        .wait_destination(&failing["id"], |d| d["backlog"] == 9)
        .await;
    assert_eq!(shown["state"], "retrying", "{shown}");
    assert_eq!(shown["failed"], 1, "{shown}");
    assert!(shown["next_attempt_at"].is_string(), "{shown}");
    assert_eq!(down.received().len(), 1, "attempts at the failing receiver");
}

#[tokio::test]
async fn a_chat_platform_error_code_is_a_failure() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::scripted(Arc::new(|n| {
        if n == 0 {
            (
                200,
                r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#.into(),
            )
        } else {
            (200, r#"{"errcode":0,"errmsg":"ok"}"#.into())
        }
    }))
    .await;
    let created = app
        .add_destination(
            json!({"name": "销售群", "kind": "wecom", "url": receiver.url("/send?key=k")}),
        )
        .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    receiver.wait_for(2).await;
    let shown = app
        .wait_destination(&created["id"], |d| d["delivered"] == 1)
        .await;
    assert_eq!(shown["failed"], 1);
}

#[tokio::test]
async fn gone_makes_a_destination_dead_until_told_to_retry() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let (receiver, answers) = Receiver::switchable(410).await;
    let created = app
        .add_destination(json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/")}))
        .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let dead = app
        .wait_destination(&created["id"], |d| d["state"] == "dead")
        .await;
    assert_eq!(dead["backlog"], 1, "the backlog is kept");
    assert!(
        dead["last_error"].as_str().unwrap().contains("410"),
        "{dead}"
    );
    assert_eq!(receiver.received().len(), 1, "no retries after a 410");
    // More leads wait too.
    app.submit_json_ok("expo", &lead("13800138001", "李四"))
        .await;
    let still = app.destination(&created["id"]).await;
    assert_eq!(still["state"], "dead");

    answers.store(200, Ordering::SeqCst);
    let resp = app
        .admin_post(
            &format!(
                "/api/destinations/{}/retry",
                created["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let revived = app
        .wait_destination(&created["id"], |d| d["delivered"] == 2)
        .await;
    assert_eq!(revived["state"], "ok");
    assert_eq!(revived["backlog"], 0);
}

#[tokio::test]
async fn one_receiver_down_does_not_hold_up_another() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    // A port with nothing listening: every attempt is refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let down = app
        .add_destination(json!({"name": "down", "kind": "webhook",
            "url": format!("http://127.0.0.1:{closed}/")}))
        .await;
    let up = Receiver::answering(200, "").await;
    app.add_destination(json!({"name": "up", "kind": "webhook", "url": up.url("/")}))
        .await;
    for n in 0..5 {
        app.submit_json_ok("expo", &lead(&mobile(n), "客户")).await;
    }
    assert_eq!(up.wait_for(5).await.len(), 5);
    let shown = app
        .wait_destination(&down["id"], |d| d["failed"].as_u64() >= Some(2))
        .await;
    assert_eq!(shown["backlog"], 5);
    assert_eq!(shown["delivered"], 0);
    assert!(shown["last_error"].is_string(), "{shown}");
}

/// A 企业微信 robot, then `leads` new leads at once (one import is one transaction).
async fn burst_to_a_robot(app: &TestApp, leads: usize) -> (Receiver, Value) {
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let robot = app
        .add_destination(
            json!({"name": "销售群", "kind": "wecom", "url": receiver.url("/send?key=k")}),
        )
        .await;
    let mut csv = String::from("campaign,phone,name\n");
    for n in 0..leads {
        csv.push_str(&format!("expo,{},客户{n}\n", mobile(n)));
    }
    let summary = app.import_leads_csv(&csv).await;
    assert_eq!(summary["imported"], leads, "{summary}");
    (receiver, robot)
}

#[tokio::test]
async fn a_burst_reaches_a_robot_in_at_most_twenty_messages() {
    let app = spawn().await;
    let (receiver, _) = burst_to_a_robot(&app, 30).await;
    let got = receiver.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_now = receiver.received();
    assert_eq!(
        got_now.len(),
        got.len(),
        "no message beyond the twentieth in the minute"
    );
    assert_eq!(got.len(), 20);
    // Nineteen leads on their own, the other eleven in the digest.
    let mut singles = 0;
    let mut folded = 0;
    for request in &got {
        let content = request.json()["markdown"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        if let Some(rest) = content.split("另有 ").nth(1) {
            folded += rest.split(' ').next().unwrap().parse::<usize>().unwrap();
        } else {
            singles += 1;
        }
        for n in 0..30 {
            assert!(!content.contains(&mobile(n)), "full phone in {content}");
        }
    }
    assert_eq!((singles, folded), (19, 11));
}

#[tokio::test]
async fn a_robot_far_behind_folds_the_whole_backlog_into_its_digest() {
    let app = spawn().await;
    // More than the worker reads ahead.
    let (receiver, robot) = burst_to_a_robot(&app, 600).await;
    let got = receiver.wait_for(20).await;
    let digest = got[19].json()["markdown"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(digest.contains("另有 581 条新线索"), "{digest}");
    assert!(digest.contains("以及其他 571 条"), "{digest}");
    let shown = app
        .wait_destination(&robot["id"], |d| d["backlog"] == 0)
        .await;
    assert_eq!(shown["delivered"], 600, "{shown}");
}

#[tokio::test]
async fn private_addresses_are_refused_without_the_flag() {
    let app = spawn_app().await;
    let receiver = Receiver::answering(200, "").await;
    for url in [
        receiver.url("/"),
        "http://localhost:9/".to_owned(),
        "http://10.1.2.3/hook".to_owned(),
        "http://[::1]:8080/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let resp = app
            .admin_post(
                "/api/destinations",
                &json!({"name": "x", "kind": "webhook", "url": url}),
            )
            .await;
        let error = assert_error(resp, 422, Some("url")).await;
        assert_eq!(error["error"]["code"], "private_address", "{url}: {error}");
    }
    let (_, list) = json_body(app.admin_get("/api/destinations").await).await;
    assert_eq!(list["destinations"], json!([]));
}

#[tokio::test]
async fn destinations_are_listed_changed_tested_and_deleted() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    let receiver = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let created = app
        .add_destination(
            json!({"name": "销售群", "kind": "wecom", "url": receiver.url("/send?key=k"),
            "campaigns": ["expo"]}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_ulid(&id);
    assert_eq!(created["campaigns"], json!(["expo"]));
    assert_eq!(
        created["events"],
        json!([
            "lead.created",
            "lead.updated",
            "conversion.recorded",
            "contact.erased",
            "lead.overdue",
            "report.roi"
        ])
    );
    let (_, list) = json_body(app.admin_get("/api/destinations").await).await;
    assert_eq!(list["destinations"][0]["id"], id.as_str());

    // Test: one test message at once, and the receiver's answer.
    let (status, tested) = json_body(
        app.admin_post(&format!("/api/destinations/{id}/test"), &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["status"], 200);
    assert_eq!(tested["body"], r#"{"errcode":0,"errmsg":"ok"}"#);
    assert_eq!(tested["delivered"], true);
    let request = &receiver.wait_for(1).await[0];
    assert!(request.text().contains("测试"), "{}", request.text());

    // Patch: a bad change changes nothing; a good one applies.
    let resp = app
        .admin_patch(
            &format!("/api/destinations/{id}"),
            &json!({"events": ["lead.exploded"]}),
        )
        .await;
    assert_error(resp, 422, Some("events")).await;
    let (status, patched) = json_body(
        app.admin_patch(
            &format!("/api/destinations/{id}"),
            &json!({"enabled": false, "name": "新名字"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "新名字");
    assert_eq!(patched["campaigns"], json!(["expo"]));
    let disabled = app
        .wait_destination(&created["id"], |d| d["state"] == "disabled")
        .await;
    assert_eq!(disabled["enabled"], false);

    // Errors.
    for (body, field, code) in [
        (
            json!({"name": "x", "kind": "slack", "url": "https://a.example/"}),
            "kind",
            "invalid_kind",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": "ftp://a.example/"}),
            "url",
            "invalid_url",
        ),
        (
            json!({"name": "x", "kind": "wecom", "url": receiver.url("/"), "secret": "s"}),
            "secret",
            "invalid_secret",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": receiver.url("/"), "campaigns": ["nope"]}),
            "campaigns",
            "unknown_campaign",
        ),
        (
            json!({"kind": "webhook", "url": receiver.url("/")}),
            "name",
            "required",
        ),
        (
            json!({"name": "x", "kind": "webhook", "url": receiver.url("/"), "colour": 1}),
            "colour",
            "unknown_field",
        ),
    ] {
        let error = assert_error(
            app.admin_post("/api/destinations", &body).await,
            422,
            Some(field),
        )
        .await;
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
    }
    let unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    for resp in [
        app.admin_get(&format!("/api/destinations/{unknown}")).await,
        app.admin_get("/api/destinations/not-an-id").await,
        app.admin_delete(&format!("/api/destinations/{unknown}"))
            .await,
        app.admin_post(&format!("/api/destinations/{unknown}/test"), &json!({}))
            .await,
    ] {
        assert_error(resp, 404, None).await;
    }

    let resp = app.admin_delete(&format!("/api/destinations/{id}")).await;
    assert_eq!(resp.status(), 204);
    assert_error(
        app.admin_get(&format!("/api/destinations/{id}")).await,
        404,
        None,
    )
    .await;
}

#[tokio::test]
async fn a_test_of_an_unreachable_receiver_says_why() {
    let app = spawn().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let created = app
        .add_destination(json!({"name": "down", "kind": "webhook",
            "url": format!("http://127.0.0.1:{closed}/")}))
        .await;
    let (status, tested) = json_body(
        app.admin_post(
            &format!("/api/destinations/{}/test", created["id"].as_str().unwrap()),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tested["status"], Value::Null);
    assert_eq!(tested["delivered"], false);
    assert!(
        tested["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{tested}"
    );
}
