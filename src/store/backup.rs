//! The backup file: every row of every table of one read transaction, written as a plain
//! stream in key order. A redb copy (`copy::snapshot_to_file`) costs a B-tree insert per
//! row — 11 s for a million leads — while reading the rows out in order costs a fraction
//! of that, and a stream needs no temporary file: `GET /api/backup` sends it while it is
//! being read. `restore` builds a store file from it.
//!
//! Layout (integers little-endian):
//! `MAGIC`, format `u32`, taken at (ms) `i64`; per table `T`, name length `u16`, name;
//! per row `R`, key length `u32`, key, value length `u32`, value (redb's own bytes for the
//! types of `tables`); then `E`, tables `u64`, rows `u64`, and the CRC-32 of every byte
//! before it, `u32`. The counts and the checksum tell a whole backup from a cut-short or
//! damaged one before anything is replaced.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use redb::{ReadTransaction, ReadableTable, TableDefinition, TableHandle};

use super::copy::{self, Copied, TableVisitor};
use super::storage;
use crate::error::{Error, Result};

const MAGIC: &[u8; 16] = b"leadgate-backup\n";
const FORMAT: u32 = 1;
const TABLE: u8 = b'T';
const ROW: u8 = b'R';
const END: u8 = b'E';
/// Bytes handed to the output at a time.
const BUFFER: usize = 128 * 1024;

/// The read snapshot a backup is written from (`Store::backup_snapshot`).
pub struct Snapshot(pub(super) ReadTransaction);

impl Snapshot {
    /// Writes the backup; blocking, so on a blocking-pool thread.
    pub fn write(&self, taken_at: jiff::Timestamp, out: impl Write) -> Result<Summary> {
        write(&self.0, taken_at, out)
    }
}

/// What a backup holds, as its header and trailer say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub taken_at: jiff::Timestamp,
    pub copied: Copied,
}

/// Writes every table of `snapshot` to `out`. An error from `out` (a client that went
/// away, a full disk) ends the backup; what was written is not a whole backup.
pub fn write(
    snapshot: &ReadTransaction,
    taken_at: jiff::Timestamp,
    out: impl Write,
) -> Result<Summary> {
    let mut sink = BufWriter::with_capacity(BUFFER, Checksummed::new(out));
    let io = |e: std::io::Error| Error::internal(format!("the backup could not be written: {e}"));
    sink.write_all(MAGIC).map_err(io)?;
    sink.write_all(&FORMAT.to_le_bytes()).map_err(io)?;
    sink.write_all(&taken_at.as_millisecond().to_le_bytes())
        .map_err(io)?;
    if snapshot
        .list_multimap_tables()
        .map_err(storage)?
        .next()
        .is_some()
    {
        return Err(Error::internal(
            "the store holds a table this build cannot back up",
        ));
    }
    let names: Vec<String> = snapshot
        .list_tables()
        .map_err(storage)?
        .map(|t| t.name().to_owned())
        .collect();
    let mut copied = Copied::default();
    for name in &names {
        sink.write_all(&[TABLE]).map_err(io)?;
        let length = u16::try_from(name.len())
            .map_err(|_| Error::internal(format!("table name too long: {name:?}")))?;
        sink.write_all(&length.to_le_bytes()).map_err(io)?;
        sink.write_all(name.as_bytes()).map_err(io)?;
        let mut rows = RowsOut {
            from: snapshot,
            to: &mut sink,
        };
        let written = copy::visit_named(name, &mut rows)?.ok_or_else(|| {
            Error::internal(format!(
                "the store holds a table this build does not know ({name:?}); use a matching leadgate"
            ))
        })?;
        copied.tables += 1;
        copied.rows += written;
    }
    sink.write_all(&[END]).map_err(io)?;
    sink.write_all(&(copied.tables as u64).to_le_bytes())
        .map_err(io)?;
    sink.write_all(&copied.rows.to_le_bytes()).map_err(io)?;
    let mut inner = sink.into_inner().map_err(|e| io(e.into_error()))?;
    let crc = inner.crc.clone().finalize();
    inner.inner.write_all(&crc.to_le_bytes()).map_err(io)?;
    inner.inner.flush().map_err(io)?;
    Ok(Summary { taken_at, copied })
}

