//! Reading import bodies: CSV with a header row (UTF-8, with or without a BOM) or a JSON
//! array of objects. Each row keeps its line number, so errors point at the line a
//! marketer sees in their spreadsheet (the header is line 1).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lead::{Capture, Channel};

/// Import bodies may be this large (a trade show's whole sign-up sheet, a CRM export).
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Rows per import request; more must be split.
pub const MAX_ROWS: usize = 200_000;
/// Columns (CSV header names, or distinct JSON keys) per import: a CRM export has a few
/// hundred at most, and a cap keeps a column's number small in every cell.
pub const MAX_COLUMNS: usize = 1000;
/// Characters in a column name: real headers are words ("phone", "备注"); a longer one is
/// a mistake or an attack, and every name is copied into the report's ignored columns.
pub const MAX_COLUMN_NAME_CHARS: usize = 256;

/// The column names of an import, shared by all its rows: a row holds its values and the
/// number of each value's column, never a copy of the name (a 200,000-character header
/// over 1,000 rows was once 200 MB).
#[derive(Debug, Clone, Default)]
struct Columns {
    names: Vec<Arc<str>>,
    /// Name → column, built once, so `Row::get` does not compare names cell by cell.
    index: HashMap<Arc<str>, u16>,
}

impl Columns {
    /// The column called `name`, added if new; `None` past `MAX_COLUMNS`.
    fn column(&mut self, name: &str) -> Option<u16> {
        if let Some(&column) = self.index.get(name) {
            return Some(column);
        }
        if self.names.len() >= MAX_COLUMNS {
            return None;
        }
        let column = u16::try_from(self.names.len()).ok()?;
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.index.insert(name, column);
        Some(column)
    }
}

/// Refuses a column name longer than `MAX_COLUMN_NAME_CHARS`.
fn check_column_name(name: &str) -> Result<()> {
    if name.chars().count() > MAX_COLUMN_NAME_CHARS {
        let start: String = name.chars().take(40).collect();
        return Err(Error::bad_request(
            "column_name_too_long",
            format!(
                "a column name is at most {MAX_COLUMN_NAME_CHARS} characters; {start:?}… is longer"
            ),
        ));
    }
    Ok(())
}

fn too_many_columns() -> Error {
    Error::bad_request(
        "too_many_columns",
        format!("an import takes at most {MAX_COLUMNS} columns"),
    )
}

fn too_many_rows() -> Error {
    Error::new(
        crate::error::ErrorKind::PayloadTooLarge,
        "too_many_rows",
        format!("an import takes at most {MAX_ROWS} rows; split the file"),
    )
}

/// One row's cells while it is read: its values back to back in one string, and each
/// value's column and end. Six bytes a cell besides the value itself, which a cell's
/// value and separator in the body outweigh at least a third.
#[derive(Default)]
struct CellsBuilder {
    text: String,
    columns: Vec<u16>,
    ends: Vec<u32>,
}

impl CellsBuilder {
    /// Ends the value appended to `text` since the last cell, as a cell of `column`.
    fn end_cell(&mut self, column: u16) {
        self.columns.push(column);
        // Bodies are refused above `u32::MAX` bytes (`read_rows`); demo rows are short.
        self.ends
            .push(u32::try_from(self.text.len()).expect("row text under 4 GiB"));
    }

    /// The row, with buffers the exact size of its cells; the builder is left empty for
    /// the next row.
    fn row(&mut self, line: usize, columns: Arc<Columns>) -> Row {
        let row = Row {
            line,
            columns,
            text: self.text.as_str().into(),
            cells: self.columns.as_slice().into(),
            ends: self.ends.as_slice().into(),
        };
        self.text.clear();
        self.columns.clear();
        self.ends.clear();
        row
    }
}

/// One row: its line (CSV) or position (JSON, 1-based) and its non-empty cells by column.
#[derive(Clone)]
pub struct Row {
    pub line: usize,
    columns: Arc<Columns>,
    /// The values, back to back.
    text: Box<str>,
    /// Each value's column in `columns`.
    cells: Box<[u16]>,
    /// Each value's end in `text` (it starts where the one before ends).
    ends: Box<[u32]>,
}

impl Row {
    /// A row of the given cells, in order (the demo builds its leads as import rows).
    pub fn new<K: AsRef<str>, V: AsRef<str>>(
        line: usize,
        cells: impl IntoIterator<Item = (K, V)>,
    ) -> Row {
        let mut row = CellsBuilder::default().row(line, Arc::default());
        row.extend(cells);
        row
    }

