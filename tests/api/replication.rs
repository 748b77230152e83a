//! Replication to PostgreSQL (API.md, "Several nodes: PostgreSQL"), against real
//! PostgreSQL clusters (`postgres.rs`): every acknowledged lead lands in
//! `leadgate.leads` exactly once, events are numbered 1..n without gaps, and neither
//! PostgreSQL going away nor the node being killed loses or doubles anything.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, json_body, lead, mobile, spawn_app_with};
use crate::postgres::{Cluster, cluster_or_skip, eventually};

/// API.md: while PostgreSQL is reachable a lead is there within 2 s. The tests allow more
/// (two cores shared with other test binaries) and report what they measured.
const LIMIT: Duration = Duration::from_secs(20);

pub fn replicating(
    cluster: &Cluster,
    node: &str,
) -> impl FnOnce(&mut leadgate::config::Config) + use<> {
    replicating_to(&cluster.url(), node)
}

/// As [`replicating`], to the database `url` names (with its TLS settings).
pub fn replicating_to(url: &str, node: &str) -> impl FnOnce(&mut leadgate::config::Config) + use<> {
    let target = leadgate::replica::Target::parse(url).expect("the test URL parses");
    let node = node.to_owned();
    move |config| {
        config.replicate = Some(target);
        config.node_id = node;
        config.rate_limit = None;
        config.replica_retry_delays = vec![Duration::from_millis(50), Duration::from_millis(200)];
        config.replica_heartbeat = Duration::from_millis(100);
        config.replica_pull_every = Duration::from_millis(100);
        // Batches of a few events: a test's leads make a backlog of several, shipped one
        // after another with the next read ahead, as a node catching up ships them.
        config.replica_batch = 7;
    }
}

