//! One customer across channels (issue 22, begun): the key a customer is known by (a
//! salted hash of the phone number, never the number), and what a customer's contacts
//! across channels show: failure demand (a contact left unresolved and followed within
//! days by another about the same purpose, per pair of channels) and repeat contacts.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::HallId;
use crate::ops::day::HallDay;
use crate::ops::event::{Event, EventKind, Outcome};

/// The customer key of a phone number under the network's salt: SHA-256 of the salt
/// and the number with spaces, dashes and a +86 prefix taken off, in hex. The same
/// number gives the same key in every channel; the number cannot be read back.
pub fn customer_key(salt: &str, phone: &str) -> String {
    let mut digits: String = phone
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if let Some(rest) = digits.strip_prefix("+86") {
        digits = rest.to_owned();
    }
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(digits.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a customer key as a sender or a survey gives it: 64 hex digits (kept in
/// lower case). Refuses anything else, so a phone number cannot be stored as a key.
pub fn parse_customer_key(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(
            "a customer key must be 64 hex digits (a salted hash of the number, never the number)"
                .into(),
        )
    }
}

/// Where the network's customer salt is read from, by the server and the CLI.
pub const SALT_ENV: &str = "PEAKEND_CUSTOMER_SALT";

/// A sender that knows only the number may send it as `phone` in an event: at ingest it
/// becomes `customer` (its salted key under `salt`) before the event is parsed or stored,
/// so the number is never kept. Lines without `phone` pass untouched. A line that cannot
/// be turned (no salt configured, `phone` beside `customer`, not text) is refused with
/// its reason and its number masked, so not even the quarantine holds it.
pub fn pseudonymise<'a>(
    line: &'a str,
    salt: Option<&str>,
) -> Result<std::borrow::Cow<'a, str>, (String, String)> {
    if !line.contains("\"phone\"") {
        return Ok(std::borrow::Cow::Borrowed(line));
    }
    let Ok(serde_json::Value::Object(mut event)) = serde_json::from_str(line) else {
        // Not an object: the parser will say why; a number inside is masked anyway.
        return Err(("the line is not a JSON object".into(), mask(line)));
    };
    let Some(phone) = event.remove("phone") else {
        return Ok(std::borrow::Cow::Borrowed(line));
    };
    let masked = || {
        let mut shown = event.clone();
        shown.insert("phone".into(), serde_json::Value::String("***".into()));
        serde_json::Value::Object(shown).to_string()
    };
    let Some(phone) = phone.as_str().filter(|p| !p.trim().is_empty()) else {
        return Err(("field `phone`: not a phone number as text".into(), masked()));
    };
    if event.contains_key("customer") {
        return Err((
            "fields `phone` and `customer`: send one of them".into(),
            masked(),
        ));
    }
    let Some(salt) = salt.filter(|s| !s.is_empty()) else {
        return Err((
            format!(
                "field `phone`: this server has no customer salt ({SALT_ENV}); send `customer`, the salted key, instead"
            ),
            masked(),
        ));
    };
    event.insert(
        "customer".into(),
        serde_json::Value::String(customer_key(salt, phone)),
    );
    Ok(std::borrow::Cow::Owned(
        serde_json::Value::Object(event).to_string(),
    ))
}

/// A line that does not parse, with every digit masked (it may hold a number).
fn mask(line: &str) -> String {
    line.chars()
        .map(|c| if c.is_ascii_digit() { '*' } else { c })
        .collect()
}

/// A customer's contact in some channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub customer: String,
    /// `hall`, `hotline`, `app`, `onsite`, …
    pub channel: String,
    pub at_ms: i64,
    /// What it was about (the visit purpose or the call's queue's purpose).
    pub purpose: String,
    pub resolved: bool,
    /// Of the report's period. A contact after it is read only as the follow-up of one
    /// in it (a contact on the period's last day may be repeated the next week).
    pub in_period: bool,
}

