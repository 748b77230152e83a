//! What the chat robots (WeCom, DingTalk, Feishu) tell salespeople, in Chinese: enough to
//! act on a lead at once, never enough to leak it. A group chat is read by many and kept
//! forever, so a message holds a lead's phone and e-mail only masked (`138****8000`,
//! `z***@example.com`); the full details are one click away in the console, behind login.
//!
//! The texts are platform-neutral ([`ChatMessage`]); `kinds` turns them into each
//! platform's markdown or plain text.

use serde_json::Value;

use crate::domain::LeadId;

/// Longest a value taken from a lead (name, UTM value, campaign name) may be in a chat
/// message: a form field may hold 1,000 characters, a chat card should stay a card.
const MAX_VALUE_CHARS: usize = 60;

/// Most one-liners a digest lists; the rest are counted. WeCom refuses markdown over
/// 4,096 bytes, and a digest exists because the chat is already busy.
pub const MAX_DIGEST_LINES: usize = 10;

/// Longest a digest's one-liner may be, for the same reason.
const MAX_DIGEST_LINE_CHARS: usize = 48;

/// What a message is about, so a digest can say "new leads" when that is all it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    NewLead,
    LeadUpdated,
    Conversion,
    /// A scheduled ROI report: never folded into a digest.
    Report,
    Digest,
    Test,
}

/// A chat message before it is dressed for one platform. Every string in it is already
/// masked and cleaned of markup; renderers only add their own syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub topic: Topic,
    /// One line: the heading, and DingTalk's notification preview.
    pub title: String,
    /// Labelled facts, in order (`("电话", "138****8000")`).
    pub rows: Vec<(&'static str, String)>,
    /// A digest's one-liners.
    pub items: Vec<String>,
    /// The console page that shows the full record (after login).
    pub link: Option<String>,
    /// This message as one line, for a digest that folds it.
    pub summary: String,
    /// When the lead was received, so a digest can link to the leads since the first.
    pub at: Option<jiff::Timestamp>,
    /// Salespeople to mention (the lead's assignee; a digest's assignees), each platform
    /// its own way.
    pub mentions: Vec<Mention>,
}

/// A salesperson as the chat platforms can mention them. The ids are checked when saved
/// (letters, digits and `_-.@` only), so they cannot break out of the mention markup; the
/// mobile is the salesperson's own (allowed in a chat), never a lead's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub name: String,
    pub wecom_userid: Option<String>,
    /// National digits for a mainland number, as DingTalk's `atMobiles` wants them.
    pub mobile: Option<String>,
    pub feishu_open_id: Option<String>,
}

/// The chat text for an event, or `None` for an event type robots are not told about.
/// `campaign_name` is the name of the lead's campaign (or of the contact's latest lead for a
/// conversion); the slug stands in when it is unknown.
pub fn for_event(
    event: &Value,
    campaign_name: Option<&str>,
    public_url: &str,
) -> Option<ChatMessage> {
    let data = event.get("data").unwrap_or(&Value::Null);
    let campaign = || {
        campaign_name
            .map(str::to_owned)
            .or_else(|| text(data, "campaign"))
            .unwrap_or_default()
    };
    match event.get("type").and_then(Value::as_str)? {
        "lead.created" => Some(lead_created(data, &campaign(), public_url)),
        "lead.updated" => Some(lead_updated(data, &campaign(), public_url)),
        "lead.overdue" => Some(lead_overdue(data, &campaign(), public_url)),
        "conversion.recorded" => Some(conversion_recorded(data, campaign_name, public_url)),
        "report.roi" => Some(roi_report(event, public_url)),
        "contact.erased" => Some(contact_erased(data)),
        "test" => Some(test_message()),
        _ => None,
    }
}

/// A new lead: who, from where, and how to reach them (masked).
pub fn lead_created(lead: &Value, campaign_name: &str, public_url: &str) -> ChatMessage {
    let campaign = clean(campaign_name);
    let mut rows = vec![("活动", campaign.clone())];
    if let Some(source) = text(lead, "source") {
        rows.push(("来源", source_label(&source)));
    }
    rows.extend(person_rows(lead));
    let utm: Vec<String> = ["utm_source", "utm_medium"]
        .iter()
        .filter_map(|key| lead.get("utm").and_then(|u| text(u, key)))
        .map(|v| clean(&v))
        .collect();
    if !utm.is_empty() {
        rows.push(("UTM", utm.join(" / ")));
    }
    rows.extend(assignee_row(lead));
    rows.extend(id_row(lead));
    ChatMessage {
        topic: Topic::NewLead,
        title: format!("新线索 · {campaign}"),
        summary: summary(lead, &campaign),
        rows,
        items: Vec::new(),
        link: lead_link(lead, public_url),
        at: lead_time(lead),
        mentions: Vec::new(),
    }
}

/// A lead nobody followed up within its campaign's `follow_up_hours`: a nudge to its
/// salesperson (mentioned by the worker), with the way to reach the lead (masked).
pub fn lead_overdue(lead: &Value, campaign_name: &str, public_url: &str) -> ChatMessage {
    let campaign = clean(campaign_name);
    let mut rows = vec![("活动", campaign.clone())];
    rows.extend(person_rows(lead));
    rows.extend(assignee_row(lead));
    rows.extend(id_row(lead));
    ChatMessage {
        topic: Topic::LeadUpdated,
        title: format!("线索超时未跟进 · {campaign}"),
        summary: format!("超时未跟进：{}", summary(lead, &campaign)),
        rows,
        items: Vec::new(),
        link: lead_link(lead, public_url),
        at: lead_time(lead),
        mentions: Vec::new(),
    }
}

