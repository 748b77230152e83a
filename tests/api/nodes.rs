//! Several nodes sharing one PostgreSQL (API.md, "Several nodes: PostgreSQL"), beyond
//! the lead stream `replication.rs` checks: campaigns, cost entries (and their deletion),
//! conversions and counters reach PostgreSQL, the latest `updated_at` winning.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, lead, mobile, spawn_app_with};
use crate::postgres::{Cluster, cluster_or_skip, eventually};
use crate::replication::replicating;

const LIMIT: Duration = Duration::from_secs(20);

/// A replicating node whose clock a test sets.
async fn node_at(cluster: &Cluster, node: &str, clock: &Arc<Mutex<jiff::Timestamp>>) -> TestApp {
    let clock = clock.clone();
    let replicate = replicating(cluster, node);
    spawn_app_with(move |config| {
        replicate(config);
        config.clock = leadgate::clock::Clock::new(move || *clock.lock().unwrap());
    })
    .await
}

fn clock(at: &str) -> Arc<Mutex<jiff::Timestamp>> {
    Arc::new(Mutex::new(at.parse().unwrap()))
}

/// The value of `sql` (one row, one column) once `ready` accepts it.
async fn pg_value<T, F>(client: &tokio_postgres::Client, sql: &str, what: &str, ready: F) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
    F: Fn(&T) -> bool,
{
    eventually(LIMIT, what, || async {
        let row = client.query_opt(sql, &[]).await.ok()??;
        let value: T = row.try_get(0).ok()?;
        ready(&value).then_some(value)
    })
    .await
}