/// What the contacts show across channels.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrossChannel {
    /// (from channel, to channel) → contacts left unresolved in the first and followed
    /// within the window by one about the same purpose in the second.
    pub failure_demand: BTreeMap<(String, String), u64>,
    /// Contacts followed within the window by another of the same customer, any purpose.
    pub repeats: u64,
    pub contacts: u64,
}

/// Failure demand and repeats over `contacts` with a `window_ms` (7 days in the issue):
/// each contact of the period looks at the customer's next contact only, in the period
/// or after it.
pub fn cross_channel(contacts: &[Contact], window_ms: i64) -> CrossChannel {
    let mut by_customer: BTreeMap<&str, Vec<&Contact>> = BTreeMap::new();
    for c in contacts {
        by_customer.entry(c.customer.as_str()).or_default().push(c);
    }
    let mut out = CrossChannel {
        contacts: contacts.iter().filter(|c| c.in_period).count() as u64,
        ..CrossChannel::default()
    };
    for list in by_customer.values_mut() {
        list.sort_by_key(|c| c.at_ms);
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if !a.in_period || b.at_ms - a.at_ms > window_ms {
                continue;
            }
            out.repeats += 1;
            if !a.resolved && a.purpose == b.purpose {
                *out.failure_demand
                    .entry((a.channel.clone(), b.channel.clone()))
                    .or_default() += 1;
            }
        }
    }
    out
}

/// A channel's contacts in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelContacts {
    pub channel: String,
    pub contacts: u64,
    /// Distinct customer keys.
    pub customers: u64,
    /// Contacts not resolved in the contact (`unresolved` or `referred`).
    pub unresolved: u64,
}

/// Failure demand from one channel to another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureDemand {
    pub from: String,
    pub to: String,
    pub count: u64,
    /// `count` over the first channel's unresolved contacts (`None` when it has none).
    pub share: Option<f64>,
}

/// Satisfaction ratings of one kind of moment in one channel, summed (the store's
/// aggregate): what [`consistency`] compares.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentScore {
    pub channel: String,
    pub kind: String,
    pub n: u64,
    pub sum: f64,
}

/// Mean satisfaction of a kind of moment in a channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelMean {
    pub channel: String,
    pub n: u64,
    pub mean: f64,
}

/// One kind of moment across channels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindConsistency {
    pub kind: String,
    pub channels: Vec<ChannelMean>,
    /// Highest channel mean − lowest, when at least two channels rated the kind.
    pub spread: Option<f64>,
    /// The spread exceeds [`SPREAD_LIMIT`].
    pub inconsistent: bool,
}

/// A kind of moment whose channel means differ by more than this (points on the
/// 10-point scale) is flagged as inconsistent across channels.
pub const SPREAD_LIMIT: f64 = 1.0;

/// The customer report of a period (aggregates only: no key is listed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerReport {
    pub window_days: u32,
    pub contacts: u64,
    pub customers: u64,
    pub channels: Vec<ChannelContacts>,
    /// Contacts followed within the window by another contact of the same customer.
    pub repeats: u64,
    /// `repeats` over `contacts`.
    pub repeat_rate: Option<f64>,
    pub failure_demand: Vec<FailureDemand>,
    pub consistency: Vec<KindConsistency>,
}

/// Mean satisfaction per kind of moment per channel, and the spread across channels.
pub fn consistency(scores: &[MomentScore]) -> Vec<KindConsistency> {
    let mut by_kind: BTreeMap<&str, BTreeMap<&str, (u64, f64)>> = BTreeMap::new();
    for s in scores.iter().filter(|s| s.n > 0) {
        let cell = by_kind
            .entry(s.kind.as_str())
            .or_default()
            .entry(s.channel.as_str())
            .or_default();
        cell.0 += s.n;
        cell.1 += s.sum;
    }
    by_kind
        .into_iter()
        .map(|(kind, channels)| {
            let channels: Vec<ChannelMean> = channels
                .into_iter()
                .map(|(channel, (n, sum))| ChannelMean {
                    channel: channel.to_owned(),
                    n,
                    mean: sum / n as f64,
                })
                .collect();
            let spread = (channels.len() >= 2).then(|| {
                let means = channels.iter().map(|c| c.mean);
                means.clone().fold(f64::MIN, f64::max) - means.fold(f64::MAX, f64::min)
            });
            KindConsistency {
                kind: kind.to_owned(),
                inconsistent: spread.is_some_and(|s| s > SPREAD_LIMIT),
                channels,
                spread,
            }
        })
        .collect()
}

