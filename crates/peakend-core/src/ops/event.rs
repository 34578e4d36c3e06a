//! Device events from a hall (ticket machine, counter terminals, rating pads, kiosks),
//! parsed from JSON into domain types. Every event names its hall and carries the
//! device's own time with its UTC offset; state follows that time, not arrival.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::call::CallEventKind;
use super::sales::SaleCategory;
use crate::id::HallId;

/// How a service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Unresolved,
    Referred,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    TicketIssued {
        ticket: String,
        service: String,
        #[serde(default)]
        segment: Option<String>,
        #[serde(default)]
        vip: bool,
        /// Where the ticket was taken: at the hall's kiosk (the default), or remotely by
        /// SMS or the app before coming.
        #[serde(default)]
        channel: Channel,
        /// The time announced to a remote ticket to come by (RFC 3339).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        appointed_at: Option<DateTime<FixedOffset>>,
        /// The customer's service tier; without one, `vip` counts as gold.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier: Option<Tier>,
        /// The customer's salted key (64 hex digits, never the number), when the kiosk
        /// or the app knows who took the ticket: the visit joins the customer's timeline
        /// and may invite a survey.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<String>,
    },
    // --- Bookings (issue 22): a time slot booked ahead, its cancellation, and the
    // customer's arrival in the hall (for a booking or a remote ticket).
    /// A time slot booked ahead; `customer` is the caller's key for the customer (the
    /// salted key, never a phone number), kept by no state of the day.
    Booking {
        booking: String,
        slot_start: DateTime<FixedOffset>,
        slot_end: DateTime<FixedOffset>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tier: Option<Tier>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<String>,
    },
    BookingCancelled {
        booking: String,
    },
    /// A customer in the hall: a remote ticket's holder, or a booked customer given
    /// `ticket` on arrival.
    Arrived {
        ticket: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        booking: Option<String>,
    },
    // --- end of bookings.
    Called {
        ticket: String,
        counter: String,
        #[serde(default)]
        staff: Option<String>,
    },
    ServiceStarted {
        ticket: String,
        counter: String,
        #[serde(default)]
        staff: Option<String>,
    },
    ServiceEnded {
        ticket: String,
        counter: String,
        #[serde(default)]
        staff: Option<String>,
        outcome: Outcome,
    },
    Rated {
        ticket: String,
        score: f64,
        scale: f64,
        #[serde(default)]
        staff: Option<String>,
    },
    Left {
        ticket: String,
    },
    CounterOpened {
        counter: String,
    },
    CounterClosed {
        counter: String,
    },
    KioskFault {
        kiosk: String,
        fault: String,
    },
    KioskRestored {
        kiosk: String,
    },
    /// The daily check of a kiosk by the person on duty (the `device_check` standard).
    KioskChecked {
        kiosk: String,
        /// What the check found: working (the default) or not.
        #[serde(default = "yes")]
        ok: bool,
    },
    /// The counter's dispute button: a customer complains at the counter. Opens a
    /// service case; the hall's day is unchanged by it.
    Complaint {
        #[serde(default)]
        ticket: Option<String>,
        counter: String,
        #[serde(default)]
        staff: Option<String>,
        /// The journey moment complained about, if the device knows it.
        #[serde(default)]
        moment: Option<String>,
        text: String,
    },
    // A contact centre's calls (issue 22): the centre names itself in `hall`, and each
    // call's timeline is folded by `call::CallDay` (see `EventKind::as_call`).
    CallOffered {
        call: String,
        queue: String,
        #[serde(default)]
        segment: Option<String>,
        /// A salted hash of the caller's number, never the number.
        #[serde(default)]
        customer: Option<String>,
    },
    CallAnswered {
        call: String,
        agent: String,
    },
    CallAbandoned {
        call: String,
    },
    CallHeld {
        call: String,
    },
    CallResumed {
        call: String,
    },
    CallTransferred {
        call: String,
        #[serde(default)]
        queue: Option<String>,
        #[serde(default)]
        agent: Option<String>,
    },
    CallEnded {
        call: String,
        outcome: Outcome,
        #[serde(default)]
        acw_s: f64,
    },
    /// A transaction done in the app (issue 22): a contact of the app channel, named in
    /// `hall` by the org node the app belongs to. It changes no queue; it joins the
    /// customer's timeline and may invite a survey.
    AppTransaction {
        transaction: String,
        purpose: String,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segment: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer: Option<String>,
    },
    // --- Service and sales (issue 23).
    /// A sale booked on a visit's ticket, once the ticket was called: new customer,
    /// data, phone, group account or other; `amount` in yuan (a decimal ≥ 0).
    Sale {
        ticket: String,
        category: SaleCategory,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        amount: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staff: Option<String>,
    },
    /// A customer begins a trial in the data-trial zone (a phone or a data package).
    TrialStarted {
        trial: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<String>,
    },
    /// The trial ends; `purchased` when the customer bought (absent: not known to).
    TrialEnded {
        trial: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        purchased: Option<bool>,
    },
}

