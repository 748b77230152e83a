//! Brings the campaigns, cost entries and conversions other nodes made from PostgreSQL
//! into this node's store, every [`super::Settings::pull_every`], so a campaign made at
//! HQ serves its form at a booth within seconds (API.md, "Several nodes"); and their
//! erasures of a person, so that this node erases its copy too (see `erasures`).
//!
//! Each look reads the rows written by PostgreSQL transactions at or after the oldest
//! transaction still running at the previous look (`txid` against the snapshot's `xmin`):
//! a transaction that committed late is still seen, and a row seen twice changes nothing
//! (the store keeps the latest `updated_at`). The first look after a start reads all.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::Shared;
use super::worker::Handle;
use crate::domain::Slug;
use crate::store::shared::{Changes, SharedCost};

pub fn spawn(shared: Arc<Shared>) -> Handle {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut since = 0_i64;
        let mut failing = false;
        loop {
            match look(&shared, since).await {
                Ok(horizon) => {
                    since = horizon;
                    failing = false;
                }
                // The shipping task says why in /api/replication; once here is enough.
                Err(error) if !failing => {
                    failing = true;
                    tracing::debug!("definitions from other nodes not read now: {error}");
                }
                Err(_) => {}
            }
            tokio::select! {
                () = tokio::time::sleep(shared.settings.pull_every) => {}
                _ = &mut stopped => break,
            }
        }
    });
    Handle { stop, task }
}

/// One look: reads what other nodes changed since `since` and applies it. Returns the
/// horizon for the next look.
async fn look(shared: &Shared, since: i64) -> Result<i64, String> {
    let node = shared.settings.node.as_str();
    let mut client = shared
        .reports
        .get()
        .await
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    let txn = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(super::worker::describe)?;
    let pg = |e| super::worker::describe(e);
    // First statement: the snapshot every query below reads.
    let horizon: i64 = txn
        .query_one(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    let mut changes = Changes::default();
    for row in txn
        .query(
            "SELECT slug, record::text, node FROM leadgate.campaigns
             WHERE txid >= $1 AND node IS DISTINCT FROM $2",
            &[&since, &node],
        )
        .await
        .map_err(pg)?
    {
        match serde_json::from_str(row.get(1)) {
            Ok(campaign) => changes.campaigns.push((campaign, row.get(2))),
            Err(e) => tracing::warn!(
                "campaign {:?} in PostgreSQL unreadable: {e}",
                row.get::<_, &str>(0)
            ),
        }
    }
    for row in txn
        .query(
            "SELECT id, campaign, incurred_on::text, amount::text, currency, note, created_at
             FROM leadgate.costs WHERE txid >= $1 AND node IS DISTINCT FROM $2",
            &[&since, &node],
        )
        .await
        .map_err(pg)?
    {
        let (Ok(incurred_on), Ok(created_at)) = (
            row.get::<_, &str>(2).parse(),
            jiff::Timestamp::try_from(row.get::<_, std::time::SystemTime>(6)),
        ) else {
            continue;
        };
        changes.costs.push(SharedCost {
            id: row.get(0),
            campaign: row.get(1),
            incurred_on,
            amount: row.get(3),
            currency: row.get(4),
            note: row.get(5),
            created_at,
        });
    }
    for row in txn
        .query(
            "SELECT campaign, id FROM leadgate.cost_deletions
             WHERE txid >= $1 AND node IS DISTINCT FROM $2",
            &[&since, &node],
        )
        .await
        .map_err(pg)?
    {
        let campaign: String = row.get(0);
        if Slug::parse(&campaign).is_ok() {
            changes.deleted_costs.push((campaign, row.get(1)));
        }
    }
    for row in txn
        .query(
            "SELECT id, record::text, node FROM leadgate.conversions
             WHERE txid >= $1 AND node IS DISTINCT FROM $2",
            &[&since, &node],
        )
        .await
        .map_err(pg)?
    {
        let record: serde_json::Value = serde_json::from_str(row.get(1)).unwrap_or_default();
        match super::report::conversion(&record) {
            Ok(conversion) => changes.conversions.push((conversion, row.get(2))),
            Err(e) => tracing::warn!(
                "conversion {:?} in PostgreSQL unreadable: {e}",
                row.get::<_, &str>(0)
            ),
        }
    }
    let erasures = super::erasures::read(&txn, since, node).await.map_err(pg)?;
    txn.commit().await.map_err(pg)?;
    if !changes.is_empty() {
        let applied = shared
            .store
            .apply_shared(changes, node.to_owned())
            .await
            .map_err(|e| format!("the store: {e}"))?;
        tracing::debug!(
            "from other nodes: {} campaigns, {} cost changes, {} conversions",
            applied.campaigns.len(),
            applied.costs,
            applied.conversions
        );
    }
    // After the conversions: a copy pulled just now is unlinked too.
    super::erasures::apply(shared, erasures).await?;
    Ok(horizon)
}