/// The report over a period's `contacts` (failure demand and repeats within
/// `window_days`; the contacts of the window after the period come too, marked not
/// `in_period`) and its survey `scores`.
pub fn customer_report(
    contacts: &[Contact],
    window_days: u32,
    scores: &[MomentScore],
) -> CustomerReport {
    let cross = cross_channel(contacts, i64::from(window_days) * 86_400_000);
    let mut channels: BTreeMap<&str, (u64, std::collections::BTreeSet<&str>, u64)> =
        BTreeMap::new();
    for c in contacts.iter().filter(|c| c.in_period) {
        let ch = channels.entry(c.channel.as_str()).or_default();
        ch.0 += 1;
        ch.1.insert(c.customer.as_str());
        ch.2 += u64::from(!c.resolved);
    }
    let unresolved = |channel: &str| channels.get(channel).map_or(0, |c| c.2);
    let failure_demand = cross
        .failure_demand
        .iter()
        .map(|((from, to), &count)| FailureDemand {
            share: match unresolved(from) {
                0 => None,
                u => Some(count as f64 / u as f64),
            },
            from: from.clone(),
            to: to.clone(),
            count,
        })
        .collect();
    let customers: std::collections::BTreeSet<&str> = contacts
        .iter()
        .filter(|c| c.in_period)
        .map(|c| c.customer.as_str())
        .collect();
    CustomerReport {
        window_days,
        contacts: cross.contacts,
        customers: customers.len() as u64,
        channels: channels
            .iter()
            .map(|(channel, (n, keys, unresolved))| ChannelContacts {
                channel: (*channel).to_owned(),
                contacts: *n,
                customers: keys.len() as u64,
                unresolved: *unresolved,
            })
            .collect(),
        repeats: cross.repeats,
        repeat_rate: (cross.contacts > 0).then(|| cross.repeats as f64 / cross.contacts as f64),
        failure_demand,
        consistency: consistency(scores),
    }
}

/// The channel a survey answer speaks of, from the built-in journey its journey
/// extends (`root`): `service-hall` → `hall`, `hotline`, `app`, `onsite`.
pub fn channel_of_journey(root: &str) -> Option<&'static str> {
    match root {
        crate::builtin::SERVICE_HALL => Some("hall"),
        crate::builtin::HOTLINE => Some("hotline"),
        crate::builtin::APP => Some("app"),
        crate::builtin::ONSITE => Some("onsite"),
        _ => None,
    }
}

/// The segment of a contact whose sender named none.
pub const UNKNOWN_SEGMENT: &str = "unknown";

/// A contact that just ended (a visit's `service_ended`, a call's `call_ended`, an
/// `app_transaction`), with the operational facts an invitation keeps so that an answer
/// joins them, and that the customer's timeline reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndedContact {
    pub hall: HallId,
    /// One per contact: `hall/date/ticket` (ticket names start over each day),
    /// `hall/call/id` or `hall/app/id`.
    pub id: String,
    /// `hall`, `hotline` or `app`.
    pub channel: String,
    /// The customer's salted key; `None` cannot be invited or followed.
    pub customer: Option<String>,
    pub segment: String,
    /// The visit's service, the call's queue, the app transaction's purpose.
    pub purpose: String,
    /// Staff code (a counter's) or agent.
    pub staff: Option<String>,
    pub counter: Option<String>,
    /// Seconds waited: in the hall to the call to a counter, on the line to the answer.
    pub wait_s: Option<i64>,
    /// `done`, `unresolved` or `referred`.
    pub outcome: Option<String>,
    pub ended_at: i64,
}

