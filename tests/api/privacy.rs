//! "Privacy and backups": erasure at a person's request leaves nothing of them in the API,
//! the exports, the console or the data directory, and changes no report.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use leadgate::clock::Clock;
use leadgate::config::Config;
use serde_json::{Value, json};

use crate::console::page;
use crate::helpers::{TestApp, assert_error, json_body, lead, merge, spawn_app_with};

use crate::roi::MODELS;

/// What the person to erase typed, and what a person who stays typed.
struct Person {
    phone: &'static str,
    e164: &'static str,
    email: &'static str,
    name: &'static str,
    company: &'static str,
    message: &'static str,
    title: &'static str,
}

const ERASED: Person = Person {
    phone: "138-0013-8000",
    e164: "+8613800138000",
    email: "Zhang.Erasable@Example.com",
    name: "张抹除Erasable",
    company: "Erasecorp 抹除有限公司",
    message: "please-forget-me-7f3a9c",
    title: "Chief Vanishing Officer",
};

const KEPT: Person = Person {
    phone: "139-0013-9000",
    e164: "+8613900139000",
    email: "li.keep@example.org",
    name: "李保留Keeper",
    company: "Keepcorp 保留有限公司",
    message: "please-keep-me-4b2e1d",
    title: "Chief Staying Officer",
};

fn submission(person: &Person, utm_source: &str) -> Value {
    merge(
        lead(person.phone, person.name),
        json!({"email": person.email, "company": person.company, "message": person.message,
            "title": person.title, "utm_source": utm_source}),
    )
}

/// Two campaigns; the person to erase leaves three leads (two campaigns, one with a
/// follow-up note) and converts; another person leaves two and converts too.
async fn populated() -> (TestApp, Vec<String>, Vec<String>) {
    populated_with(|_| {}).await
}