    /// The value of the first cell of column `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let column = *self.columns.index.get(key)?;
        let i = self.cells.iter().position(|&c| c == column)?;
        Some(self.value(i))
    }

    /// The cells in order, as (column name, value).
    pub fn cells(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.cells
            .iter()
            .enumerate()
            .map(|(i, &c)| (&*self.columns.names[usize::from(c)], self.value(i)))
    }

    fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }
}

/// Adds cells after the row's own (a lead's tracking keys, in the demo). Meant for rows
/// built one by one: the row's columns are copied first if other rows share them.
impl<K: AsRef<str>, V: AsRef<str>> Extend<(K, V)> for Row {
    fn extend<T: IntoIterator<Item = (K, V)>>(&mut self, cells: T) {
        let mut builder = CellsBuilder {
            text: self.text.to_string(),
            columns: self.cells.to_vec(),
            ends: self.ends.to_vec(),
        };
        let columns = Arc::make_mut(&mut self.columns);
        for (key, value) in cells {
            builder.text.push_str(value.as_ref());
            let column = columns
                .column(key.as_ref())
                .expect("rows built in code have a few columns");
            builder.end_cell(column);
        }
        *self = builder.row(self.line, self.columns.clone());
    }
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Row")
            .field("line", &self.line)
            .field("cells", &self.cells().collect::<Vec<_>>())
            .finish()
    }
}

impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.line == other.line && self.cells().eq(other.cells())
    }
}

impl Eq for Row {}

/// A problem with one row, as the import report lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

impl RowError {
    pub fn new(line: usize, error: &Error) -> RowError {
        RowError {
            line,
            field: error.field.clone(),
            message: error.message.clone(),
        }
    }
}

pub enum Format {
    Csv,
    Json,
}

/// The rows of a body, or a 400/413/415 if the body as a whole cannot be read. The rows
/// take memory in proportion to the body (no name is copied per cell), and reading stops
/// at the first row past `MAX_ROWS`.
pub fn read_rows(format: Format, body: &[u8]) -> Result<Vec<Row>> {
    // Cell ends are `u32`s; the HTTP body limit is far below.
    if u32::try_from(body.len()).is_err() {
        return Err(Error::new(
            crate::error::ErrorKind::PayloadTooLarge,
            "body_too_large",
            format!("an import body takes at most {IMPORT_BODY_LIMIT} bytes"),
        ));
    }
    match format {
        Format::Csv => csv_rows(body),
        Format::Json => json_rows(body),
    }
}

/// The 400 for a body that is not UTF-8, naming the first bad byte.
fn invalid_utf8(body: &[u8]) -> Error {
    let byte = std::str::from_utf8(body)
        .err()
        .map_or(0, |e| e.valid_up_to());
    Error::bad_request(
        "invalid_utf8",
        format!("the CSV is not UTF-8 (byte {byte}); save it as \"CSV UTF-8\""),
    )
}

fn csv_rows(body: &[u8]) -> Result<Vec<Row>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    // UTF-8 is checked record by record as they are read (csv does), so a body past the
    // row limit is refused at its first extra row, not after the whole of it is checked.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let names = reader.headers().map_err(|e| match e.kind() {
        csv::ErrorKind::Utf8 { .. } => invalid_utf8(body),
        _ => Error::bad_request(
            "malformed_csv",
            format!("the CSV header cannot be read: {e}"),
        ),
    })?;
    if names.len() > MAX_COLUMNS {
        return Err(too_many_columns());
    }
    let names: Vec<String> = names
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if names.iter().all(String::is_empty) {
        return Err(Error::bad_request(
            "malformed_csv",
            "the CSV has no header row",
        ));
    }
    let mut columns = Columns::default();
    // The column of each position in a record; `None` for a header cell left empty.
    let mut positions = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        check_column_name(name)?;
        if name.is_empty() {
            positions.push(None);
        } else if columns.index.contains_key(name.as_str()) {
            return Err(Error::bad_request(
                "duplicate_column",
                format!("the CSV header names {name:?} twice (column {})", i + 1),
            ));
        } else {
            positions.push(Some(columns.column(name).ok_or_else(too_many_columns)?));
        }
    }
    drop(names);
    let columns = Arc::new(columns);

    let mut rows = Vec::new();
    let mut lines = LineCounter::new(body);
    let mut record = csv::StringRecord::new();
    let mut cells = CellsBuilder::default();
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| match e.kind() {
                csv::ErrorKind::Utf8 { .. } => invalid_utf8(body),
                _ => {
                    let line = e.position().map_or(0, |p| lines.line_at(p.byte() as usize));
                    Error::bad_request(
                        "malformed_csv",
                        format!("the CSV cannot be read at line {line}: {e}"),
                    )
                }
            })?;
        if !more {
            break;
        }
        if rows.len() == MAX_ROWS {
            return Err(too_many_rows());
        }
        let line = record
            .position()
            .map_or(rows.len() + 2, |p| lines.line_at(p.byte() as usize));
        for (column, value) in positions.iter().zip(record.iter().map(str::trim)) {
            if let (Some(column), false) = (column, value.is_empty()) {
                cells.text.push_str(value);
                cells.end_cell(*column);
            }
        }
        rows.push(cells.row(line, columns.clone()));
    }
    Ok(rows)
}

