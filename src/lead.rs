//! A stored lead, and the two ways marketers see leads: JSON and a spreadsheet-safe CSV.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::{
    CLICK_ID_KEYS, Email, LeadId, LeadStatus, Phone, Reach, Slug, Source, UTM_KEYS,
};
use crate::error::{Error, Result};
use crate::submission::Tracking;

/// What a person told us, from whichever channel: a form post, a call, an imported row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub name: Option<String>,
    pub reach: Reach,
    pub company: Option<String>,
    /// The form's other fields (title, message, consent …), or a call's facts.
    pub fields: BTreeMap<String, String>,
    pub tracking: Tracking,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub id: LeadId,
    pub campaign: Slug,
    #[serde(with = "crate::domain::compact_time")]
    pub received_at: jiff::Timestamp,
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub company: Option<String>,
    /// The form's other fields (title, message, consent …).
    pub fields: BTreeMap<String, String>,
    pub utm: BTreeMap<String, String>,
    pub click_ids: BTreeMap<String, String>,
    #[serde(rename = "ref")]
    pub referral: Option<String>,
    pub source: Source,
    pub status: LeadStatus,
    /// The contact this lead belongs to: E.164 phone, else lower-cased e-mail.
    pub contact: String,
    /// The salesperson it is assigned to. Last, so that a record written before leads had
    /// it decodes as [`LeadV5`] (postcard stops one field short) and reads as unassigned.
    pub assigned_to: Option<LeadId>,
}

/// A lead as stored before assignment existed (schema 5): the same fields but the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadV5 {
    pub id: LeadId,
    pub campaign: Slug,
    #[serde(with = "crate::domain::compact_time")]
    pub received_at: jiff::Timestamp,
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub company: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub utm: BTreeMap<String, String>,
    pub click_ids: BTreeMap<String, String>,
    #[serde(rename = "ref")]
    pub referral: Option<String>,
    pub source: Source,
    pub status: LeadStatus,
    pub contact: String,
}

impl From<LeadV5> for Lead {
    fn from(old: LeadV5) -> Lead {
        Lead {
            id: old.id,
            campaign: old.campaign,
            received_at: old.received_at,
            name: old.name,
            phone: old.phone,
            email: old.email,
            company: old.company,
            fields: old.fields,
            utm: old.utm,
            click_ids: old.click_ids,
            referral: old.referral,
            source: old.source,
            status: old.status,
            contact: old.contact,
            assigned_to: None,
        }
    }
}

/// How a lead's views name the salesperson it is assigned to (the roster may have renamed
/// them since).
pub type NameOf<'a> = &'a dyn Fn(LeadId) -> Option<String>;

/// A lead to record: for which campaign, what the person said, and how it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub campaign: Slug,
    pub details: Details,
    pub channel: Channel,
}

/// Where a lead came from: decides its source, its time and what makes a repeat of it
/// the same lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A landing-form post, now. `token` is the idempotency token of the form page (or of
    /// a widget); `json` when the client speaks JSON (posted JSON or asked for a JSON
    /// answer): such a post without a token is an `api` lead.
    Form { token: Option<String>, json: bool },
    /// A call to a tracking number; its `call_id` makes a repeated webhook the same lead.
    Call {
        call_id: String,
        started_at: jiff::Timestamp,
    },
    /// A row of an imported file; `external_id` makes a re-import a no-op.
    Import {
        received_at: jiff::Timestamp,
        external_id: Option<String>,
        status: LeadStatus,
    },
}

impl Channel {
    fn source(&self, tracking: &Tracking) -> Source {
        match self {
            Channel::Form { .. } if tracking.is_qr_scan() => Source::Qr,
            Channel::Form {
                token: None,
                json: true,
            } => Source::Api,
            Channel::Form { .. } => Source::Form,
            Channel::Call { .. } => Source::Phone,
            Channel::Import { .. } => Source::Import,
        }
    }