impl EndedContact {
    /// Resolved in this contact (what failure demand and first-contact resolution read).
    pub fn resolved(&self) -> bool {
        self.outcome.as_deref() == Some("done")
    }
}

fn outcome_text(o: Outcome) -> String {
    match o {
        Outcome::Done => "done",
        Outcome::Unresolved => "unresolved",
        Outcome::Referred => "referred",
    }
    .to_owned()
}

/// The outcome a customer's abandoned call is kept with in their timeline: a contact
/// that resolved nothing (failure demand may follow it) and was never handled (not
/// measured by first-contact resolution, but a repeat that undoes one).
pub const ABANDONED: &str = "abandoned";

/// A known customer's call that `e` abandoned, read from `day` just after `e` was
/// applied: a contact of their timeline, though not one to invite to a survey.
pub fn abandoned_contact(day: &HallDay, e: &Event) -> Option<EndedContact> {
    let EventKind::CallAbandoned { call } = &e.kind else {
        return None;
    };
    let c = day.calls().call(call)?;
    c.customer.as_ref()?;
    Some(EndedContact {
        hall: e.hall.clone(),
        id: format!("{}/call/{call}", e.hall),
        channel: "hotline".into(),
        customer: c.customer.clone(),
        segment: c.segment.clone().unwrap_or_else(|| UNKNOWN_SEGMENT.into()),
        purpose: c.queue.clone(),
        staff: None,
        counter: None,
        wait_s: None,
        outcome: Some(ABANDONED.into()),
        ended_at: e.at_ms(),
    })
}

