//! `leadgate restore`: a backup put in place as the data directory's store. Nothing is
//! replaced until the backup has been rebuilt into a store file beside the old one and
//! that file has passed `leadgate check`; then one rename swaps it in.
//!
//! A backup predates the erasures made after it: restored as it is, it would bring those
//! people back. When it replaces a store, the erasures that store's receipts record are
//! made again in the rebuilt file (and rewritten out of it) before it is put in place.

use std::collections::HashSet;
use std::path::Path;

use redb::{ReadableDatabase, ReadableTable};

use super::copy::sync_dir;
use super::erasure::{self, Person, Reason};
use super::{Store, backup, storage, tables};
use crate::config::STORE_FILE;
use crate::domain::LeadId;
use crate::error::{Error, ErrorKind, Result};

/// redb's memory for the rebuild (its default, 1 GiB, would hold a million leads).
const RESTORE_CACHE: usize = 64 << 20;

/// What a restore put in place.
#[derive(Debug)]
pub struct Restored {
    pub backup: backup::Summary,
    pub leads: u64,
    pub contacts: u64,
    /// Contacts erased again: the replaced store's receipts named them, the backup still
    /// held them.
    pub erased_again: usize,
}

/// Restores the backup at `from` into `data_dir`. Refused while a server holds the
/// directory, and over a non-empty directory unless `force`.
pub fn restore(
    from: &Path,
    data_dir: &Path,
    tz: &jiff::tz::TimeZone,
    force: bool,
) -> Result<Restored> {
    let store_path = data_dir.join(STORE_FILE);
    // Held until the new file is in place: a server started meanwhile finds the store
    // locked and stops, instead of serving the file about to be replaced.
    let old = lock_existing(&store_path)?;
    let entries = existing_entries(data_dir)?;
    if !entries.is_empty() && !force {
        return Err(refused(format!(
            "{} is not empty (it holds {}): pass --force to replace its store",
            data_dir.display(),
            entries.join(", ")
        )));
    }
    let input = std::fs::File::open(from).map_err(|e| {
        Error::invalid(
            "from",
            "backup_unreadable",
            format!("cannot read {}: {e}", from.display()),
        )
    })?;
    super::private::create_dir(data_dir, &store_path).map_err(|e| {
        Error::internal(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let temp = data_dir.join(format!("{STORE_FILE}.restore"));
    // Left by a restore that was cut short.
    let _ = std::fs::remove_file(&temp);
    let rebuilt = rebuild_and_check(input, &temp, tz, old.as_ref());
    let (summary, report, erased_again) = match rebuilt {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&temp);
            return Err(error);
        }
    };
    std::fs::rename(&temp, &store_path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::internal(format!("cannot put the restored store in place: {e}"))
    })?;
    sync_dir(data_dir)?;
    drop(old);
    Ok(Restored {
        backup: summary,
        leads: report.leads,
        contacts: report.contacts,
        erased_again,
    })
}

/// Builds the store file at `temp`, makes again the erasures `old` records, and runs
/// `leadgate check` on it.
fn rebuild_and_check(
    input: std::fs::File,
    temp: &Path,
    tz: &jiff::tz::TimeZone,
    old: Option<&redb::ReadOnlyDatabase>,
) -> Result<(backup::Summary, super::CheckReport, usize)> {
    let summary = backup::restore(input, temp, Some(RESTORE_CACHE))?;
    // Opened as the server would open it: the schema and the reporting zone are checked.
    // With the rebuild's bounded cache: the check reads every row once, and redb's
    // default 1 GiB cache would hold them all (1 GB peak RSS on 1.4M leads).
    let options = super::OpenOptions {
        cache_bytes: Some(RESTORE_CACHE),
        ..Default::default()
    };
    let store = Store::open_with(temp, tz.clone(), options)?;
    let checked = erase_again(&store, old)
        .and_then(|erased| store.check_blocking().map(|report| (report, erased)));
    store.close_blocking();
    let (report, erased_again) = checked?;
    if !report.problems.is_empty() {
        return Err(Error::invalid(
            "from",
            "backup_inconsistent",
            format!(
                "the backup does not pass `leadgate check` ({} problems, the first: {}); nothing was replaced",
                report.problems.len(),
                report.problems[0]
            ),
        ));
    }
    Ok((summary, report, erased_again))
}

/// Erases in the restored `store` every contact that an erasure receipt of the replaced
/// store names (by the hash of its key), then rewrites the file so the erased values
/// leave it. Receipts of retention are left out: the server re-applies retention itself
/// at its start. Returns how many contacts were erased.
fn erase_again(store: &Store, old: Option<&redb::ReadOnlyDatabase>) -> Result<usize> {
    let Some(old) = old else {
        return Ok(0);
    };
    let requested: HashSet<String> = {
        let txn = old.begin_read().map_err(storage)?;
        erasure::receipts(&txn)?
            .into_iter()
            // A request made on another node is the person's request too.
            .filter(|r| matches!(r.reason, Reason::Request | Reason::Replicated))
            .map(|r| r.contact)
            .collect()
    };
    if requested.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = {
        let txn = store.db.get()?.begin_read().map_err(storage)?;
        let contacts = txn.open_table(tables::CONTACTS).map_err(storage)?;
        let mut keys = Vec::new();
        for entry in contacts.iter().map_err(storage)? {
            let key = entry.map_err(storage)?.0.value().to_owned();
            if requested.contains(&erasure::contact_hash(&key)) {
                keys.push(key);
            }
        }
        keys
    };
    if keys.is_empty() {
        return Ok(0);
    }
    // The store's writes are async (its writer thread answers on channels).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        for key in &keys {
            store
                .erase(
                    Person::Key(key.clone()),
                    LeadId::generate(),
                    jiff::Timestamp::now(),
                )
                .await?;
        }
        store.rewrite().await?;
        Ok(keys.len())
    })
}

/// Opens the existing store file read-only (which writes nothing to it) to hold a lock
/// on it; refused if a server holds it.
fn lock_existing(store_path: &Path) -> Result<Option<redb::ReadOnlyDatabase>> {
    if !store_path.exists() {
        return Ok(None);
    }
    match redb::Database::builder().open_read_only(store_path) {
        Ok(db) => Ok(Some(db)),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(refused(format!(
            "a leadgate server is running on {}: stop it before restoring",
            store_path.parent().unwrap_or(store_path).display()
        ))),
        // Damaged, or left by a crash (read-only opens do not repair): nothing holds it.
        Err(_) => Ok(None),
    }
}

/// The names in `dir` (none if it does not exist yet).
fn existing_entries(dir: &Path) -> Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(Error::internal(format!(
            "cannot read {}: {error}",
            dir.display()
        ))),
    }
}

fn refused(message: String) -> Error {
    Error::new(ErrorKind::Conflict, "restore_refused", message)
}
