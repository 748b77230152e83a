//! `GET /api/openapi.json`: the OpenAPI 3.1 description of every route, kept beside the
//! code (`src/openapi.json`) and held in step with the routing table by a test.

use hyper::StatusCode;

use crate::http::{self, Reply};

const DOCUMENT: &str = include_str!("openapi.json");

/// The document with `servers` pointing at this server's public URL.
pub fn document(public_url: &str) -> serde_json::Value {
    static PARSED: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let mut document = PARSED
        .get_or_init(|| {
            serde_json::from_str(DOCUMENT).expect("src/openapi.json is valid JSON (tested)")
        })
        .clone();
    document["servers"] = serde_json::json!([{ "url": public_url }]);
    document
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