    /// The key under which the store remembers this lead, so a replay returns it.
    pub fn idempotency_key(&self, campaign: &Slug) -> Option<String> {
        match self {
            Channel::Form { token, .. } => token.as_ref().map(|t| format!("form:{campaign}:{t}")),
            Channel::Call { call_id, .. } => Some(format!("call:{call_id}")),
            Channel::Import { external_id, .. } => {
                external_id.as_ref().map(|id| format!("import:{id}"))
            }
        }
    }

    /// A new id at the lead's time: now for a post, the call's start, the row's time.
    fn lead_id(&self) -> Result<LeadId> {
        let (at, field) = match self {
            Channel::Form { .. } => return Ok(LeadId::generate()),
            Channel::Call { started_at, .. } => (started_at, "started_at"),
            Channel::Import { received_at, .. } => (received_at, "received_at"),
        };
        Ok(LeadId::at(lead_time(*at, field)?))
    }
}

/// A lead's time in Unix milliseconds: ids cannot hold a time before 1970.
pub fn lead_time(at: jiff::Timestamp, field: &str) -> Result<u64> {
    u64::try_from(at.as_millisecond())
        .map_err(|_| Error::invalid(field, "invalid_time", format!("{field} must be after 1970")))
}

impl Lead {
    /// The one way a lead is made, whatever the channel. It is received at its id's
    /// millisecond, so the id alone orders leads in time.
    pub fn new(campaign: Slug, details: Details, channel: &Channel) -> Result<Lead> {
        let id = channel.lead_id()?;
        let source = channel.source(&details.tracking);
        let status = match channel {
            Channel::Import { status, .. } => *status,
            _ => LeadStatus::New,
        };
        let Details {
            name,
            reach,
            company,
            fields,
            tracking,
        } = details;
        let contact = reach.contact_key();
        let (phone, email) = reach.into_parts();
        Ok(Lead {
            id,
            campaign,
            received_at: id.received_at(),
            name,
            phone,
            email,
            company,
            fields,
            utm: tracking.utm,
            click_ids: tracking.click_ids,
            referral: tracking.referral,
            source,
            status,
            contact,
            assigned_to: None,
        })
    }

    pub fn to_json(&self, name_of: NameOf<'_>) -> Value {
        json!({
            "id": self.id,
            "campaign": self.campaign,
            "received_at": format_timestamp(self.received_at),
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "company": self.company,
            "fields": self.fields,
            "utm": self.utm,
            "click_ids": self.click_ids,
            "ref": self.referral,
            "source": self.source,
            "status": self.status,
            "assigned_to": self.assigned_to,
            "assigned_to_name": self.assigned_to.and_then(name_of),
        })
    }
}

/// RFC 3339 in UTC with millisecond precision, the way every timestamp leaves the API.
pub fn format_timestamp(ts: jiff::Timestamp) -> String {
    format!("{ts:.3}")
}

/// Writes leads as CSV that Excel opens correctly (UTF-8 BOM, CRLF) and cannot be
/// tricked by: a cell that starts like a formula is prefixed with `'`.
pub fn leads_csv(leads: &[Lead], name_of: NameOf<'_>) -> Vec<u8> {
    let extra_fields: BTreeSet<&str> = leads
        .iter()
        .flat_map(|l| l.fields.keys().map(String::as_str))
        .collect();
    let mut header: Vec<&str> = vec![
        "id",
        "campaign",
        "received_at",
        "status",
        "source",
        "name",
        "phone",
        "email",
        "company",
        "assigned_to",
        "assigned_to_name",
    ];
    header.extend(extra_fields.iter().copied());
    header.extend(UTM_KEYS);
    header.extend(CLICK_ID_KEYS);
    header.push("ref");

    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut out);
    writer
        .write_record(&header)
        .expect("writing to a Vec cannot fail");
    for lead in leads {
        let opt = |v: Option<&str>| v.unwrap_or("").to_owned();
        let mut row: Vec<String> = vec![
            lead.id.to_string(),
            lead.campaign.to_string(),
            format_timestamp(lead.received_at),
            lead.status.to_string(),
            lead.source.to_string(),
            opt(lead.name.as_deref()),
            opt(lead.phone.as_ref().map(Phone::as_str)),
            opt(lead.email.as_ref().map(Email::as_str)),
            opt(lead.company.as_deref()),
            lead.assigned_to
                .map(|id| id.to_string())
                .unwrap_or_default(),
            opt(lead.assigned_to.and_then(name_of).as_deref()),
        ];
        row.extend(
            extra_fields
                .iter()
                .map(|k| opt(lead.fields.get(*k).map(String::as_str))),
        );
        row.extend(
            UTM_KEYS
                .iter()
                .map(|k| opt(lead.utm.get(*k).map(String::as_str))),
        );
        row.extend(
            CLICK_ID_KEYS
                .iter()
                .map(|k| opt(lead.click_ids.get(*k).map(String::as_str))),
        );
        row.push(opt(lead.referral.as_deref()));
        writer
            .write_record(row.iter().map(|cell| neutralise_formula(cell).into_owned()))
            .expect("writing to a Vec cannot fail");
    }
    writer.flush().expect("writing to a Vec cannot fail");
    drop(writer);
    out
}

