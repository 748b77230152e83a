//! The console's sales pages: the salespeople list and forms, the campaign form's
//! assignment rule and follow-up deadline, the leads page's assignee filter, reassign and
//! follow-up controls, and the overview's follow-up chart and columns; in both languages,
//! with the form tokens of the other console forms. Also `GET /api/leads?assigned_to=`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::console::{
    Console, as_cell, form_token, location, marked_field, page, post_form, post_plain, roi_table,
};
use crate::helpers::{
    TestApp, assert_error, excel_csv, json_body, lead, mobile, spawn_app_with, start_tags,
    urlencode,
};
use crate::receiver::Receiver;

/// A server that may send to the test receivers on 127.0.0.1.
async fn spawn() -> TestApp {
    spawn_app_with(|c| {
        c.allow_private_destinations = true;
        c.delivery_retry_delays = vec![Duration::from_millis(50); 9];
    })
    .await
}

async fn salesperson(app: &TestApp, id: &str) -> Value {
    let (status, person) = json_body(app.admin_get(&format!("/api/salespeople/{id}")).await).await;
    assert_eq!(status, 200, "{person}");
    person
}

async fn campaign(app: &TestApp, slug: &str) -> Value {
    let (status, campaign) =
        json_body(app.admin_get(&format!("/api/campaigns/{slug}")).await).await;
    assert_eq!(status, 200, "{campaign}");
    campaign
}

async fn stored_lead(app: &TestApp, id: &str) -> Value {
    let (status, lead) = json_body(app.admin_get(&format!("/api/leads/{id}")).await).await;
    assert_eq!(status, 200, "{lead}");
    lead
}

/// The values of the ticked (`checked`) controls called `name`.
fn ticked(html: &str, name: &str) -> Vec<String> {
    start_tags(html)
        .iter()
        .filter(|t| t.attr("name") == Some(name) && t.attr("checked").is_some())
        .filter_map(|t| t.attr("value").map(str::to_owned))
        .collect()
}

/// The values offered by the controls called `name` (checkboxes or a select's options).
fn offered(html: &str, name: &str) -> Vec<String> {
    let tags = start_tags(html);
    if let Some(at) = tags
        .iter()
        .position(|t| t.tag == "select" && t.attr("name") == Some(name))
    {
        return tags[at + 1..]
            .iter()
            .take_while(|t| t.tag == "option")
            .filter_map(|t| t.attr("value").map(str::to_owned))
            .collect();
    }
    tags.iter()
        .filter(|t| t.attr("name") == Some(name))
        .filter_map(|t| t.attr("value").map(str::to_owned))
        .collect()
}

/// The selected option of the first select called `name`.
fn selected(html: &str, name: &str) -> Option<String> {
    let tags = start_tags(html);
    let at = tags
        .iter()
        .position(|t| t.tag == "select" && t.attr("name") == Some(name))?;
    tags[at + 1..]
        .iter()
        .take_while(|t| t.tag == "option")
        .find(|t| t.attr("selected").is_some())
        .and_then(|t| t.attr("value").map(str::to_owned))
}

