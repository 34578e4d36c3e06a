//! Service cases as stored (issue 20): the case with its timeline, what lists them, the
//! moves people make on them, the minute sweep that escalates late ones, the figures
//! behind the case KPIs, and the webhook outbox. The rules they follow are
//! `peakend_core::case`; this is where they meet the database.

pub use peakend_core::case::{
    Case, CaseChange, CaseConflict, CaseEntry, CaseId, CaseSource, CaseState, NewCase, Severity,
};
use peakend_core::{HallId, MomentKey, OrgNodeId, UserName};
use serde::Serialize;

use crate::Result;

/// Which cases to list. Empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// Cases of these halls.
    pub halls: Option<Vec<HallId>>,
    /// Cases in the inbox of one of these nodes (escalated there).
    pub levels: Option<Vec<OrgNodeId>>,
    pub owner: Option<String>,
    pub states: Vec<CaseState>,
    pub source: Option<CaseSource>,
    pub moment: Option<MomentKey>,
    /// Opened in [from, to) (ms).
    pub opened_from: Option<i64>,
    pub opened_to: Option<i64>,
    /// Only cases with a running deadline that has passed at this time.
    pub overdue_at: Option<i64>,
    /// Cases numbered below this one (the next page of a newest-first list).
    pub before: Option<CaseId>,
    pub limit: Option<i64>,
}

/// A deadline that passed and what the sweep did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Escalation {
    pub case: CaseId,
    pub hall: HallId,
    pub stage: peakend_core::case::Stage,
    pub from: OrgNodeId,
    /// `None` at the top of the tree: the breach is recorded, nothing higher to go to.
    pub to: Option<OrgNodeId>,
    pub due_at: i64,
}

/// The raw figures behind the case KPIs of some halls over opening times [from, to).
/// Kept per hall and month in `case_month` with `sla` as (met, done); a report adds the
/// cases still open past their deadline to what was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct CaseFigures {
    /// (source, moment, cases)
    pub by_source_moment: Vec<(CaseSource, String, i64)>,
    /// Per stage (acknowledge, resolve, callback): (met, measured).
    pub sla: [(i64, i64); 3],
    /// Minutes from opening to acknowledgement and to resolution, as (minutes, cases).
    pub acknowledge_minutes: Vec<(i64, i64)>,
    pub resolve_minutes: Vec<(i64, i64)>,
    pub resolved: i64,
    /// Resolved without being reopened or escalated.
    pub first_contact_resolved: i64,
    /// Cases of a contact that had another case within the 30 days before.
    pub repeat: i64,
    pub with_contact: i64,
    /// Recovery satisfaction 1–5: (score, cases).
    pub recovery: Vec<(i64, i64)>,
    /// Recommend 0–10 of customers called back and recovered (recovery ≥ 4).
    pub recovered_recommend: Vec<(i64, i64)>,
}

fn merge_counts(into: &mut Vec<(i64, i64)>, from: &[(i64, i64)]) {
    let mut all: std::collections::BTreeMap<i64, i64> = into.iter().copied().collect();
    for (k, n) in from {
        *all.entry(*k).or_insert(0) += n;
    }
    *into = all.into_iter().collect();
}

impl CaseFigures {
    /// Adds the figures of other cases.
    pub fn merge(&mut self, o: &CaseFigures) {
        let mut by: std::collections::BTreeMap<(CaseSource, String), i64> = self
            .by_source_moment
            .drain(..)
            .map(|(s, m, n)| ((s, m), n))
            .collect();
        for (s, m, n) in &o.by_source_moment {
            *by.entry((*s, m.clone())).or_insert(0) += n;
        }
        self.by_source_moment = by.into_iter().map(|((s, m), n)| (s, m, n)).collect();
        for (a, b) in self.sla.iter_mut().zip(o.sla) {
            a.0 += b.0;
            a.1 += b.1;
        }
        merge_counts(&mut self.acknowledge_minutes, &o.acknowledge_minutes);
        merge_counts(&mut self.resolve_minutes, &o.resolve_minutes);
        merge_counts(&mut self.recovery, &o.recovery);
        merge_counts(&mut self.recovered_recommend, &o.recovered_recommend);
        self.resolved += o.resolved;
        self.first_contact_resolved += o.first_contact_resolved;
        self.repeat += o.repeat;
        self.with_contact += o.with_contact;
    }
}

