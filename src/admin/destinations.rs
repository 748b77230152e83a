//! `/admin/destinations…`: where leads go (a CRM's webhook, a sales group's robot). The
//! list shows each destination's delivery and has a form to add one; each destination's
//! page edits, tests, retries and deletes it. Every change goes through
//! `service::destinations`, the same validation as `/api/destinations`, and its message is
//! shown next to the field it names. The secret is never written into a page.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};

use super::{Button, Choice, Ui, csrf, field, is_input_error, page, read_form};
use crate::campaign::Campaign;
use crate::delivery::Kind;
use crate::destination::{Destination, EVENT_TYPES};
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::relay::TestAnswer;
use crate::service::campaigns;
use crate::service::destinations::{self, Shown};
use crate::state::AppState;

/// How much of a last error the list shows; the whole of it is in the cell's title.
const ERROR_CHARS: usize = 60;
/// How much of a test answer the page shows (the service keeps its first 1 KiB): enough
/// for a robot's `errcode`/`errmsg` or the start of a CRM's error page.
const ANSWER_CHARS: usize = 500;

#[derive(Template)]
#[template(path = "admin/destinations.html")]
pub struct ListPage {
    pub ui: Ui,
    pub rows: Vec<Row>,
    pub form: Form,
    pub alert: Option<String>,
    pub deleted: bool,
}

#[derive(Template)]
#[template(path = "admin/destination.html")]
pub struct EditPage {
    pub ui: Ui,
    pub title: String,
    pub row: Row,
    pub form: Form,
    pub alert: Option<String>,
    pub saved: bool,
    pub retried: bool,
    pub test: Option<TestView>,
    pub test_button: Button,
    pub retry_button: Button,
    pub delete_button: Button,
    pub list_href: String,
}

/// A destination and how its delivery is going, as the list and its page show them.
pub struct Row {
    pub href: String,
    pub name: String,
    pub kind: &'static str,
    /// `ok`, `retrying`, `dead` or `disabled`: also the badge's colour class.
    pub state: &'static str,
    pub backlog: u64,
    pub delivered: u64,
    pub failed: u64,
    pub last_error: String,
    pub last_error_short: String,
    /// In the reporting time zone; empty for never.
    pub last_delivered_at: String,
    pub next_attempt_at: String,
}

/// The add and the edit form.
pub struct Form {
    pub action: String,
    pub csrf: String,
    pub editing: bool,
    pub name: String,
    pub kind: String,
    pub kinds: Vec<&'static str>,
    pub url: String,
    /// Whether the stored destination has a secret (editing only).
    pub secret_set: bool,
    pub remove_secret: bool,
    pub events: Vec<Choice>,
    pub campaigns: Vec<Choice>,
    pub enabled: bool,
    /// The refused field and what to do about it.
    problem: Option<(String, String)>,
}

impl Form {
    /// The message for field `key`, when it was refused.
    pub fn error(&self, key: &str) -> Option<&str> {
        self.problem
            .as_ref()
            .filter(|(field, _)| field == key)
            .map(|(_, message)| message.as_str())
    }
}

/// The receiver's answer to a test, as the page shows it.
pub struct TestView {
    pub status: Option<u16>,
    pub delivered: bool,
    pub body: String,
    pub error: Option<String>,
}

/// What the form holds, apart from the secret, which is never shown again.
#[derive(Debug, Clone, PartialEq)]
struct Values {
    name: String,
    kind: String,
    url: String,
    events: Vec<String>,
    campaigns: Vec<String>,
    enabled: bool,
    remove_secret: bool,
}

impl Values {
    /// A new destination: a webhook for every event of every campaign, enabled (the API's
    /// defaults).
    fn defaults() -> Values {
        Values {
            name: String::new(),
            kind: Kind::Webhook.as_str().to_owned(),
            url: String::new(),
            events: EVENT_TYPES.iter().map(|e| e.as_str().to_owned()).collect(),
            campaigns: Vec::new(),
            enabled: true,
            remove_secret: false,
        }
    }

    fn stored(destination: &Destination) -> Values {
        Values {
            name: destination.name.clone(),
            kind: destination.kind.as_str().to_owned(),
            url: destination.url.clone(),
            events: destination
                .events
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            campaigns: destination
                .campaigns
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            enabled: destination.enabled,
            remove_secret: false,
        }
    }

    /// The posted form. A checkbox that is not ticked is not posted at all, so a missing
    /// one means "no": no events, every campaign, disabled.
    fn posted(fields: &[(String, String)]) -> Values {
        let all = |key: &str| -> Vec<String> {
            fields
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        };
        let text = |key| field(fields, key).unwrap_or_default().to_owned();
        Values {
            name: text("name"),
            kind: text("kind"),
            url: text("url"),
            events: all("events"),
            campaigns: all("campaigns"),
            enabled: field(fields, "enabled").is_some(),
            remove_secret: field(fields, "remove_secret").is_some(),
        }
    }
}

