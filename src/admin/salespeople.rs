//! `/admin/salespeople…`: the sales roster that campaigns assign new leads to. The list
//! shows each person's mobile, chat ids, whether they get new leads and how many leads
//! they have, with a form to add one; each person's page edits, deactivates or deletes
//! them. Every change goes through `service::salespeople`, the same validation as
//! `/api/salespeople`, and its message is shown next to the field it names.

use askama::Template;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value};

use super::{Button, Ui, field, is_input_error, page, read_form};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::salesperson::Salesperson;
use crate::service::salespeople;
use crate::state::AppState;

/// The optional text fields, which an empty input clears.
const OPTIONAL_KEYS: &[&str] = &[
    "mobile",
    "wecom_userid",
    "dingtalk_userid",
    "feishu_open_id",
];
/// Leads counted per person for the list: a busier person shows as "10000+", so that
/// the page never walks a long index.
const COUNT_CAP: usize = 10_000;

#[derive(Template)]
#[template(path = "admin/salespeople.html")]
pub struct ListPage {
    pub ui: Ui,
    pub rows: Vec<Row>,
    pub form: Form,
    pub alert: Option<String>,
    pub added: bool,
    pub deleted: bool,
}

#[derive(Template)]
#[template(path = "admin/salesperson.html")]
pub struct EditPage {
    pub ui: Ui,
    pub title: String,
    pub row: Row,
    pub form: Form,
    pub alert: Option<String>,
    pub saved: bool,
    /// Why a delete kept the person (the `409`'s message).
    pub notice: Option<String>,
    pub delete_button: Button,
    pub list_href: String,
}

/// A salesperson as the list and their page show them.
pub struct Row {
    pub href: String,
    pub name: String,
    pub mobile: String,
    /// (label, id) of each chat id that is set.
    pub chat_ids: Vec<(&'static str, String)>,
    pub active: bool,
    /// Their number of leads, `10000+` past the cap.
    pub leads: String,
    /// Their leads on the leads page.
    pub leads_href: String,
}

/// The add and the edit form.
pub struct Form {
    pub action: String,
    pub csrf: String,
    pub editing: bool,
    pub values: Values,
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Values {
    pub name: String,
    pub mobile: String,
    pub wecom_userid: String,
    pub dingtalk_userid: String,
    pub feishu_open_id: String,
    pub active: bool,
}

impl Values {
    /// A new salesperson gets new leads (the API's default).
    fn defaults() -> Values {
        Values {
            active: true,
            ..Values::default()
        }
    }

    fn stored(person: &Salesperson) -> Values {
        Values {
            name: person.name.clone(),
            // As typed into the API it was normalised to E.164: shown as stored.
            mobile: person
                .mobile
                .as_ref()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            wecom_userid: person.wecom_userid.clone().unwrap_or_default(),
            dingtalk_userid: person.dingtalk_userid.clone().unwrap_or_default(),
            feishu_open_id: person.feishu_open_id.clone().unwrap_or_default(),
            active: person.active,
        }
    }

    /// The posted form. An unticked checkbox is not posted at all: missing means inactive.
    fn posted(fields: &[(String, String)]) -> Values {
        let text = |key| field(fields, key).unwrap_or_default().to_owned();
        Values {
            name: text("name"),
            mobile: text("mobile"),
            wecom_userid: text("wecom_userid"),
            dingtalk_userid: text("dingtalk_userid"),
            feishu_open_id: text("feishu_open_id"),
            active: field(fields, "active").is_some(),
        }
    }

    fn text(&self, key: &str) -> &str {
        match key {
            "name" => &self.name,
            "mobile" => &self.mobile,
            "wecom_userid" => &self.wecom_userid,
            "dingtalk_userid" => &self.dingtalk_userid,
            _ => &self.feishu_open_id,
        }
    }

