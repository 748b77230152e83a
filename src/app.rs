//! Routing, admin authentication, and the one place where an `Error` becomes a response.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use subtle::ConstantTimeEq;

use crate::admin::{self, Upload};
use crate::audit;
use crate::error::{Error, ErrorKind, Result};
use crate::handlers;
use crate::http::{self, Reply};
use crate::metrics::{Metrics, Reject};
use crate::report;
use crate::routes::{self, Route};
use crate::state::{AppState, hash_token};
use crate::templates::MessagePage;

/// Serves one request from `peer`. Never fails: every error becomes its response here.
pub async fn handle(
    state: Arc<AppState>,
    mut request: Request<Incoming>,
    peer: SocketAddr,
) -> Reply {
    let path = request.uri().path().to_owned();
    let forwarded_for = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let client = state.limits.client_address(peer.ip(), forwarded_for);
    request.extensions_mut().insert(http::ClientAddr(client));
    request
        .extensions_mut()
        .insert(http::BodyTimeout(state.body_timeout));
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let has_body = carries_body(request.headers());
    let is_image = path.ends_with(".png") || path.ends_with(".svg");
    let is_page =
        (path.starts_with("/f/") || path.starts_with("/q/") || path.starts_with("/admin"))
            && !is_image
            && !http::wants_json(request.headers());
    let matched = routes::resolve(&path);
    let route_name = matched.as_ref().map_or("other", |m| m.entry.metric);
    let admin_lang = path
        .starts_with("/admin")
        .then(|| admin::i18n::Lang::from_query(request.uri().query()));
    let method = request.method().clone();
    let entry = matched.as_ref().map(|m| m.entry);
    let result = route(&state, request, &path, matched).await;
    let mut reply = result.unwrap_or_else(|error| {
        if error.kind == ErrorKind::Internal {
            tracing::error!("{path}: {error}");
        }
        match admin_lang {
            Some(lang) if is_page => with_error_headers(admin::error_page(&error, lang), &error),
            _ if is_page => error_page(&error),
            _ => http::error_json(&error),
        }
    });
    routes::set_allow(&mut reply, entry);
    if path.starts_with("/f/") && matches!(method, Method::POST | Method::OPTIONS) {
        allow_cross_origin(&state, origin.as_deref(), &mut reply);
    }
    count(&state.service.metrics, route_name, reply.status().as_u16());
    if has_body && reply.status().as_u16() >= 400 {
        // A refused request's body may be left unread, and then the connection cannot carry
        // another request: say so, instead of letting the client's next request fail.
        reply
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    with_common_headers(reply)
}

/// Whether the request announces a body (a length above zero, or chunks).
fn carries_body(headers: &hyper::HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// Counts the request by route and status class, and a refusal by its reason.
fn count(metrics: &Metrics, route: &'static str, status: u16) {
    metrics.request(route, status);
    let reason = match status {
        400 | 408 | 415 | 422 => Reject::InvalidInput,
        401 => Reject::Unauthorized,
        413 | 431 => Reject::TooLarge,
        429 => Reject::RateLimited,
        503 => Reject::StoreUnavailable,
        _ => return,
    };
    metrics.reject(reason);
}

/// Embedded widgets on a campaign's own site post to `/f/{slug}` from the browser: the
/// configured origins may read the answer. Nothing else is shared across origins.
fn allow_cross_origin(state: &AppState, origin: Option<&str>, reply: &mut Reply) {
    let headers = reply.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = origin.filter(|o| state.cors_origins.iter().any(|allowed| allowed == o))
    else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}

/// The answer to a CORS preflight for `/f/{slug}`.
fn preflight() -> Reply {
    let mut reply = http::with_type(StatusCode::NO_CONTENT, Vec::new(), "text/plain");
    let headers = reply.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Accept"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    reply
}

async fn route(
    state: &AppState,
    request: Request<Incoming>,
    path: &str,
    matched: Option<routes::Matched>,
) -> Result<Reply> {
    let protected = ["/api", "/admin"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    let credential = if protected {
        Some(authorise(state, &request)?)
    } else {
        None
    };
    let matched = matched.ok_or_else(not_found)?;
    let method = request.method().clone();
    if method == Method::OPTIONS && matched.entry.route == Route::Form {
        return Ok(preflight());
    }
    if !matched.allows(&method) {
        return Err(method_not_allowed(matched.entry.methods));
    }
    let changes = !matches!(method, Method::GET | Method::HEAD);
    if !changes && carries_body(request.headers()) {
        // No GET here reads a body, and one left unread makes the connection close with
        // data still unread, which resets it: a large answer (an export, this API's
        // document) would arrive cut off. Say so instead.
        return Err(Error::bad_request(
            "body_not_allowed",
            "GET and HEAD requests must not carry a body",
        ));
    }
    let basic = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("basic "))
        });
    if protected && changes && (path.starts_with("/admin") || basic) {
        // Before the body is read or anything validated: browsers send Basic credentials
        // with any site's request, so a change made with them must come from the console.
        admin::csrf::check_origin(state, &request)?;
    }
    matched.entry.check_query(request.uri().query())?;
    // A backup changes nothing but copies every person's data out: recorded too.
    // (Not a HEAD: it copies nothing.)
    let audited = changes || (matched.entry.route == Route::ApiBackup && method == Method::GET);
    if let Some(credential) = credential.filter(|_| audited) {
        let client = request
            .extensions()
            .get::<http::ClientAddr>()
            .map_or_else(String::new, |addr| addr.0.to_string());
        let entry = audit::Entry::new(
            state.service.clock.now(),
            client,
            &credential,
            audit::action(
                matched.entry.route,
                routes::verb(&method),
                matched.entry.metric,
            ),
            matched.params.join("/"),
        );
        return audit::within(entry, dispatch(state, request, &matched, &method)).await;
    }
    dispatch(state, request, &matched, &method).await
}

