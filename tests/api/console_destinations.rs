//! The console's destinations pages: the list and the add form, each destination's page
//! with its edit form, test, retry and delete, in both languages, with the form tokens of
//! the other console forms, and never showing a secret.

use std::time::Duration;

use serde_json::{Value, json};

use crate::console::{Console, form_token, location, marked_field, page, post_form, post_plain};
use crate::helpers::{Tag, TestApp, json_body, lead, spawn_app_with, start_tags, urlencode};
use crate::receiver::Receiver;

const SECRET: &str = "SECc0nsole-destination-secret";
const WEBHOOK_SECRET: &str = "whsec_Y29uc29sZS13ZWJob29rLXNlY3JldA==";

/// A server that may send to the test receivers on 127.0.0.1, with a campaign `expo`. A
/// failed attempt waits an hour, so a retry that comes sooner came from the button.
async fn spawn() -> TestApp {
    let app = spawn_app_with(|c| {
        c.allow_private_destinations = true;
        c.delivery_retry_delays = vec![Duration::from_secs(3600); 9];
    })
    .await;
    app.create_campaign("expo", json!({"kind": "trade_show"}))
        .await;
    app
}

/// Creates a destination through the API; returns its id.
async fn add(app: &TestApp, body: Value) -> String {
    let (status, value) = json_body(app.admin_post("/api/destinations", &body).await).await;
    assert_eq!(status, 201, "{value}");
    value["id"].as_str().unwrap().to_owned()
}

async fn shown(app: &TestApp, id: &str) -> Value {
    let (status, value) = json_body(app.admin_get(&format!("/api/destinations/{id}")).await).await;
    assert_eq!(status, 200, "{value}");
    value
}

async fn all(app: &TestApp) -> Vec<Value> {
    let (_, list) = json_body(app.admin_get("/api/destinations").await).await;
    list["destinations"].as_array().unwrap().clone()
}

/// The text inside the `<tag …>` that carries `id="…"`, up to the next `</tag>`.
fn element(html: &str, tag: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let open = html[..start].rfind(&format!("<{tag}"))?;
    let rest = &html[open..];
    let end = rest.find(&format!("</{tag}>"))?;
    Some(rest[..end].to_owned())
}