/// Line numbers from byte offsets. csv's own line count is one short in files with CRLF
/// line ends (it counts the `\n` of the previous line after the record starts), so the
/// lines are counted here, once, front to back.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the first character at or after `offset` that is not a line end.
    /// Offsets must not decrease between calls.
    fn line_at(&mut self, offset: usize) -> usize {
        let mut start = offset.min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        if start > self.offset {
            // A line ends at "\n", "\r\n" or a lone "\r" (old spreadsheet exports).
            let text = self.text;
            let from = self.offset;
            self.line += text[from..start]
                .iter()
                .enumerate()
                .filter(|&(i, &b)| {
                    b == b'\n' || (b == b'\r' && text.get(from + i + 1) != Some(&b'\n'))
                })
                .count();
            self.offset = start;
        }
        self.line
    }
}

fn json_rows(body: &[u8]) -> Result<Vec<Row>> {
    use crate::http::DUPLICATE_KEY;
    use serde::de::DeserializeSeed;

    let mut reader = JsonRows::default();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let read = Items(&mut reader)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    // A refusal of the reader's own (row or column limit, an item that is not an object)
    // ended the parse; it says more than serde's error.
    if let Some(error) = reader.error {
        return Err(error);
    }
    read.map_err(|e| {
        let text = e.to_string();
        match text.strip_prefix(DUPLICATE_KEY) {
            Some(rest) => {
                Error::bad_request("duplicate_key", format!("a row repeats a key: {rest}"))
            }
            None => Error::bad_request(
                "malformed_json",
                format!("the body must be a JSON array of objects: {text}"),
            ),
        }
    })?;
    // The keys are known only now: every row gets the one list.
    let columns = Arc::new(reader.columns);
    let mut rows = reader.rows;
    for row in &mut rows {
        row.columns = columns.clone();
    }
    Ok(rows)
}

/// The state of a JSON import read item by item, straight into rows: keys become columns
/// (one name each, however many objects repeat it), values go to the row's text.
#[derive(Default)]
struct JsonRows {
    columns: Columns,
    rows: Vec<Row>,
    cells: CellsBuilder,
    /// The current object's keys as sent, for the duplicate check.
    keys: HashSet<String>,
    /// Whether the current item turned out to be an object.
    in_object: bool,
    error: Option<Error>,
}

impl JsonRows {
    /// Stops the parse with `error`, which `json_rows` then returns.
    fn refuse<E: serde::de::Error>(&mut self, error: Error) -> E {
        let message = error.message.clone();
        self.error = Some(error);
        E::custom(message)
    }
}

/// The top-level array.
struct Items<'a>(&'a mut JsonRows);

impl<'de> serde::de::DeserializeSeed<'de> for Items<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> std::result::Result<(), A::Error> {
        while items.next_element_seed(Item(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One item of the array, which must be an object.
struct Item<'a>(&'a mut JsonRows);

impl<'de> serde::de::DeserializeSeed<'de> for Item<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        let reader = self.0;
        // Called only when the array has another item: the first one past the limit is
        // refused before it is read.
        if reader.rows.len() == MAX_ROWS {
            return Err(reader.refuse(too_many_rows()));
        }
        let index = reader.rows.len() + 1;
        reader.in_object = false;
        let read = d.deserialize_map(Item(&mut *reader));
        if read.is_err() && !reader.in_object && reader.error.is_none() {
            return Err(reader.refuse(Error::bad_request(
                "malformed_json",
                format!("item {index} is not an object"),
            )));
        }
        read
    }
}