/// The contact `e` ended, read from `day` just after `e` was applied to it; `None` for
/// an event that ends no contact.
pub fn ended_contact(day: &HallDay, e: &Event) -> Option<EndedContact> {
    let hall = e.hall.clone();
    let ended_at = e.at_ms();
    match &e.kind {
        EventKind::ServiceEnded { ticket, .. } => {
            let tk = day.ticket(ticket)?;
            let served = tk.called_at.or(tk.started_at);
            Some(EndedContact {
                id: format!("{hall}/{}/{ticket}", e.at.date_naive()),
                channel: "hall".into(),
                customer: tk.customer.clone(),
                segment: tk.segment.clone().unwrap_or_else(|| UNKNOWN_SEGMENT.into()),
                purpose: tk.service.clone(),
                staff: tk.staff.clone(),
                counter: tk.counter.clone(),
                wait_s: served.map(|s| ((s - tk.wait_from()).max(0) + 500) / 1000),
                outcome: tk.outcome.map(outcome_text),
                ended_at,
                hall,
            })
        }
        EventKind::CallEnded { call, .. } => {
            let c = day.calls().call(call)?;
            Some(EndedContact {
                id: format!("{hall}/call/{call}"),
                channel: "hotline".into(),
                customer: c.customer.clone(),
                segment: c.segment.clone().unwrap_or_else(|| UNKNOWN_SEGMENT.into()),
                purpose: c.queue.clone(),
                staff: c.agent.clone(),
                counter: None,
                wait_s: c.wait_ms().map(|w| (w.max(0) + 500) / 1000),
                outcome: c.outcome.map(outcome_text),
                ended_at,
                hall,
            })
        }
        EventKind::AppTransaction {
            transaction,
            purpose,
            outcome,
            segment,
            customer,
        } => Some(EndedContact {
            id: format!("{hall}/app/{transaction}"),
            channel: "app".into(),
            customer: customer.clone(),
            segment: segment.clone().unwrap_or_else(|| UNKNOWN_SEGMENT.into()),
            purpose: purpose.clone(),
            staff: None,
            counter: None,
            wait_s: None,
            outcome: Some(outcome_text(*outcome)),
            ended_at,
            hall,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phone_sent_at_ingest_becomes_its_salted_key_and_is_never_kept() {
        let line = r#"{"id":"e1","hall":"h1","type":"call_offered","at":"2026-08-07T09:00:00+08:00","call":"c1","queue":"bill","phone":"138 1234 5678"}"#;
        let out = pseudonymise(line, Some("net-salt")).unwrap();
        assert!(!out.contains("5678"), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["customer"], customer_key("net-salt", "13812345678"));
        assert!(v.get("phone").is_none());
        // Without a salt: refused, and the text kept for the quarantine is masked.
        let (reason, kept) = pseudonymise(line, None).unwrap_err();
        assert!(reason.contains("PEAKEND_CUSTOMER_SALT"), "{reason}");
        assert!(
            !kept.contains("5678") && kept.contains(r#""phone":"***""#),
            "{kept}"
        );
        // Both fields: refused.
        let both = line.replace(r#""queue""#, r#""customer":"ab","queue""#);
        assert!(
            pseudonymise(&both, Some("s"))
                .unwrap_err()
                .0
                .contains("one of them")
        );
        // A broken line with a number: masked digits.
        let (_, kept) = pseudonymise(r#"{"phone":"13812345678""#, Some("s")).unwrap_err();
        assert!(!kept.contains('1'), "{kept}");
        // No phone: untouched, not even re-serialised.
        let plain = r#"{"id":"e2", "hall":"h1"}"#;
        assert!(matches!(
            pseudonymise(plain, Some("s")),
            Ok(std::borrow::Cow::Borrowed(_))
        ));
    }

    #[test]
    fn a_number_gives_one_key_in_every_channel_and_is_not_in_it() {
        let k = customer_key("net-salt", "+86 138-1234-5678");
        assert_eq!(k, customer_key("net-salt", "13812345678"));
        assert_ne!(k, customer_key("other-salt", "13812345678"));
        assert_eq!(k.len(), 64);
        assert!(!k.contains("13812345678"));
        assert_eq!(parse_customer_key(&k.to_uppercase()), Ok(k));
        assert!(parse_customer_key("13812345678").is_err());
    }

    #[test]
    fn an_unresolved_contact_followed_about_the_same_purpose_is_failure_demand() {
        let day = 86_400_000;
        let c = |customer: &str, channel: &str, at: i64, purpose: &str, resolved: bool| Contact {
            customer: customer.into(),
            channel: channel.into(),
            at_ms: at * day,
            purpose: purpose.into(),
            resolved,
            in_period: true,
        };
        let out = cross_channel(
            &[
                // x: the hall left the bill unresolved; x called the hotline 2 days later.
                c("x", "hall", 0, "bill", false),
                c("x", "hotline", 2, "bill", true),
                // y: the app failed, y came to the hall 10 days later: outside the window.
                c("y", "app", 0, "plan", false),
                c("y", "hall", 10, "plan", true),
                // z: resolved at the hall, back 1 day later about something else.
                c("z", "hall", 0, "bill", true),
                c("z", "hall", 1, "phone", true),
            ],
            7 * day,
        );
        assert_eq!(
            out.failure_demand,
            [(("hall".to_owned(), "hotline".to_owned()), 1)].into()
        );
        assert_eq!((out.repeats, out.contacts), (2, 6));
    }

    #[test]
    fn a_contact_after_the_period_is_only_a_follow_up() {
        let day = 86_400_000;
        let c = |customer: &str, at: i64, resolved: bool, in_period: bool| Contact {
            customer: customer.into(),
            channel: "hall".into(),
            at_ms: at * day,
            purpose: "bill".into(),
            resolved,
            in_period,
        };
        let contacts = [
            // x: unresolved on the period's last day, back 2 days after it: counted.
            c("x", 6, false, true),
            c("x", 8, true, false),
            // y: both after the period: neither a contact nor a repeat of it.
            c("y", 8, false, false),
            c("y", 9, true, false),
        ];
        let out = cross_channel(&contacts, 7 * day);
        assert_eq!((out.contacts, out.repeats), (1, 1));
        assert_eq!(out.failure_demand.values().sum::<u64>(), 1);
        let r = customer_report(&contacts, 7, &[]);
        assert_eq!((r.contacts, r.customers), (1, 1));
        assert_eq!(r.channels[0].unresolved, 1);
    }

    #[test]
    fn the_report_counts_channels_failure_demand_shares_and_consistency() {
        let day = 86_400_000;
        let c = |customer: &str, channel: &str, at: i64, purpose: &str, resolved: bool| Contact {
            customer: customer.into(),
            channel: channel.into(),
            at_ms: at * day,
            purpose: purpose.into(),
            resolved,
            in_period: true,
        };
        let contacts = [
            c("x", "hall", 0, "bill", false),
            c("x", "hotline", 2, "bill", true),
            c("y", "hall", 0, "plan", false),
            c("y", "hall", 3, "plan", true),
            c("z", "hall", 1, "bill", false),
            c("z", "app", 20, "bill", true),
        ];
        let score = |channel: &str, kind: &str, n: u64, sum: f64| MomentScore {
            channel: channel.into(),
            kind: kind.into(),
            n,
            sum,
        };
        let r = customer_report(
            &contacts,
            7,
            &[
                // wait: hall 8.0 (4 answers, 32), hotline 6.5 (2, 13): spread 1.5, flagged.
                score("hall", "wait", 3, 24.0),
                score("hall", "wait", 1, 8.0),
                score("hotline", "wait", 2, 13.0),
                // staff: hall 9.0, app 8.5: spread 0.5.
                score("hall", "staff", 2, 18.0),
                score("app", "staff", 2, 17.0),
                // farewell: one channel only, no spread.
                score("app", "farewell", 1, 7.0),
                score("hotline", "farewell", 0, 0.0),
            ],
        );
        // hall: 4 contacts of x, y, z, 3 unresolved; hotline 1; app 1.
        assert_eq!((r.contacts, r.customers), (6, 3));
        let ch: Vec<(&str, u64, u64, u64)> = r
            .channels
            .iter()
            .map(|c| (c.channel.as_str(), c.contacts, c.customers, c.unresolved))
            .collect();
        assert_eq!(
            ch,
            [("app", 1, 1, 0), ("hall", 4, 3, 3), ("hotline", 1, 1, 0)]
        );
        // Repeats: x (day 0 → 2), y (0 → 3); z's next contact is 19 days later.
        assert_eq!(r.repeats, 2);
        assert_eq!(r.repeat_rate, Some(2.0 / 6.0));
        // hall → hotline (x) and hall → hall (y), each 1 of the hall's 3 unresolved.
        assert_eq!(
            r.failure_demand,
            [
                FailureDemand {
                    from: "hall".into(),
                    to: "hall".into(),
                    count: 1,
                    share: Some(1.0 / 3.0)
                },
                FailureDemand {
                    from: "hall".into(),
                    to: "hotline".into(),
                    count: 1,
                    share: Some(1.0 / 3.0)
                },
            ]
        );
        let kinds: Vec<(&str, Option<f64>, bool)> = r
            .consistency
            .iter()
            .map(|k| (k.kind.as_str(), k.spread, k.inconsistent))
            .collect();
        assert_eq!(
            kinds,
            [
                ("farewell", None, false),
                ("staff", Some(0.5), false),
                ("wait", Some(1.5), true)
            ]
        );
        let wait = &r.consistency[2].channels;
        assert_eq!(
            wait,
            &[
                ChannelMean {
                    channel: "hall".into(),
                    n: 4,
                    mean: 8.0
                },
                ChannelMean {
                    channel: "hotline".into(),
                    n: 2,
                    mean: 6.5
                }
            ]
        );
        assert_eq!(channel_of_journey("service-hall"), Some("hall"));
        assert_eq!(channel_of_journey("regional"), None);
    }
}
