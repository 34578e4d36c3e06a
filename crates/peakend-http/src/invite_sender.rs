//! How survey invitations leave (issue 22): the minute sweep takes the entries due from
//! the durable outbox (`InvitationStore::sweep_invitations`), builds each one's message
//! with its one-time link, and hands it to the configured [`InviteSender`]:
//!
//! - `log` (the default and the demo's): one tracing line, nothing leaves;
//! - `webhook`: a signed JSON POST to an SMS gateway's HTTP API;
//! - `smtp`: a mail to an email-to-SMS gateway, addressed by the customer's salted key.
//!
//! peakend never holds a phone number: the gateway maps the salted key to the number.
//! A send that fails stays in the outbox with its token and is tried again after a
//! back-off ([`crate::case_worker::retry_after`]); a delivered one loses its token.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Body, Mailbox, header::ContentTransferEncoding};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use peakend_store::Outgoing;
use serde::Serialize;

use crate::case_worker::{SIGNATURE_HEADER, signature};

/// The `X-Peakend-Event` of an invitation sent by the webhook sender.
pub const INVITATION_EVENT: &str = "survey.invitation";

/// How long one send may take (the webhook's request, the SMTP session).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One invitation (or its reminder) as it leaves: everything a gateway needs to text
/// the customer, who is named only by the salted key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InviteMessage {
    /// `{invitation}-{kind}`: the same on a re-send after a crash, so a gateway can
    /// drop a duplicate.
    pub id: String,
    pub invitation: i64,
    /// `invite` or `reminder`.
    pub kind: String,
    pub hall: String,
    pub hall_name: String,
    /// The customer's salted key (64 hex digits), never the number.
    pub customer: Option<String>,
    /// The mobile form, bound to the visit or call: `{base}/i/{token}`.
    pub link: String,
    /// `{base}/i/{token}/optout`.
    pub optout_link: String,
    /// RFC 3339, UTC.
    pub expires_at: Option<String>,
    /// The SMS in zh-CN.
    pub text_zh: String,
    /// The same in English.
    pub text_en: String,
}

impl InviteMessage {
    /// The message of an outbox entry, its links under `link_base` (no trailing `/`),
    /// as of `now_ms` (for the hours the link still lives).
    pub fn of(o: &Outgoing, link_base: &str, now_ms: i64) -> InviteMessage {
        let link = format!("{link_base}/i/{}", o.token);
        let optout_link = format!("{link}/optout");
        let hours = o
            .expires_at
            .map(|e| ((e - now_ms).max(0) / 3_600_000).max(1));
        let reminder = o.kind == "reminder";
        let hall = &o.hall_name;
        let text_zh = match (reminder, hours) {
            (false, Some(h)) => format!(
                "【服务评价】感谢您到访{hall}。邀您用1分钟评价本次服务：{link}（{h}小时内有效）。不再接收：{optout_link}"
            ),
            (false, None) => format!(
                "【服务评价】感谢您到访{hall}。邀您用1分钟评价本次服务：{link}。不再接收：{optout_link}"
            ),
            (true, Some(h)) => format!(
                "【服务评价】提醒：您对{hall}本次服务的评价还未完成，只需1分钟：{link}（{h}小时内有效）。不再接收：{optout_link}"
            ),
            (true, None) => format!(
                "【服务评价】提醒：您对{hall}本次服务的评价还未完成，只需1分钟：{link}。不再接收：{optout_link}"
            ),
        };
        let valid = |h: i64| {
            if h == 1 {
                " (valid for 1 hour)".to_owned()
            } else {
                format!(" (valid for {h} hours)")
            }
        };
        let validity = hours.map(valid).unwrap_or_default();
        let text_en = if reminder {
            format!(
                "[Service survey] A reminder: your rating of your visit to {hall} takes 1 minute: {link}{validity}. Opt out: {optout_link}"
            )
        } else {
            format!(
                "[Service survey] Thank you for visiting {hall}. Please rate our service in 1 minute: {link}{validity}. Opt out: {optout_link}"
            )
        };
        InviteMessage {
            id: format!("{}-{}", o.invitation_id, o.kind),
            invitation: o.invitation_id,
            kind: o.kind.clone(),
            hall: o.hall.clone(),
            hall_name: o.hall_name.clone(),
            customer: o.customer_key.clone(),
            link,
            optout_link,
            expires_at: o.expires_at.and_then(|e| {
                chrono::DateTime::from_timestamp_millis(e)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }),
            text_zh,
            text_en,
        }
    }
}