impl<'de> serde::de::Visitor<'de> for Item<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut object: A,
    ) -> std::result::Result<(), A::Error> {
        let reader = self.0;
        reader.in_object = true;
        reader.keys.clear();
        while let Some(key) = object.next_key::<String>()? {
            if reader.keys.contains(&key) {
                return Err(serde::de::Error::custom(format!(
                    "{}{key:?}",
                    crate::http::DUPLICATE_KEY
                )));
            }
            let start = reader.cells.text.len();
            object.next_value_seed(Cell(&mut reader.cells.text))?;
            // Null and blank values are no cells, as in a CSV.
            if reader.cells.text.len() > start {
                if let Err(error) = check_column_name(&key) {
                    return Err(reader.refuse(error));
                }
                let Some(column) = reader.columns.column(&key.to_ascii_lowercase()) else {
                    return Err(reader.refuse(too_many_columns()));
                };
                reader.cells.end_cell(column);
            }
            reader.keys.insert(key);
        }
        let line = reader.rows.len() + 1;
        // The columns are set when the whole array is read.
        let row = reader.cells.row(line, Arc::default());
        reader.rows.push(row);
        Ok(())
    }
}

/// One value of an object, appended to the row's text as its cell: strings trimmed,
/// numbers and booleans as JSON writes them, nothing for null, and a NUL marker for an
/// array or object (not a cell: `lead_from_row` reports it).
struct Cell<'a>(&'a mut String);

impl<'de> serde::de::DeserializeSeed<'de> for Cell<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Cell<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<(), E> {
        self.0.push_str(&serde_json::Number::from(v).to_string());
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<(), E> {
        self.0.push_str(&serde_json::Number::from(v).to_string());
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<(), E> {
        // As `serde_json::Value` reads it (JSON has no NaN or infinity).
        if let Some(n) = serde_json::Number::from_f64(v) {
            self.0.push_str(&n.to_string());
        }
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<(), E> {
        self.0.push_str(v.trim());
        Ok(())
    }

    fn visit_unit<E>(self) -> std::result::Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> std::result::Result<(), A::Error> {
        while items.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        self.0.push('\u{0}');
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut object: A,
    ) -> std::result::Result<(), A::Error> {
        while object
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        self.0.push('\u{0}');
        Ok(())
    }
}

/// Columns an import row may carry besides its form's fields and the tracking set.
pub const LEAD_COLUMNS: &[&str] = &["campaign", "received_at", "status", "external_id"];
const MAX_EXTERNAL_ID_CHARS: usize = 128;

/// Turns one import row into a lead for the campaign it names, checked exactly like a form
/// submission (formats, lengths, normalisation, phone-or-email) but without the form's
/// other required fields.
pub fn lead_from_row(
    row: &Row,
    campaigns: &std::collections::HashMap<String, crate::campaign::Campaign>,
    forms: &crate::forms::FormSet,
    now: jiff::Timestamp,
) -> Result<Capture> {
    use crate::domain::LeadStatus;
    use crate::submission::{RawSubmission, validate};

    let slug = row.get("campaign").ok_or_else(|| {
        Error::invalid(
            "campaign",
            "required",
            "campaign (a campaign slug) is required",
        )
    })?;
    let campaign = campaigns.get(slug).ok_or_else(|| {
        Error::invalid(
            "campaign",
            "unknown_campaign",
            format!("there is no campaign {slug:?}"),
        )
    })?;
    let received_at = match row.get("received_at") {
        Some(text) => crate::conversion::parse_timestamp(text, "received_at")?,
        None => now,
    };
    let received_at = crate::conversion::not_in_future(received_at, now, "received_at")?;
    // Before the row's other cells, as a time is checked in every channel.
    crate::lead::lead_time(received_at, "received_at")?;
    let status = row
        .get("status")
        .map(str::parse::<LeadStatus>)
        .transpose()?
        .unwrap_or(LeadStatus::New);
    let external_id = row.get("external_id").map(str::to_owned);
    if external_id.as_ref().is_some_and(|id| {
        id.chars().count() > MAX_EXTERNAL_ID_CHARS
            || id
                .chars()
                .any(|c| crate::domain::is_forbidden_in_text(c, false))
    }) {
        return Err(Error::invalid(
            "external_id",
            "invalid_value",
            format!("external_id must be at most {MAX_EXTERNAL_ID_CHARS} printable characters"),
        ));
    }
    if let Some((key, _)) = row.cells().find(|(_, v)| v.contains('\u{0}')) {
        return Err(Error::invalid(
            key,
            "invalid_value",
            format!("{key} must be text"),
        ));
    }
    let form = forms.for_campaign(campaign).for_import();
    let raw = RawSubmission {
        values: row
            .cells()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.to_owned(), Some(v.to_owned())))
            .collect(),
    };
    let submission = validate(&form, &raw, None).map_err(|errors| errors[0].to_error())?;
    Ok(Capture {
        campaign: campaign.slug.clone(),
        details: submission.details,
        channel: Channel::Import {
            received_at,
            external_id,
            status,
        },
    })
}

