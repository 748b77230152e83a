//! What the HTTP adapters share: the service layer, and the settings only the web side
//! needs (public address, admin credentials, limits, timeouts).

use std::sync::Arc;

use hyper::Request;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use crate::campaign::Campaign;
use crate::error::{Error, Result};
use crate::http::ClientAddr;
use crate::limits::Limits;
use crate::service::Service;

/// Everything a request may need; shared by all connections.
pub struct AppState {
    pub service: Arc<Service>,
    pub public_url: String,
    /// SHA-256 of the admin token: the token itself is never kept.
    pub admin_token_hash: [u8; 32],
    /// `LEADGATE_CALL_SECRET`; without it the call webhook answers 503.
    pub call_secret: Option<Vec<u8>>,
    pub limits: Limits,
    /// Origins allowed to post to `/f/{slug}` from a browser.
    pub cors_origins: Vec<String>,
    pub body_timeout: std::time::Duration,
    /// When `/healthz` last probed the store, and whether the probe worked.
    pub last_probe: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl AppState {
    /// Counts one rate-limited request of the request's client (for `campaign`, if known).
    pub fn check_rate(
        &self,
        request: &Request<Incoming>,
        campaign: Option<&Campaign>,
    ) -> Result<()> {
        let Some(ClientAddr(client)) = request.extensions().get::<ClientAddr>().copied() else {
            return Ok(());
        };
        let campaign = campaign.map(|c| (c.slug.as_str(), c.rate_limit));
        self.limits
            .check(client, campaign)
            .map_err(|wait| Error::too_many_requests(wait.seconds()))
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
