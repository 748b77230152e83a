//! Report periods and their rhythm: the day, ISO week or calendar month a scheduled
//! report covers, and the moment its report is due. Pure: the clock and the reporting zone
//! are parameters, so every boundary (a month's end, an ISO week across New Year) is
//! tested without waiting for it.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// How often a report is sent, and so how long a period it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Every {
    Daily,
    Weekly,
    Monthly,
}

impl Every {
    pub const ALL: [Every; 3] = [Every::Daily, Every::Weekly, Every::Monthly];

    pub fn parse(text: &str) -> Option<Every> {
        Every::ALL.into_iter().find(|e| e.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Every::Daily => "daily",
            Every::Weekly => "weekly",
            Every::Monthly => "monthly",
        }
    }
}

/// Weekday names as the API writes them, Monday first (ISO 8601 order).
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One day, ISO week (Monday to Sunday) or calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub every: Every,
    /// Its first day.
    #[serde(with = "date_number")]
    pub first: Date,
}

impl Period {
    /// The period of `every` that holds `date`.
    pub fn containing(every: Every, date: Date) -> Period {
        let first = match every {
            Every::Daily => date,
            Every::Weekly => {
                date.saturating_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
            }
            Every::Monthly => date.first_of_month(),
        };
        Period { every, first }
    }

    /// The period just before the one that holds `date`: what a report sent on `date`
    /// covers (yesterday, last week, last month).
    pub fn before(every: Every, date: Date) -> Period {
        let first = Period::containing(every, date).first;
        Period::containing(every, first.saturating_sub(1.day()))
    }

    pub fn previous(self) -> Period {
        Period::before(self.every, self.first)
    }

    pub fn next(self) -> Period {
        Period::containing(self.every, self.last().saturating_add(1.day()))
    }

    /// Its last day (inclusive, like the ROI summary's `to`).
    pub fn last(self) -> Date {
        match self.every {
            Every::Daily => self.first,
            Every::Weekly => self.first.saturating_add(6.days()),
            Every::Monthly => self.first.last_of_month(),
        }
    }

    /// `2026-11-28`, `2026-W48` (ISO week: its year is the week's, which at New Year may
    /// not be the calendar year of its first day) or `2026-11`.
    pub fn label(self) -> String {
        match self.every {
            Every::Daily => self.first.to_string(),
            Every::Weekly => {
                let week = self.first.iso_week_date();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
            Every::Monthly => format!("{:04}-{:02}", self.first.year(), self.first.month()),
        }
    }
}

/// When a schedule's reports are due: every day, week or month at `hour:minute` in the
/// reporting zone; a weekly one on its weekday, a monthly one on the 1st.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rhythm {
    pub every: Every,
    pub hour: u8,
    pub minute: u8,
    /// Monday = 0 … Sunday = 6; weekly rhythms only.
    pub weekday: Option<u8>,
}

impl Rhythm {
    /// `HH:MM`.
    pub fn at(&self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }

    pub fn weekday_name(&self) -> Option<&'static str> {
        self.weekday
            .and_then(|d| WEEKDAYS.get(usize::from(d)).copied())
    }

    /// The day `period`'s report is sent: the next day, the weekday of the next week, or
    /// the 1st of the next month.
    pub fn send_day(&self, period: Period) -> Date {
        let next = period.next().first;
        match (self.every, self.weekday) {
            (Every::Weekly, Some(day)) => next.saturating_add(i64::from(day.min(6)).days()),
            _ => next,
        }
    }

    /// The moment `period`'s report is due. A time that a daylight-saving change skips
    /// is taken as the moment after the gap, as clocks show it.
    pub fn send_at(&self, period: Period, tz: &TimeZone) -> Timestamp {
        let time = Time::new(self.hour as i8, self.minute as i8, 0, 0).unwrap_or(Time::MIN);
        self.send_day(period)
            .to_datetime(time)
            .to_zoned_datetime(tz.clone())
            .map_or(Timestamp::MAX, |z| z.timestamp())
    }

    /// The latest period whose report was due at or before `now`.
    pub fn latest_due(&self, now: Timestamp, tz: &TimeZone) -> Period {
        let today = now.to_zoned_datetime(tz.clone()).date();
        let candidate = Period::before(self.every, today);
        // Its report is due today (or later this week, for a weekly one); the one before
        // was due on an earlier day, so it is always past.
        if self.send_at(candidate, tz) <= now {
            candidate
        } else {
            candidate.previous()
        }
    }
}

/// A weekday name of the API (`mon` … `sun`) as Monday = 0 … Sunday = 6.
pub fn parse_weekday(text: &str) -> Option<u8> {
    WEEKDAYS
        .iter()
        .position(|d| *d == text)
        .and_then(|i| u8::try_from(i).ok())
}

