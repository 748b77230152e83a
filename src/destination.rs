//! A destination: where the outbox's events go (a CRM's webhook, a sales group's chat
//! robot), as the marketer set it up. Parsing and checking the API's JSON lives here; the
//! checks that need the network (where the host resolves) are in `outbound`, and delivery
//! itself in `relay`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::campaign::{optional_text, required_text};
use crate::delivery::{Kind, check_secret};
use crate::domain::{LeadId, Slug};
use crate::error::{Error, Result, reject_unknown_keys};
use crate::lead::format_timestamp;
use crate::store::outbox::EventType;

/// The fields a destination's JSON may carry.
pub const FIELDS: &[&str] = &[
    "name",
    "kind",
    "url",
    "secret",
    "events",
    "campaigns",
    "enabled",
];

const MAX_NAME_CHARS: usize = 100;
const MAX_URL_CHARS: usize = 2048;
/// A filter longer than this is a mistake, and every event is checked against it.
const MAX_CAMPAIGNS: usize = 1000;

/// Event types a destination can ask for, in the contract's order. A `report.roi` goes to
/// its schedule's destination whatever that destination asks for; it is listed so that a
/// filter may name it.
pub const EVENT_TYPES: [EventType; 6] = [
    EventType::LeadCreated,
    EventType::LeadUpdated,
    EventType::ConversionRecorded,
    EventType::ContactErased,
    EventType::LeadOverdue,
    EventType::ReportRoi,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub id: LeadId,
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub secret: Option<String>,
    /// The event types it wants; never empty.
    pub events: Vec<EventType>,
    /// Campaigns whose events it wants; empty = every campaign, also those made later.
    pub campaigns: Vec<Slug>,
    pub enabled: bool,
    #[serde(with = "crate::domain::compact_time")]
    pub created_at: jiff::Timestamp,
    #[serde(with = "crate::domain::compact_time")]
    pub updated_at: jiff::Timestamp,
}

/// How delivery to a destination is going. Kept apart from the destination itself: the
/// worker writes this, the marketer writes the other, and neither overwrites the other.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// It gave up (last retry failed, or the receiver answered 410) until told to retry.
    pub dead: bool,
    pub delivered: u64,
    /// Failed attempts, all told.
    pub failed: u64,
    pub last_error: Option<String>,
    #[serde(with = "crate::domain::precise_time::option")]
    pub last_delivered_at: Option<jiff::Timestamp>,
}

/// What the API shows about delivery beside the stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    Retrying,
    Dead,
    Disabled,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Retrying => "retrying",
            State::Dead => "dead",
            State::Disabled => "disabled",
        }
    }
}

/// A destination's delivery as it stands now: the stored record and the worker's view.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub record: DeliveryRecord,
    pub state: State,
    pub backlog: u64,
    pub next_attempt_at: Option<jiff::Timestamp>,
}

