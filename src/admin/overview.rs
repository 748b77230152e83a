//! `GET /admin`: which campaign paid off, at a glance. The ROI table of `/api/roi` for a
//! date range (this month by default), its totals per currency, four charts (the last:
//! how fast leads were followed up) and the download buttons.

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

pub(super) const MODELS: &[&str] = &[
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
];
pub(super) const GROUPS: &[&str] = &["campaign", "channel", "kind"];
/// Campaigns in the cost and revenue chart.
const TOP_CAMPAIGNS: usize = 10;
/// The console table's columns, first: the name (kept on screen while the table scrolls),
/// then what a budget decision rests on, so a laptop shows them without scrolling.
/// `?columns=all` adds the other columns after these, in the report's order. Only the
/// page: `/api/roi`, the CSV and the workbook keep `report::COLUMNS`.
const KEY_COLUMNS: &[&str] = &[
    "name",
    "revenue",
    "roi_pct",
    "roas",
    "cost",
    "cpl",
    "cost_per_order",
    "leads",
    "orders",
    "deals",
];

/// `?columns=follow_up`: how each row's leads were followed up (API.md, "ROI rows"), with
/// the leads they are counted over, for the sales manager's question "who is waiting?".
const FOLLOW_UP_COLUMNS: &[&str] = &[
    "name",
    "leads",
    "followed_up_pct",
    "avg_response_hours",
    "avg_follow_ups",
    "overdue_leads",
    "pipeline",
];
/// Rows in the follow-up chart.
const TOP_FOLLOW_UP: usize = 10;

/// Which columns the table shows (`columns=`): the key ones, the follow-up ones or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Key,
    FollowUp,
    All,
}

impl View {
    fn parse(value: Option<&str>) -> View {
        match value {
            Some("all") => View::All,
            Some("follow_up") => View::FollowUp,
            _ => View::Key,
        }
    }

    /// The `columns` value, empty for the default.
    pub fn param(self) -> &'static str {
        match self {
            View::Key => "",
            View::FollowUp => "follow_up",
            View::All => "all",
        }
    }
}

/// A link to another column view: its element id, label and address.
pub struct ViewLink {
    pub id: &'static str,
    pub label: &'static str,
    pub href: String,
}

/// One column of the console table.
pub struct Column {
    pub title: &'static str,
    /// Text, aligned left (numbers are aligned right).
    pub text: bool,
}

/// One line of the console table; `link` is the campaign's page.
pub struct Line {
    pub cells: Vec<String>,
    pub link: Option<String>,
}

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
    /// `all` when the report covers every node; the picker only on a replicating node.
    pub scope: String,
    pub replicating: bool,
    /// Where replication to PostgreSQL stands, on a replicating node.
    pub replication: Option<String>,
    /// The effective query (dates filled in), for the download links.
    pub query: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Line>,
    pub totals: Vec<Line>,
    /// The columns shown (`columns=`), and links to the other views.
    pub view: View,
    pub view_links: Vec<ViewLink>,
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
    // `columns` is the page's own: the report and the downloads do not know it.
    let view = View::parse(crate::submission::first_value(&pairs, "columns"));
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(k, _)| k != "columns"))
        .finish();
    let request = RoiRequest::from_pairs(&pairs, &["lang", "columns"], state.service.tz())?;
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
    let group_by = value("group_by", "campaign");
    let mixed_currencies = report.totals.len() > 1;
    let shown = console_columns(view, mixed_currencies);
    // Rows and total lines go through the same reordering, so the totals stay under
    // the figures they sum.
    let reorder = |line: Vec<String>, link: bool| {
        let key = line[0].clone();
        let cells = shown
            .iter()
            .map(|&i| match COLUMNS[i].field {
                // Rows grouped by channel or kind have no name: their key names them.
                "name" if line[i].is_empty() && group_by == "kind" => ui.label(&key).to_owned(),
                "name" if line[i].is_empty() => key.clone(),
                _ => line[i].clone(),
            })
            .collect();
        let link =
            (link && group_by == "campaign").then(|| ui.link(&format!("/admin/campaigns/{key}")));
        Line { cells, link }
    };
    let columns = shown
        .iter()
        .map(|&i| Column {
            // The first column names what a line is: a campaign, a channel or a kind.
            title: match COLUMNS[i].field {
                "name" => match group_by.as_str() {
                    "channel" => ui.t.channel,
                    "kind" => ui.t.kind,
                    _ => ui.t.campaign,
                },
                _ => report::title(&COLUMNS[i], ui.lang.report()),
            },
            text: COLUMNS[i].kind == crate::columns::Kind::Text,
        })
        .collect();
    let rows = rows.into_iter().map(|line| reorder(line, true)).collect();
    let totals = totals
        .into_iter()
        .map(|line| reorder(line, false))
        .collect();
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
        follow_up(&ui, &report, &group_by),
    ];
    let overview = OverviewPage {
        from: value("from", ""),
        to: value("to", ""),
        model: value("model", "last_touch"),
        group_by,
        scope: value("scope", "node"),
        replicating: state.service.replica.is_some(),
        replication: replication_line(state, &ui).await,
        models: MODELS,
        groups: GROUPS,
        query,
        columns,
        rows,
        totals,
        view,
        view_links: view_links(&ui, &pairs, view),
        charts,
        warnings: report.warnings.clone(),
        ranges: ranges(&ui, today, &pairs),
        ui,
    };
    super::page(StatusCode::OK, &overview)
}

