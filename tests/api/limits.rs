//! Abuse limits at the edge: per-address rate limits on `POST /f/*`, `GET /q/*` and unsigned
//! `/hooks/call`, the per-campaign venue setting, the global ceiling, `X-Forwarded-For` from
//! trusted proxies only; and the server's own limits: header and body timeouts (slow clients),
//! header size, the connection caps (overall and per address), the idle close.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use leadgate::domain::RateLimit;
use leadgate::limits::parse_ip_list;
use reqwest::Response;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    TestApp, assert_error, connect_from, content_type, json_body, lead, mobile, read_raw_response,
    retry_after, spawn_app, spawn_app_with,
};

fn limit(text: &str) -> Option<RateLimit> {
    RateLimit::parse_setting(text).expect("rate limit setting parses")
}

/// Asserts a JSON `429 rate_limited` with a `Retry-After` of whole seconds (≥ 1); returns them.
async fn assert_rate_limited_json(resp: Response) -> u64 {
    let wait = retry_after(&resp);
    assert!(wait >= 1, "Retry-After must be at least 1 s, got {wait}");
    let ct = content_type(&resp);
    assert!(ct.starts_with("application/json"), "429 content type {ct}");
    let body = assert_error(resp, 429, None).await;
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    wait
}

/// Asserts an HTML `429` page with a `Retry-After` of whole seconds (≥ 1); returns them.
async fn assert_rate_limited_page(resp: Response) -> u64 {
    assert_eq!(resp.status(), 429, "a browser past the limit gets 429");
    let wait = retry_after(&resp);
    assert!(wait >= 1, "Retry-After must be at least 1 s, got {wait}");
    let ct = content_type(&resp);
    assert!(ct.starts_with("text/html"), "browser 429 content type {ct}");
    let html = resp.text().await.unwrap();
    assert!(
        html.to_ascii_lowercase().contains("<html"),
        "429 page is not an HTML page: {html}"
    );
    wait
}

/// A browser's post of the default form.
fn browser_fields(phone: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", "王五".to_owned()),
        ("phone", phone.to_owned()),
        ("consent", "on".to_owned()),
    ]
}

async fn submit_browser(app: &TestApp, slug: &str, phone: &str) -> Response {
    let fields = browser_fields(phone);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.submit_form(slug, &pairs).await
}