/// Builds a new store file at `dest` (which must not exist; `0600`) from the backup read
/// from `input`, committed with fsync. A backup that is cut short, damaged (checksum),
/// not a backup at all or from a newer format is refused and `dest` removed. `cache`
/// bounds redb's memory for the writes, as in `copy::snapshot_to_file`.
pub fn restore(input: impl Read, dest: &Path, cache: Option<usize>) -> Result<Summary> {
    copy::create_private(dest)?;
    // A row whose bytes do not decode as its table's types makes redb panic: a damaged
    // file must be refused, not crash the command halfway.
    let restored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        restore_into(input, dest, cache)
    }))
    .unwrap_or_else(|_| Err(damaged("a row does not decode as its table's types")));
    if restored.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    restored
}

/// Reads a whole backup without writing anything: whether it is whole and undamaged
/// (header, every table known, counts, checksum), and what it holds.
pub fn verify(input: impl Read) -> Result<Summary> {
    read(input, None)
}

fn restore_into(input: impl Read, dest: &Path, cache: Option<usize>) -> Result<Summary> {
    let db = copy::create_fresh(dest, cache)?;
    let txn = super::writer::begin(&db, true)?;
    let summary = read(input, Some(&txn))?;
    // A restored store needs no rewrite: it holds no freed pages.
    txn.open_table(super::tables::META)
        .map_err(storage)?
        .remove(super::erasure::REWRITE_PENDING_KEY)
        .map_err(storage)?;
    txn.commit().map_err(storage)?;
    drop(db);
    Ok(summary)
}

/// Reads the backup from `input`, inserting its rows into `into` if given.
fn read(input: impl Read, into: Option<&redb::WriteTransaction>) -> Result<Summary> {
    let mut source = Source {
        input: Checksummed::new(BufReader::with_capacity(BUFFER, input)),
    };
    let mut magic = Vec::new();
    (&mut source.input)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(|_| cut_short())?;
    if magic != MAGIC {
        // Only the beginning of one is a backup cut short; anything else is some other file.
        if !magic.is_empty() && MAGIC.starts_with(&magic) {
            return Err(cut_short());
        }
        return Err(Error::invalid(
            "from",
            "not_a_backup",
            "this file is not a leadgate backup",
        ));
    }
    let format = u32::from_le_bytes(source.array()?);
    if format != FORMAT {
        return Err(Error::invalid(
            "from",
            "unknown_backup_format",
            format!("this backup has format {format}; this leadgate reads format {FORMAT}"),
        ));
    }
    let taken_at = jiff::Timestamp::from_millisecond(i64::from_le_bytes(source.array()?))
        .map_err(|_| damaged("its time is out of range"))?;
    let mut copied = Copied::default();
    let mut tag = source.byte()?;
    while tag == TABLE {
        let length = u16::from_le_bytes(source.array()?);
        let name = String::from_utf8(source.bytes(u32::from(length))?)
            .map_err(|_| damaged("a table name is not text"))?;
        let mut rows = RowsIn {
            from: &mut source,
            to: into,
        };
        let (count, next) = copy::visit_named(&name, &mut rows)?.ok_or_else(|| {
            Error::invalid(
                "from",
                "unknown_table",
                format!("the backup holds a table this build does not know ({name:?}); restore it with a matching leadgate"),
            )
        })?;
        copied.tables += 1;
        copied.rows += count;
        tag = next;
    }
    if tag != END {
        return Err(damaged("an unknown record"));
    }
    let tables = u64::from_le_bytes(source.array()?);
    let rows = u64::from_le_bytes(source.array()?);
    let expected = source.input.crc.clone().finalize();
    let mut stored = [0u8; 4];
    source
        .input
        .inner
        .read_exact(&mut stored)
        .map_err(|_| cut_short())?;
    if u32::from_le_bytes(stored) != expected {
        return Err(damaged("its checksum does not match"));
    }
    if tables != copied.tables as u64 || rows != copied.rows {
        return Err(damaged("its counts do not match its rows"));
    }
    if source.input.inner.read(&mut [0u8; 1]).unwrap_or(0) != 0 {
        return Err(damaged("bytes follow its end"));
    }
    Ok(Summary { taken_at, copied })
}

fn cut_short() -> Error {
    Error::invalid(
        "from",
        "backup_cut_short",
        "the backup ends too early: it was cut short (an interrupted download, a full disk) or is damaged",
    )
}

