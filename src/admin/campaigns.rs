//! `/admin/campaigns…`: list, create and edit campaigns (their lead assignment and
//! follow-up deadline too), record and remove costs, and build tagged links with their QR
//! codes. Form posts go through the same validation as `POST /api/campaigns`, and its
//! message is shown next to the field it names.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};

use super::{Choice, Ui, csrf, field, is_input_error, page, read_form};
use crate::campaign::{AssignMode, Campaign};
use crate::domain::{CampaignKind, CampaignStatus, LeadId, format_money};
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::salesperson::Salesperson;
use crate::service::{campaigns, salespeople};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin/campaigns.html")]
pub struct ListPage {
    pub ui: Ui,
    pub campaigns: Vec<Campaign>,
}

/// One input of the campaign form.
pub struct Input {
    pub key: &'static str,
    pub label: &'static str,
    /// `text`, `date`, `number`, `select`, `textarea`, `owner` (a salesperson or a name)
    /// or `assign` (the rule's mode and people).
    pub kind: &'static str,
    pub options: Vec<(String, String)>,
    pub value: String,
    /// The chosen salesperson of `owner` (empty: the typed name counts).
    pub selected: String,
    /// The round robin's checkboxes of `assign`.
    pub choices: Vec<Choice>,
    pub error: Option<String>,
    pub readonly: bool,
}

#[derive(Template)]
#[template(path = "admin/campaign.html")]
pub struct CampaignPage {
    pub ui: Ui,
    /// `None` while creating.
    pub campaign: Option<Campaign>,
    pub title: String,
    pub action: String,
    pub csrf: String,
    pub inputs: Vec<Input>,
    pub error: Option<String>,
    pub saved: bool,
    pub costs: Vec<CostView>,
    pub cost_total: String,
    pub cost_form: CostForm,
    pub landing_url: String,
    pub builder: Option<Builder>,
    /// Who scanned the campaign's codes (by app, by hour), once there are scans.
    pub scan_charts: Vec<super::charts::Chart>,
    /// Each placement's code and where it points, with a form to point it elsewhere.
    pub qr_targets: Vec<QrTargetRow>,
}

pub struct QrTargetRow {
    pub variant: String,
    pub target: String,
    pub action: String,
    pub csrf: String,
}

pub struct CostView {
    pub amount: String,
    pub incurred_on: String,
    pub note: String,
    pub delete_action: String,
    pub delete_csrf: String,
}

#[derive(Default)]
pub struct CostForm {
    pub action: String,
    pub csrf: String,
    pub amount: String,
    pub incurred_on: String,
    pub note: String,
    pub error: Option<String>,
}

/// The UTM link builder's inputs and, once filled in, its link and QR code.
#[derive(Default)]
pub struct Builder {
    pub source: String,
    pub medium: String,
    pub content: String,
    pub link: Option<String>,
    /// SVG markup from `qr::svg` (numbers and fixed colours only).
    pub qr_svg: String,
    /// Why no QR code could be drawn (a link too long for one).
    pub error: Option<String>,
}

pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    let mut list = campaigns::list(&state.service).await?;
    list.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    page(
        StatusCode::OK,
        &ListPage {
            ui,
            campaigns: list,
        },
    )
}

pub async fn new_page(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    let form = CampaignPage::creating(state, ui, &[], None);
    page(StatusCode::OK, &form)
}

/// `POST /admin/campaigns`: 303 to the new campaign's page, or the form again with the
/// message next to the bad field.
pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    let fields = read_form(state, request).await?;
    let body = campaign_body(&fields, true);
    let created = match check_owner(state, &ui, &body) {
        Ok(()) => campaigns::create(&state.service, &body).await,
        Err(error) => Err(error),
    };
    match created {
        Ok(campaign) => Ok(http::see_other(
            &ui.link_with(&format!("/admin/campaigns/{}", campaign.slug), "saved=1"),
        )),
        Err(error) if is_input_error(&error) => {
            let form = CampaignPage::creating(state, ui, &fields, Some(error));
            page(StatusCode::UNPROCESSABLE_ENTITY, &form)
        }
        Err(error) => Err(error),
    }
}

