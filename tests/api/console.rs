//! The marketer console under `/admin`: the login, CSRF defence, the pages' forms doing
//! what the API does, uploads, languages, and escaping of user text in pages and charts.

use reqwest::{RequestBuilder, Response};
use serde_json::{Value, json};

use crate::helpers::{
    Seed, TOKEN, TestApp, assert_ulid, content_type, header, json_body, lead, spawn_app,
    spawn_app_with, start_tags, urlencode,
};

/// Every console page and action from the router's own table, with `{slug}` = `expo` and
/// `{id}` = what `id` gives for the pattern (a destination's, a salesperson's …).
fn console_routes(id: impl Fn(&str) -> String) -> Vec<(&'static str, String)> {
    leadgate::routes::TABLE
        .iter()
        .filter(|entry| entry.pattern.starts_with("/admin"))
        .flat_map(|entry| {
            let path = entry
                .pattern
                .replace("{slug}", "expo")
                .replace("{id}", &id(entry.pattern));
            entry.methods.iter().map(move |m| (*m, path.clone()))
        })
        .collect()
}

pub(crate) trait Console {
    fn login(self) -> Self;
}

impl Console for RequestBuilder {
    /// As a browser sends it after the login prompt: any user name, the token as password.
    fn login(self) -> Self {
        self.basic_auth("marketing", Some(TOKEN))
    }
}

async fn console_app() -> TestApp {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({"kind": "trade_show", "channel": "expo"}))
        .await;
    app
}

pub(crate) async fn page(app: &TestApp, path: &str) -> String {
    let resp = app.client.get(app.url(path)).login().send().await.unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    assert!(content_type(&resp).starts_with("text/html"), "GET {path}");
    resp.text().await.unwrap()
}

/// The `_csrf` value of the form whose action is `action` (query and fragment ignored).
pub(crate) fn form_token(html: &str, action: &str) -> String {
    let tags = start_tags(html);
    let start = tags
        .iter()
        .position(|t| {
            t.tag == "form"
                && t.attr("action")
                    .is_some_and(|a| a.split(['?', '#']).next() == Some(action))
        })
        .unwrap_or_else(|| panic!("no form posting to {action}"));
    tags[start..]
        .iter()
        .find(|t| t.attr("name") == Some("_csrf"))
        .and_then(|t| t.attr("value"))
        .unwrap_or_else(|| panic!("no _csrf in the form posting to {action}"))
        .to_owned()
}

/// Posts a console form as the browser does, from the console's own origin.
pub(crate) async fn post_form(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url(path))
        .login()
        .header("origin", &app.base)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(urlencode(fields))
        .send()
        .await
        .unwrap()
}

/// The text of the marked field (`class="field … bad"`, a label or a fieldset) that holds
/// control `name`, with its message; `None` when that field is not marked.
pub(crate) fn marked_field(html: &str, name: &str) -> Option<String> {
    [
        ("<label class=\"field", "</label>"),
        ("<fieldset class=\"field", "</fieldset>"),
    ]
    .into_iter()
    .flat_map(|(open, close)| {
        html.split(open)
            .skip(1)
            .map(move |part| part.split(close).next().unwrap_or_default())
    })
    .find(|part| {
        part.split('>')
            .next()
            .is_some_and(|class| class.contains(" bad"))
            && part.contains(&format!("name=\"{name}\""))
    })
    .map(str::to_owned)
}

