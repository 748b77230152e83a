//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every route, kept beside the
//! code (`src/openapi.json`) and held in step with the routing table by a test.

use hyper::StatusCode;

use crate::http::{self, Reply};

const DOCUMENT: &str = include_str!("openapi.json");

/// Where the document holds the pattern of a time that must not be in the future.
const PAST_TIME: &str = "{PAST_TIME}";

/// The document with `servers` pointing at this server's public URL.
pub fn document(public_url: &str) -> serde_json::Value {
    static PARSED: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let mut document = PARSED
        .get_or_init(|| {
            let text = DOCUMENT.replace(PAST_TIME, &past_time_pattern(last_year()));
            serde_json::from_str(&text).expect("src/openapi.json is valid JSON (tested)")
        })
        .clone();
    document["servers"] = serde_json::json!([{ "url": public_url }]);
    document
}

/// Last year in UTC. A server running across New Year keeps the year it started with: its
/// pattern then admits one year less than it could, never a future time.
fn last_year() -> i16 {
    jiff::Timestamp::now()
        .in_tz("UTC")
        .map_or(2025, |now| now.date().year())
        - 1
}

/// An RFC 3339 time (the subset the schema documents) in a year from 1971 to `last`: a
/// regular expression cannot say "before now", but every time it admits is in the past, so
/// a request the document calls valid is never refused as a future time.
fn past_time_pattern(last: i16) -> String {
    let years: Vec<String> = (1971..=last.max(1971)).map(|y| y.to_string()).collect();
    format!(
        // Raw: the pattern goes into the JSON text, where a backslash is written twice.
        r"^(?:{})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{{1,9}})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$",
        years.join("|")
    )
}

pub fn reply(public_url: &str) -> Reply {
    http::json(StatusCode::OK, &document(public_url))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::routes::TABLE;

    /// Every route is documented with exactly its methods, and every documented
    /// operation is routed.
    #[test]
    fn document_and_router_agree() {
        let document = document("http://example.test");
        let paths = document["paths"].as_object().expect("paths");
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("path item")
                    .keys()
                    .filter(|k| {
                        ["get", "post", "put", "patch", "delete", "head", "options"]
                            .contains(&k.as_str())
                    })
                    .map(move |method| (path.clone(), method.to_uppercase()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = TABLE
            .iter()
            .flat_map(|entry| {
                entry
                    .methods
                    .iter()
                    .map(move |m| (entry.pattern.to_owned(), (*m).to_owned()))
            })
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routed but not documented: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
        assert_eq!(document["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    }
}
