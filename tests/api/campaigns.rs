//! `/api/campaigns`: create, read, patch, validation, and the admin token on every admin route.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, json_body, lead, merge, spawn_app};

/// POSTs `{slug: "spring-expo", name: "春季展会"}` merged with `extra`, expecting a 422 on `field`.
async fn assert_create_rejected(extra: Value, field: &str) {
    let app = spawn_app().await;
    let body = merge(json!({"slug": "spring-expo", "name": "春季展会"}), extra);
    let resp = app.admin_post("/api/campaigns", &body).await;
    assert_error(resp, 422, Some(field)).await;
    // Nothing was created by the rejected request.
    let resp = app.admin_get("/api/campaigns/spring-expo").await;
    assert_eq!(resp.status(), 404, "a rejected campaign must not be stored");
}

/// Creates `spring-expo`, then PATCHes it with `patch`, expecting a 422 on `field`.
async fn assert_patch_rejected(patch: Value, field: &str) {
    let app = spawn_app().await;
    let before = app
        .create_campaign("spring-expo", json!({"starts_on": "2025-03-01"}))
        .await;
    let resp = app.admin_patch("/api/campaigns/spring-expo", &patch).await;
    assert_error(resp, 422, Some(field)).await;
    let (_, after) = json_body(app.admin_get("/api/campaigns/spring-expo").await).await;
    assert_eq!(after, before, "a rejected PATCH must change nothing");
}

#[tokio::test]
async fn create_campaign_returns_201_with_defaults() {
    let app = spawn_app().await;
    let resp = app
        .admin_post(
            "/api/campaigns",
            &json!({"slug": "spring-expo", "name": "春季展会"}),
        )
        .await;
    let (status, c) = json_body(resp).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["slug"], "spring-expo");
    assert_eq!(c["name"], "春季展会");
    assert_eq!(c["kind"], "other");
    assert_eq!(c["status"], "planned");
    assert_eq!(c["currency"], "CNY");
    assert_eq!(c["form"], "default");
    assert_eq!(
        c["landing_url"],
        json!(format!("{}/f/spring-expo", app.base)),
        "landing_url is public_url + /f/{{slug}}"
    );
}

#[tokio::test]
async fn create_campaign_keeps_every_field() {
    let app = spawn_app().await;
    let c = app
        .create_campaign(
            "douyin-live-0301",
            json!({
                "name": "抖音直播 3月",
                "kind": "livestream",
                "channel": "douyin_live",
                "status": "running",
                "owner": "王芳",
                "starts_on": "2025-03-01",
                "ends_on": "2025-03-31",
                "currency": "USD",
                "budget": 48500.5,
                "target_leads": 300,
                "target_revenue": "120000",
                "form": "livestream",
                "utm_campaigns": ["spring_live", "live0301"],
                "rate_limit": "50/1m",
            }),
        )
        .await;
    assert_eq!(c["kind"], "livestream");
    assert_eq!(c["channel"], "douyin_live");
    assert_eq!(c["status"], "running");
    assert_eq!(c["owner"], "王芳");
    assert_eq!(c["starts_on"], "2025-03-01");
    assert_eq!(c["ends_on"], "2025-03-31");
    assert_eq!(c["currency"], "USD");
    assert_eq!(c["target_leads"], 300);
    assert_eq!(c["form"], "livestream");
    assert_eq!(c["utm_campaigns"], json!(["spring_live", "live0301"]));
    // And it reads back the same.
    let (status, got) = json_body(app.admin_get("/api/campaigns/douyin-live-0301").await).await;
    assert_eq!(status, 200);
    assert_eq!(got, c);
}

#[tokio::test]
async fn money_is_output_as_a_string_with_two_decimals() {
    let app = spawn_app().await;
    let c = app
        .create_campaign(
            "money",
            json!({"budget": 48500.5, "target_revenue": "120000"}),
        )
        .await;
    assert_eq!(c["budget"], "48500.50");
    assert_eq!(c["target_revenue"], "120000.00");
    let c = app
        .create_campaign(
            "money-2",
            json!({"budget": "48500.50", "target_revenue": 7}),
        )
        .await;
    assert_eq!(c["budget"], "48500.50");
    assert_eq!(c["target_revenue"], "7.00");
}

#[tokio::test]
async fn tracking_numbers_are_normalised_to_e164() {
    let app = spawn_app().await;
    let c = app
        .create_campaign(
            "calls",
            json!({"tracking_numbers": ["021-6123-4567", "138 0013 8000", "+86 10 6552 9988"]}),
        )
        .await;
    assert_eq!(
        c["tracking_numbers"],
        json!(["+862161234567", "+8613800138000", "+861065529988"])
    );
}