fn yes() -> bool {
    true
}

/// Where a ticket was taken.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Kiosk,
    Sms,
    App,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Kiosk, Channel::Sms, Channel::App];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Kiosk => "kiosk",
            Channel::Sms => "sms",
            Channel::App => "app",
        }
    }

    /// Taken before coming: in the queue from issue, expiring if not called in time.
    pub fn remote(self) -> bool {
        self != Channel::Kiosk
    }
}

/// A customer's service tier, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Diamond,
    Gold,
    Silver,
    Ordinary,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Diamond, Tier::Gold, Tier::Silver, Tier::Ordinary];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Diamond => "diamond",
            Tier::Gold => "gold",
            Tier::Silver => "silver",
            Tier::Ordinary => "ordinary",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl EventKind {
    /// The ticket the event is about, if it is about one.
    pub fn ticket(&self) -> Option<&str> {
        match self {
            EventKind::TicketIssued { ticket, .. }
            | EventKind::Called { ticket, .. }
            | EventKind::ServiceStarted { ticket, .. }
            | EventKind::ServiceEnded { ticket, .. }
            | EventKind::Rated { ticket, .. }
            | EventKind::Left { ticket }
            | EventKind::Arrived { ticket, .. }
            | EventKind::Sale { ticket, .. } => Some(ticket),
            // A trial waits for the ticket it names, if it names one.
            EventKind::TrialStarted { ticket, .. } | EventKind::TrialEnded { ticket, .. } => {
                ticket.as_deref()
            }
            EventKind::Booking { .. } | EventKind::BookingCancelled { .. } => None,
            EventKind::CounterOpened { .. }
            | EventKind::CounterClosed { .. }
            | EventKind::KioskFault { .. }
            | EventKind::KioskRestored { .. }
            | EventKind::KioskChecked { .. }
            // A complaint may name a ticket, but never waits for it: it is applied (and
            // its case opened) whatever the ticket's state.
            | EventKind::Complaint { .. } => None,
            EventKind::CallOffered { .. }
            | EventKind::CallAnswered { .. }
            | EventKind::CallAbandoned { .. }
            | EventKind::CallHeld { .. }
            | EventKind::CallResumed { .. }
            | EventKind::CallTransferred { .. }
            | EventKind::CallEnded { .. }
            | EventKind::AppTransaction { .. } => None,
        }
    }

    /// The call id of a call event.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            EventKind::CallOffered { call, .. }
            | EventKind::CallAnswered { call, .. }
            | EventKind::CallAbandoned { call }
            | EventKind::CallHeld { call }
            | EventKind::CallResumed { call }
            | EventKind::CallTransferred { call, .. }
            | EventKind::CallEnded { call, .. } => Some(call),
            _ => None,
        }
    }

    /// A call event as the call fold takes it.
    pub fn as_call(&self) -> Option<CallEventKind> {
        // Matched by reference: a ticket event costs one comparison, no clone.
        Some(match self {
            EventKind::CallOffered {
                call,
                queue,
                segment,
                customer,
            } => CallEventKind::CallOffered {
                call: call.clone(),
                queue: queue.clone(),
                segment: segment.clone(),
                customer: customer.clone(),
            },
            EventKind::CallAnswered { call, agent } => CallEventKind::CallAnswered {
                call: call.clone(),
                agent: agent.clone(),
            },
            EventKind::CallAbandoned { call } => {
                CallEventKind::CallAbandoned { call: call.clone() }
            }
            EventKind::CallHeld { call } => CallEventKind::CallHeld { call: call.clone() },
            EventKind::CallResumed { call } => CallEventKind::CallResumed { call: call.clone() },
            EventKind::CallTransferred { call, queue, agent } => CallEventKind::CallTransferred {
                call: call.clone(),
                queue: queue.clone(),
                agent: agent.clone(),
            },
            EventKind::CallEnded {
                call,
                outcome,
                acw_s,
            } => CallEventKind::CallEnded {
                call: call.clone(),
                outcome: *outcome,
                acw_s: *acw_s,
            },
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per hall: a repeated id is a duplicate delivery, applied once.
    pub id: String,
    pub hall: HallId,
    /// The device's time, RFC 3339 with its offset.
    pub at: DateTime<FixedOffset>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    hall: String,
    at: String,
    #[serde(flatten)]
    kind: EventKind,
}

impl Event {
    /// Parses one event from JSON; the error says which field is wrong and why.
    pub fn from_json(text: &str) -> Result<Event, String> {
        let raw: RawEvent = serde_json::from_str(text).map_err(|e| {
            // serde's own wording for a missing or unknown tag is cryptic to a device maker.
            let msg = e.to_string();
            if msg.contains("missing field `type`") {
                "missing field `type`".to_owned()
            } else {
                msg
            }
        })?;
        // U+0000 in a text field (an id, a ticket, a kiosk): PostgreSQL's text cannot
        // hold it, so a batch with it would fail whole and forever on that backend.
        // JSON can only write it as the escape; the rare line that has one is read
        // again to tell an escaped backslash from it.
        if text.contains("\\u0000") && holds_nul(text) {
            return Err("a text field holds the character U+0000, which is not allowed".into());
        }
        Event::from_raw(raw)
    }

    fn from_raw(mut raw: RawEvent) -> Result<Event, String> {
        if raw.id.trim().is_empty() {
            return Err("field `id`: empty".into());
        }
        let hall =
            HallId::parse(raw.hall.trim()).map_err(|e| format!("field `hall`: {}", e.reason))?;
        let at = crate::time::parse_instant(&raw.at).map_err(|e| format!("field `at`: {e}"))?;
        let empty = |name: &str, v: &str| {
            if v.trim().is_empty() {
                Err(format!("field `{name}`: empty"))
            } else {
                Ok(())
            }
        };
        match &raw.kind {
            EventKind::TicketIssued {
                ticket,
                service,
                channel,
                appointed_at,
                ..
            } => {
                empty("ticket", ticket)?;
                empty("service", service)?;
                if let Some(a) = appointed_at {
                    crate::time::parse_instant(&a.to_rfc3339())
                        .map_err(|e| format!("field `appointed_at`: {e}"))?;
                    if !channel.remote() {
                        return Err(
                            "field `appointed_at`: only a remote (sms or app) ticket has one"
                                .into(),
                        );
                    }
                }
            }
            EventKind::Booking {
                booking,
                slot_start,
                slot_end,
                service,
                ..
            } => {
                empty("booking", booking)?;
                for (name, t) in [("slot_start", slot_start), ("slot_end", slot_end)] {
                    crate::time::parse_instant(&t.to_rfc3339())
                        .map_err(|e| format!("field `{name}`: {e}"))?;
                }
                if slot_end <= slot_start {
                    return Err("field `slot_end`: not after `slot_start`".into());
                }
                if let Some(s) = service {
                    empty("service", s)?;
                }
            }
            EventKind::BookingCancelled { booking } => empty("booking", booking)?,
            EventKind::Arrived { ticket, booking } => {
                empty("ticket", ticket)?;
                if let Some(b) = booking {
                    empty("booking", b)?;
                }
            }
            EventKind::Called {
                ticket, counter, ..
            }
            | EventKind::ServiceStarted {
                ticket, counter, ..
            }
            | EventKind::ServiceEnded {
                ticket, counter, ..
            } => {
                empty("ticket", ticket)?;
                empty("counter", counter)?;
            }
            EventKind::Rated {
                ticket,
                score,
                scale,
                ..
            } => {
                empty("ticket", ticket)?;
                if !(scale.is_finite() && *scale > 0.0) {
                    return Err(format!("field `scale`: {scale} is not a positive number"));
                }
                if !(score.is_finite() && (0.0..=*scale).contains(score)) {
                    return Err(format!("field `score`: {score} is outside 0–{scale}"));
                }
            }
            EventKind::Left { ticket } => empty("ticket", ticket)?,
            EventKind::CounterOpened { counter } | EventKind::CounterClosed { counter } => {
                empty("counter", counter)?
            }
            EventKind::KioskFault { kiosk, .. }
            | EventKind::KioskRestored { kiosk }
            | EventKind::KioskChecked { kiosk, .. } => empty("kiosk", kiosk)?,
            EventKind::Complaint {
                counter,
                text,
                ticket,
                moment,
                ..
            } => {
                empty("counter", counter)?;
                empty("text", text)?;
                if let Some(t) = ticket {
                    empty("ticket", t)?;
                }
                if let Some(m) = moment {
                    crate::MomentKey::parse(m.trim())
                        .map_err(|e| format!("field `moment`: {}", e.reason))?;
                }
                if text.chars().count() > 2000 {
                    return Err("field `text`: longer than 2,000 characters".into());
                }
            }
            EventKind::CallOffered { call, queue, .. } => {
                empty("call", call)?;
                empty("queue", queue)?;
            }
            EventKind::CallAnswered { call, agent } => {
                empty("call", call)?;
                empty("agent", agent)?;
            }
            EventKind::CallAbandoned { call }
            | EventKind::CallHeld { call }
            | EventKind::CallResumed { call }
            | EventKind::CallTransferred { call, .. } => empty("call", call)?,
            EventKind::CallEnded { call, acw_s, .. } => {
                empty("call", call)?;
                if !(acw_s.is_finite() && *acw_s >= 0.0) {
                    return Err(format!("field `acw_s`: {acw_s} is not seconds ≥ 0"));
                }
            }
            EventKind::AppTransaction {
                transaction,
                purpose,
                ..
            } => {
                empty("transaction", transaction)?;
                empty("purpose", purpose)?;
            }
            EventKind::Sale {
                ticket,
                amount,
                staff,
                ..
            } => {
                empty("ticket", ticket)?;
                if let Some(a) = amount {
                    super::sales::amount_fen(*a)?;
                }
                if let Some(s) = staff {
                    empty("staff", s)?;
                }
            }
            EventKind::TrialStarted {
                trial,
                ticket,
                device,
                product,
            }
            | EventKind::TrialEnded {
                trial,
                ticket,
                device,
                product,
                ..
            } => {
                empty("trial", trial)?;
                for (name, v) in [("ticket", ticket), ("device", device), ("product", product)] {
                    if let Some(v) = v {
                        empty(name, v)?;
                    }
                }
            }
        }
        // A customer key is a salted hash or nothing: a phone number sent by mistake is
        // refused, never stored.
        if let EventKind::TicketIssued { customer, .. }
        | EventKind::Booking { customer, .. }
        | EventKind::CallOffered { customer, .. }
        | EventKind::AppTransaction { customer, .. } = &mut raw.kind
            && let Some(c) = customer.as_mut()
        {
            *c = crate::customer::parse_customer_key(c)
                .map_err(|e| format!("field `customer`: {e}"))?;
        }
        Ok(Event {
            id: raw.id,
            hall,
            at,
            kind: raw.kind,
        })
    }

    /// Milliseconds since the epoch (UTC), the order events are applied in.
    pub fn at_ms(&self) -> i64 {
        self.at.timestamp_millis()
    }

    /// Where an event goes among events of the same millisecond: devices stamp a call
    /// and the start of service, or an end and its rating, with one time, and a replay
    /// must not depend on the order they arrived in.
    fn rank(&self) -> u8 {
        match self.kind {
            EventKind::CounterOpened { .. } => 0,
            EventKind::TicketIssued { .. } => 1,
            EventKind::Called { .. } => 2,
            EventKind::ServiceStarted { .. } => 3,
            EventKind::ServiceEnded { .. } => 4,
            EventKind::Rated { .. } => 5,
            EventKind::Left { .. } => 6,
            EventKind::CounterClosed { .. } => 7,
            EventKind::KioskFault { .. } => 8,
            EventKind::KioskRestored { .. } => 9,
            EventKind::Complaint { .. } => 10,
            EventKind::KioskChecked { .. } => 11,
            // A booking exists before anyone arrives for it; an arrival before its call.
            EventKind::Booking { .. } => 0,
            EventKind::BookingCancelled { .. } => 12,
            EventKind::Arrived { .. } => 1,
            // A call's own order when its events share a millisecond.
            EventKind::CallOffered { .. } => 12,
            EventKind::CallAnswered { .. } => 13,
            EventKind::CallHeld { .. } => 14,
            EventKind::CallResumed { .. } => 15,
            EventKind::CallTransferred { .. } => 16,
            EventKind::CallAbandoned { .. } => 17,
            EventKind::CallEnded { .. } => 18,
            EventKind::AppTransaction { .. } => 19,
            // A trial after the ticket it names is issued; a sale after the service it
            // is booked on ends.
            EventKind::TrialStarted { .. } => 2,
            EventKind::Sale { .. } => 5,
            EventKind::TrialEnded { .. } => 6,
        }
    }

    /// The replay order: event time, then the natural order of a visit, then id.
    pub fn replay_key(&self) -> (i64, u8, &str) {
        (self.at_ms(), self.rank(), self.id.as_str())
    }

    /// The type name as devices send it.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            EventKind::TicketIssued { .. } => "ticket_issued",
            EventKind::Called { .. } => "called",
            EventKind::ServiceStarted { .. } => "service_started",
            EventKind::ServiceEnded { .. } => "service_ended",
            EventKind::Rated { .. } => "rated",
            EventKind::Left { .. } => "left",
            EventKind::CounterOpened { .. } => "counter_opened",
            EventKind::CounterClosed { .. } => "counter_closed",
            EventKind::KioskFault { .. } => "kiosk_fault",
            EventKind::KioskRestored { .. } => "kiosk_restored",
            EventKind::Complaint { .. } => "complaint",
            EventKind::KioskChecked { .. } => "kiosk_checked",
            EventKind::Booking { .. } => "booking",
            EventKind::BookingCancelled { .. } => "booking_cancelled",
            EventKind::Arrived { .. } => "arrived",
            EventKind::CallOffered { .. } => "call_offered",
            EventKind::CallAnswered { .. } => "call_answered",
            EventKind::CallAbandoned { .. } => "call_abandoned",
            EventKind::CallHeld { .. } => "call_held",
            EventKind::CallResumed { .. } => "call_resumed",
            EventKind::CallTransferred { .. } => "call_transferred",
            EventKind::CallEnded { .. } => "call_ended",
            EventKind::AppTransaction { .. } => "app_transaction",
            EventKind::Sale { .. } => "sale",
            EventKind::TrialStarted { .. } => "trial_started",
            EventKind::TrialEnded { .. } => "trial_ended",
        }
    }
}