/// The typed secret. Trimmed: a password field hides a pasted space or line break, which
/// is never part of a robot's secret (the API refuses it rather than guess).
fn typed_secret(fields: &[(String, String)]) -> Option<&str> {
    field(fields, "secret")
}

/// The body of `POST /api/destinations` for the posted form.
fn create_body(values: &Values, secret: Option<&str>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("name".into(), Value::from(values.name.as_str()));
    body.insert("kind".into(), Value::from(values.kind.as_str()));
    body.insert("url".into(), Value::from(values.url.as_str()));
    if let Some(secret) = secret {
        body.insert("secret".into(), Value::from(secret));
    }
    body.insert("events".into(), Value::from(values.events.clone()));
    body.insert("campaigns".into(), Value::from(values.campaigns.clone()));
    body.insert("enabled".into(), Value::from(values.enabled));
    body
}

/// The `PATCH` for the posted form: only the fields that differ from what is stored, so
/// the address is looked up again only when it changed (a host slow to resolve would hold
/// up every save) and a save that changes nothing writes nothing. The secret, which the
/// form never shows, changes only when one is typed or "remove secret" is ticked.
fn patch_body(
    values: &Values,
    secret: Option<&str>,
    stored: &Destination,
    ui: &Ui,
) -> Result<Map<String, Value>> {
    let before = Values::stored(stored);
    let sorted = |list: &[String]| {
        let mut list = list.to_vec();
        list.sort();
        list.dedup();
        list
    };
    let mut body = Map::new();
    if values.name != before.name {
        body.insert("name".into(), Value::from(values.name.as_str()));
    }
    if values.kind != before.kind {
        body.insert("kind".into(), Value::from(values.kind.as_str()));
    }
    if values.url != before.url {
        body.insert("url".into(), Value::from(values.url.as_str()));
    }
    if sorted(&values.events) != sorted(&before.events) {
        body.insert("events".into(), Value::from(values.events.clone()));
    }
    if sorted(&values.campaigns) != sorted(&before.campaigns) {
        body.insert("campaigns".into(), Value::from(values.campaigns.clone()));
    }
    if values.enabled != before.enabled {
        body.insert("enabled".into(), Value::from(values.enabled));
    }
    match (secret, values.remove_secret) {
        (Some(_), true) => {
            return Err(Error::invalid(
                "secret",
                "invalid_secret",
                ui.t.secret_or_remove,
            ));
        }
        (Some(secret), false) => {
            body.insert("secret".into(), Value::from(secret));
        }
        (None, true) => {
            body.insert("secret".into(), Value::Null);
        }
        (None, false) => {}
    }
    Ok(body)
}

/// The refused field and its message. The API's "empty" says to leave `events` out,
/// which a form cannot do: the console says to tick one instead.
fn problem(ui: &Ui, error: &Error) -> (String, String) {
    let field = error.field.clone().unwrap_or_default();
    let message = if field == "events" && error.code == "empty" {
        ui.t.tick_an_event.to_owned()
    } else {
        error.message.clone()
    };
    (field, message)
}

fn alert(ui: &Ui, error: &Error) -> String {
    super::form_alert(ui, error, crate::destination::FIELDS)
}

fn form(
    state: &AppState,
    ui: &Ui,
    action: &str,
    values: Values,
    stored: Option<&Destination>,
    campaigns: &[Campaign],
    error: Option<&Error>,
) -> Form {
    let events = EVENT_TYPES
        .iter()
        .map(|event| Choice {
            value: event.as_str().to_owned(),
            label: ui.label(event.as_str()).to_owned(),
            checked: values.events.iter().any(|e| e == event.as_str()),
        })
        .collect();
    let campaigns = campaigns
        .iter()
        .map(|campaign| Choice {
            checked: values.campaigns.iter().any(|c| c == campaign.slug.as_str()),
            value: campaign.slug.to_string(),
            label: campaign.name.clone(),
        })
        .collect();
    Form {
        csrf: csrf::token(&state.admin_token_hash, action),
        // The fragment brings a refused form back into view under a long list.
        action: format!("{}#add", ui.link(action)),
        editing: stored.is_some(),
        name: values.name,
        kind: values.kind,
        kinds: Kind::ALL.iter().map(|k| k.as_str()).collect(),
        url: values.url,
        secret_set: stored.is_some_and(|d| d.secret.is_some()),
        remove_secret: values.remove_secret,
        events,
        campaigns,
        enabled: values.enabled,
        problem: error.map(|e| problem(ui, e)),
    }
}

/// Campaigns to choose from, by slug (the order of the leads page's filter).
async fn campaign_choices(state: &AppState) -> Result<Vec<Campaign>> {
    let mut list = campaigns::list(&state.service).await?;
    list.sort_by(|a, b| a.slug.as_str().cmp(b.slug.as_str()));
    Ok(list)
}

