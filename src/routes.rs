//! Every address the server answers, as data: the router dispatches on it, `/metrics`
//! names requests by it, and a test holds it and the OpenAPI document in step.

use hyper::Method;

/// One route. The dispatcher in `app` matches on (route, method); a pair listed here
/// without a handler there answers 405, and the OpenAPI test sends every documented
/// operation, so such a gap fails the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Metrics,
    Form,
    FormThanks,
    QrScan,
    QrPng,
    QrSvg,
    CallHook,
    ApiCampaigns,
    ApiCampaign,
    ApiCosts,
    ApiCost,
    ApiCampaignQr,
    ApiLeads,
    ApiLeadsImport,
    ApiLead,
    ApiConversions,
    ApiConversionsImport,
    ApiConversion,
    ApiRoi,
    ApiRoiCsv,
    ApiRoiXlsx,
    ApiOpenapi,
    AdminOverview,
    AdminRoiCsv,
    AdminRoiXlsx,
    AdminCampaigns,
    AdminCampaignNew,
    AdminCampaign,
    AdminCosts,
    AdminCostDelete,
    AdminQrSheet,
    AdminLeads,
    AdminLeadsCsv,
    AdminLeadStatus,
    AdminLeadsImport,
    AdminConversionsImport,
}

/// A route's path pattern (as in the OpenAPI document), the methods it takes (HEAD is
/// implied by GET, OPTIONS is answered where browsers need it), and its metrics label.
pub struct Entry {
    pub route: Route,
    pub pattern: &'static str,
    pub methods: &'static [&'static str],
    pub metric: &'static str,
}

const fn entry(
    route: Route,
    pattern: &'static str,
    methods: &'static [&'static str],
    metric: &'static str,
) -> Entry {
    Entry {
        route,
        pattern,
        methods,
        metric,
    }
}

/// In match order: where a literal segment and a parameter could both match (`/api/leads/
/// import` and `/api/leads/{id}`), the literal comes first.
pub const TABLE: &[Entry] = &[
    entry(Route::Healthz, "/healthz", &["GET"], "healthz"),
    entry(Route::Metrics, "/metrics", &["GET"], "metrics"),
    entry(Route::Form, "/f/{slug}", &["GET", "POST"], "form"),
    entry(
        Route::FormThanks,
        "/f/{slug}/thanks",
        &["GET"],
        "form_thanks",
    ),
    entry(Route::QrPng, "/q/{slug}.png", &["GET"], "qr_image"),
    entry(Route::QrSvg, "/q/{slug}.svg", &["GET"], "qr_image"),
    entry(Route::QrScan, "/q/{slug}", &["GET"], "qr_scan"),
    entry(Route::CallHook, "/hooks/call", &["POST"], "call_webhook"),
    entry(
        Route::ApiCampaigns,
        "/api/campaigns",
        &["GET", "POST"],
        "api_campaigns",
    ),
    entry(
        Route::ApiCampaign,
        "/api/campaigns/{slug}",
        &["GET", "PATCH"],
        "api_campaign",
    ),
    entry(
        Route::ApiCosts,
        "/api/campaigns/{slug}/costs",
        &["GET", "POST"],
        "api_costs",
    ),
    entry(
        Route::ApiCost,
        "/api/campaigns/{slug}/costs/{id}",
        &["DELETE"],
        "api_cost",
    ),
    entry(
        Route::ApiCampaignQr,
        "/api/campaigns/{slug}/qr",
        &["GET"],
        "api_qr",
    ),
    entry(Route::ApiLeads, "/api/leads", &["GET"], "api_leads"),
    entry(
        Route::ApiLeadsImport,
        "/api/leads/import",
        &["POST"],
        "api_leads_import",
    ),
    entry(
        Route::ApiLead,
        "/api/leads/{id}",
        &["GET", "PATCH"],
        "api_lead",
    ),
    entry(
        Route::ApiConversions,
        "/api/conversions",
        &["POST"],
        "api_conversions",
    ),
    entry(
        Route::ApiConversionsImport,
        "/api/conversions/import",
        &["POST"],
        "api_conversions_import",
    ),
    entry(
        Route::ApiConversion,
        "/api/conversions/{id}",
        &["GET"],
        "api_conversion",
    ),
    entry(Route::ApiRoi, "/api/roi", &["GET"], "api_roi"),
    entry(Route::ApiRoiCsv, "/api/roi.csv", &["GET"], "api_roi_csv"),
    entry(Route::ApiRoiXlsx, "/api/roi.xlsx", &["GET"], "api_roi_xlsx"),
    entry(
        Route::ApiOpenapi,
        "/api/openapi.json",
        &["GET"],
        "api_openapi",
    ),
    entry(Route::AdminOverview, "/admin", &["GET"], "admin_overview"),
    entry(
        Route::AdminRoiCsv,
        "/admin/roi.csv",
        &["GET"],
        "admin_download",
    ),
    entry(
        Route::AdminRoiXlsx,
        "/admin/roi.xlsx",
        &["GET"],
        "admin_download",
    ),
    entry(
        Route::AdminCampaigns,
        "/admin/campaigns",
        &["GET", "POST"],
        "admin_campaigns",
    ),
    entry(
        Route::AdminCampaignNew,
        "/admin/campaigns/new",
        &["GET"],
        "admin_campaigns",
    ),
    entry(
        Route::AdminCampaign,
        "/admin/campaigns/{slug}",
        &["GET", "POST"],
        "admin_campaign",
    ),
    entry(
        Route::AdminCosts,
        "/admin/campaigns/{slug}/costs",
        &["POST"],
        "admin_campaign",
    ),
    entry(
        Route::AdminCostDelete,
        "/admin/campaigns/{slug}/costs/{id}/delete",
        &["POST"],
        "admin_campaign",
    ),
    entry(
        Route::AdminQrSheet,
        "/admin/campaigns/{slug}/qr",
        &["GET"],
        "admin_qr_sheet",
    ),
    entry(Route::AdminLeads, "/admin/leads", &["GET"], "admin_leads"),
    entry(
        Route::AdminLeadsCsv,
        "/admin/leads.csv",
        &["GET"],
        "admin_download",
    ),
    entry(
        Route::AdminLeadStatus,
        "/admin/leads/{id}/status",
        &["POST"],
        "admin_leads",
    ),
    entry(
        Route::AdminLeadsImport,
        "/admin/leads/import",
        &["POST"],
        "admin_import",
    ),
    entry(
        Route::AdminConversionsImport,
        "/admin/conversions/import",
        &["POST"],
        "admin_import",
    ),
];

