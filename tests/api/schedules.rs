//! Scheduled ROI reports: `/api/report-schedules`, the scheduler firing at its time by an
//! injected clock (and not before), `run`, a report reaching its destination whatever its
//! filters (and no other destination), a missed report sent once after a restart, and
//! the Chinese text a chat robot gets.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use leadgate::clock::Clock;
use leadgate::config::Config;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::{Received, Receiver};

/// How often the scheduler looks in these tests.
const TICK: Duration = Duration::from_millis(50);

/// A clock the test moves by hand.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn at(time: &str) -> TestClock {
        let clock = TestClock(Arc::new(AtomicI64::new(0)));
        clock.set(time);
        clock
    }

    fn set(&self, time: &str) {
        let at: jiff::Timestamp = time.parse().unwrap();
        self.0.store(at.as_millisecond(), Ordering::SeqCst);
    }

    fn clock(&self) -> Clock {
        let ms = self.0.clone();
        Clock::new(move || jiff::Timestamp::from_millisecond(ms.load(Ordering::SeqCst)).unwrap())
    }
}

/// Settings for a server on `clock` that looks for due reports every [`TICK`] and may
/// send to the test receivers on 127.0.0.1.
fn settings(clock: &TestClock) -> impl FnOnce(&mut Config) {
    let clock = clock.clock();
    move |c| {
        c.allow_private_destinations = true;
        c.delivery_retry_delays = vec![Duration::from_millis(50); 9];
        c.clock = clock;
        c.schedule_tick = TICK;
    }
}

async fn spawn(clock: &TestClock) -> TestApp {
    spawn_app_with(settings(clock)).await
}

/// Long enough for the scheduler to look several times.
async fn quiet() {
    tokio::time::sleep(TICK * 8).await;
}

/// `date` at `time` in Asia/Shanghai, the default reporting zone.
fn shanghai(date: &str, time: &str) -> String {
    format!("{date}T{time}+08:00")
}