    /// The body of `POST /api/salespeople` (`creating`: empty fields left out) or of a
    /// `PATCH` with every field (an emptied field clears that setting).
    fn body(&self, creating: bool) -> Map<String, Value> {
        let mut body = Map::new();
        // An empty name still goes, for validation to say it is required.
        body.insert("name".into(), Value::from(self.name.as_str()));
        for key in OPTIONAL_KEYS {
            match self.text(key) {
                "" if creating => {}
                "" => {
                    body.insert((*key).to_owned(), Value::Null);
                }
                text => {
                    body.insert((*key).to_owned(), Value::from(text));
                }
            }
        }
        body.insert("active".into(), Value::from(self.active));
        body
    }
}

fn alert(ui: &Ui, error: &Error) -> String {
    super::form_alert(ui, error, crate::salesperson::FIELDS)
}

fn form(state: &AppState, ui: &Ui, action: &str, values: Values, error: Option<&Error>) -> Form {
    Form {
        csrf: super::csrf::token(&state.admin_token_hash, action),
        // The fragment brings a refused form back into view under a long list.
        action: format!("{}#add", ui.link(action)),
        editing: action != "/admin/salespeople",
        values,
        problem: error.map(|e| (e.field.clone().unwrap_or_default(), e.message.clone())),
    }
}

fn person_path(person: &Salesperson) -> String {
    format!("/admin/salespeople/{}", person.id)
}

fn row(ui: &Ui, person: &Salesperson, leads: Option<usize>) -> Row {
    let t = ui.t;
    let chat_ids = [
        (t.wecom_userid, &person.wecom_userid),
        (t.dingtalk_userid, &person.dingtalk_userid),
        (t.feishu_open_id, &person.feishu_open_id),
    ]
    .into_iter()
    .filter_map(|(label, id)| id.clone().map(|id| (label, id)))
    .collect();
    Row {
        href: ui.link(&person_path(person)),
        name: person.name.clone(),
        mobile: person
            .mobile
            .as_ref()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
        chat_ids,
        active: person.active,
        leads: match leads.unwrap_or(0) {
            n if n >= COUNT_CAP => format!("{COUNT_CAP}+"),
            n => n.to_string(),
        },
        leads_href: ui.link_with("/admin/leads", &format!("assigned_to={}", person.id)),
    }
}

impl ListPage {
    async fn new(
        state: &AppState,
        ui: Ui,
        values: Values,
        error: Option<Error>,
    ) -> Result<ListPage> {
        let counts = salespeople::lead_counts(&state.service, COUNT_CAP).await?;
        let rows = salespeople::list(&state.service)
            .iter()
            .map(|person| row(&ui, person, counts.get(&person.id).copied()))
            .collect();
        let form = form(state, &ui, "/admin/salespeople", values, error.as_ref());
        Ok(ListPage {
            rows,
            form,
            alert: error.as_ref().map(|e| alert(&ui, e)),
            added: false,
            deleted: false,
            ui,
        })
    }
}

impl EditPage {
    /// The page of `person`; `values` are the ones just posted (kept when refused).
    async fn new(
        state: &AppState,
        ui: Ui,
        person: &Salesperson,
        values: Option<Values>,
        error: Option<Error>,
    ) -> Result<EditPage> {
        let path = person_path(person);
        let counts = salespeople::lead_counts(&state.service, COUNT_CAP).await?;
        let values = values.unwrap_or_else(|| Values::stored(person));
        Ok(EditPage {
            title: person.name.clone(),
            row: row(&ui, person, counts.get(&person.id).copied()),
            form: form(state, &ui, &path, values, error.as_ref()),
            alert: error.as_ref().map(|e| alert(&ui, e)),
            saved: false,
            notice: None,
            delete_button: Button::new(state, &ui, &format!("{path}/delete")),
            list_href: ui.link("/admin/salespeople"),
            ui,
        })
    }
}

pub async fn list(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "salespeople");
    let query = request.uri().query();
    let added = http::query_value(query, "saved").is_some();
    let deleted = http::query_value(query, "deleted").is_some();
    let list = ListPage::new(state, ui, Values::defaults(), None).await?;
    page(
        StatusCode::OK,
        &ListPage {
            added,
            deleted,
            ..list
        },
    )
}

/// `POST /admin/salespeople`: back to the list (people are usually added several at a
/// time), or the list again with the message next to the bad field and the values typed.
pub async fn create(state: &AppState, request: Request<Incoming>) -> Result<Reply> {
    let ui = Ui::new(&request, "salespeople");
    let fields = read_form(state, request).await?;
    let values = Values::posted(&fields);
    match salespeople::create(&state.service, &values.body(true)).await {
        Ok(_) => Ok(http::see_other(
            &ui.link_with("/admin/salespeople", "saved=1"),
        )),
        Err(error) if is_input_error(&error) => {
            let list = ListPage::new(state, ui, values, Some(error)).await?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &list)
        }
        Err(error) => Err(error),
    }
}