async fn populated_with(
    configure: impl FnOnce(&mut Config),
) -> (TestApp, Vec<String>, Vec<String>) {
    let app = spawn_app_with(configure).await;
    app.create_campaign("expo", json!({"kind": "trade_show", "channel": "expo"}))
        .await;
    app.create_campaign("web", json!({"kind": "content", "channel": "wechat"}))
        .await;
    app.add_cost("expo", json!("1000.00"), "2025-01-01").await;
    app.add_cost("web", json!("250.50"), "2025-01-01").await;
    let mut erased = Vec::new();
    let mut kept = Vec::new();
    for (slug, source) in [("expo", "booth"), ("web", "article"), ("expo", "revisit")] {
        erased.push(app.submit_json_ok(slug, &submission(&ERASED, source)).await);
        kept.push(app.submit_json_ok(slug, &submission(&KEPT, source)).await);
    }
    let (status, _) = json_body(
        app.admin_post(
            &format!("/api/leads/{}/activities", erased[0]),
            &json!({"kind": "call", "note": "called, said: please-forget-me-too"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201);
    app.admin_patch(
        &format!("/api/leads/{}", erased[1]),
        &json!({"status": "mql"}),
    )
    .await;
    app.post_conversion(
        &json!({"id": "deal-erased", "phone": ERASED.phone, "stage": "won", "amount": "8800.00"}),
        201,
    )
    .await;
    app.post_conversion(
        &json!({"id": "deal-kept", "email": KEPT.email, "stage": "deal", "amount": "1200.00"}),
        201,
    )
    .await;
    (app, erased, kept)
}

/// Every model's summary, as the bytes the API sends.
async fn summaries(app: &TestApp) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for model in MODELS {
        for query in [
            format!("model={model}"),
            format!("model={model}&group_by=kind"),
        ] {
            let resp = app.admin_get(&format!("/api/roi?{query}")).await;
            assert_eq!(resp.status(), 200, "{query}");
            all.push(resp.bytes().await.unwrap().to_vec());
        }
    }
    all
}

async fn erase(app: &TestApp, body: Value) -> Value {
    let (status, receipt) = json_body(app.admin_post("/api/erasures", &body).await).await;
    assert_eq!(status, 200, "{receipt}");
    receipt
}

pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Fails naming the value if any of `person`'s details appear in `text`.
fn assert_absent(text: &str, person: &Person, where_: &str) {
    for value in personal_values(person) {
        assert!(!text.contains(value), "{value:?} still in {where_}");
    }
}

fn personal_values(person: &Person) -> [&'static str; 7] {
    [
        person.phone,
        person.e164,
        person.email,
        person.name,
        person.company,
        person.message,
        person.title,
    ]
}

#[tokio::test]
async fn erasure_by_phone_removes_the_person_everywhere_and_changes_no_report() {
    let (app, erased, kept) = populated().await;
    let before = summaries(&app).await;

    let receipt = erase(&app, json!({"phone": ERASED.phone})).await;
    assert_eq!(receipt["contact"], sha256_hex(ERASED.e164));
    assert_eq!(
        (receipt["leads"].as_u64(), receipt["conversions"].as_u64()),
        (Some(3), Some(1))
    );
    assert!(receipt["erased_at"].as_str().unwrap().ends_with('Z'));
    assert_absent(&receipt.to_string(), &ERASED, "the receipt");

    assert_eq!(
        summaries(&app).await,
        before,
        "every model's summary is unchanged"
    );

    // Gone from the JSON listing, the CSV export and the console's leads page …
    let listed = app.list_leads("limit=100").await.to_string();
    assert_absent(&listed, &ERASED, "GET /api/leads");
    assert!(
        listed.contains(KEPT.name),
        "the other person is still listed"
    );
    let csv = app
        .admin_get("/api/leads?format=csv")
        .await
        .text()
        .await
        .unwrap();
    assert_absent(&csv, &ERASED, "the CSV export");
    assert!(csv.contains(KEPT.company));
    let console = page(&app, "/admin/leads").await;
    assert_absent(&console, &ERASED, "the console's leads page");
    assert!(console.contains(KEPT.name));
    // … each erased id answers 404, and its follow-ups with it.
    for id in &erased {
        let body = assert_error(app.admin_get(&format!("/api/leads/{id}")).await, 404, None).await;
        assert_eq!(body["error"]["code"], "erased_lead");
        assert_eq!(
            app.admin_get(&format!("/api/leads/{id}/activities"))
                .await
                .status(),
            404
        );
    }
    assert_eq!(
        app.admin_get(&format!("/api/leads/{}", kept[0]))
            .await
            .status(),
        200
    );
    // The conversion keeps amount and stage, pointing at nobody.
    let (_, deal) = json_body(app.admin_get("/api/conversions/deal-erased").await).await;
    assert_eq!(
        (deal["stage"].as_str(), deal["amount"].as_str()),
        (Some("won"), Some("8800.00"))
    );
    assert_eq!(deal["lead_id"], Value::Null);
    assert_absent(&deal.to_string(), &ERASED, "the conversion");

    // Asked again: nothing is known of them any more.
    assert_error(
        app.admin_post("/api/erasures", &json!({"phone": ERASED.e164}))
            .await,
        404,
        None,
    )
    .await;
    let (status, list) = json_body(app.admin_get("/api/erasures").await).await;
    assert_eq!(status, 200);
    assert_eq!(list["erasures"].as_array().unwrap().len(), 1);
    assert_eq!(list["erasures"][0]["id"], receipt["id"]);
    assert_absent(&list.to_string(), &ERASED, "the receipts");

    let dir = app.stop().await;
    let (clean, output) = crate::process::check_store(dir.path());
    assert!(clean, "leadgate check after an erasure: {output}");
}

#[tokio::test]
async fn erasure_by_email_finds_the_contact_keyed_by_phone() {
    let (app, _, _) = populated().await;
    let before = summaries(&app).await;
    // As typed differently: an address is one whatever its case.
    let receipt = erase(&app, json!({"email": "zhang.erasable@EXAMPLE.com"})).await;
    assert_eq!(receipt["contact"], sha256_hex(ERASED.e164));
    assert_eq!(receipt["leads"], 3);
    assert_eq!(summaries(&app).await, before);
    assert_absent(
        &app.list_leads("limit=100").await.to_string(),
        &ERASED,
        "GET /api/leads",
    );
    let dir = app.stop().await;
    let (clean, output) = crate::process::check_store(dir.path());
    assert!(clean, "leadgate check after an erasure: {output}");
}

#[tokio::test]
async fn erasure_of_an_unknown_person_or_a_bad_request_is_refused() {
    let (app, _, _) = populated().await;
    assert_error(
        app.admin_post("/api/erasures", &json!({"phone": "13700137000"}))
            .await,
        404,
        None,
    )
    .await;
    assert_error(
        app.admin_post("/api/erasures", &json!({"email": "nobody@example.com"}))
            .await,
        404,
        None,
    )
    .await;
    for (body, field) in [
        (json!({}), "phone"),
        (json!({"phone": "not a phone"}), "phone"),
        (json!({"email": "nope"}), "email"),
        (
            json!({"phone": ERASED.phone, "email": ERASED.email}),
            "email",
        ),
        (json!({"name": ERASED.name}), "name"),
        (json!({"phone": 13800138000_u64}), "phone"),
    ] {
        assert_error(
            app.admin_post("/api/erasures", &body).await,
            422,
            Some(field),
        )
        .await;
    }
    assert_eq!(app.get("/api/erasures").await.status(), 401);
    // Nothing was erased by any of them.
    assert_eq!(app.all_leads("expo").await.len(), 4);
}

/// A clock the test moves by hand, starting at the real time.
#[derive(Clone)]
pub(crate) struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub(crate) fn now() -> TestClock {
        TestClock(Arc::new(AtomicI64::new(
            jiff::Timestamp::now().as_millisecond(),
        )))
    }

    pub(crate) fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    pub(crate) fn clock(&self) -> Clock {
        let ms = self.0.clone();
        Clock::new(move || jiff::Timestamp::from_millisecond(ms.load(Ordering::SeqCst)).unwrap())
    }
}

/// Every file under `dir`, recursively, with its bytes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            files.push((path, bytes));
        }
    }
    files
}