fn destination_path(shown: &Shown) -> String {
    format!("/admin/destinations/{}", shown.destination.id)
}

fn row(state: &AppState, ui: &Ui, shown: &Shown) -> Row {
    let tz = state.service.tz();
    let time = |at: Option<jiff::Timestamp>| {
        at.map(|at| {
            at.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
    };
    let record = &shown.status.record;
    let last_error = record.last_error.clone().unwrap_or_default();
    Row {
        href: ui.link(&destination_path(shown)),
        name: shown.destination.name.clone(),
        kind: ui.label(shown.destination.kind.as_str()),
        state: shown.status.state.as_str(),
        backlog: shown.status.backlog,
        delivered: record.delivered,
        failed: record.failed,
        last_error_short: shorten(&last_error, ERROR_CHARS),
        last_error,
        last_delivered_at: time(record.last_delivered_at),
        next_attempt_at: time(shown.status.next_attempt_at),
    }
}

/// The first `chars` characters of `text`, with an ellipsis when there was more.
fn shorten(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

impl ListPage {
    async fn new(
        state: &AppState,
        ui: Ui,
        values: Values,
        error: Option<Error>,
    ) -> Result<ListPage> {
        let rows = destinations::list(&state.service)
            .await?
            .iter()
            .map(|shown| row(state, &ui, shown))
            .collect();
        let campaigns = campaign_choices(state).await?;
        let form = form(
            state,
            &ui,
            "/admin/destinations",
            values,
            None,
            &campaigns,
            error.as_ref(),
        );
        Ok(ListPage {
            rows,
            form,
            alert: error.as_ref().map(|e| alert(&ui, e)),
            deleted: false,
            ui,
        })
    }
}

impl EditPage {
    /// The page of `shown`; `values` are the ones just posted (kept when refused).
    async fn new(
        state: &AppState,
        ui: Ui,
        shown: &Shown,
        values: Option<Values>,
        error: Option<Error>,
    ) -> Result<EditPage> {
        let path = destination_path(shown);
        let campaigns = campaign_choices(state).await?;
        let values = values.unwrap_or_else(|| Values::stored(&shown.destination));
        let form = form(
            state,
            &ui,
            &path,
            values,
            Some(&shown.destination),
            &campaigns,
            error.as_ref(),
        );
        let button = |action: String| Button {
            csrf: csrf::token(&state.admin_token_hash, &action),
            action: ui.link(&action),
        };
        Ok(EditPage {
            title: shown.destination.name.clone(),
            row: row(state, &ui, shown),
            form,
            alert: error.as_ref().map(|e| alert(&ui, e)),
            saved: false,
            retried: false,
            test: None,
            test_button: button(format!("{path}/test")),
            retry_button: button(format!("{path}/retry")),
            delete_button: button(format!("{path}/delete")),
            list_href: ui.link("/admin/destinations"),
            ui,
        })
    }
}

impl From<TestAnswer> for TestView {
    fn from(answer: TestAnswer) -> TestView {
        TestView {
            status: answer.status,
            delivered: answer.delivered,
            body: shorten(answer.body.as_deref().unwrap_or_default(), ANSWER_CHARS),
            error: answer.error,
        }
    }
}

pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "destinations");
    let deleted = http::query_value(request.uri().query(), "deleted").is_some();
    let list = ListPage::new(state, ui, Values::defaults(), None).await?;
    page(StatusCode::OK, &ListPage { deleted, ..list })
}

/// `POST /admin/destinations`: 303 to the new destination's page, or the list again with
/// the message next to the bad field and the values typed (but not the secret).
pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "destinations");
    let fields = read_form(state, request).await?;
    let values = Values::posted(&fields);
    let body = create_body(&values, typed_secret(&fields));
    match destinations::create(&state.service, &body).await {
        Ok(shown) => Ok(http::see_other(
            &ui.link_with(&destination_path(&shown), "saved=1"),
        )),
        Err(error) if is_input_error(&error) => {
            let list = ListPage::new(state, ui, values, Some(error)).await?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &list)
        }
        Err(error) => Err(error),
    }
}

pub async fn edit_page(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "destinations");
    let query = request.uri().query();
    let saved = http::query_value(query, "saved").is_some();
    let retried = http::query_value(query, "retried").is_some();
    let shown = destinations::get(&state.service, id).await?;
    let edit = EditPage::new(state, ui, &shown, None, None).await?;
    page(
        StatusCode::OK,
        &EditPage {
            saved,
            retried,
            ..edit
        },
    )
}

