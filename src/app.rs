//! Routing, admin authentication, and the one place where an `Error` becomes a response.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use askama::Template;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind, Result};
use crate::forms::FormSet;
use crate::handlers;
use crate::http::{self, Reply};
use crate::store::Store;
use crate::templates::MessagePage;

/// Everything a request may need; shared by all connections.
pub struct AppState {
    pub store: Store,
    pub forms: FormSet,
    pub public_url: String,
    /// SHA-256 of the admin token: the token itself is never kept.
    pub admin_token_hash: [u8; 32],
    /// `LEADGATE_CALL_SECRET`; without it the call webhook answers 503.
    pub call_secret: Option<Vec<u8>>,
    pub rejects: Rejects,
}

/// Submissions refused without storing anything, by reason (for operators).
#[derive(Debug, Default)]
pub struct Rejects {
    pub honeypot: AtomicU64,
}

impl Rejects {
    pub fn count_honeypot(&self) {
        self.honeypot.fetch_add(1, Ordering::Relaxed);
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Serves one request. Never fails: every error is turned into its response here.
pub async fn handle(state: Arc<AppState>, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_owned();
    let is_image = path.ends_with(".png") || path.ends_with(".svg");
    let is_page =
        (path.starts_with("/f/") || path.starts_with("/q/") || path.starts_with("/admin"))
            && !is_image
            && !http::wants_json(request.headers());
    let result = route(&state, request, &path).await;
    let reply = result.unwrap_or_else(|error| {
        if error.kind == ErrorKind::Internal {
            tracing::error!("{path}: {error}");
        }
        if is_page {
            error_page(&error)
        } else {
            http::error_json(&error)
        }
    });
    with_common_headers(reply)
}

async fn route(state: &AppState, request: Request<Incoming>, path: &str) -> Result<Reply> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    match segments.as_slice() {
        ["healthz"] => {
            allow(&method, &[Method::GET, Method::HEAD])?;
            Ok(health(state))
        }
        ["f", slug] => match method {
            Method::GET | Method::HEAD => handlers::forms::show(state, request, slug).await,
            Method::POST => handlers::forms::submit(state, request, slug).await,
            _ => Err(method_not_allowed(&[Method::GET, Method::POST])),
        },
        ["f", slug, "thanks"] => {
            allow(&method, &[Method::GET, Method::HEAD])?;
            handlers::forms::thanks(state, slug).await
        }
        ["q", name] => {
            allow(&method, &[Method::GET, Method::HEAD])?;
            match name.rsplit_once('.') {
                Some((slug, format @ ("png" | "svg"))) => {
                    handlers::qr::image(state, request, slug, format).await
                }
                Some(_) => Err(not_found()),
                None => handlers::qr::scan(state, request, name).await,
            }
        }
        ["hooks", "call"] => {
            allow(&method, &[Method::POST])?;
            handlers::calls::call(state, request).await
        }
        ["admin", rest @ ..] => {
            authorise(state, &request)?;
            match rest {
                ["campaigns", slug, "qr"] => {
                    allow(&method, &[Method::GET, Method::HEAD])?;
                    handlers::qr::sheet(state, slug).await
                }
                _ => Err(not_found()),
            }
        }
        ["api", rest @ ..] => {
            authorise(state, &request)?;
            match rest {
                ["campaigns"] => match method {
                    Method::GET => handlers::campaigns::list(state).await,
                    Method::POST => handlers::campaigns::create(state, request).await,
                    _ => Err(method_not_allowed(&[Method::GET, Method::POST])),
                },
                ["campaigns", slug] => match method {
                    Method::GET => handlers::campaigns::get(state, slug).await,
                    Method::PATCH => handlers::campaigns::patch(state, request, slug).await,
                    _ => Err(method_not_allowed(&[Method::GET, Method::PATCH])),
                },
                ["campaigns", slug, "qr"] => {
                    allow(&method, &[Method::GET])?;
                    handlers::qr::stats(state, slug).await
                }
                ["campaigns", slug, "costs"] => match method {
                    Method::GET => handlers::campaigns::list_costs(state, slug).await,
                    Method::POST => handlers::campaigns::add_cost(state, request, slug).await,
                    _ => Err(method_not_allowed(&[Method::GET, Method::POST])),
                },
                ["campaigns", slug, "costs", id] => {
                    allow(&method, &[Method::DELETE])?;
                    handlers::campaigns::delete_cost(state, slug, id).await
                }
                ["leads"] => {
                    allow(&method, &[Method::GET])?;
                    handlers::leads::list(state, request).await
                }
                ["leads", "import"] => {
                    allow(&method, &[Method::POST])?;
                    handlers::leads::import(state, request).await
                }
                ["conversions"] => {
                    allow(&method, &[Method::POST])?;
                    handlers::conversions::upsert(state, request).await
                }
                ["conversions", "import"] => {
                    allow(&method, &[Method::POST])?;
                    handlers::conversions::import(state, request).await
                }
                ["conversions", id] => {
                    allow(&method, &[Method::GET])?;
                    handlers::conversions::get(state, id).await
                }
                ["roi"] => {
                    allow(&method, &[Method::GET])?;
                    handlers::roi::json(state, request).await
                }
                ["roi.csv"] => {
                    allow(&method, &[Method::GET])?;
                    handlers::roi::csv(state, request).await
                }
                ["leads", id] => match method {
                    Method::GET => handlers::leads::get(state, id).await,
                    Method::PATCH => handlers::leads::patch(state, request, id).await,
                    _ => Err(method_not_allowed(&[Method::GET, Method::PATCH])),
                },
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

fn not_found() -> Error {
    Error::not_found("not_found", "there is nothing at this address")
}

fn allow(method: &Method, allowed: &[Method]) -> Result<()> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(method_not_allowed(allowed))
    }
}

fn method_not_allowed(allowed: &[Method]) -> Error {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    Error::new(
        ErrorKind::MethodNotAllowed,
        "method_not_allowed",
        format!("this address accepts {}", names.join(", ")),
    )
}

/// Checks the admin token in constant time against the stored hash. The API takes it as
/// `Bearer <token>`; browsers on `/admin` send it as the password of HTTP Basic.
fn authorise(state: &AppState, request: &Request<Incoming>) -> Result<()> {
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
    let token = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.trim().to_owned()
    } else if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .map_err(|_| unauthorised())?;
        let text = String::from_utf8(decoded).map_err(|_| unauthorised())?;
        text.split_once(':')
            .map(|(_, password)| password.to_owned())
            .ok_or_else(unauthorised)?
    } else {
        return Err(unauthorised());
    };
    let presented = hash_token(&token);
    if bool::from(presented.ct_eq(&state.admin_token_hash)) {
        Ok(())
    } else {
        Err(unauthorised())
    }
}

fn health(state: &AppState) -> Reply {
    let health = state.store.health();
    if health.is_writable() {
        http::text(StatusCode::OK, "ok\n")
    } else {
        let why = health
            .last_error()
            .unwrap_or_else(|| "the store is not writable".into());
        http::text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unavailable: {why}\n"),
        )
    }
}

/// Errors on visitor-facing pages are pages too, in the visitor's language.
fn error_page(error: &Error) -> Reply {
    let (title, message) = match error.kind {
        ErrorKind::Unauthorized => ("需要登录", "请登录：用户名任意，密码为管理员令牌。"),
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
        Ok(body) => {
            let mut reply = http::html(status, body);
            if status == StatusCode::UNAUTHORIZED {
                reply.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"leadgate\", charset=\"UTF-8\""),
                );
            }
            if status == StatusCode::SERVICE_UNAVAILABLE {
                reply
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            reply
        }
        Err(_) => http::error_json(error),
    }
}

fn with_common_headers(mut reply: Reply) -> Reply {
    let headers = reply.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "referrer-policy",
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    reply
}