fn checked(tags: &[Tag], name: &str) -> Vec<String> {
    tags.iter()
        .filter(|t| t.attr("name") == Some(name) && t.attr("checked").is_some())
        .filter_map(|t| t.attr("value").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_pages_come_in_chinese_and_english() {
    let app = spawn().await;
    let id = add(
        &app,
        json!({"name": "展会销售群", "kind": "wecom",
            "url": "http://127.0.0.1:9/cgi-bin/webhook/send?key=k", "enabled": false}),
    )
    .await;

    let zh = page(&app, "/admin/destinations").await;
    assert!(zh.contains("lang=\"zh-CN\""));
    for text in [
        ">推送</a>",
        "添加推送目标",
        "展会销售群",
        "企业微信",
        "已停用",
        "state-disabled",
        "积压",
        "群机器人",
        "加签",
        "SEC",
        "签名校验",
        "打码",
    ] {
        assert!(zh.contains(text), "{text} in the Chinese list");
    }
    // The navigation marks the section, and the name links to the destination's page.
    assert!(zh.contains("<a href=\"/admin/destinations\" class=\"on\">推送</a>"));
    assert!(zh.contains(&format!("href=\"/admin/destinations/{id}\"")));

    let en = page(&app, "/admin/destinations?lang=en").await;
    assert!(en.contains("lang=\"en\""));
    for text in [
        ">Destinations</a>",
        "Add a destination",
        "WeCom",
        "Disabled",
        "Backlog",
        "mask phone numbers",
    ] {
        assert!(en.contains(text), "{text} in the English list");
    }
    assert!(!en.contains("添加推送目标") && !en.contains("积压"));
    assert!(en.contains(&format!("href=\"/admin/destinations/{id}?lang=en\"")));

    let zh = page(&app, &format!("/admin/destinations/{id}")).await;
    for text in [
        "展会销售群",
        "发送测试",
        "立即重试",
        "删除",
        "留空则不修改",
        "下次尝试",
    ] {
        assert!(zh.contains(text), "{text} on the Chinese page");
    }
    let en = page(&app, &format!("/admin/destinations/{id}?lang=en")).await;
    for text in [
        "Send test",
        "Retry now",
        "Delete",
        "leave empty to keep",
        "Next attempt",
    ] {
        assert!(en.contains(text), "{text} on the English page");
    }
    assert!(!en.contains("发送测试"));

    // An unknown destination is the console's 404 page.
    let resp = app
        .client
        .get(app.url("/admin/destinations/01J0000000000000000000000A"))
        .login()
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("找不到"));
}

#[tokio::test]
async fn a_destination_added_through_the_form_is_in_the_api() {
    let app = spawn().await;
    let receiver = Receiver::answering(200, "{}").await;
    let html = page(&app, "/admin/destinations?lang=en").await;
    // A new destination's defaults: a webhook, every event, every campaign, enabled.
    let tags = start_tags(&html);
    assert_eq!(checked(&tags, "events").len(), 6);
    assert!(checked(&tags, "campaigns").is_empty());
    assert_eq!(checked(&tags, "enabled"), ["1"]);
    let secret = tags
        .iter()
        .find(|t| t.attr("name") == Some("secret"))
        .unwrap();
    assert_eq!(secret.attr("type"), Some("password"));
    assert_eq!(
        secret.attr("value"),
        None,
        "the secret field is never filled in"
    );

    let token = form_token(&html, "/admin/destinations");
    let url = receiver.url("/hooks/crm");
    let resp = post_form(
        &app,
        "/admin/destinations?lang=en",
        &[
            ("_csrf", &token),
            ("name", "CRM 华东"),
            ("kind", "webhook"),
            ("url", &url),
            ("secret", WEBHOOK_SECRET),
            ("events", "lead.created"),
            ("events", "lead.updated"),
            ("campaigns", "expo"),
            ("enabled", "1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    let list = all(&app).await;
    assert_eq!(list.len(), 1);
    let created = &list[0];
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        location(&resp),
        format!("/admin/destinations/{id}?saved=1&lang=en")
    );
    assert_eq!(created["name"], "CRM 华东");
    assert_eq!(created["kind"], "webhook");
    assert_eq!(created["url"], url);
    assert_eq!(created["secret_set"], true);
    assert_eq!(created["events"], json!(["lead.created", "lead.updated"]));
    assert_eq!(created["campaigns"], json!(["expo"]));
    assert_eq!(created["enabled"], true);

    let html = page(&app, &location(&resp)).await;
    assert!(html.contains("Saved."));
    let tags = start_tags(&html);
    assert_eq!(checked(&tags, "events"), ["lead.created", "lead.updated"]);
    assert_eq!(checked(&tags, "campaigns"), ["expo"]);
    assert!(!html.contains(WEBHOOK_SECRET) && !html.contains(&WEBHOOK_SECRET[6..]));

    // It delivers, and the list shows when, in the reporting time zone (Asia/Shanghai).
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    receiver.wait_for(1).await;
    let delivered = loop {
        let now = shown(&app, id).await;
        if now["delivered"] == 1 {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let at: jiff::Timestamp = delivered["last_delivered_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let local = at
        .in_tz("Asia/Shanghai")
        .unwrap()
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    let html = page(&app, "/admin/destinations").await;
    let row = element(&html, "table", "destinations").unwrap();
    assert!(row.contains(&local), "{local} in {row}");
    assert!(row.contains("CRM 华东") && row.contains("state-ok") && row.contains("正常"));
    assert!(!html.contains(&WEBHOOK_SECRET[6..]));
}

#[tokio::test]
async fn a_refused_field_gets_its_message_and_the_typed_values_stay() {
    let app = spawn().await;
    let html = page(&app, "/admin/destinations").await;
    let token = form_token(&html, "/admin/destinations");
    let resp = post_form(
        &app,
        "/admin/destinations",
        &[
            ("_csrf", &token),
            ("name", "华东销售群"),
            ("kind", "dingtalk"),
            ("url", "ftp://oapi.dingtalk.com/robot/send"),
            ("secret", SECRET),
            ("events", "conversion.recorded"),
            ("campaigns", "expo"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    let field = marked_field(&html, "url").expect("the url field is marked");
    let message = field
        .split("<span class=\"error\">")
        .nth(1)
        .expect("a message next to the url field");
    assert!(
        message.contains("https://"),
        "the API's url message: {message}"
    );
    assert!(html.contains("请修改标出的字段"));
    // What was typed is kept, except the secret, which no page ever holds.
    let tags = start_tags(&html);
    let value = |name| {
        tags.iter()
            .find(|t| t.attr("name") == Some(name))
            .and_then(|t| t.attr("value").map(str::to_owned))
    };
    assert_eq!(value("name").as_deref(), Some("华东销售群"));
    assert_eq!(
        value("url").as_deref(),
        Some("ftp://oapi.dingtalk.com/robot/send")
    );
    assert_eq!(value("secret"), None);
    assert!(!html.contains(SECRET));
    let kind = tags
        .iter()
        .find(|t| t.tag == "option" && t.attr("selected").is_some())
        .unwrap();
    assert_eq!(kind.attr("value"), Some("dingtalk"));
    assert_eq!(checked(&tags, "events"), ["conversion.recorded"]);
    assert_eq!(checked(&tags, "campaigns"), ["expo"]);
    assert!(checked(&tags, "enabled").is_empty(), "left unticked");
    assert!(all(&app).await.is_empty(), "nothing was created");

    // No event ticked: the console says to tick one (a form cannot "leave it out").
    let resp = post_form(
        &app,
        "/admin/destinations?lang=en",
        &[
            ("_csrf", &token),
            ("name", "CRM"),
            ("kind", "webhook"),
            ("url", "http://127.0.0.1:9/"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    let field = marked_field(&html, "events").expect("the events are marked");
    assert!(field.contains("Tick at least one event."), "{field}");

    // A WeCom robot takes no secret: the message is at the secret.
    let resp = post_form(
        &app,
        "/admin/destinations",
        &[
            ("_csrf", &token),
            ("name", "群"),
            ("kind", "wecom"),
            ("url", "http://127.0.0.1:9/send?key=k"),
            ("secret", SECRET),
            ("events", "lead.created"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(marked_field(&html, "secret").is_some(), "{html}");
    assert!(!html.contains(SECRET));
}

#[tokio::test]
async fn posts_without_the_pages_token_are_refused() {
    let app = spawn().await;
    let id = add(
        &app,
        json!({"name": "CRM", "kind": "dingtalk", "url": "http://127.0.0.1:9/", "secret": SECRET}),
    )
    .await;
    let list = page(&app, "/admin/destinations").await;
    let token = form_token(&list, "/admin/destinations");
    let fields = |token: &str| {
        urlencode(&[
            ("_csrf", token),
            ("name", "x"),
            ("kind", "webhook"),
            ("url", "http://127.0.0.1:9/"),
            ("events", "lead.created"),
        ])
    };
    let own = [
        ("origin", app.base.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(&str, Headers, String)> = vec![
        ("no token", own.to_vec(), fields("").replace("_csrf=&", "")),
        ("a malformed token", own.to_vec(), fields("00")),
        ("another form's token", own.to_vec(), {
            let html = page(&app, &format!("/admin/destinations/{id}")).await;
            fields(&form_token(
                &html,
                &format!("/admin/destinations/{id}/delete"),
            ))
        }),
        (
            "a foreign origin",
            vec![("origin", "https://evil.example")],
            fields(&token),
        ),
        (
            "a cross-site fetch",
            vec![("sec-fetch-site", "cross-site")],
            fields(&token),
        ),
    ];
    for (what, headers, body) in &cases {
        let resp = post_plain(&app, "/admin/destinations", headers, body).await;
        assert_eq!(resp.status(), 403, "{what}");
    }
    // Each of a destination's buttons and its form has its own token.
    for action in ["", "/test", "/retry", "/delete"] {
        let path = format!("/admin/destinations/{id}{action}");
        let resp = post_plain(&app, &path, &own, "name=y").await;
        assert_eq!(resp.status(), 403, "{path} without a token");
        let resp = post_form(&app, &path, &[("_csrf", &token), ("name", "y")]).await;
        assert_eq!(resp.status(), 403, "{path} with the add form's token");
    }
    let list = all(&app).await;
    assert_eq!(list.len(), 1, "nothing was created or deleted");
    assert_eq!(list[0]["name"], "CRM");
    assert_eq!(list[0]["secret_set"], true);

    // The page's own token works.
    let resp = post_plain(&app, "/admin/destinations", &own, &fields(&token)).await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn editing_keeps_the_secret_unless_a_new_one_is_typed_or_it_is_removed() {
    let app = spawn().await;
    let id = add(
        &app,
        json!({"name": "华东销售群", "kind": "dingtalk", "url": "http://127.0.0.1:9/robot/send?access_token=t",
            "secret": SECRET, "events": ["lead.created"]}),
    )
    .await;
    let path = format!("/admin/destinations/{id}");
    let html = page(&app, &path).await;
    assert!(!html.contains(SECRET));
    assert!(html.contains("已设置密钥"));
    let token = form_token(&html, &path);
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut fields: Vec<(&str, String)> = vec![
            ("_csrf", token.clone()),
            ("kind", "dingtalk".into()),
            ("url", "http://127.0.0.1:9/robot/send?access_token=t".into()),
            ("events", "lead.created".into()),
            ("enabled", "1".into()),
        ];
        fields.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        fields
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        let path = path.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(app, &path, &pairs).await
        }
    };

    // Nothing changed: saved, and nothing was written.
    let before = shown(&app, &id).await;
    let resp = post(form(&[("name", "华东销售群"), ("secret", "")])).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{path}?saved=1"));
    assert_eq!(shown(&app, &id).await["updated_at"], before["updated_at"]);

    // The secret left empty: kept.
    let resp = post(form(&[
        ("name", "华东销售二群"),
        ("secret", ""),
        ("events", "conversion.recorded"),
    ]))
    .await;
    assert_eq!(resp.status(), 303);
    let now = shown(&app, &id).await;
    assert_eq!(now["name"], "华东销售二群");
    assert_eq!(
        now["events"],
        json!(["lead.created", "conversion.recorded"])
    );
    assert_eq!(now["secret_set"], true);

    // A new one typed and "remove" ticked: which did they mean? Neither is done.
    let resp = post(form(&[
        ("name", "华东销售二群"),
        ("secret", "SECanother"),
        ("remove_secret", "1"),
    ]))
    .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(marked_field(&html, "secret").is_some(), "{html}");
    assert!(!html.contains("SECanother"));
    assert_eq!(shown(&app, &id).await["secret_set"], true);

    // "Remove secret" ticked: removed.
    let resp = post(form(&[("name", "华东销售二群"), ("remove_secret", "1")])).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(shown(&app, &id).await["secret_set"], false);
    let html = page(&app, &path).await;
    assert!(html.contains("未设置密钥"));
    assert!(
        !html.contains("name=\"remove_secret\""),
        "nothing left to remove"
    );

    // A new one typed: set.
    let resp = post(form(&[("name", "华东销售二群"), ("secret", SECRET)])).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(shown(&app, &id).await["secret_set"], true);
    assert!(!page(&app, &path).await.contains(SECRET));

    // Unticking "enabled" disables it; a refused name keeps the page's other values.
    let resp = post(vec![
        ("_csrf", token.clone()),
        ("name", "华东销售二群".into()),
        ("kind", "dingtalk".into()),
        ("url", "http://127.0.0.1:9/robot/send?access_token=t".into()),
        ("events", "lead.created".into()),
    ])
    .await;
    assert_eq!(resp.status(), 303);
    let now = shown(&app, &id).await;
    assert_eq!(
        (now["enabled"].clone(), now["state"].clone()),
        (json!(false), json!("disabled"))
    );
    let resp = post(form(&[("name", "")])).await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(marked_field(&html, "name").is_some(), "{html}");
    assert_eq!(shown(&app, &id).await["name"], "华东销售二群");
}

#[tokio::test]
async fn the_test_button_shows_the_receivers_answer() {
    let app = spawn().await;
    let receiver = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    let id = add(
        &app,
        json!({"name": "钉钉群", "kind": "dingtalk", "url": receiver.url("/robot/send?access_token=t"),
            "secret": SECRET}),
    )
    .await;
    let path = format!("/admin/destinations/{id}");
    let html = page(&app, &path).await;
    let test = format!("{path}/test");
    let resp = post_form(
        &app,
        &format!("{test}?lang=en"),
        &[("_csrf", &form_token(&html, &test))],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let result = element(&html, "div", "test-result").expect("the test's result");
    assert!(result.contains("The receiver answered HTTP"), "{result}");
    assert!(
        result.contains("<strong id=\"test-status\">200</strong>"),
        "{result}"
    );
    assert!(
        result.contains("accepted") && !result.contains("not accepted"),
        "{result}"
    );
    assert!(result.contains("errmsg"), "the answer: {result}");
    assert!(!html.contains(SECRET));
    assert!(
        html.contains(&format!("href=\"{path}?lang=zh\"")),
        "the other language is the destination's page, not the test's address"
    );
    let got = receiver.wait_for(1).await;
    assert!(
        got[0].text().contains("leadgate"),
        "a test message was sent"
    );

    // A receiver that is not there: the connection error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let id = add(
        &app,
        json!({"name": "CRM", "kind": "webhook", "url": format!("http://127.0.0.1:{port}/hook")}),
    )
    .await;
    let path = format!("/admin/destinations/{id}");
    let html = page(&app, &path).await;
    let test = format!("{path}/test");
    let resp = post_form(&app, &test, &[("_csrf", &form_token(&html, &test))]).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let result = element(&html, "div", "test-result").expect("the test's result");
    assert!(result.contains("无法送达"), "{result}");
    assert!(
        !result.contains("test-status"),
        "no status without an answer: {result}"
    );
}

#[tokio::test]
async fn retry_tries_again_now_and_delete_removes_it() {
    let app = spawn().await;
    let receiver = Receiver::answering(500, "down for maintenance").await;
    let id = add(
        &app,
        json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/hook")}),
    )
    .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    receiver.wait_for(1).await;
    let waiting = loop {
        let now = shown(&app, &id).await;
        if now["state"] == "retrying" && now["next_attempt_at"].is_string() {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(waiting["backlog"], 1);
    let path = format!("/admin/destinations/{id}");
    let html = page(&app, &path).await;
    let state = element(&html, "dl", "state").unwrap();
    assert!(
        state.contains("state-retrying") && state.contains("重试中"),
        "{state}"
    );
    assert!(
        element(&html, "dd", "last-error").unwrap().contains("500"),
        "the last error is shown"
    );
    let list = page(&app, "/admin/destinations").await;
    let table = element(&list, "table", "destinations").unwrap();
    assert!(table.contains("state-retrying") && table.contains("title=\""));

    // The next attempt is an hour away: the button makes it now.
    let retry = format!("{path}/retry");
    let resp = post_form(&app, &retry, &[("_csrf", &form_token(&html, &retry))]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("{path}?retried=1"));
    receiver.wait_for(2).await;
    assert!(page(&app, &location(&resp)).await.contains("已开始重试"));

    let delete = format!("{path}/delete");
    let resp = post_form(
        &app,
        &format!("{delete}?lang=en"),
        &[("_csrf", &form_token(&html, &delete))],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/admin/destinations?deleted=1&lang=en");
    assert!(all(&app).await.is_empty());
    let (status, _) = json_body(app.admin_get(&format!("/api/destinations/{id}")).await).await;
    assert_eq!(status, 404);
    let html = page(&app, &location(&resp)).await;
    assert!(html.contains("Deleted.") && !html.contains("id=\"destinations\""));
}