/// Why a send failed: a short text of ours (kept with the outbox entry, so never a
/// token, a link, a key or a receiver's own words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub reason: String,
    /// The gateway could not be reached at all (refused, timed out): the rest of the
    /// batch waits for the next sweep instead of timing out one by one.
    pub unreachable: bool,
}

impl SendError {
    fn failed(reason: impl Into<String>) -> SendError {
        SendError {
            reason: reason.into(),
            unreachable: false,
        }
    }

    fn unreachable(reason: impl Into<String>) -> SendError {
        SendError {
            reason: reason.into(),
            unreachable: true,
        }
    }
}

/// Sends one invitation; `Ok` means the gateway took it.
#[async_trait]
pub trait InviteSender: Send + Sync {
    /// `log`, `webhook` or `smtp`.
    fn name(&self) -> &'static str;

    async fn send(&self, message: &InviteMessage) -> Result<(), SendError>;
}

/// Logs a line per invitation with its id, hall and kind (never the token, the link or
/// the customer's key); sends nothing.
#[derive(Debug, Default)]
pub struct LogSender;

#[async_trait]
impl InviteSender for LogSender {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, m: &InviteMessage) -> Result<(), SendError> {
        tracing::info!(invitation = m.invitation, hall = %m.hall, kind = %m.kind, "survey invitation sent (log sender)");
        Ok(())
    }
}

/// POSTs the message as JSON to an SMS gateway, signed like the case webhooks
/// (`X-Peakend-Signature: sha256=<hex HMAC-SHA256 of the body>`); a 2xx answer is a
/// delivery, anything else a failure.
pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    secret: String,
}

impl WebhookSender {
    /// Refuses a URL that is not `http://` (this build has no TLS stack: an `https://`
    /// gateway is reached through a local TLS-terminating proxy) and an empty secret.
    pub fn new(url: &str, secret: &str) -> Result<WebhookSender, String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("--invite-webhook-url `{url}`: not a URL ({e})"))?;
        match parsed.scheme() {
            "http" => {}
            "https" => {
                return Err(format!(
                    "--invite-webhook-url `{url}`: https is not built in; reach the gateway \
                     through a local TLS-terminating proxy (http://…)"
                ));
            }
            other => {
                return Err(format!(
                    "--invite-webhook-url `{url}`: an http:// address, not {other}:"
                ));
            }
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(format!("--invite-webhook-url `{url}`: no host"));
        }
        if secret.trim().is_empty() {
            return Err("--invite-webhook-secret: empty".to_owned());
        }
        let client = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("webhook client unavailable: {e}"))?;
        Ok(WebhookSender {
            client,
            url: url.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

#[async_trait]
impl InviteSender for WebhookSender {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, m: &InviteMessage) -> Result<(), SendError> {
        let body = serde_json::to_string(m).map_err(|_| SendError::failed("unencodable"))?;
        let result = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("X-Peakend-Event", INVITATION_EVENT)
            .header(SIGNATURE_HEADER, signature(&self.secret, &body))
            .body(body)
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(SendError::failed(format!("HTTP {}", r.status().as_u16()))),
            Err(e) if e.is_timeout() => Err(SendError::unreachable("timed out")),
            Err(e) if e.is_connect() => Err(SendError::unreachable("cannot connect")),
            Err(_) => Err(SendError::failed("request failed")),
        }
    }
}

/// Mails the message (subject 【服务评价】Service survey, body the zh-CN text then
/// the English, base64 UTF-8) to an email-to-SMS gateway at an address made from a
/// template by putting the customer's salted key in `{customer}`, e.g.
/// `{customer}@sms-gw.example.net`: the gateway maps the key to the number.
/// Plain SMTP to a local relay (no TLS), one session per message.
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to_template: String,
}

/// A customer key as the templates are checked with.
const SAMPLE_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

