//! `GET /admin`: which campaign paid off, at a glance. The ROI table of `/api/roi` for a
//! date range (this month by default), its totals per currency, three charts and the
//! download buttons.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::Ui;
use super::charts::{self, Chart};
use crate::attribution::CREDIT_UNITS;
use crate::columns::COLUMNS;
use crate::domain::format_money;
use crate::error::Result;
use crate::http::Reply;
use crate::report;
use crate::roi::{self, Report, RoiInput};
use crate::service::reports::{self, RoiRequest};
use crate::state::AppState;

const MODELS: &[&str] = &[
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
];
const GROUPS: &[&str] = &["campaign", "channel", "kind"];
/// Campaigns in the cost and revenue chart.
const TOP_CAMPAIGNS: usize = 10;

#[derive(Template)]
#[template(path = "admin/overview.html")]
pub struct OverviewPage {
    pub ui: Ui,
    pub from: String,
    pub to: String,
    pub model: String,
    pub group_by: String,
    pub models: &'static [&'static str],
    pub groups: &'static [&'static str],
    /// The effective query (dates filled in), for the download links.
    pub query: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    pub totals: Vec<Vec<String>>,
    pub charts: Vec<Chart>,
    pub warnings: Vec<String>,
    /// Shortcuts to common periods: (label, address).
    pub ranges: Vec<(&'static str, String)>,
}

pub async fn page(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "overview");
    let mut pairs = crate::submission::query_pairs(request.uri().query().unwrap_or(""));
    // The page's own language, not whatever `lang` said: the downloads take only zh or en.
    pairs.retain(|(k, v)| !v.is_empty() && k != "lang");
    if ui.lang == super::i18n::Lang::En {
        pairs.push(("lang".to_owned(), "en".to_owned()));
    }
    // Default period: this month so far, in the reporting zone.
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(state.service.tz().clone())
        .date();
    for (key, default) in [("from", today.first_of_month()), ("to", today)] {
        if crate::submission::first_value(&pairs, key).is_none() {
            pairs.push((key.to_owned(), default.to_string()));
        }
    }
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let request = RoiRequest::from_pairs(&pairs, &["lang"], state.service.tz())?;
    let (report, by_kind) = reports::build_with(&state.service, request, leads_by_kind).await?;
    let value = |key: &str, default: &str| {
        crate::submission::first_value(&pairs, key)
            .unwrap_or(default)
            .to_owned()
    };
    // The kind is shown in the page's language, like everywhere else in the console.
    let (mut rows, mut totals) = (Vec::new(), Vec::new());
    for line in report::lines(&report, ui.lang.report()) {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|column| match line.cell(column).text() {
                kind if column.field == "kind" && !kind.is_empty() => ui.label(&kind).to_owned(),
                text => text,
            })
            .collect();
        if line.is_total() {
            totals.push(cells);
        } else {
            rows.push(cells);
        }
    }
    let charts = vec![
        cost_and_revenue(&ui, &report),
        charts::horizontal(
            ui.t.chart_leads_by_kind.to_owned(),
            &[(ui.t.leads, "bar-leads")],
            by_kind
                .into_iter()
                .map(|(kind, leads)| {
                    (
                        ui.label(kind).to_owned(),
                        vec![(leads as f64, leads.to_string())],
                    )
                })
                .collect(),
        ),
        funnel(&ui, &report),
    ];
    let overview = OverviewPage {
        from: value("from", ""),
        to: value("to", ""),
        model: value("model", "last_touch"),
        group_by: value("group_by", "campaign"),
        models: MODELS,
        groups: GROUPS,
        query,
        headers: COLUMNS
            .iter()
            .map(|c| report::title(c, ui.lang.report()))
            .collect(),
        rows,
        totals,
        charts,
        warnings: report.warnings.clone(),
        ranges: ranges(&ui, today, &pairs),
        ui,
    };
    super::page(StatusCode::OK, &overview)
}

