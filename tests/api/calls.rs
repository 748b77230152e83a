//! `POST /hooks/call`: signed call reports become `phone` leads of the campaign that lists the
//! tracking number; replays, tampering, unknown numbers, a missing secret; and the campaigns'
//! `tracking_numbers`.

use hmac::{Hmac, KeyInit, Mac};
use proptest::test_runner::{
    Config as ProptestConfig, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, assert_instant, assert_ulid, json_body, roi_row, spawn_app,
    spawn_app_with,
};

const SECRET: &str = "s3cret";
/// The tracking number printed for `hotline`, as the campaign was created with it and in E.164.
const HOTLINE_NUMBER: &str = "021 6123 4567";
const HOTLINE_E164: &str = "+862161234567";
/// The tracking number of `other`.
const OTHER_NUMBER: &str = "+86 10 6552 9988";

/// `sha256=<hex HMAC-SHA256 of body with secret>`.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC key");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A call report to `tracking_number`.
fn report(call_id: &str, tracking_number: &str) -> Value {
    json!({
        "call_id": call_id,
        "tracking_number": tracking_number,
        "caller": "138 0013 8000",
        "started_at": "2025-03-01T10:00:00+08:00",
        "duration_s": 95,
    })
}

fn bytes(body: &Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap()
}

/// `POST /hooks/call` with a raw body and, when given, the signature header.
async fn post_call(app: &TestApp, body: &[u8], signature: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(app.url("/hooks/call"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-leadgate-signature", signature);
    }
    request.send().await.expect("POST /hooks/call")
}

/// `POST /hooks/call` signed with the app's secret.
async fn post_signed(app: &TestApp, body: &Value) -> Response {
    let raw = bytes(body);
    post_call(app, &raw, Some(&sign(SECRET, &raw))).await
}

/// A signed report that must be accepted with `status` (201 new, 200 replay).
async fn post_ok(app: &TestApp, body: &Value, status: u16) -> Value {
    let (got, value) = json_body(post_signed(app, body).await).await;
    assert_eq!(got, status, "POST /hooks/call {body}: {value}");
    value
}

/// A server with the webhook secret and two campaigns with one tracking number each.
async fn call_app() -> TestApp {
    let app = spawn_app_with(|config| config.call_secret = Some(SECRET.into())).await;
    let hotline = app
        .create_campaign(
            "hotline",
            json!({"kind": "offline_event", "tracking_numbers": [HOTLINE_NUMBER]}),
        )
        .await;
    assert_eq!(hotline["tracking_numbers"], json!([HOTLINE_E164]));
    app.create_campaign("other", json!({"tracking_numbers": [OTHER_NUMBER]}))
        .await;
    app
}

/// Asserts a 401 JSON error, and that `what` stored nothing.
async fn assert_refused(app: &TestApp, resp: Response, what: &str) {
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert!(
        body["error"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{what}: JSON error expected: {body}"
    );
    assert!(
        app.all_leads("hotline").await.is_empty(),
        "{what}: a lead was stored"
    );
}

// ---------------------------------------------------------------------------------------------
// Accepted calls

#[tokio::test]
async fn signed_call_becomes_a_phone_lead_of_its_campaign() {
    let app = call_app().await;
    let created = post_ok(&app, &report("call-0001", HOTLINE_E164), 201).await;
    let lead_id = created["lead_id"].as_str().expect("lead_id").to_owned();
    assert_ulid(&lead_id);
    assert_eq!(created["campaign"], "hotline", "{created}");
    assert_eq!(created["duplicate"], false, "{created}");

    let lead = app.single_lead("hotline").await;
    assert_eq!(lead["id"], json!(lead_id));
    assert_eq!(lead["campaign"], "hotline");
    assert_eq!(lead["source"], "phone", "lead: {lead}");
    assert_eq!(lead["phone"], "+8613800138000", "caller in E.164: {lead}");
    assert_instant(&lead["received_at"], "2025-03-01T02:00:00Z");
    assert_eq!(lead["fields"]["call_id"], "call-0001", "lead: {lead}");
    assert_eq!(
        lead["fields"]["tracking_number"], HOTLINE_E164,
        "lead: {lead}"
    );
    assert_eq!(lead["fields"]["duration_s"], "95", "lead: {lead}");
    assert!(app.all_leads("other").await.is_empty());
}

#[tokio::test]
async fn replayed_call_id_returns_the_first_lead() {
    let app = call_app().await;
    let body = report("call-0002", HOTLINE_E164);
    let first = post_ok(&app, &body, 201).await;
    let replay = post_ok(&app, &body, 200).await;
    assert_eq!(replay["lead_id"], first["lead_id"], "{replay}");
    assert_eq!(replay["duplicate"], true, "{replay}");
    assert_eq!(replay["campaign"], "hotline", "{replay}");

    // The platform re-sends the call with a later duration: still the same call.
    let mut later = body.clone();
    later["duration_s"] = json!(120);
    let again = post_ok(&app, &later, 200).await;
    assert_eq!(again["lead_id"], first["lead_id"], "{again}");
    assert_eq!(again["duplicate"], true, "{again}");

    let lead = app.single_lead("hotline").await;
    assert_eq!(lead["id"], first["lead_id"]);
    assert_eq!(
        lead["fields"]["duration_s"], "95",
        "the first report is kept"
    );

    // A different call from the same caller is a new lead.
    let other = post_ok(&app, &report("call-0003", HOTLINE_E164), 201).await;
    assert_ne!(other["lead_id"], first["lead_id"]);
    assert_eq!(app.all_leads("hotline").await.len(), 2);
}

#[tokio::test]
async fn tracking_number_in_any_spelling_selects_its_campaign() {
    let app = call_app().await;
    for (i, number) in [
        "+86 21 6123 4567",
        "02161234567",
        "021-6123-4567",
        "+862161234567",
    ]
    .into_iter()
    .enumerate()
    {
        let created = post_ok(&app, &report(&format!("spell-{i}"), number), 201).await;
        assert_eq!(created["campaign"], "hotline", "{number}: {created}");
    }
    let created = post_ok(&app, &report("other-1", "010 6552 9988"), 201).await;
    assert_eq!(created["campaign"], "other", "{created}");
    assert_eq!(app.all_leads("hotline").await.len(), 4);
    let lead = app.single_lead("other").await;
    assert_eq!(lead["fields"]["tracking_number"], "+861065529988");
}

#[tokio::test]
async fn call_lead_counts_in_roi_for_its_campaign() {
    let app = call_app().await;
    post_ok(&app, &report("call-roi", HOTLINE_E164), 201).await;
    // A replay is not a second lead.
    post_ok(&app, &report("call-roi", HOTLINE_E164), 200).await;

    let day = app.roi("from=2025-03-01&to=2025-03-01").await;
    let hotline = roi_row(&day, "hotline");
    assert_eq!(hotline["leads"], json!(1), "hotline: {hotline}");
    assert_eq!(hotline["new_contacts"], json!(1), "hotline: {hotline}");
    assert_eq!(roi_row(&day, "other")["leads"], json!(0), "{day}");

    let all = app.roi("").await;
    assert_eq!(roi_row(&all, "hotline")["leads"], json!(1), "{all}");
    assert_eq!(roi_row(&all, "other")["leads"], json!(0), "{all}");

    // Counted on the day the call started (Shanghai time), not on any other.
    let next_day = app.roi("from=2025-03-02&to=2025-03-31").await;
    assert_eq!(
        roi_row(&next_day, "hotline")["leads"],
        json!(0),
        "{next_day}"
    );
}

// ---------------------------------------------------------------------------------------------
// Refused calls

#[tokio::test]
async fn one_changed_body_byte_is_401() {
    let app = call_app().await;
    let raw = bytes(&report("call-0004", HOTLINE_E164));
    let signature = sign(SECRET, &raw);
    let text = String::from_utf8(raw.clone()).unwrap();

    let tampered = text.replace("95", "96");
    assert_ne!(tampered, text);
    let resp = post_call(&app, tampered.as_bytes(), Some(&signature)).await;
    assert_refused(&app, resp, "duration changed").await;

    let tampered = text.replace("call-0004", "call-0005");
    let resp = post_call(&app, tampered.as_bytes(), Some(&signature)).await;
    assert_refused(&app, resp, "call_id changed").await;

    let mut trailing = raw.clone();
    trailing.push(b' ');
    let resp = post_call(&app, &trailing, Some(&signature)).await;
    assert_refused(&app, resp, "a byte appended").await;

    // The untouched body with its signature is still accepted: nothing was stored before.
    let resp = post_call(&app, &raw, Some(&signature)).await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn missing_or_malformed_signature_is_401() {
    let app = call_app().await;
    let raw = bytes(&report("call-0006", HOTLINE_E164));
    let good = sign(SECRET, &raw);
    let hex = good.trim_start_matches("sha256=").to_owned();

    let resp = post_call(&app, &raw, None).await;
    assert_refused(&app, resp, "no signature header").await;
    for (signature, what) in [
        (String::new(), "empty header"),
        ("sha256=".to_owned(), "no hex"),
        ("sha256=zz".to_owned(), "not hex"),
        (hex.clone(), "no sha256= prefix"),
        (format!("sha1={hex}"), "another algorithm"),
        (format!("sha256={}", &hex[..hex.len() - 2]), "truncated"),
        (format!("sha256={hex}00"), "extended"),
        (format!("sha256={}", &hex[1..]), "odd length"),
        (format!("sha256={}", "0".repeat(64)), "zeros"),
        (sign("not-the-secret", &raw), "another secret"),
        (
            sign(SECRET, &bytes(&report("call-9999", HOTLINE_E164))),
            "another body's signature",
        ),
    ] {
        let resp = post_call(&app, &raw, Some(&signature)).await;
        assert_refused(&app, resp, what).await;
    }
    let resp = post_call(&app, &raw, Some(&good)).await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn unknown_tracking_number_is_422() {
    let app = call_app().await;
    let resp = post_signed(&app, &report("call-0007", "021 5888 0000")).await;
    assert_error(resp, 422, Some("tracking_number")).await;
    let resp = post_signed(&app, &report("call-0008", "12")).await;
    assert_error(resp, 422, Some("tracking_number")).await;
    assert!(app.all_leads("hotline").await.is_empty());
    assert!(app.all_leads("other").await.is_empty());
}

#[tokio::test]
async fn bad_caller_is_422() {
    let app = call_app().await;
    for (i, caller) in ["not-a-phone", "123", ""].into_iter().enumerate() {
        let mut body = report(&format!("bad-caller-{i}"), HOTLINE_E164);
        body["caller"] = json!(caller);
        let resp = post_signed(&app, &body).await;
        assert_error(resp, 422, Some("caller")).await;
    }
    assert!(app.all_leads("hotline").await.is_empty());
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_503() {
    let app = spawn_app().await;
    app.create_campaign("hotline", json!({"tracking_numbers": [HOTLINE_NUMBER]}))
        .await;
    let raw = bytes(&report("call-0009", HOTLINE_E164));
    let resp = post_call(&app, &raw, Some(&sign(SECRET, &raw))).await;
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "JSON error expected: {body}"
    );
    let resp = post_call(&app, &raw, None).await;
    assert_eq!(resp.status(), 503, "unsigned, no secret");
    assert!(app.all_leads("hotline").await.is_empty());
}

#[tokio::test]
async fn malformed_signed_reports_are_rejected() {
    let app = call_app().await;
    let raw = b"{\"call_id\": \"c1\", ".to_vec();
    let (status, body) = json_body(post_call(&app, &raw, Some(&sign(SECRET, &raw))).await).await;
    assert_eq!(status, 400, "malformed JSON: {body}");

    let mut body = report("x", HOTLINE_E164);
    body.as_object_mut().unwrap().remove("call_id");
    assert_error(post_signed(&app, &body).await, 422, Some("call_id")).await;
    let mut body = report("x", HOTLINE_E164);
    body.as_object_mut().unwrap().remove("tracking_number");
    assert_error(post_signed(&app, &body).await, 422, Some("tracking_number")).await;
    assert!(app.all_leads("hotline").await.is_empty());
}

#[tokio::test]
async fn concurrent_replays_store_one_lead() {
    let app = call_app().await;
    let raw = bytes(&report("call-race", HOTLINE_E164));
    let signature = sign(SECRET, &raw);
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let request = app
            .client
            .post(app.url("/hooks/call"))
            .header("content-type", "application/json")
            .header("x-leadgate-signature", &signature)
            .body(raw.clone());
        tasks.push(tokio::spawn(async move {
            json_body(request.send().await.expect("POST /hooks/call")).await
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => created += 1,
            200 => assert_eq!(body["duplicate"], true, "{body}"),
            _ => panic!("status {status}: {body}"),
        }
        ids.insert(body["lead_id"].as_str().expect("lead_id").to_owned());
    }
    assert_eq!(created, 1, "exactly one call is new");
    assert_eq!(ids.len(), 1, "every answer names the same lead: {ids:?}");
    let lead = app.single_lead("hotline").await;
    assert_eq!(lead["id"].as_str(), ids.first().map(String::as_str));
    let day = app.roi("from=2025-03-01&to=2025-03-01").await;
    assert_eq!(roi_row(&day, "hotline")["leads"], json!(1));
}

// ---------------------------------------------------------------------------------------------
// Campaign tracking numbers

#[tokio::test]
async fn tracking_numbers_are_normalised_and_belong_to_one_campaign() {
    let app = call_app().await;
    let (status, hotline) = json_body(app.admin_get("/api/campaigns/hotline").await).await;
    assert_eq!(status, 200);
    assert_eq!(hotline["tracking_numbers"], json!([HOTLINE_E164]));

    // The same number, spelled differently, on a new campaign or patched onto another.
    let body = json!({"slug": "copy", "name": "copy", "tracking_numbers": ["+86 21 6123 4567"]});
    let resp = app.admin_post("/api/campaigns", &body).await;
    assert_error(resp, 409, Some("tracking_numbers")).await;
    let resp = app
        .admin_patch(
            "/api/campaigns/other",
            &json!({"tracking_numbers": [OTHER_NUMBER, "02161234567"]}),
        )
        .await;
    assert_error(resp, 409, Some("tracking_numbers")).await;

    // Not a phone number.
    let body = json!({"slug": "bad", "name": "bad", "tracking_numbers": ["123"]});
    let resp = app.admin_post("/api/campaigns", &body).await;
    assert_error(resp, 422, Some("tracking_numbers")).await;

    // Nothing changed: calls to the number still reach hotline.
    let created = post_ok(&app, &report("before-move", "02161234567"), 201).await;
    assert_eq!(created["campaign"], "hotline");

    // Moved: hotline gives the number up, other takes it.
    let (status, body) = json_body(
        app.admin_patch("/api/campaigns/hotline", &json!({"tracking_numbers": []}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = json_body(
        app.admin_patch(
            "/api/campaigns/other",
            &json!({"tracking_numbers": [OTHER_NUMBER, "(021) 6123-4567"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["tracking_numbers"],
        json!(["+861065529988", HOTLINE_E164])
    );
    let created = post_ok(&app, &report("after-move", HOTLINE_E164), 201).await;
    assert_eq!(created["campaign"], "other", "{created}");
}

#[tokio::test]
async fn one_number_claimed_by_two_campaigns_at_once_goes_to_one() {
    let app = spawn_app_with(|config| config.call_secret = Some(SECRET.into())).await;
    let mut tasks = Vec::new();
    for (slug, number) in [("first", "+86 21 6123 4567"), ("second", "021-6123-4567")] {
        let request = app
            .client
            .post(app.url("/api/campaigns"))
            .bearer_auth(&app.token)
            .json(&json!({"slug": slug, "name": slug, "tracking_numbers": [number]}));
        tasks.push(tokio::spawn(async move {
            json_body(request.send().await.expect("POST /api/campaigns")).await
        }));
    }
    let mut winner = None;
    let mut statuses = Vec::new();
    for (task, slug) in tasks.into_iter().zip(["first", "second"]) {
        let (status, body) = task.await.unwrap();
        statuses.push(status);
        match status {
            201 => winner = Some(slug),
            409 => assert_eq!(body["error"]["field"], "tracking_numbers", "{body}"),
            _ => panic!("{slug}: {status} {body}"),
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "one create wins, the other conflicts");
    let created = post_ok(&app, &report("race-call", HOTLINE_E164), 201).await;
    assert_eq!(created["campaign"], json!(winner.unwrap()));
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Whatever byte of a signed body is changed, to whatever other value, the call is refused.
#[test]
fn any_single_changed_byte_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(call_app());
    let raw = bytes(&report("call-prop", HOTLINE_E164));
    let signature = sign(SECRET, &raw);
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig {
            cases: 48,
            failure_persistence: None,
            ..ProptestConfig::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&(0..raw.len(), 1u8..=255), |(index, flip)| {
            let mut tampered = raw.clone();
            tampered[index] ^= flip;
            rt.block_on(async {
                let resp = post_call(&app, &tampered, Some(&signature)).await;
                let status = resp.status();
                if status != 401 {
                    return Err(TestCaseError::fail(format!(
                        "byte {index} ^ {flip:#04x}: {status}"
                    )));
                }
                Ok(())
            })
        })
        .unwrap();
    rt.block_on(async {
        assert!(app.all_leads("hotline").await.is_empty());
        let resp = post_call(&app, &raw, Some(&signature)).await;
        assert_eq!(resp.status(), 201, "the untouched body");
    });
}