#[tokio::test]
async fn slug_of_64_characters_is_accepted() {
    let app = spawn_app().await;
    let slug = format!("a{}", "-b".repeat(31) + "c");
    assert_eq!(slug.len(), 64);
    let c = app.create_campaign(&slug, json!({})).await;
    assert_eq!(c["slug"], json!(slug));
}

#[tokio::test]
async fn duplicate_slug_is_409_slug_taken() {
    let app = spawn_app().await;
    app.create_campaign("spring-expo", json!({})).await;
    let resp = app
        .admin_post(
            "/api/campaigns",
            &json!({"slug": "spring-expo", "name": "另一个"}),
        )
        .await;
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "slug_taken", "{body}");
    // The first campaign is untouched.
    let (_, c) = json_body(app.admin_get("/api/campaigns/spring-expo").await).await;
    assert_eq!(c["name"], "活动 spring-expo");
}

#[tokio::test]
async fn slug_with_uppercase_and_space_is_422() {
    assert_create_rejected(json!({"slug": "Bad Slug"}), "slug").await;
}

#[tokio::test]
async fn slug_starting_with_dash_is_422() {
    assert_create_rejected(json!({"slug": "-x"}), "slug").await;
}

#[tokio::test]
async fn slug_of_65_characters_is_422() {
    assert_create_rejected(json!({"slug": "a".repeat(65)}), "slug").await;
}

#[tokio::test]
async fn missing_slug_is_422() {
    let app = spawn_app().await;
    let resp = app
        .admin_post("/api/campaigns", &json!({"name": "无名"}))
        .await;
    assert_error(resp, 422, Some("slug")).await;
}

#[tokio::test]
async fn missing_name_is_422() {
    let app = spawn_app().await;
    let resp = app
        .admin_post("/api/campaigns", &json!({"slug": "spring-expo"}))
        .await;
    assert_error(resp, 422, Some("name")).await;
}

#[tokio::test]
async fn unknown_kind_is_422() {
    assert_create_rejected(json!({"kind": "billboard"}), "kind").await;
}

#[tokio::test]
async fn unknown_status_is_422() {
    assert_create_rejected(json!({"status": "paused"}), "status").await;
}

#[tokio::test]
async fn bad_date_is_422() {
    assert_create_rejected(json!({"starts_on": "2025-13-01"}), "starts_on").await;
}

#[tokio::test]
async fn ends_on_before_starts_on_is_422_on_ends_on() {
    assert_create_rejected(
        json!({"starts_on": "2025-03-10", "ends_on": "2025-03-09"}),
        "ends_on",
    )
    .await;
}

#[tokio::test]
async fn unknown_currency_is_422() {
    assert_create_rejected(json!({"currency": "XXY"}), "currency").await;
}

#[tokio::test]
async fn budget_with_three_decimals_is_422() {
    assert_create_rejected(json!({"budget": "1.234"}), "budget").await;
}

#[tokio::test]
async fn negative_budget_is_422() {
    assert_create_rejected(json!({"budget": -5}), "budget").await;
}

#[tokio::test]
async fn unknown_form_is_422() {
    assert_create_rejected(json!({"form": "no-such-form"}), "form").await;
}

#[tokio::test]
async fn bad_tracking_number_is_422() {
    assert_create_rejected(json!({"tracking_numbers": ["12345"]}), "tracking_numbers").await;
}

#[tokio::test]
async fn bad_rate_limit_is_422() {
    assert_create_rejected(json!({"rate_limit": "fast"}), "rate_limit").await;
}

