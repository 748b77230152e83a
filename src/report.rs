//! The ROI summary as files and text: CSV that Excel opens correctly (UTF-8 BOM, CRLF,
//! titles in Chinese or English on request) and an aligned table for the terminal.

use serde_json::Value;

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

/// Every row field in order, with its English and Chinese titles.
pub const COLUMNS: &[(&str, &str, &str)] = &[
    ("key", "Key", "编号"),
    ("name", "Campaign", "活动"),
    ("kind", "Kind", "类型"),
    ("channel", "Channel", "渠道"),
    ("currency", "Currency", "币种"),
    ("budget", "Budget", "预算"),
    ("cost", "Cost", "成本"),
    ("scans", "Scans", "扫码数"),
    ("form_views", "Form views", "表单浏览数"),
    ("leads", "Leads", "线索数"),
    ("valid_leads", "Valid leads", "有效线索数"),
    ("new_contacts", "New contacts", "新增联系人"),
    ("mqls", "MQLs", "MQL数"),
    ("deals", "Deals", "商机数"),
    ("orders", "Orders", "成交订单数"),
    ("revenue", "Revenue", "成交金额"),
    ("cpl", "Cost per lead", "单线索成本"),
    ("cost_per_order", "Cost per order", "单订单成本"),
    ("lead_to_deal_pct", "Lead→deal %", "线索转商机率%"),
    ("deal_to_order_pct", "Deal→order %", "商机转订单率%"),
    ("roi_pct", "ROI %", "ROI%"),
    ("roas", "ROAS", "ROAS"),
    (
        "avg_sales_cycle_days",
        "Avg. sales cycle (days)",
        "平均销售周期(天)",
    ),
    ("target_leads", "Target leads", "目标线索数"),
    ("leads_attainment_pct", "Leads attainment %", "线索达成率%"),
    ("target_revenue", "Target revenue", "目标成交金额"),
    (
        "revenue_attainment_pct",
        "Revenue attainment %",
        "成交金额达成率%",
    ),
];

/// Columns holding free text from users: the only ones a formula could hide in.
const TEXT_COLUMNS: &[&str] = &["key", "name", "kind", "channel"];

pub fn title(column: &(&'static str, &'static str, &'static str), lang: Lang) -> &'static str {
    match lang {
        Lang::Fields => column.0,
        Lang::En => column.1,
        Lang::Zh => column.2,
    }
}

/// A JSON value as a cell: strings bare, whole counts as integers, ratios and credited
/// counts with two decimals (as the JSON rounded them), null empty.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or_default()),
        other => other.to_string(),
    }
}

/// A currency's total line as a row value: the summed figures, labelled `TOTAL` (`合计`)
/// in the key and `TOTAL CNY` in the name, no kind or channel. The CSV and the workbook
/// both end with these.
pub fn total_line(code: &str, total: &Row, lang: Lang) -> Value {
    let label = match lang {
        Lang::Zh => "合计",
        _ => "TOTAL",
    };
    let mut value = total.to_json();
    value["key"] = Value::from(label);
    value["name"] = Value::from(format!("{label} {code}"));
    value["kind"] = Value::Null;
    value["channel"] = Value::Null;
    value
}

/// Rows then one total line per currency.
pub fn lines(report: &Report, lang: Lang) -> Vec<Vec<String>> {
    let values = report.rows.iter().map(Row::to_json).chain(
        report
            .totals
            .iter()
            .map(|(code, total)| total_line(code, total, lang)),
    );
    values
        .map(|value| COLUMNS.iter().map(|c| cell(&value[c.0])).collect())
        .collect()
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
        let cells = line.iter().zip(COLUMNS).map(|(value, column)| {
            if TEXT_COLUMNS.contains(&column.0) {
                neutralise_formula(value).into_owned()
            } else {
                value.clone()
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
    let chosen: Vec<&(&str, &str, &str)> = TABLE_COLUMNS
        .iter()
        .map(|name| COLUMNS.iter().find(|c| c.0 == *name).expect("known column"))
        .collect();
    let indexes: Vec<usize> = chosen
        .iter()
        .map(|c| {
            COLUMNS
                .iter()
                .position(|x| x.0 == c.0)
                .expect("known column")
        })
        .collect();
    let mut grid: Vec<Vec<String>> = vec![chosen.iter().map(|c| c.0.to_owned()).collect()];
    for line in lines(report, Lang::Fields) {
        grid.push(indexes.iter().map(|&i| line[i].clone()).collect());
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
