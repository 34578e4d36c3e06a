//! Post-contact survey invitations as stored (issue 22): each org node's rule, one row
//! per decision with the visit's operational facts, opt-outs, and the outbox the
//! minute sweep sends. The decisions themselves are `peakend_core::invitation`.

pub use peakend_core::customer::EndedContact;
pub use peakend_core::invitation::{Decision, InviteRule};
use peakend_core::{HallId, OrgNodeId};
use serde::Serialize;

use crate::Result;

/// An invitation lives 72 hours from when it is sent.
pub const EXPIRY_MS: i64 = 72 * 3_600_000;

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
    /// When the contact ended (older rows: unknown).
    pub ended_at: Option<i64>,
    pub outcome: Option<String>,
}

impl Invitation {
    /// Whether its link still opens the form at `at_ms`: sent (or held for quiet
    /// hours), unanswered and within its 72 hours.
    pub fn open_at(&self, at_ms: i64) -> bool {
        matches!(self.status.as_str(), "sent" | "held")
            && self.expires_at.is_some_and(|e| at_ms < e)
    }
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

impl Decided {
    /// Adds another call's counts (a run of drains, a replay's parts).
    pub fn add(&mut self, o: &Decided) {
        self.sent += o.sent;
        self.held += o.held;
        self.suppressed += o.suppressed;
        self.skipped += o.skipped;
    }
}

/// What one drain of the queue ([`InvitationStore::decide_pending`]) did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Drained {
    /// Contacts taken from the queue (all of them decided or skipped).
    pub taken: usize,
    pub decided: Decided,
}

/// How long an outbox entry a node of several took to send is its own: longer than a
/// run of [`crate::SweepHalls`]'s batch takes, short enough that one its node died
/// with leaves soon after.
pub const INVITE_CLAIM_MS: i64 = 10 * 60_000;

/// One reminder, this long after the invitation is sent, while it is unanswered.
pub const REMINDER_AFTER_MS: i64 = 24 * 3_600_000;

/// An outbox entry due to leave: the sender gets the link's token, never a number.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub outbox_id: i64,
    pub invitation_id: i64,
    pub hall: String,
    /// The hall's name as the organisation has it (its id when the node is gone).
    pub hall_name: String,
    /// `invite` or `reminder`.
    pub kind: String,
    pub customer_key: Option<String>,
    pub token: String,
    /// When the link stops answering (72 hours after the invitation was due).
    pub expires_at: Option<i64>,
    /// Failed attempts so far (the next back-off grows with them).
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
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