pub async fn edit_page(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    let query = request.uri().query();
    let campaign = campaigns::find(&state.service, slug).await?;
    let saved = http::query_value(query, "saved").is_some();
    let builder = Builder::from_query(state, &campaign, query)?;
    let form = CampaignPage::editing(state, ui, campaign, None, None, CostForm::default()).await?;
    page(
        StatusCode::OK,
        &CampaignPage {
            saved,
            builder: Some(builder),
            ..form
        },
    )
}

/// `POST /admin/campaigns/{slug}`: saves every field of the form (a cleared field clears
/// the setting), like a `PATCH` with all of them.
pub async fn save(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    let fields = read_form(state, request).await?;
    let campaign = campaigns::find(&state.service, slug).await?;
    let body = campaign_body(&fields, false);
    let saved = match check_owner(state, &ui, &body) {
        Ok(()) => campaigns::patch(&state.service, campaign.slug.clone(), body).await,
        Err(error) => Err(error),
    };
    match saved {
        Ok(campaign) => Ok(http::see_other(
            &ui.link_with(&format!("/admin/campaigns/{}", campaign.slug), "saved=1"),
        )),
        Err(error) if is_input_error(&error) => {
            let form = CampaignPage::editing(
                state,
                ui,
                campaign,
                Some(&fields),
                Some(error),
                CostForm::default(),
            )
            .await?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &form)
        }
        Err(error) => Err(error),
    }
}

pub async fn add_cost(state: &AppState, request: Request<Incoming>, slug: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    let fields = read_form(state, request).await?;
    let campaign = campaigns::find(&state.service, slug).await?;
    let mut body = Map::new();
    for key in ["amount", "incurred_on", "note"] {
        if let Some(value) = field(&fields, key) {
            body.insert(key.to_owned(), Value::from(value));
        }
    }
    match campaigns::add_cost(&state.service, &campaign, &body).await {
        Ok(_) => Ok(http::see_other(&costs_anchor(&ui, &campaign))),
        Err(error) if is_input_error(&error) => {
            let value = |key| field(&fields, key).unwrap_or_default().to_owned();
            let cost_form = CostForm {
                amount: value("amount"),
                incurred_on: value("incurred_on"),
                note: value("note"),
                error: Some(error.message),
                ..CostForm::default()
            };
            let form = CampaignPage::editing(state, ui, campaign, None, None, cost_form).await?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &form)
        }
        Err(error) => Err(error),
    }
}

pub async fn delete_cost(
    state: &AppState,
    request: Request<Incoming>,
    slug: &str,
    id: &str,
) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    read_form(state, request).await?;
    let campaign = campaigns::find(&state.service, slug).await?;
    campaigns::delete_cost(&state.service, &campaign, id).await?;
    Ok(http::see_other(&costs_anchor(&ui, &campaign)))
}

/// The campaign page scrolled to its costs (the fragment after the query).
/// `POST /admin/campaigns/{slug}/qr/{variant}`: points a printed code elsewhere (the same
/// rules as `PUT /api/campaigns/{slug}/qr/{variant}`); a refused target is the console's
/// error page with the API's message.
pub async fn set_qr_target(
    state: &AppState,
    request: Request<Incoming>,
    slug: &str,
    variant: &str,
) -> Result<Reply> {
    let ui = Ui::new(&request, "campaigns");
    let fields = read_form(state, request).await?;
    let campaign = campaigns::find(&state.service, slug).await?;
    let target = field(&fields, "target").unwrap_or_default();
    campaigns::point_code(&state.service, &campaign, variant, target).await?;
    Ok(http::see_other(&format!(
        "{}#qr",
        ui.link(&format!("/admin/campaigns/{}", campaign.slug))
    )))
}

fn costs_anchor(ui: &Ui, campaign: &Campaign) -> String {
    format!(
        "{}#costs",
        ui.link(&format!("/admin/campaigns/{}", campaign.slug))
    )
}

/// The campaign form sets every field a campaign has.
const FORM_KEYS: &[&str] = crate::campaign::FIELDS;
/// The order the form shows them in: the API's, but the assignment rule (a wide block of
/// checkboxes) last, after the follow-up deadline it goes with.
fn shown_keys() -> impl Iterator<Item = &'static &'static str> {
    FORM_KEYS
        .iter()
        .filter(|k| **k != "assign")
        .chain(std::iter::once(&"assign"))
}
const LIST_KEYS: &[&str] = &["tracking_numbers", "utm_campaigns", "qr_variants"];