pub async fn replication(app: &TestApp) -> Value {
    let (status, body) = json_body(app.admin_get("/api/replication").await).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until the node says `state` with nothing left to ship (`ok`), or just `state`.
pub async fn wait_for_state(app: &TestApp, state: &str) -> Value {
    eventually(LIMIT, &format!("/api/replication says {state}"), || async {
        let body = replication(app).await;
        let settled = state != "ok" || body["lag_events"] == 0;
        (body["state"] == state && settled).then_some(body)
    })
    .await
}

/// `node`'s leads in PostgreSQL: id → (node, status), and how many rows there are in all.
async fn pg_leads(client: &tokio_postgres::Client) -> (BTreeMap<String, (String, String)>, usize) {
    let rows = client
        .query("SELECT id, node, status FROM leadgate.leads", &[])
        .await
        .expect("read leadgate.leads");
    let count = rows.len();
    let leads = rows
        .iter()
        .map(|r| (r.get::<_, String>(0), (r.get(1), r.get(2))))
        .collect();
    (leads, count)
}

/// `node`'s event numbers in PostgreSQL, in order.
async fn pg_seqs(client: &tokio_postgres::Client, node: &str) -> Vec<i64> {
    client
        .query(
            "SELECT seq FROM leadgate.events WHERE node = $1 ORDER BY seq",
            &[&node],
        )
        .await
        .expect("read leadgate.events")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn pg_node_seq(client: &tokio_postgres::Client, node: &str) -> Option<i64> {
    client
        .query_opt("SELECT seq FROM leadgate.nodes WHERE node = $1", &[&node])
        .await
        .expect("read leadgate.nodes")
        .map(|r| r.get(0))
}

/// How many of `node`'s events in PostgreSQL are about leads (the others carry its
/// campaigns, costs, conversions and counters).
async fn pg_lead_events(client: &tokio_postgres::Client, node: &str) -> usize {
    let count: i64 = client
        .query_one(
            "SELECT count(*) FROM leadgate.events WHERE node = $1 AND type LIKE 'lead.%'",
            &[&node],
        )
        .await
        .expect("read leadgate.events")
        .get(0);
    count as usize
}

/// 1, 2, …, n without gaps or repeats.
fn assert_gapless(seqs: &[i64], what: &str) {
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "{what}: events numbered 1..n");
}

/// Waits until PostgreSQL holds exactly `expected` leads (and says how long it took).
async fn wait_for_leads(client: &tokio_postgres::Client, expected: usize) -> Duration {
    let started = std::time::Instant::now();
    eventually(
        LIMIT,
        &format!("{expected} leads in PostgreSQL"),
        || async {
            // Before the node's first contact the schema does not exist yet.
            let count: i64 = client
                .query_one("SELECT count(*) FROM leadgate.leads", &[])
                .await
                .ok()?
                .get(0);
            (count as usize >= expected).then_some(())
        },
    )
    .await;
    started.elapsed()
}

#[test]
fn a_url_with_unusable_tls_settings_is_refused_at_start_without_showing_its_password() {
    let data = tempfile::tempdir().unwrap();
    for url in [
        "postgres://lg:hunter2-secret@db.example/leads?sslmode=sometimes",
        "postgres://lg:hunter2-secret@db.example/leads?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ] {
        let mut command = crate::process::serve_command(data.path());
        command.env("LEADGATE_REPLICATE", url);
        let (ok, stderr) = crate::process::run_to_exit(command);
        assert!(!ok, "must not start: {url}");
        assert!(stderr.contains("replicate: ssl"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    let mut command = crate::process::serve_command(data.path());
    command.args(["--replicate", "mysql://nope"]);
    let (ok, stderr) = crate::process::run_to_exit(command);
    assert!(!ok);
    assert!(stderr.contains("replicate"), "{stderr}");
}

/// While catching up, two batches ship at once on two connections, the second waiting
/// for the first's commit. When the first fails, the second must ship nothing (its events
/// would land above a gap, and the first's would then never ship). PostgreSQL refuses
/// one lead of the first batch once; the node tries again and every lead arrives once,
/// its events numbered without gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_first_of_two_batches_fails_the_second_ships_nothing() {
    let Some(cluster) = cluster_or_skip("replication_second_batch") else {
        return;
    };
    let app = spawn_app_with(replicating(&cluster, "hq")).await;
    app.create_campaign("expo", json!({})).await;
    let pg = cluster.client().await;
    // Migrated, and the campaign shipped.
    wait_for_state(&app, "ok").await;
    pg.batch_execute(
        "CREATE SEQUENCE public.refusals;
         CREATE FUNCTION public.refuse_once() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.name = '拒绝' AND nextval('public.refusals') = 1 THEN
                 RAISE EXCEPTION 'refused once by the test';
             END IF;
             RETURN NEW;
         END
         $$;
         CREATE TRIGGER refuse_once BEFORE INSERT ON leadgate.leads
             FOR EACH ROW EXECUTE FUNCTION public.refuse_once();",
    )
    .await
    .unwrap();
    // One import, one writer transaction: 30 events at once, batches of 7, the third
    // lead (refused) in the first.
    let rows: String = (0..30)
        .map(|n| {
            format!(
                "expo,{},{}\n",
                mobile(n),
                if n == 2 { "拒绝" } else { "张伟" }
            )
        })
        .collect();
    let summary = app
        .import_leads_csv(&format!("campaign,phone,name\n{rows}"))
        .await;
    assert_eq!(summary["imported"], 30, "{summary}");
    wait_for_leads(&pg, 30).await;
    wait_for_state(&app, "ok").await;
    let (leads, rows) = pg_leads(&pg).await;
    assert_eq!((leads.len(), rows), (30, 30), "each lead once");
    let seqs = pg_seqs(&pg, "hq").await;
    assert_gapless(&seqs, "hq");
    assert_eq!(pg_node_seq(&pg, "hq").await, Some(seqs.len() as i64));
    assert_eq!(pg_lead_events(&pg, "hq").await, 30);
    let tries: i64 = pg
        .query_one("SELECT last_value FROM public.refusals", &[])
        .await
        .unwrap()
        .get(0);
    assert!(tries >= 2, "the refused lead was refused, then shipped");
}

/// The second of two batches shipped at once writes its leads before the first commits,
/// unless the first carries one of them: then that transaction would wait for the
/// second's row while the second waits for its commit, a deadlock PostgreSQL breaks by
/// failing one. A lead created in the first batch and changed in the second, the first
/// slowed down by PostgreSQL: no deadlock, the row in its latest state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_in_both_of_two_batches_shipped_at_once_deadlocks_nothing() {
    let Some(cluster) = cluster_or_skip("replication_shared_lead") else {
        return;
    };
    let app = spawn_app_with(replicating(&cluster, "hq")).await;
    app.create_campaign("expo", json!({})).await;
    wait_for_state(&app, "ok").await;
    let pg = cluster.client().await;
    // The first batch takes its time over one lead, before it writes the next.
    pg.batch_execute(
        "CREATE FUNCTION public.slowly() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.name = '慢' THEN PERFORM pg_sleep(0.5); END IF;
             RETURN NEW;
         END
         $$;
         CREATE TRIGGER slowly BEFORE INSERT ON leadgate.leads
             FOR EACH ROW EXECUTE FUNCTION public.slowly();",
    )
    .await
    .unwrap();
    let shipped = pg_node_seq(&pg, "hq").await.expect("the campaign shipped");
    drop(pg);
    cluster.crash();
    wait_for_state(&app, "offline").await;
    app.submit_json_ok("expo", &lead(&mobile(1), "慢")).await;
    let shared = app.submit_json_ok("expo", &lead(&mobile(2), "王芳")).await;
    let statuses = [
        "mql", "sql", "mql", "sql", "mql", "sql", "mql", "sql", "mql", "new",
    ];
    for status in statuses {
        let resp = app
            .admin_patch(&format!("/api/leads/{shared}"), &json!({"status": status}))
            .await;
        assert_eq!(resp.status(), 200);
    }
    cluster.start_again();
    wait_for_state(&app, "ok").await;
    let pg = cluster.client().await;
    // Batches of 7, two at a time: the lead's events are in both of the first two.
    let seqs: Vec<i64> = pg
        .query(
            "SELECT seq FROM leadgate.events WHERE data->>'id' = $1 ORDER BY seq",
            &[&shared],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let first = shipped + 1..=shipped + 7;
    let second = shipped + 8..=shipped + 14;
    assert!(
        seqs.iter().any(|s| first.contains(s)) && seqs.iter().any(|s| second.contains(s)),
        "the lead's events {seqs:?} are in both batches after {shipped}"
    );
    // PostgreSQL logs a deadlock when it breaks one (by then the node had not caught up).
    let log = cluster.server_log();
    assert!(
        !log.contains("deadlock detected"),
        "no transaction of the node's waited in a circle:\n{log}"
    );
    let (leads, rows) = pg_leads(&pg).await;
    assert_eq!((leads.len(), rows), (2, 2));
    assert_eq!(leads[&shared].1, "new", "its latest state");
    assert_gapless(&pg_seqs(&pg, "hq").await, "hq");
}

#[tokio::test]
async fn without_replicate_the_status_says_not_configured() {
    let app = spawn_app_with(|_| {}).await;
    let (status, body) = json_body(app.admin_get("/api/replication").await).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "not_configured");
    let unauthorized = app
        .client
        .get(app.url("/api/replication"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let overview = crate::console::page(&app, "/admin").await;
    assert!(
        !overview.contains("id=\"replication\""),
        "no replication line on a node that does not replicate"
    );
}

#[tokio::test]
async fn every_acknowledged_lead_is_in_postgres_once_with_events_numbered_without_gaps() {
    let Some(cluster) = cluster_or_skip("replication_every_lead_once") else {
        return;
    };
    let app = spawn_app_with(replicating(&cluster, "hq")).await;
    app.create_campaign("expo", json!({})).await;
    let mut acked = BTreeSet::new();
    for n in 0..40 {
        acked.insert(app.submit_json_ok("expo", &lead(&mobile(n), "张伟")).await);
    }
    let pg = cluster.client().await;
    let took = wait_for_leads(&pg, acked.len()).await;
    eprintln!("40 leads in PostgreSQL {took:?} after the last was acknowledged");
    let (leads, rows) = pg_leads(&pg).await;
    assert_eq!(rows, acked.len(), "each lead once");
    assert_eq!(leads.keys().cloned().collect::<BTreeSet<_>>(), acked);
    assert!(
        leads
            .values()
            .all(|(node, status)| node == "hq" && status == "new")
    );
    let seqs = pg_seqs(&pg, "hq").await;
    assert_gapless(&seqs, "hq");
    assert_eq!(pg_lead_events(&pg, "hq").await, 40, "one lead.created each");
    assert_eq!(pg_node_seq(&pg, "hq").await, Some(seqs.len() as i64));

    // The row carries the lead as the API shows it.
    let id = acked.iter().next().unwrap();
    let row = pg
        .query_one(
            "SELECT campaign, phone, name, erased, received_at IS NOT NULL, source
             FROM leadgate.leads WHERE id = $1",
            &[id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "expo");
    assert!(row.get::<_, String>(1).starts_with("+86138"));
    assert_eq!(row.get::<_, String>(2), "张伟");
    assert!(!row.get::<_, bool>(3));
    assert!(row.get::<_, bool>(4));

    let status = wait_for_state(&app, "ok").await;
    assert_eq!(status["node"], "hq");
    assert_eq!(status["target"], "postgres");
    assert_eq!(status["last_error"], Value::Null);
    assert!(status["last_shipped_at"].is_string(), "{status}");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(&format!(
            "leadgate_replication_shipped_total {}",
            seqs.len()
        )),
        "{metrics}"
    );
    assert!(metrics.contains("leadgate_replication_lag_events 0"));
    assert!(metrics.contains("leadgate_replication_errors_total 0"));
    // Never the password or the URL's secrets anywhere.
    assert!(!status.to_string().contains("postgres://"));
}

#[tokio::test]
async fn a_status_change_updates_the_row() {
    let Some(cluster) = cluster_or_skip("replication_status_change") else {
        return;
    };
    let app = spawn_app_with(replicating(&cluster, "hq")).await;
    app.create_campaign("expo", json!({})).await;
    let id = app.submit_json_ok("expo", &lead(&mobile(7), "李娜")).await;
    let pg = cluster.client().await;
    wait_for_leads(&pg, 1).await;
    let resp = app
        .admin_patch(&format!("/api/leads/{id}"), &json!({"status": "mql"}))
        .await;
    assert_eq!(resp.status(), 200);
    eventually(LIMIT, "the row says mql", || async {
        let (leads, _) = pg_leads(&pg).await;
        (leads[&id].1 == "mql").then_some(())
    })
    .await;
    let types: Vec<String> = pg
        .query(
            "SELECT type FROM leadgate.events WHERE node = 'hq' AND type LIKE 'lead.%'
             ORDER BY seq",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(types, ["lead.created", "lead.updated"]);
    assert_eq!(pg_leads(&pg).await.1, 1, "updated, not inserted again");

    // A lead created and changed twice while PostgreSQL is away arrives in one batch:
    // one row, in its latest state.
    drop(pg);
    cluster.crash();
    // An idle node notices too (its heartbeat), before a lead has to.
    wait_for_state(&app, "offline").await;
    let second = app.submit_json_ok("expo", &lead(&mobile(8), "周杰")).await;
    for status in ["mql", "sql"] {
        let path = format!("/api/leads/{second}");
        let resp = app.admin_patch(&path, &json!({"status": status})).await;
        assert_eq!(resp.status(), 200);
    }
    cluster.start_again();
    wait_for_state(&app, "ok").await;
    let pg = cluster.client().await;
    let (leads, rows) = pg_leads(&pg).await;
    assert_eq!(rows, 2);
    assert_eq!(leads[&second].1, "sql");
    assert_eq!(leads[&id].1, "mql");
    assert_gapless(&pg_seqs(&pg, "hq").await, "hq");
}

#[tokio::test]
async fn two_nodes_share_one_database_each_lead_once_with_its_node() {
    let Some(cluster) = cluster_or_skip("replication_two_nodes") else {
        return;
    };
    // Both start at once: the schema is created once (the advisory lock), not raced.
    let (hq, booth) = tokio::join!(
        spawn_app_with(replicating(&cluster, "hq")),
        spawn_app_with(replicating(&cluster, "booth-1")),
    );
    hq.create_campaign("expo", json!({})).await;
    booth.create_campaign("expo", json!({})).await;
    let mut expected = BTreeMap::new();
    for n in 0..15 {
        let id = hq.submit_json_ok("expo", &lead(&mobile(n), "王芳")).await;
        expected.insert(id, "hq".to_owned());
        let id = booth
            .submit_json_ok("expo", &lead(&mobile(100 + n), "刘洋"))
            .await;
        expected.insert(id, "booth-1".to_owned());
    }
    let pg = cluster.client().await;
    wait_for_leads(&pg, expected.len()).await;
    let (leads, rows) = pg_leads(&pg).await;
    assert_eq!(rows, 30);
    let nodes: BTreeMap<String, String> = leads.into_iter().map(|(id, (n, _))| (id, n)).collect();
    assert_eq!(nodes, expected);
    for node in ["hq", "booth-1"] {
        let seqs = pg_seqs(&pg, node).await;
        assert_gapless(&seqs, node);
        assert_eq!(pg_lead_events(&pg, node).await, 15);
        assert_eq!(pg_node_seq(&pg, node).await, Some(seqs.len() as i64));
    }
    let versions: i64 = pg
        .query_one("SELECT count(*) FROM leadgate.migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        versions,
        i64::from(leadgate::replica::SCHEMA_VERSION),
        "each migration recorded once"
    );
}

/// `leadgate.first_leads` (contact → lead), in contact order.
async fn pg_first_leads(client: &tokio_postgres::Client) -> Vec<(String, String)> {
    client
        .query(
            "SELECT contact, lead FROM leadgate.first_leads ORDER BY contact",
            &[],
        )
        .await
        .expect("read leadgate.first_leads")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Each contact's first lead anywhere (earliest received, ties by lead id) is kept in
/// `leadgate.first_leads`: filled by the migration from the leads already there, and kept
/// by whatever writes leads afterwards, a node of an older build too, in any order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_contacts_first_lead_is_kept_whoever_writes_the_leads() {
    let Some(cluster) = cluster_or_skip("replication_first_leads") else {
        return;
    };
    let pg = cluster.client().await;
    let migrations = || async {
        pg.query_one("SELECT count(*) FROM leadgate.migrations", &[])
            .await
            .ok()
            .map(|r| r.get::<_, i64>(0))
    };
    let _a = spawn_app_with(replicating(&cluster, "a")).await;
    eventually(LIMIT, "the schema migrated", || async {
        (migrations().await == Some(i64::from(leadgate::replica::SCHEMA_VERSION))).then_some(())
    })
    .await;
    // As version 2 left a database an older build filled: leads there, no table yet
    // (version 4, applied again after 3, changes only how keys compare).
    pg.batch_execute(
        "DROP TABLE leadgate.first_leads;
         DROP FUNCTION leadgate.note_first_leads() CASCADE;
         DROP INDEX leadgate.leads_touches;
         CREATE INDEX leads_contact ON leadgate.leads (contact, received_at, id);
         DELETE FROM leadgate.migrations WHERE version >= 3;",
    )
    .await
    .unwrap();
    let insert = |rows: &'static str| {
        format!(
            "INSERT INTO leadgate.leads (id, node, campaign, received_at, contact) VALUES {rows}"
        )
    };
    // Contact c1: two leads at the same instant (the smaller id is first), one later.
    pg.batch_execute(&insert(
        "('01JA000000000000000000000B', 'a', 'expo', '2025-03-01T10:00:00Z', 'c1'),
         ('01JA000000000000000000000A', 'b', 'fair', '2025-03-01T10:00:00Z', 'c1'),
         ('01JA0000000000000000000000', 'a', 'expo', '2025-03-02T10:00:00Z', 'c1'),
         ('01JA000000000000000000000D', 'a', 'expo', '2025-03-05T10:00:00Z', 'c2'),
         ('01JA000000000000000000000E', 'a', 'expo', '2025-03-05T10:00:00Z', NULL)",
    ))
    .await
    .unwrap();
    let _b = spawn_app_with(replicating(&cluster, "b")).await;
    eventually(LIMIT, "migrations 3 and later applied again", || async {
        (migrations().await == Some(i64::from(leadgate::replica::SCHEMA_VERSION))).then_some(())
    })
    .await;
    let first = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(c, l)| (c.to_string(), l.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pg_first_leads(&pg).await,
        first(&[
            ("c1", "01JA000000000000000000000A"),
            ("c2", "01JA000000000000000000000D")
        ]),
        "filled from the leads there, ties by lead id"
    );

    // Written afterwards, statement by statement as nodes ship: an earlier lead of c2
    // (then a later one, and a tie with a larger id, which change nothing), a new
    // contact, and a lead that gets its contact only with an update.
    for rows in [
        "('01JA000000000000000000000F', 'b', 'fair', '2025-03-04T10:00:00Z', 'c2')",
        "('01JA000000000000000000000G', 'b', 'fair', '2025-03-09T10:00:00Z', 'c2'),
         ('01JA000000000000000000000H', 'b', 'fair', '2025-03-04T10:00:00Z', 'c2'),
         ('01JA000000000000000000000J', 'b', 'fair', '2025-03-09T10:00:00Z', 'c3')",
    ] {
        pg.batch_execute(&insert(rows)).await.unwrap();
    }
    pg.batch_execute(
        "UPDATE leadgate.leads SET contact = 'c4' WHERE id = '01JA000000000000000000000E'",
    )
    .await
    .unwrap();
    assert_eq!(
        pg_first_leads(&pg).await,
        first(&[
            ("c1", "01JA000000000000000000000A"),
            ("c2", "01JA000000000000000000000F"),
            ("c3", "01JA000000000000000000000J"),
            ("c4", "01JA000000000000000000000E"),
        ])
    );
    let campaign: String = pg
        .query_one(
            "SELECT campaign FROM leadgate.first_leads WHERE contact = 'c2'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(campaign, "fair", "the first lead's campaign counts it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_at_start_and_mid_stream_loses_and_doubles_nothing() {
    let Some(cluster) = cluster_or_skip("replication_postgres_away") else {
        return;
    };
    // PostgreSQL is down when the node starts: the node serves anyway.
    cluster.crash();
    let app = spawn_app_with(replicating(&cluster, "booth-1")).await;
    app.create_campaign("expo", json!({})).await;
    let mut acked = BTreeSet::new();
    for n in 0..10 {
        acked.insert(app.submit_json_ok("expo", &lead(&mobile(n), "陈静")).await);
    }
    let away = wait_for_state(&app, "offline").await;
    let why = away["last_error"].as_str().unwrap_or_default();
    assert!(why.contains("refused"), "says why: {away}");
    // Ten leads, and the campaign and counter events besides.
    assert!(away["lag_events"].as_u64().unwrap() > 10, "{away}");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "healthy while PostgreSQL is away"
    );
    // The console's overview says so in a line.
    let line = replication_line(&app).await;
    assert!(
        line.starts_with("Replication to PostgreSQL (node booth-1): Offline · ")
            && line.contains("events waiting")
            && line.contains("error: "),
        "{line}"
    );

    // It comes back: the schema is made and the backlog shipped.
    cluster.start_again();
    wait_for_state(&app, "ok").await;
    let line = replication_line(&app).await;
    assert!(
        line.starts_with(
            "Replication to PostgreSQL (node booth-1): OK · 0 events waiting · last shipped 20"
        ),
        "{line}"
    );

    // A stream of posts, with PostgreSQL crashing in the middle and coming back.
    let poster = {
        let base_app = app.base.clone();
        let client = app.client.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 10..130 {
                let resp = client
                    .post(format!("{base_app}/f/expo"))
                    .json(&lead(&mobile(n), "陈静"))
                    .send()
                    .await
                    .expect("post");
                let (status, body) = json_body(resp).await;
                assert_eq!(
                    status, 201,
                    "every post answered while PostgreSQL is away: {body}"
                );
                ids.push(body["lead_id"].as_str().unwrap().to_owned());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    cluster.crash();
    wait_for_state(&app, "offline").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    cluster.start_again();
    acked.extend(poster.await.unwrap());
    let back = wait_for_state(&app, "ok").await;
    assert_eq!(back["last_error"], Value::Null);

    let pg = cluster.client().await;
    let (leads, rows) = pg_leads(&pg).await;
    assert_eq!(rows, acked.len(), "nothing doubled");
    assert_eq!(
        leads.keys().cloned().collect::<BTreeSet<_>>(),
        acked,
        "nothing lost"
    );
    let seqs = pg_seqs(&pg, "booth-1").await;
    assert_gapless(&seqs, "booth-1");
    assert_eq!(pg_lead_events(&pg, "booth-1").await, acked.len());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("leadgate_replication_errors_total 0"),
        "errors were counted"
    );
}

/// Posts `range` to the child at `base` one after another; the lead ids it acknowledged.
async fn post_leads(base: &str, range: std::ops::Range<usize>) -> Vec<String> {
    let client = crate::helpers::client();
    let mut ids = Vec::new();
    for n in range {
        let resp = client
            .post(format!("{base}/f/expo"))
            .json(&lead(&mobile(n), "赵磊"))
            .send()
            .await
            .expect("post a lead");
        let (status, body) = json_body(resp).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["lead_id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_resumes_without_losing_or_doubling() {
    let Some(cluster) = cluster_or_skip("replication_node_killed") else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    // The test cluster trusts every connection, so a password is accepted and ignored:
    // it must appear nowhere the node writes or answers.
    let url = cluster.url().replace("postgres@", "postgres:s3cret-pw@");
    let command = || {
        let mut command = crate::process::serve_command(data.path());
        command.args([
            "--replicate",
            &url,
            "--node-id",
            "booth-9",
            "--rate-limit",
            "off",
        ]);
        command
    };
    let mut server = crate::process::start_server_from(command());
    let client = crate::helpers::client();
    let resp = client
        .post(format!("{}/api/campaigns", server.base))
        .bearer_auth(crate::process::TOKEN)
        .json(&json!({"slug": "expo", "name": "展会"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let pg = cluster.client().await;
    let mut acked: BTreeSet<String> = BTreeSet::new();
    // Each round kills the node right after a burst, while its lead events are being
    // shipped and before the shipping task has stored how far it got.
    for round in 0..3 {
        acked.extend(post_leads(&server.base, round * 40..round * 40 + 40).await);
        server.kill();
        server = crate::process::start_server_from(command());
        // Whether this start found PostgreSQL ahead of its stored cursor (the kill came
        // between a commit and its acknowledgement) depends on timing: said, not asserted.
        eventually(
            LIMIT,
            "the restarted node has looked at PostgreSQL",
            || async {
                let resp = client
                    .get(format!("{}/api/replication", server.base))
                    .bearer_auth(crate::process::TOKEN)
                    .send()
                    .await
                    .ok()?;
                let (_, body) = json_body(resp).await;
                (body["state"] == "ok").then_some(())
            },
        )
        .await;
        let resumed = server.stderr().contains("resuming after event");
        eprintln!("round {round}: resumed from PostgreSQL's seq: {resumed}");
    }
    acked.extend(post_leads(&server.base, 120..130).await);
    wait_for_leads(&pg, acked.len()).await;
    let status = eventually(LIMIT, "the restarted node says ok", || async {
        let resp = client
            .get(format!("{}/api/replication", server.base))
            .bearer_auth(crate::process::TOKEN)
            .send()
            .await
            .ok()?;
        let (_, body) = json_body(resp).await;
        (body["state"] == "ok" && body["lag_events"] == 0).then_some(body)
    })
    .await;
    assert_eq!(status["node"], "booth-9");
    assert!(!status.to_string().contains("s3cret-pw"));
    let stderr = server.stderr();
    assert!(
        stderr.contains("replicating node booth-9 to postgres://postgres@127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    let (leads, rows) = pg_leads(&pg).await;
    assert_eq!(rows, acked.len(), "nothing doubled");
    assert_eq!(
        leads.keys().cloned().collect::<BTreeSet<_>>(),
        acked,
        "nothing lost"
    );
    let seqs = pg_seqs(&pg, "booth-9").await;
    assert_gapless(&seqs, "booth-9");
    assert_eq!(pg_lead_events(&pg, "booth-9").await, acked.len());
    assert_eq!(pg_node_seq(&pg, "booth-9").await, Some(seqs.len() as i64));
}

/// The overview's replication line (English), as text.
async fn replication_line(app: &TestApp) -> String {
    let html = crate::console::page(app, "/admin?lang=en").await;
    let start = html
        .find("<p class=\"muted\" id=\"replication\">")
        .unwrap_or_else(|| panic!("no replication line: {html}"));
    let text = &html[start..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</p>").unwrap()];
    crate::helpers::decode_entities(text)
}
