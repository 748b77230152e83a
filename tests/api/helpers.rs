//! Shared test plumbing: a real server on port 0, an HTTP client, and small readers for the
//! JSON, HTML and CSV the server answers with.

use std::time::Duration;

use leadgate::config::Config;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The admin token every in-process test server is started with.
pub const TOKEN: &str = "test-admin-token-0123456789abcdef0123456789";

/// The parameters of the tracking set (API.md, `GET /f/{slug}`).
pub const TRACKING_SET: [&str; 16] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "ttclid",
    "li_fat_id",
    "bd_vid",
    "qclid",
    "ref",
];

/// The click ids of the tracking set: each is kept under a lead's `click_ids`.
pub const CLICK_IDS: [&str; 9] = [
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "ttclid",
    "li_fat_id",
    "bd_vid",
    "qclid",
];

/// A running server on its own temporary data directory. Dropping it shuts the server down.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash; also the server's `public_url`.
    pub base: String,
    /// Does not follow redirects, so 302/303 responses can be inspected.
    pub client: Client,
    pub token: String,
    pub _dir: tempfile::TempDir,
    _shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

/// A client that never follows redirects and never hangs a test for long.
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build reqwest client")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `spawn_app` with settings changed by `configure` (e.g. a call-webhook secret).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("create temp data dir");
    spawn_app_in(dir, configure).await
}

/// `spawn_app_with` on an existing data directory: with [`TestApp::stop`], a restart of
/// the server on the same store.
pub async fn spawn_app_in(dir: tempfile::TempDir, configure: impl FnOnce(&mut Config)) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("listener address");
    let base = format!("http://{addr}");

    let mut config = Config::for_data_dir(dir.path());
    config.listen = addr;
    config.public_url = base.clone();
    config.admin_token = Some(TOKEN.to_owned());
    configure(&mut config);

    let (tx, rx) = oneshot::channel::<()>();
    let shutdown = async move {
        // Resolves when the TestApp (and with it the sender) is dropped.
        let _ = rx.await;
    };
    let server = tokio::spawn(async move {
        if let Err(e) = leadgate::server::serve(config, listener, shutdown).await {
            eprintln!("leadgate server stopped with an error: {e:?}");
        }
    });

    TestApp {
        base,
        client: client(),
        token: TOKEN.to_owned(),
        _dir: dir,
        _shutdown: tx,
        server,
    }
}

impl TestApp {
    /// Shuts the server down as a stop signal would, waits until it has closed its store,
    /// and hands back the data directory for the next start.
    pub async fn stop(self) -> tempfile::TempDir {
        let TestApp {
            client,
            _dir,
            _shutdown,
            server,
            ..
        } = self;
        // The client's keep-alive connections would only slow the server's drain down.
        drop(client);
        drop(_shutdown);
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("the server stops within 30 s")
            .expect("the server task ends cleanly");
        _dir
    }

    /// Stops the server and runs `leadgate check`'s verification on its store: the
    /// problems found (none for a consistent store).
    pub async fn stop_and_check(self) -> Vec<String> {
        let dir = self.stop().await;
        let config = Config::for_data_dir(dir.path());
        let store = leadgate::store::Store::open(&config.store_path(), config.tz.clone())
            .expect("reopen the store");
        let report = store.check_blocking().expect("check the store");
        store.close_blocking();
        report.problems
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request")
    }

