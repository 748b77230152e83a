//! Every address the server answers, as data: the router dispatches on it, `/metrics`
//! names requests by it, and a test holds it and the OpenAPI document in step.

use hyper::Method;

use crate::error::{Error, Result};

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
    ApiCampaignScans,
    ApiCampaignQrTarget,
    AdminQrTarget,
    ApiLeads,
    ApiLeadsImport,
    ApiLead,
    ApiLeadActivities,
    ApiConversions,
    ApiConversionsImport,
    ApiConversion,
    ApiErasures,
    ApiSalespeople,
    ApiSalesperson,
    ApiDestinations,
    ApiDestination,
    ApiDestinationRetry,
    ApiDestinationTest,
    ApiReportSchedules,
    ApiReportSchedule,
    ApiReportScheduleRun,
    ApiRoi,
    ApiRoiCsv,
    ApiRoiXlsx,
    ApiOpenapi,
    ApiReplication,
    ApiAudit,
    ApiBackup,
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
    AdminLeadAssign,
    AdminLeadActivities,
    AdminLeadErase,
    AdminErasures,
    AdminLeadsImport,
    AdminConversionsImport,
    AdminDestinations,
    AdminDestination,
    AdminDestinationTest,
    AdminDestinationRetry,
    AdminDestinationDelete,
    AdminSalespeople,
    AdminSalesperson,
    AdminSalespersonDelete,
    AdminSchedules,
    AdminScheduleRun,
    AdminScheduleDelete,
    AdminAudit,
}

/// A route's path pattern (as in the OpenAPI document), the methods it takes (HEAD is
/// implied by GET, OPTIONS is answered where browsers need it), its metrics label, and the
/// query parameters it takes.
pub struct Entry {
    pub route: Route,
    pub pattern: &'static str,
    pub methods: &'static [&'static str],
    pub metric: &'static str,
    pub query: Query,
}

/// Which query parameters a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// Exactly these keys, each at most once and never empty; anything else is a 422
    /// before the handler runs. The API's clients are programs: a misspelt filter
    /// (`?campain=expo`) must not silently return everything.
    Strict(&'static [&'static str]),
    /// Any keys: the handler reads the ones it knows. Public pages are opened from links
    /// that WeChat and ad platforms extend (`from=singlemessage`, `isappinstalled=0`),
    /// and the console's own forms send empty fields.
    Lenient,
}

const fn entry(
    route: Route,
    pattern: &'static str,
    methods: &'static [&'static str],
    metric: &'static str,
    query: Query,
) -> Entry {
    Entry {
        route,
        pattern,
        methods,
        metric,
        query,
    }
}

