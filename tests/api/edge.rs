//! What an anonymous visitor can make the store do, bounded (API.md "Abuse limits at the
//! edge (additions)"): made-up placements, repeated form views, hidden characters in lead
//! fields, and who may read the data file.

use std::collections::BTreeMap;

use serde_json::json;

use crate::helpers::*;

/// Bytes of the store file.
fn store_bytes(app: &TestApp, nested: &str) -> u64 {
    let path = app._dir.path().join(nested).join("leadgate.redb");
    std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len()
}

/// The campaign's placements as `/api/campaigns/{slug}/qr` lists them.
async fn placements(app: &TestApp, slug: &str) -> Vec<serde_json::Value> {
    let resp = app.admin_get(&format!("/api/campaigns/{slug}/qr")).await;
    let (status, body) = json_body(resp).await;
    assert_eq!(status, 200, "{body}");
    body["variants"].as_array().unwrap().clone()
}

fn unlimited(c: &mut leadgate::config::Config) {
    c.rate_limit = None;
    c.global_rate_limit = None;
    c.data_dir = c.data_dir.join("data");
}

#[tokio::test]
async fn made_up_placements_neither_grow_the_store_nor_the_list() {
    let app = spawn_app_with(unlimited).await;
    app.create_campaign("expo", json!({"qr_variants": ["booth-a"]}))
        .await;
    // Settle the file: the first scans and views create the counters every later
    // request only adds to.
    for _ in 0..20 {
        assert_eq!(app.get("/q/expo?v=booth-a").await.status(), 302);
        assert_eq!(
            app.get("/f/expo?utm_source=qr&utm_medium=offline&utm_content=booth-a")
                .await
                .status(),
            200
        );
    }
    placements(&app, "expo").await;
    let before = store_bytes(&app, "data");

    // 5,000 made-up placements by form views (each from another browser, so that none is
    // a repeat), then 5,000 by scans.
    let views = (0..5_000)
        .map(|n| {
            let path = format!("/f/expo?utm_source=qr&utm_medium=offline&utm_content=x{n}");
            (path, Some(format!("agent-{n}")))
        })
        .collect();
    assert_eq!(
        app.get_many(views, 16).await,
        BTreeMap::from([(200, 5_000)])
    );
    let listed = placements(&app, "expo").await;
    let no_placement = listed.iter().find(|p| p["variant"].is_null());
    assert_eq!(
        listed.len(),
        2,
        "form views create no placement: {listed:?}"
    );
    assert_eq!(
        no_placement.unwrap()["form_views"],
        5_000,
        "views of made-up names count as no placement"
    );
    let scans = (0..5_000)
        .map(|n| (format!("/q/expo?v=y{n}"), None))
        .collect();
    assert_eq!(
        app.get_many(scans, 16).await,
        BTreeMap::from([(302, 5_000)])
    );

    let listed = placements(&app, "expo").await;
    let names: Vec<&str> = listed
        .iter()
        .map(|p| p["variant"].as_str().unwrap_or(""))
        .collect();
    // booth-a, the 64 that scans may create, and "no placement" for the other scans.
    assert_eq!(listed.len(), 2 + 64, "{names:?}");
    assert!(names.contains(&"booth-a"));
    let no_placement = listed.iter().find(|p| p["variant"].is_null()).unwrap();
    assert_eq!(
        no_placement["scans"],
        5_000 - 64,
        "the rest count for the campaign"
    );
    let report = app.roi("from=1970-01-01").await;
    // The 20 settling scans came from one visitor within 30 s: one scan.
    assert_eq!(roi_row(&report, "expo")["scans"], 1 + 5_000);
    assert_eq!(roi_row(&report, "expo")["form_views"], 1 + 5_000);

    let grown = store_bytes(&app, "data").saturating_sub(before);
    assert!(grown < 100 * 1024, "the store grew by {grown} bytes");

    // A lead that came by a scan counts for its placement if it is one, else for none.
    let made = names
        .iter()
        .find(|n| n.starts_with('y'))
        .expect("a placement made by a scan")
        .to_string();
    let past_cap = (0..5_000)
        .map(|n| format!("y{n}"))
        .find(|n| !names.contains(&n.as_str()))
        .unwrap();
    for (phone, variant) in [("13800138001", &made), ("13800138002", &past_cap)] {
        let body = json!({"phone": phone, "consent": true, "utm_source": "qr",
            "utm_medium": "offline", "utm_content": variant});
        app.submit_json_ok("expo", &body).await;
    }
    let listed = placements(&app, "expo").await;
    let leads_of = |variant: Option<&str>| {
        let row = listed
            .iter()
            .find(|p| p["variant"].as_str() == variant)
            .unwrap();
        row["leads"].as_u64().unwrap()
    };
    assert_eq!(leads_of(Some(made.as_str())), 1);
    assert_eq!(leads_of(None), 1, "past the cap: no placement");

    let sheet = app
        .client
        .get(app.url("/admin/campaigns/expo/qr"))
        .basic_auth("admin", Some(&app.token))
        .send()
        .await
        .unwrap();
    assert_eq!(sheet.status(), 200);
    let html = sheet.text().await.unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        1 + 64,
        "one card per placement"
    );
}

#[tokio::test]
async fn a_visitor_reloading_a_form_counts_once() {
    let app = spawn_app_with(unlimited).await;
    app.create_campaign("live", json!({})).await;
    let phone = "Mozilla/5.0 (iPhone) MicroMessenger/8.0";
    let reloads = vec![("/f/live".to_owned(), Some(phone.to_owned())); 10_000];
    let statuses = app.get_many(reloads, 16).await;
    assert_eq!(statuses, BTreeMap::from([(200, 10_000)]));
    // Another browser on the same address is another visitor.
    let resp = app
        .client
        .get(app.url("/f/live"))
        .header("user-agent", "Mozilla/5.0 (Android) Chrome/120")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report = app.roi("from=1970-01-01").await;
    assert_eq!(roi_row(&report, "live")["form_views"], 2);
}

#[tokio::test]
async fn hidden_characters_in_lead_fields_are_refused() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    for (field, value) in [
        ("name", "Zhang\nSan"),
        ("name", "Zhang\rSan"),
        ("name", "Zhang\tSan"),
        ("name", "gnp.exe\u{202E}"),
        ("company", "ACME\u{2066}Ltd"),
        ("message", "hello\u{0007}"),
        ("message", "a\tb"),
        ("message", "hello\u{202D}"),
    ] {
        let body = json!({"phone": "13800138000", "consent": true, field: value});
        let resp = app.submit_json("expo", &body).await;
        assert_error(resp, 422, Some(field)).await;
    }
    let ok = app
        .submit_json(
            "expo",
            &json!({"phone": "13800138000", "consent": true, "message": "line one\nline two\r\nend"}),
        )
        .await;
    assert_eq!(ok.status(), 201, "a message keeps its line breaks");
    assert_eq!(app.all_leads("expo").await.len(), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_file_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app_with(|c| c.data_dir = c.data_dir.join("nested").join("data")).await;
    app.create_campaign("expo", json!({})).await;
    let dir = app._dir.path().join("nested").join("data");
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("leadgate.redb")), 0o600);
}