/// What a path resolved to: the route and the values of its `{…}` segments, in order,
/// percent-decoded (a CRM's order id may hold spaces or Chinese).
pub struct Matched {
    pub entry: &'static Entry,
    pub params: Vec<String>,
}

impl Matched {
    /// Whether the route takes `method`.
    pub fn allows(&self, method: &Method) -> bool {
        self.entry.methods.contains(&verb(method))
    }
}

/// The method as the table names it: HEAD goes wherever GET does (hyper drops the body).
pub fn verb(method: &Method) -> &str {
    if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    }
}

/// The route of `path`, if any. A parameter matches one non-empty segment; `{slug}.png`
/// matches a segment with that suffix.
pub fn resolve(path: &str) -> Option<Matched> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    'entries: for entry in TABLE {
        // Every request walks the table: compare lazily, allocate only for a match.
        let pattern = entry.pattern[1..].split('/');
        if pattern.clone().count() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        for (want, got) in pattern.zip(&segments) {
            match parameter(want) {
                Some(suffix) => match got.strip_suffix(suffix) {
                    Some(value) if !value.is_empty() => {
                        match percent_encoding::percent_decode_str(value).decode_utf8() {
                            Ok(decoded) => params.push(decoded.into_owned()),
                            Err(_) => continue 'entries,
                        }
                    }
                    _ => continue 'entries,
                },
                None if want == *got => {}
                None => continue 'entries,
            }
        }
        return Some(Matched { entry, params });
    }
    None
}

/// For a `{name}` or `{name}.ext` pattern segment, the literal suffix after the brace.
fn parameter(segment: &str) -> Option<&str> {
    let rest = segment.strip_prefix('{')?;
    let close = rest.find('}')?;
    Some(&rest[close + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_win_over_parameters() {
        let route = |path| resolve(path).map(|m| m.entry.route);
        assert_eq!(route("/api/leads/import"), Some(Route::ApiLeadsImport));
        assert_eq!(
            route("/api/leads/01J0000000000000000000000A"),
            Some(Route::ApiLead)
        );
        assert_eq!(route("/admin/campaigns/new"), Some(Route::AdminCampaignNew));
        assert_eq!(route("/q/expo.png"), Some(Route::QrPng));
        assert_eq!(route("/q/expo"), Some(Route::QrScan));
        assert_eq!(route("/q/.png"), Some(Route::QrScan));
        assert_eq!(route("/f/"), None);
        assert_eq!(route("/f/expo/"), None);
        assert_eq!(route("/nothing"), None);
    }

    #[test]
    fn parameters_are_captured_in_order() {
        let matched = resolve("/admin/campaigns/expo/costs/42/delete").unwrap();
        assert_eq!(matched.entry.route, Route::AdminCostDelete);
        assert_eq!(matched.params, ["expo", "42"]);
        assert_eq!(resolve("/q/expo.svg").unwrap().params, ["expo"]);
        let order = resolve("/api/conversions/CRM%20%E8%AE%A2%E5%8D%95").unwrap();
        assert_eq!(order.params, ["CRM 订单"]);
    }

    #[test]
    fn every_route_is_reachable_by_its_own_pattern() {
        for entry in TABLE {
            let path = entry.pattern.replace("{slug}", "s1").replace("{id}", "i1");
            let matched = resolve(&path).unwrap();
            assert_eq!(matched.entry.route, entry.route, "{}", entry.pattern);
        }
    }
}