/// The longest failure reason kept with an outbox entry.
pub const SEND_ERROR_MAX_CHARS: usize = 200;

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

    /// Queues contacts for [`InvitationStore::decide_pending`] (the ingest queues its own
    /// in its transaction: [`crate::Store::ingest_events_inviting`]).
    async fn queue_invitations(&self, contacts: &[EndedContact]) -> Result<()>;

    /// Decides up to `limit` queued contacts, oldest first, at `at_ms` and takes them
    /// off the queue, in one transaction (contacts that ended more than 72 hours before
    /// `at_ms` are dropped unasked). One drain at a time; `taken` below `limit` means
    /// the queue is empty.
    async fn decide_pending(&self, at_ms: i64, limit: usize) -> Result<Drained> {
        self.decide_pending_of(at_ms, limit, &crate::SweepHalls::All)
            .await
    }

    /// [`InvitationStore::decide_pending`] for the queued contacts of some halls. The
    /// drains of all nodes still take turns (a customer's limits span halls), and each
    /// takes its contacts off the queue in its decisions' transaction: a contact is
    /// decided once, whichever node drains it.
    async fn decide_pending_of(
        &self,
        at_ms: i64,
        limit: usize,
        halls: &crate::SweepHalls,
    ) -> Result<Drained>;

    /// Reads what the decider remembers between decisions (on SQLite, each customer's
    /// latest invitation over the rules' look-back as of `at_ms`), outside any write
    /// transaction, so the first decision after a start does not hold the database's
    /// write lock while it reads them. Deciding without it decides the same.
    async fn warm_decider(&self, at_ms: i64) -> Result<()>;

    /// Records that a customer opted out; later contacts of theirs are suppressed.
    async fn opt_out(&self, customer_key: &str, at_ms: i64) -> Result<()>;

    /// The minute sweep, in one transaction: unanswered invitations past 72 hours
    /// become `expired`, entries not yet sent of answered or expired ones are dropped
    /// (a reminder, or an invitation whose sends kept failing until its link expired),
    /// and the entries due by `at_ms` are returned for the sender, oldest first (they
    /// stay in the outbox until [`InvitationStore::invitation_delivered`]: a crash sends
    /// again, loses nothing). A reminder waits until its invitation has left.
    async fn sweep_invitations(&self, at_ms: i64) -> Result<Vec<Outgoing>> {
        Ok(self
            .sweep_invitations_of(at_ms, &crate::SweepHalls::All, usize::MAX)
            .await?
            .0)
    }

    /// [`InvitationStore::sweep_invitations`] for the invitations of some halls. For
    /// [`crate::SweepHalls::All`] (one node) every due entry is returned, as above, and
    /// `limit` is not used. For partitions at most `limit` entries are returned, and each
    /// is claimed: its due time moves [`INVITE_CLAIM_MS`] ahead in the sweep's
    /// transaction, on the condition that it was still due and unsent, so a node that
    /// took the partition over meanwhile does not send it too (a send or a failure sets
    /// its due time anew; a node that dies mid-send leaves it to be sent once the claim
    /// runs out). The second figure: due entries left for the next run.
    async fn sweep_invitations_of(
        &self,
        at_ms: i64,
        halls: &crate::SweepHalls,
        limit: usize,
    ) -> Result<(Vec<Outgoing>, usize)>;

    /// Marks an outbox entry sent: its token is dropped (only the hash stays), a held
    /// invitation becomes `sent`, a reminder is recorded. An invite that has left makes
    /// its invitation's one reminder ([`REMINDER_AFTER_MS`] after the invitation's
    /// `send_at`, the same link) unless it is answered, expired or opted out by then,
    /// or has its reminder already (decided before migration 0040).
    async fn invitation_delivered(&self, outbox_id: i64, at_ms: i64) -> Result<()>;

    /// Records a failed send of an outbox entry: one more attempt, `reason` (the
    /// sender's short text, cut to [`SEND_ERROR_MAX_CHARS`]; never a token or a number)
    /// as its last error, and due again at `retry_at_ms`. The token stays, so the entry
    /// is sent again then. An entry already delivered (or unknown) is left as it is.
    async fn invitation_send_failed(
        &self,
        outbox_id: i64,
        reason: &str,
        retry_at_ms: i64,
    ) -> Result<()>;

    /// Decisions of `halls` (all when `None`), newest first.
    async fn invitations(&self, halls: Option<&[HallId]>) -> Result<Vec<Invitation>>;

    /// The invitation a link's token opens, whatever its status: `{id}.{verifier}`
    /// is looked up by the id and opens it only when the verifier's SHA-256 is the one
    /// stored (compared in constant time); a token of 64 hex digits alone (links sent
    /// before migration 0040) by its SHA-256. The token itself is never stored once
    /// sent.
    async fn invitation_by_token(&self, token: &str) -> Result<Option<Invitation>>;

    /// Stores the answer given through invitation `id`'s link and marks it `answered`
    /// (`response_id` = the answer's respondent), in one transaction: a link used
    /// before or past its 72 hours is [`crate::StoreError::Gone`] and nothing is stored.
    async fn answer_invitation(
        &self,
        id: i64,
        journey: &peakend_core::Journey,
        response: &peakend_core::survey::Response,
        at_ms: i64,
    ) -> Result<()>;

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
