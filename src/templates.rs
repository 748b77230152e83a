//! The HTML pages visitors see, as askama templates (`templates/`). Askama escapes
//! every value, so nothing a visitor types or a link carries can become markup.

use askama::Template;

use crate::forms::{FieldKind, FormDef};
use crate::submission::FieldError;

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub campaign_name: String,
    pub form_title: String,
    pub intro: Option<String>,
    pub submit_label: String,
    pub action: String,
    pub fields: Vec<FieldView>,
    /// The tracking set, carried from the landing URL into the post.
    pub hidden: Vec<(String, String)>,
    pub token: String,
    /// One line per bad field, shown above the form.
    pub errors: Vec<String>,
}

/// One field as the template draws it.
pub struct FieldView {
    pub name: String,
    pub label: String,
    /// The `type` of the input, or `textarea` / `select` / `checkbox`.
    pub kind: &'static str,
    pub required: bool,
    pub value: String,
    pub checked: bool,
    pub options: Vec<(String, bool)>,
    pub max_len: usize,
    pub help: Option<String>,
    pub text: Option<String>,
    pub placeholder: Option<String>,
    pub autocomplete: Option<&'static str>,
    pub inputmode: Option<&'static str>,
    pub error: Option<String>,
}

impl FormPage {
    /// `value_of` gives what the visitor typed before (empty on first render).
    pub fn fields(
        form: &FormDef,
        value_of: impl Fn(&str) -> Option<String>,
        errors: &[FieldError],
    ) -> Vec<FieldView> {
        form.fields
            .iter()
            .map(|field| {
                let value = value_of(&field.name).unwrap_or_default();
                let kind = match field.kind {
                    FieldKind::Text => "text",
                    FieldKind::Tel => "tel",
                    FieldKind::Email => "email",
                    FieldKind::Textarea => "textarea",
                    FieldKind::Select => "select",
                    FieldKind::Checkbox => "checkbox",
                };
                let autocomplete = match (field.name.as_str(), field.kind) {
                    ("name", _) => Some("name"),
                    ("company", _) => Some("organization"),
                    ("title", _) => Some("organization-title"),
                    (_, FieldKind::Tel) => Some("tel"),
                    (_, FieldKind::Email) => Some("email"),
                    _ => None,
                };
                let inputmode = match field.kind {
                    FieldKind::Tel => Some("tel"),
                    FieldKind::Email => Some("email"),
                    _ => None,
                };
                FieldView {
                    name: field.name.clone(),
                    label: field.label.clone(),
                    kind,
                    required: field.required,
                    checked: field.kind == FieldKind::Checkbox
                        && !matches!(value.as_str(), "" | "false" | "0" | "off" | "no"),
                    options: field
                        .options
                        .iter()
                        .map(|o| (o.clone(), *o == value))
                        .collect(),
                    max_len: field.max_chars(),
                    help: field.help.clone(),
                    text: field.text.clone(),
                    placeholder: field.placeholder.clone(),
                    autocomplete,
                    inputmode,
                    error: errors
                        .iter()
                        .find(|e| e.field == field.name)
                        .map(|e| e.message_zh.clone()),
                    value,
                }
            })
            .collect()
    }
}

#[derive(Template)]
#[template(path = "thanks.html")]
pub struct ThanksPage {
    pub campaign_name: String,
    pub message: String,
}

/// A plain page with a heading and a sentence: not found, unavailable, and the like.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub message: String,
}