    pub async fn admin_get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("admin GET request")
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("admin POST request")
    }

    pub async fn admin_patch(&self, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("admin PATCH request")
    }

    /// Creates a campaign from `{slug, name}` merged with `extra` and asserts `201`.
    pub async fn create_campaign(&self, slug: &str, extra: Value) -> Value {
        let body = merge(json!({"slug": slug, "name": format!("活动 {slug}")}), extra);
        let (status, value) = json_body(self.admin_post("/api/campaigns", &body).await).await;
        assert_eq!(status, 201, "create campaign {slug}: {value}");
        value
    }

    /// `POST /f/{slug}` with a JSON body.
    pub async fn submit_json(&self, slug: &str, body: &Value) -> Response {
        self.client
            .post(self.url(&format!("/f/{slug}")))
            .json(body)
            .send()
            .await
            .expect("JSON submission")
    }

    /// A JSON submission that must succeed with `201`; returns the lead id.
    pub async fn submit_json_ok(&self, slug: &str, body: &Value) -> String {
        let (status, value) = json_body(self.submit_json(slug, body).await).await;
        assert_eq!(status, 201, "JSON submission to {slug}: {value}");
        value["lead_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no lead_id in {value}"))
            .to_owned()
    }

    /// `POST /f/{slug}` as a browser does: `application/x-www-form-urlencoded`.
    pub async fn submit_form(&self, slug: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(&format!("/f/{slug}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(urlencode(fields))
            .send()
            .await
            .expect("form submission")
    }

    /// The form page of `slug` (asserting 200).
    pub async fn form_page(&self, slug: &str) -> String {
        let resp = self.get(&format!("/f/{slug}")).await;
        assert_eq!(resp.status(), 200, "GET /f/{slug}");
        resp.text().await.expect("form page body")
    }

    /// A fresh idempotency token, read from the hidden `_token` input of the form page.
    pub async fn form_token(&self, slug: &str) -> String {
        let html = self.form_page(slug).await;
        let token = control(&html, "_token")
            .and_then(|t| t.attr("value").map(str::to_owned))
            .unwrap_or_else(|| panic!("no _token input with a value on /f/{slug}"));
        assert!(!token.is_empty(), "empty _token on /f/{slug}");
        token
    }

    /// `GET /api/leads?{query}`, asserting 200.
    pub async fn list_leads(&self, query: &str) -> Value {
        let (status, value) = json_body(self.admin_get(&format!("/api/leads?{query}")).await).await;
        assert_eq!(status, 200, "GET /api/leads?{query}: {value}");
        value
    }

    /// Every lead of a campaign (newest first), following `next_cursor` to the end.
    pub async fn all_leads(&self, campaign: &str) -> Vec<Value> {
        let mut leads = Vec::new();
        let mut query = format!("campaign={campaign}&limit=100");
        for _ in 0..1000 {
            let page = self.list_leads(&query).await;
            leads.extend(
                page["leads"]
                    .as_array()
                    .expect("leads array")
                    .iter()
                    .cloned(),
            );
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    query = format!("campaign={campaign}&limit=100&cursor={}", encode(cursor))
                }
                None => return leads,
            }
        }
        panic!("pagination of {campaign} did not end");
    }

    /// The only lead of `campaign`; fails if there is not exactly one.
    pub async fn single_lead(&self, campaign: &str) -> Value {
        let leads = self.all_leads(campaign).await;
        assert_eq!(leads.len(), 1, "expected one lead in {campaign}: {leads:?}");
        leads.into_iter().next().unwrap()
    }
}

/// A JSON submission body for the `default` form: a phone, a name and the consent box.
pub fn lead(phone: &str, name: &str) -> Value {
    json!({"phone": phone, "name": name, "consent": true})
}

