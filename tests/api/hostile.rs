//! Hostile input: malformed, ambiguous and oversized bodies each get a clear 4xx with a
//! documented code and store nothing; and an HTTP property test that throws random methods,
//! paths, queries, headers and bodies at every route and never sees a 5xx.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{
    Config as ProptestConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, content_type, control, encode, json_body, lead, mobile, spawn_app,
    spawn_app_with, urlencode,
};

async fn app() -> TestApp {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    app
}

/// `POST /f/{slug}` with a raw body of `content_type`; `json` adds `Accept: application/json`.
async fn post_raw(
    app: &TestApp,
    slug: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    json: bool,
) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("/f/{slug}")))
        .header("content-type", content_type)
        .body(body);
    if json {
        request = request.header("accept", "application/json");
    }
    request.send().await.expect("raw submission")
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// Asserts a 4xx API error with `status` and `code` (and the error shape); returns the body.
async fn assert_code(resp: Response, status: u16, code: &str, field: Option<&str>) -> Value {
    let body = assert_error(resp, status, field).await;
    assert_eq!(body["error"]["code"], code, "{body}");
    body
}

/// A browser gets an HTML page with the same status.
async fn assert_page(resp: Response, status: u16) -> String {
    assert_eq!(resp.status(), status, "browser status");
    let ct = content_type(&resp);
    assert!(ct.starts_with("text/html"), "browser gets a page, not {ct}");
    resp.text().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Form bodies (urlencoded)

#[tokio::test]
async fn urlencoded_invalid_utf8_is_400() {
    let app = app().await;
    let phone = mobile(1);
    let bodies: Vec<Vec<u8>> = vec![
        format!("name=%FF%FE&phone={phone}&consent=on").into_bytes(),
        [
            b"name=".as_slice(),
            b"\xff\xfe",
            format!("&phone={phone}&consent=on").as_bytes(),
        ]
        .concat(),
        // Overlong encoding of '/', a lone surrogate, a truncated sequence.
        format!("name=%C0%AF&phone={phone}&consent=on").into_bytes(),
        format!("name=%ED%A0%80&phone={phone}&consent=on").into_bytes(),
        format!("name=%E5%BC&phone={phone}&consent=on").into_bytes(),
        // In a key.
        format!("%FF=1&phone={phone}&consent=on").into_bytes(),
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let resp = post_raw(&app, "expo", FORM, body.clone(), true).await;
        let error = assert_code(resp, 400, "invalid_utf8", None).await;
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("utf-8"),
            "{shown}: {error}"
        );
        assert_page(post_raw(&app, "expo", FORM, body, false).await, 400).await;
    }
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn too_many_fields_is_400_and_200_are_fine() {
    let app = app().await;
    let phone = mobile(1);
    // The phone, the consent box, and empty fillers with short distinct keys (`a`, `b`, … `zz`).
    let with_fillers = |count: usize| {
        let mut body = format!("phone={phone}&consent=on");
        for n in 2..count {
            let mut key = String::new();
            let mut rest = n;
            loop {
                key.insert(0, char::from(b'a' + (rest % 26) as u8));
                rest /= 26;
                if rest == 0 {
                    break;
                }
            }
            body.push('&');
            body.push_str(&key);
            body.push('=');
        }
        body
    };
    // 200 pairs: the most a form may carry.
    let resp = post_raw(&app, "expo", FORM, with_fillers(200), true).await;
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 201, "200 fields are allowed: {body}");
    // 201 pairs, and a 10,000-field form.
    for count in [201, 10_000] {
        let body = with_fillers(count);
        assert!(
            body.len() < 64 * 1024,
            "the body stays under the size limit"
        );
        let resp = post_raw(&app, "expo", FORM, body.clone(), true).await;
        assert_code(resp, 400, "too_many_fields", None).await;
        assert_page(post_raw(&app, "expo", FORM, body, false).await, 400).await;
    }
    assert_eq!(app.all_leads("expo").await.len(), 1);
}