#[tokio::test]
async fn unknown_json_key_is_422_naming_the_key() {
    assert_create_rejected(json!({"colour": "red"}), "colour").await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/api/campaigns"))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(r#"{"slug": "x", "name": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn list_campaigns_returns_all() {
    let app = spawn_app().await;
    app.create_campaign("spring-expo", json!({})).await;
    app.create_campaign("baidu-sem", json!({"kind": "online_ad"}))
        .await;
    let (status, body) = json_body(app.admin_get("/api/campaigns").await).await;
    assert_eq!(status, 200, "{body}");
    let mut slugs: Vec<&str> = body["campaigns"]
        .as_array()
        .unwrap_or_else(|| panic!("campaigns array: {body}"))
        .iter()
        .map(|c| c["slug"].as_str().expect("slug"))
        .collect();
    slugs.sort_unstable();
    assert_eq!(slugs, ["baidu-sem", "spring-expo"]);
}

#[tokio::test]
async fn get_unknown_campaign_is_404() {
    let app = spawn_app().await;
    let resp = app.admin_get("/api/campaigns/nope").await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn patch_changes_only_given_fields() {
    let app = spawn_app().await;
    let before = app
        .create_campaign(
            "spring-expo",
            json!({"kind": "trade_show", "channel": "expo", "budget": "1000"}),
        )
        .await;
    let resp = app
        .admin_patch(
            "/api/campaigns/spring-expo",
            &json!({"name": "春季展会（上海）", "status": "running", "budget": 2500}),
        )
        .await;
    let (status, after) = json_body(resp).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["name"], "春季展会（上海）");
    assert_eq!(after["status"], "running");
    assert_eq!(after["budget"], "2500.00");
    assert_eq!(after["kind"], "trade_show");
    assert_eq!(after["channel"], "expo");
    assert_eq!(after["slug"], before["slug"]);
    assert_eq!(after["landing_url"], before["landing_url"]);
    let (_, stored) = json_body(app.admin_get("/api/campaigns/spring-expo").await).await;
    assert_eq!(stored, after, "the PATCH is persisted");
}

#[tokio::test]
async fn patch_unknown_campaign_is_404() {
    let app = spawn_app().await;
    let resp = app
        .admin_patch("/api/campaigns/nope", &json!({"name": "x"}))
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn patch_of_slug_is_422() {
    assert_patch_rejected(json!({"slug": "renamed"}), "slug").await;
}

#[tokio::test]
async fn patch_with_unknown_status_is_422() {
    assert_patch_rejected(json!({"status": "paused"}), "status").await;
}

#[tokio::test]
async fn patch_with_unknown_form_is_422() {
    assert_patch_rejected(json!({"form": "no-such-form"}), "form").await;
}

#[tokio::test]
async fn patch_ends_on_before_stored_starts_on_is_422() {
    assert_patch_rejected(json!({"ends_on": "2025-02-28"}), "ends_on").await;
}

#[tokio::test]
async fn patch_with_unknown_key_is_422() {
    assert_patch_rejected(json!({"colour": "red"}), "colour").await;
}

#[tokio::test]
async fn healthz_is_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap().trim(), "ok");
}

/// One admin request, sent with the given `Authorization` header (or none).
async fn admin_request(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&Value>,
    authorization: Option<&str>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.client.request(method, app.url(path));
    if let Some(body) = body {
        req = req.json(body);
    }
    if let Some(auth) = authorization {
        req = req.header("authorization", auth);
    }
    req.send().await.expect("admin request")
}

#[tokio::test]
async fn every_admin_route_needs_the_token() {
    let app = spawn_app().await;
    app.create_campaign("spring-expo", json!({})).await;
    let lead_id = app
        .submit_json_ok("spring-expo", &lead("13800138000", "张三"))
        .await;

    let new_campaign = json!({"slug": "sneaky", "name": "x"});
    let patch_campaign = json!({"name": "hijacked"});
    let patch_lead = json!({"status": "disqualified"});
    let lead_path = format!("/api/leads/{lead_id}");
    let routes: [(&str, &str, Option<&Value>); 7] = [
        ("GET", "/api/campaigns", None),
        ("POST", "/api/campaigns", Some(&new_campaign)),
        ("GET", "/api/campaigns/spring-expo", None),
        ("PATCH", "/api/campaigns/spring-expo", Some(&patch_campaign)),
        ("GET", "/api/leads", None),
        ("GET", "/api/leads?format=csv", None),
        ("PATCH", &lead_path, Some(&patch_lead)),
    ];
    let wrong_token = format!("Bearer {}x", app.token);
    let basic = "Basic YWRtaW46dGVzdA==";
    for (method, path, body) in routes {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some(wrong_token.as_str()),
            Some(basic),
        ] {
            let resp = admin_request(&app, method, path, body, auth).await;
            assert_eq!(
                resp.status(),
                401,
                "{method} {path} with authorization {auth:?}"
            );
        }
    }

    // Nothing the rejected requests asked for happened.
    assert_eq!(
        app.admin_get("/api/campaigns/sneaky").await.status(),
        404,
        "campaign created without a token"
    );
    let (_, c) = json_body(app.admin_get("/api/campaigns/spring-expo").await).await;
    assert_eq!(c["name"], "活动 spring-expo");
    let lead = app.single_lead("spring-expo").await;
    assert_eq!(lead["status"], "new");
}

#[tokio::test]
async fn unauthorised_answer_is_a_json_error() {
    let app = spawn_app().await;
    let resp = app.get("/api/campaigns").await;
    assert_error(resp, 401, None).await;
}

#[tokio::test]
async fn patch_with_bad_budget_is_422() {
    assert_patch_rejected(json!({"budget": "1.234"}), "budget").await;
}