#[tokio::test]
async fn campaigns_costs_conversions_and_counters_reach_postgresql() {
    let Some(cluster) = cluster_or_skip("shared definitions reach PostgreSQL") else {
        return;
    };
    let now = clock("2025-06-01T08:00:00Z");
    let app = node_at(&cluster, "hq", &now).await;
    app.create_campaign("expo", json!({"name": "Expo", "budget": 1000}))
        .await;
    *now.lock().unwrap() = "2025-06-01T09:00:00Z".parse().unwrap();
    let (status, _) = crate::helpers::json_body(
        app.admin_patch("/api/campaigns/expo", &json!({"name": "Expo 2025"}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let kept = app.add_cost("expo", json!("1234.56"), "2025-05-20").await;
    let wrong = app.add_cost("expo", json!(99), "2025-05-21").await;
    let resp = app
        .admin_delete(&format!(
            "/api/campaigns/expo/costs/{}",
            wrong["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(resp.status(), 204);
    app.submit_json_ok("expo", &lead(&mobile(1), "Li")).await;
    app.post_conversion(
        &json!({"id": "crm-1", "phone": mobile(1), "stage": "won", "amount": "500",
                "occurred_at": "2025-06-01T08:30:00Z"}),
        201,
    )
    .await;

    let client = cluster.client().await;
    let record: String = pg_value(
        &client,
        "SELECT record::text FROM leadgate.campaigns WHERE slug = 'expo'",
        "the campaign, patched",
        |r: &String| r.contains("Expo 2025"),
    )
    .await;
    let record: Value = serde_json::from_str(&record).unwrap();
    assert_eq!(record["budget"], 100000, "minor units, as stored: {record}");
    let row = client
        .query_one(
            "SELECT node, updated_at = '2025-06-01T09:00:00Z' FROM leadgate.campaigns",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "hq");
    assert!(row.get::<_, bool>(1), "updated_at is the patch's time");

    let deleted: String = pg_value(
        &client,
        "SELECT id FROM leadgate.cost_deletions",
        "the deleted entry's tombstone",
        |_: &String| true,
    )
    .await;
    assert_eq!(deleted, wrong["id"].as_str().unwrap());
    let costs: String = pg_value(
        &client,
        "SELECT string_agg(id || ' ' || amount::text || ' ' || currency || ' ' || incurred_on::text, ',')
         FROM leadgate.costs",
        "the kept cost entry only",
        |_: &String| true,
    )
    .await;
    assert_eq!(
        costs,
        format!("{} 1234.56 CNY 2025-05-20", kept["id"].as_str().unwrap())
    );

    let conversion: String = pg_value(
        &client,
        "SELECT record::text FROM leadgate.conversions WHERE id = 'crm-1'",
        "the conversion",
        |_: &String| true,
    )
    .await;
    let conversion: Value = serde_json::from_str(&conversion).unwrap();
    assert_eq!(conversion["stage"], "won", "{conversion}");
    assert_eq!(conversion["amount"], "500.00", "{conversion}");

    let leads: i64 = pg_value(
        &client,
        "SELECT sum(value)::bigint FROM leadgate.counters
         WHERE node = 'hq' AND campaign = 'expo' AND metric = 'leads'",
        "the leads counter",
        |n: &i64| *n == 1,
    )
    .await;
    assert_eq!(leads, 1);
    let contact: String = client
        .query_one("SELECT contact FROM leadgate.leads", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        contact,
        leadgate::replica::contact_hash(&format!("+86{}", mobile(1))),
        "leads name their contact by its hash"
    );
    // Every event is in leadgate.events too (numbered 1..n without gaps).
    let types: Vec<String> = client
        .query("SELECT DISTINCT type FROM leadgate.events ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        types,
        [
            "campaign.saved",
            "conversion.recorded",
            "cost.deleted",
            "cost.recorded",
            "counters.changed",
            "lead.created"
        ]
    );
}

#[tokio::test]
async fn the_latest_change_wins_whichever_node_ships_last() {
    let Some(cluster) = cluster_or_skip("latest updated_at wins") else {
        return;
    };
    let later = clock("2025-06-01T10:00:00Z");
    let earlier = clock("2025-06-01T09:00:00Z");
    let b = node_at(&cluster, "b", &later).await;
    b.create_campaign("expo", json!({"name": "Made later on b"}))
        .await;
    let client = cluster.client().await;
    pg_value(
        &client,
        "SELECT record->>'name' FROM leadgate.campaigns",
        "b's campaign",
        |name: &String| name == "Made later on b",
    )
    .await;
    // Saved again at the same instant (the clock has not moved), in a later batch: the
    // node's own later change still wins.
    let (status, _) = crate::helpers::json_body(
        b.admin_patch("/api/campaigns/expo", &json!({"name": "Renamed on b"}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    pg_value(
        &client,
        "SELECT record->>'name' FROM leadgate.campaigns",
        "b's rename at the same instant",
        |name: &String| name == "Renamed on b",
    )
    .await;
    // Node a made the same slug earlier (a booth offline), and ships it only now.
    let a = node_at(&cluster, "a", &earlier).await;
    a.create_campaign("expo", json!({"name": "Made earlier on a"}))
        .await;
    a.create_campaign("marker", json!({})).await;
    pg_value(
        &client,
        "SELECT count(*) FROM leadgate.campaigns WHERE slug = 'marker'",
        "a's batch shipped",
        |n: &i64| *n == 1,
    )
    .await;
    let name: String = client
        .query_one(
            "SELECT record->>'name' FROM leadgate.campaigns WHERE slug = 'expo'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "Renamed on b");
}

/// API.md: a campaign created on one node serves its form on another within 5 s. Two
/// `leadgate serve` processes, as two booths would run it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_made_on_one_node_serves_its_form_on_another_within_5_s() {
    let Some(cluster) = cluster_or_skip("a campaign reaches the other node") else {
        return;
    };
    let (hq_data, booth_data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let start = |data: &std::path::Path, node: &str| {
        let mut command = crate::process::serve_command(data);
        command.args(["--replicate", &cluster.url(), "--node-id", node]);
        crate::process::start_server_from(command)
    };
    let hq = start(hq_data.path(), "hq");
    let booth = start(booth_data.path(), "booth");
    let client = crate::helpers::client();
    let admin = |method: reqwest::Method, base: &str, path: &str| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(crate::process::TOKEN)
    };
    let resp = admin(reqwest::Method::POST, &hq.base, "/api/campaigns")
        .json(&json!({"slug": "hq-launch", "name": "总部发布会"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let made = std::time::Instant::now();
    eventually(
        Duration::from_secs(5),
        "the form served at the booth",
        || async {
            let resp = client
                .get(format!("{}/f/hq-launch", booth.base))
                .send()
                .await
                .ok()?;
            (resp.status() == 200).then_some(())
        },
    )
    .await;
    eprintln!(
        "the booth served the form {:?} after HQ made it",
        made.elapsed()
    );
    let page = client
        .get(format!("{}/f/hq-launch", booth.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("总部发布会"), "the campaign's own name");
    // A lead at the booth, and a cost entry: both reach HQ's figures.
    let resp = client
        .post(format!("{}/f/hq-launch", booth.base))
        .json(&lead(&mobile(7), "王芳"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = admin(
        reqwest::Method::POST,
        &booth.base,
        "/api/campaigns/hq-launch/costs",
    )
    .json(&json!({"amount": "800", "incurred_on": "2025-06-01"}))
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 201);
    let cost: Value = resp.json().await.unwrap();
    let costs_at_hq = || async {
        let resp = admin(
            reqwest::Method::GET,
            &hq.base,
            "/api/campaigns/hq-launch/costs",
        )
        .send()
        .await
        .ok()?;
        let body: Value = resp.json().await.ok()?;
        Some(body)
    };
    eventually(
        Duration::from_secs(5),
        "the booth's cost entry at HQ",
        || async {
            let body = costs_at_hq().await?;
            body.to_string()
                .contains(cost["id"].as_str()?)
                .then_some(())
        },
    )
    .await;
    // Deleted at HQ, where the booth made it: deleted everywhere.
    let resp = admin(
        reqwest::Method::DELETE,
        &hq.base,
        &format!(
            "/api/campaigns/hq-launch/costs/{}",
            cost["id"].as_str().unwrap()
        ),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 204);
    eventually(
        Duration::from_secs(5),
        "the deletion at the booth",
        || async {
            let resp = admin(
                reqwest::Method::GET,
                &booth.base,
                "/api/campaigns/hq-launch/costs",
            )
            .send()
            .await
            .ok()?;
            let body: Value = resp.json().await.ok()?;
            (!body.to_string().contains(cost["id"].as_str()?)).then_some(())
        },
    )
    .await;
}

/// The CRM posts every conversion to HQ: one whose contact left a lead only at the booth
/// is matched there through PostgreSQL, reaches the booth, and counts in both reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversion_matches_a_lead_on_another_node() {
    let Some(cluster) = cluster_or_skip("a conversion matches another node's lead") else {
        return;
    };
    // Conversions are checked against the system clock: each happens just after the lead.
    let soon = || jiff::Timestamp::now().to_string();
    let hq = spawn_app_with(replicating(&cluster, "hq")).await;
    let booth = spawn_app_with(replicating(&cluster, "booth")).await;
    hq.create_campaign("expo", json!({"name": "Expo"})).await;
    eventually(LIMIT, "the campaign at the booth", || async {
        (booth.admin_get("/api/campaigns/expo").await.status() == 200).then_some(())
    })
    .await;
    let lead_id = booth.submit_json_ok("expo", &lead(&mobile(3), "Li")).await;
    crate::replication::wait_for_state(&booth, "ok").await;
    // By phone and by lead id: neither names a lead at HQ.
    let by_phone = hq
        .post_conversion(
            &json!({"id": "crm-1", "phone": mobile(3), "stage": "won", "amount": "900",
                    "occurred_at": soon()}),
            201,
        )
        .await;
    assert_eq!(by_phone["contact"], format!("+86{}", mobile(3)));
    let by_id = hq
        .post_conversion(
            &json!({"id": "crm-2", "lead_id": lead_id, "stage": "deal",
                    "occurred_at": soon()}),
            201,
        )
        .await;
    assert_eq!(by_id["lead_id"], json!(lead_id));
    // Nobody anywhere: still refused.
    let resp = hq
        .admin_post(
            "/api/conversions",
            &json!({"id": "crm-3", "phone": mobile(4), "stage": "deal",
                    "occurred_at": soon()}),
        )
        .await;
    crate::helpers::assert_error(resp, 422, Some("phone")).await;
    // A CSV import at HQ matches the same way.
    let summary = hq
        .import_conversions_csv(&format!(
            "id,phone,stage,amount,occurred_at\r\ncrm-4,{},won,100,{}\r\n",
            mobile(3),
            soon()
        ))
        .await;
    assert_eq!(summary["imported"], 1, "{summary}");
    crate::replication::wait_for_state(&hq, "ok").await;

    // The booth has them, and credits its own lead with them.
    let revenue = eventually(LIMIT, "the conversions at the booth", || async {
        let report = booth.roi("").await;
        let row = crate::helpers::roi_row(&report, "expo").clone();
        (crate::helpers::num(&row["orders"]) == 2.0).then_some(row["revenue"].clone())
    })
    .await;
    assert_eq!(revenue, "1000.00");
    let all = hq.roi("scope=all").await;
    assert_eq!(crate::helpers::roi_row(&all, "expo")["revenue"], "1000.00");
    crate::helpers::assert_num(crate::helpers::roi_row(&all, "expo"), "deals", 3.0);
}
