//! A report schedule (API.md, "Sales follow-through", scheduled reports): which
//! destination gets the ROI summary of which period, how often, at what time, under which
//! model and grouping, and which period it last sent. Parsing and checking the API's JSON
//! and deciding what is due live here, the calendar arithmetic in [`period`]; storing is
//! `store::schedules`', sending `service::schedules`'.

pub mod period;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::attribution::{DEFAULT_HALF_LIFE_DAYS, Model};
use crate::domain::LeadId;
use crate::error::{Error, Result};
use crate::lead::format_timestamp;
use crate::roi::GroupBy;

pub use period::{Every, Period, Rhythm};

/// The fields a schedule's JSON may carry.
pub const FIELDS: &[&str] = &["destination", "every", "at", "weekday", "model", "group_by"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: LeadId,
    /// The destination its reports go to (whatever that destination's filters say).
    pub destination: LeadId,
    pub rhythm: Rhythm,
    /// As `/api/roi` takes it: checked when saved and parsed again when sent, so the
    /// report is the one `GET /api/roi?model=…` shows.
    pub model: String,
    pub group_by: String,
    /// The latest period the schedule itself has sent; a manual `run` does not move it.
    pub last_sent: Option<Period>,
    #[serde(with = "crate::domain::precise_time::option")]
    pub last_sent_at: Option<Timestamp>,
    /// Reports due before this were never the schedule's to send.
    #[serde(with = "crate::domain::compact_time")]
    pub created_at: Timestamp,
}

impl Schedule {
    /// A new schedule from a `POST` body. `destination_exists` answers whether an id
    /// names a destination (the store checks again when it writes).
    pub fn create(
        body: &Map<String, Value>,
        destination_exists: impl Fn(LeadId) -> bool,
        now: Timestamp,
    ) -> Result<Schedule> {
        if let Some(key) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::invalid(
                key.clone(),
                "unknown_field",
                format!(
                    "{key:?} is not a field of a report schedule; the fields are: {}",
                    FIELDS.join(", ")
                ),
            ));
        }
        for field in ["destination", "every", "at"] {
            if body.get(field).is_none_or(Value::is_null) {
                return Err(Error::invalid(
                    field,
                    "required",
                    format!("{field} is required"),
                ));
            }
        }
        let destination = body["destination"]
            .as_str()
            .and_then(LeadId::parse)
            .filter(|id| destination_exists(*id))
            .ok_or_else(|| unknown_destination(&body["destination"]))?;
        let every = body["every"]
            .as_str()
            .and_then(Every::parse)
            .ok_or_else(|| {
                Error::invalid(
                    "every",
                    "invalid_value",
                    "every must be one of daily, weekly, monthly",
                )
            })?;
        let (hour, minute) = parse_time(&body["at"])?;
        let weekday = parse_weekday(every, body.get("weekday"))?;
        let model = match body.get("model").filter(|v| !v.is_null()) {
            None => "last_touch".to_owned(),
            Some(value) => {
                let name = value.as_str().unwrap_or_default();
                Model::parse(name, DEFAULT_HALF_LIFE_DAYS)?;
                name.to_owned()
            }
        };
        let group_by = match body.get("group_by").filter(|v| !v.is_null()) {
            None => "campaign".to_owned(),
            Some(value) => {
                let name = value.as_str().unwrap_or_default();
                GroupBy::parse(name)?;
                name.to_owned()
            }
        };
        Ok(Schedule {
            id: LeadId::generate(),
            destination,
            rhythm: Rhythm {
                every,
                hour,
                minute,
                weekday,
            },
            model,
            group_by,
            last_sent: None,
            last_sent_at: None,
            created_at: now,
        })
    }

    /// The period whose report the schedule should send at `now`, if any: the latest one
    /// that has come due since the schedule was made, unless it was sent. Reports missed
    /// while the server was down come to this one too: only the latest is sent, once.
    pub fn due(&self, now: Timestamp, tz: &TimeZone) -> Option<Period> {
        let latest = self.rhythm.latest_due(now, tz);
        let ours = self.rhythm.send_at(latest, tz) >= self.created_at;
        let unsent = self.last_sent.is_none_or(|sent| sent.first < latest.first);
        (ours && unsent).then_some(latest)
    }

    /// When the next report goes out: a due one at the scheduler's next look, else the
    /// next period's time.
    pub fn next_run_at(&self, now: Timestamp, tz: &TimeZone) -> Timestamp {
        match self.due(now, tz) {
            Some(period) => self.rhythm.send_at(period, tz),
            None => {
                let next = self.rhythm.latest_due(now, tz).next();
                self.rhythm.send_at(next, tz)
            }
        }
    }

    /// What a `run` at `now` sends: the day, ISO week or month before today, whatever
    /// the time of day.
    pub fn period_now(&self, now: Timestamp, tz: &TimeZone) -> Period {
        Period::before(self.rhythm.every, now.to_zoned_datetime(tz.clone()).date())
    }

    pub fn to_json(&self, now: Timestamp, tz: &TimeZone) -> Value {
        json!({
            "id": self.id,
            "destination": self.destination,
            "every": self.rhythm.every.as_str(),
            "at": self.rhythm.at(),
            "weekday": self.rhythm.weekday_name(),
            "model": self.model,
            "group_by": self.group_by,
            "last_run_for": self.last_sent.map(Period::label),
            "last_run_at": self.last_sent_at.map(format_timestamp),
            "next_run_at": format_timestamp(self.next_run_at(now, tz)),
            "created_at": format_timestamp(self.created_at),
        })
    }
}

