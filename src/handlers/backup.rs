//! `GET /api/backup`: the whole store as a backup file (see `store::backup`), streamed
//! from one read snapshot while the server goes on serving and writing.

use hyper::header::{self, HeaderValue};

use crate::audit;
use crate::error::Result;
use crate::http::{self, ChunkWriter, Reply};
use crate::state::AppState;

/// `head`: only the headers, and no snapshot, no audit entry (nothing is copied).
pub async fn download(state: &AppState, head: bool) -> Result<Reply> {
    let service = &state.service;
    let taken_at = service.clock.now();
    let name = file_name(taken_at, service.tz());
    let body = if head {
        http::Body::full(Vec::new())
    } else {
        // Before the answer starts: a lead acknowledged before the request is in it.
        let snapshot = service.store.backup_snapshot().await?;
        audit::name_target(&name);
        service.store.commit_audit_entry().await?;
        let (mut chunks, body) = ChunkWriter::new();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = snapshot.write(taken_at, &mut chunks) {
                tracing::warn!("backup broken off: {error}");
                chunks.fail(&error.message);
            }
        });
        body
    };
    let mut reply = http::Reply::new(body);
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(reply)
}

/// `leadgate-backup-2026-11-30-031500.lgbackup`: when it was taken, in the reporting
/// time zone.
pub fn file_name(at: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    format!(
        "leadgate-backup-{}.lgbackup",
        at.to_zoned_datetime(tz.clone()).strftime("%Y-%m-%d-%H%M%S")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_named_by_its_time_in_the_reporting_zone() {
        let at: jiff::Timestamp = "2026-11-30T16:15:00Z".parse().unwrap();
        let shanghai = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        assert_eq!(
            file_name(at, &shanghai),
            "leadgate-backup-2026-12-01-001500.lgbackup"
        );
    }
}