/// Hands the request to its handler. Each handler's future is boxed: unboxed, this
/// future (and every one awaiting it up to hyper) would be as large as the largest
/// handler's, kilobytes, copied several times for every request: a form post paid about
/// 30k instructions for copies of futures it never needed.
async fn dispatch(
    state: &AppState,
    request: Request<Incoming>,
    matched: &routes::Matched,
    method: &Method,
) -> Result<Reply> {
    let p: Vec<&str> = matched.params.iter().map(String::as_str).collect();
    match (matched.entry.route, routes::verb(method)) {
        (Route::Healthz, "GET") => Ok(Box::pin(health(state)).await),
        (Route::Metrics, "GET") => Ok(Box::pin(metrics(state, &request)).await),
        (Route::Form, "GET") => Box::pin(handlers::forms::show(state, request, p[0])).await,
        (Route::Form, "POST") => Box::pin(handlers::forms::submit(state, request, p[0])).await,
        (Route::FormThanks, "GET") => Box::pin(handlers::forms::thanks(state, p[0])).await,
        (Route::QrScan, "GET") => Box::pin(handlers::qr::scan(state, request, p[0])).await,
        (Route::QrPng, "GET") => Box::pin(handlers::qr::image(state, request, p[0], "png")).await,
        (Route::QrSvg, "GET") => Box::pin(handlers::qr::image(state, request, p[0], "svg")).await,
        (Route::CallHook, "POST") => Box::pin(handlers::calls::call(state, request)).await,
        (Route::ApiCampaigns, "GET") => Box::pin(handlers::campaigns::list(state)).await,
        (Route::ApiCampaigns, "POST") => {
            Box::pin(handlers::campaigns::create(state, request)).await
        }
        (Route::ApiCampaign, "GET") => Box::pin(handlers::campaigns::get(state, p[0])).await,
        (Route::ApiCampaign, "PATCH") => {
            Box::pin(handlers::campaigns::patch(state, request, p[0])).await
        }
        (Route::ApiCosts, "GET") => Box::pin(handlers::campaigns::list_costs(state, p[0])).await,
        (Route::ApiCosts, "POST") => {
            Box::pin(handlers::campaigns::add_cost(state, request, p[0])).await
        }
        (Route::ApiCost, "DELETE") => {
            Box::pin(handlers::campaigns::delete_cost(state, p[0], p[1])).await
        }
        (Route::ApiCampaignQr, "GET") => Box::pin(handlers::qr::stats(state, p[0])).await,
        (Route::ApiCampaignScans, "GET") => {
            Box::pin(handlers::qr::scans(state, request, p[0])).await
        }
        (Route::ApiCampaignQrTarget, "GET") => {
            Box::pin(handlers::qr::target(state, p[0], p[1])).await
        }
        (Route::ApiCampaignQrTarget, "PUT") => {
            Box::pin(handlers::qr::set_target(state, request, p[0], p[1])).await
        }
        (Route::ApiLeads, "GET") => Box::pin(handlers::leads::list(state, request)).await,
        (Route::ApiLeadsImport, "POST") => Box::pin(handlers::leads::import(state, request)).await,
        (Route::ApiLead, "GET") => Box::pin(handlers::leads::get(state, p[0])).await,
        (Route::ApiLead, "PATCH") => Box::pin(handlers::leads::patch(state, request, p[0])).await,
        (Route::ApiLeadActivities, "GET") => {
            Box::pin(handlers::leads::activities(state, p[0])).await
        }
        (Route::ApiLeadActivities, "POST") => {
            Box::pin(handlers::leads::add_activity(state, request, p[0])).await
        }
        (Route::ApiConversions, "POST") => {
            Box::pin(handlers::conversions::upsert(state, request)).await
        }
        (Route::ApiConversionsImport, "POST") => {
            Box::pin(handlers::conversions::import(state, request)).await
        }
        (Route::ApiConversion, "GET") => Box::pin(handlers::conversions::get(state, p[0])).await,
        (Route::ApiErasures, "GET") => Box::pin(handlers::erasures::list(state)).await,
        (Route::ApiErasures, "POST") => Box::pin(handlers::erasures::create(state, request)).await,
        (Route::ApiSalespeople, "GET") => Box::pin(handlers::salespeople::list(state)).await,
        (Route::ApiSalespeople, "POST") => {
            Box::pin(handlers::salespeople::create(state, request)).await
        }
        (Route::ApiSalesperson, "GET") => Box::pin(handlers::salespeople::get(state, p[0])).await,
        (Route::ApiSalesperson, "PATCH") => {
            Box::pin(handlers::salespeople::patch(state, request, p[0])).await
        }
        (Route::ApiSalesperson, "DELETE") => {
            Box::pin(handlers::salespeople::delete(state, p[0])).await
        }
        (Route::ApiDestinations, "GET") => Box::pin(handlers::destinations::list(state)).await,
        (Route::ApiDestinations, "POST") => {
            Box::pin(handlers::destinations::create(state, request)).await
        }
        (Route::ApiDestination, "GET") => Box::pin(handlers::destinations::get(state, p[0])).await,
        (Route::ApiDestination, "PATCH") => {
            Box::pin(handlers::destinations::patch(state, request, p[0])).await
        }
        (Route::ApiDestination, "DELETE") => {
            Box::pin(handlers::destinations::delete(state, p[0])).await
        }
        (Route::ApiDestinationRetry, "POST") => {
            Box::pin(handlers::destinations::retry(state, p[0])).await
        }
        (Route::ApiDestinationTest, "POST") => {
            Box::pin(handlers::destinations::test(state, p[0])).await
        }
        (Route::ApiReportSchedules, "GET") => Box::pin(handlers::schedules::list(state)).await,
        (Route::ApiReportSchedules, "POST") => {
            Box::pin(handlers::schedules::create(state, request)).await
        }
        (Route::ApiReportSchedule, "GET") => Box::pin(handlers::schedules::get(state, p[0])).await,
        (Route::ApiReportSchedule, "DELETE") => {
            Box::pin(handlers::schedules::delete(state, p[0])).await
        }
        (Route::ApiReportScheduleRun, "POST") => {
            Box::pin(handlers::schedules::run(state, p[0])).await
        }
        (Route::ApiRoi, "GET") => Box::pin(handlers::roi::json(state, request)).await,
        (Route::ApiRoiCsv, "GET") => {
            Box::pin(handlers::roi::csv(state, request, report::Lang::Fields)).await
        }
        (Route::ApiRoiXlsx, "GET") => {
            Box::pin(handlers::roi::xlsx(state, request, report::Lang::Fields)).await
        }
        (Route::ApiReplication, "GET") => Box::pin(handlers::replication::status(state)).await,
        (Route::ApiAudit, "GET") => Box::pin(handlers::audit::list(state, request)).await,
        (Route::ApiBackup, "GET") => {
            Box::pin(handlers::backup::download(state, method == Method::HEAD)).await
        }
        (Route::AdminAudit, "GET") => Box::pin(admin::audit::list(state, request)).await,
        (Route::ApiOpenapi, "GET") => Ok(crate::openapi::reply(&state.public_url)),
        (Route::AdminOverview, "GET") => Box::pin(admin::overview::page(state, request)).await,
        (Route::AdminRoiCsv, "GET") => {
            Box::pin(handlers::roi::csv(state, request, report::Lang::Zh)).await
        }
        (Route::AdminRoiXlsx, "GET") => {
            Box::pin(handlers::roi::xlsx(state, request, report::Lang::Zh)).await
        }
        (Route::AdminCampaigns, "GET") => Box::pin(admin::campaigns::list(state, request)).await,
        (Route::AdminCampaigns, "POST") => Box::pin(admin::campaigns::create(state, request)).await,
        (Route::AdminCampaignNew, "GET") => {
            Box::pin(admin::campaigns::new_page(state, request)).await
        }
        (Route::AdminCampaign, "GET") => {
            Box::pin(admin::campaigns::edit_page(state, request, p[0])).await
        }
        (Route::AdminCampaign, "POST") => {
            Box::pin(admin::campaigns::save(state, request, p[0])).await
        }
        (Route::AdminCosts, "POST") => {
            Box::pin(admin::campaigns::add_cost(state, request, p[0])).await
        }
        (Route::AdminQrTarget, "POST") => {
            Box::pin(admin::campaigns::set_qr_target(state, request, p[0], p[1])).await
        }
        (Route::AdminCostDelete, "POST") => {
            Box::pin(admin::campaigns::delete_cost(state, request, p[0], p[1])).await
        }
        (Route::AdminQrSheet, "GET") => Box::pin(handlers::qr::sheet(state, p[0])).await,
        (Route::AdminLeads, "GET") => Box::pin(admin::leads::page(state, request)).await,
        (Route::AdminLeadsCsv, "GET") => Box::pin(admin::leads::export(state, request)).await,
        (Route::AdminLeadStatus, "POST") => {
            Box::pin(admin::leads::set_status(state, request, p[0])).await
        }
        (Route::AdminLeadAssign, "POST") => {
            Box::pin(admin::leads::assign(state, request, p[0])).await
        }
        (Route::AdminLeadActivities, "POST") => {
            Box::pin(admin::leads::add_activity(state, request, p[0])).await
        }
        (Route::AdminLeadErase, "GET") => {
            Box::pin(admin::erasures::confirm(state, request, p[0])).await
        }
        (Route::AdminLeadErase, "POST") => {
            Box::pin(admin::erasures::erase(state, request, p[0])).await
        }
        (Route::AdminErasures, "GET") => Box::pin(admin::erasures::list(state, request)).await,
        (Route::AdminLeadsImport, "POST") => {
            Box::pin(admin::leads::import(state, request, Upload::Leads)).await
        }
        (Route::AdminConversionsImport, "POST") => {
            Box::pin(admin::leads::import(state, request, Upload::Conversions)).await
        }
        (Route::AdminDestinations, "GET") => {
            Box::pin(admin::destinations::list(state, request)).await
        }
        (Route::AdminDestinations, "POST") => {
            Box::pin(admin::destinations::create(state, request)).await
        }
        (Route::AdminDestination, "GET") => {
            Box::pin(admin::destinations::edit_page(state, request, p[0])).await
        }
        (Route::AdminDestination, "POST") => {
            Box::pin(admin::destinations::save(state, request, p[0])).await
        }
        (Route::AdminDestinationTest, "POST") => {
            Box::pin(admin::destinations::test(state, request, p[0])).await
        }
        (Route::AdminDestinationRetry, "POST") => {
            Box::pin(admin::destinations::retry(state, request, p[0])).await
        }
        (Route::AdminDestinationDelete, "POST") => {
            Box::pin(admin::destinations::delete(state, request, p[0])).await
        }
        (Route::AdminSalespeople, "GET") => {
            Box::pin(admin::salespeople::list(state, request)).await
        }
        (Route::AdminSalespeople, "POST") => {
            Box::pin(admin::salespeople::create(state, request)).await
        }
        (Route::AdminSalesperson, "GET") => {
            Box::pin(admin::salespeople::edit_page(state, request, p[0])).await
        }
        (Route::AdminSalesperson, "POST") => {
            Box::pin(admin::salespeople::save(state, request, p[0])).await
        }
        (Route::AdminSalespersonDelete, "POST") => {
            Box::pin(admin::salespeople::delete(state, request, p[0])).await
        }
        (Route::AdminSchedules, "GET") => Box::pin(admin::schedules::list(state, request)).await,
        (Route::AdminSchedules, "POST") => Box::pin(admin::schedules::create(state, request)).await,
        (Route::AdminScheduleRun, "POST") => {
            Box::pin(admin::schedules::run(state, request, p[0])).await
        }
        (Route::AdminScheduleDelete, "POST") => {
            Box::pin(admin::schedules::delete(state, request, p[0])).await
        }
        // A method listed in the table without a handler here: refuse it rather than guess.
        _ => Err(method_not_allowed(matched.entry.methods)),
    }
}