impl SmtpSender {
    /// `smtp_url` is `smtp://host[:port]` (port 25 when left out).
    pub fn new(smtp_url: &str, from: &str, to_template: &str) -> Result<SmtpSender, String> {
        let url = reqwest::Url::parse(smtp_url)
            .map_err(|e| format!("--smtp-url `{smtp_url}`: not a URL ({e})"))?;
        if url.scheme() != "smtp" {
            return Err(format!(
                "--smtp-url `{smtp_url}`: an smtp://host:port address (a local relay; no TLS)"
            ));
        }
        let host = match url.host_str() {
            // `[::1]` as the URL writes it; the socket wants `::1`.
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
            _ => return Err(format!("--smtp-url `{smtp_url}`: no host")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "--smtp-url `{smtp_url}`: credentials are not supported (a local relay)"
            ));
        }
        let port = url.port().unwrap_or(25);
        let from: Mailbox = from
            .parse()
            .map_err(|_| format!("--invite-mail-from `{from}`: not a mail address"))?;
        if !to_template.contains("{customer}") {
            return Err(format!(
                "--invite-mail-to `{to_template}`: must contain {{customer}} (e.g. {{customer}}@sms-gw.example.net)"
            ));
        }
        to_template
            .replace("{customer}", SAMPLE_KEY)
            .parse::<Mailbox>()
            .map_err(|_| {
                format!(
                    "--invite-mail-to `{to_template}`: not a mail address with {{customer}} in it"
                )
            })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(SEND_TIMEOUT))
            .build();
        Ok(SmtpSender {
            transport,
            from,
            to_template: to_template.to_owned(),
        })
    }

    /// The recipient of a customer's invitation.
    pub fn recipient(&self, customer: &str) -> Result<Mailbox, SendError> {
        // A stored key is 64 hex digits; anything else is not put into an address.
        if customer.len() != 64 || !customer.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SendError::failed("customer key is not 64 hex digits"));
        }
        self.to_template
            .replace("{customer}", &customer.to_ascii_lowercase())
            .parse()
            .map_err(|_| SendError::failed("recipient address invalid"))
    }
}

#[async_trait]
impl InviteSender for SmtpSender {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, m: &InviteMessage) -> Result<(), SendError> {
        let Some(customer) = m.customer.as_deref() else {
            return Err(SendError::failed("no customer key"));
        };
        let to = self.recipient(customer)?;
        let text = format!("{}\n{}\n", m.text_zh, m.text_en);
        let body = Body::new_with_encoding(text, ContentTransferEncoding::Base64)
            .map_err(|_| SendError::failed("unencodable"))?;
        let mail = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject("【服务评价】Service survey")
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|_| SendError::failed("message invalid"))?;
        match self.transport.send(mail).await {
            Ok(_) => Ok(()),
            Err(e) => Err(match e.status() {
                Some(code) => SendError::failed(format!("SMTP {code}")),
                None if e.is_timeout() => SendError::unreachable("timed out"),
                None if e.is_response() => SendError::failed("SMTP answer unreadable"),
                None => SendError::unreachable("cannot connect"),
            }),
        }
    }
}

/// The sender to build, as `peakend serve` is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderConfig {
    Log,
    Webhook {
        url: String,
        secret: String,
    },
    Smtp {
        url: String,
        from: String,
        to: String,
    },
}

impl SenderConfig {
    /// Builds the sender, or one line naming the option at fault.
    pub fn build(&self) -> Result<Arc<dyn InviteSender>, String> {
        Ok(match self {
            SenderConfig::Log => Arc::new(LogSender),
            SenderConfig::Webhook { url, secret } => Arc::new(WebhookSender::new(url, secret)?),
            SenderConfig::Smtp { url, from, to } => Arc::new(SmtpSender::new(url, from, to)?),
        })
    }
}

/// Checks a link base (`http://` or `https://`, a host, no query) and drops its
/// trailing `/`.
pub fn link_base(base: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(base)
        .map_err(|e| format!("--invite-link-base `{base}`: not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "--invite-link-base `{base}`: an http:// or https:// address"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--invite-link-base `{base}`: no query or fragment (the links add /i/<token>)"
        ));
    }
    Ok(base.trim_end_matches('/').to_owned())
}