fn damaged(what: &str) -> Error {
    Error::invalid(
        "from",
        "backup_damaged",
        format!("the backup is damaged: {what}"),
    )
}

/// Writes one table's rows.
struct RowsOut<'a, W: Write> {
    from: &'a ReadTransaction,
    to: &'a mut W,
}

impl<W: Write> TableVisitor for RowsOut<'_, W> {
    type Output = u64;

    fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        definition: TableDefinition<K, V>,
    ) -> Result<u64> {
        let io =
            |e: std::io::Error| Error::internal(format!("the backup could not be written: {e}"));
        let table = self.from.open_table(definition).map_err(storage)?;
        let mut rows = 0;
        for entry in table.iter().map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let key = key.value();
            let value = value.value();
            self.to.write_all(&[ROW]).map_err(io)?;
            write_part(self.to, K::as_bytes(&key).as_ref()).map_err(io)?;
            write_part(self.to, V::as_bytes(&value).as_ref()).map_err(io)?;
            rows += 1;
        }
        Ok(rows)
    }
}

/// A key or a value, after its length.
fn write_part(to: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let length = u32::try_from(bytes.len()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a row too large for a backup",
        )
    })?;
    to.write_all(&length.to_le_bytes())?;
    to.write_all(bytes)
}

/// Reads one table's rows (into the new store, if any); its output is the rows read and
/// the tag that followed them.
struct RowsIn<'a, R: Read> {
    from: &'a mut Source<R>,
    to: Option<&'a redb::WriteTransaction>,
}

impl<R: Read> TableVisitor for RowsIn<'_, R> {
    type Output = (u64, u8);

    fn visit<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        definition: TableDefinition<K, V>,
    ) -> Result<(u64, u8)> {
        let mut table = match self.to {
            Some(txn) => Some(txn.open_table(definition).map_err(storage)?),
            None => None,
        };
        let mut rows = 0;
        loop {
            let tag = self.from.byte()?;
            if tag != ROW {
                return Ok((rows, tag));
            }
            let key = self.from.sized(K::fixed_width())?;
            let value = self.from.sized(V::fixed_width())?;
            if let Some(table) = table.as_mut() {
                table
                    .insert(K::from_bytes(&key), V::from_bytes(&value))
                    .map_err(storage)?;
            }
            rows += 1;
        }
    }
}

/// The backup being read.
struct Source<R: Read> {
    input: Checksummed<BufReader<R>>,
}

impl<R: Read> Source<R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<()> {
        self.input.read_exact(buf).map_err(|_| cut_short())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut buf = [0u8; N];
        self.exact(&mut buf)?;
        Ok(buf)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    /// `length` bytes, read as they come: a damaged length cannot make this allocate more
    /// than the file holds.
    fn bytes(&mut self, length: u32) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&mut self.input)
            .take(u64::from(length))
            .read_to_end(&mut buf)
            .map_err(|_| cut_short())?;
        if buf.len() != length as usize {
            return Err(cut_short());
        }
        Ok(buf)
    }

    /// A length-prefixed key or value; one of a fixed-width type must have that width.
    fn sized(&mut self, width: Option<usize>) -> Result<Vec<u8>> {
        let length = u32::from_le_bytes(self.array()?);
        if width.is_some_and(|w| w != length as usize) {
            return Err(damaged("a row has the wrong width for its table"));
        }
        self.bytes(length)
    }
}

/// Computes the CRC-32 of every byte that passes through.
struct Checksummed<T> {
    inner: T,
    crc: crc32fast::Hasher,
}

impl<T> Checksummed<T> {
    fn new(inner: T) -> Checksummed<T> {
        Checksummed {
            inner,
            crc: crc32fast::Hasher::new(),
        }
    }
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.crc.update(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Checksummed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.crc.update(&buf[..read]);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase};

