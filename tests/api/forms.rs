//! `/f/{slug}`: the landing form page, browser and JSON submissions, and their rejections.

use std::collections::BTreeSet;

use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::helpers::{
    TRACKING_SET, TestApp, assert_error, assert_ulid, content_type, control, controls, encode,
    json_body, lead, spawn_app, visible_text,
};

const XSS: &str = "<script>alert(1)</script>";

/// An app with one campaign `expo` on the `default` form.
async fn app_with_default_form() -> TestApp {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    app
}

/// An app with one campaign `live` on the `livestream` form.
async fn app_with_livestream_form() -> TestApp {
    let app = spawn_app().await;
    app.create_campaign("live", json!({"form": "livestream", "kind": "livestream"}))
        .await;
    app
}

fn assert_redirects_to_thanks(app: &TestApp, resp: &reqwest::Response, slug: &str) {
    assert_eq!(resp.status(), 303, "browser success is 303 See Other");
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location header");
    let path = format!("/f/{slug}/thanks");
    assert!(
        location == path || location == app.url(&path),
        "Location {location:?}, want {path:?}"
    );
}

/// Names of the visible, user-facing controls (not hidden, not `_`-prefixed).
fn visible_field_names(html: &str) -> BTreeSet<String> {
    controls(html)
        .into_iter()
        .filter(|t| !t.is_hidden())
        .filter_map(|t| t.attr("name").map(str::to_owned))
        .filter(|n| !n.starts_with('_'))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// GET /f/{slug}

#[tokio::test]
async fn default_form_page_renders_every_field() {
    let app = app_with_default_form().await;
    let resp = app.get("/f/expo").await;
    assert_eq!(resp.status(), 200);
    assert!(content_type(&resp).starts_with("text/html"), "HTML page");
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"lang="zh-CN""#), "page language is zh-CN");
    let fields = visible_field_names(&html);
    for name in [
        "name", "phone", "email", "company", "title", "message", "consent",
    ] {
        assert!(fields.contains(name), "no {name} control in {fields:?}");
    }
    let consent = control(&html, "consent").unwrap();
    assert_eq!(consent.tag, "input");
    assert_eq!(
        consent.attr("type"),
        Some("checkbox"),
        "consent is a checkbox"
    );
}

#[tokio::test]
async fn livestream_form_page_has_only_phone_and_name() {
    let app = app_with_livestream_form().await;
    let html = app.form_page("live").await;
    let fields = visible_field_names(&html);
    let want: BTreeSet<String> = ["name", "phone"].map(String::from).into();
    assert_eq!(fields, want);
}

#[tokio::test]
async fn form_page_embeds_token_and_honeypot() {
    let app = app_with_default_form().await;
    let html = app.form_page("expo").await;
    let token = control(&html, "_token").expect("_token input");
    assert!(token.is_hidden(), "_token is a hidden input");
    assert!(
        token.attr("value").is_some_and(|v| !v.is_empty()),
        "_token has a value"
    );
    let hp = control(&html, "_hp").expect("_hp honeypot input");
    assert_eq!(hp.attr("value").unwrap_or(""), "", "honeypot starts empty");
}

#[tokio::test]
async fn each_render_gets_its_own_token() {
    let app = app_with_default_form().await;
    let first = app.form_token("expo").await;
    let second = app.form_token("expo").await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn form_page_carries_every_tracking_param_as_hidden_input() {
    let app = app_with_default_form().await;
    let query: Vec<String> = TRACKING_SET
        .iter()
        .map(|p| format!("{p}={}", encode(&format!("v-{p}"))))
        .collect();
    let resp = app.get(&format!("/f/expo?{}", query.join("&"))).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    for param in TRACKING_SET {
        let input = control(&html, param).unwrap_or_else(|| panic!("no hidden input {param}"));
        assert!(input.is_hidden(), "{param} is carried as a hidden input");
        assert_eq!(input.attr("value"), Some(format!("v-{param}").as_str()));
    }
}

#[tokio::test]
async fn tracking_values_are_html_escaped() {
    let app = app_with_default_form().await;
    let evil = format!("\">{XSS}'&");
    let resp = app
        .get(&format!(
            "/f/expo?utm_term={}&utm_source={}",
            encode(&evil),
            encode(XSS)
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        !html.contains("\"><script>"),
        "utm_term injected raw: {html}"
    );
    assert!(!html.contains(XSS), "utm_source injected raw");
    assert_eq!(
        control(&html, "utm_term").unwrap().attr("value"),
        Some(evil.as_str())
    );
    assert_eq!(
        control(&html, "utm_source").unwrap().attr("value"),
        Some(XSS)
    );
}

#[tokio::test]
async fn form_page_of_unknown_slug_is_404_html() {
    let app = spawn_app().await;
    let resp = app.get("/f/no-such-campaign").await;
    assert_eq!(resp.status(), 404);
    assert!(
        content_type(&resp).starts_with("text/html"),
        "404 page is HTML"
    );
}

#[tokio::test]
async fn not_found_page_does_not_reflect_markup() {
    let app = spawn_app().await;
    let resp = app.get(&format!("/f/{}", encode(XSS))).await;
    assert_eq!(resp.status(), 404);
    assert!(!resp.text().await.unwrap().contains(XSS));
}

#[tokio::test]
async fn thanks_page_renders() {
    let app = app_with_default_form().await;
    let resp = app.get("/f/expo/thanks").await;
    assert_eq!(resp.status(), 200);
    assert!(content_type(&resp).starts_with("text/html"));
}

// ---------------------------------------------------------------------------------------------
// Browser submissions

#[tokio::test]
async fn browser_submit_redirects_to_thanks_and_stores_the_lead() {
    let app = app_with_default_form().await;
    let token = app.form_token("expo").await;
    let resp = app
        .submit_form(
            "expo",
            &[
                ("_token", &token),
                ("_hp", ""),
                ("name", "张三"),
                ("phone", "138 0013 8000"),
                ("company", "上海某某科技有限公司"),
                ("consent", "on"),
                ("utm_source", "baidu"),
            ],
        )
        .await;
    assert_redirects_to_thanks(&app, &resp, "expo");
    let lead = app.single_lead("expo").await;
    assert_eq!(lead["name"], "张三");
    assert_eq!(lead["phone"], "+8613800138000");
    assert_eq!(lead["company"], "上海某某科技有限公司");
    assert_eq!(lead["source"], "form");
    assert_eq!(lead["campaign"], "expo");
}

#[tokio::test]
async fn browser_invalid_submit_rerenders_form_with_values_and_message() {
    let app = app_with_default_form().await;
    let blank_page = app.form_page("expo").await;
    let token = control(&blank_page, "_token")
        .and_then(|t| t.attr("value").map(str::to_owned))
        .unwrap();
    let resp = app
        .submit_form(
            "expo",
            &[
                ("_token", &token),
                ("name", "李四"),
                ("phone", "12345"),
                ("company", "北京公司"),
                ("consent", "on"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    assert!(
        content_type(&resp).starts_with("text/html"),
        "form re-rendered"
    );
    let html = resp.text().await.unwrap();
    assert_eq!(control(&html, "name").unwrap().attr("value"), Some("李四"));
    assert_eq!(
        control(&html, "phone").unwrap().attr("value"),
        Some("12345")
    );
    assert_eq!(
        control(&html, "company").unwrap().attr("value"),
        Some("北京公司")
    );
    assert!(
        visible_text(&html).len() > visible_text(&blank_page).len(),
        "the re-rendered form shows a message: {}",
        visible_text(&html)
    );
    assert!(app.all_leads("expo").await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn browser_submit_without_required_consent_is_422() {
    let app = app_with_default_form().await;
    let token = app.form_token("expo").await;
    let resp = app
        .submit_form(
            "expo",
            &[
                ("_token", &token),
                ("name", "王五"),
                ("phone", "13800138000"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert_eq!(
        control(&html, "phone").unwrap().attr("value"),
        Some("13800138000")
    );
    assert!(app.all_leads("expo").await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn browser_replay_of_token_stores_one_lead() {
    let app = app_with_default_form().await;
    let token = app.form_token("expo").await;
    let fields = [
        ("_token", token.as_str()),
        ("name", "张三"),
        ("phone", "13800138000"),
        ("consent", "on"),
    ];
    let first = app.submit_form("expo", &fields).await;
    assert_redirects_to_thanks(&app, &first, "expo");
    let again = app.submit_form("expo", &fields).await;
    assert_redirects_to_thanks(&app, &again, "expo");
    assert_eq!(app.all_leads("expo").await.len(), 1);
}

#[tokio::test]
async fn browser_honeypot_gets_success_and_stores_nothing() {
    let app = app_with_default_form().await;
    let token = app.form_token("expo").await;
    let resp = app
        .submit_form(
            "expo",
            &[
                ("_token", &token),
                ("_hp", "http://spam.example"),
                ("name", "bot"),
                ("phone", "13800138000"),
                ("consent", "on"),
            ],
        )
        .await;
    assert_redirects_to_thanks(&app, &resp, "expo");
    assert!(
        app.all_leads("expo").await.is_empty(),
        "honeypot hit stored"
    );
}

#[tokio::test]
async fn urlencoded_body_with_accept_json_gets_json() {
    let app = app_with_default_form().await;
    let resp = app
        .client
        .post(app.url("/f/expo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body("phone=13800138000&consent=on")
        .send()
        .await
        .unwrap();
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 201, "{body}");
    assert_ulid(body["lead_id"].as_str().expect("lead_id"));
}

// ---------------------------------------------------------------------------------------------
// JSON submissions

#[tokio::test]
async fn json_submit_returns_201_with_lead_id() {
    let app = app_with_default_form().await;
    let resp = app.submit_json("expo", &lead("13800138000", "张三")).await;
    assert!(content_type(&resp).starts_with("application/json"));
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["campaign"], "expo");
    assert_eq!(body["duplicate"], false);
    let id = body["lead_id"].as_str().expect("lead_id");
    assert_ulid(id);
    let stored = app.single_lead("expo").await;
    assert_eq!(stored["id"], id);
    assert_eq!(stored["status"], "new");
}

#[tokio::test]
async fn livestream_form_needs_no_consent() {
    let app = app_with_livestream_form().await;
    app.submit_json_ok("live", &json!({"phone": "13800138000"}))
        .await;
}

#[tokio::test]
async fn json_replay_of_token_returns_first_lead_as_duplicate() {
    let app = app_with_default_form().await;
    let token = app.form_token("expo").await;
    let mut body = lead("13800138000", "张三");
    body["_token"] = json!(token);
    let first = app.submit_json_ok("expo", &body).await;

    body["phone"] = json!("13900139000");
    let (status, replay) = json_body(app.submit_json("expo", &body).await).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["duplicate"], true);
    assert_eq!(replay["lead_id"], json!(first));
    assert_eq!(replay["campaign"], "expo");

    let stored = app.single_lead("expo").await;
    assert_eq!(stored["id"], json!(first));
    assert_eq!(
        stored["phone"], "+8613800138000",
        "the replay changed nothing"
    );
}

#[tokio::test]
async fn json_honeypot_gets_201_and_stores_nothing() {
    let app = app_with_default_form().await;
    let mut body = lead("13800138000", "bot");
    body["_hp"] = json!("filled by a bot");
    let (status, resp) = json_body(app.submit_json("expo", &body).await).await;
    assert_eq!(status, 201, "{resp}");
    assert!(
        app.all_leads("expo").await.is_empty(),
        "honeypot hit stored"
    );
}

async fn assert_json_submit_rejected(body: Value, field: &str) {
    let app = app_with_default_form().await;
    let resp = app.submit_json("expo", &body).await;
    assert_error(resp, 422, Some(field)).await;
    assert!(app.all_leads("expo").await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn submit_without_phone_or_email_is_422() {
    assert_json_submit_rejected(json!({"name": "张三", "consent": true}), "phone").await;
}

#[tokio::test]
async fn submit_with_bad_email_is_422() {
    assert_json_submit_rejected(
        json!({"name": "张三", "email": "not-an-email", "consent": true}),
        "email",
    )
    .await;
}

#[tokio::test]
async fn submit_with_bad_phone_is_422() {
    assert_json_submit_rejected(lead("12345", "张三"), "phone").await;
}

#[tokio::test]
async fn submit_with_over_long_name_is_422() {
    assert_json_submit_rejected(lead("13800138000", &"a".repeat(1000)), "name").await;
}

#[tokio::test]
async fn submit_without_required_consent_is_422() {
    assert_json_submit_rejected(json!({"name": "张三", "phone": "13800138000"}), "consent").await;
}

#[tokio::test]
async fn text_plain_body_is_415() {
    let app = app_with_default_form().await;
    let resp = app
        .client
        .post(app.url("/f/expo"))
        .header("content-type", "text/plain")
        .body("phone=13800138000&consent=on")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn body_over_64_kib_is_413() {
    let app = app_with_default_form().await;
    let mut body = lead("13800138000", "张三");
    body["message"] = json!("x".repeat(64 * 1024 + 1));
    let resp = app.submit_json("expo", &body).await;
    assert_eq!(resp.status(), 413);
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn submit_to_unknown_slug_is_404() {
    let app = spawn_app().await;
    let resp = app
        .submit_json("no-such-campaign", &lead("13800138000", "张三"))
        .await;
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 404);
    assert!(body["error"]["code"].is_string(), "JSON error: {body}");
}

// ---------------------------------------------------------------------------------------------
// Markup in user input never comes back unescaped in HTML

#[tokio::test]
async fn script_in_name_is_escaped_in_rerendered_form() {
    let app = app_with_default_form().await;
    let resp = app
        .submit_form(
            "expo",
            &[("name", XSS), ("phone", "12345"), ("consent", "on")],
        )
        .await;
    assert_eq!(resp.status(), 422);
    let html = resp.text().await.unwrap();
    assert!(!html.contains(XSS), "name reflected unescaped");
    assert_eq!(control(&html, "name").unwrap().attr("value"), Some(XSS));
}

#[tokio::test]
async fn script_in_name_is_never_reflected_after_success() {
    let app = app_with_default_form().await;
    let token = app.form_token("expo").await;
    let fields = [
        ("_token", token.as_str()),
        ("name", XSS),
        ("phone", "13800138000"),
        ("consent", "on"),
    ];
    let resp = app.submit_form("expo", &fields).await;
    assert_redirects_to_thanks(&app, &resp, "expo");
    for path in ["/f/expo/thanks", "/f/expo"] {
        let body = app.get(path).await.text().await.unwrap();
        assert!(!body.contains(XSS), "{path} reflects the name");
    }
    let lead = app.single_lead("expo").await;
    assert_eq!(
        lead["name"], XSS,
        "stored as entered, escaped only on output"
    );
}

/// For any name made of markup characters, the 422 re-render keeps the value exactly and the
/// page structure (its form controls) is the same as for a harmless name.
#[test]
fn any_name_is_escaped_in_rerendered_form() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(app_with_default_form());
    let rerender = |name: &str| {
        rt.block_on(async {
            let resp = app
                .submit_form(
                    "expo",
                    &[("name", name), ("phone", "12345"), ("consent", "on")],
                )
                .await;
            (resp.status().as_u16(), resp.text().await.unwrap())
        })
    };
    let control_names = |html: &str| -> Vec<(String, Option<String>)> {
        controls(html)
            .into_iter()
            .map(|t| (t.tag.clone(), t.attr("name").map(str::to_owned)))
            .collect()
    };
    let (_, baseline_html) = rerender("x");
    let baseline = control_names(&baseline_html);

    let mut runner = TestRunner::new(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let names = r#"[a-z<>&"'/=张]{1,25}"#;
    runner
        .run(&names, |name| {
            let (status, html) = rerender(&name);
            if status != 422 {
                return Err(TestCaseError::fail(format!("status {status} for {name:?}")));
            }
            // A name such as "<p" also occurs in the page's own markup: only a raw copy
            // that the harmless page lacks is a reflection.
            if name.contains('<') && html.contains(&name) && !baseline_html.contains(&name) {
                return Err(TestCaseError::fail(format!("{name:?} reflected raw")));
            }
            let kept = control(&html, "name").and_then(|t| t.attr("value").map(str::to_owned));
            if kept.as_deref() != Some(name.as_str()) {
                return Err(TestCaseError::fail(format!("{name:?} kept as {kept:?}")));
            }
            if control_names(&html) != baseline {
                return Err(TestCaseError::fail(format!(
                    "{name:?} changed the form's controls"
                )));
            }
            Ok(())
        })
        .unwrap();
}

/// A bot that fills the honeypot gets the normal success even when the rest of its post is
/// invalid: a 422 listing its mistakes would teach it how to pass.
#[tokio::test]
async fn honeypot_wins_over_validation_errors() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let resp = app
        .submit_json(
            "expo",
            &json!({"phone": "12345", "email": "nope", "_hp": "http://spam.example"}),
        )
        .await;
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 201, "{body}");
    let resp = app
        .submit_form("expo", &[("phone", "12345"), ("_hp", "x")])
        .await;
    assert_eq!(resp.status(), 303);
    assert!(app.all_leads("expo").await.is_empty(), "nothing stored");
}

/// "Each render counts one form view": a HEAD (a link preview, an uptime check) renders
/// nothing anyone sees, so only the GET counts.
#[tokio::test]
async fn a_head_of_the_form_is_not_a_view() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let head = app
        .client
        .head(app.url("/f/expo"))
        // Another browser than the GET's: a repeat from one visitor counts once anyway.
        .header(
            "user-agent",
            "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(app.get("/f/expo").await.status(), 200);
    let report = app.roi("from=2000-01-01&to=2099-12-31").await;
    assert_eq!(crate::helpers::roi_row(&report, "expo")["form_views"], 1);
}
