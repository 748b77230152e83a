//! `/admin/schedules…`: the ROI report a sales group gets every day, week or month. The
//! list shows each schedule's destination, rhythm, report and its last and next send, each
//! with "send now" and "delete"; below it a form adds one. Every change goes through
//! `service::schedules`, the same validation as `/api/report-schedules`, and its message
//! is shown next to the field it names.
//!
//! A page of its own rather than a section of the destinations page: a schedule names a
//! destination but is not one of its settings (one destination may get several reports),
//! and the destinations page already holds a long form and its help.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};

use super::overview::{GROUPS, MODELS};
use super::{Button, Ui, csrf, field, is_input_error, page, read_form};
use crate::error::{Error, Result};
use crate::http::{self, Reply};
use crate::schedule::period::WEEKDAYS;
use crate::schedule::{Every, Schedule};
use crate::service::destinations::{self, Shown};
use crate::service::schedules;
use crate::state::AppState;

const LIST: &str = "/admin/schedules";

#[derive(Template)]
#[template(path = "admin/schedules.html")]
pub struct ListPage {
    pub ui: Ui,
    pub rows: Vec<Row>,
    pub form: Form,
    pub alert: Option<String>,
    /// The reporting time zone's name, which every time on the page is in.
    pub zone: String,
    pub destinations_href: String,
    /// "Send now" was just pressed: (destination, period) of the report sent.
    pub ran: Option<(String, String)>,
    pub added: bool,
    pub deleted: bool,
}

/// A schedule as the list shows it.
pub struct Row {
    pub id: String,
    pub destination: String,
    pub destination_href: String,
    pub every: &'static str,
    pub weekday: Option<&'static str>,
    pub at: String,
    pub model: String,
    pub group_by: String,
    /// The period the schedule itself last sent and when; empty for never.
    pub last_run_for: String,
    pub last_run_at: String,
    pub next_run_at: String,
    pub run_button: Button,
    pub delete_button: Button,
}

/// The add form.
pub struct Form {
    pub action: String,
    pub csrf: String,
    pub values: Values,
    /// (id, name) of every destination.
    pub destinations: Vec<(String, String)>,
    pub everies: Vec<&'static str>,
    pub weekdays: Vec<&'static str>,
    pub models: &'static [&'static str],
    pub groups: &'static [&'static str],
    /// The refused field and its message.
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

/// What the form holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub destination: String,
    pub every: String,
    pub at: String,
    pub weekday: String,
    pub model: String,
    pub group_by: String,
}

impl Values {
    /// A daily report at 09:00 under the API's defaults; Monday should it become weekly.
    /// The destination is chosen for the marketer only when there is one to choose.
    fn defaults(destinations: &[Shown]) -> Values {
        Values {
            destination: match destinations {
                [only] => only.destination.id.to_string(),
                _ => String::new(),
            },
            every: Every::Daily.as_str().to_owned(),
            at: "09:00".to_owned(),
            weekday: WEEKDAYS[0].to_owned(),
            model: "last_touch".to_owned(),
            group_by: "campaign".to_owned(),
        }
    }

    fn posted(fields: &[(String, String)]) -> Values {
        let text = |key| field(fields, key).unwrap_or_default().to_owned();
        Values {
            destination: text("destination"),
            every: text("every"),
            at: text("at"),
            weekday: text("weekday"),
            model: text("model"),
            group_by: text("group_by"),
        }
    }

    /// The body of `POST /api/report-schedules`. An empty field is left out, so the API
    /// says it is required (or uses its default). The weekday select is always on the
    /// form (no script hides it): it is sent only for a weekly report, where it means
    /// something.
    fn body(&self) -> Map<String, Value> {
        let weekly = self.every == Every::Weekly.as_str();
        let mut body = Map::new();
        for (key, value) in [
            ("destination", &self.destination),
            ("every", &self.every),
            ("at", &self.at),
            ("weekday", &self.weekday),
            ("model", &self.model),
            ("group_by", &self.group_by),
        ] {
            if !value.is_empty() && (key != "weekday" || weekly) {
                body.insert(key.to_owned(), Value::from(value.as_str()));
            }
        }
        body
    }
}

fn alert(ui: &Ui, error: &Error) -> String {
    super::form_alert(ui, error, crate::schedule::FIELDS)
}

fn form(
    state: &AppState,
    ui: &Ui,
    values: Values,
    destinations: &[Shown],
    error: Option<&Error>,
) -> Form {
    Form {
        csrf: csrf::token(&state.admin_token_hash, LIST),
        // The fragment brings a refused form back into view under a long list.
        action: format!("{}#add", ui.link(LIST)),
        values,
        destinations: destinations
            .iter()
            .map(|shown| {
                let d = &shown.destination;
                (d.id.to_string(), d.name.clone())
            })
            .collect(),
        everies: Every::ALL.iter().map(|e| e.as_str()).collect(),
        weekdays: WEEKDAYS.to_vec(),
        models: MODELS,
        groups: GROUPS,
        problem: error.map(|e| (e.field.clone().unwrap_or_default(), e.message.clone())),
    }
}