/// The first ms of the UTC month of an instant: the key of `case_month`.
pub fn utc_month(ms: i64) -> i64 {
    use chrono::Datelike;
    chrono::DateTime::from_timestamp_millis(ms)
        .and_then(|t| chrono::NaiveDate::from_ymd_opt(t.year(), t.month(), 1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(i64::MIN, |t| t.and_utc().timestamp_millis())
}

/// The first ms of the month after the one `month` starts.
pub fn next_month(month: i64) -> i64 {
    utc_month(month.saturating_add(32 * 86_400_000))
}

/// A webhook receiver (its secret is never shown again).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: i64,
}

/// A delivery waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub event: String,
    pub body: String,
    pub attempts: i64,
}

/// The webhook events a case change announces.
pub const WEBHOOK_EVENTS: [&str; 6] = [
    "case.opened",
    "case.acknowledged",
    "case.escalated",
    "case.resolved",
    "case.reopened",
    "case.closed",
];

#[async_trait::async_trait]
pub trait CaseStore: Send + Sync {
    /// Opens cases in one transaction (manual, hotline imports, survey answers): a
    /// cause already open is skipped, an unknown hall refuses the whole lot. Returns
    /// each case's id, `None` where its cause had one already.
    async fn open_cases(&self, cases: &[NewCase], actor: &str) -> Result<Vec<Option<CaseId>>>;

    async fn case(&self, id: CaseId) -> Result<Option<Case>>;

    /// A case's timeline, oldest first.
    async fn case_timeline(&self, id: CaseId) -> Result<Vec<CaseEntry>>;

    /// Cases newest first.
    async fn cases(&self, filter: &CaseFilter) -> Result<Vec<Case>>;

    /// Makes a change on the version the caller saw. `Err(Conflict)` when the move is
    /// not allowed or the case changed since; on success the case as it is now.
    async fn change_case(
        &self,
        id: CaseId,
        version: i64,
        change: &CaseChange,
        actor: &str,
        at_ms: i64,
    ) -> Result<std::result::Result<Case, CaseConflict>>;

    /// The customer's answer at the one-time callback link: `None` if the link is
    /// unknown or used.
    async fn customer_callback(
        &self,
        token: &str,
        recovery: i64,
        recommend: Option<i64>,
        at_ms: i64,
    ) -> Result<Option<CaseId>>;

    /// The case whose callback link this is, while it may be used.
    async fn case_by_token(&self, token: &str) -> Result<Option<Case>>;

    /// Escalates every case whose running deadline passed by `at_ms` one level up.
    async fn sweep_cases(&self, at_ms: i64) -> Result<Vec<Escalation>> {
        self.sweep_cases_of(at_ms, &crate::SweepHalls::All).await
    }

    /// [`CaseStore::sweep_cases`] for the cases of some halls. Each escalation is
    /// written on the version the case was read at, so a case two sweeps read at once
    /// (a partition changing hands mid-sweep) escalates once.
    async fn sweep_cases_of(
        &self,
        at_ms: i64,
        halls: &crate::SweepHalls,
    ) -> Result<Vec<Escalation>>;

    /// Erases the contacts of cases closed before `closed_before_ms`; the cases stay.
    async fn erase_contacts(&self, closed_before_ms: i64, at_ms: i64) -> Result<usize>;