/// Every value posted for `key` (ticked checkboxes), trimmed, empty ones left out.
fn all_values(fields: &[(String, String)], key: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The posted form as the JSON body the API takes. Lists are one item per line (commas
/// work too). Creating, an empty field is left out (the default applies); editing, it
/// clears the setting. The owner is the salesperson chosen (`owner_id`), else the name
/// typed (`owner`); the assignment rule is `assign_mode` and the ticked
/// `assign_salespeople`, in the page's order, which is the roster's.
fn campaign_body(fields: &[(String, String)], creating: bool) -> Map<String, Value> {
    let mut body = Map::new();
    for key in FORM_KEYS {
        if !creating && *key == "slug" {
            continue;
        }
        let text = match *key {
            "owner" => field(fields, "owner_id").or_else(|| field(fields, "owner")),
            _ => crate::submission::first_value(fields, key),
        }
        .unwrap_or_default()
        .trim();
        if *key == "assign" {
            let mode = field(fields, "assign_mode").unwrap_or(AssignMode::None.as_str());
            let people = all_values(fields, "assign_salespeople");
            if creating && mode == AssignMode::None.as_str() && people.is_empty() {
                continue;
            }
            body.insert(
                "assign".to_owned(),
                serde_json::json!({"mode": mode, "salespeople": people}),
            );
            continue;
        }
        let value = if LIST_KEYS.contains(key) {
            Value::Array(
                text.split(['\n', '\r', ',', '，'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Value::from)
                    .collect(),
            )
        } else if text.is_empty() {
            match *key {
                _ if creating => continue,
                // An empty name must reach validation, which says it is required.
                "name" => Value::from(""),
                _ => Value::Null,
            }
        } else if *key == "target_leads" || *key == "follow_up_hours" {
            // A number when it is one; otherwise the text, which validation refuses.
            text.parse::<u64>()
                .map_or_else(|_| Value::from(text), Value::from)
        } else {
            Value::from(text)
        };
        body.insert((*key).to_owned(), value);
    }
    body
}

/// "To the owner" with an owner who is not on the roster would leave every new lead
/// unassigned without a word: the console refuses it next to the owner field.
fn check_owner(state: &AppState, ui: &Ui, body: &Map<String, Value>) -> Result<()> {
    let mode = body
        .get("assign")
        .and_then(|a| a.get("mode"))
        .and_then(Value::as_str);
    if mode != Some(AssignMode::Owner.as_str()) {
        return Ok(());
    }
    let owner = body
        .get("owner")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if salespeople::get(&state.service, owner).is_ok() {
        return Ok(());
    }
    Err(Error::invalid(
        "owner",
        "not_a_salesperson",
        ui.t.owner_must_be_salesperson,
    ))
}

/// The owner and the assignment rule as the form shows them.
struct AssignValues {
    mode: String,
    /// The round robin's salesperson ids.
    people: Vec<String>,
    /// The owner when they are a salesperson; else empty, and `owner` is the name.
    owner_id: String,
    owner: String,
}

impl AssignValues {
    fn posted(fields: &[(String, String)]) -> AssignValues {
        AssignValues {
            mode: field(fields, "assign_mode")
                .unwrap_or(AssignMode::None.as_str())
                .to_owned(),
            people: all_values(fields, "assign_salespeople"),
            owner_id: field(fields, "owner_id").unwrap_or_default().to_owned(),
            owner: crate::submission::first_value(fields, "owner")
                .unwrap_or_default()
                .to_owned(),
        }
    }

    fn stored(campaign: &Campaign, roster: &[Salesperson]) -> AssignValues {
        let owner = campaign.owner.clone().unwrap_or_default();
        let is_person = LeadId::parse(&owner).is_some_and(|id| roster.iter().any(|p| p.id == id));
        AssignValues {
            mode: campaign.assign.mode.as_str().to_owned(),
            people: campaign
                .assign
                .salespeople
                .iter()
                .map(|id| id.to_string())
                .collect(),
            owner_id: if is_person {
                owner.clone()
            } else {
                String::new()
            },
            owner: if is_person { String::new() } else { owner },
        }
    }
}

impl CampaignPage {
    fn creating(
        state: &AppState,
        ui: Ui,
        fields: &[(String, String)],
        error: Option<Error>,
    ) -> CampaignPage {
        let action = "/admin/campaigns".to_owned();
        let value = |key: &str| match crate::submission::first_value(fields, key) {
            Some(text) => text.to_owned(),
            None => defaults(key).to_owned(),
        };
        let assign = AssignValues::posted(fields);
        let inputs = inputs(&ui, state, value, &assign, error.as_ref(), true);
        CampaignPage {
            title: ui.t.new_campaign.to_owned(),
            csrf: csrf::token(&state.admin_token_hash, &action),
            action: ui.link(&action),
            campaign: None,
            inputs,
            error: error.map(|_| ui.t.fix_errors.to_owned()),
            saved: false,
            costs: Vec::new(),
            cost_total: String::new(),
            cost_form: CostForm::default(),
            landing_url: String::new(),
            builder: None,
            scan_charts: Vec::new(),
            qr_targets: Vec::new(),
            ui,
        }
    }

    /// The edit page; `fields` are the values just posted (kept when they were refused).
    async fn editing(
        state: &AppState,
        ui: Ui,
        campaign: Campaign,
        fields: Option<&[(String, String)]>,
        error: Option<Error>,
        cost_form: CostForm,
    ) -> Result<CampaignPage> {
        let stored = stored_values(&campaign);
        let value = |key: &str| match fields.and_then(|f| crate::submission::first_value(f, key)) {
            Some(text) => text.to_owned(),
            None => stored(key),
        };
        let assign = match fields {
            Some(fields) => AssignValues::posted(fields),
            None => AssignValues::stored(&campaign, &salespeople::list(&state.service)),
        };
        let inputs = inputs(&ui, state, value, &assign, error.as_ref(), false);
        let exponent = campaign.currency.exponent();
        let campaigns::Costs { entries, total } =
            campaigns::costs(&state.service, &campaign).await?;
        let costs = entries
            .iter()
            .map(|entry| {
                let delete_action = format!(
                    "/admin/campaigns/{}/costs/{}/delete",
                    campaign.slug, entry.id
                );
                CostView {
                    amount: format_money(entry.amount, exponent),
                    incurred_on: entry.incurred_on.to_string(),
                    note: entry.note.clone().unwrap_or_default(),
                    delete_csrf: csrf::token(&state.admin_token_hash, &delete_action),
                    delete_action: ui.link(&delete_action),
                }
            })
            .collect();
        let cost_action = format!("/admin/campaigns/{}/costs", campaign.slug);
        let action = format!("/admin/campaigns/{}", campaign.slug);
        let scans = state
            .service
            .store
            .scan_report(campaign.slug.clone(), 0, u32::MAX)
            .await?;
        let scan_charts = scan_charts(&ui, &scans);
        let placements = crate::service::visits::placements(&state.service, &campaign).await?;
        let qr_targets = placements
            .keys()
            .filter(|variant| !variant.is_empty())
            .map(|variant| {
                let action = format!("/admin/campaigns/{}/qr/{variant}", campaign.slug);
                QrTargetRow {
                    variant: variant.clone(),
                    target: state
                        .service
                        .store
                        .qr_target(campaign.slug.as_str(), variant)
                        .as_text(),
                    csrf: csrf::token(&state.admin_token_hash, &action),
                    action: ui.link(&action),
                }
            })
            .collect();
        Ok(CampaignPage {
            title: campaign.name.clone(),
            csrf: csrf::token(&state.admin_token_hash, &action),
            action: ui.link(&action),
            inputs,
            error: error.map(|_| ui.t.fix_errors.to_owned()),
            saved: false,
            costs,
            cost_total: format!(
                "{} {}",
                format_money(total, exponent),
                campaign.currency.code()
            ),
            cost_form: CostForm {
                csrf: csrf::token(&state.admin_token_hash, &cost_action),
                action: ui.link(&cost_action),
                ..cost_form
            },
            landing_url: format!("{}/f/{}", state.public_url, campaign.slug),
            builder: Some(Builder::default()),
            scan_charts,
            qr_targets,
            campaign: Some(campaign),
            ui,
        })
    }
}

/// Scans by app (those with scans, most first) and by hour of the day (all 24, so the
/// day's shape shows); none before the first scan.
fn scan_charts(ui: &Ui, scans: &crate::store::ScanReport) -> Vec<super::charts::Chart> {
    if scans.scans == 0 {
        return Vec::new();
    }
    let series = [(ui.t.scans, "bar-leads")];
    let bar = |count: u64| vec![(count as f64, count.to_string())];
    let mut apps: Vec<(&String, &u64)> = scans.by_app.iter().filter(|(_, n)| **n > 0).collect();
    apps.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let by_app = apps
        .into_iter()
        .map(|(app, count)| (ui.lang.scan_label(app).to_owned(), bar(*count)))
        .collect();
    let by_hour = scans
        .by_hour
        .iter()
        .enumerate()
        .map(|(hour, count)| (format!("{hour:02}:00"), bar(*count)))
        .collect();
    vec![
        super::charts::horizontal(ui.t.chart_scans_by_app.to_owned(), &series, by_app),
        super::charts::horizontal(ui.t.chart_scans_by_hour.to_owned(), &series, by_hour),
    ]
}

fn defaults(key: &str) -> &'static str {
    match key {
        "kind" => "other",
        "status" => "planned",
        "currency" => "CNY",
        "form" => "default",
        _ => "",
    }
}

/// The stored campaign as form values (lists one per line).
fn stored_values(campaign: &Campaign) -> impl Fn(&str) -> String + use<> {
    let json = campaign.to_json("");
    move |key: &str| match &json[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) if key == "target_leads" && n.as_u64() == Some(0) => String::new(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn inputs(
    ui: &Ui,
    state: &AppState,
    value: impl Fn(&str) -> String,
    assign: &AssignValues,
    error: Option<&Error>,
    creating: bool,
) -> Vec<Input> {
    let t = ui.t;
    let options = |values: Vec<&str>| -> Vec<(String, String)> {
        values
            .into_iter()
            .map(|v| (v.to_owned(), ui.label(v).to_owned()))
            .collect()
    };
    // Inactive people get no new leads, so they are offered only where they are already
    // chosen: saving the form then keeps them rather than dropping them unseen.
    let roster = salespeople::list(&state.service);
    let name = |p: &Salesperson| {
        if p.active {
            p.name.clone()
        } else {
            format!("{}{}", p.name, t.inactive_suffix)
        }
    };
    let owners: Vec<(String, String)> = roster
        .iter()
        .filter(|p| p.active || p.id.to_string() == assign.owner_id)
        .map(|p| (p.id.to_string(), name(p)))
        .collect();
    let choices: Vec<Choice> = roster
        .iter()
        .map(|p| (p, assign.people.contains(&p.id.to_string())))
        .filter(|(p, ticked)| p.active || *ticked)
        .map(|(p, checked)| Choice {
            value: p.id.to_string(),
            label: name(p),
            checked,
        })
        .collect();
    shown_keys()
        .map(|key| {
            let (mut selected, mut choices_here) = (String::new(), Vec::new());
            let (label, kind, options) = match *key {
                "slug" => (t.slug, "text", Vec::new()),
                "name" => (t.name, "text", Vec::new()),
                "kind" => (
                    t.kind,
                    "select",
                    options(CampaignKind::ALL.iter().map(|k| k.as_str()).collect()),
                ),
                "channel" => (t.channel, "text", Vec::new()),
                "status" => (
                    t.status,
                    "select",
                    options(CampaignStatus::ALL.iter().map(|s| s.as_str()).collect()),
                ),
                "owner" => {
                    selected = assign.owner_id.clone();
                    (t.owner, "owner", owners.clone())
                }
                "starts_on" => (t.starts_on, "date", Vec::new()),
                "ends_on" => (t.ends_on, "date", Vec::new()),
                "currency" => (t.currency, "text", Vec::new()),
                "budget" => (t.budget, "text", Vec::new()),
                "target_leads" => (t.target_leads, "number", Vec::new()),
                "target_revenue" => (t.target_revenue, "text", Vec::new()),
                "form" => (
                    t.form,
                    "select",
                    state
                        .service
                        .forms
                        .names()
                        .map(|n| (n.to_owned(), n.to_owned()))
                        .collect(),
                ),
                "tracking_numbers" => (t.tracking_numbers, "textarea", Vec::new()),
                "utm_campaigns" => (t.utm_campaigns, "textarea", Vec::new()),
                "qr_variants" => (t.qr_variants, "textarea", Vec::new()),
                "follow_up_hours" => (t.follow_up_hours, "number", Vec::new()),
                "assign" => {
                    choices_here = choices.clone();
                    (
                        t.assign,
                        "assign",
                        options(vec!["none", "owner", "round_robin"]),
                    )
                }
                _ => (t.rate_limit, "text", Vec::new()),
            };
            Input {
                key,
                label,
                kind,
                options,
                value: match *key {
                    "owner" => assign.owner.clone(),
                    "assign" => assign.mode.clone(),
                    _ => value(key),
                },
                selected,
                choices: choices_here,
                error: error
                    .filter(|e| e.field.as_deref() == Some(*key))
                    .map(|e| e.message.clone()),
                readonly: *key == "slug" && !creating,
            }
        })
        .collect()
}

impl Builder {
    /// The builder with what `utm_source`, `utm_medium` and `utm_content` asked for.
    fn from_query(state: &AppState, campaign: &Campaign, query: Option<&str>) -> Result<Builder> {
        let value = |key| {
            http::query_value(query, key)
                .and_then(|v| crate::domain::clean_tracking_value(&v))
                .unwrap_or_default()
        };
        let mut builder = Builder {
            source: value("utm_source"),
            medium: value("utm_medium"),
            content: value("utm_content"),
            ..Builder::default()
        };
        if builder.source.is_empty() && builder.medium.is_empty() && builder.content.is_empty() {
            return Ok(builder);
        }
        let mut link = url::Url::parse(&format!("{}/f/{}", state.public_url, campaign.slug))
            .map_err(|e| Error::internal(format!("public URL: {e}")))?;
        {
            let mut pairs = link.query_pairs_mut();
            for (key, value) in [
                ("utm_source", &builder.source),
                ("utm_medium", &builder.medium),
                ("utm_campaign", &campaign.slug.to_string()),
                ("utm_content", &builder.content),
            ] {
                if !value.is_empty() {
                    pairs.append_pair(key, value);
                }
            }
        }
        let link = link.to_string();
        match crate::qr::svg(&link, &crate::qr::Style::default()) {
            Ok(svg) => builder.qr_svg = svg,
            Err(error) => builder.error = Some(error.message),
        }
        builder.link = Some(link);
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::test_fields as fields;

    #[test]
    fn creating_leaves_out_empty_fields_and_splits_lists() {
        let body = campaign_body(
            &fields(&[
                ("slug", "expo"),
                ("name", "展会"),
                ("budget", ""),
                ("target_leads", "500"),
                ("qr_variants", "booth-a\r\nposter, brochure\n"),
                ("_csrf", "x"),
            ]),
            true,
        );
        assert_eq!(body["slug"], "expo");
        assert_eq!(body["target_leads"], 500);
        assert!(!body.contains_key("budget"));
        assert!(!body.contains_key("_csrf"));
        assert_eq!(
            body["qr_variants"],
            serde_json::json!(["booth-a", "poster", "brochure"])
        );
    }

    #[test]
    fn editing_clears_empty_fields_and_keeps_the_slug_out() {
        let body = campaign_body(
            &fields(&[("slug", "other"), ("owner", ""), ("name", "")]),
            false,
        );
        assert!(!body.contains_key("slug"));
        assert_eq!(body["owner"], Value::Null);
        assert_eq!(body["name"], "");
        assert_eq!(body["tracking_numbers"], serde_json::json!([]));
    }

    #[test]
    fn a_bad_target_stays_text_for_validation_to_name() {
        let body = campaign_body(&fields(&[("target_leads", "many")]), true);
        assert_eq!(body["target_leads"], "many");
    }
}
