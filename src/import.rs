//! Reading import bodies: CSV with a header row (UTF-8, with or without a BOM) or a JSON
//! array of objects. Each row keeps its line number, so errors point at the line a
//! marketer sees in their spreadsheet (the header is line 1).

use crate::error::{Error, Result};
use crate::lead::{Capture, Channel};

/// Import bodies may be this large (a trade show's whole sign-up sheet, a CRM export).
pub const IMPORT_BODY_LIMIT: usize = 32 * 1024 * 1024;
/// Rows per import request; more must be split.
pub const MAX_ROWS: usize = 200_000;

/// One row: its line (CSV) or position (JSON, 1-based) and its non-empty cells by column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub cells: Vec<(String, String)>,
}

impl Row {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.cells
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

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

/// The rows of a body, or a 400/415 if the body as a whole cannot be read.
pub fn read_rows(format: Format, body: &[u8]) -> Result<Vec<Row>> {
    let rows = match format {
        Format::Csv => csv_rows(body)?,
        Format::Json => json_rows(body)?,
    };
    if rows.len() > MAX_ROWS {
        return Err(Error::new(
            crate::error::ErrorKind::PayloadTooLarge,
            "too_many_rows",
            format!("an import takes at most {MAX_ROWS} rows; split the file"),
        ));
    }
    Ok(rows)
}

fn csv_rows(body: &[u8]) -> Result<Vec<Row>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::bad_request(
            "invalid_utf8",
            format!(
                "the CSV is not UTF-8 (byte {}); save it as \"CSV UTF-8\"",
                e.valid_up_to()
            ),
        )
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| {
            Error::bad_request(
                "malformed_csv",
                format!("the CSV header cannot be read: {e}"),
            )
        })?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(Error::bad_request(
            "malformed_csv",
            "the CSV has no header row",
        ));
    }
    if let Some((i, repeated)) = header
        .iter()
        .enumerate()
        .find(|(i, h)| !h.is_empty() && header[..*i].contains(h))
    {
        return Err(Error::bad_request(
            "duplicate_column",
            format!("the CSV header names {repeated:?} twice (column {})", i + 1),
        ));
    }
    let mut rows = Vec::new();
    let mut lines = LineCounter::new(text);
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.line_at(p.byte() as usize));
            Error::bad_request(
                "malformed_csv",
                format!("the CSV cannot be read at line {line}: {e}"),
            )
        })?;
        let line = record
            .position()
            .map_or(rows.len() + 2, |p| lines.line_at(p.byte() as usize));
        let cells = header
            .iter()
            .zip(record.iter().map(str::trim))
            .filter(|(key, value)| !key.is_empty() && !value.is_empty())
            .map(|(key, value)| (key.clone(), value.to_owned()))
            .collect();
        rows.push(Row { line, cells });
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
    fn new(text: &'a str) -> LineCounter<'a> {
        LineCounter {
            text: text.as_bytes(),
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
    use crate::http::{DUPLICATE_KEY, UniqueKeys};
    let items: Vec<UniqueKeys> = serde_json::from_slice(body).map_err(|e| {
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
    let mut rows = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let crate::http::UniqueKeys(Some(object)) = item else {
            return Err(Error::bad_request(
                "malformed_json",
                format!("item {} is not an object", index + 1),
            ));
        };
        let cells = object
            .into_iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    // Arrays and objects are not cells; keep a marker so they are reported.
                    serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                        "\u{0}".to_owned()
                    }
                    serde_json::Value::Null => return None,
                };
                let text = text.trim().to_owned();
                (!text.is_empty()).then_some((key.to_ascii_lowercase(), text))
            })
            .collect();
        rows.push(Row {
            line: index + 1,
            cells,
        });
    }
    Ok(rows)
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
    if let Some((key, _)) = row.cells.iter().find(|(_, v)| v.contains('\u{0}')) {
        return Err(Error::invalid(
            key.clone(),
            "invalid_value",
            format!("{key} must be text"),
        ));
    }
    let form = forms.for_campaign(campaign).for_import();
    let raw = RawSubmission {
        values: row
            .cells
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), Some(v.clone())))
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
    let mut ignored: Vec<String> = rows
        .iter()
        .flat_map(|r| r.cells.iter().map(|(k, _)| k.clone()))
        .filter(|k| !known(k))
        .collect();
    ignored.sort();
    ignored.dedup();
    ignored
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
        assert_eq!(rows[1].cells.len(), 1);
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
            let mut row = Row { line: 2, cells: vec![("campaign".into(), "expo".into())] };
            row.cells.extend(cells);
            if let Err(error) = lead_from_row(&row, &campaigns, &forms, jiff::Timestamp::now()) {
                prop_assert_eq!(error.status(), 422);
                prop_assert!(error.field.is_some());
            }
        }
    }
}
