//! One customer across channels (issue 22, begun): the key a customer is known by (a
//! salted hash of the phone number, never the number), and what a customer's contacts
//! across channels show: failure demand (a contact left unresolved and followed within
//! days by another about the same purpose, per pair of channels) and repeat contacts.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

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
/// each contact looks at the customer's next contact only.
pub fn cross_channel(contacts: &[Contact], window_ms: i64) -> CrossChannel {
    let mut by_customer: BTreeMap<&str, Vec<&Contact>> = BTreeMap::new();
    for c in contacts {
        by_customer.entry(c.customer.as_str()).or_default().push(c);
    }
    let mut out = CrossChannel {
        contacts: contacts.len() as u64,
        ..CrossChannel::default()
    };
    for list in by_customer.values_mut() {
        list.sort_by_key(|c| c.at_ms);
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.at_ms - a.at_ms > window_ms {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