/// Spreadsheets run a cell that starts with `= + - @` (or a tab/CR before one) as a
/// formula; a leading apostrophe makes it text and is not shown.
pub fn neutralise_formula(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(name: &str) -> Lead {
        Lead {
            id: LeadId::generate(),
            campaign: Slug::parse("expo").unwrap(),
            received_at: jiff::Timestamp::from_millisecond(1_740_794_400_123).unwrap(),
            name: Some(name.into()),
            phone: Some(Phone::parse("13800138000").unwrap()),
            email: None,
            company: None,
            fields: BTreeMap::from([("title".into(), "CTO".into())]),
            utm: BTreeMap::from([("utm_source".into(), "baidu".into())]),
            click_ids: BTreeMap::new(),
            referral: None,
            source: Source::Form,
            status: LeadStatus::New,
            contact: "+8613800138000".into(),
            assigned_to: None,
        }
    }

    #[test]
    fn csv_has_a_bom_crlf_and_no_live_formulas() {
        let csv = leads_csv(&[lead("=1+1"), lead("张三")], &|_| None);
        assert!(csv.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        assert!(text.contains("\r\n"));
        assert!(text.contains(",'=1+1,"));
        assert!(text.contains(",'+8613800138000,"));
        assert!(text.contains(",张三,"));
        let header = text.lines().next().unwrap();
        assert!(header.starts_with(
            "id,campaign,received_at,status,source,name,phone,email,company,assigned_to,assigned_to_name,title,utm_source"
        ));
    }

    #[test]
    fn timestamps_leave_in_utc_with_milliseconds() {
        assert_eq!(
            format_timestamp(lead("x").received_at),
            "2025-03-01T02:00:00.123Z"
        );
    }

    #[test]
    fn records_round_trip_through_their_stored_form() {
        let original = lead("x");
        let bytes = postcard::to_allocvec(&original).unwrap();
        assert_eq!(postcard::from_bytes::<Lead>(&bytes).unwrap(), original);
        assert!(bytes.len() < 120, "{} bytes", bytes.len());
        // A record written before leads had an assignee reads as unassigned.
        let old = LeadV5 {
            id: original.id,
            campaign: original.campaign.clone(),
            received_at: original.received_at,
            name: original.name.clone(),
            phone: original.phone.clone(),
            email: None,
            company: None,
            fields: original.fields.clone(),
            utm: original.utm.clone(),
            click_ids: BTreeMap::new(),
            referral: None,
            source: Source::Form,
            status: LeadStatus::New,
            contact: original.contact.clone(),
        };
        let old_bytes = postcard::to_allocvec(&old).unwrap();
        assert!(postcard::from_bytes::<Lead>(&old_bytes).is_err());
        assert_eq!(
            Lead::from(postcard::from_bytes::<LeadV5>(&old_bytes).unwrap()),
            original
        );
        let assigned = Lead {
            assigned_to: Some(LeadId::generate()),
            ..original.clone()
        };
        let bytes = postcard::to_allocvec(&assigned).unwrap();
        assert_eq!(postcard::from_bytes::<Lead>(&bytes).unwrap(), assigned);
        let text = serde_json::to_vec(&original).unwrap();
        assert_eq!(serde_json::from_slice::<Lead>(&text).unwrap(), original);
    }
}
