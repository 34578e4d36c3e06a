//! One customer across channels (issue 22): the `customer_contact` projection the
//! ingest writes (one row per ended contact of a known customer, only the salted key),
//! its erasure after a retention, and the report the CLI and the API share: contacts
//! and customers per channel, repeat contacts, failure demand per channel pair and the
//! consistency of satisfaction per kind of moment across channels. The math is
//! `peakend_core::customer`.

use super::*;
use peakend_core::customer::{Contact, CustomerReport, MomentScore, channel_of_journey};

/// How long a customer's contacts are kept by default, in days.
pub const CUSTOMER_CONTACT_RETENTION_DAYS: u32 = 400;

/// A row of `customer_contact`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredContact {
    pub contact_id: String,
    pub customer_key: String,
    pub channel: String,
    pub hall: String,
    pub purpose: String,
    pub outcome: Option<String>,
    pub resolved: bool,
    pub at: i64,
}

/// Satisfaction ratings of a hall's answers to a journey's moment, summed.
#[derive(Debug, Clone, PartialEq)]
pub struct MomentRatings {
    pub hall: String,
    pub journey: String,
    pub moment: String,
    pub n: u64,
    pub sum: f64,
}

#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// The contacts that ended in [from_ms, to_ms), oldest first. One range query.
    async fn customer_contacts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<StoredContact>>;

    /// The hotline contacts of one contact centre in [from_ms, to_ms), oldest first:
    /// its ended and abandoned calls of known customers. One range of a partial index.
    async fn hotline_contacts(
        &self,
        centre: &HallId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StoredContact>>;

    /// Deletes the contacts that ended before `before_ms`; returns how many.
    async fn erase_customer_contacts(&self, before_ms: i64) -> Result<usize>;

    /// Satisfaction of the answers with a visit date in [from, to], summed by hall,
    /// journey and moment. One aggregate query.
    async fn moment_ratings(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<MomentRatings>>;
}

/// The built-in journey `key` extends (itself for a built-in one), through the
/// journeys' `extends` links.
fn root_of(journeys: &HashMap<String, Option<String>>, key: &str) -> String {
    let mut key = key.to_owned();
    for _ in 0..16 {
        match journeys.get(&key) {
            Some(Some(parent)) => key = parent.clone(),
            _ => break,
        }
    }
    key
}

/// The customer report of the halls and centres at or below `q.org` on the local days
/// [from, to]: their customers' contacts in the period (failure demand and repeats
/// within `window_days` of a contact in the period, the follow-up in it or after it)
/// and the survey answers of the period for consistency. Only aggregates.
pub async fn customer_report(
    store: &dyn Store,
    q: &ProgrammeQuery<'_>,
    window_days: u32,
) -> Result<CustomerReport> {
    let tree = store.org_tree().await?;
    let halls = crate::programme::scope(&tree, q.org)?;
    let mut contacts = Vec::new();
    let window_ms = i64::from(window_days) * 86_400_000;
    for ((lo, hi), ids) in crate::programme::bounds(&tree, &halls, q.from, q.to) {
        // The window after the period too: a contact of its last days may be repeated.
        for c in store.customer_contacts(lo, hi + window_ms + 1).await? {
            if ids.contains(&c.hall) {
                contacts.push(Contact {
                    customer: c.customer_key,
                    channel: c.channel,
                    at_ms: c.at,
                    purpose: c.purpose,
                    resolved: c.resolved,
                    in_period: c.at < hi,
                });
            }
        }
    }
    // Each answer's channel from its journey's built-in root, else its node's level;
    // each moment's kind from its journey (a moment with no kind is left out).
    let ids: HashSet<String> = halls.iter().map(ToString::to_string).collect();
    let journeys: HashMap<String, Option<String>> = store
        .list_journeys()
        .await?
        .into_iter()
        .map(|j| (j.key.to_string(), j.extends.map(|e| e.to_string())))
        .collect();
    let mut kinds: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut scores = Vec::new();
    for r in store.moment_ratings(q.from, q.to).await? {
        if !ids.contains(&r.hall) {
            continue;
        }
        let level = OrgNodeId::parse(r.hall.as_str())
            .ok()
            .and_then(|id| tree.get(&id).map(|n| n.level));
        let channel = match channel_of_journey(&root_of(&journeys, &r.journey)) {
            Some(c) => c,
            None if level == Some(peakend_core::OrgLevel::Centre) => "hotline",
            None => "hall",
        };
        if !kinds.contains_key(&r.journey) {
            let mut of = HashMap::new();
            if let Ok(key) = JourneyKey::parse(r.journey.as_str())
                && let Some(j) = store.journey(&key).await?
            {
                for m in j.moments() {
                    if let Some(k) = &m.kind {
                        of.insert(m.key.to_string(), k.clone());
                    }
                }
            }
            kinds.insert(r.journey.clone(), of);
        }
        if let Some(kind) = kinds.get(&r.journey).and_then(|of| of.get(&r.moment)) {
            scores.push(MomentScore {
                channel: channel.to_owned(),
                kind: kind.clone(),
                n: r.n,
                sum: r.sum,
            });
        }
    }
    Ok(peakend_core::customer::customer_report(
        &contacts,
        window_days,
        &scores,
    ))
}