/// Stored as `YYYYMMDD`: a compact integer in postcard, like the counters' days.
mod date_number {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(crate::domain::date_number(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let n = u32::deserialize(d)?;
        let year = i16::try_from(n / 10_000).map_err(serde::de::Error::custom)?;
        Date::new(year, (n / 100 % 100) as i8, (n % 100) as i8).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn shanghai() -> TimeZone {
        TimeZone::get("Asia/Shanghai").unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn rhythm(every: Every, hour: u8, weekday: Option<u8>) -> Rhythm {
        Rhythm {
            every,
            hour,
            minute: 0,
            weekday,
        }
    }

    #[test]
    fn a_day_is_reported_the_next_day() {
        let day = Period::before(Every::Daily, date(2026, 3, 1));
        assert_eq!(
            (day.first, day.last()),
            (date(2026, 2, 28), date(2026, 2, 28))
        );
        assert_eq!(day.label(), "2026-02-28");
        assert_eq!(day.next().first, date(2026, 3, 1));
        let new_year = Period::before(Every::Daily, date(2027, 1, 1));
        assert_eq!(new_year.label(), "2026-12-31");
    }

    #[test]
    fn weeks_are_iso_weeks_also_across_new_year() {
        // 2026-11-30 is a Monday: the week before is 23–29 November, W48.
        let week = Period::before(Every::Weekly, date(2026, 11, 30));
        assert_eq!(
            (week.first, week.last()),
            (date(2026, 11, 23), date(2026, 11, 29))
        );
        assert_eq!(week.label(), "2026-W48");
        // Any day of a week gives the same previous week.
        assert_eq!(Period::before(Every::Weekly, date(2026, 12, 6)), week);
        // 2021-01-01 (a Friday) is in 2020-W53, which began on 2020-12-28.
        let w53 = Period::containing(Every::Weekly, date(2021, 1, 1));
        assert_eq!(w53.first, date(2020, 12, 28));
        assert_eq!(w53.label(), "2020-W53");
        assert_eq!(Period::before(Every::Weekly, date(2021, 1, 4)), w53);
        // 2024-12-30 (a Monday) begins 2025-W01.
        let w01 = Period::before(Every::Weekly, date(2025, 1, 6));
        assert_eq!(w01.first, date(2024, 12, 30));
        assert_eq!(w01.label(), "2025-W01");
        assert_eq!(w01.last(), date(2025, 1, 5));
        assert_eq!(w01.previous().label(), "2024-W52");
    }

    #[test]
    fn months_are_calendar_months_of_any_length() {
        let march = Period::before(Every::Monthly, date(2026, 3, 31));
        assert_eq!(
            (march.first, march.last()),
            (date(2026, 2, 1), date(2026, 2, 28))
        );
        assert_eq!(march.label(), "2026-02");
        let leap = Period::before(Every::Monthly, date(2024, 3, 1));
        assert_eq!(leap.last(), date(2024, 2, 29));
        let december = Period::before(Every::Monthly, date(2027, 1, 15));
        assert_eq!(
            (december.first, december.last()),
            (date(2026, 12, 1), date(2026, 12, 31))
        );
        assert_eq!(december.label(), "2026-12");
        assert_eq!(december.next().label(), "2027-01");
        assert_eq!(december.previous().label(), "2026-11");
    }

    #[test]
    fn a_daily_report_is_due_at_its_time_in_the_reporting_zone() {
        let tz = shanghai();
        let daily = rhythm(Every::Daily, 9, None);
        // 09:00 in Shanghai is 01:00 UTC.
        let yesterday = Period::containing(Every::Daily, date(2026, 11, 28));
        let day_before = yesterday.previous();
        assert_eq!(daily.send_at(yesterday, &tz), at("2026-11-29T01:00:00Z"));
        assert_eq!(
            daily.latest_due(at("2026-11-29T00:59:59Z"), &tz),
            day_before
        );
        assert_eq!(daily.latest_due(at("2026-11-29T01:00:00Z"), &tz), yesterday);
        // Just after midnight in Shanghai (still the 28th in UTC).
        assert_eq!(
            daily.latest_due(at("2026-11-28T16:30:00Z"), &tz),
            day_before
        );
    }

    #[test]
    fn a_weekly_report_is_due_on_its_weekday_and_a_monthly_one_on_the_first() {
        let tz = TimeZone::UTC;
        // Wednesdays at 08:00: on Tuesday 2026-12-01 the latest due is the week before
        // last (sent Wednesday 25 Nov); from Wednesday 2 Dec 08:00 on, last week.
        let weekly = rhythm(Every::Weekly, 8, Some(2));
        let last_week = Period::before(Every::Weekly, date(2026, 12, 2));
        assert_eq!(weekly.send_day(last_week), date(2026, 12, 2));
        assert_eq!(
            weekly.latest_due(at("2026-12-01T12:00:00Z"), &tz),
            last_week.previous()
        );
        assert_eq!(
            weekly.latest_due(at("2026-12-02T07:59:59Z"), &tz),
            last_week.previous()
        );
        assert_eq!(
            weekly.latest_due(at("2026-12-02T08:00:00Z"), &tz),
            last_week
        );
        assert_eq!(
            weekly.latest_due(at("2026-12-06T23:00:00Z"), &tz),
            last_week
        );

        let monthly = rhythm(Every::Monthly, 7, None);
        let november = Period::before(Every::Monthly, date(2026, 12, 1));
        assert_eq!(monthly.send_at(november, &tz), at("2026-12-01T07:00:00Z"));
        assert_eq!(
            monthly.latest_due(at("2026-12-01T06:00:00Z"), &tz).label(),
            "2026-10"
        );
        assert_eq!(
            monthly.latest_due(at("2026-12-31T23:00:00Z"), &tz).label(),
            "2026-11"
        );
    }

    #[test]
    fn periods_survive_storage() {
        let period = Period::before(Every::Weekly, date(2026, 11, 30));
        let bytes = postcard::to_allocvec(&period).unwrap();
        assert_eq!(postcard::from_bytes::<Period>(&bytes).unwrap(), period);
        assert_eq!(parse_weekday("sun"), Some(6));
        assert_eq!(parse_weekday("Sun"), None);
    }
}
