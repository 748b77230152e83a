//! A consistent snapshot written into a fresh redb file: every table of one read
//! transaction, row by row, in key order. Only live rows are read, so the copy holds
//! nothing a deleted row left in freed pages — how an erasure really leaves the disk —
//! and, read from one snapshot while the writer goes on, it is a backup.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableTable, TableDefinition, TableHandle};

use super::storage;
use super::tables;
use crate::error::{Error, Result};

/// What a copy wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    pub tables: usize,
    pub rows: u64,
}

/// Writes every table of `snapshot` into a new store file at `dest` (which must not
/// exist), created `0600`, committed with immediate durability (fsync) and closed. `cache`
/// bounds the memory the copy's writes use (redb's page cache and write buffer; `None`:
/// redb's 1 GiB, which a million-lead copy fills).
pub fn snapshot_to_file(
    snapshot: &ReadTransaction,
    dest: &Path,
    cache: Option<usize>,
) -> Result<Copied> {
    create_private(dest)?;
    let written = write_copy(snapshot, dest, cache);
    if written.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    written
}

/// A new redb file at `dest` (page cache `cache` bytes, or redb's default), to be filled
/// in one write transaction begun as the writer begins its own: by a rewrite, a restore.
pub(super) fn create_fresh(dest: &Path, cache: Option<usize>) -> Result<Database> {
    let mut builder = Database::builder();
    if let Some(bytes) = cache {
        builder.set_cache_size(bytes);
    }
    builder
        .create(dest)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", dest.display())))
}

fn write_copy(snapshot: &ReadTransaction, dest: &Path, cache: Option<usize>) -> Result<Copied> {
    let db = create_fresh(dest, cache)?;
    let txn = super::writer::begin(&db, true)?;
    let mut copied = Copied::default();
    let names: Vec<String> = snapshot
        .list_tables()
        .map_err(storage)?
        .map(|t| t.name().to_owned())
        .collect();
    if snapshot
        .list_multimap_tables()
        .map_err(storage)?
        .next()
        .is_some()
    {
        return Err(Error::internal(
            "the store holds a table this build cannot copy",
        ));
    }
    for name in &names {
        let rows = copy_named(snapshot, &txn, name)?.ok_or_else(|| {
            Error::internal(format!(
                "the store holds a table this build does not know ({name:?}); use a matching leadgate"
            ))
        })?;
        copied.tables += 1;
        copied.rows += rows;
    }
    // The copy holds live rows only: no erased value waits in it for a rewrite.
    txn.open_table(tables::META)
        .map_err(storage)?
        .remove(super::erasure::REWRITE_PENDING_KEY)
        .map_err(storage)?;
    txn.commit().map_err(storage)?;
    drop(db);
    Ok(copied)
}

/// Copies the table called `name`; `None` if no table of this build has that name.
fn copy_named(
    from: &ReadTransaction,
    to: &redb::WriteTransaction,
    name: &str,
) -> Result<Option<u64>> {
    struct Copy<'a> {
        from: &'a ReadTransaction,
        to: &'a redb::WriteTransaction,
    }
    impl TableVisitor for Copy<'_> {
        type Output = u64;
        fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
            &mut self,
            definition: TableDefinition<K, V>,
        ) -> Result<u64> {
            copy_table(self.from, self.to, definition)
        }
    }
    visit_named(name, &mut Copy { from, to })
}

/// Work done on one table whatever its key and value types: how code that handles every
/// table (a copy, a backup, a restore) is written once.
pub(super) trait TableVisitor {
    type Output;
    fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        definition: TableDefinition<K, V>,
    ) -> Result<Self::Output>;
}

/// Runs `visitor` on the table of this build called `name`; `None` if there is none.
/// Every table must be listed here: a table left out would be missing from rewrites and
/// backups (the copy and backup tests count the tables of a fresh store against it).
pub(super) fn visit_named<T: TableVisitor>(
    name: &str,
    visitor: &mut T,
) -> Result<Option<T::Output>> {
    macro_rules! by_name {
        ($($table:expr),+ $(,)?) => {
            $(if $table.name() == name {
                return visitor.visit($table).map(Some);
            })+
        };
    }
    by_name!(
        tables::META,
        tables::CAMPAIGNS,
        tables::LEADS,
        tables::LEADS_BY_CAMPAIGN,
        tables::CONTACTS,
        tables::EMAILS,
        tables::TOUCHES,
        tables::TOKENS,
        tables::COUNTERS,
        tables::MONTHLY_COUNTERS,
        tables::TOTAL_COUNTERS,
        tables::TRACKING_NUMBERS,
        tables::COSTS,
        tables::CONVERSIONS,
        tables::PLACEMENTS,
        tables::OUTBOX,
        tables::OUTBOX_CURSORS,
        tables::DESTINATIONS,
        tables::DELIVERIES,
        tables::SALESPEOPLE,
        tables::LEADS_BY_ASSIGNEE,
        tables::LEADS_BY_ASSIGNEE_ENTRIES,
        tables::CONTACT_ASSIGNEES,
        tables::ROUND_ROBIN,
        tables::REPORT_SCHEDULES,
        tables::QR_TARGETS,
        tables::ACTIVITIES,
        tables::FOLLOW_UPS,
        tables::LEAD_DEADLINES,
        tables::DEADLINES,
        tables::ERASED_LEADS,
        tables::ERASURES,
        tables::AUDIT_LOG,
    );
    Ok(None)
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    from: &ReadTransaction,
    to: &redb::WriteTransaction,
    definition: TableDefinition<K, V>,
) -> Result<u64> {
    let source = from.open_table(definition).map_err(storage)?;
    let mut target = to.open_table(definition).map_err(storage)?;
    let mut rows = 0;
    for entry in source.iter().map_err(storage)? {
        let (key, value) = entry.map_err(storage)?;
        target.insert(key.value(), value.value()).map_err(storage)?;
        rows += 1;
    }
    Ok(rows)
}

/// Creates `path` empty and readable by its owner only, refusing to replace a file.
pub(super) fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map(drop)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", path.display())))
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::internal(format!("cannot sync {}: {e}", dir.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    #[test]
    fn a_copy_holds_every_table_and_row_of_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("s.redb")).unwrap();
        super::super::write::initialise(&db, &jiff::tz::TimeZone::UTC).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut leads = txn.open_table(tables::LEADS).unwrap();
            leads.insert(7, b"seven".as_slice()).unwrap();
            let mut touches = txn.open_table(tables::TOUCHES).unwrap();
            touches.insert(("+8613800138000", 5, 7), "expo").unwrap();
        }
        txn.commit().unwrap();

        let snapshot = db.begin_read().unwrap();
        let dest = dir.path().join("copy.redb");
        let copied = snapshot_to_file(&snapshot, &dest, Some(1 << 20)).unwrap();
        let names = snapshot.list_tables().unwrap().count();
        assert_eq!(
            copied.tables, names,
            "every table of a fresh store is known"
        );
        assert!(copied.rows >= 4, "{copied:?}");

        let copy = Database::open(&dest).unwrap();
        let read = copy.begin_read().unwrap();
        let leads = read.open_table(tables::LEADS).unwrap();
        assert_eq!(leads.get(7).unwrap().unwrap().value(), b"seven");
        let touches = read.open_table(tables::TOUCHES).unwrap();
        assert_eq!(
            touches
                .get(("+8613800138000", 5, 7))
                .unwrap()
                .unwrap()
                .value(),
            "expo"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            snapshot_to_file(&snapshot, &dest, None).is_err(),
            "never over a file"
        );
    }
}
