//! The ROI summary as an Excel workbook: one sheet per currency (amounts in different
//! currencies are never in one column), numbers stored as numbers, money with two
//! decimals, percentages as fractions formatted `0.00%`, the header row frozen.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::columns::{COLUMNS, Cell, Kind};
use crate::error::{Error, Result};
use crate::report::{Lang, Line, lines, title};
use crate::roi::Report;

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
    for code in report.totals.keys() {
        // This currency's rows, then its total line (bold).
        let lines: Vec<Line> = lines(report, lang)
            .filter(|line| line.row.currency.code() == *code)
            .collect();
        let sheet = workbook.add_worksheet();
        sheet.set_name(*code)?;
        header(sheet, lang, &formats, &lines)?;
        for (number, line) in (1u32..).zip(&lines) {
            let bold = line.is_total().then_some(&formats.total);
            write_row(sheet, number, line, bold, &formats)?;
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
    lines: &[Line],
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
            .map(|line| width(&line.cell(column).text()))
            .max()
            .unwrap_or(0);
        let chars = width(text).max(widest_value).clamp(8, 40);
        sheet.set_column_width(col, chars as f64 + 2.0)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// One line, cell by cell from the same column table as `/api/roi`, so the sheet and the
/// JSON agree.
fn write_row(
    sheet: &mut Worksheet,
    number: u32,
    line: &Line,
    bold: Option<&Format>,
    formats: &Formats,
) -> std::result::Result<(), XlsxError> {
    for (col, column) in (0u16..).zip(COLUMNS) {
        let value = match line.cell(column) {
            Cell::Text(text) => {
                let text = text.unwrap_or_default();
                match bold {
                    Some(format) => sheet.write_string_with_format(number, col, &text, format)?,
                    None => sheet.write_string(number, col, &text)?,
                };
                continue;
            }
            Cell::Money(text) => text.and_then(|t| t.parse::<f64>().ok()),
            Cell::Count(n) => Some(n as f64),
            Cell::Number(x) => x,
        };
        // No value (a ratio over zero): an empty cell, not an empty string.
        let Some(value) = value else { continue };
        let (value, format) = match column.kind {
            Kind::Money => (value, &formats.money),
            Kind::Percent => (value / 100.0, &formats.percent),
            Kind::Count => (value, &formats.count),
            Kind::Text | Kind::Decimal => (value, &formats.decimal),
        };
        sheet.write_number_with_format(number, col, value, format)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_report_is_a_workbook_with_a_header() {
        let report = Report {
            model: crate::attribution::Model::LastTouch,
            rows: Vec::new(),
            removal_effects: None,
            totals: Default::default(),
            warnings: Vec::new(),
        };
        let bytes = workbook(&report, Lang::Zh).unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}
