//! `GET /api/replication`: whether this node's leads and events reach PostgreSQL.

use hyper::StatusCode;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::state::AppState;

/// Without `--replicate` the feature is not configured: 503, as API.md gives for a
/// feature that is off (like `/hooks/call` without its secret), not a made-up state.
pub async fn status(state: &AppState) -> Result<Reply> {
    let Some(replica) = &state.service.replica else {
        return Err(Error::new(
            ErrorKind::Unavailable,
            "not_configured",
            "replication is not configured: start with --replicate postgres://…",
        ));
    };
    let status = replica.status().await?;
    Ok(http::json(StatusCode::OK, &status.to_json()))
}