/// A lead whose status or assignee changed: the event carries only the lead as it is now,
/// so the message states the current status rather than the change.
pub fn lead_updated(lead: &Value, campaign_name: &str, public_url: &str) -> ChatMessage {
    let campaign = clean(campaign_name);
    let status = text(lead, "status").map(|s| status_label(&s));
    let mut rows = vec![("活动", campaign.clone())];
    if let Some(status) = &status {
        rows.push(("状态", status.clone()));
    }
    rows.extend(person_rows(lead));
    rows.extend(assignee_row(lead));
    rows.extend(id_row(lead));
    ChatMessage {
        topic: Topic::LeadUpdated,
        title: format!("线索更新 · {campaign}"),
        summary: format!(
            "{}（{}）",
            summary(lead, &campaign),
            status.unwrap_or_default()
        ),
        rows,
        items: Vec::new(),
        link: lead_link(lead, public_url),
        at: lead_time(lead),
        mentions: Vec::new(),
    }
}

/// A deal, win or loss from the CRM. The conversion's `contact` is the full phone or
/// e-mail, so it is shown masked like a lead's.
pub fn conversion_recorded(
    conversion: &Value,
    campaign_name: Option<&str>,
    public_url: &str,
) -> ChatMessage {
    let stage = text(conversion, "stage")
        .map(|s| stage_label(&s))
        .unwrap_or_default();
    // The amount is the API's money string ("48500.50"); it is not cleaned like typed
    // text (its digits would read as a phone number), so anything else is left out.
    let amount = text(conversion, "amount")
        .filter(|a| {
            a.chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | ','))
        })
        .map(|amount| match text(conversion, "currency") {
            Some(currency) => format!("{amount} {}", clean(&currency)),
            None => amount,
        });
    let contact = text(conversion, "contact").map(|c| mask_contact(&c));
    let mut rows = Vec::new();
    let campaign = campaign_name.map(clean);
    if let Some(campaign) = &campaign {
        rows.push(("活动", campaign.clone()));
    }
    rows.push(("阶段", stage.clone()));
    if let Some(amount) = &amount {
        rows.push(("金额", amount.clone()));
    }
    if let Some(contact) = &contact {
        rows.push(("联系人", contact.clone()));
    }
    let lead_id = text(conversion, "lead_id").and_then(|id| LeadId::parse(&id));
    if let Some(id) = lead_id {
        rows.push(("线索编号", id.to_string()));
    }
    let title = match &campaign {
        Some(campaign) => format!("成交进展 · {stage} · {campaign}"),
        None => format!("成交进展 · {stage}"),
    };
    let summary = [Some(stage.clone()), amount, contact]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
    ChatMessage {
        topic: Topic::Conversion,
        title,
        rows,
        items: Vec::new(),
        // A lead id alone finds its lead: the console filters by time, and an id is made
        // at the millisecond its lead was received.
        link: lead_id.map(|id| {
            let at = crate::lead::format_timestamp(id.received_at());
            console_link(public_url, &[("since", &at), ("until", &at)])
        }),
        summary: format!("成交进展：{summary}"),
        at: None,
        mentions: Vec::new(),
    }
}

/// Rows a chat report lists, by revenue.
pub const REPORT_TOP_ROWS: usize = 5;

/// Currencies whose totals a chat report lists; a store with more is unusual, and WeCom
/// refuses markdown over 4,096 bytes.
const REPORT_MAX_CURRENCIES: usize = 5;