/// `POST /f/{slug}` with a JSON lead, as if forwarded for `xff` (when given).
async fn submit_via(app: &TestApp, slug: &str, n: usize, xff: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(app.url(&format!("/f/{slug}")))
        .json(&lead(&mobile(n), "李四"));
    if let Some(xff) = xff {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.expect("JSON submission")
}

// ---------------------------------------------------------------------------------------------
// Per-address limits

#[tokio::test]
async fn past_the_burst_429_with_retry_after_for_json_clients_and_browsers() {
    let app = spawn_app_with(|c| c.rate_limit = limit("2/1h")).await;
    app.create_campaign("expo", json!({})).await;
    for n in 0..2 {
        app.submit_json_ok("expo", &lead(&mobile(n), "张三")).await;
    }
    // JSON client: the API's error shape.
    let wait =
        assert_rate_limited_json(app.submit_json("expo", &lead(&mobile(2), "张三")).await).await;
    assert!(wait <= 1800, "2/1h refills one every 30 min: {wait}");
    // A browser: a page, same status and header.
    assert_rate_limited_page(submit_browser(&app, "expo", &mobile(3)).await).await;
    // Scans and images from the same address count against the same limit.
    assert_rate_limited_page(app.get("/q/expo").await).await;
    let resp = app
        .client
        .get(app.url("/q/expo"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_rate_limited_json(resp).await;
    let resp = app.get("/q/expo.svg").await;
    assert_eq!(resp.status(), 429, "QR images are rate limited too");
    assert!(retry_after(&resp) >= 1);

    // What is not rate limited still works: the form page and the admin API.
    app.form_page("expo").await;
    assert_eq!(
        app.all_leads("expo").await.len(),
        2,
        "refused posts stored nothing"
    );
}

/// Submits with `submit` until the answer is 429 (at most 10 tries; with a 1 s refill and
/// requests far faster than that, the first try past the burst is it). Returns the 429.
async fn until_refused<F, Fut>(what: &str, mut submit: F) -> Response
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    for attempt in 0..10 {
        let resp = submit(attempt).await;
        if resp.status() == 429 {
            return resp;
        }
        assert!(
            resp.status().is_success() || resp.status().is_redirection(),
            "{what}: {}",
            resp.status()
        );
    }
    panic!("{what}: 10 submissions in a row without a 429 under a 1/1s limit");
}

#[tokio::test]
async fn after_waiting_retry_after_the_same_client_gets_through() {
    let app = spawn_app_with(|c| c.rate_limit = limit("1/1s")).await;
    app.create_campaign("expo", json!({})).await;
    app.submit_json_ok("expo", &lead(&mobile(0), "张三")).await;

    // JSON: 429, wait the Retry-After, then 201.
    let refused = until_refused("JSON", |n| {
        let body = lead(&mobile(10 + n), "张三");
        let app = &app;
        async move { app.submit_json("expo", &body).await }
    })
    .await;
    let wait = assert_rate_limited_json(refused).await;
    assert_eq!(wait, 1, "a 1/1s limit never asks for more than 1 s");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    app.submit_json_ok("expo", &lead(&mobile(1), "张三")).await;

    // A browser: the 429 page, wait, then the normal 303.
    let refused = until_refused("browser", |n| {
        let phone = mobile(20 + n);
        let app = &app;
        async move { submit_browser(app, "expo", &phone).await }
    })
    .await;
    let wait = assert_rate_limited_page(refused).await;
    assert_eq!(wait, 1);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let resp = submit_browser(&app, "expo", &mobile(2)).await;
    assert_eq!(resp.status(), 303, "a browser post after the wait succeeds");
}

#[tokio::test]
async fn retry_after_is_the_limiters_real_wait() {
    // 3 an hour: the next one is 20 minutes away.
    let app = spawn_app_with(|c| c.rate_limit = limit("3/1h")).await;
    app.create_campaign("expo", json!({})).await;
    for n in 0..3 {
        app.submit_json_ok("expo", &lead(&mobile(n), "张三")).await;
    }
    let wait =
        assert_rate_limited_json(app.submit_json("expo", &lead(&mobile(9), "张三")).await).await;
    assert!(
        (1100..=1200).contains(&wait),
        "3/1h refills one every 1200 s; Retry-After {wait}"
    );
}

#[tokio::test]
async fn limits_are_per_address_and_not_on_admin_or_form_pages() {
    let app = spawn_app_with(|c| c.rate_limit = limit("1/1h")).await;
    app.create_campaign("expo", json!({})).await;
    app.submit_json_ok("expo", &lead(&mobile(0), "张三")).await;
    assert_rate_limited_json(app.submit_json("expo", &lead(&mobile(1), "张三")).await).await;
    for _ in 0..5 {
        app.form_page("expo").await;
        let resp = app.get("/f/expo/thanks").await;
        assert_eq!(resp.status(), 200, "thanks page is not limited");
        let (status, _) = json_body(app.admin_get("/api/campaigns").await).await;
        assert_eq!(status, 200, "admin API is not limited");
    }
    // An unknown campaign is 404, not 429: nothing to protect there.
    let resp = app.submit_json("nope", &lead(&mobile(2), "张三")).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn unsigned_call_webhooks_count_against_the_address_signed_ones_do_not() {
    const SECRET: &str = "s3cret";
    let app = spawn_app_with(|c| {
        c.rate_limit = limit("2/1h");
        c.call_secret = Some(SECRET.into());
    })
    .await;
    app.create_campaign("hotline", json!({"tracking_numbers": ["+862161234567"]}))
        .await;
    let report = |call_id: &str| {
        serde_json::to_vec(&json!({
            "call_id": call_id,
            "tracking_number": "+862161234567",
            "caller": "+8613800138000",
            "started_at": "2025-03-01T10:00:00+08:00",
            "duration_s": 95
        }))
        .unwrap()
    };
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/hooks/call"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-leadgate-signature", signature);
        }
        request.send()
    };
    let sign = |body: &[u8]| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={hex}")
    };
    for n in 0..2 {
        let resp = post(report(&format!("guess-{n}")), None).await.unwrap();
        assert_eq!(resp.status(), 401, "unsigned call {n}");
    }
    let resp = post(report("guess-2"), Some("sha256=00".into()))
        .await
        .unwrap();
    assert_rate_limited_json(resp).await;
    // The platform's signed calls are not held by the per-address limit.
    for n in 0..3 {
        let body = report(&format!("real-{n}"));
        let signature = sign(&body);
        let (status, value) = json_body(post(body, Some(signature)).await.unwrap()).await;
        assert_eq!(status, 201, "signed call {n}: {value}");
    }
}

