//! How `leadgate backup` gets a backup from a server running on the same data directory.
//! redb locks the store file for the process that opened it, so while a server runs the
//! command cannot read the store itself: it asks the server instead, over a Unix socket
//! in the data directory (`backup.sock`, `0600` in the `0700` directory). Who can open
//! that socket could read the store file anyway, so the file system's permissions are
//! the whole check: no token in a file, no port, nothing reachable from the network.
//!
//! The exchange: the command sends `backup\n`; the server answers `ok\n` and the backup
//! file's bytes (see `store::backup`), or `error: <why>\n`. A backup cut off halfway is
//! told by its missing trailer, which the command checks before it keeps the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::audit;
use crate::error::{Error, Result};
use crate::service::Service;

pub const SOCKET_FILE: &str = "backup.sock";
const REQUEST: &[u8] = b"backup\n";
const OK: &[u8] = b"ok\n";
/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// The listening socket; its file goes when this is dropped (a clean stop).
#[cfg(unix)]
pub struct Listening {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

#[cfg(unix)]
impl Listening {
    /// Stops listening and waits until the accepting task is gone: it holds the service,
    /// and with it the store, which the stop closes next.
    pub async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

#[cfg(unix)]
impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts answering backup requests on the data directory's socket. Called after the
/// store is open: its lock says no other server uses this directory, so a socket file
/// found there was left by a crash. A socket that cannot be made (a path too long for a
/// socket address) costs only this way of backing up: the server starts anyway.
#[cfg(unix)]
pub fn listen(service: Arc<Service>, data_dir: &Path) -> Option<Listening> {
    let path = socket_path(data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(
                "no backup socket at {} ({error}): `leadgate backup` needs the server stopped",
                path.display()
            );
            return None;
        }
    };
    if let Err(error) =
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
    {
        tracing::warn!("backup socket not restricted to its owner ({error}): closed");
        let _ = std::fs::remove_file(&path);
        return None;
    }
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                if let Err(error) = answer(&service, stream).await {
                    tracing::warn!("backup over the socket failed: {error}");
                }
            });
        }
    });
    Some(Listening { path, task })
}

#[cfg(unix)]
async fn answer(service: &Service, mut stream: tokio::net::UnixStream) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut request = [0u8; REQUEST.len()];
    let read = tokio::time::timeout(REQUEST_TIMEOUT, stream.read_exact(&mut request)).await;
    if !matches!(read, Ok(Ok(_))) || request != REQUEST {
        let _ = stream.write_all(b"error: unknown request\n").await;
        return Ok(());
    }
    let taken_at = service.clock.now();
    let entry = audit::Entry::new(
        taken_at,
        "local".into(),
        &audit::Credential::CommandLine,
        "backup",
        crate::handlers::backup::file_name(taken_at, service.tz()),
    );
    let snapshot = match service.store.backup_snapshot().await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            let _ = stream
                .write_all(format!("error: {}\n", error.message).as_bytes())
                .await;
            return Err(error);
        }
    };
    audit::within(entry, service.store.commit_audit_entry()).await?;
    let io = |e: std::io::Error| Error::internal(format!("backup socket: {e}"));
    stream.write_all(OK).await.map_err(io)?;
    let stream = stream.into_std().map_err(io)?;
    stream.set_nonblocking(false).map_err(io)?;
    tokio::task::spawn_blocking(move || snapshot.write(taken_at, stream).map(drop))
        .await
        .map_err(|e| Error::internal(format!("backup task failed: {e}")))?
}

/// The command's side: asks the server running on `data_dir` for a backup and copies it
/// to `out`. `Ok(None)` when no server answers there (no socket, or one a crash left).
#[cfg(unix)]
pub fn fetch(data_dir: &Path, out: &mut impl std::io::Write) -> Result<Option<u64>> {
    use std::io::{BufRead, Write};

    let path = socket_path(data_dir);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(error) => {
            return Err(Error::internal(format!(
                "cannot reach the server at {}: {error}",
                path.display()
            )));
        }
    };
    let io = |e: std::io::Error| Error::internal(format!("the backup from the server: {e}"));
    stream.write_all(REQUEST).map_err(io)?;
    let mut reader = std::io::BufReader::with_capacity(128 * 1024, stream);
    let mut status = Vec::new();
    reader.read_until(b'\n', &mut status).map_err(io)?;
    if status != OK {
        let why = String::from_utf8_lossy(&status);
        return Err(Error::internal(format!(
            "the server refused the backup: {}",
            why.trim().trim_start_matches("error: ")
        )));
    }
    let copied = std::io::copy(&mut reader, out).map_err(io)?;
    Ok(Some(copied))
}

#[cfg(not(unix))]
pub fn fetch(_data_dir: &Path, _out: &mut impl std::io::Write) -> Result<Option<u64>> {
    Ok(None)
}
