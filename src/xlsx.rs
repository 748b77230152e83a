//! The ROI summary as an Excel workbook: one sheet per currency (amounts in different
//! currencies are never in one column), numbers stored as numbers, money with two
//! decimals, percentages as fractions formatted `0.00%`, the header row frozen.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::report::{COLUMNS, Lang, title, total_line};
use crate::roi::Report;

/// How a column's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// A decimal string in the JSON (`"48500.50"`), a number in the sheet.
    Money,
    /// A percentage in the JSON (`150.0`), the fraction (`1.5`) in the sheet.
    Percent,
    Count,
    Decimal,
}

fn kind(field: &str) -> Kind {
    match field {
        "key" | "name" | "kind" | "channel" | "currency" => Kind::Text,
        "budget" | "cost" | "revenue" | "cpl" | "cost_per_order" | "target_revenue" => Kind::Money,
        f if f.ends_with("_pct") => Kind::Percent,
        "scans" | "form_views" | "leads" | "valid_leads" | "new_contacts" | "mqls"
        | "target_leads" => Kind::Count,
        _ => Kind::Decimal,
    }
}

struct Formats {
    header: Format,
    money: Format,
    percent: Format,
    count: Format,
    decimal: Format,
    total: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold(),
            money: Format::new().set_num_format("#,##0.00"),
            percent: Format::new().set_num_format("0.00%"),
            count: Format::new().set_num_format("0"),
            // Credited deals and orders are fractional under split models; whole under
            // single-touch ones, where General shows them without a trailing ".00".
            decimal: Format::new().set_num_format("General"),
            total: Format::new().set_bold(),
        }
    }
}

/// The workbook bytes. A report without rows still gives one sheet with the header.
pub fn workbook(report: &Report, lang: Lang) -> Result<Vec<u8>> {
    build(report, lang).map_err(|e| Error::internal(format!("writing the workbook failed: {e}")))
}

fn build(report: &Report, lang: Lang) -> std::result::Result<Vec<u8>, XlsxError> {
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    if report.totals.is_empty() {
        let sheet = workbook.add_worksheet();
        sheet.set_name("ROI")?;
        header(sheet, lang, &formats, &[])?;
    }
    for (code, total) in &report.totals {
        let mut lines: Vec<Value> = report
            .rows
            .iter()
            .filter(|r| r.currency.code() == *code)
            .map(|r| r.to_json())
            .collect();
        lines.push(total_line(code, total, lang));
        let sheet = workbook.add_worksheet();
        sheet.set_name(*code)?;
        header(sheet, lang, &formats, &lines)?;
        for (line, value) in (1u32..).zip(&lines) {
            let bold = (line as usize == lines.len()).then_some(&formats.total);
            write_row(sheet, line, value, bold, &formats)?;
        }
    }
    workbook.save_to_buffer()
}

/// The header row, frozen, with each column as wide as its title or its widest value
/// (CJK characters count double), within reason.
fn header(
    sheet: &mut Worksheet,
    lang: Lang,
    formats: &Formats,
    lines: &[Value],
) -> std::result::Result<(), XlsxError> {
    let width = |text: &str| {
        text.chars()
            .map(|c| if c.is_ascii() { 1 } else { 2 })
            .sum::<usize>()
    };
    for (col, column) in (0u16..).zip(COLUMNS) {
        let text = title(column, lang);
        sheet.write_string_with_format(0, col, text, &formats.header)?;
        let widest_value = lines
            .iter()
            .map(|line| match &line[column.0] {
                Value::String(s) => width(s),
                Value::Number(n) => n.to_string().len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let chars = width(text).max(widest_value).clamp(8, 40);
        sheet.set_column_width(col, chars as f64 + 2.0)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// One line: `value` is a row as `/api/roi` shows it, so the sheet and the JSON agree.
fn write_row(
    sheet: &mut Worksheet,
    line: u32,
    value: &Value,
    bold: Option<&Format>,
    formats: &Formats,
) -> std::result::Result<(), XlsxError> {
    for (col, column) in (0u16..).zip(COLUMNS) {
        let cell = &value[column.0];
        let number = match cell {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if kind(column.0) == Kind::Money => s.parse::<f64>().ok(),
            _ => None,
        };
        match (kind(column.0), number) {
            // No value (a ratio over zero): an empty cell, not an empty string.
            (kind, None) if kind != Kind::Text && cell.is_null() => {}
            (Kind::Text, _) | (_, None) => {
                let text = cell.as_str().unwrap_or_default();
                match bold {
                    Some(format) => sheet.write_string_with_format(line, col, text, format)?,
                    None => sheet.write_string(line, col, text)?,
                };
            }
            (kind, Some(number)) => {
                let (number, format) = match kind {
                    Kind::Money => (number, &formats.money),
                    Kind::Percent => (number / 100.0, &formats.percent),
                    Kind::Count => (number, &formats.count),
                    _ => (number, &formats.decimal),
                };
                sheet.write_number_with_format(line, col, number, format)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_a_fitting_kind() {
        assert_eq!(kind("roi_pct"), Kind::Percent);
        assert_eq!(kind("cpl"), Kind::Money);
        assert_eq!(kind("orders"), Kind::Decimal);
        assert_eq!(kind("roas"), Kind::Decimal);
        assert_eq!(kind("leads"), Kind::Count);
        assert_eq!(kind("name"), Kind::Text);
    }

    #[test]
    fn an_empty_report_is_a_workbook_with_a_header() {
        let report = Report {
            model: crate::attribution::Model::LastTouch,
            rows: Vec::new(),
            totals: Default::default(),
            warnings: Vec::new(),
        };
        let bytes = workbook(&report, Lang::Zh).unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}