/// In match order: where a literal segment and a parameter could both match (`/api/leads/
/// import` and `/api/leads/{id}`), the literal comes first.
pub const TABLE: &[Entry] = &[
    entry(
        Route::Healthz,
        "/healthz",
        &["GET"],
        "healthz",
        Query::Lenient,
    ),
    entry(
        Route::Metrics,
        "/metrics",
        &["GET"],
        "metrics",
        Query::Lenient,
    ),
    entry(
        Route::Form,
        "/f/{slug}",
        &["GET", "POST"],
        "form",
        Query::Lenient,
    ),
    entry(
        Route::FormThanks,
        "/f/{slug}/thanks",
        &["GET"],
        "form_thanks",
        Query::Lenient,
    ),
    entry(
        Route::QrPng,
        "/q/{slug}.png",
        &["GET"],
        "qr_image",
        Query::Lenient,
    ),
    entry(
        Route::QrSvg,
        "/q/{slug}.svg",
        &["GET"],
        "qr_image",
        Query::Lenient,
    ),
    entry(
        Route::QrScan,
        "/q/{slug}",
        &["GET"],
        "qr_scan",
        Query::Lenient,
    ),
    entry(
        Route::CallHook,
        "/hooks/call",
        &["POST"],
        "call_webhook",
        Query::Lenient,
    ),
    entry(
        Route::ApiCampaigns,
        "/api/campaigns",
        &["GET", "POST"],
        "api_campaigns",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiCampaign,
        "/api/campaigns/{slug}",
        &["GET", "PATCH"],
        "api_campaign",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiCosts,
        "/api/campaigns/{slug}/costs",
        &["GET", "POST"],
        "api_costs",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiCost,
        "/api/campaigns/{slug}/costs/{id}",
        &["DELETE"],
        "api_cost",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiCampaignQr,
        "/api/campaigns/{slug}/qr",
        &["GET"],
        "api_qr",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiCampaignQrTarget,
        "/api/campaigns/{slug}/qr/{variant}",
        &["GET", "PUT"],
        "api_qr_target",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiCampaignScans,
        "/api/campaigns/{slug}/scans",
        &["GET"],
        "api_scans",
        Query::Strict(&["from", "to"]),
    ),
    entry(
        Route::ApiLeads,
        "/api/leads",
        &["GET"],
        "api_leads",
        Query::Strict(&[
            "campaign",
            "since",
            "until",
            "status",
            "assigned_to",
            "limit",
            "cursor",
            "format",
        ]),
    ),
    entry(
        Route::ApiLeadsImport,
        "/api/leads/import",
        &["POST"],
        "api_leads_import",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiLead,
        "/api/leads/{id}",
        &["GET", "PATCH"],
        "api_lead",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiLeadActivities,
        "/api/leads/{id}/activities",
        &["GET", "POST"],
        "api_lead_activities",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiConversions,
        "/api/conversions",
        &["POST"],
        "api_conversions",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiConversionsImport,
        "/api/conversions/import",
        &["POST"],
        "api_conversions_import",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiConversion,
        "/api/conversions/{id}",
        &["GET"],
        "api_conversion",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiErasures,
        "/api/erasures",
        &["GET", "POST"],
        "api_erasures",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiSalespeople,
        "/api/salespeople",
        &["GET", "POST"],
        "api_salespeople",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiSalesperson,
        "/api/salespeople/{id}",
        &["GET", "PATCH", "DELETE"],
        "api_salesperson",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiDestinations,
        "/api/destinations",
        &["GET", "POST"],
        "api_destinations",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiDestination,
        "/api/destinations/{id}",
        &["GET", "PATCH", "DELETE"],
        "api_destination",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiDestinationRetry,
        "/api/destinations/{id}/retry",
        &["POST"],
        "api_destination_retry",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiDestinationTest,
        "/api/destinations/{id}/test",
        &["POST"],
        "api_destination_test",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiReportSchedules,
        "/api/report-schedules",
        &["GET", "POST"],
        "api_report_schedules",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiReportSchedule,
        "/api/report-schedules/{id}",
        &["GET", "DELETE"],
        "api_report_schedule",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiReportScheduleRun,
        "/api/report-schedules/{id}/run",
        &["POST"],
        "api_report_schedule_run",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiRoi,
        "/api/roi",
        &["GET"],
        "api_roi",
        Query::Strict(crate::roi::QUERY_KEYS),
    ),
    entry(
        Route::ApiRoiCsv,
        "/api/roi.csv",
        &["GET"],
        "api_roi_csv",
        Query::Strict(crate::roi::FILE_QUERY_KEYS),
    ),
    entry(
        Route::ApiRoiXlsx,
        "/api/roi.xlsx",
        &["GET"],
        "api_roi_xlsx",
        Query::Strict(crate::roi::FILE_QUERY_KEYS),
    ),
    entry(
        Route::ApiReplication,
        "/api/replication",
        &["GET"],
        "api_replication",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiAudit,
        "/api/audit",
        &["GET"],
        "api_audit",
        Query::Strict(&["since", "limit"]),
    ),
    entry(
        Route::ApiBackup,
        "/api/backup",
        &["GET"],
        "api_backup",
        Query::Strict(&[]),
    ),
    entry(
        Route::ApiOpenapi,
        "/api/openapi.json",
        &["GET"],
        "api_openapi",
        Query::Strict(&[]),
    ),
    entry(
        Route::AdminOverview,
        "/admin",
        &["GET"],
        "admin_overview",
        Query::Lenient,
    ),
    entry(
        Route::AdminRoiCsv,
        "/admin/roi.csv",
        &["GET"],
        "admin_download",
        Query::Lenient,
    ),
    entry(
        Route::AdminRoiXlsx,
        "/admin/roi.xlsx",
        &["GET"],
        "admin_download",
        Query::Lenient,
    ),
    entry(
        Route::AdminCampaigns,
        "/admin/campaigns",
        &["GET", "POST"],
        "admin_campaigns",
        Query::Lenient,
    ),
    entry(
        Route::AdminCampaignNew,
        "/admin/campaigns/new",
        &["GET"],
        "admin_campaigns",
        Query::Lenient,
    ),
    entry(
        Route::AdminCampaign,
        "/admin/campaigns/{slug}",
        &["GET", "POST"],
        "admin_campaign",
        Query::Lenient,
    ),
    entry(
        Route::AdminQrTarget,
        "/admin/campaigns/{slug}/qr/{variant}",
        &["POST"],
        "admin_campaign",
        Query::Lenient,
    ),
    entry(
        Route::AdminCosts,
        "/admin/campaigns/{slug}/costs",
        &["POST"],
        "admin_campaign",
        Query::Lenient,
    ),
    entry(
        Route::AdminCostDelete,
        "/admin/campaigns/{slug}/costs/{id}/delete",
        &["POST"],
        "admin_campaign",
        Query::Lenient,
    ),
    entry(
        Route::AdminQrSheet,
        "/admin/campaigns/{slug}/qr",
        &["GET"],
        "admin_qr_sheet",
        Query::Lenient,
    ),
    entry(
        Route::AdminLeads,
        "/admin/leads",
        &["GET"],
        "admin_leads",
        Query::Lenient,
    ),
    entry(
        Route::AdminLeadsCsv,
        "/admin/leads.csv",
        &["GET"],
        "admin_download",
        Query::Lenient,
    ),
    entry(
        Route::AdminLeadStatus,
        "/admin/leads/{id}/status",
        &["POST"],
        "admin_leads",
        Query::Lenient,
    ),
    entry(
        Route::AdminLeadAssign,
        "/admin/leads/{id}/assign",
        &["POST"],
        "admin_leads",
        Query::Lenient,
    ),
    entry(
        Route::AdminLeadActivities,
        "/admin/leads/{id}/activities",
        &["POST"],
        "admin_leads",
        Query::Lenient,
    ),
    entry(
        Route::AdminLeadErase,
        "/admin/leads/{id}/erase",
        &["GET", "POST"],
        "admin_leads",
        Query::Lenient,
    ),
    entry(
        Route::AdminErasures,
        "/admin/erasures",
        &["GET"],
        "admin_leads",
        Query::Lenient,
    ),
    entry(
        Route::AdminLeadsImport,
        "/admin/leads/import",
        &["POST"],
        "admin_import",
        Query::Lenient,
    ),
    entry(
        Route::AdminConversionsImport,
        "/admin/conversions/import",
        &["POST"],
        "admin_import",
        Query::Lenient,
    ),
    entry(
        Route::AdminDestinations,
        "/admin/destinations",
        &["GET", "POST"],
        "admin_destinations",
        Query::Lenient,
    ),
    entry(
        Route::AdminDestination,
        "/admin/destinations/{id}",
        &["GET", "POST"],
        "admin_destination",
        Query::Lenient,
    ),
    entry(
        Route::AdminDestinationTest,
        "/admin/destinations/{id}/test",
        &["POST"],
        "admin_destination",
        Query::Lenient,
    ),
    entry(
        Route::AdminDestinationRetry,
        "/admin/destinations/{id}/retry",
        &["POST"],
        "admin_destination",
        Query::Lenient,
    ),
    entry(
        Route::AdminDestinationDelete,
        "/admin/destinations/{id}/delete",
        &["POST"],
        "admin_destination",
        Query::Lenient,
    ),
    entry(
        Route::AdminSalespeople,
        "/admin/salespeople",
        &["GET", "POST"],
        "admin_salespeople",
        Query::Lenient,
    ),
    entry(
        Route::AdminSalesperson,
        "/admin/salespeople/{id}",
        &["GET", "POST"],
        "admin_salesperson",
        Query::Lenient,
    ),
    entry(
        Route::AdminSalespersonDelete,
        "/admin/salespeople/{id}/delete",
        &["POST"],
        "admin_salesperson",
        Query::Lenient,
    ),
    entry(
        Route::AdminSchedules,
        "/admin/schedules",
        &["GET", "POST"],
        "admin_schedules",
        Query::Lenient,
    ),
    entry(
        Route::AdminAudit,
        "/admin/audit",
        &["GET"],
        "admin_audit",
        Query::Lenient,
    ),
    entry(
        Route::AdminScheduleRun,
        "/admin/schedules/{id}/run",
        &["POST"],
        "admin_schedule",
        Query::Lenient,
    ),
    entry(
        Route::AdminScheduleDelete,
        "/admin/schedules/{id}/delete",
        &["POST"],
        "admin_schedule",
        Query::Lenient,
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

impl Entry {
    /// The `Allow` header of a 405 from this route (RFC 9110 §15.5.6): its methods, HEAD
    /// wherever GET is, and OPTIONS where the CORS preflight is answered.
    pub fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.methods.to_vec();
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        if self.route == Route::Form {
            methods.push("OPTIONS");
        }
        methods.join(", ")
    }

    /// Refuses a query string that a `Query::Strict` route does not take: an unknown key,
    /// a repeated one (which of the values did the client mean?) or an empty value (a
    /// filter left blank by a script is a bug, not "no filter"). 422 naming the key.
    pub fn check_query(&self, query: Option<&str>) -> Result<()> {
        let Query::Strict(keys) = self.query else {
            return Ok(());
        };
        let mut seen: Vec<String> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !keys.contains(&key.as_ref()) {
                let message = if keys.is_empty() {
                    format!("{key:?} is not a parameter of this address, which takes none")
                } else {
                    format!(
                        "{key:?} is not a parameter of this address; it takes {}",
                        keys.join(", ")
                    )
                };
                return Err(Error::invalid(key.as_ref(), "unknown_parameter", message));
            }
            if seen.iter().any(|k| *k == key) {
                return Err(Error::invalid(
                    key.as_ref(),
                    "repeated_parameter",
                    format!("{key:?} is given more than once"),
                ));
            }
            if value.is_empty() {
                return Err(Error::invalid(
                    key.as_ref(),
                    "empty_parameter",
                    format!("{key:?} is empty; leave it out instead"),
                ));
            }
            seen.push(key.into_owned());
        }
        Ok(())
    }
}