/// `base` with every key of `extra` (an object) set on it.
pub fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// Status and JSON body; a body that is not JSON becomes `Value::String(text)` so the failing
/// assertion shows what came back.
pub async fn json_body(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("response body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Asserts an API error (`{"error": {code, message, field}}`) with `status` and `field`.
pub async fn assert_error(resp: Response, status: u16, field: Option<&str>) -> Value {
    let (got, body) = json_body(resp).await;
    assert_eq!(got, status, "status; body: {body}");
    let error = &body["error"];
    let code = error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error.code missing: {body}"));
    assert!(
        !code.is_empty()
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "error.code is not snake_case: {body}"
    );
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message missing: {body}"
    );
    match field {
        Some(field) => assert_eq!(error["field"], json!(field), "error.field; body: {body}"),
        None => assert!(
            error["field"].is_null(),
            "error.field should be null: {body}"
        ),
    }
    body
}

pub fn content_type(resp: &Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// `application/x-www-form-urlencoded` serialisation.
pub fn urlencode(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// Percent-encodes one query value.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A utm value of a lead: `utm` is keyed by the parameter name (`utm_source`); the short key
/// (`source`) is accepted too, as API.md does not spell the keys out.
pub fn utm<'a>(lead: &'a Value, param: &str) -> Option<&'a str> {
    let utm = &lead["utm"];
    utm[param]
        .as_str()
        .or_else(|| utm[param.trim_start_matches("utm_")].as_str())
}

/// Asserts `id` looks like a ULID: 26 characters of Crockford base32.
pub fn assert_ulid(id: &str) {
    assert_eq!(id.len(), 26, "ULID length: {id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || (c.is_ascii_uppercase() && !"ILOU".contains(c))),
        "not a ULID: {id}"
    );
}

// ---------------------------------------------------------------------------------------------
// A small HTML reader: enough to find form controls and their attributes without a parser crate.

/// One start tag with its attributes (values entity-decoded).
#[derive(Debug, Clone)]
pub struct Tag {
    pub tag: String,
    pub attrs: Vec<(String, String)>,
}

impl Tag {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_hidden(&self) -> bool {
        self.attr("type")
            .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
    }
}

/// Every `<input>`, `<textarea>` and `<select>` start tag, in document order.
pub fn controls(html: &str) -> Vec<Tag> {
    start_tags(html)
        .into_iter()
        .filter(|t| matches!(t.tag.as_str(), "input" | "textarea" | "select"))
        .collect()
}

/// The first form control whose `name` is `name`.
pub fn control(html: &str, name: &str) -> Option<Tag> {
    controls(html)
        .into_iter()
        .find(|t| t.attr("name") == Some(name))
}

/// Every start tag of the document (comments, doctype and end tags skipped).
pub fn start_tags(html: &str) -> Vec<Tag> {
    let bytes = html.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        i += off + 1;
        if html[i..].starts_with("!--") {
            match html[i..].find("-->") {
                Some(end) => i += end + 3,
                None => break,
            }
            continue;
        }
        let name_len = html[i..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(html.len() - i);
        if name_len == 0 || !bytes[i].is_ascii_alphabetic() {
            continue;
        }
        let tag = html[i..i + name_len].to_ascii_lowercase();
        i += name_len;
        let mut attrs = Vec::new();
        loop {
            while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
                i += 1;
            }
            if i >= bytes.len() || bytes[i] == b'>' {
                break;
            }
            let end = html[i..]
                .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '>' || c == '/')
                .map_or(html.len(), |e| i + e);
            let name = html[i..end].to_ascii_lowercase();
            i = end.max(i + 1);
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let mut value = String::new();
            if i < bytes.len() && bytes[i] == b'=' {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                    let quote = bytes[i] as char;
                    let close = html[i + 1..].find(quote).map_or(html.len(), |e| i + 1 + e);
                    value = decode_entities(&html[i + 1..close]);
                    i = (close + 1).min(html.len());
                } else {
                    let end = html[i..]
                        .find(|c: char| c.is_ascii_whitespace() || c == '>')
                        .map_or(html.len(), |e| i + e);
                    value = decode_entities(&html[i..end]);
                    i = end;
                }
            }
            attrs.push((name, value));
        }
        tags.push(Tag { tag, attrs });
    }
    tags
}