pub async fn edit_page(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "salespeople");
    let saved = http::query_value(request.uri().query(), "saved").is_some();
    let person = salespeople::get(&state.service, id)?;
    let edit = EditPage::new(state, ui, &person, None, None).await?;
    page(StatusCode::OK, &EditPage { saved, ..edit })
}

/// `POST /admin/salespeople/{id}`: saves every field (unticking "active" deactivates) and
/// goes back to the page, or shows the form again with the message next to the bad field.
pub async fn save(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "salespeople");
    let fields = read_form(state, request).await?;
    let person = salespeople::get(&state.service, id)?;
    let values = Values::posted(&fields);
    match salespeople::patch(&state.service, id, values.body(false)).await {
        Ok(person) => Ok(http::see_other(
            &ui.link_with(&person_path(&person), "saved=1"),
        )),
        Err(error) if is_input_error(&error) => {
            let edit = EditPage::new(state, ui, &person, Some(values), Some(error)).await?;
            page(StatusCode::UNPROCESSABLE_ENTITY, &edit)
        }
        Err(error) => Err(error),
    }
}

/// `POST /admin/salespeople/{id}/delete`: to the list when deleted. Someone with leads is
/// deactivated instead (the API's `409`): their page says so, in the API's words.
pub async fn delete(state: &AppState, request: Request<Incoming>, id: &str) -> Result<Reply> {
    let ui = Ui::new(&request, "salespeople").answering_post("delete");
    read_form(state, request).await?;
    match salespeople::delete(&state.service, id).await {
        Ok(()) => Ok(http::see_other(
            &ui.link_with("/admin/salespeople", "deleted=1"),
        )),
        Err(error) if error.kind == ErrorKind::Conflict => {
            let person = salespeople::get(&state.service, id)?;
            let edit = EditPage::new(state, ui, &person, None, None).await?;
            page(
                StatusCode::CONFLICT,
                &EditPage {
                    notice: Some(error.message),
                    ..edit
                },
            )
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::test_fields as fields;
    use serde_json::json;

    #[test]
    fn creating_leaves_empty_fields_out_and_editing_clears_them() {
        let values = Values::posted(&fields(&[
            ("name", " 王芳 "),
            ("mobile", "139 1234 0001"),
            ("wecom_userid", ""),
            ("_csrf", "x"),
        ]));
        assert_eq!(values.name, "王芳");
        assert!(!values.active, "an unticked box is not posted");
        let created = values.body(true);
        assert_eq!(
            Value::Object(created),
            json!({"name": "王芳", "mobile": "139 1234 0001", "active": false})
        );
        let patched = values.body(false);
        assert_eq!(patched["wecom_userid"], Value::Null);
        assert_eq!(patched["feishu_open_id"], Value::Null);
        assert_eq!(patched["mobile"], "139 1234 0001");
    }

    #[test]
    fn an_empty_name_reaches_validation() {
        let body = Values::posted(&fields(&[("active", "1")])).body(true);
        assert_eq!(body["name"], "");
        assert_eq!(body["active"], true);
    }
}