/// The sender and the links' base, as the server holds them.
#[derive(Clone)]
pub struct Invites {
    pub sender: Arc<dyn InviteSender>,
    /// `http://host:port` (no trailing `/`): links are `{base}/i/{token}`.
    pub link_base: String,
}

impl Default for Invites {
    fn default() -> Self {
        Invites {
            sender: Arc::new(LogSender),
            link_base: "http://127.0.0.1:8080".to_owned(),
        }
    }
}

impl std::fmt::Debug for Invites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invites")
            .field("sender", &self.sender.name())
            .field("link_base", &self.link_base)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(kind: &str) -> Outgoing {
        Outgoing {
            outbox_id: 7,
            invitation_id: 3,
            hall: "h1".into(),
            hall_name: "人民路营业厅".into(),
            kind: kind.into(),
            customer_key: Some("ab".repeat(32)),
            token: "f".repeat(64),
            expires_at: Some(72 * 3_600_000),
            attempts: 0,
            last_error: None,
        }
    }

    #[test]
    fn the_message_carries_both_links_and_the_hours_left() {
        let m = InviteMessage::of(&outgoing("invite"), "https://cx.example.net", 0);
        let link = format!("https://cx.example.net/i/{}", "f".repeat(64));
        assert_eq!(m.link, link);
        assert_eq!(m.optout_link, format!("{link}/optout"));
        assert_eq!(
            m.text_zh,
            format!(
                "【服务评价】感谢您到访人民路营业厅。邀您用1分钟评价本次服务：{link}（72小时内有效）。不再接收：{link}/optout"
            )
        );
        assert!(m.text_en.contains("(valid for 72 hours)"), "{}", m.text_en);
        assert_eq!(m.id, "3-invite");
        assert_eq!(m.expires_at.as_deref(), Some("1970-01-04T00:00:00Z"));
        // A reminder a day later: 48 hours left.
        let r = InviteMessage::of(&outgoing("reminder"), "http://h", 24 * 3_600_000);
        assert!(r.text_zh.contains("提醒") && r.text_zh.contains("48小时内有效"));
        assert!(r.text_en.contains("reminder"));
    }

    #[test]
    fn senders_refuse_bad_settings_by_option() {
        let err = |c: SenderConfig| c.build().err().unwrap();
        let hook = |url: &str, secret: &str| SenderConfig::Webhook {
            url: url.into(),
            secret: secret.into(),
        };
        assert!(err(hook("https://gw", "s")).contains("TLS-terminating proxy"));
        assert!(err(hook("ftp://gw", "s")).starts_with("--invite-webhook-url"));
        assert!(err(hook("http://gw", " ")).starts_with("--invite-webhook-secret"));
        let smtp = |url: &str, from: &str, to: &str| SenderConfig::Smtp {
            url: url.into(),
            from: from.into(),
            to: to.into(),
        };
        assert!(err(smtp("http://relay", "a@b.c", "{customer}@x.y")).starts_with("--smtp-url"));
        assert!(
            err(smtp("smtp://relay:25", "nobody", "{customer}@x.y"))
                .starts_with("--invite-mail-from")
        );
        assert!(err(smtp("smtp://relay:25", "a@b.c", "sms@x.y")).contains("{customer}"));
        assert!(
            err(smtp("smtp://relay:25", "a@b.c", "{customer}")).starts_with("--invite-mail-to")
        );
        assert!(
            smtp(
                "smtp://127.0.0.1:2525",
                "cx@hall.example.net",
                "{customer}@sms-gw.example.net"
            )
            .build()
            .is_ok()
        );
        assert_eq!(
            link_base("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(link_base("cx.example.net").is_err());
        assert!(link_base("http://h/?a=1").is_err());
    }

    #[test]
    fn the_smtp_recipient_takes_only_a_key() {
        let s = SmtpSender::new(
            "smtp://127.0.0.1:2525",
            "cx@h.example.net",
            "{customer}@sms-gw.example.net",
        )
        .unwrap();
        let key = "AB".repeat(32);
        assert_eq!(
            s.recipient(&key).unwrap().email.to_string(),
            format!("{}@sms-gw.example.net", "ab".repeat(32))
        );
        assert!(s.recipient("13812345678").is_err());
    }
}