/// Decodes the character references an HTML escaper produces (named basics and numeric).
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let window = &rest.as_bytes()[..rest.len().min(12)];
        let Some(semi) = window.iter().position(|&b| b == b';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix('#').and_then(|num| {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text a user reads: tags, `<style>` and `<script>` contents removed, entities decoded,
/// whitespace collapsed.
pub fn visible_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        text.push(' ');
        rest = &rest[lt..];
        let lower =
            String::from_utf8_lossy(&rest.as_bytes()[..rest.len().min(8)]).to_ascii_lowercase();
        let skip_to = if lower.starts_with("<style") {
            "</style>"
        } else if lower.starts_with("<script") {
            "</script>"
        } else if lower.starts_with("<!--") {
            "-->"
        } else {
            ">"
        };
        match rest.to_ascii_lowercase().find(skip_to) {
            Some(end) => rest = &rest[end + skip_to.len()..],
            None => rest = "",
        }
    }
    text.push_str(rest);
    decode_entities(&text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------------------------
// Costs, imports, conversions and the ROI summary.

impl TestApp {
    /// An admin POST with a raw body of the given content type.
    pub async fn admin_post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("admin POST request")
    }

    pub async fn admin_delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("admin DELETE request")
    }

    /// `POST /api/leads/import` with a `text/csv` body, asserting 200; returns the summary.
    pub async fn import_leads_csv(&self, csv: &str) -> Value {
        let resp = self
            .admin_post_raw("/api/leads/import", "text/csv", csv.to_owned())
            .await;
        let (status, value) = json_body(resp).await;
        assert_eq!(status, 200, "leads import: {value}");
        value
    }

    /// `POST /api/conversions/import` with a `text/csv` body, asserting 200.
    pub async fn import_conversions_csv(&self, csv: &str) -> Value {
        let resp = self
            .admin_post_raw("/api/conversions/import", "text/csv", csv.to_owned())
            .await;
        let (status, value) = json_body(resp).await;
        assert_eq!(status, 200, "conversions import: {value}");
        value
    }

    /// `POST /api/conversions`, asserting `status`; returns the conversion.
    pub async fn post_conversion(&self, body: &Value, status: u16) -> Value {
        let (got, value) = json_body(self.admin_post("/api/conversions", body).await).await;
        assert_eq!(got, status, "POST /api/conversions {body}: {value}");
        value
    }

    /// Adds a cost entry, asserting `201`; returns the entry.
    pub async fn add_cost(&self, slug: &str, amount: Value, incurred_on: &str) -> Value {
        let body = json!({"amount": amount, "incurred_on": incurred_on, "note": "test"});
        let resp = self
            .admin_post(&format!("/api/campaigns/{slug}/costs"), &body)
            .await;
        let (status, value) = json_body(resp).await;
        assert_eq!(status, 201, "add cost to {slug} {body}: {value}");
        value
    }

    /// `GET /api/roi?{query}`, asserting 200.
    pub async fn roi(&self, query: &str) -> Value {
        let (status, value) = json_body(self.admin_get(&format!("/api/roi?{query}")).await).await;
        assert_eq!(status, 200, "GET /api/roi?{query}: {value}");
        value
    }

    /// `GET /api/roi.csv?{query}`, asserting 200 and a CSV content type; returns the raw bytes.
    pub async fn roi_csv(&self, query: &str) -> Vec<u8> {
        let resp = self.admin_get(&format!("/api/roi.csv?{query}")).await;
        assert_eq!(resp.status(), 200, "GET /api/roi.csv?{query}");
        let ct = content_type(&resp);
        assert!(ct.starts_with("text/csv"), "roi.csv content type: {ct}");
        resp.bytes().await.expect("roi.csv body").to_vec()
    }
}

/// The row of an ROI report whose `key` is `key`.
pub fn roi_row<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows array: {report}"))
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {report}"))
}

/// A JSON number as `f64` (integers and floats alike); panics on anything else.
pub fn num(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a JSON number: {value}"))
}

/// Asserts `row[field]` is the number `expected` (compared as `f64`, so `525` and `525.0` agree).
pub fn assert_num(row: &Value, field: &str, expected: f64) {
    let got = row[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {row}"));
    assert_eq!(got, expected, "{field} of {}: {row}", row["key"]);
}

/// Asserts `row[field]` is the money string `expected`.
pub fn assert_money(row: &Value, field: &str, expected: &str) {
    assert_eq!(
        row[field],
        json!(expected),
        "{field} of {}: {row}",
        row["key"]
    );
}

/// Asserts `row[field]` is `null`.
pub fn assert_null(row: &Value, field: &str) {
    assert!(
        row[field].is_null(),
        "{field} of {} should be null: {row}",
        row["key"]
    );
}

/// Splits a CSV body that starts with a UTF-8 BOM and ends every line with CRLF into records.
pub fn excel_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(
        bytes.starts_with(b"\xEF\xBB\xBF"),
        "CSV does not start with a UTF-8 BOM: {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
    );
    let text = std::str::from_utf8(&bytes[3..]).expect("CSV is UTF-8");
    assert!(
        text.ends_with("\r\n"),
        "CSV does not end with CRLF: {text:?}"
    );
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            assert!(
                i > 0 && text.as_bytes()[i - 1] == b'\r',
                "bare LF at byte {i} of the CSV: {text:?}"
            );
        }
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            r.expect("well-formed CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Asserts `value` is a UTC (`Z`) RFC 3339 timestamp of the instant `expected` (fractional
/// seconds allowed).
pub fn assert_instant(value: &Value, expected: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}, expected {expected}"));
    assert!(text.ends_with('Z'), "not UTC: {text}");
    let got: jiff::Timestamp = text
        .parse()
        .unwrap_or_else(|e| panic!("not RFC 3339: {text}: {e}"));
    let want: jiff::Timestamp = expected.parse().expect("expected timestamp");
    assert_eq!(got, want, "{text} is not {expected}");
}