/// Which of `values` some file under `dir` holds (as UTF-8 bytes), with the file.
pub(crate) fn found_on_disk<'a>(
    dir: &std::path::Path,
    values: &[&'a str],
) -> Vec<(&'a str, String)> {
    let files = files_under(dir);
    values
        .iter()
        .filter_map(|value| {
            files
                .iter()
                .find(|(_, bytes)| bytes.windows(value.len()).any(|w| w == value.as_bytes()))
                .map(|(path, _)| (*value, path.display().to_string()))
        })
        .collect()
}

#[tokio::test]
async fn erased_values_leave_every_file_of_the_data_directory_within_a_minute() {
    let clock = TestClock::now();
    let settings = {
        let clock = clock.clock();
        move |c: &mut Config| {
            c.clock = clock;
            c.privacy_tick = Duration::from_millis(20);
        }
    };
    let (app, _, _) = populated_with(settings).await;
    let dir = app._dir.path().to_owned();
    let second = Person {
        phone: "137-0013-7000",
        e164: "+8613700137000",
        email: "wang.second@example.net",
        name: "王第二Second",
        company: "Secondcorp 第二",
        message: "second-message-55aa",
        title: "Second Officer",
    };
    app.submit_json_ok("web", &submission(&second, "article"))
        .await;
    // A CRM's id may hold the phone; a replay finds its lead by a digest of it, so it is
    // never in a file, before or after the erasure (an erasure could not find it: a lead
    // does not keep its key).
    let card = "card-13800138000";
    let csv = format!(
        "campaign,received_at,phone,external_id\nexpo,2025-03-01T10:00:00+08:00,{},{card}\n",
        ERASED.phone
    );
    assert_eq!(app.import_leads_csv(&csv).await["imported"], 1);
    let replay = app.import_leads_csv(&csv).await;
    assert_eq!(replay["imported"], 0, "a replay: {replay}");
    assert_eq!(replay["skipped"], 1, "a replay: {replay}");
    assert!(
        found_on_disk(&dir, &[card]).is_empty(),
        "the external id in clear"
    );
    // The phone as typed is never stored (leads keep E.164); every other value is.
    let kept = &personal_values(&KEPT)[1..];
    assert_eq!(
        found_on_disk(&dir, kept).len(),
        kept.len(),
        "the scan finds what is stored"
    );
    let mut erased: Vec<&str> = personal_values(&ERASED).to_vec();
    erased.extend(personal_values(&second));
    // As the store's indexes keep the address, and the follow-up's note.
    erased.extend(["zhang.erasable@example.com", "please-forget-me-too"]);

    erase(&app, json!({"phone": ERASED.phone})).await;
    // Not before the rewrite is due: erasures close together share one rewrite.
    clock.advance(Duration::from_secs(19));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A second erasure inside the window shares the rewrite.
    erase(&app, json!({"email": second.email})).await;
    clock.advance(Duration::from_secs(2));
    // The rewrite runs off this test's clock within a tick; wait for it (bounded).
    wait_until_gone(&dir, &erased).await;
    // The person who was not erased is still there: the scan is not vacuous.
    assert_eq!(found_on_disk(&dir, kept).len(), kept.len());
    // The store serves and takes leads on, from the rewritten file.
    let after = Person {
        email: "after@example.com",
        name: "After Rewrite",
        ..KEPT
    };
    let id = app
        .submit_json_ok("expo", &submission(&after, "booth"))
        .await;
    assert_eq!(
        app.admin_get(&format!("/api/leads/{id}")).await.status(),
        200
    );
    assert!(found_on_disk(&dir, &erased).is_empty());
    let dir = app.stop().await;
    let (clean, output) = crate::process::check_store(dir.path());
    assert!(clean, "leadgate check after the rewrite: {output}");
}

