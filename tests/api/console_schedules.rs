//! The console's scheduled-reports page (`/admin/schedules`): the list with each schedule's
//! rhythm, its last send and its next send in the reporting zone, the add form with the
//! API's messages next to the refused field, "send now", delete, the form tokens, both
//! languages. The schedule clock is set by the test, so the times shown are known. (The
//! leads page's back-dated follow-up is in `console_sales`, beside the follow-up control.)

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use leadgate::clock::Clock;
use serde_json::{Value, json};

use crate::console::{form_token, location, marked_field, page, post_form, post_plain};
use crate::helpers::{TestApp, json_body, spawn_app_with, urlencode};
use crate::receiver::Receiver;

/// Sunday 29 November 2026, 10:00 in Shanghai (the default reporting zone).
const NOW: &str = "2026-11-29T02:00:00Z";
const LIST: &str = "/admin/schedules";

/// A server whose schedule clock reads [`NOW`] and that may send to test receivers.
async fn spawn() -> TestApp {
    spawn_app_with(|c| {
        c.allow_private_destinations = true;
        c.clock = Clock::new(|| NOW.parse().unwrap());
    })
    .await
}

/// A webhook destination called `name` sending to `receiver`; its id.
async fn webhook(app: &TestApp, receiver: &Receiver, name: &str) -> String {
    let (status, body) = json_body(
        app.admin_post(
            "/api/destinations",
            &json!({"name": name, "kind": "webhook", "url": receiver.url("/"),
                "events": ["lead.created"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn api_schedules(app: &TestApp) -> Vec<Value> {
    let (status, body) = json_body(app.admin_get("/api/report-schedules").await).await;
    assert_eq!(status, 200, "{body}");
    body["report_schedules"].as_array().unwrap().clone()
}

/// Posts the add form with its token and `fields`.
async fn add(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    let html = page(app, LIST).await;
    let token = form_token(&html, LIST);
    let mut all = vec![("_csrf", token.as_str())];
    all.extend_from_slice(fields);
    post_form(app, LIST, &all).await
}

/// The list's row of schedule `id`.
fn schedule_row(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("<tr id=\"schedule-{id}\""))?;
    let rest = &html[start..];
    Some(rest[..rest.find("</tr>").unwrap_or(rest.len())].to_owned())
}

#[tokio::test]
async fn schedules_are_added_listed_sent_now_and_deleted_from_the_console() {
    let app = spawn().await;
    let html = page(&app, LIST).await;
    assert!(html.contains("还没有定时报表"), "empty list");
    assert!(
        html.contains("id=\"needs-destination\""),
        "no destination to choose yet: the page says where to add one"
    );
    let receiver = Receiver::answering(200, "{}").await;
    let destination = webhook(&app, &receiver, "销售群").await;

    // The only destination is chosen already; daily at 09:00 by default.
    let html = page(&app, LIST).await;
    assert!(!html.contains("id=\"needs-destination\""));
    assert!(html.contains(&format!(
        "<option value=\"{destination}\" selected>销售群</option>"
    )));
    assert!(html.contains("<option value=\"daily\" selected>每天</option>"));
    assert!(html.contains("name=\"at\" id=\"f-at\" value=\"09:00\""));
    assert!(
        html.contains("<strong>Asia/Shanghai</strong>"),
        "times are in the reporting zone"
    );
    assert!(
        html.contains("href=\"/admin/schedules\" class=\"on\""),
        "the console navigation links the page"
    );

    // Weekly on Friday at 18:30, linear, by channel.
    let resp = add(
        &app,
        &[
            ("destination", &destination),
            ("every", "weekly"),
            ("at", "18:30"),
            ("weekday", "fri"),
            ("model", "linear"),
            ("group_by", "channel"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/admin/schedules?saved=1");
    // Daily: the weekday select is on the form, but only a weekly report sends it.
    let resp = add(
        &app,
        &[
            ("destination", &destination),
            ("every", "daily"),
            ("at", "09:00"),
            ("weekday", "mon"),
            ("model", "last_touch"),
            ("group_by", "campaign"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let stored = api_schedules(&app).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    let (weekly, daily) = (&stored[0], &stored[1]);
    assert_eq!(
        (
            &weekly["destination"],
            &weekly["every"],
            &weekly["at"],
            &weekly["weekday"],
            &weekly["model"],
            &weekly["group_by"]
        ),
        (
            &json!(destination),
            &json!("weekly"),
            &json!("18:30"),
            &json!("fri"),
            &json!("linear"),
            &json!("channel")
        )
    );
    assert_eq!(daily["weekday"], Value::Null);
    let weekly_id = weekly["id"].as_str().unwrap().to_owned();
    let daily_id = daily["id"].as_str().unwrap().to_owned();

    // The list: destination, rhythm, report, never sent, next send in Shanghai time.
    let html = page(&app, "/admin/schedules?saved=1").await;
    assert!(html.contains("已添加"));
    let row = schedule_row(&html, &weekly_id).unwrap();
    for part in [
        "销售群",
        &format!("href=\"/admin/destinations/{destination}\""),
        "每周 周五 <strong>18:30</strong>",
        "线性 · 按渠道",
        "2026-12-04 18:30",
    ] {
        assert!(row.contains(part), "{part} in {row}");
    }
    let row = schedule_row(&html, &daily_id).unwrap();
    assert!(row.contains("每天 <strong>09:00</strong>"), "{row}");
    assert!(row.contains("末次触点 · 按活动"), "{row}");
    // Made at 10:00: today's 09:00 report was not its own; tomorrow's is.
    assert!(row.contains("2026-11-30 09:00"), "{row}");
    let english = page(&app, "/admin/schedules?lang=en").await;
    let row = schedule_row(&english, &weekly_id).unwrap();
    assert!(row.contains("Weekly Fri <strong>18:30</strong>"), "{row}");
    assert!(row.contains("Linear · By channel"), "{row}");
    assert!(english.contains("Send now") && english.contains("Scheduled reports"));

    // Send now: the week before today, to the destination, whatever its event filter.
    let action = format!("/admin/schedules/{weekly_id}/run");
    let resp = post_form(&app, &action, &[("_csrf", &form_token(&html, &action))]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("/admin/schedules?ran={weekly_id}"));
    let event = receiver.wait_for(1).await[0].json();
    assert_eq!(event["type"], "report.roi");
    assert_eq!(event["report"]["period"], "2026-W47");
    assert_eq!(event["report"]["group_by"], "channel");
    let html = page(&app, &location(&resp)).await;
    assert!(
        html.contains("报表已加入发送队列：销售群 · 2026-W47"),
        "the page says what went"
    );
    assert!(
        !html.contains("ran="),
        "the notice is not carried to the other language"
    );
    // An extra send: the schedule's own rhythm stays as it was.
    let row = schedule_row(&html, &weekly_id).unwrap();
    assert!(row.contains("2026-12-04 18:30"), "{row}");
    // A notice for a schedule that is not there says nothing.
    let before = page(&app, "/admin/schedules?ran=01JC0000000000000000000000").await;
    assert!(!before.contains("id=\"ran\""));
    let html = before.clone();

    // Delete: back to the list without it; the API agrees.
    let action = format!("/admin/schedules/{daily_id}/delete");
    let token = form_token(&html, &action);
    let resp = post_form(&app, &action, &[("_csrf", &token)]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/admin/schedules?deleted=1");
    let html = page(&app, "/admin/schedules?deleted=1").await;
    assert!(html.contains("已删除"));
    assert!(schedule_row(&html, &daily_id).is_none());
    assert!(schedule_row(&html, &weekly_id).is_some());
    let ids: Vec<Value> = api_schedules(&app)
        .await
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, [json!(weekly_id)]);
    // Pressed again from a page loaded before: gone, the console's 404 page, not a 500.
    let resp = post_form(&app, &action, &[("_csrf", &token)]).await;
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("找不到该内容"));
    let action = format!("/admin/schedules/{daily_id}/run");
    let resp = post_form(&app, &action, &[("_csrf", &form_token(&before, &action))]).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn a_refused_schedule_comes_back_with_the_apis_message_at_its_field() {
    let app = spawn().await;
    let receiver = Receiver::answering(200, "{}").await;
    let destination = webhook(&app, &receiver, "CRM").await;
    let base = [
        ("destination", destination.as_str()),
        ("every", "daily"),
        ("at", "09:00"),
        ("weekday", ""),
        ("model", "last_touch"),
        ("group_by", "campaign"),
    ];
    let with = |key: &str, value: &'static str| -> Vec<(&str, &str)> {
        base.iter()
            .map(|(k, v)| if *k == key { (*k, value) } else { (*k, *v) })
            .collect()
    };
    type Fields<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Fields, &str, &str)> = vec![
        (
            with("destination", "01JC0000000000000000000001"),
            "destination",
            "is not the id of a destination",
        ),
        (
            with("destination", ""),
            "destination",
            "destination is required",
        ),
        (
            with("at", "9:00"),
            "at",
            "at must be a time of day like 09:00 (HH:MM, 00:00 to 23:59)",
        ),
        (with("at", "24:00"), "at", "at must be a time of day"),
        (
            with("every", "weekly"),
            "weekday",
            "a weekly schedule needs weekday",
        ),
        (
            with("every", "hourly"),
            "every",
            "every must be one of daily, weekly, monthly",
        ),
        (with("model", "newest"), "model", "model must be one of"),
    ];
    for (fields, field, message) in cases {
        let resp = add(&app, &fields).await;
        assert_eq!(resp.status(), 422, "{fields:?}");
        let html = resp.text().await.unwrap();
        let marked =
            marked_field(&html, field).unwrap_or_else(|| panic!("{field} marked: {fields:?}"));
        assert!(marked.contains(message), "{message} in {marked}");
        assert!(html.contains("请修改标出的字段后重新提交"), "{fields:?}");
        // What was chosen is kept.
        let at = fields.iter().find(|(k, _)| *k == "at").unwrap().1;
        assert!(html.contains(&format!("value=\"{at}\"")), "{at} kept");
    }
    assert!(api_schedules(&app).await.is_empty(), "nothing was added");
}

#[tokio::test]
async fn schedule_changes_need_the_consoles_form_token() {
    let app = spawn().await;
    let receiver = Receiver::answering(200, "{}").await;
    let destination = webhook(&app, &receiver, "CRM").await;
    let resp = add(
        &app,
        &[
            ("destination", &destination),
            ("every", "daily"),
            ("at", "09:00"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let id = api_schedules(&app).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = page(&app, LIST).await;
    let own = [
        ("origin", app.base.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let body = |token: &str| {
        urlencode(&[
            ("_csrf", token),
            ("destination", &destination),
            ("every", "monthly"),
            ("at", "08:00"),
        ])
    };
    let actions = [
        LIST.to_owned(),
        format!("/admin/schedules/{id}/run"),
        format!("/admin/schedules/{id}/delete"),
    ];
    for (i, action) in actions.iter().enumerate() {
        let token = form_token(&html, action);
        let other = form_token(&html, &actions[(i + 1) % actions.len()]);
        for (what, headers, body) in [
            ("no token", own.to_vec(), body("").replace("_csrf=&", "")),
            ("a malformed token", own.to_vec(), body("00")),
            ("another form's token", own.to_vec(), body(&other)),
            (
                "a foreign origin",
                vec![("origin", "https://evil.example")],
                body(&token),
            ),
        ] {
            let resp = post_plain(&app, action, &headers, &body).await;
            assert_eq!(resp.status(), 403, "{action}: {what}");
        }
    }
    // Nothing was added, sent or deleted.
    assert_eq!(api_schedules(&app).await.len(), 1);
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn the_list_shows_the_period_a_schedule_last_sent_and_when() {
    // A clock the test moves; the scheduler looks every 20 ms.
    let millis = Arc::new(AtomicI64::new(
        NOW.parse::<jiff::Timestamp>().unwrap().as_millisecond(),
    ));
    let clock = millis.clone();
    let app = spawn_app_with(move |c| {
        c.allow_private_destinations = true;
        c.schedule_tick = Duration::from_millis(20);
        c.clock = Clock::new(move || {
            jiff::Timestamp::from_millisecond(clock.load(Ordering::SeqCst)).unwrap()
        });
    })
    .await;
    let receiver = Receiver::answering(200, "{}").await;
    let destination = webhook(&app, &receiver, "销售群").await;
    let resp = add(
        &app,
        &[
            ("destination", &destination),
            ("every", "daily"),
            ("at", "09:00"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let id = api_schedules(&app).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = page(&app, LIST).await;
    let row = schedule_row(&html, &id).unwrap();
    assert!(
        row.contains("—") && row.contains("2026-11-30 09:00"),
        "{row}"
    );

    // 30 November, 09:00:05 in Shanghai: the scheduler sends 29 November's report.
    let due: jiff::Timestamp = "2026-11-30T01:00:05Z".parse().unwrap();
    millis.store(due.as_millisecond(), Ordering::SeqCst);
    let event = receiver.wait_for(1).await[0].json();
    assert_eq!(event["report"]["period"], "2026-11-29");
    // The event is written with the schedule's new last period, in one transaction.
    let html = page(&app, LIST).await;
    let row = schedule_row(&html, &id).unwrap();
    assert!(
        row.contains("2026-11-29 <span class=\"muted\">2026-11-30 09:00</span>"),
        "the period and when it went, in Shanghai time: {row}"
    );
    assert!(row.contains("2026-12-01 09:00"), "the next one: {row}");
}
