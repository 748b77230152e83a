//! Form definitions: the `forms/*.toml` files that say which fields a campaign's landing
//! page asks for. They are checked once at start-up; a bad file stops the server with a
//! message that names the file and the problem.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::domain::is_tracking_key;

/// Forms compiled into the binary, so `leadgate serve` works from any directory.
const BUILTIN_FORMS: &[(&str, &str)] = &[
    ("default", include_str!("../forms/default.toml")),
    ("livestream", include_str!("../forms/livestream.toml")),
];

/// The field that makes a campaign's form a lead form: a lead needs one of these.
pub const CONTACT_FIELDS: &[&str] = &["phone", "email"];
/// Longest value any field may hold, whatever its definition says.
pub const MAX_FIELD_CHARS: usize = 10_000;
const DEFAULT_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Tel,
    Email,
    Textarea,
    Select,
    Checkbox,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    pub max_len: Option<usize>,
    #[serde(default)]
    pub options: Vec<String>,
    /// A checkbox's longer text (the privacy notice of a consent box).
    pub text: Option<String>,
    /// A hint shown under the field.
    pub help: Option<String>,
    pub placeholder: Option<String>,
}

impl FieldDef {
    pub fn max_chars(&self) -> usize {
        self.max_len.unwrap_or(DEFAULT_MAX_CHARS)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormFile {
    title: String,
    intro: Option<String>,
    submit: Option<String>,
    thanks: Option<String>,
    fields: Vec<FieldDef>,
}

#[derive(Debug, Clone)]
pub struct FormDef {
    pub name: String,
    pub title: String,
    pub intro: Option<String>,
    pub submit_label: String,
    pub thanks: String,
    pub fields: Vec<FieldDef>,
}

impl FormDef {
    /// Parses and checks one definition; `origin` names it in messages.
    pub fn parse(name: &str, text: &str, origin: &str) -> Result<FormDef, String> {
        let file: FormFile = toml::from_str(text).map_err(|e| format!("form {origin}: {e}"))?;
        let problem = |what: String| Err(format!("form {origin}: {what}"));
        if file.fields.is_empty() {
            return problem("has no fields".into());
        }
        let mut seen = HashSet::new();
        for field in &file.fields {
            let name_ok = (1..=32).contains(&field.name.len())
                && field.name.starts_with(|c: char| c.is_ascii_lowercase())
                && field
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !name_ok {
                return problem(format!(
                    "field name {:?} must be 1-32 characters of a-z, 0-9 and _, starting with a letter",
                    field.name
                ));
            }
            if is_tracking_key(&field.name) || field.name == "campaign" {
                return problem(format!(
                    "field name {:?} is reserved for tracking",
                    field.name
                ));
            }
            if !seen.insert(field.name.as_str()) {
                return problem(format!("field {:?} is defined twice", field.name));
            }
            if field.label.trim().is_empty() {
                return problem(format!("field {:?} has an empty label", field.name));
            }
            if field.max_len.is_some_and(|n| n == 0 || n > MAX_FIELD_CHARS) {
                return problem(format!(
                    "field {:?}: max_len must be between 1 and {MAX_FIELD_CHARS}",
                    field.name
                ));
            }
            match (field.kind, field.options.is_empty()) {
                (FieldKind::Select, true) => {
                    return problem(format!("select field {:?} has no options", field.name));
                }
                (FieldKind::Select, false) => {}
                (_, false) => {
                    return problem(format!(
                        "field {:?}: only select fields take options",
                        field.name
                    ));
                }
                (_, true) => {}
            }
            let expected = match field.name.as_str() {
                "phone" => Some(FieldKind::Tel),
                "email" => Some(FieldKind::Email),
                _ => None,
            };
            if expected.is_some_and(|kind| kind != field.kind) {
                return problem(format!(
                    "field {:?} must have type {:?}",
                    field.name,
                    expected.unwrap()
                ));
            }
        }
        if !CONTACT_FIELDS.iter().any(|c| seen.contains(c)) {
            return problem("needs a phone or an email field: a lead must be reachable".into());
        }
        Ok(FormDef {
            name: name.to_owned(),
            title: file.title,
            intro: file.intro,
            submit_label: file.submit.unwrap_or_else(|| "提交".into()),
            thanks: file
                .thanks
                .unwrap_or_else(|| "提交成功，感谢您的关注！".into()),
            fields: file.fields,
        })
    }

    /// The form as an import reads it: the standard contact columns are always accepted,
    /// and nothing but the phone-or-email rule is required (paper sheets carry their own
    /// consent).
    pub fn for_import(&self) -> FormDef {
        let mut form = self.clone();
        for (name, label, kind, max_len) in [
            ("name", "姓名", FieldKind::Text, 50),
            ("phone", "手机", FieldKind::Tel, 32),
            ("email", "邮箱", FieldKind::Email, 254),
            ("company", "公司", FieldKind::Text, 100),
        ] {
            if form.field(name).is_none() {
                form.fields.push(FieldDef {
                    name: name.into(),
                    label: label.into(),
                    kind,
                    required: false,
                    max_len: Some(max_len),
                    options: Vec::new(),
                    text: None,
                    help: None,
                    placeholder: None,
                });
            }
        }
        for field in &mut form.fields {
            field.required = false;
        }
        form
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// All forms a campaign can choose, by name.
#[derive(Debug, Clone, Default)]
pub struct FormSet {
    forms: BTreeMap<String, Arc<FormDef>>,
}

impl FormSet {
    pub fn builtin() -> FormSet {
        let mut set = FormSet::default();
        for (name, text) in BUILTIN_FORMS {
            let form = FormDef::parse(name, text, &format!("{name}.toml (built in)"))
                .expect("built-in forms are valid");
            set.forms.insert((*name).to_owned(), Arc::new(form));
        }
        set
    }

    /// Reads every `*.toml` in `dir`; the file stem is the form's name.
    pub fn load_dir(dir: &Path) -> Result<FormSet, String> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read forms directory {}: {e}", dir.display()))?;
        let mut set = FormSet::default();
        for entry in entries {
            let path = entry
                .map_err(|e| format!("forms directory {}: {e}", dir.display()))?
                .path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let origin = path.display().to_string();
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| crate::domain::Slug::parse(s).is_ok())
                .ok_or_else(|| format!("form {origin}: the file name must be a-z, 0-9 and '-' (it is the form's name)"))?;
            let text = std::fs::read_to_string(&path).map_err(|e| format!("form {origin}: {e}"))?;
            let form = FormDef::parse(name, &text, &origin)?;
            set.forms.insert(name.to_owned(), Arc::new(form));
        }
        if !set.forms.contains_key("default") {
            return Err(format!(
                "forms directory {} has no default.toml",
                dir.display()
            ));
        }
        Ok(set)
    }

    /// The form a campaign chose; if its file was removed since, the default form keeps
    /// the landing page (and imports) working.
    pub fn for_campaign(&self, campaign: &crate::campaign::Campaign) -> Arc<FormDef> {
        self.get(&campaign.form)
            .or_else(|| self.get("default"))
            .expect("a default form is always loaded")
    }

    pub fn get(&self, name: &str) -> Option<Arc<FormDef>> {
        self.forms.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.forms.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_forms_have_the_documented_fields() {
        let forms = FormSet::builtin();
        let names = |form: &str| {
            forms
                .get(form)
                .unwrap()
                .fields
                .iter()
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("default"),
            [
                "name", "phone", "email", "company", "title", "message", "consent"
            ]
        );
        assert_eq!(names("livestream"), ["phone", "name"]);
        let consent = forms
            .get("default")
            .unwrap()
            .field("consent")
            .cloned()
            .unwrap();
        assert!(consent.required && consent.kind == FieldKind::Checkbox && consent.text.is_some());
    }

    #[test]
    fn shipped_files_on_disk_match_the_builtin_copies() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("forms");
        let on_disk = FormSet::load_dir(&dir).unwrap();
        assert!(on_disk.get("default").is_some() && on_disk.get("livestream").is_some());
    }

    #[test]
    fn bad_definitions_are_explained() {
        let err = |text: &str| FormDef::parse("x", text, "x.toml").unwrap_err();
        assert!(err("title = 1").contains("x.toml"));
        assert!(err("title = \"t\"\nfields = []").contains("no fields"));
        let field = |extra: &str| {
            format!(
                "title = \"t\"\n[[fields]]\nname = \"phone\"\nlabel = \"手机\"\ntype = \"tel\"\n{extra}"
            )
        };
        assert!(err(&field("colour = \"red\"")).contains("colour"));
        assert!(
            err(&(field("") + "[[fields]]\nname = \"phone\"\nlabel = \"l\"\ntype = \"text\"\n"))
                .contains("twice")
        );
        assert!(
            err(&(field("")
                + "[[fields]]\nname = \"utm_source\"\nlabel = \"l\"\ntype = \"text\"\n"))
            .contains("reserved")
        );
        assert!(
            err(&(field("") + "[[fields]]\nname = \"size\"\nlabel = \"l\"\ntype = \"select\"\n"))
                .contains("no options")
        );
        assert!(
            err("title = \"t\"\n[[fields]]\nname = \"name\"\nlabel = \"l\"\ntype = \"text\"\n")
                .contains("phone or an email")
        );
        assert!(err(&field("max_len = 0")).contains("max_len"));
        assert!(
            err("title = \"t\"\n[[fields]]\nname = \"phone\"\nlabel = \"l\"\ntype = \"text\"\n")
                .contains("type")
        );
    }
}