/// RFC 3339 for `days` days before now.
fn days_ago(days: i64) -> String {
    let at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(days * 24);
    at.to_string()
}

#[tokio::test]
async fn retention_erases_leads_older_than_its_days_at_start_and_daily_and_changes_no_report() {
    let clock = TestClock::now();
    let settings = |clock: &TestClock| {
        let clock = clock.clock();
        move |c: &mut Config| {
            c.clock = clock;
            c.privacy_tick = Duration::from_millis(20);
            c.retain_days = Some(30);
        }
    };
    let app = spawn_app_with(settings(&clock)).await;
    app.create_campaign("expo", json!({"kind": "trade_show"}))
        .await;
    app.create_campaign("web", json!({"kind": "content"})).await;
    app.add_cost("expo", json!("900.00"), &days_ago(45)[..10])
        .await;
    // A: only old leads (31 and 40 days); B: one old, one recent; C: one 29 days old.
    let csv = format!(
        "campaign,received_at,name,phone,company,message,external_id\n\
         expo,{},Old Ann,13800000001,Anncorp,ann-old-message,X-1\n\
         web,{},Old Ann,13800000001,Anncorp,ann-later-message,X-2\n\
         expo,{},Bob Both,13800000002,Bobcorp,bob-old-message,X-3\n\
         web,{},Bob Both,13800000002,Bobcorp,bob-new-message,X-4\n\
         web,{},Cy Recent,13800000003,Cycorp,cy-message,X-5\n",
        days_ago(40),
        days_ago(31),
        days_ago(40),
        days_ago(5),
        days_ago(29),
    );
    assert_eq!(app.import_leads_csv(&csv).await["imported"], 5);
    for (id, phone, amount) in [
        ("o-ann", "13800000001", "500.00"),
        ("o-bob", "13800000002", "700.00"),
    ] {
        app.post_conversion(
            &json!({"id": id, "phone": phone, "stage": "won", "amount": amount,
                "occurred_at": days_ago(1)}),
            201,
        )
        .await;
    }
    let before = summaries(&app).await;
    let ids = |leads: &Value| -> Vec<String> {
        leads["leads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ids(&app.list_leads("limit=100").await);
    assert_eq!(all.len(), 5);

    // The start-up run found nothing old (the leads came later); a day on, the next run.
    clock.advance(Duration::from_secs(24 * 3600));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let receipts = loop {
        let (_, list) = json_body(app.admin_get("/api/erasures").await).await;
        let receipts = list["erasures"].as_array().unwrap().clone();
        if receipts.len() >= 2 {
            break receipts;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention never ran: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert!(receipts.iter().all(|r| r["reason"] == "retention"));
    let erased_leads: u64 = receipts.iter().map(|r| r["leads"].as_u64().unwrap()).sum();
    assert_eq!(erased_leads, 3);
    let unlinked: u64 = receipts
        .iter()
        .map(|r| r["conversions"].as_u64().unwrap())
        .sum();
    assert_eq!(
        unlinked, 1,
        "Ann's order points at nobody; Bob, still here, keeps his"
    );
    let (_, order) = json_body(app.admin_get("/api/conversions/o-ann").await).await;
    assert!(
        order["contact"].as_str().unwrap().starts_with("erased-"),
        "{order}"
    );
    let (_, order) = json_body(app.admin_get("/api/conversions/o-bob").await).await;
    assert_eq!(order["contact"], "+8613800000002");
    assert_eq!(summaries(&app).await, before, "retention changes no report");

    let listed = app.list_leads("limit=100").await;
    let text = listed.to_string();
    for gone in [
        "Old Ann",
        "Anncorp",
        "ann-old-message",
        "bob-old-message",
        "13800000001",
    ] {
        assert!(!text.contains(gone), "{gone} is still listed");
    }
    for kept in ["bob-new-message", "Cy Recent"] {
        assert!(text.contains(kept), "{kept} was erased too early");
    }
    assert_eq!(ids(&listed).len(), 2);
    // Bob lives on: a conversion can still name him by phone.
    app.post_conversion(
        &json!({"id": "o-bob-2", "phone": "13800000002", "stage": "deal", "amount": "1.00"}),
        201,
    )
    .await;
    let dir = app.stop().await;
    let (clean, output) = crate::process::check_store(dir.path());
    assert!(clean, "leadgate check after retention: {output}");

    // At start-up: Cy's lead is 29 days old; a restart two days on erases it at once.
    clock.advance(Duration::from_secs(24 * 3600));
    let app = crate::helpers::spawn_app_in(dir, settings(&clock)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app
        .list_leads("limit=100")
        .await
        .to_string()
        .contains("Cy Recent")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "not erased at start-up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.list_leads("limit=100")
            .await
            .to_string()
            .contains("bob-new-message")
    );
}

#[tokio::test]
async fn the_console_erases_a_person_after_asking_and_shows_the_receipt() {
    use crate::console::{form_token, location, post_form};
    let (app, erased, kept) = populated().await;
    let before = summaries(&app).await;
    for lang in ["", "?lang=en"] {
        let leads = page(&app, &format!("/admin/leads{lang}")).await;
        let label = if lang.is_empty() {
            "删除此人"
        } else {
            "Erase this person"
        };
        assert!(leads.contains(label), "{lang}: the action is offered");
        assert!(leads.contains(&format!("/admin/leads/{}/erase", erased[0])));
    }
    // Asking first: the page names whom, and erases nothing by itself.
    let path = format!("/admin/leads/{}/erase", erased[0]);
    let confirm = page(&app, &path).await;
    assert!(confirm.contains(ERASED.name) && confirm.contains(ERASED.e164));
    assert!(confirm.contains("无法撤销"));
    assert!(
        page(&app, &format!("{path}?lang=en"))
            .await
            .contains("cannot be undone")
    );
    assert_eq!(
        app.admin_get(&format!("/api/leads/{}", erased[0]))
            .await
            .status(),
        200
    );
    // A post without the page's token is refused before anything happens.
    let forged = post_form(&app, &path, &[("_csrf", "forged")]).await;
    assert_eq!(forged.status(), 403);
    assert_eq!(
        app.admin_get(&format!("/api/leads/{}", erased[0]))
            .await
            .status(),
        200
    );

    let token = form_token(&confirm, &path);
    let resp = post_form(&app, &path, &[("_csrf", &token)]).await;
    assert_eq!(resp.status(), 303);
    let receipt_page = page(&app, &location(&resp)).await;
    assert!(
        receipt_page.contains(&sha256_hex(ERASED.e164)),
        "the receipt is shown"
    );
    assert_absent(&receipt_page, &ERASED, "the receipt page");
    for id in &erased {
        assert_eq!(
            app.admin_get(&format!("/api/leads/{id}")).await.status(),
            404
        );
    }
    assert_eq!(
        app.admin_get(&format!("/api/leads/{}", kept[0]))
            .await
            .status(),
        200
    );
    assert_absent(
        &page(&app, "/admin/leads").await,
        &ERASED,
        "the console's leads page",
    );
    assert_eq!(summaries(&app).await, before);
    // The erased lead's page answers 404 now.
    let gone = app
        .client
        .get(app.url(&path))
        .basic_auth("m", Some(crate::helpers::TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn a_destination_gets_the_erasure_and_never_the_person_after_it() {
    use crate::receiver::Receiver;
    let app = spawn_app_with(|c| {
        c.allow_private_destinations = true;
        c.delivery_retry_delays = vec![Duration::from_millis(50); 9];
    })
    .await;
    app.create_campaign("expo", json!({})).await;
    // Down (410: dead, the backlog kept and read ahead) until the test says otherwise.
    let (receiver, answers) = Receiver::switchable(410).await;
    let created = app
        .add_destination(json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/")}))
        .await;
    let first = app
        .submit_json_ok("expo", &submission(&ERASED, "booth"))
        .await;
    app.wait_destination(&created["id"], |d| d["state"] == "dead")
        .await;
    let second = app
        .submit_json_ok("expo", &submission(&ERASED, "revisit"))
        .await;
    let receipt = erase(&app, json!({"phone": ERASED.phone})).await;

    answers.store(200, Ordering::SeqCst);
    let id = created["id"].as_str().unwrap();
    app.admin_post(&format!("/api/destinations/{id}/retry"), &json!({}))
        .await;
    let got = receiver.wait_for(4).await;
    // The first attempt went out before the erasure; nothing after it names the person.
    for request in &got[1..] {
        assert_absent(&request.text(), &ERASED, "a delivery after the erasure");
    }
    let events: Vec<Value> = got[1..].iter().map(|r| r.json()).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["lead.created", "lead.created", "contact.erased"]);
    assert_eq!(events[0]["data"]["id"], first.as_str());
    assert_eq!(events[1]["data"]["id"], second.as_str());
    assert_eq!(events[2]["data"]["contact"], receipt["contact"]);
    assert_eq!(events[2]["data"]["contacts"], json!([receipt["contact"]]));
    assert_eq!(events[2]["data"]["lead_ids"], json!([first, second]));
}

/// "A `contact.erased` event goes to every destination": one that takes only new leads of
/// another campaign gets it too, and a sales group's robot hears of it without being told who.
#[tokio::test]
async fn every_destination_hears_of_an_erasure_whatever_its_filters() {
    use crate::receiver::Receiver;
    let app = spawn_app_with(|c| c.allow_private_destinations = true).await;
    app.create_campaign("expo", json!({})).await;
    app.create_campaign("other", json!({})).await;
    let webhook = Receiver::answering(200, "").await;
    app.add_destination(json!({"name": "Other's new leads", "kind": "webhook",
        "url": webhook.url("/"), "events": ["lead.created"], "campaigns": ["other"]}))
        .await;
    let robot = Receiver::answering(200, r#"{"errcode":0,"errmsg":"ok"}"#).await;
    app.add_destination(json!({"name": "销售群", "kind": "wecom",
        "url": robot.url("/cgi-bin/webhook/send?key=abc"), "events": ["lead.created"]}))
        .await;
    let lead = app
        .submit_json_ok("expo", &submission(&ERASED, "booth"))
        .await;
    let receipt = erase(&app, json!({"phone": ERASED.phone})).await;

    let got = webhook.wait_for(1).await;
    let event = got[0].json();
    assert_eq!(event["type"], "contact.erased");
    assert_eq!(event["data"]["contact"], receipt["contact"]);
    assert_eq!(event["data"]["lead_ids"], json!([lead]));
    // The robot: the new lead (masked), then the erasure, naming no one.
    let said = robot.wait_for(2).await;
    let notice = said[1].json();
    let content = notice["markdown"]["content"].as_str().unwrap();
    assert!(content.contains("客户信息已删除"), "{content}");
    assert!(content.contains(&lead), "{content}");
    assert_absent(&said[1].text(), &ERASED, "the robot's notice");
    assert!(!content.contains(receipt["contact"].as_str().unwrap()));
}

#[tokio::test]
async fn an_erasure_not_yet_rewritten_at_a_stop_is_rewritten_after_the_next_start() {
    let clock = TestClock::now();
    let settings = |clock: &TestClock| {
        let clock = clock.clock();
        move |c: &mut Config| {
            c.clock = clock;
            c.privacy_tick = Duration::from_millis(20);
        }
    };
    let app = spawn_app_with(settings(&clock)).await;
    app.create_campaign("expo", json!({})).await;
    app.submit_json_ok("expo", &submission(&ERASED, "booth"))
        .await;
    app.submit_json_ok("expo", &submission(&KEPT, "booth"))
        .await;
    erase(&app, json!({"phone": ERASED.phone})).await;
    // Stopped before the rewrite was due: the pending mark is in the store, not in memory.
    let dir = app.stop().await;
    clock.advance(Duration::from_secs(60));
    let app = crate::helpers::spawn_app_in(dir, settings(&clock)).await;
    let path = app._dir.path().to_owned();
    let erased: Vec<&str> = personal_values(&ERASED)[1..].to_vec();
    wait_until_gone(&path, &erased).await;
    let kept = &personal_values(&KEPT)[1..];
    assert_eq!(found_on_disk(&path, kept).len(), kept.len());
}

/// Waits (bounded) until none of `values` is in any file under `dir`: the rewrite runs off
/// the test's clock within a tick.
async fn wait_until_gone(dir: &std::path::Path, values: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = found_on_disk(dir, values);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still on disk: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