    /// The figures of the cases of `halls` (all when `None`) opened in [from, to).
    async fn case_figures(
        &self,
        halls: Option<&[HallId]>,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> Result<CaseFigures>;

    /// Recommend answers (0–10, counts) of survey respondents of `halls` with a visit
    /// date in [from, to]: of all of them, and of those who never had a case.
    async fn survey_recommend(
        &self,
        halls: Option<&[HallId]>,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<(Vec<(i64, i64)>, Vec<(i64, i64)>)>;

    /// Sets a user's staff code (the device events' `staff`); `None` clears it.
    async fn set_staff(&self, user: &UserName, staff: Option<&str>) -> Result<()>;

    async fn add_webhook(&self, url: &str, secret: &str, events: &[String]) -> Result<i64>;

    async fn webhooks(&self) -> Result<Vec<Webhook>>;

    async fn remove_webhook(&self, id: i64) -> Result<bool>;

    /// Deliveries due at `now_ms`, in the order their events happened.
    async fn due_deliveries(&self, now_ms: i64, limit: i64) -> Result<Vec<Delivery>>;

    /// Records a delivery's attempt: delivered, or failed and retried at `retry_at`.
    async fn delivery_attempted(
        &self,
        id: i64,
        delivered: bool,
        error: Option<&str>,
        at_ms: i64,
        retry_at: i64,
    ) -> Result<()>;
}

/// The key two cases of one customer share: a SHA-256 of the contact with spaces,
/// dashes and a +86 prefix taken off (the contact itself is erased on schedule).
pub fn contact_key(contact: &str) -> String {
    use sha2::Digest;
    let mut c: String = contact
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_lowercase();
    if let Some(rest) = c.strip_prefix("+86") {
        c = rest.to_owned();
    }
    sha2::Sha256::digest(c.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The webhook body announcing a case event: the case without its contact.
pub fn webhook_body(event: &str, case: &WebhookCase<'_>, at_ms: i64) -> String {
    serde_json::json!({
        "event": event,
        "at": at_ms,
        "case": case,
    })
    .to_string()
}

/// What a webhook tells of a case.
#[derive(Debug, Serialize)]
pub struct WebhookCase<'a> {
    pub id: i64,
    pub hall: &'a str,
    pub source: &'a str,
    pub moment: &'a str,
    pub severity: &'a str,
    pub state: &'a str,
    pub level: &'a str,
    pub owner: Option<&'a str>,
}

/// SQL both backends and both write paths (the pool, SQLite's event writer) share.
/// SQLite's writer binds `$n` as `?n`, by number.
pub(crate) mod sql {
    /// Opens a case once per cause; the owner is the one given, else the hall's user
    /// with the staff code that served, else the hall's manager (the first by name).
    /// SQLite's writer thread opens its cases with it row by row; the sqlx paths use
    /// the multi-row form of the same statement (`open_cases!`).
    pub const INSERT_CASE: &str = "INSERT INTO service_case
        (hall_id, source, cause, ticket, response_id, moment_key, severity, summary, contact,
         contact_key, state, version, owner, level_id, opened_at, acknowledge_due,
         resolve_due, due_at, repeat_contact)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', 1,
         COALESCE($15,
           (SELECT name FROM app_user WHERE org_id = $1 AND staff = $11 ORDER BY name LIMIT 1),
           (SELECT name FROM app_user WHERE org_id = $1 AND role = 'hall_manager' ORDER BY name LIMIT 1)),
         $1, $12, $13, $14, $13,
         CASE WHEN $10 IS NULL THEN 0
              WHEN EXISTS (SELECT 1 FROM service_case p WHERE p.contact_key = $10
                           AND p.opened_at >= $12 - 2592000000 AND p.opened_at <= $12) THEN 1
              ELSE 0 END)
        ON CONFLICT (hall_id, source, cause) DO NOTHING
        RETURNING id, owner";

    /// Marks a hall's month of cases changed ($1 hall, $2 month): its kept figures are
    /// counted again when next needed.
    pub const BUMP_MONTH: &str =
        "INSERT INTO case_month (hall_id, month, version) VALUES ($1, $2, 1)
        ON CONFLICT (hall_id, month) DO UPDATE SET version = case_month.version + 1";

    pub const INSERT_ENTRY: &str = "INSERT INTO case_event
        (case_id, at, actor, kind, from_state, to_state, note)
        VALUES ($1, $2, $3, $4, $5, $6, $7)";

    /// Queues a delivery of event $1 with body $2 for every webhook that wants it.
    pub const ENQUEUE: &str = "INSERT INTO webhook_delivery
        (webhook_id, event, body, created_at, next_at)
        SELECT id, $1, $2, $3, $3 FROM webhook WHERE (',' || events || ',') LIKE ('%,' || $1 || ',%')";
}

/// The timeline note of an opening: who owns it.
pub(crate) fn opened_note(owner: Option<&str>) -> String {
    match owner {
        Some(o) => format!("owner: {o}"),
        None => "no owner: the hall has no manager and no user with the staff code".into(),
    }
}

/// The body of a `case.opened` delivery for a new case.
pub(crate) fn opened_body(case: &NewCase, id: i64, owner: Option<&str>, at_ms: i64) -> String {
    webhook_body(
        "case.opened",
        &WebhookCase {
            id,
            hall: case.hall.as_str(),
            source: case.source.as_str(),
            moment: case.moment.as_str(),
            severity: case.severity.as_str(),
            state: CaseState::Open.as_str(),
            level: case.hall.as_str(),
            owner,
        },
        at_ms,
    )
}

/// The case KPIs of a node's halls over local days [from, to] (issue 20's list).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseKpis {
    pub org: OrgNodeId,
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
    pub opened: i64,
    pub visits: u64,
    /// Cases opened per 1,000 visits (tickets issued).
    pub per_1000_visits: Option<f64>,
    pub by_source: std::collections::BTreeMap<String, i64>,
    pub by_moment: std::collections::BTreeMap<String, i64>,
    /// Share of deadlines met per stage, of those that came due or were met.
    pub sla_met: std::collections::BTreeMap<String, Option<f64>>,
    pub median_minutes_to_acknowledge: Option<f64>,
    pub median_minutes_to_resolve: Option<f64>,
    /// Resolved without being reopened or escalated ÷ resolved.
    pub first_contact_resolution: Option<f64>,
    /// Cases of a customer (same contact) who had another case within 30 days.
    pub repeat_cases: i64,
    pub mean_recovery_satisfaction: Option<f64>,
    /// NPS (promoters − detractors, %) of customers called back and recovered
    /// (recovery ≥ 4), against survey respondents who never had a case.
    pub nps_recovered: Option<f64>,
    pub nps_without_case: Option<f64>,
    pub hidden: HiddenDissatisfaction,
}

/// Bad experiences against the complaints voiced: "for each voiced complaint, N silent".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HiddenDissatisfaction {
    /// Visits with a bad-experience signal (left after the care threshold, a low
    /// rating, an unresolved outcome).
    pub bad_visits: u64,
    /// Survey answers with recommend ≤ 6.
    pub detractor_answers: i64,
    /// Cases the customer raised: complaints, hotline and hand-opened.
    pub voiced: i64,
    /// Signals not voiced: bad visits and detractor answers less the voiced cases.
    pub silent: i64,
    pub silent_per_voiced: Option<f64>,
}