    /// A fresh store (every table) with a few rows in tables of different key types.
    fn sample(dir: &Path) -> Database {
        let db = Database::create(dir.join("s.redb")).unwrap();
        super::super::write::initialise(&db, &jiff::tz::TimeZone::UTC).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut leads = txn.open_table(super::super::tables::LEADS).unwrap();
            leads.insert(7, b"seven".as_slice()).unwrap();
            leads.insert(u128::MAX, b"".as_slice()).unwrap();
            let mut touches = txn.open_table(super::super::tables::TOUCHES).unwrap();
            touches.insert(("+8613800138000", 5, 7), "expo").unwrap();
            let mut meta = txn.open_table(super::super::tables::META).unwrap();
            meta.insert(
                super::super::erasure::REWRITE_PENDING_KEY,
                0i64.to_le_bytes().as_slice(),
            )
            .unwrap();
        }
        txn.commit().unwrap();
        db
    }

    fn backup_of(db: &Database, at: jiff::Timestamp) -> Vec<u8> {
        let mut bytes = Vec::new();
        write(&db.begin_read().unwrap(), at, &mut bytes).unwrap();
        bytes
    }

    #[test]
    fn a_restored_backup_backs_up_to_the_same_bytes_and_every_table_is_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = sample(dir.path());
        let at = jiff::Timestamp::from_millisecond(1_764_000_000_000).unwrap();
        let bytes = backup_of(&db, at);
        let tables = db.begin_read().unwrap().list_tables().unwrap().count();

        let summary = verify(bytes.as_slice()).unwrap();
        assert_eq!(summary.taken_at, at);
        assert_eq!(
            summary.copied.tables, tables,
            "every table of a fresh store"
        );

        let dest = dir.path().join("restored.redb");
        assert_eq!(
            restore(bytes.as_slice(), &dest, Some(1 << 20)).unwrap(),
            summary
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let restored = Database::open(&dest).unwrap();
        let read = restored.begin_read().unwrap();
        let leads = read.open_table(super::super::tables::LEADS).unwrap();
        assert_eq!(leads.get(7).unwrap().unwrap().value(), b"seven");
        assert_eq!(
            super::super::erasure::rewrite_pending(&read).unwrap(),
            None,
            "a restored file has no freed pages to rewrite"
        );
        drop((leads, read));
        // Only the rewrite mark differs: the restore dropped it.
        let again = backup_of(&restored, at);
        let txn = db.begin_write().unwrap();
        txn.open_table(super::super::tables::META)
            .unwrap()
            .remove(super::super::erasure::REWRITE_PENDING_KEY)
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(again, backup_of(&db, at));
        assert!(
            restore(bytes.as_slice(), &dest, None).is_err(),
            "never over a file"
        );
    }

    #[test]
    fn a_cut_short_or_damaged_backup_is_refused_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = backup_of(&sample(dir.path()), jiff::Timestamp::UNIX_EPOCH);
        let dest = dir.path().join("restored.redb");
        for cut in [0, 5, 16, 40, bytes.len() / 2, bytes.len() - 1] {
            let error = restore(&bytes[..cut], &dest, None).unwrap_err();
            assert!(
                ["backup_cut_short", "not_a_backup"].contains(&error.code),
                "{cut}: {error:?}"
            );
            assert!(!dest.exists());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            restore(longer.as_slice(), &dest, None).unwrap_err().code,
            "backup_damaged"
        );
        // A changed byte inside a row's value: only the checksum can tell.
        let at = bytes.windows(5).position(|w| w == b"seven").unwrap();
        let mut changed = bytes.clone();
        changed[at] = b'S';
        assert_eq!(
            restore(changed.as_slice(), &dest, None).unwrap_err().code,
            "backup_damaged"
        );
        assert!(!dest.exists());
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn a_changed_backup_is_refused_never_a_panic(
                position in any::<prop::sample::Index>(),
                byte in any::<u8>(),
                cut in any::<prop::sample::Index>(),
            ) {
                let dir = tempfile::tempdir().unwrap();
                let bytes = backup_of(&sample(dir.path()), jiff::Timestamp::UNIX_EPOCH);
                let mut changed = bytes.clone();
                let at = position.index(changed.len());
                changed[at] = byte;
                let changed = &changed[..changed.len() - cut.index(2)];
                let dest = dir.path().join("restored.redb");
                match restore(changed, &dest, Some(1 << 20)) {
                    Ok(_) => prop_assert_eq!(changed, bytes.as_slice()),
                    Err(error) => {
                        prop_assert_eq!(error.status(), 422);
                        prop_assert!(!dest.exists());
                    }
                }
            }
        }
    }
}