/// Indexes into `COLUMNS` of the console's columns: `KEY_COLUMNS` or `FOLLOW_UP_COLUMNS`
/// (with the currency when the rows mix currencies, since amounts then need it), or, for
/// `All`, the key ones and then the rest.
fn console_columns(view: View, mixed_currencies: bool) -> Vec<usize> {
    let index = |name: &str| {
        COLUMNS
            .iter()
            .position(|c| c.field == name)
            .expect("a report column")
    };
    let names = match view {
        View::FollowUp => FOLLOW_UP_COLUMNS,
        View::Key | View::All => KEY_COLUMNS,
    };
    let mut shown: Vec<usize> = names.iter().map(|name| index(name)).collect();
    if mixed_currencies && view != View::All {
        shown.insert(1, index("currency"));
    }
    if view == View::All {
        let rest: Vec<usize> = (0..COLUMNS.len()).filter(|i| !shown.contains(i)).collect();
        shown.extend(rest);
    }
    shown
}

/// This page with the columns of `view`, keeping the period and pickers.
fn columns_href(ui: &Ui, pairs: &[(String, String)], view: View) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if key != "columns" && key != "lang" {
            query.append_pair(key, value);
        }
    }
    if view != View::Key {
        query.append_pair("columns", view.param());
    }
    ui.link_with("/admin", &query.finish())
}

/// The two other views: `columns-toggle` goes between the key columns and all of them (to
/// all from the follow-up view), `columns-follow-up` to the follow-up columns and back.
fn view_links(ui: &Ui, pairs: &[(String, String)], view: View) -> Vec<ViewLink> {
    let t = ui.t;
    let link = |id, label, to| ViewLink {
        id,
        label,
        href: columns_href(ui, pairs, to),
    };
    let follow_up = match view {
        View::FollowUp => link("columns-follow-up", t.key_columns, View::Key),
        _ => link("columns-follow-up", t.follow_up_columns, View::FollowUp),
    };
    let toggle = match view {
        View::All => link("columns-toggle", t.key_columns, View::Key),
        _ => link("columns-toggle", t.all_columns, View::All),
    };
    vec![follow_up, toggle]
}

/// This month, last month, this year and everything, keeping the model, grouping and
/// columns.
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
                "model" | "group_by" | "lookback_days" | "half_life_days" | "columns"
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

/// Hours from received to first follow-up, averaged over the followed-up leads, per row
/// (rows of one key in several currencies counted together: counts have no currency),
/// slowest first and rows nobody followed up before them, with the share followed up.
fn follow_up(ui: &Ui, report: &Report, group_by: &str) -> Chart {
    let t = ui.t;
    let mut rows: Vec<(String, roi::Counters)> = Vec::new();
    for row in &report.rows {
        let label = if row.name.is_empty() {
            row.key.clone()
        } else {
            row.name.clone()
        };
        // As the table names it: rows grouped by kind have no name, and their key is a kind.
        let label = if row.name.is_empty() && group_by == "kind" {
            ui.label(&row.key).to_owned()
        } else {
            label
        };
        let c = &row.counters;
        match rows.iter_mut().find(|(l, _)| *l == label) {
            Some((_, sum)) => {
                sum.leads += c.leads;
                sum.followed_up += c.followed_up;
                sum.response_ms += c.response_ms;
            }
            None => rows.push((label, *c)),
        }
    }
    rows.retain(|(_, c)| c.leads > 0);
    // Two decimals, rounded as the table's `avg_response_hours` is.
    let hours = |c: &roi::Counters| {
        (c.followed_up > 0).then(|| {
            crate::domain::div_round_half_away(
                i128::from(c.response_ms) * 100,
                i128::from(c.followed_up) * 3_600_000,
            ) as f64
                / 100.0
        })
    };
    rows.sort_by(|a, b| {
        let (a, b) = (hours(&a.1), hours(&b.1));
        b.unwrap_or(f64::INFINITY)
            .total_cmp(&a.unwrap_or(f64::INFINITY))
    });
    rows.truncate(TOP_FOLLOW_UP);
    let rows = rows
        .into_iter()
        .map(|(label, c)| {
            let share = crate::domain::div_round_half_away(
                i128::from(c.followed_up) * 100,
                i128::from(c.leads),
            );
            let (value, text) = match hours(&c) {
                Some(h) => (h, format!("{h:.2} {} · {share}%", t.hours)),
                None => (0.0, format!("{} · 0%", t.not_followed_up)),
            };
            (label, vec![(value, text)])
        })
        .collect();
    charts::horizontal(
        t.chart_follow_up.to_owned(),
        &[(t.hours, "bar-follow-up")],
        rows,
    )
}

/// A count as people read it: whole numbers bare, credited fractions with two decimals.
fn number(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// "Replication to PostgreSQL (node booth-1): OK · 0 events waiting · last shipped …": the
/// line a marketer at a booth glances at to know the hall's Wi-Fi let the leads out.
async fn replication_line(state: &AppState, ui: &Ui) -> Option<String> {
    let replica = state.service.replica.as_ref()?;
    let t = ui.t;
    let status = match replica.status().await {
        Ok(status) => status,
        Err(error) => return Some(format!("{}: {}", t.replication_to, error.message)),
    };
    let state_label = match status.state {
        crate::replica::State::Ok => t.state_ok,
        crate::replica::State::CatchingUp => t.state_catching_up,
        crate::replica::State::Offline => t.state_offline,
    };
    let mut line = format!(
        "{} ({} {}): {} · {} {}",
        t.replication_to,
        t.replication_node,
        status.node,
        state_label,
        status.lag_events,
        t.replication_waiting
    );
    if let Some(at) = status.last_shipped_at {
        let local = at
            .to_zoned_datetime(state.service.tz().clone())
            .strftime("%Y-%m-%d %H:%M:%S");
        line.push_str(&format!(" · {} {local}", t.replication_last));
    }
    if let Some(error) = &status.last_error {
        line.push_str(&format!(" · {}: {error}", t.replication_error));
    }
    Some(line)
}