/// Puts the route's `Allow` on a 405, page or JSON alike (RFC 9110 requires it there).
pub fn set_allow(reply: &mut crate::http::Reply, entry: Option<&Entry>) {
    if reply.status() != hyper::StatusCode::METHOD_NOT_ALLOWED {
        return;
    }
    if let Some(value) = entry.and_then(|e| hyper::header::HeaderValue::from_str(&e.allow()).ok()) {
        reply.headers_mut().insert(hyper::header::ALLOW, value);
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
    fn api_routes_are_strict_about_their_query_and_pages_are_not() {
        for entry in TABLE {
            let strict = matches!(entry.query, Query::Strict(_));
            assert_eq!(
                strict,
                entry.pattern.starts_with("/api/"),
                "{}",
                entry.pattern
            );
        }
        let leads = resolve("/api/leads").unwrap().entry;
        assert!(leads.check_query(None).is_ok());
        assert!(leads.check_query(Some("")).is_ok());
        assert!(leads.check_query(Some("campaign=expo&limit=5")).is_ok());
        let code = |q| leads.check_query(Some(q)).unwrap_err();
        assert_eq!(code("campain=expo").code, "unknown_parameter");
        assert_eq!(code("campain=expo").field.as_deref(), Some("campain"));
        assert_eq!(code("limit=1&limit=2").code, "repeated_parameter");
        assert_eq!(code("until=").code, "empty_parameter");
        assert_eq!(code("until").code, "empty_parameter");
        let campaigns = resolve("/api/campaigns").unwrap().entry;
        assert_eq!(
            campaigns.check_query(Some("x=1")).unwrap_err().status(),
            422
        );
        let form = resolve("/f/expo").unwrap().entry;
        assert!(
            form.check_query(Some("from=singlemessage&from=x&e="))
                .is_ok()
        );
    }

    #[test]
    fn roi_routes_take_the_summarys_parameters() {
        use crate::roi::{FILE_QUERY_KEYS, QUERY_KEYS};
        assert_eq!(QUERY_KEYS.len(), 7);
        assert!(!QUERY_KEYS.contains(&"lang"));
        assert_eq!(&FILE_QUERY_KEYS[..QUERY_KEYS.len()], QUERY_KEYS);
        assert_eq!(FILE_QUERY_KEYS[QUERY_KEYS.len()..], ["lang"]);
    }

    #[test]
    fn allow_lists_head_with_get_and_options_where_preflighted() {
        let allow = |path| resolve(path).unwrap().entry.allow();
        assert_eq!(allow("/api/campaigns"), "GET, POST, HEAD");
        assert_eq!(allow("/api/conversions"), "POST");
        assert_eq!(allow("/f/expo"), "GET, POST, HEAD, OPTIONS");
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