/// Posts without the console's help: as a forged or a hand-made request.
pub(crate) async fn post_plain(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut request = app
        .client
        .post(app.url(path))
        .login()
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

pub(crate) fn location(resp: &Response) -> String {
    header(resp, "location").unwrap_or_default()
}

#[tokio::test]
async fn every_console_address_asks_for_the_login() {
    // A destination for the `{id}` of its pages: on this machine, as nothing is sent to it.
    let app = spawn_app_with(|c| c.allow_private_destinations = true).await;
    app.create_campaign("expo", json!({"kind": "trade_show", "channel": "expo"}))
        .await;
    let (status, destination) = json_body(
        app.admin_post(
            "/api/destinations",
            &json!({"name": "CRM", "kind": "webhook", "url": "http://127.0.0.1:9/", "enabled": false}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{destination}");
    let destination = destination["id"].as_str().unwrap().to_owned();
    let salesperson = app.add_salesperson(json!({"name": "王芳"})).await;
    let lead = app
        .submit_json_ok("expo", &lead("13800138000", "张伟"))
        .await;
    let routes = console_routes(|pattern| {
        if pattern.starts_with("/admin/salespeople") {
            salesperson.clone()
        } else if pattern.starts_with("/admin/leads/") {
            lead.clone()
        } else {
            destination.clone()
        }
    });
    assert!(routes.len() >= 16, "{routes:?}");
    for (method, path) in &routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let anonymous = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            anonymous.status(),
            401,
            "{method} {path} without credentials"
        );
        let challenge = header(&anonymous, "www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Basic"),
            "{method} {path}: {challenge:?}"
        );
        let wrong = app
            .client
            .request(method.clone(), app.url(path))
            .basic_auth("marketing", Some("not-the-token"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong password");
    }
    for (method, path) in routes.iter().filter(|(m, _)| *m == "GET") {
        let resp = app.client.get(app.url(path)).login().send().await.unwrap();
        assert_eq!(resp.status(), 200, "{method} {path} logged in");
    }
}

#[tokio::test]
async fn a_campaign_and_its_costs_are_managed_through_the_pages() {
    let app = spawn_app().await;
    let html = page(&app, "/admin/campaigns/new").await;
    let token = form_token(&html, "/admin/campaigns");

    // A refused field: the form comes back with the API's message next to it, values kept.
    let bad = post_form(
        &app,
        "/admin/campaigns",
        &[
            ("_csrf", &token),
            ("slug", "Spring Expo"),
            ("name", "春季展会"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    let marked = html
        .split("class=\"field bad\"")
        .nth(1)
        .expect("a field is marked");
    let field = marked.split("</label>").next().unwrap();
    assert!(
        field.contains("name=\"slug\""),
        "the slug field is marked: {field}"
    );
    let message = field
        .split("<span class=\"error\">")
        .nth(1)
        .expect("a message next to the slug field");
    assert!(
        message.contains("slug"),
        "the API's slug message: {message}"
    );
    assert!(html.contains("春季展会"), "the name typed is kept");

    let created = post_form(
        &app,
        "/admin/campaigns",
        &[
            ("_csrf", &token),
            ("slug", "spring-expo"),
            ("name", "春季展会"),
            ("kind", "trade_show"),
            ("channel", "expo"),
            ("budget", "50000"),
            ("target_leads", "300"),
            ("qr_variants", "booth-a\nposter"),
            ("tracking_numbers", ""),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    assert!(location(&created).starts_with("/admin/campaigns/spring-expo"));
    let (_, campaign) = json_body(app.admin_get("/api/campaigns/spring-expo").await).await;
    assert_eq!(campaign["name"], "春季展会");
    assert_eq!(campaign["budget"], "50000.00");
    assert_eq!(campaign["target_leads"], 300);
    assert_eq!(campaign["qr_variants"], json!(["booth-a", "poster"]));

    // Edit: every field is posted; a cleared one clears the setting.
    let html = page(&app, "/admin/campaigns/spring-expo").await;
    let token = form_token(&html, "/admin/campaigns/spring-expo");
    let saved = post_form(
        &app,
        "/admin/campaigns/spring-expo",
        &[
            ("_csrf", &token),
            ("name", "春季展会（上海）"),
            ("kind", "trade_show"),
            ("status", "running"),
            ("channel", ""),
            ("budget", "60000.50"),
        ],
    )
    .await;
    assert_eq!(saved.status(), 303);
    let (_, campaign) = json_body(app.admin_get("/api/campaigns/spring-expo").await).await;
    assert_eq!(campaign["name"], "春季展会（上海）");
    assert_eq!(campaign["status"], "running");
    assert_eq!(campaign["channel"], Value::Null);
    assert_eq!(campaign["budget"], "60000.50");
    let html = page(&app, "/admin/campaigns/spring-expo?saved=1").await;
    assert!(html.contains("已保存"));

    // Costs: a bad amount is shown on the page; a good one is stored; remove deletes it.
    let token = form_token(&html, "/admin/campaigns/spring-expo/costs");
    let bad = post_form(
        &app,
        "/admin/campaigns/spring-expo/costs",
        &[
            ("_csrf", &token),
            ("amount", "12.345"),
            ("incurred_on", "2025-03-01"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 422);
    assert!(bad.text().await.unwrap().contains("12.345"), "amount kept");
    let added = post_form(
        &app,
        "/admin/campaigns/spring-expo/costs",
        &[
            ("_csrf", &token),
            ("amount", "18000"),
            ("incurred_on", "2025-03-01"),
            ("note", "展位费"),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    let (_, costs) = json_body(app.admin_get("/api/campaigns/spring-expo/costs").await).await;
    assert_eq!(costs["total"], "18000.00");
    let id = costs["costs"][0]["id"].as_str().unwrap().to_owned();
    let html = page(&app, "/admin/campaigns/spring-expo").await;
    assert!(html.contains("展位费") && html.contains("18000.00"));
    let delete = format!("/admin/campaigns/spring-expo/costs/{id}/delete");
    let removed = post_form(&app, &delete, &[("_csrf", &form_token(&html, &delete))]).await;
    assert_eq!(removed.status(), 303);
    let (_, costs) = json_body(app.admin_get("/api/campaigns/spring-expo/costs").await).await;
    assert_eq!(costs["costs"], json!([]));
}

#[tokio::test]
async fn the_utm_builder_gives_a_tagged_link_and_its_qr_code() {
    let app = console_app().await;
    let html = page(
        &app,
        "/admin/campaigns/expo?utm_source=baidu&utm_medium=cpc&utm_content=%E6%A8%AA%E5%B9%85",
    )
    .await;
    let link = format!(
        "{}/f/expo?utm_source=baidu&#38;utm_medium=cpc&#38;utm_campaign=expo&#38;utm_content=%E6%A8%AA%E5%B9%85",
        app.base
    );
    assert!(html.contains(&link), "tagged link in {html}");
    assert!(html.contains("<svg"), "its QR code is drawn inline");
}

#[tokio::test]
async fn changes_from_other_sites_are_refused_before_validation() {
    let app = console_app().await;
    let html = page(&app, "/admin/campaigns/new").await;
    let token = form_token(&html, "/admin/campaigns");
    let fields = [("_csrf", token.as_str()), ("slug", "x"), ("name", "x")];
    let no_token = [("slug", "x"), ("name", "x")];
    let bad_token = [("_csrf", "00"), ("slug", "x"), ("name", "x")];
    type Headers<'a> = Vec<(&'a str, &'a str)>;
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let attempts: Vec<(&str, Headers, Fields)> = vec![
        (
            "foreign origin",
            vec![("origin", "https://evil.example")],
            &fields[..],
        ),
        ("null origin", vec![("origin", "null")], &fields[..]),
        (
            "cross-site fetch",
            vec![("sec-fetch-site", "cross-site")],
            &fields[..],
        ),
        ("no token", vec![], &no_token[..]),
        ("a malformed token", vec![], &bad_token[..]),
    ];
    for (what, headers, body) in attempts {
        let mut request = app
            .client
            .post(app.url("/admin/campaigns"))
            .login()
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencode(body));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 403, "{what}");
    }
    // A token is bound to its form: the campaign form's token cannot delete a cost.
    let delete = "/admin/campaigns/expo/costs/01J0000000000000000000000A/delete";
    let resp = post_form(&app, delete, &[("_csrf", &token)]).await;
    assert_eq!(resp.status(), 403);
    // Refused before the body was judged: an invalid body from another site is a 403 too.
    let resp = app
        .client
        .post(app.url("/admin/campaigns"))
        .login()
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .body("nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let (_, list) = json_body(app.admin_get("/api/campaigns").await).await;
    assert_eq!(
        list["campaigns"].as_array().unwrap().len(),
        1,
        "nothing was created"
    );

    // The console's own form still works.
    let ok = post_form(
        &app,
        "/admin/campaigns",
        &[("_csrf", &token), ("slug", "x"), ("name", "x")],
    )
    .await;
    assert_eq!(ok.status(), 303);
}

#[tokio::test]
async fn leads_are_filtered_marked_and_exported() {
    let app = console_app().await;
    app.create_campaign("live", json!({"kind": "livestream"}))
        .await;
    let first = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    app.submit_json_ok("expo", &lead("13900139000", "李四"))
        .await;
    app.submit_json_ok("live", &lead("13700137000", "王五"))
        .await;

    let html = page(&app, "/admin/leads?campaign=expo").await;
    assert!(html.contains("张三") && html.contains("李四"));
    assert!(!html.contains("王五"), "filtered by campaign");

    let action = format!("/admin/leads/{first}/status");
    let token = form_token(&html, &action);
    let resp = post_form(
        &app,
        &action,
        &[
            ("_csrf", &token),
            ("status", "mql"),
            ("back", "campaign=expo"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/admin/leads?campaign=expo");
    let (_, stored) = json_body(app.admin_get(&format!("/api/leads/{first}")).await).await;
    assert_eq!(stored["status"], "mql");
    let html = page(&app, "/admin/leads?status=mql").await;
    assert!(html.contains("张三") && !html.contains("李四"));

    // A posted "back" cannot send the browser off the console.
    let resp = post_form(
        &app,
        &action,
        &[
            ("_csrf", &token),
            ("status", "sql"),
            ("back", "//evil.example/x"),
        ],
    )
    .await;
    assert_eq!(location(&resp), "/admin/leads");

    let resp = app
        .client
        .get(app.url("/admin/leads.csv?campaign=expo"))
        .login()
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(content_type(&resp).starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    assert_eq!(csv.lines().count(), 3, "header and two leads: {csv}");
    assert!(csv.contains("+8613800138000") && !csv.contains("+8613700137000"));
}

#[tokio::test]
async fn leads_page_through_with_a_cursor() {
    let app = console_app().await;
    for i in 0..55 {
        app.submit_json_ok("expo", &lead(&format!("1380013{i:04}"), "访客"))
            .await;
    }
    let html = page(&app, "/admin/leads").await;
    let next = start_tags(&html)
        .into_iter()
        .find(|t| t.attr("id") == Some("next-page"))
        .and_then(|t| t.attr("href").map(str::to_owned))
        .expect("a next-page link");
    let rows = |html: &str| html.matches("name=\"status\"").count() - 1;
    assert_eq!(rows(&html), 50);
    let second = page(&app, &next).await;
    assert_eq!(rows(&second), 5);
    assert!(!second.contains("id=\"next-page\""));
}

/// A multipart upload as a browser's file input sends it.
async fn upload(app: &TestApp, path: &str, token: &str, csv: &str) -> Response {
    let boundary = "----leadgateTestBoundary7MA4YWxk";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sheet.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    app.client
        .post(app.url(path))
        .login()
        .header("origin", &app.base)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn uploads_import_files_and_report_each_bad_line() {
    let app = console_app().await;
    let html = page(&app, "/admin/leads").await;
    let leads_token = form_token(&html, "/admin/leads/import");
    let orders_token = form_token(&html, "/admin/conversions/import");

    let sheet = "campaign,name,phone,received_at,external_id\n\
                 expo,张三,13800138000,2025-03-01T10:00:00+08:00,p1\n\
                 expo,李四,not-a-phone,2025-03-01T10:05:00+08:00,p2\n";
    let resp = upload(&app, "/admin/leads/import", &leads_token, sheet).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert_eq!(report_count(&html, "imported"), 1, "{html}");
    assert_eq!(report_count(&html, "skipped"), 0, "{html}");
    let line = bad_line(&html, 3).expect("line 3 is named");
    assert!(line.contains("phone"), "its field is named: {line}");
    assert!(bad_line(&html, 2).is_none(), "line 2 was fine");
    assert_eq!(app.all_leads("expo").await.len(), 1);

    let lead_id = app.all_leads("expo").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ulid(&lead_id);
    let orders = format!(
        "id,lead_id,stage,amount,occurred_at\nD-1,{lead_id},won,48500.50,2025-03-20T10:00:00+08:00\nD-2,,won,1,2025-03-20T10:00:00+08:00\n"
    );
    let resp = upload(&app, "/admin/conversions/import", &orders_token, &orders).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert_eq!(report_count(&html, "imported"), 1, "{html}");
    assert!(bad_line(&html, 3).is_some(), "line 3 refused: {html}");
    let (status, conversion) = json_body(app.admin_get("/api/conversions/D-1").await).await;
    assert_eq!(status, 200, "{conversion}");

    // Without the form token nothing is imported, whatever else is wrong with the post.
    let resp = upload(&app, "/admin/leads/import", "", sheet).await;
    assert_eq!(resp.status(), 403);
    let resp = upload(&app, "/admin/leads/import", &orders_token, sheet).await;
    assert_eq!(resp.status(), 403, "another form's token");
    let resp = app
        .client
        .post(app.url("/admin/leads/import"))
        .login()
        .header("content-type", "text/csv")
        .body(sheet)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "not multipart: no token");
    assert_eq!(app.all_leads("expo").await.len(), 1);
}

/// The count in the import report's line `id`.
fn report_count(html: &str, id: &str) -> u64 {
    let row = html
        .split(&format!("<tr id=\"{id}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("no {id} line"));
    let cell = row.split("class=\"count\">").nth(1).unwrap();
    cell.split('<').next().unwrap().parse().unwrap()
}

/// The error row of the import report for `line`, if any.
fn bad_line(html: &str, line: u64) -> Option<String> {
    html.split(&format!("id=\"line-{line}\""))
        .nth(1)
        .map(|rest| rest.split("</tr>").next().unwrap().to_owned())
}

#[tokio::test]
async fn user_text_is_escaped_in_every_page_and_chart() {
    let app = spawn_app().await;
    let evil = "<script>alert(1)</script>\"'&";
    app.create_campaign(
        "evil",
        json!({"name": evil, "channel": "<b>ch</b>", "owner": "<i>o</i>", "kind": "online_ad"}),
    )
    .await;
    let resp = app
        .admin_post(
            "/api/campaigns/evil/costs",
            &json!({"amount": "100", "incurred_on": "2025-03-01", "note": "<img src=x>"}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    app.submit_json_ok("evil", &lead("13800138000", "<svg onload=alert(2)>"))
        .await;
    for path in [
        "/admin?from=1970-01-01&to=2030-12-31",
        "/admin?from=1970-01-01&to=2030-12-31&group_by=channel",
        "/admin/campaigns",
        "/admin/campaigns/evil",
        "/admin/campaigns/evil?utm_source=%3Cx%3E",
        "/admin/campaigns/evil/qr",
        "/admin/leads",
    ] {
        let html = page(&app, path).await;
        for raw in [
            "<script>alert",
            "<b>ch",
            "<i>o",
            "<img src",
            "<svg onload",
            "<x>",
        ] {
            assert!(!html.contains(raw), "{path} shows {raw:?} unescaped");
        }
    }
    let html = page(&app, "/admin?from=1970-01-01&to=2030-12-31").await;
    let charts: String = html
        .split("<svg")
        .skip(1)
        .map(|rest| rest.split("</svg>").next().unwrap())
        .collect();
    assert!(
        charts.contains("&#60;script&#62;") || charts.contains("&lt;script&gt;"),
        "the campaign name is in a chart, escaped: {charts}"
    );
}

#[tokio::test]
async fn chinese_by_default_english_on_request() {
    let app = console_app().await;
    let zh = page(&app, "/admin").await;
    assert!(zh.contains("lang=\"zh-CN\"") && zh.contains("总览") && zh.contains("下载 Excel"));
    let en = page(&app, "/admin?lang=en").await;
    assert!(en.contains("lang=\"en\"") && en.contains("Overview") && en.contains("Download Excel"));
    assert!(!en.contains("总览"));
    // Links keep the language; each campaign row of the overview links to its page.
    assert!(en.contains("href=\"/admin/campaigns?lang=en\""));
    assert!(
        en.contains("href=\"/admin/campaigns/expo?lang=en\""),
        "{en}"
    );
    let en = page(&app, "/admin/campaigns/expo?lang=en").await;
    assert!(en.contains("Cost entries"));
}

#[tokio::test]
async fn the_overview_defaults_to_this_month_in_the_reporting_zone() {
    let app = console_app().await;
    let today = || {
        jiff::Timestamp::now()
            .in_tz("Asia/Shanghai")
            .unwrap()
            .date()
    };
    // Asked again if the day changed while the page was made (midnight in Shanghai).
    let (today, html) = loop {
        let before = today();
        let html = page(&app, "/admin").await;
        if today() == before {
            break (before, html);
        }
    };
    let from = crate::helpers::control(&html, "from").unwrap();
    let to = crate::helpers::control(&html, "to").unwrap();
    assert_eq!(
        from.attr("value"),
        Some(today.first_of_month().to_string().as_str())
    );
    assert_eq!(to.attr("value"), Some(today.to_string().as_str()));
    // The download buttons carry the same period.
    let csv = start_tags(&html)
        .into_iter()
        .find(|t| t.attr("id") == Some("download-csv"))
        .and_then(|t| t.attr("href").map(str::to_owned))
        .unwrap();
    assert!(
        csv.contains(&format!("from={}", today.first_of_month())),
        "{csv}"
    );
}

#[tokio::test]
async fn english_pages_stay_english_after_a_change() {
    let app = console_app().await;
    let html = page(&app, "/admin/campaigns/expo?lang=en").await;
    let token = form_token(&html, "/admin/campaigns/expo/costs");
    let resp = post_form(
        &app,
        "/admin/campaigns/expo/costs?lang=en",
        &[
            ("_csrf", &token),
            ("amount", "100"),
            ("incurred_on", "2025-03-01"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/admin/campaigns/expo?lang=en#costs");
    // Switching language keeps the page's filters.
    let html = page(&app, "/admin/leads?campaign=expo&status=mql").await;
    assert!(
        html.contains("href=\"/admin/leads?campaign=expo&#38;status=mql&#38;lang=en\""),
        "{html}"
    );
}

#[tokio::test]
async fn the_form_token_is_checked_before_anything_else() {
    let app = console_app().await;
    for (path, content_type) in [
        (
            "/admin/campaigns/nobody",
            "application/x-www-form-urlencoded",
        ),
        ("/admin/campaigns/expo", "application/json"),
        (
            "/admin/campaigns/nobody/costs",
            "application/x-www-form-urlencoded",
        ),
        (
            "/admin/leads/not-a-lead-id/status",
            "application/x-www-form-urlencoded",
        ),
    ] {
        let resp = app
            .client
            .post(app.url(path))
            .login()
            .header("content-type", content_type)
            .body("name=x")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path} ({content_type})");
    }
}

#[tokio::test]
async fn console_errors_are_pages_in_the_console_language() {
    let app = console_app().await;
    let resp = app
        .client
        .get(app.url("/admin/leads?since=yesterday&lang=en"))
        .login()
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("Invalid input") && html.contains("since"),
        "{html}"
    );
    let resp = app
        .client
        .get(app.url("/admin/campaigns/nobody"))
        .login()
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().contains("找不到"));
}

#[tokio::test]
async fn basic_credentials_on_the_api_do_not_work_across_sites() {
    let app = console_app().await;
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .login()
        .header("origin", "https://evil.example")
        .json(&json!({"slug": "x", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .bearer_auth(TOKEN)
        .header("origin", "https://tools.example")
        .json(&json!({"slug": "y", "name": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "a bearer token is no ambient credential"
    );
}

/// The overview's ROI table as text: its header titles and its lines (rows, then totals).
pub(crate) fn roi_table(html: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let table = html
        .split("<table id=\"roi\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .expect("the ROI table");
    let text = |cell: &str| {
        let inner = cell.split_once('>').map_or("", |(_, rest)| rest);
        let mut out = String::new();
        let mut in_tag = false;
        for c in inner.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        crate::helpers::decode_entities(out.trim())
    };
    let mut lines = table.split("<tr").skip(1).map(|tr| {
        let tr = tr.split("</tr>").next().unwrap();
        tr.split("<th")
            .skip(1)
            .chain(tr.split("<td").skip(1))
            .map(|cell| text(cell.split("</t").next().unwrap()))
            .collect::<Vec<String>>()
    });
    let headers = lines.next().expect("a header line");
    (headers, lines.collect())
}

/// A JSON figure as the console writes it (as `report::lines` does for the CSV).
pub(crate) fn as_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap()),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn the_overview_shows_the_decision_columns_first_with_the_apis_figures() {
    let app = spawn_app().await;
    let mut phone = 13_800_138_300u64;
    for (slug, name, cost, leads, orders) in [
        ("live", "Live show", "3000", 4, 1),
        ("search", "Search ads", "8000", 3, 2),
    ] {
        let seed = Seed {
            slug,
            campaign: json!({"name": name, "kind": "online_ad"}),
            cost,
            incurred_on: "2025-03-01".into(),
            leads,
            orders,
            amount: "4000",
            visitor: "Visitor",
        };
        app.seed(seed, &mut phone).await;
    }
    let query = "from=1970-01-01&to=2099-12-31";
    let report = app.roi(query).await;
    let key_fields = [
        "name",
        "revenue",
        "roi_pct",
        "roas",
        "cost",
        "cpl",
        "cost_per_order",
        "leads",
        "orders",
        "deals",
    ];

    let html = page(&app, &format!("/admin?{query}&lang=en")).await;
    let (headers, lines) = roi_table(&html);
    assert_eq!(
        headers,
        [
            "Campaign",
            "Revenue",
            "ROI %",
            "ROAS",
            "Cost",
            "Cost per lead",
            "Cost per order",
            "Leads",
            "Orders",
            "Deals"
        ],
        "the name, then what a budget decision rests on"
    );
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(lines.len(), rows.len() + 1, "the rows and one total line");
    for (line, row) in lines.iter().zip(rows) {
        let expected: Vec<String> = key_fields.iter().map(|f| as_cell(&row[f])).collect();
        assert_eq!(line, &expected, "the console row has the API's figures");
    }
    let total = &report["totals"]["CNY"];
    let mut expected: Vec<String> = key_fields.iter().map(|f| as_cell(&total[f])).collect();
    expected[0] = "TOTAL CNY".into();
    assert_eq!(
        lines.last().unwrap(),
        &expected,
        "the total line sums the same columns"
    );
    assert!(
        html.contains("href=\"/admin/campaigns/live?lang=en\""),
        "the name links to the campaign"
    );

    // Every column on request, the key ones first, then the rest in the report's order.
    let toggle = start_tags(&html)
        .into_iter()
        .find(|t| t.attr("id") == Some("columns-toggle"))
        .and_then(|t| t.attr("href").map(crate::helpers::decode_entities))
        .expect("a link to every column");
    assert!(
        toggle.contains("columns=all") && toggle.contains("from=1970-01-01"),
        "{toggle}"
    );
    let html = page(&app, &toggle).await;
    let (headers, lines) = roi_table(&html);
    let api_fields: Vec<String> = rows[0].as_object().unwrap().keys().cloned().collect();
    let rest: Vec<&String> = api_fields
        .iter()
        .filter(|f| !key_fields.contains(&f.as_str()))
        .collect();
    assert_eq!(headers.len(), api_fields.len(), "{headers:?}");
    assert_eq!(headers[7], "Leads");
    assert_eq!(headers[10], "Key", "{headers:?}");
    for (line, row) in lines.iter().zip(rows) {
        let expected: Vec<String> = key_fields
            .iter()
            .map(|f| as_cell(&row[f]))
            .chain(rest.iter().map(|f| match f.as_str() {
                "kind" => "Online ads".to_owned(),
                _ => as_cell(&row[f.as_str()]),
            }))
            .collect();
        assert_eq!(line, &expected);
    }
    // The downloads keep the report's own columns, whatever the page shows.
    let csv = start_tags(&html)
        .into_iter()
        .find(|t| t.attr("id") == Some("download-csv"))
        .and_then(|t| t.attr("href").map(crate::helpers::decode_entities))
        .unwrap();
    assert!(!csv.contains("columns"), "{csv}");
    let resp = app.client.get(app.url(&csv)).login().send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.trim_start_matches('\u{feff}')
            .starts_with("Key,Campaign,Kind,Channel,Currency,Budget,Cost,"),
        "{body}"
    );
}
