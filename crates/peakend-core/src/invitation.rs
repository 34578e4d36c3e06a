//! Post-contact survey invitations (issue 22, begun): whether a visit or call that just
//! ended invites its customer, by an org node's rule: a sample (a share, drawn from the
//! contact's own id so a replay decides the same), quotas per segment × purpose per
//! week, suppression (invited in the last N days, opted out) and quiet hours, when the
//! invitation is held until they end. Pure; the outbox and senders build on it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveTime};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// An org node's invitation rule.
#[derive(Debug, Clone, PartialEq)]
pub struct InviteRule {
    /// Share of contacts invited, 0–1.
    pub share: f64,
    /// Shares of particular queues (a call's queue, a visit's service, an app
    /// transaction's purpose) that differ from `share`: a busy queue sampled less.
    pub queue_shares: BTreeMap<String, f64>,
    /// Invitations a week per (segment, purpose); a full cell invites no more.
    pub quotas: BTreeMap<(String, String), u32>,
    /// A customer invited within this many days is not invited again.
    pub suppress_days: u32,
    /// Local quiet hours (from, to), e.g. 21:00–08:00: an invitation is held to `to`.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
}

impl Default for InviteRule {
    fn default() -> Self {
        InviteRule {
            share: 1.0,
            queue_shares: BTreeMap::new(),
            quotas: BTreeMap::new(),
            suppress_days: 30,
            quiet: NaiveTime::from_hms_opt(21, 0, 0).zip(NaiveTime::from_hms_opt(8, 0, 0)),
        }
    }
}

/// A contact that just ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ended {
    /// The ticket (`hall/day/ticket`) or call id: one decision each.
    pub id: String,
    pub customer: Option<String>,
    pub segment: String,
    pub purpose: String,
    /// When it ended, in the hall's or centre's local time.
    pub at: DateTime<FixedOffset>,
}

/// What was decided, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Decision {
    Sent,
    /// Held for quiet hours, to be sent at `until` (ms).
    Held {
        until: i64,
    },
    Suppressed {
        reason: String,
    },
    /// Not drawn in the sample: no invitation, nothing to list.
    NotSampled,
}

/// The state decisions depend on: who was invited when, who opted out, and each
/// week's quota cells so far.
#[derive(Debug, Clone, Default)]
pub struct Programme {
    last_invited: HashMap<String, i64>,
    opted_out: HashSet<String>,
    /// (ISO year, week, segment, purpose) → invitations.
    used: HashMap<(i32, u32, String, String), u32>,
}

/// A contact's place in [0, 1) from its id: the sample draw, the same in every replay.
pub fn draw(id: &str) -> f64 {
    let h = Sha256::digest(id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

impl InviteRule {
    /// The share sampled of contacts of `queue`.
    pub fn share_of(&self, queue: &str) -> f64 {
        self.queue_shares.get(queue).copied().unwrap_or(self.share)
    }
}

impl Programme {
    pub fn new() -> Programme {
        Programme::default()
    }

    pub fn opt_out(&mut self, customer: &str) {
        self.opted_out.insert(customer.to_owned());
    }

    /// Seeds a past invitation of `customer` (from storage): its suppression.
    pub fn invited(&mut self, customer: &str, at_ms: i64) {
        let last = self
            .last_invited
            .entry(customer.to_owned())
            .or_insert(at_ms);
        *last = (*last).max(at_ms);
    }

    /// Seeds `n` past invitations' places in their week's quota cell (`at` local).
    pub fn counted(&mut self, segment: &str, purpose: &str, at: DateTime<FixedOffset>, n: u32) {
        let week = at.iso_week();
        *self
            .used
            .entry((
                week.year(),
                week.week(),
                segment.to_owned(),
                purpose.to_owned(),
            ))
            .or_default() += n;
    }

    /// Decides one contact by `rule`, and counts it when it is sent or held.
    pub fn decide(&mut self, c: &Ended, rule: &InviteRule) -> Decision {
        if draw(&c.id) >= rule.share_of(&c.purpose) {
            return Decision::NotSampled;
        }
        let Some(customer) = c.customer.as_deref() else {
            return Decision::Suppressed {
                reason: "no customer to invite".into(),
            };
        };
        if self.opted_out.contains(customer) {
            return Decision::Suppressed {
                reason: "opted out".into(),
            };
        }
        let at_ms = c.at.timestamp_millis();
        if let Some(last) = self.last_invited.get(customer)
            && at_ms - last < i64::from(rule.suppress_days) * 86_400_000
        {
            return Decision::Suppressed {
                reason: format!("invited in the last {} days", rule.suppress_days),
            };
        }
        let week = c.at.iso_week();
        let cell = (
            week.year(),
            week.week(),
            c.segment.clone(),
            c.purpose.clone(),
        );
        if let Some(quota) = rule.quotas.get(&(c.segment.clone(), c.purpose.clone()))
            && self.used.get(&cell).copied().unwrap_or(0) >= *quota
        {
            return Decision::Suppressed {
                reason: format!(
                    "the week's quota of {quota} for {} × {} is full",
                    c.segment, c.purpose
                ),
            };
        }
        *self.used.entry(cell).or_default() += 1;
        self.last_invited.insert(customer.to_owned(), at_ms);
        match rule.quiet.and_then(|q| quiet_until(c.at, q)) {
            Some(until) => Decision::Held { until },
            None => Decision::Sent,
        }
    }
}

/// Parses quiet hours `HH:MM-HH:MM` (e.g. `21:00-08:00`).
pub fn parse_quiet(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let err = || format!("quiet hours `{s}`: expected HH:MM-HH:MM, such as 21:00-08:00");
    let (a, b) = s.trim().split_once('-').ok_or_else(err)?;
    let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| err());
    Ok((t(a)?, t(b)?))
}

/// Formats quiet hours as [`parse_quiet`] reads them.
pub fn quiet_text((from, to): (NaiveTime, NaiveTime)) -> String {
    format!("{}-{}", from.format("%H:%M"), to.format("%H:%M"))
}

/// Parses quotas `SEGMENT:PURPOSE=N,…`.
pub fn parse_quotas(s: &str) -> Result<BTreeMap<(String, String), u32>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let err = || format!("quota `{part}`: expected SEGMENT:PURPOSE=N, such as 个人:bill=200");
        let (cell, n) = part.split_once('=').ok_or_else(err)?;
        let (seg, purpose) = cell.split_once(':').ok_or_else(err)?;
        let n: u32 = n.trim().parse().map_err(|_| err())?;
        if seg.trim().is_empty() || purpose.trim().is_empty() {
            return Err(err());
        }
        out.insert((seg.trim().to_owned(), purpose.trim().to_owned()), n);
    }
    Ok(out)
}

