//! The marketer console under `/admin`: server-rendered pages (askama, no JavaScript, no
//! external assets), Chinese by default and English with `?lang=en`. The pages call the
//! same domain code as the JSON API, so both show the same numbers and the same errors.

pub mod audit;
pub mod campaigns;
pub mod charts;
pub mod csrf;
pub mod destinations;
pub mod erasures;
pub mod i18n;
pub mod leads;
pub mod overview;
pub mod salespeople;
pub mod schedules;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::error::{Error, ErrorKind, Result};
use crate::http::{self, Reply};
use crate::state::AppState;
use i18n::{Lang, Texts};

/// Which file a console upload holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    Leads,
    Conversions,
}

/// What every console page needs: the language, its words, and where it is.
pub struct Ui {
    pub lang: Lang,
    pub t: &'static Texts,
    pub section: &'static str,
    /// The same page in the other language.
    pub switch_href: String,
}

impl Ui {
    pub fn new(request: &Request<Incoming>, section: &'static str) -> Ui {
        let lang = Lang::from_query(request.uri().query());
        // The same address in the other language, keeping the period, filters and inputs,
        // but not the one-time notices ("saved", …): switching language changes nothing.
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in
            url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        {
            if !["lang", "saved", "retried", "deleted", "recorded", "ran"].contains(&key.as_ref()) {
                query.append_pair(&key, &value);
            }
        }
        query.append_pair(
            "lang",
            match lang {
                Lang::Zh => "en",
                Lang::En => "zh",
            },
        );
        Ui {
            lang,
            t: lang.texts(),
            section,
            switch_href: format!("{}?{}", request.uri().path(), query.finish()),
        }
    }

    /// For a page answered at a post-only address ending in `/{action}` (a test's answer,
    /// a refused delete): its other language is the page of what was posted to.
    pub fn answering_post(mut self, action: &str) -> Ui {
        self.switch_href = self.switch_href.replacen(&format!("/{action}?"), "?", 1);
        self
    }

    /// `path` with this page's language kept.
    pub fn link(&self, path: &str) -> String {
        self.link_with(path, "")
    }

    /// `path?query` with this page's language kept.
    pub fn link_with(&self, path: &str, query: &str) -> String {
        let parts: Vec<&str> = [query, self.lang.param()]
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", parts.join("&"))
        }
    }

    /// The label of a stored enum value in this page's language.
    pub fn label(&self, value: &str) -> &'static str {
        self.lang.label(value)
    }
}

/// One checkbox of a list (an event type, a campaign, a salesperson).
#[derive(Clone)]
pub struct Choice {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// A post-only button: its action and its form token.
pub struct Button {
    pub action: String,
    pub csrf: String,
}

impl Button {
    /// The button posting to `action`, in `ui`'s language.
    pub fn new(state: &AppState, ui: &Ui, action: &str) -> Button {
        Button {
            csrf: csrf::token(&state.admin_token_hash, action),
            action: ui.link(action),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/error.html")]
struct ErrorPage {
    ui: Ui,
    title: &'static str,
    detail: String,
}

/// An error on a console page, in the console's language, with what went wrong.
pub fn error_page(error: &Error, lang: Lang) -> Reply {
    let t = lang.texts();
    let title = match error.kind {
        ErrorKind::Unauthorized => t.error_login,
        ErrorKind::Forbidden => t.error_forbidden,
        ErrorKind::NotFound => t.error_not_found,
        ErrorKind::Unavailable | ErrorKind::TooManyRequests => t.error_unavailable,
        ErrorKind::Internal => t.error_internal,
        _ => t.error_invalid,
    };
    // Internal errors keep their details in the log.
    let detail = match (error.kind, &error.field) {
        (ErrorKind::Internal, _) => String::new(),
        (_, Some(field)) => format!("{field}: {}", error.message),
        (_, None) => error.message.clone(),
    };
    let page = ErrorPage {
        ui: Ui {
            lang,
            t,
            section: "",
            switch_href: "/admin".into(),
        },
        title,
        detail,
    };
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match askama::Template::render(&page) {
        Ok(body) => http::html(status, body),
        Err(_) => http::error_json(error),
    }
}

/// A rendered console page.
pub fn page(status: StatusCode, template: &impl askama::Template) -> Result<Reply> {
    let body = template
        .render()
        .map_err(|e| Error::internal(format!("rendering a console page failed: {e}")))?;
    Ok(http::html(status, body))
}

/// A form post's fields, after its token is checked against `action` (the path it was
/// posted to). Nothing in the body is judged before the token passes: a body that is not
/// a form has no token, and is refused like a forged one.
pub async fn read_form(
    state: &AppState,
    request: Request<Incoming>,
) -> Result<Vec<(String, String)>> {
    let action = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let is_form =
        http::content_type(&parts.headers).as_deref() == Some("application/x-www-form-urlencoded");
    let bytes = http::read_body(&parts, body, http::FORM_BODY_LIMIT).await?;
    let fields: Vec<(String, String)> = if is_form {
        url::form_urlencoded::parse(&bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    } else {
        Vec::new()
    };
    csrf::verify(
        &state.admin_token_hash,
        &action,
        crate::submission::first_value(&fields, csrf::FIELD),
    )?;
    Ok(fields)
}

/// Errors the marketer can fix in the form (as opposed to a store that is down).
pub fn is_input_error(error: &Error) -> bool {
    matches!(error.kind, ErrorKind::Invalid | ErrorKind::Conflict)
}

/// The alert above a refused form: a field of the form (`fields`) gets its message next to
/// it, so the alert says where to look; an error about anything else is the alert itself.
pub fn form_alert(ui: &Ui, error: &Error, fields: &[&str]) -> String {
    match &error.field {
        Some(field) if fields.contains(&field.as_str()) => ui.t.fix_errors.to_owned(),
        _ => error.message.clone(),
    }
}

/// The value of a posted field, trimmed; empty counts as absent.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    crate::submission::first_value(fields, key)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A posted form's fields, as `read_form` gives them, for the pages' unit tests.
#[cfg(test)]
pub(crate) fn test_fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
