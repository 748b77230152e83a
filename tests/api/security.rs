//! Web security headers on every kind of response (HTML pages, JSON, images), the HTML pages'
//! Content-Security-Policy and its style hashes, no version banner, no cookies, and CORS only
//! on `POST /f/{slug}` for configured origins.

use base64::Engine as _;
use reqwest::Response;
use serde_json::json;
use sha2::Digest as _;

use crate::helpers::{TestApp, content_type, header, lead, mobile, spawn_app_with};

const WIDGET_SITE: &str = "https://www.example.com";
const OTHER_SITE: &str = "https://evil.example.net";

async fn app() -> TestApp {
    let app = spawn_app_with(|c| {
        c.cors_origins = vec![WIDGET_SITE.into()];
        c.rate_limit = leadgate::domain::RateLimit::parse_setting("2/1h").unwrap();
    })
    .await;
    app.create_campaign("expo", json!({"qr_variants": ["booth"]}))
        .await;
    app
}

/// The headers every response carries, whatever its type; no version banner, no cookie.
fn assert_common_headers(resp: &Response, what: &str) {
    assert_eq!(
        header(resp, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}: X-Content-Type-Options"
    );
    assert_eq!(
        header(resp, "x-frame-options").map(|v| v.to_ascii_uppercase()),
        Some("DENY".into()),
        "{what}: X-Frame-Options"
    );
    let referrer = header(resp, "referrer-policy").unwrap_or_default();
    assert!(
        [
            "no-referrer",
            "same-origin",
            "strict-origin",
            "strict-origin-when-cross-origin",
        ]
        .contains(&referrer.as_str()),
        "{what}: Referrer-Policy {referrer:?} does not keep URLs (and their tokens) private"
    );
    for banner in ["server", "x-powered-by"] {
        assert!(
            header(resp, banner).is_none(),
            "{what}: {banner} header {:?}",
            header(resp, banner)
        );
    }
    assert!(
        header(resp, "set-cookie").is_none(),
        "{what}: a cookie was set: {:?}",
        header(resp, "set-cookie")
    );
}

/// The policy's directives: name -> sources.
fn directives(policy: &str) -> Vec<(String, Vec<String>)> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let mut words = d.split_ascii_whitespace();
            let name = words.next().unwrap_or("").to_ascii_lowercase();
            (name, words.map(str::to_owned).collect())
        })
        .collect()
}

fn sources<'a>(policy: &'a [(String, Vec<String>)], name: &str) -> &'a [String] {
    policy
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.as_slice())
        .unwrap_or_else(|| panic!("no {name} directive in {policy:?}"))
}

/// Checks an HTML response's headers and policy, and that each inline `<style>` of the page is
/// allowed by its hash (a browser drops a stylesheet whose hash is not listed). Returns the page.
async fn assert_html_page(resp: Response, status: u16, what: &str) -> String {
    assert_eq!(resp.status(), status, "{what}: status");
    let ct = content_type(&resp);
    assert!(ct.starts_with("text/html"), "{what}: content type {ct}");
    assert_common_headers(&resp, what);
    let policy_text = header(&resp, "content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    let html = resp.text().await.unwrap();
    let policy = directives(&policy_text);
    assert_eq!(sources(&policy, "default-src"), ["'self'"], "{what}");
    assert_eq!(sources(&policy, "script-src"), ["'none'"], "{what}");
    assert_eq!(sources(&policy, "frame-ancestors"), ["'none'"], "{what}");
    let style_src = sources(&policy, "style-src");
    assert!(
        !style_src.iter().any(|s| s == "'unsafe-inline'"),
        "{what}: style-src allows unsafe-inline: {policy_text}"
    );
    let mut rest = html.as_str();
    let mut styles = 0;
    while let Some(open) = rest.find("<style") {
        let after_tag = &rest[open..];
        let content_start = after_tag.find('>').expect("<style> closes") + 1;
        let content_end = after_tag.find("</style>").expect("</style>");
        let css = &after_tag[content_start..content_end];
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css));
        assert!(
            style_src.contains(&format!("'sha256-{hash}'")),
            "{what}: the inline stylesheet's hash sha256-{hash} is not in {policy_text}"
        );
        styles += 1;
        rest = &after_tag[content_end + 8..];
    }
    assert!(styles >= 1, "{what}: no inline stylesheet found");
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "{what}: a script in the page");
    assert!(
        !lower.contains(" style=\""),
        "{what}: a style attribute, which the policy blocks"
    );
    html
}

#[tokio::test]
async fn html_pages_carry_the_policy_and_their_style_hashes_match() {
    let app = app().await;
    let form = assert_html_page(app.get("/f/expo").await, 200, "form page").await;
    assert!(form.contains("<form"), "the form page has a form");
    assert_html_page(app.get("/f/expo/thanks").await, 200, "thanks page").await;
    assert_html_page(app.get("/f/no-such-slug").await, 404, "404 page").await;
    // A browser post with a bad field: the form again, 422.
    let resp = app
        .submit_form("expo", &[("phone", "12"), ("consent", "on")])
        .await;
    assert_html_page(resp, 422, "422 re-rendered form").await;
    // Past the rate limit (2/1h here, the 422 counted): the 429 page.
    let resp = app
        .submit_form("expo", &[("phone", &mobile(1)), ("consent", "on")])
        .await;
    assert_eq!(resp.status(), 303, "first browser post");
    let resp = app
        .submit_form("expo", &[("phone", &mobile(2)), ("consent", "on")])
        .await;
    assert_html_page(resp, 429, "429 page").await;
    // Admin pages: the printable QR sheet (its own stylesheet) and the login challenge.
    let resp = app
        .client
        .get(app.url("/admin/campaigns/expo/qr"))
        .basic_auth("admin", Some(&app.token))
        .send()
        .await
        .unwrap();
    assert_html_page(resp, 200, "QR sheet").await;
    let resp = app.get("/admin/campaigns/expo/qr").await;
    let challenge = header(&resp, "www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic"), "admin login: {challenge}");
    assert_html_page(resp, 401, "admin login page").await;
}

