//! Post-contact survey invitations as stored (issue 22): each org node's rule, one row
//! per decision with the visit's operational facts, opt-outs, and the outbox the
//! minute sweep sends. The decisions themselves are `peakend_core::invitation`.

pub use peakend_core::invitation::{Decision, InviteRule};
use peakend_core::{HallId, OrgNodeId};
use serde::Serialize;

use crate::Result;

/// An invitation lives 72 hours from when it is sent.
pub const EXPIRY_MS: i64 = 72 * 3_600_000;

/// A contact that ended (a visit's `service_ended`; a call's `call_ended` when the
/// call events land), with what an answer will be joined to.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedContact {
    pub hall: HallId,
    /// `hall/day/ticket` or the call id: one decision each.
    pub id: String,
    /// The customer's salted key; `None` cannot be invited (`no_customer`).
    pub customer: Option<String>,
    pub segment: String,
    pub purpose: String,
    pub staff: Option<String>,
    pub counter: Option<String>,
    pub wait_s: Option<i64>,
    pub outcome: Option<String>,
    pub ended_at: i64,
}

/// One decision as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invitation {
    pub id: i64,
    pub hall: String,
    pub contact: String,
    pub customer_key: Option<String>,
    pub segment: String,
    pub purpose: String,
    pub staff: Option<String>,
    pub counter: Option<String>,
    pub wait_s: Option<i64>,
    pub decided_at: i64,
    /// `sent`, `suppressed`, `held`, `expired`, `answered`.
    pub status: String,
    pub reason: Option<String>,
    pub send_at: Option<i64>,
    pub expires_at: Option<i64>,
}

/// What one call of [`InvitationStore::decide_invitations`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decided {
    pub sent: usize,
    pub held: usize,
    pub suppressed: usize,
    /// Not drawn in the sample, no rule, or decided before (a replay): nothing stored.
    pub skipped: usize,
}

/// One reminder, this long after the invitation is sent, while it is unanswered.
pub const REMINDER_AFTER_MS: i64 = 24 * 3_600_000;

/// An outbox entry due to leave: the sender gets the link's token, never a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub outbox_id: i64,
    pub invitation_id: i64,
    pub hall: String,
    /// `invite` or `reminder`.
    pub kind: String,
    pub customer_key: Option<String>,
    pub token: String,
}

/// Decisions of one hall, segment × purpose and outcome in a period, counted.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationCount {
    pub hall: String,
    pub segment: String,
    pub purpose: String,
    pub status: String,
    pub reason: Option<String>,
    pub n: u64,
}

/// An answered invitation joined to its answer (the survey response whose respondent
/// is the invitation's `response_id`): the visit's facts beside the ratings.
#[derive(Debug, Clone, PartialEq)]
pub struct AnsweredVisit {
    pub invitation: i64,
    pub hall: String,
    pub segment: String,
    pub purpose: String,
    pub staff: Option<String>,
    pub counter: Option<String>,
    pub wait_s: Option<i64>,
    pub journey: String,
    pub tolerable_wait_min: Option<f64>,
    /// (moment key, satisfaction) of each moment the answer rated.
    pub ratings: Vec<(String, f64)>,
}

#[async_trait::async_trait]
pub trait InvitationStore: Send + Sync {
    /// Sets (replaces) the rule of an org node; an unknown node is refused.
    async fn set_invite_rule(&self, node: &OrgNodeId, rule: &InviteRule) -> Result<()>;

    /// Every node's rule.
    async fn invite_rules(&self) -> Result<Vec<(OrgNodeId, InviteRule)>>;

    /// Decides the contacts by their hall's nearest rule, in one transaction: a row per
    /// decision (not for contacts outside the sample), an outbox entry for each sent or
    /// held one. A contact decided before is skipped, so a retry decides nothing twice.
    async fn decide_invitations(&self, contacts: &[EndedContact], at_ms: i64) -> Result<Decided>;

    /// Records that a customer opted out; later contacts of theirs are suppressed.
    async fn opt_out(&self, customer_key: &str, at_ms: i64) -> Result<()>;

    /// The minute sweep, in one transaction: unanswered invitations past 72 hours
    /// become `expired`, reminders of answered or expired ones are dropped, and the
    /// entries due by `at_ms` are returned for the sender (they stay in the outbox until
    /// [`InvitationStore::invitation_delivered`]: a crash sends again, loses nothing).
    async fn sweep_invitations(&self, at_ms: i64) -> Result<Vec<Outgoing>>;

    /// Marks an outbox entry sent: its token is dropped (only the hash stays), a held
    /// invitation becomes `sent`, a reminder is recorded.
    async fn invitation_delivered(&self, outbox_id: i64, at_ms: i64) -> Result<()>;

    /// Decisions of `halls` (all when `None`), newest first.
    async fn invitations(&self, halls: Option<&[HallId]>) -> Result<Vec<Invitation>>;

    /// Decisions made in [from_ms, to_ms), counted by hall, segment, purpose, status
    /// and reason. One aggregate query.
    async fn invitation_counts(&self, from_ms: i64, to_ms: i64) -> Result<Vec<InvitationCount>>;

    /// The invitations decided in [from_ms, to_ms) that were answered, each joined to
    /// its answer's ratings (invitations whose answer is not stored are left out).
    async fn answered_visits(&self, from_ms: i64, to_ms: i64) -> Result<Vec<AnsweredVisit>>;

    /// (hall, respondent, segment, purpose) of every answered invitation: the visit's
    /// cell of the answer stored under that respondent.
    async fn answered_cells(&self) -> Result<Vec<(String, String, String, String)>>;
}
