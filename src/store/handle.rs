//! The open database, behind a handle that can close and reopen it. After an I/O error
//! (a full disk, a yanked volume) redb refuses all further work until the file is opened
//! again; the writer does that once writes may work again, so the server heals itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::Database;

use crate::error::{Error, ErrorKind, Result};

/// How long a reopen waits for reads in flight to let go of the old database.
const READERS_GRACE: Duration = Duration::from_secs(2);

pub struct DbHandle {
    path: PathBuf,
    /// redb's page cache in bytes (`None`: redb's default, 1 GiB).
    cache: Option<usize>,
    current: RwLock<Option<Arc<Database>>>,
}

impl DbHandle {
    pub fn open(path: &Path, cache: Option<usize>) -> Result<DbHandle> {
        let db = open_database(path, cache)?;
        Ok(DbHandle {
            path: path.to_owned(),
            cache,
            current: RwLock::new(Some(Arc::new(db))),
        })
    }

    /// The database to use now, or 503 while it is closed for a reopen that failed.
    pub fn get(&self) -> Result<Arc<Database>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.clone().ok_or_else(|| {
            Error::unavailable(
                "the store is closed after a disk error; it reopens once the disk works",
            )
        })
    }

    /// Closes the database and opens it again (redb repairs it on open).
    pub fn reopen(&self) -> Result<()> {
        let mut slot = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Some(mut old) = slot.take() {
            let deadline = Instant::now() + READERS_GRACE;
            loop {
                match Arc::try_unwrap(old) {
                    Ok(db) => {
                        drop(db);
                        break;
                    }
                    Err(still_shared) if Instant::now() < deadline => {
                        old = still_shared;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(still_shared) => {
                        *slot = Some(still_shared);
                        return Err(Error::unavailable(
                            "reads in flight still hold the store; reopen postponed",
                        ));
                    }
                }
            }
        }
        let db = open_database(&self.path, self.cache)?;
        *slot = Some(Arc::new(db));
        tracing::info!("store reopened after a disk error");
        Ok(())
    }
}

/// A store file rewritten: what was copied, and how long the writer was held.
#[derive(Debug, Clone, Copy)]
pub struct Rewritten {
    pub copied: super::copy::Copied,
    pub seconds: f64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl DbHandle {
    /// The file a rewrite is written to before it replaces the store (same directory,
    /// so the rename is atomic).
    pub fn rewrite_path(path: &Path) -> PathBuf {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".rewrite");
        path.with_file_name(name)
    }

    /// Rewrites the store into a fresh file from one snapshot, puts it in place with an
    /// atomic rename and serves from it: the old file, and every value its freed pages
    /// still held, is gone from the directory. The caller must hold off writes meanwhile
    /// (the writer thread runs this itself). Reads in flight finish on the old file (same
    /// data); later ones open the new.
    pub fn rewrite(&self) -> Result<Rewritten> {
        let started = Instant::now();
        let bytes_before = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let temp = Self::rewrite_path(&self.path);
        // Left by a crash during an earlier rewrite.
        let _ = std::fs::remove_file(&temp);
        let copied = {
            let db = self.get()?;
            let snapshot = redb::ReadableDatabase::begin_read(&*db).map_err(super::storage)?;
            super::copy::snapshot_to_file(&snapshot, &temp, self.cache)?
        };
        let mut slot = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = std::fs::rename(&temp, &self.path) {
            let _ = std::fs::remove_file(&temp);
            return Err(Error::internal(format!(
                "cannot put the rewritten store in place: {error}"
            )));
        }
        if let Some(dir) = self.path.parent() {
            super::copy::sync_dir(dir)?;
        }
        // From here the old database must never be written again (its file is gone from
        // the directory): if the new one cannot be opened, the store is closed and the
        // writer reopens it from the path, as after a disk error.
        *slot = None;
        let fresh = open_database(&self.path, self.cache)?;
        *slot = Some(Arc::new(fresh));
        drop(slot);
        Ok(Rewritten {
            copied,
            seconds: started.elapsed().as_secs_f64(),
            bytes_before,
            bytes_after: std::fs::metadata(&self.path).map_or(0, |m| m.len()),
        })
    }
}

/// Opens the file; `cache` sets redb's page cache (bytes), which bounds how much of the
/// store the server holds in memory: redb's default (1 GiB) lets the process grow with
/// the file.
pub(super) fn open_database(path: &Path, cache: Option<usize>) -> Result<Database> {
    let mut builder = Database::builder();
    if let Some(bytes) = cache {
        builder.set_cache_size(bytes);
    }
    builder
        .set_repair_callback(|progress| {
            tracing::warn!(
                "repairing the store after an unclean stop: {:.0}%",
                progress.progress() * 100.0
            );
        })
        .create(path)
        .map_err(|e| open_error(path, e))
}

fn open_error(path: &Path, error: redb::DatabaseError) -> Error {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => Error::new(
            ErrorKind::Unavailable,
            "store_in_use",
            format!(
                "data directory {} is in use by another leadgate process (stop it first, or use --data to pick another directory)",
                dir.display()
            ),
        ),
        other => Error::new(
            ErrorKind::Unavailable,
            "store_open_failed",
            format!("cannot open the store {}: {other}", path.display()),
        ),
    }
}