#[tokio::test]
async fn json_and_image_responses_carry_the_common_headers() {
    let app = app().await;
    let resp = app.admin_get("/api/campaigns").await;
    assert_eq!(resp.status(), 200);
    assert!(content_type(&resp).starts_with("application/json"));
    assert_common_headers(&resp, "JSON list");
    let resp = app.get("/api/campaigns").await;
    assert_eq!(resp.status(), 401);
    assert_common_headers(&resp, "JSON 401");
    for n in 0..2 {
        let resp = app.submit_json("expo", &lead(&mobile(n), "张三")).await;
        assert_eq!(resp.status(), 201);
        assert_common_headers(&resp, "JSON 201");
    }
    let resp = app.submit_json("expo", &lead(&mobile(2), "张三")).await;
    assert_eq!(resp.status(), 429);
    assert_common_headers(&resp, "JSON 429");
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert_common_headers(&resp, "healthz");

    // Images are served under the per-address limit too: a fresh app for them.
    let app = spawn_app_with(|_| {}).await;
    app.create_campaign("expo", json!({})).await;
    for (path, ty) in [
        ("/q/expo.png", "image/png"),
        ("/q/expo.svg?v=booth", "image/svg+xml"),
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        let ct = content_type(&resp);
        assert!(ct.starts_with(ty), "{path}: content type {ct}");
        assert_common_headers(&resp, path);
    }
    let resp = app.get("/q/expo").await;
    assert_eq!(resp.status(), 302);
    assert_common_headers(&resp, "scan redirect");
}

// ---------------------------------------------------------------------------------------------
// CORS

fn allow_origin(resp: &Response) -> Option<String> {
    header(resp, "access-control-allow-origin")
}

#[tokio::test]
async fn cors_only_for_configured_origins_on_form_posts() {
    let app = spawn_app_with(|c| c.cors_origins = vec![WIDGET_SITE.into()]).await;
    app.create_campaign("expo", json!({})).await;

    // The embedded widget's post: the answer is shared with its site only.
    let resp = app
        .client
        .post(app.url("/f/expo"))
        .header("origin", WIDGET_SITE)
        .json(&lead(&mobile(1), "张三"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(allow_origin(&resp).as_deref(), Some(WIDGET_SITE));
    let vary = header(&resp, "vary")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        vary.contains("origin"),
        "a per-origin answer must say Vary: Origin, got {vary:?}"
    );
    assert!(
        header(&resp, "access-control-allow-credentials").is_none(),
        "no credentials are shared"
    );

    // Another site's post: no CORS header (the browser keeps the answer from it).
    for origin in [OTHER_SITE, "null", "https://www.example.com.evil.net"] {
        let resp = app
            .client
            .post(app.url("/f/expo"))
            .header("origin", origin)
            .json(&lead(&mobile(2), "李四"))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{origin}: {}", resp.status());
        assert_eq!(allow_origin(&resp), None, "origin {origin}");
    }

    // The preflight.
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/f/expo"))
        .header("origin", WIDGET_SITE)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "preflight");
    let methods = header(&resp, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "allowed methods {methods:?}");
    assert_eq!(allow_origin(&resp).as_deref(), Some(WIDGET_SITE));
    let allowed_headers = header(&resp, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("content-type"),
        "a JSON widget needs Content-Type: {allowed_headers:?}"
    );
    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/f/expo"))
        .header("origin", OTHER_SITE)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(allow_origin(&resp), None, "preflight from another site");

    // Nothing else is shared across origins, admin least of all.
    for (method, path, auth) in [
        (reqwest::Method::GET, "/api/campaigns", true),
        (reqwest::Method::GET, "/api/leads", true),
        (reqwest::Method::OPTIONS, "/api/campaigns", false),
        (reqwest::Method::OPTIONS, "/api/campaigns", true),
        (reqwest::Method::GET, "/admin/campaigns/expo/qr", false),
        (reqwest::Method::GET, "/q/expo", false),
        (reqwest::Method::GET, "/q/expo.png", false),
        (reqwest::Method::GET, "/healthz", false),
    ] {
        let mut request = app
            .client
            .request(method.clone(), app.url(path))
            .header("origin", WIDGET_SITE)
            .header("access-control-request-method", "GET");
        if auth {
            request = request.bearer_auth(&app.token);
        }
        let resp = request.send().await.unwrap();
        assert_eq!(allow_origin(&resp), None, "{method} {path}");
        assert!(
            header(&resp, "access-control-allow-methods").is_none(),
            "{method} {path}"
        );
    }
}
