//! Erasure across nodes (API.md, "Privacy and backups" with "Several nodes"): an erasure
//! made on one node erases the person everywhere — every node's lead rows and the
//! conversions' contact in PostgreSQL, the events stored there, and the leads and the
//! copies of the conversions on every other connected node, out of its files too — while
//! the ROI summary over every node stays as it was.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, json_body, lead, merge, spawn_app_with};
use crate::postgres::{Cluster, cluster_or_skip, eventually};
use crate::privacy::{TestClock, found_on_disk, sha256_hex};
use crate::replication::{replicating, wait_for_state};

/// API.md allows 60 s for the files; PostgreSQL and the other node hear of an erasure
/// within a few pull periods. The tests allow generous time on a shared machine.
const LIMIT: Duration = Duration::from_secs(40);

/// A replicating node that rewrites its store soon after an erasure (the default waits
/// 20 s so that erasures close together share a rewrite).
async fn node(cluster: &Cluster, name: &str) -> TestApp {
    spawn_app_with(settings(cluster, name)).await
}

fn settings(cluster: &Cluster, name: &str) -> impl FnOnce(&mut leadgate::config::Config) + use<> {
    let replicate = replicating(cluster, name);
    move |config| {
        replicate(config);
        rewrite_soon(config);
    }
}

/// The store rewritten 300 ms after an erasure, and erasures' work checked every 50 ms.
fn rewrite_soon(config: &mut leadgate::config::Config) {
    config.rewrite_delay = Duration::from_millis(300);
    config.privacy_tick = Duration::from_millis(50);
}

/// The campaign every test here uses.
async fn create_expo(app: &TestApp) {
    app.create_campaign("expo", json!({"name": "Expo", "currency": "CNY"}))
        .await;
}

/// A replicating node (see `node`) that created the campaign `expo`.
async fn node_with_expo(cluster: &Cluster, name: &str) -> TestApp {
    let app = node(cluster, name).await;
    create_expo(&app).await;
    app
}

/// Two nodes sharing the campaign `expo`.
async fn two_nodes(cluster: &Cluster) -> (TestApp, TestApp) {
    let node1 = node_with_expo(cluster, "node1").await;
    let node2 = node(cluster, "node2").await;
    eventually(LIMIT, "the campaign on node2", || async {
        (node2.admin_get("/api/campaigns/expo").await.status() == 200).then_some(())
    })
    .await;
    (node1, node2)
}

/// Each row of every table in the `leadgate` schema, as text, that holds `needle`.
async fn rows_holding(client: &tokio_postgres::Client, needle: &str) -> Vec<String> {
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'leadgate' AND table_type = 'BASE TABLE'",
            &[],
        )
        .await
        .expect("list the schema's tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut found = Vec::new();
    for table in tables {
        let sql =
            format!("SELECT t::text FROM leadgate.{table} AS t WHERE strpos(t::text, $1) > 0");
        for row in client.query(&sql, &[&needle]).await.expect("scan a table") {
            found.push(format!("{table}: {}", row.get::<_, String>(0)));
        }
    }
    found
}

