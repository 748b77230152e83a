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

/// This year in UTC, plus one: a server running across New Year (in any zone) still
/// admits the times of the year it is now.
fn last_year() -> i16 {
    jiff::Timestamp::now()
        .in_tz("UTC")
        .map_or(2026, |now| now.date().year())
        + 1
}

/// An RFC 3339 time (the subset the schema documents) in a year from 1971 to `last`. A
/// regular expression cannot say "not after now": the pattern stops at next year, so a
/// client validating against the document can send any time of today, and the server
/// refuses a time later than now with a 422 (`in_future`), as the description says.
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

    /// The query parameters each `/api` operation documents are exactly the keys its
    /// route takes: a parameter the server refuses is not offered, and one it reads is
    /// not left out.
    #[test]
    fn documented_query_parameters_are_the_routes_keys() {
        use crate::routes::Query;
        let document = document("http://example.test");
        let resolve = |value: &serde_json::Value| -> serde_json::Value {
            match value["$ref"].as_str() {
                Some(reference) => {
                    let pointer = reference.trim_start_matches('#');
                    document
                        .pointer(pointer)
                        .expect("a $ref that resolves")
                        .clone()
                }
                None => value.clone(),
            }
        };
        let mut checked = 0;
        for entry in TABLE {
            let Query::Strict(keys) = entry.query else {
                continue;
            };
            let item = &document["paths"][entry.pattern];
            for method in entry.methods {
                let operation = &item[method.to_lowercase()];
                let documented: BTreeSet<String> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(item["parameters"].as_array().into_iter().flatten())
                    .map(resolve)
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().expect("a named parameter").to_owned())
                    .collect();
                let routed: BTreeSet<String> = keys.iter().map(|k| (*k).to_owned()).collect();
                assert_eq!(documented, routed, "{method} {}", entry.pattern);
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} operations checked");
    }
}