/// Parses shares per queue `QUEUE=S,…` (e.g. `billing=0.1,broadband=0.5`), each 0–1.
pub fn parse_queue_shares(s: &str) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let err = || {
            format!(
                "queue share `{part}`: expected QUEUE=S with S between 0 and 1, such as billing=0.1"
            )
        };
        let (queue, share) = part.split_once('=').ok_or_else(err)?;
        let share: f64 = share.trim().parse().map_err(|_| err())?;
        if queue.trim().is_empty() || !(0.0..=1.0).contains(&share) {
            return Err(err());
        }
        if out.insert(queue.trim().to_owned(), share).is_some() {
            return Err(format!(
                "queue share `{part}`: queue `{}` given twice",
                queue.trim()
            ));
        }
    }
    Ok(out)
}

/// Formats shares per queue as [`parse_queue_shares`] reads them.
pub fn queue_shares_text(shares: &BTreeMap<String, f64>) -> String {
    shares
        .iter()
        .map(|(q, s)| format!("{q}={s}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// When quiet hours `(from, to)` that `at` falls in end (ms), or `None` outside them.
/// A window that wraps midnight (21:00–08:00) ends the next morning when `at` is in
/// its evening part.
fn quiet_until(at: DateTime<FixedOffset>, (from, to): (NaiveTime, NaiveTime)) -> Option<i64> {
    let t = at.time();
    let (inside, next_day) = if from <= to {
        (t >= from && t < to, false)
    } else {
        (t >= from || t < to, t >= from)
    };
    if !inside {
        return None;
    }
    let day = if next_day {
        at.date_naive() + Duration::days(1)
    } else {
        at.date_naive()
    };
    day.and_time(to)
        .and_local_timezone(*at.offset())
        .single()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(id: &str, customer: &str, at: &str) -> Ended {
        Ended {
            id: id.into(),
            customer: Some(customer.into()),
            segment: "个人".into(),
            purpose: "bill".into(),
            at: DateTime::parse_from_rfc3339(at).unwrap(),
        }
    }

    #[test]
    fn one_sent_one_suppressed_one_held_for_quiet_hours() {
        let rule = InviteRule::default();
        let mut p = Programme::new();
        assert_eq!(
            p.decide(&ended("t1", "x", "2026-08-07T10:00:00+08:00"), &rule),
            Decision::Sent
        );
        // The same customer 3 days later: invited within 30 days.
        assert!(matches!(
            p.decide(&ended("t2", "x", "2026-08-10T10:00:00+08:00"), &rule),
            Decision::Suppressed { reason } if reason.contains("30 days")
        ));
        // Another at 21:30: held to 08:00 the next morning, the hall's time.
        let until = DateTime::parse_from_rfc3339("2026-08-08T08:00:00+08:00")
            .unwrap()
            .timestamp_millis();
        assert_eq!(
            p.decide(&ended("t3", "y", "2026-08-07T21:30:00+08:00"), &rule),
            Decision::Held { until }
        );
        // And at 06:00: held to 08:00 the same day.
        assert!(matches!(
            p.decide(&ended("t4", "z", "2026-08-08T06:00:00+08:00"), &rule),
            Decision::Held { .. }
        ));
        p.opt_out("w");
        assert!(matches!(
            p.decide(&ended("t5", "w", "2026-08-07T10:00:00+08:00"), &rule),
            Decision::Suppressed { reason } if reason == "opted out"
        ));
    }

    #[test]
    fn quotas_and_quiet_hours_parse_and_refuse_with_the_part() {
        let q = parse_quotas("个人:bill=200, 政企:open=5").unwrap();
        assert_eq!(q[&("个人".to_owned(), "bill".to_owned())], 200);
        assert_eq!(q.len(), 2);
        assert!(parse_quotas("个人=3").unwrap_err().contains("个人=3"));
        let quiet = parse_quiet("21:00-08:00").unwrap();
        assert_eq!(quiet_text(quiet), "21:00-08:00");
        assert!(parse_quiet("9pm").is_err());
    }

    #[test]
    fn a_full_quota_cell_invites_no_more_that_week() {
        let rule = InviteRule {
            quotas: [(("个人".to_owned(), "bill".to_owned()), 2)].into(),
            quiet: None,
            ..InviteRule::default()
        };
        let mut p = Programme::new();
        let mut sent = 0;
        for (i, day) in ["03", "04", "05", "06"].iter().enumerate() {
            let d = p.decide(
                &ended(
                    &format!("t{i}"),
                    &format!("c{i}"),
                    &format!("2026-08-{day}T10:00:00+08:00"),
                ),
                &rule,
            );
            if d == Decision::Sent {
                sent += 1;
            }
        }
        assert_eq!(sent, 2, "two a week for 个人 × bill");
        // The next ISO week has its own quota.
        assert_eq!(
            p.decide(&ended("t9", "c9", "2026-08-10T10:00:00+08:00"), &rule),
            Decision::Sent
        );
    }

    #[test]
    fn the_sample_is_the_share_and_the_same_in_every_replay() {
        let rule = InviteRule {
            share: 0.2,
            quiet: None,
            suppress_days: 0,
            ..InviteRule::default()
        };
        let run = || {
            let mut p = Programme::new();
            (0..20_000)
                .filter(|i| {
                    p.decide(
                        &ended(
                            &format!("h1/2026-08-07/A{i}"),
                            &format!("c{i}"),
                            "2026-08-07T10:00:00+08:00",
                        ),
                        &rule,
                    ) == Decision::Sent
                })
                .count()
        };
        let n = run();
        // 20,000 × 0.2 = 4,000 ± 4 sd (sd = 56.6).
        assert!((3_774..=4_226).contains(&n), "{n}");
        assert_eq!(run(), n);
    }

    #[test]
    fn a_queue_with_its_own_share_is_sampled_by_it_and_the_others_by_the_rule() {
        let rule = InviteRule {
            share: 1.0,
            queue_shares: parse_queue_shares("bill=0.1").unwrap(),
            quiet: None,
            suppress_days: 0,
            ..InviteRule::default()
        };
        let mut p = Programme::new();
        let mut sent = |purpose: &str| {
            (0..10_000)
                .filter(|i| {
                    let mut e = ended(
                        &format!("h1/2026-08-07/{purpose}{i}"),
                        &format!("c{i}"),
                        "2026-08-07T10:00:00+08:00",
                    );
                    e.purpose = purpose.into();
                    p.decide(&e, &rule) == Decision::Sent
                })
                .count()
        };
        // 10,000 × 0.1 = 1,000 ± 4 sd (sd = 30).
        let bill = sent("bill");
        assert!((880..=1_120).contains(&bill), "{bill}");
        assert_eq!(sent("open"), 10_000);
        assert_eq!(rule.share_of("open"), 1.0);
        assert!(
            parse_queue_shares("bill=1.5")
                .unwrap_err()
                .contains("bill=1.5")
        );
        assert!(
            parse_queue_shares("bill=0.1,bill=0.2")
                .unwrap_err()
                .contains("twice")
        );
        assert_eq!(
            queue_shares_text(&parse_queue_shares(" bill=0.1 , open=0.5").unwrap()),
            "bill=0.1,open=0.5"
        );
    }
}