/// A scheduled ROI report (`report.roi`) as a group chat reads it: the period, the totals
/// per currency (cost, leads, orders, revenue, ROI), the top rows by revenue with the
/// same figures, and a link to the console's summary of the period. `event["report"]`
/// says which period; `event["data"]` is the `/api/roi` JSON of it. Money is written as
/// the API writes it, two decimals, with thousands separators for reading at a glance.
pub fn roi_report(event: &Value, public_url: &str) -> ChatMessage {
    let about = event.get("report").unwrap_or(&Value::Null);
    let data = event.get("data").unwrap_or(&Value::Null);
    let kind = match about.get("every").and_then(Value::as_str) {
        Some("weekly") => "周报",
        Some("monthly") => "月报",
        _ => "日报",
    };
    // Dates are not `clean`ed: their eight digits would be masked as a phone number.
    let date = |key: &str| text(about, key).filter(|d| is_date_label(d));
    let period = date("period").unwrap_or_default();
    let title = format!("ROI {kind} {period}");
    let (from, to) = (date("from"), date("to"));
    let mut rows = Vec::new();
    if let (Some(from), Some(to)) = (&from, &to) {
        let span = if from == to {
            from.clone()
        } else {
            format!("{from} 至 {to}")
        };
        rows.push(("周期", span));
    }
    if let Some(model) = text(data, "model") {
        rows.push(("归因模型", model_label(&model)));
    }
    if let Some(group_by) = text(about, "group_by") {
        rows.push(("分组", group_label(&group_by)));
    }
    let totals = data.get("totals").and_then(Value::as_object);
    let mut currencies = 0;
    for (currency, sums) in totals.into_iter().flatten() {
        currencies += 1;
        if currencies > REPORT_MAX_CURRENCIES {
            rows.push(("合计", "其他币种请在控制台查看".into()));
            break;
        }
        rows.push(("合计", format!("{} · {}", clean(currency), figures(sums))));
    }
    if currencies == 0 {
        rows.push(("合计", "本期没有数据".into()));
    }
    let items = top_rows(data);
    let mut query: Vec<(&str, String)> = Vec::new();
    for (key, value) in [("from", &from), ("to", &to)] {
        if let Some(value) = value {
            query.push((key, value.clone()));
        }
    }
    if let Some(model) = text(data, "model") {
        query.push(("model", model));
    }
    if let Some(group_by) = text(about, "group_by") {
        query.push(("group_by", group_by));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    ChatMessage {
        topic: Topic::Report,
        summary: title.clone(),
        title,
        rows,
        items,
        link: Some(format!(
            "{}/admin?{query}",
            public_url.trim_end_matches('/')
        )),
        at: None,
        mentions: Vec::new(),
    }
}

/// The rows with the most revenue, best first (the report's order among equals), as
/// one-liners. When the rows mix currencies each names its own.
fn top_rows(report: &Value) -> Vec<String> {
    let Some(rows) = report.get("rows").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mixed = report.get("currency").is_none_or(Value::is_null);
    let mut ranked: Vec<&Value> = rows.iter().collect();
    // Revenue is a decimal string; as a float it orders correctly at any amount a
    // campaign earns (exact to the cent below 2^53 cents).
    let revenue = |row: &Value| -> f64 {
        text(row, "revenue")
            .and_then(|r| r.parse().ok())
            .unwrap_or(0.0)
    };
    ranked.sort_by(|a, b| revenue(b).total_cmp(&revenue(a)));
    ranked
        .into_iter()
        .take(REPORT_TOP_ROWS)
        .enumerate()
        .map(|(i, row)| {
            let name = text(row, "name")
                .or_else(|| text(row, "key"))
                .map(|n| clean(&n))
                .unwrap_or_else(|| "（未命名）".into());
            let currency = match text(row, "currency") {
                Some(code) if mixed => format!(" {}", clean(&code)),
                _ => String::new(),
            };
            format!("TOP{} {name}{currency} · {}", i + 1, figures(row))
        })
        .collect()
}

/// `成本 12,000.00 · 线索 30 · 订单 2 · 收入 48,500.50 · ROI 304.17%` of a row or a total.
fn figures(row: &Value) -> String {
    let money = |key: &str| {
        text(row, key)
            .map(|m| group_thousands(&m))
            .unwrap_or_else(|| "—".into())
    };
    let number = |key: &str| -> Option<f64> { row.get(key).and_then(Value::as_f64) };
    let leads = row.get("leads").and_then(Value::as_u64).unwrap_or(0);
    // Orders are credited by the model: fractional under split models.
    let orders = match number("orders") {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "0".into(),
    };
    let roi = match number("roi_pct") {
        Some(x) => format!("{x:.2}%"),
        // No cost: ROI has no denominator.
        None => "—".into(),
    };
    format!(
        "成本 {} · 线索 {leads} · 订单 {orders} · 收入 {} · ROI {roi}",
        money("cost"),
        money("revenue")
    )
}

/// A money string of the API (`"-48500.50"`) with thousands separators
/// (`"-48,500.50"`). Anything else is not money: shown as a dash, never as typed text
/// (whose digits might be a phone number).
pub fn group_thousands(amount: &str) -> String {
    let (sign, digits) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (whole, cents) = match digits.split_once('.') {
        Some((whole, cents)) => (whole, Some(cents)),
        None => (digits, None),
    };
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || cents.is_some_and(|c| !is_digits(c)) {
        return "—".into();
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match cents {
        Some(cents) => format!("{sign}{grouped}.{cents}"),
        None => format!("{sign}{grouped}"),
    }
}

/// `2026-11-28`, `2026-W48`, `2026-11`: digits, dashes and the week's `W` only.
fn is_date_label(text: &str) -> bool {
    text.len() <= 10
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b'W')
}

fn model_label(model: &str) -> String {
    match model {
        "last_touch" => "末次触点".into(),
        "first_touch" => "首次触点".into(),
        "linear" => "线性".into(),
        "time_decay" => "时间衰减".into(),
        "position_based" => "位置加权".into(),
        "markov" => "数据驱动（马尔可夫）".into(),
        other => clean(other),
    }
}

fn group_label(group_by: &str) -> String {
    match group_by {
        "campaign" => "按活动".into(),
        "channel" => "按渠道".into(),
        "kind" => "按类型".into(),
        other => clean(other),
    }
}

/// One message standing for several, when a robot's per-minute quota is spent: a count,
/// up to [`MAX_DIGEST_LINES`] masked one-liners, and a link to the leads since the first.
pub fn digest(messages: &[ChatMessage], public_url: &str) -> ChatMessage {
    let mut digest = Digest::default();
    for message in messages {
        digest.fold(message);
    }
    digest.message(public_url)
}

/// A digest being gathered, one message at a time: it keeps only what it shows (the first
/// lines, the count, the earliest time and the people to mention), so it can fold a
/// backlog of any length.
#[derive(Debug, Default)]
pub struct Digest {
    count: usize,
    all_new: bool,
    lines: Vec<String>,
    since: Option<jiff::Timestamp>,
    mentions: Vec<Mention>,
}

impl Digest {
    pub fn fold(&mut self, message: &ChatMessage) {
        self.all_new = (self.count == 0 || self.all_new) && message.topic == Topic::NewLead;
        self.count += 1;
        if self.lines.len() < MAX_DIGEST_LINES {
            self.lines
                .push(truncate(&message.summary, MAX_DIGEST_LINE_CHARS));
        }
        if let Some(at) = message.at {
            self.since = Some(self.since.map_or(at, |since| since.min(at)));
        }
        for mention in &message.mentions {
            if !self.mentions.contains(mention) {
                self.mentions.push(mention.clone());
            }
        }
    }

    /// Messages folded so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn message(self, public_url: &str) -> ChatMessage {
        let n = self.count;
        let title = if self.all_new {
            format!("另有 {n} 条新线索（消息较多，已合并）")
        } else {
            format!("另有 {n} 条通知（消息较多，已合并）")
        };
        let mut items = self.lines;
        if n > MAX_DIGEST_LINES {
            items.push(format!(
                "…以及其他 {} 条，请在控制台查看",
                n - MAX_DIGEST_LINES
            ));
        }
        let link = match self.since {
            Some(since) => console_link(
                public_url,
                &[("since", &crate::lead::format_timestamp(since))],
            ),
            None => console_link(public_url, &[]),
        };
        ChatMessage {
            topic: Topic::Digest,
            summary: title.clone(),
            title,
            rows: Vec::new(),
            items,
            link: Some(link),
            at: self.since,
            mentions: self.mentions,
        }
    }
}

