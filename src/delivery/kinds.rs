//! The four kinds of destination, as API.md's "Kinds" defines them: how each one's
//! request is built and signed, and what answer counts as delivered. Pure functions of
//! their inputs (the clock is a parameter), so the outbox worker only does the I/O.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use sha2::Sha256;

use super::chat::ChatMessage;

/// Standard Webhooks marks a base64 secret with this prefix.
const WHSEC_PREFIX: &str = "whsec_";

/// How much of a receiver's answer `last_error` quotes.
const ERROR_BODY_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Standard Webhooks v1: the event JSON, signed.
    Webhook,
    /// 企业微信 group robot.
    Wecom,
    /// 钉钉 custom robot.
    Dingtalk,
    /// 飞书 custom bot.
    Feishu,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Webhook, Kind::Wecom, Kind::Dingtalk, Kind::Feishu];

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Wecom => "wecom",
            Kind::Dingtalk => "dingtalk",
            Kind::Feishu => "feishu",
        }
    }

    /// A chat robot: gets masked chat text instead of the event, and is paced.
    pub fn is_chat(self) -> bool {
        self != Kind::Webhook
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One HTTP `POST`, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Whether `secret` can sign for `kind`; checked when a destination is saved, so a typo
/// is a `422` then and not a dead destination later. The message names the problem.
pub fn check_secret(kind: Kind, secret: &str) -> Result<(), String> {
    if secret.is_empty() {
        return Err("secret must not be empty (leave it out for no signing)".into());
    }
    // A pasted secret often brings a trailing newline; signing with it would fail every
    // time with no hint why.
    if secret.trim() != secret || secret.chars().any(char::is_control) {
        return Err("secret must not contain spaces, line breaks or control characters".into());
    }
    match kind {
        Kind::Webhook => webhook_key(secret).map(drop),
        Kind::Wecom => Err(
            "WeCom robots are not signed; leave the secret out (the key in the URL is the secret)"
                .into(),
        ),
        Kind::Dingtalk | Kind::Feishu => Ok(()),
    }
}

/// The request that delivers `event` (the outbox event JSON, `{"id", "type", …}`) to a
/// destination of `kind` at `url`, signed with `secret` at `now`. Webhooks get the event
/// itself; the robots get `chat`, its text from [`super::chat`] (or a digest). A robot
/// given no text is an error: the caller skips events a robot is not told about.
/// The error is what `last_error` shows.
pub fn request(
    kind: Kind,
    url: &str,
    secret: Option<&str>,
    event: &Value,
    chat: Option<&ChatMessage>,
    now: jiff::Timestamp,
) -> Result<OutgoingRequest, String> {
    if kind == Kind::Webhook {
        return webhook(url, secret, event, now);
    }
    let chat = chat.ok_or_else(|| {
        let kind_of_event = event.get("type").and_then(Value::as_str).unwrap_or("?");
        format!("no chat text for a {kind_of_event} event")
    })?;
    Ok(match kind {
        Kind::Wecom => wecom(url, chat),
        Kind::Dingtalk => dingtalk(url, secret, chat, now),
        Kind::Feishu => feishu(url, secret, chat, now),
        Kind::Webhook => unreachable!("handled above"),
    })
}

fn webhook(
    url: &str,
    secret: Option<&str>,
    event: &Value,
    now: jiff::Timestamp,
) -> Result<OutgoingRequest, String> {
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .ok_or("the event has no id")?;
    let body = serde_json::to_vec(event).map_err(|e| format!("event not serialisable: {e}"))?;
    let timestamp = now.as_second().to_string();
    let mut headers = vec![
        json_content_type(),
        ("webhook-id".to_owned(), id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.clone()),
    ];
    if let Some(secret) = secret {
        let key = webhook_key(secret)?;
        let mut signed = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
        signed.extend_from_slice(format!("{id}.{timestamp}.").as_bytes());
        signed.extend_from_slice(&body);
        headers.push((
            "webhook-signature".to_owned(),
            format!("v1,{}", BASE64.encode(hmac_sha256(&key, &signed))),
        ));
    }
    Ok(OutgoingRequest {
        url: url.to_owned(),
        headers,
        body,
    })
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`, or the raw
/// bytes of a secret without the prefix.
fn webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix(WHSEC_PREFIX) {
        Some(encoded) => match BASE64.decode(encoded) {
            Ok(key) if !key.is_empty() => Ok(key),
            Ok(_) => Err("the secret has nothing after whsec_".into()),
            Err(e) => Err(format!("the part after whsec_ is not valid base64: {e}")),
        },
        None => Ok(secret.as_bytes().to_vec()),
    }
}

fn wecom(url: &str, chat: &ChatMessage) -> OutgoingRequest {
    let mut lines = vec![format!("**{}**", chat.title)];
    lines.extend(
        chat.rows
            .iter()
            .map(|(label, value)| format!("> {label}：{value}")),
    );
    lines.extend(chat.items.iter().map(|item| format!("- {item}")));
    if let Some(link) = &chat.link {
        lines.push(format!("[在控制台查看]({link})"));
    }
    // WeCom notifies a member named as <@userid> in a robot's markdown.
    let mentions: Vec<String> = chat
        .mentions
        .iter()
        .filter_map(|m| m.wecom_userid.as_ref().map(|id| format!("<@{id}>")))
        .collect();
    if !mentions.is_empty() {
        lines.push(mentions.join(" "));
    }
    let body = json!({"msgtype": "markdown", "markdown": {"content": lines.join("\n")}});
    json_request(url.to_owned(), &body)
}

fn dingtalk(
    url: &str,
    secret: Option<&str>,
    chat: &ChatMessage,
    now: jiff::Timestamp,
) -> OutgoingRequest {
    // DingTalk's markdown joins single line breaks; list items and blank lines separate.
    let mut text = format!("#### {}\n\n", chat.title);
    let list: Vec<String> = chat
        .rows
        .iter()
        .map(|(label, value)| format!("- {label}：{value}"))
        .chain(chat.items.iter().map(|item| format!("- {item}")))
        .collect();
    text.push_str(&list.join("\n"));
    if let Some(link) = &chat.link {
        text.push_str(&format!("\n\n[在控制台查看]({link})"));
    }
    // DingTalk notifies the mobiles listed in `at`, and wants each `@mobile` in the text.
    let mobiles: Vec<&str> = chat
        .mentions
        .iter()
        .filter_map(|m| m.mobile.as_deref())
        .collect();
    if !mobiles.is_empty() {
        let ats: Vec<String> = mobiles.iter().map(|m| format!("@{m}")).collect();
        text.push_str(&format!("\n\n{}", ats.join(" ")));
    }
    let url = match secret {
        Some(secret) => {
            let timestamp = now.as_millisecond().to_string();
            let sign = BASE64.encode(hmac_sha256(
                secret.as_bytes(),
                format!("{timestamp}\n{secret}").as_bytes(),
            ));
            let query = format!(
                "timestamp={timestamp}&sign={}",
                utf8_percent_encode(&sign, NON_ALPHANUMERIC)
            );
            append_query(url, &query)
        }
        None => url.to_owned(),
    };
    let mut body = json!({"msgtype": "markdown", "markdown": {"title": chat.title, "text": text}});
    if !mobiles.is_empty() {
        body["at"] = json!({"atMobiles": mobiles, "isAtAll": false});
    }
    json_request(url, &body)
}

fn feishu(
    url: &str,
    secret: Option<&str>,
    chat: &ChatMessage,
    now: jiff::Timestamp,
) -> OutgoingRequest {
    let mut lines = vec![chat.title.clone()];
    lines.extend(
        chat.rows
            .iter()
            .map(|(label, value)| format!("{label}：{value}")),
    );
    lines.extend(chat.items.iter().map(|item| format!("· {item}")));
    if let Some(link) = &chat.link {
        lines.push(format!("在控制台查看：{link}"));
    }
    // Feishu notifies <at user_id="ou_…">name</at> in a text message.
    let mentions: Vec<String> = chat
        .mentions
        .iter()
        .filter_map(|m| {
            m.feishu_open_id
                .as_ref()
                .map(|id| format!("<at user_id=\"{id}\">{}</at>", super::chat::clean(&m.name)))
        })
        .collect();
    if !mentions.is_empty() {
        lines.push(mentions.join(" "));
    }
    let mut body = serde_json::Map::new();
    if let Some(secret) = secret {
        let timestamp = now.as_second().to_string();
        // Feishu signs nothing with the secret and time as the key: that is its formula.
        let sign = BASE64.encode(hmac_sha256(
            format!("{timestamp}\n{secret}").as_bytes(),
            b"",
        ));
        body.insert("timestamp".into(), Value::String(timestamp));
        body.insert("sign".into(), Value::String(sign));
    }
    body.insert("msg_type".into(), Value::String("text".into()));
    body.insert("content".into(), json!({"text": lines.join("\n")}));
    json_request(url.to_owned(), &Value::Object(body))
}

/// `url` with `query` added after its existing query, or as its query; a `#fragment`
/// stays last.
fn append_query(url: &str, query: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    match fragment {
        Some(fragment) => format!("{base}{separator}{query}#{fragment}"),
        None => format!("{base}{separator}{query}"),
    }
}

fn json_request(url: String, body: &Value) -> OutgoingRequest {
    OutgoingRequest {
        url,
        headers: vec![json_content_type()],
        body: serde_json::to_vec(body).expect("a JSON value always serialises"),
    }
}

fn json_content_type() -> (String, String) {
    (
        "content-type".to_owned(),
        "application/json; charset=utf-8".to_owned(),
    )
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Whether the receiver's answer (`status`, `body`) means the message was delivered; the
/// error is what `last_error` shows (`HTTP 500`, `errcode 310000: sign not match`).
/// HTTP `410` is an error here like any other; the caller also marks the destination dead.
pub fn delivered(kind: Kind, status: u16, body: &[u8]) -> Result<(), String> {
    let success = (200..300).contains(&status);
    match kind {
        Kind::Webhook if success => Ok(()),
        Kind::Webhook => Err(format!("HTTP {status}")),
        // WeCom answers 200 for its own errors; anything else is not its answer.
        Kind::Wecom if status != 200 => Err(format!("HTTP {status}")),
        Kind::Wecom | Kind::Dingtalk => platform_code(status, body, &["errcode"], &["errmsg"]),
        Kind::Feishu => platform_code(
            status,
            body,
            &["code", "StatusCode"],
            &["msg", "StatusMessage"],
        ),
    }
}

/// Reads a chat platform's answer: delivered on a 2xx whose first present `codes` field
/// is 0.
fn platform_code(
    status: u16,
    body: &[u8],
    codes: &[&str],
    messages: &[&str],
) -> Result<(), String> {
    let success = (200..300).contains(&status);
    let http = |status: u16| {
        if status == 200 {
            String::new()
        } else {
            format!("HTTP {status}, ")
        }
    };
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Err(if success {
            format!("HTTP {status}, not JSON: {}", snippet(body))
        } else {
            format!("HTTP {status}")
        });
    };
    let found = codes.iter().find_map(|name| {
        answer
            .get(*name)
            .and_then(Value::as_i64)
            .map(|c| (*name, c))
    });
    let message = messages
        .iter()
        .find_map(|name| answer.get(*name).and_then(Value::as_str))
        .unwrap_or("");
    match found {
        Some((_, 0)) if success => Ok(()),
        Some((_, 0)) => Err(format!("HTTP {status}")),
        Some((name, code)) => Err(format!("{}{name} {code}: {message}", http(status))),
        None if success => Err(format!(
            "HTTP {status} without {}: {}",
            codes.join(" or "),
            snippet(body)
        )),
        None => Err(format!("HTTP {status}")),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(ERROR_BODY_CHARS).collect();
    if text.chars().count() > ERROR_BODY_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    //! Each request is checked the way its platform checks it: the signature is recomputed
    //! here from the documented formula with the crates directly, not with the code above.
    //! The fixed vectors were computed independently with Python's hmac/hashlib/base64:
    //!
    //! ```text
    //! python3 -c 'import hmac,hashlib,base64
    //! k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    //! m=b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}"
    //! print(base64.b64encode(hmac.new(k,m,hashlib.sha256).digest()))'
    //! ```
    //! and likewise for the other vectors, with the messages given beside them.
    use super::*;
    use crate::delivery::chat;

    const ID: &str = "01JC0000000000000000000000";
    /// The event whose serialised form the webhook vectors were computed over.
    const EVENT_BODY: &str = r#"{"id":"01JC0000000000000000000000","type":"lead.created","occurred_at":"2023-11-14T22:13:20.000Z","node":"n1","data":{"id":"01JC0000000000000000000000"}}"#;
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn now() -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000).unwrap()
    }

    fn event() -> Value {
        serde_json::from_str(EVENT_BODY).unwrap()
    }

    fn mac(key: &[u8], message: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        Mac::update(&mut mac, message);
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    fn header<'a>(request: &'a OutgoingRequest, name: &str) -> &'a str {
        let mut found = request.headers.iter().filter(|(n, _)| n == name);
        let value = &found.next().unwrap_or_else(|| panic!("no {name} header")).1;
        assert!(found.next().is_none(), "{name} given twice");
        value
    }

    fn lead_message() -> ChatMessage {
        let lead = serde_json::json!({
            "id": ID, "campaign": "spring-expo", "received_at": "2023-11-14T22:13:20.000Z",
            "name": "张三", "phone": "+8613800138000", "email": "zhang@example.com",
            "utm": {"utm_source": "baidu", "utm_medium": "cpc"}, "source": "form",
        });
        chat::lead_created(&lead, "春季展会", "https://leads.example.com")
    }

    /// A Standard Webhooks receiver: decode the `whsec_` secret, sign
    /// `{webhook-id}.{webhook-timestamp}.{body}`, compare with every `v1,` signature, and
    /// refuse a timestamp more than 5 minutes away.
    fn standard_webhooks_verify(secret: &str, request: &OutgoingRequest, now: i64) -> bool {
        let key = match secret.strip_prefix("whsec_") {
            Some(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
            None => secret.as_bytes().to_vec(),
        };
        let id = header(request, "webhook-id");
        let timestamp = header(request, "webhook-timestamp");
        if (timestamp.parse::<i64>().unwrap() - now).abs() > 300 {
            return false;
        }
        let mut signed = format!("{id}.{timestamp}.").into_bytes();
        signed.extend_from_slice(&request.body);
        let expected = mac(&key, &signed);
        header(request, "webhook-signature")
            .split(' ')
            .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("slack"), None);
        assert_eq!(Kind::parse("Webhook"), None);
        assert!(!Kind::Webhook.is_chat() && Kind::Feishu.is_chat());
    }

    #[test]
    fn the_test_helper_reproduces_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification, so the verifier below is
        // known to implement the specification rather than this module.
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        assert_eq!(
            mac(
                &key,
                br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#
            ),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_webhook_carries_the_event_signed_the_standard_webhooks_way() {
        let req = request(
            Kind::Webhook,
            "https://crm.example.com/hook",
            Some(WHSEC),
            &event(),
            None,
            now(),
        )
        .unwrap();
        assert_eq!(req.url, "https://crm.example.com/hook");
        assert_eq!(req.body, EVENT_BODY.as_bytes());
        assert_eq!(header(&req, "webhook-id"), ID);
        assert_eq!(header(&req, "webhook-timestamp"), "1700000000");
        // python3: base64(hmac(b64decode("MfKQ…"), b"01JC…0.1700000000." + EVENT_BODY))
        assert_eq!(
            header(&req, "webhook-signature"),
            "v1,qoAbM6mjSv5ElYG/zWuSGiCxGR2eVGeeb10hPTzjxis="
        );
        assert!(standard_webhooks_verify(WHSEC, &req, 1_700_000_000));
        // The receiver's checks can fail: another secret, a replay an hour later, a body
        // changed on the way.
        assert!(!standard_webhooks_verify(
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAA",
            &req,
            1_700_000_000
        ));
        assert!(!standard_webhooks_verify(WHSEC, &req, 1_700_003_600));
        let mut tampered = req.clone();
        tampered.body[10] ^= 1;
        assert!(!standard_webhooks_verify(WHSEC, &tampered, 1_700_000_000));
    }

    #[test]
    fn a_secret_without_the_prefix_is_the_key_itself() {
        let req = request(
            Kind::Webhook,
            "https://x.example",
            Some("plain-secret"),
            &event(),
            None,
            now(),
        )
        .unwrap();
        // python3: base64(hmac(b"plain-secret", b"01JC…0.1700000000." + EVENT_BODY))
        assert_eq!(
            header(&req, "webhook-signature"),
            "v1,JDemt43EMqfS/JVu1il4sItrl+ci3IRRpcalXv1du8o="
        );
        assert!(standard_webhooks_verify(
            "plain-secret",
            &req,
            1_700_000_000
        ));
    }

    #[test]
    fn a_webhook_without_secret_is_unsigned_and_a_chat_text_is_ignored() {
        let message = lead_message();
        let req = request(
            Kind::Webhook,
            "https://x.example",
            None,
            &event(),
            Some(&message),
            now(),
        )
        .unwrap();
        assert!(req.headers.iter().all(|(n, _)| n != "webhook-signature"));
        assert_eq!(req.body, EVENT_BODY.as_bytes());
        assert_eq!(header(&req, "webhook-id"), ID);
    }

    #[test]
    fn a_webhook_needs_an_event_id_and_a_decodable_secret() {
        let no_id = serde_json::json!({"type": "lead.created"});
        assert!(
            request(
                Kind::Webhook,
                "https://x.example",
                None,
                &no_id,
                None,
                now()
            )
            .is_err()
        );
        let err = request(
            Kind::Webhook,
            "https://x.example",
            Some("whsec_not base64!"),
            &event(),
            None,
            now(),
        )
        .unwrap_err();
        assert!(err.contains("base64"), "{err}");
    }

    #[test]
    fn secrets_are_checked_when_saved() {
        assert_eq!(check_secret(Kind::Webhook, WHSEC), Ok(()));
        assert_eq!(check_secret(Kind::Webhook, "plain-secret"), Ok(()));
        assert!(check_secret(Kind::Webhook, "whsec_%%%").is_err());
        assert!(check_secret(Kind::Webhook, "whsec_").is_err());
        assert!(check_secret(Kind::Webhook, "").is_err());
        assert!(check_secret(Kind::Dingtalk, "SEC123\n").is_err());
        assert!(check_secret(Kind::Feishu, " abc").is_err());
        assert_eq!(check_secret(Kind::Dingtalk, "SEC0123456789abcdef"), Ok(()));
        assert_eq!(check_secret(Kind::Feishu, "demo-secret"), Ok(()));
        assert!(check_secret(Kind::Wecom, "anything").is_err());
    }

    #[test]
    fn a_wecom_robot_gets_markdown_content() {
        let url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc";
        let req = request(
            Kind::Wecom,
            url,
            None,
            &event(),
            Some(&lead_message()),
            now(),
        )
        .unwrap();
        assert_eq!(req.url, url);
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["msgtype"], "markdown");
        let content = body["markdown"]["content"].as_str().unwrap();
        assert!(content.starts_with("**新线索 · 春季展会**\n"), "{content}");
        assert!(content.contains("> 电话：138****8000"), "{content}");
        assert!(content.contains("> 邮箱：z***@example.com"), "{content}");
        assert!(content.contains("[在控制台查看](https://leads.example.com/admin/leads?"));
        assert_eq!(body.as_object().unwrap().len(), 2);
    }

    #[test]
    fn a_robot_without_chat_text_is_an_error() {
        let err = request(
            Kind::Wecom,
            "https://x.example",
            None,
            &event(),
            None,
            now(),
        )
        .unwrap_err();
        assert_eq!(err, "no chat text for a lead.created event");
    }

    /// DingTalk's check: `timestamp` within an hour, and `sign` (URL-decoded) equal to
    /// base64(HMAC-SHA256(key = secret, "{timestamp}\n{secret}")).
    fn dingtalk_verify(secret: &str, url: &str, now_ms: i64) -> bool {
        let parsed = url::Url::parse(url).unwrap();
        let get = |name: &str| {
            parsed
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let (Some(timestamp), Some(sign)) = (get("timestamp"), get("sign")) else {
            return false;
        };
        (timestamp.parse::<i64>().unwrap() - now_ms).abs() <= 3_600_000
            && sign
                == mac(
                    secret.as_bytes(),
                    format!("{timestamp}\n{secret}").as_bytes(),
                )
    }

    #[test]
    fn a_dingtalk_robot_gets_a_signed_url_and_markdown() {
        let secret = "SEC0123456789abcdef";
        let url = "https://oapi.dingtalk.com/robot/send?access_token=tok";
        let req = request(
            Kind::Dingtalk,
            url,
            Some(secret),
            &event(),
            Some(&lead_message()),
            now(),
        )
        .unwrap();
        // python3: s = base64(hmac(b"SEC0123456789abcdef", b"1700000000000\nSEC0123456789abcdef"))
        //          urllib.parse.quote_plus(s)
        assert_eq!(
            req.url,
            "https://oapi.dingtalk.com/robot/send?access_token=tok&timestamp=1700000000000\
             &sign=TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D"
        );
        assert!(dingtalk_verify(secret, &req.url, 1_700_000_000_000));
        assert!(!dingtalk_verify("SECother", &req.url, 1_700_000_000_000));
        assert!(!dingtalk_verify(secret, &req.url, 1_700_007_200_000));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["msgtype"], "markdown");
        assert_eq!(body["markdown"]["title"], "新线索 · 春季展会");
        let text = body["markdown"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("#### 新线索 · 春季展会\n\n- 活动：春季展会\n"),
            "{text}"
        );
        assert!(text.contains("- 电话：138****8000\n"), "{text}");
    }

    #[test]
    fn a_dingtalk_url_gets_its_query_started_or_continued() {
        let message = lead_message();
        let signed = |url: &str| {
            request(
                Kind::Dingtalk,
                url,
                Some("s"),
                &event(),
                Some(&message),
                now(),
            )
            .unwrap()
            .url
        };
        assert!(
            signed("https://d.example/robot")
                .starts_with("https://d.example/robot?timestamp=1700000000000&sign=")
        );
        assert!(
            signed("https://d.example/robot?").starts_with("https://d.example/robot?timestamp=")
        );
        assert!(
            signed("https://d.example/r?a=1#top").starts_with("https://d.example/r?a=1&timestamp=")
        );
        assert!(signed("https://d.example/r?a=1#top").ends_with("#top"));
        let unsigned = request(
            Kind::Dingtalk,
            "https://d.example/r?a=1",
            None,
            &event(),
            Some(&message),
            now(),
        )
        .unwrap();
        assert_eq!(unsigned.url, "https://d.example/r?a=1");
    }

    #[test]
    fn a_feishu_bot_gets_signed_text() {
        let secret = "demo-secret";
        let req = request(
            Kind::Feishu,
            "https://open.feishu.cn/open-apis/bot/v2/hook/x",
            Some(secret),
            &event(),
            Some(&lead_message()),
            now(),
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["timestamp"], "1700000000");
        // python3: base64(hmac(key=b"1700000000\ndemo-secret", msg=b""))
        assert_eq!(body["sign"], "mYHw2R2SOm8Rw/sne3lQdmz4sOfntKR+1P/8RKKTwmA=");
        // Feishu's check: recompute with the key "{timestamp}\n{secret}" and no message.
        let timestamp = body["timestamp"].as_str().unwrap();
        assert_eq!(
            body["sign"],
            mac(format!("{timestamp}\n{secret}").as_bytes(), b"")
        );
        assert_ne!(
            body["sign"],
            mac(format!("{timestamp}\nother").as_bytes(), b"")
        );
        assert_eq!(body["msg_type"], "text");
        let text = body["content"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("新线索 · 春季展会\n活动：春季展会\n"),
            "{text}"
        );
        assert!(text.contains("电话：138****8000"), "{text}");

        let unsigned = request(
            Kind::Feishu,
            "https://f.example",
            None,
            &event(),
            Some(&lead_message()),
            now(),
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&unsigned.body).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["msg_type", "content"]);
    }

    #[test]
    fn webhooks_are_delivered_on_any_2xx() {
        assert_eq!(delivered(Kind::Webhook, 200, b""), Ok(()));
        assert_eq!(delivered(Kind::Webhook, 204, b""), Ok(()));
        assert_eq!(delivered(Kind::Webhook, 299, b"{\"errcode\": 1}"), Ok(()));
        assert_eq!(delivered(Kind::Webhook, 301, b""), Err("HTTP 301".into()));
        assert_eq!(delivered(Kind::Webhook, 410, b""), Err("HTTP 410".into()));
        assert_eq!(
            delivered(Kind::Webhook, 500, b"oops"),
            Err("HTTP 500".into())
        );
    }

    #[test]
    fn wecom_is_delivered_on_200_with_errcode_0() {
        assert_eq!(
            delivered(Kind::Wecom, 200, br#"{"errcode":0,"errmsg":"ok"}"#),
            Ok(())
        );
        assert_eq!(
            delivered(
                Kind::Wecom,
                200,
                br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
            ),
            Err("errcode 45009: api freq out of limit".into())
        );
        // Only a 200 is WeCom's own answer, whatever a proxy put in the body.
        assert_eq!(
            delivered(Kind::Wecom, 204, br#"{"errcode":0}"#),
            Err("HTTP 204".into())
        );
        assert_eq!(delivered(Kind::Wecom, 410, b""), Err("HTTP 410".into()));
        assert_eq!(
            delivered(Kind::Wecom, 500, b"<html>"),
            Err("HTTP 500".into())
        );
        let err = delivered(Kind::Wecom, 200, b"<html>maintenance</html>").unwrap_err();
        assert_eq!(err, "HTTP 200, not JSON: <html>maintenance</html>");
        let err = delivered(Kind::Wecom, 200, b"{}").unwrap_err();
        assert_eq!(err, "HTTP 200 without errcode: {}");
    }

    #[test]
    fn dingtalk_is_delivered_on_errcode_0() {
        assert_eq!(
            delivered(Kind::Dingtalk, 200, br#"{"errcode":0,"errmsg":"ok"}"#),
            Ok(())
        );
        assert_eq!(
            delivered(
                Kind::Dingtalk,
                200,
                br#"{"errcode":310000,"errmsg":"sign not match"}"#
            ),
            Err("errcode 310000: sign not match".into())
        );
        assert_eq!(delivered(Kind::Dingtalk, 410, b""), Err("HTTP 410".into()));
        assert_eq!(delivered(Kind::Dingtalk, 500, b""), Err("HTTP 500".into()));
        assert_eq!(
            delivered(
                Kind::Dingtalk,
                400,
                br#"{"errcode":300001,"errmsg":"token is not exist"}"#
            ),
            Err("HTTP 400, errcode 300001: token is not exist".into())
        );
    }

    #[test]
    fn feishu_is_delivered_on_code_0_or_status_code_0() {
        assert_eq!(
            delivered(
                Kind::Feishu,
                200,
                br#"{"code":0,"msg":"success","data":{}}"#
            ),
            Ok(())
        );
        assert_eq!(
            delivered(
                Kind::Feishu,
                200,
                br#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#
            ),
            Ok(())
        );
        assert_eq!(
            delivered(Kind::Feishu, 200, br#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#),
            Err("code 19021: sign match fail or timestamp is not within one hour from current time".into())
        );
        assert_eq!(
            delivered(
                Kind::Feishu,
                200,
                br#"{"StatusCode":9499,"StatusMessage":"Bad Request"}"#
            ),
            Err("StatusCode 9499: Bad Request".into())
        );
        assert_eq!(delivered(Kind::Feishu, 410, b""), Err("HTTP 410".into()));
        assert_eq!(
            delivered(Kind::Feishu, 500, br#"{"code":0}"#),
            Err("HTTP 500".into())
        );
    }

    #[test]
    fn last_error_quotes_at_most_200_characters() {
        let long = "界".repeat(500);
        let err = delivered(Kind::Feishu, 200, long.as_bytes()).unwrap_err();
        assert_eq!(
            err.chars().count(),
            "HTTP 200, not JSON: ".chars().count() + 201
        );
    }
}