// ---------------------------------------------------------------------------------------------
// The venue setting: per-campaign limits

/// Sends `count` JSON submissions to `slug` from `workers` concurrent tasks; returns the statuses
/// in the order of their numbers (`first..first+count`).
async fn submit_concurrently(
    app: &TestApp,
    slug: &str,
    first: usize,
    count: usize,
    workers: usize,
) -> Vec<(usize, u16, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let client = app.client.clone();
        let url = app.url(&format!("/f/{slug}"));
        tasks.spawn(async move {
            let mut out = Vec::new();
            for n in (first + worker..first + count).step_by(workers) {
                let resp = client
                    .post(&url)
                    .json(&lead(&mobile(n), "展会访客"))
                    .send()
                    .await
                    .expect("submission");
                let (status, body) = json_body(resp).await;
                out.push((n, status, body));
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("submission task"));
    }
    all.sort_by_key(|(n, _, _)| *n);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn venue_setting_lets_a_booth_behind_one_address_through() {
    // The server's default: 300 in 10 minutes per address.
    let defaults = leadgate::config::Config::for_data_dir("unused");
    assert_eq!(
        defaults.rate_limit,
        limit("300/10m"),
        "the documented default"
    );
    let app = spawn_app().await;
    app.create_campaign(
        "expo",
        json!({"kind": "trade_show", "rate_limit": "600/10m"}),
    )
    .await;
    app.create_campaign("plain", json!({})).await;

    // The booth: 400 visitors on the venue Wi-Fi, one address.
    let results = submit_concurrently(&app, "expo", 0, 400, 8).await;
    let refused: Vec<_> = results.iter().filter(|(_, s, _)| *s != 201).collect();
    assert!(
        refused.is_empty(),
        "{} of 400 booth submissions refused, first: {:?}",
        refused.len(),
        refused.first()
    );

    // A campaign without the venue setting keeps the server's 300/10m: 300 at once, then
    // one more every 2 s. The 301st is refused unless the 300 took longer than 2 s, in
    // which case exactly the refills that happened meanwhile may pass.
    let started = Instant::now();
    let results = submit_concurrently(&app, "plain", 1000, 300, 8).await;
    let refused: Vec<_> = results.iter().filter(|(_, s, _)| *s != 201).collect();
    assert!(
        refused.is_empty(),
        "{} of the first 300 submissions refused, first: {:?}",
        refused.len(),
        refused.first()
    );
    let mut extra = 0;
    loop {
        let resp = app
            .submit_json("plain", &lead(&mobile(1300 + extra), "第301位"))
            .await;
        if resp.status() == 429 {
            assert_rate_limited_json(resp).await;
            break;
        }
        assert_eq!(resp.status(), 201);
        extra += 1;
        let refills = started.elapsed().as_secs() as usize / 2 + 1;
        assert!(
            extra <= refills,
            "{extra} submissions past the 300 accepted in {:?}",
            started.elapsed()
        );
    }
    eprintln!(
        "300/10m: refused after 300 + {extra} submissions in {:?}",
        started.elapsed()
    );

    // The booth still has room (600), independently of the other campaign.
    app.submit_json_ok("expo", &lead(&mobile(400), "第401位"))
        .await;
    assert_eq!(app.all_leads("expo").await.len(), 401);
    // Every accepted one stored: the 300 and the refills that passed.
    assert_eq!(app.all_leads("plain").await.len(), 300 + extra);
}

#[tokio::test]
async fn campaign_setting_off_and_changes_take_effect() {
    let app = spawn_app_with(|c| c.rate_limit = limit("1/1h")).await;
    app.create_campaign("live", json!({"rate_limit": "off"}))
        .await;
    app.create_campaign("expo", json!({})).await;
    for n in 0..20 {
        app.submit_json_ok("live", &lead(&mobile(n), "观众")).await;
    }
    app.submit_json_ok("expo", &lead(&mobile(100), "访客"))
        .await;
    assert_rate_limited_json(app.submit_json("expo", &lead(&mobile(101), "访客")).await).await;

    // The venue turns its own setting on: it applies to the next request.
    let (status, body) = json_body(
        app.admin_patch("/api/campaigns/expo", &json!({"rate_limit": "5/1h"}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rate_limit"], "5/1h", "{body}");
    for n in 0..5 {
        app.submit_json_ok("expo", &lead(&mobile(200 + n), "访客"))
            .await;
    }
    assert_rate_limited_json(app.submit_json("expo", &lead(&mobile(299), "访客")).await).await;

    // A bad setting is refused with 422 naming the field.
    let resp = app
        .admin_patch("/api/campaigns/expo", &json!({"rate_limit": "lots"}))
        .await;
    assert_error(resp, 422, Some("rate_limit")).await;
}

#[tokio::test]
async fn the_global_ceiling_counts_every_address() {
    let app = spawn_app_with(|c| {
        c.rate_limit = None;
        c.global_rate_limit = limit("3/1h");
        c.trusted_proxies = parse_ip_list("127.0.0.1").unwrap();
    })
    .await;
    app.create_campaign("expo", json!({"rate_limit": "off"}))
        .await;
    for n in 0..3 {
        let xff = format!("198.51.100.{n}");
        let resp = submit_via(&app, "expo", n, Some(&xff)).await;
        assert_eq!(resp.status(), 201, "request {n} from {xff}");
    }
    let resp = submit_via(&app, "expo", 3, Some("198.51.100.77")).await;
    assert_rate_limited_json(resp).await;
    assert_eq!(app.get("/q/expo").await.status(), 429, "scans count too");
}

// ---------------------------------------------------------------------------------------------
// X-Forwarded-For

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_separates_clients() {
    let app = spawn_app_with(|c| {
        c.rate_limit = limit("2/1h");
        c.trusted_proxies = parse_ip_list("127.0.0.1").unwrap();
    })
    .await;
    app.create_campaign("expo", json!({})).await;
    let a = "203.0.113.1";
    let b = "203.0.113.2";
    for n in 0..2 {
        assert_eq!(submit_via(&app, "expo", n, Some(a)).await.status(), 201);
    }
    assert_rate_limited_json(submit_via(&app, "expo", 2, Some(a)).await).await;
    // Another client behind the same proxy has its own quota.
    for n in 10..12 {
        assert_eq!(submit_via(&app, "expo", n, Some(b)).await.status(), 201);
    }
    assert_rate_limited_json(submit_via(&app, "expo", 12, Some(b)).await).await;
    // A client cannot get a fresh quota by prepending addresses: the nearest untrusted hop counts.
    let spoofed = format!("9.9.9.9, {a}");
    assert_rate_limited_json(submit_via(&app, "expo", 20, Some(&spoofed)).await).await;
    // A chain through a second trusted hop ends at the same client.
    let chained = format!("{b}, 127.0.0.1");
    assert_rate_limited_json(submit_via(&app, "expo", 21, Some(&chained)).await).await;
    // The proxy's own requests (no header) are the proxy's address: a third client.
    assert_eq!(submit_via(&app, "expo", 30, None).await.status(), 201);
    assert_eq!(app.all_leads("expo").await.len(), 5);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(|c| {
        c.rate_limit = limit("2/1h");
        c.trusted_proxies = parse_ip_list("10.0.0.0/8").unwrap();
    })
    .await;
    app.create_campaign("expo", json!({})).await;
    assert_eq!(
        submit_via(&app, "expo", 0, Some("203.0.113.1"))
            .await
            .status(),
        201
    );
    assert_eq!(
        submit_via(&app, "expo", 1, Some("203.0.113.2"))
            .await
            .status(),
        201
    );
    // Whatever the header says, the socket's address (127.0.0.1) has used its quota.
    assert_rate_limited_json(submit_via(&app, "expo", 2, Some("203.0.113.3")).await).await;
    assert_rate_limited_json(submit_via(&app, "expo", 3, None).await).await;
    assert_rate_limited_json(submit_via(&app, "expo", 4, Some("garbage, ::1")).await).await;
}

// ---------------------------------------------------------------------------------------------
// Slow clients and server limits

/// Reads from `reader` until EOF or an error; returns when that happened and what arrived.
async fn read_until_closed(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    started: Instant,
) -> (Duration, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return (started.elapsed(), got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn slow_loris_is_disconnected_while_other_clients_are_served() {
    let app = spawn_app_with(|c| c.header_timeout = Duration::from_secs(1)).await;
    // The server is up (store open) before the clock starts.
    assert_eq!(app.get("/healthz").await.status(), 200);

    let request: &'static [u8] =
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow-loris/1.0\r\nAccept: */*\r\n\r\n";
    let stream = app.connect().await;
    let started = Instant::now();
    let (reader, mut writer) = stream.into_split();
    let reader = tokio::spawn(read_until_closed(reader, started));
    let drip = tokio::spawn(async move {
        // One header byte every 300 ms: the whole head would take ~25 s.
        for byte in request {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Keep the write half open (no FIN) so only the server can end the connection.
        tokio::time::sleep(Duration::from_secs(30)).await;
    });

    // Meanwhile, a normal client is served at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !reader.is_finished(),
        "the slow client was cut before its header timeout"
    );
    let asked = Instant::now();
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200, "healthz during the drip");
    let served_in = asked.elapsed();
    let served_at = started.elapsed();
    assert!(
        served_in < Duration::from_millis(800),
        "a normal client waited {served_in:?} behind the slow one"
    );

    let (closed_after, got) = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the slow client was still connected after 10 s")
        .expect("reader task");
    drip.abort();
    eprintln!("slow loris disconnected after {closed_after:?}; healthz served at {served_at:?}");
    assert!(
        served_at < closed_after,
        "the other client was served while the slow one was still connected"
    );
    assert!(
        closed_after <= Duration::from_millis(2500),
        "header timeout 1 s, but the slow client stayed {closed_after:?}"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        !text.starts_with("HTTP/1.1 200"),
        "the incomplete request was served: {text}"
    );
}

/// A client that connects and sends nothing, or stops inside the HTTP/2 preface, holds a
/// connection slot as much as a slow loris does: the header timeout must cut it too.
#[tokio::test]
async fn silent_and_stalled_preface_connections_are_disconnected() {
    let app = spawn_app_with(|c| c.header_timeout = Duration::from_secs(1)).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let mut probes = tokio::task::JoinSet::new();
    for (what, sent) in [
        ("no byte at all", &b""[..]),
        ("half an HTTP/2 preface", &b"PRI * HTTP/2.0\r\n"[..]),
        ("half a request line", &b"GET /hea"[..]),
    ] {
        let mut stream = app.connect().await;
        probes.spawn(async move {
            stream.write_all(sent).await.unwrap();
            let started = Instant::now();
            let (reader, writer) = stream.into_split();
            let closed =
                tokio::time::timeout(Duration::from_secs(10), read_until_closed(reader, started))
                    .await;
            drop(writer);
            match closed {
                Err(_) => Some(format!(
                    "{what}: still connected 10 s later with a 1 s header timeout"
                )),
                Ok((after, _)) if after > Duration::from_millis(2500) => {
                    Some(format!("{what}: disconnected only after {after:?}"))
                }
                Ok(_) => None,
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(result) = probes.join_next().await {
        failures.extend(result.unwrap());
    }
    failures.sort();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn slow_body_gets_408() {
    let app = spawn_app_with(|c| c.body_timeout = Duration::from_secs(1)).await;
    app.create_campaign("expo", json!({})).await;
    for (content_type, accept, partial, page) in [
        (
            "application/json",
            "application/json",
            &b"{\"phone\":"[..],
            false,
        ),
        (
            "application/x-www-form-urlencoded",
            "text/html",
            &b"phone=138"[..],
            true,
        ),
    ] {
        let mut stream = app.connect().await;
        let head = format!(
            "POST /f/expo HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nAccept: {accept}\r\nContent-Length: 200\r\n\r\n",
            app.addr()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(partial).await.unwrap();
        let started = Instant::now();
        let resp = read_raw_response(&mut stream, Duration::from_secs(10))
            .await
            .expect("a response to the slow body");
        let took = started.elapsed();
        assert_eq!(resp.status, 408, "{content_type}: {resp:?}");
        assert!(
            took >= Duration::from_millis(800) && took <= Duration::from_secs(3),
            "408 after {took:?} for a 1 s body timeout"
        );
        let ct = resp.header("content-type").unwrap_or("").to_owned();
        if page {
            assert!(ct.starts_with("text/html"), "browser 408 type {ct}");
        } else {
            assert!(ct.starts_with("application/json"), "JSON 408 type {ct}");
            let body: Value = serde_json::from_slice(&resp.body).expect("JSON error");
            assert_eq!(body["error"]["code"], "body_timeout", "{body}");
        }
    }
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn oversized_request_head_is_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .header("x-filler", "a".repeat(40 * 1024))
        .send()
        .await;
    match resp {
        Ok(resp) => assert_eq!(
            resp.status(),
            431,
            "a 40 KiB header gets 431 Request Header Fields Too Large"
        ),
        Err(error) => panic!("a 40 KiB header got no response: {error}"),
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn chunked_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let mut stream = app.connect().await;
    let head = format!(
        "POST /f/expo HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        app.addr()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 8 * 1024];
    // 9 chunks of 8 KiB: past the limit without a Content-Length to refuse up front.
    for _ in 0..9 {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let resp = read_raw_response(&mut stream, Duration::from_secs(10))
        .await
        .expect("a response to the oversized chunked body");
    assert_eq!(resp.status, 413, "{resp:?}");
    assert!(app.all_leads("expo").await.is_empty());
}

#[tokio::test]
async fn at_the_connection_cap_new_clients_wait_until_idle_ones_time_out() {
    let app = spawn_app_with(|c| {
        c.max_connections = 4;
        c.header_timeout = Duration::from_secs(1);
    })
    .await;
    // A client that keeps no idle connection, so only the ones below hold slots.
    let unpooled = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let resp = unpooled.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Four idle connections that never send a byte hold every slot. They come from four
    // addresses: one address may hold at most half of the slots.
    let mut idle = Vec::new();
    for last in 1..=4 {
        idle.push(app.connect_from(Ipv4Addr::new(127, 0, 0, last)).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        unpooled.get(app.url("/healthz")).send(),
    )
    .await
    .expect("a client at the cap was never served")
    .expect("request at the cap");
    let waited = started.elapsed();
    eprintln!("client at the connection cap served after {waited:?}");
    assert_eq!(resp.status(), 200);
    assert!(
        waited >= Duration::from_millis(500),
        "served after {waited:?}: the four idle connections did not hold the cap of 4"
    );
    assert!(
        waited <= Duration::from_secs(4),
        "idle connections were not cut by the header timeout: waited {waited:?}"
    );
    drop(idle);
}

/// A refused request whose body the server did not read: either the answer says
/// `Connection: close`, or the connection still serves the client's next request. A server
/// that silently drops it makes the client's next request on that connection fail.
#[tokio::test]
async fn refused_requests_with_unread_bodies_leave_the_connection_usable_or_say_close() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    let mut failures = Vec::new();
    for (what, method, path, size, expected) in [
        ("small body, wrong method", "PATCH", "/f/expo", 1_000, 405),
        ("large body, wrong method", "PATCH", "/f/expo", 100_000, 405),
        (
            "large body, no token",
            "POST",
            "/api/leads/import",
            100_000,
            401,
        ),
        ("body over the limit", "POST", "/f/expo", 64 * 1024 + 1, 413),
    ] {
        let mut stream = app.connect().await;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n",
            app.addr()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // The server may answer (and stop reading) before the body is all sent.
        let _ = stream.write_all(&vec![b' '; size]).await;
        let first = match read_raw_response(&mut stream, Duration::from_secs(10)).await {
            Ok(resp) => resp,
            Err(error) => {
                failures.push(format!("{what}: no response: {error}"));
                continue;
            }
        };
        assert_eq!(first.status, expected, "{what}: {first:?}");
        let announced_close = first
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if announced_close {
            continue;
        }
        let next = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr());
        let second = match stream.write_all(next.as_bytes()).await {
            Ok(()) => read_raw_response(&mut stream, Duration::from_secs(10)).await,
            Err(error) => Err(error),
        };
        match second {
            Ok(resp) if resp.status == 200 => {}
            Ok(resp) => failures.push(format!("{what}: next request got {}", resp.status)),
            Err(error) => failures.push(format!(
                "{what}: {expected} without `Connection: close`, then the connection was dropped: {error}"
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// ---------------------------------------------------------------------------------------------
// Connections per address and idle HTTP/2 connections

/// The HTTP/2 client connection preface and an empty SETTINGS frame.
const H2_HELLO: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
const H2_SETTINGS: u8 = 0x4;
const H2_PING: u8 = 0x6;
const H2_GOAWAY: u8 = 0x7;
const H2_ACK: u8 = 0x1;

/// What an idle HTTP/2 client saw.
#[derive(Debug, Default)]
struct IdleH2 {
    /// The server's SETTINGS arrived: the connection is being served.
    served: bool,
    /// PINGs from the server, each answered.
    pings: usize,
    goaway: bool,
    /// How long after the preface the server closed the connection (`None`: still open
    /// when the client gave up at its `limit`).
    closed_after: Option<Duration>,
}

/// An HTTP/2 client that opens no stream: it sends the preface, acknowledges the server's
/// SETTINGS and answers every PING, until the server closes or `limit` passes. `served`
/// gets `true` once the server's SETTINGS arrive, `false` if it closes before.
async fn idle_h2(
    mut stream: tokio::net::TcpStream,
    limit: Duration,
    served: tokio::sync::mpsc::UnboundedSender<bool>,
) -> IdleH2 {
    let started = Instant::now();
    let mut seen = IdleH2::default();
    let mut told = false;
    let run = async {
        if stream.write_all(H2_HELLO).await.is_err() {
            return;
        }
        loop {
            let mut head = [0u8; 9];
            if stream.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if stream.read_exact(&mut payload).await.is_err() {
                return;
            }
            let (kind, flags) = (head[3], head[4]);
            let answer = match kind {
                H2_SETTINGS if flags & H2_ACK == 0 => {
                    seen.served = true;
                    if !told {
                        told = true;
                        let _ = served.send(true);
                    }
                    vec![0, 0, 0, H2_SETTINGS, H2_ACK, 0, 0, 0, 0]
                }
                H2_PING if flags & H2_ACK == 0 => {
                    seen.pings += 1;
                    let mut ack = vec![0, 0, 8, H2_PING, H2_ACK, 0, 0, 0, 0];
                    ack.extend_from_slice(&payload);
                    ack
                }
                H2_GOAWAY => {
                    seen.goaway = true;
                    continue;
                }
                _ => continue,
            };
            if stream.write_all(&answer).await.is_err() {
                return;
            }
        }
    };
    if tokio::time::timeout(limit, run).await.is_ok() {
        seen.closed_after = Some(started.elapsed());
    }
    if !told {
        let _ = served.send(false);
    }
    seen
}

/// Issue 14: a host that opens many HTTP/2 connections, sends the preface, answers PINGs
/// and opens no stream used to hold every connection slot, so nobody else was answered.
/// With `max_connections` 20 (one address may hold 10) and 300 such connections from
/// 127.0.0.1, a client at 127.0.0.2 is answered at once.
#[tokio::test]
async fn one_address_cannot_take_every_connection_slot() {
    let app = spawn_app_with(|c| c.max_connections = 20).await;
    app.create_campaign("expo", json!({})).await;
    let (served_tx, mut served_rx) = tokio::sync::mpsc::unbounded_channel();
    // Connected one after another, in a task of their own: before the fix, connecting
    // stalls once the listen queue is full, and the test must still end.
    let addr = app.addr();
    let attack = tokio::spawn(async move {
        let mut attackers = tokio::task::JoinSet::new();
        for _ in 0..300 {
            let stream = connect_from(&addr, Ipv4Addr::new(127, 0, 0, 1)).await;
            attackers.spawn(idle_h2(stream, Duration::from_secs(60), served_tx.clone()));
        }
        drop(served_tx);
        // Keep the connections until the test aborts this task.
        std::future::pending::<()>().await;
        drop(attackers);
    });
    // Every attacking connection is either served or refused; wait (bounded: connections
    // left in the listen queue never say) until they all have.
    let (mut served, mut refused) = (0, 0);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while served + refused < 300 {
            match served_rx.recv().await {
                Some(true) => served += 1,
                Some(false) => refused += 1,
                None => break,
            }
        }
    })
    .await;
    eprintln!("attack from 127.0.0.1: {served} connections served, {refused} refused");

    let other = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .redirect(reqwest::redirect::Policy::none())
        // A new connection for each request: the point is to be let in.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let health = other.get(app.url("/healthz")).send().await;
    let health_took = started.elapsed();
    let fields = browser_fields(&mobile(1));
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let started = Instant::now();
    let post = other
        .post(app.url("/f/expo"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::helpers::urlencode(&pairs))
        .send()
        .await;
    let post_took = started.elapsed();
    eprintln!(
        "127.0.0.2 during the attack: /healthz in {health_took:?}, form post in {post_took:?}"
    );
    let health = health.expect("/healthz from another address during the attack");
    assert_eq!(health.status(), 200);
    let post = post.expect("a form post from another address during the attack");
    assert_eq!(post.status(), 303, "the form post is accepted");
    // Before the fix these were never answered (5 s client timeout here, the whole attack
    // in the issue).
    for (what, took) in [("/healthz", health_took), ("form post", post_took)] {
        assert!(
            took < Duration::from_millis(100),
            "{what} from another address took {took:?} during the attack"
        );
    }
    // The attack was live while the other client was answered: at most half the slots
    // for the attacking address, the rest refused at once, the served ones still open.
    assert_eq!(
        served + refused,
        300,
        "every attacking connection was served or refused"
    );
    assert!(served <= 10, "one address held {served} of 20 slots");
    attack.abort();
    assert_eq!(app.all_leads("expo").await.len(), 1);
}

/// An HTTP/2 connection with no stream is closed after the idle timeout although its
/// client answers every PING (the keep-alive PINGs, every second here, do not keep it).
#[tokio::test]
async fn an_idle_http2_connection_answering_pings_is_closed() {
    let app = spawn_app_with(|c| {
        c.header_timeout = Duration::from_secs(1);
        c.h2_idle_timeout = Duration::from_secs(3);
    })
    .await;
    let (served_tx, _served_rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = idle_h2(app.connect().await, Duration::from_secs(10), served_tx).await;
    eprintln!("idle HTTP/2 connection: {seen:?}");
    assert!(seen.served, "the server spoke HTTP/2: {seen:?}");
    assert!(
        seen.pings >= 1,
        "the server's PINGs were answered: {seen:?}"
    );
    let closed = seen
        .closed_after
        .unwrap_or_else(|| panic!("still open 10 s later with a 3 s idle timeout: {seen:?}"));
    assert!(
        closed >= Duration::from_millis(2900) && closed <= Duration::from_secs(6),
        "closed after {closed:?} with a 3 s idle timeout"
    );
    assert!(seen.goaway, "closed gracefully, with GOAWAY: {seen:?}");
}

/// Idle time counts from the end of the last request: a request that takes longer than
/// the idle timeout keeps its connection, which then serves the next request.
#[tokio::test]
async fn a_request_in_flight_keeps_its_connection_past_the_idle_timeout() {
    let app = spawn_app_with(|c| c.h2_idle_timeout = Duration::from_secs(1)).await;
    app.create_campaign("expo", json!({})).await;
    let mut stream = app.connect().await;
    let body = serde_json::to_vec(&lead(&mobile(1), "李四")).unwrap();
    let head = format!(
        "POST /f/expo HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: {}\r\n\r\n",
        app.addr(),
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    // The body takes twice the idle timeout to arrive; the request is in flight all along.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(&body[5..]).await.unwrap();
    let first = read_raw_response(&mut stream, Duration::from_secs(10))
        .await
        .expect("an answer to the slow post");
    assert_eq!(first.status, 201, "{first:?}");
    assert_ne!(
        first.header("connection").map(str::to_ascii_lowercase),
        Some("close".into()),
        "the connection was being closed while its request was in flight: {first:?}"
    );
    let next = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr());
    stream.write_all(next.as_bytes()).await.unwrap();
    let second = read_raw_response(&mut stream, Duration::from_secs(10))
        .await
        .expect("the same connection serves the next request");
    assert_eq!(second.status, 200);
}

/// Whether the server closed `stream` (EOF or reset) within `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn healthz_on(stream: &mut tokio::net::TcpStream, host: &str) -> u16 {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    read_raw_response(stream, Duration::from_secs(10))
        .await
        .expect("an answer to /healthz")
        .status
}

/// With the defaults (256 per address, 4096 in all), the 257th connection from one address
/// is closed at once while another address still gets in; closing one gives its slot back.
#[tokio::test]
async fn the_257th_connection_from_one_address_is_refused() {
    // Silent connections stay open for the whole test.
    let app = spawn_app_with(|c| c.header_timeout = Duration::from_secs(120)).await;
    let host = app.addr();
    let mut held = Vec::new();
    for _ in 0..256 {
        held.push(app.connect_from(Ipv4Addr::new(127, 0, 0, 1)).await);
    }
    // The accept loop takes connections in order: the 257th is judged after all 256.
    let mut extra = app.connect_from(Ipv4Addr::new(127, 0, 0, 1)).await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(5)).await,
        "the 257th connection from 127.0.0.1 was kept open"
    );
    let mut other = app.connect_from(Ipv4Addr::new(127, 0, 0, 2)).await;
    assert_eq!(healthz_on(&mut other, &host).await, 200, "another address");
    assert_eq!(
        healthz_on(&mut held[255], &host).await,
        200,
        "the 256th is a served connection"
    );
    // Closing one of them frees a slot for the address (once the server has seen the close).
    drop(held.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = app.connect_from(Ipv4Addr::new(127, 0, 0, 1)).await;
        if !closed_within(&mut again, Duration::from_millis(200)).await {
            assert_eq!(healthz_on(&mut again, &host).await, 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a closed connection's slot was not given back"
        );
    }
}
