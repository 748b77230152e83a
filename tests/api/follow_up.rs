//! Follow-ups: activities, a lead's first follow-up, and overdue reminders with an injected
//! clock, also across a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use leadgate::clock::Clock;
use leadgate::config::Config;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::Receiver;

/// A clock the test moves by hand.
#[derive(Clone)]
struct HandClock(Arc<Mutex<jiff::Timestamp>>);

impl HandClock {
    fn new() -> HandClock {
        HandClock(Arc::new(Mutex::new(jiff::Timestamp::now())))
    }

    fn advance(&self, hours: i64) {
        let mut now = self.0.lock().unwrap();
        *now = now
            .checked_add(jiff::SignedDuration::from_hours(hours))
            .unwrap();
    }

    fn configure(&self, config: &mut Config) {
        let now = self.0.clone();
        config.clock = Clock::new(move || *now.lock().unwrap());
        config.follow_up_check = Duration::from_millis(20);
        config.allow_private_destinations = true;
    }
}

impl TestApp {
    async fn add_activity(&self, lead_id: &str, body: Value) -> (u16, Value) {
        json_body(
            self.admin_post(&format!("/api/leads/{lead_id}/activities"), &body)
                .await,
        )
        .await
    }
}

/// The `lead.overdue` events a receiver got, by lead id.
fn overdue_leads(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|e| e["type"] == "lead.overdue")
        .map(|e| e["data"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn activities_are_recorded_in_time_order_and_checked() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let id = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let (status, call) = app
        .add_activity(&id, json!({"kind": "call", "note": "约了周五\n到店"}))
        .await;
    assert_eq!(status, 201, "{call}");
    assert_eq!(call["lead_id"], id.as_str());
    assert_eq!(call["note"], "约了周五\n到店");
    let (status, _) = app.add_activity(&id, json!({"kind": "message"})).await;
    assert_eq!(status, 201);
    let (_, list) = json_body(app.admin_get(&format!("/api/leads/{id}/activities")).await).await;
    let kinds: Vec<&str> = list["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["call", "message"]);

    for (body, field, code) in [
        (json!({"kind": "lunch"}), "kind", "invalid_value"),
        (
            json!({"kind": "call", "at": "2999-01-01T00:00:00Z"}),
            "at",
            "in_future",
        ),
        (
            json!({"kind": "call", "at": "2001-01-01T00:00:00Z"}),
            "at",
            "before_lead",
        ),
    ] {
        let resp = app
            .admin_post(&format!("/api/leads/{id}/activities"), &body)
            .await;
        let error = assert_error(resp, 422, Some(field)).await;
        assert_eq!(error["error"]["code"], code);
    }
    let unknown = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let resp = app
        .admin_post(
            &format!("/api/leads/{unknown}/activities"),
            &json!({"kind": "call"}),
        )
        .await;
    assert_error(resp, 404, None).await;
}

#[tokio::test]
async fn a_lead_nobody_follows_up_is_reminded_of_once_even_across_a_restart() {
    let clock = HandClock::new();
    let app = spawn_app_with(|c| clock.configure(c)).await;
    let person = app
        .add_salesperson(json!({"name": "王芳", "wecom_userid": "wangfang"}))
        .await;
    app.create_campaign(
        "expo",
        json!({"follow_up_hours": 1, "owner": person, "assign": {"mode": "owner"}}),
    )
    .await;
    let webhook = Receiver::answering(200, "").await;
    let robot = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    for (kind, receiver) in [("webhook", &webhook), ("wecom", &robot)] {
        let resp = app
            .admin_post(
                "/api/destinations",
                &json!({"name": kind, "kind": kind, "url": receiver.url("/"), "events": ["lead.overdue"]}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let called = app.submit_json_ok("expo", &lead(&mobile(1), "甲")).await;
    let moved_on = app.submit_json_ok("expo", &lead(&mobile(2), "乙")).await;
    let forgotten = app.submit_json_ok("expo", &lead(&mobile(3), "丙")).await;
    let later = app.submit_json_ok("expo", &lead(&mobile(4), "丁")).await;
    let (status, _) = app.add_activity(&called, json!({"kind": "call"})).await;
    assert_eq!(status, 201);
    let resp = app
        .admin_patch(&format!("/api/leads/{moved_on}"), &json!({"status": "mql"}))
        .await;
    assert_eq!(resp.status(), 200);

    // Not yet due: nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(overdue_leads(&webhook).is_empty());

    // Two hours on, the two nobody followed up are reminded of, once each.
    clock.advance(2);
    let got = webhook.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut reminded = overdue_leads(&webhook);
    reminded.sort();
    let mut expected = vec![forgotten.clone(), later.clone()];
    expected.sort();
    assert_eq!(reminded, expected, "{got:?}");
    let event = got[0].json();
    assert_eq!(event["data"]["assigned_to_name"], "王芳");
    // The robot tells the salesperson, by mention.
    let nudge = robot.wait_for(1).await[0].json();
    let content = nudge["markdown"]["content"].as_str().unwrap().to_owned();
    assert!(content.contains("超时未跟进"), "{content}");
    assert!(content.contains("<@wangfang>"), "{content}");

    // A late follow-up is no second reminder.
    let (status, _) = app.add_activity(&later, json!({"kind": "visit"})).await;
    assert_eq!(status, 201);

    // A lead due while the server is down is reminded of when it starts again, once.
    let due_later = app.submit_json_ok("expo", &lead(&mobile(5), "戊")).await;
    let dir = app.stop().await;
    clock.advance(2);
    let app = spawn_app_in(dir, |c| clock.configure(c)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !overdue_leads(&webhook).contains(&due_later) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reminder after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = app.stop().await;
    clock.advance(24);
    let app = spawn_app_in(dir, |c| clock.configure(c)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reminded = overdue_leads(&webhook);
    assert_eq!(reminded.len(), 3, "each lead once: {reminded:?}");
    drop(app);
}

#[tokio::test]
async fn the_roi_summary_shows_how_fast_and_how_often_leads_were_followed_up() {
    let app = spawn_app_with(|c| c.follow_up_check = Duration::from_millis(20)).await;
    app.create_campaign("expo", json!({"follow_up_hours": 24}))
        .await;
    app.create_campaign("live", json!({})).await;
    let summary = app
        .import_leads_csv(
            "campaign,received_at,name,phone\n\
             live,2025-02-20T10:00:00+08:00,甲,13900000001\n\
             expo,2025-03-01T10:00:00+08:00,甲,13900000001\n\
             expo,2025-03-01T12:00:00+08:00,乙,13900000002\n\
             expo,2025-03-02T09:00:00+08:00,丙,13900000003\n\
             expo,2025-03-02T10:00:00+08:00,丁,13900000004\n",
        )
        .await;
    assert_eq!(summary["imported"], 5, "{summary}");
    let leads = app.all_leads("expo").await;
    let id_of = |name: &str| -> String {
        leads.iter().find(|l| l["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // 甲: called after 1.5 h, visited the next day; 乙: called after 48 h (late);
    // 丙: never; 丁: messaged after 0.5 h.
    for (name, kind, at) in [
        ("甲", "call", "2025-03-01T11:30:00+08:00"),
        ("甲", "visit", "2025-03-02T10:00:00+08:00"),
        ("乙", "call", "2025-03-03T12:00:00+08:00"),
        ("丁", "message", "2025-03-02T10:30:00+08:00"),
    ] {
        let (status, body) = app
            .add_activity(&id_of(name), json!({"kind": kind, "at": at}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // An open deal of 10,000 for 甲 (who came from live first), and a won order for 丁.
    app.post_conversion(
        &json!({"id": "D-1", "phone": "13900000001", "stage": "deal", "amount": "10000.00",
            "occurred_at": "2025-03-05T10:00:00+08:00"}),
        201,
    )
    .await;
    app.post_conversion(
        &json!({"id": "O-1", "phone": "13900000004", "stage": "won", "amount": "5000.00",
            "occurred_at": "2025-03-06T10:00:00+08:00"}),
        201,
    )
    .await;

    // 丙's deadline (03-03 09:00) passed long ago: the checker counts it.
    let query = "from=2025-03-01&to=2025-03-31";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let report = loop {
        let report = app.roi(query).await;
        if roi_row(&report, "expo")["overdue_leads"] == 2 {
            break report;
        }
        assert!(tokio::time::Instant::now() < deadline, "{report}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let expo = roi_row(&report, "expo");
    assert_num(expo, "leads", 4.0);
    assert_num(expo, "followed_up_pct", 75.0);
    // (1.5 + 48 + 0.5) / 3 = 16.666… hours.
    assert_num(expo, "avg_response_hours", 16.67);
    assert_num(expo, "avg_follow_ups", 1.0);
    assert_num(expo, "overdue_leads", 2.0);
    assert_money(expo, "pipeline", "10000.00");
    let live = roi_row(&report, "live");
    assert_money(live, "pipeline", "0.00");
    assert_null(live, "avg_response_hours");
    assert_null(live, "followed_up_pct");

    // The pipeline is credited by the model, like revenue.
    let linear = app.roi(&format!("{query}&model=linear")).await;
    assert_money(roi_row(&linear, "expo"), "pipeline", "5000.00");
    assert_money(roi_row(&linear, "live"), "pipeline", "5000.00");
    let first = app.roi(&format!("{query}&model=first_touch")).await;
    assert_money(roi_row(&first, "live"), "pipeline", "10000.00");
    assert_money(roi_row(&first, "expo"), "pipeline", "0.00");
    // Won is no pipeline.
    assert_money(&linear["totals"]["CNY"], "pipeline", "10000.00");

    // The same figures in the CSV.
    let records = excel_csv(&app.roi_csv(query).await);
    assert_csv_matches_json(&records, &report, "TOTAL");
}

/// `overdue_leads` counts a lead whose deadline has passed as soon as it has passed, not
/// when the once-a-minute check next runs: here the check waits an hour, and a lead
/// imported three hours after it was received is overdue in the very next report.
#[tokio::test]
async fn a_report_counts_a_deadline_passed_before_the_check_sees_it() {
    let app = spawn_app_with(|c| c.follow_up_check = Duration::from_secs(3600)).await;
    app.create_campaign("fu", json!({"follow_up_hours": 1}))
        .await;
    let received = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
    let summary = app
        .import_leads_csv(&format!(
            "campaign,received_at,phone\nfu,{received},13944440001\n"
        ))
        .await;
    assert_eq!(summary["imported"], 1, "{summary}");
    // Every day, so a test run just after midnight still counts the lead.
    let all_days = "from=2000-01-01&to=2099-12-31";
    let report = app.roi(all_days).await;
    let row = roi_row(&report, "fu");
    assert_num(row, "leads", 1.0);
    assert_num(row, "overdue_leads", 1.0);
    // Counted once: the next report, and the check when it comes, add nothing.
    let again = app.roi(all_days).await;
    assert_num(roi_row(&again, "fu"), "overdue_leads", 1.0);
}

/// "In the future" is one error code wherever a time is given (a follow-up's `at`, a
/// conversion's `occurred_at`), so a client handles it once.
#[tokio::test]
async fn a_time_in_the_future_is_refused_with_one_code_everywhere() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let id = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let later = "2999-01-01T00:00:00Z";
    let (status, activity) = app
        .add_activity(&id, json!({"kind": "call", "at": later}))
        .await;
    assert_eq!(status, 422, "{activity}");
    let conversion = app
        .post_conversion(
            &json!({"id": "o-1", "lead_id": id, "stage": "deal", "occurred_at": later}),
            422,
        )
        .await;
    for (error, field) in [(activity, "at"), (conversion, "occurred_at")] {
        assert_eq!(error["error"]["code"], "in_future", "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
}