/// The leads table's row that shows `name`.
fn lead_row(html: &str, name: &str) -> Option<String> {
    let table = html.split("<table id=\"leads\"").nth(1)?;
    table
        .split("<tr>")
        .skip(1)
        .find(|row| row.contains(name))
        .map(|row| row.split("</tr>").next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_sales_pages_come_in_chinese_and_english() {
    let app = spawn().await;
    let a = app
        .add_salesperson(
            json!({"name": "王芳", "mobile": "13912340001", "wecom_userid": "wangfang"}),
        )
        .await;
    app.add_salesperson(json!({"name": "李强", "active": false}))
        .await;
    app.create_campaign(
        "expo",
        json!({"name": "春季展会", "follow_up_hours": 24,
            "assign": {"mode": "round_robin", "salespeople": [a]}}),
    )
    .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let person = format!("/admin/salespeople/{a}");
    let cases: [(&str, &[&str], &[&str]); 6] = [
        (
            "/admin/salespeople",
            &[
                ">销售</a>",
                "销售人员",
                "王芳",
                "+8613912340001",
                "wangfang",
                "在岗",
                "已停用",
                "添加销售",
                "企业微信 userid",
            ],
            &[
                ">Sales</a>",
                "Salespeople",
                "Active",
                "Inactive",
                "Add a salesperson",
                "WeCom userid",
            ],
        ),
        (
            &person,
            &["名下线索", "查看线索", "删除", "名下有线索的只会停用"],
            &["Leads", "View leads", "Delete", "deactivated instead"],
        ),
        (
            "/admin/campaigns/expo",
            &[
                "线索分配",
                "不自动分配",
                "分给负责人",
                "轮流分配",
                "跟进时限",
                "（不是销售：填写姓名）",
            ],
            &[
                "Lead assignment",
                "Not automatically",
                "To the owner",
                "Round robin",
                "Follow up within",
                "(not a salesperson: type a name)",
            ],
        ),
        (
            "/admin/campaigns/new",
            &["线索分配", "跟进时限"],
            &["Lead assignment", "Follow up within"],
        ),
        (
            "/admin/leads",
            &[
                "负责销售",
                "未分配",
                "分配",
                "未跟进 · 截止",
                "电话",
                "拜访",
                "消息",
                "邮件",
                "备注",
                "记录",
            ],
            &[
                "Assigned to",
                "Unassigned",
                "Assign",
                "Not followed up · Due",
                "Call",
                "Visit",
                "Message",
                "E-mail",
                "Note",
                "Record",
            ],
        ),
        (
            "/admin?from=1970-01-01&to=2099-12-31",
            &["跟进：平均响应时间", "只看跟进列"],
            &["Follow-up: average response time", "Follow-up columns"],
        ),
    ];
    for (path, zh, en) in cases {
        let html = page(&app, path).await;
        assert!(html.contains("lang=\"zh-CN\""), "{path}");
        for text in zh {
            assert!(html.contains(text), "{path} (zh) lacks {text:?}");
        }
        let join = if path.contains('?') { '&' } else { '?' };
        let html = page(&app, &format!("{path}{join}lang=en")).await;
        assert!(html.contains("lang=\"en\""), "{path}");
        for text in en {
            assert!(html.contains(text), "{path} (en) lacks {text:?}");
        }
        for chinese in ["销售人员", "线索分配", "负责销售", "跟进时限", "只看跟进列"]
        {
            assert!(!html.contains(chinese), "{path} (en) shows {chinese:?}");
        }
    }
    // The nav entry is marked on its pages and keeps the language.
    let html = page(&app, "/admin/salespeople?lang=en").await;
    assert!(html.contains("<a href=\"/admin/salespeople?lang=en\" class=\"on\">Sales</a>"));
}

#[tokio::test]
async fn salespeople_are_added_edited_deactivated_and_deleted_through_the_forms() {
    let app = spawn().await;
    let html = page(&app, "/admin/salespeople").await;
    assert!(
        html.contains("还没有销售"),
        "the empty roster says what to do"
    );
    let token = form_token(&html, "/admin/salespeople");

    // A refused field: the list again, the API's message next to the field, values kept.
    let bad = post_form(
        &app,
        "/admin/salespeople",
        &[
            ("_csrf", &token),
            ("name", "王芳"),
            ("mobile", "12"),
            ("active", "1"),
        ],
    )
    .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    let field = marked_field(&html, "mobile").expect("the mobile field is marked");
    assert!(field.contains("class=\"error\""), "{field}");
    assert!(html.contains("value=\"王芳\""), "the name typed is kept");
    let bad = post_form(&app, "/admin/salespeople", &[("_csrf", &token)]).await;
    assert_eq!(bad.status(), 422);
    assert!(marked_field(&bad.text().await.unwrap(), "name").is_some());

    let added = post_form(
        &app,
        "/admin/salespeople",
        &[
            ("_csrf", &token),
            ("name", "王芳"),
            ("mobile", "139 1234 0001"),
            ("wecom_userid", "wangfang"),
            ("dingtalk_userid", ""),
            ("active", "1"),
        ],
    )
    .await;
    assert_eq!(added.status(), 303);
    assert_eq!(location(&added), "/admin/salespeople?saved=1");
    // Unticked "active": on the roster, but no new leads.
    let added = post_form(
        &app,
        "/admin/salespeople?lang=en",
        &[("_csrf", &token), ("name", "李强")],
    )
    .await;
    assert_eq!(location(&added), "/admin/salespeople?saved=1&lang=en");
    let (_, list) = json_body(app.admin_get("/api/salespeople").await).await;
    let people = list["salespeople"].as_array().unwrap();
    assert_eq!(people.len(), 2, "{list}");
    assert_eq!(people[0]["name"], "王芳");
    assert_eq!(people[0]["mobile"], "+8613912340001");
    assert_eq!(people[0]["wecom_userid"], "wangfang");
    assert_eq!(people[0]["dingtalk_userid"], Value::Null);
    assert_eq!(people[0]["active"], true);
    assert_eq!(
        (&people[1]["name"], &people[1]["active"]),
        (&json!("李强"), &json!(false))
    );
    let (wang, li) = (
        people[0]["id"].as_str().unwrap().to_owned(),
        people[1]["id"].as_str().unwrap().to_owned(),
    );
    let html = page(&app, "/admin/salespeople?saved=1").await;
    assert!(html.contains("已添加"));
    assert!(html.contains(&format!("href=\"/admin/salespeople/{wang}\"")));
    assert!(
        html.contains(&format!("href=\"/admin/leads?assigned_to={wang}\"")),
        "the lead count links to their leads"
    );

    // Edit: every field is saved; an emptied one is cleared; unticking deactivates.
    let path = format!("/admin/salespeople/{wang}");
    let html = page(&app, &path).await;
    assert!(html.contains("value=\"wangfang\"") && html.contains("value=\"+8613912340001\""));
    let token = form_token(&html, &path);
    let saved = post_form(
        &app,
        &path,
        &[
            ("_csrf", &token),
            ("name", "王芳芳"),
            ("mobile", "+8613912340001"),
            ("wecom_userid", ""),
            ("feishu_open_id", "ou_7d8a6e6df7621556ce0d21922b676706"),
        ],
    )
    .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(location(&saved), format!("{path}?saved=1"));
    let person = salesperson(&app, &wang).await;
    assert_eq!(person["name"], "王芳芳");
    assert_eq!(person["wecom_userid"], Value::Null);
    assert_eq!(
        person["feishu_open_id"],
        "ou_7d8a6e6df7621556ce0d21922b676706"
    );
    assert_eq!(person["active"], false, "deactivated");
    let html = page(&app, &format!("{path}?saved=1")).await;
    assert!(html.contains("已保存") && html.contains("已停用"));
    // A refused edit keeps what was typed.
    let bad = post_form(
        &app,
        &path,
        &[("_csrf", &token), ("name", "王芳"), ("wecom_userid", "a b")],
    )
    .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(marked_field(&html, "wecom_userid").is_some());
    assert!(html.contains("value=\"a b\""));
    // Active again, and given a lead.
    let saved = post_form(
        &app,
        &path,
        &[("_csrf", &token), ("name", "王芳"), ("active", "1")],
    )
    .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(salesperson(&app, &wang).await["active"], true);
    app.create_campaign("expo", json!({"owner": wang, "assign": {"mode": "owner"}}))
        .await;
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let html = page(&app, "/admin/salespeople").await;
    assert!(html.contains(&format!("href=\"/admin/leads?assigned_to={wang}\">1</a>")));

    // Delete: someone with leads is deactivated, and their page says so in the API's words.
    let html = page(&app, &path).await;
    let delete = format!("{path}/delete");
    let kept = post_form(&app, &delete, &[("_csrf", &form_token(&html, &delete))]).await;
    assert_eq!(kept.status(), 409);
    let html = kept.text().await.unwrap();
    let notice = html
        .split("id=\"notice\">")
        .nth(1)
        .and_then(|rest| rest.split("</div>").next())
        .expect("a notice");
    assert!(
        notice.contains("未删除") && notice.contains("deactivated"),
        "{notice}"
    );
    assert!(
        html.contains(&format!("href=\"{path}?lang=en\"")),
        "the other language is the person's page: {html}"
    );
    let person = salesperson(&app, &wang).await;
    assert_eq!(person["active"], false);

    // Someone without leads is gone.
    let path = format!("/admin/salespeople/{li}");
    let html = page(&app, &path).await;
    let delete = format!("{path}/delete");
    let gone = post_form(&app, &delete, &[("_csrf", &form_token(&html, &delete))]).await;
    assert_eq!(gone.status(), 303);
    assert_eq!(location(&gone), "/admin/salespeople?deleted=1");
    assert_error(
        app.admin_get(&format!("/api/salespeople/{li}")).await,
        404,
        None,
    )
    .await;
    let html = page(&app, "/admin/salespeople?deleted=1").await;
    assert!(html.contains("已删除") && !html.contains("李强"));
    let resp = app.client.get(app.url(&path)).login().send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn the_campaign_form_saves_the_assignment_rule_and_the_follow_up_deadline() {
    let app = spawn().await;
    let a = app.add_salesperson(json!({"name": "王芳"})).await;
    let b = app.add_salesperson(json!({"name": "李强"})).await;
    let c = app
        .add_salesperson(json!({"name": "赵敏", "active": false}))
        .await;
    let html = page(&app, "/admin/campaigns/new").await;
    assert_eq!(
        offered(&html, "assign_salespeople"),
        [a.clone(), b.clone()],
        "the active people, in roster order"
    );
    assert_eq!(selected(&html, "assign_mode").as_deref(), Some("none"));
    let token = form_token(&html, "/admin/campaigns");
    let created = post_form(
        &app,
        "/admin/campaigns",
        &[
            ("_csrf", &token),
            ("slug", "expo"),
            ("name", "春季展会"),
            ("assign_mode", "round_robin"),
            ("assign_salespeople", &a),
            ("assign_salespeople", &b),
            ("follow_up_hours", "24"),
        ],
    )
    .await;
    assert_eq!(created.status(), 303);
    let stored = campaign(&app, "expo").await;
    assert_eq!(
        stored["assign"],
        json!({"mode": "round_robin", "salespeople": [a, b]})
    );
    assert_eq!(stored["follow_up_hours"], 24);
    let first = app.submit_json_ok("expo", &lead(&mobile(1), "甲")).await;
    assert_eq!(stored_lead(&app, &first).await["assigned_to"], json!(a));

    let path = "/admin/campaigns/expo";
    let html = page(&app, path).await;
    assert_eq!(
        selected(&html, "assign_mode").as_deref(),
        Some("round_robin")
    );
    assert_eq!(ticked(&html, "assign_salespeople"), [a.clone(), b.clone()]);
    assert_eq!(
        crate::helpers::control(&html, "follow_up_hours")
            .and_then(|t| t.attr("value").map(str::to_owned)),
        Some("24".to_owned())
    );
    let token = form_token(&html, path);
    let form = |extra: &[(&'static str, String)]| {
        let mut fields: Vec<(&'static str, String)> = vec![
            ("_csrf", token.clone()),
            ("name", "春季展会".into()),
            ("kind", "trade_show".into()),
            ("status", "running".into()),
        ];
        fields.extend_from_slice(extra);
        fields
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(app, path, &pairs).await
        }
    };

    // Out of range: the message next to the field, the ticks kept.
    let bad = post(form(&[
        ("follow_up_hours", "0".into()),
        ("assign_mode", "round_robin".into()),
        ("assign_salespeople", b.clone()),
    ]))
    .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(marked_field(&html, "follow_up_hours").is_some(), "{html}");
    assert_eq!(ticked(&html, "assign_salespeople"), [b.as_str()]);

    // "To the owner" needs a salesperson as the owner: a name is refused at the owner.
    let bad = post(form(&[
        ("assign_mode", "owner".into()),
        ("owner_id", String::new()),
        ("owner", "张经理".into()),
    ]))
    .await;
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    let owner = marked_field(&html, "owner_id").expect("the owner is marked");
    assert!(owner.contains("needs a salesperson") || owner.contains("需要把负责人选为一位销售"));
    assert_eq!(
        campaign(&app, "expo").await["assign"]["mode"],
        "round_robin"
    );

    let saved = post(form(&[
        ("assign_mode", "owner".into()),
        ("owner_id", b.clone()),
        ("owner", "ignored when a salesperson is chosen".into()),
        ("assign_salespeople", a.clone()),
        ("follow_up_hours", "48".into()),
    ]))
    .await;
    assert_eq!(saved.status(), 303);
    let stored = campaign(&app, "expo").await;
    assert_eq!(stored["owner"], json!(b));
    assert_eq!(
        stored["assign"],
        json!({"mode": "owner", "salespeople": [a]})
    );
    assert_eq!(stored["follow_up_hours"], 48);
    let next = app.submit_json_ok("expo", &lead(&mobile(2), "乙")).await;
    assert_eq!(stored_lead(&app, &next).await["assigned_to"], json!(b));
    let html = page(&app, path).await;
    assert_eq!(selected(&html, "owner_id"), Some(b.clone()));
    assert_eq!(
        crate::helpers::control(&html, "owner").and_then(|t| t.attr("value").map(str::to_owned)),
        Some(String::new()),
        "a salesperson owner is not shown as a name"
    );

    // A name as the owner still works (no rule that needs a salesperson); the deadline
    // can be cleared.
    let saved = post(form(&[
        ("assign_mode", "none".into()),
        ("owner_id", String::new()),
        ("owner", "张经理".into()),
        ("follow_up_hours", String::new()),
    ]))
    .await;
    assert_eq!(saved.status(), 303);
    let stored = campaign(&app, "expo").await;
    assert_eq!(stored["owner"], "张经理");
    assert_eq!(stored["assign"], json!({"mode": "none", "salespeople": []}));
    assert_eq!(stored["follow_up_hours"], Value::Null);
    let html = page(&app, path).await;
    assert_eq!(selected(&html, "owner_id"), None);
    assert!(html.contains("value=\"张经理\""));

    // Someone inactive who is already in the round robin stays ticked (marked) and kept.
    let resp = app
        .admin_patch(
            "/api/campaigns/expo",
            &json!({"assign": {"mode": "round_robin", "salespeople": [a, c]}}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let html = page(&app, path).await;
    assert_eq!(ticked(&html, "assign_salespeople"), [a.clone(), c.clone()]);
    assert!(html.contains("赵敏（已停用）"));
    let fields: Vec<(&'static str, String)> = form(&[
        ("assign_mode", "round_robin".into()),
        ("assign_salespeople", a.clone()),
        ("assign_salespeople", c.clone()),
    ]);
    assert_eq!(post(fields).await.status(), 303);
    assert_eq!(
        campaign(&app, "expo").await["assign"]["salespeople"],
        json!([a, c])
    );
    // Naming someone who is not on the roster is the API's 422, at the rule.
    let bad = post(form(&[
        ("assign_mode", "round_robin".into()),
        ("assign_salespeople", "01ARZ3NDEKTSV4RRFFQ69G5FAV".into()),
    ]))
    .await;
    assert_eq!(bad.status(), 422);
    assert!(marked_field(&bad.text().await.unwrap(), "assign_mode").is_some());
}

#[tokio::test]
async fn the_leads_page_filters_by_salesperson_reassigns_and_records_follow_ups() {
    let app = spawn().await;
    let a = app.add_salesperson(json!({"name": "王芳"})).await;
    let b = app.add_salesperson(json!({"name": "李强"})).await;
    app.create_campaign(
        "expo",
        json!({"follow_up_hours": 24, "assign": {"mode": "round_robin", "salespeople": [a, b]}}),
    )
    .await;
    app.create_campaign("live", json!({})).await;
    let receiver = Receiver::answering(200, "").await;
    let resp = app
        .admin_post(
            "/api/destinations",
            &json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/"),
                "events": ["lead.updated"]}),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let mut ids = Vec::new();
    for (n, name) in ["甲先生", "乙先生", "丙先生"].into_iter().enumerate() {
        ids.push(app.submit_json_ok("expo", &lead(&mobile(n), name)).await);
    }
    let unassigned = app
        .submit_json_ok("live", &lead(&mobile(9), "丁先生"))
        .await;

    // The filter: a salesperson's leads, nobody's, and with the other filters.
    let shown = |html: &str| -> Vec<&str> {
        ["甲先生", "乙先生", "丙先生", "丁先生"]
            .into_iter()
            .filter(|name| lead_row(html, name).is_some())
            .collect()
    };
    let html = page(&app, &format!("/admin/leads?assigned_to={a}")).await;
    assert_eq!(shown(&html), ["甲先生", "丙先生"]);
    assert_eq!(
        selected(&html, "assigned_to"),
        Some(a.clone()),
        "the filter keeps its choice"
    );
    assert_eq!(
        offered(&html, "assigned_to"),
        ["", "none", a.as_str(), b.as_str()],
        "everyone, nobody, or each salesperson"
    );
    let row = lead_row(&html, "甲先生").unwrap();
    assert_eq!(
        selected(&row, "assigned_to"),
        Some(a.clone()),
        "the assigned-to column"
    );
    let html = page(&app, "/admin/leads?assigned_to=none").await;
    assert_eq!(shown(&html), ["丁先生"]);
    let html = page(&app, &format!("/admin/leads?assigned_to={b}&campaign=live")).await;
    assert!(shown(&html).is_empty());
    let html = page(&app, &format!("/admin/leads?assigned_to={b}&status=new")).await;
    assert_eq!(shown(&html), ["乙先生"]);
    let csv = app
        .client
        .get(app.url(&format!("/admin/leads.csv?assigned_to={a}")))
        .login()
        .send()
        .await
        .unwrap();
    assert_eq!(
        excel_csv(&csv.bytes().await.unwrap()).len(),
        3,
        "header and two leads"
    );
    // The language link keeps the filter.
    let html = page(&app, &format!("/admin/leads?assigned_to={a}")).await;
    assert!(html.contains(&format!(
        "href=\"/admin/leads?assigned_to={a}&#38;lang=en\""
    )));

    // Reassign 甲先生 to 李强 from the filtered page: back to that page, a lead.updated sent.
    let action = format!("/admin/leads/{}/assign", ids[0]);
    let token = form_token(&html, &action);
    let back = format!("assigned_to={a}");
    let resp = post_form(
        &app,
        &action,
        &[("_csrf", &token), ("assigned_to", &b), ("back", &back)],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), format!("/admin/leads?{back}"));
    let stored = stored_lead(&app, &ids[0]).await;
    assert_eq!(stored["assigned_to"], json!(b));
    assert_eq!(stored["assigned_to_name"], "李强");
    let event = receiver.wait_for(1).await[0].json();
    assert_eq!(event["type"], "lead.updated");
    assert_eq!(event["data"]["id"], json!(ids[0]));
    assert_eq!(event["data"]["assigned_to"], json!(b));
    let html = page(&app, &format!("/admin/leads?assigned_to={b}")).await;
    assert_eq!(shown(&html), ["甲先生", "乙先生"]);
    // To nobody, and an unknown salesperson is refused.
    let resp = post_form(&app, &action, &[("_csrf", &token), ("assigned_to", "")]).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(stored_lead(&app, &ids[0]).await["assigned_to"], Value::Null);
    let resp = post_form(
        &app,
        &action,
        &[
            ("_csrf", &token),
            ("assigned_to", "01ARZ3NDEKTSV4RRFFQ69G5FAV"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("assigned_to"));

    // A follow-up from the list: recorded now, the row shows it, the page says so.
    let html = page(&app, "/admin/leads").await;
    let row = lead_row(&html, "乙先生").unwrap();
    assert!(row.contains("未跟进 · 截止"), "{row}");
    let action = format!("/admin/leads/{}/activities", ids[1]);
    let token = form_token(&html, &action);
    let resp = post_form(
        &app,
        &action,
        &[
            ("_csrf", &token),
            ("kind", "call"),
            ("note", "约了周五到店"),
            ("back", "campaign=expo"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(location(&resp), "/admin/leads?campaign=expo&recorded=1");
    let (_, list) = json_body(
        app.admin_get(&format!("/api/leads/{}/activities", ids[1]))
            .await,
    )
    .await;
    let activities = list["activities"].as_array().unwrap();
    assert_eq!(activities.len(), 1, "{list}");
    assert_eq!(activities[0]["kind"], "call");
    assert_eq!(activities[0]["note"], "约了周五到店");
    let html = page(&app, "/admin/leads?campaign=expo&recorded=1").await;
    assert!(html.contains("已记录跟进"));
    let row = lead_row(&html, "乙先生").unwrap();
    assert!(
        row.contains("首次跟进") && row.contains("跟进记录 1"),
        "{row}"
    );
    assert!(
        !html.contains("recorded=1&#38;lang=en"),
        "the notice is not carried along"
    );
    // A visit without a note; a kind that does not exist is refused.
    let resp = post_form(&app, &action, &[("_csrf", &token), ("kind", "visit")]).await;
    assert_eq!(resp.status(), 303);
    let html = page(&app, "/admin/leads").await;
    assert!(lead_row(&html, "乙先生").unwrap().contains("跟进记录 2"));
    let resp = post_form(&app, &action, &[("_csrf", &token), ("kind", "fax")]).await;
    assert_eq!(resp.status(), 422);
    let resp = post_form(
        &app,
        &format!("/admin/leads/{unassigned}/activities"),
        &[("_csrf", &token), ("kind", "call")],
    )
    .await;
    assert_eq!(resp.status(), 403, "another lead's form token");
}

#[tokio::test]
async fn a_follow_up_logged_later_keeps_the_time_it_happened() {
    let app = spawn().await;
    app.create_campaign("expo", json!({})).await;
    // Received on 1 March 2025 at 10:00 in Shanghai (the reporting zone).
    let summary = app
        .import_leads_csv(
            "campaign,received_at,name,phone\n\
             expo,2025-03-01T10:00:00+08:00,甲先生,13900000001\n",
        )
        .await;
    assert_eq!(summary["imported"], 1, "{summary}");
    let id = app.all_leads("expo").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = page(&app, "/admin/leads").await;
    let row = lead_row(&html, "甲先生").unwrap();
    assert!(
        row.contains("<input type=\"datetime-local\" name=\"at\""),
        "the follow-up control asks when: {row}"
    );
    let action = format!("/admin/leads/{id}/activities");
    let token = form_token(&html, &action);
    let record = |at: &'static str| {
        let token = token.clone();
        let action = action.clone();
        let app = &app;
        async move {
            post_form(
                app,
                &action,
                &[("_csrf", &token), ("kind", "call"), ("at", at)],
            )
            .await
        }
    };
    let activities = || async {
        let (_, list) =
            json_body(app.admin_get(&format!("/api/leads/{id}/activities")).await).await;
        list["activities"].as_array().unwrap().clone()
    };

    // The next morning's call, logged later: the wall-clock time in Shanghai, whatever the
    // browser's zone.
    let resp = record("2025-03-02T09:15").await;
    assert_eq!(resp.status(), 303);
    let stored = activities().await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let at: jiff::Timestamp = stored[0]["at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        at,
        "2025-03-02T01:15:00Z".parse::<jiff::Timestamp>().unwrap()
    );
    let html = page(&app, "/admin/leads").await;
    assert!(
        lead_row(&html, "甲先生")
            .unwrap()
            .contains("首次跟进 03-02 09:15"),
        "the row shows the time it happened"
    );

    // In the future, malformed, or before the lead came: refused, nothing recorded.
    for (at, message) in [
        ("2999-01-01T09:00", "at must not be in the future"),
        ("yesterday", "2026-11-29T10:30"),
        ("2025-03-02T09:15+08:00", "2026-11-29T10:30"),
        (
            "2025-03-01T09:59",
            "at must not be before the lead was received",
        ),
    ] {
        let resp = record(at).await;
        assert_eq!(resp.status(), 422, "{at}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(message), "{at}: {message} in {body}");
    }
    assert_eq!(activities().await.len(), 1);
    // Empty is now, as before.
    let before = jiff::Timestamp::now();
    let resp = record("").await;
    assert_eq!(resp.status(), 303);
    let stored = activities().await;
    let at: jiff::Timestamp = stored[1]["at"].as_str().unwrap().parse().unwrap();
    assert!(
        at >= before.checked_sub(jiff::Span::new().seconds(1)).unwrap(),
        "{at}"
    );
}

#[tokio::test]
async fn the_overview_shows_the_follow_up_chart_and_columns_with_the_apis_figures() {
    let app = spawn().await;
    app.create_campaign("expo", json!({"name": "春季展会"}))
        .await;
    app.create_campaign("live", json!({"name": "直播间"})).await;
    let summary = app
        .import_leads_csv(
            "campaign,received_at,name,phone\n\
             expo,2025-03-01T10:00:00+08:00,甲,13900000001\n\
             expo,2025-03-01T12:00:00+08:00,乙,13900000002\n\
             expo,2025-03-02T09:00:00+08:00,丙,13900000003\n\
             expo,2025-03-02T10:00:00+08:00,丁,13900000004\n\
             live,2025-03-03T10:00:00+08:00,戊,13900000005\n",
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
    // 甲 after 1.5 h, 乙 after 48 h, 丁 after 0.5 h: (1.5 + 48 + 0.5) / 3 = 16.67 h, 75 %.
    for (name, kind, at) in [
        ("甲", "call", "2025-03-01T11:30:00+08:00"),
        ("甲", "visit", "2025-03-02T10:00:00+08:00"),
        ("乙", "call", "2025-03-03T12:00:00+08:00"),
        ("丁", "message", "2025-03-02T10:30:00+08:00"),
    ] {
        let resp = app
            .admin_post(
                &format!("/api/leads/{}/activities", id_of(name)),
                &json!({"kind": kind, "at": at}),
            )
            .await;
        assert_eq!(resp.status(), 201);
    }
    let query = "from=2025-03-01&to=2025-03-31";
    let report = app.roi(query).await;

    let html = page(&app, &format!("/admin?{query}&lang=en")).await;
    let chart = html
        .split("aria-label=\"Follow-up: average response time")
        .nth(1)
        .and_then(|rest| rest.split("</svg>").next())
        .expect("the follow-up chart");
    assert!(
        chart.contains("春季展会") && chart.contains("16.67 h · 75%"),
        "{chart}"
    );
    // Slowest first: the live show, which nobody followed up, heads the chart.
    assert!(chart.contains("Not followed up · 0%"), "{chart}");
    assert!(chart.find("直播间") < chart.find("春季展会"), "{chart}");
    let html = page(&app, &format!("/admin?{query}")).await;
    assert!(html.contains("16.67 小时 · 75%"), "Chinese units");

    // The follow-up columns, from the link on the default view, with the API's figures.
    let html = page(&app, &format!("/admin?{query}&lang=en")).await;
    let link = start_tags(&html)
        .into_iter()
        .find(|t| t.attr("id") == Some("columns-follow-up"))
        .and_then(|t| t.attr("href").map(crate::helpers::decode_entities))
        .expect("a link to the follow-up columns");
    assert!(
        link.contains("columns=follow_up") && link.contains("from=2025-03-01"),
        "{link}"
    );
    let html = page(&app, &link).await;
    let (headers, lines) = roi_table(&html);
    assert_eq!(
        headers,
        [
            "Campaign",
            "Leads",
            "Followed up %",
            "Avg. response (hours)",
            "Avg. follow-ups",
            "Overdue leads",
            "Pipeline"
        ]
    );
    let fields = [
        "name",
        "leads",
        "followed_up_pct",
        "avg_response_hours",
        "avg_follow_ups",
        "overdue_leads",
        "pipeline",
    ];
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(lines.len(), rows.len() + 1, "the rows and the total line");
    for (line, row) in lines.iter().zip(rows) {
        let expected: Vec<String> = fields.iter().map(|f| as_cell(&row[f])).collect();
        assert_eq!(line, &expected);
    }
    let expo = lines.iter().find(|l| l[0] == "春季展会").unwrap();
    assert_eq!(expo[2..5], ["75.00", "16.67", "1.00"]);
    // The period form keeps the view; its link goes back to the key columns.
    assert!(
        crate::helpers::controls(&html)
            .iter()
            .any(|t| t.attr("name") == Some("columns") && t.attr("value") == Some("follow_up"))
    );
    let back = start_tags(&html)
        .into_iter()
        .find(|t| t.attr("id") == Some("columns-follow-up"))
        .and_then(|t| t.attr("href").map(crate::helpers::decode_entities))
        .unwrap();
    assert!(!back.contains("columns="), "{back}");
    // Every column includes the five.
    let html = page(&app, &format!("/admin?{query}&lang=en&columns=all")).await;
    let (headers, _) = roi_table(&html);
    for title in [
        "Followed up %",
        "Avg. response (hours)",
        "Avg. follow-ups",
        "Overdue leads",
        "Pipeline",
    ] {
        assert!(headers.iter().any(|h| h == title), "{title} in {headers:?}");
    }
}

#[tokio::test]
async fn every_new_post_needs_its_own_form_token_from_the_console() {
    let app = spawn().await;
    let a = app.add_salesperson(json!({"name": "王芳"})).await;
    app.create_campaign(
        "expo",
        json!({"assign": {"mode": "round_robin", "salespeople": [a]}}),
    )
    .await;
    let lead_id = app
        .submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let list = page(&app, "/admin/salespeople").await;
    let person = page(&app, &format!("/admin/salespeople/{a}")).await;
    let leads = page(&app, "/admin/leads").await;
    let actions = [
        ("/admin/salespeople".to_owned(), &list),
        (format!("/admin/salespeople/{a}"), &person),
        (format!("/admin/salespeople/{a}/delete"), &person),
        (format!("/admin/leads/{lead_id}/assign"), &leads),
        (format!("/admin/leads/{lead_id}/activities"), &leads),
    ];
    let own = [
        ("origin", app.base.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let body = |token: &str| {
        urlencode(&[
            ("_csrf", token),
            ("name", "李强"),
            ("assigned_to", ""),
            ("kind", "call"),
        ])
    };
    for (i, (action, html)) in actions.iter().enumerate() {
        let token = form_token(html, action);
        // Another of these forms' tokens.
        let (other, other_html) = &actions[(i + 1) % actions.len()];
        let other = form_token(other_html, other);
        type Headers<'a> = Vec<(&'a str, &'a str)>;
        let cases: Vec<(&str, Headers, String)> = vec![
            ("no token", own.to_vec(), body("").replace("_csrf=&", "")),
            ("a malformed token", own.to_vec(), body("00")),
            ("another form's token", own.to_vec(), body(&other)),
            (
                "a foreign origin",
                vec![("origin", "https://evil.example")],
                body(&token),
            ),
            ("a null origin", vec![("origin", "null")], body(&token)),
            (
                "a cross-site fetch",
                vec![("sec-fetch-site", "cross-site")],
                body(&token),
            ),
        ];
        for (what, headers, body) in &cases {
            let resp = post_plain(&app, action, headers, body).await;
            assert_eq!(resp.status(), 403, "{action}: {what}");
        }
    }
    // Nothing changed.
    let (_, people) = json_body(app.admin_get("/api/salespeople").await).await;
    assert_eq!(
        people["salespeople"].as_array().unwrap().len(),
        1,
        "{people}"
    );
    assert_eq!(salesperson(&app, &a).await["name"], "王芳");
    assert_eq!(stored_lead(&app, &lead_id).await["assigned_to"], json!(a));
    let (_, activities) = json_body(
        app.admin_get(&format!("/api/leads/{lead_id}/activities"))
            .await,
    )
    .await;
    assert_eq!(activities["activities"], json!([]));
    // The console's own token works.
    let action = format!("/admin/leads/{lead_id}/activities");
    let resp = post_plain(&app, &action, &own, &body(&form_token(&leads, &action))).await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn the_api_lists_a_salespersons_leads_or_the_unassigned_ones() {
    let app = spawn().await;
    let a = app.add_salesperson(json!({"name": "王芳"})).await;
    let b = app.add_salesperson(json!({"name": "李强"})).await;
    app.create_campaign(
        "expo",
        json!({"assign": {"mode": "round_robin", "salespeople": [a, b]}}),
    )
    .await;
    app.create_campaign("live", json!({})).await;
    let mut expo = Vec::new();
    for n in 0..5 {
        expo.push(app.submit_json_ok("expo", &lead(&mobile(n), "客户")).await);
    }
    let live = app.submit_json_ok("live", &lead(&mobile(9), "客户")).await;
    let ids = |page: &Value| -> Vec<String> {
        page["leads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // Newest first, paged through the salesperson's own index.
    let first = app.list_leads(&format!("assigned_to={a}&limit=2")).await;
    assert_eq!(ids(&first), [expo[4].clone(), expo[2].clone()]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .list_leads(&format!("assigned_to={a}&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), [expo[0].clone()]);
    assert_eq!(second["next_cursor"], Value::Null);
    for lead in first["leads"].as_array().unwrap() {
        assert_eq!(lead["assigned_to"], json!(a));
    }
    assert_eq!(
        ids(&app.list_leads("assigned_to=none").await),
        [live.as_str()]
    );
    assert_eq!(
        ids(&app.list_leads(&format!("assigned_to={b}")).await),
        [expo[3].clone(), expo[1].clone()]
    );
    // With the other filters.
    assert!(
        ids(&app
            .list_leads(&format!("assigned_to={a}&campaign=live"))
            .await)
        .is_empty()
    );
    assert_eq!(
        ids(&app.list_leads("assigned_to=none&campaign=live").await),
        [live.as_str()]
    );
    let resp = app
        .admin_patch(
            &format!("/api/leads/{}", expo[3]),
            &json!({"status": "mql"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        ids(&app.list_leads(&format!("assigned_to={b}&status=new")).await),
        [expo[1].clone()]
    );
    let since = &expo[1];
    let (_, lead) = json_body(app.admin_get(&format!("/api/leads/{since}")).await).await;
    let received = lead["received_at"].as_str().unwrap();
    assert_eq!(
        ids(&app
            .list_leads(&format!(
                "assigned_to={b}&until={}",
                crate::helpers::encode(received)
            ))
            .await),
        [expo[1].clone()]
    );
    // Reassigned leads move between the lists.
    let resp = app
        .admin_patch(&format!("/api/leads/{live}"), &json!({"assigned_to": b}))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(ids(&app.list_leads("assigned_to=none").await).is_empty());
    assert_eq!(
        ids(&app.list_leads(&format!("assigned_to={b}")).await)[0],
        live
    );
    // The CSV export takes the filter too.
    let csv = app
        .admin_get(&format!("/api/leads?format=csv&assigned_to={a}"))
        .await;
    let rows = excel_csv(&csv.bytes().await.unwrap());
    assert_eq!(rows.len(), 4, "header and three leads");
    let column = rows[0]
        .iter()
        .position(|h| h == "assigned_to_name")
        .unwrap();
    assert!(rows[1..].iter().all(|r| r[column] == "王芳"));

    // Someone not on the roster has no leads; a value that is no id is refused.
    assert!(
        ids(&app
            .list_leads("assigned_to=01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .await)
        .is_empty()
    );
    for bad in ["nobody", "NONE", "12"] {
        let resp = app
            .admin_get(&format!("/api/leads?assigned_to={bad}"))
            .await;
        let error = assert_error(resp, 422, Some("assigned_to")).await;
        assert_eq!(error["error"]["code"], "invalid_value", "{bad}");
    }
    let resp = app.admin_get("/api/leads?assigned_to=").await;
    assert_error(resp, 422, Some("assigned_to")).await;
}
