//! The summary's counts for any date range equal the leads received in it, whether the
//! range covers whole months, parts of months, a single day or everything (the store
//! answers from day, month and all-time counters; this checks they agree).

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn lead_counts_are_right_for_every_kind_of_range() {
    let app = spawn_app().await;
    app.create_campaign("expo", json!({})).await;
    // One lead at noon every third day from 2024-12-20 to 2025-04-12 (Shanghai time).
    let first = jiff::civil::date(2024, 12, 20);
    let days: Vec<jiff::civil::Date> = (0..40)
        .map(|i| first.checked_add(jiff::Span::new().days(3 * i)).unwrap())
        .collect();
    let mut csv = String::from("campaign,received_at,phone\n");
    for (i, day) in days.iter().enumerate() {
        csv.push_str(&format!("expo,{day}T12:00:00+08:00,1390000{i:04}\n"));
    }
    let report = app.import_leads_csv(&csv).await;
    assert_eq!(report["imported"], 40, "{report}");

    let ranges = [
        (None, None),
        (Some("2025-01-01"), Some("2025-01-31")),
        (Some("2025-01-01"), Some("2025-03-31")),
        (Some("2024-12-25"), Some("2025-02-14")),
        (Some("2025-02-02"), Some("2025-02-02")),
        (Some("2025-02-01"), Some("2025-02-28")),
        (Some("2025-02-10"), None),
        (None, Some("2025-01-15")),
        (Some("2024-12-01"), Some("2024-12-31")),
        (Some("2025-03-31"), Some("2025-04-01")),
        (Some("2024-01-01"), Some("2026-12-31")),
    ];
    for (from, to) in ranges {
        let parse = |d: &str| d.parse::<jiff::civil::Date>().unwrap();
        let expected = days
            .iter()
            .filter(|d| from.is_none_or(|f| **d >= parse(f)) && to.is_none_or(|t| **d <= parse(t)))
            .count();
        let mut query = String::new();
        if let Some(f) = from {
            query.push_str(&format!("from={f}&"));
        }
        if let Some(t) = to {
            query.push_str(&format!("to={t}"));
        }
        let roi = app.roi(&query).await;
        assert_eq!(
            roi["rows"][0]["leads"],
            json!(expected),
            "{from:?}..{to:?}: {roi}"
        );
        assert_eq!(
            roi["rows"][0]["new_contacts"],
            json!(expected),
            "{from:?}..{to:?}"
        );
    }
}