/// Waits until no PostgreSQL row holds `needle`.
async fn wait_until_gone_from_postgres(client: &tokio_postgres::Client, needle: &str) {
    let mut left = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed() < LIMIT {
        left = rows_holding(client, needle).await;
        if left.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{needle} still in PostgreSQL: {left:#?}");
}

/// Waits until no file under the node's data directory holds any of `values`.
async fn wait_until_gone_from_files(app: &TestApp, values: &[&str]) {
    let dir = app._dir.path();
    let started = std::time::Instant::now();
    loop {
        let left = found_on_disk(dir, values);
        if left.is_empty() {
            return;
        }
        assert!(started.elapsed() < LIMIT, "still on disk: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn roi_all(app: &TestApp) -> Value {
    let (status, body) = json_body(app.admin_get("/api/roi?scope=all").await).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The ROI rows with the fields the data decide (not when the report was made).
fn rows(report: &Value) -> Value {
    report["rows"].clone()
}

/// Erases `person` (`{"phone": …}` or `{"email": …}`) on `app`; its receipt.
async fn erase(app: &TestApp, person: Value) -> Value {
    let (status, body) = json_body(app.admin_post("/api/erasures", &person).await).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// On `app`, the two contacts one address makes: a lead with the address alone (keyed by
/// it), then one with the phone `digits` and the address (keyed by the phone).
async fn two_contacts_of_one_address(app: &TestApp, email: &str, digits: &str) {
    app.submit_json_ok(
        "expo",
        &json!({"email": email, "name": "Mail Only", "consent": true}),
    )
    .await;
    app.submit_json_ok(
        "expo",
        &merge(lead(digits, "Phone And Mail"), json!({"email": email})),
    )
    .await;
}

#[tokio::test]
async fn an_erasure_on_one_node_erases_the_conversion_everywhere() {
    let Some(cluster) = cluster_or_skip("an erasure reaches every node") else {
        return;
    };
    let (node1, node2) = two_nodes(&cluster).await;
    let pg = cluster.client().await;
    let typed = "138 2222 0001";
    let digits = "13822220001";
    node1
        .submit_json_ok("expo", &lead(typed, "Erasable Person"))
        .await;
    let conversion = node1
        .post_conversion(
            &json!({"id": "e1", "phone": typed, "stage": "won", "amount": "500",
                    "occurred_at": jiff::Timestamp::now().to_string()}),
            201,
        )
        .await;
    assert_eq!(conversion["contact"], "+8613822220001");
    wait_for_state(&node1, "ok").await;
    eventually(LIMIT, "the conversion on node2", || async {
        (node2.admin_get("/api/conversions/e1").await.status() == 200).then_some(())
    })
    .await;
    let before = rows(&roi_all(&node1).await);
    assert!(
        !rows_holding(&pg, digits).await.is_empty(),
        "the scan finds it"
    );
    assert!(!found_on_disk(node2._dir.path(), &[digits]).is_empty());

    let receipt = erase(&node1, json!({"phone": typed})).await;
    assert_eq!(
        (receipt["leads"].clone(), receipt["conversions"].clone()),
        (json!(1), json!(1))
    );

    wait_until_gone_from_postgres(&pg, digits).await;
    let on_node2 = eventually(LIMIT, "the conversion unlinked on node2", || async {
        let (_, body) = json_body(node2.admin_get("/api/conversions/e1").await).await;
        (!body.to_string().contains(digits)).then_some(body)
    })
    .await;
    assert_eq!(on_node2["stage"], "won", "{on_node2}");
    assert_eq!(on_node2["amount"], conversion["amount"], "{on_node2}");
    wait_until_gone_from_files(&node1, &[digits]).await;
    wait_until_gone_from_files(&node2, &[digits]).await;
    assert_eq!(
        rows(&roi_all(&node1).await),
        before,
        "ROI over every node unchanged"
    );
    assert_eq!(rows(&roi_all(&node2).await), before);
}

#[tokio::test]
async fn an_erasure_on_one_node_erases_the_contacts_leads_on_every_node() {
    let Some(cluster) = cluster_or_skip("an erasure reaches every node's leads") else {
        return;
    };
    let (node1, node2) = two_nodes(&cluster).await;
    let pg = cluster.client().await;
    let digits = "13811110001";
    let kept = "13911110002";
    node1
        .submit_json_ok("expo", &lead(digits, "First Visit"))
        .await;
    let elsewhere = node2
        .submit_json_ok("expo", &lead(digits, "Second Visit"))
        .await;
    node2
        .submit_json_ok("expo", &lead(kept, "Someone Else"))
        .await;
    wait_for_state(&node1, "ok").await;
    wait_for_state(&node2, "ok").await;
    let before = rows(&roi_all(&node1).await);

    let receipt = erase(&node1, json!({"phone": digits})).await;
    let answered = std::time::Instant::now();
    assert_eq!(receipt["leads"], 1, "node1 holds one of the two: {receipt}");

    wait_until_gone_from_postgres(&pg, digits).await;
    wait_until_gone_from_postgres(&pg, "Second Visit").await;
    let in_postgres = answered.elapsed();
    let erased: bool = pg
        .query_one(
            "SELECT erased FROM leadgate.leads WHERE id = $1",
            &[&elsewhere],
        )
        .await
        .unwrap()
        .get(0);
    assert!(erased, "node2's lead row is marked erased");
    eventually(LIMIT, "node2's lead gone from node2", || async {
        let status = node2
            .admin_get(&format!("/api/leads/{elsewhere}"))
            .await
            .status();
        matches!(status.as_u16(), 404 | 410).then_some(())
    })
    .await;
    let on_node2 = answered.elapsed();
    let listed: Vec<String> = node2
        .all_leads("expo")
        .await
        .iter()
        .map(|l| l["phone"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        listed,
        vec![format!("+86{kept}")],
        "only the other person is left"
    );
    // node2 notes the erasure, as one that came from the other node.
    let (_, receipts) = json_body(node2.admin_get("/api/erasures").await).await;
    let receipts = receipts["erasures"].as_array().cloned().unwrap_or_default();
    assert!(
        receipts
            .iter()
            .any(|r| r["contact"] == receipt["contact"] && r["reason"] == "replicated"),
        "{receipts:?}"
    );
    wait_until_gone_from_files(&node1, &[digits, "First Visit"]).await;
    wait_until_gone_from_files(&node2, &[digits, "Second Visit"]).await;
    eprintln!(
        "erasure on node1 -> PostgreSQL clean in {in_postgres:?}, node2's lead gone in \
         {on_node2:?}, node2's files clean in {:?} (rewrite delay 300 ms)",
        answered.elapsed()
    );
    assert_eq!(
        found_on_disk(node2._dir.path(), &[kept]).len(),
        1,
        "the scan is not vacuous"
    );
    assert_eq!(
        rows(&roi_all(&node1).await),
        before,
        "ROI over every node unchanged"
    );
    // A second erasure anywhere finds nobody.
    let resp = node2
        .admin_post("/api/erasures", &json!({"phone": digits}))
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn a_node_that_was_stopped_during_the_erasure_erases_its_copy_when_it_is_back() {
    let Some(cluster) = cluster_or_skip("an erasure reaches a node back from a stop") else {
        return;
    };
    let (node1, node2) = two_nodes(&cluster).await;
    let pg = cluster.client().await;
    let digits = "13833330001";
    let elsewhere = node2
        .submit_json_ok("expo", &lead(digits, "Away Visit"))
        .await;
    node1
        .submit_json_ok("expo", &lead(digits, "Home Visit"))
        .await;
    wait_for_state(&node2, "ok").await;
    wait_for_state(&node1, "ok").await;
    let dir = node2.stop().await;

    erase(&node1, json!({"phone": digits})).await;
    wait_until_gone_from_postgres(&pg, digits).await;
    // Still on node2's disk while it is stopped: the scan would see it.
    assert!(!found_on_disk(dir.path(), &[digits]).is_empty());

    let node2 = crate::helpers::spawn_app_in(dir, settings(&cluster, "node2")).await;
    eventually(LIMIT, "node2's lead erased after its start", || async {
        let status = node2
            .admin_get(&format!("/api/leads/{elsewhere}"))
            .await
            .status();
        matches!(status.as_u16(), 404 | 410).then_some(())
    })
    .await;
    wait_until_gone_from_files(&node2, &[digits, "Away Visit"]).await;
    wait_for_state(&node2, "ok").await;
    assert!(rows_holding(&pg, digits).await.is_empty());
}

/// A node that serves before it replicates (its leads are not in PostgreSQL yet), with
/// the campaign `expo`, rewriting its store soon after an erasure.
async fn node_not_replicating_yet() -> TestApp {
    let app = spawn_app_with(rewrite_soon).await;
    create_expo(&app).await;
    app
}

/// Starts the stopped node in `dir` again as node2, now replicating: its history ships
/// `late`, a lead of a person erased on another node meanwhile, which arrives erased and is
/// erased on node2 too, none of `values` left in PostgreSQL or in node2's files.
async fn late_lead_is_erased_when_it_ships(
    cluster: &Cluster,
    dir: tempfile::TempDir,
    late: &str,
    values: &[&str],
) {
    let node2 = crate::helpers::spawn_app_in(dir, settings(cluster, "node2")).await;
    let pg = cluster.client().await;
    eventually(LIMIT, "node2's late lead in PostgreSQL, erased", || async {
        let row = pg
            .query_opt("SELECT erased FROM leadgate.leads WHERE id = $1", &[&late])
            .await
            .ok()??;
        row.get::<_, bool>(0).then_some(())
    })
    .await;
    for value in values {
        wait_until_gone_from_postgres(&pg, value).await;
    }
    eventually(LIMIT, "node2's late lead erased on node2", || async {
        let status = node2
            .admin_get(&format!("/api/leads/{late}"))
            .await
            .status();
        matches!(status.as_u16(), 404 | 410).then_some(())
    })
    .await;
    wait_until_gone_from_files(&node2, values).await;
}

#[tokio::test]
async fn a_lead_shipped_after_the_erasure_is_erased_on_arrival_and_on_its_node() {
    let Some(cluster) = cluster_or_skip("a late lead of an erased person") else {
        return;
    };
    let digits = "13844440001";
    let node2 = node_not_replicating_yet().await;
    let late = node2
        .submit_json_ok("expo", &lead(digits, "Late Visit"))
        .await;
    let dir = node2.stop().await;
    let node1 = node_with_expo(&cluster, "node1").await;
    node1
        .submit_json_ok("expo", &lead(digits, "Early Visit"))
        .await;
    wait_for_state(&node1, "ok").await;
    erase(&node1, json!({"phone": digits})).await;
    wait_until_gone_from_postgres(&cluster.client().await, digits).await;
    // Now node2 replicates: its history ships, with the lead the erasure did not reach.
    late_lead_is_erased_when_it_ships(&cluster, dir, &late, &[digits, "Late Visit"]).await;
}

/// Retention is each node's own rule (it erases no other node's leads), but what it erases
/// leaves PostgreSQL as a request's erasure does: the leads' rows are blanked and the
/// conversions of a contact erased whole keep amount and stage but no longer name the
/// person, in `leadgate.conversions` and in the stored events alike.
#[tokio::test]
async fn a_retention_erasure_unlinks_the_contacts_conversions_in_postgres() {
    let Some(cluster) = cluster_or_skip("retention unlinks conversions in PostgreSQL") else {
        return;
    };
    let clock = TestClock::now();
    let node1 = spawn_app_with({
        let replicate = settings(&cluster, "node1");
        let clock = clock.clock();
        move |config| {
            replicate(config);
            config.clock = clock;
            config.retain_days = Some(30);
        }
    })
    .await;
    create_expo(&node1).await;
    let digits = "13855550001";
    node1
        .submit_json_ok("expo", &lead(digits, "Retained Person"))
        .await;
    node1
        .post_conversion(
            &json!({"id": "r1", "phone": digits, "stage": "won", "amount": "800",
                    "occurred_at": clock.clock().now().to_string()}),
            201,
        )
        .await;
    wait_for_state(&node1, "ok").await;
    let pg = cluster.client().await;
    assert!(
        rows_holding(&pg, digits)
            .await
            .iter()
            .any(|row| row.starts_with("conversions:")),
        "the conversion names the person in PostgreSQL before"
    );
    let before = rows(&roi_all(&node1).await);

    // A day past the retention period, the next daily round erases the person here.
    clock.advance(Duration::from_secs(31 * 24 * 3600));
    let receipt = eventually(LIMIT, "the retention erasure", || async {
        let (_, list) = json_body(node1.admin_get("/api/erasures").await).await;
        list["erasures"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(receipt["reason"], "retention", "{receipt}");
    assert_eq!(receipt["conversions"], 1, "{receipt}");

    wait_until_gone_from_postgres(&pg, digits).await;
    let row = pg
        .query_one(
            "SELECT record->>'stage', record->>'amount', record->>'lead_id',
                 record->>'contact', record->>'contact_hash'
             FROM leadgate.conversions WHERE id = 'r1'",
            &[],
        )
        .await
        .expect("the conversion is kept");
    let (stage, amount): (String, String) = (row.get(0), row.get(1));
    assert_eq!((stage.as_str(), amount.as_str()), ("won", "800.00"));
    assert_eq!(row.get::<_, Option<String>>(2), None, "no lead named");
    assert!(row.get::<_, String>(3).starts_with("erased-"));
    assert_eq!(
        row.get::<_, String>(4),
        receipt["contact"].as_str().unwrap(),
        "the hash the leads keep, so the report over every node credits as before"
    );
    assert_eq!(
        rows(&roi_all(&node1).await),
        before,
        "ROI over every node unchanged"
    );
}

/// An erasure by e-mail that finds two contacts here (the phone the address last came
/// with, and the address itself from a lead without a phone) reaches both everywhere:
/// another node's e-mail-only lead of the person and its conversion go too.
#[tokio::test]
async fn an_erasure_by_email_of_two_contacts_reaches_both_on_every_node() {
    let Some(cluster) = cluster_or_skip("an e-mail erasure of two contacts") else {
        return;
    };
    let (node1, node2) = two_nodes(&cluster).await;
    let pg = cluster.client().await;
    let email = "two.contacts@example.com";
    let digits = "13866660001";
    two_contacts_of_one_address(&node1, email, digits).await;
    let elsewhere = node2
        .submit_json_ok(
            "expo",
            &json!({"email": email, "name": "Mail Elsewhere", "consent": true}),
        )
        .await;
    node2
        .post_conversion(
            &json!({"id": "m1", "lead_id": elsewhere, "stage": "won", "amount": "300",
                    "occurred_at": jiff::Timestamp::now().to_string()}),
            201,
        )
        .await;
    wait_for_state(&node1, "ok").await;
    wait_for_state(&node2, "ok").await;
    // node1's copy of the conversion is unlinked by its own erasure, and listed in it.
    eventually(LIMIT, "the conversion on node1", || async {
        (node1.admin_get("/api/conversions/m1").await.status() == 200).then_some(())
    })
    .await;
    let before = rows(&roi_all(&node1).await);

    let receipt = erase(&node1, json!({"email": email})).await;
    assert_eq!(receipt["leads"], 2, "both contacts here: {receipt}");
    assert_eq!(receipt["conversions"], 1, "{receipt}");

    for gone in [email, digits, "Mail Elsewhere"] {
        wait_until_gone_from_postgres(&pg, gone).await;
    }
    eventually(
        LIMIT,
        "node2's lead of the address erased on node2",
        || async {
            let status = node2
                .admin_get(&format!("/api/leads/{elsewhere}"))
                .await
                .status();
            matches!(status.as_u16(), 404 | 410).then_some(())
        },
    )
    .await;
    let order = eventually(LIMIT, "node2's conversion unlinked", || async {
        let (_, body) = json_body(node2.admin_get("/api/conversions/m1").await).await;
        body["contact"]
            .as_str()?
            .starts_with("erased-")
            .then_some(body)
    })
    .await;
    assert_eq!(order["stage"], "won", "{order}");
    // In PostgreSQL it keeps the hash of the contact it belonged to (the address's, not
    // the phone's the receipt names), so reports over every node credit the same leads.
    let kept: String = pg
        .query_one(
            "SELECT record->>'contact_hash' FROM leadgate.conversions WHERE id = 'm1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, sha256_hex(email));
    assert_ne!(receipt["contact"], json!(kept));
    wait_until_gone_from_files(&node2, &[email, "Mail Elsewhere"]).await;
    assert_eq!(
        rows(&roi_all(&node1).await),
        before,
        "ROI over every node unchanged"
    );
}

/// A lead of the second contact an e-mail erasure found, shipped after it by a node that
/// was not replicating yet, is erased on arrival and on its node, like one of the first.
#[tokio::test]
async fn a_late_lead_of_the_second_contact_of_an_email_erasure_is_erased_too() {
    let Some(cluster) = cluster_or_skip("a late lead of an e-mail erasure's second contact") else {
        return;
    };
    let email = "late.second@example.com";
    let node2 = node_not_replicating_yet().await;
    let late = node2
        .submit_json_ok(
            "expo",
            &json!({"email": email, "name": "Late Mail", "consent": true}),
        )
        .await;
    let dir = node2.stop().await;
    let node1 = node_with_expo(&cluster, "node1").await;
    two_contacts_of_one_address(&node1, email, "13877770001").await;
    wait_for_state(&node1, "ok").await;
    erase(&node1, json!({"email": email})).await;
    wait_until_gone_from_postgres(&cluster.client().await, email).await;
    late_lead_is_erased_when_it_ships(&cluster, dir, &late, &[email, "Late Mail"]).await;
}