// ---------------------------------------------------------------------------------------------
// Edge hardening: headers, `Retry-After`, raw HTTP/1.1 over TCP.

/// The value of header `name` as text, if present.
pub fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The `Retry-After` header as whole seconds; fails if it is missing or not a number.
pub fn retry_after(resp: &Response) -> u64 {
    let value = header(resp, "retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on a {} response", resp.status()));
    value
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {value:?}"))
}

/// A mainland mobile number that differs for each `n` (`13800000000 + n`).
pub fn mobile(n: usize) -> String {
    format!("138{:08}", n % 100_000_000)
}

/// One response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 response (head and a `Content-Length` body, or up to EOF) from `stream`,
/// giving up after `limit`.
pub async fn read_raw_response(
    stream: &mut tokio::net::TcpStream,
    limit: Duration,
) -> std::io::Result<RawResponse> {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no response head"))??;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed after {} bytes of response head",
                    buf.len()
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    loop {
        if length.is_some_and(|len| body.len() >= len) {
            break;
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) | Err(_) if length.is_none() => 0,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "response body did not arrive",
                ));
            }
        };
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

impl TestApp {
    /// The `host:port` the server listens on.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// Opens a raw TCP connection to the server.
    pub async fn connect(&self) -> tokio::net::TcpStream {
        tokio::net::TcpStream::connect(self.addr())
            .await
            .expect("connect to the test server")
    }

    /// Opens a raw TCP connection from another loopback address (`127.0.0.x`), so the
    /// server sees another client address.
    pub async fn connect_from(&self, from: std::net::Ipv4Addr) -> tokio::net::TcpStream {
        connect_from(&self.addr(), from).await
    }
}

/// Opens a raw TCP connection to `addr` (`host:port`) from the loopback address `from`.
pub async fn connect_from(addr: &str, from: std::net::Ipv4Addr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("TCP socket");
    socket
        .bind((from, 0).into())
        .unwrap_or_else(|e| panic!("bind {from}:0: {e}"));
    socket
        .connect(addr.parse().expect("server address"))
        .await
        .unwrap_or_else(|e| panic!("connect from {from}: {e}"))
}

/// Every row field of the ROI summary, in API.md's order.
pub const ROI_FIELDS: [&str; 32] = [
    "key",
    "name",
    "kind",
    "channel",
    "currency",
    "budget",
    "cost",
    "scans",
    "form_views",
    "leads",
    "valid_leads",
    "new_contacts",
    "mqls",
    "deals",
    "orders",
    "revenue",
    "cpl",
    "cost_per_order",
    "lead_to_deal_pct",
    "deal_to_order_pct",
    "roi_pct",
    "roas",
    "avg_sales_cycle_days",
    "target_leads",
    "leads_attainment_pct",
    "target_revenue",
    "revenue_attainment_pct",
    "followed_up_pct",
    "avg_response_hours",
    "avg_follow_ups",
    "overdue_leads",
    "pipeline",
];

