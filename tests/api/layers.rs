//! The layering the design promises, checked on the source: the service layer knows no
//! HTTP, the console does not reach into the API's handlers, and handlers do not call back
//! into the router. A shortcut across layers fails here instead of in review.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    assert!(!files.is_empty(), "no Rust files under {}", dir.display());
    files
}

/// Every line of the files under `src/{dir}` that mentions one of `forbidden`.
fn mentions(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut found = Vec::new();
    for file in rust_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if forbidden.iter().any(|word| line.contains(word)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_service_layer_knows_no_http() {
    let found = mentions(
        "service",
        &["hyper", "crate::http", "crate::state", "Request<"],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_console_uses_the_service_layer_not_the_api_handlers() {
    let found = mentions("admin", &["handlers"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn handlers_do_not_call_back_into_the_router() {
    let found = mentions("handlers", &["crate::app", "app::"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_store_and_the_settings_stay_below_the_web_layer() {
    let found = mentions(
        "store",
        &["crate::http", "crate::app", "crate::handlers", "hyper"],
    );
    assert!(found.is_empty(), "{found:#?}");
    let config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config.rs"))
            .unwrap();
    assert!(!config.contains("crate::store"), "config.rs uses the store");
}