/// `GET /metrics`. Scrapers that ask for OpenMetrics get its media type; everyone else the
/// classic Prometheus text type, whose parsers read the same body.
async fn metrics(state: &AppState, request: &Request<Incoming>) -> Reply {
    let openmetrics = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let content_type = if openmetrics {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    } else {
        "text/plain; version=0.0.4; charset=utf-8"
    };
    match state.service.relays.backlog_by_kind().await {
        Ok(backlogs) => {
            for (kind, events) in backlogs {
                state
                    .service
                    .metrics
                    .set_delivery_backlog(kind.as_str(), events);
            }
        }
        Err(error) => tracing::warn!("delivery backlog not read: {error}"),
    }
    if let Some(replica) = &state.service.replica
        && let Err(error) = replica.status().await
    {
        tracing::warn!("replication lag not read: {error}");
    }
    http::with_type(
        StatusCode::OK,
        state.service.metrics.render().await,
        content_type,
    )
}

fn not_found() -> Error {
    Error::not_found("not_found", "there is nothing at this address")
}

fn method_not_allowed(allowed: &[&str]) -> Error {
    Error::new(
        ErrorKind::MethodNotAllowed,
        "method_not_allowed",
        format!("this address accepts {}", allowed.join(", ")),
    )
}

/// Checks the admin token in constant time against the stored hash. The API takes it as
/// `Bearer <token>`; browsers on `/admin` send it as the password of HTTP Basic. Says which
/// way it came, for the audit log.
fn authorise(state: &AppState, request: &Request<Incoming>) -> Result<audit::Credential> {
    let browser = request.uri().path().starts_with("/admin");
    let unauthorised = || {
        let message = if browser {
            "log in with any user name and the admin token as password"
        } else {
            "send the admin token as 'Authorization: Bearer <token>'"
        };
        Error::new(
            ErrorKind::Unauthorized,
            if browser {
                "login_required"
            } else {
                "unauthorized"
            },
            message,
        )
    };
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorised)?;
    let (scheme, credentials) = value.trim().split_once(' ').ok_or_else(unauthorised)?;
    let (token, credential) = if scheme.eq_ignore_ascii_case("bearer") {
        (credentials.trim().to_owned(), audit::Credential::Bearer)
    } else if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .map_err(|_| unauthorised())?;
        let text = String::from_utf8(decoded).map_err(|_| unauthorised())?;
        text.split_once(':')
            .map(|(user, password)| {
                (
                    password.to_owned(),
                    audit::Credential::Basic(user.to_owned()),
                )
            })
            .ok_or_else(unauthorised)?
    } else {
        return Err(unauthorised());
    };
    let presented = hash_token(&token);
    if bool::from(presented.ct_eq(&state.admin_token_hash)) {
        Ok(credential)
    } else {
        Err(unauthorised())
    }
}