#[tokio::test]
async fn a_repeated_form_field_is_400() {
    let app = app().await;
    for body in [
        "phone=13800138000&phone=13900139000&consent=on",
        // The same key spelled with a percent escape.
        "phone=13800138000&%70hone=13900139000&consent=on",
        "consent=on&phone=13800138000&consent=",
    ] {
        let resp = post_raw(&app, "expo", FORM, body, true).await;
        let repeated = if body.starts_with("consent") {
            "consent"
        } else {
            "phone"
        };
        let error = assert_code(resp, 400, "duplicate_field", Some(repeated)).await;
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(repeated),
            "the message names the field: {error}"
        );
        assert_page(post_raw(&app, "expo", FORM, body, false).await, 400).await;
    }
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn nul_and_control_bytes_in_a_field_are_422_naming_it() {
    let app = app().await;
    let phone = mobile(1);
    for (field, value) in [
        ("name", "张\u{0}三"),
        ("company", "\u{0}"),
        ("message", "hello\u{1b}[31m"),
        ("phone", "138\u{0}00138000"),
    ] {
        // JSON.
        let mut body = lead(&phone, "张三");
        body[field] = json!(value);
        let resp = app.submit_json("expo", &body).await;
        assert_error(resp, 422, Some(field)).await;
        // Urlencoded, as an API client and as a browser.
        let mut pairs = vec![("phone", phone.as_str()), ("consent", "on")];
        pairs.retain(|(k, _)| *k != field);
        pairs.push((field, value));
        let encoded = urlencode(&pairs);
        let resp = post_raw(&app, "expo", FORM, encoded.clone(), true).await;
        assert_error(resp, 422, Some(field)).await;
        let html = assert_page(post_raw(&app, "expo", FORM, encoded, false).await, 422).await;
        assert!(
            control(&html, field).is_some(),
            "the form is shown again with {field}"
        );
    }
    assert!(app.all_leads("expo").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// JSON bodies

#[tokio::test]
async fn json_with_a_repeated_key_is_400() {
    let app = app().await;
    let body = r#"{"phone":"13800138000","consent":true,"phone":"13900139000"}"#;
    let error = assert_code(
        post_raw(&app, "expo", JSON, body, false).await,
        400,
        "duplicate_key",
        None,
    )
    .await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("phone"),
        "the message names the key: {error}"
    );
    // The same on the admin API.
    let resp = app
        .admin_post_raw(
            "/api/campaigns",
            JSON,
            r#"{"slug":"a","name":"x","slug":"b"}"#,
        )
        .await;
    assert_code(resp, 400, "duplicate_key", None).await;
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = app().await;
    let deep_array = format!(
        r#"{{"phone":"13800138000","consent":true,"name":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let deep_object = format!(
        r#"{}"phone":"13800138000"{}"#,
        r#"{"a":"#.repeat(5_000),
        "}".repeat(5_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("deeply nested array", deep_array.into_bytes()),
        ("deeply nested object", deep_object.into_bytes()),
        ("huge number", br#"{"phone":1e999,"consent":true}"#.to_vec()),
        (
            "huge negative number",
            br#"{"phone":"13800138000","consent":true,"name":-1e999}"#.to_vec(),
        ),
        (
            "invalid UTF-8 in a string",
            b"{\"phone\":\"13800138000\",\"consent\":true,\"name\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "lone surrogate escape",
            br#"{"phone":"13800138000","consent":true,"name":"\ud800"}"#.to_vec(),
        ),
        (
            "raw NUL inside a string",
            b"{\"phone\":\"13800138000\",\"consent\":true,\"name\":\"a\x00b\"}".to_vec(),
        ),
        ("truncated", br#"{"phone":"138001"#.to_vec()),
        ("trailing garbage", br#"{"phone":"13800138000"} x"#.to_vec()),
        ("empty body", Vec::new()),
        ("an array", br#"[{"phone":"13800138000"}]"#.to_vec()),
        ("a string", br#""13800138000""#.to_vec()),
        ("a number", b"13800138000".to_vec()),
        ("null", b"null".to_vec()),
    ];
    for (what, body) in cases {
        let resp = post_raw(&app, "expo", JSON, body, false).await;
        let (status, value) = json_body(resp).await;
        assert_eq!(status, 400, "{what}: {value}");
        assert_eq!(value["error"]["code"], "malformed_json", "{what}: {value}");
        assert!(
            value["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {value}"
        );
    }
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn body_size_limit_is_exactly_64_kib() {
    let app = app().await;
    // A JSON body of exactly `len` bytes whose message is too long for the form.
    let body_of = |len: usize| {
        let frame = r#"{"phone":"13800138000","consent":true,"message":""}"#;
        let padded = format!(
            r#"{{"phone":"13800138000","consent":true,"message":"{}"}}"#,
            "x".repeat(len - frame.len())
        );
        assert_eq!(padded.len(), len);
        padded
    };
    let resp = post_raw(&app, "expo", JSON, body_of(64 * 1024), false).await;
    assert_error(resp, 422, Some("message")).await;
    let resp = post_raw(&app, "expo", JSON, body_of(64 * 1024 + 1), false).await;
    assert_code(resp, 413, "body_too_large", None).await;
    // Urlencoded too; a browser gets a page.
    let form = format!(
        "phone=13800138000&consent=on&message={}",
        "x".repeat(64 * 1024)
    );
    let resp = post_raw(&app, "expo", FORM, form.clone(), true).await;
    assert_code(resp, 413, "body_too_large", None).await;
    assert_page(post_raw(&app, "expo", FORM, form, false).await, 413).await;
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn other_content_types_are_415() {
    let app = app().await;
    for ct in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "",
    ] {
        let resp = post_raw(&app, "expo", ct, "phone=13800138000&consent=on", true).await;
        assert_code(resp, 415, "unsupported_media_type", None).await;
    }
    assert!(app.all_leads("expo").await.is_empty());
}

/// Imports are bodies too: a repeated JSON key or CSV column is ambiguous and must not be
/// resolved silently (either the whole body is 400 or the row is reported and not imported).
#[tokio::test]
async fn imports_refuse_repeated_keys_and_columns() {
    let app = app().await;
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            "JSON row with a repeated key",
            JSON,
            r#"[{"campaign":"expo","phone":"13800138000","phone":"13900139000"}]"#,
        ),
        (
            "CSV with a repeated column",
            "text/csv",
            "campaign,phone,phone\nexpo,13800138000,13900139000\n",
        ),
    ];
    let mut silent = Vec::new();
    for (what, ct, body) in cases {
        let resp = app.admin_post_raw("/api/leads/import", ct, body).await;
        let (status, value) = json_body(resp).await;
        match status {
            400 | 422 => assert!(value["error"]["code"].is_string(), "{what}: {value}"),
            200 if value["imported"] == 0
                && value["errors"].as_array().is_some_and(|e| !e.is_empty()) => {}
            200 => silent.push(format!("{what} was imported silently: {value}")),
            _ => panic!("{what}: {status} {value}"),
        }
    }
    assert!(silent.is_empty(), "{silent:#?}");
    assert!(app.all_leads("expo").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// The HTTP property test

const SECRET: &str = "s3cret";
const WIDGET_SITE: &str = "https://www.example.com";

/// Route templates (`{slug}`, `{id}` and `{junk}` are filled in per case) and the methods
/// they are usually called with; any other method is tried too.
const ROUTES: &[(&str, &[&str])] = &[
    ("/healthz", &["GET", "HEAD"]),
    ("/metrics", &["GET"]),
    ("/", &["GET"]),
    (
        "/f/{slug}",
        &["GET", "POST", "POST", "POST", "OPTIONS", "HEAD"],
    ),
    // The routes that take bodies come more often: that is where the parsing is.
    ("/f/{slug}", &["POST"]),
    ("/f/{slug}", &["POST"]),
    ("/f/{slug}", &["POST"]),
    ("/f/{slug}", &["POST"]),
    ("/f/{slug}/thanks", &["GET"]),
    ("/f/{slug}/{junk}", &["GET", "POST"]),
    ("/q/{slug}", &["GET", "HEAD"]),
    ("/q/{slug}.png", &["GET"]),
    ("/q/{slug}.svg", &["GET"]),
    ("/q/{slug}.{junk}", &["GET"]),
    ("/hooks/call", &["POST"]),
    ("/hooks/call", &["POST"]),
    ("/hooks/{junk}", &["POST"]),
    ("/admin", &["GET"]),
    ("/admin/campaigns", &["GET", "POST"]),
    ("/admin/campaigns/{slug}", &["GET", "POST"]),
    ("/admin/campaigns/{slug}/qr", &["GET"]),
    ("/admin/leads", &["GET", "POST"]),
    ("/admin/{junk}", &["GET", "POST"]),
    ("/api/campaigns", &["GET", "POST"]),
    ("/api/campaigns", &["POST"]),
    ("/api/campaigns/{slug}", &["PATCH"]),
    ("/api/campaigns/{slug}/costs", &["POST"]),
    ("/api/campaigns/{slug}", &["GET", "PATCH"]),
    ("/api/campaigns/{slug}/qr", &["GET"]),
    ("/api/campaigns/{slug}/costs", &["GET", "POST"]),
    ("/api/campaigns/{slug}/costs/{id}", &["DELETE"]),
    ("/api/leads", &["GET"]),
    ("/api/leads", &["GET"]),
    ("/api/leads/import", &["POST"]),
    ("/api/leads/import", &["POST"]),
    ("/api/leads/{id}", &["GET", "PATCH"]),
    ("/api/leads/{id}", &["PATCH"]),
    ("/api/conversions", &["POST"]),
    ("/api/conversions", &["POST"]),
    ("/api/conversions/import", &["POST"]),
    ("/api/conversions/import", &["POST"]),
    ("/api/conversions/{id}", &["GET"]),
    ("/api/roi", &["GET"]),
    ("/api/roi.csv", &["GET"]),
    ("/api/roi.xlsx", &["GET"]),
    ("/api/openapi.json", &["GET"]),
    ("/api/{junk}", &["GET", "POST"]),
    ("/{junk}", &["GET"]),
    ("/{junk}/{junk}/{junk}", &["GET"]),
];

const QUERY_KEYS: &[&str] = &[
    "v",
    "size",
    "ecc",
    "fg",
    "bg",
    "margin",
    "campaign",
    "since",
    "until",
    "limit",
    "cursor",
    "format",
    "model",
    "from",
    "to",
    "group_by",
    "half_life_days",
    "lookback_days",
    "lang",
    "status",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "gclid",
    "ref",
];

const QUERY_VALUES: &[&str] = &[
    "",
    "booth",
    "poster",
    "64",
    "63",
    "512",
    "4097",
    "0",
    "-1",
    "99999999999999999999",
    "L",
    "M",
    "Q",
    "H",
    "csv",
    "json",
    "xlsx",
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "campaign",
    "channel",
    "kind",
    "zh",
    "en",
    "qr",
    "offline",
    "2025-03-01",
    "2025-02-30",
    "2025-03-01T10:00:00+08:00",
    "1e999",
    "NaN",
    "expo",
    "live",
    "%FF",
    "%00",
];

/// Keys of JSON objects, form posts and CSV headers: every field of every body the server reads.
const BODY_KEYS: &[&str] = &[
    "name",
    "phone",
    "email",
    "company",
    "title",
    "message",
    "consent",
    "_token",
    "_hp",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "gclid",
    "ref",
    "slug",
    "kind",
    "channel",
    "status",
    "owner",
    "starts_on",
    "ends_on",
    "currency",
    "budget",
    "target_leads",
    "target_revenue",
    "form",
    "tracking_numbers",
    "utm_campaigns",
    "qr_variants",
    "rate_limit",
    "amount",
    "incurred_on",
    "note",
    "id",
    "lead_id",
    "stage",
    "occurred_at",
    "call_id",
    "tracking_number",
    "caller",
    "started_at",
    "duration_s",
    "campaign",
    "received_at",
    "external_id",
];

/// Values a field might plausibly hold, and some it should not. No value here is a rate
/// limit tighter than `off`: a random PATCH must not turn a campaign's 429s on.
const STRING_VALUES: &[&str] = &[
    "expo",
    "live",
    "13800138000",
    "+8613800138000",
    "+862161234567",
    "021 6123 4567",
    "a@example.com",
    "A@EXAMPLE.COM ",
    "2025-03-01",
    "2025-03-01T10:00:00+08:00",
    "2999-01-01T00:00:00Z",
    "deal",
    "won",
    "lost",
    "new",
    "mql",
    "sql",
    "disqualified",
    "running",
    "planned",
    "ended",
    "trade_show",
    "livestream",
    "default",
    "CNY",
    "USD",
    "JPY",
    "XXX",
    "48500.50",
    "-1",
    "0.001",
    "1e999",
    "99999999999999999999.99",
    "off",
    "true",
    "on",
    "",
    " ",
    "<script>alert(1)</script>",
    "\u{0}",
    "\u{feff}",
    "张三",
];

/// Valid bodies of the routes, to be mutated: most random objects never get past validation.
const LEAD_OBJECTS: &[&str] = &[
    r#"{"phone":"13800138000","name":"张三","consent":true}"#,
    r#"{"email":"a@example.com","consent":"on","utm_source":"qr","utm_medium":"offline","_token":"t-1"}"#,
    r#"{"phone":"+86 139 0013 9000","company":"公司","message":"你好","consent":true,"gclid":"x"}"#,
];
const CAMPAIGN_OBJECTS: &[&str] = &[
    r#"{"slug":"fuzz","name":"活动","kind":"trade_show","budget":"1000"}"#,
    r#"{"name":"改名","status":"running","target_leads":100}"#,
];
const COST_OBJECTS: &[&str] = &[r#"{"amount":"100.00","incurred_on":"2025-03-01","note":"n"}"#];
const CONVERSION_OBJECTS: &[&str] = &[
    r#"{"id":"o-2","phone":"13800138000","stage":"deal","amount":"100","occurred_at":"2025-03-01T10:00:00+08:00"}"#,
];
const CALL_OBJECTS: &[&str] = &[
    r#"{"call_id":"c-1","tracking_number":"+862161234567","caller":"+8613800138000","started_at":"2025-03-01T10:00:00+08:00","duration_s":95}"#,
];
const STATUS_OBJECTS: &[&str] = &[r#"{"status":"mql"}"#];
const IMPORT_OBJECTS: &[&str] = &[
    r#"{"campaign":"expo","phone":"13800138000","name":"张三","received_at":"2025-03-01T10:00:00+08:00"}"#,
    r#"{"campaign":"live","email":"a@example.com","external_id":"x-1"}"#,
];
/// Every valid object, for bodies sent to any route.
const VALID_OBJECTS: &[&[&str]] = &[
    LEAD_OBJECTS,
    CAMPAIGN_OBJECTS,
    COST_OBJECTS,
    CONVERSION_OBJECTS,
    CALL_OBJECTS,
    STATUS_OBJECTS,
    IMPORT_OBJECTS,
];

const LEAD_CSV_HEADERS: &[&str] = &[
    "campaign,phone,name,received_at,external_id",
    "campaign,email,company,status",
];
const CONVERSION_CSV_HEADERS: &[&str] = &[
    "id,phone,stage,amount,occurred_at",
    "id,lead_id,stage,amount",
];

/// Headers that frame the message: set by the client library, not by the test.
const FRAMING_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"];

#[derive(Debug, Clone)]
enum Signature {
    None,
    Junk(String),
    Valid,
}

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    signature: Signature,
    body: Vec<u8>,
}

impl Case {
    fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(300)]);
        format!(
            "{} {}{} headers={:?} sig={:?} body({} bytes)={body:?}",
            self.method,
            self.path,
            self.query
                .as_deref()
                .map(|q| format!("?{q}"))
                .unwrap_or_default(),
            self.headers,
            self.signature,
            self.body.len()
        )
    }
}

/// A small, fast generator for the text inside a case. proptest's regex and `String`
/// strategies build a value tree per character, too slow in debug builds for 10,000 cases;
/// here proptest draws a seed (so runs stay deterministic) and this expands it.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// `min..=max` characters of the ASCII `alphabet`.
    fn text(&mut self, alphabet: &str, min: usize, max: usize) -> String {
        let bytes = alphabet.as_bytes();
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| char::from(bytes[self.below(bytes.len())]))
            .collect()
    }

    fn printable(&mut self, min: usize, max: usize) -> String {
        let len = min + self.below(max - min + 1);
        (0..len)
            .map(|_| char::from(b' ' + self.below(95) as u8))
            .collect()
    }

    /// Arbitrary text: letters, CJK, controls (NUL included), quotes and delimiters, BOM,
    /// bidi overrides, emoji, any code point.
    fn unicode(&mut self) -> String {
        const SPECIAL: &[char] = &[
            '\u{0}',
            '\u{feff}',
            '\u{202e}',
            '\u{200b}',
            '"',
            '\'',
            '\\',
            '<',
            '>',
            '&',
            '%',
            '+',
            '=',
            ',',
            ';',
            '\n',
            '\r',
            '\t',
            '#',
            '?',
            '/',
            '.',
            ' ',
            '\u{7f}',
            '\u{85}',
            '\u{2028}',
            '\u{fffd}',
            '\u{10ffff}',
        ];
        let len = self.below(24);
        (0..len)
            .map(|_| {
                let pick = (self.next() >> 8) as u32;
                match self.below(8) {
                    0..=2 => char::from(b'a' + (pick % 26) as u8),
                    3 => SPECIAL[pick as usize % SPECIAL.len()],
                    4 => char::from_u32(0x4e00 + pick % 0x5000).unwrap(),
                    5 => char::from_u32(pick % 0x80).unwrap(),
                    6 => char::from_u32(pick % 0x11_0000).unwrap_or('\u{fffd}'),
                    _ => char::from_u32(0x1f600 + pick % 0x50).unwrap(),
                }
            })
            .collect()
    }

    /// One junk path segment: escapes (valid or not as UTF-8), sub-delims, dots, unicode.
    fn junk_segment(&mut self) -> String {
        match self.below(6) {
            0..=2 => {
                let len = self.below(31);
                (0..len)
                    .map(|_| {
                        if self.one_in(4) {
                            format!("%{}", self.text(HEX, 2, 2))
                        } else {
                            self.text(SEGMENT_CHARS, 1, 1)
                        }
                    })
                    .collect()
            }
            3 | 4 => pct(&self.unicode()),
            _ => self
                .pick(&["", "..", ".", "%2e%2e", "%2F", "%00", "%FF", "%C0%AF", "~"])
                .to_owned(),
        }
    }

    fn slug(&mut self) -> String {
        match self.below(18) {
            0..=11 => self.pick(&["expo", "live", "ended"]).to_owned(),
            12 | 13 => self.text(LOWER_DIGITS, 1, 1) + &self.text(SLUG_CHARS, 0, 63),
            14 => self.text(SLUG_CHARS, 64, 80),
            15 => self.text("ABCXYZ", 1, 1) + &self.text(ALNUM, 0, 10),
            _ => self.junk_segment(),
        }
    }

    fn id(&mut self, real: &[String]) -> String {
        match self.below(12) {
            0..=5 => real[self.below(real.len())].clone(),
            6 | 7 => self.text(CROCKFORD, 26, 26),
            8 => self.text(LOWER_DIGITS, 26, 26),
            9 => self.text(DIGITS, 1, 22),
            _ => self.junk_segment(),
        }
    }

    fn query(&mut self) -> Option<String> {
        match self.below(10) {
            0..=2 => None,
            3..=8 => {
                let pairs = self.below(6);
                let query = (0..pairs)
                    .map(|_| {
                        let key = match self.below(7) {
                            0..=4 => self.pick(QUERY_KEYS).to_owned(),
                            5 => self.text("abcdefghijklmnopqrstuvwxyz_", 1, 12),
                            _ => self.junk_segment(),
                        };
                        let value = match self.below(13) {
                            0..=5 => self.pick(QUERY_VALUES).to_owned(),
                            6 => self.text(DIGITS, 1, 6),
                            7 => self.text("-0123456789", 1, 25),
                            8 => self.date(),
                            9 => encode(&self.printable(0, 30)),
                            10 => encode(&self.unicode()),
                            11 => (0..1 + self.below(8))
                                .map(|_| format!("%{}", self.text(HEX, 2, 2)))
                                .collect(),
                            _ => self.text(CROCKFORD, 26, 26),
                        };
                        format!("{key}={value}")
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                Some(query)
            }
            // Raw printable junk (no '#', which would end the URL's query).
            _ => Some(self.printable(0, 60).replace('#', "%23")),
        }
    }

    fn date(&mut self) -> String {
        let date = format!(
            "20{}-{}{}-{}{}",
            self.text(DIGITS, 2, 2),
            self.text("01", 1, 1),
            self.text(DIGITS, 1, 1),
            self.text("0123", 1, 1),
            self.text(DIGITS, 1, 1)
        );
        if self.one_in(2) {
            date
        } else {
            format!(
                "{date}T{}:{}:00{}",
                self.text("012", 1, 1) + &self.text(DIGITS, 1, 1),
                self.text("012345", 1, 1) + &self.text(DIGITS, 1, 1),
                self.pick(&["Z", "+08:00", "", "-25:00"])
            )
        }
    }

    fn string_value(&mut self) -> String {
        match self.below(19) {
            0..=7 => self.pick(STRING_VALUES).to_owned(),
            8 | 9 => format!("1{}{}", self.text("3456789", 1, 1), self.text(DIGITS, 9, 9)),
            10 => self.text("+0123456789 ()-", 0, 20),
            11 => format!(
                "{}@{}.{}",
                self.text(LOWER, 1, 8),
                self.text(LOWER, 1, 8),
                self.pick(&["com", "cn"])
            ),
            12 => self.date(),
            13 => format!(
                "{}{}.{}",
                self.pick(&["", "-"]),
                self.text(DIGITS, 1, 14),
                self.text(DIGITS, 1, 4)
            ),
            14 | 15 => self.unicode(),
            16 => (0..1 + self.below(4))
                .map(|_| char::from(self.below(0x20) as u8))
                .collect(),
            _ => self.text(LOWER_DIGITS, 1, 1) + &self.text(SLUG_CHARS, 0, 20),
        }
    }

    fn key(&mut self) -> String {
        match self.below(10) {
            0..=7 => self.pick(BODY_KEYS).to_owned(),
            8 => self.text("abcdefghijklmnopqrstuvwxyz_", 1, 10),
            _ => self.unicode(),
        }
    }

    fn json_value(&mut self, depth: usize) -> Value {
        let kinds = if depth == 0 { 14 } else { 18 };
        match self.below(kinds) {
            0 => Value::Null,
            1 | 2 => Value::Bool(self.one_in(2)),
            3 | 4 => json!(self.next() as i64),
            5 => json!((self.next() % 2_000_000) as f64 / 7.0 - 100_000.0),
            6..=13 => Value::String(self.string_value()),
            14 | 15 => Value::Array(
                (0..self.below(4))
                    .map(|_| self.json_value(depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..self.below(4))
                    .map(|_| (self.key(), self.json_value(depth - 1)))
                    .collect(),
            ),
        }
    }

    /// A JSON object: random keys, or a valid body of some route with a few keys changed.
    fn json_object(&mut self) -> Value {
        let templates = VALID_OBJECTS[self.below(VALID_OBJECTS.len())];
        self.object_like(templates)
    }

    /// One of `templates` with a few keys changed, or now and then random keys.
    fn object_like(&mut self, templates: &[&str]) -> Value {
        if self.one_in(4) {
            Value::Object(
                (0..self.below(10))
                    .map(|_| (self.key(), self.json_value(3)))
                    .collect(),
            )
        } else {
            let mut object: Value = serde_json::from_str(self.pick(templates)).unwrap();
            for _ in 0..self.below(5).saturating_sub(1) {
                let key = self.key();
                object[key] = self.json_value(2);
            }
            object
        }
    }

    fn csv(&mut self, headers: &[&str]) -> Vec<u8> {
        let header = if self.one_in(3) {
            (0..1 + self.below(7))
                .map(|_| self.key())
                .collect::<Vec<_>>()
                .join(",")
        } else {
            self.pick(headers).to_owned()
        };
        let quoted = self.one_in(2);
        let mut text = if self.one_in(4) {
            "\u{feff}".to_owned()
        } else {
            String::new()
        };
        text.push_str(&header);
        for _ in 0..self.below(6) {
            text.push_str(self.pick(&["\r\n", "\n"]));
            let cells: Vec<String> = (0..self.below(7))
                .map(|_| {
                    let cell = self.string_value();
                    if quoted {
                        format!("\"{}\"", cell.replace('"', "\"\""))
                    } else {
                        cell
                    }
                })
                .collect();
            text.push_str(&cells.join(","));
        }
        text.push('\n');
        text.into_bytes()
    }

    /// A body and the content type it naturally goes with.
    fn body(&mut self) -> (Option<&'static str>, Vec<u8>) {
        match self.below(25) {
            0..=2 => (None, Vec::new()),
            3..=10 => (Some(JSON), serde_json::to_vec(&self.json_object()).unwrap()),
            11 | 12 => {
                let rows: Vec<Value> = (0..self.below(4)).map(|_| self.json_object()).collect();
                (Some(JSON), serde_json::to_vec(&rows).unwrap())
            }
            13..=15 => {
                let pairs: Vec<(String, String)> = (0..self.below(12))
                    .map(|_| (self.key(), self.string_value()))
                    .collect();
                let borrowed: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                (Some(FORM), urlencode(&borrowed).into_bytes())
            }
            16 | 17 => {
                let name = self.string_value();
                let utm = self.string_value();
                let mut pairs = vec![("phone", "13800138000"), ("name", name.as_str())];
                if !self.one_in(4) {
                    pairs.push(("consent", "on"));
                }
                pairs.push(("utm_source", utm.as_str()));
                (Some(FORM), urlencode(&pairs).into_bytes())
            }
            18 => {
                let raw = (0..self.below(8))
                    .map(|_| {
                        format!(
                            "{}={}",
                            self.text("abcdefghijklmnopqrstuvwxyz_%0123456789ABCDEF", 0, 8),
                            self.text("abcdefghijklmnopqrstuvwxyz%0123456789ABCDEF+", 0, 12)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                (Some(FORM), raw.into_bytes())
            }
            19..=21 => {
                let headers = [LEAD_CSV_HEADERS, CONVERSION_CSV_HEADERS][self.below(2)];
                (Some("text/csv"), self.csv(headers))
            }
            22 => (
                None,
                (0..self.below(512)).map(|_| self.next() as u8).collect(),
            ),
            23 => {
                let n = 1 + self.below(3000);
                let hostile: Vec<u8> = match self.below(6) {
                    0 => format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes(),
                    1 => br#"{"phone":1e999,"consent":true}"#.to_vec(),
                    2 => {
                        br#"{"phone":"13800138000","phone":"13900139000","consent":true}"#.to_vec()
                    }
                    3 => b"{\"name\":\"\xff\xfe\",\"phone\":\"13800138000\"}".to_vec(),
                    4 => br#"{"name":"\ud800","phone":"13800138000"}"#.to_vec(),
                    _ => b"\xef\xbb\xbf{\"phone\":\"13800138000\",\"consent\":true}".to_vec(),
                };
                (Some(JSON), hostile)
            }
            _ => {
                let n = match self.below(4) {
                    0 => 65_535,
                    1 => 65_536,
                    2 => 65_537,
                    _ => 70_000 + self.below(70_000),
                };
                let mut body = br#"{"phone":"13800138000","consent":true,"message":""#.to_vec();
                body.resize(n - 2, b'x');
                body.extend_from_slice(b"\"}");
                (Some(JSON), body)
            }
        }
    }

    /// A body made for `route` (its valid shape, a few values changed), when it takes one.
    fn body_for(&mut self, route: &str) -> Option<(Option<&'static str>, Vec<u8>)> {
        let json = |value: Value| Some((Some(JSON), serde_json::to_vec(&value).unwrap()));
        match route {
            "/f/{slug}" if self.one_in(2) => {
                let object = self.object_like(LEAD_OBJECTS);
                let pairs: Vec<(String, String)> = object
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect();
                let borrowed: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                Some((Some(FORM), urlencode(&borrowed).into_bytes()))
            }
            "/f/{slug}" => json(self.object_like(LEAD_OBJECTS)),
            "/api/campaigns" | "/api/campaigns/{slug}" => json(self.object_like(CAMPAIGN_OBJECTS)),
            "/api/campaigns/{slug}/costs" => json(self.object_like(COST_OBJECTS)),
            "/api/conversions" => json(self.object_like(CONVERSION_OBJECTS)),
            "/hooks/call" => json(self.object_like(CALL_OBJECTS)),
            "/api/leads/{id}" => json(self.object_like(STATUS_OBJECTS)),
            "/api/leads/import" if self.one_in(2) => {
                let rows: Vec<Value> = (0..self.below(5))
                    .map(|_| self.object_like(IMPORT_OBJECTS))
                    .collect();
                json(Value::Array(rows))
            }
            "/api/leads/import" => Some((Some("text/csv"), self.csv(LEAD_CSV_HEADERS))),
            "/api/conversions/import" => Some((Some("text/csv"), self.csv(CONVERSION_CSV_HEADERS))),
            _ => None,
        }
    }

    fn headers(&mut self) -> (Vec<(String, String)>, Signature) {
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, value: String| headers.push((name.to_owned(), value));
        if !self.one_in(3) {
            let value = match self.below(15) {
                0..=4 => JSON.to_owned(),
                5 => "application/json; charset=utf-8".to_owned(),
                6..=9 => FORM.to_owned(),
                10 | 11 => "text/csv".to_owned(),
                12 => "text/csv; charset=utf-8".to_owned(),
                13 => self
                    .pick(&[
                        "multipart/form-data; boundary=x",
                        "text/plain",
                        "APPLICATION/JSON",
                        "application/xml",
                    ])
                    .to_owned(),
                _ => self.printable(0, 40),
            };
            add("content-type", value);
        }
        if !self.one_in(2) {
            let value = match self.below(8) {
                0..=2 => JSON.to_owned(),
                3 | 4 => "text/html,application/xhtml+xml,*/*;q=0.8".to_owned(),
                5 => "*/*".to_owned(),
                6 => "image/png".to_owned(),
                _ => self.printable(0, 40),
            };
            add("accept", value);
        }
        if !self.one_in(6) {
            let basic = |credentials: &str| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(credentials)
                )
            };
            let value = match self.below(25) {
                0..=15 => format!("Bearer {}", crate::helpers::TOKEN),
                16..=19 => basic(&format!("admin:{}", crate::helpers::TOKEN)),
                20 => format!("bearer   {} ", crate::helpers::TOKEN),
                21 => "Bearer wrong-token".to_owned(),
                22 => basic("admin"),
                23 => format!("Basic {}", self.text(BASE64, 0, 24)),
                _ => self.printable(0, 40),
            };
            add("authorization", value);
        }
        if self.one_in(3) {
            let value = match self.below(4) {
                0 | 1 => WIDGET_SITE.to_owned(),
                2 => self
                    .pick(&["https://evil.example.net", "null", "http://127.0.0.1"])
                    .to_owned(),
                _ => self.printable(0, 40),
            };
            add("origin", value);
        }
        if self.one_in(2) {
            let ip = |g: &mut Gen| {
                (0..4)
                    .map(|_| g.text(DIGITS, 1, 3))
                    .collect::<Vec<_>>()
                    .join(".")
            };
            let value = match self.below(5) {
                0 | 1 => ip(self),
                2 => format!("{}, 127.0.0.1", ip(self)),
                3 => self
                    .pick(&[
                        "::1",
                        "2001:db8::1",
                        "unknown",
                        ",,,",
                        "1.2.3.4, garbage, 5.6.7.8",
                    ])
                    .to_owned(),
                _ => self.printable(0, 40),
            };
            add("x-forwarded-for", value);
        }
        if self.one_in(3) {
            let value = if self.one_in(3) {
                self.printable(0, 40)
            } else {
                format!(
                    "http://example.com/landing?utm_source={}&utm_campaign={}",
                    self.text(LOWER, 0, 6),
                    self.text("abcdefghijklmnopqrstuvwxyz%0123456789", 0, 8)
                )
            };
            add("referer", value);
        }
        if !self.one_in(3) {
            let (name, value) = match self.below(5) {
                0 | 1 => {
                    let name = self.text(LOWER, 1, 1) + &self.text(HEADER_NAME_CHARS, 0, 15);
                    if FRAMING_HEADERS.contains(&name.as_str()) {
                        ("x-framing-not-allowed".to_owned(), self.printable(0, 40))
                    } else {
                        (name, self.printable(0, 40))
                    }
                }
                2 => ("if-none-match".to_owned(), self.printable(0, 40)),
                3 => ("cookie".to_owned(), self.printable(0, 40)),
                _ => {
                    let (n, v) = [
                        ("content-encoding", "gzip"),
                        ("expect", "100-continue"),
                        ("sec-fetch-site", "cross-site"),
                        ("access-control-request-method", "POST"),
                        ("range", "bytes=0-10"),
                    ][self.below(5)];
                    (n.to_owned(), v.to_owned())
                }
            };
            add(&name, value);
        }
        let signature = match self.below(7) {
            0..=3 => Signature::None,
            4 | 5 => Signature::Valid,
            _ => Signature::Junk(self.pick(&["", "sha256="]).to_owned() + &self.text(HEX, 0, 70)),
        };
        (headers, signature)
    }
}

const DIGITS: &str = "0123456789";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const LOWER_DIGITS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const SLUG_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789-";
const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";
const HEX: &str = "0123456789ABCDEFabcdef";
const CROCKFORD: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const BASE64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
const HEADER_NAME_CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789-";
/// Characters a path segment may hold unescaped.
const SEGMENT_CHARS: &str =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~!$&'()*+,;=:@-";

/// Percent-encodes every byte that is not alphanumeric.
fn pct(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A method and a path: usually a method the route takes, sometimes any method at all.
fn method_and_path(real_ids: Vec<String>) -> BoxedStrategy<(&'static str, String, String)> {
    let any_method = prop_oneof![
        6 => select(METHODS).prop_map(str::to_owned),
        1 => select(&["TRACE", "PROPFIND", "PURGE", "get", "Post", "M-SEARCH", "BREW", "X"][..])
            .prop_map(str::to_owned),
    ];
    (
        select(ROUTES),
        any::<prop::sample::Index>(),
        prop::bool::weighted(0.8),
        any_method,
        any::<u64>(),
    )
        .prop_map(move |((route, methods), pick, usual, other, seed)| {
            let mut g = Gen(seed | 1);
            let method = if usual {
                pick.get(methods).to_string()
            } else {
                other
            };
            let suffix = match g.below(40) {
                0 => "/".to_owned(),
                1 => format!("/{}", g.text(LOWER, 1, 8)),
                2 => g
                    .pick(&[
                        ".png",
                        ".svg",
                        ".csv",
                        ".json",
                        "//",
                        "/..",
                        "/%2e%2e/api/leads",
                    ])
                    .to_owned(),
                _ => String::new(),
            };
            let path = format!(
                "{}{suffix}",
                route
                    .replace("{slug}", &g.slug())
                    .replace("{id}", &g.id(&real_ids))
                    .replace("{junk}", &g.junk_segment())
            );
            (route, method, path)
        })
        .boxed()
}

fn case(real_ids: Vec<String>) -> BoxedStrategy<Case> {
    (
        method_and_path(real_ids),
        any::<u64>(),
        prop::bool::weighted(0.7),
    )
        .prop_map(|((route, method, path), seed, fit)| {
            let mut g = Gen(seed | 1);
            let query = g.query();
            let (mut headers, signature) = g.headers();
            let made_for_route = if g.one_in(3) { None } else { g.body_for(route) };
            let (natural, body) = made_for_route.unwrap_or_else(|| g.body());
            // Most of the time the content type fits the body, so handlers get past it.
            if fit && let Some(natural) = natural {
                headers.retain(|(n, _)| n != "content-type");
                headers.push(("content-type".to_owned(), natural.to_owned()));
            }
            Case {
                method,
                path,
                query,
                headers,
                signature,
                body,
            }
        })
        .boxed()
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

async fn send(client: &reqwest::Client, base: &str, case: &Case) -> reqwest::Result<u16> {
    let method = reqwest::Method::from_bytes(case.method.as_bytes()).expect("a valid token");
    let url = match &case.query {
        Some(query) => format!("{base}{}?{query}", case.path),
        None => format!("{base}{}", case.path),
    };
    let mut request = client.request(method, url);
    for (name, value) in &case.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    match &case.signature {
        Signature::None => {}
        Signature::Junk(junk) => request = request.header("x-leadgate-signature", junk.as_str()),
        Signature::Valid => request = request.header("x-leadgate-signature", sign(&case.body)),
    }
    if !case.body.is_empty() {
        request = request.body(case.body.clone());
    }
    let resp = request.send().await?;
    let status = resp.status().as_u16();
    resp.bytes().await?;
    Ok(status)
}

/// The server with every feature on and no rate limits (429s would hide the routes behind
/// them), with a few campaigns, leads, costs and a conversion to aim at.
async fn fuzz_app() -> (TestApp, Vec<String>) {
    let app = spawn_app_with(|c| {
        c.rate_limit = None;
        c.global_rate_limit = None;
        c.call_secret = Some(SECRET.into());
        c.cors_origins = vec![WIDGET_SITE.into()];
        c.trusted_proxies = leadgate::limits::parse_ip_list("127.0.0.1").unwrap();
    })
    .await;
    app.create_campaign(
        "expo",
        json!({"kind": "trade_show", "qr_variants": ["booth"]}),
    )
    .await;
    app.create_campaign(
        "live",
        json!({"form": "livestream", "kind": "livestream", "tracking_numbers": ["021 6123 4567"]}),
    )
    .await;
    app.create_campaign("ended", json!({"status": "ended"}))
        .await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(app.submit_json_ok("expo", &lead(&mobile(n), "张三")).await);
    }
    let cost = app.add_cost("expo", json!("100.00"), "2025-03-01").await;
    ids.push(
        cost["id"]
            .as_str()
            .map_or_else(|| cost["id"].to_string(), str::to_owned),
    );
    app.post_conversion(
        &json!({"id": "order-1", "lead_id": ids[0], "stage": "won", "amount": "500",
                "occurred_at": "2025-03-02T10:00:00+08:00"}),
        201,
    )
    .await;
    ids.push("order-1".into());
    (app, ids)
}

/// Random methods, paths, queries, headers and bodies against every route: never a 5xx,
/// and the server answers `/healthz` afterwards.
#[test]
fn random_requests_to_every_route_never_get_a_5xx() {
    const CASES: u32 = 10_000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, real_ids) = rt.block_on(fuzz_app());
    // A connection per case: each case stands alone (and shrinks alone). Whether a
    // connection survives an unread body is checked by its own test.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let ran = Cell::new(0u32);
    let statuses: RefCell<BTreeMap<u16, u32>> = RefCell::default();
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig {
            cases: CASES,
            failure_persistence: None,
            max_shrink_iters: 200,
            ..ProptestConfig::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let result = runner.run(&case(real_ids), |case| {
        ran.set(ran.get() + 1);
        match rt.block_on(send(&client, &app.base, &case)) {
            Ok(status) => {
                *statuses.borrow_mut().entry(status).or_default() += 1;
                if status >= 500 {
                    return Err(TestCaseError::fail(format!(
                        "{status} for {}",
                        case.describe()
                    )));
                }
                Ok(())
            }
            Err(error) => Err(TestCaseError::fail(format!(
                "no response ({error:?}) for {}",
                case.describe()
            ))),
        }
    });
    eprintln!(
        "HTTP property test: {} cases run in {:?}; statuses {:?}",
        ran.get(),
        started.elapsed(),
        statuses.borrow()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
    assert!(ran.get() >= CASES, "only {} cases ran", ran.get());
    rt.block_on(async {
        let resp = app.get("/healthz").await;
        assert_eq!(resp.status(), 200, "healthz after the storm");
        app.create_campaign("control", json!({})).await;
        app.submit_json_ok("control", &lead(&mobile(42), "张三"))
            .await;
    });
}
