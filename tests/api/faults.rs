//! Backpressure and disk faults, forced through the store's fault switch: a stalled writer
//! with a full queue answers 503 at once; failing commits answer 503, store nothing, turn
//! `/healthz` to 503, and the server recovers by itself.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use leadgate::faults::FaultSwitch;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, content_type, json_body, lead, merge, mobile, retry_after,
    spawn_app_with,
};

/// One finished submission: its number, status, `Retry-After`, body, and when it ended.
#[derive(Debug)]
struct Outcome {
    n: usize,
    status: u16,
    retry_after: Option<String>,
    body: Value,
    at: Instant,
}

/// Turns the faults off when a test ends, passing or failing, so no writer is left stalled.
struct ClearOnDrop(FaultSwitch);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.stall_commits(false);
        self.0.fail_commits(false);
    }
}

async fn healthz(app: &TestApp) -> u16 {
    app.get("/healthz").await.status().as_u16()
}

/// `/healthz` after the disk works again: it probes the store at most once a second (the
/// endpoint is public and each probe is two durable commits), so recovery shows within
/// that second, without any other request.
async fn healthz_after_recovery(app: &TestApp) -> u16 {
    let deadline = std::time::Instant::now() + Duration::from_millis(2500);
    loop {
        let status = healthz(app).await;
        if status == 200 || std::time::Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Backpressure

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_writer_queue_answers_503_at_once() {
    const QUEUE: usize = 4;
    const REQUESTS: usize = 30;
    let faults = FaultSwitch::default();
    let switch = faults.clone();
    let app = spawn_app_with(move |c| {
        c.writer_queue = QUEUE;
        c.commit_faults = switch;
    })
    .await;
    app.create_campaign("expo", json!({})).await;
    let _clear = ClearOnDrop(faults.clone());

    faults.stall_commits(true);
    let fired = Instant::now();
    let (sender, mut results) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    for n in 0..REQUESTS {
        let client = app.client.clone();
        let url = app.url("/f/expo");
        let sender = sender.clone();
        tokio::spawn(async move {
            let resp = client
                .post(url)
                .json(&lead(&mobile(n), "排队"))
                .send()
                .await
                .expect("submission");
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let (status, body) = json_body(resp).await;
            let _ = sender.send(Outcome {
                n,
                status,
                retry_after,
                body,
                at: Instant::now(),
            });
        });
    }
    drop(sender);

    // While the writer is stalled, refused requests come back; accepted ones wait.
    let mut while_stalled = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while while_stalled.len() < REQUESTS && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(1500), results.recv()).await {
            Ok(Some(outcome)) => while_stalled.push(outcome),
            Ok(None) | Err(_) => break,
        }
    }
    let unstalled_at = Instant::now();
    for outcome in &while_stalled {
        assert_eq!(
            outcome.status, 503,
            "while the writer is stalled nothing can be committed: {outcome:?}"
        );
        let wait: u64 = outcome
            .retry_after
            .as_deref()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("503 without a whole-seconds Retry-After: {outcome:?}"));
        assert!(wait >= 1, "{outcome:?}");
        assert!(
            outcome.at - fired < Duration::from_secs(3),
            "refused only after {:?}: {outcome:?}",
            outcome.at - fired
        );
        let code = outcome.body["error"]["code"].as_str().unwrap_or("");
        assert!(
            !code.is_empty(),
            "503 in the API's error shape: {outcome:?}"
        );
    }
    assert!(
        !while_stalled.is_empty(),
        "with a queue of {QUEUE} and a stalled writer, none of {REQUESTS} requests got 503 at once"
    );
    let waiting = REQUESTS - while_stalled.len();
    eprintln!(
        "stalled writer, queue {QUEUE}: {} refused at once, {waiting} waiting",
        while_stalled.len()
    );
    assert!(
        waiting >= 1,
        "the queue took nothing: every request was refused"
    );

    // The writer works again: everything that waited is committed.
    faults.stall_commits(false);
    let mut after = Vec::new();
    while let Some(outcome) = tokio::time::timeout(Duration::from_secs(20), results.recv())
        .await
        .expect("queued submissions were not answered after the stall ended")
    {
        after.push(outcome);
    }
    let mut created = BTreeSet::new();
    for outcome in &after {
        match outcome.status {
            201 => {
                assert!(
                    outcome.at >= unstalled_at,
                    "committed while stalled: {outcome:?}"
                );
                created.insert(outcome.body["lead_id"].as_str().unwrap().to_owned());
            }
            // A request that reached the queue only now, while it was still full.
            503 => assert!(outcome.retry_after.is_some(), "{outcome:?}"),
            _ => panic!("after the stall: {outcome:?}"),
        }
    }
    assert_eq!(
        while_stalled.len() + after.len(),
        REQUESTS,
        "every request was answered"
    );
    assert!(
        !created.is_empty(),
        "none of the {waiting} waiting requests was committed"
    );
    let refused: BTreeSet<usize> = while_stalled
        .iter()
        .chain(&after)
        .filter(|o| o.status == 503)
        .map(|o| o.n)
        .collect();
    // Each 201 is stored, and nothing refused is.
    let stored = app.all_leads("expo").await;
    let stored_ids: BTreeSet<String> = stored
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored_ids, created, "stored leads are exactly the 201s");
    for lead in &stored {
        let phone = lead["phone"].as_str().unwrap_or("");
        for n in &refused {
            assert!(
                !phone.ends_with(&mobile(*n)),
                "refused submission {n} was stored: {lead}"
            );
        }
    }
    // And the next submission goes straight through.
    app.submit_json_ok("expo", &lead(&mobile(999), "之后"))
        .await;
    assert_eq!(healthz(&app).await, 200);
}