/// Columns of the rows that no campaign form, tracking key or import column knows: they
/// are not stored, and the report says so.
pub fn ignored_columns(rows: &[Row], known: impl Fn(&str) -> bool) -> Vec<String> {
    // Each column of each header is judged once, not once per cell: rows of one import
    // share their columns.
    let mut seen: HashSet<(*const Columns, u16)> = HashSet::new();
    let mut ignored = std::collections::BTreeSet::new();
    for row in rows {
        for &column in row.cells.iter() {
            if seen.insert((Arc::as_ptr(&row.columns), column)) {
                let name = &*row.columns.names[usize::from(column)];
                if !known(name) {
                    ignored.insert(name);
                }
            }
        }
    }
    ignored.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_their_spreadsheet_line_numbers() {
        let body = "\u{feff}Campaign,Phone,Name\r\nexpo,13800138000,张三\r\n\r\nexpo,,李四\r\n";
        let rows = read_rows(Format::Csv, body.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].get("campaign"), Some("expo"));
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].get("phone"), None);
    }

    #[test]
    fn line_numbers_do_not_depend_on_line_ends() {
        for body in ["a,b\nx,y\n\nz,w\n", "a,b\r\nx,y\r\n\r\nz,w\r\n"] {
            let lines: Vec<usize> = read_rows(Format::Csv, body.as_bytes())
                .unwrap()
                .iter()
                .map(|r| r.line)
                .collect();
            assert_eq!(lines, [2, 4], "{body:?}");
        }
    }

    #[test]
    fn quoted_cells_may_hold_commas_and_newlines() {
        let body = "campaign,message\nexpo,\"a, b\nc\"\nexpo,x\n";
        let rows = read_rows(Format::Csv, body.as_bytes()).unwrap();
        assert_eq!(rows[0].get("message"), Some("a, b\nc"));
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn unreadable_bodies_are_refused_whole() {
        assert_eq!(
            read_rows(Format::Csv, b"\xff\xfe").unwrap_err().code,
            "invalid_utf8"
        );
        assert_eq!(
            read_rows(Format::Json, b"{}").unwrap_err().code,
            "malformed_json"
        );
        assert_eq!(
            read_rows(Format::Json, b"[1]").unwrap_err().code,
            "malformed_json"
        );
    }

    #[test]
    fn json_rows_are_numbered_from_one() {
        let rows = read_rows(
            Format::Json,
            br#"[{"campaign":"expo","phone":13800138000},{"campaign":"x","name":null}]"#,
        )
        .unwrap();
        assert_eq!(
            (rows[0].line, rows[0].get("phone")),
            (1, Some("13800138000"))
        );
        assert_eq!(rows[1].cells().count(), 1);
    }

    /// The row limit is enforced while reading: the first row past it ends the read, so
    /// what follows it (here bytes that are not UTF-8, or not JSON) is never looked at.
    #[test]
    fn the_row_limit_stops_the_read_at_the_first_row_past_it() {
        let mut csv = String::from("campaign\n");
        for _ in 0..MAX_ROWS {
            csv.push_str("x\n");
        }
        assert_eq!(
            read_rows(Format::Csv, csv.as_bytes()).unwrap().len(),
            MAX_ROWS
        );
        csv.push_str("x\n");
        let mut csv = csv.into_bytes();
        csv.extend_from_slice(b"\xff\xfe\n");
        let error = read_rows(Format::Csv, &csv).unwrap_err();
        assert_eq!((error.status(), error.code), (413, "too_many_rows"));

        let mut json = String::from("[");
        for _ in 0..MAX_ROWS {
            json.push_str("{},");
        }
        assert_eq!(
            read_rows(
                Format::Json,
                format!("{}]", &json[..json.len() - 1]).as_bytes()
            )
            .unwrap()
            .len(),
            MAX_ROWS
        );
        json.push_str("{}, this is not JSON");
        let error = read_rows(Format::Json, json.as_bytes()).unwrap_err();
        assert_eq!((error.status(), error.code), (413, "too_many_rows"));
    }

    #[test]
    fn a_column_name_is_at_most_256_characters() {
        let long = "长".repeat(MAX_COLUMN_NAME_CHARS + 1);
        for (format, body) in [
            (Format::Csv, format!("campaign,{long}\nexpo,x\n")),
            (
                Format::Json,
                format!(r#"[{{"campaign": "expo", "{long}": "x"}}]"#),
            ),
        ] {
            let error = read_rows(format, body.as_bytes()).unwrap_err();
            assert_eq!((error.status(), error.code), (400, "column_name_too_long"));
        }
        let fits = "长".repeat(MAX_COLUMN_NAME_CHARS);
        assert!(read_rows(Format::Csv, format!("campaign,{fits}\nexpo,x\n").as_bytes()).is_ok());
    }

    /// Every row refers to the one copy of a column name (a 200,000-character header over
    /// 1,000 rows was 200 MB when each cell had its own).
    #[test]
    fn rows_share_their_column_names() {
        let name = "h".repeat(MAX_COLUMN_NAME_CHARS);
        let body = format!("campaign,{name},,empty\n{}", "x,y,z,\n".repeat(100));
        let rows = read_rows(Format::Csv, body.as_bytes()).unwrap();
        assert_eq!(rows.len(), 100);
        let first: Vec<(&str, &str)> = rows[0].cells().collect();
        assert_eq!(first, [("campaign", "x"), (name.as_str(), "y")]);
        for row in &rows {
            let (long, value) = row.cells().nth(1).unwrap();
            assert_eq!(value, "y");
            assert!(std::ptr::eq(long, first[1].0), "line {}", row.line);
        }
        assert_eq!(rows[99].get(&name), Some("y"));
        assert_eq!(rows[99].get("empty"), None);

        let object = format!(r#"{{"{name}": "y", "Campaign": 1}}"#);
        let body = format!("[{object},{object},{object}]");
        let rows = read_rows(Format::Json, body.as_bytes()).unwrap();
        assert_eq!(rows.len(), 3);
        let (long, _) = rows[0].cells().next().unwrap();
        for row in &rows {
            assert!(std::ptr::eq(row.cells().next().unwrap().0, long));
            assert_eq!(row.get("campaign"), Some("1"));
        }
    }

    #[test]
    fn an_import_has_at_most_max_columns() {
        let header = |n: usize| {
            (0..n)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let rows = read_rows(
            Format::Csv,
            format!("{}\n1\n", header(MAX_COLUMNS)).as_bytes(),
        );
        assert_eq!(rows.unwrap()[0].get("c0"), Some("1"));
        let error = read_rows(
            Format::Csv,
            format!("{}\n1\n", header(MAX_COLUMNS + 1)).as_bytes(),
        )
        .unwrap_err();
        assert_eq!((error.status(), error.code), (400, "too_many_columns"));

        // JSON keys are counted over the whole array, once each, case aside.
        let objects = |n: usize| {
            let items: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"k{i}": 1, "K{i}": 2, "same": 3}}"#))
                .collect();
            format!("[{}]", items.join(","))
        };
        let rows = read_rows(Format::Json, objects(MAX_COLUMNS - 1).as_bytes()).unwrap();
        assert_eq!(
            rows[5].cells().collect::<Vec<_>>(),
            [("k5", "1"), ("k5", "2"), ("same", "3")]
        );
        let error = read_rows(Format::Json, objects(MAX_COLUMNS).as_bytes()).unwrap_err();
        assert_eq!((error.status(), error.code), (400, "too_many_columns"));
    }

    /// The JSON reader gives the cells `serde_json::Value` gave before it read item by item.
    #[test]
    fn json_cells_are_read_as_before() {
        fn reference(body: &str) -> Vec<(usize, Vec<(String, String)>)> {
            let items: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_str(body).unwrap();
            items
                .into_iter()
                .enumerate()
                .map(|(i, object)| {
                    let cells = object
                        .into_iter()
                        .filter_map(|(key, value)| {
                            let text = match value {
                                serde_json::Value::String(s) => s,
                                serde_json::Value::Number(n) => n.to_string(),
                                serde_json::Value::Bool(b) => b.to_string(),
                                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                                    "\u{0}".to_owned()
                                }
                                serde_json::Value::Null => return None,
                            };
                            let text = text.trim().to_owned();
                            (!text.is_empty()).then_some((key.to_ascii_lowercase(), text))
                        })
                        .collect();
                    (i + 1, cells)
                })
                .collect()
        }
        let body = r#"[
            {"Campaign": " expo ", "phone": 13800138000, "n": -7, "f": 1.5, "e": 1e21,
             "small": 0.1, "t": true, "no": false, "x": null, "blank": "  ", "a": [1, {"b": 2}],
             "o": {"p": [], "p": 1}, "Name": "张三", "name": "李四"},
            {},
            {"big": 18446744073709551615, "neg": -9223372036854775808, "esc": "a\"b\u0000c"}
        ]"#;
        let rows = read_rows(Format::Json, body.as_bytes()).unwrap();
        let got: Vec<(usize, Vec<(String, String)>)> = rows
            .iter()
            .map(|r| {
                let cells = r
                    .cells()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                (r.line, cells)
            })
            .collect();
        assert_eq!(got, reference(body));
        assert_eq!(rows[0].get("name"), Some("张三"));

        for (body, code, message) in [
            (
                r#"[{"a": 1}, 2]"#,
                "malformed_json",
                "item 2 is not an object",
            ),
            (
                r#"[{"a": 1}, null]"#,
                "malformed_json",
                "item 2 is not an object",
            ),
            (
                r#"[{"a": 1, "a": 2}]"#,
                "duplicate_key",
                "a row repeats a key: \"a\"",
            ),
            (
                r#"{"a": 1}"#,
                "malformed_json",
                "the body must be a JSON array of objects",
            ),
            (r#"[{"a": 1}] x"#, "malformed_json", "trailing characters"),
            (r#"[{"a": 1}"#, "malformed_json", "EOF"),
        ] {
            let error = read_rows(Format::Json, body.as_bytes()).unwrap_err();
            assert_eq!(error.code, code, "{body}");
            assert!(error.message.contains(message), "{body}: {}", error.message);
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Any bytes as a CSV import: rows or a clear 4xx, never a panic, and line
        /// numbers that only grow.
        #[test]
        fn csv_import_never_panics(body in proptest::collection::vec(prop_oneof![
            Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b'a'), Just(b'1'), any::<u8>()
        ], 0..400)) {
            match read_rows(Format::Csv, &body) {
                Ok(rows) => prop_assert!(rows.windows(2).all(|w| w[0].line < w[1].line)),
                Err(error) => prop_assert!((400..500).contains(&error.status())),
            }
        }

        #[test]
        fn json_import_never_panics(body in "[\\[\\]{}\",:a-z0-9 ]{0,200}") {
            if let Err(error) = read_rows(Format::Json, body.as_bytes()) {
                prop_assert!((400..500).contains(&error.status()));
            }
        }

        /// A row of arbitrary cells becomes a lead or a 422 naming a field.
        #[test]
        fn lead_rows_never_panic(cells in proptest::collection::vec(("[a-z_]{1,12}", "\\PC{0,40}"), 0..12)) {
            let forms = crate::forms::FormSet::builtin();
            let body = serde_json::json!({"slug": "expo", "name": "x"});
            let campaign = crate::campaign::Campaign::create(body.as_object().unwrap(), &forms, jiff::Timestamp::UNIX_EPOCH).unwrap();
            let campaigns = std::collections::HashMap::from([("expo".to_owned(), campaign)]);
            let mut row = Row::new(2, [("campaign", "expo")]);
            row.extend(cells);
            if let Err(error) = lead_from_row(&row, &campaigns, &forms, jiff::Timestamp::now()) {
                prop_assert_eq!(error.status(), 422);
                prop_assert!(error.field.is_some());
            }
        }
    }
}
