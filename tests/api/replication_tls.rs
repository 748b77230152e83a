//! TLS to PostgreSQL (README "Several nodes", TLS): against a cluster with `ssl=on` and a
//! certificate for `localhost` from a throwaway CA, each `sslmode` encrypts and checks what
//! libpq's mode of that name does, and a certificate that fails the check stops shipping
//! (the node says why) without stopping the node.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, lead, mobile, spawn_app_with};
use crate::postgres::{Cluster, eventually, tls_cluster_or_skip};
use crate::replication::{replicating_to, replication, wait_for_state};

fn url(cluster: &Cluster, host: &str, settings: &str) -> String {
    format!(
        "postgres://postgres@{host}:{}/postgres{settings}",
        cluster.port
    )
}

fn file_setting(path: &std::path::Path) -> String {
    url::form_urlencoded::byte_serialize(path.to_str().unwrap().as_bytes()).collect()
}

async fn shipped_rows(pg: &tokio_postgres::Client, id: &str) -> i64 {
    pg.query_one("SELECT count(*) FROM leadgate.leads WHERE id = $1", &[&id])
        .await
        .map(|row| row.get(0))
        .unwrap_or(0)
}

/// Every connection leadgate holds open to the cluster, and whether it is encrypted.
async fn leadgate_connections(pg: &tokio_postgres::Client) -> Vec<bool> {
    pg.query(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'leadgate'",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect()
}

async fn node_posting_one_lead(url: &str, node: &str, n: usize) -> (TestApp, String) {
    let app = spawn_app_with(replicating_to(url, node)).await;
    app.create_campaign(node, json!({})).await;
    let id = app.submit_json_ok(node, &lead(&mobile(n), "张伟")).await;
    (app, id)
}

#[tokio::test]
async fn each_sslmode_encrypts_and_checks_the_certificate_as_libpq_does() {
    let Some(cluster) = tls_cluster_or_skip("replication_tls_modes") else {
        return;
    };
    let ca = file_setting(&cluster.ca_file());
    let pg = cluster.client().await;
    let shipping = [
        // The default, as libpq's: encrypted when the server offers it, not checked.
        ("tls-prefer", url(&cluster, "127.0.0.1", "")),
        (
            "tls-require",
            url(&cluster, "127.0.0.1", "?sslmode=require"),
        ),
        // The certificate names localhost, not 127.0.0.1: verify-ca checks the CA only.
        (
            "tls-verify-ca",
            url(
                &cluster,
                "127.0.0.1",
                &format!("?sslmode=verify-ca&sslrootcert={ca}"),
            ),
        ),
        (
            "tls-verify-full",
            url(
                &cluster,
                "localhost",
                &format!("?sslmode=verify-full&sslrootcert={ca}"),
            ),
        ),
    ];
    for (n, (node, url)) in shipping.iter().enumerate() {
        let (app, id) = node_posting_one_lead(url, node, n).await;
        wait_for_state(&app, "ok").await;
        assert_eq!(shipped_rows(&pg, &id).await, 1, "{node}: the lead once");
        let encrypted = leadgate_connections(&pg).await;
        assert!(
            !encrypted.is_empty() && encrypted.iter().all(|tls| *tls),
            "{node}: every connection encrypted, found {encrypted:?}"
        );
        drop(app);
    }

    let other_ca = file_setting(&cluster.other_ca_file());
    let refused = [
        (
            "tls-wrong-name",
            url(
                &cluster,
                "127.0.0.1",
                &format!("?sslmode=verify-full&sslrootcert={ca}"),
            ),
        ),
        (
            "tls-wrong-ca",
            url(
                &cluster,
                "localhost",
                &format!("?sslmode=verify-full&sslrootcert={other_ca}"),
            ),
        ),
        (
            "tls-require-wrong-ca",
            url(
                &cluster,
                "localhost",
                &format!("?sslmode=require&sslrootcert={other_ca}"),
            ),
        ),
    ];
    for (n, (node, url)) in refused.iter().enumerate() {
        // The node answers the visitor as ever; the lead waits in its outbox.
        let (app, id) = node_posting_one_lead(url, node, 10 + n).await;
        let status = eventually(Duration::from_secs(20), "a certificate error", || async {
            let status = replication(&app).await;
            let error = status["last_error"].as_str().unwrap_or("").to_owned();
            (status["state"] == "offline" && error.contains("certificate")).then_some(status)
        })
        .await;
        eprintln!("{node}: {}", status["last_error"]);
        assert_eq!(
            shipped_rows(&pg, &id).await,
            0,
            "{node}: nothing shipped: {status}"
        );
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
}
