//! Where a printed QR code sends its scanners: its campaign's form (the default), another
//! campaign's form, or an outside `https` page. The poster stays on the wall; the target
//! can change. Whatever the target, the scan counts for the code's own campaign and
//! placement, and the visitor carries the code's tags on.

use crate::domain::Slug;
use crate::error::{Error, Result};

/// Longest target address accepted (a QR redirect, not a document).
const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Form,
    Campaign(Slug),
    Url(url::Url),
}

impl Target {
    /// `form`, `campaign:<slug>` or an `https://` address (API.md); anything else is a 422
    /// naming `target`.
    pub fn parse(text: &str) -> Result<Target> {
        let text = text.trim();
        if text == "form" {
            return Ok(Target::Form);
        }
        if let Some(slug) = text.strip_prefix("campaign:") {
            return Slug::parse(slug)
                .map(Target::Campaign)
                .map_err(|_| invalid(format!("{slug:?} is not a campaign slug")));
        }
        if text.len() > MAX_URL_LEN {
            return Err(invalid(format!(
                "an address may be at most {MAX_URL_LEN} characters"
            )));
        }
        let url = url::Url::parse(text).map_err(|_| {
            invalid("target must be form, campaign:<slug> or an https:// address".into())
        })?;
        // Only https: a printed code must not send phones to a page anyone on the hall's
        // Wi-Fi can change, nor run script (`javascript:`), nor carry a password.
        if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(
                "an outside target must be an https:// address".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "an outside target must not carry a user name or password".into(),
            ));
        }
        Ok(Target::Url(url))
    }

    /// As stored and shown: `form`, `campaign:<slug>` or the address.
    pub fn as_text(&self) -> String {
        match self {
            Target::Form => "form".into(),
            Target::Campaign(slug) => format!("campaign:{slug}"),
            Target::Url(url) => url.to_string(),
        }
    }

    /// Where a scan of the code (`slug`, placement `variant`) goes: a form gets the code's
    /// four QR tags; an outside address gets those of them it does not have yet, its own
    /// query kept.
    pub fn location(&self, slug: &str, variant: Option<&str>) -> String {
        let mut tags = vec![
            ("utm_source", "qr"),
            ("utm_medium", "offline"),
            ("utm_campaign", slug),
        ];
        if let Some(variant) = variant {
            tags.push(("utm_content", variant));
        }
        let form_of = |form_slug: &str| {
            let query: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("/f/{form_slug}?{}", query.join("&"))
        };
        match self {
            Target::Form => form_of(slug),
            Target::Campaign(other) => form_of(other.as_str()),
            Target::Url(url) => {
                let mut url = url.clone();
                let present: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
                let missing: Vec<_> = tags
                    .iter()
                    .filter(|(key, _)| !present.iter().any(|p| p == key))
                    .collect();
                if !missing.is_empty() {
                    let mut query = url.query_pairs_mut();
                    for (key, value) in missing {
                        query.append_pair(key, value);
                    }
                }
                url.to_string()
            }
        }
    }
}

fn invalid(message: String) -> Error {
    Error::invalid("target", "invalid_target", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for text in [
            "form",
            "campaign:expo-2026",
            "https://shop.example.com/p/1?ref=x",
        ] {
            assert_eq!(Target::parse(text).unwrap().as_text(), text);
        }
        for bad in [
            "",
            "forms",
            "campaign:",
            "campaign:Not A Slug",
            "http://example.com/",
            "javascript:alert(1)",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "/f/expo",
        ] {
            let error = Target::parse(bad).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("target"), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(Target::parse(&long).is_err());
    }

    #[test]
    fn a_scan_carries_the_codes_tags_to_the_target() {
        assert_eq!(
            Target::Form.location("expo", Some("booth-a")),
            "/f/expo?utm_source=qr&utm_medium=offline&utm_campaign=expo&utm_content=booth-a"
        );
        let other = Target::parse("campaign:live").unwrap();
        assert_eq!(
            other.location("expo", None),
            "/f/live?utm_source=qr&utm_medium=offline&utm_campaign=expo"
        );
        // The page's own query stays; only absent tags are added.
        let shop = Target::parse("https://shop.example.com/p/1?ref=x&utm_source=poster").unwrap();
        assert_eq!(
            shop.location("expo", Some("booth-a")),
            "https://shop.example.com/p/1?ref=x&utm_source=poster&utm_medium=offline&utm_campaign=expo&utm_content=booth-a"
        );
    }
}
