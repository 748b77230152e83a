//! The one error type of the crate: a kind that decides the HTTP status, a stable
//! snake_case code for machines, a sentence for people, and the field it is about.

use std::fmt;

/// What went wrong, in terms of who has to act: the client (4xx) or the operator (5xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    /// Authenticated, but the request did not come from where it must (CSRF checks).
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    Invalid,
    /// Over a rate limit; `Error::retry_after` says for how long.
    TooManyRequests,
    /// The store cannot take writes right now (full disk, I/O error, writer stopped).
    Unavailable,
    /// A bug or an environment problem at start-up; never caused by request input.
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Invalid => 422,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds the client should wait before trying again (429, 503).
    pub retry_after: Option<u64>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Error {
        Error {
            kind,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 429: this client (or everyone) must wait `seconds` before the next try.
    pub fn too_many_requests(seconds: u64) -> Error {
        let mut error = Error::new(
            ErrorKind::TooManyRequests,
            "rate_limited",
            format!("too many requests from this address; try again in {seconds} s"),
        );
        error.retry_after = Some(seconds);
        error
    }

    /// A 422 about one input field.
    pub fn invalid(
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> Error {
        Error::new(ErrorKind::Invalid, code, message).with_field(field)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadRequest, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unavailable, "store_unavailable", message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, "internal", message)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Error {
        self.field = Some(field.into());
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} ({field})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// A 422 naming the first key of `body` that is not one of `fields` (`what` says whose
/// fields they are): a misspelt key must not be silently ignored.
pub fn reject_unknown_keys(
    body: &serde_json::Map<String, serde_json::Value>,
    fields: &[&str],
    what: &str,
) -> Result<()> {
    match body.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(key) => Err(Error::invalid(
            key.clone(),
            "unknown_field",
            format!(
                "{key:?} is not a {what} field; the fields are: {}",
                fields.join(", ")
            ),
        )),
        None => Ok(()),
    }
}