/// Sorts events into replay order.
pub fn sort_for_replay(events: &mut [Event]) {
    events.sort_by(|a, b| a.replay_key().cmp(&b.replay_key()));
}

/// Whether any text of a JSON document (a key or a string) holds U+0000.
fn holds_nul(text: &str) -> bool {
    fn any(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(a) => a.iter().any(any),
            serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || any(v)),
            _ => false,
        }
    }
    serde_json::from_str(text).is_ok_and(|v| any(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_and_names_the_bad_field() {
        let e = Event::from_json(
            r#"{"id":"e1","hall":"h1","type":"ticket_issued","at":"2026-08-03T09:00:00+08:00","ticket":"A001","service":"payment","vip":true}"#,
        )
        .unwrap();
        assert_eq!(e.at_ms(), 1_785_718_800_000);
        assert!(matches!(e.kind, EventKind::TicketIssued { vip: true, .. }));
        let e = Event::from_json(
            r#"{"id":"e2","hall":"h1","type":"service_ended","at":"2026-08-03T09:10:00+08:00","ticket":"A001","counter":"c1","outcome":"done"}"#,
        )
        .unwrap();
        assert!(matches!(
            e.kind,
            EventKind::ServiceEnded {
                outcome: Outcome::Done,
                ..
            }
        ));
        let bad = |json: &str| Event::from_json(json).unwrap_err();
        for line in [
            r#"{"id":"e\u00001","hall":"h1","type":"left","at":"2026-08-03T09:00:00+08:00","ticket":"A1"}"#,
            r#"{"id":"e1","hall":"h1","type":"left","at":"2026-08-03T09:00:00+08:00","ticket":"A\u0000"}"#,
            r#"{"id":"e1","hall":"h1","type":"left","at":"2026-08-03T09:00:00+08:00","ticket":"A1","note\u0000":1}"#,
        ] {
            assert_eq!(
                bad(line),
                "a text field holds the character U+0000, which is not allowed",
                "{line}"
            );
        }
        // An escaped backslash before `u0000` is text, not the character.
        let e = Event::from_json(
            r#"{"id":"e\\u0000","hall":"h1","type":"left","at":"2026-08-03T09:00:00+08:00","ticket":"A1"}"#,
        )
        .unwrap();
        assert_eq!(e.id, "e\\u0000");
        assert!(
            bad(r#"{"id":"e3","hall":"h1","type":"teleported","at":"2026-08-03T09:00:00+08:00"}"#)
                .contains("unknown variant `teleported`")
        );
        assert!(bad(r#"{"id":"e3","hall":"h1","type":"called","at":"2026-08-03T09:00:00+08:00","ticket":"A1"}"#)
            .contains("missing field `counter`"));
        assert_eq!(
            bad(r#"{"id":"e3","hall":"h1","type":"left","at":"09:00","ticket":"A1"}"#),
            "field `at`: `09:00` is not an RFC 3339 time with an offset"
        );
        assert_eq!(
            bad(
                r#"{"id":"e3","hall":"h1","type":"rated","at":"2026-08-03T09:00:00Z","ticket":"A1","score":6,"scale":5}"#
            ),
            "field `score`: 6 is outside 0–5"
        );
        assert_eq!(
            bad(
                r#"{"id":" ","hall":"h1","type":"left","at":"2026-08-03T09:00:00Z","ticket":"A1"}"#
            ),
            "field `id`: empty"
        );
        assert_eq!(
            bad(r#"{"id":"e4","hall":"h1","at":"2026-08-03T09:00:00Z"}"#),
            "missing field `type`"
        );
    }

    #[test]
    fn sales_and_trials_parse_and_name_the_bad_field() {
        let e = Event::from_json(
            r#"{"id":"s1","hall":"h1","type":"sale","at":"2026-08-03T09:20:00+08:00","ticket":"A001","category":"phone","amount":4999.5,"staff":"s07"}"#,
        )
        .unwrap();
        assert_eq!(e.kind_name(), "sale");
        assert_eq!(e.kind.ticket(), Some("A001"));
        assert!(matches!(
            e.kind,
            EventKind::Sale {
                category: SaleCategory::Phone,
                amount: Some(a),
                ..
            } if a == 4999.5
        ));
        let e = Event::from_json(
            r#"{"id":"t1","hall":"h1","type":"trial_ended","at":"2026-08-03T09:20:00+08:00","trial":"T1","purchased":true}"#,
        )
        .unwrap();
        assert_eq!(e.kind_name(), "trial_ended");
        assert_eq!(e.kind.ticket(), None);
        assert!(matches!(
            e.kind,
            EventKind::TrialEnded {
                purchased: Some(true),
                ..
            }
        ));
        let e = Event::from_json(
            r#"{"id":"t0","hall":"h1","type":"trial_started","at":"2026-08-03T09:10:00+08:00","trial":"T1","ticket":"A001","device":"Mate 60"}"#,
        )
        .unwrap();
        assert_eq!(
            (e.kind_name(), e.kind.ticket()),
            ("trial_started", Some("A001"))
        );
        // Written back as devices send it.
        let back = serde_json::to_value(&e).unwrap();
        assert_eq!(back["type"], "trial_started");
        assert_eq!(back["device"], "Mate 60");

        let bad = |fields: &str| {
            Event::from_json(&format!(
                r#"{{"id":"s2","hall":"h1","at":"2026-08-03T09:20:00+08:00",{fields}}}"#
            ))
            .unwrap_err()
        };
        assert_eq!(
            bad(r#""type":"sale","ticket":"A1","category":"phone","amount":-5"#),
            "field `amount`: -5 is negative"
        );
        assert!(
            bad(r#""type":"sale","ticket":"A1","category":"tablet""#).starts_with(
                "field `category`: `tablet` is not one of new_customer, data, phone, group, other"
            )
        );
        assert!(bad(r#""type":"sale","ticket":"A1""#).contains("missing field `category`"));
        assert!(
            bad(r#""type":"sale","ticket":"A1","category":"data","amount":"12""#)
                .contains("invalid type: string")
        );
        assert_eq!(
            bad(r#""type":"sale","ticket":" ","category":"data""#),
            "field `ticket`: empty"
        );
        assert_eq!(
            bad(r#""type":"trial_started","trial":"""#),
            "field `trial`: empty"
        );
        assert!(
            bad(r#""type":"trial_ended","trial":"T1","purchased":"yes""#)
                .contains("invalid type: string")
        );
    }
}