// ---------------------------------------------------------------------------------------------
// Failing commits

#[tokio::test]
async fn failing_commits_answer_503_store_nothing_and_recover() {
    let faults = FaultSwitch::default();
    let switch = faults.clone();
    let app = spawn_app_with(move |c| c.commit_faults = switch).await;
    app.create_campaign("expo", json!({})).await;
    let _clear = ClearOnDrop(faults.clone());
    assert_eq!(healthz(&app).await, 200);

    faults.fail_commits(true);
    // A JSON client: 503 store_unavailable with Retry-After.
    let token = "01HZXTOKEN0000000000000001";
    let body = merge(lead(&mobile(1), "张三"), json!({"_token": token}));
    let resp = app.submit_json("expo", &body).await;
    assert!(retry_after(&resp) >= 1, "503 carries Retry-After");
    let error = assert_error(resp, 503, None).await;
    assert_eq!(error["error"]["code"], "store_unavailable", "{error}");

    // A browser: a page saying nothing was saved, same status.
    let resp = app
        .submit_form(
            "expo",
            &[("name", "李四"), ("phone", &mobile(2)), ("consent", "on")],
        )
        .await;
    assert_eq!(resp.status(), 503, "browser post while commits fail");
    assert!(retry_after(&resp) >= 1);
    let ct = content_type(&resp);
    assert!(ct.starts_with("text/html"), "browser 503 type {ct}");
    let html = resp.text().await.unwrap();
    assert!(html.to_ascii_lowercase().contains("<html"), "{html}");

    // Admin writes fail the same way, reads keep working.
    let resp = app
        .admin_post("/api/campaigns", &json!({"slug": "new-one", "name": "新"}))
        .await;
    let error = assert_error(resp, 503, None).await;
    assert_eq!(error["error"]["code"], "store_unavailable", "{error}");
    let resp = app.get("/f/expo").await;
    assert_eq!(resp.status(), 200, "the form page still shows");
    let resp = app.get("/q/expo").await;
    assert_eq!(resp.status(), 302, "a scan still leads to the form");

    // Health says so, several times over (each probe fails too).
    for _ in 0..3 {
        let resp = app.get("/healthz").await;
        assert_eq!(resp.status(), 503, "healthz while commits fail");
    }
    assert!(app.all_leads("expo").await.is_empty(), "nothing stored");
    let (status, _) = json_body(app.admin_get("/api/campaigns/new-one").await).await;
    assert_eq!(status, 404, "the failed campaign create left nothing");

    // The disk works again: health recovers by itself, with no submission needed.
    faults.fail_commits(false);
    assert_eq!(
        healthz_after_recovery(&app).await,
        200,
        "healthz after the fault cleared"
    );
    // The token of the failed submission was never recorded: the retry is a new lead.
    let (status, value) = json_body(app.submit_json("expo", &body).await).await;
    assert_eq!(status, 201, "retry after recovery: {value}");
    assert_eq!(value["duplicate"], false, "{value}");
    let leads = app.all_leads("expo").await;
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(leads[0]["id"], value["lead_id"]);
    let (status, value) = json_body(app.submit_json("expo", &body).await).await;
    assert_eq!(
        (status, &value["duplicate"]),
        (200, &json!(true)),
        "{value}"
    );
}

#[tokio::test]
async fn health_recovers_without_any_request_in_between() {
    let faults = FaultSwitch::default();
    let switch = faults.clone();
    let app = spawn_app_with(move |c| c.commit_faults = switch).await;
    app.create_campaign("expo", json!({})).await;
    let _clear = ClearOnDrop(faults.clone());
    faults.fail_commits(true);
    // One failed write marks the store unwritable.
    let resp = app.submit_json("expo", &lead(&mobile(1), "张三")).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(healthz(&app).await, 503);
    faults.fail_commits(false);
    assert_eq!(healthz_after_recovery(&app).await, 200);
    assert_eq!(healthz(&app).await, 200);
    app.submit_json_ok("expo", &lead(&mobile(2), "张三")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_batch_answers_every_request_in_it_with_503() {
    let faults = FaultSwitch::default();
    let switch = faults.clone();
    let app = spawn_app_with(move |c| c.commit_faults = switch).await;
    app.create_campaign("expo", json!({})).await;
    let _clear = ClearOnDrop(faults.clone());
    faults.fail_commits(true);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let client = app.client.clone();
        let url = app.url("/f/expo");
        tasks.spawn(async move {
            let resp = client
                .post(url)
                .json(&lead(&mobile(n), "并发"))
                .send()
                .await
                .unwrap();
            json_body(resp).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (status, body) = done.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    }
    faults.fail_commits(false);
    assert!(app.all_leads("expo").await.is_empty());
    assert_eq!(healthz_after_recovery(&app).await, 200);
}