pub fn unknown_destination(given: &Value) -> Error {
    Error::invalid(
        "destination",
        "unknown_destination",
        format!("{given} is not the id of a destination"),
    )
}

/// `HH:MM`, 00:00 to 23:59: the time in the reporting zone.
fn parse_time(value: &Value) -> Result<(u8, u8)> {
    let invalid = || {
        Error::invalid(
            "at",
            "invalid_time",
            "at must be a time of day like 09:00 (HH:MM, 00:00 to 23:59)",
        )
    };
    let text = value.as_str().ok_or_else(invalid)?;
    let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
    let two_digits = |part: &str| -> Option<u8> {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    match (two_digits(hour), two_digits(minute)) {
        (Some(hour), Some(minute)) if hour < 24 && minute < 60 => Ok((hour, minute)),
        _ => Err(invalid()),
    }
}

/// A weekly schedule needs its weekday; another must not have one (it would be ignored,
/// and whoever sent it expected it to mean something).
fn parse_weekday(every: Every, value: Option<&Value>) -> Result<Option<u8>> {
    let given = value.filter(|v| !v.is_null());
    match (every, given) {
        (Every::Weekly, None) => Err(Error::invalid(
            "weekday",
            "required",
            "a weekly schedule needs weekday: one of mon, tue, wed, thu, fri, sat, sun",
        )),
        (Every::Weekly, Some(value)) => value
            .as_str()
            .and_then(period::parse_weekday)
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(
                    "weekday",
                    "invalid_weekday",
                    "weekday must be one of mon, tue, wed, thu, fri, sat, sun",
                )
            }),
        (_, Some(_)) => Err(Error::invalid(
            "weekday",
            "weekly_only",
            format!(
                "weekday is for weekly schedules; a {} one is sent every {}",
                every.as_str(),
                if every == Every::Daily {
                    "day"
                } else {
                    "1st of the month"
                }
            ),
        )),
        (_, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEST: &str = "01JC0000000000000000000001";

    fn create_at(body: Value, now: &str) -> Result<Schedule> {
        Schedule::create(
            body.as_object().unwrap(),
            |id| id.to_string() == DEST,
            now.parse().unwrap(),
        )
    }

    fn create(body: Value) -> Result<Schedule> {
        create_at(body, "2026-11-20T00:00:00Z")
    }

    fn error(body: Value) -> (String, &'static str) {
        let e = create(body).unwrap_err();
        (e.field.unwrap_or_default(), e.code)
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    #[test]
    fn defaults_are_last_touch_by_campaign() {
        let s = create(json!({"destination": DEST, "every": "daily", "at": "09:00"})).unwrap();
        assert_eq!(
            (s.model.as_str(), s.group_by.as_str()),
            ("last_touch", "campaign")
        );
        assert_eq!(s.rhythm.at(), "09:00");
        assert_eq!(s.rhythm.weekday, None);
        let shown = s.to_json(ts("2026-11-20T00:00:00Z"), &shanghai());
        assert_eq!(shown["last_run_for"], Value::Null);
        assert_eq!(shown["weekday"], Value::Null);
        // Made at 08:00 in Shanghai: the first report goes at 09:00 that day.
        assert_eq!(shown["next_run_at"], "2026-11-20T01:00:00.000Z");
        let weekly = create(
            json!({"destination": DEST, "every": "weekly", "at": "18:30",
            "weekday": "fri", "model": "linear", "group_by": "channel"}),
        )
        .unwrap();
        assert_eq!(weekly.rhythm.weekday_name(), Some("fri"));
        assert_eq!(
            weekly.to_json(ts("2026-11-20T00:00:00Z"), &shanghai())["at"],
            "18:30"
        );
    }

    #[test]
    fn bad_input_names_its_field() {
        let base = json!({"destination": DEST, "every": "daily", "at": "09:00"});
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        assert_eq!(
            error(with("destination", json!("01JC0000000000000000000002"))),
            ("destination".into(), "unknown_destination")
        );
        assert_eq!(
            error(with("destination", json!(7))),
            ("destination".into(), "unknown_destination")
        );
        assert_eq!(
            error(json!({"every": "daily", "at": "09:00"})),
            ("destination".into(), "required")
        );
        assert_eq!(
            error(with("every", json!("hourly"))),
            ("every".into(), "invalid_value")
        );
        for bad in [
            "9:00", "24:00", "09:60", "0900", "09:00:00", "+9:00", "09:0٠",
        ] {
            assert_eq!(
                error(with("at", json!(bad))),
                ("at".into(), "invalid_time"),
                "{bad}"
            );
        }
        assert_eq!(error(with("at", json!(900))), ("at".into(), "invalid_time"));
        assert_eq!(
            error(with("every", json!("weekly"))),
            ("weekday".into(), "required")
        );
        let weekly = with("every", json!("weekly"));
        let mut sunday_typo = weekly.clone();
        sunday_typo["weekday"] = json!("sunday");
        assert_eq!(error(sunday_typo), ("weekday".into(), "invalid_weekday"));
        assert_eq!(
            error(with("weekday", json!("mon"))),
            ("weekday".into(), "weekly_only")
        );
        assert_eq!(
            error(with("model", json!("newest"))),
            ("model".into(), "invalid_model")
        );
        assert_eq!(
            error(with("model", json!(1))),
            ("model".into(), "invalid_model")
        );
        assert_eq!(
            error(with("group_by", json!("city"))),
            ("group_by".into(), "invalid_value")
        );
        assert_eq!(
            error(with("colour", json!("red"))),
            ("colour".into(), "unknown_field")
        );
        // null is "not given": the default, or no weekday.
        assert!(create(with("weekday", Value::Null)).is_ok());
        assert_eq!(
            create(with("model", Value::Null)).unwrap().model,
            "last_touch"
        );
    }

    #[test]
    fn due_once_at_its_time_and_only_for_periods_after_its_creation() {
        let tz = shanghai();
        // Made on 2026-11-28 at 10:00 Shanghai: that day's 09:00 report was not its own.
        let mut s = create_at(
            json!({"destination": DEST, "every": "daily", "at": "09:00"}),
            "2026-11-28T02:00:00Z",
        )
        .unwrap();
        assert_eq!(s.due(ts("2026-11-28T02:00:00Z"), &tz), None);
        assert_eq!(s.due(ts("2026-11-29T00:59:59Z"), &tz), None);
        let due = s.due(ts("2026-11-29T01:00:00Z"), &tz).unwrap();
        assert_eq!(due.label(), "2026-11-28");
        s.last_sent = Some(due);
        assert_eq!(s.due(ts("2026-11-29T05:00:00Z"), &tz), None);
        assert_eq!(
            s.next_run_at(ts("2026-11-29T05:00:00Z"), &tz),
            ts("2026-11-30T01:00:00Z")
        );
        // Down from the 29th to 3 December 12:00: only the latest day is due, once.
        let back = ts("2026-12-03T04:00:00Z");
        let missed = s.due(back, &tz).unwrap();
        assert_eq!(missed.label(), "2026-12-02");
        assert_eq!(s.next_run_at(back, &tz), ts("2026-12-03T01:00:00Z"));
        s.last_sent = Some(missed);
        assert_eq!(s.due(back, &tz), None);
    }

    #[test]
    fn run_sends_the_period_before_today_whatever_the_hour() {
        let tz = shanghai();
        let s = create(json!({"destination": DEST, "every": "monthly", "at": "23:00"})).unwrap();
        // 2026-12-01 00:30 in Shanghai is still 30 November in UTC.
        assert_eq!(
            s.period_now(ts("2026-11-30T16:30:00Z"), &tz).label(),
            "2026-11"
        );
        assert_eq!(
            s.period_now(ts("2026-11-30T15:30:00Z"), &tz).label(),
            "2026-10"
        );
    }

    #[test]
    fn schedules_survive_storage() {
        let mut s = create(
            json!({"destination": DEST, "every": "weekly", "at": "07:05",
            "weekday": "sun"}),
        )
        .unwrap();
        s.last_sent = Some(s.period_now(ts("2026-11-30T00:00:00Z"), &shanghai()));
        s.last_sent_at = Some(ts("2026-11-30T00:00:00.123456Z"));
        let bytes = postcard::to_allocvec(&s).unwrap();
        assert_eq!(postcard::from_bytes::<Schedule>(&bytes).unwrap(), s);
    }
}
