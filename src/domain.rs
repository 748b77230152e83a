//! Newtypes that are valid by construction. Every way in (form field, JSON, CSV, TOML,
//! the command line) goes through the one constructor of each type, so a `Phone` anywhere
//! in the program is E.164 and a `Slug` always matches the documented pattern.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

mod mobile;

/// Campaign slug: `[a-z0-9][a-z0-9-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Slug> {
        let valid = !text.is_empty()
            && text.len() <= 64
            && text
                .bytes()
                .enumerate()
                .all(|(i, b)| b.is_ascii_lowercase() || b.is_ascii_digit() || (b == b'-' && i > 0));
        if valid {
            Ok(Slug(text.to_owned()))
        } else {
            Err(Error::invalid(
                "slug",
                "invalid_slug",
                "a slug is 1 to 64 characters of a-z, 0-9 and '-', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = Error;
    fn try_from(text: String) -> Result<Slug> {
        Slug::parse(&text)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> String {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+8613800138000`).
/// Deserialising does not re-check: only the store reads phones back, and it wrote only
/// parsed ones (every input goes through `parse`). Listing 1,000 leads must not mean
/// 1,000 calls into the phone-number library. There is no `From<String>`: outside serde,
/// `parse` is the only way in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Accepts what people type: spaces, dashes, dots, brackets, and `+86` / `0086`
    /// prefixes. Numbers without a country prefix are read as mainland China numbers.
    pub fn parse(text: &str) -> Result<Phone> {
        let bad = || {
            Error::invalid(
                "phone",
                "invalid_phone",
                "not a valid phone number (e.g. 13800138000 or +86 21 6123 4567)",
            )
        };
        let text = text.trim();
        // phonenumber accepts letters (vanity numbers) and extensions; a lead form must not.
        let plausible = (6..=32).contains(&text.len())
            && text.chars().enumerate().all(|(i, c)| {
                c.is_ascii_digit()
                    || matches!(c, ' ' | '-' | '.' | '(' | ')')
                    || (c == '+' && i == 0)
            });
        if !plausible {
            return Err(bad());
        }
        // phonenumber 0.3 misreads some punctuation after the country code ("+861-50…"),
        // so it gets only the digits and the leading '+'.
        let compact: String = text
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        match mobile::e164(&compact) {
            Some(e164) => Ok(Phone(e164)),
            None => via_phonenumber(&compact).map(Phone).ok_or_else(bad),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The general path: any country, read as mainland China when it has no prefix.
fn via_phonenumber(compact: &str) -> Option<String> {
    let number = phonenumber::parse(Some(phonenumber::country::Id::CN), compact).ok()?;
    phonenumber::is_valid(&number)
        .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
}

/// An e-mail address, trimmed, with the domain lower-cased (the local part is the
/// mailbox owner's business and is kept as typed).
/// Deserialised without re-checking, like `Phone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email> {
        let bad = || {
            Error::invalid(
                "email",
                "invalid_email",
                "not a valid e-mail address (e.g. name@example.com)",
            )
        };
        let text = text.trim();
        let (local, domain) = text.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        let domain_ok = domain.len() <= 253
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !(local_ok && domain_ok) {
            return Err(bad());
        }
        Ok(Email(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters stored text may not hold: control characters (line breaks are allowed where
/// the text may span lines; a tab is not a line break), and the bidirectional overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069), which make text display as something it is not.
pub fn is_forbidden_in_text(c: char, multi_line: bool) -> bool {
    let line_break = matches!(c, '\n' | '\r');
    (c.is_control() && !(multi_line && line_break))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// How a person can be reached. A lead needs at least one way, so "neither" cannot be
/// written down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Phone(Phone),
    Email(Email),
    Both(Phone, Email),
}

impl Reach {
    /// `None` when there is neither: the caller reports its own field error.
    pub fn new(phone: Option<Phone>, email: Option<Email>) -> Option<Reach> {
        match (phone, email) {
            (Some(phone), Some(email)) => Some(Reach::Both(phone, email)),
            (Some(phone), None) => Some(Reach::Phone(phone)),
            (None, Some(email)) => Some(Reach::Email(email)),
            (None, None) => None,
        }
    }

    pub fn phone(&self) -> Option<&Phone> {
        match self {
            Reach::Phone(phone) | Reach::Both(phone, _) => Some(phone),
            Reach::Email(_) => None,
        }
    }

    pub fn email(&self) -> Option<&Email> {
        match self {
            Reach::Email(email) | Reach::Both(_, email) => Some(email),
            Reach::Phone(_) => None,
        }
    }

    /// The key that ties a person's leads together: E.164 phone, else the lower-cased
    /// e-mail.
    pub fn contact_key(&self) -> String {
        match self {
            Reach::Phone(phone) | Reach::Both(phone, _) => phone.as_str().to_owned(),
            Reach::Email(email) => email.as_str().to_lowercase(),
        }
    }

    pub fn into_parts(self) -> (Option<Phone>, Option<Email>) {
        match self {
            Reach::Phone(phone) => (Some(phone), None),
            Reach::Email(email) => (None, Some(email)),
            Reach::Both(phone, email) => (Some(phone), Some(email)),
        }
    }
}

/// Lead ids are ULIDs: 26 characters, ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeadId(pub ulid::Ulid);

impl LeadId {
    pub fn generate() -> LeadId {
        LeadId(ulid::Ulid::generate())
    }

    /// An id for a lead received at `ms` (a back-dated import): ids keep ordering leads
    /// by when they were received.
    pub fn at(ms: u64) -> LeadId {
        let mut random = [0u8; 16];
        // Without OS randomness two leads of the same millisecond could collide; the
        // monotonic generator's bits are the fallback.
        if getrandom::fill(&mut random).is_err() {
            random = ulid::Ulid::generate().0.to_be_bytes();
        }
        LeadId(ulid::Ulid::from_parts(ms, u128::from_be_bytes(random)))
    }

    pub fn parse(text: &str) -> Option<LeadId> {
        ulid::Ulid::from_string(text).ok().map(LeadId)
    }

    pub fn to_u128(self) -> u128 {
        self.0.0
    }

    /// The all-zero id, which [`LeadId::generate`] never makes.
    pub const NIL: LeadId = LeadId(ulid::Ulid(0));

    pub fn from_u128(value: u128) -> LeadId {
        LeadId(ulid::Ulid(value))
    }

    /// The millisecond the id was made for.
    pub fn received_at(self) -> jiff::Timestamp {
        // A ULID's time is 48 bits of milliseconds: always a valid timestamp.
        jiff::Timestamp::from_millisecond(self.0.timestamp_ms() as i64)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// The smallest id of the given millisecond, for range scans by time.
    pub fn min_at(ms: u64) -> LeadId {
        LeadId(ulid::Ulid::from_parts(ms, 0))
    }

    /// The largest id of the given millisecond.
    pub fn max_at(ms: u64) -> LeadId {
        LeadId(ulid::Ulid::from_parts(ms, u128::MAX))
    }
}

impl fmt::Display for LeadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Text in JSON, 16 bytes in the store's binary records.
impl Serialize for LeadId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_u128(self.to_u128())
        }
    }
}

impl<'de> Deserialize<'de> for LeadId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<LeadId, D::Error> {
        if d.is_human_readable() {
            let text = String::deserialize(d)?;
            LeadId::parse(&text).ok_or_else(|| serde::de::Error::custom("not a ULID"))
        } else {
            u128::deserialize(d).map(LeadId::from_u128)
        }
    }
}

/// `#[serde(with = "compact_time")]`: RFC 3339 text in JSON, Unix milliseconds (8 bytes)
/// in the store's binary records. Lead times have millisecond precision (their ULIDs do).
pub mod compact_time {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(ts: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            ts.serialize(s)
        } else {
            s.serialize_i64(ts.as_millisecond())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
        if d.is_human_readable() {
            jiff::Timestamp::deserialize(d)
        } else {
            let ms = i64::deserialize(d)?;
            jiff::Timestamp::from_millisecond(ms).map_err(serde::de::Error::custom)
        }
    }
}

/// `#[serde(with = "precise_time")]`: RFC 3339 text in JSON, Unix nanoseconds (lossless,
/// unlike `compact_time`) in the store's binary records: conversion times come from CRMs
/// with any precision and are echoed back as sent.
pub mod precise_time {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(ts: &jiff::Timestamp, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            ts.serialize(s)
        } else {
            s.serialize_i128(ts.as_nanosecond())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<jiff::Timestamp, D::Error> {
        if d.is_human_readable() {
            jiff::Timestamp::deserialize(d)
        } else {
            let ns = i128::deserialize(d)?;
            jiff::Timestamp::from_nanosecond(ns).map_err(serde::de::Error::custom)
        }
    }

    /// The same for an optional time.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Serialize, Deserialize)]
        struct Precise(#[serde(with = "super")] jiff::Timestamp);

        pub fn serialize<S: Serializer>(
            ts: &Option<jiff::Timestamp>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            ts.map(Precise).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<jiff::Timestamp>, D::Error> {
            Ok(Option::<Precise>::deserialize(d)?.map(|p| p.0))
        }
    }
}

/// The calendar day of `ts` in the reporting zone as `YYYYMMDD`: the key of daily counters.
pub fn day_number(ts: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> u32 {
    let date = ts.to_zoned_datetime(tz.clone()).date();
    date_number(date)
}

pub fn date_number(date: jiff::civil::Date) -> u32 {
    // Years before 1 cannot be typed into any of our inputs; clamp instead of wrapping.
    let year = u32::try_from(date.year()).unwrap_or(0);
    year * 10_000
        + u32::from(date.month().unsigned_abs()) * 100
        + u32::from(date.day().unsigned_abs())
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<$name> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(Error::invalid(
                        $field,
                        "invalid_value",
                        format!(
                            "{} must be one of: {}",
                            $field,
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What sort of marketing activity a campaign is.
    CampaignKind, "kind" {
        TradeShow => "trade_show",
        OnlineAd => "online_ad",
        Livestream => "livestream",
        Content => "content",
        OfflineEvent => "offline_event",
        Email => "email",
        Social => "social",
        Referral => "referral",
        Other => "other",
    }
);

string_enum!(
    CampaignStatus, "status" {
        Planned => "planned",
        Running => "running",
        Ended => "ended",
        Reviewing => "reviewing",
    }
);

string_enum!(
    /// Where a lead marketing's funnel stands; set by marketers through the admin API.
    LeadStatus, "status" {
        New => "new",
        Mql => "mql",
        Sql => "sql",
        Disqualified => "disqualified",
    }
);

string_enum!(
    /// How a lead reached us.
    Source, "source" {
        Form => "form",
        Qr => "qr",
        Phone => "phone",
        Import => "import",
        Api => "api",
    }
);

/// An ISO 4217 currency, with the number of minor-unit digits money in it is stored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub const CNY: Currency = Currency(iso_currency::Currency::CNY);

    pub fn parse(code: &str) -> Result<Currency> {
        iso_currency::Currency::from_code(code)
            .filter(|c| c.exponent().is_some())
            .map(Currency)
            .ok_or_else(|| {
                Error::invalid(
                    "currency",
                    "invalid_currency",
                    format!("{code:?} is not an ISO 4217 currency code (e.g. CNY, USD, EUR)"),
                )
            })
    }

    pub fn code(self) -> &'static str {
        // iso_currency's Display is the code; keep an owned static str via the enum's name.
        self.0.code()
    }

    /// Digits after the decimal point in this currency (CNY 2, JPY 0, KWD 3).
    pub fn exponent(self) -> u32 {
        u32::from(self.0.exponent().unwrap_or(2))
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Currency, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// Largest amount accepted anywhere: 10^12 major units. Anything above is a typo, and the
/// bound keeps every sum of amounts far from i64 overflow.
pub const MAX_MAJOR_UNITS: i64 = 1_000_000_000_000;

/// Parses a non-negative decimal amount exactly into minor units of a currency with
/// `exponent` decimals: `"48500.50"` with exponent 2 is `4_850_050`. No floating point,
/// no exponents, no thousands separators.
pub fn parse_money(text: &str, exponent: u32) -> std::result::Result<i64, String> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err("must not be negative".into());
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || (text.ends_with('.')) {
        return Err(format!("{text:?} is not a decimal amount like 48500.50"));
    }
    if fraction.len() > exponent as usize {
        return Err(format!("has more than {exponent} decimal places"));
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 13 {
        return Err("is too large".into());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| "is too large")?
    };
    if whole > MAX_MAJOR_UNITS {
        return Err("is too large".into());
    }
    let scale = 10_i64.pow(exponent);
    let mut minor_fraction: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| "is not a number")?
    };
    minor_fraction *= 10_i64.pow(exponent - fraction.len() as u32);
    Ok(whole * scale + minor_fraction)
}

/// Reads an amount from JSON: a number or a decimal string.
pub fn money_from_json(value: &serde_json::Value, exponent: u32, field: &str) -> Result<i64> {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        // -0.0 is zero, not a negative amount (serde_json would print it "-0.0").
        serde_json::Value::Number(n) if n.as_f64() == Some(0.0) => "0".into(),
        // serde_json prints a float with the shortest text that reads back to it, so 0.1
        // is "0.1", never 0.1000000000000000055…
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(Error::invalid(
                field,
                "invalid_amount",
                format!("{field} must be a number or a decimal string"),
            ));
        }
    };
    parse_money(&text, exponent)
        .map_err(|why| Error::invalid(field, "invalid_amount", format!("{field} {why}")))
}

/// Formats minor units as a decimal string with exactly two decimals, rounding half away
/// from zero when the currency has more than two (and padding when it has fewer).
pub fn format_money(minor: i64, exponent: u32) -> String {
    let cents: i128 = match exponent {
        0 => i128::from(minor) * 100,
        1 => i128::from(minor) * 10,
        2 => i128::from(minor),
        e => div_round_half_away(i128::from(minor), 10_i128.pow(e - 2)),
    };
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02}", cents / 100, cents % 100)
}

/// Integer division rounding half away from zero.
pub fn div_round_half_away(numerator: i128, denominator: i128) -> i128 {
    assert!(denominator > 0, "denominator must be positive");
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.abs() * 2 >= denominator {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

/// A per-client-address limit such as `300/10m`: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period: Duration,
}

impl RateLimit {
    /// Parses `N/PERIOD` (`PERIOD` = optional number plus `s`, `m`, `h` or `d`) or `off`.
    pub fn parse_setting(text: &str) -> std::result::Result<Option<RateLimit>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || format!("{text:?} is not a rate limit like 300/10m, 20/1s or off");
        let (count, period) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let unit = period.chars().last().ok_or_else(bad)?;
        let amount = &period[..period.len() - unit.len_utf8()];
        let amount: u64 = if amount.is_empty() {
            1
        } else {
            amount.parse().map_err(|_| bad())?
        };
        let unit_secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        if count == 0 || amount == 0 || amount > 366 * 86_400 {
            return Err(bad());
        }
        Ok(Some(RateLimit {
            count,
            period: Duration::from_secs(amount * unit_secs),
        }))
    }
}

/// A campaign's own per-address limit, parsed once when the campaign is saved: `off`, or
/// a limit. Stored and shown as its text (`"300/10m"`, `"off"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSetting {
    Off,
    Limit(RateLimit),
}

impl FromStr for RateSetting {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<RateSetting, String> {
        Ok(RateLimit::parse_setting(text)?.map_or(RateSetting::Off, RateSetting::Limit))
    }
}

impl fmt::Display for RateSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateSetting::Off => f.write_str("off"),
            RateSetting::Limit(limit) => limit.fmt(f),
        }
    }
}

impl Serialize for RateSetting {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<RateSetting, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        let (amount, unit) = [(86_400, 'd'), (3600, 'h'), (60, 'm')]
            .into_iter()
            .find(|(unit, _)| secs.is_multiple_of(*unit))
            .map(|(unit, name)| (secs / unit, name))
            .unwrap_or((secs, 's'));
        write!(f, "{}/{amount}{unit}", self.count)
    }
}

/// The query parameters that say where a visitor came from.
pub const UTM_KEYS: &[&str] = &[
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "utm_id",
];
pub const CLICK_ID_KEYS: &[&str] = &[
    "gclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "ttclid",
    "li_fat_id",
    "bd_vid",
    "qclid",
];
pub const REF_KEY: &str = "ref";
/// Tracking values come from URLs we do not control; longer ones are cut, not refused,
/// so that a visitor is never stuck on a form because of the link they clicked.
pub const MAX_TRACKING_VALUE_CHARS: usize = 256;

pub fn is_tracking_key(key: &str) -> bool {
    key == REF_KEY || UTM_KEYS.contains(&key) || CLICK_ID_KEYS.contains(&key)
}

/// Every tracking key in display order: UTM first, then click ids, then `ref`.
pub fn tracking_keys() -> impl Iterator<Item = &'static str> {
    UTM_KEYS
        .iter()
        .chain(CLICK_ID_KEYS)
        .chain(std::iter::once(&REF_KEY))
        .copied()
}

