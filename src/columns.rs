//! The ROI summary's columns, in one table: each column's field name, titles, kind and
//! how its value is read off a row. The JSON answer, the CSV, the workbook, the console's
//! table and the terminal table all walk this table, so a column is added, renamed or
//! rounded in one place, and every form of the summary shows the same value.

use crate::attribution::CREDIT_UNITS;
use crate::domain::{div_round_half_away, format_money};
use crate::roi::Row;

/// What a column holds, and so how each output writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A decimal string in the JSON (`"48500.50"`), a number in the workbook.
    Money,
    /// A percentage in the JSON (`150.0`), the fraction (`1.5`) in the workbook.
    Percent,
    Count,
    /// Credited deals and orders, ROAS, days: two decimals.
    Decimal,
}

/// One value, rounded once, here.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Money(Option<String>),
    Count(u64),
    /// A ratio or a credited count; `None` where its denominator is 0.
    Number(Option<f64>),
}

impl Cell {
    /// The cell as CSV and tables show it: empty for no value, numbers with two decimals
    /// (as the JSON rounded them), counts whole.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(text) | Cell::Money(text) => text.clone().unwrap_or_default(),
            Cell::Count(n) => n.to_string(),
            Cell::Number(Some(x)) => format!("{x:.2}"),
            Cell::Number(None) => String::new(),
        }
    }
}

impl serde::Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Cell::Text(text) | Cell::Money(text) => text.serialize(s),
            Cell::Count(n) => n.serialize(s),
            Cell::Number(x) => x.serialize(s),
        }
    }
}

pub struct Column {
    pub field: &'static str,
    pub en: &'static str,
    pub zh: &'static str,
    pub kind: Kind,
    /// Names the row (key, name, kind, channel): left out of a currency's totals.
    pub label: bool,
    pub value: fn(&Row) -> Cell,
}

const fn column(
    field: &'static str,
    en: &'static str,
    zh: &'static str,
    kind: Kind,
    value: fn(&Row) -> Cell,
) -> Column {
    Column {
        field,
        en,
        zh,
        kind,
        label: false,
        value,
    }
}

const fn label(
    field: &'static str,
    en: &'static str,
    zh: &'static str,
    value: fn(&Row) -> Cell,
) -> Column {
    Column {
        label: true,
        ..column(field, en, zh, Kind::Text, value)
    }
}

