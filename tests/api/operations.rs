//! For operators and integrators: `/metrics` as Prometheus text with a lead counter that
//! follows the store, and `/api/openapi.json` in step with what the server routes.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{TOKEN, TestApp, json_body, lead, spawn_app};

/// Parses the exposition text strictly: every line a comment or `name{labels} value`.
/// Returns each sample's value by its series (`name{labels}` as written).
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split(' ').next().unwrap();
            assert!(
                ["HELP", "TYPE", "UNIT", "EOF"].contains(&kind),
                "comment {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("sample {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name in {line:?}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "labels in {line:?}"
            );
            for pair in labels[1..labels.len() - 1]
                .split("\",")
                .filter(|p| !p.is_empty())
            {
                let (key, value) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("label {pair:?}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line:?}"
                );
                assert!(value.starts_with('"'), "{line:?}");
            }
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value in {line:?}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}

async fn metrics(app: &TestApp) -> BTreeMap<String, f64> {
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    parse_metrics(&resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_parse_and_count_each_stored_lead() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let api = "leadgate_leads_stored_total{source=\"api\"}";
    let form = "leadgate_leads_stored_total{source=\"form\"}";
    let before = metrics(&app).await;
    for name in [
        "leadgate_writer_queue_depth",
        "leadgate_store_file_bytes",
        "leadgate_commit_duration_seconds_count",
        "leadgate_commit_batch_size_count",
    ] {
        assert!(
            before.keys().any(|k| k.starts_with(name)),
            "{name} missing: {before:?}"
        );
    }
    app.submit_json_ok("expo", &lead("13800138000", "张三"))
        .await;
    let after = metrics(&app).await;
    assert_eq!(
        after.get(api).copied().unwrap_or(0.0),
        before.get(api).copied().unwrap_or(0.0) + 1.0
    );

    let token = app.form_token("expo").await;
    let resp = app
        .submit_form(
            "expo",
            &[
                ("phone", "13900139000"),
                ("consent", "on"),
                ("_token", &token),
            ],
        )
        .await;
    assert_eq!(resp.status(), 303);
    let later = metrics(&app).await;
    assert_eq!(
        later.get(form).copied().unwrap_or(0.0),
        after.get(form).copied().unwrap_or(0.0) + 1.0
    );
    assert_eq!(later.get(api), after.get(api), "one lead, one count");
    // A replay stores nothing and counts nothing.
    app.submit_form(
        "expo",
        &[
            ("phone", "13900139000"),
            ("consent", "on"),
            ("_token", &token),
        ],
    )
    .await;
    assert_eq!(metrics(&app).await.get(form), later.get(form));
}

#[tokio::test]
async fn metric_labels_never_come_from_the_wire() {
    let app = spawn_app().await;
    for path in [
        "/f/a-slug-nobody-made",
        "/no/such/path/xyz",
        "/api/campaigns/weird-slug-qq",
    ] {
        app.get(path).await;
    }
    let text = app.get("/metrics").await.text().await.unwrap();
    for needle in ["a-slug-nobody-made", "xyz", "weird-slug-qq"] {
        assert!(!text.contains(needle), "{needle} became a label");
    }
    assert!(
        text.contains("route=\"other\""),
        "unknown paths share one label"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_what_the_server_routes() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/openapi.json").await.status(), 401);
    let (status, document) = json_body(app.admin_get("/api/openapi.json").await).await;
    assert_eq!(status, 200);
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(document["servers"][0]["url"], app.base.as_str());
    app.create_campaign("expo", json!({})).await;
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 30, "{} paths", paths.len());
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if !["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                continue;
            }
            assert!(
                operation["responses"].is_object(),
                "{method} {path}: responses"
            );
            let concrete = path
                .replace("{slug}", "expo")
                .replace("{id}", "01J0000000000000000000000A");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request = app
                .client
                .request(method.clone(), app.url(&concrete))
                .header("accept", "application/json");
            request = if path.starts_with("/admin") {
                request.basic_auth("ops", Some(TOKEN))
            } else {
                request.bearer_auth(TOKEN)
            };
            let resp = request.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert!(
                !(status == 404 && body["error"]["code"] == "not_found"),
                "{method} {path} is documented but not routed: {body}"
            );
            // 503 is documented where a feature is not configured (the call webhook).
            assert!(status < 500 || status == 503, "{method} {path}: {status}");
        }
    }
}

/// RFC 9110 §15.5.6: a 405 names the methods the address takes, whether the answer is
/// the API's JSON or a page.
#[tokio::test]
async fn every_405_carries_allow() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let cases: [(&str, &str, &str); 6] = [
        ("DELETE", "/api/campaigns", "GET, POST, HEAD"),
        ("PUT", "/api/leads/import", "POST"),
        ("TRACE", "/api/openapi.json", "GET, HEAD"),
        ("OPTIONS", "/api/roi", "GET, HEAD"),
        ("DELETE", "/f/expo", "GET, POST, HEAD, OPTIONS"),
        ("POST", "/q/expo", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(
            resp.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
        let page = path.starts_with("/f/") || path.starts_with("/q/");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert_eq!(
            content_type.starts_with("text/html"),
            page,
            "{method} {path}: {content_type}"
        );
        if !page {
            let (_, body) = json_body(resp).await;
            assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
        }
    }
    // The console's pages too (Basic login).
    let resp = app
        .client
        .delete(app.url("/admin/leads"))
        .basic_auth("ops", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
    // Answers other than 405 carry no Allow.
    let resp = app.admin_get("/api/campaigns").await;
    assert!(resp.headers().get("allow").is_none());
}

/// The API's GET endpoints refuse query parameters they do not take, repeated ones and
/// empty ones, with 422 naming the parameter; public pages take whatever a link carries.
#[tokio::test]
async fn api_queries_are_strict_and_public_pages_lenient() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    for (path, field, code) in [
        ("/api/leads?campain=expo", "campain", "unknown_parameter"),
        ("/api/leads?limit=1&limit=2", "limit", "repeated_parameter"),
        ("/api/leads?until=", "until", "empty_parameter"),
        ("/api/campaigns?page=2", "page", "unknown_parameter"),
        ("/api/campaigns/expo/costs?x", "x", "unknown_parameter"),
        ("/api/roi?lang=zh", "lang", "unknown_parameter"),
        ("/api/roi.csv?from=", "from", "empty_parameter"),
        ("/api/openapi.json?v=2", "v", "unknown_parameter"),
    ] {
        let (status, body) = json_body(app.admin_get(path).await).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    for path in [
        "/api/leads?campaign=expo&limit=5&format=json",
        "/api/roi.csv?model=linear&lang=en",
        "/api/campaigns",
    ] {
        assert_eq!(app.admin_get(path).await.status(), 200, "{path}");
    }
    // WeChat's share links and ad platforms append their own parameters.
    let resp = app
        .get("/f/expo?from=singlemessage&isappinstalled=0&utm_source=wx&from=timeline")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        app.get("/q/expo?from=groupmessage&v=booth").await.status(),
        302
    );
}
