//! A node that served before it replicated (README "Several nodes", history): started
//! with `--replicate` later, it ships what it already held, each lead once, and its
//! destinations are not sent any of it again.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, spawn_app_in, spawn_app_with};
use crate::postgres::{cluster_or_skip, eventually};
use crate::receiver::Receiver;
use crate::roi::{MODELS, load_references, references};

const LIMIT: Duration = Duration::from_secs(30);

/// One clock for both runs of the node: reports must not move between them.
fn at_fixed_time(config: &mut leadgate::config::Config) {
    let at: jiff::Timestamp = "2026-01-05T02:00:00Z".parse().unwrap();
    config.clock = leadgate::clock::Clock::new(move || at);
    config.allow_private_destinations = true;
    config.delivery_retry_delays = vec![Duration::from_millis(50); 9];
}

async fn delivered_everything(app: &TestApp, id: &serde_json::Value) {
    app.wait_destination(id, |d| d["backlog"] == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_replicates_later_ships_what_it_held_before_once() {
    let Some(cluster) = cluster_or_skip("replication_history") else {
        return;
    };
    let receiver = Receiver::answering(200, "ok").await;
    let node = spawn_app_with(at_fixed_time).await;
    let crm = node
        .add_destination(json!({"name": "CRM", "kind": "webhook", "url": receiver.url("/")}))
        .await;
    load_references(&node, &references()).await;
    delivered_everything(&node, &crm["id"]).await;
    let sent_before = receiver.received().len();
    assert!(sent_before > 0);
    let mut held = 0;
    let mut query = "limit=1000".to_owned();
    loop {
        let page = node.list_leads(&query).await;
        held += page["leads"].as_array().unwrap().len() as i64;
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=1000&cursor={}", crate::helpers::encode(cursor)),
            None => break,
        }
    }
    let reports: Vec<_> = {
        let mut reports = Vec::new();
        for model in MODELS.iter().filter(|m| **m != "markov") {
            reports.push((*model, node.roi(&format!("model={model}")).await));
        }
        reports
    };

    let dir = node.stop().await;
    let replicating = |config: &mut leadgate::config::Config| {
        crate::replication::replicating(&cluster, "booth")(config);
        at_fixed_time(config);
    };
    let node = spawn_app_in(dir, replicating).await;
    let pg = cluster.client().await;
    let shipped = eventually(LIMIT, "every lead the node held in PostgreSQL", || async {
        let row = pg
            .query_one(
                "SELECT count(*), count(DISTINCT id) FROM leadgate.leads WHERE node = 'booth'",
                &[],
            )
            .await
            .ok()?;
        let (rows, ids): (i64, i64) = (row.get(0), row.get(1));
        (rows >= held).then_some((rows, ids))
    })
    .await;
    assert_eq!(shipped, (held, held), "each lead once");
    for (model, own) in &reports {
        let all = eventually(LIMIT, &format!("scope=all under {model}"), || async {
            let all = node.roi(&format!("model={model}&scope=all")).await;
            (&all == own).then_some(all)
        })
        .await;
        assert_eq!(&all, own, "{model}: over every node, as the node alone");
    }
    // The history went to PostgreSQL only: the CRM had it all already.
    delivered_everything(&node, &crm["id"]).await;
    assert_eq!(receiver.received().len(), sent_before);

    // Started again, the node does not ship its history a second time.
    let dir = node.stop().await;
    let node = spawn_app_in(dir, replicating).await;
    crate::replication::wait_for_state(&node, "ok").await;
    let row = pg
        .query_one(
            "SELECT count(*) FROM leadgate.events WHERE node = 'booth' AND type = 'lead.created'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), held, "one lead.created per lead");
}