/// 200 when the store takes writes. After a failed commit it tries a small write, so the
/// answer turns back to 200 as soon as the disk works again, with or without traffic.
async fn health(state: &AppState) -> Reply {
    let health = state.service.store.health();
    if health.is_writable() || probe(state).await {
        return http::text(StatusCode::OK, "ok\n");
    }
    let why = health
        .last_error()
        .unwrap_or_else(|| "the store is not writable".into());
    let mut reply = http::text(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("unavailable: {why}\n"),
    );
    reply
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    reply
}

/// At most one probe a second, however often `/healthz` is asked: each probe is two
/// durable commits of a megabyte, and the endpoint is public.
async fn probe(state: &AppState) -> bool {
    let recent = *state.last_probe.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, ok)) = recent
        && at.elapsed() < std::time::Duration::from_secs(1)
    {
        return ok;
    }
    let ok = state.service.store.probe().await.is_ok();
    *state.last_probe.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((std::time::Instant::now(), ok));
    ok
}

/// Errors on visitor-facing pages are pages too, in the visitor's language.
fn error_page(error: &Error) -> Reply {
    let (title, message) = match error.kind {
        ErrorKind::TooManyRequests => ("请求过于频繁", "提交或扫码次数过多，请稍后再试。"),
        ErrorKind::RequestTimeout => ("请求超时", "网络较慢，提交未完成，请重试。"),
        ErrorKind::Unauthorized => ("需要登录", "请登录：用户名任意，密码为管理员令牌。"),
        ErrorKind::Forbidden => (
            "请求被拒绝",
            "此操作只能从管理后台自己的页面提交。请刷新页面后重试。",
        ),
        ErrorKind::Invalid => ("链接有误", "链接中的参数无效，请检查二维码或链接。"),
        ErrorKind::NotFound => ("页面不存在", "该活动不存在或链接有误，请检查二维码或链接。"),
        ErrorKind::Unavailable => (
            "服务繁忙",
            "系统暂时无法保存您的信息，请稍后重试。您填写的内容未被保存。",
        ),
        ErrorKind::PayloadTooLarge => ("内容过长", "提交的内容太长，请精简后重试。"),
        ErrorKind::UnsupportedMediaType | ErrorKind::BadRequest => {
            ("无法处理的请求", "请求格式不正确，请返回表单页面重新提交。")
        }
        ErrorKind::MethodNotAllowed => ("无法处理的请求", "请通过表单页面提交。"),
        _ => ("出错了", "系统出现问题，请稍后重试。"),
    };
    let page = MessagePage {
        title: title.into(),
        message: message.into(),
    };
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match page.render() {
        Ok(body) => with_error_headers(http::html(status, body), error),
        Err(_) => http::error_json(error),
    }
}

/// What an error page must carry besides its text: the login prompt, and when to retry.
fn with_error_headers(mut reply: Reply, error: &Error) -> Reply {
    if reply.status() == StatusCode::UNAUTHORIZED {
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"leadgate\", charset=\"UTF-8\""),
        );
    }
    http::set_retry_after(&mut reply, error);
    reply
}

fn with_common_headers(mut reply: Reply) -> Reply {
    let is_html = reply
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let headers = reply.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "referrer-policy",
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if is_html
        && let Ok(policy) = HeaderValue::from_str(crate::templates::content_security_policy())
    {
        headers.insert("content-security-policy", policy);
    }
    reply
}