/// A person's data was erased at their request: the group hears of it, since its members
/// may hold copies (the chat history, their phones' contacts), but not who it was: naming
/// the person again would undo the erasure. Only the number of leads and their ids.
pub fn contact_erased(data: &Value) -> ChatMessage {
    let ids: Vec<String> = data
        .get("lead_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| LeadId::parse(id.as_str()?))
                .map(|id| id.to_string())
                .collect()
        })
        .unwrap_or_default();
    let title = format!("客户信息已删除（{} 条线索）", ids.len());
    ChatMessage {
        topic: Topic::LeadUpdated,
        summary: title.clone(),
        title,
        rows: vec![(
            "说明",
            "应本人要求，这位客户的个人信息已从系统中删除。请一并删除聊天记录、通讯录等处留存的该客户信息。"
                .into(),
        )],
        items: ids.into_iter().map(|id| format!("线索 {id}")).collect(),
        link: None,
        at: None,
        mentions: Vec::new(),
    }
}

/// What `POST /api/destinations/{id}/test` sends to a robot.
pub fn test_message() -> ChatMessage {
    ChatMessage {
        topic: Topic::Test,
        title: "leadgate 测试消息".into(),
        rows: vec![("说明", "机器人配置正确，新线索会发到这个群。".into())],
        items: Vec::new(),
        link: None,
        summary: "leadgate 测试消息".into(),
        at: None,
        mentions: Vec::new(),
    }
}

/// A phone number as salespeople may see it in a chat: mainland numbers without `+86`,
/// first 3 and last 4 digits (`+8613800138000` → `138****8000`); other countries keep
/// their code (`+14155552671` → `+1 415****671`). At least four digits are always
/// hidden, so a short number shows fewer.
pub fn mask_phone(e164: &str) -> String {
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    if let Some(national) = digits.strip_prefix("86").filter(|_| e164.starts_with('+')) {
        return mask_digits(national);
    }
    let code = phonenumber::parse(None, e164)
        .ok()
        .map(|n| n.code().value().to_string())
        .filter(|code| digits.starts_with(code.as_str()));
    match code {
        Some(code) => format!("+{code} {}", mask_digits(&digits[code.len()..])),
        // Without a known country code the whole number is masked as one.
        None => mask_digits(&digits),
    }
}

/// An e-mail address as salespeople may see it: its first character and its domain.
pub fn mask_email(email: &str) -> String {
    let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let first: String = local.chars().take(1).collect();
    format!("{first}***@{domain}")
}

/// A contact key (E.164 phone, else lower-cased e-mail) masked the way it is a kind of.
pub fn mask_contact(contact: &str) -> String {
    if contact.contains('@') {
        mask_email(contact)
    } else {
        mask_phone(contact)
    }
}

/// First 3 and last 4 digits around `****`, fewer when fewer than 4 would stay hidden.
fn mask_digits(digits: &str) -> String {
    let n = digits.len();
    let shown = n.saturating_sub(4);
    let tail = 4.min(shown.div_ceil(2));
    let head = 3.min(shown - tail);
    format!("{}****{}", &digits[..head], &digits[n - tail..])
}

fn person_rows(lead: &Value) -> Vec<(&'static str, String)> {
    let mut rows = vec![(
        "姓名",
        text(lead, "name")
            .map(|n| clean(&n))
            .unwrap_or_else(|| "（未填写）".into()),
    )];
    if let Some(phone) = text(lead, "phone") {
        rows.push(("电话", mask_phone(&phone)));
    }
    if let Some(email) = text(lead, "email") {
        rows.push(("邮箱", mask_email(&email)));
    }
    rows
}

/// The salesperson the lead is assigned to, once leads carry one.
fn assignee_row(lead: &Value) -> Option<(&'static str, String)> {
    text(lead, "assigned_to_name").map(|n| ("负责人", clean(&n)))
}

fn id_row(lead: &Value) -> Option<(&'static str, String)> {
    text(lead, "id")
        .and_then(|id| LeadId::parse(&id))
        .map(|id| ("线索编号", id.to_string()))
}