/// Every row field in the contract's order.
pub const COLUMNS: &[Column] = &[
    label("key", "Key", "编号", |r| Cell::Text(Some(r.key.clone()))),
    label("name", "Campaign", "活动", |r| {
        Cell::Text(Some(r.name.clone()))
    }),
    label("kind", "Kind", "类型", |r| Cell::Text(r.kind.clone())),
    label("channel", "Channel", "渠道", |r| {
        Cell::Text(r.channel.clone())
    }),
    column("currency", "Currency", "币种", Kind::Text, |r| {
        Cell::Text(Some(r.currency.code().to_owned()))
    }),
    column("budget", "Budget", "预算", Kind::Money, |r| {
        money(r, r.budget)
    }),
    column("cost", "Cost", "成本", Kind::Money, |r| money(r, r.cost)),
    column("scans", "Scans", "扫码数", Kind::Count, |r| {
        Cell::Count(r.counters.scans)
    }),
    column(
        "form_views",
        "Form views",
        "表单浏览数",
        Kind::Count,
        |r| Cell::Count(r.counters.form_views),
    ),
    column("leads", "Leads", "线索数", Kind::Count, |r| {
        Cell::Count(r.counters.leads)
    }),
    column(
        "valid_leads",
        "Valid leads",
        "有效线索数",
        Kind::Count,
        |r| Cell::Count(r.valid_leads()),
    ),
    column(
        "new_contacts",
        "New contacts",
        "新增联系人",
        Kind::Count,
        |r| Cell::Count(r.counters.new_contacts),
    ),
    column("mqls", "MQLs", "MQL数", Kind::Count, |r| {
        Cell::Count(r.counters.mqls)
    }),
    column("deals", "Deals", "商机数", Kind::Decimal, |r| {
        ratio(r.deal_units.into(), units())
    }),
    column("orders", "Orders", "成交订单数", Kind::Decimal, |r| {
        ratio(r.order_units.into(), units())
    }),
    column("revenue", "Revenue", "成交金额", Kind::Money, |r| {
        money(r, r.revenue)
    }),
    column(
        "cpl",
        "Cost per lead",
        "单线索成本",
        Kind::Money,
        |r| money_ratio(r, r.cost.into(), r.counters.leads.into()),
    ),
    column(
        "cost_per_order",
        "Cost per order",
        "单订单成本",
        Kind::Money,
        |r| money_ratio(r, i128::from(r.cost) * units(), r.order_units.into()),
    ),
    column(
        "lead_to_deal_pct",
        "Lead→deal %",
        "线索转商机率%",
        Kind::Percent,
        |r| {
            ratio(
                i128::from(r.deal_units) * 100,
                i128::from(r.counters.leads) * units(),
            )
        },
    ),
    column(
        "deal_to_order_pct",
        "Deal→order %",
        "商机转订单率%",
        Kind::Percent,
        |r| ratio(i128::from(r.order_units) * 100, r.deal_units.into()),
    ),
    column("roi_pct", "ROI %", "ROI%", Kind::Percent, |r| {
        ratio(
            (i128::from(r.revenue) - i128::from(r.cost)) * 100,
            r.cost.into(),
        )
    }),
    column("roas", "ROAS", "ROAS", Kind::Decimal, |r| {
        ratio(r.revenue.into(), r.cost.into())
    }),
    column(
        "avg_sales_cycle_days",
        "Avg. sales cycle (days)",
        "平均销售周期(天)",
        Kind::Decimal,
        |r| {
            Cell::Number(
                (r.order_units > 0).then(|| round2(r.cycle_unit_days / r.order_units as f64)),
            )
        },
    ),
    column(
        "target_leads",
        "Target leads",
        "目标线索数",
        Kind::Count,
        |r| Cell::Count(r.target_leads),
    ),
    column(
        "leads_attainment_pct",
        "Leads attainment %",
        "线索达成率%",
        Kind::Percent,
        |r| {
            ratio(
                i128::from(r.counters.leads) * 100,
                i128::from(r.target_leads),
            )
        },
    ),
    column(
        "target_revenue",
        "Target revenue",
        "目标成交金额",
        Kind::Money,
        |r| money(r, r.target_revenue),
    ),
    column(
        "revenue_attainment_pct",
        "Revenue attainment %",
        "成交金额达成率%",
        Kind::Percent,
        |r| ratio(i128::from(r.revenue) * 100, i128::from(r.target_revenue)),
    ),
    column(
        "followed_up_pct",
        "Followed up %",
        "线索跟进率%",
        Kind::Percent,
        |r| {
            ratio(
                i128::from(r.counters.followed_up) * 100,
                i128::from(r.counters.leads),
            )
        },
    ),
    column(
        "avg_response_hours",
        "Avg. response (hours)",
        "平均响应时间(小时)",
        Kind::Decimal,
        |r| {
            ratio(
                i128::from(r.counters.response_ms),
                i128::from(r.counters.followed_up) * 3_600_000,
            )
        },
    ),
    column(
        "avg_follow_ups",
        "Avg. follow-ups",
        "平均跟进次数",
        Kind::Decimal,
        |r| {
            ratio(
                i128::from(r.counters.activities),
                i128::from(r.counters.leads),
            )
        },
    ),
    column(
        "overdue_leads",
        "Overdue leads",
        "超时未跟进线索",
        Kind::Count,
        |r| Cell::Count(r.counters.overdue),
    ),
    column("pipeline", "Pipeline", "商机金额", Kind::Money, |r| {
        money(r, r.pipeline)
    }),
];

/// The column called `field`.
pub fn named(field: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.field == field)
}

fn units() -> i128 {
    i128::from(CREDIT_UNITS)
}

fn money(row: &Row, minor: i64) -> Cell {
    Cell::Money(Some(format_money(minor, row.currency.exponent())))
}

/// `numerator / denominator` rounded half away from zero to 2 decimals; `None` when the
/// denominator is 0. Exact: integer arithmetic until the final conversion.
fn ratio(numerator: i128, denominator: i128) -> Cell {
    Cell::Number(
        (denominator != 0)
            .then(|| div_round_half_away(numerator * 100, denominator) as f64 / 100.0),
    )
}

/// A money amount (`numerator` minor units over `denominator`) as a 2-decimal string.
fn money_ratio(row: &Row, numerator: i128, denominator: i128) -> Cell {
    if denominator == 0 {
        return Cell::Money(None);
    }
    let exponent = row.currency.exponent();
    let cents = div_round_half_away(numerator * 100, denominator * 10_i128.pow(exponent));
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    Cell::Money(Some(format!("{sign}{}.{:02}", cents / 100, cents % 100)))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_has_a_fitting_kind() {
        let kind = |field| named(field).unwrap().kind;
        assert_eq!(kind("roi_pct"), Kind::Percent);
        assert_eq!(kind("cpl"), Kind::Money);
        assert_eq!(kind("orders"), Kind::Decimal);
        assert_eq!(kind("roas"), Kind::Decimal);
        assert_eq!(kind("leads"), Kind::Count);
        assert_eq!(kind("name"), Kind::Text);
        for column in COLUMNS {
            let percent = column.field.ends_with("_pct");
            assert_eq!(percent, column.kind == Kind::Percent, "{}", column.field);
        }
    }

    #[test]
    fn field_names_are_unique() {
        let mut fields: Vec<_> = COLUMNS.iter().map(|c| c.field).collect();
        fields.sort();
        fields.dedup();
        assert_eq!(fields.len(), COLUMNS.len());
    }
}