/// `POST /admin/destinations/{id}`: saves what changed and goes back to the page, or shows
/// the form again with the message next to the bad field.
pub async fn save(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "destinations");
    let fields = read_form(state, request).await?;
    let shown = destinations::get(&state.service, id).await?;
    let values = Values::posted(&fields);
    let saved = match patch_body(&values, typed_secret(&fields), &shown.destination, &ui) {
        // Nothing changed: nothing to write, and no reason to look the address up again.
        Ok(body) if body.is_empty() => Ok(()),
        Ok(body) => destinations::patch(&state.service, id, body)
            .await
            .map(drop),
        Err(error) => Err(error),
    };
    match saved {
        Ok(()) => Ok(http::see_other(
            &ui.link_with(&destination_path(&shown), "saved=1"),
        )),
        Err(error) if is_input_error(&error) => {
            let edit = EditPage::new(state, ui, &shown, Some(values), Some(error)).await?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &edit)
        }
        Err(error) => Err(error),
    }
}

/// `POST /admin/destinations/{id}/test`: sends a test event and shows the answer on the
/// destination's page (a redirect would have to carry the receiver's text in the URL).
pub async fn test(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "destinations").answering_post("test");
    read_form(state, request).await?;
    let answer = destinations::test(&state.service, id).await?;
    let shown = destinations::get(&state.service, id).await?;
    let edit = EditPage::new(state, ui, &shown, None, None).await?;
    page(
        StatusCode::OK,
        &EditPage {
            test: Some(answer.into()),
            ..edit
        },
    )
}

pub async fn retry(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "destinations");
    read_form(state, request).await?;
    let shown = destinations::retry(&state.service, id).await?;
    Ok(http::see_other(
        &ui.link_with(&destination_path(&shown), "retried=1"),
    ))
}

pub async fn delete(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "destinations");
    read_form(state, request).await?;
    destinations::delete(&state.service, id).await?;
    Ok(http::see_other(
        &ui.link_with("/admin/destinations", "deleted=1"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::test_fields as fields;
    use serde_json::json;

    fn stored() -> Destination {
        Destination::create(
            json!({"name": "CRM", "kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=t",
                "secret": "SECabc", "events": ["lead.created"], "campaigns": ["expo"]})
            .as_object()
            .unwrap(),
            |_| true,
            jiff::Timestamp::UNIX_EPOCH,
        )
        .unwrap()
    }

    fn ui() -> Ui {
        let t = super::super::i18n::Lang::En.texts();
        Ui {
            lang: super::super::i18n::Lang::En,
            t,
            section: "destinations",
            switch_href: String::new(),
        }
    }

    #[test]
    fn unticked_boxes_mean_no_and_repeated_ones_are_lists() {
        let values = Values::posted(&fields(&[
            ("name", " CRM "),
            ("events", "lead.created"),
            ("events", "contact.erased"),
            ("campaigns", ""),
        ]));
        assert_eq!(values.name, "CRM");
        assert_eq!(values.events, ["lead.created", "contact.erased"]);
        assert!(values.campaigns.is_empty() && !values.enabled && !values.remove_secret);
        let body = create_body(&values, None);
        assert_eq!(body["events"], json!(["lead.created", "contact.erased"]));
        assert_eq!(body["campaigns"], json!([]));
        assert_eq!(body["enabled"], false);
        assert!(!body.contains_key("secret"));
    }

    #[test]
    fn a_patch_holds_only_what_changed() {
        let stored = stored();
        let same = Values::stored(&stored);
        assert!(patch_body(&same, None, &stored, &ui()).unwrap().is_empty());
        let changed = Values {
            name: "Sales".into(),
            events: vec!["lead.updated".into(), "lead.created".into()],
            ..same.clone()
        };
        let body = patch_body(&changed, None, &stored, &ui()).unwrap();
        assert_eq!(body.keys().collect::<Vec<_>>(), ["name", "events"]);
        // The same lists in another order are no change.
        let reordered = Values {
            campaigns: vec!["expo".into(), "expo".into()],
            ..same.clone()
        };
        assert!(
            patch_body(&reordered, None, &stored, &ui())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_secret_changes_only_when_typed_or_removed() {
        let stored = stored();
        let same = Values::stored(&stored);
        let typed = patch_body(&same, Some("SECnew"), &stored, &ui()).unwrap();
        assert_eq!(typed["secret"], "SECnew");
        let removing = Values {
            remove_secret: true,
            ..same.clone()
        };
        let removed = patch_body(&removing, None, &stored, &ui()).unwrap();
        assert_eq!(removed["secret"], Value::Null);
        let both = patch_body(&removing, Some("SECnew"), &stored, &ui()).unwrap_err();
        assert_eq!(both.field.as_deref(), Some("secret"));
    }

    #[test]
    fn long_errors_are_cut_on_a_character() {
        assert_eq!(shorten("短", 3), "短");
        assert_eq!(shorten("连接被拒绝了", 3), "连接被…");
    }
}