/// Every CSV line after the header holds the JSON row of the same position, then one total
/// line per currency (`total_label` in the first cell).
pub fn assert_csv_matches_json(records: &[Vec<String>], report: &Value, total_label: &str) {
    let rows = report["rows"].as_array().expect("rows");
    let totals = report["totals"].as_object().expect("totals");
    assert_eq!(
        records.len(),
        1 + rows.len() + totals.len(),
        "header, one line per row, one total line per currency: {records:?}"
    );
    for (record, row) in records[1..].iter().zip(rows) {
        assert_eq!(record.len(), ROI_FIELDS.len(), "{record:?}");
        for (cell, field) in record.iter().zip(ROI_FIELDS) {
            assert_cell(cell, &row[field], field, record);
        }
    }
    for (record, (code, total)) in records[1 + rows.len()..].iter().zip(totals) {
        assert_eq!(record[0], total_label, "total line: {record:?}");
        assert!(
            record.iter().any(|cell| cell.contains(code.as_str())),
            "total line names {code}: {record:?}"
        );
        for (cell, field) in record.iter().zip(ROI_FIELDS).skip(5) {
            if let Some(value) = total.get(field) {
                assert_cell(cell, value, field, record);
            }
        }
    }
}

fn assert_cell(cell: &str, value: &Value, field: &str, record: &[String]) {
    match value {
        Value::Null => assert_eq!(cell, "", "{field} in {record:?}"),
        Value::String(s) => assert_eq!(cell, s, "{field} in {record:?}"),
        Value::Number(n) => {
            let got: f64 = cell
                .parse()
                .unwrap_or_else(|_| panic!("{field} is not a number: {cell:?} in {record:?}"));
            assert_eq!(Some(got), n.as_f64(), "{field} in {record:?}");
        }
        other => panic!("unexpected {field} value {other} in a row"),
    }
}

impl TestApp {
    /// GETs every (path, User-Agent), `workers` requests in flight at a time; returns how
    /// many answers had each status.
    pub async fn get_many(
        &self,
        requests: Vec<(String, Option<String>)>,
        workers: usize,
    ) -> std::collections::BTreeMap<u16, usize> {
        let queue = std::sync::Arc::new(std::sync::Mutex::new(requests));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (queue, client, base) = (queue.clone(), self.client.clone(), self.base.clone());
            tasks.spawn(async move {
                let mut statuses = Vec::new();
                loop {
                    let Some((path, user_agent)) = queue.lock().unwrap().pop() else {
                        return statuses;
                    };
                    let mut request = client.get(format!("{base}{path}"));
                    if let Some(agent) = &user_agent {
                        request = request.header("user-agent", agent);
                    }
                    statuses.push(request.send().await.expect("request").status().as_u16());
                }
            });
        }
        let mut counts = std::collections::BTreeMap::new();
        while let Some(statuses) = tasks.join_next().await {
            for status in statuses.expect("worker") {
                *counts.entry(status).or_default() += 1;
            }
        }
        counts
    }
}

/// A campaign with a cost, some leads and some won orders, for tests of the figures.
pub struct Seed<'a> {
    pub slug: &'a str,
    /// The body of `POST /api/campaigns`, less the slug.
    pub campaign: Value,
    pub cost: &'a str,
    pub incurred_on: String,
    pub leads: u32,
    /// The first `orders` leads each become a won order of `amount`.
    pub orders: u32,
    pub amount: &'a str,
    /// The leads' name.
    pub visitor: &'a str,
}

impl TestApp {
    /// Creates the seed's campaign, cost, leads and orders; `phone` numbers the leads and
    /// moves on, so several seeds make distinct contacts.
    pub async fn seed(&self, seed: Seed<'_>, phone: &mut u64) {
        self.create_campaign(seed.slug, seed.campaign).await;
        let resp = self
            .admin_post(
                &format!("/api/campaigns/{}/costs", seed.slug),
                &json!({"amount": seed.cost, "incurred_on": seed.incurred_on}),
            )
            .await;
        assert_eq!(resp.status(), 201);
        for i in 0..seed.leads {
            *phone += 1;
            let id = self
                .submit_json_ok(seed.slug, &lead(&phone.to_string(), seed.visitor))
                .await;
            if i < seed.orders {
                let order = json!({"id": format!("{}-{i}", seed.slug), "lead_id": id,
                    "stage": "won", "amount": seed.amount,
                    "occurred_at": jiff::Timestamp::now().to_string()});
                let resp = self.admin_post("/api/conversions", &order).await;
                assert!(resp.status().is_success());
            }
        }
    }
}