/// The lead as one masked line: name, phone or e-mail, campaign, source.
fn summary(lead: &Value, campaign: &str) -> String {
    let contact = text(lead, "phone")
        .map(|p| mask_phone(&p))
        .or_else(|| text(lead, "email").map(|e| mask_email(&e)));
    [
        Some(
            text(lead, "name")
                .map(|n| clean(&n))
                .unwrap_or_else(|| "（未填写）".into()),
        ),
        contact,
        Some(campaign.to_owned()),
        text(lead, "source").map(|s| source_label(&s)),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ")
}

fn lead_time(lead: &Value) -> Option<jiff::Timestamp> {
    text(lead, "received_at").and_then(|t| t.parse().ok())
}

/// The console's leads page narrowed to this lead: its campaign, and `since`/`until` at
/// the millisecond it was received (the page filters by time, not by id).
fn lead_link(lead: &Value, public_url: &str) -> Option<String> {
    let at = text(lead, "received_at")?;
    let mut query = Vec::new();
    let campaign = text(lead, "campaign");
    if let Some(campaign) = &campaign {
        query.push(("campaign", campaign.as_str()));
    }
    query.push(("since", &at));
    query.push(("until", &at));
    Some(console_link(public_url, &query))
}

fn console_link(public_url: &str, query: &[(&str, &str)]) -> String {
    let base = format!("{}/admin/leads", public_url.trim_end_matches('/'));
    if query.is_empty() {
        return base;
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{base}?{query}")
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

fn source_label(source: &str) -> String {
    match source {
        "form" => "表单".into(),
        "qr" => "扫码".into(),
        "phone" => "来电".into(),
        "import" => "导入".into(),
        "api" => "API".into(),
        other => clean(other),
    }
}

fn status_label(status: &str) -> String {
    match status {
        "new" => "新线索".into(),
        "mql" => "MQL".into(),
        "sql" => "SQL".into(),
        "disqualified" => "无效".into(),
        other => clean(other),
    }
}

fn stage_label(stage: &str) -> String {
    match stage {
        "deal" => "商机".into(),
        "won" => "赢单".into(),
        "lost" => "输单".into(),
        other => clean(other),
    }
}

/// Text a visitor or marketer typed, made safe for a group chat: any e-mail address or
/// phone-like run of digits in it is masked (people type their number as their name),
/// markup is neutralised (a name like `<at user_id="all">` or `[点我](http://…)` must not
/// ping the whole group or become a link), and it is cut to [`MAX_VALUE_CHARS`].
pub fn clean(raw: &str) -> String {
    // Markup first: the masks themselves use `*`, which must survive.
    let plain: String = raw
        .chars()
        .map(|c| match c {
            '<' => '‹',
            '>' => '›',
            '[' => '［',
            ']' => '］',
            '*' => '＊',
            '`' => '\'',
            '#' => '＃',
            c if c.is_control() || crate::domain::is_forbidden_in_text(c, false) => ' ',
            c => c,
        })
        .collect();
    let words: Vec<String> = plain
        .split_whitespace()
        .map(|word| {
            if word.contains('@') {
                mask_email(word)
            } else {
                word.to_owned()
            }
        })
        .collect();
    truncate(&mask_digit_runs(&words.join(" ")), MAX_VALUE_CHARS)
}

/// At most `max` characters, and `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Masks every run of 7 or more digits, up to two spaces, dots, dashes or brackets between
/// them allowed (`138 0013 8000`, `(021) 6123 4567`), the way a phone number is masked.
fn mask_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if !(plus || chars[i].is_ascii_digit()) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        let mut j = if plus { i + 1 } else { i };
        let mut end = j;
        let mut digits = String::new();
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits.push(chars[j]);
                j += 1;
                end = j;
            } else if let Some(gap) = (1..=2).find(|&gap| {
                chars[j..].len() > gap
                    && chars[j..j + gap]
                        .iter()
                        .all(|c| matches!(c, ' ' | '-' | '.' | '(' | ')'))
                    && chars[j + gap].is_ascii_digit()
            }) {
                j += gap;
            } else {
                break;
            }
        }
        if digits.len() >= 7 {
            out.push_str(&if plus {
                mask_phone(&format!("+{digits}"))
            } else {
                mask_digits(&digits)
            });
        } else {
            out.extend(&chars[start..end]);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::kinds::{Kind, request};
    use proptest::prelude::*;
    use serde_json::json;

    const URL: &str = "https://leads.example.com/";

    fn lead(name: &str, phone: Option<&str>, email: Option<&str>) -> Value {
        json!({
            "id": "01JC0000000000000000000000", "campaign": "spring-expo",
            "received_at": "2023-11-14T22:13:20.000Z", "name": name, "phone": phone,
            "email": email, "company": "ACME 13800138000",
            "fields": {"message": "call me at 13800138000 or zhang@example.com"},
            "utm": {"utm_source": "baidu", "utm_medium": "cpc", "utm_term": "secret-term"},
            "click_ids": {}, "ref": null, "source": "qr", "status": "mql",
        })
    }

    /// Every body each robot would receive for these messages, as sent (JSON bytes) and
    /// with its strings decoded, plus DingTalk's URL.
    fn bodies(messages: &[ChatMessage]) -> Vec<String> {
        let event = json!({"id": "01JC0000000000000000000000", "type": "lead.created"});
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let mut out = Vec::new();
        for message in messages {
            for kind in [Kind::Wecom, Kind::Dingtalk, Kind::Feishu] {
                let req = request(
                    kind,
                    "https://r.example/send?k=1",
                    Some("s"),
                    &event,
                    Some(message),
                    now,
                )
                .unwrap();
                let raw = String::from_utf8(req.body).unwrap();
                let decoded: Value = serde_json::from_str(&raw).unwrap();
                out.extend([raw, decoded.to_string(), req.url]);
                out.push(format!("{decoded:#}").replace("\\n", "\n"));
            }
        }
        out
    }

    fn all_texts(lead: &Value) -> Vec<ChatMessage> {
        let created = lead_created(lead, "春季展会", URL);
        let updated = lead_updated(lead, "春季展会", URL);
        let conversion = conversion_recorded(
            &json!({"id": "d1", "contact": lead["phone"].as_str().or(lead["email"].as_str()),
                    "lead_id": lead["id"], "stage": "won", "amount": "48500.50", "currency": "CNY"}),
            Some("春季展会"),
            URL,
        );
        let digest = digest(&[created.clone(), updated.clone(), conversion.clone()], URL);
        vec![created, updated, conversion, digest]
    }

    #[test]
    fn phones_are_masked_to_first_3_and_last_4() {
        assert_eq!(mask_phone("+8613800138000"), "138****8000");
        assert_eq!(mask_phone("+8617400012345"), "174****2345");
        // A mainland landline has 10 digits; four stay hidden.
        assert_eq!(mask_phone("+862161234567"), "216****567");
        assert_eq!(mask_phone("+14155552671"), "+1 415****671");
        assert_eq!(mask_phone("+447911123456"), "+44 791****456");
        assert_eq!(mask_phone("+85291234567"), "+852 91****67");
        assert_eq!(mask_phone("+1234"), "+1 ****");
    }

    #[test]
    fn emails_are_masked_to_first_character_and_domain() {
        assert_eq!(mask_email("zhang@example.com"), "z***@example.com");
        assert_eq!(mask_email("z@example.com"), "z***@example.com");
        assert_eq!(mask_email("张伟@例子.cn"), "张***@例子.cn");
        assert_eq!(mask_contact("+8613800138000"), "138****8000");
        assert_eq!(mask_contact("zhang@example.com"), "z***@example.com");
    }

    #[test]
    fn a_new_lead_message_holds_the_listed_items_only() {
        let message = lead_created(
            &lead("张三", Some("+8613800138000"), Some("zhang@example.com")),
            "春季展会",
            URL,
        );
        assert_eq!(message.title, "新线索 · 春季展会");
        assert_eq!(
            message.rows,
            vec![
                ("活动", "春季展会".to_owned()),
                ("来源", "扫码".to_owned()),
                ("姓名", "张三".to_owned()),
                ("电话", "138****8000".to_owned()),
                ("邮箱", "z***@example.com".to_owned()),
                ("UTM", "baidu / cpc".to_owned()),
                ("线索编号", "01JC0000000000000000000000".to_owned()),
            ]
        );
        assert_eq!(
            message.link.as_deref(),
            Some(
                "https://leads.example.com/admin/leads?campaign=spring-expo\
                 &since=2023-11-14T22%3A13%3A20.000Z&until=2023-11-14T22%3A13%3A20.000Z"
            )
        );
        assert_eq!(message.summary, "张三 · 138****8000 · 春季展会 · 扫码");
        let all = bodies(&[message]).concat();
        for leaked in ["ACME", "call me", "secret-term", "13800138000", "zhang@"] {
            assert!(!all.contains(leaked), "{leaked} in {all}");
        }
    }

    #[test]
    fn updates_and_conversions_say_what_changed() {
        let lead = lead("张三", Some("+8613800138000"), None);
        let updated = lead_updated(&lead, "春季展会", URL);
        assert_eq!(updated.title, "线索更新 · 春季展会");
        assert!(updated.rows.contains(&("状态", "MQL".to_owned())));
        assert!(updated.rows.contains(&("电话", "138****8000".to_owned())));

        let conversion = conversion_recorded(
            &json!({"id": "d1", "contact": "zhang@example.com", "lead_id": "01JC0000000000000000000000",
                    "stage": "won", "amount": "48500.50", "currency": "CNY"}),
            Some("春季展会"),
            URL,
        );
        assert_eq!(conversion.title, "成交进展 · 赢单 · 春季展会");
        assert!(
            conversion
                .rows
                .contains(&("金额", "48500.50 CNY".to_owned()))
        );
        assert!(
            conversion
                .rows
                .contains(&("联系人", "z***@example.com".to_owned()))
        );
        // The lead id's time, by python3: Crockford base32 "01JC000000" = 1730871820288 ms.
        assert_eq!(
            conversion.link.as_deref(),
            Some(
                "https://leads.example.com/admin/leads\
                 ?since=2024-11-06T05%3A43%3A40.288Z&until=2024-11-06T05%3A43%3A40.288Z"
            )
        );
        assert_eq!(
            conversion.summary,
            "成交进展：赢单 · 48500.50 CNY · z***@example.com"
        );
    }

    #[test]
    fn events_pick_their_text() {
        let data = lead("张三", Some("+8613800138000"), None);
        let event = |kind: &str| json!({"id": "e", "type": kind, "data": data});
        assert_eq!(
            for_event(&event("lead.created"), Some("春季展会"), URL)
                .unwrap()
                .topic,
            Topic::NewLead
        );
        // Without the campaign's name the slug stands in.
        assert_eq!(
            for_event(&event("lead.created"), None, URL).unwrap().title,
            "新线索 · spring-expo"
        );
        assert_eq!(
            for_event(&event("lead.updated"), None, URL).unwrap().topic,
            Topic::LeadUpdated
        );
        assert_eq!(
            for_event(&event("test"), None, URL).unwrap().topic,
            Topic::Test
        );
        assert!(for_event(&event("something.else"), None, URL).is_none());
    }

    #[test]
    fn an_erasure_tells_the_group_without_naming_the_person() {
        let event = json!({"id": "e", "type": "contact.erased", "data": {
            "contact": "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            "lead_ids": ["01J0000000000000000000000A", "01J0000000000000000000000B"]}});
        let message = for_event(&event, None, URL).unwrap();
        assert_eq!(message.title, "客户信息已删除（2 条线索）");
        assert_eq!(
            message.items,
            [
                "线索 01J0000000000000000000000A",
                "线索 01J0000000000000000000000B"
            ]
        );
        let shown = format!("{message:?}");
        assert!(
            !shown.contains("5e884898"),
            "the contact's hash is of no use to sales: {shown}"
        );
    }

    #[test]
    fn typed_text_cannot_mention_everyone_or_become_a_link() {
        let name = r#"<at user_id="all"></at>[点我](http://evil.example) **x** <@all>"#;
        let cleaned = clean(name);
        for markup in ["<", ">", "[", "]", "**x**"] {
            assert!(!cleaned.contains(markup), "{cleaned}");
        }
        assert_eq!(
            clean(&"长".repeat(100)).chars().count(),
            MAX_VALUE_CHARS + 1
        );
        assert_eq!(
            clean("line\nbreak\tand\u{202E}override"),
            "line break and override"
        );
    }

    #[test]
    fn contacts_typed_into_other_items_are_masked_too() {
        assert_eq!(clean("张三 13800138000"), "张三 138****8000");
        assert_eq!(clean("138-0013-8000"), "138****8000");
        assert_eq!(clean("(021) 6123 4567"), "(021****4567");
        assert_eq!(clean("+86 138 0013 8000"), "138****8000");
        assert_eq!(clean("mail:zhang@example.com"), "m***@example.com");
        // Short numbers (a booth number, a year) are not contacts.
        assert_eq!(clean("A-12 2025"), "A-12 2025");
    }

    #[test]
    fn a_digest_is_bounded_and_links_to_the_leads_since_the_first() {
        let messages: Vec<ChatMessage> = (0..30)
            .map(|i| {
                let mut lead = lead(&format!("客户{i}"), Some("+8613800138000"), None);
                lead["received_at"] = json!(format!("2023-11-14T22:13:{:02}.000Z", 59 - i));
                lead_created(&lead, "春季展会", URL)
            })
            .collect();
        let digest = digest(&messages, URL);
        assert_eq!(digest.title, "另有 30 条新线索（消息较多，已合并）");
        assert_eq!(digest.items.len(), MAX_DIGEST_LINES + 1);
        assert_eq!(digest.items[0], "客户0 · 138****8000 · 春季展会 · 扫码");
        assert_eq!(
            digest.items[MAX_DIGEST_LINES],
            "…以及其他 20 条，请在控制台查看"
        );
        assert_eq!(
            digest.link.as_deref(),
            Some("https://leads.example.com/admin/leads?since=2023-11-14T22%3A13%3A30.000Z")
        );
        // WeCom refuses markdown over 4,096 bytes: a digest of long names stays under it.
        let long: Vec<ChatMessage> = (0..500)
            .map(|_| {
                lead_created(
                    &lead(&"名".repeat(1000), Some("+8613800138000"), None),
                    &"活".repeat(1000),
                    URL,
                )
            })
            .collect();
        let event = json!({"id": "e", "type": "lead.created"});
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let big = super::digest(&long, URL);
        let wecom = request(
            Kind::Wecom,
            "https://r.example",
            None,
            &event,
            Some(&big),
            now,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&wecom.body).unwrap();
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(content.len() < 4096, "{} bytes", content.len());
        {}
        let mixed = super::digest(&[messages[0].clone(), test_message()], URL);
        assert_eq!(mixed.title, "另有 2 条通知（消息较多，已合并）");
    }

    fn roi_row(key: &str, name: &str, cost: &str, revenue: &str, roi: Value) -> Value {
        json!({"key": key, "name": name, "currency": "CNY", "cost": cost, "leads": 12,
               "orders": 1.5, "revenue": revenue, "roi_pct": roi})
    }

    fn report_event(every: &str, period: &str, from: &str, to: &str, rows: Vec<Value>) -> Value {
        json!({
            "id": "01JC0000000000000000000000", "type": "report.roi",
            "report": {"schedule": "01JC0000000000000000000001", "every": every,
                       "period": period, "from": from, "to": to, "group_by": "campaign"},
            "data": {
                "model": "last_touch", "currency": "CNY", "rows": rows,
                "totals": {"CNY": {"cost": "1234567.00", "leads": 30, "orders": 2.0,
                                   "revenue": "48500.50", "roi_pct": -96.07}},
                "warnings": [],
            },
        })
    }

    #[test]
    fn a_report_shows_totals_and_the_top_five_rows_by_revenue() {
        let rows: Vec<Value> = [
            ("a", "展会 2026", "100.00", "5.00"),
            ("b", "百度 SEM", "2000.00", "90000.00"),
            ("c", "抖音直播", "300.00", "1500.50"),
            ("d", "公众号", "0.00", "700.00"),
            ("e", "线下沙龙", "50.00", "0.00"),
            ("f", "官网", "10.00", "800.00"),
        ]
        .iter()
        .map(|(key, name, cost, revenue)| roi_row(key, name, cost, revenue, json!(150.0)))
        .collect();
        let event = report_event("daily", "2026-11-28", "2026-11-28", "2026-11-28", rows);
        let message = for_event(&event, None, URL).unwrap();
        assert_eq!(message.topic, Topic::Report);
        assert_eq!(message.title, "ROI 日报 2026-11-28");
        assert_eq!(
            message.rows,
            vec![
                ("周期", "2026-11-28".to_owned()),
                ("归因模型", "末次触点".to_owned()),
                ("分组", "按活动".to_owned()),
                (
                    "合计",
                    "CNY · 成本 1,234,567.00 · 线索 30 · 订单 2 · 收入 48,500.50 · ROI -96.07%"
                        .to_owned()
                ),
            ]
        );
        assert_eq!(
            message.items,
            [
                "TOP1 百度 SEM · 成本 2,000.00 · 线索 12 · 订单 1.50 · 收入 90,000.00 · ROI 150.00%",
                "TOP2 抖音直播 · 成本 300.00 · 线索 12 · 订单 1.50 · 收入 1,500.50 · ROI 150.00%",
                "TOP3 官网 · 成本 10.00 · 线索 12 · 订单 1.50 · 收入 800.00 · ROI 150.00%",
                "TOP4 公众号 · 成本 0.00 · 线索 12 · 订单 1.50 · 收入 700.00 · ROI 150.00%",
                "TOP5 展会 2026 · 成本 100.00 · 线索 12 · 订单 1.50 · 收入 5.00 · ROI 150.00%",
            ]
        );
        assert_eq!(
            message.link.as_deref(),
            Some(
                "https://leads.example.com/admin?from=2026-11-28&to=2026-11-28\
                 &model=last_touch&group_by=campaign"
            )
        );
        // Every robot's body carries the title and the rows; WeCom's stays under its limit.
        let sent = bodies(&[message]);
        for body in sent.iter().filter(|b| !b.starts_with("https://")) {
            assert!(body.contains("ROI 日报 2026-11-28"), "{body}");
            assert!(body.contains("TOP1 百度 SEM"), "{body}");
            assert!(
                !body.contains("线下沙龙"),
                "the sixth row is left out: {body}"
            );
        }
    }

    #[test]
    fn weekly_and_monthly_reports_name_their_period() {
        let weekly = roi_report(
            &report_event("weekly", "2026-W48", "2026-11-23", "2026-11-29", vec![]),
            URL,
        );
        assert_eq!(weekly.title, "ROI 周报 2026-W48");
        assert_eq!(
            weekly.rows[0],
            ("周期", "2026-11-23 至 2026-11-29".to_owned())
        );
        assert!(weekly.items.is_empty());
        let monthly = roi_report(
            &report_event("monthly", "2026-11", "2026-11-01", "2026-11-30", vec![]),
            URL,
        );
        assert_eq!(monthly.title, "ROI 月报 2026-11");
    }

    #[test]
    fn a_report_without_data_says_so_and_mixed_currencies_name_theirs() {
        let mut empty = report_event("daily", "2026-11-28", "2026-11-28", "2026-11-28", vec![]);
        empty["data"]["totals"] = json!({});
        let message = roi_report(&empty, URL);
        assert!(message.rows.contains(&("合计", "本期没有数据".to_owned())));

        let mut usd = roi_row("u", "Google", "10.00", "20.00", Value::Null);
        usd["currency"] = json!("USD");
        let mut mixed = report_event(
            "daily",
            "2026-11-28",
            "2026-11-28",
            "2026-11-28",
            vec![usd, roi_row("c", "百度", "1.00", "2.00", json!(100.0))],
        );
        mixed["data"]["currency"] = Value::Null;
        let message = roi_report(&mixed, URL);
        assert_eq!(
            message.items[0],
            "TOP1 Google USD · 成本 10.00 · 线索 12 · 订单 1.50 · 收入 20.00 · ROI —"
        );
        assert!(message.items[1].starts_with("TOP2 百度 CNY · "));
    }

    #[test]
    fn a_report_is_safe_to_post_whatever_the_names() {
        let rows = (0..6)
            .map(|i| {
                roi_row(
                    &format!("k{i}"),
                    &format!("<@all> 13800138000 {}", "长".repeat(1000)),
                    "1.00",
                    "2.00",
                    json!(100.0),
                )
            })
            .collect();
        let mut event = report_event("daily", "13800138000", "2026-11-28", "2026-11-28", rows);
        event["data"]["totals"]["CNY"]["revenue"] = json!("13800138000 call me");
        let message = roi_report(&event, URL);
        // A period that is not a date label is left out, not masked into the title.
        assert_eq!(message.title, "ROI 日报 ");
        for body in bodies(&[message]) {
            assert!(!body.contains("13800138000"), "{body}");
            assert!(!body.contains("<@all>"), "{body}");
            assert!(body.len() < 4096, "{} bytes", body.len());
        }
    }

    #[test]
    fn money_gets_thousands_separators_and_nothing_else_passes() {
        assert_eq!(group_thousands("0.00"), "0.00");
        assert_eq!(group_thousands("999.99"), "999.99");
        assert_eq!(group_thousands("1000.00"), "1,000.00");
        assert_eq!(group_thousands("48500.50"), "48,500.50");
        assert_eq!(group_thousands("-1234567.89"), "-1,234,567.89");
        assert_eq!(group_thousands("1000"), "1,000");
        for bad in ["", "-", "1.2.3", "12a.00", "1e9", " 1.00", ".50"] {
            assert_eq!(group_thousands(bad), "—", "{bad:?}");
        }
    }

    fn mainland_mobile() -> impl Strategy<Value = String> {
        "1[3-9][0-9]{9}"
    }

    fn email() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9._+-]{0,15}@[a-z0-9-]{1,12}\\.(com|cn|com\\.cn|net)"
    }

    proptest! {
        /// No robot body holds a lead's full phone (as E.164 or national digits) or e-mail,
        /// even when the visitor typed them into the name or a UTM value.
        #[test]
        fn no_chat_body_holds_a_full_phone_or_email(
            national in mainland_mobile(),
            email in email(),
            name_kind in 0..4usize,
            prefix in "[a-zA-Z\\p{Han}]{0,4}",
        ) {
            let e164 = format!("+86{national}");
            let name = match name_kind {
                0 => prefix.clone(),
                1 => format!("{prefix}{national}"),
                2 => format!("{prefix} {email}"),
                _ => format!("{prefix}+86 {} {} {}", &national[..3], &national[3..7], &national[7..]),
            };
            let mut lead = lead(&name, Some(&e164), Some(&email));
            lead["utm"]["utm_source"] = json!(email.clone());
            lead["utm"]["utm_medium"] = json!(national.clone());
            for body in bodies(&all_texts(&lead)) {
                prop_assert!(!body.contains(&national), "{} in {}", national, body);
                prop_assert!(!body.contains(&email), "{} in {}", email, body);
                prop_assert!(!body.contains(&e164[1..]), "{} in {}", e164, body);
            }
            let masked = format!("{}****{}", &national[..3], &national[7..]);
            prop_assert!(bodies(&all_texts(&lead))[0].contains(&masked));
        }
    }
}