impl Destination {
    /// A new destination from a `POST` body; the URL's host is checked by the caller.
    /// `campaign_exists` answers whether a slug in the filter names a campaign.
    pub fn create(
        body: &Map<String, Value>,
        campaign_exists: impl Fn(&Slug) -> bool,
        now: jiff::Timestamp,
    ) -> Result<Destination> {
        reject_unknown_keys(body, FIELDS, "destination")?;
        for field in ["name", "kind", "url"] {
            if !body.contains_key(field) {
                return Err(Error::invalid(
                    field,
                    "required",
                    format!("{field} is required"),
                ));
            }
        }
        let mut destination = Destination {
            id: LeadId::generate(),
            name: String::new(),
            kind: Kind::Webhook,
            url: String::new(),
            secret: None,
            events: EVENT_TYPES.to_vec(),
            campaigns: Vec::new(),
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        destination.apply(body, campaign_exists, now)?;
        Ok(destination)
    }

    /// Applies a `PATCH` body: only the keys present change; `"secret": null` removes it.
    pub fn patch(
        &mut self,
        body: &Map<String, Value>,
        campaign_exists: impl Fn(&Slug) -> bool,
        now: jiff::Timestamp,
    ) -> Result<()> {
        reject_unknown_keys(body, FIELDS, "destination")?;
        self.apply(body, campaign_exists, now)
    }

    fn apply(
        &mut self,
        body: &Map<String, Value>,
        campaign_exists: impl Fn(&Slug) -> bool,
        now: jiff::Timestamp,
    ) -> Result<()> {
        if let Some(value) = body.get("name") {
            self.name = required_text(value, "name", MAX_NAME_CHARS)?;
        }
        if let Some(value) = body.get("kind") {
            self.kind = value.as_str().and_then(Kind::parse).ok_or_else(|| {
                Error::invalid(
                    "kind",
                    "invalid_kind",
                    "kind must be one of webhook, wecom, dingtalk, feishu",
                )
            })?;
        }
        if let Some(value) = body.get("url") {
            self.url = parse_url(value)?;
        }
        if let Some(value) = body.get("secret") {
            self.secret = match value {
                Value::Null => None,
                Value::String(secret) => Some(secret.clone()),
                _ => {
                    return Err(Error::invalid(
                        "secret",
                        "invalid_secret",
                        "secret must be a string (or null for none)",
                    ));
                }
            };
        }
        if let Some(secret) = &self.secret {
            check_secret(self.kind, secret)
                .map_err(|why| Error::invalid("secret", "invalid_secret", why))?;
        }
        if let Some(value) = body.get("events") {
            self.events = parse_events(value)?;
        }
        if let Some(value) = body.get("campaigns") {
            self.campaigns = parse_campaigns(value, &campaign_exists)?;
        }
        if let Some(value) = body.get("enabled") {
            self.enabled = value.as_bool().ok_or_else(|| {
                Error::invalid("enabled", "invalid_value", "enabled must be true or false")
            })?;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Whether an event of `kind` about `campaign` (a lead's campaign, or the campaign of
    /// the latest lead of a conversion's contact) goes here. An erasure goes everywhere,
    /// whatever the filters: a receiver holding any of the person's data must blank it. An
    /// event for one `target` (a scheduled report) goes there and nowhere else, whatever
    /// the filters say: the schedule chose its destination.
    pub fn wants(&self, kind: EventType, campaign: Option<&str>, target: Option<LeadId>) -> bool {
        if let Some(target) = target {
            return target == self.id;
        }
        // An erasure goes to every destination whatever its filters: each may hold a copy
        // of the person's data, and must hear that it is to go.
        if kind == EventType::ContactErased {
            return true;
        }
        self.events.contains(&kind)
            && (self.campaigns.is_empty()
                || campaign.is_some_and(|c| self.campaigns.iter().any(|s| s.as_str() == c)))
    }

    /// The outbox consumer that keeps this destination's place.
    pub fn consumer(&self) -> String {
        consumer_name(self.id)
    }

    /// The API's view: never the secret, only whether one is set.
    pub fn to_json(&self, status: &Status) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind.as_str(),
            "url": self.url,
            "secret_set": self.secret.is_some(),
            "events": self.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "campaigns": self.campaigns,
            "enabled": self.enabled,
            "state": status.state.as_str(),
            "backlog": status.backlog,
            "delivered": status.record.delivered,
            "failed": status.record.failed,
            "last_error": status.record.last_error,
            "last_delivered_at": status.record.last_delivered_at.map(format_timestamp),
            "next_attempt_at": status.next_attempt_at.map(format_timestamp),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        })
    }
}

pub fn consumer_name(id: LeadId) -> String {
    format!("destination:{id}")
}

/// An absolute `http` or `https` address without credentials in it (a password in a URL
/// ends up in logs; robots carry their key as a query parameter instead).
fn parse_url(value: &Value) -> Result<String> {
    let invalid = |why: &str| Error::invalid("url", "invalid_url", why.to_owned());
    let text = optional_text(value, "url", MAX_URL_CHARS)
        .map_err(|e| e.with_field("url"))?
        .ok_or_else(|| invalid("url must not be empty"))?;
    let url = url::Url::parse(&text)
        .map_err(|e| invalid(&format!("url is not an absolute address: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("url must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "url must not carry a user name or password; use the secret",
        ));
    }
    Ok(url.to_string())
}

fn parse_events(value: &Value) -> Result<Vec<EventType>> {
    let invalid = |code, why: String| Error::invalid("events", code, why);
    let names = value.as_array().ok_or_else(|| {
        invalid(
            "invalid_value",
            "events must be a list of event types".into(),
        )
    })?;
    if names.is_empty() {
        return Err(invalid(
            "empty",
            "events must name at least one event type; leave it out for all".into(),
        ));
    }
    let mut events = Vec::new();
    for name in names {
        let kind = name
            .as_str()
            .and_then(|n| EVENT_TYPES.into_iter().find(|e| e.as_str() == n))
            .ok_or_else(|| {
                invalid(
                    "unknown_event_type",
                    format!(
                        "{name} is not an event type; the types are: {}",
                        EVENT_TYPES.map(EventType::as_str).join(", ")
                    ),
                )
            })?;
        if !events.contains(&kind) {
            events.push(kind);
        }
    }
    // In the contract's order, so the JSON reads the same however it was sent.
    events.sort_by_key(|e| EVENT_TYPES.iter().position(|t| t == e));
    Ok(events)
}

fn parse_campaigns(value: &Value, exists: &impl Fn(&Slug) -> bool) -> Result<Vec<Slug>> {
    let invalid = |code, why: String| Error::invalid("campaigns", code, why);
    let names = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(names) => names,
        _ => {
            return Err(invalid(
                "invalid_value",
                "campaigns must be a list of campaign slugs".into(),
            ));
        }
    };
    if names.len() > MAX_CAMPAIGNS {
        return Err(invalid(
            "too_many",
            format!("campaigns may list at most {MAX_CAMPAIGNS} slugs"),
        ));
    }
    let mut slugs: Vec<Slug> = Vec::new();
    for name in names {
        let slug = name
            .as_str()
            .and_then(|s| Slug::parse(s).ok())
            .filter(|slug| exists(slug))
            .ok_or_else(|| {
                invalid(
                    "unknown_campaign",
                    format!("{name} is not the slug of a campaign"),
                )
            })?;
        if !slugs.contains(&slug) {
            slugs.push(slug);
        }
    }
    Ok(slugs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> jiff::Timestamp {
        "2026-11-29T10:00:00Z".parse().unwrap()
    }

    fn create(body: Value) -> Result<Destination> {
        Destination::create(body.as_object().unwrap(), |s| s.as_str() == "expo", now())
    }

    fn error(body: Value) -> (String, &'static str) {
        let e = create(body).unwrap_err();
        (e.field.unwrap_or_default(), e.code)
    }

    #[test]
    fn defaults_are_every_event_and_every_campaign() {
        let d =
            create(json!({"name": "CRM", "kind": "webhook", "url": "https://crm.example.com/h"}))
                .unwrap();
        assert_eq!(d.events, EVENT_TYPES);
        assert!(d.campaigns.is_empty() && d.enabled && d.secret.is_none());
        assert!(d.wants(EventType::LeadCreated, Some("anything"), None));
        assert!(d.wants(EventType::ConversionRecorded, None, None));
    }

    #[test]
    fn filters_narrow_what_it_wants() {
        let d = create(json!({"name": "Sales", "kind": "wecom",
            "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            "events": ["lead.updated", "lead.created", "lead.created"], "campaigns": ["expo"]}))
        .unwrap();
        assert_eq!(d.events, [EventType::LeadCreated, EventType::LeadUpdated]);
        assert!(d.wants(EventType::LeadCreated, Some("expo"), None));
        assert!(!d.wants(EventType::LeadCreated, Some("other"), None));
        assert!(!d.wants(EventType::LeadCreated, None, None));
        assert!(!d.wants(EventType::ConversionRecorded, Some("expo"), None));
        let erasures = create(json!({"name": "CRM", "kind": "webhook",
            "url": "https://crm.example.com/h", "campaigns": ["expo"]}))
        .unwrap();
        assert!(erasures.wants(EventType::ContactErased, None, None));
        assert!(
            d.wants(EventType::ContactErased, None, None),
            "not in its events, still sent"
        );
    }

    #[test]
    fn a_targeted_event_goes_to_its_target_only_whatever_the_filters() {
        let only_new_leads = create(json!({"name": "Sales", "kind": "webhook",
            "url": "https://crm.example.com/h", "events": ["lead.created"], "campaigns": ["expo"]}))
        .unwrap();
        let other = create(json!({"name": "CRM", "kind": "webhook",
            "url": "https://crm.example.com/h"}))
        .unwrap();
        let to = Some(only_new_leads.id);
        assert!(only_new_leads.wants(EventType::ReportRoi, None, to));
        assert!(!other.wants(EventType::ReportRoi, None, to));
        assert!(!other.wants(EventType::LeadCreated, Some("expo"), to));
        // Untargeted, a report is a type like any other.
        assert!(other.wants(EventType::ReportRoi, None, None));
        assert!(!only_new_leads.wants(EventType::ReportRoi, None, None));
        let subscribed = create(
            json!({"name": "x", "kind": "webhook", "url": "https://a.example/",
            "events": ["report.roi", "lead.overdue"]}),
        )
        .unwrap();
        assert_eq!(
            subscribed.events,
            [EventType::LeadOverdue, EventType::ReportRoi]
        );
    }

    #[test]
    fn bad_input_names_its_field() {
        let base = json!({"name": "x", "kind": "webhook", "url": "https://a.example/"});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        assert_eq!(
            error(json!({"kind": "webhook", "url": "https://a.example/"})),
            ("name".into(), "required")
        );
        assert_eq!(
            error(with("kind", json!("slack"))),
            ("kind".into(), "invalid_kind")
        );
        assert_eq!(
            error(with("url", json!("ftp://a.example/"))),
            ("url".into(), "invalid_url")
        );
        assert_eq!(
            error(with("url", json!("/relative"))),
            ("url".into(), "invalid_url")
        );
        assert_eq!(
            error(with("url", json!("https://u:p@a.example/"))),
            ("url".into(), "invalid_url")
        );
        assert_eq!(error(with("url", json!(""))), ("url".into(), "invalid_url"));
        assert_eq!(error(with("events", json!([]))), ("events".into(), "empty"));
        assert_eq!(
            error(with("events", json!(["lead.deleted"]))),
            ("events".into(), "unknown_event_type")
        );
        assert_eq!(
            error(with("campaigns", json!(["nope"]))),
            ("campaigns".into(), "unknown_campaign")
        );
        assert_eq!(
            error(with("enabled", json!("yes"))),
            ("enabled".into(), "invalid_value")
        );
        assert_eq!(
            error(with("colour", json!("red"))),
            ("colour".into(), "unknown_field")
        );
        assert_eq!(
            error(with("secret", json!("whsec_!!"))),
            ("secret".into(), "invalid_secret")
        );
        assert_eq!(
            error(with("name", json!("a\u{202E}b"))),
            ("name".into(), "invalid_value")
        );
    }

    #[test]
    fn a_wecom_robot_takes_no_secret_and_a_patch_checks_the_whole() {
        let mut d = create(json!({"name": "DT", "kind": "dingtalk",
            "url": "https://oapi.dingtalk.com/robot/send?access_token=t", "secret": "SECabc"}))
        .unwrap();
        // Switching to WeCom with the DingTalk secret still set is refused.
        let e = d
            .patch(
                json!({"kind": "wecom"}).as_object().unwrap(),
                |_| true,
                now(),
            )
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("secret"));
        d.patch(
            json!({"kind": "wecom", "secret": null})
                .as_object()
                .unwrap(),
            |_| true,
            now(),
        )
        .unwrap();
        assert_eq!((d.kind, d.secret.clone()), (Kind::Wecom, None));
    }

    #[test]
    fn the_json_never_shows_the_secret() {
        let d = create(json!({"name": "CRM", "kind": "webhook",
            "url": "https://crm.example.com/h", "secret": "whsec_c2VjcmV0"}))
        .unwrap();
        let status = Status {
            record: DeliveryRecord::default(),
            state: State::Ok,
            backlog: 0,
            next_attempt_at: None,
        };
        let shown = d.to_json(&status);
        assert_eq!(shown["secret_set"], true);
        assert!(!shown.to_string().contains("c2VjcmV0"));
        assert_eq!(
            shown["events"],
            json!([
                "lead.created",
                "lead.updated",
                "conversion.recorded",
                "contact.erased",
                "lead.overdue",
                "report.roi"
            ])
        );
    }
}