/// Trims a tracking value and cuts it to the documented length; empty values are absent.
pub fn clean_tracking_value(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    // The usual value (no control characters, no longer in bytes than the limit in
    // characters) is kept as it is, in one copy.
    if value.len() <= MAX_TRACKING_VALUE_CHARS && !value.chars().any(char::is_control) {
        return Some(value.to_owned());
    }
    Some(
        value
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TRACKING_VALUE_CHARS)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs_follow_the_documented_pattern() {
        assert!(Slug::parse("expo-2025").is_ok());
        assert!(Slug::parse("a").is_ok());
        assert!(Slug::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "-x", "Bad", "a_b", "a b", "展会", &"a".repeat(65)] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn mainland_numbers_in_every_common_spelling_become_e164() {
        for typed in [
            "13800138000",
            "138 0013 8000",
            "138-0013-8000",
            "+86 138 0013 8000",
            "+8613800138000",
            "008613800138000",
        ] {
            assert_eq!(
                Phone::parse(typed).unwrap().as_str(),
                "+8613800138000",
                "{typed}"
            );
        }
        assert_eq!(
            Phone::parse("021 6123 4567").unwrap().as_str(),
            "+862161234567"
        );
        assert_eq!(
            Phone::parse("+1 650 253 0000").unwrap().as_str(),
            "+16502530000"
        );
    }

    /// Every four-digit start (every 1740x block for the one five-digit rule), in every
    /// prefix spelling: where the fast path answers, `phonenumber` agrees exactly.
    #[test]
    fn mobile_fast_path_agrees_with_phonenumber_for_every_block() {
        let heads = (1000..2000)
            .map(|head: u32| format!("{head}{{}}"))
            .chain((0..10).map(|fifth| format!("1740{fifth}{{}}")));
        let mut answered = 0;
        for head in heads {
            let rest = 11 - (head.len() - 2);
            for fill in ['0', '9'] {
                let national = head.replace("{}", &fill.to_string().repeat(rest));
                for prefix in ["", "+86", "86", "0086"] {
                    let compact = format!("{prefix}{national}");
                    if let Some(fast) = mobile::e164(&compact) {
                        answered += 1;
                        assert_eq!(Some(fast), via_phonenumber(&compact), "{compact}");
                    }
                }
            }
        }
        assert!(
            answered > 4000,
            "the fast path answered only {answered} times"
        );
    }

    #[test]
    fn junk_is_not_a_phone() {
        for bad in [
            "12345",
            "1380013800",
            "call me",
            "+86 138 0013 8000 ext 5",
            "1-800-FLOWERS",
            "",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn email_domain_is_lower_cased_and_local_part_kept() {
        assert_eq!(
            Email::parse("  Foo.Bar@Example.COM ").unwrap().as_str(),
            "Foo.Bar@example.com"
        );
        assert_eq!(
            Email::parse("张三@例子.中国").unwrap().as_str(),
            "张三@例子.中国"
        );
        for bad in [
            "",
            "a",
            "a@",
            "@b.com",
            "a@b",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn contact_key_prefers_phone_and_lower_cases_email() {
        let phone = Phone::parse("13800138000").unwrap();
        let email = Email::parse("Foo@Example.com").unwrap();
        let both = Reach::new(Some(phone.clone()), Some(email.clone())).unwrap();
        assert_eq!(both.contact_key(), "+8613800138000");
        assert_eq!(both.phone(), Some(&phone));
        assert_eq!(both.email(), Some(&email));
        let by_mail = Reach::new(None, Some(email.clone())).unwrap();
        assert_eq!(by_mail.contact_key(), "foo@example.com");
        assert_eq!(by_mail.into_parts(), (None, Some(email)));
        assert_eq!(Reach::new(None, None), None);
    }

    #[test]
    fn controls_and_bidi_overrides_are_not_text() {
        for c in [
            '\u{0}', '\u{1b}', '\u{7f}', '\u{84}', '\u{9f}', '\u{202e}', '\u{2066}',
        ] {
            assert!(is_forbidden_in_text(c, true), "{c:?}");
        }
        assert!(is_forbidden_in_text('\n', false));
        assert!(
            is_forbidden_in_text('\t', true),
            "a tab is a control, not a line break"
        );
        for c in ['\n', '\r'] {
            assert!(!is_forbidden_in_text(c, true));
        }
        for c in ['a', '张', ' ', '\u{200d}', '€'] {
            assert!(!is_forbidden_in_text(c, false), "{c:?}");
        }
    }

    #[test]
    fn stored_phones_and_emails_read_back_as_written() {
        let phone = Phone::parse("13800138000").unwrap();
        let bytes = postcard::to_allocvec(&phone).unwrap();
        assert_eq!(bytes, postcard::to_allocvec("+8613800138000").unwrap());
        assert_eq!(postcard::from_bytes::<Phone>(&bytes).unwrap(), phone);
        let email = Email::parse("a@B.com").unwrap();
        assert_eq!(serde_json::to_string(&email).unwrap(), "\"a@b.com\"");
    }

    #[test]
    fn money_parses_exactly_into_minor_units() {
        assert_eq!(parse_money("48500.50", 2), Ok(4_850_050));
        assert_eq!(parse_money("48500.5", 2), Ok(4_850_050));
        assert_eq!(parse_money("0.1", 2), Ok(10));
        assert_eq!(parse_money("1000", 0), Ok(1000));
        assert_eq!(parse_money("1.234", 3), Ok(1234));
        assert!(parse_money("1.234", 2).is_err());
        assert!(parse_money("-1", 2).is_err());
        assert!(parse_money("1e5", 2).is_err());
        assert!(parse_money("1,000", 2).is_err());
        assert!(parse_money("1.", 2).is_err());
        assert!(parse_money(".5", 2).is_err());
        assert!(parse_money("1000000000001", 2).is_err());
        assert!(parse_money("99999999999999999999999", 2).is_err());
        assert_eq!(parse_money("1000000000000", 2), Ok(100_000_000_000_000));
    }

    #[test]
    fn money_formats_with_two_decimals_rounding_half_away_from_zero() {
        assert_eq!(format_money(4_850_050, 2), "48500.50");
        assert_eq!(format_money(0, 2), "0.00");
        assert_eq!(format_money(-5, 2), "-0.05");
        assert_eq!(format_money(1000, 0), "1000.00");
        assert_eq!(format_money(1235, 3), "1.24");
        assert_eq!(format_money(-1235, 3), "-1.24");
        assert_eq!(format_money(1234, 3), "1.23");
    }

    #[test]
    fn currencies_know_their_minor_units() {
        assert_eq!(Currency::parse("CNY").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("USD").unwrap().code(), "USD");
        assert!(Currency::parse("XXY").is_err());
        assert!(Currency::parse("cny").is_err());
    }

    #[test]
    fn rate_limits_read_like_the_docs() {
        let limit = RateLimit::parse_setting("300/10m").unwrap().unwrap();
        assert_eq!((limit.count, limit.period.as_secs()), (300, 600));
        assert_eq!(limit.to_string(), "300/10m");
        assert_eq!(
            RateLimit::parse_setting("20/s")
                .unwrap()
                .unwrap()
                .period
                .as_secs(),
            1
        );
        assert_eq!(RateLimit::parse_setting("off"), Ok(None));
        for bad in ["fast", "0/1m", "10/0m", "10/5x", "10", "/1m", "10/"] {
            assert!(RateLimit::parse_setting(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn a_tracking_value_is_cleaned_alike_with_or_without_the_shortcut(
            value in prop_oneof!["[a-z0-9 _.-]{0,300}", "\\PC{0,300}", ".{0,300}"]
        ) {
            let trimmed = value.trim();
            let general = (!trimmed.is_empty()).then(|| {
                trimmed
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(MAX_TRACKING_VALUE_CHARS)
                    .collect::<String>()
            });
            prop_assert_eq!(clean_tracking_value(&value), general);
        }

        #[test]
        fn money_round_trips_through_its_text(minor in 0_i64..=100_000_000_000_000) {
            let text = format_money(minor, 2);
            prop_assert_eq!(parse_money(&text, 2), Ok(minor));
        }

        #[test]
        fn money_parser_never_panics(text in "\\PC{0,30}") {
            let _ = parse_money(&text, 2);
        }

        #[test]
        fn any_spacing_of_a_mobile_number_normalises_the_same(
            digits in "1[3-9][0-9]{9}",
            seps in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-")], 11),
            prefix in prop_oneof![Just(""), Just("+86"), Just("+86 "), Just("0086")],
        ) {
            let canonical = Phone::parse(&digits);
            let typed: String = prefix.to_string() + &digits.chars().zip(&seps).map(|(d, s)| format!("{d}{s}")).collect::<String>();
            prop_assert_eq!(Phone::parse(&typed).ok(), canonical.ok());
        }

        /// Wherever the mainland-mobile fast path answers, `phonenumber` agrees exactly;
        /// the inputs cover every second and third digit, the 1740 block's edges, near
        /// misses in length and every prefix spelling.
        #[test]
        fn mobile_fast_path_agrees_with_phonenumber(
            prefix in prop_oneof![Just(""), Just("+86"), Just("86"), Just("0086"), Just("+"), Just("0"), Just("+860"), Just("860"), Just("00860"), Just("8")],
            head in "1[0-9]{2}",
            block in prop_oneof!["[0-9]{8}", "0[0-9]{7}", "[0-9]{7,9}"],
        ) {
            let compact = format!("{prefix}{head}{block}");
            if let Some(fast) = mobile::e164(&compact) {
                prop_assert_eq!(Some(fast), via_phonenumber(&compact), "{}", compact);
            }
        }

        #[test]
        fn mobile_fast_path_answers_only_what_phonenumber_accepts(compact in "\\+?[0-9]{6,16}") {
            if let Some(fast) = mobile::e164(&compact) {
                prop_assert_eq!(Some(fast), via_phonenumber(&compact), "{}", compact);
            }
        }

        #[test]
        fn normalised_phones_are_fixed_points(digits in "1[3-9][0-9]{9}") {
            if let Ok(phone) = Phone::parse(&digits) {
                prop_assert_eq!(Phone::parse(phone.as_str()).unwrap(), phone);
            }
        }

        #[test]
        fn phone_and_email_parsers_never_panic(text in "\\PC{0,40}") {
            let _ = Phone::parse(&text);
            let _ = Email::parse(&text);
        }
    }
}