/// `at` as the console shows times: to the minute, in the reporting zone.
fn local_time(state: &AppState, at: jiff::Timestamp) -> String {
    at.to_zoned_datetime(state.service.tz().clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

fn row(state: &AppState, ui: &Ui, schedule: &Schedule, destinations: &[Shown]) -> Row {
    let id = schedule.id.to_string();
    let destination = destinations
        .iter()
        .map(|shown| &shown.destination)
        .find(|d| d.id == schedule.destination);
    let button = |action: &str| Button::new(state, ui, &format!("{LIST}/{id}/{action}"));
    let now = state.service.clock.now();
    Row {
        // Deleting a destination deletes its schedules: the id shows only in a race.
        destination: destination
            .map_or_else(|| schedule.destination.to_string(), |d| d.name.clone()),
        destination_href: ui.link(&format!("/admin/destinations/{}", schedule.destination)),
        every: schedule.rhythm.every.as_str(),
        weekday: schedule.rhythm.weekday_name(),
        at: schedule.rhythm.at(),
        model: ui.label(&schedule.model).to_owned(),
        group_by: ui.label(&schedule.group_by).to_owned(),
        last_run_for: schedule.last_sent.map(|p| p.label()).unwrap_or_default(),
        last_run_at: schedule
            .last_sent_at
            .map(|at| local_time(state, at))
            .unwrap_or_default(),
        next_run_at: local_time(state, schedule.next_run_at(now, state.service.tz())),
        run_button: button("run"),
        delete_button: button("delete"),
        id,
    }
}

impl ListPage {
    async fn new(
        state: &AppState,
        ui: Ui,
        values: Option<Values>,
        error: Option<Error>,
    ) -> Result<ListPage> {
        let destinations = destinations::list(&state.service).await?;
        let rows = schedules::list(&state.service)
            .await?
            .iter()
            .map(|schedule| row(state, &ui, schedule, &destinations))
            .collect();
        let values = values.unwrap_or_else(|| Values::defaults(&destinations));
        Ok(ListPage {
            rows,
            form: form(state, &ui, values, &destinations, error.as_ref()),
            alert: error.as_ref().map(|e| alert(&ui, e)),
            zone: state.service.tz().iana_name().unwrap_or("UTC").to_owned(),
            destinations_href: ui.link("/admin/destinations"),
            ran: None,
            added: false,
            deleted: false,
            ui,
        })
    }
}

pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "schedules");
    let query = request.uri().query();
    let added = http::query_value(query, "saved").is_some();
    let deleted = http::query_value(query, "deleted").is_some();
    let ran_id = http::query_value(query, "ran");
    let list = ListPage::new(state, ui, None, None).await?;
    // What "send now" sent, found again from the schedule rather than taken from the
    // address, so that a link cannot make the page claim anything.
    let ran = match ran_id {
        Some(id) => ran_notice(state, &list.rows, &id).await,
        None => None,
    };
    page(
        StatusCode::OK,
        &ListPage {
            ran,
            added,
            deleted,
            ..list
        },
    )
}

/// (destination, period) of what `run` of schedule `id` sent, if it is still there: the
/// notice is a courtesy, so a schedule deleted meanwhile drops it rather than the page.
async fn ran_notice(state: &AppState, rows: &[Row], id: &str) -> Option<(String, String)> {
    let row = rows.iter().find(|row| row.id == id)?;
    let schedule = schedules::get(&state.service, id).await.ok()?;
    let period = schedule.period_now(state.service.clock.now(), state.service.tz());
    Some((row.destination.clone(), period.label()))
}

/// `POST /admin/schedules`: back to the list, or the list again with the message next to
/// the bad field and the values chosen.
pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "schedules");
    let fields = read_form(state, request).await?;
    let values = Values::posted(&fields);
    match schedules::create(&state.service, &values.body()).await {
        Ok(_) => Ok(http::see_other(&ui.link_with(LIST, "saved=1"))),
        Err(error) if is_input_error(&error) => {
            let list = ListPage::new(state, ui, Some(values), Some(error)).await?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &list)
        }
        Err(error) => Err(error),
    }
}

/// `POST /admin/schedules/{id}/run`: sends the report now (as the API's `run`: the day,
/// week or month before today), then back to the list, which says what went.
pub async fn run(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "schedules");
    read_form(state, request).await?;
    let (_, sent) = schedules::run(&state.service, id).await?;
    Ok(http::see_other(
        &ui.link_with(LIST, &format!("ran={}", sent.schedule.id)),
    ))
}

pub async fn delete(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "schedules");
    read_form(state, request).await?;
    schedules::delete(&state.service, id).await?;
    Ok(http::see_other(&ui.link_with(LIST, "deleted=1")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::test_fields as fields;
    use serde_json::json;

    #[test]
    fn the_weekday_goes_only_with_a_weekly_report() {
        let posted = |every| {
            Values::posted(&fields(&[
                ("_csrf", "x"),
                ("destination", "D"),
                ("every", every),
                ("at", " 09:30 "),
                ("weekday", "fri"),
                ("model", "linear"),
                ("group_by", "channel"),
            ]))
            .body()
        };
        assert_eq!(
            Value::Object(posted("daily")),
            json!({"destination": "D", "every": "daily", "at": "09:30", "model": "linear",
                "group_by": "channel"})
        );
        assert_eq!(posted("weekly")["weekday"], "fri");
        assert!(!posted("monthly").contains_key("weekday"));
    }

    #[test]
    fn empty_fields_are_left_for_the_api_to_require() {
        let body = Values::posted(&fields(&[("every", "weekly"), ("weekday", "")])).body();
        assert_eq!(Value::Object(body), json!({"every": "weekly"}));
    }
}