fn day_after(date: &str, days: i64) -> String {
    let date: jiff::civil::Date = date.parse().unwrap();
    date.checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

/// The reporting day (Asia/Shanghai) a lead was received on.
fn received_day(lead: &Value) -> String {
    let at: jiff::Timestamp = lead["received_at"].as_str().unwrap().parse().unwrap();
    at.in_tz("Asia/Shanghai").unwrap().date().to_string()
}

fn reports(received: &[Received]) -> Vec<Value> {
    received
        .iter()
        .map(Received::json)
        .filter(|e| e["type"] == "report.roi")
        .collect()
}

impl TestApp {
    async fn webhook(&self, receiver: &Receiver, extra: Value) -> String {
        let body = merge(
            json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/hook")}),
            extra,
        );
        let (status, value) = json_body(self.admin_post("/api/destinations", &body).await).await;
        assert_eq!(status, 201, "create destination: {value}");
        value["id"].as_str().unwrap().to_owned()
    }

    async fn schedule(&self, body: Value) -> Value {
        let (status, value) =
            json_body(self.admin_post("/api/report-schedules", &body).await).await;
        assert_eq!(status, 201, "create schedule {body}: {value}");
        value
    }

    async fn get_schedule(&self, id: &Value) -> Value {
        let path = format!("/api/report-schedules/{}", id.as_str().unwrap());
        let (status, value) = json_body(self.admin_get(&path).await).await;
        assert_eq!(status, 200, "{value}");
        value
    }

    async fn run_schedule(&self, id: &Value) -> Value {
        let path = format!("/api/report-schedules/{}/run", id.as_str().unwrap());
        let (status, value) = json_body(self.admin_post(&path, &json!({})).await).await;
        assert_eq!(status, 200, "{value}");
        value
    }

    /// Two leads, a cost and a won order on campaign `slug`; returns the leads' day.
    async fn trade(&self, slug: &str, phones: [&str; 2], cost: &str, revenue: &str) -> String {
        let first = self.submit_json_ok(slug, &lead(phones[0], "张三")).await;
        self.submit_json_ok(slug, &lead(phones[1], "李四")).await;
        let (_, shown) = json_body(self.admin_get(&format!("/api/leads/{first}")).await).await;
        let day = received_day(&shown);
        self.add_cost(slug, json!(cost), &day).await;
        self.post_conversion(
            &json!({"id": format!("order-{slug}"), "lead_id": first, "stage": "won",
                    "amount": revenue}),
            201,
        )
        .await;
        day
    }
}

#[tokio::test]
async fn a_daily_report_goes_out_at_its_time_to_its_destination_only() {
    // The leads are received now (the real clock); the report is for their day.
    let clock = TestClock::at("2000-01-01T00:00:00Z");
    let app = spawn(&clock).await;
    app.create_campaign("expo", json!({})).await;
    let sales = Receiver::answering(200, "{}").await;
    let crm = Receiver::answering(200, "{}").await;
    // Its filter takes new leads of another campaign only: the report comes all the same.
    app.create_campaign("other", json!({})).await;
    let sales_id = app
        .webhook(
            &sales,
            json!({"events": ["lead.created"], "campaigns": ["other"]}),
        )
        .await;
    app.webhook(&crm, json!({})).await;
    let day = app
        .trade("expo", ["13800138000", "13800138001"], "1000", "48500.50")
        .await;
    app.submit_json_ok("other", &lead("13800138002", "王五"))
        .await;
    clock.set(&shanghai(&day, "12:00:00"));

    let schedule = app
        .schedule(json!({"destination": sales_id, "every": "daily", "at": "09:00"}))
        .await;
    assert_ulid(schedule["id"].as_str().unwrap());
    assert_eq!(schedule["destination"], sales_id.as_str());
    assert_eq!(
        (&schedule["every"], &schedule["at"], &schedule["weekday"]),
        (&json!("daily"), &json!("09:00"), &Value::Null)
    );
    assert_eq!(
        (&schedule["model"], &schedule["group_by"]),
        (&json!("last_touch"), &json!("campaign"))
    );
    assert_eq!(schedule["last_run_for"], Value::Null);
    let next = day_after(&day, 1);
    assert_instant(&schedule["next_run_at"], &shanghai(&next, "09:00:00"));
    let (_, list) = json_body(app.admin_get("/api/report-schedules").await).await;
    assert_eq!(list["report_schedules"][0]["id"], schedule["id"]);

    // The lead of `other` is the sales group's only event so far.
    assert_eq!(sales.wait_for(1).await.len(), 1);
    clock.set(&shanghai(&next, "08:59:59"));
    quiet().await;
    assert_eq!(sales.received().len(), 1, "nothing before 09:00");
    assert_eq!(
        app.get_schedule(&schedule["id"]).await["last_run_for"],
        Value::Null
    );

    clock.set(&shanghai(&next, "09:00:00"));
    let got = sales.wait_for(2).await;
    let event = got[1].json();
    assert_eq!(event["type"], "report.roi");
    assert_eq!(got[1].header("webhook-id"), event["id"].as_str());
    assert_eq!(
        event["report"],
        json!({"schedule": schedule["id"], "every": "daily", "period": day, "from": day,
               "to": day, "group_by": "campaign"})
    );
    let api = app
        .roi(&format!(
            "from={day}&to={day}&model=last_touch&group_by=campaign"
        ))
        .await;
    assert_eq!(event["data"], api, "the report is GET /api/roi of that day");
    assert_money(roi_row(&api, "expo"), "revenue", "48500.50");
    assert_eq!(roi_row(&api, "expo")["leads"], 2);

    let shown = app.get_schedule(&schedule["id"]).await;
    assert_eq!(shown["last_run_for"], day.as_str());
    assert_instant(
        &shown["next_run_at"],
        &shanghai(&day_after(&day, 2), "09:00:00"),
    );
    assert!(shown["last_run_at"].is_string(), "{shown}");

    // Once per period: later looks send nothing more, and the CRM never gets it.
    quiet().await;
    assert_eq!(reports(&sales.received()).len(), 1);
    // Its own events: the three leads and the order.
    let crm_got = crm.wait_for(4).await;
    quiet().await;
    assert_eq!(crm.received().len(), crm_got.len());
    assert!(
        reports(&crm_got).is_empty(),
        "another destination gets no report"
    );
}

#[tokio::test]
async fn run_sends_the_week_or_month_before_today_now() {
    // Wednesday 6 January 2027, 10:00 in Shanghai: last week is 2026-W53.
    let clock = TestClock::at(&shanghai("2027-01-06", "10:00:00"));
    let app = spawn(&clock).await;
    let receiver = Receiver::answering(200, "{}").await;
    let destination = app.webhook(&receiver, json!({})).await;
    let weekly = app
        .schedule(
            json!({"destination": destination, "every": "weekly", "at": "09:00",
                         "weekday": "fri", "model": "linear", "group_by": "channel"}),
        )
        .await;
    assert_eq!(weekly["weekday"], "fri");
    // Its first report: on Friday, for last week.
    assert_instant(&weekly["next_run_at"], &shanghai("2027-01-08", "09:00:00"));

    let ran = app.run_schedule(&weekly["id"]).await;
    assert_eq!(
        ran["sent"]["period"], "2026-W53",
        "ISO 2026 has 53 weeks: {ran}"
    );
    assert_eq!(
        (&ran["sent"]["from"], &ran["sent"]["to"]),
        (&json!("2026-12-28"), &json!("2027-01-03"))
    );
    assert_eq!(ran["id"], weekly["id"]);
    assert_eq!(ran["last_run_for"], Value::Null, "a run is an extra send");
    let event = receiver.wait_for(1).await[0].json();
    assert_eq!(event["id"], ran["sent"]["event_id"]);
    assert_eq!(event["report"]["period"], "2026-W53");
    assert_eq!(event["report"]["group_by"], "channel");
    let api = app
        .roi("from=2026-12-28&to=2027-01-03&model=linear&group_by=channel")
        .await;
    assert_eq!(event["data"], api);

    let monthly = app
        .schedule(json!({"destination": destination, "every": "monthly", "at": "07:30"}))
        .await;
    assert_instant(&monthly["next_run_at"], &shanghai("2027-02-01", "07:30:00"));
    let ran = app.run_schedule(&monthly["id"]).await;
    assert_eq!(
        (
            &ran["sent"]["period"],
            &ran["sent"]["from"],
            &ran["sent"]["to"]
        ),
        (
            &json!("2026-12"),
            &json!("2026-12-01"),
            &json!("2026-12-31")
        )
    );
    let event = receiver.wait_for(2).await[1].json();
    assert_eq!(event["report"]["every"], "monthly");
    assert_eq!(
        event["data"],
        app.roi("from=2026-12-01&to=2026-12-31&model=last_touch&group_by=campaign")
            .await
    );
    let resp = app
        .admin_post(
            "/api/report-schedules/01JC0000000000000000000000/run",
            &json!({}),
        )
        .await;
    assert_error(resp, 404, None).await;
}

#[tokio::test]
async fn schedules_are_checked_listed_and_deleted_with_their_destination() {
    let clock = TestClock::at("2026-11-28T02:00:00Z");
    let app = spawn(&clock).await;
    let receiver = Receiver::answering(200, "{}").await;
    let destination = app.webhook(&receiver, json!({})).await;
    let base = json!({"destination": destination, "every": "daily", "at": "09:00"});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let weekly = with("every", json!("weekly"));
    for (body, field, code) in [
        (
            with("destination", json!("01JC0000000000000000000000")),
            "destination",
            "unknown_destination",
        ),
        (
            with("destination", json!("nope")),
            "destination",
            "unknown_destination",
        ),
        (with("at", json!("9:00")), "at", "invalid_time"),
        (with("at", json!("24:00")), "at", "invalid_time"),
        (weekly.clone(), "weekday", "required"),
        (
            merge(weekly, json!({"weekday": "someday"})),
            "weekday",
            "invalid_weekday",
        ),
        (with("weekday", json!("mon")), "weekday", "weekly_only"),
        (with("model", json!("newest")), "model", "invalid_model"),
        (with("group_by", json!("city")), "group_by", "invalid_value"),
        (with("every", json!("hourly")), "every", "invalid_value"),
        (with("colour", json!("red")), "colour", "unknown_field"),
        (
            json!({"every": "daily", "at": "09:00"}),
            "destination",
            "required",
        ),
    ] {
        let resp = app.admin_post("/api/report-schedules", &body).await;
        let error = assert_error(resp, 422, Some(field)).await;
        assert_eq!(error["error"]["code"], code, "{body}");
    }

    let first = app.schedule(base.clone()).await;
    let second = app.schedule(with("every", json!("monthly"))).await;
    let (_, list) = json_body(app.admin_get("/api/report-schedules").await).await;
    let ids: Vec<&Value> = list["report_schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&first["id"], &second["id"]]);
    assert_eq!(app.get_schedule(&first["id"]).await, first);

    let path = format!("/api/report-schedules/{}", first["id"].as_str().unwrap());
    assert_eq!(app.admin_delete(&path).await.status(), 204);
    assert_error(app.admin_get(&path).await, 404, None).await;
    assert_error(app.admin_delete(&path).await, 404, None).await;

    // Deleting the destination deletes its schedules.
    let resp = app
        .admin_delete(&format!("/api/destinations/{destination}"))
        .await;
    assert_eq!(resp.status(), 204);
    let (_, list) = json_body(app.admin_get("/api/report-schedules").await).await;
    assert_eq!(list["report_schedules"], json!([]));
    assert_error(
        app.admin_post("/api/report-schedules", &base).await,
        422,
        Some("destination"),
    )
    .await;
}

#[tokio::test]
async fn a_report_missed_while_down_is_sent_once_at_the_next_start() {
    let clock = TestClock::at(&shanghai("2026-11-28", "10:00:00"));
    let app = spawn(&clock).await;
    let receiver = Receiver::answering(200, "{}").await;
    let destination = app.webhook(&receiver, json!({})).await;
    let schedule = app
        .schedule(json!({"destination": destination, "every": "daily", "at": "09:00"}))
        .await;
    clock.set(&shanghai("2026-11-29", "09:00:00"));
    let first = reports(&receiver.wait_for(1).await);
    assert_eq!(first[0]["report"]["period"], "2026-11-28");
    let dir = app.stop().await;

    // Down from the 29th to 2 December at noon: the reports of the 29th, the 30th and the
    // 1st were missed. Only the latest goes out, once.
    clock.set(&shanghai("2026-12-02", "12:00:00"));
    let app = spawn_app_in(dir, settings(&clock)).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(reports(&got)[1]["report"]["period"], "2026-12-01");
    let shown = app.get_schedule(&schedule["id"]).await;
    assert_eq!(shown["last_run_for"], "2026-12-01");
    assert_instant(&shown["next_run_at"], &shanghai("2026-12-03", "09:00:00"));
    quiet().await;
    assert_eq!(receiver.received().len(), 2);

    // Another restart the same day sends nothing again.
    let dir = app.stop().await;
    let app = spawn_app_in(dir, settings(&clock)).await;
    assert_eq!(
        app.get_schedule(&schedule["id"]).await["last_run_for"],
        "2026-12-01"
    );
    quiet().await;
    assert_eq!(receiver.received().len(), 2, "sent once");
}

#[tokio::test]
async fn a_chat_robot_gets_the_report_in_chinese_with_the_top_rows() {
    let clock = TestClock::at("2000-01-01T00:00:00Z");
    let app = spawn(&clock).await;
    app.create_campaign("expo", json!({"name": "春季展会"}))
        .await;
    app.create_campaign("sem", json!({"name": "百度搜索"}))
        .await;
    let day = app
        .trade("expo", ["13800138000", "13800138001"], "12000", "48500.50")
        .await;
    app.trade("sem", ["13800138002", "13800138003"], "3000", "1200000")
        .await;
    clock.set(&shanghai(&day_after(&day, 1), "10:00:00"));

    let robot = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let (status, created) = json_body(
        app.admin_post(
            "/api/destinations",
            &json!({"name": "销售群", "kind": "wecom", "url": robot.url("/send?key=k"),
                    "events": ["lead.created"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let schedule = app
        .schedule(json!({"destination": created["id"], "every": "daily", "at": "09:00"}))
        .await;
    app.run_schedule(&schedule["id"]).await;

    let body = robot.wait_for(1).await[0].json();
    assert_eq!(body["msgtype"], "markdown");
    let text = body["markdown"]["content"].as_str().unwrap();
    assert!(text.starts_with(&format!("**ROI 日报 {day}**")), "{text}");
    assert!(
        text.contains("CNY · 成本 15,000.00 · 线索 4 · 订单 2 · 收入 1,248,500.50 · ROI 8223.34%"),
        "{text}"
    );
    let top1 = text.find(
        "TOP1 百度搜索 · 成本 3,000.00 · 线索 2 · 订单 1 · 收入 1,200,000.00 · ROI 39900.00%",
    );
    let top2 = text
        .find("TOP2 春季展会 · 成本 12,000.00 · 线索 2 · 订单 1 · 收入 48,500.50 · ROI 304.17%");
    assert!(top1.is_some() && top2 > top1, "{text}");
    assert!(
        text.contains(&format!(
            "{}/admin?from={day}&to={day}&model=last_touch&group_by=campaign",
            app.base
        )),
        "{text}"
    );
    for leaked in ["13800138000", "张三"] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
}