/// This month, last month, this year and everything, keeping the model and grouping.
fn ranges(
    ui: &Ui,
    today: jiff::civil::Date,
    pairs: &[(String, String)],
) -> Vec<(&'static str, String)> {
    let t = ui.t;
    let month = today.first_of_month();
    let last_month = month.yesterday().unwrap_or(month).first_of_month();
    let year = today.first_of_year();
    let epoch = jiff::civil::date(1970, 1, 1);
    [
        (t.this_month, month, today),
        (t.last_month, last_month, month.yesterday().unwrap_or(month)),
        (t.this_year, year, today),
        (t.all_time, epoch, today),
    ]
    .into_iter()
    .map(|(label, from, to)| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("from", &from.to_string());
        query.append_pair("to", &to.to_string());
        for (key, value) in pairs {
            if matches!(
                key.as_str(),
                "model" | "group_by" | "lookback_days" | "half_life_days"
            ) {
                query.append_pair(key, value);
            }
        }
        (label, ui.link_with("/admin", &query.finish()))
    })
    .collect()
}

/// Leads per campaign kind in the period, whatever the table is grouped by.
fn leads_by_kind(input: &RoiInput) -> Vec<(&'static str, u64)> {
    let mut sums: Vec<(&'static str, u64)> = Vec::new();
    for (campaign, counters) in input.campaigns.iter().zip(&input.counters) {
        let kind = campaign.kind.as_str();
        match sums.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, sum)) => *sum += counters.leads,
            None => sums.push((kind, counters.leads)),
        }
    }
    sums.retain(|(_, leads)| *leads > 0);
    sums.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    sums
}

/// Cost beside revenue for the rows that brought the most revenue, in the currency with
/// the most revenue (amounts in different currencies cannot share an axis).
fn cost_and_revenue(ui: &Ui, report: &Report) -> Chart {
    let currency = report
        .totals
        .iter()
        .max_by_key(|(_, total)| (total.revenue, total.cost))
        .map(|(code, _)| *code);
    let mut rows: Vec<_> = report
        .rows
        .iter()
        .filter(|r| Some(r.currency.code()) == currency)
        .collect();
    rows.sort_by(|a, b| b.revenue.cmp(&a.revenue).then(b.cost.cmp(&a.cost)));
    rows.truncate(TOP_CAMPAIGNS);
    let title = match currency {
        Some(code) => format!("{} · {code}", ui.t.chart_cost_revenue),
        None => ui.t.chart_cost_revenue.to_owned(),
    };
    charts::horizontal(
        title,
        &[(ui.t.cost, "bar-cost"), (ui.t.revenue, "bar-revenue")],
        rows.into_iter()
            .map(|row| {
                let exponent = row.currency.exponent();
                let amount = |minor: i64| {
                    (
                        minor as f64 / 10f64.powi(exponent as i32),
                        format_money(minor, exponent),
                    )
                };
                let label = if row.name.is_empty() {
                    row.key.clone()
                } else {
                    row.name.clone()
                };
                (label, vec![amount(row.cost), amount(row.revenue)])
            })
            .collect(),
    )
}

/// Scans → form views → leads → MQLs → deals → orders over all currencies (counts do not
/// depend on currency), each step with its share of the step before.
fn funnel(ui: &Ui, report: &Report) -> Chart {
    let t = ui.t;
    let sum = |f: &dyn Fn(&roi::Row) -> f64| report.totals.values().map(f).sum::<f64>();
    let units = CREDIT_UNITS as f64;
    let stages = [
        (t.scans, sum(&|r| r.counters.scans as f64)),
        (t.form_views, sum(&|r| r.counters.form_views as f64)),
        (t.leads, sum(&|r| r.counters.leads as f64)),
        (t.mqls, sum(&|r| r.counters.mqls as f64)),
        (t.deals, sum(&|r| r.deal_units as f64 / units)),
        (t.orders, sum(&|r| r.order_units as f64 / units)),
    ];
    let mut previous: Option<f64> = None;
    let rows = stages
        .into_iter()
        .map(|(label, value)| {
            let mut text = number(value);
            // A step's share of the one before; not where the stages are not nested
            // (deals can come from leads never marked MQL).
            if let Some(before) = previous.filter(|b| *b > 0.0 && *b >= value) {
                text.push_str(&format!(" · {:.1}%", value / before * 100.0));
            }
            previous = Some(value);
            (label.to_owned(), vec![(value, text)])
        })
        .collect();
    charts::horizontal(t.chart_funnel.to_owned(), &[(t.leads, "bar-funnel")], rows)
}

/// A count as people read it: whole numbers bare, credited fractions with two decimals.
fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