/// Reads and computes the case KPIs of `org` (its halls) over [from, to].
pub async fn case_kpis(
    store: &dyn crate::Store,
    org: &OrgNodeId,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    now_ms: i64,
) -> Result<CaseKpis> {
    use peakend_core::case::{median_of_counts, nps_of_counts};
    let tree = store.org_tree().await?;
    let root = tree.get(org).is_some_and(|n| n.parent.is_none());
    let halls: Vec<HallId> = tree
        .subtree(org)
        .iter()
        .filter_map(|n| n.hall_id())
        .collect();
    // A province's root takes every case without listing its halls.
    let scope = (!root).then_some(halls.as_slice());
    let zone = tree.zone_of(org);
    let start = |d: chrono::NaiveDate| crate::local_midnight(d, zone.offset_on(d));
    let from_ms = start(from);
    let to_ms = start(to.succ_opt().unwrap_or(to));
    let f = store.case_figures(scope, from_ms, to_ms, now_ms).await?;
    let ops = crate::stored_kpis(
        store,
        &crate::KpiQuery {
            org: Some(org),
            from,
            to,
            bucket: peakend_core::ops::kpi::Bucket::Day,
            offset: zone.offset_on(from),
            now_ms,
        },
    )
    .await?;
    let (all, without) = store.survey_recommend(scope, from, to).await?;
    let opened: i64 = f.by_source_moment.iter().map(|(_, _, c)| c).sum();
    let mut by_source = std::collections::BTreeMap::new();
    let mut by_moment = std::collections::BTreeMap::new();
    let mut voiced = 0;
    for (s, m, c) in &f.by_source_moment {
        *by_source.entry(s.as_str().to_owned()).or_insert(0) += c;
        *by_moment.entry(m.clone()).or_insert(0) += c;
        if s.voiced() {
            voiced += c;
        }
    }
    let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    let sla_met = ["acknowledge", "resolve", "callback"]
        .iter()
        .zip(f.sla)
        .map(|(k, (met, n))| ((*k).to_owned(), ratio(met, n)))
        .collect();
    let recovered: i64 = f.recovery.iter().map(|(_, c)| c).sum();
    let recovery_sum: i64 = f.recovery.iter().map(|(s, c)| s * c).sum();
    let detractor_answers: i64 = all.iter().filter(|(s, _)| *s <= 6).map(|(_, c)| c).sum();
    let bad_visits = ops.total.bad_visits;
    let signals = bad_visits as i64 + detractor_answers;
    let silent = (signals - voiced).max(0);
    Ok(CaseKpis {
        org: org.clone(),
        from,
        to,
        opened,
        visits: ops.total.arrivals,
        per_1000_visits: (ops.total.arrivals > 0)
            .then(|| opened as f64 * 1000.0 / ops.total.arrivals as f64),
        by_source,
        by_moment,
        sla_met,
        median_minutes_to_acknowledge: median_of_counts(&f.acknowledge_minutes),
        median_minutes_to_resolve: median_of_counts(&f.resolve_minutes),
        first_contact_resolution: ratio(f.first_contact_resolved, f.resolved),
        repeat_cases: f.repeat,
        mean_recovery_satisfaction: ratio(recovery_sum, recovered),
        nps_recovered: nps_of_counts(&f.recovered_recommend),
        nps_without_case: nps_of_counts(&without),
        hidden: HiddenDissatisfaction {
            bad_visits,
            detractor_answers,
            voiced,
            silent,
            silent_per_voiced: ratio(silent, voiced),
        },
    })
}
