//! The ROI summary as files and text: CSV that Excel opens correctly (UTF-8 BOM, CRLF,
//! titles in Chinese or English on request) and an aligned table for the terminal.

use crate::columns::{self, COLUMNS, Cell, Column};
use crate::lead::neutralise_formula;
use crate::roi::{Report, Row};

/// Header titles: field names (`Lang::Fields`), English, or Chinese.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fields,
    En,
    Zh,
}

impl Lang {
    /// `lang=zh|en`; without it, `default` (field names for the API, Chinese in the console).
    pub fn parse(text: Option<&str>, default: Lang) -> crate::Result<Lang> {
        match text {
            None | Some("") => Ok(default),
            Some("en") => Ok(Lang::En),
            Some("zh") => Ok(Lang::Zh),
            Some(_) => Err(crate::Error::invalid(
                "lang",
                "invalid_value",
                "lang must be zh or en",
            )),
        }
    }
}

pub fn title(column: &Column, lang: Lang) -> &'static str {
    match lang {
        Lang::Fields => column.field,
        Lang::En => column.en,
        Lang::Zh => column.zh,
    }
}

/// A line of the summary: a row, or a currency's total.
pub struct Line<'a> {
    pub row: &'a Row,
    /// `Some((code, lang))` for a total: labelled `TOTAL` (`合计`) in the key and
    /// `TOTAL CNY` in the name, no kind or channel.
    total: Option<(&'a str, Lang)>,
}

impl Line<'_> {
    pub fn is_total(&self) -> bool {
        self.total.is_some()
    }

    pub fn cell(&self, column: &Column) -> Cell {
        let Some((code, lang)) = self.total else {
            return (column.value)(self.row);
        };
        let label = match lang {
            Lang::Zh => "合计",
            _ => "TOTAL",
        };
        match column.field {
            "key" => Cell::Text(Some(label.to_owned())),
            "name" => Cell::Text(Some(format!("{label} {code}"))),
            _ if column.label => Cell::Text(None),
            _ => (column.value)(self.row),
        }
    }
}

/// Rows then one total line per currency: what the CSV, the workbook and the console show.
pub fn lines(report: &Report, lang: Lang) -> impl Iterator<Item = Line<'_>> {
    let rows = report.rows.iter().map(|row| Line { row, total: None });
    let totals = report.totals.iter().map(move |(code, row)| Line {
        row,
        total: Some((*code, lang)),
    });
    rows.chain(totals)
}

pub fn csv(report: &Report, lang: Lang) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut out);
    writer
        .write_record(COLUMNS.iter().map(|c| title(c, lang)))
        .expect("writing to a Vec cannot fail");
    for line in lines(report, lang) {
        let cells = COLUMNS.iter().map(|column| {
            let text = line.cell(column).text();
            // Labels are free text from users: the only cells a formula could hide in.
            if column.label {
                neutralise_formula(&text).into_owned()
            } else {
                text
            }
        });
        writer
            .write_record(cells)
            .expect("writing to a Vec cannot fail");
    }
    writer.flush().expect("writing to a Vec cannot fail");
    drop(writer);
    out
}

/// The columns a terminal has room for.
const TABLE_COLUMNS: &[&str] = &[
    "key",
    "currency",
    "cost",
    "leads",
    "cpl",
    "deals",
    "orders",
    "revenue",
    "cost_per_order",
    "roi_pct",
    "roas",
];

/// An aligned text table (display width aware, so Chinese names line up).
pub fn table(report: &Report) -> String {
    let chosen: Vec<&Column> = TABLE_COLUMNS
        .iter()
        .map(|field| columns::named(field).expect("known column"))
        .collect();
    let mut grid: Vec<Vec<String>> = vec![chosen.iter().map(|c| c.field.to_owned()).collect()];
    for line in lines(report, Lang::Fields) {
        grid.push(chosen.iter().map(|c| line.cell(c).text()).collect());
    }
    let widths: Vec<usize> = (0..chosen.len())
        .map(|i| grid.iter().map(|r| display_width(&r[i])).max().unwrap_or(0))
        .collect();
    let mut out = format!("model: {}\n", report.model.name());
    for row in grid {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let pad = " ".repeat(widths[i] - display_width(text));
                if i == 0 {
                    format!("{text}{pad}")
                } else {
                    format!("{pad}{text}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if let Some(effects) = &report.removal_effects {
        // One campaign a line: a thousand of them would not fit on one.
        out.push_str("removal effects:\n");
        let width = effects.iter().map(|(slug, _)| display_width(slug)).max();
        for (slug, effect) in effects {
            let pad = " ".repeat(width.unwrap_or(0) - display_width(slug));
            out.push_str(&format!("  {slug}{pad}  {effect:.6}\n"));
        }
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}

/// Columns a string takes in a terminal: CJK characters take two.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| {
            if (c as u32) >= 0x1100 && !c.is_ascii() {
                2
            } else {
                1
            }
        })
        .sum()
}
