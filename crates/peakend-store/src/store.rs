//! The storage trait and the types it speaks: what every backend gives the
//! adapters above it (journeys, the organisation, survey responses and their cells,
//! device events, alerts, accounts).

use super::*;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A batch of a streamed survey import ([`Store::import_response_stream`]).
#[derive(Debug)]
pub enum ImportBatch {
    Rows(Vec<Response>),
    /// The file was read whole and without error: commit.
    End,
}

/// A journey as listed, without its moments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JourneySummary {
    pub key: JourneyKey,
    pub name: Text,
    pub channel: Channel,
    pub extends: Option<JourneyKey>,
    pub moments: usize,
    pub builtin: bool,
}

/// What a journey write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PutOutcome {
    Created,
    Updated,
    Unchanged,
}

/// What an org import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OrgImportSummary {
    pub created: usize,
    pub updated: usize,
    pub total: usize,
}

/// Who is writing a journey: built-in journeys may only be written by `init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    User,
}

/// How much of a day roll-up [`Store::ops_rollups`] reads: the sums and waiting tickets
/// an overview needs, or with the breakdown a KPI report needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupRead {
    Summary,
    WithDetail,
}

/// Everything stored; service cases have their own part, [`CaseStore`].
#[async_trait]
pub trait Store:
    CaseStore
    + AuditStore
    + crate::InvitationStore
    + crate::CustomerStore
    + crate::StrategyStore
    + Send
    + Sync
{
    fn backend(&self) -> Backend;

    /// A round trip to the database, for health checks.
    async fn ping(&self) -> Result<()>;

    /// Journeys ordered by key.
    async fn list_journeys(&self) -> Result<Vec<JourneySummary>>;

    async fn journey(&self, key: &JourneyKey) -> Result<Option<Journey>>;
    /// A journey as its document is stored: a region's own edits of the house of
    /// quality, not yet merged over its parent's (what an edit changes and writes back,
    /// so the parent's later edits still reach it).
    async fn journey_as_stored(&self, key: &JourneyKey) -> Result<Option<Journey>>;

    /// Stores a manager's importance estimate of a journey's moments (gap 1), in place
    /// of their previous one.
    async fn put_estimate(
        &self,
        journey: &JourneyKey,
        user: &str,
        batch: &peakend_core::analysis::EstimateBatch,
        at_ms: i64,
    ) -> Result<()>;

    /// Every manager's latest estimate of a journey: (user, batch, when).
    async fn estimates(
        &self,
        journey: &JourneyKey,
    ) -> Result<Vec<(String, peakend_core::analysis::EstimateBatch, i64)>>;

    /// Creates or replaces a journey, enforcing the governance rule against its parent
    /// and against every journey that extends it. All or nothing.
    async fn put_journey(&self, journey: &Journey, origin: Origin) -> Result<PutOutcome>;

    /// The organisation in stored order (parents need not precede children).
    async fn org_nodes(&self) -> Result<Vec<OrgNode>>;

    async fn org_tree(&self) -> Result<OrgTree> {
        OrgTree::build(self.org_nodes().await?).map_err(StoreError::Org)
    }

    /// The rules a hall's day is replayed and its events applied on (its journey's,
    /// zone, kiosks, holidays). A store may keep them while nothing they come from has
    /// changed: a live board looks at its hall after every batch ([`crate::hall_rules`]
    /// reads them afresh).
    async fn hall_rules(&self, hall: &HallId) -> Result<Rules>;

    /// Upserts nodes by id. The merged tree is validated first; on any error
    /// nothing is written.
    async fn import_org(&self, nodes: Vec<OrgNode>) -> Result<OrgImportSummary>;

    /// Stores survey responses to `journey` in one transaction. Every hall must exist
    /// and no respondent may already be stored for the journey; otherwise nothing is.
    async fn import_responses(&self, journey: &Journey, responses: &[Response]) -> Result<usize>;

    /// [`Store::import_responses`] for a file too large to hold: responses arrive in
    /// batches and are stored as they come, in one transaction that commits only at
    /// [`ImportBatch::End`]; the channel closing before it stores nothing.
    async fn import_response_stream(
        &self,
        journey: &Journey,
        batches: tokio::sync::mpsc::Receiver<ImportBatch>,
    ) -> Result<usize>;

    /// The stored responses to `journey` with a visit date in [from, to] (inclusive),
    /// of the given halls (all when `None`), ratings in journey order.
    async fn responses(
        &self,
        journey: &Journey,
        halls: Option<&[HallId]>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<Response>>;

    /// The comments left on responses to `journey` (visit date in [from, to], of the
    /// given halls or all), oldest visit first. One query.
    async fn comments(
        &self,
        journey: &Journey,
        halls: Option<&[HallId]>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<StoredComment>>;

    /// A new device token for a hall's devices; only its hash is stored.
    async fn create_device_token(&self, hall: &HallId) -> Result<String>;

    /// The hall a device token belongs to.
    async fn device_token_hall(&self, token: &str) -> Result<Option<HallId>>;

    /// Applies a batch of one hall's events in one transaction, durably: repeated ids
    /// are counted as duplicates, events that cannot be applied (an impossible
    /// transition in event-time order) and the `refused` ones (unparsable, given as
    /// (position, reason, payload)) go to the quarantine with their reason.
    async fn ingest_events(
        &self,
        hall: &HallId,
        events: Vec<(usize, Event, String)>,
        refused: Vec<(usize, String, String)>,
    ) -> Result<IngestOutcome>;

    /// As [`Store::ingest_events`], and queues the contacts the batch ends for their
    /// survey invitations in the same transaction (see
    /// [`crate::InvitationStore::decide_pending`]): the API's ingest, and a replay asked
    /// to invite. Nothing is queued while no org node has an invitation rule: contacts
    /// that ended before the programme began are not invited.
    async fn ingest_events_inviting(
        &self,
        hall: &HallId,
        events: Vec<(usize, Event, String)>,
        refused: Vec<(usize, String, String)>,
    ) -> Result<IngestOutcome>;

    /// A hall's stored events with `at` in [from_ms, to_ms), in replay order.
    async fn hall_events(&self, hall: &HallId, from_ms: i64, to_ms: i64) -> Result<Vec<Event>>;

    /// How many stored events of the hall have `at` in [start_ms, to_ms), and those with
    /// `at` in [from_ms, to_ms) in replay order (`start_ms <= from_ms`): a live board's
    /// next look reads only the day's tail, and the count tells it whether anything
    /// arrived out of order before that tail.
    async fn hall_events_tail(
        &self,
        hall: &HallId,
        start_ms: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(u64, Vec<Event>)>;

    /// The operations roll-up of each local day (in the hall's zone) in [from, to] that
    /// has events, of `halls` (every hall when `None`); `None` for a day that must be
    /// replayed instead. Its breakdown (`detail`) only when asked for.
    async fn ops_rollups(
        &self,
        halls: Option<&[HallId]>,
        from: NaiveDate,
        to: NaiveDate,
        detail: RollupRead,
    ) -> Result<Vec<(HallId, NaiveDate, Option<DayRollup>)>>;

    /// One hall's operations roll-up of a local day, without its breakdown; `None` when
    /// the day has none (no events) or is marked for replay.
    async fn ops_rollup(&self, hall: &HallId, day: NaiveDate) -> Result<Option<DayRollup>>;

    /// The acknowledged care alerts raised at or after `from_ms`, as (hall, ticket,
    /// raised at).
    async fn care_acks_since(&self, from_ms: i64) -> Result<HashSet<(HallId, String, i64)>>;

    /// Records that someone took care of an alert (one the replay of the hall's day
    /// raised); `false` when it was already acknowledged, which keeps the first.
    async fn ack_alert(&self, hall: &HallId, alert: &Alert, by: &str, at_ms: i64) -> Result<bool>;

    /// The acknowledgements of a hall's alerts: [`Alert::key`] → (when, who).
    async fn alert_acks(&self, hall: &HallId) -> Result<BTreeMap<String, (i64, String)>>;

    /// The acknowledgements of a hall's alerts raised in [from, to).
    async fn alert_acks_raised(
        &self,
        hall: &HallId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<BTreeMap<String, (i64, String)>>;

    /// Device tokens issued for these halls (all halls if `None`): hall and issue time,
    /// never the token itself.
    async fn device_tokens(&self, halls: Option<&[HallId]>) -> Result<Vec<(HallId, i64)>>;

    /// A new user with an argon2 hash of their password; `Conflict` if the name is taken,
    /// `NotFound` if the org node is unknown.
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<()>;

    /// Replaces a user's password hash and ends their sessions.
    async fn set_password(&self, name: &UserName, password_hash: &str) -> Result<()>;

    /// A user and their password hash, to check a login.
    async fn user_credentials(&self, name: &UserName) -> Result<Option<(User, String)>>;

    async fn users(&self) -> Result<Vec<User>>;

    /// Opens a session for `user` until `expires_at` (ms): returns the cookie token and
    /// the session's CSRF token. Only a SHA-256 of the cookie token is stored.
    async fn create_session(&self, user: &UserName, expires_at: i64) -> Result<(String, String)>;

    /// The live session of a cookie token at `now` (ms), if any.
    async fn session(&self, token: &str, now: i64) -> Result<Option<Session>>;

    async fn end_session(&self, token: &str) -> Result<()>;

    /// A counter bumped by every write of responses, org nodes or journeys: what a
    /// cached analysis is valid for.
    async fn data_generation(&self) -> Result<i64>;

    /// Where computed analyses are kept, if this store keeps them.
    fn analysis_cache(&self) -> Option<&AnalysisCache> {
        None
    }

    /// Quarantined events, newest first (of one hall, or all).
    async fn quarantined(&self, hall: Option<&HallId>) -> Result<Vec<Quarantined>>;

    /// Stores provinces' holidays (a date already listed for the province takes the new
    /// name), all in one transaction; the caller has checked the provinces.
    async fn import_holidays(&self, holidays: &[Holiday]) -> Result<usize>;

    /// Every province's holidays, by province and date.
    async fn holidays(&self) -> Result<Vec<Holiday>>;

    /// Records a sign-in or a failed attempt (older records past their retention go).
    async fn record_sign_in(&self, sign_in: &SignIn) -> Result<()>;

    /// The latest sign-ins and attempts, newest first.
    async fn sign_ins(&self, limit: i64) -> Result<Vec<SignIn>>;

    /// The hall's kiosk faults reported in the 90 days before `before` (ms), with when
    /// each was restored, if it was.
    async fn kiosk_faults(&self, hall: &HallId, before: i64) -> Result<Vec<KioskFault>>;

    /// Each org node's own journey assignment (not inherited).
    async fn journey_assignments(&self) -> Result<Assignments>;

    /// Assigns `journey` to `node` once the governance rule holds against the journey
    /// above the node and the assignments below it, recording who changed it, when,
    /// and from what; all or nothing. Returns the node's previous own assignment.
    async fn assign_journey(
        &self,
        node: &OrgNodeId,
        journey: &JourneyKey,
        by: &str,
        at_ms: i64,
    ) -> Result<Option<JourneyKey>>;

    /// The recorded changes of journey assignments, oldest first (of one node, or all).
    async fn journey_changes(&self, node: Option<&OrgNodeId>) -> Result<Vec<AssignmentChange>>;

    /// The roll-up cells of `journey` that `q` asks for, with how many responses they
    /// should account for and the data generation, all read at one moment. A cell whose
    /// statistics no longer fit the journey comes back with `None`.
    async fn rollup_snapshot(&self, journey: &Journey, q: &CellQuery<'_>)
    -> Result<RollupSnapshot>;
}

/// Which roll-up cells to read: months of whole-month dates [from, to], of some halls
/// (all when `None`), all-purpose or purpose cells.
#[derive(Debug, Clone, Copy)]
pub struct CellQuery<'a> {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub halls: Option<&'a [HallId]>,
    pub which: PurposeCells<'a>,
}

/// Roll-up cells as of one data generation: each cell's key, purpose (`None` for the
/// all-purpose cells), count and statistics, and the responses they should account for
/// (of those halls and dates, and of that purpose when it is one).
#[derive(Debug, Clone)]
pub struct RollupSnapshot {
    pub generation: i64,
    pub responses: u64,
    pub cells: Vec<(CellKey, Option<String>, u64, StoredCell)>,
}

/// A roll-up cell as stored, decoded only when merged: a province's cells decoded up
/// front took hundreds of megabytes of fresh memory before the first was merged.
#[derive(Debug, Clone)]
pub enum StoredCell {
    /// The binary form (`peakend_core::analysis::cell`).
    Bytes(Vec<u8>),
    /// JSON, as cells were stored before migration 0041.
    Json(String),
}

impl StoredCell {
    /// The statistics, or `None` when the cell does not read or no longer fits the
    /// journey (`layout`: `rollup::layout`), which the caller answers by rescanning.
    pub fn decode(&self, layout: &[usize]) -> Option<SegmentStats> {
        match self {
            StoredCell::Bytes(b) => SegmentStats::from_bytes(b).ok(),
            StoredCell::Json(j) => serde_json::from_str::<SegmentStats>(j).ok(),
        }
        .filter(|s| rollup::fits(s, layout))
    }
}

/// What an ingest did: counts, and each refused event's position in the batch (0-based)
/// with the reason.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestOutcome {
    /// Events of the batch applied.
    pub accepted: usize,
    /// Events quarantined by earlier batches and applied now: they came before an
    /// event of this batch that they follow.
    pub released: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
    /// Service cases the applied events opened (an unresolved service, a low rating,
    /// a complaint), each once per cause.
    pub cases_opened: usize,
    /// The contacts the applied events ended (a visit's `service_ended`, a call's
    /// `call_ended`, an `app_transaction`), for the survey invitations an ingest through
    /// the API decides; not part of the reply.
    #[serde(skip)]
    pub ended: Vec<crate::EndedContact>,
}

impl IngestOutcome {
    /// Adds the outcome of another part of the same batch.
    pub fn merge(&mut self, o: IngestOutcome) {
        self.cases_opened += o.cases_opened;
        self.accepted += o.accepted;
        self.released += o.released;
        self.duplicates += o.duplicates;
        self.rejected.extend(o.rejected);
        self.ended.extend(o.ended);
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

/// A dashboard user: one role at one org node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: UserName,
    pub role: Role,
    pub org: OrgNodeId,
    pub created_at: i64,
    /// The staff code they serve under at a counter (the device events' `staff`): the
    /// first-asked owner of a case about a visit they served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
}

/// A sign-in or an attempt: who (the name given), from where, and how it ended
/// (`ok`, `wrong_password`, `unknown_user`, `throttled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignIn {
    pub at: i64,
    pub name: String,
    pub address: Option<String>,
    pub outcome: String,
}

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantined {
    pub hall: String,
    pub received_at: i64,
    pub reason: String,
    pub payload: String,
}

/// A comment as stored: never with the respondent's contact.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredComment {
    pub respondent: String,
    pub hall: HallId,
    pub date: NaiveDate,
    pub comment: String,
}

/// The comment reader of a journey, built once per process (see `peakend_text`).
pub fn comment_analyser(journey: &Journey) -> std::sync::Arc<peakend_text::Analyser> {
    crate::sql::surveys::analyser(journey)
}
